//! `lin-kv`: a linearizable key-value store of registers with `read`, `write` and `cas`. The
//! history is checked with ferrocheck's linearizability checker (model `cas-register`, one
//! register per key); `--consistency-models sequential` adds a sequential-consistency check.

use super::{body, Call, Completion, Workload, WorkloadOptions};
use crate::check::model::COMPARE_FAILED;
use crate::check::{CheckerOptions, CheckerSpec};
use crate::history::Value;
use crate::maelstrom::schema::{field, Rpc, Section, Ty};
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{Map, Value as Json};

/// The read RPC.
pub const READ: Rpc = Rpc {
    name: "read",
    doc: "Return the key's current value.",
    request: &[field("key", Ty::Any, "the key")],
    reply: &[field("value", Ty::Any, "its value")],
    errors: &[20],
};

/// The write RPC.
pub const WRITE: Rpc = Rpc {
    name: "write",
    doc: "Set the key's value.",
    request: &[
        field("key", Ty::Any, "the key"),
        field("value", Ty::Any, "the new value"),
    ],
    reply: &[],
    errors: &[],
};

/// The cas RPC.
pub const CAS: Rpc = Rpc {
    name: "cas",
    doc: "If the key's value is `from`, set it to `to`; else answer error 22 (or 20 when the key does not exist).",
    request: &[
        field("key", Ty::Any, "the key"),
        field("from", Ty::Any, "the value expected"),
        field("to", Ty::Any, "the value to set"),
    ],
    reply: &[],
    errors: &[20, 22],
};

/// The workload's declaration.
pub const SECTION: Section = Section {
    name: "lin-kv",
    doc: "A key-value store that must be linearizable. Clients `read`, `write` and `cas` small integer values on a few keys (`--key-count`; a key is retired after `--max-writes-per-key` writes). A read of a missing key answers error 20 (recorded as reading nil); a cas whose `from` does not match answers error 22. Checked: linearizability with ferrocheck's checker (each key a cas-register); a violation names the ops that prove it. A node may keep the data in the built-in `lin-kv` service.",
    rpcs: &[READ, WRITE, CAS],
};

/// The lin-kv generator.
pub struct LinKv {
    keys: Vec<(i64, usize)>,
    next_key: i64,
    max_writes: usize,
    sequential: bool,
}

impl LinKv {
    /// A generator over `opts.key_count` live keys.
    pub fn new(opts: &WorkloadOptions) -> LinKv {
        let n = opts.key_count.max(1);
        LinKv {
            keys: (0..n as i64).map(|k| (k, 0)).collect(),
            next_key: n as i64,
            max_writes: opts.max_writes_per_key.max(1),
            sequential: opts.consistency_models.iter().any(|m| m == "sequential"),
        }
    }
}

/// The consistency models `--consistency-models` accepts for lin-kv.
pub const MODELS: &[&str] = &["linearizable", "strict-serializable", "sequential"];

impl Workload for LinKv {
    fn section(&self) -> &'static Section {
        &SECTION
    }

    fn model(&self) -> Option<&'static str> {
        Some("cas-register")
    }

    fn next(&mut self, _worker: usize, _node: usize, rng: &mut StdRng) -> Call {
        let slot = rng.gen_range(0..self.keys.len());
        let (key, writes) = self.keys[slot];
        let mut call = match rng.gen_range(0..3) {
            0 => Call::new(&READ, Value::Nil, body([("key", Json::from(key))])),
            1 => {
                let v = rng.gen_range(0..5i64);
                Call::new(
                    &WRITE,
                    Value::Int(v),
                    body([("key", key.into()), ("value", v.into())]),
                )
            }
            _ => {
                let (from, to) = (rng.gen_range(0..5i64), rng.gen_range(0..5i64));
                let pair = Value::List(vec![Value::Int(from), Value::Int(to)]);
                Call::new(
                    &CAS,
                    pair,
                    body([
                        ("key", key.into()),
                        ("from", from.into()),
                        ("to", to.into()),
                    ]),
                )
            }
        };
        call.key = Some(key.to_string());
        if call.rpc.name != "read" {
            self.keys[slot].1 = writes + 1;
            if writes + 1 >= self.max_writes {
                self.keys[slot] = (self.next_key, 0);
                self.next_key += 1;
            }
        }
        call
    }

    fn complete(&mut self, _worker: usize, call: &Call, reply: &Map<String, Json>) -> Completion {
        match call.rpc.name {
            "read" => Completion::Ok(reply.get("value").map(super::to_value).unwrap_or_default()),
            _ => Completion::Ok(call.value.clone()),
        }
    }

    fn checkers(&self) -> Vec<CheckerSpec> {
        let opts = CheckerOptions {
            model: Some("cas-register".into()),
            time_limit: Some(60.0),
            ..Default::default()
        };
        let mut out = vec![opts.spec("linearizable")];
        if self.sequential {
            out.push(opts.spec("sequential"));
        }
        out
    }

    fn error(&mut self, call: &Call, code: u64, text: String) -> Completion {
        match (call.rpc.name, code) {
            // The key does not exist: the read saw the initial nil.
            ("read", 20) => Completion::Ok(Value::Nil),
            // The compare did not match (a missing key is nil, never a cas's `from`).
            ("cas", 20 | 22) => Completion::Fail(COMPARE_FAILED.into()),
            _ if crate::maelstrom::protocol::is_definite(code) => Completion::Fail(text),
            _ => Completion::Info(text),
        }
    }
}
