//! Vector clocks over the causal order co = (po ∪ rf)⁺: "is `j` in the causal past of `i`?" in
//! O(1), with memory n × chains instead of the n² bits of a closure matrix.
//!
//! The ops are split into *chains*, each totally ordered by co: a process's certain ops in
//! program order, followed by the first write of unknown outcome after its last certain op (an
//! unknown write precedes nothing in program order, so only one can end a chain); every other
//! unknown write is a chain of its own. In a Jepsen history a process is retired after an unknown
//! outcome, so there is one chain per process. Because a chain is ordered by co, the causal past
//! of any op meets each chain in a prefix, and the op's clock is the length of each prefix: one
//! pass over a topological order, each op taking the maximum of its predecessors' clocks.
//!
//! On top of the clocks sit the queries of the bad patterns over the writes of one key. The
//! writes of a key in one chain are in invoke order and in co order, so "the writes of `x` in the
//! causal past of `r`" is a prefix of each chain's list, and "the writes that have `w` in their
//! past" a suffix: every query is a binary search per chain.

use super::graph::CausalGraph;

/// Bytes of vector clocks the causal checker may allocate before answering `unknown`.
pub const MEMORY_LIMIT: u64 = 3 << 30;

/// The chain of an op that precedes nothing: it is in no op's causal past.
pub const NO_CHAIN: u32 = u32::MAX;

/// The chain decomposition of a causal graph.
#[derive(Debug)]
pub struct Chains {
    /// Each op's chain ([`NO_CHAIN`] for an unknown write that precedes nothing).
    pub chain: Vec<u32>,
    /// Each op's 1-based position in its chain.
    pub pos: Vec<u32>,
    /// How many chains.
    pub count: usize,
}

impl Chains {
    /// Splits `g`'s ops into chains ordered by co (see the module doc).
    pub fn of(g: &CausalGraph) -> Chains {
        let n = g.len();
        let mut c = Chains {
            chain: vec![0; n],
            pos: vec![0; n],
            count: 0,
        };
        let mut precedes = vec![false; n];
        for &(a, _, _) in &g.edges {
            precedes[a] = true;
        }
        for ops in &g.by_process {
            let last_certain = ops.iter().rposition(|&v| g.events[v].certain);
            let id = c.new_chain();
            let mut len = 0;
            let mut tail_taken = false;
            for (i, &v) in ops.iter().enumerate() {
                let on_chain = if g.events[v].certain {
                    true
                } else if !precedes[v] {
                    c.chain[v] = NO_CHAIN;
                    continue;
                } else if last_certain.is_none_or(|l| i > l) && !tail_taken {
                    tail_taken = true;
                    true
                } else {
                    false
                };
                if on_chain {
                    len += 1;
                    c.chain[v] = id;
                    c.pos[v] = len;
                } else {
                    c.chain[v] = c.new_chain();
                    c.pos[v] = 1;
                }
            }
        }
        c
    }

    fn new_chain(&mut self) -> u32 {
        self.count += 1;
        (self.count - 1) as u32
    }

    /// The bytes the clocks of `n` ops take.
    pub fn clock_bytes(&self, n: usize) -> u64 {
        n as u64 * self.count as u64 * 4
    }
}

/// A topological order of `n` nodes under `succ`, or `None` if the graph has a cycle (Kahn).
pub fn topo_order<T>(n: usize, succ: &[Vec<(usize, T)>]) -> Option<Vec<usize>> {
    let mut indegree = vec![0u32; n];
    for s in succ {
        for &(v, _) in s {
            indegree[v] += 1;
        }
    }
    let mut order: Vec<usize> = (0..n).filter(|&v| indegree[v] == 0).collect();
    let mut next = 0;
    while next < order.len() {
        let u = order[next];
        next += 1;
        for &(v, _) in &succ[u] {
            indegree[v] -= 1;
            if indegree[v] == 0 {
                order.push(v);
            }
        }
    }
    (order.len() == n).then_some(order)
}

/// The writes of one key in one chain, in chain order.
struct Run {
    chain: u32,
    /// Their positions in the chain (ascending), kept apart for cache-friendly searches.
    pos: Vec<u32>,
    /// Their op ids.
    ids: Vec<usize>,
}

