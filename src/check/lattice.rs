//! The consistency lattice of single-object (register, key-value) histories: where one history
//! stands among the models a lecture on replication teaches, from the strongest down.
//!
//! ```text
//!            linearizable            (Herlihy & Wing 1990)
//!                 │
//!            sequential              (Lamport 1979)
//!            ╱         ╲
//!   causal memory     causal convergence   (CM, CCv: Bouajjani et al. 2017; incomparable)
//!            ╲         ╱
//!             causal (CC)
//!                 ┆
//!       eventual (convergence)       (checked on its own: the final per-node reads)
//! ```
//!
//! [`place`] checks a history against every rung that applies to it and says, per rung,
//! whether the model holds, fails, is unknown (its budget ran out) or does not apply (the
//! causal rungs need read/write registers with unique written values; eventual needs per-node
//! final reads). Implications save work and keep the answers consistent: a model that holds
//! makes every weaker one hold, one that fails makes every stronger one fail, and only the
//! rungs left open are searched, cheapest first (linearizability per key, then the causal
//! patterns in polynomial time, then the sequential search, which is NP-complete and gets a
//! time budget). Eventual consistency sits below causal on the lecture's ladder but is a
//! property of the final state, not of the order of ops, so it is neither inferred from nor
//! used to infer the others.
//!
//! The transactional models have their own lattice, in [`crate::check::txn::lattice`].

use crate::check::causal::{self, CausalModel};
use crate::check::result::{Anomaly, CheckResult, Validity};
use crate::check::spec::Consistency;
use crate::check::{eventual, models, sequential_cycles};
use crate::history::{History, Value};
use serde::{Deserialize, Serialize};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// The default time budget of each rung that has to be searched: short, because a run prints
/// nothing until its lattice is placed (a rung out of budget says unknown; `ferrocheck check
/// --time-limit` gives a history as long as it needs).
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(3);

/// Anomalies kept per failing rung (the report links the rung to the first).
const MAX_ANOMALIES: usize = 3;

/// One consistency model of the lattice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rung {
    /// Real-time order is respected.
    Linearizable,
    /// Each process's order is respected.
    Sequential,
    /// Causal memory (CM).
    CausalMemory,
    /// Causal convergence (CCv).
    CausalConvergence,
    /// Causal consistency (CC).
    Causal,
    /// Convergence of the replicas after healing.
    Eventual,
}

/// Every rung, strongest first.
pub const RUNGS: [Rung; 6] = [
    Rung::Linearizable,
    Rung::Sequential,
    Rung::CausalMemory,
    Rung::CausalConvergence,
    Rung::Causal,
    Rung::Eventual,
];

impl Rung {
    /// The name in results and on the page.
    pub fn name(self) -> &'static str {
        match self {
            Rung::Linearizable => "linearizable",
            Rung::Sequential => "sequential",
            Rung::CausalMemory => "causal-memory",
            Rung::CausalConvergence => "causal-convergence",
            Rung::Causal => "causal",
            Rung::Eventual => "eventual",
        }
    }

    /// The name in words, with the paper's abbreviation.
    pub fn label(self) -> &'static str {
        match self {
            Rung::Linearizable => "linearizable",
            Rung::Sequential => "sequential",
            Rung::CausalMemory => "causal memory (CM)",
            Rung::CausalConvergence => "causal convergence (CCv)",
            Rung::Causal => "causal (CC)",
            Rung::Eventual => "eventual (convergence)",
        }
    }

    /// The next weaker models it implies.
    pub fn implies(self) -> &'static [Rung] {
        match self {
            Rung::Linearizable => &[Rung::Sequential],
            Rung::Sequential => &[Rung::CausalMemory, Rung::CausalConvergence],
            Rung::CausalMemory | Rung::CausalConvergence => &[Rung::Causal],
            Rung::Causal | Rung::Eventual => &[],
        }
    }

    /// The rung `--consistency` names (`causal` is CC).
    pub fn of(c: Consistency) -> Rung {
        match c {
            Consistency::Linearizable => Rung::Linearizable,
            Consistency::Sequential => Rung::Sequential,
            Consistency::Causal => Rung::Causal,
            Consistency::Eventual => Rung::Eventual,
        }
    }

    /// True if `self` implies `weaker`, directly or through other rungs (or is it).
    pub fn implies_transitively(self, weaker: Rung) -> bool {
        self == weaker
            || self
                .implies()
                .iter()
                .any(|r| r.implies_transitively(weaker))
    }
}

