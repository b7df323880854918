//! redlock end to end: 5 real redis-servers, a majority lock with drift allowance, and a holder
//! paused past its validity by real SIGSTOP. Redlock cannot fence, so updates are lost; asking
//! for fencing is refused.

mod lock_support;

use ferrocheck::check::lock::check_lock;
use ferrocheck::check::Validity;
use ferrocheck::targets::lock::redlock::RedlockTarget;
use ferrocheck::targets::lock::LockOptions;
use ferrocheck::targets::{Target, TargetOptions};
use lock_support::{have, run_lock_test, workers_of, Plan};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

fn options(dir: &std::path::Path) -> TargetOptions {
    TargetOptions {
        nodes: None,
        work_dir: dir.to_owned(),
        base_port: 0,
        node_binary: PathBuf::from(env!("CARGO_BIN_EXE_ferrocheck")),
        seed: 5,
        placement: None,
        fsync: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_redlock_holder_loses_updates() {
    if !have("redis-server", "apt-get install redis-server") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let lock = LockOptions {
        ttl: Duration::from_millis(300),
        work: Duration::from_millis(100),
        acquire_wait: Duration::from_millis(200),
        fencing: false,
    };
    let mut target = RedlockTarget::new(options(dir.path()), lock, None);
    target.setup().await.unwrap();
    let nodes = target.nodes();
    let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["l1", "l2", "l3", "l4", "l5", "resource"]);
    let pids: Vec<u32> = nodes.iter().filter_map(|n| n.pid).collect();
    let resource = nodes[5].addr;
    let target = Arc::new(target);
    let plan = Plan {
        fencing: false,
        workers: 3,
        run: Duration::from_millis(3500),
        every: Duration::from_millis(400),
        pause: Duration::from_millis(900),
        op_timeout: Duration::from_secs(5),
        final_pause: false,
    };
    let (history, hits) = run_lock_test(target.clone(), &plan).await;
    let Ok(mut target) = Arc::try_unwrap(target) else {
        panic!("the target is still shared after the run");
    };
    target.teardown().await.unwrap();
    for pid in pids {
        let gone = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_err();
        assert!(gone, "redis-server {pid} outlived teardown");
    }
    let left = workers_of(resource);
    assert!(left.is_empty(), "lock workers outlived teardown: {left:?}");
    let r = check_lock(&history, false);
    eprintln!("{}: {}", r.checker, r.summary);
    assert!(hits >= 2, "the nemesis found a holder only {hits} times");
    assert!(history.ops.iter().filter(|o| o.f == "write").count() > 10);
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

#[tokio::test]
async fn fencing_is_refused_not_faked() {
    let dir = tempfile::tempdir().unwrap();
    let lock = LockOptions {
        fencing: true,
        ..LockOptions::default()
    };
    let mut target = RedlockTarget::new(options(dir.path()), lock, None);
    let err = target.setup().await.unwrap_err().to_string();
    assert!(err.contains("no fencing tokens"), "{err}");
    assert!(target.nodes().is_empty(), "nothing may start");
}
