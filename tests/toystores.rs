//! The toy stores as real clusters: three `ferrocheck node` processes on loopback per test,
//! driven through the `Target` and `Client` the harness uses.

mod support;

use ferrocheck::history::Value;
use ferrocheck::nemesis::clock::Clock;
use ferrocheck::targets::{self, Client, NodePlacement, Outcome, Request, Target, TargetOptions};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::available;

/// Options for a 3-node cluster on free ports, with its files in `dir`.
fn options(dir: &tempfile::TempDir, base_port: u16) -> TargetOptions {
    TargetOptions {
        nodes: Some(3),
        work_dir: dir.path().to_path_buf(),
        base_port,
        node_binary: PathBuf::from(support::BIN),
        seed: 1,
        placement: None,
        fsync: true,
    }
}

/// A started cluster of `name`, torn down (and its directory removed) when dropped.
struct Cluster {
    target: Box<dyn Target>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    async fn start(name: &str) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let mut target = targets::by_name(name, options(&dir, 0)).unwrap();
        target.setup().await.unwrap();
        Cluster { target, _dir: dir }
    }

    /// A client of node `i` (0-based): processes are spread as `process % nodes`.
    async fn client(&self, i: u64) -> Box<dyn Client> {
        self.target.clients().unwrap().client(i).await.unwrap()
    }
}

fn read(key: &str) -> Request {
    Request {
        f: "read".into(),
        key: Some(key.into()),
        value: Value::Nil,
    }
}

fn write(key: &str, v: i64) -> Request {
    Request {
        f: "write".into(),
        key: Some(key.into()),
        value: Value::Int(v),
    }
}

fn cas(key: &str, from: Option<i64>, to: i64) -> Request {
    let from = from.map(Value::Int).unwrap_or(Value::Nil);
    Request {
        f: "cas".into(),
        key: Some(key.into()),
        value: Value::List(vec![from, Value::Int(to)]),
    }
}

/// Write, read back, cas from nil, cas success and failure, all through `client`; leaves `a`
/// holding 4.
async fn register_basics(client: &mut dyn Client) {
    assert_eq!(client.invoke(&read("fresh")).await, Outcome::Ok(Value::Nil));
    assert_eq!(
        client.invoke(&write("a", 3)).await,
        Outcome::Ok(Value::Int(3))
    );
    assert_eq!(client.invoke(&read("a")).await, Outcome::Ok(Value::Int(3)));
    let swap = cas("a", Some(3), 4);
    assert_eq!(client.invoke(&swap).await, Outcome::Ok(swap.value.clone()));
    assert!(matches!(
        client.invoke(&cas("a", Some(3), 5)).await,
        Outcome::Fail(_)
    ));
    let from_nil = cas("b", None, 1);
    assert_eq!(
        client.invoke(&from_nil).await,
        Outcome::Ok(from_nil.value.clone())
    );
    assert!(matches!(
        client.invoke(&cas("b", None, 2)).await,
        Outcome::Fail(_)
    ));
}

