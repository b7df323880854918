//! Runs under namespaced faults: one at a time per test binary, short schedules, the faults a
//! history records as applied, fresh run records, and the `fc-*` namespaces a run must not
//! leave behind.

use ferrocheck::history::{History, OpType, Process};
use ferrocheck::nemesis::cleanup::run_of_namespace;
use ferrocheck::nemesis::state::{base_dir, new_run_id, RunRecord};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The runs look at the machine's namespaces, so the tests of one binary go one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Holds the one-at-a-time lock for the rest of a test.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// A schedule file: `faults` every ~1.5 s for `duration` seconds, plus `extra` tables.
pub fn schedule(dir: &Path, faults: &str, duration: f64, extra: &str) -> PathBuf {
    let path = dir.join("schedule.toml");
    let text = format!(
        "name = \"test\"\ndescription = \"short faults for tests\"\nfaults = [{faults}]\n\
         interval = 1.5\njitter = 0.3\nduration = {duration}\n{extra}"
    );
    std::fs::write(&path, text).expect("write schedule");
    path
}

/// The `f`s of nemesis ops that completed ok.
pub fn faults_applied(h: &History) -> Vec<String> {
    h.ops
        .iter()
        .filter(|o| o.process == Process::Nemesis && o.kind == OpType::Ok)
        .map(|o| o.f.clone())
        .collect()
}

/// The times at which the nemesis completed `f`.
pub fn fault_times(h: &History, f: &str) -> Vec<u64> {
    h.ops
        .iter()
        .filter(|o| o.process == Process::Nemesis && o.kind == OpType::Ok && o.f == f)
        .map(|o| o.time)
        .collect()
}

/// Every `fc-*` network namespace on the machine.
pub fn namespaces() -> BTreeSet<String> {
    let out = Command::new("ip").args(["netns", "list"]).output();
    out.map(|o| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| n.starts_with("fc-"))
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

/// Whether namespace `ns` belongs to no live run (its owner is gone).
fn orphaned(ns: &str) -> bool {
    run_of_namespace(ns)
        .and_then(|run| RunRecord::open(&base_dir().join(run)))
        .is_none_or(|record| !record.owner_alive())
}

/// `fc-*` namespaces whose run is over (no live owner): what a run must never leave behind.
/// Namespaces of runs still going (another test or user on this machine) are not counted.
pub fn leftover_namespaces() -> Vec<String> {
    namespaces().into_iter().filter(|ns| orphaned(ns)).collect()
}

/// Like [`leftover_namespaces`], counting only namespaces that appeared since `before`.
pub fn leftovers_since(before: &BTreeSet<String>) -> Vec<String> {
    namespaces()
        .difference(before)
        .filter(|ns| orphaned(ns))
        .cloned()
        .collect()
}

/// A fresh run record (removed when dropped).
pub fn record() -> RunRecord {
    RunRecord::create(&new_run_id()).expect("creating a run record")
}

/// The namespaces of `run` that exist now.
pub fn namespaces_of(run: &str) -> Vec<String> {
    let prefix = ferrocheck::nemesis::netns::namespace_prefix(run);
    ferrocheck::nemesis::netns::list_namespaces()
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

/// Deletes every namespace of a run when dropped (for tests that leave namespaces on purpose).
pub struct NamespacesOf(pub String);

impl Drop for NamespacesOf {
    fn drop(&mut self) {
        for ns in namespaces_of(&self.0) {
            let _ = ferrocheck::nemesis::netns::delete_namespace(&ns);
        }
    }
}
