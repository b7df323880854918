//! Maelstrom workloads: what the clients ask the nodes, and how the history is checked.
//!
//! Each workload is one file holding its RPC declaration ([`Section`]: used to check replies at
//! run time and to generate the protocol doc), its generator and its checker. The checkers are
//! pure functions of a [`History`], so a stored history can be re-checked. The registry is
//! [`by_name`] (and [`SECTIONS`] for the docs): a new workload is one file plus one line in each.

use super::schema::{Rpc, Section};
use super::topology::Topology;
use crate::check::{CheckResult, CheckerSpec};
use crate::history::{History, Op, OpType, Value};
use rand::rngs::StdRng;
use serde_json::{Map, Value as Json};

pub mod broadcast;
pub mod counter;
pub mod echo;
pub mod g_set;
pub mod kafka;
pub mod lin_kv;
pub mod set_convergence;
pub mod txn;
pub mod txn_list_append;
pub mod txn_rw_register;
pub mod unique_ids;

/// One client request, as a workload makes it.
#[derive(Clone, Debug)]
pub struct Call {
    /// The history's `f`.
    pub f: String,
    /// The history's `key`, when the workload has keys.
    pub key: Option<String>,
    /// The history's invoke value.
    pub value: Value,
    /// The RPC this request is.
    pub rpc: &'static Rpc,
    /// The request body's fields besides `type` and `msg_id`.
    pub body: Map<String, Json>,
}

impl Call {
    /// A call of `rpc` with f = the RPC's name and no key.
    pub fn new(rpc: &'static Rpc, value: Value, body: Map<String, Json>) -> Call {
        Call {
            f: rpc.name.to_owned(),
            key: None,
            value,
            rpc,
            body,
        }
    }
}

/// How a call ended, as the history will record it.
#[derive(Clone, Debug, PartialEq)]
pub enum Completion {
    /// It happened; the result.
    Ok(Value),
    /// It certainly did not happen; why.
    Fail(String),
    /// It may have happened; why it is unknown.
    Info(String),
}

/// Options that shape the workloads.
#[derive(Clone, Debug)]
pub struct WorkloadOptions {
    /// Keys for lin-kv, kafka and the txn workloads (`--key-count`).
    pub key_count: usize,
    /// Micro-ops per transaction at most, for the txn workloads (`--max-txn-length`).
    pub max_txn_length: usize,
    /// Writes per key before lin-kv moves on to fresh keys (`--max-writes-per-key`).
    pub max_writes_per_key: usize,
    /// The consistency models lin-kv is checked against (`--consistency-models`).
    pub consistency_models: Vec<String>,
    /// How many nodes the run has.
    pub node_count: usize,
    /// How the nodes are told to connect (broadcast's `topology` message).
    pub topology: Topology,
}

/// A Maelstrom workload.
pub trait Workload: Send {
    /// The workload's name, its RPCs and what a node must do.
    fn section(&self) -> &'static Section;

    /// The checker model the history header names (`cas-register` for lin-kv), if any.
    fn model(&self) -> Option<&'static str> {
        None
    }

    /// Requests to send each node (by index) before the clients start, e.g. `topology`.
    fn setup(&mut self, _node_ids: &[String]) -> Vec<(usize, Call)> {
        Vec::new()
    }

    /// The next request of client worker `worker`, which talks to node `node` (an index).
    fn next(&mut self, worker: usize, node: usize, rng: &mut StdRng) -> Call;

    /// The ok result of `call` from a reply that already passed the RPC's declaration.
    fn complete(&mut self, _worker: usize, call: &Call, reply: &Map<String, Json>) -> Completion {
        let _ = reply;
        Completion::Ok(call.value.clone())
    }

    /// How an error reply ends `call`: definite codes `fail`, the others `info` (Maelstrom's
    /// rule); a workload may read a code more precisely (lin-kv: a read of a missing key is an
    /// ok read of nil).
    fn error(&mut self, _call: &Call, code: u64, text: String) -> Completion {
        if super::protocol::is_definite(code) {
            Completion::Fail(text)
        } else {
            Completion::Info(text)
        }
    }

    /// The requests of final round `round` (node index, call) given the history so far; empty
    /// once the workload has what it needs (or has nothing to ask after the faults healed).
    fn final_calls(&mut self, _round: usize, _history: &History) -> Vec<(usize, Call)> {
        Vec::new()
    }

    /// The checkers a history of this workload gets (recorded in its header, so `ferrocheck
    /// check` and `ferrocheck report` re-run them): by default the `maelstrom` checker with the
    /// workload's name as its model.
    fn checkers(&self) -> Vec<CheckerSpec> {
        vec![crate::check::CheckerOptions {
            model: Some(self.section().name.to_owned()),
            ..Default::default()
        }
        .spec(super::checkers::NAME)]
    }
}

