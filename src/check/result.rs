//! What a checker concludes: a three-valued verdict ([`Validity`]) that merges in Jepsen's
//! order, invalid > unknown > valid, and a list of [`Anomaly`]s, each naming the ops that prove
//! it and explaining it in words a student can follow.

use serde::{Deserialize, Serialize};

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

/// Merges several results into one verdict: invalid > unknown > valid.
pub fn merge(results: &[CheckResult]) -> Validity {
    results
        .iter()
        .map(|r| r.validity)
        .max()
        .unwrap_or(Validity::Valid)
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
