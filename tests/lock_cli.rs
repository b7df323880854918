//! `ferrocheck test --target redis-lock --workload lock` through the real binary: the control run
//! is valid, the history has the lock vocabulary and a final read, and no server or worker is
//! left behind; the pause nemesis breaks the lease lock and fencing fixes it; a killed harness
//! takes its servers and workers with it. (lock_redis.rs runs shorter pause schedules.)

mod support;

use ferrocheck::history::{History, OpType};
use std::process::Command;
use support::lock::server_port;
use support::{have_redis, only_run, processes_mentioning, test_cmd, wait_for_ops, BIN};

fn run(extra: &[&str]) -> (std::process::Output, History) {
    let dir = tempfile::tempdir().unwrap();
    let out = test_cmd(dir.path())
        .args(["--quiet", "--target", "redis-lock", "--workload", "lock"])
        .args(["--time-limit", "2", "--concurrency", "3"])
        .args(extra)
        .output()
        .unwrap();
    let run = only_run(dir.path(), "histories");
    let h = History::read_jsonl(&run.join("history.jsonl")).unwrap();
    // Nothing of the run may survive it: no redis-server on the run's ports, no worker talking
    // to them (any process's command line naming one of the ports).
    for node in ["lock", "resource"] {
        let port = server_port(&run, node).expect("redis.log names its port");
        let left = processes_mentioning(&format!(":{port}"));
        assert!(left.is_empty(), "processes left on port {port}: {left:?}");
    }
    (out, h)
}

#[test]
fn control_runs_are_valid_with_and_without_fencing() {
    if !have_redis() {
        return;
    }
    for extra in [&[][..], &["--fencing"][..]] {
        let (out, h) = run(extra);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let checker = if extra.is_empty() {
            "lock: VALID"
        } else {
            "fenced-lock: VALID"
        };
        assert!(stdout.contains(checker), "{stdout}");
        let count = |f: &str| {
            h.ops
                .iter()
                .filter(|o| o.f == f && o.kind == OpType::Ok)
                .count()
        };
        assert!(count("acquire") >= 3, "{stdout}");
        assert!(count("write") >= 3, "{stdout}");
        assert_eq!(count("final-read"), 1, "{stdout}");
        let fin = h
            .ops
            .iter()
            .find(|o| o.f == "final-read" && o.kind == OpType::Ok)
            .unwrap();
        assert_eq!(
            fin.value.as_list().map(|l| l.len()),
            Some(count("write")),
            "{stdout}"
        );
        let header = h.header.as_ref().unwrap();
        assert_eq!(header.workload.as_deref(), Some("lock"));
        if !extra.is_empty() {
            assert!(
                stdout.contains("--fencing"),
                "the reproduce line must keep --fencing: {stdout}"
            );
        }
    }
}

#[test]
fn a_missing_redis_server_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args([
            "test",
            "--quiet",
            "--target",
            "redis-lock",
            "--workload",
            "lock",
            "--redis-server",
        ])
        .arg(dir.path().join("nope"))
        .arg("--history-dir")
        .arg(dir.path().join("h"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(255), "{err}");
    assert!(
        err.contains("--redis-server") && err.contains("no such file"),
        "{err}"
    );
}

/// The headline: `ferrocheck test --target redis-lock --nemesis pause` shows two clients holding
/// the lock at once and acknowledged updates lost; `--fencing` shows the fix.
#[test]
fn the_pause_nemesis_breaks_the_lease_lock_and_fencing_fixes_it() {
    if !have_redis() {
        return;
    }
    for fencing in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = test_cmd(dir.path());
        cmd.args(["--quiet", "--target", "redis-lock", "--nemesis", "pause"])
            // 12 s: the holder is paused at about 4 s for 3 s, caught after its read and
            // before its write is sent (so the stall lands before the write does).
            .args(["--time-limit", "12", "--seed", "1"]);
        if fencing {
            cmd.arg("--fencing");
        }
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let run = only_run(dir.path(), "histories");
        let h = History::read_jsonl(&run.join("history.jsonl")).unwrap();
        assert!(
            h.ops.iter().any(|o| o.f == "pause" && o.kind == OpType::Ok),
            "the nemesis never paused: {stdout}"
        );
        assert!(
            stdout.contains("faults   ")
                && stdout.contains(" injected")
                && !stdout.contains("none injected"),
            "the summary does not count the pauses: {stdout}"
        );
        // The harness leaves no hold open: at the time limit a holder releases.
        let open: Vec<_> = ferrocheck::check::lock::holds(&h)
            .into_iter()
            .filter(|hold| hold.ended.is_none())
            .collect();
        assert!(open.is_empty(), "holds left open: {open:?}\n{stdout}");
        let r = ferrocheck::check::lock::check_lock(&h, fencing);
        let lost = r.stats["lost_updates"]["lost"].as_u64().unwrap();
        let refused = r.stats["lost_updates"]["refused_writes"].as_u64().unwrap();
        if fencing {
            assert_eq!(out.status.code(), Some(0), "{stdout}");
            assert_eq!(lost, 0, "{stdout}");
            assert!(refused >= 1, "the fence refused nothing: {stdout}");
            assert!(stdout.contains("stopped by the fence"), "{stdout}");
        } else {
            assert_eq!(out.status.code(), Some(1), "{stdout}");
            assert!(
                stdout.contains("both believed they held the lock"),
                "{stdout}"
            );
            assert!(lost >= 1, "{stdout}");
            assert!(stdout.contains("overwrote it"), "{stdout}");
        }
    }
}

/// SIGKILL the harness mid-run: its redis-servers and lock workers must die with it (the kernel
/// kills them: death-of-parent signal), leaving nothing on the run's ports.
#[test]
fn a_killed_harness_takes_its_servers_and_workers_with_it() {
    if !have_redis() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = test_cmd(dir.path())
        .args(["--quiet", "--target", "redis-lock", "--time-limit", "60"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until clients are running (the history grows).
    let run = wait_for_ops(&dir.path().join("histories"), 50);
    let ports: Vec<String> = ["lock", "resource"]
        .iter()
        .map(|node| server_port(&run, node).expect("redis.log names its port"))
        .collect();
    assert!(
        !processes_mentioning(&format!(":{}", ports[1])).is_empty(),
        "nothing was running"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let mut left = Vec::new();
    for _ in 0..50 {
        left = ports
            .iter()
            .flat_map(|p| processes_mentioning(&format!(":{p}")))
            .collect();
        if left.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(left.is_empty(), "left behind by a killed harness: {left:?}");
}