/// Every workload's declaration, for the docs.
pub const SECTIONS: &[&Section] = &[
    &echo::SECTION,
    &unique_ids::SECTION,
    &broadcast::SECTION,
    &g_set::SECTION,
    &counter::G_COUNTER,
    &counter::PN_COUNTER,
    &lin_kv::SECTION,
    &kafka::SECTION,
    &txn_rw_register::SECTION,
    &txn_list_append::SECTION,
];

/// The workload called `name`, or an error listing the known ones.
pub fn by_name(name: &str, opts: &WorkloadOptions) -> anyhow::Result<Box<dyn Workload>> {
    Ok(match name {
        "echo" => Box::new(echo::Echo),
        "unique-ids" => Box::new(unique_ids::UniqueIds),
        "broadcast" => Box::new(broadcast::Broadcast::new(opts)),
        "g-set" => Box::new(g_set::GSet::new(opts)),
        "g-counter" => Box::new(counter::Counter::new(false, opts)),
        "pn-counter" => Box::new(counter::Counter::new(true, opts)),
        "lin-kv" => Box::new(lin_kv::LinKv::new(opts)),
        "kafka" => Box::new(kafka::Kafka::new(opts)),
        "txn-rw-register" => Box::new(txn_rw_register::new(opts)),
        "txn-list-append" => Box::new(txn_list_append::new(opts)),
        other => {
            let names: Vec<&str> = SECTIONS.iter().map(|s| s.name).collect();
            return Err(crate::error::usage(format!(
                "unknown Maelstrom workload {other:?}: use one of {}",
                names.join(", ")
            )));
        }
    })
}

/// A JSON value as a history value: objects become lists of `[key, value]` pairs (sorted by
/// key), numbers that are not integers become their text.
pub fn to_value(j: &Json) -> Value {
    match j {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Str(n.to_string()),
        },
        Json::String(s) => Value::Str(s.clone()),
        Json::Array(a) => Value::List(a.iter().map(to_value).collect()),
        Json::Object(m) => Value::List(
            m.iter()
                .map(|(k, v)| Value::List(vec![Value::Str(k.clone()), to_value(v)]))
                .collect(),
        ),
    }
}

/// A history value as JSON (lists stay lists).
pub fn to_json(v: &Value) -> Json {
    match v {
        Value::Nil => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Str(s) => Json::String(s.clone()),
        Value::List(l) => Json::Array(l.iter().map(to_json).collect()),
    }
}

/// A body from `(field, value)` pairs.
pub fn body<const N: usize>(fields: [(&str, Json); N]) -> Map<String, Json> {
    fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// Every completed client call of the history as (invoke, completion).
pub fn completed(history: &History) -> impl Iterator<Item = (&Op, &Op)> {
    history.calls().into_iter().filter_map(move |c| {
        let done = &history.ops[c.complete?];
        Some((&history.ops[c.invoke], done))
    })
}

/// The ok calls of function `f` as (invoke, completion).
pub fn ok_calls<'a>(history: &'a History, f: &'a str) -> impl Iterator<Item = (&'a Op, &'a Op)> {
    completed(history).filter(move |(i, d)| i.f == f && d.kind == OpType::Ok)
}

/// The invoke value that marks a final read (made after the faults healed).
pub fn final_marker() -> Value {
    Value::Str("final".into())
}

/// A result with no anomaly, or invalid with them.
pub fn result(
    checker: &str,
    anomalies: Vec<crate::check::Anomaly>,
    valid_summary: String,
    stats: Json,
) -> CheckResult {
    use crate::check::Validity;
    let (validity, summary) = if anomalies.is_empty() {
        (Validity::Valid, valid_summary)
    } else {
        let first = anomalies[0]
            .explanation
            .lines()
            .next()
            .unwrap_or("")
            .to_owned();
        (
            Validity::Invalid,
            if anomalies.len() == 1 {
                first
            } else {
                format!("{} anomalies; first: {first}", anomalies.len())
            },
        )
    };
    CheckResult {
        checker: checker.to_owned(),
        validity,
        summary,
        anomalies,
        stats,
    }
}

/// A result that cannot decide: `why`.
pub fn unknown(checker: &str, why: String) -> CheckResult {
    CheckResult {
        checker: checker.to_owned(),
        validity: crate::check::Validity::Unknown,
        summary: why,
        anomalies: Vec::new(),
        stats: Json::Null,
    }
}

/// `op`'s time in seconds, for explanations.
pub fn secs(op: &Op) -> String {
    format!("{:.2} s", op.time as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_history_values_round_trip_where_they_can() {
        let j: Json = serde_json::json!([1, "a", null, [true]]);
        assert_eq!(to_json(&to_value(&j)), j);
        let obj: Json = serde_json::json!({"b": 2, "a": 1});
        assert_eq!(
            to_value(&obj).to_string(),
            "[[\"a\" 1] [\"b\" 2]]",
            "objects become sorted pairs"
        );
        assert_eq!(to_value(&serde_json::json!(1.5)), Value::Str("1.5".into()));
    }
}
