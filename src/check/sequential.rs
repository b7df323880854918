//! Sequential consistency (Lamport): some order of all ops that respects each process's own
//! order (not real time) is legal for the model.
//!
//! Unlike linearizability this is not compositional, so the whole history is searched at once,
//! with one model state per key. A configuration is how far each process has got plus the state
//! of every key; configurations are memoized. An unknown op (`info`, or open at the end) may be
//! left out; if it takes effect, it does so in its process's order (in Jepsen's histories it is
//! the last op of its process anyway). A read that is allowed now is taken at once
//! without branching, as in the linearizability search (moving it first keeps every process's
//! order and every state).
//!
//! The phases: [`compile`] the calls per process, [`Search::run`] the search, then
//! [`verdict`] in words ([`unknown_summary`] for a budget that ran out, [`stuck_anomaly`] for a
//! refutation).

use crate::check::linearizable::keys::compile_call;
use crate::check::model::{Interner, Model};
use crate::check::result::{Anomaly, CheckResult, Validity};
use crate::history::{History, Process};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Memo bytes the search may use before the answer is `unknown`.
const MEMORY_LIMIT: u64 = 1 << 30;

/// A configuration: how far each process has got, and every key's state.
type Config<S> = (Box<[u32]>, Box<[S]>);

/// One compiled call, in its process's order.
struct SeqOp<O> {
    op: O,
    key: usize,
    unknown: bool,
    origin: (usize, Option<usize>),
}

/// The calls the search steps, grouped by process in invoke order, and the keys' names.
struct Compiled<O> {
    by_proc: Vec<Vec<SeqOp<O>>>,
    key_names: Vec<Option<String>>,
}

/// Which budget ran out before the search could answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Exhausted {
    Steps,
    Time,
    Memory,
}

/// Checks `history` for sequential consistency under `model`, giving up (`unknown`) after
/// `time_limit` or after `max_steps` search steps (a budget that does not depend on load).
pub fn check_sequential<M: Model>(
    model: &M,
    history: &History,
    time_limit: Option<Duration>,
    max_steps: Option<u64>,
    mut values: Interner,
) -> anyhow::Result<CheckResult> {
    let started = Instant::now();
    let compiled = compile(model, history, &mut values)?;
    let mut search = Search::new(model, &compiled.by_proc, compiled.key_names.len());
    let outcome = search.run(time_limit.map(|d| started + d), max_steps);
    let seconds = started.elapsed().as_secs_f64();
    let n_ops: usize = compiled.by_proc.iter().map(Vec::len).sum();
    let stats = serde_json::json!({
        "ops": n_ops,
        "processes": compiled.by_proc.len(),
        "keys": compiled.key_names.len(),
        "configurations": search.memo.len(),
        "steps": search.steps,
        "seconds": seconds,
    });
    let (validity, summary, anomalies) = verdict(
        model, history, &compiled, &search, outcome, seconds, &values,
    );
    Ok(CheckResult {
        checker: format!("sequential({})", model.name()),
        validity,
        summary,
        anomalies,
        stats,
    })
}

/// Compiles every call of `history` for `model`, grouped by process in invoke order.
fn compile<M: Model>(
    model: &M,
    history: &History,
    values: &mut Interner,
) -> anyhow::Result<Compiled<M::Op>> {
    let mut keys: HashMap<Option<String>, usize> = HashMap::new();
    let mut key_names: Vec<Option<String>> = Vec::new();
    let mut procs: HashMap<Process, usize> = HashMap::new();
    let mut by_proc: Vec<Vec<SeqOp<M::Op>>> = Vec::new();
    for call in history.calls() {
        let origin = (call.invoke, call.complete);
        let Some(k) = compile_call(model, history, origin, false, values)? else {
            continue;
        };
        let inv = &history.ops[call.invoke];
        let key = *keys.entry(inv.key.clone()).or_insert_with(|| {
            key_names.push(inv.key.clone());
            key_names.len() - 1
        });
        let p = *procs.entry(inv.process).or_insert_with(|| {
            by_proc.push(Vec::new());
            by_proc.len() - 1
        });
        by_proc[p].push(SeqOp {
            op: k.op,
            key,
            unknown: k.ret.is_none(),
            origin,
        });
    }
    Ok(Compiled { by_proc, key_names })
}

