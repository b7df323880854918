//! Eventual consistency, checked as convergence: once faults are healed and the store has had
//! time to settle, every replica answers the same value for each key when read directly, and
//! that value is one some write wrote (Vogels 2009; the *convergence* half of Burckhardt's
//! definition, which is what a finite history can show).
//!
//! A ferrocheck run ends with *per-node final reads*: after the workload's final reads, a read of
//! every key on every node, each node through a client of its own. Those reads carry process
//! ids from [`NODE_READ_BASE`] up, and the process id says which node answered
//! ([`node_read_process`], [`node_of`]): node `nK` reads as `NODE_READ_BASE + K`, and as
//! `NODE_READ_BASE + K + NODE_READ_STRIDE` after its first read ended `info` (Jepsen's rule:
//! a process whose op is unknown is retired). A history without such reads says nothing about
//! convergence: the checker answers `unknown` and the lattice shows the rung as not applicable.
//!
//! The verdict, key by key: two nodes answering different values is `divergence`; a value that
//! no write (acknowledged or unknown, nor a cas's new value) ever wrote, and that is not the
//! initial value of a key no write was acknowledged on, is `unwritten-final-value`. A node that
//! gave no answer for a key makes the verdict `unknown` unless another key already proves it
//! invalid.

use crate::check::checker::Checker;
use crate::check::result::{Anomaly, CheckResult, Validity};
use crate::check::spec::CheckerOptions;
use crate::history::{History, OpType, Process, Value};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// The checker's name in the registry and in results.
pub const NAME: &str = "eventual";

/// What `eventual` checks, in one line.
pub const ABOUT: &str = "after faults heal, every node answers the same value for each key when read directly, and some write wrote it (convergence)";

/// Process ids of per-node final reads start above this one.
pub const NODE_READ_BASE: u64 = 2_000_000;

/// Process ids of one node's per-node reads are this far apart after each retirement.
pub const NODE_READ_STRIDE: u64 = 1_000;

/// The process id of node number `node` (1 for `n1`)'s per-node final reads, after `retired`
/// earlier reads of that node ended `info`.
pub fn node_read_process(node: usize, retired: usize) -> u64 {
    NODE_READ_BASE + node as u64 + NODE_READ_STRIDE * retired as u64
}

/// The node (as `nK`) whose per-node final read `process` made, if it is one.
pub fn node_of(process: Process) -> Option<String> {
    let Process::Client(p) = process else {
        return None;
    };
    if p <= NODE_READ_BASE {
        return None;
    }
    let k = (p - NODE_READ_BASE) % NODE_READ_STRIDE;
    (k > 0 && p < NODE_READ_BASE + NODE_READ_STRIDE * NODE_READ_STRIDE).then(|| format!("n{k}"))
}

/// True if `history` has per-node final reads (the convergence check applies).
pub fn has_node_reads(history: &History) -> bool {
    history
        .ops
        .iter()
        .any(|o| o.f == "read" && node_of(o.process).is_some())
}

/// The `eventual` checker.
pub struct Eventual {
    /// The value of a key nobody wrote.
    pub initial: Value,
}

/// Builds the `eventual` checker (option: `initial_value`).
pub fn build(opts: &CheckerOptions) -> anyhow::Result<Box<dyn Checker>> {
    Ok(Box::new(Eventual {
        initial: opts.initial(),
    }))
}

impl Checker for Eventual {
    fn name(&self) -> String {
        NAME.into()
    }
    fn about(&self) -> &'static str {
        ABOUT
    }
    fn needs(&self) -> String {
        "register writes and per-node final reads (a read of every key on every node after \
         healing)"
            .into()
    }
    fn check(&self, history: &History) -> anyhow::Result<CheckResult> {
        Ok(check(history, &self.initial))
    }
}

/// What one key's per-node reads said.
#[derive(Default)]
struct KeyReads {
    /// Node → (value it answered, index of the completion).
    answers: BTreeMap<String, (Value, u64)>,
}

