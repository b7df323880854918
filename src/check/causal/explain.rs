//! Causal anomalies in words: each pattern found becomes an [`Anomaly`] whose explanation is a
//! chain of po/rf/cf/hb edges between named ops, with the reasons for every derived (cf, hb)
//! edge, and whose details carry the same edges as data.

use super::graph::{key_text, CausalGraph, CausalModel, Edge, EventKind};
use crate::check::Anomaly;
use crate::history::History;
use serde_json::json;
use std::collections::HashSet;

/// A chain or cycle of edges `(from, to, relation)` over op ids of the graph.
pub(super) type Chain = Vec<(usize, usize, Edge)>;

/// What the arrows of a chain mean, appended to explanations that use them.
pub(super) const LEGEND: &str =
    "po: the same process ran the first op before the second; rf: the read \
                      returned the value the write wrote";

/// Why a derived (cf or hb) edge `a -> b` holds: the path from `a` to the read that returned
/// `b`'s value.
pub(super) struct Reason {
    /// The derived edge.
    pub(super) edge: (usize, usize, Edge),
    /// The path that forces it.
    pub(super) path: Chain,
}

pub(super) fn reason_text(history: &History, g: &CausalGraph, r: &Reason) -> String {
    let (a, b, l) = r.edge;
    let (Edge::Cf(read) | Edge::Hb(read)) = l else {
        return String::new();
    };
    let e = &g.events[read];
    format!(
        "{} -{}-> {} because process {} read {}={} (op {}) after {}: {}",
        describe(history, g, a),
        relation(l),
        describe(history, g, b),
        e.process,
        key_text(&g.keys[e.key]),
        e.value,
        history.ops[e.origin.0].index,
        if matches!(l, Edge::Cf(_)) {
            "the first write was in its causal past"
        } else {
            "it had seen the first write"
        },
        chain_text(history, g, &r.path)
    )
}

/// The reasons as one sentence to append to an explanation ("" when there are none).
pub(super) fn reasons_text(history: &History, g: &CausalGraph, why: &[Reason]) -> String {
    if why.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = why.iter().map(|r| reason_text(history, g, r)).collect();
    format!(" Why: {}.", parts.join("; "))
}

/// One op in a few words: "process 1's write kx=1 (op 4)".
pub(super) fn describe(history: &History, g: &CausalGraph, id: usize) -> String {
    let e = &g.events[id];
    let key = key_text(&g.keys[e.key]);
    let index = history.ops[e.origin.0].index;
    match e.kind {
        EventKind::Write => format!(
            "process {}'s write {key}={}{} (op {index})",
            e.process,
            e.value,
            if e.certain { "" } else { ", outcome unknown" }
        ),
        EventKind::Read => format!(
            "process {}'s read {key}={}{} (op {index})",
            e.process,
            e.value,
            if g.reads_initial(id) {
                ", the initial value"
            } else {
                ""
            }
        ),
    }
}

pub(super) fn relation(l: Edge) -> &'static str {
    match l {
        Edge::Po => "po",
        Edge::Rf => "rf",
        Edge::Cf(_) => "cf",
        Edge::Hb(_) => "hb",
        Edge::Co => "co",
    }
}

/// A chain in words: "A -po-> B -rf-> C".
pub(super) fn chain_text(
    history: &History,
    g: &CausalGraph,
    chain: &[(usize, usize, Edge)],
) -> String {
    let Some(first) = chain.first() else {
        return String::new();
    };
    let mut s = describe(history, g, first.0);
    for &(_, b, l) in chain {
        let why = match l {
            Edge::Cf(r) | Edge::Hb(r) => {
                format!(" (op {})", history.ops[g.events[r].origin.0].index)
            }
            _ => String::new(),
        };
        s.push_str(&format!(
            " -{}{why}-> {}",
            relation(l),
            describe(history, g, b)
        ));
    }
    s
}

