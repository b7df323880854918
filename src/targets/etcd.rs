//! The `etcd` target: a real etcd cluster (3 members by default) started by ferrocheck on
//! 127.0.0.1, and a register client over etcd's JSON gateway.
//!
//! Each member gets its own data dir and log under the work dir, a client port and a peer port.
//! The cluster is ready when every member answers a linearizable read (which needs a leader).
//! Reads are linearizable unless `--serializable-reads` asks for the member's local copy — the
//! classic way to see stale reads under a partition. etcd is a Go program and ignores
//! `LD_PRELOAD`, so clock faults cannot reach it: [`Target::fault_support`] says so.

use crate::history::Value;
use crate::nemesis::family::{FaultFamily, FaultSupport};
use crate::targets::clients::NodeClients;
use crate::targets::etcd_client::{EtcdClient, EtcdError};
use crate::targets::register::{decode, RegisterOp};
use crate::targets::server_process::{find_binary, log_tail, ports, ServerProcess};
use crate::targets::{
    node_names, Client, ClientFactory, FailReason, NodeInfo, NodePlacement, Outcome, Request,
    Target, TargetOptions,
};
use anyhow::{bail, Context};
use async_trait::async_trait;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The error line for a missing `etcd`.
pub const MISSING: &str =
    "etcd not found on PATH: apt-get install etcd-server, or pass --etcd PATH";

/// Why clock faults cannot reach etcd.
pub const NO_CLOCK_FAULTS: &str = "clock faults are unsupported for etcd: it is a Go binary, which reads the clock without libc, so the LD_PRELOAD clock shim cannot reach it; use the partition, pause or kill nemeses";

/// How long the cluster may take to elect a leader and answer.
/// etcd's usual ports, used inside members' own network namespaces.
const CLIENT_PORT: u16 = 2379;
const PEER_PORT: u16 = 2380;
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one client call may take before it is unknown (`info`).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// Finds the `etcd` binary: `configured`, else PATH.
pub fn etcd_binary(configured: Option<&Path>) -> anyhow::Result<PathBuf> {
    find_binary("etcd", configured, MISSING, "--etcd")
}

/// One etcd member.
struct Member {
    name: String,
    host: IpAddr,
    client_port: u16,
    args: Vec<String>,
    log: PathBuf,
    process: Option<ServerProcess>,
}

impl Member {
    fn url(&self) -> String {
        format!("http://{}", SocketAddr::new(self.host, self.client_port))
    }

    fn start(
        &mut self,
        binary: &Path,
        placement: Option<&dyn NodePlacement>,
    ) -> anyhow::Result<()> {
        let name = self.name.clone();
        self.process = Some(ServerProcess::spawn_with(
            &format!("etcd {}", self.name),
            binary,
            &self.args,
            &self.log,
            |cmd| match placement {
                Some(p) => p.prepare(&name, cmd),
                None => Ok(()),
            },
        )?);
        Ok(())
    }
}

/// The `etcd` target.
pub struct EtcdTarget {
    opts: TargetOptions,
    binary: Option<PathBuf>,
    resolved: Option<PathBuf>,
    serializable: bool,
    members: Vec<Member>,
}

impl EtcdTarget {
    /// A cluster of `opts.nodes` members (3 by default) that will start `etcd` (`binary`, else
    /// from PATH) on `setup`; `serializable` makes clients' reads serializable.
    pub fn new(opts: TargetOptions, binary: Option<PathBuf>, serializable: bool) -> Self {
        EtcdTarget {
            opts,
            binary,
            resolved: None,
            serializable,
            members: Vec::new(),
        }
    }

    /// The members' client URLs.
    pub fn client_urls(&self) -> Vec<String> {
        self.members.iter().map(Member::url).collect()
    }

    /// Starts member `name` again (after a kill) from its data dir.
    pub fn restart(&mut self, name: &str) -> anyhow::Result<()> {
        let binary = self
            .resolved
            .clone()
            .context("the etcd target was never set up")?;
        let m = self
            .members
            .iter_mut()
            .find(|m| m.name == name)
            .with_context(|| format!("no etcd member {name:?}"))?;
        if let Some(p) = m.process.as_mut() {
            p.kill();
        }
        m.start(&binary, self.opts.placement.as_deref())
    }

