//! The bad patterns of the causal models (see the parent module), each found in polynomial
//! time on the causal graph, with the paths that prove them (see `explain` for the words).

use super::clocks::{topo_order, Chains, Clocks};
use super::explain::{cyclic, init_read, thin_air, write_co_read, Chain, Reason};
use super::graph::{
    BitMatrix, CausalGraph, CausalModel, CausalReport, Edge, EventKind, MAX_CM_OPS,
};
use crate::check::Anomaly;
use crate::history::History;
use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};
use rayon::prelude::*;
use std::collections::{HashMap, HashSet, VecDeque};

/// Searches every pattern and adds what it finds to `report`: the CC patterns first; when
/// none is found, the CCv and CM ones (CM only up to [`MAX_CM_OPS`] ops).
pub fn search_all(history: &History, g: &CausalGraph, chains: Chains, report: &mut CausalReport) {
    for (id, e) in g.events.iter().enumerate() {
        if e.kind == EventKind::Read && e.thin_air && report.explains("ThinAirRead") {
            report.add(CausalModel::CC, thin_air(history, g, id));
        }
    }
    let succ = successors(g.len(), g.edges.iter().copied());
    let Some(order) = topo_order(g.len(), &succ) else {
        // co is cyclic: report each cycle; the other patterns presuppose a causal order.
        let graph = g.digraph();
        for scc in tarjan_scc(&graph).into_iter().filter(|c| c.len() > 1) {
            if !report.explains("CyclicCO") {
                continue;
            }
            let members: HashSet<usize> = scc.iter().map(|n| n.index()).collect();
            let start = scc.iter().map(|n| n.index()).min().unwrap_or(0);
            if let Some(c) = cycle(&succ, start, |v| members.contains(&v)) {
                report.add(
                    CausalModel::CC,
                    cyclic(history, g, "CyclicCO", CausalModel::CC, &c, None, &[]),
                );
            }
        }
        return;
    };
    let co = {
        let preds = predecessors(g.len(), g.edges.iter().copied());
        Clocks::new(g, chains, &order, &preds)
    };

    for r in 0..g.len() {
        let e = &g.events[r];
        if e.kind != EventKind::Read || e.thin_air {
            continue;
        }
        match e.writer {
            None => {
                // WriteCOInitRead: the latest co-earlier write to the key, if any.
                if let Some(w) = co.latest_write_before(r, e.key) {
                    if !report.explains("WriteCOInitRead") {
                        continue;
                    }
                    let p = path(&succ, w, r, |_| true).unwrap_or_default();
                    report.add(
                        CausalModel::CC,
                        init_read(
                            history,
                            g,
                            "WriteCOInitRead",
                            CausalModel::CC,
                            r,
                            w,
                            &p,
                            &[],
                        ),
                    );
                }
            }
            Some(w1) => {
                if let Some(w2) = co.overwrite_before(r, e.key, w1) {
                    if !report.explains("WriteCORead") {
                        continue;
                    }
                    let mut p = path(&succ, w1, w2, |_| true).unwrap_or_default();
                    p.extend(path(&succ, w2, r, |_| true).unwrap_or_default());
                    report.add(CausalModel::CC, write_co_read(history, g, r, w1, w2, &p));
                }
            }
        }
    }
    if !report.cc.is_empty() {
        return;
    }

    // CCv: co ∪ cf must be acyclic. An edge w1 -cf-> w2 already implied by co is left out, and
    // so is one implied by a later write of w1's chain (see `Clocks::conflicts`).
    let mut cf: Chain = Vec::new();
    for r in 0..g.len() {
        let e = &g.events[r];
        let Some(w2) = e.writer else { continue };
        cf.extend(
            co.conflicts(r, e.key, w2)
                .into_iter()
                .map(|w1| (w1, w2, Edge::Cf(r))),
        );
    }
    let all: Chain = g.edges.iter().copied().chain(cf.iter().copied()).collect();
    let succ_all = successors(g.len(), all.iter().copied());
    if !cf.is_empty() && topo_order(g.len(), &succ_all).is_none() {
        let mut both: DiGraph<(), Edge> = DiGraph::with_capacity(g.len(), all.len());
        for _ in 0..g.len() {
            both.add_node(());
        }
        for &(a, b, l) in &all {
            both.add_edge(NodeIndex::new(a), NodeIndex::new(b), l);
        }
        for scc in tarjan_scc(&both).into_iter().filter(|c| c.len() > 1) {
            if !report.explains("CyclicCF") {
                continue;
            }
            let members: HashSet<usize> = scc.iter().map(|n| n.index()).collect();
            // Every cycle has a cf edge (co is acyclic): start from one, for a short cycle.
            let start = cf
                .iter()
                .find(|(a, b, _)| members.contains(a) && members.contains(b))
                .map_or(scc[0].index(), |e| e.0);
            if let Some(c) = cycle(&succ_all, start, |v| members.contains(&v)) {
                let why = reasons(&c, &|(a, _, l)| match l {
                    Edge::Cf(r) => path(&succ, a, r, |_| true),
                    _ => None,
                });
                report.add(
                    CausalModel::CCv,
                    cyclic(history, g, "CyclicCF", CausalModel::CCv, &c, None, &why),
                );
            }
        }
    }
    drop((all, succ_all, cf));

    if g.len() > MAX_CM_OPS {
        report.cm_unchecked = true;
        return;
    }
    // CM: one hb relation per process.
    let found: Vec<Anomaly> = (0..g.reads_by_process.len())
        .into_par_iter()
        .filter_map(|p| causal_memory(history, g, &co, &succ, p))
        .collect();
    for a in found {
        report.add(CausalModel::CM, a);
    }
}

