//! `kafka`: a replicated log per key, in the style of Kafka. Clients `send` messages to keys
//! (the node answers the offset it gave the message), `poll` from per-key offsets, and
//! `commit_offsets` / `list_committed_offsets` their consumer positions. Checked: no
//! acknowledged message is lost (every final poll from offset 0 holds it), no two messages
//! share an offset, a poll returns offsets in increasing order without skipping an
//! acknowledged message, and a send acknowledged before another began got the lower offset.

use super::{body, completed, result, secs, to_value, Call, Completion, Workload, WorkloadOptions};
use crate::check::{Anomaly, CheckResult};
use crate::history::{History, Op, OpType, Value};
use crate::maelstrom::schema::{field, Rpc, Section, Ty};
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{Map, Value as Json};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The send RPC.
pub const SEND: Rpc = Rpc {
    name: "send",
    doc: "Append `msg` to the log of `key` and return its offset (offsets grow with each message of a key; they need not be consecutive).",
    request: &[field("key", Ty::Str, "the log"), field("msg", Ty::Any, "the message")],
    reply: &[field("offset", Ty::Int, "the message's offset in the log")],
    errors: &[],
};

/// The poll RPC.
pub const POLL: Rpc = Rpc {
    name: "poll",
    doc: "Return messages of each listed key, starting at the given offset, in offset order.",
    request: &[field(
        "offsets",
        Ty::Map(&Ty::Int),
        "key → first offset wanted",
    )],
    reply: &[field(
        "msgs",
        Ty::Map(&Ty::List(&Ty::Pair(&Ty::Int, &Ty::Any))),
        "key → `[[offset, msg], ...]`, increasing offsets, none skipped",
    )],
    errors: &[],
};

/// The commit_offsets RPC.
pub const COMMIT: Rpc = Rpc {
    name: "commit_offsets",
    doc: "Remember that the consumer group has processed each key up to the given offset.",
    request: &[field("offsets", Ty::Map(&Ty::Int), "key → offset")],
    reply: &[],
    errors: &[],
};

/// The list_committed_offsets RPC.
pub const LIST: Rpc = Rpc {
    name: "list_committed_offsets",
    doc: "Return the committed offset of each listed key (keys never committed may be left out).",
    request: &[field("keys", Ty::List(&Ty::Str), "the keys")],
    reply: &[field(
        "offsets",
        Ty::Map(&Ty::Int),
        "key → committed offset",
    )],
    errors: &[],
};

/// The workload's declaration.
pub const SECTION: Section = Section {
    name: "kafka",
    doc: "Replicated logs. Clients `send` unique messages to a few keys (`--key-count`), `poll` from their own positions, commit and list offsets. After the run every log is polled from offset 0. Checked: no acknowledged message is lost or given an offset another message has, polls return increasing offsets without skipping an acknowledged message, and a send acknowledged before another began has the lower offset.",
    rpcs: &[SEND, POLL, COMMIT, LIST],
};

/// The key a final poll carries in the history.
const FINAL: &str = "final";

/// The kafka generator.
pub struct Kafka {
    keys: usize,
    next_msg: i64,
    positions: HashMap<usize, BTreeMap<String, i64>>,
    final_next: BTreeMap<String, i64>,
    final_done: BTreeSet<String>,
}

impl Kafka {
    /// A generator over `opts.key_count` keys.
    pub fn new(opts: &WorkloadOptions) -> Kafka {
        Kafka {
            keys: opts.key_count.max(1),
            next_msg: 0,
            positions: HashMap::new(),
            final_next: BTreeMap::new(),
            final_done: BTreeSet::new(),
        }
    }
}

fn offsets_call(rpc: &'static Rpc, offsets: &BTreeMap<String, i64>) -> Call {
    let value = Value::List(
        offsets
            .iter()
            .map(|(k, o)| Value::List(vec![Value::Str(k.clone()), Value::Int(*o)]))
            .collect(),
    );
    let json = serde_json::to_value(offsets).unwrap_or(Json::Null);
    Call::new(rpc, value, body([("offsets", json)]))
}