    /// Kills member `name` (SIGKILL), leaving its data for a restart.
    pub fn kill(&mut self, name: &str) -> anyhow::Result<()> {
        let m = self
            .members
            .iter_mut()
            .find(|m| m.name == name)
            .with_context(|| format!("no etcd member {name:?}"))?;
        if let Some(p) = m.process.as_mut() {
            p.kill();
        }
        Ok(())
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let start = Instant::now();
        let clients: Vec<EtcdClient> = self
            .members
            .iter()
            .map(|m| EtcdClient::new(&m.url(), Duration::from_secs(1)))
            .collect::<anyhow::Result<_>>()?;
        let mut ready = vec![false; clients.len()];
        loop {
            for (i, c) in clients.iter().enumerate() {
                if !ready[i] {
                    // A linearizable read needs a leader, so it also proves the cluster formed.
                    ready[i] = c.get("ferrocheck-ready", false).await.is_ok();
                }
            }
            if ready.iter().all(|r| *r) {
                return Ok(());
            }
            for m in &mut self.members {
                if let Some(p) = m.process.as_mut() {
                    if let Some(status) = p.exited() {
                        bail!(
                            "etcd {} exited while starting ({status}); last lines of {}:\n{}",
                            m.name,
                            m.log.display(),
                            log_tail(&m.log, 15)
                        );
                    }
                }
            }
            if start.elapsed() > READY_TIMEOUT {
                let i = ready.iter().position(|r| !r).unwrap_or(0);
                let m = &self.members[i];
                bail!(
                    "etcd {} did not answer a linearizable read on {} within {:?}; last lines of {}:\n{}",
                    m.name,
                    m.url(),
                    READY_TIMEOUT,
                    m.log.display(),
                    log_tail(&m.log, 15)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The command line of each member of a cluster named `token`; member `i` listens on
/// `hosts[i]` at the given ports.
fn member_args(
    names: &[String],
    hosts: &[IpAddr],
    client_ports: &[u16],
    peer_ports: &[u16],
    work_dir: &Path,
    token: &str,
) -> Vec<Vec<String>> {
    let url = |i: usize, port: u16| format!("http://{}", SocketAddr::new(hosts[i], port));
    let cluster: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{n}={}", url(i, peer_ports[i])))
        .collect();
    let cluster = cluster.join(",");
    names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let client = url(i, client_ports[i]);
            let peer = url(i, peer_ports[i]);
            let data = work_dir.join(n).join("data");
            vec![
                "--name".into(),
                n.clone(),
                "--data-dir".into(),
                data.to_string_lossy().into_owned(),
                "--listen-client-urls".into(),
                client.clone(),
                "--advertise-client-urls".into(),
                client,
                "--listen-peer-urls".into(),
                peer.clone(),
                "--initial-advertise-peer-urls".into(),
                peer,
                "--initial-cluster".into(),
                cluster.clone(),
                "--initial-cluster-state".into(),
                "new".into(),
                "--initial-cluster-token".into(),
                token.to_string(),
            ]
        })
        .collect()
}

#[async_trait]
impl Target for EtcdTarget {
    fn name(&self) -> &str {
        "etcd"
    }

    async fn setup(&mut self) -> anyhow::Result<()> {
        let binary = etcd_binary(self.binary.as_deref())?;
        let n = self.opts.nodes.unwrap_or(3).max(1);
        let names = node_names(n);
        let placement = self.opts.placement.clone();
        let (hosts, all) = match &placement {
            // Each member has a network namespace, and so every port, of its own.
            Some(p) => (
                names
                    .iter()
                    .map(|n| p.ip(n))
                    .collect::<anyhow::Result<Vec<_>>>()?,
                [vec![CLIENT_PORT; n], vec![PEER_PORT; n]].concat(),
            ),
            None => (
                vec![IpAddr::V4(Ipv4Addr::LOCALHOST); n],
                ports(self.opts.base_port, 2 * n)?,
            ),
        };
        let (client_ports, peer_ports) = all.split_at(n);
        let token = format!("ferrocheck-{}-{}", std::process::id(), self.opts.seed);
        let args = member_args(
            &names,
            &hosts,
            client_ports,
            peer_ports,
            &self.opts.work_dir,
            &token,
        );
        self.members = names
            .iter()
            .zip(args)
            .zip(client_ports)
            .zip(&hosts)
            .map(|(((name, args), port), host)| Member {
                name: name.clone(),
                host: *host,
                client_port: *port,
                args,
                log: self.opts.work_dir.join(name).join("etcd.log"),
                process: None,
            })
            .collect();
        for m in &mut self.members {
            m.start(&binary, placement.as_deref())?;
        }
        self.resolved = Some(binary);
        self.wait_ready().await
    }

    /// Clients spread over the members; a member alone reads as the run's clients read
    /// (linearizable unless `--serializable-reads`), so a final read is never staler than the
    /// run's own.
    fn clients(&self) -> anyhow::Result<Arc<dyn ClientFactory>> {
        let members = self
            .members
            .iter()
            .map(|m| (m.name.clone(), SocketAddr::new(m.host, m.client_port)))
            .collect();
        let serializable = self.serializable;
        let open = move |_: &str, addr| {
            Ok(Box::new(EtcdRegisterClient {
                etcd: EtcdClient::new(&format!("http://{addr}"), CALL_TIMEOUT)?,
                serializable,
            }) as Box<dyn Client>)
        };
        Ok(NodeClients::new("etcd", members, open)?
            .with_node_reads()
            .shared())
    }

    fn nodes(&self) -> Vec<NodeInfo> {
        self.members
            .iter()
            .map(|m| NodeInfo {
                name: m.name.clone(),
                addr: SocketAddr::new(m.host, m.client_port),
                pid: m.process.as_ref().and_then(ServerProcess::pid),
                log: m.log.clone(),
            })
            .collect()
    }

    fn planned_nodes(&self) -> Vec<String> {
        node_names(self.opts.nodes.unwrap_or(3).max(1))
    }

    fn exited(&mut self) -> Vec<(String, String)> {
        self.members
            .iter_mut()
            .filter_map(|m| {
                let why = m.process.as_mut()?.take_exit()?;
                Some((m.name.clone(), why))
            })
            .collect()
    }

    async fn kill_node(&mut self, name: &str) -> anyhow::Result<()> {
        self.kill(name)
    }

    async fn start_node(&mut self, name: &str) -> anyhow::Result<()> {
        self.restart(name)?;
        let m = self
            .members
            .iter()
            .find(|m| m.name == name)
            .with_context(|| format!("no etcd member {name:?}"))?;
        let client = EtcdClient::new(&m.url(), Duration::from_secs(1))?;
        let start = Instant::now();
        // Serializable: a restarted member answers from its own data as soon as it is up,
        // even while the rest of the cluster is unreachable.
        while !client.ready().await {
            if start.elapsed() > READY_TIMEOUT {
                bail!(
                    "etcd {name} did not answer within {READY_TIMEOUT:?} after a restart; last lines of {}:\n{}",
                    m.log.display(),
                    log_tail(&m.log, 15)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    async fn teardown(&mut self) -> anyhow::Result<()> {
        for m in &mut self.members {
            if let Some(p) = m.process.as_mut() {
                p.kill();
            }
        }
        Ok(())
    }

    fn supports_placement(&self) -> bool {
        true
    }

    fn fault_support(&self) -> FaultSupport {
        FaultSupport::all(self.name())
            .refuse(FaultFamily::Clock, NO_CLOCK_FAULTS)
            .refuse(
                FaultFamily::Packet,
                "packet faults are not available for etcd: its members advertise their own peer URLs, so their links cannot be routed through ferrocheck's proxy",
            )
    }
}

/// A register client: `read` = range (linearizable unless serializable), `write` = put,
/// `cas [from to]` = a transaction comparing the value.
pub struct EtcdRegisterClient {
    etcd: EtcdClient,
    serializable: bool,
}

/// An etcd error as an outcome: `fail` when it certainly did not happen, else `info`.
pub fn outcome_of(e: EtcdError) -> Outcome {
    if e.definite() {
        Outcome::Fail(FailReason::Refused(e.to_string()))
    } else {
        Outcome::Info(e.to_string())
    }
}

fn encode(v: &Value) -> Option<String> {
    match v {
        Value::Nil => None,
        Value::Int(i) => Some(i.to_string()),
        Value::Str(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[async_trait]
impl Client for EtcdRegisterClient {
    async fn invoke(&mut self, req: &Request) -> Outcome {
        let op = match RegisterOp::of(req) {
            Ok(op) => op,
            Err(why) => return Outcome::Fail(FailReason::NotSent(why)),
        };
        let key = req.key.clone().unwrap_or_else(|| "register".to_string());
        match op {
            RegisterOp::Read => match self.etcd.get(&key, self.serializable).await {
                Ok(v) => Outcome::Ok(decode(v)),
                // A failed read changes nothing: it is safe to call it failed.
                Err(e) => Outcome::Fail(FailReason::Other(e.to_string())),
            },
            RegisterOp::Write(value) => {
                let Some(v) = encode(value) else {
                    return Outcome::Fail(FailReason::NotSent("cannot write nil".into()));
                };
                match self.etcd.put(&key, &v).await {
                    Ok(()) => Outcome::Ok(req.value.clone()),
                    Err(e) => outcome_of(e),
                }
            }
            RegisterOp::Cas { from, to } => {
                let Some(new) = encode(to) else {
                    return Outcome::Fail(FailReason::NotSent("cannot cas to nil".into()));
                };
                match self.etcd.cas(&key, encode(from).as_deref(), &new).await {
                    Ok(true) => Outcome::Ok(req.value.clone()),
                    Ok(false) => Outcome::Fail(FailReason::CompareFailed),
                    Err(e) => outcome_of(e),
                }
            }
        }
    }
}
