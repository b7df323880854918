//! The `etcd` target against a real 3-member etcd cluster: it forms, register ops (including cas
//! as a transaction) behave, a killed member is reported, clock faults are refused, nothing is
//! left running.

mod support;

use support::{have_etcd, BIN};

use ferrocheck::history::Value;
use ferrocheck::nemesis::family::FaultFamily;
use ferrocheck::targets::etcd::EtcdTarget;
use ferrocheck::targets::etcd_client::EtcdClient;
use ferrocheck::targets::{FailReason, Outcome, Request, Target, TargetOptions};
use std::path::PathBuf;
use std::time::Duration;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_forms_takes_register_ops_and_reports_a_killed_member() {
    if !have_etcd() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let opts = TargetOptions {
        nodes: None,
        work_dir: dir.path().to_owned(),
        base_port: 0,
        node_binary: PathBuf::from(BIN),
        seed: 3,
        placement: None,
        fsync: true,
    };
    let mut t = EtcdTarget::new(opts, None, false);
    t.setup().await.unwrap();
    let nodes = t.nodes();
    assert_eq!(nodes.len(), 3);
    let pids: Vec<u32> = nodes.iter().map(|n| n.pid.unwrap()).collect();
    let faults = t.fault_support();
    assert!(faults
        .refuses(FaultFamily::Clock)
        .unwrap()
        .contains("LD_PRELOAD"));
    assert!(faults.accepts(FaultFamily::Partition));

    use Value::{Int, List, Nil};
    let clients = t.clients().unwrap();
    let mut a = clients.client(0).await.unwrap();
    let mut b = clients.client(1).await.unwrap(); // another member
    assert_eq!(a.invoke(&req("read", Nil)).await, Outcome::Ok(Nil));
    assert_eq!(
        a.invoke(&req("cas", List(vec![Int(1), Int(2)]))).await,
        Outcome::Fail(FailReason::CompareFailed)
    );
    assert_eq!(
        a.invoke(&req("cas", List(vec![Nil, Int(1)]))).await,
        Outcome::Ok(List(vec![Nil, Int(1)]))
    );
    assert_eq!(a.invoke(&req("write", Int(3))).await, Outcome::Ok(Int(3)));
    // A serializable read is a member's local copy: it catches up, but need not at once.
    let local = EtcdClient::new(&t.client_urls()[2], Duration::from_secs(1)).unwrap();
    let mut seen = None;
    for _ in 0..50 {
        seen = local.get("k", true).await.unwrap();
        if seen.as_deref() == Some("3") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen.as_deref(), Some("3"));
    // Linearizable: the other member sees the write at once.
    assert_eq!(b.invoke(&req("read", Nil)).await, Outcome::Ok(Int(3)));
    assert_eq!(
        b.invoke(&req("cas", List(vec![Int(3), Int(4)]))).await,
        Outcome::Ok(List(vec![Int(3), Int(4)]))
    );
    assert_eq!(
        a.invoke(&req("cas", List(vec![Int(3), Int(5)]))).await,
        Outcome::Fail(FailReason::CompareFailed)
    );
    assert_eq!(a.invoke(&req("read", Nil)).await, Outcome::Ok(Int(4)));

    // Kill member n2 behind the target's back: it must be reported, by name.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pids[1] as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let mut reported = None;
    for _ in 0..100 {
        if let Some((node, why)) = t.exited().into_iter().next() {
            reported = Some(format!("{node}: {why}"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reported = reported.expect("a killed etcd member must be reported");
    assert!(reported.starts_with("n2: etcd n2 exited"), "{reported}");
    assert!(t.exited().is_empty(), "an exit is reported once");
    // A client of the dead member gets fail/info, not a hang; the other two still have quorum.
    match b.invoke(&req("read", Nil)).await {
        Outcome::Ok(v) => panic!("read from a dead member returned {v}"),
        Outcome::Fail(_) | Outcome::Info(_) => {}
    }
    // The two left keep a quorum (after a new election if n2 led): a write goes through.
    let mut wrote = None;
    for _ in 0..20 {
        match a.invoke(&req("write", Int(6))).await {
            Outcome::Ok(v) => {
                wrote = Some(v);
                break;
            }
            other => eprintln!("write during re-election: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(wrote, Some(Int(6)));
    // It comes back from its data dir and catches up.
    t.start_node("n2").await.unwrap();
    let mut caught_up = false;
    for _ in 0..100 {
        if b.invoke(&req("read", Nil)).await == Outcome::Ok(Int(6)) {
            caught_up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        caught_up,
        "restarted member n2 never served the latest value"
    );
    let new_pid = t.nodes()[1].pid.unwrap();

    t.teardown().await.unwrap();
    for pid in [pids[0], new_pid, pids[2]] {
        assert!(!alive(pid), "etcd {pid} outlived teardown");
    }
}

#[tokio::test]
async fn missing_binary_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let opts = TargetOptions {
        nodes: Some(1),
        work_dir: dir.path().to_owned(),
        base_port: 0,
        node_binary: PathBuf::from("ferrocheck"),
        seed: 0,
        placement: None,
        fsync: true,
    };
    let mut t = EtcdTarget::new(opts, Some(dir.path().join("no-etcd")), false);
    let err = t.setup().await.unwrap_err().to_string();
    assert!(
        err.starts_with("--etcd ") && err.contains("no such file"),
        "{err}"
    );
    let err = ferrocheck::targets::server_process::find_binary(
        "etcd-not-installed",
        None,
        ferrocheck::targets::etcd::MISSING,
        "--etcd",
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "etcd not found on PATH: apt-get install etcd-server, or pass --etcd PATH"
    );
}
