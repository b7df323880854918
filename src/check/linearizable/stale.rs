//! Reads that no linearization can allow, found in O(n log n) before the search.
//!
//! The search proves a history invalid only by exhausting every order, which on a long history
//! with one stale read can outlast any budget. A necessary condition settles the common cases at
//! once (the unique-value inference of Gibbons & Korach, as Elle uses it, here without assuming
//! unique values): an ok read of `v` (or an ok cas from `v`) needs a *source*, the initial value
//! or an op that may set the register to `v` (a write of `v`, a cas to `v`, acknowledged or
//! unknown), invoked before the read returned. A source is *certainly overwritten* before the
//! read when it completed, and then an acknowledged write or cas of a different value was
//! invoked after it completed and returned before the read was invoked: in every linearization
//! that op falls between the source and the read. (The initial value is overwritten by any such
//! op returning before the read began.) If every source is certainly overwritten, the read is
//! impossible: the last op to set the register before it would have to be a source, yet each
//! source is followed by another value before the read. Unknown ops are never counted as
//! overwriting (they may never have happened) and always count as possible sources (they may
//! take effect just before the read), so the condition only ever concludes what is certain.

use crate::check::linearizable::search::KeyOp;
use crate::check::models::cas_register::RegisterOp;
use std::collections::HashMap;

/// An impossible read, with the ops that prove it (positions in the key's op list).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImpossibleRead {
    /// The read (or cas) whose observed value no linearization allows.
    pub read: usize,
    /// Each possible source of the value with the op that certainly overwrote it first.
    pub sources: Vec<(usize, usize)>,
    /// When the value read is the initial one: the op that certainly overwrote it.
    pub initial: Option<usize>,
}

impl ImpossibleRead {
    /// Every op of the proof, the read first.
    pub fn core(&self) -> Vec<usize> {
        let mut out = vec![self.read];
        for &(s, w) in &self.sources {
            out.extend([s, w]);
        }
        out.extend(self.initial);
        let mut seen = std::collections::HashSet::new();
        out.retain(|i| seen.insert(*i));
        out
    }
}

/// The value an op may set the register to, and whether it certainly did (acknowledged).
fn sets(op: &KeyOp<RegisterOp>) -> Option<(u32, bool)> {
    match op.op {
        RegisterOp::Write(v) => Some((v, op.ret.is_some())),
        RegisterOp::Cas(_, v) => Some((v, op.ret.is_some())),
        RegisterOp::CasUnknown(_, v) => Some((v, false)),
        RegisterOp::Read(_) | RegisterOp::CasFailed(_) => None,
    }
}

/// The value an acknowledged op observed (a read's result, a successful cas's `from`).
fn observes(op: &KeyOp<RegisterOp>) -> Option<u32> {
    op.ret?;
    match op.op {
        RegisterOp::Read(v) | RegisterOp::Cas(v, _) => Some(v),
        _ => None,
    }
}

/// "The first certain overwrite invoked after time t, by a value other than v": the acknowledged
/// setters by invoke position, with, for every suffix, the two earliest returns of different
/// values.
struct Overwrites {
    calls: Vec<u64>,
    /// Per suffix start: (ret, value, op) of the earliest return, and of the earliest return of
    /// another value.
    best: Vec<[(u64, u32, usize); 2]>,
}

const NONE: (u64, u32, usize) = (u64::MAX, u32::MAX, usize::MAX);

impl Overwrites {
    fn new(ops: &[KeyOp<RegisterOp>]) -> Overwrites {
        let mut setters: Vec<(u64, u64, u32, usize)> = ops
            .iter()
            .enumerate()
            .filter_map(|(i, o)| match (sets(o), o.ret) {
                (Some((v, true)), Some(ret)) => Some((o.call, ret, v, i)),
                _ => None,
            })
            .collect();
        setters.sort_unstable();
        let mut best = vec![[NONE, NONE]; setters.len() + 1];
        for k in (0..setters.len()).rev() {
            let (_, ret, v, i) = setters[k];
            let [mut a, mut b] = best[k + 1];
            let cand = (ret, v, i);
            if cand.0 < a.0 {
                if a.1 != v {
                    b = a;
                }
                a = cand;
            } else if v != a.1 && cand.0 < b.0 {
                b = cand;
            }
            best[k] = [a, b];
        }
        Overwrites {
            calls: setters.iter().map(|s| s.0).collect(),
            best,
        }
    }

    /// The earliest-returning acknowledged setter of a value other than `v` invoked after
    /// position `after` (`None`: any), as (its return, its op).
    fn first(&self, after: Option<u64>, v: u32) -> (u64, usize) {
        let k = after.map_or(0, |t| self.calls.partition_point(|&c| c <= t));
        let [a, b] = self.best[k];
        let pick = if a.1 != v { a } else { b };
        (pick.0, pick.2)
    }
}

