//! End-to-end runs under real faults: the toy stores in their own network namespaces with
//! nftables partitions, SIGSTOP pauses, SIGKILL crashes and clock skew, through the real binary.
//! These need root and `ip`: they skip with a reason on a user's machine and fail under `CI`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::{
    assert_gone, can_inject, faults_applied, have, history, leftover_namespaces, schedule, serial,
    test_cmd, test_in as run, text, BIN,
};

fn quorum_under(faults: &str, extra: &str, expect_f: &str) {
    let _one = serial();
    if !can_inject() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let sched = schedule(dir.path(), faults, 1.0, extra);
    let out = run(
        dir.path(),
        &[
            "--target",
            "quorum-kv",
            "--nemesis",
            sched.to_str().expect("utf-8 path"),
            "--time-limit",
            "7",
            "--rate",
            "200",
            "--seed",
            "3",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let h = history(dir.path());
    let applied = faults_applied(&h);
    assert!(
        applied.iter().any(|f| f == expect_f),
        "no {expect_f} was applied: {applied:?}\n{}",
        text(&out)
    );
    assert!(applied.iter().any(|f| f == "heal"), "{applied:?}");
    let left = leftover_namespaces();
    assert!(left.is_empty(), "namespaces left: {left:?}");
}

#[test]
fn quorum_kv_stays_linearizable_under_partitions() {
    quorum_under(
        "\"partition\"",
        "[partition]\nkinds = [\"random-halves\", \"one\", \"majorities-ring\", \"bridge\"]\n",
        "start-partition",
    );
}

#[test]
fn quorum_kv_stays_linearizable_under_pauses_and_kills() {
    quorum_under(
        "\"pause\", \"kill\"",
        "[pause]\ntargets = \"one\"\n[kill]\ntargets = \"minority\"\n",
        "kill",
    );
}

/// Starts a 60 s quorum-kv run with a partition every ~1.5 s and waits until one is in force.
/// The caller owns the child and waits for it.
#[allow(clippy::zombie_processes)]
fn start_partitioned_run(dir: &Path) -> std::process::Child {
    let sched = schedule(
        dir,
        "\"partition\"",
        1.0,
        "[partition]\nkinds = [\"one\"]\n",
    );
    let mut child = test_cmd(dir)
        .args(["--quiet", "--target", "quorum-kv", "--time-limit", "60"])
        .args(["--nemesis", sched.to_str().expect("utf-8 path")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ferrocheck");
    let start = Instant::now();
    loop {
        let partitioned = std::fs::read_dir(dir.join("histories"))
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .and_then(|e| std::fs::read_to_string(e.path().join("history.jsonl")).ok())
            .map(|s| s.contains("\"type\":\"ok\",\"f\":\"start-partition\""))
            .unwrap_or(false);
        if partitioned {
            return child;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no partition within 30 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Regression: a stop that arrived while the nemesis was waiting for its next fault was
/// swallowed, and the nemesis thread then waited for a second stop forever: Ctrl-C during a
/// faulty run hung the harness.
#[test]
fn sigint_during_a_partition_heals_and_exits() {
    let _one = serial();
    if !can_inject() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = start_partitioned_run(dir.path());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("send SIGINT");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ferrocheck did not stop within 30 s of SIGINT during a partition");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    assert!(
        matches!(out.status.code(), Some(1) | Some(2)),
        "{}",
        text(&out)
    );
    let h = history(dir.path());
    assert!(
        faults_applied(&h).iter().any(|f| f == "heal"),
        "the faults were not healed: {}",
        text(&out)
    );
    let left = leftover_namespaces();
    assert!(left.is_empty(), "namespaces left: {left:?}");
}

#[test]
fn a_sigkilled_run_is_cleaned_up_by_the_next() {
    let _one = serial();
    if !can_inject() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = start_partitioned_run(dir.path());
    child.kill().expect("SIGKILL the run");
    child.wait().expect("reap");
    let left = leftover_namespaces();
    assert!(
        !left.is_empty(),
        "a SIGKILLed run should leave its namespaces"
    );
    let out = Command::new(BIN)
        .arg("cleanup")
        .output()
        .expect("run cleanup");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let left = leftover_namespaces();
    assert!(left.is_empty(), "cleanup left {left:?}\n{}", text(&out));
    // The nodes died with their harness (death-of-parent signal).
    assert_gone(
        &dir.path().to_string_lossy(),
        Duration::from_secs(5),
        "node processes",
    );
}

#[test]
fn etcd_stays_linearizable_under_partitions() {
    let _one = serial();
    if !can_inject() || !have("etcd", "etcd-server") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let sched = schedule(
        dir.path(),
        "\"partition\"",
        1.0,
        "[partition]\nkinds = [\"one\", \"majorities-ring\"]\n",
    );
    let out = run(
        dir.path(),
        &[
            "--target",
            "etcd",
            "--nemesis",
            sched.to_str().expect("utf-8 path"),
            "--time-limit",
            "7",
            "--rate",
            "200",
            "--seed",
            "4",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let applied = faults_applied(&history(dir.path()));
    assert!(
        applied.iter().any(|f| f == "start-partition"),
        "{applied:?}"
    );
    let left = leftover_namespaces();
    assert!(left.is_empty(), "namespaces left: {left:?}");
}

/// The `primaries` partition asks the target who leads right now and cuts that node off; a
/// leaderless target gets the fault recorded as `info` with the reason, never a silent no-op.
#[test]
fn the_primaries_partition_isolates_the_current_primary() {
    let _one = serial();
    if !can_inject() {
        return;
    }
    for (target, expect) in [("lin-kv", Some("n1")), ("quorum-kv", None)] {
        let dir = tempfile::tempdir().expect("temp dir");
        let sched = schedule(
            dir.path(),
            "\"partition\"",
            1.0,
            "[partition]\nkinds = [\"primaries\"]\n",
        );
        let out = run(
            dir.path(),
            &[
                "--target",
                target,
                "--nemesis",
                sched.to_str().expect("utf-8 path"),
                "--time-limit",
                "4",
                "--rate",
                "200",
                "--seed",
                "1",
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{target}: {}", text(&out));
        let h = history(dir.path());
        let starts: Vec<_> = h
            .ops
            .iter()
            .filter(|o| o.f == "start-partition" && o.kind != ferrocheck::history::OpType::Invoke)
            .collect();
        assert!(!starts.is_empty(), "{target}: no partition planned");
        for op in starts {
            match expect {
                Some(primary) => {
                    assert_eq!(op.kind, ferrocheck::history::OpType::Ok, "{op:?}");
                    let shown = op.value.to_string();
                    assert!(
                        shown.starts_with(&format!(
                            "[\"primaries\" [[\"{primary}\" [\"n2\" \"n3\"]]"
                        )),
                        "{target}: the primary is not the one cut off: {shown}"
                    );
                }
                None => {
                    assert_eq!(op.kind, ferrocheck::history::OpType::Info, "{op:?}");
                    assert!(
                        op.error.as_deref().unwrap_or("").contains("no primary"),
                        "{op:?}"
                    );
                }
            }
        }
    }
    let left = leftover_namespaces();
    assert!(left.is_empty(), "namespaces left: {left:?}");
}
