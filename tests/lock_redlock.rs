//! redlock end to end through the real binary and controller: 5 real redis-servers, a majority
//! lock with drift allowance, and the real pause nemesis stopping the holder past its validity.
//! Redlock cannot fence, so updates are lost; asking for fencing is refused before anything
//! starts.

mod support;

use ferrocheck::check::Validity;
use support::have_redis;
use support::lock::{pause_schedule, LockRun};

/// The holder is paused twice (at about 1 s and 5 s of a 9 s run) for 3 s, ten times the
/// 300 ms lease.
#[test]
fn a_paused_redlock_holder_loses_updates() {
    if !have_redis() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let schedule = pause_schedule(dir.path(), 1.0, 3.0);
    let args = [
        "--nemesis",
        schedule.to_str().expect("utf-8 path"),
        "--lock-ttl-ms",
        "300",
        "--lock-work-ms",
        "100",
        "--time-limit",
        "9",
        "--seed",
        "5",
    ];
    let run = LockRun::in_dir(dir, "redlock", &args);
    assert_eq!(
        run.servers(),
        ["l1", "l2", "l3", "l4", "l5", "resource"],
        "{}",
        run.text()
    );
    let r = run.check(false);
    let hits = run.pauses();
    assert!(hits >= 2, "the nemesis paused a holder only {hits} times");
    assert!(run.history.ops.iter().filter(|o| o.f == "write").count() > 10);
    assert_eq!(run.out.status.code(), Some(1), "{}", run.text());
    assert_eq!(r.validity, Validity::Invalid, "{}", r.summary);
    assert!(
        r.anomalies.iter().any(|a| a.kind == "mutex-overlap"),
        "{}",
        r.summary
    );
    assert!(
        r.anomalies.iter().any(|a| a.kind == "lost-update"),
        "{}",
        r.summary
    );
}

#[test]
fn fencing_is_refused_not_faked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = support::test_in(
        dir.path(),
        &["--target", "redlock", "--fencing", "--time-limit", "2"],
    );
    let all = support::text(&out);
    assert_eq!(out.status.code(), Some(255), "{all}");
    assert!(all.contains("no fencing tokens"), "{all}");
    // Nothing may start: no server folder with a log.
    let started: Vec<_> = walk(&dir.path().join("histories"))
        .into_iter()
        .filter(|p| p.ends_with("redis.log"))
        .collect();
    assert!(started.is_empty(), "servers started: {started:?}");
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
