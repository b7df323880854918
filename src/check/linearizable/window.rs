//! What a shrink's trials are built from: one key's ops compiled twice, as recorded and as
//! relaxed ([`Versions`], kept by the driver for every refutation of the key, with indexes that
//! let a trial read only its window), which of them a trial keeps hard ([`Window`]), and the
//! unknown ops a trial can leave out without changing its answer ([`trimmed`]).

use crate::check::linearizable::keys::{compile_call, KeyHistory};
use crate::check::linearizable::memo::FxMap;
use crate::check::linearizable::search::KeyOp;
use crate::check::model::{Interner, Model};

/// `ops` without the unknown ops no linearization needs, which keeps the answer exactly. An
/// unknown op invoked before every completed op may take effect anywhere in an order (no
/// completed op returned before its invoke), so equal ones are interchangeable. With the model's
/// bound b on equal ops per run of unknown ops ([`Model::unknown_uses_per_run`]), a shortest
/// linearization has at most one run before each of the R completed ops, so it uses at most
/// b × R of them; that many of each kind are kept (at least one: a value merging in `prepare`
/// sees the same ops). A relaxed window of a long history has thousands of such ops. Unknown
/// ops invoked after the last completed op returned are left out too: no completed op is
/// pending when they are invoked, so a linearization never needs them.
/// `per_run` is the model's bound b; `ops` are walked three times (so the caller need not
/// collect them first).
pub(super) fn trimmed<'x, O: Clone + Eq + std::hash::Hash + 'x>(
    per_run: Option<u32>,
    ops: impl Iterator<Item = &'x KeyOp<O>> + Clone,
) -> Vec<KeyOp<O>> {
    let Some(b) = per_run else {
        return ops.cloned().collect();
    };
    let completed = ops.clone().filter(|o| o.ret.is_some());
    let first = completed.clone().map(|o| o.call).min().unwrap_or(u64::MAX);
    let last_ret = completed
        .clone()
        .filter_map(|o| o.ret)
        .max()
        .unwrap_or(u64::MAX);
    let cap = (b as usize).saturating_mul(completed.count()).max(1);
    let mut kept: FxMap<&O, usize> = Default::default();
    ops.filter(|o| {
        if o.ret.is_some() {
            return true;
        }
        if o.call >= first {
            return o.call < last_ret;
        }
        let n = kept.entry(&o.op).or_insert(0);
        *n += 1;
        *n <= cap
    })
    .cloned()
    .collect()
}

/// One key's ops compiled twice, as recorded and as relaxed, in invoke order: the material
/// every trial window is built from (the driver keeps one per key for its refutations), with
/// the indexes that let a trial read only its window.
pub(crate) struct Versions<O> {
    /// Each op as recorded (no value merging).
    pub(super) exact: Vec<KeyOp<O>>,
    /// Each op relaxed (unknown outcome), or `None` where the model drops it.
    pub(super) relaxed: Vec<Option<KeyOp<O>>>,
    /// Positions in the key's op list, sorted by invoke: op `idx[k]` has *rank* k.
    pub(super) idx: Vec<usize>,
    /// Each rank's invoke position.
    pub(super) calls: Vec<u64>,
    /// Each op's rank.
    pub(super) rank: Vec<usize>,
    /// The completed ops (positions) by return.
    pub(super) by_ret: Vec<usize>,
    /// The classes of equal relaxed ops: each one's number, and each class's ranks in order.
    pub(super) class: FxMap<O, usize>,
    pub(super) members: Vec<Vec<u32>>,
    /// The values both were compiled with.
    pub(super) values: Interner,
}