pub(super) fn event_json(history: &History, g: &CausalGraph, id: usize) -> serde_json::Value {
    let e = &g.events[id];
    let inv = &history.ops[e.origin.0];
    let done = e.origin.1.map(|i| &history.ops[i]);
    json!({
        "index": inv.index,
        "completion_index": done.map(|d| d.index),
        "process": e.process,
        "f": inv.f,
        "key": g.keys[e.key],
        "value": e.value,
        "type": done.map(|d| d.kind),
        "description": describe(history, g, id),
    })
}

pub(super) fn details(
    history: &History,
    g: &CausalGraph,
    model: CausalModel,
    kind: &str,
    chain: &[(usize, usize, Edge)],
    extra: &[usize],
    why: &[Reason],
) -> serde_json::Value {
    let idx = |id: usize| history.ops[g.events[id].origin.0].index;
    let edges = |c: &[(usize, usize, Edge)]| -> Vec<serde_json::Value> {
        c.iter()
            .map(|&(a, b, l)| {
                let mut e = json!({"from": idx(a), "to": idx(b), "relation": relation(l)});
                if let Edge::Cf(r) | Edge::Hb(r) = l {
                    e["because_of_read"] = json!(idx(r));
                }
                e
            })
            .collect()
    };
    let mut ids: Vec<usize> = extra.to_vec();
    for &(a, b, _) in chain {
        for v in [a, b] {
            if !ids.contains(&v) {
                ids.push(v);
            }
        }
    }
    json!({
        "pattern": kind,
        "rules_out": model.name(),
        "edges": edges(chain),
        "because": why.iter().map(|r| json!({
            "edge": edges(&[r.edge]),
            "path": edges(&r.path),
            "explanation": reason_text(history, g, r),
        })).collect::<Vec<_>>(),
        "ops": ids.iter().map(|&v| event_json(history, g, v)).collect::<Vec<_>>(),
    })
}

/// Op indices: `first` in order, then every op of the chain in order of appearance.
pub(super) fn op_indices(
    history: &History,
    g: &CausalGraph,
    first: &[usize],
    chain: &[(usize, usize, Edge)],
) -> Vec<u64> {
    let mut ids: Vec<usize> = first.to_vec();
    for &(a, b, _) in chain {
        for v in [a, b] {
            if !ids.contains(&v) {
                ids.push(v);
            }
        }
    }
    ids.iter()
        .map(|&v| history.ops[g.events[v].origin.0].index)
        .collect()
}

/// `ops` followed by the ops of the reasons' paths not already in it.
pub(super) fn with_reasons(
    history: &History,
    g: &CausalGraph,
    mut ops: Vec<u64>,
    why: &[Reason],
) -> Vec<u64> {
    for r in why {
        for i in op_indices(history, g, &[], &r.path) {
            if !ops.contains(&i) {
                ops.push(i);
            }
        }
    }
    ops
}

