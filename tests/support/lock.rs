//! Lock-target runs through the real binary: `ferrocheck test --target <lock target>` with a
//! pause schedule written for the test, the history and verdict it left, the pauses that hit,
//! and the check that none of its servers or lock workers outlived it.

use super::cmd::{assert_gone, only_run, test_in, text};
use super::faults::faults_applied;
use ferrocheck::check::lock::check_lock;
use ferrocheck::check::{CheckResult, Validity};
use ferrocheck::history::{History, OpType, Process};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

/// A schedule file that pauses the lock holder (SIGSTOP, then SIGCONT) for `pause` seconds,
/// the first time `first` seconds into the run and again `first` seconds after each resume.
pub fn pause_schedule(dir: &Path, first: f64, pause: f64) -> PathBuf {
    let path = dir.join("pause.toml");
    let text = format!(
        "name = \"holder-pause\"\ndescription = \"pause the lock holder\"\nfaults = [\"pause\"]\n\
         interval = {first}\njitter = 0.0\nduration = {pause}\n[pause]\ntargets = \"one\"\n"
    );
    std::fs::write(&path, text).expect("write schedule");
    path
}

/// One finished lock run.
pub struct LockRun {
    /// The binary's exit code and output.
    pub out: Output,
    /// The history it wrote.
    pub history: History,
    /// Its run folder (`histories/<run>`; the servers' folders are under `nodes/`).
    pub run: PathBuf,
    /// The folder everything went to, removed when the run is dropped.
    pub dir: tempfile::TempDir,
}

impl LockRun {
    /// Runs `ferrocheck test --target target --concurrency 3` with `args` in a fresh folder,
    /// then checks that no server or lock worker of the run is left (see [`assert_nothing_left`]).
    pub fn new(target: &str, args: &[&str]) -> LockRun {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::in_dir(dir, target, args)
    }

    /// Like [`new`](Self::new), in `dir` (where a schedule may already be).
    pub fn in_dir(dir: tempfile::TempDir, target: &str, args: &[&str]) -> LockRun {
        let mut all = vec!["--target", target, "--concurrency", "3"];
        all.extend(args);
        let out = test_in(dir.path(), &all);
        let run = only_run(dir.path(), "histories");
        let history = History::read_jsonl(&run.join("history.jsonl"))
            .unwrap_or_else(|e| panic!("no history ({e})\n{}", text(&out)));
        assert_nothing_left(&run);
        if let Some(path) = std::env::var_os("LOCK_TEST_DUMP") {
            let _ = std::fs::copy(run.join("history.jsonl"), path);
        }
        LockRun {
            out,
            history,
            run,
            dir,
        }
    }

    /// The run's exit code and output, for assertion messages.
    pub fn text(&self) -> String {
        text(&self.out)
    }

    /// How many pauses the nemesis applied (each stopped the lock holder).
    /// The nemesis's ops and the run's output are printed, for a test that fails on the count.
    pub fn pauses(&self) -> usize {
        for o in self
            .history
            .ops
            .iter()
            .filter(|o| o.process == Process::Nemesis)
        {
            eprintln!(
                "nemesis {:?} {} {} {}",
                o.kind,
                o.f,
                o.value,
                o.error.as_deref().unwrap_or("")
            );
        }
        eprintln!(
            "ferrocheck's output:\n{}{}",
            String::from_utf8_lossy(&self.out.stdout),
            String::from_utf8_lossy(&self.out.stderr)
        );
        faults_applied(&self.history)
            .iter()
            .filter(|f| *f == "pause")
            .count()
    }

    /// The lock checks on the run's history, printed for a person reading the test's output.
    pub fn check(&self, fencing: bool) -> CheckResult {
        let r = check_lock(&self.history, fencing);
        eprintln!("{}: {}", r.checker, r.summary);
        for a in &r.anomalies {
            eprintln!("  {}: {}", a.kind, a.explanation);
        }
        r
    }

    /// Asserts that the run's exit code is its checker's verdict: 1 when `r` is invalid, else 0.
    pub fn assert_exit_matches(&self, r: &CheckResult) {
        let code = if r.validity == Validity::Invalid {
            1
        } else {
            0
        };
        assert_eq!(self.out.status.code(), Some(code), "{}", self.text());
    }

    /// The names of the run's servers (the folders under `nodes/` that have a server log).
    pub fn servers(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.run.join("nodes"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| {
                        let p = e.path();
                        p.join("redis.log").exists() || p.join("etcd.log").exists()
                    })
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

/// The port the resource redis-server of the run in `run` listened on (from its log).
pub fn resource_port(run: &Path) -> Option<String> {
    server_port(run, "resource")
}

/// The port server `node` of the run in `run` listened on (from its `redis.log`).
pub fn server_port(run: &Path, node: &str) -> Option<String> {
    let log = std::fs::read_to_string(run.join("nodes").join(node).join("redis.log")).ok()?;
    log.split("port=")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .map(str::to_owned)
}

/// No process of the run in `run` is left: no server (their command lines name the run's
/// folder) and no lock worker (theirs name the resource's port). Children die with the
/// harness by a signal the kernel sends as it exits, so this allows them a second.
pub fn assert_nothing_left(run: &Path) {
    assert_gone(&run.to_string_lossy(), Duration::from_secs(1), "servers");
    if let Some(port) = resource_port(run) {
        assert_gone(
            &format!("127.0.0.1:{port}/"),
            Duration::from_secs(1),
            "lock workers",
        );
    }
}

/// Each client's holds: `(process, start, end)` from its acquire's ok to its next release's
/// invoke (or `u64::MAX`, held to the end).
pub fn holds_by_client(h: &History) -> Vec<(u64, u64, u64)> {
    let mut open: std::collections::BTreeMap<u64, u64> = Default::default();
    let mut out = Vec::new();
    for op in &h.ops {
        let Process::Client(p) = op.process else {
            continue;
        };
        match (op.f.as_str(), op.kind) {
            ("acquire", OpType::Ok) => {
                open.insert(p, op.time);
            }
            ("release", OpType::Invoke) => {
                if let Some(start) = open.remove(&p) {
                    out.push((p, start, op.time));
                }
            }
            _ => {}
        }
    }
    out.extend(open.into_iter().map(|(p, start)| (p, start, u64::MAX)));
    out
}
