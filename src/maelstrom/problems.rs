//! What a node did wrong, in words a student can act on: a line that is not JSON, a crash, a
//! reply to a message nobody sent, a message to a node that does not exist, a reply missing a
//! field, an `init` never answered, a node that stopped answering. Each problem becomes an
//! anomaly of the `maelstrom-protocol` check, with the tail of the node's stderr.

use crate::check::{Anomaly, CheckResult, Validity};
use serde_json::Value as Json;

/// One misbehaviour.
#[derive(Clone, Debug)]
pub struct Problem {
    /// Short machine name: `not-json`, `crash`, `unexpected-reply`, `unknown-destination`,
    /// `malformed-reply`, `malformed-message`, `init`, `unresponsive`.
    pub kind: &'static str,
    /// The node at fault, by index.
    pub node: Option<usize>,
    /// What happened, in one line.
    pub explanation: String,
    /// Invalid for a protocol violation; Unknown for a node that only stopped answering.
    pub severity: Validity,
}

/// How many problems of one kind are kept (the rest are counted).
const KEEP_PER_KIND: usize = 5;

/// The problems of a run.
#[derive(Default)]
pub struct Problems {
    /// The kept problems, in the order they happened.
    pub list: Vec<Problem>,
    /// How many of each kind were seen in all.
    pub counts: std::collections::BTreeMap<&'static str, usize>,
}

impl Problems {
    /// Notes a problem (kept if fewer than a handful of its kind were).
    pub fn add(
        &mut self,
        kind: &'static str,
        node: Option<usize>,
        severity: Validity,
        explanation: String,
    ) {
        let n = self.counts.entry(kind).or_insert(0);
        *n += 1;
        if *n <= KEEP_PER_KIND {
            self.list.push(Problem {
                kind,
                node,
                explanation,
                severity,
            });
        }
    }

    /// True when nothing went wrong.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The `maelstrom-protocol` result; `tail(node)` gives the end of a node's stderr.
    pub fn result(&self, node_ids: &[String], tail: impl Fn(usize) -> String) -> CheckResult {
        let mut anomalies = Vec::new();
        let mut tails_shown = std::collections::BTreeSet::new();
        for p in &self.list {
            let mut explanation = p.explanation.clone();
            if let Some(n) = p.node {
                if tails_shown.insert(n) {
                    let t = tail(n);
                    explanation.push_str(&format!(
                        "\nlast lines of {}'s stderr:\n{}",
                        node_ids.get(n).map(String::as_str).unwrap_or("?"),
                        t.lines()
                            .map(|l| format!("  | {l}"))
                            .collect::<Vec<_>>()
                            .join("\n")
                    ));
                }
            }
            anomalies.push(Anomaly {
                kind: p.kind.into(),
                key: p.node.and_then(|n| node_ids.get(n).cloned()),
                ops: Vec::new(),
                explanation,
                details: Json::Null,
            });
        }
        let validity = self
            .list
            .iter()
            .map(|p| p.severity)
            .max()
            .unwrap_or(Validity::Valid);
        let summary = match self.list.first() {
            None => "every node spoke the protocol correctly".into(),
            Some(first) => {
                let total: usize = self.counts.values().sum();
                if total == 1 {
                    first.explanation.clone()
                } else {
                    let kinds: Vec<String> = self
                        .counts
                        .iter()
                        .map(|(k, n)| format!("{n} {k}"))
                        .collect();
                    format!(
                        "{} ({total} problems: {})",
                        first.explanation,
                        kinds.join(", ")
                    )
                }
            }
        };
        CheckResult {
            checker: "maelstrom-protocol".into(),
            validity,
            summary,
            anomalies,
            stats: serde_json::to_value(&self.counts).unwrap_or(Json::Null),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_result_shows_the_stderr_tail_once_per_node_and_counts_the_rest() {
        let mut p = Problems::default();
        for i in 0..7 {
            p.add(
                "unexpected-reply",
                Some(1),
                Validity::Invalid,
                format!("reply {i}"),
            );
        }
        let r = p.result(&["n0".into(), "n1".into()], |_| "boom".into());
        assert_eq!(r.validity, Validity::Invalid);
        assert_eq!(r.anomalies.len(), KEEP_PER_KIND);
        assert!(r.anomalies[0]
            .explanation
            .contains("n1's stderr:\n  | boom"));
        assert!(!r.anomalies[1].explanation.contains("stderr"));
        assert!(r.summary.contains("7 unexpected-reply"), "{}", r.summary);
    }
}
