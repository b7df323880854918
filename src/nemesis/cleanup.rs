//! Cleanup: find and remove what a killed run left behind.
//!
//! A run that dies without healing can leave network namespaces (`fc-<run>-…`, with their veths,
//! bridge and partition rules inside), stopped processes, and clock offset files. Its run record
//! (see [`super::state`]) names them and the process that owned them; [`sweep`] removes the
//! leftovers of every run whose owner is gone, never those of a live run. The controller calls
//! it at start; `ferrocheck cleanup` calls it by hand.

use super::netns;
use super::partition::Backend;
use super::process;
use super::state::{self, RunRecord};
use super::tools;
use super::NemesisError;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// How to sweep.
#[derive(Clone, Copy, Debug, Default)]
pub struct SweepOptions {
    /// Only report what would be removed.
    pub dry_run: bool,
}

/// What a sweep found and removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Network namespaces deleted.
    pub namespaces: Vec<String>,
    /// Stopped processes continued.
    pub resumed: Vec<u32>,
    /// Run records (with their clock files) deleted.
    pub records: Vec<PathBuf>,
    /// Partition rules deleted from the root namespace.
    pub rules: Vec<String>,
    /// Runs left alone because their owner is alive.
    pub live_runs: Vec<String>,
    /// Things that could not be removed, and why.
    pub problems: Vec<String>,
}

impl SweepReport {
    /// True when nothing was found.
    pub fn is_empty(&self) -> bool {
        self.namespaces.is_empty()
            && self.resumed.is_empty()
            && self.records.is_empty()
            && self.rules.is_empty()
    }

    /// One line per item, for people.
    pub fn lines(&self, dry_run: bool) -> Vec<String> {
        let verb = if dry_run { "would remove" } else { "removed" };
        let mut out = Vec::new();
        out.extend(
            self.namespaces
                .iter()
                .map(|n| format!("{verb} network namespace {n}")),
        );
        out.extend(self.resumed.iter().map(|p| {
            let v = if dry_run { "would resume" } else { "resumed" };
            format!("{v} stopped process {p}")
        }));
        out.extend(self.rules.iter().map(|r| format!("{verb} {r}")));
        out.extend(
            self.records
                .iter()
                .map(|r| format!("{verb} run record {} (with its clock files)", r.display())),
        );
        out.extend(
            self.live_runs
                .iter()
                .map(|r| format!("left run {r} alone: it is still running")),
        );
        out.extend(
            self.problems
                .iter()
                .map(|p| format!("could not clean: {p}")),
        );
        out
    }
}

/// The run id in a namespace name `fc-<run>-<member>`, if it is one of ours.
pub fn run_of_namespace(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("fc-")?;
    let (run, member) = rest.split_once('-')?;
    (state::validate_run_id(run).is_ok() && !member.is_empty()).then_some(run)
}

/// Removes the leftovers of every run whose owning process is gone.
pub fn sweep(opts: SweepOptions) -> Result<SweepReport, NemesisError> {
    let mut report = SweepReport::default();
    let base = state::base_dir();
    let mut live: BTreeSet<String> = BTreeSet::new();
    let mut dead: Vec<RunRecord> = Vec::new();
    if let Ok(dir) = std::fs::read_dir(&base) {
        for entry in dir.flatten() {
            let Some(rec) = RunRecord::open(&entry.path()) else {
                continue;
            };
            if rec.owner_alive() {
                live.insert(rec.run().to_owned());
            } else {
                dead.push(rec);
            }
        }
    }

    // Stopped processes first: they are the most harmful leftover.
    for rec in &dead {
        for p in rec.paused() {
            if !p.alive() || process::state(p.pid) != Some('T') {
                continue;
            }
            if !opts.dry_run {
                if let Err(e) = process::resume(p.pid) {
                    report.problems.push(e.to_string());
                    continue;
                }
            }
            report.resumed.push(p.pid);
        }
    }

    let root = tools::is_root();
    for ns in netns::list_namespaces() {
        let Some(run) = run_of_namespace(&ns) else {
            continue;
        };
        if live.contains(run) {
            continue;
        }
        if !root {
            report.problems.push(format!(
                "namespace {ns}: deleting it needs root (run as root)"
            ));
            continue;
        }
        if !opts.dry_run {
            if let Err(e) = netns::delete_namespace(&ns) {
                report.problems.push(e.to_string());
                continue;
            }
        }
        report.namespaces.push(ns);
    }

    // Partition rules live inside run namespaces; these would only be in the root namespace if
    // something went badly wrong, but a sweep that claims "clean" should look.
    if root {
        let backends = [
            tools::find("nft").map(Backend::Nft),
            tools::find("iptables").map(Backend::Iptables),
        ];
        for b in backends.into_iter().flatten() {
            if b.has_rules(None).unwrap_or(false) {
                let what = match &b {
                    Backend::Nft(_) => "nftables table inet ferrocheck (root namespace)",
                    Backend::Iptables(_) => "iptables chain FERROCHECK (root namespace)",
                };
                if !opts.dry_run {
                    if let Err(e) = b.remove_in(None) {
                        report.problems.push(e.to_string());
                        continue;
                    }
                }
                report.rules.push(what.to_owned());
            }
        }
    }

    for rec in dead {
        if !opts.dry_run {
            if let Err(e) = rec.remove() {
                report.problems.push(e.to_string());
                continue;
            }
        }
        report.records.push(rec.dir().to_owned());
    }
    report.live_runs = live.into_iter().collect();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names_map_to_runs() {
        assert_eq!(run_of_namespace("fc-abc123-hub"), Some("abc123"));
        assert_eq!(run_of_namespace("fc-abc123-1"), Some("abc123"));
        assert_eq!(run_of_namespace("fc-abc123"), None);
        assert_eq!(run_of_namespace("fc-ABC-1"), None);
        assert_eq!(run_of_namespace("docker-1"), None);
    }
}
