//! The dependency graph: one node per transaction, one edge per ordered pair, carrying the
//! relations that order the pair as bit flags (Elle's design): ww, wr, rw from the data, plus
//! process order and real-time order. Stored as a compressed sparse row graph
//! ([`petgraph::csr::Csr`]); strongly connected components by an iterative Tarjan (a history's
//! chains are a million transactions long, too deep for recursion).

use super::shape::{Status, TxnId, Txns};
use petgraph::csr::Csr;
use petgraph::Directed;
use std::collections::HashMap;

/// Relation flags on an edge.
pub mod rel {
    /// Write-write: the target overwrote (appended after) the source's write.
    pub const WW: u8 = 1;
    /// Write-read: the target read the source's write.
    pub const WR: u8 = 2;
    /// Read-write (anti-dependency): the target overwrote the version the source read.
    pub const RW: u8 = 4;
    /// Process order: same client, source first.
    pub const PROCESS: u8 = 8;
    /// Real-time order: the source completed before the target was invoked.
    pub const REALTIME: u8 = 16;
    /// The data dependencies.
    pub const DATA: u8 = WW | WR | RW;

    /// The relation's short name.
    pub fn name(flag: u8) -> &'static str {
        match flag {
            WW => "ww",
            WR => "wr",
            RW => "rw",
            PROCESS => "process",
            REALTIME => "realtime",
            _ => "?",
        }
    }

    /// Every relation in `flags`, by name.
    pub fn names(flags: u8) -> Vec<&'static str> {
        [WW, WR, RW, PROCESS, REALTIME]
            .into_iter()
            .filter(|f| flags & f != 0)
            .map(name)
            .collect()
    }
}

/// An edge before the graph is built: from, to, relation flags.
pub type Edge = (TxnId, TxnId, u8);

/// The dependency graph over all transactions.
pub struct DepGraph {
    csr: Csr<(), u8, Directed, u32>,
    nodes: usize,
}

impl DepGraph {
    /// Builds the graph over `nodes` transactions; parallel edges merge their flags, self-loops
    /// are dropped.
    pub fn build(nodes: usize, mut edges: Vec<Edge>) -> DepGraph {
        edges.retain(|e| e.0 != e.1);
        edges.sort_unstable_by_key(|e| (e.0, e.1));
        let mut merged: Vec<Edge> = Vec::with_capacity(edges.len());
        for e in edges {
            match merged.last_mut() {
                Some(last) if last.0 == e.0 && last.1 == e.1 => last.2 |= e.2,
                _ => merged.push(e),
            }
        }
        let csr = Csr::from_sorted_edges(&merged)
            .unwrap_or_else(|_| unreachable!("edges were sorted and deduplicated just above"));
        DepGraph { csr, nodes }
    }

    /// Number of transactions.
    pub fn node_count(&self) -> usize {
        self.nodes
    }

    /// Number of distinct ordered pairs with an edge.
    pub fn edge_count(&self) -> usize {
        self.csr.edge_count()
    }

    /// The targets of `v`'s edges and their flags.
    pub fn out(&self, v: TxnId) -> (&[u32], &[u8]) {
        if (v as usize) < self.csr.node_count() {
            (self.csr.neighbors_slice(v), self.csr.edges_slice(v))
        } else {
            (&[], &[])
        }
    }

    /// The flags on edge `a → b` (0 if none).
    pub fn flags(&self, a: TxnId, b: TxnId) -> u8 {
        let (ts, fs) = self.out(a);
        ts.binary_search(&b).map_or(0, |i| fs[i])
    }

