//! The picture of one anomaly: the ops that prove it as bars on per-process lanes over the
//! stretch of time they span, the faults in force then (the ones the anomaly names shown whole),
//! and for two lock holders the intervals in which each believed it held the lock and where they
//! overlap.
//!
//! [`layout`] runs the steps in order: gather the involved calls and nemesis ops, work out the
//! lock intervals, the time span and the lanes, then place each layer. The result is geometry
//! and text ([`Picture`]); the page template draws it as SVG.

use super::anomaly::Lookup;
use super::human_ns;
use super::timeline::{CallBar, Status};
use crate::check::Anomaly;
use crate::history::Process;
use serde::Serialize;

/// How many of an anomaly's ops are drawn (the most important come first).
const MAX_DRAWN: usize = 40;
const WIDTH: f64 = 960.0;
const LEFT: f64 = 70.0;
const LANE: f64 = 44.0;
/// Where the drawing stops on the right.
const RIGHT: f64 = WIDTH - 10.0;

/// A fault window in the picture's span.
#[derive(Debug, Serialize)]
pub(crate) struct FaultBand {
    family: String,
    /// Whether the anomaly names one of the window's nemesis ops.
    cause: bool,
    x: f64,
    width: f64,
    height: f64,
    label_x: f64,
    label: String,
}

/// One process's lane: its name and guide line.
#[derive(Debug, Serialize)]
pub(crate) struct LaneRow {
    process: String,
    text_y: f64,
    guide_y: f64,
}

/// When one process believed it held the lock.
#[derive(Debug, Serialize)]
pub(crate) struct HeldBand {
    process: String,
    x: f64,
    y: f64,
    width: f64,
    lasted: String,
}

/// Where every lock holder believed it held the lock at once.
#[derive(Debug, Serialize)]
pub(crate) struct Overlap {
    x: f64,
    width: f64,
    height: f64,
    text_x: f64,
    text_y: f64,
    lasted: String,
}

/// One client call as a bar with its description.
#[derive(Debug, Serialize)]
pub(crate) struct CallMark {
    status: &'static str,
    op: u64,
    x: f64,
    y: f64,
    width: f64,
    text_x: f64,
    text_y: f64,
    anchor: &'static str,
    text: String,
    lasted: String,
}

/// One nemesis op the anomaly names, as a triangle with its label.
#[derive(Debug, Serialize)]
pub(crate) struct NemesisMark {
    op: u64,
    x: f64,
    y: f64,
    text_y: f64,
    anchor: &'static str,
    label: String,
}

/// The nemesis lane, when the anomaly names nemesis ops or faults.
#[derive(Debug, Serialize)]
pub(crate) struct NemesisRow {
    text_y: f64,
    marks: Vec<NemesisMark>,
}

/// The whole picture, for the page template.
#[derive(Debug, Serialize)]
pub(crate) struct Picture {
    width: f64,
    left: f64,
    right: f64,
    height: f64,
    faults: Vec<FaultBand>,
    lanes: Vec<LaneRow>,
    held: Vec<HeldBand>,
    overlap: Option<Overlap>,
    calls: Vec<CallMark>,
    nemesis: Option<NemesisRow>,
    /// The span's ends in seconds, and its length, as written under the picture.
    from: String,
    to: String,
    span: String,
}

/// Rounds a coordinate to a tenth of a pixel, as drawn.
fn r1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The ops an anomaly names that can be drawn: client calls and nemesis ops (positions).
struct Involved<'a> {
    calls: Vec<&'a CallBar>,
    nemesis_ops: Vec<usize>,
}

fn gather<'a>(look: &Lookup<'a>, anomaly: &Anomaly) -> Involved<'a> {
    let mut calls: Vec<&CallBar> = Vec::new();
    let mut nemesis_ops: Vec<usize> = Vec::new();
    for &index in anomaly.ops.iter().take(MAX_DRAWN) {
        if let Some(c) = look.call(index) {
            if !calls.iter().any(|x| x.invoke == c.invoke) {
                calls.push(c);
            }
        } else if let Some(pos) = look.position(index) {
            nemesis_ops.push(pos);
        }
    }
    Involved { calls, nemesis_ops }
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

