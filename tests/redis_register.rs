//! The `redis` target against a real redis-server: register ops, a missing binary, a dead node.

mod support;

use support::{have_redis, BIN};

use ferrocheck::history::Value;
use ferrocheck::targets::redis::RedisTarget;
use ferrocheck::targets::{FailReason, Outcome, Request, Target, TargetOptions};
use std::path::PathBuf;

fn options(dir: &std::path::Path) -> TargetOptions {
    TargetOptions {
        nodes: Some(1),
        work_dir: dir.to_owned(),
        base_port: 0,
        node_binary: PathBuf::from(BIN),
        seed: 1,
        placement: None,
        fsync: true,
    }
}

fn req(f: &str, value: Value) -> Request {
    Request {
        f: f.into(),
        key: Some("k".into()),
        value,
    }
}

fn alive(pid: u32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok()
}

#[tokio::test]
async fn register_ops_and_a_killed_node() {
    if !have_redis() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut t = RedisTarget::new(options(dir.path()), None);
    t.setup().await.unwrap();
    let nodes = t.nodes();
    assert_eq!(nodes.len(), 1);
    assert!(nodes[0].addr.ip().is_loopback());
    let pid = nodes[0].pid.unwrap();

    let mut c = t.clients().unwrap().client(0).await.unwrap();
    use Value::{Int, List, Nil};
    assert_eq!(c.invoke(&req("read", Nil)).await, Outcome::Ok(Nil));
    assert_eq!(
        c.invoke(&req("cas", List(vec![Nil, Int(1)]))).await,
        Outcome::Ok(List(vec![Nil, Int(1)]))
    );
    assert_eq!(c.invoke(&req("write", Int(3))).await, Outcome::Ok(Int(3)));
    assert_eq!(c.invoke(&req("read", Nil)).await, Outcome::Ok(Int(3)));
    assert_eq!(
        c.invoke(&req("cas", List(vec![Int(3), Int(4)]))).await,
        Outcome::Ok(List(vec![Int(3), Int(4)]))
    );
    assert_eq!(
        c.invoke(&req("cas", List(vec![Int(3), Int(5)]))).await,
        Outcome::Fail(FailReason::CompareFailed)
    );
    assert_eq!(c.invoke(&req("read", Nil)).await, Outcome::Ok(Int(4)));

    // A kill by the harness is not a crash; a restart comes back empty (no persistence).
    t.kill_node("n1").await.unwrap();
    assert!(!alive(pid));
    assert!(t.exited().is_empty());
    t.start_node("n1").await.unwrap();
    let pid = t.nodes()[0].pid.unwrap();
    // The old connection is gone: the first call may fail or be unknown, then it reconnects.
    let mut read = c.invoke(&req("read", Nil)).await;
    if !matches!(read, Outcome::Ok(_)) {
        read = c.invoke(&req("read", Nil)).await;
    }
    assert_eq!(read, Outcome::Ok(Nil));

    // Kill the node behind the harness's back: the target must say so, clients must not hang.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let start = std::time::Instant::now();
    let mut reported = None;
    while start.elapsed().as_secs() < 5 {
        if let Some((node, why)) = t.exited().into_iter().next() {
            reported = Some(format!("{node}: {why}"));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let reported = reported.expect("a killed redis-server must be reported");
    assert!(
        reported.starts_with("n1: redis-server n1 exited"),
        "{reported}"
    );
    assert!(t.exited().is_empty(), "an exit is reported once");
    match c.invoke(&req("read", Nil)).await {
        Outcome::Ok(v) => panic!("read from a dead node returned {v}"),
        Outcome::Fail(_) | Outcome::Info(_) => {}
    }
    t.teardown().await.unwrap();
    assert!(!alive(pid));
}

#[tokio::test]
async fn missing_binary_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = RedisTarget::new(options(dir.path()), Some(dir.path().join("no-redis-here")));
    let err = t.setup().await.unwrap_err().to_string();
    assert!(err.starts_with("--redis-server "), "{err}");
    assert!(err.contains("no such file"), "{err}");
    assert!(!err.contains('\n'), "{err}");
    let err = ferrocheck::targets::server_process::find_binary(
        "redis-server-missing",
        None,
        ferrocheck::targets::redis::MISSING,
        "--redis-server",
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "redis-server not found on PATH: apt-get install redis-server, or pass --redis-server PATH"
    );
}

#[tokio::test]
async fn teardown_on_drop_leaves_no_server() {
    if !have_redis() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pid = {
        let mut t = RedisTarget::new(options(dir.path()), None);
        t.setup().await.unwrap();
        t.nodes()[0].pid.unwrap()
        // Dropped without teardown.
    };
    assert!(!alive(pid), "redis-server {pid} outlived its target");
}