/// The search's state: a depth-first walk over configurations with an explicit stack.
struct Search<'a, M: Model> {
    model: &'a M,
    by_proc: &'a [Vec<SeqOp<M::Op>>],
    /// Per process, how many ops must be placed (the rest are unknown, optional).
    needed: Vec<u32>,
    pos: Vec<u32>,
    states: Vec<M::State>,
    memo: HashSet<Config<M::State>>,
    /// Frames: (cursor value of the move, previous state of the op's key, forced).
    stack: Vec<(usize, M::State, bool)>,
    /// The next move to try from the current configuration; `usize::MAX`: a fresh one.
    cursor: usize,
    /// The deepest configuration a dead end was met in: (ops placed, positions, states).
    deepest: (usize, Vec<u32>, Vec<M::State>),
    steps: u64,
}

impl<'a, M: Model> Search<'a, M> {
    /// A search at the start: no op placed, every key in the model's initial state.
    fn new(model: &'a M, by_proc: &'a [Vec<SeqOp<M::Op>>], n_keys: usize) -> Self {
        // Done when every process has only unknown (optional) ops left.
        let needed: Vec<u32> = by_proc
            .iter()
            .map(|ops| ops.iter().rposition(|o| !o.unknown).map_or(0, |i| i + 1) as u32)
            .collect();
        let pos = vec![0u32; by_proc.len()];
        let states: Vec<M::State> = vec![model.init(); n_keys];
        Search {
            model,
            by_proc,
            needed,
            deepest: (0, pos.clone(), states.clone()),
            pos,
            states,
            memo: HashSet::new(),
            stack: Vec::new(),
            cursor: usize::MAX,
            steps: 0,
        }
    }

    /// Searches until a witness (`Ok(true)`), a refutation (`Ok(false)`) or a budget's end.
    fn run(
        &mut self,
        deadline: Option<Instant>,
        max_steps: Option<u64>,
    ) -> Result<bool, Exhausted> {
        let entry_bytes = 48
            + 4 * self.pos.len() as u64
            + std::mem::size_of::<M::State>() as u64 * self.states.len() as u64;
        loop {
            self.steps += 1;
            if max_steps.is_some_and(|m| self.steps > m) {
                return Err(Exhausted::Steps);
            }
            if self.steps & 1023 == 0 {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(Exhausted::Time);
                }
                if self.memo.len() as u64 * entry_bytes > MEMORY_LIMIT {
                    return Err(Exhausted::Memory);
                }
            }
            if self.pos.iter().zip(&self.needed).all(|(p, n)| p >= n) {
                return Ok(true);
            }
            match self.choose() {
                Some((mv, forced)) => self.advance(mv, forced),
                None if self.backtrack() => {}
                None => return Ok(false),
            }
        }
    }

    /// The next move and whether it is forced (an allowed read, the only move worth trying),
    /// or `None` at a dead end. Move c < P applies process c's next op; P <= c < 2P leaves out
    /// process (c - P)'s next op, if it is unknown.
    fn choose(&mut self) -> Option<(usize, bool)> {
        if self.cursor == usize::MAX {
            for (p, ops) in self.by_proc.iter().enumerate() {
                if let Some(o) = ops.get(self.pos[p] as usize) {
                    if self.model.is_observer(&o.op)
                        && self.model.step(&self.states[o.key], &o.op).is_some()
                    {
                        return Some((p, true));
                    }
                }
            }
            self.cursor = 0;
        }
        if self.cursor < 2 * self.by_proc.len() {
            self.cursor += 1;
            return Some((self.cursor - 1, false));
        }
        None
    }

    /// At a dead end (no process's next op can go next), undoes moves back to the last
    /// unforced one, whose configuration tries its next move; false when none is left.
    fn backtrack(&mut self) -> bool {
        if self.stack.len() > self.deepest.0 {
            self.deepest = (self.stack.len(), self.pos.clone(), self.states.clone());
        }
        let n_procs = self.by_proc.len();
        while let Some((mv, prev, was_forced)) = self.stack.pop() {
            let q = mv % n_procs;
            self.pos[q] -= 1;
            self.states[self.by_proc[q][self.pos[q] as usize].key] = prev;
            if !was_forced {
                self.cursor = mv + 1;
                return true;
            }
        }
        false
    }

    /// Makes move `mv` if the model allows it and it leads to a configuration not seen before.
    fn advance(&mut self, mv: usize, forced: bool) {
        let n_procs = self.by_proc.len();
        let (p, skip) = if mv >= n_procs {
            (mv - n_procs, true)
        } else {
            (mv, false)
        };
        let by_proc = self.by_proc;
        let Some(o) = by_proc[p].get(self.pos[p] as usize) else {
            return;
        };
        if skip && !o.unknown {
            return;
        }
        let stepped = if skip {
            Some(self.states[o.key].clone())
        } else {
            self.model.step(&self.states[o.key], &o.op)
        };
        let Some(next) = stepped else {
            if forced {
                self.cursor = 0;
            }
            return;
        };
        let prev = std::mem::replace(&mut self.states[o.key], next);
        self.pos[p] += 1;
        if self.memo.insert((
            self.pos.clone().into_boxed_slice(),
            self.states.clone().into_boxed_slice(),
        )) {
            self.stack.push((mv, prev, forced));
            self.cursor = usize::MAX;
        } else {
            self.pos[p] -= 1;
            self.states[o.key] = prev;
            if forced {
                // The forced step leads somewhere already explored: this configuration fails.
                self.cursor = 2 * n_procs;
            }
        }
    }
}