/// For a mutex anomaly, when each involved acquirer believed it held the lock.
fn held_intervals(look: &Lookup, anomaly: &Anomaly, inv: &Involved) -> Vec<(Process, u64, u64)> {
    if !anomaly.kind.contains("mutex") {
        return Vec::new();
    }
    inv.calls
        .iter()
        .filter_map(|c| held_interval(look, c).map(|(a, b)| (c.process, a, b)))
        .collect()
}

/// The stretch of time drawn and the fault windows the anomaly names (its causes).
struct Span {
    t0: u64,
    t1: u64,
    lo: f64,
    hi: f64,
    cause: Vec<usize>,
}

impl Span {
    /// The span covering the involved ops, lock intervals and named faults, padded by 4%.
    fn covering(look: &Lookup, inv: &Involved, held: &[(Process, u64, u64)]) -> Span {
        let ops = &look.history.ops;
        let mut ends: Vec<(u64, u64)> = inv.calls.iter().map(|c| (c.start, c.end)).collect();
        ends.extend(inv.nemesis_ops.iter().map(|&p| (ops[p].time, ops[p].time)));
        ends.extend(held.iter().map(|&(_, a, b)| (a, b)));
        // The faults whose op the anomaly names are shown whole; others only where they overlap.
        let windows = &look.timeline.windows;
        let cause: Vec<usize> = (0..windows.len())
            .filter(|&i| windows[i].ops.iter().any(|p| inv.nemesis_ops.contains(p)))
            .collect();
        ends.extend(cause.iter().map(|&w| (windows[w].start, windows[w].end)));
        let t0 = ends.iter().map(|e| e.0).min().unwrap_or(u64::MAX);
        let t1 = ends.iter().map(|e| e.1).max().unwrap_or(0);
        let pad = (t1.saturating_sub(t0)).max(1) as f64 * 0.04;
        Span {
            t0,
            t1,
            lo: t0 as f64 - pad,
            hi: t1 as f64 + pad,
            cause,
        }
    }

    /// The x of time `t`.
    fn x(&self, t: u64) -> f64 {
        LEFT + (t as f64 - self.lo) / (self.hi - self.lo) * (RIGHT - LEFT)
    }
}

/// The processes with a lane, in order, and the y of each lane's top.
struct Lanes(Vec<Process>);

impl Lanes {
    fn of(inv: &Involved) -> Lanes {
        let mut lanes: Vec<Process> = inv.calls.iter().map(|c| c.process).collect();
        lanes.sort();
        lanes.dedup();
        Lanes(lanes)
    }

    fn y(&self, p: Process) -> f64 {
        let i = self.0.iter().position(|&q| q == p).unwrap_or(0);
        24.0 + i as f64 * LANE
    }

    /// The y of the first row below the process lanes (the nemesis lane).
    fn below(&self) -> f64 {
        24.0 + self.0.len() as f64 * LANE
    }
}

fn fault_bands(look: &Lookup, span: &Span, rows: usize) -> Vec<FaultBand> {
    let (t0, t1) = (span.t0, span.t1);
    let mut out = Vec::new();
    for (i, w) in look.timeline.windows.iter().enumerate() {
        if w.end < t0 && w.start < t0 || w.start > t1 {
            continue;
        }
        let a = span.x(w.start.max(span.lo.max(0.0) as u64)).max(LEFT);
        let b = span.x(w.end).min(RIGHT);
        out.push(FaultBand {
            family: w.family.clone(),
            cause: span.cause.contains(&i),
            x: r1(a),
            width: r1((b - a).max(2.0)),
            height: r1(rows as f64 * LANE + 8.0),
            label_x: r1(a + 2.0),
            label: w.label.clone(),
        });
    }
    out
}

fn lane_rows(lanes: &Lanes) -> Vec<LaneRow> {
    lanes
        .0
        .iter()
        .map(|p| {
            let y = lanes.y(*p);
            LaneRow {
                process: p.to_string(),
                text_y: r1(y + 24.0),
                guide_y: r1(y + LANE - 4.0),
            }
        })
        .collect()
}

