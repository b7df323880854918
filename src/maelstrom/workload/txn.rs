//! What `txn-rw-register` and `txn-list-append` share: the transaction generator and how a
//! `txn_ok` becomes the history's completion. A transaction is a list of micro-ops in
//! Maelstrom's wire format (`["r", k, null]`, `["w", k, v]`, `["append", k, v]`); the node
//! answers `txn_ok` with the same list, reads filled in. The op's value is the transaction, as
//! the `txn` checker expects, which checks the history Elle's way (strict serializability:
//! any dependency cycle or non-cycle anomaly is a violation).

use super::{body, to_json, to_value, Call, Completion, Workload, WorkloadOptions};
use crate::check::{CheckerOptions, CheckerSpec};
use crate::history::Value;
use crate::maelstrom::schema::{Rpc, Section};
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{Map, Value as Json};

/// The transaction generator over `--key-count` live keys; a key retires after
/// `--max-writes-per-key` writes and a fresh one takes its place. Written values are unique
/// per key (a counter per key).
pub struct TxnGen {
    /// The workload's section of the protocol reference.
    section: &'static Section,
    /// `w` or `append`.
    write_f: &'static str,
    rpc: &'static Rpc,
    /// The checker model: `rw-register` or `list-append`.
    model: &'static str,
    active: Vec<(i64, usize, i64)>,
    next_key: i64,
    max_len: usize,
    max_writes: usize,
}

impl TxnGen {
    /// A generator of `rpc` transactions whose writes are `write_f`, checked as `model`: the
    /// whole workload named by `section`.
    pub fn new(
        section: &'static Section,
        rpc: &'static Rpc,
        write_f: &'static str,
        model: &'static str,
        opts: &WorkloadOptions,
    ) -> TxnGen {
        let n = opts.key_count.max(1) as i64;
        TxnGen {
            section,
            write_f,
            rpc,
            model,
            active: (0..n).map(|k| (k, 0, 0)).collect(),
            next_key: n,
            max_len: opts.max_txn_length.max(1),
            max_writes: opts.max_writes_per_key.max(1),
        }
    }

    /// The checker model (`rw-register` or `list-append`).
    pub fn model(&self) -> &'static str {
        self.model
    }

    /// A random transaction of 1 to `--max-txn-length` micro-ops.
    pub fn next(&mut self, rng: &mut StdRng) -> Call {
        let len = rng.gen_range(1..=self.max_len);
        let mut mops = Vec::with_capacity(len);
        for _ in 0..len {
            let slot = rng.gen_range(0..self.active.len());
            let (key, writes, last) = self.active[slot];
            if rng.gen_bool(0.5) {
                mops.push(mop("r", key, Value::Nil));
            } else {
                mops.push(mop(self.write_f, key, Value::Int(last + 1)));
                self.active[slot] = (key, writes + 1, last + 1);
                if writes + 1 >= self.max_writes {
                    self.active[slot] = (self.next_key, 0, 0);
                    self.next_key += 1;
                }
            }
        }
        let txn = Value::List(mops);
        Call::new(self.rpc, txn.clone(), body([("txn", to_json(&txn))]))
    }

    /// The ok completion of `call` from a `txn_ok`: the request's transaction with the reply's
    /// reads, or `info` when the reply's transaction is not the request's (other micro-ops,
    /// keys or written values, or a read of the wrong type).
    pub fn complete(&self, call: &Call, reply: &Map<String, Json>) -> Completion {
        let sent = call.value.as_list().unwrap_or(&[]);
        let got = reply.get("txn").map(to_value).unwrap_or_default();
        let Some(got) = got.as_list() else {
            return Completion::Info("the txn_ok's `txn` is not a list".into());
        };
        if got.len() != sent.len() {
            return Completion::Info(format!(
                "the txn_ok's `txn` has {} micro-ops, the request had {}",
                got.len(),
                sent.len()
            ));
        }
        let mut out = Vec::with_capacity(sent.len());
        for (i, (s, g)) in sent.iter().zip(got).enumerate() {
            let (Some([f, k, v]), Some([gf, gk, gv])) = (s.as_list(), g.as_list()) else {
                return Completion::Info(format!(
                    "micro-op {i} of the txn_ok is not [f, key, value]: {g}"
                ));
            };
            if f != gf || k != gk {
                return Completion::Info(format!(
                    "micro-op {i} of the txn_ok is {g}, the request's was {s}: answer with the request's micro-ops in order"
                ));
            }
            let read = f == &Value::Str("r".into());
            if !read && v != gv {
                return Completion::Info(format!(
                    "micro-op {i} of the txn_ok is {g}, the request wrote {v}"
                ));
            }
            if read && !self.read_ok(gv) {
                return Completion::Info(format!(
                    "micro-op {i} of the txn_ok reads {gv}: a {} read is {}",
                    self.model,
                    if self.write_f == "append" {
                        "a list of integers or null"
                    } else {
                        "an integer or null"
                    }
                ));
            }
            out.push(mop_value(f, k, if read { gv } else { v }));
        }
        Completion::Ok(Value::List(out))
    }

    fn read_ok(&self, v: &Value) -> bool {
        match (self.write_f, v) {
            (_, Value::Nil) => true,
            ("append", Value::List(l)) => l.iter().all(|e| matches!(e, Value::Int(_))),
            ("append", _) => false,
            (_, Value::Int(_)) => true,
            _ => false,
        }
    }

    /// The `txn` checker on this model.
    pub fn checkers(&self) -> Vec<CheckerSpec> {
        vec![CheckerOptions {
            model: Some(self.model.into()),
            ..Default::default()
        }
        .spec(crate::check::txn::NAME)]
    }
}

