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
//!    time, not one that ran out of memory. A violation it finds is shrunk to a proved core by
//!    [`crate::check::sequential_shrink`].

use crate::check::model_checkers::DynModel;
use crate::check::result::{Anomaly, CheckResult, Validity};
use crate::check::{causal, sequential_cycles, sequential_shrink};
use crate::history::{History, Value};
use std::time::{Duration, Instant};

/// The whole budget when none is given: a run's check should answer within seconds.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(8);

/// A verdict reached before the search: validity, summary, anomalies.
type Decided = (Validity, String, Vec<Anomaly>);

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
    let registers = matches!(model.name(), "register" | "cas-register");
    let done = |(validity, summary, anomalies): Decided, how: &str| CheckResult {
        checker: format!("sequential({})", model.name()),
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
    if let Some(d) = registers.then(|| by_causal(history, initial)).flatten() {
        return Ok(done(d, "causal patterns"));
    }
    // 2. Linearizable, so sequentially consistent.
    let lin = model.linearizable(history, Some(budget / 3))?;
    if lin.validity == Validity::Valid {
        let summary = format!(
            "sequentially consistent ({} ops): it is linearizable, and its linearization keeps \
             every process's order",
            history.calls().len()
        );
        return Ok(done((Validity::Valid, summary, vec![]), "linearizable"));
    }
    // 3. A cycle of required orders.
    if registers {
        let until = Instant::now() + (deadline.saturating_duration_since(Instant::now()) / 2);
        if let Some(d) = by_cycles(history, initial, until) {
            return Ok(done(d, "a cycle of required orders"));
        }
    }
    // 4. The search, with what is left.
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(100));
    let mut r = by_search(model, history, left, initial)?;
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

/// Phase 1: a causal violation of a register history, which is a sequential one.
fn by_causal(history: &History, initial: &Value) -> Option<Decided> {
    let (_, report) = causal::search(history, initial).ok()??;
    let anomalies = [&report.cc, &report.ccv, &report.cm]
        .into_iter()
        .find(|a| !a.is_empty())?;
    let summary = format!(
        "not sequentially consistent: a causal violation is a sequential one: {}",
        anomalies[0].explanation
    );
    Some((Validity::Invalid, summary, anomalies.clone()))
}

/// Phase 3: a cycle of orders every sequential witness needs, looked for until `until`.
fn by_cycles(history: &History, initial: &Value, until: Instant) -> Option<Decided> {
    let a = sequential_cycles::refute(history, initial, Some(until))?;
    let summary = format!("not sequentially consistent: {}", a.explanation);
    Some((Validity::Invalid, summary, vec![a]))
}

/// Phase 4: the search for `left`, and a violation it finds shrunk to a proved core.
fn by_search(
    model: &dyn DynModel,
    history: &History,
    left: Duration,
    initial: &Value,
) -> anyhow::Result<CheckResult> {
    let mut r = model.sequential(history, Some(left))?;
    if r.validity == Validity::Invalid {
        match sequential_shrink::shrink(model, history, initial) {
            Some(small) => {
                r.anomalies = small.anomalies;
                r.summary = small.summary;
            }
            None => {
                let note = " (the shrinker could not prove a smaller core within its step budget)";
                r.summary.push_str(note);
                if let Some(a) = r.anomalies.first_mut() {
                    a.explanation.push_str(note);
                }
            }
        }
    }
    Ok(r)
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