/// Where a history stands on one rung.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Standing {
    /// The model holds.
    Holds,
    /// The model is violated; see the rung's anomalies.
    Fails,
    /// Not decided: the budget ran out, or a node could not be read.
    Unknown,
    /// The model cannot be checked on this history (the reason says why).
    NotApplicable,
}

impl Standing {
    /// The verdict this standing gives when its rung decides the exit code.
    pub fn validity(self) -> Validity {
        match self {
            Standing::Holds => Validity::Valid,
            Standing::Fails => Validity::Invalid,
            Standing::Unknown | Standing::NotApplicable => Validity::Unknown,
        }
    }

    fn of(v: Validity) -> Standing {
        match v {
            Validity::Valid => Standing::Holds,
            Validity::Invalid => Standing::Fails,
            Validity::Unknown => Standing::Unknown,
        }
    }

    /// One word for a terminal.
    pub fn word(self) -> &'static str {
        match self {
            Standing::Holds => "holds",
            Standing::Fails => "FAILS",
            Standing::Unknown => "unknown",
            Standing::NotApplicable => "n/a",
        }
    }
}

/// One rung's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RungResult {
    /// Which model.
    pub rung: Rung,
    /// Where the history stands.
    pub standing: Standing,
    /// How that was found: `checked`, `implied: linearizable holds`, ...
    pub how: String,
    /// One line: the checker's summary, or why the rung does not apply.
    pub summary: String,
    /// The first anomalies that prove a failing rung fails (empty when it was implied).
    #[serde(default)]
    pub anomalies: Vec<Anomaly>,
}

/// A history placed on the lattice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lattice {
    /// The sequential model the model-stepping rungs used (`cas-register`, `register`, ...).
    pub model: String,
    /// The rung whose verdict decides the exit code (`--consistency`).
    pub decides: Rung,
    /// Every rung, strongest first.
    pub rungs: Vec<RungResult>,
    /// The strongest model that holds.
    pub strongest_holding: Option<Rung>,
    /// The weakest model that fails.
    pub weakest_failing: Option<Rung>,
}

impl Lattice {
    /// The result of rung `r`.
    pub fn rung(&self, r: Rung) -> Option<&RungResult> {
        self.rungs.iter().find(|x| x.rung == r)
    }

    /// Where the history stands on rung `r`.
    pub fn standing(&self, r: Rung) -> Standing {
        self.rung(r).map_or(Standing::NotApplicable, |x| x.standing)
    }

    /// The verdict of the deciding rung.
    pub fn validity(&self) -> Validity {
        self.standing(self.decides).validity()
    }

    /// One line: the strongest model that holds and the weakest that fails.
    pub fn headline(&self) -> String {
        let strongest = self
            .strongest_holding
            .map_or("none shown to hold".to_string(), |r| r.label().to_string());
        let weakest = self
            .weakest_failing
            .map_or("none shown to fail".to_string(), |r| r.label().to_string());
        format!("strongest that holds: {strongest}; weakest that fails: {weakest}")
    }

    /// One line per model, for a terminal: `linearizable  FAILS  checked: ...`.
    pub fn lines(&self) -> Vec<String> {
        self.rungs
            .iter()
            .map(|r| {
                let mark = if r.rung == self.decides { "*" } else { " " };
                format!(
                    "{mark} {:<24} {:<7} {}: {}",
                    r.rung.label(),
                    r.standing.word(),
                    r.how,
                    r.summary.lines().next().unwrap_or("")
                )
            })
            .collect()
    }
}

/// What [`place`] needs besides the history.
#[derive(Clone, Debug)]
pub struct LatticeOptions {
    /// The sequential model for the linearizable and sequential rungs.
    pub model: String,
    /// The initial value of every key.
    pub initial: Value,
    /// The time budget of each rung that is searched.
    pub budget: Duration,
    /// The rung that decides the exit code.
    pub decides: Rung,
}

