//! `echo`: the hello world of Maelstrom. A client sends `echo` with a payload; the node answers
//! `echo_ok` with the same payload. Valid when every ok reply returned exactly what was sent.

use super::{body, completed, result, secs, to_value, Call, Completion, Workload};
use crate::check::{Anomaly, CheckResult};
use crate::history::{History, OpType, Value};
use crate::maelstrom::schema::{field, Rpc, Section, Ty};
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{Map, Value as Json};

/// The echo RPC.
pub const ECHO: Rpc = Rpc {
    name: "echo",
    doc: "Send back the payload unchanged.",
    request: &[field("echo", Ty::Any, "the payload")],
    reply: &[field("echo", Ty::Any, "the same payload")],
    errors: &[],
};

/// The echo workload's declaration.
pub const SECTION: Section = Section {
    name: "echo",
    doc: "Clients send `echo` requests to random nodes; a node answers each with the payload it got. Checked: every `echo_ok` carries exactly the payload of its request.",
    rpcs: &[ECHO],
};

/// The echo generator.
pub struct Echo;

impl Workload for Echo {
    fn section(&self) -> &'static Section {
        &SECTION
    }

    fn next(&mut self, _worker: usize, _node: usize, rng: &mut StdRng) -> Call {
        let text = format!("Please echo {}", rng.gen_range(0..1000));
        Call::new(
            &ECHO,
            Value::Str(text.clone()),
            body([("echo", Json::String(text))]),
        )
    }

    fn complete(&mut self, _worker: usize, _call: &Call, reply: &Map<String, Json>) -> Completion {
        Completion::Ok(reply.get("echo").map(to_value).unwrap_or_default())
    }
}

/// Checks that every ok echo returned its payload.
pub fn check(history: &History) -> CheckResult {
    let mut anomalies = Vec::new();
    let mut ok = 0;
    for (inv, done) in completed(history).filter(|(i, _)| i.f == "echo") {
        if done.kind != OpType::Ok {
            continue;
        }
        ok += 1;
        if inv.value != done.value {
            anomalies.push(Anomaly {
                kind: "wrong-echo".into(),
                key: None,
                ops: vec![inv.index, done.index],
                explanation: format!(
                    "process {} sent echo {} at {} and got back {}",
                    inv.process,
                    inv.value,
                    secs(inv),
                    done.value
                ),
                details: Json::Null,
            });
        }
    }
    if ok == 0 {
        return super::unknown("echo", "no echo request was answered".into());
    }
    result(
        "echo",
        anomalies,
        format!("all {ok} answered echoes returned their payload"),
        serde_json::json!({ "ok": ok }),
    )
}
