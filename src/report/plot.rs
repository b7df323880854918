//! The run's performance as SVG drawn here: latency of every call over time (one colour per
//! `f`, one marker per outcome), latency quantiles over time, and throughput over time, each with
//! the fault windows shaded behind. Large histories are thinned to one marker per pixel cell
//! per series, so the page stays small and quick whatever the history's size. This file works
//! out the geometry ([`Plot`]); the page template draws it.

use super::human_ns;
use super::timeline::{Status, Timeline};
use crate::history::History;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

const W: f64 = 960.0;
const H: f64 = 300.0;
const ML: f64 = 64.0;
const MR: f64 = 150.0;
const MT: f64 = 12.0;
const MB: f64 = 36.0;

/// Colours for the `f` series, told apart also by colour-blind readers.
const PALETTE: [&str; 7] = [
    "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#56b4e9", "#e69f00", "#555555",
];

/// A fault window shaded behind a plot.
#[derive(Debug, Serialize)]
pub(crate) struct Shade {
    family: String,
    x: f64,
    width: f64,
    label: String,
    from: String,
    to: String,
}

/// A tick: where it is drawn, where its label's baseline is (on the y axis), and what it says.
#[derive(Debug, Serialize)]
pub(crate) struct Tick {
    at: f64,
    text_at: f64,
    label: String,
}

/// A drawn series: a path with its stroke and a tooltip.
#[derive(Debug, Serialize)]
pub(crate) struct Line {
    /// `pts` (markers, one subpath each) or `line`.
    class: &'static str,
    d: String,
    stroke: &'static str,
    /// Markers' stroke width and cap; lines take theirs from the page's style.
    #[serde(skip_serializing_if = "Option::is_none")]
    stroke_width: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    linecap: Option<&'static str>,
    dash: &'static str,
    title: String,
}

/// A legend entry: a colour square (`d` empty) or a short stroke, and a name.
#[derive(Debug, Serialize)]
pub(crate) struct LegendEntry {
    y: f64,
    colour: &'static str,
    d: String,
    stroke_width: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    linecap: Option<&'static str>,
    dash: &'static str,
    label: String,
}

/// One plot, for the page template: its frame, axes, fault shading, series and legend.
#[derive(Debug, Serialize)]
pub(crate) struct Plot {
    width: f64,
    height: f64,
    /// The plotting area.
    left: f64,
    top: f64,
    right: f64,
    bottom: f64,
    title: String,
    y_label: String,
    shades: Vec<Shade>,
    x_ticks: Vec<Tick>,
    y_ticks: Vec<Tick>,
    lines: Vec<Line>,
    legend_x: f64,
    legend: Vec<LegendEntry>,
}

/// One quantile-table row: an `f`, its outcome counts and its latency quantiles.
#[derive(Debug, Serialize)]
pub(crate) struct QuantileRow {
    colour: &'static str,
    f: String,
    /// ok, fail, info, open.
    counts: [usize; 4],
    /// p50, p95, p99, max.
    quantiles: Vec<String>,
}

/// The quantile plot and its summary table.
#[derive(Debug, Serialize)]
pub(crate) struct Quantiles {
    plot: Plot,
    rows: Vec<QuantileRow>,
}

/// Rounds a coordinate to a tenth of a pixel, as drawn.
fn r1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// One plot's frame: the mapping from data to pixels, and the plot being filled in.
struct Frame {
    plot: Plot,
    x_max: f64,
    y_lo: f64,
    y_hi: f64,
    log: bool,
}

impl Frame {
    fn new(title: &str, x_max_s: f64, y_lo: f64, y_hi: f64, log: bool, y_label: &str) -> Frame {
        Frame {
            plot: Plot {
                width: W,
                height: H,
                left: ML,
                top: MT,
                right: W - MR,
                bottom: H - MB,
                title: title.to_owned(),
                y_label: y_label.to_owned(),
                shades: Vec::new(),
                x_ticks: Vec::new(),
                y_ticks: Vec::new(),
                lines: Vec::new(),
                legend_x: W - MR + 10.0,
                legend: Vec::new(),
            },
            x_max: x_max_s.max(1e-9),
            y_lo,
            y_hi: if y_hi > y_lo { y_hi } else { y_lo + 1.0 },
            log,
        }
    }

    fn x(&self, seconds: f64) -> f64 {
        ML + (seconds / self.x_max).clamp(0.0, 1.0) * (W - ML - MR)
    }