pub(super) fn thin_air(history: &History, g: &CausalGraph, r: usize) -> Anomaly {
    let e = &g.events[r];
    let key = key_text(&g.keys[e.key]);
    let failed = g
        .failed_writes
        .get(&(e.key, e.value.clone()))
        .map(|i| format!("; only a failed write of it (op {i}), which certainly did not happen"))
        .unwrap_or_default();
    Anomaly {
        kind: "ThinAirRead".into(),
        key: g.keys[e.key].clone(),
        ops: op_indices(history, g, &[r], &[]),
        explanation: format!(
            "{} returned a value that no op wrote to {key}{failed}: a read can only return the \
             initial value or a written one",
            describe(history, g, r)
        ),
        details: details(history, g, CausalModel::CC, "ThinAirRead", &[], &[r], &[]),
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn init_read(
    history: &History,
    g: &CausalGraph,
    kind: &str,
    model: CausalModel,
    r: usize,
    w: usize,
    c: &[(usize, usize, Edge)],
    why: &[Reason],
) -> Anomaly {
    let e = &g.events[r];
    let key = key_text(&g.keys[e.key]);
    let read = format!(
        "process {} read {key}'s initial value {} (op {})",
        e.process, e.value, history.ops[e.origin.0].index
    );
    let write = describe(history, g, w);
    let chain = chain_text(history, g, c);
    let reasons = reasons_text(history, g, why);
    let explanation = if model == CausalModel::CC {
        format!(
            "{read} although it had causally seen {write}: {chain}. Once a process has seen a \
             write to {key}, it can no longer read {key}'s initial value ({LEGEND})"
        )
    } else {
        format!(
            "{read} although, to explain its other reads, process {} must have seen {write} \
             before: {chain}.{reasons} Causal memory asks every process to see one order of \
             the writes that explains all its reads ({LEGEND}; hb (op r): the process's read r \
             returned the second write's value after it had seen the first, so it saw the \
             first before the second)",
            e.process
        )
    };
    Anomaly {
        kind: kind.into(),
        key: g.keys[e.key].clone(),
        ops: with_reasons(history, g, op_indices(history, g, &[r, w], c), why),
        explanation,
        details: details(history, g, model, kind, c, &[r, w], why),
    }
}

pub(super) fn write_co_read(
    history: &History,
    g: &CausalGraph,
    r: usize,
    w1: usize,
    w2: usize,
    chain: &[(usize, usize, Edge)],
) -> Anomaly {
    let e = &g.events[r];
    let key = key_text(&g.keys[e.key]);
    let v2 = &g.events[w2].value;
    Anomaly {
        kind: "WriteCORead".into(),
        key: g.keys[e.key].clone(),
        ops: op_indices(history, g, &[r, w1, w2], chain),
        explanation: format!(
            "process {} read {key}={} after it had causally seen the write {key}={v2} that \
             overwrote {}: {}. The value read is older than a write the reader already knew \
             about ({LEGEND})",
            e.process,
            e.value,
            e.value,
            chain_text(history, g, chain)
        ),
        details: details(
            history,
            g,
            CausalModel::CC,
            "WriteCORead",
            chain,
            &[r, w1, w2],
            &[],
        ),
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn cyclic(
    history: &History,
    g: &CausalGraph,
    kind: &str,
    model: CausalModel,
    c: &[(usize, usize, Edge)],
    p: Option<usize>,
    why: &[Reason],
) -> Anomaly {
    let text = chain_text(history, g, c);
    let reasons = reasons_text(history, g, why);
    let explanation = match kind {
        "CyclicCO" => format!(
            "these ops cause each other in a circle: {text}. An op cannot come causally before \
             itself: some read returned a value written causally after it ({LEGEND})"
        ),
        "CyclicCF" => format!(
            "the writes cannot be put in one order that every process agrees on: {text}.\
             {reasons} Causal convergence needs such an order ({LEGEND}; cf (op r): read r returned the \
             second write's value after it had seen the first write to the same key, so the \
             first must be ordered before the second)"
        ),
        _ => {
            let proc_name = p
                .and_then(|p| g.reads_by_process[p].first())
                .map(|&r| g.events[r].process.to_string())
                .unwrap_or_default();
            format!(
                "process {proc_name} cannot order the writes it saw in any way that explains all \
                 its reads: {text}.{reasons} Causal memory asks every process to see one such order \
                 ({LEGEND}; hb (op r): this process's read r returned the second write's \
                 value after it had seen the first write to the same key, so it saw the first \
                 before the second)"
            )
        }
    };
    let key = {
        let ks: HashSet<usize> = c
            .iter()
            .flat_map(|&(a, b, _)| [g.events[a].key, g.events[b].key])
            .collect();
        if ks.len() == 1 {
            ks.into_iter().next().and_then(|k| g.keys[k].clone())
        } else {
            None
        }
    };
    let mut ops = op_indices(history, g, &[], c);
    for &(_, _, l) in c {
        if let Edge::Cf(r) | Edge::Hb(r) = l {
            let i = history.ops[g.events[r].origin.0].index;
            if !ops.contains(&i) {
                ops.push(i);
            }
        }
    }
    Anomaly {
        kind: kind.into(),
        key,
        ops: with_reasons(history, g, ops, why),
        explanation,
        details: details(history, g, model, kind, c, &[], why),
    }
}