impl<O: Clone + Eq + std::hash::Hash> Versions<O> {
    /// Recompiles `part` as recorded and as relaxed; `None` if the model refuses a call.
    pub(crate) fn new<M: Model<Op = O>>(
        model: &M,
        history: &crate::history::History,
        part: &KeyHistory<O>,
    ) -> Option<Self> {
        let mut values = part.values.clone();
        let n = part.ops.len();
        let mut exact = Vec::with_capacity(n);
        let mut relaxed = Vec::with_capacity(n);
        for &origin in &part.origin {
            exact.push(compile_call(model, history, origin, false, &mut values).ok()??);
            relaxed.push(compile_call(model, history, origin, true, &mut values).ok()?);
        }
        Some(Versions::indexed(exact, relaxed, values))
    }

    /// The ops both ways with their indexes.
    pub(super) fn indexed(
        exact: Vec<KeyOp<O>>,
        relaxed: Vec<Option<KeyOp<O>>>,
        values: Interner,
    ) -> Self {
        let n = exact.len();
        let mut idx: Vec<usize> = (0..n).collect();
        idx.sort_by_key(|&i| exact[i].call);
        let calls = idx.iter().map(|&i| exact[i].call).collect();
        let mut rank = vec![0; n];
        for (k, &i) in idx.iter().enumerate() {
            rank[i] = k;
        }
        let mut by_ret: Vec<usize> = (0..n).filter(|&i| exact[i].ret.is_some()).collect();
        by_ret.sort_by_key(|&i| (exact[i].ret, i));
        let mut class: FxMap<O, usize> = Default::default();
        let mut members: Vec<Vec<u32>> = Vec::new();
        for (k, &i) in idx.iter().enumerate() {
            if let Some(o) = &relaxed[i] {
                let c = *class.entry(o.op.clone()).or_insert_with(|| {
                    members.push(Vec::new());
                    members.len() - 1
                });
                members[c].push(k as u32);
            }
        }
        Versions {
            exact,
            relaxed,
            idx,
            calls,
            rank,
            by_ret,
            class,
            members,
            values,
        }
    }

    /// Whether op `i` completed before history position `cut` (and is left out with the cut).
    pub(super) fn before_cut(&self, i: usize, cut: Option<u64>) -> bool {
        cut.is_some_and(|t| self.exact[i].ret.is_some_and(|r| r < t))
    }

    /// The op of rank `k` in window `w`: as recorded if hard, else relaxed (if the model keeps
    /// it).
    pub(super) fn op_at(&self, w: &Window, k: usize) -> Option<&KeyOp<O>> {
        let i = self.idx[k];
        if w.is_hard(k) {
            Some(&self.exact[i])
        } else {
            self.relaxed[i].as_ref()
        }
    }

    /// The ops of a trial, [`trimmed`] with the model's bound `per_run`: those hard in `w` as
    /// recorded, the others relaxed. With a cut at history position t, the ops that completed
    /// before t are left out and the proof must hold from any state (see `Shrunk::cut`).
    pub(super) fn build(&self, w: &Window, per_run: Option<u32>) -> Vec<KeyOp<O>> {
        if let (None, Some(b)) = (w.cut, per_run) {
            return self.build_window(w, b);
        }
        let picked = (0..self.idx.len()).filter_map(move |k| {
            if self.before_cut(self.idx[k], w.cut) {
                None
            } else {
                self.op_at(w, k)
            }
        });
        trimmed(per_run, picked)
    }

