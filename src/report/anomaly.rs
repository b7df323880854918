//! One anomaly in words and pictures, as data for the page template: its kind and explanation,
//! the picture of its ops on their lanes ([`super::picture`]), its dependency graph
//! ([`super::graph`]) or its transactions' cycle ([`super::txn_cycle`]), the table of its ops, and
//! what the checker's details say that explains it, in words (for a non-linearizable history the
//! op that cannot take effect, the ops it contradicts and the end of the longest linearizable
//! prefix, only those on the anomaly's key; for lock holders when each believed it held the
//! lock). The details themselves stay behind a folded "data" toggle.

use super::graph::{self, Graph};
use super::human_ns;
use super::picture::{self, Picture};
use super::timeline::{CallBar, Timeline};
use super::txn_cycle::{self, TxnCycle};
use crate::check::Anomaly;
use crate::history::History;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write;

/// How many of an anomaly's ops are listed in its table.
const MAX_ROWS: usize = 200;
/// How many ops a detail that names ops lists in words.
const MAX_WORDS: usize = 40;

/// Lookups from op positions to the calls and windows that hold them.
pub(crate) struct Lookup<'a> {
    pub(super) history: &'a History,
    pub(super) timeline: &'a Timeline,
    /// `Op::index` → position in `History::ops`.
    position: HashMap<u64, usize>,
    /// Position of an invoke or completion → position in `timeline.calls`.
    call_of: HashMap<usize, usize>,
}

impl<'a> Lookup<'a> {
    /// Indexes a history and its timeline.
    pub(crate) fn new(history: &'a History, timeline: &'a Timeline) -> Lookup<'a> {
        let position = history
            .ops
            .iter()
            .enumerate()
            .map(|(i, op)| (op.index, i))
            .collect();
        let mut call_of = HashMap::new();
        for (c, call) in timeline.calls.iter().enumerate() {
            call_of.insert(call.invoke, c);
            if let Some(done) = call.complete {
                call_of.insert(done, c);
            }
        }
        Lookup {
            history,
            timeline,
            position,
            call_of,
        }
    }

    /// The position in `History::ops` of the op with index `index`.
    pub(super) fn position(&self, index: u64) -> Option<usize> {
        self.position.get(&index).copied()
    }

    /// The call (invoke to completion) an op index belongs to, if it is a client op.
    pub(super) fn call(&self, index: u64) -> Option<&'a CallBar> {
        let pos = self.position.get(&index)?;
        self.call_of.get(pos).map(|&c| &self.timeline.calls[c])
    }

    /// A short label for op `index`, for graph nodes: `p3 read x→1`.
    pub(crate) fn op_label(&self, index: u64) -> Option<String> {
        let op = &self.history.ops[*self.position.get(&index)?];
        let call = self.call(index);
        let result = call
            .and_then(|c| c.complete)
            .map(|done| &self.history.ops[done].value)
            .unwrap_or(&op.value);
        let key = op
            .key
            .as_deref()
            .map(|k| format!(" {k}"))
            .unwrap_or_default();
        Some(format!("p{} {}{key}→{result}", op.process, op.f))
    }

    /// A call in words: `p3 cas k2 [1 4] → ok [1 4]` (without `p3` when `process` is false).
    pub(super) fn describe(&self, call: &CallBar, process: bool) -> String {
        let ops = &self.history.ops;
        let inv = &ops[call.invoke];
        let mut s = if process {
            format!("p{} {}", inv.process, inv.f)
        } else {
            inv.f.clone()
        };
        if let Some(k) = &inv.key {
            let _ = write!(s, " {k}");
        }
        if !inv.value.is_nil() {
            let _ = write!(s, " {}", inv.value);
        }
        let _ = write!(s, " → {}", call.status.word());
        if let Some(done) = call.complete {
            let op = &ops[done];
            if !op.value.is_nil() && op.value != inv.value {
                let _ = write!(s, " {}", op.value);
            }
            if let Some(e) = &op.error {
                let _ = write!(s, " ({e})");
            }
        }
        s
    }
}