/// Reads `key` through `client` until it returns `want`, for up to 3 seconds.
async fn eventually_reads(client: &mut dyn Client, key: &str, want: i64) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let got = client.invoke(&read(key)).await;
        if got == Outcome::Ok(Value::Int(want)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{key} still reads {got:?}, not {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn lin_kv_serves_registers_through_a_follower() {
    let mut cluster = Cluster::start("lin-kv").await;
    // Process 1 talks to n2, a follower; process 2 to n3.
    let (mut follower, mut other) = (cluster.client(1).await, cluster.client(2).await);
    register_basics(follower.as_mut()).await;
    assert_eq!(other.invoke(&read("a")).await, Outcome::Ok(Value::Int(4)));
    cluster.target.teardown().await.unwrap();
}

#[tokio::test]
async fn lin_kv_follower_without_leader_fails_cleanly() {
    let mut cluster = Cluster::start("lin-kv").await;
    cluster.target.kill_node("n1").await.unwrap();
    let mut follower = cluster.client(1).await;
    let outcome = follower.invoke(&write("a", 1)).await;
    assert!(matches!(outcome, Outcome::Fail(_)), "{outcome:?}");
    // The leader comes back with the data it acknowledged before the crash.
    let mut leader = cluster.client(0).await;
    cluster.target.start_node("n1").await.unwrap();
    assert_eq!(
        leader.invoke(&write("a", 2)).await,
        Outcome::Ok(Value::Int(2))
    );
    cluster.target.kill_node("n1").await.unwrap();
    cluster.target.start_node("n1").await.unwrap();
    assert_eq!(leader.invoke(&read("a")).await, Outcome::Ok(Value::Int(2)));
    cluster.target.teardown().await.unwrap();
}

#[tokio::test]
async fn lww_kv_serves_locally_reads_stale_and_converges() {
    let mut cluster = Cluster::start("lww-kv").await;
    let (mut n1, mut n2, mut n3) = (
        cluster.client(0).await,
        cluster.client(1).await,
        cluster.client(2).await,
    );
    register_basics(n1.as_mut()).await;
    eventually_reads(n2.as_mut(), "a", 4).await;
    eventually_reads(n3.as_mut(), "a", 4).await;
    // Replication waits at least 10 ms, so a read on another node right after an acknowledged
    // write usually misses it: a stale read, with no fault at all.
    let mut stale = 0;
    for i in 0..5 {
        let key = format!("s{i}");
        assert_eq!(n1.invoke(&write(&key, 1)).await, Outcome::Ok(Value::Int(1)));
        if n2.invoke(&read(&key)).await == Outcome::Ok(Value::Nil) {
            stale += 1;
        }
        eventually_reads(n2.as_mut(), &key, 1).await;
    }
    assert!(stale > 0, "no stale read in 5 tries");
    cluster.target.teardown().await.unwrap();
}

/// Node processes on loopback, each under the clock shim the clock nemesis uses, so a test can
/// move one node's wall clock.
#[derive(Debug)]
struct ShimmedClocks(Mutex<Clock>);

impl NodePlacement for ShimmedClocks {
    fn ip(&self, _node: &str) -> anyhow::Result<IpAddr> {
        Ok(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    fn prepare(&self, node: &str, cmd: &mut Command) -> anyhow::Result<()> {
        let mut clock = self.0.lock().unwrap_or_else(|p| p.into_inner());
        Ok(clock.configure(cmd, node)?)
    }
}

#[tokio::test]
async fn lww_kv_loses_a_write_from_a_node_whose_clock_is_behind() {
    if !available(ferrocheck::nemesis::clock::shim_unavailable()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let clocks = Arc::new(ShimmedClocks(Mutex::new(
        Clock::new(&dir.path().join("clock")).unwrap(),
    )));
    let mut opts = options(&dir, 0);
    opts.placement = Some(clocks.clone());
    let mut target = targets::by_name("lww-kv", opts).unwrap();
    target.setup().await.unwrap();
    let clients = target.clients().unwrap();
    let (mut n1, mut n2, mut n3) = (
        clients.client(0).await.unwrap(),
        clients.client(1).await.unwrap(),
        clients.client(2).await.unwrap(),
    );
    clocks.0.lock().unwrap().bump("n2", -60_000).unwrap();
    // The shim looks at its offset file at most every 10 ms.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(n1.invoke(&write("x", 1)).await, Outcome::Ok(Value::Int(1)));
    eventually_reads(n2.as_mut(), "x", 1).await;
    // n2 acknowledges the later write, but stamps it a minute in the past: it loses everywhere.
    assert_eq!(n2.invoke(&write("x", 2)).await, Outcome::Ok(Value::Int(2)));
    tokio::time::sleep(Duration::from_millis(200)).await;
    for client in [&mut n1, &mut n2, &mut n3] {
        assert_eq!(client.invoke(&read("x")).await, Outcome::Ok(Value::Int(1)));
    }
    target.teardown().await.unwrap();
}

#[tokio::test]
async fn quorum_kv_serves_registers_from_every_node() {
    let mut cluster = Cluster::start("quorum-kv").await;
    let (mut n1, mut n2, mut n3) = (
        cluster.client(0).await,
        cluster.client(1).await,
        cluster.client(2).await,
    );
    register_basics(n2.as_mut()).await;
    assert_eq!(n1.invoke(&read("a")).await, Outcome::Ok(Value::Int(4)));
    assert_eq!(n3.invoke(&read("a")).await, Outcome::Ok(Value::Int(4)));
    cluster.target.teardown().await.unwrap();
}

#[tokio::test]
async fn quorum_kv_cas_is_atomic_under_contention() {
    let mut cluster = Cluster::start("quorum-kv").await;
    let mut client = cluster.client(0).await;
    assert_eq!(
        client.invoke(&write("c", 0)).await,
        Outcome::Ok(Value::Int(0))
    );
    // Six clients, two per node, each increment the same counter by read-then-cas.
    let mut tasks = Vec::new();
    for process in 0..6 {
        let mut client = cluster.client(process).await;
        tasks.push(tokio::spawn(async move {
            let (mut swapped, mut unknown) = (0, 0);
            for _ in 0..20 {
                let Outcome::Ok(Value::Int(v)) = client.invoke(&read("c")).await else {
                    continue;
                };
                match client.invoke(&cas("c", Some(v), v + 1)).await {
                    Outcome::Ok(_) => swapped += 1,
                    Outcome::Info(_) => unknown += 1,
                    Outcome::Fail(_) => {}
                }
            }
            (swapped, unknown)
        }));
    }
    let (mut swapped, mut unknown) = (0, 0);
    for task in tasks {
        let (s, u) = task.await.unwrap();
        swapped += s;
        unknown += u;
    }
    let Outcome::Ok(Value::Int(last)) = client.invoke(&read("c")).await else {
        panic!("final read failed");
    };
    eprintln!("counter {last}: {swapped} acknowledged, {unknown} unknown increments");
    // Every acknowledged swap added exactly one; unknown ones may or may not have.
    assert!(swapped > 0, "no cas succeeded");
    assert!(
        last >= swapped && last <= swapped + unknown,
        "counter is {last} after {swapped} acknowledged and {unknown} unknown increments"
    );
    cluster.target.teardown().await.unwrap();
}

#[tokio::test]
async fn quorum_kv_needs_a_majority_and_remembers_across_restarts() {
    let mut cluster = Cluster::start("quorum-kv").await;
    let (mut n1, mut n3) = (cluster.client(0).await, cluster.client(2).await);
    cluster.target.kill_node("n3").await.unwrap();
    assert_eq!(n1.invoke(&write("x", 1)).await, Outcome::Ok(Value::Int(1)));
    // Only n1 and n2 hold x. Bring n3 back, take n2 away, and crash-restart n1: the majority
    // {n1, n3} still knows x only if n1 kept it in its journal.
    cluster.target.start_node("n3").await.unwrap();
    cluster.target.kill_node("n2").await.unwrap();
    cluster.target.kill_node("n1").await.unwrap();
    cluster.target.start_node("n1").await.unwrap();
    assert_eq!(n3.invoke(&read("x")).await, Outcome::Ok(Value::Int(1)));
    // With two of three nodes down, nothing can be written, and the client is told so.
    cluster.target.kill_node("n1").await.unwrap();
    let outcome = n3.invoke(&write("x", 2)).await;
    assert!(matches!(outcome, Outcome::Fail(_)), "{outcome:?}");
    cluster.target.teardown().await.unwrap();
}

#[tokio::test]
async fn a_taken_base_port_is_named_in_the_error() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let mut target = targets::by_name("lin-kv", options(&dir, port)).unwrap();
    let err = target.setup().await.unwrap_err().to_string();
    assert!(err.contains(&format!("port {port}")), "{err}");
    assert!(err.contains("--base-port"), "{err}");
    assert!(target.nodes().is_empty() || target.nodes().iter().all(|n| n.pid.is_none()));
}

#[tokio::test]
async fn a_node_that_cannot_start_is_reported_with_its_log() {
    let dir = tempfile::tempdir().unwrap();
    // A "node binary" that fails at once, complaining on stderr: the error must show that.
    let opts = TargetOptions {
        node_binary: PathBuf::from("/bin/sh"),
        ..options(&dir, 0)
    };
    let mut target = targets::by_name("quorum-kv", opts).unwrap();
    let err = target.setup().await.unwrap_err().to_string();
    assert!(err.contains("node n1 exited during startup"), "{err}");
    assert!(err.contains("node.log") && err.contains("node"), "{err}");
    assert!(err.lines().count() > 1, "no log tail in: {err}");
}

#[tokio::test]
async fn unknown_target_lists_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let err = targets::by_name("nope", options(&dir, 0))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("unknown target \"nope\""), "{err}");
    for (name, _) in targets::list() {
        assert!(err.contains(name), "{err}");
    }
}

/// True if `pid` is a live process (a zombie waiting to be reaped counts as dead).
fn process_exists(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let exists = unsafe { libc::kill(pid as libc::pid_t, 0) == 0 };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let zombie = stat
        .rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
    exists && !zombie
}

#[tokio::test]
async fn teardown_leaves_no_node_running() {
    let mut cluster = Cluster::start("lin-kv").await;
    let pids: Vec<u32> = cluster
        .target
        .nodes()
        .iter()
        .filter_map(|n| n.pid)
        .collect();
    assert_eq!(pids.len(), 3);
    assert!(pids.iter().all(|&p| process_exists(p)));
    // A paused node must be stopped too.
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(pids[1] as libc::pid_t, libc::SIGSTOP) };
    cluster.target.teardown().await.unwrap();
    for pid in pids {
        assert!(
            !process_exists(pid),
            "node pid {pid} still exists after teardown"
        );
    }
    assert!(cluster.target.nodes().iter().all(|n| n.pid.is_none()));
    cluster.target.teardown().await.unwrap();
}

#[tokio::test]
async fn exited_reports_a_node_killed_from_outside() {
    let mut cluster = Cluster::start("lin-kv").await;
    assert!(cluster.target.exited().is_empty());
    let n2 = cluster.target.nodes()[1].clone();
    let pid = n2.pid.unwrap();
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    let deadline = Instant::now() + Duration::from_secs(5);
    let (node, why) = loop {
        let mut exited = cluster.target.exited();
        if let Some(e) = exited.pop() {
            break e;
        }
        assert!(
            Instant::now() < deadline,
            "exited() did not notice n2 was killed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(node, "n2");
    assert!(why.contains(&pid.to_string()), "{why}");
    assert!(why.contains("signal") || why.contains("9"), "{why}");
    // Reported once.
    assert!(cluster.target.exited().is_empty());
    cluster.target.teardown().await.unwrap();
}

/// Set in the child copy of this test binary that plays the harness.
const HARNESS_CHILD: &str = "FERROCHECK_TEST_HARNESS_CHILD";

#[tokio::test]
async fn nodes_die_when_the_harness_is_sigkilled() {
    if std::env::var_os(HARNESS_CHILD).is_some() {
        // The child: start a cluster, say which pids it has, and wait to be killed.
        let cluster = Cluster::start("lin-kv").await;
        let pids: Vec<String> = cluster
            .target
            .nodes()
            .iter()
            .filter_map(|n| n.pid.map(|p| p.to_string()))
            .collect();
        println!("PIDS {}", pids.join(" "));
        tokio::time::sleep(Duration::from_secs(30)).await;
        return;
    }
    use std::io::BufRead;
    let exe = std::env::current_exe().unwrap();
    let mut harness = std::process::Command::new(exe)
        .args([
            "--exact",
            "nodes_die_when_the_harness_is_sigkilled",
            "--nocapture",
        ])
        .env(HARNESS_CHILD, "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = harness.stdout.take().unwrap();
    let pids: Vec<u32> = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            let rest = line.strip_prefix("PIDS ")?.to_string();
            Some(rest.split(' ').filter_map(|p| p.parse().ok()).collect())
        })
        .unwrap_or_default();
    harness.kill().unwrap();
    harness.wait().unwrap();
    assert_eq!(pids.len(), 3, "the child harness did not report its nodes");
    let deadline = Instant::now() + Duration::from_secs(3);
    while pids.iter().any(|&p| process_exists(p)) {
        assert!(
            Instant::now() < deadline,
            "nodes {pids:?} outlived their SIGKILLed harness"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
