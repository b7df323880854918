//! The check shared by `broadcast` and `g-set`: every acknowledged addition must be in every
//! node's final read (made after the faults healed and the nodes had time to catch up), and
//! no read may hold an element nobody added. Also measures the *stable latency*: how long after
//! an addition was invoked the last read that still missed it completed.

use super::{final_marker, result, secs, Completion};
use crate::check::{Anomaly, CheckResult};
use crate::history::{History, Op, OpType, Value};
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The elements of a read's result (a list of values).
fn elements(v: &Value) -> BTreeSet<&Value> {
    v.as_list().map(|l| l.iter().collect()).unwrap_or_default()
}

/// A read reply's `messages`/`value` list as a sorted history list.
pub fn read_result(reply: Option<&Json>) -> Completion {
    match reply.map(super::to_value) {
        Some(Value::List(mut l)) => {
            l.sort();
            Completion::Ok(Value::List(l))
        }
        _ => Completion::Info("the read result is not a list".into()),
    }
}

/// The last ok final read of each node (`key` = node id).
pub fn final_reads<'a>(history: &'a History, read_f: &'a str) -> BTreeMap<String, &'a Op> {
    let mut out = BTreeMap::new();
    for (inv, done) in super::ok_calls(history, read_f) {
        if inv.value == final_marker() {
            if let Some(k) = &inv.key {
                out.insert(k.clone(), done);
            }
        }
    }
    out
}

/// True when every node's last final read holds every acknowledged addition.
pub fn settled(history: &History, add_f: &str, read_f: &str, nodes: usize) -> bool {
    let reads = final_reads(history, read_f);
    if reads.len() < nodes {
        return false;
    }
    let acked: Vec<&Value> = super::ok_calls(history, add_f)
        .map(|(i, _)| &i.value)
        .collect();
    reads.values().all(|r| {
        let have = elements(&r.value);
        acked.iter().all(|v| have.contains(v))
    })
}

/// Checks a set-like history: `add_f` adds its invoke value, `read_f` returns the list.
pub fn check(
    history: &History,
    name: &str,
    add_f: &str,
    read_f: &str,
    nodes: usize,
) -> CheckResult {
    let mut attempted: HashMap<&Value, &Op> = HashMap::new();
    let mut acked: Vec<(&Op, &Op)> = Vec::new();
    for (inv, done) in super::completed(history).filter(|(i, _)| i.f == add_f) {
        attempted.insert(&inv.value, inv);
        if done.kind == OpType::Ok {
            acked.push((inv, done));
        }
    }
    // Adds still open at the end may have happened too.
    for op in &history.ops {
        if op.is_client() && op.kind == OpType::Invoke && op.f == add_f {
            attempted.entry(&op.value).or_insert(op);
        }
    }
    let reads: Vec<(&Op, &Op)> = super::ok_calls(history, read_f).collect();
    let mut anomalies = Vec::new();
    let mut unexpected: BTreeMap<&Value, &Op> = BTreeMap::new();
    for (_, done) in &reads {
        for v in elements(&done.value) {
            if !attempted.contains_key(v) {
                unexpected.entry(v).or_insert(done);
            }
        }
    }
    for (v, read) in unexpected.iter().take(20) {
        anomalies.push(Anomaly {
            kind: "unexpected".into(),
            key: read.key.clone(),
            ops: vec![read.index],
            explanation: format!(
                "{}'s read at {} returned {v}, which no client ever added",
                read.key.as_deref().unwrap_or("a node"),
                secs(read)
            ),
            details: Json::Null,
        });
    }
    let finals = final_reads(history, read_f);
    let mut lost = 0;
    for (inv, done) in &acked {
        let missing: Vec<&str> = finals
            .iter()
            .filter(|(_, r)| !elements(&r.value).contains(&inv.value))
            .map(|(n, _)| n.as_str())
            .collect();
        if missing.is_empty() {
            continue;
        }
        lost += 1;
        if anomalies.len() < 50 {
            let first = finals[missing[0]];
            let mut ops = vec![inv.index, done.index];
            ops.extend(missing.iter().map(|n| finals[*n].index));
            anomalies.push(Anomaly {
                kind: "lost".into(),
                key: Some(missing[0].to_owned()),
                ops,
                explanation: format!(
                    "{add_f} {} was acknowledged to process {} at {} but is missing from the final read of {} (at {}){}",
                    inv.value,
                    inv.process,
                    secs(done),
                    missing.join(", "),
                    secs(first),
                    if missing.len() == finals.len() { ": no node has it" } else { "" }
                ),
                details: Json::Null,
            });
        }
    }
    let stable = stable_latencies(&acked, &reads);
    let q = |p: f64| super::super::stats::quantile_ms(&stable, p);
    let stats = serde_json::json!({
        "acknowledged": acked.len(),
        "lost": lost,
        "unexpected": unexpected.len(),
        "final_reads": finals.len(),
        "stable_latency_ms": {"p50": q(0.5), "p95": q(0.95), "p99": q(0.99), "max": q(1.0)},
    });
    if anomalies.is_empty() && finals.len() < nodes {
        let have: BTreeSet<&String> = finals.keys().collect();
        let without: Vec<String> = (0..nodes)
            .map(|i| format!("n{i}"))
            .filter(|n| !have.contains(n))
            .collect();
        let mut r = super::unknown(
            name,
            format!(
                "no final read came back from {}: cannot tell whether every acknowledged {add_f} reached them",
                without.join(", ")
            ),
        );
        r.stats = stats;
        return r;
    }
    if acked.is_empty() && anomalies.is_empty() {
        let mut r = super::unknown(name, format!("no {add_f} was acknowledged"));
        r.stats = stats;
        return r;
    }
    let mut r = result(
        name,
        anomalies,
        format!(
            "all {} acknowledged {add_f}s are in every node's final read",
            acked.len()
        ),
        stats,
    );
    if lost > 0 {
        let first = r
            .anomalies
            .iter()
            .find(|a| a.kind == "lost")
            .map(|a| a.explanation.clone())
            .unwrap_or_default();
        r.summary = format!(
            "{lost} of {} acknowledged {add_f}s are missing from a final read; first: {first}",
            acked.len()
        );
    }
    r
}

/// For each acknowledged addition: the time from its invoke to the completion of the last read
/// (invoked after it) that still missed it; 0 when no read missed it. Nanoseconds.
fn stable_latencies(acked: &[(&Op, &Op)], reads: &[(&Op, &Op)]) -> Vec<u64> {
    acked
        .iter()
        .map(|(inv, _)| {
            reads
                .iter()
                .filter(|(ri, rd)| ri.time > inv.time && !elements(&rd.value).contains(&inv.value))
                .map(|(_, rd)| rd.time.saturating_sub(inv.time))
                .max()
                .unwrap_or(0)
        })
        .collect()
}