/// Places `history` on the lattice. `known` are results already computed for it (a run's own
/// `linearizable(model)`, `eventual` ...), reused rather than searched again.
pub fn place(history: &History, opts: &LatticeOptions, known: &[CheckResult]) -> Lattice {
    // The searches run on threads of their own and need the history owned; it is copied only
    // when one runs (for a big history the copy alone cost more than placing it).
    let copy = std::cell::OnceCell::new();
    let shared = || copy.get_or_init(|| Arc::new(history.clone()));
    let mut rungs: Vec<Option<RungResult>> = vec![None; RUNGS.len()];
    let set = |rungs: &mut Vec<Option<RungResult>>, r: RungResult| {
        let i = index(r.rung);
        if rungs[i].is_none() {
            rungs[i] = Some(r);
        }
    };
    let model_ok = models::build(&opts.model, &opts.initial).map_err(|e| format!("{e:#}"));
    // Rungs that cannot apply, first.
    if let Err(why) = &model_ok {
        for r in [Rung::Linearizable, Rung::Sequential] {
            set(&mut rungs, not_applicable(r, why.clone()));
        }
    }
    let causal_ok = causal_applies(history, &opts.model, &opts.initial);
    if let Err(why) = &causal_ok {
        for r in [Rung::CausalMemory, Rung::CausalConvergence, Rung::Causal] {
            set(&mut rungs, not_applicable(r, why.clone()));
        }
    }
    // Linearizability: the run's own result, else a search per key.
    if model_ok.is_ok() {
        let name = format!("linearizable({})", opts.model);
        let r = match known.iter().find(|r| r.checker == name) {
            Some(r) => from_result(Rung::Linearizable, "checked", r),
            None => search(Rung::Linearizable, shared(), opts),
        };
        set(&mut rungs, r);
    }
    propagate(&mut rungs);
    // The causal patterns (polynomial), for whatever is still open.
    if causal_ok.is_ok() && open(&rungs, &[Rung::CausalMemory, Rung::CausalConvergence]) {
        for r in causal_rungs(shared(), opts) {
            set(&mut rungs, r);
        }
        propagate(&mut rungs);
    }
    // The sequential search, only if nothing above decided it.
    if model_ok.is_ok() && open(&rungs, &[Rung::Sequential]) {
        let name = format!("sequential({})", opts.model);
        let r = match known.iter().find(|r| r.checker == name) {
            Some(r) => from_result(Rung::Sequential, "checked", r),
            None => match causal_ok.as_ref().ok().and_then(|_| cycle(shared(), opts)) {
                Some(r) => r,
                None => search(Rung::Sequential, shared(), opts),
            },
        };
        set(&mut rungs, r);
        propagate(&mut rungs);
    }
    let ev = match known.iter().find(|r| r.checker.starts_with(eventual::NAME)) {
        Some(r) if eventual::has_node_reads(history) => from_result(Rung::Eventual, "checked", r),
        _ if !eventual::has_node_reads(history) => not_applicable(
            Rung::Eventual,
            "the history has no per-node final reads (a `ferrocheck test` run records them \
             after healing, on targets that can address each node)"
                .into(),
        ),
        _ => from_result(
            Rung::Eventual,
            "checked",
            &eventual::check(history, &opts.initial),
        ),
    };
    set(&mut rungs, ev);
    let rungs: Vec<RungResult> = rungs
        .into_iter()
        .zip(RUNGS)
        .map(|(r, rung)| {
            r.unwrap_or_else(|| RungResult {
                rung,
                standing: Standing::Unknown,
                how: "not decided".into(),
                summary: "no check decided this rung".into(),
                anomalies: vec![],
            })
        })
        .collect();
    let strongest_holding = rungs
        .iter()
        .find(|r| r.standing == Standing::Holds)
        .map(|r| r.rung);
    let weakest_failing = rungs
        .iter()
        .rev()
        .find(|r| r.standing == Standing::Fails)
        .map(|r| r.rung);
    Lattice {
        model: opts.model.clone(),
        decides: opts.decides,
        rungs,
        strongest_holding,
        weakest_failing,
    }
}

/// Places `history` on the lattice when its model (`model`, else its header's) is one the
/// model-stepping checkers know; `None` for histories the lattice does not cover (locks,
/// transactions, Maelstrom workloads).
pub fn for_history(
    history: &History,
    model: Option<&str>,
    initial: &Value,
    known: &[CheckResult],
    decides: Rung,
    budget: Duration,
) -> Option<Lattice> {
    let model = model
        .map(str::to_owned)
        .or_else(|| history.header.as_ref().and_then(|h| h.model.clone()))?;
    if !models::names().contains(&model.as_str()) || model == "mutex" {
        return None;
    }
    let opts = LatticeOptions {
        model,
        initial: initial.clone(),
        budget,
        decides,
    };
    Some(place(history, &opts, known))
}

