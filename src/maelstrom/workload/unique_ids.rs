//! `unique-ids`: clients ask nodes to `generate` an id; every id must be unique across all
//! nodes, also while the network is partitioned (so the nodes cannot ask each other).

use super::{ok_calls, result, secs, to_value, Call, Completion, Workload};
use crate::check::{Anomaly, CheckResult};
use crate::history::{History, Value};
use crate::maelstrom::schema::{field, Rpc, Section, Ty};
use rand::rngs::StdRng;
use serde_json::{Map, Value as Json};
use std::collections::HashMap;

/// The generate RPC.
pub const GENERATE: Rpc = Rpc {
    name: "generate",
    doc: "Return an id no other `generate` (on any node) ever returns.",
    request: &[],
    reply: &[field(
        "id",
        Ty::Any,
        "the new id: any JSON value (a string, an integer, ...)",
    )],
    errors: &[],
};

/// The workload's declaration.
pub const SECTION: Section = Section {
    name: "unique-ids",
    doc: "Clients ask random nodes for ids. Checked: no two ok `generate` calls returned the same id (with partitions on, a node cannot coordinate with the others).",
    rpcs: &[GENERATE],
};

/// The unique-ids generator.
pub struct UniqueIds;

impl Workload for UniqueIds {
    fn section(&self) -> &'static Section {
        &SECTION
    }

    fn next(&mut self, _worker: usize, _node: usize, _rng: &mut StdRng) -> Call {
        Call::new(&GENERATE, Value::Nil, Map::new())
    }

    fn complete(&mut self, _worker: usize, _call: &Call, reply: &Map<String, Json>) -> Completion {
        Completion::Ok(reply.get("id").map(to_value).unwrap_or_default())
    }
}

/// Checks that no id was handed out twice.
pub fn check(history: &History) -> CheckResult {
    let mut first: HashMap<&Value, (u64, &crate::history::Op)> = HashMap::new();
    let mut anomalies = Vec::new();
    let mut ok = 0;
    for (_, done) in ok_calls(history, "generate") {
        ok += 1;
        match first.get(&done.value) {
            Some((idx, prev)) => {
                if anomalies.len() < 100 {
                    anomalies.push(Anomaly {
                        kind: "duplicate-id".into(),
                        key: None,
                        ops: vec![*idx, done.index],
                        explanation: format!(
                            "id {} was generated twice: for process {} at {} and for process {} at {}",
                            done.value,
                            prev.process,
                            secs(prev),
                            done.process,
                            secs(done)
                        ),
                        details: Json::Null,
                    });
                }
            }
            None => {
                first.insert(&done.value, (done.index, done));
            }
        }
    }
    if ok == 0 {
        return super::unknown("unique-ids", "no generate request was answered".into());
    }
    result(
        "unique-ids",
        anomalies,
        format!("all {ok} generated ids are distinct"),
        serde_json::json!({ "ok": ok, "distinct": first.len() }),
    )
}
