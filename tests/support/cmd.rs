//! The `ferrocheck` binary under test: `ferrocheck test` into a fresh folder, the run folder and
//! history it wrote, its output for assertion messages, and the processes a run must not leave.

use ferrocheck::history::History;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_ferrocheck");

/// A process's exit code and output, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs the binary with `args`; returns the exit code, stdout and stderr.
pub fn ferrocheck(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("run ferrocheck");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `ferrocheck test` writing its history under `dir/histories` and its report under
/// `dir/reports`; the caller adds the options (and `--quiet` if it wants it).
pub fn test_cmd(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("test")
        .arg("--history-dir")
        .arg(dir.join("histories"))
        .arg("--report-dir")
        .arg(dir.join("reports"));
    cmd
}

/// Runs `ferrocheck test --quiet` with `args` into `dir` (see [`test_cmd`]).
pub fn test_in(dir: &Path, args: &[&str]) -> Output {
    test_cmd(dir)
        .arg("--quiet")
        .args(args)
        .output()
        .expect("run ferrocheck")
}

/// Runs `ferrocheck test --quiet` with `args` into a fresh folder; returns the output and the
/// folder.
pub fn test_run(args: &[&str]) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = test_in(dir.path(), args);
    (out, dir)
}

/// The one run folder under `dir/sub` (`histories` or `reports`).
pub fn only_run(dir: &Path, sub: &str) -> PathBuf {
    let runs: Vec<PathBuf> = std::fs::read_dir(dir.join(sub))
        .unwrap_or_else(|e| panic!("no {sub} folder in {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(runs.len(), 1, "expected one run in {sub}, found {runs:?}");
    runs[0].clone()
}

/// The history file of the one run under `dir`.
pub fn history_path(dir: &Path) -> PathBuf {
    only_run(dir, "histories").join("history.jsonl")
}

/// The history of the one run under `dir`, read back.
pub fn history(dir: &Path) -> History {
    History::read_jsonl(&history_path(dir)).expect("history reads back")
}

/// Every process (not a zombie, not this one) whose command line contains `needle`: its pid
/// and command line.
pub fn processes_mentioning(needle: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(')')
            .map(|x| x.1.trim_start())
            .unwrap_or("");
        if state.starts_with('Z') {
            continue;
        }
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(needle) {
            out.push((pid, cmd));
        }
    }
    out
}

/// Processes whose command line mentions `dir` (nodes keep their data folders there), as
/// `pid: command line`.
pub fn processes_under(dir: &Path) -> Vec<String> {
    processes_mentioning(&dir.to_string_lossy())
        .into_iter()
        .map(|(pid, cmd)| format!("{pid}: {cmd}"))
        .collect()
}

/// Waits (up to 20 s) until the run writing under `histories` has more than `lines` lines of
/// history, and returns its run folder: the run is going, its clients are running.
pub fn wait_for_ops(histories: &Path, lines: usize) -> PathBuf {
    let start = std::time::Instant::now();
    loop {
        let run = std::fs::read_dir(histories)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .map(|e| e.path());
        if let Some(run) = run {
            let n = std::fs::read_to_string(run.join("history.jsonl"))
                .map(|t| t.lines().count())
                .unwrap_or(0);
            if n > lines {
                return run;
            }
        }
        assert!(
            start.elapsed().as_secs() < 20,
            "no {lines} lines of history after 20 s: the run never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The `results.json` of the one run under `dir`.
pub fn results(dir: &Path) -> serde_json::Value {
    let path = only_run(dir, "reports").join("results.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("results.json is JSON")
}

/// Waits up to `within` until no process mentions `needle` (a run's folder, a server's port);
/// panics naming those still there. Children die with their harness by a signal the kernel
/// sends as the harness exits, so a moment may pass before they are gone.
pub fn assert_gone(needle: &str, within: std::time::Duration, what: &str) {
    let deadline = std::time::Instant::now() + within;
    loop {
        let left = processes_mentioning(needle);
        if left.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what} left behind (mentioning {needle}): {left:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
