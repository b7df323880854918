//! Shrinking a non-linearizable key to a few ops that still prove it.
//!
//! A history stays non-linearizable when it is *relaxed*: an op that only observes (a read) is
//! removed, an op that changes the state is made unknown (it may take effect at any time after
//! its invoke, or never). Any linearization of the original would also serve the relaxed one, so
//! a relaxed history that is still not linearizable proves the original is not. (Dropping an op
//! that changes the state is not a relaxation, so ops are never simply cut off.) The shrinker
//! relaxes every op invoked after the blocked op returned, then everything but the last few ops
//! before it (growing the window until the result is still invalid), then tries to relax each
//! remaining op, latest first. The ops never relaxed are the core the report shows. When the
//! op the search was blocked at does not give an invalid cut, the next few ops (by return) are
//! tried instead.
//!
//! How far a shrink gets is measured in work, never in time: every trial search runs within a
//! step budget, and the whole shrink within an [`Allowance`] of work (the trials' search steps
//! plus one per op of each trial window) that the caller derives from the sizes involved. A
//! trial that runs out proves nothing and is rejected. An explanation whose relaxing runs out
//! of work gives up (the caller names the blocked op's neighbours instead); a refutation keeps
//! what it has, which proves the key invalid all the same. So which ops a counterexample names
//! is the same on any machine, under any load.

use crate::check::linearizable::keys::{compile_call, KeyHistory};
use crate::check::linearizable::memo::FxMap;
use crate::check::linearizable::search::{search, Budget, KeyOp, KeyVerdict, Stuck};
use crate::check::model::{CallView, Interner, Model};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Instant;

/// Steps one trial search may take before the trial counts as "not shown invalid".
const TRIAL_STEPS: u64 = 1 << 16;
/// Steps each search of the shrunk ops for the states to show ([`stuck_on`]) may take.
const STUCK_STEPS: u64 = 1 << 17;
/// Window sizes tried (ops before the blocked one kept as recorded); the last means "all". The
/// smallest ones matter from any state: a cut just before the anomaly, where no other op was
/// running, leaves nothing relaxed that could take effect in its midst.
const WINDOWS: [usize; 7] = [1, 3, 8, 32, 128, 512, usize::MAX];
/// How many ops (by return, from the blocked one) are tried as the blocked op.
const CANDIDATES: usize = 16;
/// How many of them are tried when refuting a key the search has not decided.
const REFUTE_CANDIDATES: usize = 8;

/// How much one shrink may do. The same on every machine, so its result does not depend on
/// the machine's speed or load.
#[derive(Clone, Copy, Debug)]
pub struct Allowance {
    /// Work units: the trials' search steps, plus one per op of each trial window.
    pub work: u64,
    /// The check's own time limit (the user's `--time-limit`), if any: a safety net past which
    /// no trial runs and the shrink gives up. A run that does not reach its time limit gets the
    /// same answer as without it.
    pub deadline: Option<Instant>,
}

/// A smaller relaxed history of one key, still not linearizable.
pub struct Shrunk<O, S> {
    /// The relaxed ops (unprepared: values as recorded).
    pub part: KeyHistory<O>,
    /// For each op of `part`: true if it is kept as recorded (part of the core).
    pub hard: Vec<bool>,
    /// Where the search on the relaxed ops got stuck.
    pub stuck: Stuck<S>,
    /// Position in `part` of the op that cannot be placed (all ops invoked after it returned
    /// are relaxed).
    pub blocked: usize,
    /// Ops of the key before shrinking.
    pub original_ops: usize,
    /// When the proof holds from any state: the history position of the first op kept, and
    /// how many ops (those completed before it) were left out.
    pub cut: Option<(usize, usize)>,
}

/// A model started in a given state instead of its initial one (for proofs from any state).
struct Started<'a, M: Model> {
    model: &'a M,
    start: M::State,
}

