//! A Lamport-style message diagram for Maelstrom runs: one column per node (clients share a
//! column at the left, services get one each at the right), time running down, and an arrow
//! per message from its sender's column at the send time to its receiver's column at the
//! delivery time. A message dropped by a partition ends half-way in a red cross. Drawn from
//! the run's `messages.jsonl` as one self-contained SVG string.

use std::collections::BTreeMap;
use std::fmt::Write;

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

/// The diagram of the first `max` arrows (in send order), as an SVG string.
pub fn svg(arrows: &[Arrow], max: usize) -> String {
    let shown: Vec<&Arrow> = arrows.iter().take(max).collect();
    // Columns: clients, then nodes n0.. in numeric order, then anything else (services).
    let mut cols: Vec<String> = Vec::new();
    let mut add = |c: String| {
        if !cols.contains(&c) {
            cols.push(c);
        }
    };
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
    let x_of: BTreeMap<&str, f64> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), 90.0 + 130.0 * i as f64))
        .collect();
    let t0 = shown.iter().map(|a| a.sent).min().unwrap_or(0);
    let t1 = shown
        .iter()
        .map(|a| a.delivered.unwrap_or(a.sent))
        .max()
        .unwrap_or(t0)
        .max(t0 + 1);
    // Time scale: at least 14 px between successive sends, at most 4000 px in all.
    let height = (shown.len() as f64 * 14.0).clamp(200.0, 4000.0);
    let y = |t: u64| 50.0 + (t - t0) as f64 / (t1 - t0) as f64 * height;
    let width = 90.0 + 130.0 * cols.len() as f64;
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
    if arrows.len() > shown.len() {
        let _ = write!(
            s,
            "<text x=\"10\" y=\"{:.1}\" fill=\"#555\">first {} of {} messages; all are in messages.jsonl</text>",
            height + 65.0,
            shown.len(),
            arrows.len()
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
}
