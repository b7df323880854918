//! A fast, sound refutation of sequential consistency for register histories with unique
//! written values: a cycle in the orders any sequential witness would have to respect.
//!
//! Deciding sequential consistency is NP-complete even when each read names the write it read
//! from (Gibbons & Korach 1997), so [`crate::check::sequential`] searches, and on a history
//! that is *not* sequentially consistent the search must exhaust every order before it can
//! say so; on a few thousand ops that takes longer than any budget. Most violations, though,
//! are visible as a cycle in relations every witness order must contain (the *coherence*
//! reasoning of axiomatic memory models: Alglave et al., "Herding cats", TOPLAS 2014):
//!
//! * **po**: each process's ops in its own order;
//! * **rf**: the write a read returns comes before the read;
//! * **fr from the initial value**: a read of a key's initial value comes before every write
//!   of that key;
//! * **co (inferred)**: if another write `w'` of the key must come before a read `r` of `w`,
//!   then `w'` comes before `w` (else `r` would return `w'`);
//! * **fr (inferred)**: if `w` must come before another write `w'` of the key, then every read
//!   of `w` comes before `w'`.
//!
//! The inferred edges are added until nothing changes; a cycle at any point proves that no
//! sequential order exists. No cycle proves nothing (the search still has to decide), so
//! [`refute`] answers `Some(anomaly)` or `None`. The classic store-buffer pattern of an
//! asynchronously replicated store (p1 writes x then reads y's old value while p2 writes y then
//! reads x's old value) is such a cycle: po, fr, po, fr. Reachability is kept as bit rows, so
//! the check is for histories of at most [`MAX_OPS`] ops.

use crate::check::causal::{CausalGraph, Edge, EventKind};
use crate::check::result::Anomaly;
use crate::history::{History, Value};
use std::time::Instant;

/// The most ops (reads and writes kept in the graph) the refutation looks at.
pub const MAX_OPS: usize = 20_000;

/// Why one edge of the cycle must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Why {
    Po,
    Rf,
    InitRead,
    /// `w'` before `w`: the read (third) of `w` must come after `w'`.
    Co(usize),
    /// A read of `w` (the second) before `w'`: `w` must come before `w'`.
    Fr(usize),
}

/// Looks for a cycle that rules sequential consistency out, until `deadline`. `None` when it
/// finds none, the history is not a differentiated register history, or it is too long.
pub fn refute(history: &History, initial: &Value, deadline: Option<Instant>) -> Option<Anomaly> {
    let g = CausalGraph::build(history, initial).ok()?;
    let n = g.len();
    if n == 0 || n > MAX_OPS {
        return None;
    }
    // Writes that took effect: acknowledged, or unknown but read by someone.
    let mut effective: Vec<bool> = g
        .events
        .iter()
        .map(|e| e.kind == EventKind::Write && e.certain)
        .collect();
    for e in &g.events {
        if let Some(w) = e.writer {
            effective[w] = true;
        }
    }
    let mut out: Vec<Vec<(usize, Why)>> = vec![Vec::new(); n];
    for &(a, b, rel) in &g.edges {
        let why = match rel {
            Edge::Po => Why::Po,
            Edge::Rf => Why::Rf,
            _ => continue,
        };
        out[a].push((b, why));
    }
    for (r, e) in g.events.iter().enumerate() {
        if e.kind == EventKind::Read && e.writer.is_none() && g.reads_initial(r) {
            for &w in &g.writes[e.key] {
                if effective[w] {
                    out[r].push((w, Why::InitRead));
                }
            }
        }
    }
    let words = n.div_ceil(64);
    for _round in 0..64 {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let reach = match closure(&out, words) {
            Ok(reach) => reach,
            Err(cycle) => return Some(explain(history, &g, &cycle)),
        };
        let has = |a: usize, b: usize| reach[a * words + b / 64] >> (b % 64) & 1 == 1;
        let mut added = false;
        for (r, e) in g.events.iter().enumerate() {
            let Some(w) = e.writer.filter(|_| e.kind == EventKind::Read) else {
                continue;
            };
            for &w2 in &g.writes[e.key] {
                if w2 == w || !effective[w2] {
                    continue;
                }
                if has(w2, r) && !has(w2, w) {
                    out[w2].push((w, Why::Co(r)));
                    added = true;
                }
                if has(w, w2) && !has(r, w2) {
                    out[r].push((w2, Why::Fr(w)));
                    added = true;
                }
            }
        }
        if !added {
            return None;
        }
    }
    None
}

/// Reachability bit rows (`reach[a]` has bit `b` when a path leads from `a` to `b`), or a
/// cycle as a list of (op, why it must precede the next).
fn closure(out: &[Vec<(usize, Why)>], words: usize) -> Result<Vec<u64>, Vec<(usize, Why)>> {
    let n = out.len();
    let mut indegree = vec![0usize; n];
    for edges in out {
        for &(b, _) in edges {
            indegree[b] += 1;
        }
    }
    let mut order: Vec<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
    let mut head = 0;
    while head < order.len() {
        let a = order[head];
        head += 1;
        for &(b, _) in &out[a] {
            indegree[b] -= 1;
            if indegree[b] == 0 {
                order.push(b);
            }
        }
    }
    if order.len() < n {
        return Err(find_cycle(out, &indegree));
    }
    let mut reach = vec![0u64; n * words];
    for &a in order.iter().rev() {
        for &(b, _) in &out[a] {
            reach[a * words + b / 64] |= 1 << (b % 64);
            for k in 0..words {
                let v = reach[b * words + k];
                reach[a * words + k] |= v;
            }
        }
    }
    Ok(reach)
}

