//! The command line under hostile values: extreme numbers, nonsense names and mismatched options
//! are refused with exit 254 and a clear message, never a panic.

use std::process::{Command, Output};

/// Runs the real binary with `args`; returns the exit code, stdout and stderr.
fn ferrocheck(args: &[&str]) -> (Option<i32>, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_ferrocheck"))
        .args(args)
        .output()
        .expect("run ferrocheck");
    (
        status.code(),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

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
