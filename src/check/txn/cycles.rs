//! The shortest cycle of each kind inside each strongly connected component.
//!
//! Every kind of cycle is one "special" edge plus a path back, searched breadth-first over the
//! edges a kind allows, so the first path found is the shortest: a G0 is a ww edge and a path of
//! ww edges back; a G1c a wr edge and a ww/wr path back; a G-single an rw edge and a ww/wr path
//! back (so it has exactly one rw edge); a G2-item an rw edge and any path back. A
//! G-nonadjacent needs the path's states to remember whether its last edge was rw, so its
//! search runs over (transaction, last-was-rw, rw-count ≥ 2) states. Searches from the same
//! special-edge target share one BFS, and each is cut at the length of the best cycle so far,
//! so the shortest cycle in a component of thousands of transactions costs little more than a
//! few BFS passes. A work budget bounds the whole; when it runs out the result says so.

use super::anomalies::{CycleKind, Order};
use super::graph::{rel, DepGraph};
use super::shape::TxnId;

/// One edge of a cycle, with the single relation that puts it there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// The source transaction.
    pub from: TxnId,
    /// The target transaction.
    pub to: TxnId,
    /// The relation (one flag of [`rel`]).
    pub rel: u8,
}

/// A cycle of a given kind: `steps[i].to == steps[i + 1].from`, and the last step returns to
/// the first's source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cycle {
    /// Its shape.
    pub kind: CycleKind,
    /// Which order edges it needs.
    pub order: Order,
    /// Its edges.
    pub steps: Vec<Step>,
}

impl Cycle {
    /// The anomaly's full name (`G-single-process`, ...).
    pub fn name(&self) -> String {
        super::anomalies::cycle_name(self.kind, self.order)
    }
}

/// The cycles found and whether the budget cut the search short.
#[derive(Debug, Default)]
pub struct Found {
    /// At most one cycle per kind and order per component, the shortest.
    pub cycles: Vec<Cycle>,
    /// True if some search was abandoned for lack of budget (a cycle may be missing, or not
    /// the shortest).
    pub incomplete: bool,
}

/// A component as its own small graph, with local indices.
struct Local {
    nodes: Vec<TxnId>,
    off: Vec<u32>,
    tgt: Vec<u32>,
    fl: Vec<u8>,
}

impl Local {
    fn new(g: &DepGraph, comp: &[TxnId]) -> Local {
        let mut off = Vec::with_capacity(comp.len() + 1);
        let (mut tgt, mut fl) = (Vec::new(), Vec::new());
        off.push(0);
        for &v in comp {
            let (ts, fs) = g.out(v);
            for (t, f) in ts.iter().zip(fs) {
                if let Ok(i) = comp.binary_search(t) {
                    tgt.push(i as u32);
                    fl.push(*f);
                }
            }
            off.push(tgt.len() as u32);
        }
        Local {
            nodes: comp.to_vec(),
            off,
            tgt,
            fl,
        }
    }

    fn edges(&self, v: u32) -> impl Iterator<Item = (u32, u8)> + '_ {
        let r = self.off[v as usize] as usize..self.off[v as usize + 1] as usize;
        self.tgt[r.clone()]
            .iter()
            .copied()
            .zip(self.fl[r].iter().copied())
    }
}

/// BFS bookkeeping reused across searches (generation stamps avoid clearing).
struct Bfs {
    stamp: Vec<u32>,
    gen: u32,
    parent: Vec<(u32, u8)>,
    depth: Vec<u32>,
    queue: Vec<u32>,
}

impl Bfs {
    fn new(states: usize) -> Bfs {
        Bfs {
            stamp: vec![0; states],
            gen: 0,
            parent: vec![(0, 0); states],
            depth: vec![0; states],
            queue: Vec::new(),
        }
    }

    fn seen(&self, s: u32) -> bool {
        self.stamp[s as usize] == self.gen
    }

    /// Breadth-first from `start` up to `max_depth` edges; `succ` lists a state's successors
    /// with the relation used. Returns false if the budget ran out.
    fn run(
        &mut self,
        start: u32,
        max_depth: u32,
        budget: &mut u64,
        mut succ: impl FnMut(u32, &mut Vec<(u32, u8)>),
    ) -> bool {
        self.gen += 1;
        self.queue.clear();
        self.queue.push(start);
        self.stamp[start as usize] = self.gen;
        self.depth[start as usize] = 0;
        let mut head = 0;
        let mut next = Vec::new();
        while head < self.queue.len() {
            let s = self.queue[head];
            head += 1;
            let d = self.depth[s as usize];
            if d >= max_depth {
                continue;
            }
            next.clear();
            succ(s, &mut next);
            if *budget < next.len() as u64 + 1 {
                return false;
            }
            *budget -= next.len() as u64 + 1;
            for &(t, r) in &next {
                if self.stamp[t as usize] != self.gen {
                    self.stamp[t as usize] = self.gen;
                    self.parent[t as usize] = (s, r);
                    self.depth[t as usize] = d + 1;
                    self.queue.push(t);
                }
            }
        }
        true
    }