/// Every op's vector clock, and the writes of each key per chain.
pub struct Clocks {
    chains: Chains,
    /// Row-major: op `i`'s clock is `clock[i * count .. (i + 1) * count]`.
    clock: Vec<u32>,
    /// Per key: one run per chain that writes it.
    writes: Vec<Vec<Run>>,
}

impl Clocks {
    /// The clocks of `g` along topological `order`, with `preds[v]` v's direct predecessors.
    pub fn new(g: &CausalGraph, chains: Chains, order: &[usize], preds: &[Vec<usize>]) -> Clocks {
        let k = chains.count;
        let mut clock = vec![0u32; g.len() * k];
        for &v in order {
            // Predecessors come earlier in `order`, but may sit on either side of v's row.
            let (lo, hi) = clock.split_at_mut(v * k);
            let (row, after) = hi.split_at_mut(k);
            for &u in &preds[v] {
                let src = if u < v {
                    &lo[u * k..u * k + k]
                } else {
                    &after[(u - v - 1) * k..(u - v) * k]
                };
                for (x, &y) in row.iter_mut().zip(src) {
                    *x = (*x).max(y);
                }
            }
            if let Some(x) = row.get_mut(chains.chain[v] as usize) {
                *x = chains.pos[v];
            }
        }
        let mut writes: Vec<Vec<Run>> = Vec::with_capacity(g.writes.len());
        for ws in &g.writes {
            let mut by_chain: std::collections::BTreeMap<u32, Vec<usize>> = Default::default();
            for &w in ws.iter().filter(|&&w| chains.chain[w] != NO_CHAIN) {
                by_chain.entry(chains.chain[w]).or_default().push(w);
            }
            writes.push(
                by_chain
                    .into_iter()
                    .map(|(chain, mut ids)| {
                        ids.sort_by_key(|&w| chains.pos[w]);
                        let pos = ids.iter().map(|&w| chains.pos[w]).collect();
                        Run { chain, pos, ids }
                    })
                    .collect(),
            );
        }
        Clocks {
            chains,
            clock,
            writes,
        }
    }

    fn row(&self, i: usize) -> &[u32] {
        let k = self.chains.count;
        &self.clock[i * k..i * k + k]
    }

    /// True if `j` is strictly in the causal past of `i` (co-before it).
    pub fn has(&self, i: usize, j: usize) -> bool {
        let c = self.chains.chain[j];
        i != j && c != NO_CHAIN && self.row(i)[c as usize] >= self.chains.pos[j]
    }

    /// For each chain writing `key` where `later`'s past reaches further than `earlier`'s: the
    /// run and the range of its writes in `later`'s past but not in `earlier`'s (`earlier` must
    /// be in `later`'s past or be `later`; pass `usize::MAX` for "nothing").
    fn fresh(
        &self,
        key: usize,
        later: usize,
        earlier: usize,
    ) -> impl Iterator<Item = (&Run, usize, usize)> {
        let hi_row = self.row(later);
        let lo_row = (earlier != usize::MAX).then(|| self.row(earlier));
        self.writes[key].iter().filter_map(move |run| {
            let c = run.chain as usize;
            let (hi_at, lo_at) = (hi_row[c], lo_row.map_or(0, |r| r[c]));
            if hi_at <= lo_at {
                return None;
            }
            let hi = run.pos.partition_point(|&p| p <= hi_at);
            let lo = run.pos[..hi].partition_point(|&p| p <= lo_at);
            (lo < hi).then_some((run, lo, hi))
        })
    }

    /// The last write of `key` (in invoke order) co-before `r`: the WriteCOInitRead witness.
    pub fn latest_write_before(&self, r: usize, key: usize) -> Option<usize> {
        self.fresh(key, r, usize::MAX)
            .map(|(run, _, hi)| run.ids[hi - 1])
            .max()
    }

