//! `sequential(model)` decided the cheap ways first, searched only when they say nothing.
//!
//! Sequential consistency is NP-complete to check, so the search of [`crate::check::sequential`]
//! can outlast any budget on a real run. Most histories are decided long before that:
//!
//! 1. a causal violation (the polynomial bad patterns of [`crate::check::causal`], for register
//!    histories with unique values) is a sequential violation, since sequential consistency
//!    implies every causal model; its anomaly names a few ops;
//! 2. a linearizable history is sequentially consistent: its linearization keeps each
//!    process's order, so it is the witness (linearizability is checked per key, quickly);
//! 3. a cycle of orders every sequential witness needs ([`crate::check::sequential_cycles`])
//!    refutes it;
//! 4. only then the search, with what is left of the budget. When it runs out, the verdict is
//!    `unknown` and the advice fits what ran out: more time helps a search that ran out of
//!    time, not one that ran out of memory.

use crate::check::linearizable::explain;
use crate::check::model_checkers::DynModel;
use crate::check::result::{CheckResult, Validity};
use crate::check::{causal, sequential_cycles};
use crate::history::{Call, History, OpType, Value};
use std::time::{Duration, Instant};

/// The whole budget when none is given: a run's check should answer within seconds.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(8);

/// Checks `history` for sequential consistency under `model`, every key starting at `initial`.
pub fn decide(
    model: &dyn DynModel,
    history: &History,
    limit: Option<Duration>,
    initial: &Value,
) -> anyhow::Result<CheckResult> {
    let started = Instant::now();
    let budget = limit.unwrap_or(DEFAULT_BUDGET);
    let deadline = started + budget;
    let name = format!("sequential({})", model.name());
    let registers = matches!(model.name(), "register" | "cas-register");
    let done = |validity, summary: String, anomalies, how: &str| CheckResult {
        checker: name.clone(),
        validity,
        summary,
        anomalies,
        stats: serde_json::json!({
            "ops": history.calls().len(),
            "decided_by": how,
            "seconds": started.elapsed().as_secs_f64(),
        }),
    };
    // 1. A causal violation.
    if registers {
        if let Ok(Some((_, report))) = causal::search(history, initial) {
            let found = [&report.cc, &report.ccv, &report.cm]
                .into_iter()
                .find(|a| !a.is_empty());
            if let Some(anomalies) = found {
                let first = anomalies[0].explanation.clone();
                return Ok(done(
                    Validity::Invalid,
                    format!(
                        "not sequentially consistent: a causal violation is a sequential one: \
                         {first}"
                    ),
                    anomalies.clone(),
                    "causal patterns",
                ));
            }
        }
    }
    // 2. Linearizable, so sequentially consistent.
    let lin = model.linearizable(history, Some(budget / 3))?;
    if lin.validity == Validity::Valid {
        return Ok(done(
            Validity::Valid,
            format!(
                "sequentially consistent ({} ops): it is linearizable, and its linearization \
                 keeps every process's order",
                history.calls().len()
            ),
            vec![],
            "linearizable",
        ));
    }
    // 3. A cycle of required orders.
    if registers {
        let until = Instant::now() + (deadline.saturating_duration_since(Instant::now()) / 2);
        if let Some(a) = sequential_cycles::refute(history, initial, Some(until)) {
            return Ok(done(
                Validity::Invalid,
                format!("not sequentially consistent: {}", a.explanation),
                vec![a],
                "a cycle of required orders",
            ));
        }
    }
    // 4. The search, with what is left.
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(100));
    let mut r = model.sequential(history, Some(left))?;
    if r.validity == Validity::Invalid {
        if let Some(small) = shrink(model, history) {
            r.anomalies = small.anomalies;
            r.summary = small.summary;
        }
    }
    if let Some(stats) = r.stats.as_object_mut() {
        stats.insert("decided_by".into(), "search".into());
        stats.insert("seconds".into(), started.elapsed().as_secs_f64().into());
    }
    if r.validity == Validity::Unknown {
        r.summary = format!(
            "{}; neither linearizable ({}) nor refuted by the causal patterns{}",
            r.summary,
            lin.validity,
            if registers {
                " or a cycle of required orders"
            } else {
                ""
            }
        );
    }
    Ok(r)
}

/// Search steps shrinking a searched violation may take in all: a budget in steps, not time,
/// so the ops an explanation names do not depend on the machine's load.
const SHRINK_STEPS: u64 = 6_000_000;
/// Search steps one trial of the shrinker may take before it counts as "not shown invalid".
const TRIAL_STEPS: u64 = 200_000;

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

