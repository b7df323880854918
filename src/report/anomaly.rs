//! One anomaly in words and a picture: the ops that prove it as bars on per-process lanes over
//! the stretch of time they span, the faults in force then, and whatever details the checker
//! recorded (for a non-linearizable history the longest linearizable prefix and the model's
//! states before the op that could not be placed; for two lock holders the two intervals in
//! which both believed they held the lock and the nemesis op that caused it).

use super::timeline::{CallBar, Status, Timeline};
use super::{escape, human_ns, jsonview};
use crate::check::Anomaly;
use crate::history::{History, Process};
use std::collections::HashMap;
use std::fmt::Write;

/// How many of an anomaly's ops are listed in its table.
const MAX_ROWS: usize = 200;
/// How many of an anomaly's ops are drawn in its picture (the most important come first).
const MAX_DRAWN: usize = 40;

/// Lookups from op positions to the calls and windows that hold them.
pub(crate) struct Lookup<'a> {
    history: &'a History,
    timeline: &'a Timeline,
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

    /// The call (invoke to completion) an op index belongs to, if it is a client op.
    fn call(&self, index: u64) -> Option<&'a CallBar> {
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
    fn describe(&self, call: &CallBar, process: bool) -> String {
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

/// Renders one anomaly as an HTML section. `number` makes its element ids unique.
pub(crate) fn render(look: &Lookup, checker: &str, anomaly: &Anomaly, number: usize) -> String {
    let mut out = String::new();
    let key = anomaly
        .key
        .as_ref()
        .map(|k| format!(" on key <code>{}</code>", escape(k)))
        .unwrap_or_default();
    let _ = write!(
        out,
        "<section class=\"anomaly\" id=\"anomaly-{number}\"><h3><span class=\"kind\">{}</span>{key} <small>found by {}</small></h3><p class=\"explanation\">{}</p>",
        escape(&anomaly.kind),
        escape(checker),
        escape(&anomaly.explanation)
    );
    out.push_str(&picture(look, anomaly));
    out.push_str(&super::graph::render(look, anomaly));
    out.push_str(&op_table(look, anomaly));
    out.push_str(&details(look, anomaly));
    out.push_str("</section>");
    out
}

/// The table of the anomaly's ops, each a line of the history.
fn op_table(look: &Lookup, anomaly: &Anomaly) -> String {
    let mut out = String::from(
        "<table class=\"ops\"><thead><tr><th>op</th><th>process</th><th>type</th><th>f</th><th>key</th><th>value</th><th>time</th><th>call</th></tr></thead><tbody>",
    );
    for &index in anomaly.ops.iter().take(MAX_ROWS) {
        let Some(&pos) = look.position.get(&index) else {
            let _ = write!(
                out,
                "<tr class=\"missing\"><td>#{index}</td><td colspan=\"7\">not in this history</td></tr>"
            );
            continue;
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
        let _ = write!(
            out,
            "<tr class=\"op-row\" data-op=\"{index}\"><td class=\"opi\">#{index}</td><td>{}</td><td class=\"t-{kind}\">{kind}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{:.6} s</td><td>{}</td></tr>",
            escape(&op.process.to_string()),
            escape(&op.f),
            escape(op.key.as_deref().unwrap_or("")),
            escape(&value),
            op.time as f64 / 1e9,
            escape(&call),
            kind = format!("{:?}", op.kind).to_lowercase(),
        );
    }
    out.push_str("</tbody></table>");
    if anomaly.ops.len() > MAX_ROWS {
        let _ = write!(
            out,
            "<p class=\"more\">… and {} more ops, listed in results.json.</p>",
            anomaly.ops.len() - MAX_ROWS
        );
    }
    out
}

/// The checker's details: known fields first, under headings, then everything as JSON.
fn details(look: &Lookup, anomaly: &Anomaly) -> String {
    let d = &anomaly.details;
    let Some(map) = d.as_object() else {
        if d.is_null() {
            return String::new();
        }
        return format!(
            "<div class=\"details\"><h4>Details</h4>{}</div>",
            jsonview::render(d)
        );
    };
    let mut out = String::from("<div class=\"details\">");
    let headed = [
        ("prefix", "Longest linearizable prefix"),
        ("state", "Model states before the stuck op"),
        ("interval", "Overlapping intervals"),
    ];
    let mut shown = Vec::new();
    for (needle, title) in headed {
        for (k, v) in map {
            if k.to_lowercase().contains(needle) && !shown.contains(k) {
                let _ = write!(
                    out,
                    "<h4>{title} <small>({})</small></h4>{}",
                    escape(k),
                    ops_in_words(look, v).unwrap_or_else(|| jsonview::render(v))
                );
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
            let _ = write!(out, "<h4>{}</h4>{words}", escape(&k.replace('_', " ")));
            shown.push(k.clone());
        }
    }
    let rest: serde_json::Map<String, serde_json::Value> = map
        .iter()
        .filter(|(k, _)| !shown.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !rest.is_empty() {
        let _ = write!(
            out,
            "<h4>{}</h4>{}",
            if shown.is_empty() {
                "Details"
            } else {
                "Other details"
            },
            jsonview::render(&serde_json::Value::Object(rest))
        );
    }
    out.push_str("</div>");
    out
}

/// A detail that is an op index or a list of them, as a list of those ops in words; `None`
/// when the value is anything else or names an op the history does not have.
fn ops_in_words(look: &Lookup, v: &serde_json::Value) -> Option<String> {
    const SHOWN: usize = 40;
    let indices: Vec<u64> = match v {
        serde_json::Value::Number(n) => vec![n.as_u64()?],
        serde_json::Value::Array(a) if !a.is_empty() => {
            a.iter().map(|x| x.as_u64()).collect::<Option<_>>()?
        }
        _ => return None,
    };
    let mut out = String::from("<ul class=\"oplist\">");
    for &index in indices.iter().take(SHOWN) {
        let pos = *look.position.get(&index)?;
        let op = &look.history.ops[pos];
        let words = match look.call(index) {
            Some(c) => look.describe(c, true),
            None => format!("{} {} {}", op.process, op.f, op.value),
        };
        let _ = write!(
            out,
            "<li data-op=\"{index}\"><span class=\"opi\">#{index}</span> {}</li>",
            escape(&words)
        );
    }
    out.push_str("</ul>");
    if indices.len() > SHOWN {
        let _ = write!(
            out,
            "<p class=\"more\">… and {} more ops</p>",
            indices.len() - SHOWN
        );
    }
    Some(out)
}

/// The interval in which a lock holder believed it held the lock: from its `acquire`'s ok to
/// the invoke of its next call, normally its `release` (or the history's end).
fn held_interval(look: &Lookup, acquire: &CallBar) -> Option<(u64, u64)> {
    let f = &look.history.ops[acquire.invoke].f;
    if acquire.status != Status::Ok || !f.contains("acquire") && f != "lock" {
        return None;
    }
    let next = look
        .timeline
        .calls
        .iter()
        .filter(|c| c.process == acquire.process && c.start >= acquire.end)
        .find(|c| c.invoke > acquire.invoke);
    let until = next.map(|c| c.start).unwrap_or(look.timeline.end);
    Some((acquire.end, until.max(acquire.end)))
}

const WIDTH: f64 = 960.0;
const LEFT: f64 = 70.0;
const LANE: f64 = 44.0;

/// The SVG picture: involved calls on their lanes, faults shaded, lock intervals banded.
fn picture(look: &Lookup, anomaly: &Anomaly) -> String {
    let mut calls: Vec<&CallBar> = Vec::new();
    let mut nemesis_ops: Vec<usize> = Vec::new();
    for &index in anomaly.ops.iter().take(MAX_DRAWN) {
        if let Some(c) = look.call(index) {
            if !calls.iter().any(|x| x.invoke == c.invoke) {
                calls.push(c);
            }
        } else if let Some(&pos) = look.position.get(&index) {
            nemesis_ops.push(pos);
        }
    }
    if calls.is_empty() && nemesis_ops.is_empty() {
        return String::new();
    }
    let ops = &look.history.ops;
    let held: Vec<(Process, u64, u64)> = if anomaly.kind.contains("mutex") {
        calls
            .iter()
            .filter_map(|c| held_interval(look, c).map(|(a, b)| (c.process, a, b)))
            .collect()
    } else {
        Vec::new()
    };
    let mut t0 = u64::MAX;
    let mut t1 = 0u64;
    for c in &calls {
        t0 = t0.min(c.start);
        t1 = t1.max(c.end);
    }
    for &p in &nemesis_ops {
        t0 = t0.min(ops[p].time);
        t1 = t1.max(ops[p].time);
    }
    for &(_, a, b) in &held {
        t0 = t0.min(a);
        t1 = t1.max(b);
    }
    // The faults whose op the anomaly names are shown whole; others only where they overlap.
    let cause: Vec<usize> = look
        .timeline
        .windows
        .iter()
        .enumerate()
        .filter(|(_, w)| w.ops.iter().any(|p| nemesis_ops.contains(p)))
        .map(|(i, _)| i)
        .collect();
    for &w in &cause {
        t0 = t0.min(look.timeline.windows[w].start);
        t1 = t1.max(look.timeline.windows[w].end);
    }
    let span = (t1.saturating_sub(t0)).max(1) as f64;
    let pad = span * 0.04;
    let (lo, hi) = (t0 as f64 - pad, t1 as f64 + pad);
    let x = |t: u64| LEFT + (t as f64 - lo) / (hi - lo) * (WIDTH - LEFT - 10.0);

    let mut lanes: Vec<Process> = calls.iter().map(|c| c.process).collect();
    lanes.sort();
    lanes.dedup();
    let has_nemesis = !nemesis_ops.is_empty() || !cause.is_empty();
    let rows = lanes.len() + usize::from(has_nemesis);
    let height = 28.0 + rows as f64 * LANE + 22.0;
    let lane_y = |p: Process| {
        let i = lanes.iter().position(|&q| q == p).unwrap_or(0);
        24.0 + i as f64 * LANE
    };
    let mut s = String::new();
    let _ = write!(
        s,
        "<figure class=\"anomaly-picture\"><svg viewBox=\"0 0 {WIDTH} {height}\" width=\"100%\" role=\"img\" aria-label=\"the ops of the anomaly on their process lanes\">"
    );
    // Fault windows in the span.
    for (i, w) in look.timeline.windows.iter().enumerate() {
        if w.end < t0 && w.start < t0 || w.start > t1 {
            continue;
        }
        let a = x(w.start.max(lo.max(0.0) as u64)).max(LEFT);
        let b = x(w.end).min(WIDTH - 10.0);
        let class = if cause.contains(&i) { "cause" } else { "" };
        let _ = write!(
            s,
            "<g class=\"fault {class} fam-{fam}\"><rect x=\"{a:.1}\" y=\"18\" width=\"{:.1}\" height=\"{:.1}\"/><text x=\"{:.1}\" y=\"14\">{}{}</text><title>{}</title></g>",
            (b - a).max(2.0),
            rows as f64 * LANE + 8.0,
            a + 2.0,
            escape(&w.label),
            if class.is_empty() { "" } else { " (named by the anomaly)" },
            escape(&w.label),
            fam = escape(&w.family),
        );
    }
    // Lane labels and guides.
    for (i, p) in lanes.iter().enumerate() {
        let y = 24.0 + i as f64 * LANE;
        let _ = write!(
            s,
            "<text class=\"lane\" x=\"4\" y=\"{:.1}\">process {p}</text><line class=\"guide\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>",
            y + 24.0,
            WIDTH - 10.0,
            y + LANE - 4.0,
            y + LANE - 4.0
        );
    }
    // Lock intervals and their overlap.
    for &(p, a, b) in &held {
        let y = lane_y(p);
        let _ = write!(
            s,
            "<rect class=\"held\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"6\"><title>p{p} believes it holds the lock for {}</title></rect>",
            x(a),
            y + 32.0,
            (x(b) - x(a)).max(2.0),
            human_ns(b - a)
        );
    }
    if held.len() >= 2 {
        let a = held.iter().map(|h| h.1).max().unwrap_or(0);
        let b = held.iter().map(|h| h.2).min().unwrap_or(0);
        if b > a {
            let _ = write!(
                s,
                "<g class=\"overlap\"><rect x=\"{:.1}\" y=\"20\" width=\"{:.1}\" height=\"{:.1}\"/><text x=\"{:.1}\" y=\"{:.1}\">both hold the lock: {}</text></g>",
                x(a),
                (x(b) - x(a)).max(2.0),
                lanes.len() as f64 * LANE,
                x(a) + 3.0,
                24.0 + lanes.len() as f64 * LANE + 12.0,
                human_ns(b - a)
            );
        }
    }
    // The calls.
    for c in &calls {
        let y = lane_y(c.process) + 6.0;
        let (a, b) = (x(c.start), x(c.end).max(x(c.start) + 3.0));
        let text = format!("#{} {}", ops[c.invoke].index, look.describe(c, false));
        let (tx, anchor) = if a > WIDTH * 0.6 {
            (b, "end")
        } else {
            (a, "start")
        };
        let _ = write!(
            s,
            "<g class=\"call s-{st}\" data-op=\"{idx}\"><rect x=\"{a:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"14\" rx=\"2\"/><text x=\"{tx:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text><title>{} ({})</title></g>",
            b - a,
            y + 26.0,
            escape(&text),
            escape(&text),
            human_ns(c.end - c.start),
            st = c.status.word(),
            idx = ops[c.invoke].index,
        );
    }
    // Nemesis ops named by the anomaly.
    if has_nemesis {
        let y = 24.0 + lanes.len() as f64 * LANE;
        let _ = write!(
            s,
            "<text class=\"lane\" x=\"4\" y=\"{:.1}\">nemesis</text>",
            y + 24.0
        );
        for &p in &nemesis_ops {
            let op = &ops[p];
            let px = x(op.time);
            let label = format!("#{} {} {}", op.index, op.f, op.value);
            let anchor = if px > WIDTH * 0.6 { "end" } else { "start" };
            let _ = write!(
                s,
                "<g class=\"nemesis-op\" data-op=\"{}\"><path d=\"M{px:.1} {:.1} l-6 10 h12 z\"/><text x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text></g>",
                op.index,
                y + 6.0,
                y + 30.0,
                escape(&label)
            );
        }
    }
    let _ = write!(
        s,
        "<text class=\"axis\" x=\"{LEFT}\" y=\"{:.1}\">{:.6} s</text><text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{:.6} s (span {})</text>",
        height - 4.0,
        t0 as f64 / 1e9,
        WIDTH - 10.0,
        height - 4.0,
        t1 as f64 / 1e9,
        human_ns(t1 - t0)
    );
    s.push_str("</svg><figcaption>Bars run from invoke to completion (green ok, red fail, amber info, grey never completed); shaded bands are faults in force");
    if !held.is_empty() {
        s.push_str(
            "; blue bands are when each process believed it held the lock, red where they overlap",
        );
    }
    s.push_str(".</figcaption></figure>");
    s
}
