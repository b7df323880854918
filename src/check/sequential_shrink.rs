//! Shrinking a sequential-consistency violation the search found to a few ops that are *proved*
//! not sequentially consistent on their own.
//!
//! Every candidate core is decided by the exhaustive search of [`crate::check::sequential`]
//! within a step budget ([`Trials`]); only a search that exhausts every order (`invalid`)
//! counts, and one that runs out of steps proves nothing and is rejected. The budgets are
//! steps, never time, so the ops an explanation names do not depend on the machine's load.
//!
//! 1. **Projections** (sets, and registers whose written values are unique per key): the
//!    history cut down to one or two elements or values, then to the fewest reads, which any
//!    witness of the whole would also satisfy ([`crate::check::sequential_projection`] holds
//!    the argument).
//! 2. **Relaxing** (any other model, or when no projection is refuted): calls are made `info`
//!    (each may have taken effect in its process's order, or not) in ever smaller groups while
//!    the relaxed history stays refuted (delta debugging). A relaxed history allows every
//!    order the original allows, so a refuted one proves the original invalid.
//!
//! An explanation lists at most [`READABLE`] ops and says so when the core is larger.

use crate::check::linearizable::explain;
use crate::check::model_checkers::DynModel;
use crate::check::result::{CheckResult, Validity};
use crate::check::sequential_projection::Projector;
use crate::history::{Call, History, OpType, Value};
use std::cell::Cell;

/// Most ops an explanation lists; a core larger than this is said to be so.
pub const READABLE: usize = 10;
/// Search steps shrinking may take in all: a budget in steps, not time, so the ops an
/// explanation names do not depend on the machine's load.
const SHRINK_STEPS: u64 = 6_000_000;
/// Search steps one trial may take before it counts as "not shown invalid".
const TRIAL_STEPS: u64 = 200_000;

/// A few ops still not sequentially consistent on their own, with the searched anomaly
/// rewritten to name them; `None` if no trial could be refuted within the budget.
pub fn shrink(model: &dyn DynModel, history: &History, initial: &Value) -> Option<CheckResult> {
    let trials = Trials::new(model, history.calls().len() as u64);
    if let Some(p) = Projector::new(model.name(), history, initial) {
        if let Some(core) = p.find(&trials) {
            return Some(p.explain(core));
        }
    }
    relax_shrink(history, &trials)
}

/// The shrink budget all trials share.
pub(crate) struct Trials<'a> {
    model: &'a dyn DynModel,
    spent: Cell<u64>,
    /// Charged per trial besides its search steps: building a trial's history is work too.
    overhead: u64,
}

impl<'a> Trials<'a> {
    /// A fresh budget; each trial also costs `overhead` steps.
    pub(crate) fn new(model: &'a dyn DynModel, overhead: u64) -> Self {
        Trials {
            model,
            spent: Cell::new(0),
            overhead,
        }
    }

    /// Steps left.
    pub(crate) fn left(&self) -> u64 {
        SHRINK_STEPS.saturating_sub(self.spent.get())
    }

    /// The search's refutation of `h` if it exhausts every order within a trial's steps;
    /// `None` when `h` is sequentially consistent *or* the trial ran out (proves nothing).
    pub(crate) fn refuted(&self, h: &History) -> Option<CheckResult> {
        let steps = self.left().min(TRIAL_STEPS);
        if steps == 0 {
            return None;
        }
        self.spent.set(self.spent.get() + self.overhead);
        let r = self.model.sequential_steps(h, steps).ok()?;
        let used = r.stats["steps"].as_u64().unwrap_or(steps);
        self.spent.set(self.spent.get() + used);
        (r.validity == Validity::Invalid).then_some(r)
    }
}

/// The calls at `kept` (positions in `calls`) in words, at most [`READABLE`] of them, saying
/// how many more there are.
pub(crate) fn list_calls(history: &History, calls: &[Call], kept: &[usize]) -> String {
    let timed = explain::has_times(history);
    let mut listed: Vec<String> = kept
        .iter()
        .take(READABLE)
        .map(|&i| {
            let inv = &history.ops[calls[i].invoke];
            format!(
                "{} (invoked at {})",
                explain::describe_call(history, (calls[i].invoke, calls[i].complete)),
                explain::since_start(timed, inv)
            )
        })
        .collect();
    if kept.len() > READABLE {
        listed.push(format!(
            "and {} more: the shrinker could not prove a core of at most {READABLE} ops within \
             its step budget",
            kept.len() - READABLE
        ));
    }
    listed.join("; ")
}

/// `history` with the completions of the calls at `relax` (positions in `calls`) made `info`:
/// each such call may have taken effect (in its process's order) or not, and its result is
/// unknown. A relaxed history that is not sequentially consistent proves the original is not.
fn relaxed(history: &History, calls: &[Call], relax: &[bool]) -> History {
    let mut h = history.clone();
    for (c, _) in calls.iter().zip(relax).filter(|(_, r)| **r) {
        if let Some(d) = c.complete {
            h.ops[d].kind = OpType::Info;
        }
    }
    h
}

/// Relaxes ever smaller groups of calls while the relaxed history stays refuted (delta
/// debugging), and names the calls kept as recorded; `None` if no trial was refuted.
fn relax_shrink(history: &History, trials: &Trials) -> Option<CheckResult> {
    let calls = history.calls();
    let n = calls.len();
    let mut relax: Vec<bool> = calls
        .iter()
        .map(|c| {
            c.complete
                .is_none_or(|d| history.ops[d].kind == OpType::Info)
        })
        .collect();
    let mut last = None;
    let mut chunk = n.div_ceil(2).max(1);
    loop {
        let mut start = 0;
        while start < n && trials.left() > 0 {
            let group: Vec<usize> = (start..(start + chunk).min(n))
                .filter(|&i| !relax[i])
                .collect();
            start += chunk;
            if group.is_empty() {
                continue;
            }
            group.iter().for_each(|&i| relax[i] = true);
            match trials.refuted(&relaxed(history, &calls, &relax)) {
                Some(r) => last = Some(r),
                None => group.iter().for_each(|&i| relax[i] = false),
            }
        }
        if chunk == 1 || trials.left() == 0 {
            break;
        }
        chunk = chunk.div_ceil(2);
    }
    let mut r = last?;
    let kept: Vec<usize> = (0..n).filter(|&i| !relax[i]).collect();
    let listed = list_calls(history, &calls, &kept);
    let others = n - kept.len();
    let a = r.anomalies.first_mut()?;
    a.ops = kept
        .iter()
        .map(|&i| history.ops[calls[i].invoke].index)
        .collect();
    a.explanation = format!(
        "no order that keeps each process's own order allows these {} ops together: {listed}; \
         even if the other {others} ops took effect or not, each in its process's order. {}",
        kept.len(),
        a.explanation
    );
    r.summary = format!("not sequentially consistent: {}", a.explanation);
    Some(r)
}