    fn y(&self, v: f64) -> f64 {
        let (v, lo, hi) = if self.log {
            (
                v.max(self.y_lo).log10(),
                self.y_lo.log10(),
                self.y_hi.log10(),
            )
        } else {
            (v, self.y_lo, self.y_hi)
        };
        let t = ((v - lo) / (hi - lo)).clamp(0.0, 1.0);
        H - MB - t * (H - MT - MB)
    }

    fn shade_faults(&mut self, timeline: &Timeline) {
        for w in &timeline.windows {
            let a = self.x(w.start as f64 / 1e9);
            let b = self.x(w.end as f64 / 1e9).max(a + 1.0);
            self.plot.shades.push(Shade {
                family: w.family.clone(),
                x: r1(a),
                width: r1(b - a),
                label: w.label.clone(),
                from: format!("{:.3}", w.start as f64 / 1e9),
                to: format!("{:.3}", w.end as f64 / 1e9),
            });
        }
    }

    fn axes(&mut self, y_fmt: impl Fn(f64) -> String) {
        for t in ticks(0.0, self.x_max) {
            let at = r1(self.x(t));
            self.plot.x_ticks.push(Tick {
                at,
                text_at: H - MB + 14.0,
                label: trim(t),
            });
        }
        let ys: Vec<f64> = if self.log {
            let mut v = Vec::new();
            let mut p = 10f64.powf(self.y_lo.log10().floor());
            while p <= self.y_hi * 1.0001 {
                if p >= self.y_lo * 0.9999 {
                    v.push(p);
                }
                p *= 10.0;
            }
            v
        } else {
            ticks(self.y_lo, self.y_hi)
        };
        for v in ys {
            let at = r1(self.y(v));
            self.plot.y_ticks.push(Tick {
                at,
                text_at: r1(at + 4.0),
                label: y_fmt(v),
            });
        }
    }

    fn legend(&mut self, entries: Vec<LegendEntry>) {
        self.plot.legend = entries
            .into_iter()
            .enumerate()
            .map(|(i, e)| LegendEntry {
                y: MT + 10.0 + i as f64 * 16.0,
                ..e
            })
            .collect();
    }
}

/// Round tick positions between `lo` and `hi`, about six of them.
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = (hi - lo).max(1e-12);
    let raw = span / 6.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= 7.0)
        .unwrap_or(10.0 * mag);
    let mut v = Vec::new();
    let mut t = (lo / step).ceil() * step;
    while t <= hi + step * 1e-9 {
        v.push(t);
        t += step;
    }
    v
}

fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn ms_label(v: f64) -> String {
    if v >= 1000.0 {
        format!("{} s", trim(v / 1000.0))
    } else {
        format!("{} ms", trim(v))
    }
}

/// The calls grouped by `f`, in order of first appearance.
fn by_f<'a>(
    history: &History,
    timeline: &'a Timeline,
) -> Vec<(String, Vec<&'a super::timeline::CallBar>)> {
    let mut out: Vec<(String, Vec<_>)> = Vec::new();
    for c in &timeline.calls {
        let f = &history.ops[c.invoke].f;
        match out.iter_mut().find(|(g, _)| g == f) {
            Some((_, v)) => v.push(c),
            None => out.push((f.clone(), vec![c])),
        }
    }
    out
}

/// A legend entry: a colour square and a name.
fn swatch(colour: &'static str, name: &str) -> LegendEntry {
    stroke_entry(colour, String::new(), 0.0, None, "", name)
}

/// A legend entry drawn as a stroke (a marker or a short line) and a name.
fn stroke_entry(
    colour: &'static str,
    d: String,
    stroke_width: f64,
    linecap: Option<&'static str>,
    dash: &'static str,
    name: &str,
) -> LegendEntry {
    LegendEntry {
        y: 0.0,
        colour,
        d,
        stroke_width,
        linecap,
        dash,
        label: name.to_owned(),
    }
}

fn marker(status: Status, x: f64, y: f64) -> String {
    match status {
        Status::Ok => format!("M{x:.0} {y:.0}h0"),
        Status::Fail => format!("M{:.0} {:.0}l5 5m0 -5l-5 5", x - 2.5, y - 2.5),
        _ => format!("M{x:.0} {:.0}l3 5h-6z", y - 3.0),
    }
}

