//! The command line under hostile values: extreme numbers, nonsense names and mismatched options
//! are refused with exit 254 and a clear message, never a panic.

mod support;

use std::process::Command;
use support::ferrocheck;

/// A one-op valid history in a fresh folder.
fn small_history() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("h.jsonl");
    std::fs::write(
        &path,
        concat!(
            "{\"ferrocheck\":{\"version\":1,\"model\":\"register\"}}\n",
            "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"key\":\"k1\",\"value\":3}\n",
            "{\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"key\":\"k1\",\"value\":3}\n",
        ),
    )
    .expect("write history");
    (dir, path)
}

#[test]
fn extreme_time_limits_and_rates_are_refused_not_panics() {
    let (_dir, path) = small_history();
    let file = path.to_str().expect("utf-8 temp path");
    for args in [
        vec!["check", "--time-limit", "1e30", file],
        vec!["test", "--time-limit", "1e30"],
        vec!["test", "--rate", "1e-300"],
    ] {
        let (code, _, err) = ferrocheck(&args);
        assert_eq!(code, Some(254), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(
            err.contains("--time-limit") || err.contains("--rate"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn an_unknown_target_is_refused_naming_every_target() {
    let (code, _, err) = ferrocheck(&["test", "--target", "nonsense"]);
    assert_eq!(code, Some(254), "{err}");
    for name in [
        "lin-kv",
        "lww-kv",
        "quorum-kv",
        "primary-backup",
        "redis",
        "redis-lock",
        "redlock",
        "etcd-lock",
        "etcd",
    ] {
        assert!(err.contains(name), "{name} missing: {err}");
    }
}

#[test]
fn a_negative_time_limit_is_refused_in_clear_words() {
    let (_dir, path) = small_history();
    let file = path.to_str().expect("utf-8 temp path");
    for args in [
        vec!["check", "--time-limit", "-1", file],
        vec!["test", "--time-limit", "-1"],
        vec!["test", "--rate", "-5"],
    ] {
        let (code, _, err) = ferrocheck(&args);
        assert_eq!(code, Some(254), "{args:?}: {err}");
        assert!(!err.contains("'--"), "{args:?} suggests a separator: {err}");
        assert!(err.contains("must be"), "{args:?}: {err}");
    }
}

#[test]
fn an_empty_history_is_called_empty_not_just_valid() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("empty.jsonl");
    std::fs::write(
        &path,
        "{\"ferrocheck\":{\"version\":1,\"model\":\"register\"}}\n",
    )
    .expect("write history");
    let (code, out, err) = ferrocheck(&["check", path.to_str().expect("utf-8 temp path")]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("0 ops (empty history)"), "{out}");
}

#[test]
fn a_workload_that_does_not_fit_the_target_is_refused_naming_the_ones_that_fit() {
    let (code, _, err) = ferrocheck(&["test", "--target", "redis-lock", "--workload", "register"]);
    assert_eq!(code, Some(254), "{err}");
    assert!(err.contains("--workload lock"), "{err}");
    let (code, _, err) = ferrocheck(&["test", "--target", "lin-kv", "--workload", "lock"]);
    assert_eq!(code, Some(254), "{err}");
    assert!(err.contains("--workload register"), "{err}");
}

#[test]
fn a_lock_lease_of_zero_ms_is_refused() {
    let (code, _, err) = ferrocheck(&["test", "--target", "redis-lock", "--lock-ttl-ms", "0"]);
    assert_eq!(code, Some(254), "{err}");
    assert!(err.contains("--lock-ttl-ms"), "{err}");
}

#[test]
fn a_torn_last_line_is_left_out_and_valid_becomes_unknown() {
    let (dir, path) = small_history();
    let mut text = std::fs::read_to_string(&path).expect("read");
    // A crash mid-write: the last op's line is cut off, no line end after it.
    text.push_str("{\"process\":1,\"type\":\"invoke\",\"f\":\"re");
    let torn = dir.path().join("torn.jsonl");
    std::fs::write(&torn, text).expect("write");
    let (code, out, err) = ferrocheck(&["check", torn.to_str().expect("utf-8")]);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(out.contains("line 4, the last, was torn"), "{out}");
    assert!(out.contains("unknown"), "{out}");
    // A malformed line that is not the torn tail is still an error naming it.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"re\n{\"process\":1,\"type\":\"ok\"}\n",
    )
    .expect("write");
    let (code, _, err) = ferrocheck(&["check", bad.to_str().expect("utf-8")]);
    assert_eq!(code, Some(254), "{err}");
    assert!(err.contains("bad.jsonl:1:"), "{err}");
}

#[test]
fn a_fifo_is_refused_instead_of_waiting_forever() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("pipe.jsonl");
    let made = Command::new("mkfifo").arg(&fifo).status();
    let missing = (!matches!(made, Ok(s) if s.success())).then(|| "mkfifo failed".to_string());
    if !support::available(missing) {
        return;
    }
    let (code, _, err) = ferrocheck(&["check", fifo.to_str().expect("utf-8")]);
    assert_eq!(code, Some(254), "{err}");
    assert!(err.contains("not a regular file"), "{err}");
}

#[test]
fn too_many_keys_are_refused() {
    let (code, _, err) = ferrocheck(&["test", "--keys", "1000000000"]);
    assert_eq!(code, Some(254), "{err}");
    assert!(err.contains("--keys must be between 1 and"), "{err}");
}

#[test]
fn a_history_dir_that_cannot_be_made_is_a_usage_error() {
    let (code, _, err) = ferrocheck(&["test", "--history-dir", "/proc/ferrocheck-x"]);
    assert_eq!(code, Some(254), "{err}");
    assert!(
        err.contains("--history-dir") && err.contains("/proc/ferrocheck-x"),
        "{err}"
    );
}

/// A schedule whose first fault cannot end within the run is refused: a run that injected
/// nothing must not pass as tested under faults. (Refused before any network is made, so this
/// needs no root.)
#[test]
fn a_nemesis_that_would_inject_nothing_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, _, err) = ferrocheck(&[
        "test",
        "--target",
        "quorum-kv",
        "--nemesis",
        "partition",
        "--time-limit",
        "3",
        "--history-dir",
        dir.path().join("h").to_str().expect("utf-8"),
        "--report-dir",
        dir.path().join("r").to_str().expect("utf-8"),
    ]);
    assert_eq!(code, Some(254), "{err}");
    assert!(err.contains("would inject no fault"), "{err}");
    assert!(err.contains("--time-limit"), "{err}");
    assert!(
        std::fs::read_dir(dir.path().join("h"))
            .map(|d| d.count() == 0)
            .unwrap_or(true),
        "a refused run left a run folder"
    );
}

