//! Cycles and dependency edges as a small drawn graph: the ops of an anomaly on a circle, and
//! an arrow per edge labelled with its relation (`po`, `rf`, `co`, `ww`, `wr`, `rw`,
//! `realtime`, ...), for checkers whose anomalies are cycles (causal, transactional).
//!
//! A checker opts in by putting `edges` in its anomaly's details: a list of
//! `{"from": op, "to": op, "rel": "rf"}` objects (`label` or `relation` also name the relation)
//! or `[from, to, "rf"]` triples, where `op` is an op index (`Op::index`). This file lays the
//! graph out; the page template draws it.

use super::anomaly::Lookup;
use crate::check::Anomaly;
use serde::Serialize;

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

/// One arrow of the drawn graph: a curve from `(sx, sy)` bent through `(mx, my)` to
/// `(ex, ey)`, with the relation written at the bend.
#[derive(Debug, Serialize)]
pub(crate) struct Arrow {
    rel: String,
    sx: f64,
    sy: f64,
    mx: f64,
    my: f64,
    ex: f64,
    ey: f64,
}

/// One box of the drawn graph: an op, centred at `x`, with its top-left corner, and the
/// baselines of its two lines (`#op` and the op in words).
#[derive(Debug, Serialize)]
pub(crate) struct NodeBox {
    op: u64,
    x: f64,
    left: f64,
    top: f64,
    op_y: f64,
    label_y: f64,
    label: String,
}

/// The picture of an anomaly's dependency graph, for the page template.
#[derive(Debug, Serialize)]
pub(crate) struct Graph {
    width: f64,
    height: f64,
    arrows: Vec<Arrow>,
    nodes: Vec<NodeBox>,
}

/// Rounds a coordinate to a tenth of a pixel, as drawn.
pub(super) fn r1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The anomaly's edges laid out as a graph, or `None` when it has none (or too many nodes).
pub(crate) fn layout(look: &Lookup, anomaly: &Anomaly) -> Option<Graph> {
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
        return None;
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
    let mut arrows = Vec::new();
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
        arrows.push(Arrow {
            rel: e.rel.clone(),
            sx: r1(sx),
            sy: r1(sy),
            mx: r1(mx),
            my: r1(my),
            ex: r1(ex),
            ey: r1(ey),
        });
    }
    let nodes = nodes
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let (x, y) = at(i);
            NodeBox {
                op: n,
                x: r1(x),
                left: r1(x - 38.0),
                top: r1(y - 17.0),
                op_y: r1(y - 3.0),
                label_y: r1(y + 11.0),
                label: look.op_label(n).unwrap_or_else(|| format!("op {n}")),
            }
        })
        .collect();
    Some(Graph {
        width: w,
        height: h,
        arrows,
        nodes,
    })
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
