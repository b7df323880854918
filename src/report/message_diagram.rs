//! A Lamport-style message diagram for Maelstrom runs: one column per node (clients share a
//! column at the left, services get one each at the right), time running down, and an arrow
//! per message from its sender's column at the send time to its receiver's column at the
//! delivery time. A message dropped by a partition ends half-way in a red cross. Drawn from
//! the run's `messages.jsonl` as one self-contained SVG string, for a window of time: by
//! default the stretch around the first anomaly (its ops marked as bars beside the clients'
//! column), else the first seconds of the run. Every text from the log is escaped here, so the
//! report may embed the SVG as it is.

use crate::check::CheckResult;
use crate::history::{History, OpType};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// How many arrows one diagram draws at most.
pub const MAX_ARROWS: usize = 400;

/// The window drawn when the run has no anomaly: its first seconds.
const FIRST_SECONDS: u64 = 2_000_000_000;

/// One message as the diagram needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Arrow {
    /// Sender.
    pub src: String,
    /// Receiver.
    pub dest: String,
    /// The body's `type`.
    pub kind: String,
    /// Send time, ns since the run started.
    pub sent: u64,
    /// Delivery time, or `None` when the message was dropped.
    pub delivered: Option<u64>,
}

/// Reads the arrows of a `messages.jsonl`, skipping lines it cannot read.
pub fn parse(messages_jsonl: &str) -> Vec<Arrow> {
    messages_jsonl
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            Some(Arrow {
                src: v["src"].as_str()?.to_owned(),
                dest: v["dest"].as_str()?.to_owned(),
                kind: v["body"]["type"].as_str().unwrap_or("?").to_owned(),
                sent: v["sent"].as_u64()?,
                delivered: v["delivered"].as_u64(),
            })
        })
        .collect()
}