/// The earliest-returning read (or successful cas) of `ops` that no linearization allows, if
/// the necessary condition of the module doc finds one. `initial` is the register's initial
/// value. Sound: `Some` only when the key is certainly not linearizable.
pub fn impossible_read(ops: &[KeyOp<RegisterOp>], initial: u32) -> Option<ImpossibleRead> {
    let over = Overwrites::new(ops);
    // Per value: its possible sources by invoke, with the running maximum of the time each was
    // certainly overwritten by (u64::MAX: never, for an unknown source).
    let mut sources: HashMap<u32, Vec<(u64, usize, u64)>> = HashMap::new();
    for (i, o) in ops.iter().enumerate() {
        if let Some((v, certain)) = sets(o) {
            let until = match (certain, o.ret) {
                (true, Some(ret)) => over.first(Some(ret), v).0,
                _ => u64::MAX,
            };
            sources.entry(v).or_default().push((o.call, i, until));
        }
    }
    let mut latest: HashMap<u32, Vec<u64>> = HashMap::new();
    for (v, list) in sources.iter_mut() {
        list.sort_unstable();
        let mut run = 0;
        latest.insert(
            *v,
            list.iter()
                .map(|s| {
                    run = run.max(s.2);
                    run
                })
                .collect(),
        );
    }
    let mut found: Option<(u64, usize)> = None;
    for (r, o) in ops.iter().enumerate() {
        let (Some(v), Some(ret)) = (observes(o), o.ret) else {
            continue;
        };
        // A cas from v to v is a source of its own value: leave it to the search.
        if sets(o).is_some_and(|(to, _)| to == v) {
            continue;
        }
        let list = sources.get(&v).map_or(&[][..], |l| l.as_slice());
        let n = list.partition_point(|s| s.0 < ret);
        let sources_end = n.checked_sub(1).map_or(0, |k| latest[&v][k]);
        let initial_end = if v == initial {
            over.first(None, v).0
        } else {
            0
        };
        if sources_end.max(initial_end) < o.call && found.is_none_or(|(t, _)| ret < t) {
            found = Some((ret, r));
        }
    }
    let (_, r) = found?;
    let v = observes(&ops[r])?;
    let ret = ops[r].ret?;
    let list = sources.get(&v).map_or(&[][..], |l| l.as_slice());
    let proof = list
        .iter()
        .take_while(|s| s.0 < ret)
        .map(|&(_, s, _)| (s, over.first(ops[s].ret, v).1))
        .collect();
    Some(ImpossibleRead {
        read: r,
        sources: proof,
        initial: (v == initial).then(|| over.first(None, v).1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use RegisterOp::*;

    fn op(op: RegisterOp, call: u64, ret: Option<u64>) -> KeyOp<RegisterOp> {
        KeyOp { op, call, ret }
    }

    #[test]
    fn a_read_of_an_overwritten_value_is_impossible() {
        // write 1 [0,1], write 2 [2,3], read 1 [4,5]
        let ops = [
            op(Write(1), 0, Some(1)),
            op(Write(2), 2, Some(3)),
            op(Read(1), 4, Some(5)),
        ];
        let found = impossible_read(&ops, 0).unwrap();
        assert_eq!(found.read, 2);
        assert_eq!(found.sources, vec![(0, 1)]);
        assert_eq!(found.core(), vec![2, 0, 1]);
    }

    #[test]
    fn concurrent_or_unknown_ops_leave_the_read_possible() {
        // The overwrite is concurrent with the read: fine.
        let ops = [
            op(Write(1), 0, Some(1)),
            op(Write(2), 2, Some(5)),
            op(Read(1), 4, Some(6)),
        ];
        assert_eq!(impossible_read(&ops, 0), None);
        // The overwrite is unknown: it may never have happened.
        let ops = [
            op(Write(1), 0, Some(1)),
            op(Write(2), 2, None),
            op(Read(1), 4, Some(5)),
        ];
        assert_eq!(impossible_read(&ops, 0), None);
        // A second, later write of 1 (unknown) may be the source.
        let ops = [
            op(Write(1), 0, Some(1)),
            op(Write(2), 2, Some(3)),
            op(Write(1), 4, None),
            op(Read(1), 5, Some(6)),
        ];
        assert_eq!(impossible_read(&ops, 0), None);
        // An overwrite with the same value does not overwrite.
        let ops = [
            op(Write(1), 0, Some(1)),
            op(Write(1), 2, Some(3)),
            op(Read(1), 4, Some(5)),
        ];
        assert_eq!(impossible_read(&ops, 0), None);
    }

    #[test]
    fn never_written_values_and_overwritten_initial_values_are_impossible() {
        let ops = [op(Write(1), 0, Some(1)), op(Read(7), 2, Some(3))];
        let found = impossible_read(&ops, 0).unwrap();
        assert_eq!((found.read, found.sources.len()), (1, 0));
        let ops = [op(Cas(0, 1), 0, Some(1)), op(Read(0), 2, Some(3))];
        let found = impossible_read(&ops, 0).unwrap();
        assert_eq!(found.initial, Some(0));
        // The initial value read concurrently with its overwrite: fine.
        let ops = [op(Write(1), 0, Some(3)), op(Read(0), 2, Some(4))];
        assert_eq!(impossible_read(&ops, 0), None);
    }

    #[test]
    fn every_source_must_be_overwritten() {
        // 1 is written twice; the second write is overwritten only by an unknown op.
        let ops = [
            op(Write(1), 0, Some(1)),
            op(Write(2), 2, Some(3)),
            op(Write(1), 4, Some(5)),
            op(Write(3), 6, None),
            op(Read(1), 8, Some(9)),
        ];
        assert_eq!(impossible_read(&ops, 0), None);
        let mut ops = ops.to_vec();
        ops[3].ret = Some(7);
        let found = impossible_read(&ops, 0).unwrap();
        assert_eq!(found.sources, vec![(0, 1), (2, 3)]);
    }
}
