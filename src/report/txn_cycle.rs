//! A transactional anomaly's cycle, drawn: the transactions as boxes around a circle, each box
//! listing its micro-ops (`T1 · p3 · #12`, then `append x 3`, `r y [1 5]`), and an arrow per
//! step of the cycle labelled with its relation and key (`rw x`, `wr y`, `process`,
//! `realtime`), next to the steps in words.
//!
//! The `txn` checker opts in with `cycle` (the members: `name`, `op`, `process`, `mops`) and
//! `steps` (`from`, `to` as member names, `rel`, `key`, `text`) in its anomaly's details. This
//! file lays the picture out; the page template draws it (and escapes every text in it).

use super::graph::r1;
use crate::check::Anomaly;
use serde::Serialize;
use serde_json::Value;

/// Most transactions drawn; a longer cycle is left to its words.
const MAX_TXNS: usize = 12;
/// Most micro-op lines in one box; the rest are counted.
const MAX_MOPS: usize = 8;
/// Longest micro-op line, in characters; longer ones are cut with `…`.
const MAX_CHARS: usize = 36;
/// Width of a character of the boxes' monospace text, and the height of a line.
const CHAR_W: f64 = 6.6;
const LINE_H: f64 = 14.0;
/// Room around the picture.
const PAD: f64 = 24.0;

/// One line of text in a box, at its baseline `y`.
#[derive(Debug, Serialize)]
pub(crate) struct BoxLine {
    y: f64,
    text: String,
}

/// One transaction's box: its corner, size, heading and micro-op lines.
#[derive(Debug, Serialize)]
pub(crate) struct TxnBox {
    name: String,
    op: Option<u64>,
    left: f64,
    top: f64,
    width: f64,
    height: f64,
    /// Where the text starts, left-aligned.
    text_x: f64,
    heading: BoxLine,
    lines: Vec<BoxLine>,
}

/// One step of the cycle: a curve from `(sx, sy)` bent through `(mx, my)` to `(ex, ey)`, with
/// its label (`rw x`) at `(lx, ly)` on the curve.
#[derive(Debug, Serialize)]
pub(crate) struct StepArrow {
    rel: String,
    label: String,
    sx: f64,
    sy: f64,
    mx: f64,
    my: f64,
    ex: f64,
    ey: f64,
    lx: f64,
    ly: f64,
}

/// The drawn cycle and its steps in words, for the page template.
#[derive(Debug, Serialize)]
pub(crate) struct TxnCycle {
    width: f64,
    height: f64,
    boxes: Vec<TxnBox>,
    arrows: Vec<StepArrow>,
    /// Each step in words, in cycle order.
    steps: Vec<String>,
    /// `T1 → T2 → T1`.
    ring: String,
}

/// A member of the cycle as the checker recorded it.
struct Member {
    name: String,
    op: Option<u64>,
    heading: String,
    lines: Vec<String>,
}

fn cut(s: &str) -> String {
    if s.chars().count() <= MAX_CHARS {
        return s.to_string();
    }
    let mut c: String = s.chars().take(MAX_CHARS - 1).collect();
    c.push('…');
    c
}

fn members(cycle: &[Value]) -> Vec<Member> {
    cycle
        .iter()
        .map(|m| {
            let name = m["name"].as_str().unwrap_or("T?").to_string();
            let op = m["op"].as_u64();
            let mut heading = name.clone();
            if let Some(p) = m["process"].as_u64() {
                heading.push_str(&format!(" · p{p}"));
            }
            if let Some(op) = op {
                heading.push_str(&format!(" · #{op}"));
            }
            let mops: Vec<String> = match m["mops"].as_array() {
                Some(a) => a.iter().filter_map(|v| v.as_str()).map(cut).collect(),
                None => m["txn"].as_str().map(|s| vec![cut(s)]).unwrap_or_default(),
            };
            let mut lines: Vec<String> = mops.iter().take(MAX_MOPS).cloned().collect();
            if mops.len() > MAX_MOPS {
                lines.push(format!("… {} more", mops.len() - MAX_MOPS));
            }
            Member {
                name,
                op,
                heading,
                lines,
            }
        })
        .collect()
}

/// Where the ray from a box's centre `(cx, cy)` towards `(tx, ty)` leaves the box (half sizes
/// `hw`, `hh`), a few pixels out.
fn leave(cx: f64, cy: f64, hw: f64, hh: f64, tx: f64, ty: f64) -> (f64, f64) {
    let (dx, dy) = (tx - cx, ty - cy);
    let len = (dx * dx + dy * dy).sqrt().max(1e-9);
    let (ux, uy) = (dx / len, dy / len);
    let t = (hw / ux.abs().max(1e-9)).min(hh / uy.abs().max(1e-9)) + 4.0;
    (cx + ux * t, cy + uy * t)
}

