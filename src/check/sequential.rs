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

struct SeqOp<O> {
    op: O,
    key: usize,
    unknown: bool,
    origin: (usize, Option<usize>),
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
    let deadline = time_limit.map(|d| started + d);
    // Compile every call, grouped by process in invoke order.
    let mut keys: HashMap<Option<String>, usize> = HashMap::new();
    let mut key_names: Vec<Option<String>> = Vec::new();
    let mut procs: HashMap<Process, usize> = HashMap::new();
    let mut by_proc: Vec<Vec<SeqOp<M::Op>>> = Vec::new();
    for call in history.calls() {
        let origin = (call.invoke, call.complete);
        let Some(k) = compile_call(model, history, origin, false, &mut values)? else {
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
    let n_ops: usize = by_proc.iter().map(Vec::len).sum();
    // Done when every process has only unknown (optional) ops left.
    let needed: Vec<u32> = by_proc
        .iter()
        .map(|ops| ops.iter().rposition(|o| !o.unknown).map_or(0, |i| i + 1) as u32)
        .collect();
    let n_procs = by_proc.len();
    let mut pos = vec![0u32; by_proc.len()];
    let mut states: Vec<M::State> = vec![model.init(); key_names.len()];
    let mut memo: HashSet<Config<M::State>> = HashSet::new();
    let entry_bytes =
        48 + 4 * pos.len() as u64 + std::mem::size_of::<M::State>() as u64 * states.len() as u64;
    // Stack frames: (cursor value of the move, previous state of the op's key, forced).
    let mut stack: Vec<(usize, M::State, bool)> = Vec::new();
    let mut cursor: usize = usize::MAX; // usize::MAX: a fresh configuration
    let mut deepest: (usize, Vec<u32>, Vec<M::State>) = (0, pos.clone(), states.clone());
    let mut steps: u64 = 0;
    let outcome: Result<bool, &'static str> = loop {
        steps += 1;
        if max_steps.is_some_and(|m| steps > m) {
            break Err("steps");
        }
        if steps & 1023 == 0 {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break Err("time");
            }
            if memo.len() as u64 * entry_bytes > MEMORY_LIMIT {
                break Err("memory");
            }
        }
        if pos.iter().zip(&needed).all(|(p, n)| p >= n) {
            break Ok(true);
        }
        // Which process to try next, and whether the step is forced (an allowed read).
        let mut choice: Option<(usize, bool)> = None;
        if cursor == usize::MAX {
            for (p, ops) in by_proc.iter().enumerate() {
                if let Some(o) = ops.get(pos[p] as usize) {
                    if model.is_observer(&o.op) && model.step(&states[o.key], &o.op).is_some() {
                        choice = Some((p, true));
                        break;
                    }
                }
            }
            if choice.is_none() {
                cursor = 0;
            }
        }
        // Cursor c < P: apply process c's next op; P <= c < 2P: leave out process (c - P)'s
        // next op, if it is unknown.
        if choice.is_none() && cursor < 2 * n_procs {
            choice = Some((cursor, false));
            cursor += 1;
        }
        let Some((p, forced)) = choice else {
            // Dead end: no process's next op can go next. Undo the last unforced step (a
            // forced step was the only one worth trying from its configuration).
            if stack.len() > deepest.0 {
                deepest = (stack.len(), pos.clone(), states.clone());
            }
            let mut resumed = false;
            while let Some((mv, prev, was_forced)) = stack.pop() {
                let q = mv % n_procs;
                pos[q] -= 1;
                states[by_proc[q][pos[q] as usize].key] = prev;
                if !was_forced {
                    cursor = mv + 1;
                    resumed = true;
                    break;
                }
            }
            if !resumed {
                break Ok(false);
            }
            continue;
        };
        let (p, skip) = if p >= n_procs {
            (p - n_procs, true)
        } else {
            (p, false)
        };
        let Some(o) = by_proc[p].get(pos[p] as usize) else {
            continue;
        };
        if skip && !o.unknown {
            continue;
        }
        let stepped = if skip {
            Some(states[o.key].clone())
        } else {
            model.step(&states[o.key], &o.op)
        };
        let Some(next) = stepped else {
            if forced {
                cursor = 0;
            }
            continue;
        };
        let prev = std::mem::replace(&mut states[o.key], next);
        pos[p] += 1;
        if memo.insert((
            pos.clone().into_boxed_slice(),
            states.clone().into_boxed_slice(),
        )) {
            stack.push((if skip { p + n_procs } else { p }, prev, forced));
            cursor = usize::MAX;
        } else {
            pos[p] -= 1;
            states[by_proc[p][pos[p] as usize].key] = prev;
            if forced {
                // The forced step leads somewhere already explored: this configuration fails.
                cursor = 2 * n_procs;
            }
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let checker = format!("sequential({})", model.name());
    let stats = serde_json::json!({
        "ops": n_ops,
        "processes": by_proc.len(),
        "keys": key_names.len(),
        "configurations": memo.len(),
        "steps": steps,
        "seconds": seconds,
    });
    let (validity, summary, anomalies) = match outcome {
        Ok(true) => (
            Validity::Valid,
            format!("sequentially consistent ({n_ops} ops)"),
            vec![],
        ),
        Err(what) => (
            Validity::Unknown,
            if what == "memory" {
                format!(
                    "unknown: the search's memory budget ran out after {} configurations of \
                     {n_procs} processes (sequential consistency is NP-complete to check); a \
                     longer --time-limit will not help: check a shorter part of the history",
                    memo.len()
                )
            } else if what == "steps" {
                format!(
                    "unknown: the step budget ran out after {steps} steps and {} configurations",
                    memo.len()
                )
            } else {
                format!(
                    "unknown: the time limit ran out after {seconds:.1} s and {} \
                     configurations; raise --time-limit, or check a shorter part of the history",
                    memo.len()
                )
            },
            vec![],
        ),
        Ok(false) => {
            let (depth, at, st) = &deepest;
            let mut ops = Vec::new();
            let mut blocked = Vec::new();
            for (p, o) in by_proc.iter().enumerate() {
                if let Some(o) = o.get(at[p] as usize).filter(|o| !o.unknown) {
                    ops.push(history.ops[o.origin.0].index);
                    let key = key_names[o.key].as_deref().unwrap_or("the object");
                    blocked.push(format!(
                        "{} ({key} is {})",
                        crate::check::linearizable::explain::describe_call(history, o.origin),
                        model.describe_state(&st[o.key], &values)
                    ));
                }
            }
            let explanation = format!(
                "no order that keeps each process's own order explains the history: after the \
                 best order found of {depth} ops, none of the processes' next ops can take \
                 effect: {}",
                blocked.join("; ")
            );
            (
                Validity::Invalid,
                format!("not sequentially consistent: {explanation}"),
                vec![Anomaly {
                    kind: "not-sequentially-consistent".into(),
                    key: None,
                    ops,
                    explanation,
                    details: serde_json::json!({ "placed": depth, "next_ops": blocked }),
                }],
            )
        }
    };
    Ok(CheckResult {
        checker,
        validity,
        summary,
        anomalies,
        stats,
    })
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
