//! The fault side of a run: the private network the nodes live in, the clock shim, and the
//! nemesis thread that walks the schedule, recording each fault in the history and healing
//! everything when the main phase ends (or when anything goes wrong).
//!
//! Order matters and is kept here: leftovers of killed runs are swept first; the network is made
//! and the calling thread enters the clients' namespace *before* the async runtime starts, so
//! every client socket lives there; faults are healed before the final reads; the network is
//! removed after the nodes are stopped.

use super::recorder::Recorder;
use super::SharedTarget;
use crate::history::{OpType, Process, Value};
use crate::nemesis::clock::{Clock, CLOCK_FILE_ENV};
use crate::nemesis::families::partition::PartitionFault;
use crate::nemesis::netns::{self, EnteredNamespace, Network};
use crate::nemesis::proxy::Proxy;
use crate::nemesis::registry::{self, Resources};
use crate::nemesis::schedule::{Planned, Schedule};
use crate::nemesis::state::{new_run_id, RunRecord};
use crate::nemesis::tools::Capabilities;
use crate::nemesis::{cleanup, Fault, HealGuard, Nemesis, NodeControl, Partition};
use crate::targets::NodePlacement;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// The run's fault environment: record, network and clock, removed when dropped.
pub struct FaultEnv {
    /// The schedule (`None` for `--nemesis none`).
    pub schedule: Option<Schedule>,
    /// Notes for the user about faults this machine cannot do.
    pub notes: Vec<String>,
    clock: Option<Clock>,
    placement: Option<Arc<NetPlacement>>,
    links: Vec<Link>,
    proxies: Vec<Proxy>,
    // Dropped last: the network, then the record (field order is drop order).
    network: Option<Arc<Network>>,
    record: Option<RunRecord>,
}

impl FaultEnv {
    /// When `schedule` injects faults, sweeps leftovers and builds the network for `nodes`
    /// (root and `ip` needed; otherwise a note says what is unavailable).
    pub fn prepare(
        schedule: Option<Schedule>,
        nodes: &[String],
        placeable: bool,
    ) -> anyhow::Result<FaultEnv> {
        let mut env = FaultEnv {
            schedule: None,
            notes: Vec::new(),
            clock: None,
            placement: None,
            links: Vec::new(),
            proxies: Vec::new(),
            network: None,
            record: None,
        };
        let Some(schedule) = schedule else {
            return Ok(env);
        };
        let mut sweep = cleanup::sweep(Default::default())?;
        // Runs still going (another ferrocheck on this machine) are none of this run's business.
        sweep.live_runs.clear();
        for line in sweep.lines(false) {
            env.notes
                .push(format!("cleaned up after a killed run: {line}"));
        }
        let record = RunRecord::create(&new_run_id())?;
        let needs = schedule.needs();
        let caps = Capabilities::detect();
        if !needs.network {
            // Pauses and kills need no network of their own: nodes stay on loopback.
        } else if !placeable {
            env.notes.push(
                "this target cannot run its nodes in network namespaces: partitions, packet and clock faults are unavailable"
                    .into(),
            );
        } else if let Some(why) = caps.netns_unavailable() {
            env.notes.push(format!("nodes run on loopback: {why}"));
        } else {
            env.network = Some(Arc::new(Network::create(&record, nodes)?));
        }
        if placeable && needs.clock_shim {
            match Clock::for_run(&record) {
                Ok(c) => env.clock = Some(c),
                Err(e) => env.notes.push(format!("clock faults unavailable: {e}")),
            }
        }
        let mut ports = BTreeMap::new();
        if placeable && needs.proxy_links {
            env.links = plan_links(env.network.as_deref(), nodes, &mut ports)?;
        }
        if env.network.is_some() || env.clock.is_some() || !env.links.is_empty() {
            let mut clock_env = BTreeMap::new();
            if let Some(clock) = env.clock.as_mut() {
                for n in nodes {
                    clock_env.insert(n.clone(), clock.env(n, None)?);
                }
            }
            env.placement = Some(Arc::new(NetPlacement {
                network: env.network.clone(),
                clock_env,
                ports,
                peers: env
                    .links
                    .iter()
                    .map(|l| ((l.from.clone(), l.to.clone()), l.listen))
                    .collect(),
            }));
        }
        env.record = Some(record);
        env.schedule = Some(schedule);
        Ok(env)
    }