/// A poll reply as key → [(offset, msg)].
fn polled(v: &Value) -> Vec<(String, Vec<(i64, Value)>)> {
    let mut out = Vec::new();
    for pair in v.as_list().unwrap_or(&[]) {
        let Some([Value::Str(k), Value::List(entries)]) = pair.as_list() else {
            continue;
        };
        let list = entries
            .iter()
            .filter_map(|e| match e.as_list() {
                Some([Value::Int(o), m]) => Some((*o, m.clone())),
                _ => None,
            })
            .collect();
        out.push((k.clone(), list));
    }
    out
}

impl Workload for Kafka {
    fn section(&self) -> &'static Section {
        &SECTION
    }

    fn next(&mut self, worker: usize, _node: usize, rng: &mut StdRng) -> Call {
        let pos = self.positions.entry(worker).or_default();
        let r: f64 = rng.gen();
        if r < 0.5 {
            let key = rng.gen_range(0..self.keys).to_string();
            let m = self.next_msg;
            self.next_msg += 1;
            let mut c = Call::new(
                &SEND,
                Value::Int(m),
                body([("key", key.clone().into()), ("msg", m.into())]),
            );
            c.key = Some(key);
            c
        } else if r < 0.85 {
            let offsets = (0..self.keys)
                .map(|k| (k.to_string(), *pos.get(&k.to_string()).unwrap_or(&0)))
                .collect();
            offsets_call(&POLL, &offsets)
        } else if r < 0.95 {
            offsets_call(&COMMIT, pos)
        } else {
            let keys: Vec<String> = (0..self.keys).map(|k| k.to_string()).collect();
            let value = Value::List(keys.iter().cloned().map(Value::Str).collect());
            Call::new(&LIST, value, body([("keys", serde_json::json!(keys))]))
        }
    }

    fn complete(&mut self, worker: usize, call: &Call, reply: &Map<String, Json>) -> Completion {
        match call.rpc.name {
            "send" => {
                let off = reply.get("offset").map(to_value).unwrap_or_default();
                Completion::Ok(Value::List(vec![off, call.value.clone()]))
            }
            "poll" => {
                let v = reply.get("msgs").map(to_value).unwrap_or_default();
                let got = polled(&v);
                if call.key.as_deref() == Some(FINAL) {
                    let asked: Vec<String> = call
                        .body
                        .get("offsets")
                        .and_then(Json::as_object)
                        .map(|m| m.keys().cloned().collect())
                        .unwrap_or_default();
                    for k in asked {
                        match got
                            .iter()
                            .find(|(g, _)| *g == k)
                            .and_then(|(_, l)| l.last())
                        {
                            Some((o, _)) => {
                                self.final_next.insert(k, o + 1);
                            }
                            None => {
                                self.final_done.insert(k);
                            }
                        }
                    }
                } else {
                    let pos = self.positions.entry(worker).or_default();
                    for (k, list) in &got {
                        if let Some((o, _)) = list.last() {
                            pos.insert(k.clone(), o + 1);
                        }
                    }
                }
                Completion::Ok(v)
            }
            "list_committed_offsets" => {
                Completion::Ok(reply.get("offsets").map(to_value).unwrap_or_default())
            }
            _ => Completion::Ok(call.value.clone()),
        }
    }

    fn final_calls(&mut self, round: usize, history: &History) -> Vec<(usize, Call)> {
        if round == 0 {
            let keys: BTreeSet<String> = history
                .ops
                .iter()
                .filter(|o| o.f == "send" && o.kind == OpType::Invoke)
                .filter_map(|o| o.key.clone())
                .collect();
            self.final_next = keys.into_iter().map(|k| (k, 0)).collect();
        }
        let todo: BTreeMap<String, i64> = self
            .final_next
            .iter()
            .filter(|(k, _)| !self.final_done.contains(*k))
            .map(|(k, o)| (k.clone(), *o))
            .collect();
        if todo.is_empty() || round >= 100 {
            return Vec::new();
        }
        let mut c = offsets_call(&POLL, &todo);
        c.key = Some(FINAL.into());
        vec![(0, c)]
    }
}

fn anomaly(kind: &str, key: &str, ops: Vec<u64>, explanation: String) -> Anomaly {
    Anomaly {
        kind: kind.into(),
        key: Some(key.to_owned()),
        ops,
        explanation,
        details: Json::Null,
    }
}

