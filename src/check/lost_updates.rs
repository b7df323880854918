//! Lost updates on registers: an acknowledged write that the store forgot for good.
//!
//! A register workload ends with a final read of every key, after faults are healed and every
//! other op has finished. A read counts as final when it begins at least [`SETTLE`] after the
//! last write or cas on its key ended, so replication still in flight has landed (a run with a
//! nemesis waits that long before its final reads; a run without one reads at once, and its
//! final reads are then only stale-read evidence, left to the linearizability check). If that
//! read returns `v`, some write of `v` must be the last write
//! the register took. When an acknowledged write `W` of another value *began after every write
//! of `v` had been acknowledged* and ended before the final read began, no order of the ops
//! that respects real time puts a write of `v` after `W`: `W` was lost. This is the textbook
//! lost update of last-writer-wins under clock skew (a later write stamped with an earlier
//! clock loses to an older one) and of failover without fencing (the new primary never had
//! the old one's last writes).
//!
//! A write whose outcome is unknown (`info`) may take effect at any time after it began, so a
//! write of `v` that ended `info` always explains the final read. The check only looks at the
//! final read, not at reads during the run: a read that is merely stale is the linearizability
//! checker's business; this one names writes that never came back.

use crate::check::checker::Checker;
use crate::check::result::{Anomaly, CheckResult, Validity};
use crate::check::spec::CheckerOptions;
use crate::history::{Call, History, Op, OpType, Value};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

/// The checker's name in results.
pub const NAME: &str = "lost-updates";

/// How long after the last write on a key a read must begin to count as the final read.
pub const SETTLE: Duration = Duration::from_secs(1);

/// One write or successful cas, as far as the final value is concerned.
struct Write<'h> {
    invoke: &'h Op,
    /// The value it leaves in the register.
    value: &'h Value,
    /// Completion time of an acknowledged write; `None` if its outcome is unknown.
    acked_at: Option<u64>,
}

/// The `lost-updates` checker (no options).
pub struct LostUpdates;

/// Builds the `lost-updates` checker.
pub fn build(_opts: &CheckerOptions) -> anyhow::Result<Box<dyn Checker>> {
    Ok(Box::new(LostUpdates))
}

impl Checker for LostUpdates {
    fn name(&self) -> String {
        NAME.into()
    }
    fn about(&self) -> &'static str {
        ABOUT
    }
    fn needs(&self) -> String {
        "register writes (or cas) and a final read of every key".into()
    }
    fn check(&self, history: &History) -> anyhow::Result<CheckResult> {
        Ok(check(history))
    }
}

/// What `lost-updates` checks, in one line.
pub const ABOUT: &str = "no acknowledged write is missing from the final reads when it came after every write of the value read";

/// Finds acknowledged writes that the final read of their key shows were lost.
pub fn check(history: &History) -> CheckResult {
    let calls = history.calls();
    let mut by_key: BTreeMap<&str, Vec<&Call>> = BTreeMap::new();
    for call in &calls {
        let op = &history.ops[call.invoke];
        if let Some(key) = op.key.as_deref() {
            by_key.entry(key).or_default().push(call);
        }
    }
    let mut anomalies = Vec::new();
    let mut checked = 0;
    for (key, calls) in &by_key {
        if let Some(found) = check_key(history, key, calls, &mut checked) {
            anomalies.push(found);
        }
    }
    let validity = if anomalies.is_empty() {
        Validity::Valid
    } else {
        Validity::Invalid
    };
    let summary = if anomalies.is_empty() {
        format!("no acknowledged write lost ({checked} keys with a final read)")
    } else {
        format!(
            "acknowledged writes lost on {} of {checked} keys; {}",
            anomalies.len(),
            anomalies[0].explanation
        )
    };
    CheckResult {
        checker: NAME.to_string(),
        validity,
        summary,
        anomalies,
        stats: json!({ "keys_with_final_read": checked }),
    }
}

/// Seconds since the start of the run, for explanations.
fn secs(nanos: u64) -> String {
    format!("{:.3} s", nanos as f64 / 1e9)
}