/// The verdict, its summary and its anomalies, from how the search ended.
fn verdict<M: Model>(
    model: &M,
    history: &History,
    compiled: &Compiled<M::Op>,
    search: &Search<M>,
    outcome: Result<bool, Exhausted>,
    seconds: f64,
    values: &Interner,
) -> (Validity, String, Vec<Anomaly>) {
    match outcome {
        Ok(true) => {
            let n_ops: usize = compiled.by_proc.iter().map(Vec::len).sum();
            (
                Validity::Valid,
                format!("sequentially consistent ({n_ops} ops)"),
                vec![],
            )
        }
        Err(what) => (
            Validity::Unknown,
            unknown_summary(what, search, seconds),
            vec![],
        ),
        Ok(false) => {
            let a = stuck_anomaly(model, history, compiled, &search.deepest, values);
            (
                Validity::Invalid,
                format!("not sequentially consistent: {}", a.explanation),
                vec![a],
            )
        }
    }
}

/// Why the answer is `unknown`, with advice that fits the budget that ran out.
fn unknown_summary<M: Model>(what: Exhausted, search: &Search<M>, seconds: f64) -> String {
    let configurations = search.memo.len();
    match what {
        Exhausted::Memory => format!(
            "unknown: the search's memory budget ran out after {configurations} configurations \
             of {} processes (sequential consistency is NP-complete to check); a longer \
             --time-limit will not help: check a shorter part of the history",
            search.by_proc.len()
        ),
        Exhausted::Steps => format!(
            "unknown: the step budget ran out after {} steps and {configurations} configurations",
            search.steps
        ),
        Exhausted::Time => format!(
            "unknown: the time limit ran out after {seconds:.1} s and {configurations} \
             configurations; raise --time-limit, or check a shorter part of the history"
        ),
    }
}

