//! The `txn-kv` target: one `ferrocheck node --store txn-kv` process (a toy store, started and
//! faulted like the others through [`ToyTarget`]) and a client that sends each transaction as
//! one `TXN level micro-ops` command at the level `--isolation` names (default
//! `serializable`). What each level allows is described in [`crate::node::txn_kv`].
//!
//! A reply with the reads filled in is `ok`; `-NOTAPPLIED aborted: ...` (first committer wins,
//! a lock wait that ran out, a deliberate read-uncommitted abort) is `fail`: the transaction
//! certainly did not commit; a lost connection or any other error after sending is `info`.

use super::clients::NodeClients;
use super::toy::ToyTarget;
use super::{Client, ClientFactory, FailReason, NodeInfo, Outcome, Request, Target, TargetOptions};
use crate::history::Value;
use crate::nemesis::family::FaultSupport;
use crate::node::resp::{Connection, Frame};
use crate::node::txn_kv::Isolation;
use crate::node::{StoreKind, NOT_APPLIED};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How long to wait for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a client waits for one transaction's reply.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The `txn-kv` target.
pub struct TxnKvTarget {
    inner: ToyTarget,
    isolation: Option<String>,
    nodes: Option<usize>,
}

impl TxnKvTarget {
    /// One txn-kv node (not started yet); `isolation` is checked at setup.
    pub fn new(mut opts: TargetOptions, isolation: Option<String>) -> TxnKvTarget {
        let nodes = opts.nodes;
        opts.nodes = Some(1);
        TxnKvTarget {
            inner: ToyTarget::new(StoreKind::TxnKv, opts),
            isolation,
            nodes,
        }
    }

    /// The isolation level its clients ask for.
    pub fn level(&self) -> anyhow::Result<Isolation> {
        match self.isolation.as_deref() {
            None => Ok(Isolation::Serializable),
            Some(name) => Isolation::from_name(name).ok_or_else(|| {
                crate::error::usage(format!(
                    "txn-kv has no isolation level {name:?}: use serializable, snapshot, read-committed or read-uncommitted"
                ))
            }),
        }
    }
}

#[async_trait::async_trait]
impl Target for TxnKvTarget {
    fn name(&self) -> &str {
        StoreKind::TxnKv.name()
    }
    async fn setup(&mut self) -> anyhow::Result<()> {
        self.level()?;
        if self.nodes.is_some_and(|n| n != 1) {
            return Err(crate::error::usage(
                "txn-kv is a single-node store: leave out --nodes or pass --nodes 1",
            ));
        }
        self.inner.setup().await
    }
    fn planned_nodes(&self) -> Vec<String> {
        self.inner.planned_nodes()
    }
    fn supports_placement(&self) -> bool {
        self.inner.supports_placement()
    }
    fn clients(&self) -> anyhow::Result<Arc<dyn ClientFactory>> {
        let level = self.level()?;
        let node = self.inner.nodes().into_iter().take(1);
        let open = move |_: &str, addr| {
            Ok(Box::new(TxnClient {
                addr,
                level,
                conn: None,
            }) as Box<dyn Client>)
        };
        let nodes = node.map(|n| (n.name, n.addr)).collect();
        Ok(NodeClients::new(self.name(), nodes, open)?.shared())
    }
    fn nodes(&self) -> Vec<NodeInfo> {
        self.inner.nodes()
    }
    fn exited(&mut self) -> Vec<(String, String)> {
        self.inner.exited()
    }
    async fn teardown(&mut self) -> anyhow::Result<()> {
        self.inner.teardown().await
    }
    async fn kill_node(&mut self, name: &str) -> anyhow::Result<()> {
        self.inner.kill_node(name).await
    }
    async fn start_node(&mut self, name: &str) -> anyhow::Result<()> {
        self.inner.start_node(name).await
    }
    fn fault_support(&self) -> FaultSupport {
        self.inner.fault_support()
    }
}

/// A client sending whole transactions to the txn-kv node.
struct TxnClient {
    addr: SocketAddr,
    level: Isolation,
    conn: Option<Connection>,
}

/// The transaction's micro-ops as the `TXN` command's JSON, or why they cannot be sent.
pub fn mops_json(req: &Request) -> Result<String, String> {
    if req.f != "txn" || !crate::check::txn::shape::is_txn_value(&req.value) {
        return Err(format!(
            "txn-kv runs transactions (f txn with micro-ops), not {} {}: use --workload list-append or rw-register",
            req.f, req.value
        ));
    }
    serde_json::to_string(&req.value).map_err(|e| format!("cannot encode the micro-ops: {e}"))
}

#[async_trait::async_trait]
impl Client for TxnClient {
    async fn invoke(&mut self, req: &Request) -> Outcome {
        let json = match mops_json(req) {
            Ok(j) => j,
            Err(e) => return Outcome::Fail(FailReason::NotSent(e)),
        };
        let cmd = Frame::command(&[
            Some(b"TXN"),
            Some(self.level.name().as_bytes()),
            Some(json.as_bytes()),
        ]);
        // Taken out while in use: a call abandoned half-way drops its connection too.
        let mut conn = match self.conn.take().filter(|c| !c.is_stale()) {
            Some(c) => c,
            None => match Connection::connect(self.addr, CONNECT_TIMEOUT).await {
                Ok(c) => c,
                Err(e) => {
                    return Outcome::Fail(FailReason::NotSent(format!(
                        "cannot connect to txn-kv at {}: {e}",
                        self.addr
                    )))
                }
            },
        };
        let reply = match tokio::time::timeout(CALL_TIMEOUT, conn.call(&cmd)).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => return Outcome::Info(format!("connection lost after sending: {e}")),
            Err(_) => return Outcome::Info(format!("no reply within {CALL_TIMEOUT:?}")),
        };
        self.conn = Some(conn);
        match reply {
            Frame::Bulk(Some(bytes)) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(v) => Outcome::Ok(v),
                Err(e) => Outcome::Info(format!("unreadable reply: {e}")),
            },
            Frame::Error(e) if e.starts_with(NOT_APPLIED) => Outcome::Fail(FailReason::Refused(e)),
            other => Outcome::Info(format!("unexpected reply {other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::txn::mop;

    #[test]
    fn only_transactions_are_sent_and_levels_are_checked() {
        let req = Request {
            f: "txn".into(),
            key: None,
            value: Value::List(vec![
                mop("append", 3, Value::Int(1)),
                mop("r", 3, Value::Nil),
            ]),
        };
        assert_eq!(mops_json(&req).unwrap(), r#"[["append",3,1],["r",3,null]]"#);
        let read = Request {
            f: "read".into(),
            key: Some("k".into()),
            value: Value::Nil,
        };
        assert!(mops_json(&read).unwrap_err().contains("list-append"));
        let opts = TargetOptions {
            nodes: None,
            work_dir: "/nonexistent".into(),
            base_port: 0,
            node_binary: "ferrocheck".into(),
            seed: 0,
            placement: None,
            fsync: true,
        };
        let t = TxnKvTarget::new(opts.clone(), Some("snapshot".into()));
        assert_eq!(t.level().unwrap(), Isolation::Snapshot);
        assert_eq!(t.planned_nodes(), ["n1"]);
        let t = TxnKvTarget::new(opts, Some("chaos".into()));
        assert!(t
            .level()
            .unwrap_err()
            .to_string()
            .contains("read-uncommitted"));
    }
}
