//! Checkers: pure functions from a [`History`] to a [`CheckResult`].
//!
//! A result is data with a three-valued verdict ([`Validity`]) that merges in Jepsen's order,
//! invalid > unknown > valid, and a list of [`Anomaly`]s, each naming the ops that prove it and
//! explaining it in words a student can follow. Checkers do no I/O.

use crate::history::{History, Value};
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub mod causal;
pub mod explain;
pub mod linearizable;
pub mod lock;
pub mod lost_updates;
mod memo;
pub mod model;
pub mod models;
pub mod partition;
pub mod sequential;
pub mod shrink;
pub mod synth;

/// The three-valued verdict. Ordered so that `max` merges results: Valid < Unknown < Invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Validity {
    /// The history is allowed by the model.
    Valid,
    /// The checker ran out of time or memory before it could decide.
    Unknown,
    /// The history is not allowed; see the anomalies.
    Invalid,
}

impl Validity {
    /// Jepsen's exit code for this verdict: 0 valid, 1 invalid, 2 unknown.
    pub fn exit_code(self) -> i32 {
        match self {
            Validity::Valid => 0,
            Validity::Invalid => 1,
            Validity::Unknown => 2,
        }
    }
}

impl std::fmt::Display for Validity {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(match self {
            Validity::Valid => "valid",
            Validity::Unknown => "unknown",
            Validity::Invalid => "invalid",
        })
    }
}

/// One thing that went wrong, with the ops that prove it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    /// Short machine name: `nonlinearizable`, `lost-update`, `mutex-overlap`, `G1c`, ...
    pub kind: String,
    /// The key it happened on, for per-key checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Indices (`Op::index`) of the ops that prove it, the most important first.
    pub ops: Vec<u64>,
    /// The anomaly in plain words.
    pub explanation: String,
    /// Checker-specific data (e.g. the longest linearizable prefix and the reachable states).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

/// What one checker concluded about one history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Which check ran, e.g. `linearizable(cas-register)`.
    pub checker: String,
    /// The verdict.
    pub validity: Validity,
    /// One line for a terminal.
    pub summary: String,
    /// Everything that went wrong; empty when valid.
    #[serde(default)]
    pub anomalies: Vec<Anomaly>,
    /// Figures about the check: ops, keys, seconds, configurations explored...
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub stats: serde_json::Value,
}

/// Which consistency model to check a history against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    /// Real-time order must be respected (Herlihy & Wing).
    #[default]
    Linearizable,
    /// Only each process's own order must be respected (Lamport).
    Sequential,
    /// Causal consistency for registers with unique written values.
    Causal,
}

/// How to check: which model, which consistency, and the budget.
#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    /// The sequential model (`register`, `cas-register`, `mutex`, ...); `None` = infer.
    pub model: Option<String>,
    /// The consistency model.
    pub consistency: Consistency,
    /// Give up with `unknown` after this long.
    pub time_limit: Option<Duration>,
    /// The initial value of every register/key (nil unless told otherwise).
    pub initial_value: Option<Value>,
}

/// Merges several results into one verdict: invalid > unknown > valid.
pub fn merge(results: &[CheckResult]) -> Validity {
    results
        .iter()
        .map(|r| r.validity)
        .max()
        .unwrap_or(Validity::Valid)
}

/// Checks `history` as `opts` says. Errors are for unusable input (an unknown model name, ops
/// the model cannot interpret), never for a verdict.
pub fn check(history: &History, opts: &CheckOptions) -> anyhow::Result<CheckResult> {
    let name = choose_model(history, opts)?;
    match name.as_str() {
        "lock" => return Ok(lock::check_lock(history, lock::uses_fencing(history))),
        "fenced-lock" => return Ok(lock::check_lock(history, true)),
        _ => {}
    }
    if opts.consistency == Consistency::Causal {
        return match name.as_str() {
            "register" | "cas-register" => causal::check_causal(history, opts, &name),
            other => anyhow::bail!(
                "causal consistency is checked for registers only (model register or \
                 cas-register), not {other}: check with --consistency linearizable or sequential"
            ),
        };
    }
    let mut values = model::Interner::default();
    let initial = opts.initial_value.clone().unwrap_or(Value::Nil);
    use models::*;
    match name.as_str() {
        lost_updates::NAME => Ok(lost_updates::check(history)),
        "register" => {
            let m = register::Register {
                initial: values.intern(&initial),
            };
            run(&m, history, opts, values)
        }
        "cas-register" => {
            let m = cas_register::CasRegister {
                initial: values.intern(&initial),
            };
            run(&m, history, opts, values)
        }
        "kv" => {
            let m = kv::Kv {
                initial: kv::as_text(&initial),
            };
            run(&m, history, opts, values)
        }
        "multi-register" => {
            let m = multi_register::MultiRegister {
                initial: values.intern(&initial),
            };
            run(&m, history, opts, values)
        }
        "mutex" => run(&mutex::Mutex, history, opts, values),
        "set" => run(&set::Set, history, opts, values),
        "unordered-queue" => {
            models::unordered_queue::check_unique(history)?;
            run(&unordered_queue::UnorderedQueue, history, opts, values)
        }
        "fifo-queue" => run(&fifo_queue::FifoQueue, history, opts, values),
        "counter" => {
            let initial = match &initial {
                Value::Nil => 0,
                v => v.as_int().ok_or_else(|| {
                    anyhow::anyhow!("a counter's initial value must be an integer, got {v}")
                })?,
            };
            run(&counter::Counter { initial }, history, opts, values)
        }
        other => anyhow::bail!(
            "unknown model {other:?}: use one of {}",
            models::NAMES.join(", ")
        ),
    }
}

/// Runs the check `opts.consistency` names with model `m`.
fn run<M: model::Model>(
    m: &M,
    history: &History,
    opts: &CheckOptions,
    values: model::Interner,
) -> anyhow::Result<CheckResult> {
    match opts.consistency {
        Consistency::Sequential => sequential::check_sequential(m, history, opts, values),
        _ => partition::check_linearizable(m, history, opts, values),
    }
}

/// The model to check with: `opts.model`, else the history header's, else one inferred from
/// the ops' `f` values. Errors when none fits.
pub fn choose_model(history: &History, opts: &CheckOptions) -> anyhow::Result<String> {
    if let Some(m) = &opts.model {
        return Ok(m.clone());
    }
    if let Some(m) = history.header.as_ref().and_then(|h| h.model.clone()) {
        return Ok(m);
    }
    let fs = history
        .ops
        .iter()
        .filter(|o| o.is_client())
        .map(|o| o.f.as_str());
    match model::model_for_functions(fs) {
        Some(m) => Ok(m.to_string()),
        None if history.ops.iter().all(|o| !o.is_client()) => Ok("register".to_string()),
        None => anyhow::bail!(
            "cannot tell which model this history needs from its ops: pass --model (one of {})",
            models::NAMES.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(v: Validity) -> CheckResult {
        CheckResult {
            checker: "t".into(),
            validity: v,
            summary: String::new(),
            anomalies: vec![],
            stats: serde_json::Value::Null,
        }
    }

    #[test]
    fn merge_orders_invalid_over_unknown_over_valid() {
        use Validity::*;
        assert_eq!(merge(&[]), Valid);
        assert_eq!(merge(&[result(Valid), result(Unknown)]), Unknown);
        assert_eq!(
            merge(&[result(Invalid), result(Unknown), result(Valid)]),
            Invalid
        );
        assert_eq!(Invalid.exit_code(), 1);
        assert_eq!(Unknown.exit_code(), 2);
    }
}

#[cfg(test)]
mod check_tests;