    /// The strongly connected components with at least two transactions (only they hold
    /// cycles: there are no self-loops), each sorted.
    pub fn cycles_components(&self) -> Vec<Vec<TxnId>> {
        let n = self.csr.node_count();
        const NONE: u32 = u32::MAX;
        let mut index = vec![NONE; n];
        let mut low = vec![0u32; n];
        let mut on_stack = vec![false; n];
        let mut stack: Vec<u32> = Vec::new();
        let mut call: Vec<(u32, usize)> = Vec::new();
        let mut next = 0u32;
        let mut out = Vec::new();
        for root in 0..n as u32 {
            if index[root as usize] != NONE {
                continue;
            }
            call.push((root, 0));
            index[root as usize] = next;
            low[root as usize] = next;
            next += 1;
            stack.push(root);
            on_stack[root as usize] = true;
            while let Some(&mut (v, ref mut i)) = call.last_mut() {
                let succ = self.csr.neighbors_slice(v);
                if *i < succ.len() {
                    let w = succ[*i];
                    *i += 1;
                    if index[w as usize] == NONE {
                        index[w as usize] = next;
                        low[w as usize] = next;
                        next += 1;
                        stack.push(w);
                        on_stack[w as usize] = true;
                        call.push((w, 0));
                    } else if on_stack[w as usize] {
                        low[v as usize] = low[v as usize].min(index[w as usize]);
                    }
                    continue;
                }
                call.pop();
                if let Some(&(parent, _)) = call.last() {
                    low[parent as usize] = low[parent as usize].min(low[v as usize]);
                }
                if low[v as usize] == index[v as usize] {
                    let mut comp = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w as usize] = false;
                        comp.push(w);
                        if w == v {
                            break;
                        }
                    }
                    if comp.len() > 1 {
                        comp.sort_unstable();
                        out.push(comp);
                    }
                }
            }
        }
        out
    }
}

/// Process-order edges: each client's committed (or unknown) txns in the order it ran them.
/// Failed txns did not happen and are skipped; txns with no invocation have no known process.
pub fn process_edges(t: &Txns, edges: &mut Vec<Edge>) {
    let mut last: HashMap<u64, TxnId> = HashMap::new();
    let mut order: Vec<(usize, TxnId)> = t
        .txns
        .iter()
        .enumerate()
        .filter(|(_, x)| x.process.is_some() && x.status != Status::Fail)
        .map(|(i, x)| (x.invoke.unwrap_or(0), i as TxnId))
        .collect();
    order.sort_unstable();
    for (_, id) in order {
        let Some(p) = t.txns[id as usize].process else {
            continue;
        };
        if let Some(prev) = last.insert(p, id) {
            edges.push((prev, id, rel::PROCESS));
        }
    }
}

/// Real-time edges, transitively reduced: `a → b` when `a` completed before `b` was invoked and
/// no txn sits wholly between them. A sweep keeps the "frontier" of completed txns not yet
/// followed by a later completed one; each invocation links from the frontier.
pub fn realtime_edges(t: &Txns, edges: &mut Vec<Edge>) {
    // (position, is_completion, txn)
    let mut events: Vec<(usize, bool, TxnId)> = Vec::with_capacity(t.txns.len() * 2);
    for (i, x) in t.txns.iter().enumerate() {
        if x.status == Status::Fail {
            continue;
        }
        let Some(inv) = x.invoke else { continue };
        events.push((inv, false, i as TxnId));
        if let (Status::Ok, Some(c)) = (x.status, x.complete) {
            events.push((c, true, i as TxnId));
        }
    }
    events.sort_unstable();
    let mut completions = 0u64;
    let mut seen_at_invoke = vec![0u64; t.txns.len()];
    let mut frontier: Vec<(u64, TxnId)> = Vec::new();
    for (_, is_completion, id) in events {
        if is_completion {
            let before = seen_at_invoke[id as usize];
            frontier.retain(|&(seq, _)| seq >= before);
            frontier.push((completions, id));
            completions += 1;
        } else {
            for &(_, f) in &frontier {
                edges.push((f, id, rel::REALTIME));
            }
            seen_at_invoke[id as usize] = completions;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_merge_and_components_are_found() {
        let g = DepGraph::build(
            5,
            vec![
                (0, 1, rel::WW),
                (0, 1, rel::PROCESS),
                (1, 2, rel::WR),
                (2, 0, rel::RW),
                (3, 4, rel::WW),
                (4, 4, rel::WW),
            ],
        );
        assert_eq!(g.flags(0, 1), rel::WW | rel::PROCESS);
        assert_eq!(g.edge_count(), 4);
        assert_eq!(g.cycles_components(), vec![vec![0, 1, 2]]);
    }

    #[test]
    fn a_long_chain_does_not_overflow_the_stack() {
        let n = 300_000u32;
        let mut e: Vec<Edge> = (0..n - 1).map(|i| (i, i + 1, rel::WW)).collect();
        e.push((n - 1, 0, rel::RW));
        let g = DepGraph::build(n as usize, e);
        let c = g.cycles_components();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].len(), n as usize);
    }
}