/// Every run's summary says how many faults were injected; a fault-free run says so.
#[test]
fn the_summary_counts_the_faults_injected() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, out, err) = ferrocheck(&[
        "test",
        "--quiet",
        "--time-limit",
        "1",
        "--history-dir",
        dir.path().join("h").to_str().expect("utf-8"),
        "--report-dir",
        dir.path().join("r").to_str().expect("utf-8"),
    ]);
    // The default target (lww-kv) is meant to fail linearizability: valid or invalid, it ran.
    assert!(matches!(code, Some(0 | 1)), "{out}{err}");
    assert!(out.contains("faults   none (--nemesis none)"), "{out}");
}

/// A 64 KiB tmpfs mounted on a fresh folder, unmounted on drop; `None` (with the reason) when
/// this machine cannot mount one (not root). Under `CI` that is a failure.
struct TinyDisk {
    dir: tempfile::TempDir,
}

impl TinyDisk {
    fn mount() -> Option<TinyDisk> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        let why = "cannot mount a 64 KiB tmpfs (needs root)".to_string();
        if !support::available((!mounted).then_some(why)) {
            return None;
        }
        Some(TinyDisk { dir })
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_history_that_cannot_be_written_stops_the_run_and_is_never_valid() {
    let Some(disk) = TinyDisk::mount() else {
        return;
    };
    let reports = tempfile::tempdir().expect("temp dir");
    let history_dir = disk.dir.path().join("h");
    // lin-kv is linearizable: on a disk with room this run is valid. A full one must not be.
    let (code, out, err) = ferrocheck(&[
        "test",
        "--target",
        "lin-kv",
        "--time-limit",
        "20",
        "--quiet",
        "--history-dir",
        history_dir.to_str().expect("utf-8 temp path"),
        "--report-dir",
        reports.path().to_str().expect("utf-8 temp path"),
    ]);
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        out.contains("aborted  the history cannot be written"),
        "{out}\n{err}"
    );
    assert!(out.contains("No space left on device"), "{out}");
    assert!(out.contains("doubt    the history is incomplete"), "{out}");
    assert!(!out.contains("verdict  valid"), "{out}");
    assert!(matches!(code, Some(1) | Some(2)), "exit {code:?}: {out}");
    // What did reach the disk is checkable, its torn last line (if any) left out.
    let file = std::fs::read_dir(&history_dir)
        .expect("the run folder")
        .flatten()
        .map(|e| e.path().join("history.jsonl"))
        .next()
        .expect("a history file");
    let (code, out, err) = ferrocheck(&["check", file.to_str().expect("utf-8 path")]);
    assert!(matches!(code, Some(0) | Some(1) | Some(2)), "{out}\n{err}");
}
