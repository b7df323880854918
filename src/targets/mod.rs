//! Targets: the systems under test, started as real processes, and the clients that talk to them.
//!
//! A [`Target`] is the cluster's lifecycle: it starts its nodes, waits until they are ready,
//! reports nodes that died, kills and restarts them for the nemesis, and stops everything on
//! [`Target::teardown`] (and, as a last resort, when dropped). Once set up it hands out a
//! [`ClientFactory`], which opens [`Client`]s without the target's lock, so a reconnecting
//! client never waits behind a node restart or the liveness poll. [`registry`] maps a target's
//! name to its constructor.

use crate::check::model::COMPARE_FAILED;
use crate::history::Value;
use crate::nemesis::family::FaultSupport;
use async_trait::async_trait;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

pub mod clients;
pub mod described;
pub mod etcd;
pub mod etcd_client;
pub mod lock;
pub mod node_process;
pub mod postgres;
pub mod real;
pub mod redis;
pub mod register;
pub mod registry;
pub mod resp_client;
pub mod server_process;
pub mod toy;
pub mod txn_kv;

/// What a client is asked to do: one op's `f`, key and argument.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// The function: `read`, `write`, `cas`, ...
    pub f: String,
    /// The key, for keyed workloads.
    pub key: Option<String>,
    /// The argument: a write's value, a cas's `[from, to]`, nil for a read.
    pub value: Value,
}

/// How a call ended, from the client's side.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// It happened; the value is the result (a read's value, or the invoke's value echoed).
    Ok(Value),
    /// It certainly did not happen (a cas whose compare failed, a refused connection).
    Fail(FailReason),
    /// Unknown: it may or may not have happened (timeout, connection lost mid-call).
    Info(String),
}

/// Why a call certainly did not happen. Its [`Display`](std::fmt::Display) is the `error` the
/// history records, and the checkers read that text back: [`FailReason::CompareFailed`] writes
/// [`COMPARE_FAILED`], the one reason a model reads as an observation of the value; every other
/// reason only says the call had no effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailReason {
    /// A cas whose compare did not match: the value was not `from` when it ran.
    CompareFailed,
    /// The request never left the harness: it could not be formed (an op the client does not
    /// do, a value it cannot send) or no connection could be opened.
    NotSent(String),
    /// The system answered that it did not do it (no quorum, not the leader, insufficient
    /// funds, a lock held by another client, a transaction it refused to commit).
    Refused(String),
    /// A reason given as text by someone else (another process's reply, a target file's rule).
    Other(String),
}

impl FailReason {
    /// The reason `text` states: [`FailReason::CompareFailed`] for [`COMPARE_FAILED`], else
    /// [`FailReason::Other`]. Displaying the result gives `text` back.
    pub fn from_text(text: impl Into<String>) -> FailReason {
        let text = text.into();
        if text == COMPARE_FAILED {
            FailReason::CompareFailed
        } else {
            FailReason::Other(text)
        }
    }
}

impl std::fmt::Display for FailReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailReason::CompareFailed => f.write_str(COMPARE_FAILED),
            FailReason::NotSent(why) | FailReason::Refused(why) | FailReason::Other(why) => {
                f.write_str(why)
            }
        }
    }
}

impl From<String> for FailReason {
    /// Text from elsewhere, as [`FailReason::from_text`] reads it.
    fn from(text: String) -> FailReason {
        FailReason::from_text(text)
    }
}

impl From<&str> for FailReason {
    /// Text from elsewhere, as [`FailReason::from_text`] reads it.
    fn from(text: &str) -> FailReason {
        FailReason::from_text(text)
    }
}

/// A connection to the system under test, used by one process at a time.
#[async_trait]
pub trait Client: Send {
    /// Performs one request. Must not hang forever, but the controller also wraps every call in
    /// a timeout (which becomes `Info`); a client that cannot tell whether the request took
    /// effect must answer `Info`, never `Fail`.
    async fn invoke(&mut self, req: &Request) -> Outcome;
}

