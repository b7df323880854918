//! Issue 13: the set, queue, counter and bank workloads, through the real binary, on the toy
//! stores and on a real redis-server. Short seeded runs; each asserts the verdict of every
//! checker the workload records:
//!
//! - lin-kv and quorum-kv: every workload valid (one leader / one Paxos round per op);
//! - lww-kv under a partition, clients on both sides changing one key: the set and the counter
//!   lose acknowledged adds (the healed replicas keep one side's whole value), while the bank
//!   keeps its total (a bank is one key, so each side's version is a whole, consistent bank);
//! - redis (one server): every workload valid, and the counter valid under pauses too.

mod support;

use ferrocheck::check::result::Validity;
use ferrocheck::report::ResultsFile;
use std::path::Path;
use std::process::Output;
use support::{
    can_inject, faults_applied, have_redis, history, leftover_namespaces, only_run, schedule,
    serial, test_in, text,
};

const WORKLOADS: [&str; 4] = ["set", "queue", "counter", "bank"];

/// Runs `ferrocheck test` on `target` with `workload` and `extra` options into `dir`.
fn run(dir: &Path, target: &str, workload: &str, extra: &[&str]) -> Output {
    let mut args = vec!["--target", target, "--workload", workload];
    args.extend(["--concurrency", "4", "--rate", "150", "--seed", "11"]);
    args.extend(extra);
    test_in(dir, &args)
}

/// Each checker's verdict, from the run's `results.json`.
fn verdicts(dir: &Path, out: &Output) -> Vec<(String, Validity)> {
    let path = only_run(dir, "reports").join("results.json");
    let text_of = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("no results.json ({e})\n{}", text(out)));
    let file: ResultsFile = serde_json::from_str(&text_of).expect("results.json parses");
    file.results
        .into_iter()
        .map(|r| (r.checker, r.validity))
        .collect()
}

/// The `f`s of the faults the run's history records as applied.
fn applied(dir: &Path) -> Vec<String> {
    let h = history(dir);
    faults_applied(&h)
}

/// Runs every workload on `target` (no faults) and asserts every checker says valid.
fn all_valid(target: &str, extra: &[&str]) {
    for workload in WORKLOADS {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut args = vec!["--time-limit", "2", "--keys", "2"];
        args.extend(extra);
        let out = run(dir.path(), target, workload, &args);
        let v = verdicts(dir.path(), &out);
        assert!(!v.is_empty(), "{workload}: no checker ran\n{}", text(&out));
        assert!(
            v.iter().all(|(_, validity)| *validity == Validity::Valid),
            "{target} {workload}: {v:?}\n{}",
            text(&out)
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
}

#[test]
fn lin_kv_runs_every_workload_valid() {
    all_valid("lin-kv", &[]);
}

#[test]
fn quorum_kv_runs_every_workload_valid() {
    all_valid("quorum-kv", &[]);
}

#[test]
fn redis_runs_every_workload_valid() {
    if have_redis() {
        all_valid("redis", &[]);
    }
}

#[test]
fn redis_counter_stays_valid_under_pauses() {
    let _one = serial();
    if !have_redis() || !can_inject() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let sched = schedule(dir.path(), "\"pause\"", 0.8, "[pause]\ntargets = \"one\"\n");
    let out = run(
        dir.path(),
        "redis",
        "counter",
        &[
            "--time-limit",
            "4",
            "--keys",
            "2",
            "--nemesis",
            sched.to_str().expect("utf-8 path"),
        ],
    );
    let v = verdicts(dir.path(), &out);
    assert_eq!(
        v,
        [("linearizable(counter)".into(), Validity::Valid)],
        "{}",
        text(&out)
    );
    let faults = applied(dir.path());
    assert!(
        faults.iter().any(|f| f == "pause"),
        "{faults:?}\n{}",
        text(&out)
    );
}

/// Runs `workload` on lww-kv with one key under a partition that cuts one node off for most of
/// the run; returns each checker's verdict.
fn lww_partitioned(workload: &str) -> Option<Vec<(String, Validity)>> {
    let _one = serial();
    if !can_inject() {
        return None;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let sched = schedule(
        dir.path(),
        "\"partition\"",
        2.5,
        "[partition]\nkinds = [\"one\"]\n",
    );
    let out = run(
        dir.path(),
        "lww-kv",
        workload,
        &[
            "--time-limit",
            "5",
            "--keys",
            "1",
            "--nemesis",
            sched.to_str().expect("utf-8 path"),
        ],
    );
    let left = leftover_namespaces();
    assert!(left.is_empty(), "namespaces left: {left:?}");
    let faults = applied(dir.path());
    assert!(
        faults.iter().any(|f| f == "start-partition"),
        "{faults:?}\n{}",
        text(&out)
    );
    let v = verdicts(dir.path(), &out);
    eprintln!("lww-kv {workload}: {v:?}");
    Some(v)
}

#[test]
fn lww_kv_loses_set_adds_and_counter_increments_under_a_partition() {
    for workload in ["set", "counter"] {
        let Some(v) = lww_partitioned(workload) else {
            return;
        };
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].1, Validity::Invalid, "{workload}: {v:?}");
    }
}

#[test]
fn lww_kv_keeps_the_bank_total_because_a_bank_is_one_key() {
    if let Some(v) = lww_partitioned("bank") {
        assert_eq!(v, [("bank".into(), Validity::Valid)]);
    }
}