/// The refutation in words: the deepest configuration the search reached, and each process's
/// next op that could not take effect there.
fn stuck_anomaly<M: Model>(
    model: &M,
    history: &History,
    compiled: &Compiled<M::Op>,
    deepest: &(usize, Vec<u32>, Vec<M::State>),
    values: &Interner,
) -> Anomaly {
    let (depth, at, st) = deepest;
    let mut ops = Vec::new();
    let mut blocked = Vec::new();
    for (p, o) in compiled.by_proc.iter().enumerate() {
        if let Some(o) = o.get(at[p] as usize).filter(|o| !o.unknown) {
            ops.push(history.ops[o.origin.0].index);
            let key = compiled.key_names[o.key].as_deref().unwrap_or("the object");
            blocked.push(format!(
                "{} ({key} is {})",
                crate::check::linearizable::explain::describe_call(history, o.origin),
                model.describe_state(&st[o.key], values)
            ));
        }
    }
    let explanation = format!(
        "no order that keeps each process's own order explains the history: after the best \
         order found of {depth} ops, none of the processes' next ops can take effect: {}",
        blocked.join("; ")
    );
    Anomaly {
        kind: "not-sequentially-consistent".into(),
        key: None,
        ops,
        explanation,
        details: serde_json::json!({ "placed": depth, "next_ops": blocked }),
    }
}

#[cfg(test)]
mod tests {
    use crate::check::check_tests::{hist, verdict};
    use crate::check::{check, CheckOptions, Consistency, Validity, Validity::*};

    fn verdict_sc(model: &str, lines: &[&str]) -> Validity {
        let opts = CheckOptions {
            model: Some(model.into()),
            consistency: Consistency::Sequential,
            ..Default::default()
        };
        check(&hist(lines), &opts).unwrap().validity
    }

    #[test]
    fn sequential_but_not_linearizable() {
        // The read starts after the write finished yet misses it: a stale read. Sequential
        // consistency may order process 1's read before process 0's write; real time may not.
        let h = [
            "0 invoke write 1",
            "0 ok write 1",
            "1 invoke read nil",
            "1 ok read nil",
        ];
        assert_eq!(verdict("register", &h), Invalid);
        assert_eq!(verdict_sc("register", &h), Valid);
    }

    #[test]
    fn not_sequentially_consistent() {
        // Process 1 sees 2 and then 1, but process 0 wrote 1 before 2.
        let h = [
            "0 invoke write 1",
            "0 ok write 1",
            "0 invoke write 2",
            "0 ok write 2",
            "1 invoke read nil",
            "1 ok read 2",
            "1 invoke read nil",
            "1 ok read 1",
        ];
        assert_eq!(verdict_sc("register", &h), Invalid);
        // Sequential consistency is not checked key by key: each key alone is fine here, together
        // they need x := 1 before y is read as nil and y := 1 before x is read as nil.
        let h = [
            "0 invoke write kx 1",
            "1 invoke write ky 1",
            "0 ok write kx 1",
            "1 ok write ky 1",
            "0 invoke read ky nil",
            "1 invoke read kx nil",
            "0 ok read ky nil",
            "1 ok read kx nil",
        ];
        assert_eq!(verdict_sc("register", &h), Invalid);
        // The search itself (the checker decides this one by a cycle of required orders).
        let r = crate::check::models::build("register", &crate::history::Value::Nil)
            .unwrap()
            .sequential(&hist(&h), None)
            .unwrap();
        assert_eq!(r.anomalies[0].kind, "not-sequentially-consistent");
        assert!(
            r.anomalies[0]
                .explanation
                .contains("each process's own order"),
            "{}",
            r.anomalies[0].explanation
        );
        // An unknown write may be left out, or placed anywhere after its process's earlier ops.
        let h = [
            "0 invoke write 1",
            "0 info write 1",
            "1 invoke read nil",
            "1 ok read 1",
            "1 invoke read nil",
            "1 ok read nil",
        ];
        assert_eq!(verdict_sc("register", &h), Invalid);
        let h = [
            "1 invoke read nil",
            "1 ok read nil",
            "0 invoke write 1",
            "0 info write 1",
            "1 invoke read nil",
            "1 ok read 1",
        ];
        assert_eq!(verdict_sc("register", &h), Valid);
    }
}