/// The anomaly's cycle laid out, or `None` when its details hold no cycle (or one too long to
/// draw).
pub(crate) fn layout(anomaly: &Anomaly) -> Option<TxnCycle> {
    let cycle = anomaly.details.get("cycle")?.as_array()?;
    let steps = anomaly.details.get("steps")?.as_array()?;
    if cycle.is_empty() || cycle.len() > MAX_TXNS || steps.is_empty() {
        return None;
    }
    let members = members(cycle);
    let sizes: Vec<(f64, f64)> = members.iter().map(box_size).collect();
    let centre = centres(&sizes);
    let index = |name: &str| members.iter().position(|m| m.name == name);
    let n = members.len();
    let mut arrows = Vec::new();
    for s in steps {
        let (Some(i), Some(j)) = (
            s["from"].as_str().and_then(index),
            s["to"].as_str().and_then(index),
        ) else {
            continue;
        };
        let ends = ((centre[i], sizes[i]), (centre[j], sizes[j]));
        arrows.push(arrow(s, ends, n == 2));
    }
    let (min, max) = extent(&centre, &sizes, &arrows);
    let (ox, oy) = (PAD - min.0, PAD - min.1);
    for a in &mut arrows {
        a.shift(ox, oy);
    }
    let boxes = members
        .into_iter()
        .zip(centre.iter().zip(&sizes))
        .map(|(m, (c, s))| txn_box(m, *c, *s, (ox, oy)))
        .collect::<Vec<_>>();
    let mut ring: Vec<&str> = steps.iter().filter_map(|s| s["from"].as_str()).collect();
    if let Some(first) = ring.first().copied() {
        ring.push(first);
    }
    Some(TxnCycle {
        width: r1(max.0 - min.0 + 2.0 * PAD),
        height: r1(max.1 - min.1 + 2.0 * PAD),
        ring: ring.join(" → "),
        boxes,
        arrows,
        steps: steps
            .iter()
            .map(|s| s["text"].as_str().unwrap_or("").to_string())
            .collect(),
    })
}

/// A member's box size (width, height): its longest line and its line count.
fn box_size(m: &Member) -> (f64, f64) {
    let chars = m
        .lines
        .iter()
        .chain(std::iter::once(&m.heading))
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(4);
    (
        chars as f64 * CHAR_W + 16.0,
        (m.lines.len() + 1) as f64 * LINE_H + 12.0,
    )
}

/// Box centres on an ellipse wide enough that neighbouring boxes leave room for an arrow and
/// its label between them: two transactions side by side; more around the ellipse, the first
/// at the top.
fn centres(sizes: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let n = sizes.len();
    let max_w = sizes.iter().map(|s| s.0).fold(0.0, f64::max);
    let max_h = sizes.iter().map(|s| s.1).fold(0.0, f64::max);
    let gap = 70.0;
    let (rx, ry) = if n == 1 {
        (0.0, 0.0)
    } else {
        // Neighbours on the unit circle are 2·sin(π/n) apart, so at least √2·sin(π/n) apart
        // in x or in y; farther pairs are farther apart.
        let s = std::f64::consts::SQRT_2 * (std::f64::consts::PI / n as f64).sin();
        let s = if n == 2 { 2.0 } else { s };
        (
            ((max_w + gap) / s).max(120.0),
            ((max_h + gap) / s).max(90.0),
        )
    };
    let start = if n == 2 {
        std::f64::consts::PI
    } else {
        -std::f64::consts::FRAC_PI_2
    };
    (0..n)
        .map(|i| {
            let a = start + i as f64 * std::f64::consts::TAU / n as f64;
            (rx * a.cos(), if n == 2 { 0.0 } else { ry * a.sin() })
        })
        .collect()
}

/// A box: its centre and its size (width, height).
type Placed = ((f64, f64), (f64, f64));

/// The arrow of one step between two placed boxes, bent to the left of the direction of
/// travel: outwards for a clockwise ring, and to opposite sides for the two arrows between a
/// pair (`pair`).
fn arrow(step: &Value, (from, to): (Placed, Placed), pair: bool) -> StepArrow {
    let rel = step["rel"].as_str().unwrap_or("?").to_string();
    let label = match step["key"].as_str() {
        Some(k) => format!("{rel} {k}"),
        None => rel.clone(),
    };
    let (((x1, y1), (w1, h1)), ((x2, y2), (w2, h2))) = (from, to);
    let (dx, dy) = (x2 - x1, y2 - y1);
    let len = (dx * dx + dy * dy).sqrt().max(1.0);
    let bend = if pair { 50.0 } else { 28.0 };
    let (mx, my) = (
        (x1 + x2) / 2.0 + dy / len * bend,
        (y1 + y2) / 2.0 - dx / len * bend,
    );
    let (sx, sy) = leave(x1, y1, w1 / 2.0, h1 / 2.0, mx, my);
    let (ex, ey) = leave(x2, y2, w2 / 2.0, h2 / 2.0, mx, my);
    // The curve's own midpoint, where the label sits.
    let (lx, ly) = ((sx + 2.0 * mx + ex) / 4.0, (sy + 2.0 * my + ey) / 4.0);
    StepArrow {
        rel,
        label,
        sx,
        sy,
        mx,
        my,
        ex,
        ey,
        lx,
        ly,
    }
}

