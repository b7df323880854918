//! The `maelstrom` checker in the checker registry: the checks of the Maelstrom workloads
//! (echo, unique-ids, broadcast, g-set, g-counter, pn-counter, kafka), chosen by the `model`
//! option (the workload's name), so `ferrocheck check` and `ferrocheck report` re-run them on
//! a stored history. lin-kv histories use the `linearizable` checker with model cas-register.
//! The cluster's size comes from the history header (the run's `node_count`).

use super::workload::{broadcast, counter, echo, kafka, set_convergence, unique_ids};
use crate::check::{CheckResult, Checker, CheckerOptions};
use crate::history::History;

/// The registry name.
pub const NAME: &str = "maelstrom";

/// One line for `ferrocheck list`.
pub const ABOUT: &str = "the Maelstrom workloads' checks (model = the workload: echo, unique-ids, broadcast, g-set, g-counter, pn-counter, kafka)";

/// The workloads this checker knows.
pub const WORKLOADS: &[&str] = &[
    "echo",
    "unique-ids",
    "broadcast",
    "g-set",
    "g-counter",
    "pn-counter",
    "kafka",
];

/// The checker of one Maelstrom workload.
pub struct WorkloadChecker {
    workload: String,
}

/// Builds the checker; the workload is checked when it runs (so any model name builds).
pub fn build(opts: &CheckerOptions) -> anyhow::Result<Box<dyn Checker>> {
    Ok(Box::new(WorkloadChecker {
        workload: opts.model.clone().unwrap_or_default(),
    }))
}

/// How many nodes the run had: the header's `node_count`, else the nodes that were read.
pub fn node_count(history: &History) -> usize {
    let recorded = history
        .header
        .as_ref()
        .and_then(|h| h.run.as_ref())
        .and_then(|r| r.get("node_count"))
        .and_then(|n| n.as_u64());
    match recorded {
        Some(n) => n as usize,
        None => history
            .ops
            .iter()
            .filter_map(|o| o.key.as_deref())
            .filter(|k| k.starts_with('n'))
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
    }
}

impl Checker for WorkloadChecker {
    fn name(&self) -> String {
        format!("{NAME}({})", self.workload)
    }

    fn about(&self) -> &'static str {
        ABOUT
    }

    fn needs(&self) -> String {
        "a history recorded by a Maelstrom run (`ferrocheck test --bin`), with the workload as the model".into()
    }

    fn check(&self, history: &History) -> anyhow::Result<CheckResult> {
        let nodes = node_count(history);
        Ok(match self.workload.as_str() {
            "echo" => echo::check(history),
            "unique-ids" => unique_ids::check(history),
            "broadcast" => broadcast::check(history, nodes),
            "g-set" => set_convergence::check(history, "g-set", "add", "read", nodes),
            "g-counter" | "pn-counter" => counter::check(history, &self.workload, nodes),
            "kafka" => kafka::check(history),
            other => anyhow::bail!(
                "the maelstrom checker knows the workloads {}, not {other:?} (lin-kv histories use the linearizable checker with model cas-register)",
                WORKLOADS.join(", ")
            ),
        })
    }
}