fn check_key(
    history: &History,
    key: &str,
    calls: &[&Call],
    checked: &mut usize,
) -> Option<Anomaly> {
    let op = |i: usize| &history.ops[i];
    let mutating = |c: &&&Call| matches!(op(c.invoke).f.as_str(), "write" | "cas");
    // Every write and cas on the key must be over, and settled, before the final read begins.
    let mut quiet_after = 0;
    for c in calls.iter().filter(mutating) {
        quiet_after = quiet_after.max(op(c.complete?).time);
    }
    let quiet_after = quiet_after + SETTLE.as_nanos() as u64;
    let read = calls
        .iter()
        .filter(|c| op(c.invoke).f == "read" && op(c.invoke).time > quiet_after)
        .filter_map(|c| Some((c.invoke, op(c.complete?))))
        .filter(|(_, done)| done.kind == OpType::Ok)
        .max_by_key(|(_, done)| done.index)?;
    *checked += 1;
    let (read_invoke, read_done) = (op(read.0), read.1);
    let seen = &read_done.value;

    let mut writes = Vec::new();
    for c in calls.iter().filter(mutating) {
        let (invoke, done) = (op(c.invoke), c.complete.map(op));
        let value = match invoke.f.as_str() {
            "cas" => match invoke.value.as_list() {
                Some([_, to]) => to,
                _ => continue,
            },
            _ => &invoke.value,
        };
        let acked_at = match done.map(|d| d.kind) {
            Some(OpType::Ok) => done.map(|d| d.time),
            Some(OpType::Fail) => continue,
            _ => None,
        };
        writes.push(Write {
            invoke,
            value,
            acked_at,
        });
    }
    // The latest moment a write of the value read could have taken effect.
    let explains = writes.iter().filter(|w| w.value == seen);
    let last_source: Option<Option<&Write>> = if seen.is_nil() {
        Some(explains.max_by_key(|w| w.acked_at.unwrap_or(u64::MAX)))
    } else {
        explains
            .max_by_key(|w| w.acked_at.unwrap_or(u64::MAX))
            .map(Some)
    };
    let last_source = last_source?;
    if last_source.is_some_and(|w| w.acked_at.is_none()) {
        return None;
    }
    // `None`: the value read is the initial one, older than every write.
    let source_acked = last_source.and_then(|w| w.acked_at);
    let lost: Vec<&Write> = writes
        .iter()
        .filter(|w| w.acked_at.is_some() && w.value != seen)
        .filter(|w| source_acked.is_none_or(|t| w.invoke.time > t))
        .collect();
    let last_lost = lost.iter().max_by_key(|w| w.acked_at)?;
    let source_words = match last_source {
        Some(w) => format!(
            "the last write of {seen} ({} {}, process {}) was acknowledged at {}",
            w.invoke.f,
            w.invoke.value,
            w.invoke.process,
            secs(source_acked.unwrap_or(0))
        ),
        None => format!("{key} was never written with {seen}"),
    };
    let explanation = format!(
        "lost update on {key}: the final read (at {}) returned {seen}, but {source_words}, and \
         {} later acknowledged write{} of other values began after that — the last, {} {} by \
         process {}, began at {} and was acknowledged at {}. None of them survived.",
        secs(read_invoke.time),
        lost.len(),
        if lost.len() == 1 { "" } else { "s" },
        last_lost.invoke.f,
        last_lost.invoke.value,
        last_lost.invoke.process,
        secs(last_lost.invoke.time),
        secs(last_lost.acked_at.unwrap_or(0)),
    );
    let mut ops = vec![last_lost.invoke.index];
    ops.extend(last_source.map(|w| w.invoke.index));
    ops.push(read_invoke.index);
    ops.extend(
        lost.iter()
            .filter(|w| w.invoke.index != last_lost.invoke.index)
            .map(|w| w.invoke.index),
    );
    Some(Anomaly {
        kind: "lost-update".to_string(),
        key: Some(key.to_string()),
        ops,
        explanation,
        details: json!({
            "final_read": read_invoke.index,
            "value": seen.to_string(),
            "lost_writes": lost.len(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Process;

    /// Builds a history from `(process, type, f, value, time_ms)` rows on key `k`.
    fn history(rows: &[(u64, &str, &str, Value, u64)]) -> History {
        let mut h = History::default();
        for (i, (p, kind, f, value, t)) in rows.iter().enumerate() {
            h.ops.push(Op {
                index: i as u64,
                time: t * 1_000_000,
                process: Process::Client(*p),
                kind: match *kind {
                    "invoke" => OpType::Invoke,
                    "ok" => OpType::Ok,
                    "fail" => OpType::Fail,
                    _ => OpType::Info,
                },
                f: f.to_string(),
                key: Some("k".into()),
                value: value.clone(),
                error: None,
            });
        }
        h
    }

    use Value::{Int, List, Nil};

    #[test]
    fn a_later_acknowledged_write_that_the_final_read_misses_is_lost() {
        let h = history(&[
            (0, "invoke", "write", Int(1), 0),
            (0, "ok", "write", Int(1), 10),
            (1, "invoke", "write", Int(2), 20),
            (1, "ok", "write", Int(2), 30),
            (2, "invoke", "read", Nil, 1040),
            (2, "ok", "read", Int(1), 1050),
        ]);
        let r = check(&h);
        assert_eq!(r.validity, Validity::Invalid, "{r:?}");
        assert_eq!(r.anomalies[0].kind, "lost-update");
        assert_eq!(r.anomalies[0].ops, vec![2, 0, 4]);
        assert!(r.anomalies[0].explanation.contains("write 2"), "{r:?}");
    }

    #[test]
    fn concurrent_or_uncertain_writes_explain_the_final_value() {
        // The write of 1 overlaps the write of 2: either may be last.
        let h = history(&[
            (0, "invoke", "write", Int(1), 0),
            (1, "invoke", "write", Int(2), 5),
            (1, "ok", "write", Int(2), 8),
            (0, "ok", "write", Int(1), 10),
            (2, "invoke", "read", Nil, 1040),
            (2, "ok", "read", Int(1), 1050),
        ]);
        assert_eq!(check(&h).validity, Validity::Valid);
        // A cas to 1 whose outcome is unknown may have landed last.
        let h = history(&[
            (0, "invoke", "write", Int(2), 0),
            (0, "ok", "write", Int(2), 10),
            (1, "invoke", "cas", List(vec![Int(2), Int(1)]), 20),
            (1, "info", "cas", List(vec![Int(2), Int(1)]), 30),
            (2, "invoke", "read", Nil, 1040),
            (2, "ok", "read", Int(1), 1050),
        ]);
        assert_eq!(check(&h).validity, Validity::Valid);
    }

    #[test]
    fn a_final_nil_after_an_acknowledged_write_is_a_loss_and_failed_writes_do_not_count() {
        let h = history(&[
            (0, "invoke", "write", Int(3), 0),
            (0, "ok", "write", Int(3), 10),
            (2, "invoke", "read", Nil, 1040),
            (2, "ok", "read", Nil, 1050),
        ]);
        assert_eq!(check(&h).validity, Validity::Invalid);
        let h = history(&[
            (0, "invoke", "cas", List(vec![Int(1), Int(3)]), 0),
            (0, "fail", "cas", List(vec![Int(1), Int(3)]), 10),
            (2, "invoke", "read", Nil, 1040),
            (2, "ok", "read", Nil, 1050),
        ]);
        assert_eq!(check(&h).validity, Validity::Valid);
    }

    #[test]
    fn reads_during_the_run_or_right_after_it_are_not_final_reads() {
        let h = history(&[
            (0, "invoke", "write", Int(1), 0),
            (0, "ok", "write", Int(1), 10),
            (2, "invoke", "read", Nil, 11),
            (1, "invoke", "write", Int(2), 20),
            (1, "ok", "write", Int(2), 30),
            (2, "ok", "read", Int(1), 31),
            (3, "invoke", "read", Nil, 500),
            (3, "ok", "read", Int(1), 501),
        ]);
        let r = check(&h);
        assert_eq!(r.validity, Validity::Valid, "{r:?}");
        assert!(r.summary.contains("0 keys"), "{}", r.summary);
    }
}
