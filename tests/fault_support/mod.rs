//! Shared by the test binaries that run `ferrocheck test` under namespaced faults: whether this
//! machine can inject them, short schedules, and the `fc-*` namespaces a run must not leave.

#![allow(dead_code)]

use ferrocheck::history::{History, OpType, Process};
use ferrocheck::nemesis::cleanup::run_of_namespace;
use ferrocheck::nemesis::state::{base_dir, RunRecord};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_ferrocheck");

/// The runs look at the machine's namespaces, so the tests of one binary go one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Holds the one-at-a-time lock for the rest of a test.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// True when this machine can run namespaced faults; otherwise explains (or fails under CI).
pub fn can_inject() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let ip = Command::new("ip")
        .arg("-V")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if root && ip {
        return true;
    }
    let why = format!("needs root and iproute2 (root: {root}, ip: {ip})");
    if std::env::var_os("CI").is_some() {
        panic!("fault runs cannot run under CI: {why}");
    }
    eprintln!("skipping: {why}");
    false
}

/// True when `program --version` runs; otherwise says which Debian `package` to install and
/// skips (or fails under CI).
pub fn have_program(program: &str, package: &str) -> bool {
    let ok = Command::new(program)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        let why = format!("{program} not found on PATH: apt-get install {package}");
        if std::env::var_os("CI").is_some() {
            panic!("{why}");
        }
        eprintln!("skipping: {why}");
    }
    ok
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

/// A process's exit code and output, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The `f`s of nemesis ops that completed ok.
pub fn faults_applied(h: &History) -> Vec<String> {
    h.ops
        .iter()
        .filter(|o| o.process == Process::Nemesis && o.kind == OpType::Ok)
        .map(|o| o.f.clone())
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

/// `fc-*` namespaces whose run is over (no live owner): what a run must never leave behind.
/// Namespaces of runs still going (another test or user on this machine) are not counted.
pub fn leftover_namespaces() -> Vec<String> {
    namespaces()
        .into_iter()
        .filter(|ns| {
            run_of_namespace(ns)
                .and_then(|run| RunRecord::open(&base_dir().join(run)))
                .is_none_or(|record| !record.owner_alive())
        })
        .collect()
}