impl<M: Model> Model for Started<'_, M> {
    type State = M::State;
    type Op = M::Op;
    fn name(&self) -> &'static str {
        self.model.name()
    }
    fn init(&self) -> M::State {
        self.start.clone()
    }
    fn compile(&self, call: &CallView, values: &mut Interner) -> Result<Option<M::Op>, String> {
        self.model.compile(call, values)
    }
    fn step(&self, state: &M::State, op: &M::Op) -> Option<M::State> {
        self.model.step(state, op)
    }
    fn is_observer(&self, op: &M::Op) -> bool {
        self.model.is_observer(op)
    }
    fn unknown_uses_per_run(&self) -> Option<u32> {
        self.model.unknown_uses_per_run()
    }
    fn describe_state(&self, state: &M::State, values: &Interner) -> String {
        self.model.describe_state(state, values)
    }
}

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
fn trimmed<'x, O: Clone + Eq + std::hash::Hash + 'x>(
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

/// The trials of one shrink and the work they have left.
struct Trial<'a, M: Model> {
    model: &'a M,
    /// Work units left (see [`Allowance::work`]).
    left: Cell<u64>,
    /// See [`Allowance::deadline`].
    deadline: Option<Instant>,
    used: AtomicU64,
    cancel: AtomicBool,
}

impl<M: Model> Trial<'_, M> {
    /// Whether the allowance is spent (or the check's time limit passed): no more trials.
    fn out(&self) -> bool {
        self.left.get() == 0 || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Takes `units` of work from what is left.
    fn charge(&self, units: u64) {
        self.left.set(self.left.get().saturating_sub(units));
    }

    /// A search budget of at most `steps` steps, within the check's time limit.
    fn budget(&self, steps: u64) -> Budget<'_> {
        Budget {
            deadline: self.deadline,
            memory_limit: 256 << 20,
            memory_used: &self.used,
            cancel: &self.cancel,
            max_steps: steps,
            checkpoint: None,
        }
    }

    /// One trial search of `ops` under `model` within what is left (at most [`TRIAL_STEPS`]),
    /// its steps charged; true only if it showed them not linearizable.
    fn refuted<N: Model>(&self, model: &N, ops: &[KeyOp<N::Op>]) -> bool {
        let budget = self.budget(TRIAL_STEPS.min(self.left.get()));
        let (verdict, stats) = search(model, ops, &budget);
        self.charge(stats.steps);
        matches!(verdict, KeyVerdict::NotLinearizable(_))
    }

    /// Searches with the model's value merging (fast); true only if shown not linearizable.
    /// With `any_state`, from every state the model can be in (without value merging).
    fn invalid(&self, ops: &[KeyOp<M::Op>], any_state: bool) -> bool {
        self.charge(ops.len() as u64);
        if self.out() {
            return false;
        }
        if any_state {
            let Some(starts) = self.model.any_states() else {
                return false;
            };
            return starts.into_iter().all(|start| {
                let from = Started {
                    model: self.model,
                    start,
                };
                !self.out() && self.refuted(&from, ops)
            });
        }
        let mut compiled: Vec<M::Op> = ops.iter().map(|o| o.op.clone()).collect();
        self.model.prepare(&mut compiled);
        let prepared: Vec<KeyOp<M::Op>> = ops
            .iter()
            .zip(compiled)
            .map(|(o, op)| KeyOp {
                op,
                call: o.call,
                ret: o.ret,
            })
            .collect();
        self.refuted(self.model, &prepared)
    }
}

/// How hard to try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effort {
    /// The key is known not linearizable: find a small proof, trying several blocked ops and
    /// finally the whole cut.
    Explain,
    /// The key is unresolved: try only the given blocked op and windows smaller than the
    /// whole history (the full search is running anyway).
    Refute,
}

