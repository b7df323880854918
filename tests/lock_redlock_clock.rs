//! Kleppmann's Redlock scenario, for real, through the binary: `--target redlock --nemesis
//! redlock-clock` splits the clients (group ga reaches lock servers l1, l2, l3; group gb reaches
//! l3, l4, l5) with nftables rules between namespaces, then jumps l3's wall clock past the lock
//! TTL with the clock shim. l3 expires the holder's key early, a client of the other group wins
//! the majority {l3 + its two}, and two clients hold the lock at once. The same run without
//! faults, and the same partition without the clock jump, stay valid.
//!
//! Needs root, `ip` and redis-server: skips with a reason on a user's machine, fails under `CI`.

use std::path::Path;
use std::process::Output;

mod support;

use support::lock::holds_by_client as holds;
use support::{
    can_inject, fault_times, faults_applied, have_redis, history, leftover_namespaces,
    processes_under, serial, test_in, text,
};

fn ready() -> bool {
    can_inject() && have_redis()
}

/// Lease and work for the runs that must stay safe: a 2 s lease over 100 ms of work, a margin of
/// 20x, so that no holder slowed by a busy machine outlives its lease (that would be a real
/// overlap, which Redlock cannot prevent, and not the one these tests are about).
const SAFE: &[&str] = &["--lock-work-ms", "100", "--lock-ttl-ms", "2000"];

/// Longer holds than the default give every clock jump a holder to catch.
const JUMPY: &[&str] = &["--lock-work-ms", "300"];

fn run(dir: &Path, nemesis: &str, seed: u64, time_limit: &str, lock: &[&str]) -> Output {
    let seed = seed.to_string();
    let mut args = vec!["--target", "redlock", "--nemesis", nemesis];
    args.extend(["--time-limit", time_limit, "--concurrency", "6"]);
    args.extend(lock);
    args.extend(["--seed", &seed]);
    test_in(dir, &args)
}

/// N from the summary's "N of M acknowledged updates lost".
fn lost_updates(summary: &str) -> Option<u64> {
    let before = summary.split(" acknowledged updates lost").next()?;
    let words: Vec<&str> = before.split_whitespace().collect();
    match words.as_slice() {
        [.., n, "of", _] => n.parse().ok(),
        _ => None,
    }
}

fn assert_clean(dir: &Path) {
    let left = leftover_namespaces();
    assert!(left.is_empty(), "namespaces left: {left:?}");
    let servers = processes_under(dir);
    assert!(servers.is_empty(), "redis-servers left: {servers:?}");
}

#[test]
fn a_clock_jump_on_the_shared_server_lets_two_clients_hold_the_redlock() {
    let _one = serial();
    if !ready() {
        return;
    }
    // Whether a jump catches a holder is a matter of timing (a jump must land while a client
    // of one group holds the lock through l3), so a run can miss (about 1 in 10 here); the
    // scenario must show in at least half of the runs, and every run must apply the faults
    // and end valid or invalid, never in error.
    let (mut lost, mut broken) = (0, 0);
    let seeds = [1, 2, 3, 4];
    for seed in seeds {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = run(dir.path(), "redlock-clock", seed, "10", JUMPY);
        let all = text(&out);
        assert!(
            matches!(out.status.code(), Some(0) | Some(1)),
            "seed {seed}: {all}"
        );
        let h = history(dir.path());
        let applied = faults_applied(&h);
        for f in ["start-partition", "clock-bump", "clock-reset", "heal"] {
            assert!(
                applied.iter().any(|a| a == f),
                "seed {seed}: no {f}: {applied:?}"
            );
        }
        assert_clean(dir.path());
        if out.status.code() != Some(1) {
            continue;
        }
        assert!(
            all.contains("mutual exclusion is broken"),
            "seed {seed}: invalid without a mutex overlap\n{all}"
        );
        lost += lost_updates(&all)
            .unwrap_or_else(|| panic!("seed {seed}: no lost-update count\n{all}"));
        // The proof, from the history itself: two clients of different groups hold the lock
        // at once, the second having taken it after l3's clock first jumped. (The jump that
        // frees the key may fall inside the first holder's own acquire call, before its ok, so
        // it is not required between the two acquisitions; the partition-only test shows the
        // split alone never lets two clients in.)
        let bumps = fault_times(&h, "clock-bump");
        let hs = holds(&h);
        let split = hs.iter().any(|a| {
            hs.iter().any(|b| {
                a.0 % 2 != b.0 % 2 && a.1 < b.1 && b.1 < a.2 && bumps.iter().any(|t| *t < b.1)
            })
        });
        assert!(
            split,
            "seed {seed}: no overlap of clients from both groups across a clock jump\n{all}"
        );
        broken += 1;
    }
    assert!(
        broken * 2 >= seeds.len(),
        "the clock jump broke the lock in only {broken} of {} runs",
        seeds.len()
    );
    // A second holder works from a stale read: its write drops the first one's update.
    assert!(lost > 0, "no acknowledged update was lost in any run");
}

#[test]
fn the_same_partition_without_the_clock_jump_keeps_the_redlock_safe() {
    let _one = serial();
    if !ready() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    // redlock-clock's partition alone, split for 4.5 s: more than twice the 2 s lease, so a key
    // a slowed client left on l3 cannot keep one group out of the whole split.
    let sched = dir.path().join("split.toml");
    std::fs::write(
        &sched,
        "name = \"split\"\nfaults = [\"partition\"]\ninterval = 0.5\nduration = 4.5\n\
         [partition]\nkinds = []\nexplicit = [[[\"ga\", \"l1\", \"l2\"], [\"gb\", \"l4\", \"l5\"]]]\n",
    )
    .expect("write schedule");
    let out = run(
        dir.path(),
        sched.to_str().expect("utf-8 path"),
        1,
        "8",
        SAFE,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let h = history(dir.path());
    assert!(
        faults_applied(&h).iter().any(|f| f == "start-partition"),
        "{}",
        text(&out)
    );
    // Both groups still got the lock while split (each through l3 and its own two).
    let parts = fault_times(&h, "start-partition");
    let heals = fault_times(&h, "stop-partition");
    let during = |t: u64| parts.iter().zip(&heals).any(|(s, e)| *s < t && t < *e);
    let groups: std::collections::BTreeSet<u64> = holds(&h)
        .iter()
        .filter(|(_, start, _)| during(*start))
        .map(|(p, _, _)| p % 2)
        .collect();
    assert_eq!(
        groups.len(),
        2,
        "both groups should hold the lock while split"
    );
    assert_clean(dir.path());
}

#[test]
fn without_faults_the_redlock_run_is_valid() {
    let _one = serial();
    if !ready() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run(dir.path(), "none", 1, "4", SAFE);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(holds(&history(dir.path())).len() > 5, "{}", text(&out));
    assert_clean(dir.path());
}

#[test]
fn random_partitions_and_unnamed_clock_faults_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (nemesis, says) in [
        ("partition", "explicit partitions"),
        ("clock", "must name its lock servers"),
        ("kill", "not kill"),
    ] {
        let out = run(dir.path(), nemesis, 1, "2", SAFE);
        assert_eq!(out.status.code(), Some(254), "{nemesis}: {}", text(&out));
        assert!(text(&out).contains(says), "{nemesis}: {}", text(&out));
    }
}