/// True for a result of a consistency-model checker (`linearizable(..)`, `sequential(..)`,
/// `causal(..)`, `eventual`): the checks the lattice stands for.
pub fn is_consistency_check(checker: &str) -> bool {
    ["linearizable", "sequential", "causal", "eventual"]
        .iter()
        .any(|n| checker == *n || checker.starts_with(&format!("{n}(")))
}

fn index(r: Rung) -> usize {
    RUNGS.iter().position(|x| *x == r).unwrap_or(0)
}

fn open(rungs: &[Option<RungResult>], which: &[Rung]) -> bool {
    which.iter().any(|r| rungs[index(*r)].is_none())
}

fn not_applicable(rung: Rung, why: String) -> RungResult {
    RungResult {
        rung,
        standing: Standing::NotApplicable,
        how: "not applicable".into(),
        summary: why,
        anomalies: vec![],
    }
}

fn from_result(rung: Rung, how: &str, r: &CheckResult) -> RungResult {
    RungResult {
        rung,
        standing: Standing::of(r.validity),
        how: how.into(),
        summary: r.summary.clone(),
        anomalies: r.anomalies.iter().take(MAX_ANOMALIES).cloned().collect(),
    }
}

/// Fills open rungs from decided ones: a holding model makes the weaker hold, a failing one
/// makes the stronger fail. Eventual is left out (see the module doc).
fn propagate(rungs: &mut [Option<RungResult>]) {
    loop {
        let mut changed = false;
        for strong in RUNGS {
            for weak in RUNGS {
                if strong == weak || !strong.implies_transitively(weak) {
                    continue;
                }
                let (s, w) = (&rungs[index(strong)], &rungs[index(weak)]);
                let filled = match (s, w) {
                    (Some(s), None) if s.standing == Standing::Holds => Some(RungResult {
                        rung: weak,
                        standing: Standing::Holds,
                        how: format!("implied: {} holds", strong.label()),
                        summary: format!("every {} history is {}", strong.label(), weak.label()),
                        anomalies: vec![],
                    }),
                    (None, Some(w)) if w.standing == Standing::Fails => Some(RungResult {
                        rung: strong,
                        standing: Standing::Fails,
                        how: format!("implied: {} fails", weak.label()),
                        summary: format!(
                            "a history that is not {} is not {} either",
                            weak.label(),
                            strong.label()
                        ),
                        anomalies: w.anomalies.clone(),
                    }),
                    _ => None,
                };
                if let Some(f) = filled {
                    let i = index(f.rung);
                    rungs[i] = Some(f);
                    changed = true;
                }
            }
        }
        if !changed {
            return;
        }
    }
}

/// Ok when the causal rungs apply: a register model, reads and writes only, unique written
/// values. Otherwise why not, in words.
fn causal_applies(history: &History, model: &str, initial: &Value) -> Result<(), String> {
    if model != "register" && model != "cas-register" {
        return Err(format!(
            "the causal models are checked on registers only, not the {model} model"
        ));
    }
    causal::CausalGraph::build(history, initial)
        .map(|_| ())
        .map_err(|e| format!("{e:#} (a register run writes unique values with --values unique)"))
}

/// Runs `f` on its own thread for at most `budget`; `None` when it ran out (the thread is left
/// to finish on its own) or crashed.
fn bounded<T: Send + 'static>(
    budget: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, &'static str> {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("lattice-rung".into())
        .spawn(move || {
            let _ = tx.send(f());
        });
    if spawned.is_err() {
        return Err("could not start a thread for the check");
    }
    // A little grace past the budget: the searches stop themselves at it.
    match rx.recv_timeout(budget + Duration::from_millis(500)) {
        Ok(v) => Ok(v),
        Err(mpsc::RecvTimeoutError::Timeout) => Err("the time budget ran out"),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err("the check crashed"),
    }
}

fn budget_text(budget: Duration) -> String {
    format!("{:.0} s", budget.as_secs_f64())
}