/// A marker's stroke width and line cap.
fn marker_style(status: Status) -> (f64, Option<&'static str>) {
    match status {
        Status::Ok => (4.0, Some("round")),
        Status::Fail => (1.5, None),
        _ => (1.2, None),
    }
}

/// Latency of each call against its invoke time, log scale; `info` calls at their timeout.
pub(crate) fn latency(history: &History, timeline: &Timeline) -> Plot {
    let groups = by_f(history, timeline);
    let done = |c: &&super::timeline::CallBar| c.status != Status::Open;
    let lat_ms = |c: &super::timeline::CallBar| ((c.end - c.start) as f64 / 1e6).max(1e-3);
    let max = timeline
        .calls
        .iter()
        .filter(done)
        .map(lat_ms)
        .fold(1e-3, f64::max);
    let min = timeline
        .calls
        .iter()
        .filter(done)
        .map(lat_ms)
        .fold(f64::MAX, f64::min);
    let lo = 10f64.powf(min.min(max).log10().floor());
    let hi = 10f64.powf(max.log10().ceil()).max(lo * 10.0);
    let mut f = Frame::new(
        "latency over time",
        timeline.end as f64 / 1e9,
        lo,
        hi,
        true,
        "latency",
    );
    f.shade_faults(timeline);
    f.axes(ms_label);
    let mut legend = Vec::new();
    for (i, (name, calls)) in groups.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        for status in [Status::Ok, Status::Fail, Status::Info] {
            let mut seen = HashSet::new();
            let mut d = String::new();
            let mut n = 0usize;
            for c in calls.iter().filter(|c| c.status == status) {
                let (x, y) = (f.x(c.start as f64 / 1e9), f.y(lat_ms(c)));
                n += 1;
                if seen.insert(((x / 2.0) as i64, (y / 2.0) as i64)) {
                    d.push_str(&marker(status, x, y));
                }
            }
            if n == 0 {
                continue;
            }
            let (stroke_width, linecap) = marker_style(status);
            let title = format!("{name} {}: {n} calls", status.word());
            f.plot.lines.push(Line {
                class: "pts",
                d,
                stroke: colour,
                stroke_width: Some(stroke_width),
                linecap,
                dash: "",
                title,
            });
        }
        legend.push(swatch(colour, name));
    }
    for status in [Status::Ok, Status::Fail, Status::Info] {
        let (stroke_width, linecap) = marker_style(status);
        legend.push(stroke_entry(
            "#333333",
            marker(status, 5.0, 0.0),
            stroke_width,
            linecap,
            "",
            status.word(),
        ));
    }
    f.legend(legend);
    f.plot
}

/// A bucket width (ns) that cuts `end` into about `n` round pieces.
fn bucket(end: u64, n: u64) -> u64 {
    let raw = (end / n).max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    step as u64
}

fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

const QUANTILES: [(f64, &str, &str); 4] = [
    (0.5, "p50", ""),
    (0.95, "p95", "6 3"),
    (0.99, "p99", "2 3"),
    (1.0, "max", "1 3"),
];

/// One quantile line: the `f` group, the quantile, and (seconds, milliseconds) points.
type Series = (usize, usize, Vec<(f64, f64)>);

