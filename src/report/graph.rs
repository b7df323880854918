//! Cycles and dependency edges as a small drawn graph: the ops of an anomaly on a circle, and
//! an arrow per edge labelled with its relation (`po`, `rf`, `co`, `ww`, `wr`, `rw`,
//! `realtime`, ...), for checkers whose anomalies are cycles (causal, transactional).
//!
//! A checker opts in by putting `edges` in its anomaly's details: a list of
//! `{"from": op, "to": op, "rel": "rf"}` objects (`label` or `relation` also name the relation)
//! or `[from, to, "rf"]` triples, where `op` is an op index (`Op::index`).

use super::anomaly::Lookup;
use crate::check::Anomaly;
use std::fmt::Write;

/// Most nodes drawn; a larger graph is left to the tables.
const MAX_NODES: usize = 12;

/// One labelled edge between op indices.
#[derive(Debug, PartialEq)]
struct Edge {
    from: u64,
    to: u64,
    rel: String,
}

fn edges(anomaly: &Anomaly) -> Vec<Edge> {
    let Some(list) = anomaly.details.get("edges").and_then(|e| e.as_array()) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|e| {
            let (from, to, rel) = match e {
                serde_json::Value::Array(t) if t.len() >= 3 => {
                    (t[0].as_u64()?, t[1].as_u64()?, t[2].as_str()?)
                }
                serde_json::Value::Object(m) => (
                    m.get("from")?.as_u64()?,
                    m.get("to")?.as_u64()?,
                    ["rel", "label", "relation"]
                        .iter()
                        .find_map(|k| m.get(*k).and_then(|v| v.as_str()))?,
                ),
                _ => return None,
            };
            Some(Edge {
                from,
                to,
                rel: rel.to_string(),
            })
        })
        .collect()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The anomaly's edges drawn as an SVG graph, or nothing when it has none.
pub(crate) fn render(look: &Lookup, anomaly: &Anomaly) -> String {
    let edges = edges(anomaly);
    let mut nodes: Vec<u64> = Vec::new();
    for e in &edges {
        for n in [e.from, e.to] {
            if !nodes.contains(&n) {
                nodes.push(n);
            }
        }
    }
    if nodes.is_empty() || nodes.len() > MAX_NODES {
        return String::new();
    }
    let (w, h) = (640.0_f64, 360.0_f64);
    let (cx, cy, r) = (
        w / 2.0,
        h / 2.0,
        if nodes.len() <= 2 { 110.0 } else { 130.0 },
    );
    let at = |i: usize| {
        let a =
            -std::f64::consts::FRAC_PI_2 + i as f64 * std::f64::consts::TAU / nodes.len() as f64;
        (cx + r * a.cos(), cy + r * a.sin())
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "<figure class=\"cycle\"><svg class=\"cycle-graph\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"dependency graph of the anomaly\">\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#444\"/></marker></defs>"
    );
    for e in &edges {
        let (Some(i), Some(j)) = (
            nodes.iter().position(|&n| n == e.from),
            nodes.iter().position(|&n| n == e.to),
        ) else {
            continue;
        };
        let ((x1, y1), (x2, y2)) = (at(i), at(j));
        // Stop short of the node boxes, and bend a little so opposite edges do not overlap.
        let (dx, dy) = (x2 - x1, y2 - y1);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        let (ux, uy) = (dx / len, dy / len);
        let (sx, sy, ex, ey) = (
            x1 + ux * 38.0,
            y1 + uy * 20.0,
            x2 - ux * 38.0,
            y2 - uy * 20.0,
        );
        let (mx, my) = ((sx + ex) / 2.0 - uy * 18.0, (sy + ey) / 2.0 + ux * 18.0);
        let _ = write!(
            out,
            "<path class=\"edge edge-{rel}\" d=\"M {sx:.1} {sy:.1} Q {mx:.1} {my:.1} {ex:.1} {ey:.1}\" fill=\"none\" stroke=\"#444\" stroke-width=\"1.5\" marker-end=\"url(#arrow)\"/>\
             <text class=\"edge-label\" x=\"{mx:.1}\" y=\"{my:.1}\" text-anchor=\"middle\" font-size=\"12\" fill=\"#8a1c1c\">{rel}</text>",
            rel = escape(&e.rel)
        );
    }
    for (i, &n) in nodes.iter().enumerate() {
        let (x, y) = at(i);
        let label = look.op_label(n).unwrap_or_else(|| format!("op {n}"));
        let _ = write!(
            out,
            "<g class=\"node\" data-op=\"{n}\"><rect x=\"{:.1}\" y=\"{:.1}\" width=\"76\" height=\"34\" rx=\"5\" fill=\"#eef3fb\" stroke=\"#3a5a8c\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\">#{n}</text>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"10\">{}</text></g>",
            x - 38.0,
            y - 17.0,
            y - 3.0,
            y + 11.0,
            escape(&label)
        );
    }
    out.push_str(
        "</svg><figcaption>Each box is an op, each arrow a dependency the checker found, labelled with its relation; together they form the cycle or pattern that no allowed order can satisfy.</figcaption></figure>",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anomaly(details: serde_json::Value) -> Anomaly {
        Anomaly {
            kind: "CyclicCO".into(),
            key: None,
            ops: vec![1, 3],
            explanation: String::new(),
            details,
        }
    }

    #[test]
    fn reads_objects_and_triples() {
        let a = anomaly(serde_json::json!({"edges": [
            {"from": 1, "to": 3, "rel": "rf"},
            [3, 1, "po"],
            {"from": 1, "to": 3},
        ]}));
        assert_eq!(
            edges(&a),
            vec![
                Edge {
                    from: 1,
                    to: 3,
                    rel: "rf".into()
                },
                Edge {
                    from: 3,
                    to: 1,
                    rel: "po".into()
                },
            ]
        );
        assert!(edges(&anomaly(serde_json::Value::Null)).is_empty());
    }
}