/// A cycle among the ops Kahn's algorithm could not order (those left with in-degree > 0).
fn find_cycle(out: &[Vec<(usize, Why)>], left: &[usize]) -> Vec<(usize, Why)> {
    let Some(start) = (0..out.len()).find(|&i| left[i] > 0) else {
        return Vec::new();
    };
    // Walk forward inside the unordered ops until a node repeats: every such op has an
    // unordered predecessor, so walk backwards instead, which always continues.
    let mut preds: Vec<Vec<(usize, Why)>> = vec![Vec::new(); out.len()];
    for (a, edges) in out.iter().enumerate() {
        for &(b, why) in edges {
            if left[a] > 0 && left[b] > 0 {
                preds[b].push((a, why));
            }
        }
    }
    let mut seen = vec![usize::MAX; out.len()];
    let mut path: Vec<(usize, Why)> = Vec::new();
    let mut at = start;
    loop {
        if seen[at] != usize::MAX {
            let from = seen[at];
            let mut cycle: Vec<(usize, Why)> = path[from..].to_vec();
            // The path runs backwards (each entry: an op and why its predecessor precedes it).
            cycle.reverse();
            return cycle;
        }
        seen[at] = path.len();
        let Some(&(p, why)) = preds[at].first() else {
            return Vec::new();
        };
        path.push((at, why));
        at = p;
    }
}

/// The cycle in words: each op, and why it must come before the next.
fn explain(history: &History, g: &CausalGraph, cycle: &[(usize, Why)]) -> Anomaly {
    let op_text = |id: usize| {
        let e = &g.events[id];
        let inv = &history.ops[e.origin.0];
        let key = inv.key.as_deref().unwrap_or("the register");
        match e.kind {
            EventKind::Write => format!(
                "#{} (process {} writes {} to {key})",
                inv.index, e.process, e.value
            ),
            EventKind::Read => format!(
                "#{} (process {} reads {} from {key})",
                inv.index, e.process, e.value
            ),
        }
    };
    let index = |id: usize| history.ops[g.events[id].origin.0].index;
    // Entries are (op, why the previous op precedes it); rotate so each step reads forwards.
    let mut steps = Vec::new();
    let k = cycle.len();
    for i in 0..k {
        let (a, _) = cycle[i];
        let (b, why) = cycle[(i + 1) % k];
        let reason = match why {
            Why::Po => "its own process ran it first".to_string(),
            Why::Rf => "the read returned the value it wrote".to_string(),
            Why::InitRead => {
                "the read saw the initial value, so it came before every write of the key"
                    .to_string()
            }
            Why::Co(r) => format!(
                "the first must come before {}, which returned the second's value, so the first \
                 cannot come after the second",
                op_text(r)
            ),
            Why::Fr(w) => format!(
                "the read returned the value of {}, which must come before that write, so a read \
                 after the write could not have returned it",
                op_text(w)
            ),
        };
        steps.push(format!("{} before {}: {reason}", op_text(a), op_text(b)));
    }
    Anomaly {
        kind: "sequential-cycle".into(),
        key: None,
        ops: cycle.iter().map(|&(id, _)| index(id)).collect(),
        explanation: format!(
            "not sequentially consistent: no single order of all ops keeps every process's order \
             and gives every read the latest write, because these {} ops would each have to \
             come before the next, in a circle: {}",
            k,
            steps.join("; ")
        ),
        details: serde_json::Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Op, OpType, Process};

    /// Calls `(process, f, key, value)`, each completing before the next begins.
    fn history(calls: &[(u64, &str, &str, Option<i64>)]) -> History {
        let mut ops = Vec::new();
        for (i, (p, f, k, v)) in calls.iter().enumerate() {
            let v = v.map_or(Value::Nil, Value::Int);
            let arg = if *f == "read" { Value::Nil } else { v.clone() };
            for (j, (kind, value)) in [(OpType::Invoke, arg), (OpType::Ok, v)]
                .into_iter()
                .enumerate()
            {
                ops.push(Op {
                    index: (2 * i + j) as u64,
                    time: (2 * i + j) as u64,
                    process: Process::Client(*p),
                    kind,
                    f: (*f).into(),
                    key: Some((*k).into()),
                    value,
                    error: None,
                });
            }
        }
        History { header: None, ops }
    }

    #[test]
    fn the_store_buffer_pattern_is_a_cycle() {
        let h = history(&[
            (1, "write", "x", Some(1)),
            (2, "write", "y", Some(2)),
            (1, "read", "y", None),
            (2, "read", "x", None),
        ]);
        let a = refute(&h, &Value::Nil, None).expect("a cycle");
        assert_eq!(a.kind, "sequential-cycle");
        assert_eq!(a.ops.len(), 4, "{}", a.explanation);
        assert!(a.explanation.contains("initial value"), "{}", a.explanation);
    }

    #[test]
    fn disagreeing_on_the_order_of_two_writes_is_a_cycle() {
        // p3 sees 1 then 2, p4 sees 2 then 1: the writes cannot be ordered.
        let h = history(&[
            (1, "write", "x", Some(1)),
            (2, "write", "x", Some(2)),
            (3, "read", "x", Some(1)),
            (4, "read", "x", Some(2)),
            (3, "read", "x", Some(2)),
            (4, "read", "x", Some(1)),
        ]);
        assert!(refute(&h, &Value::Nil, None).is_some());
    }

    #[test]
    fn a_sequentially_consistent_history_has_no_cycle() {
        // Stale in real time, but p2 may go first.
        let h = history(&[
            (1, "write", "x", Some(1)),
            (2, "read", "x", None),
            (2, "write", "y", Some(2)),
            (1, "read", "y", Some(2)),
        ]);
        assert!(refute(&h, &Value::Nil, None).is_none());
    }
}