/// Latency quantiles of completed calls per `f`, over time windows, plus a summary table.
pub(crate) fn quantiles(history: &History, timeline: &Timeline) -> Quantiles {
    let groups = by_f(history, timeline);
    let width = bucket(timeline.end.max(1), 40);
    let mut series: Vec<Series> = Vec::new();
    let mut all_lat: Vec<f64> = Vec::new();
    let mut rows = Vec::new();
    for (gi, (name, calls)) in groups.iter().enumerate() {
        let mut buckets: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        let mut lats: Vec<u64> = Vec::new();
        let mut counts = [0usize; 4];
        for c in calls {
            counts[c.status as usize] += 1;
            if c.status == Status::Open {
                continue;
            }
            let l = c.end - c.start;
            lats.push(l);
            buckets.entry(c.start / width).or_default().push(l);
        }
        lats.sort_unstable();
        rows.push(QuantileRow {
            colour: PALETTE[gi % PALETTE.len()],
            f: name.clone(),
            counts,
            quantiles: QUANTILES
                .iter()
                .map(|(q, _, _)| human_ns(quantile(&lats, *q)))
                .collect(),
        });
        for (qi, (q, _, _)) in QUANTILES.iter().enumerate() {
            let mut pts = Vec::new();
            for (b, v) in buckets.iter_mut() {
                v.sort_unstable();
                let ms = (quantile(v, *q) as f64 / 1e6).max(1e-3);
                all_lat.push(ms);
                pts.push((((b * width) + width / 2) as f64 / 1e9, ms));
            }
            series.push((gi, qi, pts));
        }
    }
    let max = all_lat.iter().copied().fold(1e-3, f64::max);
    let min = all_lat.iter().copied().fold(f64::MAX, f64::min).min(max);
    let lo = 10f64.powf(min.log10().floor());
    let hi = 10f64.powf(max.log10().ceil()).max(lo * 10.0);
    let mut f = Frame::new(
        "latency quantiles over time",
        timeline.end as f64 / 1e9,
        lo,
        hi,
        true,
        "latency",
    );
    f.shade_faults(timeline);
    f.axes(ms_label);
    let mut legend = Vec::new();
    for (gi, qi, pts) in &series {
        let colour = PALETTE[gi % PALETTE.len()];
        let dash = QUANTILES[*qi].2;
        let d: String = pts
            .iter()
            .enumerate()
            .map(|(i, (t, v))| {
                format!(
                    "{}{:.1} {:.1}",
                    if i == 0 { "M" } else { "L" },
                    f.x(*t),
                    f.y(*v)
                )
            })
            .collect();
        let label = format!("{} {}", groups[*gi].0, QUANTILES[*qi].1);
        f.plot.lines.push(Line {
            class: "line",
            d,
            stroke: colour,
            stroke_width: None,
            linecap: None,
            dash,
            title: label,
        });
    }
    for (gi, (name, _)) in groups.iter().enumerate() {
        legend.push(swatch(PALETTE[gi % PALETTE.len()], name));
    }
    for (_, name, dash) in QUANTILES {
        legend.push(stroke_entry(
            "#333333",
            "M0 0h12".into(),
            2.0,
            None,
            dash,
            name,
        ));
    }
    f.legend(legend);
    Quantiles { plot: f.plot, rows }
}

/// Completed calls per second per `f`, over time windows; a dashed line for fail and info.
pub(crate) fn throughput(history: &History, timeline: &Timeline) -> Plot {
    let groups = by_f(history, timeline);
    let width = bucket(timeline.end.max(1), 60);
    let n = (timeline.end / width + 1) as usize;
    let per_s = 1e9 / width as f64;
    let mut lines: Vec<(String, &'static str, &'static str, Vec<f64>)> = Vec::new();
    let mut bad = vec![0f64; n];
    for (gi, (name, calls)) in groups.iter().enumerate() {
        let mut ok = vec![0f64; n];
        for c in calls {
            let b = ((c.end / width) as usize).min(n - 1);
            match c.status {
                Status::Ok => ok[b] += per_s,
                Status::Fail | Status::Info => bad[b] += per_s,
                Status::Open => {}
            }
        }
        lines.push((format!("{name} ok"), PALETTE[gi % PALETTE.len()], "", ok));
    }
    lines.push(("fail + info".into(), "#444444", "4 3", bad));
    let max = lines
        .iter()
        .flat_map(|l| l.3.iter().copied())
        .fold(1.0, f64::max);
    let mut f = Frame::new(
        "throughput over time",
        timeline.end as f64 / 1e9,
        0.0,
        max * 1.05,
        false,
        "ops per second",
    );
    f.shade_faults(timeline);
    f.axes(trim);
    let mut legend = Vec::new();
    for (label, colour, dash, vals) in &lines {
        let d: String = vals
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let t = (i as u64 * width + width / 2) as f64 / 1e9;
                format!(
                    "{}{:.1} {:.1}",
                    if i == 0 { "M" } else { "L" },
                    f.x(t),
                    f.y(*v)
                )
            })
            .collect();
        f.plot.lines.push(Line {
            class: "line",
            d,
            stroke: colour,
            stroke_width: None,
            linecap: None,
            dash,
            title: label.clone(),
        });
        legend.push(stroke_entry(
            colour,
            "M0 0h12".into(),
            2.0,
            None,
            dash,
            label,
        ));
    }
    f.legend(legend);
    f.plot
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 10.0), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(bucket(10_000_000_000, 40), 500_000_000);
        assert_eq!(quantile(&[1, 2, 3, 4, 100], 0.5), 3);
        assert_eq!(quantile(&[1, 2, 3, 4, 100], 1.0), 100);
    }
}