/// Searches rung `rung` (linearizable or sequential) under its budget.
fn search(rung: Rung, history: &Arc<History>, opts: &LatticeOptions) -> RungResult {
    let h = history.clone();
    let (model, initial, budget) = (opts.model.clone(), opts.initial.clone(), opts.budget);
    let started = Instant::now();
    let out = bounded(budget, move || {
        let m = models::build(&model, &initial)?;
        match rung {
            Rung::Linearizable => m.linearizable(&h, Some(budget)),
            _ => m.sequential(&h, Some(budget)),
        }
    });
    match out {
        Ok(Ok(r)) => {
            let mut res = from_result(rung, "checked", &r);
            if res.standing == Standing::Unknown {
                res.summary = format!(
                    "unknown after {:.1} s (budget {}): {}",
                    started.elapsed().as_secs_f64(),
                    budget_text(budget),
                    r.summary
                );
            }
            res
        }
        Ok(Err(e)) => not_applicable(rung, format!("{e:#}")),
        Err(why) => unknown(rung, why, budget),
    }
}

/// Sequential consistency refuted by a cycle of orders every witness needs (see
/// [`sequential_cycles`]), when there is one: far faster than a search that must fail.
fn cycle(history: &Arc<History>, opts: &LatticeOptions) -> Option<RungResult> {
    let h = history.clone();
    let initial = opts.initial.clone();
    let deadline = Instant::now() + opts.budget;
    let found = bounded(opts.budget, move || {
        sequential_cycles::refute(&h, &initial, Some(deadline))
    });
    let a = found.ok().flatten()?;
    Some(RungResult {
        rung: Rung::Sequential,
        standing: Standing::Fails,
        how: "checked (a cycle of required orders)".into(),
        summary: a.explanation.clone(),
        anomalies: vec![a],
    })
}

fn unknown(rung: Rung, why: &str, budget: Duration) -> RungResult {
    RungResult {
        rung,
        standing: Standing::Unknown,
        how: "checked".into(),
        summary: format!("unknown: {why} (budget {})", budget_text(budget)),
        anomalies: vec![],
    }
}

