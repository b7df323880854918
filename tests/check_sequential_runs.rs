//! Sequential consistency decides real runs: a short run of each toy store (register workload,
//! unique values) checked with `ferrocheck check --consistency sequential` gets a verdict, valid
//! or invalid, not `unknown` (a linearizable run is its own witness; a causal violation or a
//! cycle of required orders refutes without a search).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_ferrocheck");

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The one history file a run wrote under `dir`.
fn history_path(dir: &Path) -> PathBuf {
    let runs: Vec<PathBuf> = std::fs::read_dir(dir.join("histories"))
        .expect("histories folder")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("history.jsonl"))
        .filter(|p| p.exists())
        .collect();
    assert_eq!(runs.len(), 1, "expected exactly one run, found {runs:?}");
    runs[0].clone()
}

#[test]
fn every_toy_store_run_gets_a_sequential_verdict() {
    for target in ["lin-kv", "quorum-kv", "lww-kv", "primary-backup"] {
        let dir = tempfile::tempdir().expect("temp dir");
        let run = Command::new(BIN)
            .arg("test")
            .args(["--quiet", "--history-dir"])
            .arg(dir.path().join("histories"))
            .arg("--report-dir")
            .arg(dir.path().join("reports"))
            .args([
                "--target",
                target,
                "--workload",
                "register",
                "--values",
                "unique",
            ])
            .args(["--time-limit", "3", "--seed", "7"])
            .output()
            .expect("run ferrocheck test");
        // A run is valid (0) or invalid (1); anything else is a broken run, not the checker.
        assert!(
            matches!(run.status.code(), Some(0 | 1)),
            "{target}: {}",
            text(&run)
        );
        let checked = Command::new(BIN)
            .args(["check", "--consistency", "sequential"])
            .arg(history_path(dir.path()))
            .output()
            .expect("run ferrocheck check");
        let out = text(&checked);
        assert!(
            matches!(checked.status.code(), Some(0 | 1)),
            "{target}: sequential consistency undecided: {out}"
        );
        // The linearizable stores are sequential: their linearization is the witness.
        if target == "lin-kv" || target == "quorum-kv" {
            assert_eq!(checked.status.code(), Some(0), "{target}: {out}");
        }
    }
}

#[test]
fn porcupines_c10_ok_kv_history_is_sequentially_consistent() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/porcupine/kv/c10-ok.txt");
    if !path.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the Porcupine corpus is missing at {}",
            path.display()
        );
        eprintln!("skipped: no Porcupine corpus at {}", path.display());
        return;
    }
    let checked = Command::new(BIN)
        .args(["check", "--consistency", "sequential"])
        .arg(&path)
        .output()
        .expect("run ferrocheck check");
    assert_eq!(checked.status.code(), Some(0), "{}", text(&checked));
}