fn column_of(name: &str) -> String {
    if name.starts_with('c') && name[1..].chars().all(|c| c.is_ascii_digit()) {
        "clients".to_owned()
    } else {
        name.to_owned()
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An op of an anomaly, drawn as a bar beside the clients' column from invoke to completion.
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    /// The op's index in the history.
    pub op: u64,
    /// What the op did, in short (`read x`, `cas ...`).
    pub label: String,
    /// Invoke time, ns.
    pub from: u64,
    /// Completion time (or the end of the history), ns.
    pub to: u64,
}

/// The diagram as the report shows it: the SVG and a sentence saying which window it is.
#[derive(Clone, Debug, Serialize)]
pub struct Diagram {
    /// A self-contained SVG element, every text in it escaped.
    pub svg: String,
    /// Which stretch of the run it shows, and why.
    pub caption: String,
}

/// The diagram of a run: the window around the first anomaly's ops (marked on it) when a
/// checker found one, else the first seconds.
pub fn for_run(messages_jsonl: &str, history: &History, results: &[CheckResult]) -> Diagram {
    let arrows = parse(messages_jsonl);
    let first = results
        .iter()
        .flat_map(|r| r.anomalies.iter().map(move |a| (r, a)))
        .find_map(|(r, a)| {
            let marks = marks(history, &a.ops);
            (!marks.is_empty()).then(|| (format!("{} ({})", a.kind, r.checker), marks))
        });
    match first {
        Some((what, marks)) => {
            // All the anomaly's ops when they are close together, else the first one's call.
            let span = |m: &[Mark]| {
                let from = m.iter().map(|m| m.from).min().unwrap_or(0);
                (from, m.iter().map(|m| m.to).max().unwrap_or(from))
            };
            let (mut from, mut to) = span(&marks);
            if to - from > FIRST_SECONDS {
                (from, to) = span(&marks[..1]);
            }
            let pad = ((to - from) / 5).max(20_000_000);
            let (from, to) = (from.saturating_sub(pad), to + pad);
            let shown: Vec<Mark> = marks
                .into_iter()
                .filter(|m| m.to >= from && m.from <= to)
                .collect();
            let ops: Vec<String> = shown.iter().map(|m| format!("#{}", m.op)).collect();
            Diagram {
                svg: svg_window(&arrows, (from, to), &shown, MAX_ARROWS),
                caption: format!(
                    "The messages from {:.3} s to {:.3} s, around the first anomaly: {what}. Its ops {} are the red bars beside the clients' column.",
                    from as f64 / 1e9,
                    to as f64 / 1e9,
                    ops.join(", ")
                ),
            }
        }
        None => {
            let from = arrows.iter().map(|a| a.sent).min().unwrap_or(0);
            let to = from + FIRST_SECONDS;
            Diagram {
                svg: svg_window(&arrows, (from, to), &[], MAX_ARROWS),
                caption: format!(
                    "The messages of the run's first seconds ({:.3} s to {:.3} s); no checker named an anomaly.",
                    from as f64 / 1e9,
                    to as f64 / 1e9
                ),
            }
        }
    }
}

/// The calls (invoke to completion) that contain the ops numbered `ops`, in that order.
fn marks(history: &History, ops: &[u64]) -> Vec<Mark> {
    let end = history.ops.last().map(|o| o.time).unwrap_or(0);
    let by_index: BTreeMap<u64, usize> = history
        .ops
        .iter()
        .enumerate()
        .map(|(p, o)| (o.index, p))
        .collect();
    let calls = history.calls();
    let mut out: Vec<Mark> = Vec::new();
    for i in ops {
        let Some(&p) = by_index.get(i) else {
            continue;
        };
        let Some(c) = calls
            .iter()
            .find(|c| c.invoke == p || c.complete == Some(p))
        else {
            continue;
        };
        let inv = &history.ops[c.invoke];
        if out.iter().any(|m| m.op == inv.index) {
            continue;
        }
        let done = c.complete.map(|q| &history.ops[q]);
        let value = done
            .filter(|d| d.kind == OpType::Ok)
            .map_or(&inv.value, |d| &d.value);
        let mut label = format!("#{} {}", inv.index, inv.f);
        if let Some(k) = &inv.key {
            let _ = write!(label, " {k}");
        }
        let v = value.to_string();
        if v != "null" {
            let _ = write!(label, " {}", v.chars().take(40).collect::<String>());
        }
        if let Some(d) = done {
            let kind = match d.kind {
                OpType::Ok => "ok",
                OpType::Fail => "fail",
                OpType::Info => "info",
                OpType::Invoke => "invoke",
            };
            let _ = write!(label, " → {kind}");
        }
        out.push(Mark {
            op: inv.index,
            label,
            from: inv.time,
            to: done.map_or(end, |d| d.time),
        });
    }
    out
}

/// The diagram of the first `max` arrows (in send order), as an SVG string.
pub fn svg(arrows: &[Arrow], max: usize) -> String {
    svg_window(arrows, (0, u64::MAX), &[], max)
}

/// The diagram of the first `max` arrows sent within `window` (ns, both ends included), with
/// `marks` as bars beside the clients' column, as an SVG string.
pub fn svg_window(arrows: &[Arrow], window: (u64, u64), marks: &[Mark], max: usize) -> String {
    let in_window: Vec<&Arrow> = arrows
        .iter()
        .filter(|a| a.sent >= window.0 && a.sent <= window.1)
        .collect();
    let shown: Vec<&Arrow> = in_window.iter().take(max).copied().collect();
    // Columns: clients, then nodes n0.. in numeric order, then anything else (services).
    let mut cols: Vec<String> = Vec::new();
    let mut add = |c: String| {
        if !cols.contains(&c) {
            cols.push(c);
        }
    };
    if !marks.is_empty() {
        add("clients".to_owned());
    }
    for a in &shown {
        add(column_of(&a.src));
        add(column_of(&a.dest));
    }
    let rank = |c: &str| -> (u8, u64, String) {
        if c == "clients" {
            (0, 0, String::new())
        } else if let Some(n) = c.strip_prefix('n').and_then(|d| d.parse::<u64>().ok()) {
            (1, n, String::new())
        } else {
            (2, 0, c.to_owned())
        }
    };
    cols.sort_by_key(|c| rank(c));
    // Room at the left for the marks' bars and their numbers.
    let left = if marks.is_empty() { 90.0 } else { 150.0 };
    let x_of: BTreeMap<&str, f64> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), left + 130.0 * i as f64))
        .collect();
    let t0 = shown
        .iter()
        .map(|a| a.sent)
        .chain(marks.iter().map(|m| m.from))
        .min()
        .unwrap_or(0);
    let t1 = shown
        .iter()
        .map(|a| a.delivered.unwrap_or(a.sent))
        .chain(marks.iter().map(|m| m.to))
        .max()
        .unwrap_or(t0)
        .max(t0 + 1);
    // Time scale: at least 14 px between successive sends, at most 4000 px in all.
    let height = (shown.len() as f64 * 14.0).clamp(200.0, 4000.0);
    let y = |t: u64| 50.0 + t.saturating_sub(t0).min(t1 - t0) as f64 / (t1 - t0) as f64 * height;
    let width = left + 130.0 * cols.len() as f64;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"message-diagram\" width=\"{width:.0}\" height=\"{:.0}\" viewBox=\"0 0 {width:.0} {:.0}\" font-family=\"sans-serif\" font-size=\"10\">\
         <defs><marker id=\"md-head\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"6\" markerHeight=\"6\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#444\"/></marker></defs>",
        height + 70.0,
        height + 70.0
    );
    for c in &cols {
        let x = x_of[c.as_str()];
        let _ = write!(
            s,
            "<text x=\"{x:.1}\" y=\"20\" text-anchor=\"middle\" font-weight=\"bold\">{}</text><line x1=\"{x:.1}\" y1=\"30\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#bbb\"/>",
            escape(c),
            height + 60.0
        );
    }
    for a in &shown {
        let (xa, xb) = (
            x_of[column_of(&a.src).as_str()],
            x_of[column_of(&a.dest).as_str()],
        );
        let ya = y(a.sent);
        let title = format!(
            "{} → {}: {} at {:.3} s",
            a.src,
            a.dest,
            a.kind,
            a.sent as f64 / 1e9
        );
        match a.delivered {
            Some(d) => {
                let yb = y(d).max(ya + 2.0);
                let _ = write!(
                    s,
                    "<g><title>{}</title><line x1=\"{xa:.1}\" y1=\"{ya:.1}\" x2=\"{xb:.1}\" y2=\"{yb:.1}\" stroke=\"#444\" marker-end=\"url(#md-head)\"/><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#555\">{}</text></g>",
                    escape(&title),
                    (xa + xb) / 2.0 + 3.0,
                    (ya + yb) / 2.0 - 2.0,
                    escape(&a.kind)
                );
            }
            None => {
                let (xm, ym) = ((xa + xb) / 2.0, ya + 8.0);
                let _ = write!(
                    s,
                    "<g><title>{} (dropped: partition)</title><line x1=\"{xa:.1}\" y1=\"{ya:.1}\" x2=\"{xm:.1}\" y2=\"{ym:.1}\" stroke=\"#c62828\" stroke-dasharray=\"3 2\"/><path d=\"M{:.1},{:.1} l8,8 m0,-8 l-8,8\" stroke=\"#c62828\"/></g>",
                    escape(&title),
                    xm - 4.0,
                    ym - 4.0
                );
            }
        }
    }
    if let Some(&xc) = x_of.get("clients") {
        for (i, m) in marks.iter().enumerate() {
            let x = xc - 12.0 - 7.0 * (i % 8) as f64;
            let (ya, yb) = (y(m.from), y(m.to).max(y(m.from) + 3.0));
            let _ = write!(
                s,
                "<g class=\"md-mark\" data-op=\"{}\"><title>{}</title><rect x=\"{:.1}\" y=\"{ya:.1}\" width=\"5\" height=\"{:.1}\" fill=\"#c62828\" fill-opacity=\"0.75\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#c62828\">#{}</text></g>",
                m.op,
                escape(&m.label),
                x,
                yb - ya,
                x - 2.0,
                ya + 9.0,
                m.op
            );
        }
    }
    if in_window.len() > shown.len() {
        let _ = write!(
            s,
            "<text x=\"10\" y=\"{:.1}\" fill=\"#555\">first {} of {} messages in this window; all are in messages.jsonl</text>",
            height + 65.0,
            shown.len(),
            in_window.len()
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_one_column_per_node_and_crosses_dropped_messages() {
        let log = concat!(
            "{\"id\":0,\"sent\":0,\"delivered\":10,\"src\":\"c3\",\"dest\":\"n1\",\"body\":{\"type\":\"broadcast\"}}\n",
            "{\"id\":1,\"sent\":20,\"delivered\":30,\"src\":\"n1\",\"dest\":\"n10\",\"body\":{\"type\":\"gossip\"}}\n",
            "{\"id\":2,\"sent\":25,\"dropped\":\"partition\",\"src\":\"n1\",\"dest\":\"n2\",\"body\":{\"type\":\"gossip\"}}\n",
            "not json\n",
        );
        let arrows = parse(log);
        assert_eq!(arrows.len(), 3);
        let svg = svg(&arrows, 100);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        let order: Vec<usize> = ["clients", ">n1<", ">n2<", ">n10<"]
            .iter()
            .map(|c| svg.find(c).unwrap())
            .collect();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "columns out of order: {order:?}"
        );
        assert_eq!(
            svg.matches("#c62828").count(),
            2,
            "one dropped message: a dashed line and a cross"
        );
        assert!(svg.contains("n1 → n2: gossip at 0.000 s (dropped: partition)"));
        assert!(!svg.contains("first 3"));
        assert!(super::svg(&arrows, 2).contains("first 2 of 3 messages"));
    }

    fn history(text: &str) -> History {
        History::parse_jsonl(text.as_bytes(), std::path::Path::new("t.jsonl")).unwrap()
    }

    const HISTORY: &str = concat!(
        "{\"index\":0,\"time\":5000000000,\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"x\",\"value\":null}\n",
        "{\"index\":1,\"time\":5010000000,\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"key\":\"x\",\"value\":3}\n",
    );

    fn log() -> String {
        // One message early in the run, one during the anomaly's op, one long after.
        [(0u64, "early"), (5_005_000_000, "<during>"), (9_000_000_000, "late")]
            .iter()
            .enumerate()
            .map(|(i, (t, k))| {
                serde_json::json!({"id": i, "sent": t, "delivered": t + 1000, "src": "c0", "dest": "n0", "body": {"type": k}})
                    .to_string()
                    + "\n"
            })
            .collect()
    }

    #[test]
    fn the_window_is_around_the_first_anomaly_with_its_ops_marked() {
        let h = history(HISTORY);
        let r = CheckResult {
            checker: "linearizable(cas-register)".into(),
            validity: crate::check::Validity::Invalid,
            summary: "not linearizable".into(),
            anomalies: vec![crate::check::Anomaly {
                kind: "nonlinearizable".into(),
                key: Some("x".into()),
                ops: vec![1],
                explanation: "read 3 of nothing".into(),
                details: serde_json::Value::Null,
            }],
            stats: serde_json::Value::Null,
        };
        let d = for_run(&log(), &h, &[r]);
        assert!(d.svg.contains("&lt;during&gt;"), "{}", d.svg);
        assert!(!d.svg.contains(">early<") && !d.svg.contains(">late<"));
        assert!(
            d.svg.contains("data-op=\"0\""),
            "the call's invoke is marked"
        );
        assert!(d.svg.contains("#0 read x 3 → ok"), "{}", d.svg);
        assert!(d.caption.contains("nonlinearizable"), "{}", d.caption);
        assert!(d.caption.contains("#0"), "{}", d.caption);
        // Without an anomaly: the first seconds.
        let d = for_run(&log(), &h, &[]);
        assert!(d.svg.contains(">early<") && !d.svg.contains("during"));
        assert!(!d.svg.contains("md-mark"));
        assert!(d.caption.contains("first seconds"));
    }
}
