//! etcd-lock end to end: a real 3-member etcd cluster's lock service, a redis-server resource,
//! real worker processes, real SIGSTOP of the holder past its lease. The lease lock breaks the
//! same way the Redis one does; the lock revision as a fencing token fixes it.

mod lock_support;

use ferrocheck::check::lock::check_lock;
use ferrocheck::check::Validity;
use ferrocheck::targets::lock::etcd::EtcdLockTarget;
use ferrocheck::targets::lock::LockOptions;
use ferrocheck::targets::{Target, TargetOptions};
use lock_support::{have, run_lock_test, workers_of, Plan};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

async fn scenario(fencing: bool) -> (ferrocheck::check::CheckResult, usize) {
    let dir = tempfile::tempdir().unwrap();
    let opts = TargetOptions {
        nodes: None,
        work_dir: dir.path().to_owned(),
        base_port: 0,
        node_binary: PathBuf::from(env!("CARGO_BIN_EXE_ferrocheck")),
        seed: 11,
        placement: None,
        fsync: true,
    };
    let lock = LockOptions {
        ttl: Duration::from_millis(1000), // etcd rounds this up to its minimum (about 2 s)
        work: Duration::from_millis(100),
        acquire_wait: Duration::from_millis(300),
        fencing,
    };
    let mut target = EtcdLockTarget::new(opts, lock, None, None);
    target.setup().await.unwrap();
    let pids: Vec<u32> = target.nodes().iter().filter_map(|n| n.pid).collect();
    let resource = target.nodes()[3].addr;
    assert_eq!(pids.len(), 4, "3 etcd members and the resource redis");
    let target = Arc::new(target);
    let plan = Plan {
        fencing,
        workers: 3,
        run: Duration::from_millis(9000),
        every: Duration::from_millis(700),
        pause: Duration::from_millis(3500),
        op_timeout: Duration::from_secs(10),
        final_pause: false,
    };
    let (history, hits) = run_lock_test(target.clone(), &plan).await;
    let Ok(mut target) = Arc::try_unwrap(target) else {
        panic!("the target is still shared after the run");
    };
    target.teardown().await.unwrap();
    for pid in pids {
        let gone = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_err();
        assert!(gone, "server {pid} outlived teardown");
    }
    let left = workers_of(resource);
    assert!(left.is_empty(), "lock workers outlived teardown: {left:?}");
    let result = check_lock(&history, fencing);
    eprintln!("{}: {}", result.checker, result.summary);
    for a in &result.anomalies {
        eprintln!("  {}: {}", a.kind, a.explanation);
    }
    (result, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_holder_outlives_its_etcd_lease_and_updates_are_lost() {
    if !have("etcd", "apt-get install etcd-server")
        || !have("redis-server", "apt-get install redis-server")
    {
        return;
    }
    let (r, hits) = scenario(false).await;
    assert!(hits >= 1, "the nemesis never caught a holder");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_revision_as_a_fencing_token_loses_nothing() {
    if !have("etcd", "apt-get install etcd-server")
        || !have("redis-server", "apt-get install redis-server")
    {
        return;
    }
    let (r, hits) = scenario(true).await;
    assert!(hits >= 1, "the nemesis never caught a holder");
    let lost = &r.stats["lost_updates"];
    assert_eq!(lost["lost"], 0, "{}", r.summary);
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