/// A few ops that are still not sequentially consistent on their own, found by relaxing ever
/// smaller groups of the others (delta debugging): the searched anomaly, on the relaxed
/// history, naming only the ops kept as recorded. `None` if nothing could be relaxed within
/// [`SHRINK_STEPS`].
fn shrink(model: &dyn DynModel, history: &History) -> Option<CheckResult> {
    let calls = history.calls();
    let n = calls.len();
    let mut relax: Vec<bool> = calls
        .iter()
        .map(|c| {
            c.complete
                .is_none_or(|d| history.ops[d].kind == OpType::Info)
        })
        .collect();
    let spent = std::cell::Cell::new(0u64);
    let left = || SHRINK_STEPS.saturating_sub(spent.get());
    let invalid = |relax: &[bool]| -> Option<CheckResult> {
        let steps = left().min(TRIAL_STEPS);
        if steps == 0 {
            return None;
        }
        let r = model
            .sequential_steps(&relaxed(history, &calls, relax), steps)
            .ok()?;
        spent.set(spent.get() + r.stats["steps"].as_u64().unwrap_or(steps));
        (r.validity == Validity::Invalid).then_some(r)
    };
    let mut last = None;
    let mut chunk = n.div_ceil(2).max(1);
    loop {
        let mut start = 0;
        while start < n && left() > 0 {
            let group: Vec<usize> = (start..(start + chunk).min(n))
                .filter(|&i| !relax[i])
                .collect();
            start += chunk;
            if group.is_empty() {
                continue;
            }
            for &i in &group {
                relax[i] = true;
            }
            match invalid(&relax) {
                Some(r) => last = Some(r),
                None => group.iter().for_each(|&i| relax[i] = false),
            }
        }
        if chunk == 1 || left() == 0 {
            break;
        }
        chunk = chunk.div_ceil(2);
    }
    let mut r = last?;
    let kept: Vec<usize> = (0..n).filter(|&i| !relax[i]).collect();
    let timed = explain::has_times(history);
    let listed: Vec<String> = kept
        .iter()
        .map(|&i| {
            let inv = &history.ops[calls[i].invoke];
            format!(
                "{} (invoked at {})",
                explain::describe_call(history, (calls[i].invoke, calls[i].complete)),
                explain::since_start(timed, inv)
            )
        })
        .collect();
    let others = n - kept.len();
    let a = r.anomalies.first_mut()?;
    a.ops = kept
        .iter()
        .map(|&i| history.ops[calls[i].invoke].index)
        .collect();
    a.explanation = format!(
        "no order that keeps each process's own order allows these {} ops together: {}; even if \
         the other {others} ops took effect or not, each in its process's order. {}",
        kept.len(),
        listed.join("; "),
        a.explanation
    );
    r.summary = format!("not sequentially consistent: {}", a.explanation);
    Some(r)
}

#[cfg(test)]
mod tests {
    use crate::check::check_tests::hist;
    use crate::check::{check, CheckOptions, Consistency, Validity};

    fn sc(lines: &[&str]) -> crate::check::CheckResult {
        let opts = CheckOptions {
            model: Some("register".into()),
            consistency: Consistency::Sequential,
            ..Default::default()
        };
        check(&hist(lines), &opts).expect("checkable")
    }

    #[test]
    fn a_linearizable_history_is_its_own_witness() {
        let r = sc(&[
            "0 invoke write 1",
            "1 invoke read nil",
            "0 ok write 1",
            "1 ok read 1",
        ]);
        assert_eq!(r.validity, Validity::Valid);
        assert_eq!(r.stats["decided_by"], "linearizable");
    }

    #[test]
    fn a_causal_violation_decides_without_a_search() {
        // Process 1 reads 2 and then 1, though process 0 wrote 1 before 2.
        let r = sc(&[
            "0 invoke write 1",
            "0 ok write 1",
            "0 invoke write 2",
            "0 ok write 2",
            "1 invoke read nil",
            "1 ok read 2",
            "1 invoke read nil",
            "1 ok read 1",
        ]);
        assert_eq!(r.validity, Validity::Invalid);
        assert_eq!(r.stats["decided_by"], "causal patterns");
        assert!(r.anomalies[0].ops.len() <= 10, "{:?}", r.anomalies[0]);
    }
}