/// Opens clients of a set-up target. Shared behind an `Arc` by the workers and the final reads
/// with no lock around it: opening a client waits for no restart, poll or other client.
#[async_trait]
pub trait ClientFactory: Send + Sync {
    /// Opens a client for `process`.
    async fn client(&self, process: u64) -> anyhow::Result<Box<dyn Client>>;
    /// Opens a client for `process` that talks to node `node` alone, for the per-node final
    /// reads that show whether the replicas converged; `None` when this target cannot address
    /// that node (or its nodes are not replicas of one store).
    async fn node_client(
        &self,
        node: &str,
        process: u64,
    ) -> anyhow::Result<Option<Box<dyn Client>>> {
        let _ = (node, process);
        Ok(None)
    }
}

/// One node of a target, as the harness and the nemesis see it.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeInfo {
    /// Short name: `n1`, `n2`, ...
    pub name: String,
    /// Where clients connect.
    pub addr: SocketAddr,
    /// The node's OS process id, while it runs.
    pub pid: Option<u32>,
    /// The node's log file.
    pub log: PathBuf,
}

/// Where a target's node processes run: their address and how their command is prepared (e.g.
/// inside the node's own network namespace, under the clock shim). Without one, nodes run on
/// loopback as plain child processes.
pub trait NodePlacement: Send + Sync + std::fmt::Debug {
    /// The address node `node` must listen on.
    fn ip(&self, node: &str) -> anyhow::Result<IpAddr>;
    /// Prepares node `node`'s command before it is spawned (and again before a restart).
    fn prepare(&self, node: &str, cmd: &mut Command) -> anyhow::Result<()>;
    /// The port node `node` must listen on, when the harness has chosen it (`None`: the
    /// target picks).
    fn port(&self, node: &str) -> Option<u16> {
        let _ = node;
        None
    }
    /// The address node `from` must use to reach node `to` (a proxy on that link, for packet
    /// faults), when it is not `to`'s own address.
    fn peer_addr(&self, from: &str, to: &str) -> Option<SocketAddr> {
        let _ = (from, to);
        None
    }
}

/// The name of node `i` (0-based) of a cluster: `n1`, `n2`, ...
pub fn node_name(i: usize) -> String {
    format!("n{}", i + 1)
}

/// The names of a cluster's `count` nodes: `n1`, `n2`, ... `n<count>`.
pub fn node_names(count: usize) -> Vec<String> {
    (0..count).map(node_name).collect()
}

/// The pid of the running node called `name` among `nodes`.
pub fn node_pid(nodes: &[NodeInfo], name: &str) -> Option<u32> {
    nodes.iter().find(|n| n.name == name).and_then(|n| n.pid)
}

/// Options every target understands.
#[derive(Clone, Debug)]
pub struct TargetOptions {
    /// How many nodes to start (each target has its own default when `None`).
    pub nodes: Option<usize>,
    /// Where nodes keep their logs and data (one subfolder per node).
    pub work_dir: PathBuf,
    /// First port to use on 127.0.0.1; 0 picks free ports.
    pub base_port: u16,
    /// The ferrocheck binary that runs toy-store nodes (`ferrocheck node ...`).
    pub node_binary: PathBuf,
    /// Seed for anything random inside the target.
    pub seed: u64,
    /// Where node processes run; `None` = loopback, plain child processes.
    pub placement: Option<Arc<dyn NodePlacement>>,
    /// False: nodes acknowledge changes before they are on disk (toy stores: `--no-fsync`).
    pub fsync: bool,
}

