//! Sequential consistency decides real runs: a short run of each toy store (register workload,
//! unique values) checked with `ferrocheck check --consistency sequential` gets a verdict, valid
//! or invalid, not `unknown` (a linearizable run is its own witness; a causal violation or a
//! cycle of required orders refutes without a search).

use std::path::Path;
use std::process::Command;

mod support;

use support::{available, history_path, test_in, text, BIN};

#[test]
fn every_toy_store_run_gets_a_sequential_verdict() {
    for target in ["lin-kv", "quorum-kv", "lww-kv", "primary-backup"] {
        let dir = tempfile::tempdir().expect("temp dir");
        let run = test_in(
            dir.path(),
            &[
                "--target",
                target,
                "--workload",
                "register",
                "--values",
                "unique",
                "--time-limit",
                "3",
                "--seed",
                "7",
            ],
        );
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
    let missing = format!("no Porcupine corpus at {}", path.display());
    if !available((!path.exists()).then_some(missing)) {
        return;
    }
    let checked = Command::new(BIN)
        .args(["check", "--consistency", "sequential"])
        .arg(&path)
        .output()
        .expect("run ferrocheck check");
    assert_eq!(checked.status.code(), Some(0), "{}", text(&checked));
}
