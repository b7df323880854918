//! `g-counter` and `pn-counter`: counter CRDTs. Clients `add` deltas (never negative for the
//! g-counter) at any node and `read` a node's total. After the faults heal every node's final
//! read must equal the sum of the acknowledged deltas, give or take deltas whose outcome is
//! unknown (each of those may or may not count).

use super::broadcast::final_read;
use super::{body, final_marker, result, secs, Call, Completion, Workload, WorkloadOptions};
use crate::check::{Anomaly, CheckResult};
use crate::history::{History, OpType, Value};
use crate::maelstrom::schema::{field, Rpc, Section, Ty};
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;

/// The add RPC.
pub const ADD: Rpc = Rpc {
    name: "add",
    doc: "Add `delta` to the counter.",
    request: &[field(
        "delta",
        Ty::Int,
        "the amount (never negative in the g-counter)",
    )],
    reply: &[],
    errors: &[],
};

/// The read RPC.
pub const READ: Rpc = Rpc {
    name: "read",
    doc: "Return the counter's value as this node knows it.",
    request: &[],
    reply: &[field("value", Ty::Int, "the total")],
    errors: &[],
};

/// The g-counter's declaration.
pub const G_COUNTER: Section = Section {
    name: "g-counter",
    doc: "A grow-only counter. Clients `add` non-negative deltas and `read` totals at random nodes. Checked: after the faults heal, every node's final read is the sum of the acknowledged deltas (plus any of the deltas whose outcome is unknown).",
    rpcs: &[ADD, READ],
};

/// The pn-counter's declaration.
pub const PN_COUNTER: Section = Section {
    name: "pn-counter",
    doc: "A counter that also goes down: like `g-counter`, but deltas may be negative.",
    rpcs: &[ADD, READ],
};

/// The counter generator; `negative` makes it a pn-counter.
pub struct Counter {
    negative: bool,
    nodes: usize,
}

impl Counter {
    /// A g-counter (`negative` false) or a pn-counter generator.
    pub fn new(negative: bool, opts: &WorkloadOptions) -> Counter {
        Counter {
            negative,
            nodes: opts.node_count,
        }
    }

    fn name(&self) -> &'static str {
        if self.negative {
            "pn-counter"
        } else {
            "g-counter"
        }
    }
}

impl Workload for Counter {
    fn section(&self) -> &'static Section {
        if self.negative {
            &PN_COUNTER
        } else {
            &G_COUNTER
        }
    }

    fn next(&mut self, _worker: usize, node: usize, rng: &mut StdRng) -> Call {
        if rng.gen_bool(0.5) {
            let d: i64 = if self.negative {
                rng.gen_range(-5..=5)
            } else {
                rng.gen_range(0..=5)
            };
            Call::new(&ADD, Value::Int(d), body([("delta", Json::from(d))]))
        } else {
            let mut c = Call::new(&READ, Value::Nil, Map::new());
            c.key = Some(format!("n{node}"));
            c
        }
    }

    fn complete(&mut self, _worker: usize, call: &Call, reply: &Map<String, Json>) -> Completion {
        match call.rpc.name {
            "read" => Completion::Ok(reply.get("value").map(super::to_value).unwrap_or_default()),
            _ => Completion::Ok(call.value.clone()),
        }
    }

    fn final_calls(&mut self, _round: usize, history: &History) -> Vec<(usize, Call)> {
        let r = check(history, self.name(), self.nodes);
        if r.validity == crate::check::Validity::Valid {
            return Vec::new();
        }
        (0..self.nodes).map(|n| final_read(&READ, n)).collect()
    }
}

