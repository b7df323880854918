//! The run's performance as SVG drawn here: latency of every call over time (one colour per
//! `f`, one marker per outcome), latency quantiles over time, and throughput over time, each with
//! the fault windows shaded behind. Large histories are thinned to one marker per pixel cell
//! per series, so the page stays small and quick whatever the history's size.

use super::timeline::{Status, Timeline};
use super::{escape, human_ns};
use crate::history::History;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;

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

/// One plot's frame: the mapping from data to pixels and the SVG text so far.
struct Frame {
    svg: String,
    x_max: f64,
    y_lo: f64,
    y_hi: f64,
    log: bool,
}

impl Frame {
    fn new(title: &str, x_max_s: f64, y_lo: f64, y_hi: f64, log: bool, y_label: &str) -> Frame {
        let mut f = Frame {
            svg: String::new(),
            x_max: x_max_s.max(1e-9),
            y_lo,
            y_hi: if y_hi > y_lo { y_hi } else { y_lo + 1.0 },
            log,
        };
        let _ = write!(
            f.svg,
            "<svg class=\"plot\" viewBox=\"0 0 {W} {H}\" width=\"100%\" role=\"img\" aria-label=\"{}\"><rect class=\"bg\" x=\"{ML}\" y=\"{MT}\" width=\"{}\" height=\"{}\"/>",
            escape(title),
            W - ML - MR,
            H - MT - MB
        );
        let _ = write!(
            f.svg,
            "<text class=\"axis-label\" x=\"14\" y=\"{:.1}\" transform=\"rotate(-90 14 {:.1})\" text-anchor=\"middle\">{}</text><text class=\"axis-label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">time (s)</text>",
            MT + (H - MT - MB) / 2.0,
            MT + (H - MT - MB) / 2.0,
            escape(y_label),
            ML + (W - ML - MR) / 2.0,
            H - 4.0
        );
        f
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
            let _ = write!(
                self.svg,
                "<g class=\"fault fam-{}\"><rect x=\"{a:.1}\" y=\"{MT}\" width=\"{:.1}\" height=\"{:.1}\"/><title>{}: {:.3}–{:.3} s</title></g>",
                escape(&w.family),
                b - a,
                H - MT - MB,
                escape(&w.label),
                w.start as f64 / 1e9,
                w.end as f64 / 1e9
            );
        }
    }

    fn axes(&mut self, y_fmt: impl Fn(f64) -> String) {
        for t in ticks(0.0, self.x_max) {
            let px = self.x(t);
            let _ = write!(
                self.svg,
                "<line class=\"tick\" x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{MT}\" y2=\"{:.1}\"/><text class=\"tick-label\" x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                H - MB,
                H - MB + 14.0,
                trim(t)
            );
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
            let py = self.y(v);
            let _ = write!(
                self.svg,
                "<line class=\"tick\" x1=\"{ML}\" x2=\"{:.1}\" y1=\"{py:.1}\" y2=\"{py:.1}\"/><text class=\"tick-label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                W - MR,
                ML - 4.0,
                py + 4.0,
                y_fmt(v)
            );
        }
    }

    fn legend(&mut self, entries: &[(String, String)]) {
        for (i, (swatch, label)) in entries.iter().enumerate() {
            let y = MT + 10.0 + i as f64 * 16.0;
            let _ = write!(
                self.svg,
                "<g transform=\"translate({:.1},{y:.1})\">{swatch}<text class=\"legend\" x=\"16\" y=\"4\">{}</text></g>",
                W - MR + 10.0,
                escape(label)
            );
        }
    }

    fn finish(mut self) -> String {
        self.svg.push_str("</svg>");
        self.svg
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
fn swatch(colour: &str, name: &str) -> (String, String) {
    (
        format!("<rect x=\"0\" y=\"-5\" width=\"10\" height=\"10\" fill=\"{colour}\"/>"),
        name.to_owned(),
    )
}

fn marker(status: Status, x: f64, y: f64) -> String {
    match status {
        Status::Ok => format!("M{x:.0} {y:.0}h0"),
        Status::Fail => format!("M{:.0} {:.0}l5 5m0 -5l-5 5", x - 2.5, y - 2.5),
        _ => format!("M{x:.0} {:.0}l3 5h-6z", y - 3.0),
    }
}

fn marker_style(status: Status, colour: &str) -> String {
    match status {
        Status::Ok => {
            format!("stroke=\"{colour}\" stroke-width=\"4\" stroke-linecap=\"round\" fill=\"none\"")
        }
        Status::Fail => format!("stroke=\"{colour}\" stroke-width=\"1.5\" fill=\"none\""),
        _ => format!("stroke=\"{colour}\" stroke-width=\"1.2\" fill=\"none\""),
    }
}

/// Latency of each call against its invoke time, log scale; `info` calls at their timeout.
pub(crate) fn latency(history: &History, timeline: &Timeline) -> String {
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
            let _ = write!(
                f.svg,
                "<path class=\"pts\" d=\"{d}\" {}><title>{} {}: {n} calls</title></path>",
                marker_style(status, colour),
                escape(name),
                status.word()
            );
        }
        legend.push(swatch(colour, name));
    }
    for status in [Status::Ok, Status::Fail, Status::Info] {
        legend.push((
            format!(
                "<path d=\"{}\" {}/>",
                marker(status, 5.0, 0.0),
                marker_style(status, "#333333")
            ),
            status.word().to_owned(),
        ));
    }
    f.legend(&legend);
    f.finish()
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
pub(crate) fn quantiles(history: &History, timeline: &Timeline) -> String {
    let groups = by_f(history, timeline);
    let width = bucket(timeline.end.max(1), 40);
    let mut series: Vec<Series> = Vec::new();
    let mut all_lat: Vec<f64> = Vec::new();
    let mut table = String::from("<table class=\"quantiles\"><thead><tr><th>f</th><th>ok</th><th>fail</th><th>info</th><th>open</th><th>p50</th><th>p95</th><th>p99</th><th>max</th></tr></thead><tbody>");
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
        let _ = write!(
            table,
            "<tr><th><span class=\"swatch\" style=\"background:{}\"></span>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            PALETTE[gi % PALETTE.len()],
            escape(name),
            counts[0],
            counts[1],
            counts[2],
            counts[3]
        );
        for (q, _, _) in QUANTILES {
            let _ = write!(table, "<td>{}</td>", human_ns(quantile(&lats, q)));
        }
        table.push_str("</tr>");
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
    table.push_str("</tbody></table>");
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
        let _ = write!(
            f.svg,
            "<path class=\"line\" d=\"{d}\" stroke=\"{colour}\" stroke-dasharray=\"{dash}\"><title>{}</title></path>",
            escape(&label)
        );
    }
    for (gi, (name, _)) in groups.iter().enumerate() {
        legend.push(swatch(PALETTE[gi % PALETTE.len()], name));
    }
    for (_, name, dash) in QUANTILES {
        legend.push((
            format!("<path d=\"M0 0h12\" stroke=\"#333333\" stroke-width=\"2\" stroke-dasharray=\"{dash}\"/>"),
            name.to_owned(),
        ));
    }
    f.legend(&legend);
    format!("{}{}", f.finish(), table)
}

/// Completed calls per second per `f`, over time windows; a dashed line for fail and info.
pub(crate) fn throughput(history: &History, timeline: &Timeline) -> String {
    let groups = by_f(history, timeline);
    let width = bucket(timeline.end.max(1), 60);
    let n = (timeline.end / width + 1) as usize;
    let per_s = 1e9 / width as f64;
    let mut lines: Vec<(String, &str, &str, Vec<f64>)> = Vec::new();
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
        let _ = write!(
            f.svg,
            "<path class=\"line\" d=\"{d}\" stroke=\"{colour}\" stroke-dasharray=\"{dash}\"><title>{}</title></path>",
            escape(label)
        );
        legend.push((
            format!("<path d=\"M0 0h12\" stroke=\"{colour}\" stroke-width=\"2\" stroke-dasharray=\"{dash}\"/>"),
            label.clone(),
        ));
    }
    f.legend(&legend);
    f.finish()
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