    /// How the target should place its nodes, if anywhere special.
    pub fn placement(&self) -> Option<Arc<dyn NodePlacement>> {
        self.placement.clone().map(|p| p as Arc<dyn NodePlacement>)
    }

    /// Moves the calling thread into the clients' namespace (before the runtime starts).
    pub fn enter_clients(&self) -> anyhow::Result<Option<EnteredNamespace>> {
        match &self.network {
            Some(net) => Ok(Some(net.enter_client()?)),
            None => Ok(None),
        }
    }

    /// Starts the userspace proxy of every node-to-node link (packet faults); call inside the
    /// runtime, before the target starts its nodes.
    pub async fn start_proxies(&mut self, seed: u64) -> anyhow::Result<()> {
        for (k, l) in self.links.iter().enumerate() {
            let proxy = Proxy::start(l.listen, l.upstream, &l.from, &l.to, seed ^ k as u64)
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot start the proxy for {} -> {} on {}: {e}",
                        l.from,
                        l.to,
                        l.listen
                    )
                })?;
            self.proxies.push(proxy);
        }
        Ok(())
    }

    /// Builds the nemesis for the schedule over the target's nodes.
    pub fn nemesis(
        &mut self,
        nodes: Arc<dyn NodeControl>,
    ) -> anyhow::Result<Option<HealGuard<crate::nemesis::Composed>>> {
        let Some(schedule) = &self.schedule else {
            return Ok(None);
        };
        let composed = registry::build(
            schedule,
            Resources {
                network: self.network.as_deref(),
                nodes,
                record: self.record.as_ref(),
                clock: self.clock.take(),
                proxies: self.proxies.iter().map(Proxy::control).collect(),
            },
        )
        .map_err(|e| {
            let mut msg = e.to_string();
            for n in &self.notes {
                msg.push_str(&format!("\n  note: {n}"));
            }
            anyhow::anyhow!(msg)
        })?;
        Ok(Some(HealGuard::new(composed)))
    }
}

/// One node-to-node link through a proxy: `from` reaches `to` at `listen`.
#[derive(Clone, Debug)]
struct Link {
    from: String,
    to: String,
    listen: SocketAddr,
    upstream: SocketAddr,
}

/// First port of the proxies inside the clients' namespace.
const PROXY_PORT: u16 = 9001;
/// First port of the nodes inside their namespaces when links are proxied.
const NODE_PORT: u16 = 7001;

/// Plans a proxy per ordered pair of nodes, fixing every node's port (into `ports`).
fn plan_links(
    network: Option<&Network>,
    nodes: &[String],
    ports: &mut BTreeMap<String, u16>,
) -> anyhow::Result<Vec<Link>> {
    let mut addrs = BTreeMap::new();
    // Without a network everything is on loopback: a port per node and per link, picked at
    // once so none is handed out twice.
    let mut loopback = match network {
        Some(_) => Vec::new(),
        None => crate::targets::server_process::ports(0, nodes.len() * nodes.len())?,
    }
    .into_iter();
    let mut free = || -> anyhow::Result<SocketAddr> {
        let port = loopback
            .next()
            .ok_or_else(|| anyhow::anyhow!("ran out of picked loopback ports"))?;
        Ok(SocketAddr::new(
            IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            port,
        ))
    };
    for (i, n) in nodes.iter().enumerate() {
        let addr = match network {
            Some(net) => SocketAddr::new(IpAddr::V4(net.node(n)?.addr), NODE_PORT + i as u16),
            None => free()?,
        };
        ports.insert(n.clone(), addr.port());
        addrs.insert(n.clone(), addr);
    }
    let mut links = Vec::new();
    for from in nodes {
        for to in nodes.iter().filter(|t| *t != from) {
            let listen = match network {
                Some(_) => SocketAddr::new(
                    IpAddr::V4(netns::CLIENT_ADDR),
                    PROXY_PORT + links.len() as u16,
                ),
                None => free()?,
            };
            links.push(Link {
                from: from.clone(),
                to: to.clone(),
                listen,
                upstream: addrs[to],
            });
        }
    }
    Ok(links)
}

