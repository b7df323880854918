//! Reports: one self-contained HTML page per run, and an index page listing every run.
//!
//! A report is data dropped into a template: the verdicts, anomalies, fault windows and the
//! geometry of the plots and pictures are gathered here in Rust as plain values, and one
//! template per page (`templates/report.html`, `templates/index.html`, rendered with minijinja
//! with autoescaping on) turns them into HTML and SVG. The whole history is embedded as compact
//! JSON that a small script draws as a zoomable timeline on a canvas. The page loads nothing from the
//! network, so it opens anywhere (a browser, an e-mail attachment, a printout). Next to each
//! `index.html` a `results.json` keeps the run's facts and verdicts for [`write_index`].

use crate::check::lattice::Lattice;
use crate::check::{self, CheckResult, Validity};
use crate::history::History;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

mod anomaly;
pub mod availability;
mod graph;
mod html;
mod index;
mod lattice;
pub mod message_diagram;
mod picture;
mod plot;
mod templates;
mod timeline;
mod txn_cycle;

pub use index::write_index;

/// The facts about a run that the report shows next to the verdict.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunInfo {
    /// The run's name, also the name of its folder under `reports/` and `histories/`.
    pub name: String,
    /// The system under test (`toy-register`, `redis`, `etcd`, ...).
    pub target: String,
    /// The workload (`register`, `lock`, ...).
    pub workload: String,
    /// The fault schedule (`partition`, `pause`, `none`, ...).
    pub nemesis: String,
    /// Every option of the run, as given.
    pub options: serde_json::Value,
    /// The command line that reproduces the run (`ferrocheck test ...`).
    pub command: String,
    /// When the run started, as a wall-clock string.
    pub start_time: String,
    /// The random seed of the run's generators.
    pub seed: u64,
    /// Where the run's history was written.
    pub history: PathBuf,
}

/// What `results.json` holds: the run, the overall verdict and each checker's result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ResultsFile {
    /// The run.
    pub run: RunInfo,
    /// All results merged: invalid > unknown > valid.
    pub validity: Validity,
    /// How many ops the history has.
    #[serde(default)]
    pub ops: usize,
    /// Each checker's result.
    #[serde(default)]
    pub results: Vec<CheckResult>,
    /// Where the history stands on the consistency lattice, when the lattice covers it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lattice: Option<Lattice>,
    /// For each fault window, the fraction of ops that completed ok, per side of a partition.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub availability: Vec<availability::WindowAvailability>,
}

/// What a Maelstrom run adds to its page: the message diagram and each node's stderr tail.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Extras {
    /// The Lamport diagram of a window of the run's messages.
    pub message_diagram: Option<message_diagram::Diagram>,
    /// The end of each node's stderr, in node order.
    pub node_logs: Vec<NodeLog>,
}

/// The tail of one node's stderr.
#[derive(Clone, Debug, Serialize)]
pub struct NodeLog {
    /// The node's id (`n0`).
    pub node: String,
    /// Where its whole stderr was saved.
    pub path: String,
    /// Its last lines.
    pub tail: String,
}

/// Writes `dir/index.html` and `dir/results.json` for one run and returns the HTML's path.
pub fn write(
    dir: &Path,
    run: &RunInfo,
    history: &History,
    results: &[CheckResult],
) -> anyhow::Result<PathBuf> {
    write_with_lattice(dir, run, history, results, None)
}

/// Like [`write`], with the history's place on the consistency lattice drawn on the page and
/// kept in `results.json`.
pub fn write_with_lattice(
    dir: &Path,
    run: &RunInfo,
    history: &History,
    results: &[CheckResult],
    lattice: Option<&Lattice>,
) -> anyhow::Result<PathBuf> {
    write_full(dir, run, history, results, lattice, &Extras::default())
}

/// Like [`write_with_lattice`], with a Maelstrom run's [`Extras`] on the page.
pub fn write_full(
    dir: &Path,
    run: &RunInfo,
    history: &History,
    results: &[CheckResult],
    lattice: Option<&Lattice>,
    extras: &Extras,
) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the report folder {}", dir.display()))?;
    let (page, availability) = html::render(run, history, results, lattice, extras)?;
    let html_path = dir.join("index.html");
    crate::atomic_file::write(&html_path, page.as_bytes())
        .with_context(|| format!("cannot write the report {}", html_path.display()))?;
    let summary = ResultsFile {
        run: run.clone(),
        validity: check::merge(results),
        ops: history.ops.len(),
        results: results.to_vec(),
        lattice: lattice.cloned(),
        availability,
    };
    let json_path = dir.join("results.json");
    let text = serde_json::to_string_pretty(&summary).context("cannot encode results.json")?;
    crate::atomic_file::write(&json_path, text.as_bytes())
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    Ok(html_path)
}

/// What a process of the final phase did, in words: `final read` (processes from 1,000,000:
/// the read of every key after the faults healed) or `node n2 read` (the per-node reads of the
/// eventual check); `None` for a worker.
pub(crate) fn process_role(p: crate::history::Process) -> Option<String> {
    if let Some(node) = check::eventual::node_of(p) {
        return Some(format!("node {node} read"));
    }
    match p {
        crate::history::Process::Client(n) if n >= 1_000_000 => Some("final read".into()),
        _ => None,
    }
}

/// Nanoseconds as a short human duration: `850 µs`, `12.3 ms`, `4.21 s`.
pub(crate) fn human_ns(ns: u64) -> String {
    let ns = ns as f64;
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.1} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(human_ns(850), "850 ns");
        assert_eq!(human_ns(12_300_000), "12.3 ms");
        assert_eq!(human_ns(4_210_000_000), "4.21 s");
    }
}