fn held_bands(span: &Span, lanes: &Lanes, held: &[(Process, u64, u64)]) -> Vec<HeldBand> {
    held.iter()
        .map(|&(p, a, b)| HeldBand {
            process: p.to_string(),
            x: r1(span.x(a)),
            y: r1(lanes.y(p) + 32.0),
            width: r1((span.x(b) - span.x(a)).max(2.0)),
            lasted: human_ns(b - a),
        })
        .collect()
}

/// Where all lock intervals overlap, when there are two or more and they do.
fn overlap(span: &Span, lanes: &Lanes, held: &[(Process, u64, u64)]) -> Option<Overlap> {
    if held.len() < 2 {
        return None;
    }
    let a = held.iter().map(|h| h.1).max().unwrap_or(0);
    let b = held.iter().map(|h| h.2).min().unwrap_or(0);
    (b > a).then(|| Overlap {
        x: r1(span.x(a)),
        width: r1((span.x(b) - span.x(a)).max(2.0)),
        height: r1(lanes.0.len() as f64 * LANE),
        text_x: r1(span.x(a) + 3.0),
        text_y: r1(lanes.below() + 12.0),
        lasted: human_ns(b - a),
    })
}

fn call_marks(look: &Lookup, span: &Span, lanes: &Lanes, inv: &Involved) -> Vec<CallMark> {
    let ops = &look.history.ops;
    inv.calls
        .iter()
        .map(|c| {
            let y = lanes.y(c.process) + 6.0;
            let (a, b) = (span.x(c.start), span.x(c.end).max(span.x(c.start) + 3.0));
            let (text_x, anchor) = if a > WIDTH * 0.6 {
                (b, "end")
            } else {
                (a, "start")
            };
            CallMark {
                status: c.status.word(),
                op: ops[c.invoke].index,
                x: r1(a),
                y: r1(y),
                width: r1(b - a),
                text_x: r1(text_x),
                text_y: r1(y + 26.0),
                anchor,
                text: format!("#{} {}", ops[c.invoke].index, look.describe(c, false)),
                lasted: human_ns(c.end - c.start),
            }
        })
        .collect()
}

fn nemesis_row(look: &Lookup, span: &Span, lanes: &Lanes, inv: &Involved) -> Option<NemesisRow> {
    if inv.nemesis_ops.is_empty() && span.cause.is_empty() {
        return None;
    }
    let y = lanes.below();
    let marks = inv
        .nemesis_ops
        .iter()
        .map(|&p| {
            let op = &look.history.ops[p];
            let x = span.x(op.time);
            NemesisMark {
                op: op.index,
                x: r1(x),
                y: r1(y + 6.0),
                text_y: r1(y + 30.0),
                anchor: if x > WIDTH * 0.6 { "end" } else { "start" },
                label: format!("#{} {} {}", op.index, op.f, op.value),
            }
        })
        .collect();
    Some(NemesisRow {
        text_y: r1(y + 24.0),
        marks,
    })
}

/// Lays out the picture of an anomaly, or `None` when it names nothing that can be drawn.
pub(crate) fn layout(look: &Lookup, anomaly: &Anomaly) -> Option<Picture> {
    let inv = gather(look, anomaly);
    if inv.calls.is_empty() && inv.nemesis_ops.is_empty() {
        return None;
    }
    let held = held_intervals(look, anomaly, &inv);
    let span = Span::covering(look, &inv, &held);
    let lanes = Lanes::of(&inv);
    let nemesis = nemesis_row(look, &span, &lanes, &inv);
    let rows = lanes.0.len() + usize::from(nemesis.is_some());
    let height = 28.0 + rows as f64 * LANE + 22.0;
    Some(Picture {
        width: WIDTH,
        left: LEFT,
        right: RIGHT,
        height,
        faults: fault_bands(look, &span, rows),
        lanes: lane_rows(&lanes),
        held: held_bands(&span, &lanes, &held),
        overlap: overlap(&span, &lanes, &held),
        calls: call_marks(look, &span, &lanes, &inv),
        nemesis,
        from: format!("{:.6}", span.t0 as f64 / 1e9),
        to: format!("{:.6}", span.t1 as f64 / 1e9),
        span: human_ns(span.t1 - span.t0),
    })
}