/// The three causal rungs from one pattern search.
fn causal_rungs(history: &Arc<History>, opts: &LatticeOptions) -> Vec<RungResult> {
    let h = history.clone();
    let initial = opts.initial.clone();
    let trio = [Rung::CausalMemory, Rung::CausalConvergence, Rung::Causal];
    let found = bounded(opts.budget, move || {
        causal::search(&h, &initial).map(|o| o.map(|(_, report)| report))
    });
    let report = match found {
        Ok(Ok(Some(report))) => report,
        Ok(Ok(None)) => {
            return trio
                .iter()
                .map(|r| unknown(*r, "the vector clocks would not fit in memory", opts.budget))
                .collect()
        }
        Ok(Err(e)) => {
            return trio
                .iter()
                .map(|r| not_applicable(*r, format!("{e:#}")))
                .collect()
        }
        Err(why) => return trio.iter().map(|r| unknown(*r, why, opts.budget)).collect(),
    };
    let one = |rung: Rung, model: CausalModel, own: &[Anomaly]| -> RungResult {
        if model == CausalModel::CM && report.cm_unchecked && report.cc.is_empty() {
            return RungResult {
                rung,
                standing: Standing::Unknown,
                how: "not checked".into(),
                summary: format!(
                    "causal memory is searched on at most {} ops",
                    causal::MAX_CM_OPS
                ),
                anomalies: vec![],
            };
        }
        let holds = report.holds(model);
        let anomalies: Vec<Anomaly> = if report.cc.is_empty() {
            own.iter().take(MAX_ANOMALIES).cloned().collect()
        } else {
            report.cc.iter().take(MAX_ANOMALIES).cloned().collect()
        };
        let summary = match anomalies.first() {
            Some(a) if !holds => format!("not {}: {}", model.long_name(), a.explanation),
            _ => format!("no bad pattern of {} found", model.long_name()),
        };
        RungResult {
            rung,
            standing: if holds {
                Standing::Holds
            } else {
                Standing::Fails
            },
            how: "checked".into(),
            summary,
            anomalies: if holds { vec![] } else { anomalies },
        }
    };
    vec![
        one(Rung::CausalMemory, CausalModel::CM, &report.cm),
        one(Rung::CausalConvergence, CausalModel::CCv, &report.ccv),
        one(Rung::Causal, CausalModel::CC, &report.cc),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Op, OpType, Process};

    /// Ops `(process, f, value)` as completed calls, one after another.
    fn history(calls: &[(u64, &str, i64)]) -> History {
        let mut ops = Vec::new();
        for (i, (p, f, v)) in calls.iter().enumerate() {
            let arg = if *f == "read" {
                Value::Nil
            } else {
                Value::Int(*v)
            };
            for (j, (kind, value)) in [(OpType::Invoke, arg), (OpType::Ok, Value::Int(*v))]
                .into_iter()
                .enumerate()
            {
                ops.push(Op {
                    index: (2 * i + j) as u64,
                    time: (2 * i + j) as u64 * 10,
                    process: Process::Client(*p),
                    kind,
                    f: (*f).into(),
                    key: Some("k0".into()),
                    value,
                    error: None,
                });
            }
        }
        History { header: None, ops }
    }

    fn opts() -> LatticeOptions {
        LatticeOptions {
            model: "register".into(),
            initial: Value::Nil,
            budget: Duration::from_secs(5),
            decides: Rung::Linearizable,
        }
    }

    #[test]
    fn implications_follow_the_drawing() {
        assert!(Rung::Linearizable.implies_transitively(Rung::Causal));
        assert!(Rung::Sequential.implies_transitively(Rung::CausalMemory));
        assert!(!Rung::CausalMemory.implies_transitively(Rung::CausalConvergence));
        assert!(!Rung::Linearizable.implies_transitively(Rung::Eventual));
    }

    #[test]
    fn a_linearizable_history_holds_all_the_way_down() {
        let h = history(&[
            (0, "write", 1),
            (1, "read", 1),
            (0, "write", 2),
            (1, "read", 2),
        ]);
        let l = place(&h, &opts(), &[]);
        assert_eq!(l.standing(Rung::Linearizable), Standing::Holds);
        assert_eq!(l.standing(Rung::Sequential), Standing::Holds);
        assert_eq!(l.standing(Rung::Causal), Standing::Holds);
        assert!(l.rung(Rung::Sequential).unwrap().how.starts_with("implied"));
        assert_eq!(l.standing(Rung::Eventual), Standing::NotApplicable);
        assert_eq!(l.strongest_holding, Some(Rung::Linearizable));
        assert_eq!(l.weakest_failing, None);
        assert_eq!(l.validity(), Validity::Valid);
        assert_eq!(l.lines().len(), RUNGS.len());
    }

    #[test]
    fn a_stale_read_in_real_time_is_sequential_but_not_linearizable() {
        // p1 reads nil after p0's write of 1 completed: stale in real time, but p1 may be
        // ordered before the write.
        let h = history(&[(0, "write", 1), (1, "read", 0)]);
        let mut h = h;
        h.ops[3].value = Value::Nil;
        let l = place(&h, &opts(), &[]);
        assert_eq!(l.standing(Rung::Linearizable), Standing::Fails);
        assert_eq!(l.standing(Rung::Sequential), Standing::Holds);
        assert_eq!(l.strongest_holding, Some(Rung::Sequential));
        assert_eq!(l.weakest_failing, Some(Rung::Linearizable));
        assert!(!l.rung(Rung::Linearizable).unwrap().anomalies.is_empty());
    }

    #[test]
    fn a_read_going_back_in_its_own_process_fails_causal_and_so_sequential() {
        // p1 reads 2, then 1: 1 was overwritten by 2 in p1's causal past.
        let h = history(&[
            (0, "write", 1),
            (0, "write", 2),
            (1, "read", 2),
            (1, "read", 1),
        ]);
        let l = place(&h, &opts(), &[]);
        assert_eq!(l.standing(Rung::Causal), Standing::Fails);
        assert_eq!(l.standing(Rung::Sequential), Standing::Fails);
        assert!(l.rung(Rung::Sequential).unwrap().how.contains("implied"));
        assert_eq!(l.weakest_failing, Some(Rung::Causal));
        assert_eq!(l.strongest_holding, None);
    }

    #[test]
    fn cas_histories_leave_the_causal_rungs_grey() {
        let mut h = history(&[(0, "write", 1)]);
        h.ops[0].f = "cas".into();
        h.ops[1].f = "cas".into();
        h.ops[0].value = Value::List(vec![Value::Nil, Value::Int(1)]);
        h.ops[1].value = h.ops[0].value.clone();
        let o = LatticeOptions {
            model: "cas-register".into(),
            ..opts()
        };
        let l = place(&h, &o, &[]);
        assert_eq!(l.standing(Rung::Causal), Standing::NotApplicable);
        assert!(l
            .rung(Rung::Causal)
            .unwrap()
            .summary
            .contains("--values unique"));
        assert_eq!(l.standing(Rung::Linearizable), Standing::Holds);
    }
}
