//! What to check: the consistency models, the options a caller gives ([`CheckOptions`]), and
//! the options one checker is built with ([`CheckerOptions`]), as a history header records them
//! in a [`CheckerSpec`].

use crate::history::{CheckerSpec, Value};
use serde::{Deserialize, Serialize};
use std::time::Duration;

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
    /// Convergence: after healing, every node answers the same written value per key.
    Eventual,
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

impl Consistency {
    /// Every consistency model, as `--consistency` spells it.
    pub const NAMES: &'static [&'static str] =
        &["linearizable", "sequential", "causal", "eventual"];

    /// The name as `--consistency` (and the checker registry) spells it.
    pub fn name(self) -> &'static str {
        match self {
            Consistency::Linearizable => "linearizable",
            Consistency::Sequential => "sequential",
            Consistency::Causal => "causal",
            Consistency::Eventual => "eventual",
        }
    }
}

impl std::str::FromStr for Consistency {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "linearizable" => Ok(Consistency::Linearizable),
            "sequential" => Ok(Consistency::Sequential),
            "causal" => Ok(Consistency::Causal),
            "eventual" => Ok(Consistency::Eventual),
            other => Err(format!(
                "unknown consistency model {other:?}: use one of {}",
                Consistency::NAMES.join(", ")
            )),
        }
    }
}

/// The options one checker is built with; each checker reads the ones it needs. Stored in a
/// history header as the `options` object of a [`CheckerSpec`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckerOptions {
    /// The sequential model (`register`, `cas-register`, ...), for checkers that take one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The initial value of every register/key (nil unless told otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_value: Option<Value>,
    /// Give up with `unknown` after this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit: Option<f64>,
    /// For the lock checker: whether the resource checks fencing tokens (`None`: look at the
    /// history).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fencing: Option<bool>,
}

impl CheckerOptions {
    /// The options of `spec`, or an error naming the checker and what to fix.
    pub fn of(spec: &CheckerSpec) -> anyhow::Result<CheckerOptions> {
        serde_json::from_value(serde_json::Value::Object(spec.options.clone())).map_err(|e| {
            anyhow::anyhow!(
                "checker {:?} has options it cannot read ({e}): fix the history header, or \
                 check with --model",
                spec.name
            )
        })
    }

    /// A spec naming checker `name` with these options.
    pub fn spec(&self, name: &str) -> CheckerSpec {
        let options = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => Default::default(),
        };
        CheckerSpec {
            name: name.to_string(),
            options,
        }
    }

    /// The time limit as a duration (ignored unless positive, finite and representable).
    pub fn time_limit(&self) -> Option<Duration> {
        self.time_limit
            .filter(|s| s.is_finite() && *s > 0.0)
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
    }

    /// The initial value, nil when not given.
    pub fn initial(&self) -> Value {
        self.initial_value.clone().unwrap_or(Value::Nil)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_round_trip_through_a_spec() {
        let o = CheckerOptions {
            model: Some("cas-register".into()),
            initial_value: Some(Value::Int(0)),
            time_limit: Some(2.5),
            fencing: None,
        };
        let spec = o.spec("linearizable");
        assert_eq!(spec.name, "linearizable");
        assert_eq!(CheckerOptions::of(&spec).unwrap(), o);
        assert_eq!(o.time_limit(), Some(Duration::from_millis(2500)));
        let mut bad = spec.clone();
        bad.options.insert("modle".into(), "x".into());
        let e = CheckerOptions::of(&bad).unwrap_err().to_string();
        assert!(e.contains("modle") && e.contains("--model"), "{e}");
    }

    #[test]
    fn consistency_names_parse_back() {
        for n in Consistency::NAMES {
            assert_eq!(n.parse::<Consistency>().unwrap().name(), *n);
        }
        assert!("strict"
            .parse::<Consistency>()
            .unwrap_err()
            .contains("sequential"));
    }
}
