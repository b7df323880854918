//! From a [`History`] to per-key op lists, checked independently and in parallel.
//!
//! Linearizability is compositional (Herlihy & Wing's locality): a history over independent
//! keys is linearizable iff each key's sub-history is. Each call is compiled once by the model;
//! each key's ops then go to the search on a rayon worker. The first key found invalid tells the
//! others to stop.

pub mod explain;
pub mod keys;
mod layout;
pub(crate) mod memo;
mod runs;
pub mod search;
pub mod shrink;
pub mod stale;
mod window;

use crate::check::linearizable::keys::split;
use crate::check::linearizable::keys::KeyHistory;
use crate::check::linearizable::search::{
    search, Budget, Exhausted, KeyVerdict, SearchStats, Stuck,
};
use crate::check::linearizable::shrink::Shrunk;
use crate::check::model::{Interner, Model};
use crate::check::result::{Anomaly, CheckResult, Validity};
use crate::history::History;
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use std::time::Instant;

/// Memo bytes all keys of one check may use together before the answer is `unknown`.
pub const MEMORY_LIMIT: u64 = 1 << 30;

/// The step allowance of the first round, when there are several keys; the second has none.
const FIRST_ROUND: u64 = 1 << 18;

/// Cores at most this long are searched for the states to show; longer ones are shown as found.
const CORE_SEARCHED: usize = 64;

/// A refutation at a checkpoint may do 1/`REFUTE_SHARE` of the work the key's search has done
/// so far (see [`shrink::Allowance`]), so refuting costs little when it does not pay off.
const REFUTE_SHARE: u64 = 4;

/// Work explaining an invalid key may do: as much as its search did, within these bounds.
const EXPLAIN_WORK: (u64, u64) = (1 << 12, 1 << 20);

/// The proof a model's [`Model::refute`] found, as a shrunk history: the core ops as recorded,
/// every other op of the key relaxed (the refutation holds for them at any time, or never).
fn core_proof<M: Model>(
    model: &M,
    history: &History,
    part: &KeyHistory<M::Op>,
    core: &[usize],
) -> Shrunk<M::Op, M::State> {
    let mut idx = core.to_vec();
    idx.sort_by_key(|&i| part.ops[i].call);
    // As recorded (without the model's value merging), so the states read as the history's.
    let mut values = part.values.clone();
    let ops = idx
        .iter()
        .map(|&i| {
            keys::compile_call(model, history, part.origin[i], false, &mut values)
                .ok()
                .flatten()
                .unwrap_or_else(|| part.ops[i].clone())
        })
        .collect();
    let sub = KeyHistory {
        key: part.key.clone(),
        ops,
        origin: idx.iter().map(|&i| part.origin[i]).collect(),
        values,
    };
    let blocked = idx.iter().position(|&i| i == core[0]).unwrap_or(0);
    let mut stuck = Stuck {
        prefix: Vec::new(),
        blocked,
        states: Vec::new(),
    };
    if sub.ops.len() <= CORE_SEARCHED {
        let (used, cancel) = (AtomicU64::new(0), AtomicBool::new(false));
        let budget = Budget {
            deadline: None,
            memory_limit: 64 << 20,
            memory_used: &used,
            cancel: &cancel,
            max_steps: 1 << 20,
            checkpoint: None,
        };
        if let KeyVerdict::NotLinearizable(s) = search(model, &sub.ops, &budget).0 {
            stuck = s;
        }
    }
    let n = sub.ops.len();
    Shrunk {
        part: sub,
        hard: vec![true; n],
        stuck,
        blocked,
        original_ops: part.ops.len(),
        cut: None,
    }
}

/// A key's proof of non-linearizability found outside the search, if any.
type Refuted<M> = Option<Shrunk<<M as Model>::Op, <M as Model>::State>>;

/// A key's answer from the search, with its counts.
type Searched<S> = (KeyVerdict<S>, SearchStats);

/// One check in progress: the keys, the limits they share, and the refutations found beside
/// the search.
struct Driver<'a, M: Model> {
    model: &'a M,
    history: &'a History,
    parts: Vec<KeyHistory<M::Op>>,
    started: Instant,
    deadline: Option<Instant>,
    memory_used: AtomicU64,
    cancel: AtomicBool,
    /// Per key, a proof found by the precheck or the shrinker (at most one key has one).
    refuted: Mutex<Vec<Refuted<M>>>,
    /// Per key, the op a refutation was last tried around.
    tried: Vec<AtomicUsize>,
    /// Per key, its ops compiled as recorded and as relaxed, made at its first refutation.
    versions: Vec<OnceLock<Option<window::Versions<M::Op>>>>,
}

