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

use crate::check::linearizable::keys::{compile_call, KeyHistory};
use crate::check::linearizable::memo::FxMap;
use crate::check::linearizable::search::{search, Budget, KeyOp, KeyVerdict, Stuck};
use crate::check::model::{CallView, Interner, Model};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant};

/// How long shrinking may take in total.
pub const SHRINK_TIME: Duration = Duration::from_secs(2);
/// Steps one trial search may take before the trial counts as "not shown invalid".
const TRIAL_STEPS: u64 = 1 << 16;
/// Window sizes tried (ops before the blocked one kept as recorded); the last means "all". The
/// smallest ones matter from any state: a cut just before the anomaly, where no other op was
/// running, leaves nothing relaxed that could take effect in its midst.
const WINDOWS: [usize; 7] = [1, 3, 8, 32, 128, 512, usize::MAX];
/// How many ops (by return, from the blocked one) are tried as the blocked op.
const CANDIDATES: usize = 16;
/// How many of them are tried when refuting a key the search has not decided.
const REFUTE_CANDIDATES: usize = 8;

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

struct Trial<'a, M: Model> {
    model: &'a M,
    deadline: Instant,
    used: AtomicU64,
    cancel: AtomicBool,
}

impl<M: Model> Trial<'_, M> {
    /// Searches with the model's value merging (fast); true only if shown not linearizable.
    /// With `any_state`, from every state the model can be in (without value merging).
    fn invalid(&self, ops: &[KeyOp<M::Op>], any_state: bool) -> bool {
        if Instant::now() >= self.deadline {
            return false;
        }
        let budget = Budget {
            deadline: Some(self.deadline),
            memory_limit: 256 << 20,
            memory_used: &self.used,
            cancel: &self.cancel,
            max_steps: TRIAL_STEPS,
            checkpoint: None,
        };
        if any_state {
            let Some(starts) = self.model.any_states() else {
                return false;
            };
            return starts.into_iter().all(|start| {
                let from = Started {
                    model: self.model,
                    start,
                };
                matches!(
                    search(&from, ops, &budget).0,
                    KeyVerdict::NotLinearizable(_)
                )
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
        matches!(
            search(self.model, &prepared, &budget).0,
            KeyVerdict::NotLinearizable(_)
        )
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
/// every trial window is built from (the driver keeps one per key for its refutations).
pub(crate) struct Versions<O> {
    /// Each op as recorded (no value merging).
    exact: Vec<KeyOp<O>>,
    /// Each op relaxed (unknown outcome), or `None` where the model drops it.
    relaxed: Vec<Option<KeyOp<O>>>,
    /// Positions in the key's op list, sorted by invoke.
    idx: Vec<usize>,
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
        let mut idx: Vec<usize> = (0..n).collect();
        idx.sort_by_key(|&i| exact[i].call);
        Some(Versions {
            exact,
            relaxed,
            idx,
            values,
        })
    }

    /// Whether op `i` completed before history position `cut` (and is left out with the cut).
    fn before_cut(&self, i: usize, cut: Option<u64>) -> bool {
        cut.is_some_and(|t| self.exact[i].ret.is_some_and(|r| r < t))
    }

    /// The ops of a trial, [`trimmed`] with the model's bound `per_run`: in invoke order, those
    /// `hard` as recorded, the others relaxed. With a cut at history position t, the ops that
    /// completed before t are left out and the proof must hold from any state (see
    /// `Shrunk::cut`).
    fn build(&self, hard: &[bool], cut: Option<u64>, per_run: Option<u32>) -> Vec<KeyOp<O>> {
        let picked = self.idx.iter().zip(hard).filter_map(move |(&i, &h)| {
            if self.before_cut(i, cut) {
                None
            } else if h {
                Some(&self.exact[i])
            } else {
                self.relaxed[i].as_ref()
            }
        });
        trimmed(per_run, picked)
    }
}

/// A window found invalid: the blocked op, which ops are hard (in invoke order), the cut.
type Window = (usize, Vec<bool>, Option<u64>);

/// The first window shown invalid. The blocked op: the one given, else one of the next ones to
/// return. For each, keep hard only the ops invoked before it returned and at most `window` ops
/// before it, for growing windows.
fn find_window<M: Model>(
    trial: &Trial<'_, M>,
    v: &Versions<M::Op>,
    blocked: usize,
    effort: Effort,
) -> Option<Window> {
    let (exact, idx) = (&v.exact, &v.idx);
    let first_ret = exact[blocked].ret?;
    let mut by_ret: Vec<usize> = (0..exact.len())
        .filter(|&i| exact[i].ret.is_some_and(|r| r >= first_ret))
        .collect();
    by_ret.sort_by_key(|&i| (i != blocked, exact[i].ret));
    let any_state = trial.model.any_states().is_some();
    let per_run = trial.model.unknown_uses_per_run();
    let (candidates, windows) = match effort {
        Effort::Explain => (CANDIDATES, &WINDOWS[..]),
        Effort::Refute => (REFUTE_CANDIDATES, &WINDOWS[..WINDOWS.len() - 1]),
    };
    for &b in by_ret.iter().take(candidates) {
        let b_ret = exact[b].ret?;
        let b_pos = idx.iter().position(|&i| i == b)?;
        for &window in windows {
            let start = b_pos.saturating_sub(window);
            let hard: Vec<bool> = idx
                .iter()
                .enumerate()
                .map(|(k, &i)| k >= start && exact[i].call < b_ret)
                .collect();
            if trial.invalid(&v.build(&hard, None, per_run), false) {
                return Some((b, hard, None));
            }
            // From any state, with the ops completed before the window left out.
            let cut = Some(exact[idx[start]].call);
            if any_state && trial.invalid(&v.build(&hard, cut, per_run), true) {
                return Some((b, hard, cut));
            }
            if start == 0 || Instant::now() >= trial.deadline {
                break;
            }
        }
    }
    None
}

/// Relaxes each remaining op of the window, latest first, keeping each relaxation that stays
/// invalid.
fn relax_rest<M: Model>(trial: &Trial<'_, M>, v: &Versions<M::Op>, window: &mut Window) {
    let (b, hard, cut) = window;
    let per_run = trial.model.unknown_uses_per_run();
    for k in (0..v.idx.len()).rev() {
        if !hard[k] || v.idx[k] == *b {
            continue;
        }
        hard[k] = false;
        if !trial.invalid(&v.build(hard, *cut, per_run), cut.is_some()) {
            hard[k] = true;
        }
    }
}

/// The shrunk history: the window's ops without the relaxed ones the model ignores, with
/// which are hard and the position of the blocked op.
fn assemble<O: Clone + Eq + std::hash::Hash>(
    part: &KeyHistory<O>,
    v: &Versions<O>,
    window: &Window,
) -> (KeyHistory<O>, Vec<bool>, usize) {
    let (b, hard, cut) = window;
    let mut shrunk = KeyHistory {
        key: part.key.clone(),
        ops: Vec::new(),
        origin: Vec::new(),
        values: v.values.clone(),
    };
    let mut keep = Vec::new();
    let mut blocked = 0;
    for (k, &i) in v.idx.iter().enumerate() {
        if v.before_cut(i, *cut) {
            continue;
        }
        if i == *b {
            blocked = shrunk.ops.len();
        }
        let op = if hard[k] {
            Some(v.exact[i].clone())
        } else {
            v.relaxed[i].clone()
        };
        if let Some(op) = op {
            shrunk.ops.push(op);
            shrunk.origin.push(part.origin[i]);
            keep.push(hard[k]);
        }
    }
    (shrunk, keep, blocked)
}

/// Searches the shrunk ops as recorded, for states in the words of the history; if that takes
/// too long, with the model's value merging (then `ops` keep the merged values).
fn stuck_on<M: Model>(trial: &Trial<'_, M>, ops: &mut [KeyOp<M::Op>]) -> Option<Stuck<M::State>> {
    let model = trial.model;
    let budget = Budget {
        deadline: Some(
            trial
                .deadline
                .max(Instant::now() + Duration::from_millis(20)),
        ),
        memory_limit: 256 << 20,
        memory_used: &trial.used,
        cancel: &trial.cancel,
        max_steps: u64::MAX,
        checkpoint: None,
    };
    if let KeyVerdict::NotLinearizable(stuck) = search(model, ops, &budget).0 {
        return Some(stuck);
    }
    let mut compiled: Vec<M::Op> = ops.iter().map(|o| o.op.clone()).collect();
    model.prepare(&mut compiled);
    for (o, c) in ops.iter_mut().zip(compiled) {
        o.op = c;
    }
    let budget = Budget {
        deadline: Some(
            trial
                .deadline
                .max(Instant::now() + Duration::from_millis(20)),
        ),
        ..budget
    };
    match search(model, ops, &budget).0 {
        KeyVerdict::NotLinearizable(stuck) => Some(stuck),
        _ => None,
    }
}

/// Tries to prove `part` not linearizable around the op at position `blocked` (or one of the
/// next ops to return) with a small relaxed window, and shrinks that window. `None` if no such
/// proof was found before `deadline`. Sound on its own: a result is a relaxation of the key's
/// history that the search showed not linearizable.
pub fn shrink<M: Model>(
    model: &M,
    history: &crate::history::History,
    part: &KeyHistory<M::Op>,
    blocked: usize,
    deadline: Instant,
    effort: Effort,
) -> Option<Shrunk<M::Op, M::State>> {
    let v = Versions::new(model, history, part)?;
    shrink_with(model, part, &v, blocked, deadline, effort)
}

/// [`shrink`] with the key's ops already compiled both ways.
pub(crate) fn shrink_with<M: Model>(
    model: &M,
    part: &KeyHistory<M::Op>,
    v: &Versions<M::Op>,
    blocked: usize,
    deadline: Instant,
    effort: Effort,
) -> Option<Shrunk<M::Op, M::State>> {
    let trial = Trial {
        model,
        deadline,
        used: AtomicU64::new(0),
        cancel: AtomicBool::new(false),
    };
    let mut window = find_window(&trial, v, blocked, effort)?;
    relax_rest(&trial, v, &mut window);
    let cut = window.2;
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
}
