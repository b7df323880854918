//! Elle-style checking of transactional histories (Kingsbury & Alvaro, VLDB 2020).
//!
//! A history of `txn` ops ([`shape`]) is turned into a dependency graph: ww, wr and rw edges
//! inferred per key ([`infer`] for list-append, exact; [`rw_register`], weaker), plus process
//! and real-time edges, as relation flags on one graph ([`graph`]). Strongly connected
//! components hold every cycle; inside each, a breadth-first search restricted by relation finds
//! the shortest cycle of each kind ([`cycles`]), named after Adya ([`anomalies`]). Non-cycle
//! anomalies (aborted and intermediate reads, internal inconsistency, lost updates, ...) come
//! straight from inference. The anomalies found rule models out of the consistency-model lattice
//! ([`lattice`]), and each is explained step by step ([`explain`]).

use crate::check::{CheckResult, Checker, CheckerOptions, Validity};
use crate::history::History;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Instant;

pub mod anomalies;
pub mod cycles;
pub mod explain;
pub mod gen;
pub mod graph;
pub mod infer;
pub mod lattice;
pub mod notation;
pub mod rw_register;
pub mod shape;

pub use shape::Workload;

/// The model names this checker answers to.
pub const NAMES: &[&str] = &["list-append", "rw-register"];

/// How many anomalies of one kind the result lists (the stats count them all).
const SHOWN_PER_KIND: usize = 8;

/// Edge visits the cycle searches may spend before they give up (and say so).
const SEARCH_BUDGET: u64 = 2_000_000_000;

/// The registry's name for this checker.
pub const NAME: &str = "txn";

/// One line for `ferrocheck list`.
pub const ABOUT: &str = "Elle-style transactional anomalies (G0, G1a/b/c, G-single, G2-item, ...) in list-append or rw-register histories, and the consistency models they rule out";

/// The transactional checker, for the registry.
pub struct TxnChecker {
    /// The workload, or `None` to tell it from the micro-ops.
    pub workload: Option<Workload>,
}

/// Builds the checker; a model of `list-append` or `rw-register` fixes the workload, any other
/// leaves it to be told from the micro-ops (ops that are not transactions are then an error).
pub fn build(opts: &CheckerOptions) -> anyhow::Result<Box<dyn Checker>> {
    let workload = opts.model.as_deref().and_then(workload);
    Ok(Box::new(TxnChecker { workload }))
}

impl Checker for TxnChecker {
    fn name(&self) -> String {
        NAME.into()
    }
    fn about(&self) -> &'static str {
        ABOUT
    }
    fn needs(&self) -> String {
        "ops with f txn whose value lists micro-ops: [append k v] and [r k list], or [w k v] and [r k v]; written values unique per key".into()
    }
    fn check(&self, history: &History) -> anyhow::Result<CheckResult> {
        check(history, self.workload)
    }
}

/// The workload a model name stands for.
pub fn workload(model: &str) -> Option<Workload> {
    match model {
        "list-append" => Some(Workload::ListAppend),
        "rw-register" => Some(Workload::RwRegister),
        _ => None,
    }
}

/// True if the history's client ops are transactions (`f` is `txn`).
pub fn is_txn_history(history: &History) -> bool {
    let mut client = history.ops.iter().filter(|o| o.is_client()).peekable();
    client.peek().is_some() && client.all(|o| o.f == "txn")
}

/// Checks a transactional history; `workload` `None` tells it from the micro-ops. Errors are
/// for ops that are not transactions of that workload, never for a verdict.
pub fn check(history: &History, workload: Option<Workload>) -> anyhow::Result<CheckResult> {
    let started = Instant::now();
    let workload = match workload.or_else(|| shape::detect(history)) {
        Some(w) => w,
        None => {
            return Ok(CheckResult {
                checker: "txn".into(),
                validity: Validity::Valid,
                summary: "no transactions in the history".into(),
                anomalies: vec![],
                stats: json!({"txns": 0}),
            })
        }
    };
    let t = shape::extract(history, workload)?;
    let mut inf = match workload {
        Workload::ListAppend => infer::list_append(&t),
        Workload::RwRegister => rw_register::rw_register(&t),
    };
    let inferred = started.elapsed().as_secs_f64();
    let mut edges = std::mem::take(&mut inf.edges);
    graph::process_edges(&t, &mut edges);
    graph::realtime_edges(&t, &mut edges);
    let g = graph::DepGraph::build(t.txns.len(), edges);
    let comps = g.cycles_components();
    let graphed = started.elapsed().as_secs_f64();
    let found = cycles::find(&g, &comps, SEARCH_BUDGET);

    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut anomalies = Vec::new();
    for c in &found.cycles {
        let n = counts.entry(c.name()).or_default();
        *n += 1;
        if *n <= SHOWN_PER_KIND {
            anomalies.push(explain::cycle(&t, &inf, workload, c));
        }
    }
    for f in &inf.findings {
        let n = counts.entry(f.kind.to_string()).or_default();
        *n += 1;
        if *n <= SHOWN_PER_KIND {
            anomalies.push(explain::finding(&t, f));
        }
    }
    let verdict = lattice::verdict(counts.keys().map(String::as_str));
    let mut notes = std::mem::take(&mut inf.notes);
    if t.without_invoke > 0 {
        notes.push(format!(
            "{} of {} transactions have no invocation (only completions were recorded, as in Elle's example histories): they get no process or real-time edges, so -process and -realtime anomalies through them cannot be seen",
            t.without_invoke,
            t.txns.len()
        ));
    }
    if found.incomplete {
        notes.push(
            "the cycle search ran out of budget: some cycles may be missing or not the shortest"
                .into(),
        );
    }
    let validity = if !counts.is_empty() {
        Validity::Invalid
    } else if found.incomplete {
        Validity::Unknown
    } else {
        Validity::Valid
    };
    let summary = if counts.is_empty() {
        format!(
            "{} txns, no anomalies{}",
            t.txns.len(),
            if found.incomplete {
                " found before the search budget ran out"
            } else {
                ""
            }
        )
    } else {
        let list: Vec<String> = counts.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
        format!(
            "{} txns: {}; not {}; may still be {}",
            t.txns.len(),
            list.join(", "),
            verdict.not.join(", "),
            if verdict.possible.is_empty() {
                "none of the models".to_string()
            } else {
                verdict.possible.join(", ")
            }
        )
    };
    let largest = comps.iter().map(Vec::len).max().unwrap_or(0);
    Ok(CheckResult {
        checker: format!("txn({})", workload.name()),
        validity,
        summary,
        anomalies,
        stats: json!({
            "txns": t.txns.len(),
            "keys": t.keys.len(),
            "edges": g.edge_count(),
            "components": comps.len(),
            "largest_component": largest,
            "anomalies": counts,
            "not": verdict.not,
            "violated": verdict.violated,
            "possible": verdict.possible,
            "notes": notes,
            "ignored_ops": t.ignored,
            "seconds": {"infer": inferred, "graph": graphed - inferred, "total": started.elapsed().as_secs_f64()},
        }),
    })
}

#[cfg(test)]
mod tests;
