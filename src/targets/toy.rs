//! The toy-store targets (`lin-kv`, `lww-kv`, `quorum-kv`, `primary-backup`, `seq-kv`): a cluster of
//! `ferrocheck node` processes on loopback.
//!
//! [`ToyTarget::setup`] picks one port per node ([`node_addrs`]: from `--base-port` up, or free
//! ports), starts every node (see [`node_process`]) and waits until each answers `PING`.
//! Clients ([`NodeClients`]) are spread over the nodes (process `p` talks to node `p % n`), so a
//! store that serves locally shows what each replica believes. Nodes are stopped on
//! [`teardown`](Target::teardown) and, as a last resort, when the target is dropped.

use super::clients::NodeClients;
use super::node_process::{self, NodeSpec, Spawner};
use super::resp_client::RespClient;
use super::server_process::node_addrs;
use super::{node_name, node_names, Client, ClientFactory, NodeInfo, Target, TargetOptions};
use crate::node::resp::{Connection, Frame};
use crate::node::StoreKind;
use std::net::SocketAddr;
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Nodes in a toy cluster unless `--nodes` says otherwise.
pub const DEFAULT_NODES: usize = 3;
/// How long a node may take to answer its first `PING`.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a node gets to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_millis(500);
/// How long a client waits for one reply.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// Lines of a node's log to show when it fails.
const LOG_TAIL: usize = 15;

/// One node of a toy cluster.
#[derive(Debug)]
struct ToyNode {
    spec: NodeSpec,
    child: Option<Child>,
}

/// A toy-store cluster.
#[derive(Debug)]
pub struct ToyTarget {
    store: StoreKind,
    opts: TargetOptions,
    nodes: Vec<ToyNode>,
    spawner: Option<Spawner>,
}

impl ToyTarget {
    /// A cluster of `store` nodes, not started yet.
    pub fn new(store: StoreKind, opts: TargetOptions) -> ToyTarget {
        ToyTarget {
            store,
            opts,
            nodes: Vec::new(),
            spawner: None,
        }
    }

    /// Starts node `i` and waits until it answers `PING`.
    async fn start(&mut self, i: usize) -> anyhow::Result<()> {
        if self.spawner.is_none() {
            let spawner = Spawner::new()
                .map_err(|e| anyhow::anyhow!("cannot start the thread that spawns nodes: {e}"))?;
            self.spawner = Some(spawner);
        }
        let Some(spawner) = self.spawner.as_ref() else {
            anyhow::bail!("no thread to spawn nodes from");
        };
        let node = &mut self.nodes[i];
        let child = node_process::spawn_node(
            spawner,
            &self.opts.node_binary,
            &node.spec,
            self.opts.placement.as_deref(),
        )?;
        node.child = Some(child);
        wait_ready(node).await
    }

    fn index(&self, name: &str) -> anyhow::Result<usize> {
        self.nodes
            .iter()
            .position(|n| n.spec.name == name)
            .ok_or_else(|| {
                let known: Vec<_> = self.nodes.iter().map(|n| n.spec.name.as_str()).collect();
                anyhow::anyhow!("no node named {name}; nodes are {}", known.join(", "))
            })
    }
}