/// Checks a counter history of a cluster of `nodes` nodes: each node's last final read must lie
/// between the lowest and the highest total the acknowledged and unknown deltas allow.
pub fn check(history: &History, name: &str, nodes: usize) -> CheckResult {
    let (mut sure, mut lo, mut hi) = (0i64, 0i64, 0i64);
    let mut acked = 0;
    let mut seen_invokes = std::collections::HashSet::new();
    for (inv, done) in super::completed(history).filter(|(i, _)| i.f == "add") {
        seen_invokes.insert(inv.index);
        let d = inv.value.as_int().unwrap_or(0);
        match done.kind {
            OpType::Ok => {
                acked += 1;
                sure = sure.saturating_add(d);
            }
            OpType::Info => {
                lo = lo.saturating_add(d.min(0));
                hi = hi.saturating_add(d.max(0));
            }
            _ => {}
        }
    }
    for op in &history.ops {
        if op.is_client()
            && op.kind == OpType::Invoke
            && op.f == "add"
            && !seen_invokes.contains(&op.index)
        {
            let d = op.value.as_int().unwrap_or(0);
            lo = lo.saturating_add(d.min(0));
            hi = hi.saturating_add(d.max(0));
        }
    }
    let (min, max) = (sure.saturating_add(lo), sure.saturating_add(hi));
    let mut finals: BTreeMap<String, &crate::history::Op> = BTreeMap::new();
    for (inv, done) in super::ok_calls(history, "read") {
        if inv.value == final_marker() {
            if let Some(k) = &inv.key {
                finals.insert(k.clone(), done);
            }
        }
    }
    let range = if min == max {
        format!("{min}")
    } else {
        format!("between {min} and {max}")
    };
    let mut anomalies = Vec::new();
    for (node, read) in &finals {
        let v = read.value.as_int();
        if v.is_none_or(|v| v < min || v > max) {
            anomalies.push(Anomaly {
                kind: "wrong-total".into(),
                key: Some(node.clone()),
                ops: vec![read.index],
                explanation: format!(
                    "{node}'s final read at {} returned {}, but the acknowledged deltas add up to {sure}{}, so it should be {range}",
                    secs(read),
                    read.value,
                    if min == max { String::new() } else { " (with the unknown ones, anything in that range)".into() }
                ),
                details: Json::Null,
            });
        }
    }
    let stats = serde_json::json!({"acknowledged": acked, "sum": sure, "min": min, "max": max, "final_reads": finals.len()});
    if anomalies.is_empty() && finals.len() < nodes {
        let mut r = super::unknown(
            name,
            format!(
                "only {} of {nodes} nodes answered a final read",
                finals.len()
            ),
        );
        r.stats = stats;
        return r;
    }
    result(
        name,
        anomalies,
        format!("every node's final read is {range}, as the {acked} acknowledged adds say"),
        stats,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Op, Process};

    fn op(index: u64, p: u64, kind: OpType, f: &str, key: Option<&str>, value: Value) -> Op {
        Op {
            index,
            time: index,
            process: Process::Client(p),
            kind,
            f: f.into(),
            key: key.map(Into::into),
            value,
            error: None,
        }
    }

    #[test]
    fn a_final_read_must_lie_within_what_the_deltas_allow() {
        let h = |read: i64| History {
            header: None,
            ops: vec![
                op(0, 0, OpType::Invoke, "add", None, Value::Int(5)),
                op(1, 0, OpType::Ok, "add", None, Value::Int(5)),
                op(2, 1, OpType::Invoke, "add", None, Value::Int(-2)),
                op(3, 1, OpType::Info, "add", None, Value::Int(-2)),
                op(4, 2, OpType::Invoke, "read", Some("n0"), final_marker()),
                op(5, 2, OpType::Ok, "read", Some("n0"), Value::Int(read)),
            ],
        };
        assert_eq!(
            check(&h(5), "pn-counter", 1).validity,
            crate::check::Validity::Valid
        );
        assert_eq!(
            check(&h(3), "pn-counter", 1).validity,
            crate::check::Validity::Valid
        );
        let r = check(&h(6), "pn-counter", 1);
        assert_eq!(r.anomalies[0].kind, "wrong-total");
        assert!(
            r.anomalies[0].explanation.contains("between 3 and 5"),
            "{}",
            r.anomalies[0].explanation
        );
        assert_eq!(
            check(&h(5), "pn-counter", 2).validity,
            crate::check::Validity::Unknown
        );
    }
}
