//! `ferrocheck test --target redis-lock --workload lock` through the real binary: the control run
//! is valid, the history has the lock vocabulary and a final read, and no server or worker is
//! left behind. (The pause nemesis runs are in lock_redis.rs until the nemesis is wired in.)

mod lock_support;

use ferrocheck::history::{History, OpType};
use lock_support::{have, processes_mentioning};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_ferrocheck");

fn run(extra: &[&str]) -> (std::process::Output, History) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args([
            "test",
            "--quiet",
            "--target",
            "redis-lock",
            "--workload",
            "lock",
        ])
        .args(["--time-limit", "2", "--concurrency", "3", "--history-dir"])
        .arg(dir.path().join("h"))
        .arg("--report-dir")
        .arg(dir.path().join("r"))
        .args(extra)
        .output()
        .unwrap();
    let run = std::fs::read_dir(dir.path().join("h"))
        .unwrap()
        .next()
        .expect("a run folder")
        .unwrap()
        .path();
    let h = History::read_jsonl(&run.join("history.jsonl")).unwrap();
    // Nothing of the run may survive it: no redis-server on the run's ports, no worker talking
    // to them (any process's command line naming one of the ports).
    for node in ["lock", "resource"] {
        let log = std::fs::read_to_string(run.join("nodes").join(node).join("redis.log")).unwrap();
        let port = log
            .split("port=")
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .expect("redis.log names its port")
            .to_string();
        let left = processes_mentioning(&format!(":{port}"));
        assert!(left.is_empty(), "processes left on port {port}: {left:?}");
    }
    (out, h)
}

#[test]
fn control_runs_are_valid_with_and_without_fencing() {
    if !have("redis-server", "apt-get install redis-server") {
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
    if !have("redis-server", "apt-get install redis-server") {
        return;
    }
    for fencing in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(BIN);
        cmd.args([
            "test",
            "--quiet",
            "--target",
            "redis-lock",
            "--nemesis",
            "pause",
        ])
        // 12 s: the holder is paused at about 4 s for 3 s, caught just after it was sent its
        // write (so the stall lands before the write does).
        .args(["--time-limit", "12", "--seed", "1", "--history-dir"])
        .arg(dir.path().join("h"))
        .arg("--report-dir")
        .arg(dir.path().join("r"));
        if fencing {
            cmd.arg("--fencing");
        }
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let run = std::fs::read_dir(dir.path().join("h"))
            .unwrap()
            .next()
            .expect("a run folder")
            .unwrap()
            .path();
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
    if !have("redis-server", "apt-get install redis-server") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args([
            "test",
            "--quiet",
            "--target",
            "redis-lock",
            "--time-limit",
            "60",
        ])
        .arg("--history-dir")
        .arg(dir.path().join("h"))
        .arg("--report-dir")
        .arg(dir.path().join("r"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until clients are running (the history grows).
    let start = std::time::Instant::now();
    let run = loop {
        assert!(start.elapsed().as_secs() < 20, "the run never started");
        std::thread::sleep(std::time::Duration::from_millis(100));
        let Some(run) = std::fs::read_dir(dir.path().join("h"))
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
        else {
            continue;
        };
        let ops = std::fs::read_to_string(run.path().join("history.jsonl"))
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if ops > 50 {
            break run.path();
        }
    };
    let ports: Vec<String> = ["lock", "resource"]
        .iter()
        .map(|node| {
            let log =
                std::fs::read_to_string(run.join("nodes").join(node).join("redis.log")).unwrap();
            log.split("port=")
                .nth(1)
                .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
                .expect("redis.log names its port")
                .to_string()
        })
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
