//! End-to-end runs of `ferrocheck test` on the built-in toy stores, through the real binary:
//! verdicts, the history on disk, `ferrocheck check` agreeing with the run, Ctrl-C, bad options.

use ferrocheck::history::{History, OpType, Process};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::{
    history_path, processes_under, test_cmd, test_run as run_test, text, wait_for_ops, BIN,
};

/// Every invoke has exactly one completion, or is the last op of its process (left open).
fn assert_well_formed(h: &History) {
    let mut open: HashMap<Process, usize> = HashMap::new();
    for (i, op) in h.ops.iter().enumerate() {
        if op.process == Process::Nemesis {
            continue;
        }
        if op.kind == OpType::Invoke {
            assert!(
                open.insert(op.process, i).is_none(),
                "process {} invoked twice without completing (op {i})",
                op.process
            );
        } else {
            assert!(
                open.remove(&op.process).is_some(),
                "op {i} completes nothing"
            );
        }
    }
    assert!(
        open.is_empty(),
        "calls left open after a completed run: {open:?}"
    );
}

fn check_agrees(history: &Path, expected: i32) {
    let out = Command::new(BIN)
        .arg("check")
        .arg(history)
        .output()
        .expect("run ferrocheck check");
    assert_eq!(out.status.code(), Some(expected), "{}", text(&out));
}

fn toy_run(target: &str, expected: i32) {
    let (out, dir) = run_test(&[
        "--target",
        target,
        "--time-limit",
        "4",
        "--rate",
        "300",
        "--seed",
        "7",
    ]);
    assert_eq!(out.status.code(), Some(expected), "{}", text(&out));
    let path = history_path(dir.path());
    let h = History::read_jsonl(&path).expect("the run's history reads back");
    assert!(h.ops.len() > 200, "only {} ops in a 4 s run", h.ops.len());
    assert_eq!(
        h.header.as_ref().and_then(|h| h.model.as_deref()),
        Some("cas-register")
    );
    assert_well_formed(&h);
    check_agrees(&path, expected);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("reproduce: ferrocheck test --target"),
        "{stdout}"
    );
}

#[test]
fn lin_kv_is_linearizable() {
    toy_run("lin-kv", 0);
}

#[test]
fn quorum_kv_is_linearizable() {
    toy_run("quorum-kv", 0);
}

#[test]
fn lww_kv_serves_stale_reads() {
    toy_run("lww-kv", 1);
}

#[test]
fn sigint_stops_the_nodes_and_keeps_the_history() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = test_cmd(dir.path())
        .args(["--quiet", "--target", "lin-kv", "--time-limit", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ferrocheck");
    // Wait until ops are flowing.
    wait_for_ops(&dir.path().join("histories"), 50);
    assert!(
        processes_under(dir.path()).len() >= 3,
        "the nodes should be running"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("send SIGINT");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ferrocheck did not stop within 30 s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("output");
    // An interrupted run is at best unknown.
    assert!(
        matches!(status.code(), Some(1) | Some(2)),
        "exit {:?}: {}",
        status.code(),
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("SIGINT"),
        "{}",
        text(&out)
    );
    let left = processes_under(dir.path());
    assert!(left.is_empty(), "node processes left behind: {left:?}");
    // SIGINT was sent once the file had more than 50 lines (the header and at least 50 ops).
    let h = History::read_jsonl(&history_path(dir.path())).expect("readable history");
    assert!(h.ops.len() >= 50, "only {} ops kept", h.ops.len());
}

#[test]
fn bad_options_get_a_one_line_error_and_exit_254() {
    for (args, needle) in [
        (&["--target", "no-such-store"][..], "unknown target"),
        (&["--workload", "nope"][..], "unknown workload"),
        (&["--concurrency", "0"][..], "--concurrency"),
        (&["--time-limit=-3"][..], "--time-limit"),
        (&["--rate", "fast"][..], "--rate"),
    ] {
        let (out, _dir) = run_test(args);
        assert_eq!(out.status.code(), Some(254), "{args:?}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {}", text(&out));
        assert!(!err.contains("panicked"), "{}", text(&out));
    }
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let (out, _dir) = run_test(&[
        "--target",
        "lin-kv",
        "--time-limit",
        "1",
        "--base-port",
        &port.to_string(),
    ]);
    assert_eq!(out.status.code(), Some(254), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&port.to_string()), "{}", text(&out));
    assert!(err.contains("--base-port"), "{}", text(&out));
}