/// One key's ops compiled twice, as recorded and as relaxed, in invoke order: the material
/// every trial window is built from (the driver keeps one per key for its refutations), with
/// the indexes that let a trial read only its window.
pub(crate) struct Versions<O> {
    /// Each op as recorded (no value merging).
    exact: Vec<KeyOp<O>>,
    /// Each op relaxed (unknown outcome), or `None` where the model drops it.
    relaxed: Vec<Option<KeyOp<O>>>,
    /// Positions in the key's op list, sorted by invoke: op `idx[k]` has *rank* k.
    idx: Vec<usize>,
    /// Each rank's invoke position.
    calls: Vec<u64>,
    /// Each op's rank.
    rank: Vec<usize>,
    /// The completed ops (positions) by return.
    by_ret: Vec<usize>,
    /// The classes of equal relaxed ops: each one's number, and each class's ranks in order.
    class: FxMap<O, usize>,
    members: Vec<Vec<u32>>,
    /// The values both were compiled with.
    values: Interner,
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
    fn indexed(exact: Vec<KeyOp<O>>, relaxed: Vec<Option<KeyOp<O>>>, values: Interner) -> Self {
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
    fn before_cut(&self, i: usize, cut: Option<u64>) -> bool {
        cut.is_some_and(|t| self.exact[i].ret.is_some_and(|r| r < t))
    }

    /// The op of rank `k` in window `w`: as recorded if hard, else relaxed (if the model keeps
    /// it).
    fn op_at(&self, w: &Window, k: usize) -> Option<&KeyOp<O>> {
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
    fn build(&self, w: &Window, per_run: Option<u32>) -> Vec<KeyOp<O>> {
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
    fn build_window(&self, w: &Window, b: u32) -> Vec<KeyOp<O>> {
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
struct Window {
    /// The op that cannot be placed (a position in the key's ops).
    blocked: usize,
    /// The rank `hard` starts at.
    lo: usize,
    /// Whether each rank from `lo` on is hard; every other op is relaxed.
    hard: Vec<bool>,
    /// With `Some(t)`, the ops completed before history position t are left out and the proof
    /// must hold from any state.
    cut: Option<u64>,
}

impl Window {
    /// Whether the op of rank `k` is hard.
    fn is_hard(&self, k: usize) -> bool {
        k.checked_sub(self.lo)
            .and_then(|j| self.hard.get(j))
            .copied()
            .unwrap_or(false)
    }
}

/// The first window shown invalid. The blocked op: the one given, else one of the next ones to
/// return. For each, keep hard only the ops invoked before it returned and at most `window` ops
/// before it, for growing windows.
fn find_window<M: Model>(
    trial: &Trial<'_, M>,
    v: &Versions<M::Op>,
    blocked: usize,
    effort: Effort,
) -> Option<Window> {
    let first_ret = v.exact[blocked].ret?;
    let from = v
        .by_ret
        .partition_point(|&i| v.exact[i].ret < Some(first_ret));
    let next = v.by_ret[from..].iter().copied().filter(|&i| i != blocked);
    let any_state = trial.model.any_states().is_some();
    let per_run = trial.model.unknown_uses_per_run();
    let (candidates, windows) = match effort {
        Effort::Explain => (CANDIDATES, &WINDOWS[..]),
        Effort::Refute => (REFUTE_CANDIDATES, &WINDOWS[..WINDOWS.len() - 1]),
    };
    for b in std::iter::once(blocked).chain(next).take(candidates) {
        let b_ret = v.exact[b].ret?;
        let b_pos = v.rank[b];
        // Hard: the ops invoked before b returned, from the window's start.
        let hi = v.calls.partition_point(|&c| c < b_ret);
        for &window in windows {
            let lo = b_pos.saturating_sub(window);
            let w = Window {
                blocked: b,
                lo,
                hard: vec![true; hi - lo],
                cut: None,
            };
            if trial.invalid(&v.build(&w, per_run), false) {
                return Some(w);
            }
            // From any state, with the ops completed before the window left out.
            if any_state {
                let w = Window {
                    cut: Some(v.calls[lo]),
                    ..w
                };
                if trial.invalid(&v.build(&w, per_run), true) {
                    return Some(w);
                }
            }
            if lo == 0 || trial.out() {
                break;
            }
        }
    }
    None
}

/// Relaxes each remaining op of the window, latest first, keeping each relaxation that stays
/// invalid.
fn relax_rest<M: Model>(trial: &Trial<'_, M>, v: &Versions<M::Op>, w: &mut Window) {
    let per_run = trial.model.unknown_uses_per_run();
    for j in (0..w.hard.len()).rev() {
        if !w.hard[j] || v.idx[w.lo + j] == w.blocked {
            continue;
        }
        w.hard[j] = false;
        if !trial.invalid(&v.build(w, per_run), w.cut.is_some()) {
            w.hard[j] = true;
        }
    }
}

/// The shrunk history: the window's ops without the relaxed ones the model ignores, with
/// which are hard and the position of the blocked op.
fn assemble<O: Clone + Eq + std::hash::Hash>(
    part: &KeyHistory<O>,
    v: &Versions<O>,
    w: &Window,
) -> (KeyHistory<O>, Vec<bool>, usize) {
    let mut shrunk = KeyHistory {
        key: part.key.clone(),
        ops: Vec::new(),
        origin: Vec::new(),
        values: v.values.clone(),
    };
    let mut keep = Vec::new();
    let mut blocked = 0;
    for (k, &i) in v.idx.iter().enumerate() {
        if v.before_cut(i, w.cut) {
            continue;
        }
        if i == w.blocked {
            blocked = shrunk.ops.len();
        }
        if let Some(op) = v.op_at(w, k) {
            shrunk.ops.push(op.clone());
            shrunk.origin.push(part.origin[i]);
            keep.push(w.is_hard(k));
        }
    }
    (shrunk, keep, blocked)
}

/// Searches the shrunk ops as recorded, for states in the words of the history; if that does
/// not finish within [`STUCK_STEPS`], with the model's value merging (then `ops` keep the
/// merged values).
fn stuck_on<M: Model>(trial: &Trial<'_, M>, ops: &mut [KeyOp<M::Op>]) -> Option<Stuck<M::State>> {
    let model = trial.model;
    let budget = trial.budget(STUCK_STEPS);
    if let KeyVerdict::NotLinearizable(stuck) = search(model, ops, &budget).0 {
        return Some(stuck);
    }
    let mut compiled: Vec<M::Op> = ops.iter().map(|o| o.op.clone()).collect();
    model.prepare(&mut compiled);
    for (o, c) in ops.iter_mut().zip(compiled) {
        o.op = c;
    }
    match search(model, ops, &budget).0 {
        KeyVerdict::NotLinearizable(stuck) => Some(stuck),
        _ => None,
    }
}

/// Tries to prove `part` not linearizable around the op at position `blocked` (or one of the
/// next ops to return) with a small relaxed window, and shrinks that window. `None` if no such
/// proof was found within `allowance`. Sound on its own: a result is a relaxation of the key's
/// history that the search showed not linearizable.
pub fn shrink<M: Model>(
    model: &M,
    history: &crate::history::History,
    part: &KeyHistory<M::Op>,
    blocked: usize,
    allowance: Allowance,
    effort: Effort,
) -> Option<Shrunk<M::Op, M::State>> {
    let v = Versions::new(model, history, part)?;
    shrink_with(model, part, &v, blocked, allowance, effort)
}

/// [`shrink`] with the key's ops already compiled both ways.
pub(crate) fn shrink_with<M: Model>(
    model: &M,
    part: &KeyHistory<M::Op>,
    v: &Versions<M::Op>,
    blocked: usize,
    allowance: Allowance,
    effort: Effort,
) -> Option<Shrunk<M::Op, M::State>> {
    let trial = Trial {
        model,
        left: Cell::new(allowance.work),
        deadline: allowance.deadline,
        used: AtomicU64::new(0),
        cancel: AtomicBool::new(false),
    };
    let mut window = find_window(&trial, v, blocked, effort)?;
    relax_rest(&trial, v, &mut window);
    // Relaxed only partly, a proof still refutes the key, but it names too many ops to explain
    // it: the caller explains without one.
    if effort == Effort::Explain && trial.out() {
        return None;
    }
    let cut = window.cut;
    let cut_ops = cut.map_or(0, |_| {
        v.idx.iter().filter(|&&i| v.before_cut(i, cut)).count()
    });
    let (mut shrunk, hard, blocked) = assemble(part, v, &window);
    let stuck = stuck_on(&trial, &mut shrunk.ops)?;
    Some(Shrunk {
        part: shrunk,
        hard,
        stuck,
        blocked,
        original_ops: part.ops.len(),
        cut: cut.map(|t| (t as usize, cut_ops)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::models::cas_register::{CasRegister, RegisterOp};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

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