/// Checks `history` for convergence of its per-node final reads.
pub fn check(history: &History, initial: &Value) -> CheckResult {
    let calls = history.calls();
    let mut keys: BTreeMap<Option<String>, KeyReads> = BTreeMap::new();
    // Key → values written (acknowledged or unknown), and whether any write was acknowledged.
    let mut written: BTreeMap<Option<String>, (BTreeSet<String>, bool)> = BTreeMap::new();
    let mut nodes: BTreeSet<String> = BTreeSet::new();
    for call in &calls {
        let inv = &history.ops[call.invoke];
        let done = call.complete.map(|i| &history.ops[i]);
        let kind = done.map(|d| d.kind);
        if let Some(node) = node_of(inv.process).filter(|_| inv.f == "read") {
            nodes.insert(node.clone());
            let k = keys.entry(inv.key.clone()).or_default();
            if let (Some(OpType::Ok), Some(d)) = (kind, done) {
                k.answers.insert(node, (d.value.clone(), d.index));
            }
            continue;
        }
        let new_value = match inv.f.as_str() {
            "write" => Some(inv.value.clone()),
            "cas" => inv.value.as_list().and_then(|l| l.get(1)).cloned(),
            _ => None,
        };
        if let Some(v) = new_value {
            if kind == Some(OpType::Fail) {
                continue;
            }
            let w = written.entry(inv.key.clone()).or_default();
            w.0.insert(v.to_string());
            w.1 |= kind == Some(OpType::Ok);
        }
    }
    if nodes.is_empty() {
        return CheckResult {
            checker: NAME.into(),
            validity: Validity::Unknown,
            summary: "not applicable: the history has no per-node final reads (a `ferrocheck \
                      test` run records them after healing, for targets that can address \
                      each node)"
                .into(),
            anomalies: vec![],
            stats: json!({"applicable": false}),
        };
    }
    let mut anomalies = Vec::new();
    let mut unanswered = Vec::new();
    for (key, reads) in &keys {
        let key_text = key.clone().unwrap_or_else(|| "the register".into());
        let (values, any_acked) = written
            .get(key)
            .map(|(v, a)| (v.clone(), *a))
            .unwrap_or_default();
        let mut distinct: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for (node, (v, _)) in &reads.answers {
            distinct.entry(v.to_string()).or_default().push(node);
        }
        let ops: Vec<u64> = reads.answers.values().map(|(_, i)| *i).collect();
        if distinct.len() > 1 {
            let said: Vec<String> = distinct
                .iter()
                .map(|(v, ns)| format!("{} answered {v}", ns.join(" and ")))
                .collect();
            anomalies.push(Anomaly {
                kind: "divergence".into(),
                key: key.clone(),
                ops: ops.clone(),
                explanation: format!(
                    "the replicas never converged on {key_text}: after the faults were healed \
                     and the store had time to settle, {}",
                    said.join(", ")
                ),
                details: serde_json::Value::Null,
            });
        }
        for (v, ns) in &distinct {
            let is_initial = *v == initial.to_string();
            if values.contains(v) || (is_initial && !any_acked) {
                continue;
            }
            let why = if is_initial {
                "the initial value, although writes to it were acknowledged".to_string()
            } else {
                "a value no write ever wrote".to_string()
            };
            anomalies.push(Anomaly {
                kind: "unwritten-final-value".into(),
                key: key.clone(),
                ops: ops.clone(),
                explanation: format!(
                    "{} answered {v} for {key_text} at the end: {why}",
                    ns.join(" and ")
                ),
                details: serde_json::Value::Null,
            });
        }
        // Every node read at all must have answered for every key.
        let silent: Vec<&str> = nodes
            .iter()
            .filter(|n| !reads.answers.contains_key(*n))
            .map(String::as_str)
            .collect();
        if !silent.is_empty() {
            unanswered.push(format!(
                "{} did not answer the final read of {key_text}",
                silent.join(", ")
            ));
        }
    }
    let node_list = nodes.iter().cloned().collect::<Vec<_>>().join(", ");
    let (validity, summary) = if let Some(a) = anomalies.first() {
        (
            Validity::Invalid,
            format!("does not converge: {}", a.explanation),
        )
    } else if let Some(u) = unanswered.first() {
        (
            Validity::Unknown,
            format!("unknown: {u}, so its copy could not be compared"),
        )
    } else {
        (
            Validity::Valid,
            format!(
                "converged: {node_list} answer the same written value for each of {} key{}",
                keys.len(),
                if keys.len() == 1 { "" } else { "s" }
            ),
        )
    };
    CheckResult {
        checker: NAME.into(),
        validity,
        summary,
        anomalies,
        stats: json!({"applicable": true, "nodes": nodes, "keys": keys.len(), "unanswered": unanswered}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Op;

    fn op(i: u64, p: u64, kind: OpType, f: &str, key: &str, value: Value) -> Op {
        Op {
            index: i,
            time: i * 10,
            process: Process::Client(p),
            kind,
            f: f.into(),
            key: Some(key.into()),
            value,
            error: None,
        }
    }

    /// A write of 1 on k0, then per-node reads of k0 answering `answers` (None: info).
    fn history(answers: &[Option<i64>]) -> History {
        let mut ops = vec![
            op(0, 0, OpType::Invoke, "write", "k0", Value::Int(1)),
            op(1, 0, OpType::Ok, "write", "k0", Value::Int(1)),
        ];
        for (n, a) in answers.iter().enumerate() {
            let p = node_read_process(n + 1, 0);
            let i = ops.len() as u64;
            ops.push(op(i, p, OpType::Invoke, "read", "k0", Value::Nil));
            ops.push(match a {
                Some(v) => op(i + 1, p, OpType::Ok, "read", "k0", Value::Int(*v)),
                None => op(i + 1, p, OpType::Info, "read", "k0", Value::Nil),
            });
        }
        History { header: None, ops }
    }

    #[test]
    fn node_read_processes_name_their_node() {
        assert_eq!(
            node_of(Process::Client(node_read_process(3, 0))),
            Some("n3".into())
        );
        assert_eq!(
            node_of(Process::Client(node_read_process(2, 4))),
            Some("n2".into())
        );
        assert_eq!(node_of(Process::Client(1_000_010)), None);
        assert_eq!(node_of(Process::Client(7)), None);
        assert_eq!(node_of(Process::Nemesis), None);
    }

    #[test]
    fn agreeing_replicas_converge() {
        let r = check(&history(&[Some(1), Some(1), Some(1)]), &Value::Nil);
        assert_eq!(r.validity, Validity::Valid, "{}", r.summary);
        assert!(r.summary.contains("n1, n2, n3"), "{}", r.summary);
    }

    #[test]
    fn replicas_answering_differently_diverge() {
        let r = check(&history(&[Some(1), Some(1), None]), &Value::Nil);
        assert_eq!(r.validity, Validity::Unknown, "{}", r.summary);
        let h = history(&[Some(1), Some(1), Some(9)]);
        let r = check(&h, &Value::Nil);
        assert_eq!(r.validity, Validity::Invalid);
        let kinds: Vec<&str> = r.anomalies.iter().map(|a| a.kind.as_str()).collect();
        assert_eq!(kinds, ["divergence", "unwritten-final-value"]);
        assert!(
            r.anomalies[0].explanation.contains("n3 answered 9"),
            "{}",
            r.anomalies[0].explanation
        );
    }

    #[test]
    fn agreeing_on_nil_after_an_acknowledged_write_is_not_convergence() {
        let mut h = history(&[Some(1), Some(1)]);
        for o in h.ops.iter_mut().skip(2).filter(|o| o.kind == OpType::Ok) {
            o.value = Value::Nil;
        }
        let r = check(&h, &Value::Nil);
        assert_eq!(r.validity, Validity::Invalid);
        assert_eq!(r.anomalies[0].kind, "unwritten-final-value");
    }

    #[test]
    fn a_history_without_node_reads_is_not_applicable() {
        let h = history(&[]);
        assert!(!has_node_reads(&h));
        let r = check(&h, &Value::Nil);
        assert_eq!(r.validity, Validity::Unknown);
        assert!(r.summary.starts_with("not applicable"), "{}", r.summary);
    }
}
