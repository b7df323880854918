//! The picture of one anomaly: the ops that prove it as bars on per-process lanes over the
//! stretch of time they span, the faults in force then (the ones the anomaly names shown whole),
//! and for lock holders the intervals in which each believed it held the lock and where the
//! first two overlap.
//!
//! [`layout`] runs the steps in order: gather the involved calls and nemesis ops, work out the
//! lock intervals and the time span, then place each layer from the top down. No two labels
//! overlap: every label is set in a monospace font, so its width is known here, and labels that
//! would collide go to the next row of their own band (fault labels above the lanes, each lane's
//! call labels under its bars, nemesis labels under their marks). The result is geometry and
//! text ([`Picture`]); the page template draws it as SVG.

use super::anomaly::Lookup;
use super::human_ns;
use super::timeline::{CallBar, Status};
use crate::check::Anomaly;
use crate::history::Process;
use serde::Serialize;

/// How many of an anomaly's ops are drawn (the most important come first).
const MAX_DRAWN: usize = 40;
const WIDTH: f64 = 960.0;
/// Where the lanes begin: the lane names are left of it.
const LEFT: f64 = 100.0;
/// Where the drawing stops on the right.
const RIGHT: f64 = WIDTH - 10.0;
/// The labels' font size (px) and the width of one character in it (a monospace font's
/// advance is 0.6 em; a little more is kept so that a fallback font fits too).
pub(crate) const FONT: f64 = 11.0;
const CHAR: f64 = FONT * 0.62;
/// The height of one row of labels.
const ROW: f64 = 15.0;
/// The least gap between two labels on one row.
const GAP: f64 = 10.0;
/// Above a lane's label rows: its bars and its held band.
const BARS: f64 = 30.0;

/// A label: where its text starts, its baseline, the text drawn and the whole text (for the
/// tooltip, when the drawn one had to be cut).
#[derive(Debug, Serialize)]
pub(crate) struct Label {
    x: f64,
    y: f64,
    text: String,
    full: String,
}

/// A fault window in the picture's span.
#[derive(Debug, Serialize)]
pub(crate) struct FaultBand {
    family: String,
    /// Whether the anomaly names one of the window's nemesis ops.
    cause: bool,
    x: f64,
    y: f64,
    width: f64,
    height: f64,
    label: Label,
}