/// Nodes in their namespaces, under the clock shim, talking through proxies.
#[derive(Debug)]
pub struct NetPlacement {
    network: Option<Arc<Network>>,
    clock_env: BTreeMap<String, Vec<(String, String)>>,
    ports: BTreeMap<String, u16>,
    peers: BTreeMap<(String, String), SocketAddr>,
}

impl NodePlacement for NetPlacement {
    fn ip(&self, node: &str) -> anyhow::Result<IpAddr> {
        match &self.network {
            Some(net) => Ok(IpAddr::V4(net.node(node)?.addr)),
            None => Ok(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)),
        }
    }

    fn prepare(&self, node: &str, cmd: &mut Command) -> anyhow::Result<()> {
        if let Some(net) = &self.network {
            netns::in_namespace(cmd, &net.node(node)?.namespace)?;
        }
        if let Some(vars) = self.clock_env.get(node) {
            for (k, v) in vars {
                cmd.env(k, v);
            }
        } else if !self.clock_env.is_empty() {
            anyhow::bail!("node {node} has no clock file ({CLOCK_FILE_ENV})");
        }
        Ok(())
    }

    fn port(&self, node: &str) -> Option<u16> {
        self.ports.get(node).copied()
    }

    fn peer_addr(&self, from: &str, to: &str) -> Option<SocketAddr> {
        self.peers.get(&(from.to_owned(), to.to_owned())).copied()
    }
}

/// The target's nodes as the nemesis sees them: pids, and restart after a kill. Also tracks which
/// nodes are down on purpose, so the run does not mistake a kill for a crash.
pub struct TargetNodes {
    /// The target.
    pub target: SharedTarget,
    /// The runtime, to run the target's async restart from the nemesis thread.
    pub handle: tokio::runtime::Handle,
    /// Nodes the nemesis killed and has not restarted.
    pub down: Arc<Mutex<BTreeSet<String>>>,
}

impl TargetNodes {
    /// The target's current primary, if it has one.
    pub fn primary(&self) -> anyhow::Result<Option<String>> {
        self.handle
            .block_on(async { self.target.lock().await.primary().await })
    }
}

impl NodeControl for TargetNodes {
    fn pid(&self, node: &str) -> Option<u32> {
        self.target.blocking_lock().pid_of(node)
    }

    fn restart(&self, node: &str) -> anyhow::Result<()> {
        self.handle.block_on(async {
            let mut t = self.target.lock().await;
            t.kill_node(node).await?;
            t.start_node(node).await
        })?;
        lock(&self.down).remove(node);
        Ok(())
    }
}

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The running nemesis: a thread walking the plan. Dropping the stop sender ends it.
pub struct NemesisThread {
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<Vec<String>>,
}

impl NemesisThread {
    /// Starts walking `plan` (times relative to `start`), recording every fault.
    pub fn start(
        mut nemesis: HealGuard<crate::nemesis::Composed>,
        plan: Vec<Planned>,
        recorder: Arc<Recorder>,
        start: Instant,
        down: Arc<Mutex<BTreeSet<String>>>,
        nodes: Arc<TargetNodes>,
        names: Vec<String>,
    ) -> anyhow::Result<NemesisThread> {
        let (stop, stopped) = mpsc::channel::<()>();
        let mut walk = Walk {
            recorder,
            start,
            down,
            nodes,
            names,
            warnings: Vec::new(),
        };
        let thread = std::thread::Builder::new()
            .name("nemesis".into())
            .spawn(move || {
                let stop_seen = walk.plan(&mut *nemesis, plan, &stopped);
                // Wait for the stop (the plan ends before the time limit), then heal. A stop
                // that came mid-plan (Ctrl-C, a crash) was consumed above: do not wait again.
                if !stop_seen {
                    let _ = stopped.recv();
                }
                walk.heal(&mut *nemesis);
                walk.warnings
            })
            .map_err(|e| anyhow::anyhow!("cannot start the nemesis thread: {e}"))?;
        Ok(NemesisThread { stop, thread })
    }

    /// Stops the schedule, heals every fault and returns what went wrong along the way.
    pub fn stop_and_heal(self) -> Vec<String> {
        let _ = self.stop.send(());
        // Dropping the sender also wakes a thread that is waiting for a second message.
        drop(self.stop);
        match self.thread.join() {
            Ok(w) => w,
            Err(_) => vec!["the nemesis thread panicked (its guard healed the faults)".into()],
        }
    }
}