    /// The first write `w2 ≠ w1` of `key` (in invoke order) with `w1` co-before `w2` co-before
    /// `r`: the WriteCORead witness (the value `r` read from `w1` was overwritten in its past).
    pub fn overwrite_before(&self, r: usize, key: usize, w1: usize) -> Option<usize> {
        // A write co-after w1 is not in w1's past: only the fresh ranges can hold one, and in a
        // chain the writes with w1 in their past are a suffix.
        self.fresh(key, r, w1)
            .filter_map(|(run, lo, hi)| {
                let ids = &run.ids[lo..hi];
                let first = ids.partition_point(|&w| !self.has(w, w1));
                ids.get(first).copied()
            })
            .min()
    }

    /// For a read `r` of `w2` (key `key`): per chain, the last write `w1` of the key in `r`'s
    /// causal past that is not in `w2`'s. Each gives the conflict edge `w1 -cf-> w2`; the
    /// chain's earlier such writes are co-before `w1`, so their edges add no new paths.
    pub fn conflicts(&self, r: usize, key: usize, w2: usize) -> Vec<usize> {
        self.fresh(key, r, w2)
            .map(|(run, _, hi)| run.ids[hi - 1])
            .collect()
    }

    /// True if some write of `key` is co-before `r` and is neither `w1` nor co-before `w1`:
    /// `r`'s read of `w1` orders a concurrent write before `w1` (CM must look at `r`'s process).
    pub fn concurrent_write_before(&self, r: usize, key: usize, w1: usize) -> bool {
        self.fresh(key, r, w1).next().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::causal::BitMatrix;
    use crate::history::{History, Op, OpType, Process, Value};

    /// A random differentiated history: reads return any written value of their key or nil,
    /// some writes end `info` (the process then retires or, sometimes, goes on).
    fn random(seed: u64, n: usize) -> History {
        let mut x = seed | 1;
        let mut next = move |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        let mut ops = Vec::new();
        let mut procs: Vec<u64> = (0..4).collect();
        let mut fresh = 4;
        let mut written = [0i64; 2];
        for i in 0..n {
            let slot = next(4) as usize;
            let p = procs[slot];
            let key = next(2) as usize;
            let write = next(2) == 0;
            let (f, arg, out, end) = if write {
                written[key] = i as i64 + 1;
                let end = if next(5) == 0 {
                    OpType::Info
                } else {
                    OpType::Ok
                };
                (
                    "write",
                    Value::Int(i as i64 + 1),
                    Value::Int(i as i64 + 1),
                    end,
                )
            } else {
                let v = if written[key] == 0 || next(4) == 0 {
                    Value::Nil
                } else {
                    Value::Int(1 + next(written[key] as u64) as i64)
                };
                ("read", Value::Nil, v, OpType::Ok)
            };
            for (kind, value) in [(OpType::Invoke, arg), (end, out)] {
                ops.push(Op {
                    index: ops.len() as u64,
                    time: 0,
                    process: Process::Client(p),
                    kind,
                    f: f.into(),
                    key: Some(format!("k{key}")),
                    value,
                    error: None,
                });
            }
            if end == OpType::Info && next(2) == 0 {
                procs[slot] = fresh;
                fresh += 1;
            }
        }
        History { header: None, ops }
    }

    #[test]
    fn clocks_agree_with_the_closure_matrix() {
        let mut checked = 0;
        for seed in 1..200u64 {
            let h = random(seed * 0x9e37_79b9, 3 + (seed as usize % 30));
            // Reads of a key's values may point forward; skip graphs with a cycle.
            let Ok(g) = CausalGraph::build(&h, &Value::Nil) else {
                continue;
            };
            let mut succ = vec![Vec::new(); g.len()];
            let mut preds = vec![Vec::new(); g.len()];
            for &(a, b, l) in &g.edges {
                succ[a].push((b, l));
                preds[b].push(a);
            }
            let Some(order) = topo_order(g.len(), &succ) else {
                continue;
            };
            let anc = BitMatrix::ancestors(&order, &preds);
            let co = Clocks::new(&g, Chains::of(&g), &order, &preds);
            for i in 0..g.len() {
                for j in 0..g.len() {
                    assert_eq!(co.has(i, j), anc.has(i, j), "seed {seed}: {j} before {i}?");
                }
            }
            checked += 1;
        }
        assert!(checked > 50, "only {checked} acyclic histories");
    }
}