/// One row of an anomaly's op table: an op of the history, or an index it does not have.
#[derive(Debug, Serialize)]
pub(crate) struct OpRow {
    index: u64,
    /// False when the history has no op with this index (the other fields are then empty).
    found: bool,
    process: String,
    kind: String,
    f: String,
    key: String,
    value: String,
    time: String,
    /// The call the op belongs to in words with its latency, or `fault`.
    call: String,
}

/// An op named by a detail, in words (`index` is `None` for what is no op of the history).
#[derive(Debug, Serialize)]
pub(crate) struct OpWords {
    index: Option<u64>,
    words: String,
}

/// A list of ops in words, with how many more were left out and how many were on other keys.
#[derive(Debug, Serialize)]
pub(crate) struct OpList {
    items: Vec<OpWords>,
    more: usize,
    other_keys: usize,
}

/// One heading of an anomaly's details and what is under it, in words: ops, or a sentence.
#[derive(Debug, Serialize)]
pub(crate) struct DetailSection {
    title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ops: Option<OpList>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
}

/// One anomaly, for the page template. `number` makes its element ids unique.
#[derive(Debug, Serialize)]
pub(crate) struct AnomalyView {
    number: usize,
    kind: String,
    key: Option<String>,
    checker: String,
    explanation: String,
    picture: Option<Picture>,
    graph: Option<Graph>,
    /// A transactional cycle, drawn with its txns' micro-ops (instead of `graph`).
    txn_cycle: Option<TxnCycle>,
    rows: Vec<OpRow>,
    /// Ops left out of the table.
    more_rows: usize,
    /// What the checker's details say that explains the anomaly, in words.
    details: Vec<DetailSection>,
    /// The checker's details as they are (pretty JSON), for the folded "data" toggle.
    data: Option<String>,
}

/// Gathers everything the page shows of one anomaly.
pub(crate) fn view(look: &Lookup, checker: &str, anomaly: &Anomaly, number: usize) -> AnomalyView {
    AnomalyView {
        number,
        kind: anomaly.kind.clone(),
        key: anomaly.key.clone(),
        checker: checker.to_owned(),
        explanation: anomaly.explanation.clone(),
        picture: picture::layout(look, anomaly),
        graph: graph::layout(look, anomaly),
        txn_cycle: txn_cycle::layout(anomaly),
        rows: anomaly
            .ops
            .iter()
            .take(MAX_ROWS)
            .map(|&i| op_row(look, i))
            .collect(),
        more_rows: anomaly.ops.len().saturating_sub(MAX_ROWS),
        details: details(look, anomaly),
        data: (!anomaly.details.is_null())
            .then(|| serde_json::to_string_pretty(&anomaly.details).unwrap_or_default()),
    }
}

/// The table row of op `index`, a line of the history.
fn op_row(look: &Lookup, index: u64) -> OpRow {
    let Some(pos) = look.position(index) else {
        return OpRow {
            index,
            found: false,
            process: String::new(),
            kind: String::new(),
            f: String::new(),
            key: String::new(),
            value: String::new(),
            time: String::new(),
            call: String::new(),
        };
    };
    let op = &look.history.ops[pos];
    let call = look
        .call(index)
        .map(|c| format!("{} · {}", look.describe(c, true), human_ns(c.end - c.start)))
        .unwrap_or_else(|| "fault".into());
    let mut value = op.value.to_string();
    if let Some(e) = &op.error {
        let _ = write!(value, " ({e})");
    }
    OpRow {
        index,
        found: true,
        process: op.process.to_string(),
        kind: format!("{:?}", op.kind).to_lowercase(),
        f: op.f.clone(),
        key: op.key.clone().unwrap_or_default(),
        value,
        time: format!("{:.6}", op.time as f64 / 1e9),
        call,
    }
}

/// Headings for the details checkers record, in the order they are shown.
const HEADINGS: [(&str, &str); 8] = [
    ("op", "The op that cannot take effect"),
    ("core", "The ops it contradicts"),
    ("prefix_tail", "The end of the longest linearizable prefix"),
    ("prefix", "Longest linearizable prefix"),
    ("states", "What the model could hold just before it"),
    ("concurrent", "Ops concurrent with it"),
    ("holder", "The first holder"),
    ("overlapping", "Holders that took the lock from it"),
];