    /// [`build`](Self::build) without a cut, with bound `b`, reading only the window: the same
    /// ops as [`trimmed`] keeps. The completed ops are the hard ones; every op before the first
    /// of them is unknown, and of those each class keeps its first b × R (R completed ops),
    /// which for the ranks before the window (all relaxed) are the first members of its class.
    /// From the first completed op on, every op invoked before the last return is kept.
    pub(super) fn build_window(&self, w: &Window, b: u32) -> Vec<KeyOp<O>> {
        let hi = w.lo + w.hard.len();
        let completed =
            (w.lo..hi).filter(|&k| w.is_hard(k) && self.exact[self.idx[k]].ret.is_some());
        let (Some(first), Some(last_ret)) = (
            completed.clone().next(),
            completed
                .clone()
                .filter_map(|k| self.exact[self.idx[k]].ret)
                .max(),
        ) else {
            // Nothing to linearize: no op is needed.
            return Vec::new();
        };
        let cap = (b as usize).saturating_mul(completed.count()).max(1);
        let mut early: Vec<usize> = Vec::new();
        for ranks in &self.members {
            let before = ranks.partition_point(|&k| (k as usize) < w.lo);
            early.extend(ranks[..before.min(cap)].iter().map(|&k| k as usize));
        }
        // The ranks from the window's start to the first completed op count on from there.
        let mut kept: FxMap<&O, usize> = Default::default();
        for k in w.lo..first {
            let Some(o) = self.op_at(w, k) else {
                continue;
            };
            let n = kept.entry(&o.op).or_insert_with(|| {
                self.class.get(&o.op).map_or(0, |&c| {
                    self.members[c].partition_point(|&m| (m as usize) < w.lo)
                })
            });
            *n += 1;
            if *n <= cap {
                early.push(k);
            }
        }
        early.sort_unstable();
        let end = self.calls.partition_point(|&c| c < last_ret);
        early
            .into_iter()
            .chain(first..end)
            .filter_map(|k| self.op_at(w, k).cloned())
            .collect()
    }
}

/// A trial window: the blocked op, which ops are hard (kept as recorded), the cut.
#[derive(Clone, Debug)]
pub(super) struct Window {
    /// The op that cannot be placed (a position in the key's ops).
    pub(super) blocked: usize,
    /// The rank `hard` starts at.
    pub(super) lo: usize,
    /// Whether each rank from `lo` on is hard; every other op is relaxed.
    pub(super) hard: Vec<bool>,
    /// With `Some(t)`, the ops completed before history position t are left out and the proof
    /// must hold from any state.
    pub(super) cut: Option<u64>,
}

impl Window {
    /// Whether the op of rank `k` is hard.
    pub(super) fn is_hard(&self, k: usize) -> bool {
        k.checked_sub(self.lo)
            .and_then(|j| self.hard.get(j))
            .copied()
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::linearizable::search::{search, Budget, KeyVerdict};
    use crate::check::models::cas_register::{CasRegister, RegisterOp};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::sync::atomic::{AtomicBool, AtomicU64};

    /// Random register ops: unknown writes and cas over three values invoked first, then a few
    /// overlapping completed ops.
    fn ops(seed: u64) -> Vec<KeyOp<RegisterOp>> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut out = Vec::new();
        let mut t = 0u64;
        for _ in 0..rng.gen_range(0..14) {
            let (a, b) = (rng.gen_range(0..3), rng.gen_range(0..3));
            let op = match rng.gen_range(0..3) {
                0 => RegisterOp::CasUnknown(a, b),
                _ => RegisterOp::Write(a),
            };
            out.push(KeyOp {
                op,
                call: t,
                ret: None,
            });
            t += 1;
        }
        let (mut todo, mut pending): (usize, Vec<usize>) = (rng.gen_range(1..6), Vec::new());
        while todo > 0 || !pending.is_empty() {
            if todo > 0 && (pending.len() < 3 && rng.gen_bool(0.5) || pending.is_empty()) {
                let (a, b) = (rng.gen_range(0..3), rng.gen_range(0..3));
                let op = match rng.gen_range(0..3) {
                    0 => RegisterOp::Read(a),
                    1 => RegisterOp::Write(a),
                    _ => RegisterOp::Cas(a, b),
                };
                pending.push(out.len());
                out.push(KeyOp {
                    op,
                    call: t,
                    ret: None,
                });
                todo -= 1;
            } else {
                let i = pending.swap_remove(rng.gen_range(0..pending.len()));
                out[i].ret = Some(t);
            }
            t += 1;
        }
        out
    }