impl StepArrow {
    /// Moves the arrow by `(ox, oy)`, rounded for the page, the label a little below its
    /// anchor.
    fn shift(&mut self, ox: f64, oy: f64) {
        for (x, y) in [
            (&mut self.sx, &mut self.sy),
            (&mut self.mx, &mut self.my),
            (&mut self.ex, &mut self.ey),
            (&mut self.lx, &mut self.ly),
        ] {
            *x = r1(*x + ox);
            *y = r1(*y + oy);
        }
        self.ly = r1(self.ly + 4.0);
    }
}

/// The smallest and largest corner of everything drawn: the boxes and the arrows' labels.
fn extent(
    centre: &[(f64, f64)],
    sizes: &[(f64, f64)],
    arrows: &[StepArrow],
) -> ((f64, f64), (f64, f64)) {
    let mut min = (f64::MAX, f64::MAX);
    let mut max = (f64::MIN, f64::MIN);
    let mut see = |x: f64, y: f64| {
        min = (min.0.min(x), min.1.min(y));
        max = (max.0.max(x), max.1.max(y));
    };
    for (c, s) in centre.iter().zip(sizes) {
        see(c.0 - s.0 / 2.0, c.1 - s.1 / 2.0);
        see(c.0 + s.0 / 2.0, c.1 + s.1 / 2.0);
    }
    for a in arrows {
        let half = a.label.chars().count() as f64 * 3.6;
        see(a.lx - half, a.ly - 12.0);
        see(a.lx + half, a.ly + 6.0);
    }
    (min, max)
}

/// A member's box with its centre at `c` and size `s`, moved by `(ox, oy)` onto the page.
fn txn_box(m: Member, c: (f64, f64), s: (f64, f64), (ox, oy): (f64, f64)) -> TxnBox {
    let (left, top) = (c.0 - s.0 / 2.0 + ox, c.1 - s.1 / 2.0 + oy);
    let line = |k: usize, text: String| BoxLine {
        y: r1(top + 6.0 + LINE_H * (k + 1) as f64 - 3.0),
        text,
    };
    TxnBox {
        name: m.name,
        op: m.op,
        left: r1(left),
        top: r1(top),
        width: r1(s.0),
        height: r1(s.1),
        text_x: r1(left + 8.0),
        heading: line(0, m.heading),
        lines: m
            .lines
            .into_iter()
            .enumerate()
            .map(|(k, t)| line(k + 1, t))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn anomaly(n: usize) -> Anomaly {
        let cycle: Vec<Value> = (0..n)
            .map(|i| {
                json!({"name": format!("T{}", i + 1), "op": 2 * i as u64 + 1, "process": i,
                       "mops": [format!("append x{i} {i}"), "r y [1 2 3 4 5 6 7 8 9 10 11 12 13 14 15]"]})
            })
            .collect();
        let steps: Vec<Value> = (0..n)
            .map(|i| {
                json!({"from": format!("T{}", i + 1), "to": format!("T{}", (i + 1) % n + 1),
                       "rel": if i == 0 { "rw" } else { "wr" }, "key": "x", "text": format!("step {i}")})
            })
            .collect();
        Anomaly {
            kind: "G-single".into(),
            key: None,
            ops: vec![],
            explanation: String::new(),
            details: json!({"cycle": cycle, "steps": steps}),
        }
    }

    #[test]
    fn every_step_is_an_arrow_between_boxes_that_do_not_overlap() {
        for n in [2, 3, 5, 12] {
            let c = layout(&anomaly(n)).unwrap();
            assert_eq!(c.boxes.len(), n);
            assert_eq!(c.arrows.len(), n);
            assert_eq!(c.steps.len(), n);
            assert_eq!(c.arrows[0].label, "rw x");
            assert!(c.boxes[0].lines[1].text.ends_with('…'));
            assert!(c.ring.starts_with("T1 → T2") && c.ring.ends_with("→ T1"));
            for (i, a) in c.boxes.iter().enumerate() {
                assert!(a.left >= 0.0 && a.left + a.width <= c.width, "n={n}");
                assert!(a.top >= 0.0 && a.top + a.height <= c.height, "n={n}");
                for b in &c.boxes[i + 1..] {
                    let apart = a.left + a.width <= b.left
                        || b.left + b.width <= a.left
                        || a.top + a.height <= b.top
                        || b.top + b.height <= a.top;
                    assert!(apart, "n={n}: {} overlaps {}", a.name, b.name);
                }
            }
        }
    }

    #[test]
    fn no_cycle_or_a_huge_one_is_not_drawn() {
        assert!(layout(&anomaly(13)).is_none());
        let mut a = anomaly(2);
        a.details = json!({"edges": []});
        assert!(layout(&a).is_none());
    }
}
