//! CAP, made visible: for each fault window, the fraction of client ops invoked during it that
//! completed ok (availability), on each side of a partition.
//!
//! A partition's start op names, for each node, the nodes it cannot reach; a side is the set of
//! nodes one node can still reach. Clients are placed on sides by the node they talk to: the
//! toy-store targets put process `p` on node `n(p mod N + 1)` (N nodes), so for them each side
//! gets its own figure; for other targets, and for faults other than partitions, the window
//! gets one figure for all clients. Ops still open at the end of the history count as not ok.

use super::timeline::FaultWindow;
use crate::history::{History, OpType, Process};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

/// Availability of one side of one fault window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SideAvailability {
    /// The side's nodes, e.g. `n2, n3`; `all clients` when clients are not placed on sides
    /// (with a word why, for a partition).
    pub side: String,
    /// `minority`, `majority` or `half` for a partition side; empty otherwise.
    pub kind: String,
    /// Client ops invoked in the window from this side.
    pub invoked: usize,
    /// Of those, how many completed ok.
    pub ok: usize,
    /// `ok / invoked`, or `None` when nothing was invoked.
    pub fraction: Option<f64>,
}

/// Availability during one fault window, per side.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowAvailability {
    /// The window's label (its start op's `f` and value).
    pub fault: String,
    /// When it began and was healed, in seconds.
    pub from: f64,
    /// When it was healed, in seconds (the history's end if never).
    pub to: f64,
    /// One entry per side (one in all for a fault that is not a partition).
    pub sides: Vec<SideAvailability>,
}

/// The sides of a partition: for each node, the nodes it can still reach, deduplicated.
fn sides(cuts: &serde_json::Value, nodes: usize) -> Vec<BTreeSet<String>> {
    let mut cut: HashMap<String, BTreeSet<String>> = HashMap::new();
    let pairs = cuts.as_array().map(Vec::as_slice).unwrap_or(&[]);
    for pair in pairs {
        if let (Some(n), Some(others)) = (pair[0].as_str(), pair[1].as_array()) {
            let others = others.iter().filter_map(|o| o.as_str().map(String::from));
            cut.insert(n.to_string(), others.collect());
        }
    }
    let every: Vec<String> = (1..=nodes).map(|i| format!("n{i}")).collect();
    let mut out: Vec<BTreeSet<String>> = Vec::new();
    for n in &every {
        let none = BTreeSet::new();
        let unreachable = cut.get(n).unwrap_or(&none);
        let side: BTreeSet<String> = every
            .iter()
            .filter(|m| !unreachable.contains(*m))
            .cloned()
            .collect();
        if !out.contains(&side) {
            out.push(side);
        }
    }
    out.sort_by_key(|s| (s.len(), s.iter().next().cloned()));
    out
}

/// How many nodes the run had, and whether clients map to nodes by `p mod N` (toy stores).
fn placement(history: &History) -> Option<usize> {
    let run = history.header.as_ref()?.run.as_ref()?;
    let target = run.get("target")?.as_str()?;
    crate::node::StoreKind::from_name(target)?;
    let nodes = run.get("nodes").and_then(|n| n.as_u64()).unwrap_or(3);
    usize::try_from(nodes).ok().filter(|&n| n > 0)
}

/// Availability for every fault window of `windows`.
pub(crate) fn per_window(history: &History, windows: &[FaultWindow]) -> Vec<WindowAvailability> {
    // Each client op: invoke time, process, whether it completed ok.
    let mut open: HashMap<u64, u64> = HashMap::new();
    let mut calls: Vec<(u64, u64, bool)> = Vec::new();
    for op in &history.ops {
        let Process::Client(p) = op.process else {
            continue;
        };
        match op.kind {
            OpType::Invoke => {
                open.insert(p, op.time);
            }
            kind => {
                if let Some(t) = open.remove(&p) {
                    calls.push((t, p, kind == OpType::Ok));
                }
            }
        }
    }
    calls.extend(open.into_iter().map(|(p, t)| (t, p, false)));
    let nodes = placement(history);
    windows
        .iter()
        .map(|w| {
            let value = serde_json::to_value(&w.target).unwrap_or(serde_json::Value::Null);
            let partition = w.family == "partition";
            let groups: Vec<BTreeSet<String>> = match nodes {
                Some(n) if partition => sides(&value[1], n),
                _ => Vec::new(),
            };
            // Which side a client was on is known only where clients map to nodes.
            let all = if partition && nodes.is_none() {
                "all clients (which side each client was on is known only for the toy stores)"
            } else {
                "all clients"
            };
            let inside = |&&(t, _, _): &&(u64, u64, bool)| t >= w.start && t < w.end;
            let side_of = |side: Option<&BTreeSet<String>>, kind: String| {
                let mine: Vec<&(u64, u64, bool)> = calls
                    .iter()
                    .filter(inside)
                    .filter(|(_, p, _)| match (side, nodes) {
                        (Some(s), Some(n)) => s.contains(&format!("n{}", p % n as u64 + 1)),
                        _ => true,
                    })
                    .collect();
                let ok = mine.iter().filter(|c| c.2).count();
                SideAvailability {
                    side: side.map_or(all.to_string(), |s| {
                        s.iter().cloned().collect::<Vec<_>>().join(", ")
                    }),
                    kind,
                    invoked: mine.len(),
                    ok,
                    fraction: (!mine.is_empty()).then(|| ok as f64 / mine.len() as f64),
                }
            };
            let sides = if groups.len() > 1 {
                let n = nodes.unwrap_or(0);
                groups
                    .iter()
                    .map(|g| {
                        let kind = match (g.len() * 2).cmp(&n) {
                            std::cmp::Ordering::Less => "minority",
                            std::cmp::Ordering::Equal => "half",
                            std::cmp::Ordering::Greater => "majority",
                        };
                        side_of(Some(g), kind.to_string())
                    })
                    .collect()
            } else {
                vec![side_of(None, String::new())]
            };
            WindowAvailability {
                fault: w.label.clone(),
                from: w.start as f64 / 1e9,
                to: w.end as f64 / 1e9,
                sides,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_node_cut_off_makes_a_minority_and_a_majority_side() {
        let cuts = serde_json::json!([["n1", ["n2", "n3"]], ["n2", ["n1"]], ["n3", ["n1"]]]);
        let s = sides(&cuts, 3);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].iter().cloned().collect::<Vec<_>>(), ["n1"]);
        assert_eq!(s[1].iter().cloned().collect::<Vec<_>>(), ["n2", "n3"]);
        // No cuts: one side with every node.
        assert_eq!(sides(&serde_json::json!([]), 3).len(), 1);
    }
}