/// Checks a kafka history.
pub fn check(history: &History) -> CheckResult {
    let mut anomalies = Vec::new();
    // Acknowledged sends: (key, offset) → (msg, invoke, completion).
    let mut sends: BTreeMap<(String, i64), (Value, &Op, &Op)> = BTreeMap::new();
    let mut by_key: BTreeMap<String, Vec<(i64, &Op, &Op)>> = BTreeMap::new();
    for (inv, done) in completed(history).filter(|(i, d)| i.f == "send" && d.kind == OpType::Ok) {
        let key = inv.key.clone().unwrap_or_default();
        let Some([Value::Int(off), msg]) = done.value.as_list() else {
            continue;
        };
        if let Some((other, oi, _)) = sends.get(&(key.clone(), *off)) {
            if other != msg {
                anomalies.push(anomaly("duplicate-offset", &key, vec![oi.index, inv.index], format!(
                    "two acknowledged sends to key {key} got offset {off}: {other} (process {}) and {msg} (process {})", oi.process, inv.process)));
            }
        }
        sends.insert((key.clone(), *off), (msg.clone(), inv, done));
        by_key.entry(key).or_default().push((*off, inv, done));
    }
    // A send acknowledged before another one began must have the lower offset.
    for (key, list) in &by_key {
        let mut by_done: Vec<&(i64, &Op, &Op)> = list.iter().collect();
        by_done.sort_by_key(|(_, _, d)| d.time);
        let mut by_inv: Vec<&(i64, &Op, &Op)> = list.iter().collect();
        by_inv.sort_by_key(|(_, i, _)| i.time);
        let (mut j, mut best): (usize, Option<&(i64, &Op, &Op)>) = (0, None);
        for b in by_inv {
            while j < by_done.len() && by_done[j].2.time < b.1.time {
                if best.is_none_or(|x| by_done[j].0 > x.0) {
                    best = Some(by_done[j]);
                }
                j += 1;
            }
            if let Some(a) = best {
                if a.0 >= b.0 && anomalies.len() < 50 {
                    anomalies.push(anomaly("reordered", key, vec![a.1.index, a.2.index, b.1.index, b.2.index], format!(
                        "on key {key}, send {} got offset {} at {}, yet send {}, begun after that, got the lower or equal offset {}",
                        a.1.value, a.0, secs(a.2), b.1.value, b.0)));
                }
            }
        }
    }
    // Polls: increasing offsets, no skipped acknowledged message, one message per offset.
    let mut seen: HashMap<(String, i64), Value> = HashMap::new();
    let mut finals: BTreeSet<String> = BTreeSet::new();
    let mut polls = 0;
    for (inv, done) in completed(history).filter(|(i, d)| i.f == "poll" && d.kind == OpType::Ok) {
        polls += 1;
        for (key, list) in polled(&done.value) {
            if inv.key.as_deref() == Some(FINAL) {
                finals.insert(key.clone());
            }
            for w in list.windows(2) {
                let (o1, o2) = (w[0].0, w[1].0);
                if o2 <= o1 {
                    if anomalies.len() < 50 {
                        anomalies.push(anomaly("reordered", &key, vec![done.index], format!(
                            "a poll of key {key} answered at {} returned offset {o2} after offset {o1}", secs(done))));
                    }
                    continue;
                }
                for ((_, o), (m, si, sd)) in sends.range((key.clone(), o1 + 1)..(key.clone(), o2)) {
                    if sd.time < inv.time && anomalies.len() < 50 {
                        anomalies.push(anomaly("skipped", &key, vec![si.index, sd.index, done.index], format!(
                            "a poll of key {key} answered at {} jumped from offset {o1} to {o2}, skipping message {m} at offset {o}, acknowledged at {}",
                            secs(done), secs(sd))));
                    }
                }
            }
            for (o, m) in list {
                let slot = (key.clone(), o);
                if let Some((sent, si, _)) = sends.get(&slot) {
                    if *sent != m && anomalies.len() < 50 {
                        anomalies.push(anomaly("inconsistent-offset", &key, vec![si.index, done.index], format!(
                            "key {key} offset {o} holds {sent} (acknowledged to process {}), but a poll answered at {} returned {m} there", si.process, secs(done))));
                    }
                }
                match seen.get(&slot) {
                    Some(prev) if *prev != m => {
                        if anomalies.len() < 50 {
                            anomalies.push(anomaly(
                                "inconsistent-offset",
                                &key,
                                vec![done.index],
                                format!(
                                    "key {key} offset {o} was polled as {prev} and, at {}, as {m}",
                                    secs(done)
                                ),
                            ));
                        }
                    }
                    _ => {
                        seen.insert(slot, m);
                    }
                }
            }
        }
    }
    let mut lost = 0;
    let mut unverifiable = BTreeSet::new();
    for ((key, off), (m, si, sd)) in &sends {
        if seen.contains_key(&(key.clone(), *off)) {
            continue;
        }
        if !finals.contains(key) {
            unverifiable.insert(key.clone());
            continue;
        }
        lost += 1;
        if anomalies.len() < 50 {
            anomalies.push(anomaly("lost", key, vec![si.index, sd.index], format!(
                "message {m} was acknowledged at offset {off} of key {key} at {}, but no poll ever returned it, not even the final polls from offset 0",
                secs(sd))));
        }
    }
    let stats =
        serde_json::json!({"acknowledged_sends": sends.len(), "ok_polls": polls, "lost": lost});
    if anomalies.is_empty() && !unverifiable.is_empty() {
        let keys: Vec<String> = unverifiable.into_iter().collect();
        let mut r = super::unknown("kafka", format!("the final polls of key(s) {} did not come back: cannot tell whether acknowledged messages were lost", keys.join(", ")));
        r.stats = stats;
        return r;
    }
    if sends.is_empty() && anomalies.is_empty() {
        return super::unknown("kafka", "no send was acknowledged".into());
    }
    result(
        "kafka",
        anomalies,
        format!(
            "all {} acknowledged messages were polled in order, none lost",
            sends.len()
        ),
        stats,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Process;

    fn op(
        index: u64,
        time: u64,
        p: u64,
        kind: OpType,
        f: &str,
        key: Option<&str>,
        value: Value,
    ) -> Op {
        Op {
            index,
            time,
            process: Process::Client(p),
            kind,
            f: f.into(),
            key: key.map(Into::into),
            value,
            error: None,
        }
    }

    fn pair(a: i64, b: i64) -> Value {
        Value::List(vec![Value::Int(a), Value::Int(b)])
    }

    fn poll_result(key: &str, entries: &[(i64, i64)]) -> Value {
        Value::List(vec![Value::List(vec![
            Value::Str(key.into()),
            Value::List(entries.iter().map(|(o, m)| pair(*o, *m)).collect()),
        ])])
    }

    fn history(final_entries: &[(i64, i64)]) -> History {
        let ops = vec![
            op(0, 1, 0, OpType::Invoke, "send", Some("k"), Value::Int(10)),
            op(1, 2, 0, OpType::Ok, "send", Some("k"), pair(0, 10)),
            op(2, 3, 0, OpType::Invoke, "send", Some("k"), Value::Int(11)),
            op(3, 4, 0, OpType::Ok, "send", Some("k"), pair(1, 11)),
            op(4, 5, 0, OpType::Invoke, "send", Some("k"), Value::Int(12)),
            op(5, 6, 0, OpType::Ok, "send", Some("k"), pair(2, 12)),
            op(6, 7, 1, OpType::Invoke, "poll", Some(FINAL), Value::Nil),
            op(
                7,
                8,
                1,
                OpType::Ok,
                "poll",
                Some(FINAL),
                poll_result("k", final_entries),
            ),
        ];
        History { header: None, ops }
    }

    #[test]
    fn finds_lost_skipped_and_reordered_messages() {
        assert_eq!(
            check(&history(&[(0, 10), (1, 11), (2, 12)])).validity,
            crate::check::Validity::Valid
        );
        let r = check(&history(&[(0, 10), (2, 12)]));
        let kinds: Vec<&str> = r.anomalies.iter().map(|a| a.kind.as_str()).collect();
        assert!(
            kinds.contains(&"skipped") && kinds.contains(&"lost"),
            "{kinds:?}"
        );
        let r = check(&history(&[(0, 10), (2, 12), (1, 11)]));
        assert!(
            r.anomalies.iter().any(|a| a.kind == "reordered"),
            "{:?}",
            r.anomalies
        );
        let r = check(&history(&[(0, 10), (1, 99), (2, 12)]));
        assert!(
            r.anomalies.iter().any(|a| a.kind == "inconsistent-offset"),
            "{:?}",
            r.anomalies
        );
    }
}