/// What the nemesis thread works with, and the warnings it gathers.
struct Walk {
    recorder: Arc<Recorder>,
    start: Instant,
    down: Arc<Mutex<BTreeSet<String>>>,
    nodes: Arc<TargetNodes>,
    names: Vec<String>,
    warnings: Vec<String>,
}

impl Walk {
    /// Applies the plan's faults at their times until it ends or a stop comes (true: a stop
    /// came).
    fn plan(
        &mut self,
        nemesis: &mut dyn Nemesis,
        plan: Vec<Planned>,
        stopped: &mpsc::Receiver<()>,
    ) -> bool {
        for step in plan {
            let wait = (self.start + step.at).saturating_duration_since(Instant::now());
            match stopped.recv_timeout(wait) {
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                _ => return true,
            }
            let fault = match resolve(&step.fault, &self.nodes, &self.names) {
                Ok(f) => f,
                Err(why) => {
                    self.unresolved(&step.fault, why);
                    continue;
                }
            };
            lock(&self.down).extend(fault.takes_down().iter().cloned());
            apply(nemesis, &fault, &self.recorder, &mut self.warnings);
        }
        false
    }

    /// Records a fault that could not be made concrete: its invoke, then `info` with why.
    fn unresolved(&mut self, fault: &Fault, why: String) {
        let (f, v) = (fault.f(), fault.value());
        let rec = &self.recorder;
        rec.record(Process::Nemesis, OpType::Invoke, f, None, v.clone(), None);
        rec.record(
            Process::Nemesis,
            OpType::Info,
            f,
            None,
            v,
            Some(why.clone()),
        );
        self.warnings.push(format!("{f}: {why}"));
    }

    /// Heals every fault, recorded as a `heal` op; no node is down on purpose after it.
    fn heal(&mut self, nemesis: &mut dyn Nemesis) {
        let rec = &self.recorder;
        rec.record(
            Process::Nemesis,
            OpType::Invoke,
            "heal",
            None,
            Value::Nil,
            None,
        );
        let healed = nemesis.heal();
        rec.set_fault(None);
        let (kind, error) = match &healed {
            Ok(()) => (OpType::Ok, None),
            Err(e) => {
                self.warnings.push(format!("healing faults: {e}"));
                (OpType::Info, Some(e.to_string()))
            }
        };
        rec.record(Process::Nemesis, kind, "heal", None, Value::Nil, error);
        lock(&self.down).clear();
    }
}

/// Turns a planned `primaries` partition into the real one by asking the target who its
/// primary is now; an error says why it cannot be done (recorded as the fault's `info`).
fn resolve(fault: &Fault, nodes: &TargetNodes, names: &[String]) -> Result<Fault, String> {
    match fault.get::<PartitionFault>() {
        Some(PartitionFault::Start(p)) if p.is_unresolved_primaries() => match nodes.primary() {
            Ok(Some(primary)) => {
                Ok(PartitionFault::Start(Partition::primaries(&primary, names)).into())
            }
            Ok(None) => {
                Err("this target has no primary to isolate (leaderless, or none answered)".into())
            }
            Err(e) => Err(format!("cannot tell which node is primary: {e:#}")),
        },
        _ => Ok(fault.clone()),
    }
}

fn apply(
    nemesis: &mut dyn Nemesis,
    fault: &Fault,
    recorder: &Recorder,
    warnings: &mut Vec<String>,
) {
    recorder.record(
        Process::Nemesis,
        OpType::Invoke,
        fault.f(),
        None,
        fault.value(),
        None,
    );
    let result = nemesis.invoke(fault);
    let done = fault.op(
        if result.is_ok() {
            OpType::Ok
        } else {
            OpType::Info
        },
        Some(&result),
    );
    match &result {
        Err(e) => warnings.push(format!("{} failed: {e}", fault.f())),
        Ok(_) => recorder
            .set_fault((!fault.ends_window()).then(|| format!("{} {}", fault.f(), fault.value()))),
    }
    recorder.record(
        Process::Nemesis,
        done.kind,
        &done.f,
        None,
        done.value,
        done.error,
    );
}

/// How long after the main phase (and healing) to wait before the final reads.
pub const RECOVERY: Duration = Duration::from_secs(2);