    /// The (state, relation) steps from the start to `s`.
    fn path_to(&self, mut s: u32) -> Vec<(u32, u32, u8)> {
        let mut out = Vec::new();
        while self.depth[s as usize] > 0 {
            let (p, r) = self.parent[s as usize];
            out.push((p, s, r));
            s = p;
        }
        out.reverse();
        out
    }
}

/// The relation a path edge is shown as, preferring the weakest explanation.
fn label(flags: u8) -> u8 {
    for f in [rel::WW, rel::WR, rel::PROCESS, rel::REALTIME, rel::RW] {
        if flags & f != 0 {
            return f;
        }
    }
    0
}

fn order_flags(order: Order) -> u8 {
    match order {
        Order::Data => 0,
        Order::Process => rel::PROCESS,
        Order::Realtime => rel::PROCESS | rel::REALTIME,
    }
}

/// The special edge and the relations the path back may use.
fn shape(kind: CycleKind, order: Order) -> (u8, u8) {
    let extra = order_flags(order);
    match kind {
        CycleKind::G0 => (rel::WW, rel::WW | extra),
        CycleKind::G1c => (rel::WR, rel::WW | rel::WR | extra),
        CycleKind::GSingle | CycleKind::GNonadjacent => (rel::RW, rel::WW | rel::WR | extra),
        CycleKind::G2Item => (rel::RW, rel::DATA | extra),
    }
}

/// Searches one component for the shortest cycle of `kind` needing at most `order`.
fn shortest(
    l: &Local,
    kind: CycleKind,
    order: Order,
    bfs: &mut Bfs,
    budget: &mut u64,
) -> Result<Option<Cycle>, ()> {
    let (special, allowed) = shape(kind, order);
    let n = l.nodes.len() as u32;
    // Special edges grouped by their target: one BFS serves them all.
    let mut specials: Vec<(u32, u32)> = Vec::new();
    for a in 0..n {
        for (b, f) in l.edges(a) {
            if f & special != 0 {
                specials.push((b, a));
            }
        }
    }
    specials.sort_unstable();
    let nonadjacent = kind == CycleKind::GNonadjacent;
    // States: node, or node * 4 + last_rw * 2 + two_rw for G-nonadjacent.
    let state = |v: u32, last_rw: bool, two: bool| v * 4 + (last_rw as u32) * 2 + two as u32;
    let mut best: Option<Vec<(u32, u32, u8)>> = None;
    let mut i = 0;
    while i < specials.len() {
        let b = specials[i].0;
        let j = specials[i..].partition_point(|s| s.0 == b) + i;
        let limit = best.as_ref().map_or(u32::MAX, |p| p.len() as u32 - 1);
        if limit < 2 {
            break;
        }
        let max_depth = limit.saturating_sub(1);
        let ok = if nonadjacent {
            bfs.run(state(b, true, false), max_depth, budget, |s, out| {
                let (v, last_rw, two) = (s / 4, s & 2 != 0, s & 1 != 0);
                for (t, f) in l.edges(v) {
                    if f & allowed != 0 {
                        out.push((state(t, false, two), label(f & allowed)));
                    }
                    if f & rel::RW != 0 && !last_rw {
                        out.push((state(t, true, true), rel::RW));
                    }
                }
            })
        } else {
            bfs.run(b, max_depth, budget, |v, out| {
                for (t, f) in l.edges(v) {
                    if f & allowed != 0 {
                        out.push((t, label(f & allowed)));
                    }
                }
            })
        };
        if !ok {
            return Err(());
        }
        for &(_, a) in &specials[i..j] {
            let goal = if nonadjacent {
                state(a, false, true)
            } else {
                a
            };
            if !bfs.seen(goal) {
                continue;
            }
            let mut path = vec![(a, b, special)];
            path.extend(bfs.path_to(goal).into_iter().map(|(s, t, r)| {
                if nonadjacent {
                    (s / 4, t / 4, r)
                } else {
                    (s, t, r)
                }
            }));
            // A search over states may walk through a transaction twice: only a simple
            // cycle is a cycle.
            let simple = !nonadjacent || {
                let mut seen: Vec<u32> = path.iter().map(|p| p.0).collect();
                seen.sort_unstable();
                seen.windows(2).all(|w| w[0] != w[1])
            };
            if simple && best.as_ref().is_none_or(|p| path.len() < p.len()) {
                best = Some(path);
            }
        }
        i = j;
    }
    Ok(best.map(|p| Cycle {
        kind,
        order,
        steps: p
            .into_iter()
            .map(|(s, t, r)| Step {
                from: l.nodes[s as usize],
                to: l.nodes[t as usize],
                rel: r,
            })
            .collect(),
    }))
}