/// A system under test.
#[async_trait]
pub trait Target: Send + Sync {
    /// The registry name, e.g. `lin-kv`.
    fn name(&self) -> &str;
    /// Starts every node and waits until each answers, with a clear timeout error that shows the
    /// tail of the node's log.
    async fn setup(&mut self) -> anyhow::Result<()>;
    /// The names its nodes will have once set up (`n1`, `n2`, ...), known before `setup` so the
    /// harness can prepare a network for them.
    fn planned_nodes(&self) -> Vec<String>;
    /// True when the target runs its node processes as [`TargetOptions::placement`] says
    /// (network namespaces, clock shim). A target that cannot must say false, so that faults
    /// which need it are refused instead of silently doing nothing.
    fn supports_placement(&self) -> bool {
        false
    }
    /// The factory that opens this target's clients, once it is set up (an error before).
    fn clients(&self) -> anyhow::Result<Arc<dyn ClientFactory>>;
    /// The nodes as they are now.
    fn nodes(&self) -> Vec<NodeInfo>;
    /// Nodes whose process exited since the last call: name, and why (exit status, log tail).
    /// The controller decides whether that was a crash or a fault it injected.
    fn exited(&mut self) -> Vec<(String, String)>;
    /// Stops every node. Safe to call more than once.
    async fn teardown(&mut self) -> anyhow::Result<()>;
    /// The node that currently acts as primary (leader), for the `primaries` partition;
    /// `None` for a target without one (leaderless stores).
    async fn primary(&mut self) -> anyhow::Result<Option<String>> {
        Ok(None)
    }
    /// Kills node `name` abruptly (SIGKILL), as a crash; [`exited`](Target::exited)
    /// does not report a node killed this way.
    async fn kill_node(&mut self, name: &str) -> anyhow::Result<()> {
        anyhow::bail!(
            "target {} cannot kill node {name}: unsupported",
            self.name()
        )
    }
    /// Starts node `name` again after [`kill_node`](Target::kill_node), with the data it kept,
    /// and waits until it answers.
    async fn start_node(&mut self, name: &str) -> anyhow::Result<()> {
        anyhow::bail!(
            "target {} cannot restart node {name}: unsupported",
            self.name()
        )
    }
    /// The names the nemesis plans faults against, known before `setup`: the planned node
    /// names by default. The lock targets answer `["holder"]`, so a pause stops whichever
    /// client holds the lock at that moment, like a GC pause.
    fn fault_targets(&self) -> Vec<String> {
        self.planned_nodes()
    }
    /// The OS pid behind a fault target name: a node's, or for the lock targets `holder` (the
    /// client process that holds the lock now) and `worker-<process>`.
    fn pid_of(&self, name: &str) -> Option<u32> {
        node_pid(&self.nodes(), name)
    }
    /// Which fault families this target takes (and why it refuses the others); the nemesis
    /// side checks a schedule against it, so the run refuses rather than injects nothing.
    fn fault_support(&self) -> FaultSupport {
        FaultSupport::all(self.name())
    }
}

/// The targets ferrocheck knows: name and one line saying what it is.
pub fn list() -> Vec<(&'static str, &'static str)> {
    registry::TARGETS
        .iter()
        .map(|e| (e.name, e.about))
        .collect()
}

/// The target called `name` with the default real-system options, not started yet.
pub fn by_name(name: &str, opts: TargetOptions) -> anyhow::Result<Box<dyn Target>> {
    let entry = registry::entry(name)?;
    Ok((entry.build)(opts, &real::RealOptions::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_reasons_write_the_history_text_of_before() {
        // The `error` a history records must not change with the type: older histories check
        // the same, and the cas-register model reads "compare failed" as an observation.
        assert_eq!(FailReason::CompareFailed.to_string(), "compare failed");
        assert_eq!(
            FailReason::from_text("compare failed"),
            FailReason::CompareFailed
        );
        for reason in [
            FailReason::NotSent("cannot connect to n1".into()),
            FailReason::Refused("not applied: no quorum".into()),
            FailReason::Other("held".into()),
        ] {
            let text = reason.to_string();
            assert_eq!(FailReason::from_text(text.clone()).to_string(), text);
        }
        assert_eq!(FailReason::from("held"), FailReason::Other("held".into()));
    }
}