/// The checker's details that explain the anomaly, in words: ops (only those on the
/// anomaly's key), lock holds, model states. Everything else stays in the "data" toggle.
fn details(look: &Lookup, anomaly: &Anomaly) -> Vec<DetailSection> {
    let Some(map) = anomaly.details.as_object() else {
        return Vec::new();
    };
    let key = anomaly.key.as_deref();
    let mut out = Vec::new();
    let mut keys: Vec<&String> = map.keys().collect();
    let rank = |k: &str| {
        HEADINGS
            .iter()
            .position(|h| h.0 == k)
            .unwrap_or(HEADINGS.len())
    };
    keys.sort_by_key(|k| rank(k));
    for k in keys {
        let v = &map[k];
        let title = HEADINGS
            .iter()
            .find(|h| h.0 == k)
            .map(|h| h.1.to_owned())
            .or_else(|| {
                k.contains("prefix")
                    .then(|| "Longest linearizable prefix".into())
            })
            .or_else(|| {
                k.contains("state")
                    .then(|| "Model states before the stuck op".into())
            })
            .unwrap_or_else(|| k.replace('_', " "));
        if k.contains("state") {
            if let Some(states) = v.as_array().filter(|a| !a.is_empty()) {
                let words: Vec<String> = states.iter().map(plain).collect();
                out.push(DetailSection {
                    title,
                    ops: None,
                    text: Some(words.join(" or ")),
                });
            }
            continue;
        }
        let named = k.contains("op") || k.contains("prefix") || HEADINGS.iter().any(|h| h.0 == k);
        // A bare number is an op only under a name like `stuck_op` (not `key_ops`, a count).
        if !named || v.is_number() && !k.ends_with("op") {
            continue;
        }
        if let Some(ops) =
            ops_in_words(look, v, key).filter(|l| !l.items.is_empty() || l.other_keys > 0)
        {
            out.push(DetailSection {
                title,
                ops: Some(ops),
                text: None,
            });
        }
    }
    out
}

/// A JSON value as plain text: strings without quotes.
fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One item of a detail in words: an op index, an op described by the checker (an object with
/// `description`), or a lock hold (`process`, `start`, `end`).
fn item_words(look: &Lookup, v: &serde_json::Value) -> Option<(Option<u64>, String)> {
    if let Some(index) = v.as_u64() {
        let op = &look.history.ops[look.position(index)?];
        let words = match look.call(index) {
            Some(c) => look.describe(c, true),
            None => format!("{} {} {}", op.process, op.f, op.value),
        };
        return Some((Some(index), words));
    }
    let o = v.as_object()?;
    let index = o.get("index").and_then(|i| i.as_u64());
    if let Some(d) = o.get("description").and_then(|d| d.as_str()) {
        return Some((index, d.to_owned()));
    }
    let (p, a, b) = (
        o.get("process")?,
        o.get("start")?.as_u64()?,
        o.get("end")?.as_u64()?,
    );
    Some((
        None,
        format!(
            "client {} believed it held the lock from {:.3} s to {:.3} s ({})",
            plain(p),
            a as f64 / 1e9,
            b as f64 / 1e9,
            human_ns(b.saturating_sub(a))
        ),
    ))
}

/// A detail that names ops (one or a list) as those ops in words, keeping only ops on `key`
/// when the anomaly has one; `None` when the value is anything else.
fn ops_in_words(look: &Lookup, v: &serde_json::Value, key: Option<&str>) -> Option<OpList> {
    let all: Vec<&serde_json::Value> = match v {
        serde_json::Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    let mut items = Vec::new();
    let mut other_keys = 0;
    for x in &all {
        let (index, words) = item_words(look, x)?;
        let op_key = index
            .and_then(|i| look.position(i))
            .and_then(|p| look.history.ops[p].key.as_deref());
        if key.is_some() && op_key.is_some() && op_key != key {
            other_keys += 1;
            continue;
        }
        items.push(OpWords { index, words });
    }
    let more = items.len().saturating_sub(MAX_WORDS);
    items.truncate(MAX_WORDS);
    Some(OpList {
        items,
        more,
        other_keys,
    })
}
