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

use crate::check::linearizable::keys::KeyHistory;
use crate::check::linearizable::search::{search, Budget, KeyOp, KeyVerdict, Stuck};
use crate::check::linearizable::window::{Versions, Window};
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
