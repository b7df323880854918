//! redis-lock end to end: real redis-servers, real worker processes, real SIGSTOP of the holder.
//! Without fencing the lease lock lets two clients hold it at once and loses acknowledged
//! updates; with fencing the resource refuses the stale holder and nothing is lost.

mod lock_support;

use ferrocheck::check::lock::check_lock;
use ferrocheck::check::Validity;
use ferrocheck::target::lock::redis::RedisLockTarget;
use ferrocheck::target::lock::LockOptions;
use ferrocheck::target::{Target, TargetOptions};
use lock_support::{have, run_lock_test};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

fn alive(pid: u32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok()
}

async fn scenario(fencing: bool) -> (ferrocheck::check::CheckResult, usize) {
    let dir = tempfile::tempdir().unwrap();
    let opts = TargetOptions {
        nodes: None,
        work_dir: dir.path().to_owned(),
        base_port: 0,
        node_binary: PathBuf::from(env!("CARGO_BIN_EXE_ferrocheck")),
        seed: 7,
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
    assert_eq!(pids.len(), 2);
    let target: Arc<dyn Target> = Arc::new(target);
    let (history, hits) = run_lock_test(
        target.clone(),
        fencing,
        3,
        Duration::from_millis(3500),
        Duration::from_millis(400),
        Duration::from_millis(900),
    )
    .await;
    assert!(
        target.workers().is_empty(),
        "workers left: {:?}",
        target.workers()
    );
    drop(target); // Drop kills both redis-servers.
    for pid in pids {
        assert!(!alive(pid), "redis-server {pid} outlived the test");
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
    let (r, hits) = scenario(false).await;
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
    let (r, hits) = scenario(true).await;
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
