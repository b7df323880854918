//! redis-lock end to end: real redis-servers, real worker processes, real SIGSTOP of the holder.
//! Without fencing the lease lock lets two clients hold it at once and loses acknowledged
//! updates; with fencing the resource refuses the stale holder and nothing is lost.

mod lock_support;

use ferrocheck::check::lock::check_lock;
use ferrocheck::check::Validity;
use ferrocheck::targets::lock::redis::RedisLockTarget;
use ferrocheck::targets::lock::{LockOptions, LockTarget};
use ferrocheck::targets::{Target, TargetOptions};
use lock_support::{have, run_lock_test, workers_of, Plan};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

fn alive(pid: u32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok()
}

async fn scenario(fencing: bool, op_timeout_ms: u64) -> (ferrocheck::check::CheckResult, usize) {
    let dir = tempfile::tempdir().unwrap();
    let opts = TargetOptions {
        nodes: None,
        work_dir: dir.path().to_owned(),
        base_port: 0,
        node_binary: PathBuf::from(env!("CARGO_BIN_EXE_ferrocheck")),
        seed: 7,
        placement: None,
        fsync: true,
    };
    let lock = LockOptions {
        ttl: Duration::from_millis(300),
        work: Duration::from_millis(100),
        acquire_wait: Duration::from_millis(200),
        fencing,
    };
    let mut target = RedisLockTarget::new(opts, lock, None);
    target.setup().await.unwrap();
    let pids: Vec<u32> = target.nodes().iter().filter_map(|n| n.pid).collect();
    let resource = target.nodes()[1].addr;
    assert_eq!(pids.len(), 2);
    let target: Arc<dyn LockTarget> = Arc::new(target);
    let plan = Plan {
        fencing,
        workers: 3,
        run: Duration::from_millis(3500),
        every: Duration::from_millis(400),
        pause: Duration::from_millis(900),
        op_timeout: Duration::from_millis(op_timeout_ms),
        final_pause: op_timeout_ms < 1000,
    };
    let (history, hits) = run_lock_test(target.clone(), &plan).await;
    assert!(
        target.workers().is_empty(),
        "workers left: {:?}",
        target.workers()
    );
    drop(target); // Drop kills both redis-servers and any worker still finishing.
    for pid in pids {
        assert!(!alive(pid), "redis-server {pid} outlived the test");
    }
    // SIGKILL was sent on drop; give a loaded machine a moment to finish them off.
    let mut left = workers_of(resource);
    for _ in 0..50 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        left = workers_of(resource);
    }
    assert!(
        left.is_empty(),
        "lock workers outlived the target: {left:?}"
    );
    if let Some(path) = std::env::var_os("LOCK_TEST_DUMP") {
        let mut f = std::fs::File::create(format!(
            "{}-{fencing}-{op_timeout_ms}",
            path.to_string_lossy()
        ))
        .unwrap();
        history.write_jsonl(&mut f).unwrap();
    }
    let result = check_lock(&history, fencing);
    eprintln!("{}: {}", result.checker, result.summary);
    for a in &result.anomalies {
        eprintln!("  {}: {}", a.kind, a.explanation);
    }
    (result, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_holder_breaks_the_lease_lock_and_loses_updates() {
    if !have("redis-server", "apt-get install redis-server") {
        return;
    }
    let (r, hits) = scenario(false, 5000).await;
    assert!(hits >= 2, "the nemesis found a holder only {hits} times");
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
    let overlap = r
        .anomalies
        .iter()
        .find(|a| a.kind == "mutex-overlap")
        .unwrap();
    assert!(
        overlap.explanation.contains("paused"),
        "{}",
        overlap.explanation
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fencing_tokens_lose_nothing() {
    if !have("redis-server", "apt-get install redis-server") {
        return;
    }
    let (r, hits) = scenario(true, 5000).await;
    assert!(hits >= 2, "the nemesis found a holder only {hits} times");
    let lost = &r.stats["lost_updates"];
    assert_eq!(lost["lost"], 0, "{}", r.summary);
    assert!(lost["acknowledged"].as_u64().unwrap() > 5, "{}", r.summary);
    assert!(
        lost["refused_writes"].as_u64().unwrap() >= 1,
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

/// The pause outlasts the op timeout: the stalled write is recorded `info`, its client retires,
/// and the worker, once continued, still performs the write it had — clobbering later updates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_given_up_on_still_lands_late() {
    if !have("redis-server", "apt-get install redis-server") {
        return;
    }
    let (r, hits) = scenario(false, 500).await;
    assert!(hits >= 2, "the nemesis found a holder only {hits} times");
    assert!(
        r.anomalies.iter().any(|a| a.kind == "mutex-overlap"),
        "{}",
        r.summary
    );
    let lost: Vec<_> = r
        .anomalies
        .iter()
        .filter(|a| a.kind == "lost-update")
        .collect();
    assert!(!lost.is_empty(), "{}", r.summary);
    assert!(
        lost.iter().any(|a| a.explanation.contains("overwrote it")),
        "{:?}",
        lost
    );
}