/// Checks every key of `history` for linearizability under `model`.
pub fn check_linearizable<M: Model>(
    model: &M,
    history: &History,
    time_limit: Option<Duration>,
    values: Interner,
) -> anyhow::Result<CheckResult> {
    let started = Instant::now();
    let parts = split(model, history, &values)?;
    let n = parts.len();
    let driver = Driver {
        model,
        history,
        parts,
        started,
        deadline: time_limit.map(|d| started + d),
        memory_used: AtomicU64::new(0),
        cancel: AtomicBool::new(false),
        refuted: Mutex::new((0..n).map(|_| None).collect()),
        tried: (0..n).map(|_| AtomicUsize::new(usize::MAX)).collect(),
        versions: (0..n).map(|_| OnceLock::new()).collect(),
    };
    // Sound necessary conditions first (see `stale`): an impossible read ends the check at once.
    driver.precheck();
    let verdicts = driver.rounds();
    Ok(driver.result(verdicts))
}

impl<M: Model> Driver<'_, M> {
    /// Whether some key was found invalid (the searches may stop).
    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// Tries to refute key `i` around op `b` (once per op), with a share of the `steps` its
    /// search has taken so far ([`REFUTE_SHARE`]); only the check's time limit, if reached,
    /// cuts it shorter.
    fn refute(&self, i: usize, b: usize, steps: u64) {
        if self.tried[i].swap(b, Ordering::Relaxed) == b || self.cancelled() {
            return;
        }
        let allowance = shrink::Allowance {
            work: steps / REFUTE_SHARE,
            deadline: self.deadline,
        };
        let effort = shrink::Effort::Refute;
        let part = &self.parts[i];
        let made = || window::Versions::new(self.model, self.history, part);
        let Some(v) = self.versions[i].get_or_init(made) else {
            return;
        };
        if let Some(s) = shrink::shrink_with(self.model, part, v, b, allowance, effort) {
            if let Ok(mut r) = self.refuted.lock() {
                if r.iter().all(Option::is_none) {
                    r[i] = Some(s);
                }
            }
            self.cancel.store(true, Ordering::Relaxed);
        }
    }

    /// The model's quick refutation ([`Model::refute`]) of every key; the first key refuted
    /// keeps its proof and stops the check.
    fn precheck(&self) {
        let cores: Vec<Option<Vec<usize>>> = self
            .parts
            .par_iter()
            .map(|p| self.model.refute(&p.ops))
            .collect();
        if let Some((k, core)) = cores
            .into_iter()
            .enumerate()
            .find_map(|(k, c)| c.map(|c| (k, c)))
        {
            if let Ok(mut r) = self.refuted.lock() {
                r[k] = Some(core_proof(self.model, self.history, &self.parts[k], &core));
            }
            self.cancel.store(true, Ordering::Relaxed);
        }
    }

    /// Searches the keys, in rounds. With several keys, a first round with a small step
    /// allowance, so that when one key is quickly found invalid, a hard key searched alongside
    /// it does not hold up the verdict; then the keys left are searched again from scratch
    /// without a step limit (little work is repeated). Meanwhile the shrinker tries to refute
    /// an unresolved key on a small window around where its search is stuck (between the
    /// rounds, and at the search's checkpoints): proving a violation exhaustively can take very
    /// long, a relaxed window proves it as surely (see `shrink`).
    fn rounds(&self) -> Vec<Option<Searched<M::State>>> {
        let n = self.parts.len();
        let mut verdicts: Vec<Option<Searched<M::State>>> = (0..n).map(|_| None).collect();
        let rounds: &[u64] = if n > 1 {
            &[FIRST_ROUND, u64::MAX]
        } else {
            &[u64::MAX]
        };
        for &allowance in rounds {
            let open: Vec<usize> = (0..n)
                .filter(|&i| {
                    verdicts[i].is_none()
                        || matches!(
                            verdicts[i],
                            Some((KeyVerdict::Unknown(Exhausted::Steps), _))
                        )
                })
                .collect();
            if open.is_empty() || self.cancelled() {
                break;
            }
            for (i, v, mut stats) in self.round(&open, allowance) {
                if let Some((_, old)) = &verdicts[i] {
                    stats.steps += old.steps;
                }
                verdicts[i] = Some((v, stats));
            }
            // The keys a round left unresolved (or where a budget ran out), around where each
            // search was stuck.
            for (i, v) in verdicts.iter().enumerate() {
                if self.cancelled() {
                    break;
                }
                if let Some((KeyVerdict::Unknown(_), stats)) = v {
                    if let Some(b) = stats.deepest_blocked {
                        self.refute(i, b, stats.steps);
                    }
                }
            }
        }
        verdicts
    }

    /// One round: the `open` keys searched in parallel with `allowance` steps each.
    fn round(
        &self,
        open: &[usize],
        allowance: u64,
    ) -> Vec<(usize, KeyVerdict<M::State>, SearchStats)> {
        open.par_iter()
            .map(|&i| {
                let checkpoint = |b: usize, steps: u64| self.refute(i, b, steps);
                let budget = Budget {
                    deadline: self.deadline,
                    memory_limit: MEMORY_LIMIT,
                    memory_used: &self.memory_used,
                    cancel: &self.cancel,
                    max_steps: allowance,
                    checkpoint: Some(&checkpoint),
                };
                let (v, stats) = search(self.model, &self.parts[i].ops, &budget);
                if matches!(v, KeyVerdict::NotLinearizable(_)) {
                    self.cancel.store(true, Ordering::Relaxed);
                }
                (i, v, stats)
            })
            .collect()
    }

    /// The first anomaly (a refutation, else a failed search explained after shrinking) and
    /// the first key whose budget ran out.
    fn explain(
        &self,
        verdicts: &[Searched<M::State>],
        refuted: &[Refuted<M>],
    ) -> (Vec<Anomaly>, Option<(Option<String>, Exhausted)>) {
        let (model, history) = (self.model, self.history);
        let mut anomalies: Vec<Anomaly> = Vec::new();
        let mut unknown: Option<(Option<String>, Exhausted)> = None;
        for (k, (part, (v, stats))) in self.parts.iter().zip(verdicts).enumerate() {
            if let Some(s) = &refuted[k] {
                if anomalies.is_empty() {
                    anomalies.push(explain::anomaly(model, history, &s.part, &s.stuck, Some(s)));
                }
                continue;
            }
            match v {
                KeyVerdict::NotLinearizable(stuck) if anomalies.is_empty() => {
                    // Explaining may do as much as finding did, within bounds; the user's time
                    // limit was met by the search, so it does not cut this short.
                    let allowance = shrink::Allowance {
                        work: stats.steps.clamp(EXPLAIN_WORK.0, EXPLAIN_WORK.1),
                        deadline: None,
                    };
                    let effort = shrink::Effort::Explain;
                    let b = stuck.blocked;
                    let shrunk = shrink::shrink(model, history, part, b, allowance, effort);
                    anomalies.push(match &shrunk {
                        Some(s) => explain::anomaly(model, history, &s.part, &s.stuck, Some(s)),
                        None => explain::anomaly(model, history, part, stuck, None),
                    });
                }
                KeyVerdict::Unknown(e) if unknown.is_none() && *e != Exhausted::Steps => {
                    unknown = Some((part.key.clone(), e.clone()));
                }
                _ => {}
            }
        }
        (anomalies, unknown)
    }

    /// The check's result from the keys' answers: verdict, summary, anomalies and stats.
    fn result(mut self, verdicts: Vec<Option<Searched<M::State>>>) -> CheckResult {
        let refuted = std::mem::take(self.refuted.get_mut().unwrap_or_else(|e| e.into_inner()));
        let verdicts: Vec<Searched<M::State>> = verdicts
            .into_iter()
            .map(|v| v.unwrap_or((KeyVerdict::Cancelled, SearchStats::default())))
            .collect();
        let (anomalies, unknown) = self.explain(&verdicts, &refuted);
        let ops: usize = self.parts.iter().map(|p| p.ops.len()).sum();
        let configurations: u64 = verdicts.iter().map(|(_, s)| s.configurations).sum();
        let seconds = self.started.elapsed().as_secs_f64();
        let invalid_keys = verdicts
            .iter()
            .zip(&refuted)
            .filter(|((v, _), r)| matches!(v, KeyVerdict::NotLinearizable(_)) || r.is_some())
            .count();
        let keys = self.parts.len();
        let (validity, summary) = summarize(&anomalies, &unknown, ops, keys);
        CheckResult {
            checker: format!("linearizable({})", self.model.name()),
            validity,
            summary,
            anomalies,
            stats: serde_json::json!({
                "ops": ops,
                "keys": keys,
                "invalid_keys": invalid_keys,
                "configurations": configurations,
                "seconds": seconds,
                "exhausted": unknown.as_ref().map(|(k, e)| serde_json::json!({
                    "key": k,
                    "what": match e {
                        Exhausted::Time => "time",
                        Exhausted::Memory => "memory",
                        Exhausted::Steps => "steps",
                    },
                })),
            }),
        }
    }
}

/// The verdict and its one-line summary: invalid with the first anomaly, else unknown with
/// what ran out, else valid.
fn summarize(
    anomalies: &[Anomaly],
    unknown: &Option<(Option<String>, Exhausted)>,
    ops: usize,
    keys: usize,
) -> (Validity, String) {
    if let Some(a) = anomalies.first() {
        (
            Validity::Invalid,
            format!("not linearizable: {}", a.explanation),
        )
    } else if let Some((key, e)) = unknown {
        let what = match e {
            Exhausted::Time => "the time limit ran out",
            Exhausted::Memory => "the memory budget ran out",
            Exhausted::Steps => "the step allowance ran out",
        };
        let on = key
            .as_deref()
            .map(|k| format!(" while checking key {k}"))
            .unwrap_or_default();
        (
            Validity::Unknown,
            format!("unknown: {what}{on}; raise --time-limit or check fewer ops"),
        )
    } else {
        (
            Validity::Valid,
            format!("linearizable ({ops} ops, {keys} keys)"),
        )
    }
}
