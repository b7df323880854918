//! One anomaly in words and pictures, as data for the page template: its kind and explanation,
//! the picture of its ops on their lanes ([`super::picture`]), its dependency graph
//! ([`super::graph`]) or its transactions' cycle ([`super::txn_cycle`]), the table of its ops, and whatever details the checker recorded (for a
//! non-linearizable history the longest linearizable prefix and the model's states before the
//! op that could not be placed; for two lock holders the two intervals in which both believed
//! they held the lock and the nemesis op that caused it).

use super::graph::{self, Graph};
use super::human_ns;
use super::jsonview::{self, JsonNode};
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

/// An op named by a detail, in words.
#[derive(Debug, Serialize)]
pub(crate) struct OpWords {
    index: u64,
    words: String,
}

/// A list of ops in words, with how many more were left out.
#[derive(Debug, Serialize)]
pub(crate) struct OpList {
    items: Vec<OpWords>,
    more: usize,
}

/// One heading of an anomaly's details and what is under it: ops in words, or any JSON.
#[derive(Debug, Serialize)]
pub(crate) struct DetailSection {
    title: String,
    /// The detail's own key, shown beside a known field's title.
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ops: Option<OpList>,
    #[serde(skip_serializing_if = "Option::is_none")]
    json: Option<JsonNode>,
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
    /// `None` when the checker recorded no details.
    details: Option<Vec<DetailSection>>,
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

/// The checker's details: known fields first, under headings, then everything as JSON.
fn details(look: &Lookup, anomaly: &Anomaly) -> Option<Vec<DetailSection>> {
    let d = &anomaly.details;
    let section =
        |title: &str, key: Option<String>, ops: Option<OpList>, json: Option<JsonNode>| {
            DetailSection {
                title: title.to_owned(),
                key,
                ops,
                json,
            }
        };
    let Some(map) = d.as_object() else {
        if d.is_null() {
            return None;
        }
        return Some(vec![section(
            "Details",
            None,
            None,
            Some(jsonview::tree(d)),
        )]);
    };
    let mut out = Vec::new();
    let headed = [
        ("prefix", "Longest linearizable prefix"),
        ("state", "Model states before the stuck op"),
        ("interval", "Overlapping intervals"),
    ];
    let mut shown = Vec::new();
    for (needle, title) in headed {
        for (k, v) in map {
            if k.to_lowercase().contains(needle) && !shown.contains(k) {
                let ops = ops_in_words(look, v);
                let json = ops.is_none().then(|| jsonview::tree(v));
                out.push(section(title, Some(k.clone()), ops, json));
                shown.push(k.clone());
            }
        }
    }
    // Fields that name ops (`stuck_op`, `ops`, ...) are shown as those ops, in words.
    for (k, v) in map {
        if shown.contains(k) || !k.to_lowercase().contains("op") {
            continue;
        }
        if let Some(words) = ops_in_words(look, v) {
            out.push(section(&k.replace('_', " "), None, Some(words), None));
            shown.push(k.clone());
        }
    }
    let rest: serde_json::Map<String, serde_json::Value> = map
        .iter()
        .filter(|(k, _)| !shown.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !rest.is_empty() {
        let title = if shown.is_empty() {
            "Details"
        } else {
            "Other details"
        };
        let json = jsonview::tree(&serde_json::Value::Object(rest));
        out.push(section(title, None, None, Some(json)));
    }
    Some(out)
}

/// A detail that is an op index or a list of them, as a list of those ops in words; `None`
/// when the value is anything else or names an op the history does not have.
fn ops_in_words(look: &Lookup, v: &serde_json::Value) -> Option<OpList> {
    let indices: Vec<u64> = match v {
        serde_json::Value::Number(n) => vec![n.as_u64()?],
        serde_json::Value::Array(a) if !a.is_empty() => {
            a.iter().map(|x| x.as_u64()).collect::<Option<_>>()?
        }
        _ => return None,
    };
    let mut items = Vec::new();
    for &index in indices.iter().take(MAX_WORDS) {
        let op = &look.history.ops[look.position(index)?];
        let words = match look.call(index) {
            Some(c) => look.describe(c, true),
            None => format!("{} {} {}", op.process, op.f, op.value),
        };
        items.push(OpWords { index, words });
    }
    Some(OpList {
        items,
        more: indices.len().saturating_sub(MAX_WORDS),
    })
}