/// Searches `hb_p` for process `p` (index into `reads_by_process`) for `CyclicHB` and
/// `WriteHBInitRead`. `hb_p` lives on the causal past of p's last read, which holds every op
/// that can reach one of p's reads.
fn causal_memory(
    history: &History,
    g: &CausalGraph,
    co: &Clocks,
    succ: &[Vec<(usize, Edge)>],
    p: usize,
) -> Option<Anomaly> {
    let reads = &g.reads_by_process[p];
    // CM is searched only when CC holds. Then a process with one read cannot break it (its hb
    // adds edges only into that read's write, and a cycle through one would be a WriteCORead),
    // nor can a process whose reads force no write order beyond co (its hb is co itself).
    if reads.iter().filter(|&&r| !g.events[r].thin_air).count() < 2 {
        return None;
    }
    let forces_more = reads.iter().any(|&r| {
        let e = &g.events[r];
        e.writer
            .is_some_and(|w1| co.concurrent_write_before(r, e.key, w1))
    });
    if !forces_more {
        return None;
    }
    let &last = reads.last()?;
    // The graph of hb_p keeps only the writes and p's reads of the causal past of p's last
    // read; the other processes' reads only carry co paths, which become direct `Co` edges.
    let mine: HashSet<usize> = reads.iter().copied().collect();
    let in_past = |v: usize| v == last || co.has(last, v);
    let keep = |v: usize| g.events[v].kind == EventKind::Write || mine.contains(&v);
    let nodes: Vec<usize> = (0..g.len()).filter(|&v| in_past(v) && keep(v)).collect();
    let mut local = vec![usize::MAX; g.len()];
    for (i, &v) in nodes.iter().enumerate() {
        local[v] = i;
    }
    let m = nodes.len();
    let mut base: Chain = Vec::new();
    for chain in &g.by_process {
        let mut prev: Option<usize> = None;
        let mut pending: Vec<usize> = Vec::new();
        for &v in chain.iter().filter(|&&v| in_past(v)) {
            let e = &g.events[v];
            if !keep(v) {
                // A dropped read: its write reaches the next kept op of its process.
                pending.extend(e.writer);
                continue;
            }
            base.extend(
                prev.iter()
                    .chain(&pending)
                    .map(|&u| (local[u], local[v], Edge::Co)),
            );
            if e.certain {
                prev = Some(v);
                pending.clear();
            }
            if let Some(w) = e.writer {
                base.push((local[w], local[v], Edge::Rf));
            }
        }
    }
    let mut derived: Chain = Vec::new();
    // The round each derived edge was found in: it is explained by the edges of earlier rounds.
    let mut round_of: HashMap<(usize, usize), usize> = HashMap::new();
    let to_global = |c: Chain| -> Chain {
        let mut out = Chain::new();
        for (a, b, l) in c {
            let (a, b) = (nodes[a], nodes[b]);
            match (l, path(succ, a, b, |_| true)) {
                (Edge::Co, Some(p)) => out.extend(p),
                _ => out.push((a, b, l)),
            }
        }
        out
    };
    // Why the derived edge a -> b (global ids) holds: an hb path from a to its read, using only
    // the edges known before it was found.
    let explain = |derived: &Chain, round_of: &HashMap<(usize, usize), usize>, c: &Chain| {
        reasons(c, &|(a, b, l)| {
            let Edge::Hb(r) = l else { return None };
            let round = *round_of.get(&(local[a], local[b]))?;
            let earlier = base.iter().copied().chain(
                derived
                    .iter()
                    .copied()
                    .filter(|&(x, y, _)| round_of.get(&(x, y)).is_some_and(|&k| k < round)),
            );
            let succ = successors(m, earlier);
            path(&succ, local[a], local[r], |_| true).map(&to_global)
        })
    };
    for round in 0.. {
        let all: Chain = base.iter().chain(&derived).copied().collect();
        let mut hb: DiGraph<(), Edge> = DiGraph::with_capacity(m, all.len());
        for _ in 0..m {
            hb.add_node(());
        }
        for &(a, b, l) in &all {
            hb.add_edge(NodeIndex::new(a), NodeIndex::new(b), l);
        }
        let succ = successors(m, all.iter().copied());
        let order = match toposort(&hb, None) {
            Ok(o) => o,
            Err(_) => {
                let scc = tarjan_scc(&hb).into_iter().find(|c| c.len() > 1)?;
                let members: HashSet<usize> = scc.iter().map(|n| n.index()).collect();
                let start = derived
                    .iter()
                    .find(|(a, b, _)| members.contains(a) && members.contains(b))
                    .map_or(scc[0].index(), |e| e.0);
                let c = to_global(cycle(&succ, start, |v| members.contains(&v))?);
                let why = explain(&derived, &round_of, &c);
                return Some(cyclic(
                    history,
                    g,
                    "CyclicHB",
                    CausalModel::CM,
                    &c,
                    Some(p),
                    &why,
                ));
            }
        };
        let order: Vec<usize> = order.into_iter().map(|n| n.index()).collect();
        let hb_anc = BitMatrix::ancestors(&order, &predecessors(m, all.iter().copied()));
        let mut new: HashSet<(usize, usize)> = HashSet::new();
        let mut added: Chain = Vec::new();
        for &r in reads {
            let e = &g.events[r];
            if e.thin_air {
                continue;
            }
            let lr = local[r];
            let writes = g.writes[e.key].iter().filter(|&&w| local[w] != usize::MAX);
            match e.writer {
                None => {
                    if let Some(&w) = writes.clone().rev().find(|&&w| hb_anc.has(lr, local[w])) {
                        let c = to_global(path(&succ, local[w], lr, |_| true).unwrap_or_default());
                        let why = explain(&derived, &round_of, &c);
                        return Some(init_read(
                            history,
                            g,
                            "WriteHBInitRead",
                            CausalModel::CM,
                            r,
                            w,
                            &c,
                            &why,
                        ));
                    }
                }
                Some(w1) => {
                    let l1 = local[w1];
                    for &w2 in writes {
                        let l2 = local[w2];
                        if w2 != w1
                            && hb_anc.has(lr, l2)
                            && !hb_anc.has(l1, l2)
                            && new.insert((l2, l1))
                        {
                            round_of.insert((l2, l1), round);
                            added.push((l2, l1, Edge::Hb(r)));
                        }
                    }
                }
            }
        }
        if added.is_empty() {
            return None;
        }
        derived.extend(added);
    }
    None
}

