//! etcd-lock end to end through the real binary and controller: a real 3-member etcd
//! cluster's lock service, a redis-server resource, real worker processes, the real pause
//! nemesis stopping the holder past its lease. The lease lock breaks the same way the Redis one
//! does; the lock revision as a fencing token fixes it. No server or worker outlives a run.
//!
//! etcd rounds a short lease up to its minimum (about 2 s), so the holder is paused for 6 s
//! (once, at about 1 s of a 9 s run): the lease certainly runs out while it is stopped.

mod support;

use ferrocheck::check::{CheckResult, Validity};
use support::lock::{pause_schedule, LockRun};
use support::{have_etcd, have_redis};

/// A 9 s etcd-lock run with one long holder pause; the lock checks and how many pauses hit.
fn scenario(fencing: bool) -> (CheckResult, usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let schedule = pause_schedule(dir.path(), 1.0, 6.0);
    let mut args = vec![
        "--nemesis",
        schedule.to_str().expect("utf-8 path"),
        "--lock-ttl-ms",
        "1000",
        "--lock-work-ms",
        "100",
        "--time-limit",
        "9",
        "--seed",
        "11",
    ];
    if fencing {
        args.push("--fencing");
    }
    let run = LockRun::in_dir(dir, "etcd-lock", &args);
    let r = run.check(fencing);
    run.assert_exit_matches(&r);
    assert_eq!(
        run.servers(),
        ["n1", "n2", "n3", "resource"],
        "3 etcd members and the resource redis"
    );
    (r, run.pauses())
}

#[test]
fn paused_holder_outlives_its_etcd_lease_and_updates_are_lost() {
    if !have_etcd() || !have_redis() {
        return;
    }
    let (r, hits) = scenario(false);
    assert!(hits >= 1, "the nemesis never paused a holder");
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
fn the_lock_revision_as_a_fencing_token_loses_nothing() {
    if !have_etcd() || !have_redis() {
        return;
    }
    let (r, hits) = scenario(true);
    assert!(hits >= 1, "the nemesis never paused a holder");
    let lost = &r.stats["lost_updates"];
    assert_eq!(lost["lost"], 0, "{}", r.summary);
    assert!(
        lost["refused_writes"].as_u64().expect("a count") >= 1,
        "{}",
        r.summary
    );
    assert_eq!(
        r.validity,
        Validity::Valid,
        "{}: {:?}",
        r.summary,
        r.anomalies
    );
}