/// The shape a cycle's rw edges give it: one rw edge is a G-single, several with none adjacent
/// (cyclically) a G-nonadjacent, adjacent ones a G2-item; no rw edge keeps the searched kind.
pub fn classify(c: &Cycle) -> CycleKind {
    let rw: Vec<bool> = c.steps.iter().map(|s| s.rel == rel::RW).collect();
    let count = rw.iter().filter(|&&r| r).count();
    let adjacent = (0..rw.len()).any(|i| rw[i] && rw[(i + 1) % rw.len()]);
    match count {
        0 => c.kind,
        1 => CycleKind::GSingle,
        _ if adjacent => CycleKind::G2Item,
        _ => CycleKind::GNonadjacent,
    }
}

/// Finds, in every component, the shortest cycle of each kind, each with the weakest order it
/// needs. A kind found with a weaker order is not searched again with a stronger one; a G2-item
/// is searched only where no G-single or G-nonadjacent was found, and every cycle is named by
/// [`classify`], so a name always matches the cycle's edges.
pub fn find(g: &DepGraph, components: &[Vec<TxnId>], mut budget: u64) -> Found {
    let mut out = Found::default();
    for comp in components {
        let l = Local::new(g, comp);
        let mut bfs = Bfs::new(comp.len() * 4);
        let mut have: Vec<(CycleKind, Order)> = Vec::new();
        'orders: for order in Order::ALL {
            for kind in CycleKind::ALL {
                if have.iter().any(|&(k, _)| k == kind) {
                    continue;
                }
                if kind == CycleKind::G2Item
                    && have
                        .iter()
                        .any(|&(k, _)| matches!(k, CycleKind::GSingle | CycleKind::GNonadjacent))
                {
                    continue;
                }
                match shortest(&l, kind, order, &mut bfs, &mut budget) {
                    Ok(Some(mut c)) => {
                        c.kind = classify(&c);
                        if have.iter().any(|&(k, _)| k == c.kind) {
                            continue;
                        }
                        have.push((c.kind, order));
                        out.cycles.push(c);
                    }
                    Ok(None) => {}
                    Err(()) => {
                        out.incomplete = true;
                        break 'orders;
                    }
                }
            }
        }
        if out.incomplete {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rel::*;

    fn kinds(edges: Vec<(u32, u32, u8)>) -> Vec<(String, usize)> {
        let n = 1 + edges.iter().map(|e| e.0.max(e.1)).max().unwrap_or(0) as usize;
        let g = DepGraph::build(n, edges);
        let found = find(&g, &g.cycles_components(), u64::MAX);
        assert!(!found.incomplete);
        found
            .cycles
            .iter()
            .map(|c| (c.name(), c.steps.len()))
            .collect()
    }

    #[test]
    fn each_shape_is_named_by_its_edges() {
        assert_eq!(kinds(vec![(0, 1, WW), (1, 0, WW)]), [("G0".into(), 2)]);
        assert_eq!(kinds(vec![(0, 1, WW), (1, 0, WR)]), [("G1c".into(), 2)]);
        assert_eq!(
            kinds(vec![(0, 1, RW), (1, 0, WR)]),
            [("G-single".into(), 2)]
        );
        assert_eq!(kinds(vec![(0, 1, RW), (1, 0, RW)]), [("G2-item".into(), 2)]);
        assert_eq!(
            kinds(vec![(0, 1, RW), (1, 2, WR), (2, 3, RW), (3, 0, WW)]),
            [("G-nonadjacent".into(), 4)]
        );
        assert_eq!(
            kinds(vec![(0, 1, RW), (1, 0, PROCESS)]),
            [("G-single-process".into(), 2)]
        );
        assert_eq!(
            kinds(vec![(0, 1, WR), (1, 0, REALTIME)]),
            [("G1c-realtime".into(), 2)]
        );
    }

    #[test]
    fn shortest_cycle_is_found_in_a_large_component() {
        // A ring of 5000 txns by ww, plus one 3-edge G-single shortcut in the middle.
        let n = 5000u32;
        let mut e: Vec<(u32, u32, u8)> = (0..n).map(|i| (i, (i + 1) % n, WW)).collect();
        e.push((2502, 2500, RW));
        let k = kinds(e);
        assert!(k.contains(&("G0".into(), 5000)), "{k:?}");
        assert!(k.contains(&("G-single".into(), 3)), "{k:?}");
    }
}