/// One process's lane: its name and guide line.
#[derive(Debug, Serialize)]
pub(crate) struct LaneRow {
    name: String,
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

/// Where the first two lock holders both believed they held the lock.
#[derive(Debug, Serialize)]
pub(crate) struct Overlap {
    x: f64,
    y: f64,
    width: f64,
    height: f64,
    label: Label,
}

/// One client call as a bar with its description.
#[derive(Debug, Serialize)]
pub(crate) struct CallMark {
    status: &'static str,
    op: u64,
    x: f64,
    y: f64,
    width: f64,
    label: Label,
    lasted: String,
}

/// One nemesis op the anomaly names, as a triangle with its label.
#[derive(Debug, Serialize)]
pub(crate) struct NemesisMark {
    op: u64,
    x: f64,
    y: f64,
    label: Label,
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
    axis_y: f64,
}

/// Rounds a coordinate to a tenth of a pixel, as drawn.
fn r1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The width of `text` in the labels' font.
fn text_width(text: &str) -> f64 {
    text.chars().count() as f64 * CHAR
}

/// `text` cut to at most `max` wide, with `…` where it was cut.
fn fit(text: &str, max: f64) -> String {
    let n = (max / CHAR).floor().max(2.0) as usize;
    if text.chars().count() <= n {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(n - 1).collect();
    s.push('…');
    s
}

/// Rows of labels: each label goes to the first row where it overlaps no other.
#[derive(Default)]
struct Rows(Vec<Vec<(f64, f64)>>);

impl Rows {
    /// Places a label that starts at `x` and is `w` wide; returns its row.
    fn place(&mut self, x: f64, w: f64) -> usize {
        let (a, b) = (x - GAP, x + w + GAP);
        let free = self
            .0
            .iter()
            .position(|row| row.iter().all(|&(c, d)| b <= c || d <= a));
        let row = free.unwrap_or_else(|| {
            self.0.push(Vec::new());
            self.0.len() - 1
        });
        self.0[row].push((x, x + w));
        row
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

/// A label for something drawn at `at`: cut to the picture's width, starting at `at` but
/// moved left when it would run past the right edge; its row in `rows`.
fn label(rows: &mut Rows, at: f64, text: &str) -> (usize, f64, String) {
    let text = fit(text, RIGHT - LEFT);
    let w = text_width(&text);
    let x = at.min(RIGHT - w).max(LEFT);
    (rows.place(x, w), x, text)
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

/// The process's name on its lane: `process 3`, or what the final phase's reads were for.
pub(crate) fn lane_name(p: Process) -> String {
    match p {
        Process::Nemesis => "nemesis".into(),
        Process::Client(_) => match super::process_role(p) {
            Some(role) => role,
            None => format!("process {p}"),
        },
    }
}

fn fault_bands(look: &Lookup, span: &Span, top: f64, rows: &mut Rows) -> Vec<(FaultBand, usize)> {
    let (t0, t1) = (span.t0, span.t1);
    let mut out = Vec::new();
    for (i, w) in look.timeline.windows.iter().enumerate() {
        if w.end < t0 && w.start < t0 || w.start > t1 {
            continue;
        }
        let a = span.x(w.start.max(span.lo.max(0.0) as u64)).max(LEFT);
        let b = span.x(w.end).min(RIGHT);
        let cause = span.cause.contains(&i);
        let full = format!(
            "{}{}",
            w.label,
            if cause { " (named by the anomaly)" } else { "" }
        );
        let (row, x, text) = label(rows, a + 2.0, &full);
        out.push((
            FaultBand {
                family: w.family.clone(),
                cause,
                x: r1(a),
                y: r1(top),
                width: r1((b - a).max(2.0)),
                height: 0.0,
                label: Label {
                    x: r1(x),
                    y: 0.0,
                    text,
                    full,
                },
            },
            row,
        ));
    }
    out
}

fn held_band(span: &Span, y: f64, &(p, a, b): &(Process, u64, u64)) -> HeldBand {
    HeldBand {
        process: p.to_string(),
        x: r1(span.x(a)),
        y: r1(y),
        width: r1((span.x(b) - span.x(a)).max(2.0)),
        lasted: human_ns(b - a),
    }
}

/// Where the first two lock intervals (the holder and the first one to take the lock from
/// it) overlap: from, to, and the words for it.
fn first_overlap(held: &[(Process, u64, u64)]) -> Option<(u64, u64, String)> {
    let [(p, a0, a1), (q, b0, b1), ..] = held else {
        return None;
    };
    let (a, b) = ((*a0).max(*b0), (*a1).min(*b1));
    (b > a).then(|| {
        (
            a,
            b,
            format!(
                "{} and {} both held the lock: {}",
                lane_name(*p),
                lane_name(*q),
                human_ns(b - a)
            ),
        )
    })
}

/// One lane: its calls' bars, its held bands and its call labels, packed into rows.
fn lane(
    look: &Lookup,
    span: &Span,
    inv: &Involved,
    held: &[(Process, u64, u64)],
    p: Process,
    top: f64,
    out: &mut Picture,
) -> f64 {
    let ops = &look.history.ops;
    let mut rows = Rows::default();
    let mut marks = Vec::new();
    for c in inv.calls.iter().filter(|c| c.process == p) {
        let (a, b) = (span.x(c.start), span.x(c.end).max(span.x(c.start) + 3.0));
        let full = format!("#{} {}", ops[c.invoke].index, look.describe(c, false));
        let (row, x, text) = label(&mut rows, a, &full);
        marks.push((
            CallMark {
                status: c.status.word(),
                op: ops[c.invoke].index,
                x: r1(a),
                y: r1(top + 6.0),
                width: r1(b - a),
                label: Label {
                    x: r1(x),
                    y: 0.0,
                    text,
                    full,
                },
                lasted: human_ns(c.end - c.start),
            },
            row,
        ));
    }
    for (mut m, row) in marks {
        m.label.y = r1(top + BARS + (row + 1) as f64 * ROW - 4.0);
        out.calls.push(m);
    }
    out.held.extend(
        held.iter()
            .filter(|h| h.0 == p)
            .map(|h| held_band(span, top + 22.0, h)),
    );
    let height = BARS + rows.len() as f64 * ROW + 6.0;
    out.lanes.push(LaneRow {
        name: lane_name(p),
        text_y: r1(top + 18.0),
        guide_y: r1(top + height - 2.0),
    });
    height
}

/// The nemesis lane: a triangle per nemesis op the anomaly names, labels packed under them.
fn nemesis_lane(look: &Lookup, span: &Span, inv: &Involved, top: f64) -> (NemesisRow, f64) {
    let mut rows = Rows::default();
    let mut marks = Vec::new();
    for &p in &inv.nemesis_ops {
        let op = &look.history.ops[p];
        let x = span.x(op.time);
        let full = format!("#{} {} {}", op.index, op.f, op.value);
        let (row, lx, text) = label(&mut rows, x - 6.0, &full);
        marks.push((
            NemesisMark {
                op: op.index,
                x: r1(x),
                y: r1(top + 6.0),
                label: Label {
                    x: r1(lx),
                    y: 0.0,
                    text,
                    full,
                },
            },
            row,
        ));
    }
    let marks = marks
        .into_iter()
        .map(|(mut m, row)| {
            m.label.y = r1(top + 18.0 + (row + 1) as f64 * ROW - 4.0);
            m
        })
        .collect();
    let height = 18.0 + rows.len() as f64 * ROW + 6.0;
    (
        NemesisRow {
            text_y: r1(top + 16.0),
            marks,
        },
        height,
    )
}

/// Lays out the picture of an anomaly, or `None` when it names nothing that can be drawn.
pub(crate) fn layout(look: &Lookup, anomaly: &Anomaly) -> Option<Picture> {
    let inv = gather(look, anomaly);
    if inv.calls.is_empty() && inv.nemesis_ops.is_empty() {
        return None;
    }
    let held = held_intervals(look, anomaly, &inv);
    let span = Span::covering(look, &inv, &held);
    let mut pic = Picture {
        width: WIDTH,
        left: LEFT,
        right: RIGHT,
        height: 0.0,
        faults: Vec::new(),
        lanes: Vec::new(),
        held: Vec::new(),
        overlap: None,
        calls: Vec::new(),
        nemesis: None,
        from: format!("{:.6}", span.t0 as f64 / 1e9),
        to: format!("{:.6}", span.t1 as f64 / 1e9),
        span: human_ns(span.t1 - span.t0),
        axis_y: 0.0,
    };
    // Fault labels first, in rows above the lanes.
    let mut fault_rows = Rows::default();
    let bands = fault_bands(look, &span, 0.0, &mut fault_rows);
    let top = 4.0 + fault_rows.len() as f64 * ROW + 4.0;
    let mut y = top;
    let mut lanes: Vec<Process> = inv.calls.iter().map(|c| c.process).collect();
    lanes.sort();
    lanes.dedup();
    for &p in &lanes {
        y += lane(look, &span, &inv, &held, p, y, &mut pic);
    }
    let lanes_bottom = y;
    if !inv.nemesis_ops.is_empty() || !span.cause.is_empty() {
        let (row, height) = nemesis_lane(look, &span, &inv, y);
        pic.nemesis = Some(row);
        y += height;
    }
    if let Some((a, b, words)) = first_overlap(&held) {
        let mut rows = Rows::default();
        let (_, x, text) = label(&mut rows, span.x(a) + 3.0, &words);
        pic.overlap = Some(Overlap {
            x: r1(span.x(a)),
            y: r1(top),
            width: r1((span.x(b) - span.x(a)).max(2.0)),
            height: r1(lanes_bottom - top),
            label: Label {
                x: r1(x),
                y: r1(y + ROW - 4.0),
                text,
                full: words,
            },
        });
        y += ROW + 2.0;
    }
    pic.faults = bands
        .into_iter()
        .map(|(mut f, row)| {
            f.y = r1(top);
            f.height = r1(y - top);
            f.label.y = r1(4.0 + (row + 1) as f64 * ROW - 4.0);
            f
        })
        .collect();
    pic.axis_y = r1(y + 14.0);
    pic.height = r1(y + 20.0);
    Some(pic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_that_would_collide_go_to_the_next_row() {
        let mut rows = Rows::default();
        assert_eq!(rows.place(100.0, 50.0), 0);
        assert_eq!(rows.place(140.0, 50.0), 1);
        assert_eq!(rows.place(170.0, 50.0), 0);
        assert_eq!(rows.place(120.0, 30.0), 2);
        assert_eq!(rows.len(), 3);
    }

    #[test]
    fn long_labels_are_cut_to_the_picture() {
        let long = "x".repeat(500);
        let cut = fit(&long, RIGHT - LEFT);
        assert!(text_width(&cut) <= RIGHT - LEFT);
        assert!(cut.ends_with('…'));
        let mut rows = Rows::default();
        let (_, x, text) = label(&mut rows, RIGHT - 5.0, "#12 acquire → ok");
        assert!(x + text_width(&text) <= RIGHT);
    }

    #[test]
    fn final_and_node_reads_have_names() {
        assert_eq!(lane_name(Process::Client(3)), "process 3");
        assert_eq!(lane_name(Process::Client(1_000_010)), "final read");
        assert_eq!(lane_name(Process::Client(2_000_002)), "node n2 read");
    }
}