    #[test]
    fn trimming_unknown_ops_before_every_completed_op_keeps_the_verdict() {
        let model = CasRegister {
            initial: 0,
            cas: true,
        };
        let (used, cancel) = (AtomicU64::new(0), AtomicBool::new(false));
        let budget = Budget {
            deadline: None,
            memory_limit: 1 << 30,
            memory_used: &used,
            cancel: &cancel,
            max_steps: u64::MAX,
            checkpoint: None,
        };
        let valid = |ops: &[KeyOp<RegisterOp>]| {
            matches!(search(&model, ops, &budget).0, KeyVerdict::Linearizable)
        };
        let (mut trimmed_some, mut invalid) = (0, 0);
        for seed in 0..2000 {
            let all = ops(seed);
            let fewer = trimmed(model.unknown_uses_per_run(), all.iter());
            if fewer.len() < all.len() {
                trimmed_some += 1;
            }
            let v = valid(&all);
            invalid += usize::from(!v);
            assert_eq!(v, valid(&fewer), "seed {seed}: {all:?}");
        }
        assert!(
            trimmed_some > 200 && invalid > 100,
            "{trimmed_some} {invalid}"
        );
    }

    /// A key's ops both ways: random register ops (a fifth of them unknown) with overlapping
    /// intervals, every event at its own position; relaxed, reads are dropped and the rest
    /// become unknown.
    fn versions(seed: u64) -> Versions<RegisterOp> {
        let mut rng = StdRng::seed_from_u64(seed);
        let n = rng.gen_range(1..60);
        let (mut exact, mut relaxed) = (Vec::new(), Vec::new());
        for i in 0..n as u64 {
            let (a, b) = (rng.gen_range(0..3), rng.gen_range(0..3));
            let unknown = rng.gen_bool(0.2);
            let (op, loose) = match rng.gen_range(0..3) {
                0 => (RegisterOp::Read(a), None),
                1 => (RegisterOp::Write(a), Some(RegisterOp::Write(a))),
                _ if unknown => (
                    RegisterOp::CasUnknown(a, b),
                    Some(RegisterOp::CasUnknown(a, b)),
                ),
                _ => (RegisterOp::Cas(a, b), Some(RegisterOp::CasUnknown(a, b))),
            };
            let call = 10 * i;
            let ret = (!unknown).then(|| 10 * (i + rng.gen_range(0..6)) + 5);
            exact.push(KeyOp { op, call, ret });
            relaxed.push(loose.map(|op| KeyOp {
                op,
                call,
                ret: None,
            }));
        }
        Versions::indexed(exact, relaxed, Interner::default())
    }

    #[test]
    fn a_window_read_through_the_indexes_has_the_ops_trimming_keeps() {
        let seen = |ops: &[KeyOp<RegisterOp>]| -> Vec<(u64, Option<u64>, RegisterOp)> {
            ops.iter().map(|o| (o.call, o.ret, o.op)).collect()
        };
        let mut compared = 0;
        for seed in 0..3000 {
            let v = versions(seed);
            let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
            let n = v.idx.len();
            let lo = rng.gen_range(0..n);
            let hi = rng.gen_range(lo..=n);
            let w = Window {
                blocked: v.idx[lo],
                lo,
                hard: (lo..hi).map(|_| rng.gen_bool(0.7)).collect(),
                cut: None,
            };
            let per_run = rng.gen_range(1..3);
            let fast = v.build_window(&w, per_run);
            let picked = (0..n).filter_map(|k| v.op_at(&w, k));
            let slow = trimmed(Some(per_run), picked);
            if slow.iter().any(|o| o.ret.is_some()) {
                assert_eq!(seen(&fast), seen(&slow), "seed {seed}: {w:?}");
                compared += 1;
            } else {
                assert!(fast.is_empty(), "seed {seed}");
            }
        }
        assert!(compared > 1500, "{compared}");
    }
}