fn mop(f: &str, key: i64, value: Value) -> Value {
    Value::List(vec![Value::Str(f.into()), Value::Int(key), value])
}

fn mop_value(f: &Value, k: &Value, v: &Value) -> Value {
    Value::List(vec![f.clone(), k.clone(), v.clone()])
}

impl Workload for TxnGen {
    fn section(&self) -> &'static Section {
        self.section
    }

    fn model(&self) -> Option<&'static str> {
        Some(self.model)
    }

    fn next(&mut self, _worker: usize, _node: usize, rng: &mut StdRng) -> Call {
        TxnGen::next(self, rng)
    }

    fn complete(&mut self, _worker: usize, call: &Call, reply: &Map<String, Json>) -> Completion {
        TxnGen::complete(self, call, reply)
    }

    fn checkers(&self) -> Vec<CheckerSpec> {
        TxnGen::checkers(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maelstrom::topology::Topology;
    use rand::SeedableRng;

    fn opts() -> WorkloadOptions {
        WorkloadOptions {
            key_count: 2,
            max_writes_per_key: 3,
            max_txn_length: 3,
            consistency_models: vec![],
            node_count: 1,
            topology: Topology::Total,
        }
    }

    #[test]
    fn transactions_are_short_and_writes_unique_per_key() {
        let mut g = crate::maelstrom::workload::txn_list_append::new(&opts());
        let mut rng = StdRng::seed_from_u64(5);
        let mut seen = std::collections::BTreeSet::new();
        let mut keys = std::collections::BTreeSet::new();
        for _ in 0..300 {
            let c = g.next(&mut rng);
            assert_eq!(c.f, "txn");
            let mops = c.value.as_list().unwrap();
            assert!((1..=3).contains(&mops.len()));
            assert_eq!(c.body["txn"], to_json(&c.value));
            for m in mops {
                let [f, k, v] = m.as_list().unwrap() else {
                    panic!("{m}")
                };
                keys.insert(k.clone());
                if f == &Value::Str("append".into()) {
                    assert!(seen.insert((k.clone(), v.clone())), "{k} {v} twice");
                    assert!(v.as_int().unwrap() <= 3, "a key takes 3 writes at most");
                }
            }
        }
        assert!(keys.len() > 2, "keys retire");
    }

    #[test]
    fn a_txn_ok_fills_in_reads_and_must_match_the_request() {
        let g = crate::maelstrom::workload::txn_rw_register::new(&opts());
        let txn = serde_json::json!([["r", 1, null], ["w", 1, 4]]);
        let call = Call::new(g.rpc, to_value(&txn), body([("txn", txn)]));
        let reply = |t: Json| body([("txn", t)]);
        assert_eq!(
            g.complete(&call, &reply(serde_json::json!([["r", 1, 3], ["w", 1, 4]]))),
            Completion::Ok(to_value(&serde_json::json!([["r", 1, 3], ["w", 1, 4]])))
        );
        for bad in [
            serde_json::json!([["r", 1, 3]]),
            serde_json::json!([["r", 2, 3], ["w", 1, 4]]),
            serde_json::json!([["r", 1, 3], ["w", 1, 5]]),
            serde_json::json!([["r", 1, [3]], ["w", 1, 4]]),
        ] {
            let Completion::Info(why) = g.complete(&call, &reply(bad.clone())) else {
                panic!("{bad} accepted")
            };
            assert!(why.contains("txn_ok"), "{why}");
        }
    }
}