/// Waits until `node` answers `PING`, or says why it did not (with its log tail).
async fn wait_ready(node: &mut ToyNode) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let ping = Frame::command(&[Some(b"PING")]);
    loop {
        if let Some(child) = node.child.as_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                node.child = None;
                anyhow::bail!(
                    "node {} exited during startup ({status}); last lines of {}:\n{}",
                    node.spec.name,
                    node.spec.log.display(),
                    node_process::log_tail(&node.spec.log, LOG_TAIL)
                );
            }
        }
        let answer = async {
            let mut conn =
                Connection::connect(node.spec.listen, Duration::from_millis(200)).await?;
            conn.call(&ping).await
        };
        if let Ok(Ok(Frame::Simple(pong))) =
            tokio::time::timeout(Duration::from_millis(500), answer).await
        {
            if pong == "PONG" {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "node {} did not answer PING on {} within {READY_TIMEOUT:?}; last lines of {}:\n{}",
                node.spec.name,
                node.spec.listen,
                node.spec.log.display(),
                node_process::log_tail(&node.spec.log, LOG_TAIL)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[async_trait::async_trait]
impl Target for ToyTarget {
    fn name(&self) -> &str {
        self.store.name()
    }

    async fn setup(&mut self) -> anyhow::Result<()> {
        let count = self.opts.nodes.unwrap_or(DEFAULT_NODES);
        if count == 0 {
            return Err(crate::error::usage("a toy cluster needs at least one node"));
        }
        let addrs: Vec<(String, SocketAddr)> = node_addrs(&self.opts, count)?
            .into_iter()
            .enumerate()
            .map(|(i, addr)| (node_name(i), addr))
            .collect();
        self.nodes = addrs
            .iter()
            .map(|(name, addr)| {
                let dir = self.opts.work_dir.join(name);
                ToyNode {
                    spec: NodeSpec {
                        store: self.store.name().to_string(),
                        name: name.clone(),
                        listen: *addr,
                        peers: addrs
                            .iter()
                            .filter(|(n, _)| n != name)
                            .map(|(n, a)| {
                                let via = self
                                    .opts
                                    .placement
                                    .as_ref()
                                    .and_then(|p| p.peer_addr(name, n));
                                (n.clone(), via.unwrap_or(*a))
                            })
                            .collect(),
                        log: dir.join("node.log"),
                        dir,
                        fsync: self.opts.fsync,
                    },
                    child: None,
                }
            })
            .collect();
        for i in 0..count {
            if let Err(e) = self.start(i).await {
                let _ = self.teardown().await;
                return Err(e);
            }
        }
        Ok(())
    }

    fn planned_nodes(&self) -> Vec<String> {
        node_names(self.opts.nodes.unwrap_or(DEFAULT_NODES))
    }

    fn supports_placement(&self) -> bool {
        true
    }

    fn clients(&self) -> anyhow::Result<Arc<dyn ClientFactory>> {
        let nodes = self
            .nodes
            .iter()
            .map(|n| (n.spec.name.clone(), n.spec.listen))
            .collect();
        let open = |name: &str, addr| {
            Ok(
                Box::new(RespClient::new(name.to_string(), addr, CLIENT_TIMEOUT))
                    as Box<dyn Client>,
            )
        };
        Ok(NodeClients::new(self.store.name(), nodes, open)?
            .with_node_reads()
            .shared())
    }

    fn nodes(&self) -> Vec<NodeInfo> {
        self.nodes
            .iter()
            .map(|n| NodeInfo {
                name: n.spec.name.clone(),
                addr: n.spec.listen,
                pid: n.child.as_ref().map(Child::id),
                log: n.spec.log.clone(),
            })
            .collect()
    }

    fn exited(&mut self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for node in &mut self.nodes {
            let Some(child) = node.child.as_mut() else {
                continue;
            };
            let status = match child.try_wait() {
                Ok(None) => continue,
                Ok(Some(status)) => status.to_string(),
                Err(e) => format!("cannot be waited for: {e}"),
            };
            let pid = child.id();
            node.child = None;
            out.push((
                node.spec.name.clone(),
                format!(
                    "pid {pid} exited: {status}; last lines of {}:\n{}",
                    node.spec.log.display(),
                    node_process::log_tail(&node.spec.log, LOG_TAIL)
                ),
            ));
        }
        out
    }

    async fn primary(&mut self) -> anyhow::Result<Option<String>> {
        match self.store {
            // The leader is fixed: the smallest id.
            StoreKind::LinKv | StoreKind::SeqKv => {
                Ok(self.nodes.first().map(|n| n.spec.name.clone()))
            }
            // Whoever answers HEARTBEAT as primary with the newest epoch.
            StoreKind::PrimaryBackup => {
                let beat = Frame::command(&[Some(b"HEARTBEAT")]);
                let mut best: Option<(i64, String)> = None;
                for n in &self.nodes {
                    let answer = async {
                        let mut conn =
                            Connection::connect(n.spec.listen, Duration::from_millis(300)).await?;
                        conn.call(&beat).await
                    };
                    if let Ok(Ok(Frame::Integer(epoch))) =
                        tokio::time::timeout(Duration::from_millis(500), answer).await
                    {
                        if best.as_ref().is_none_or(|(e, _)| epoch > *e) {
                            best = Some((epoch, n.spec.name.clone()));
                        }
                    }
                }
                Ok(best.map(|(_, name)| name))
            }
            StoreKind::LwwKv | StoreKind::QuorumKv | StoreKind::TxnKv => Ok(None),
        }
    }

    async fn teardown(&mut self) -> anyhow::Result<()> {
        let mut children: Vec<&mut Child> = self
            .nodes
            .iter_mut()
            .filter_map(|n| n.child.as_mut())
            .collect();
        node_process::stop_all(&mut children, STOP_GRACE).await;
        for node in &mut self.nodes {
            node.child = None;
        }
        Ok(())
    }

    async fn kill_node(&mut self, name: &str) -> anyhow::Result<()> {
        let i = self.index(name)?;
        if let Some(mut child) = self.nodes[i].child.take() {
            node_process::kill_and_reap(&mut child)
                .map_err(|e| anyhow::anyhow!("cannot reap node {name}: {e}"))?;
        }
        Ok(())
    }

    async fn start_node(&mut self, name: &str) -> anyhow::Result<()> {
        let i = self.index(name)?;
        if self.nodes[i].child.is_some() {
            return Ok(());
        }
        self.start(i).await
    }
}

impl Drop for ToyTarget {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = node_process::kill_and_reap(&mut child);
            }
        }
    }
}