/// How many derived edges an anomaly explains at most.
const MAX_REASONS: usize = 8;

/// The reasons for the derived edges of `chain`, and for those of their reasons, breadth first.
fn reasons(chain: &Chain, find: &dyn Fn((usize, usize, Edge)) -> Option<Chain>) -> Vec<Reason> {
    let derived = |c: &Chain| -> Vec<(usize, usize, Edge)> {
        c.iter()
            .copied()
            .filter(|(_, _, l)| matches!(l, Edge::Cf(_) | Edge::Hb(_)))
            .collect()
    };
    let mut queue: VecDeque<(usize, usize, Edge)> = derived(chain).into();
    let mut seen: HashSet<(usize, usize)> = HashSet::new();
    let mut out = Vec::new();
    while let Some(e) = queue.pop_front() {
        if out.len() >= MAX_REASONS || !seen.insert((e.0, e.1)) {
            continue;
        }
        if let Some(path) = find(e) {
            queue.extend(derived(&path));
            out.push(Reason { edge: e, path });
        }
    }
    out
}

fn successors(
    n: usize,
    edges: impl Iterator<Item = (usize, usize, Edge)>,
) -> Vec<Vec<(usize, Edge)>> {
    let mut s = vec![Vec::new(); n];
    for (a, b, l) in edges {
        s[a].push((b, l));
    }
    s
}

fn predecessors(n: usize, edges: impl Iterator<Item = (usize, usize, Edge)>) -> Vec<Vec<usize>> {
    let mut p = vec![Vec::new(); n];
    for (a, b, _) in edges {
        p[b].push(a);
    }
    p
}

/// A shortest path from `from` to `to` through nodes `allowed` admits (breadth first).
fn path(
    succ: &[Vec<(usize, Edge)>],
    from: usize,
    to: usize,
    allowed: impl Fn(usize) -> bool,
) -> Option<Chain> {
    let mut prev: Vec<Option<(usize, Edge)>> = vec![None; succ.len()];
    let mut seen = vec![false; succ.len()];
    let mut queue = VecDeque::from([from]);
    seen[from] = true;
    while let Some(u) = queue.pop_front() {
        for &(v, l) in &succ[u] {
            if v == to {
                let mut chain = vec![(u, v, l)];
                let mut at = u;
                while at != from {
                    let (p, pl) = prev[at]?;
                    chain.push((p, at, pl));
                    at = p;
                }
                chain.reverse();
                return Some(chain);
            }
            if !seen[v] && allowed(v) {
                seen[v] = true;
                prev[v] = Some((u, l));
                queue.push_back(v);
            }
        }
    }
    None
}

/// A shortest cycle through `start` within the nodes `allowed` admits.
fn cycle(
    succ: &[Vec<(usize, Edge)>],
    start: usize,
    allowed: impl Fn(usize) -> bool,
) -> Option<Chain> {
    path(succ, start, start, allowed)
}
