//! The consistency-model lattice as a table: each model, the weaker models it implies, and the
//! anomalies it proscribes directly (Adya 1999 for the PL levels; Berenson et al. 1995 for
//! cursor stability and snapshot isolation; Fekete et al. 2005 for snapshot isolation's
//! adjacent rw edges; Cerone, Bernardi & Gotsman 2015 for causal; Elle's
//! table for the session and real-time variants). A model forbids its own anomalies plus every
//! anomaly of the models it implies, and an anomaly found rules out each model that forbids it
//! or anything it implies (see [`super::anomalies::closure`]).

use super::anomalies::{closure, name};
use std::collections::BTreeSet;

/// One consistency model.
#[derive(Debug)]
pub struct Model {
    /// Its name, as Elle spells it.
    pub name: &'static str,
    /// The weaker models it implies (a history that violates one of them violates this one).
    pub implies: &'static [&'static str],
    /// The anomalies it forbids beyond those of the models it implies.
    pub proscribes: &'static [&'static str],
}

/// Data corruption every model forbids.
const BROKEN_DATA: &[&str] = &[
    name::DUPLICATE_ELEMENTS,
    name::INCOMPATIBLE_ORDER,
    name::GARBAGE_READ,
];

/// The lattice, weakest first.
pub const MODELS: &[Model] = &[
    Model {
        name: "read-uncommitted",
        implies: &[],
        proscribes: &["G0"],
    },
    Model {
        name: "read-committed",
        implies: &["read-uncommitted"],
        proscribes: &["G1", name::INTERNAL, name::DIRTY_UPDATE],
    },
    Model {
        name: "cursor-stability",
        implies: &["read-committed"],
        proscribes: &[name::LOST_UPDATE],
    },
    Model {
        name: "consistent-view",
        implies: &["read-committed"],
        proscribes: &["G-single", name::NON_REPEATABLE_READ],
    },
    Model {
        name: "causal",
        implies: &["read-committed"],
        proscribes: &["G1c-process"],
    },
    Model {
        name: "repeatable-read",
        implies: &["cursor-stability"],
        // A fuzzy read (P2) is a G-single, which G2-item includes.
        proscribes: &["G2-item", name::NON_REPEATABLE_READ],
    },
    Model {
        name: "snapshot-isolation",
        implies: &["consistent-view", "cursor-stability"],
        // Fekete et al. 2005: every cycle under SI has two adjacent rw edges.
        proscribes: &["G-nonadjacent"],
    },
    Model {
        name: "strong-session-snapshot-isolation",
        implies: &["snapshot-isolation", "causal"],
        proscribes: &["G-nonadjacent-process"],
    },
    Model {
        name: "strong-snapshot-isolation",
        implies: &["strong-session-snapshot-isolation"],
        proscribes: &["G1c-realtime", "G-nonadjacent-realtime"],
    },
    Model {
        name: "serializable",
        implies: &["repeatable-read", "consistent-view"],
        proscribes: &["G2"],
    },
    Model {
        name: "strong-session-serializable",
        implies: &["serializable", "causal"],
        proscribes: &["G2-item-process"],
    },
    Model {
        name: "strict-serializable",
        implies: &["strong-session-serializable"],
        proscribes: &["G1c-realtime", "G2-item-realtime"],
    },
];

fn model(name: &str) -> Option<&'static Model> {
    MODELS.iter().find(|m| m.name == name)
}

/// Every anomaly `model` forbids, directly or through the models it implies.
pub fn forbidden(model_name: &str) -> BTreeSet<&'static str> {
    let mut out: BTreeSet<&'static str> = BROKEN_DATA.iter().copied().collect();
    let mut todo = vec![model_name];
    while let Some(m) = todo.pop() {
        if let Some(m) = model(m) {
            out.extend(m.proscribes.iter().copied());
            todo.extend(m.implies.iter().copied());
        }
    }
    out
}

/// Which models a set of found anomalies rules out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The weakest models ruled out (none of the models they imply is ruled out).
    pub not: Vec<&'static str>,
    /// Every model ruled out, weakest first.
    pub violated: Vec<&'static str>,
    /// The models the history may still satisfy (no anomaly they forbid was found; the checker
    /// cannot prove they hold).
    pub possible: Vec<&'static str>,
}

/// Rules models out by the anomalies found.
pub fn verdict<'a>(found: impl IntoIterator<Item = &'a str>) -> Verdict {
    let all = closure(found);
    let bad = |m: &Model| forbidden(m.name).iter().any(|a| all.contains(*a));
    let violated: Vec<&'static str> = MODELS.iter().filter(|m| bad(m)).map(|m| m.name).collect();
    let possible = MODELS.iter().filter(|m| !bad(m)).map(|m| m.name).collect();
    let not = MODELS
        .iter()
        .filter(|m| bad(m) && m.implies.iter().all(|w| !violated.contains(w)))
        .map(|m| m.name)
        .collect();
    Verdict {
        not,
        violated,
        possible,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_only_known_models() {
        for m in MODELS {
            for w in m.implies {
                assert!(model(w).is_some(), "{} implies unknown {w}", m.name);
            }
        }
    }

    #[test]
    fn write_skew_is_allowed_by_snapshot_isolation_only() {
        let v = verdict(["G2-item"]);
        assert_eq!(v.not, vec!["repeatable-read"]);
        assert!(v.violated.contains(&"strict-serializable"));
        assert!(v.possible.contains(&"snapshot-isolation"));
        assert!(v.possible.contains(&"read-committed"));
    }

    #[test]
    fn g_single_rules_out_snapshot_isolation_and_repeatable_read() {
        let v = verdict(["G-single"]);
        assert_eq!(v.not, vec!["consistent-view", "repeatable-read"]);
        assert!(!v.possible.contains(&"snapshot-isolation"));
        assert!(v.possible.contains(&"cursor-stability"));
    }

    #[test]
    fn realtime_cycles_rule_out_only_the_real_time_models() {
        let v = verdict(["G-single-realtime"]);
        assert_eq!(
            v.not,
            vec!["strong-snapshot-isolation", "strict-serializable"]
        );
        assert!(v.possible.contains(&"serializable"));
        let v = verdict(["G0"]);
        assert_eq!(v.not, vec!["read-uncommitted"]);
        assert!(v.possible.is_empty());
    }
}
