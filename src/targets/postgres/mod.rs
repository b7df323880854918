//! The `postgres` target: a real PostgreSQL (Debian's `postgresql` package) that ferrocheck
//! initialises and starts in the run's folder, one node `n1` on a loopback port, and clients
//! running list-append or rw-register transactions at the level `--isolation` names
//! (`read-committed`, `repeatable-read`, default `serializable`).
//!
//! What to expect, as Jepsen and Elle found: `serializable` (SSI) is serializable;
//! `repeatable-read` is snapshot isolation, so write skew (G2-item) shows and nothing stronger;
//! `read-committed` shows read skew (G-single) and more.
//!
//! Faults: `kill` SIGKILLs the server's whole process group (postmaster and backends) and starts
//! it again on the same data directory (crash recovery). `pause` is refused: a SIGSTOP reaches
//! only the postmaster, whose backends keep serving their connections, so it would test
//! nothing. Network and clock faults are refused too: the server runs on loopback, outside any
//! network namespace (a Linux clock shim would reach it, but is not wired up here).
//!
//! The server is stopped on every path: teardown (fast shutdown, then SIGKILL), drop, and the
//! death-of-parent signal if the harness itself dies. The data directory is removed at teardown
//! (a fresh `initdb` is about 40 MB); the log stays in `nodes/n1/postgres.log`.

pub mod client;
pub mod server;

use super::clients::NodeClients;
use super::{Client, ClientFactory, NodeInfo, Target, TargetOptions};
use crate::nemesis::family::{FaultFamily, FaultSupport};
use client::{PgClient, PgIsolation, SCHEMA};
use server::{PgServer, DB_USER};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// The one node's name.
const NODE: &str = "n1";

/// A PostgreSQL server and its clients.
pub struct PostgresTarget {
    opts: TargetOptions,
    isolation: Option<String>,
    server: Option<PgServer>,
}

impl PostgresTarget {
    /// A server, not started yet; `isolation` is checked at setup.
    pub fn new(opts: TargetOptions, isolation: Option<String>) -> PostgresTarget {
        PostgresTarget {
            opts,
            isolation,
            server: None,
        }
    }

    /// The isolation level its clients ask for.
    pub fn level(&self) -> anyhow::Result<PgIsolation> {
        match self.isolation.as_deref() {
            None => Ok(PgIsolation::Serializable),
            Some(name) => PgIsolation::from_name(name).ok_or_else(|| {
                crate::error::usage(format!(
                    "postgres has no isolation level {name:?}: use read-committed, repeatable-read or serializable"
                ))
            }),
        }
    }

    fn check_node(&self, name: &str) -> anyhow::Result<()> {
        if name != NODE {
            anyhow::bail!("postgres has one node, {NODE}; there is no {name}");
        }
        Ok(())
    }

    fn server(&mut self) -> anyhow::Result<&mut PgServer> {
        self.server
            .as_mut()
            .ok_or_else(|| anyhow::anyhow!("the postgres server is not set up"))
    }
}

#[async_trait::async_trait]
impl Target for PostgresTarget {
    fn name(&self) -> &str {
        "postgres"
    }

    async fn setup(&mut self) -> anyhow::Result<()> {
        self.level()?;
        if self.opts.nodes.is_some_and(|n| n != 1) {
            return Err(crate::error::usage(
                "the postgres target runs one server: leave out --nodes or pass --nodes 1",
            ));
        }
        let port = match self.opts.base_port {
            0 => super::server_process::free_port()?,
            p => p,
        };
        let dir = self.opts.work_dir.join(NODE);
        let fsync = self.opts.fsync;
        let mut server = tokio::task::spawn_blocking(move || PgServer::init(&dir, port, fsync))
            .await
            .map_err(|e| anyhow::anyhow!("initdb did not finish: {e}"))??;
        server.start().await?;
        let c = client::connect(server.port, DB_USER)
            .await
            .map_err(anyhow::Error::msg)?;
        c.batch_execute(SCHEMA)
            .await
            .map_err(|e| anyhow::anyhow!("cannot create the tables: {e}"))?;
        self.server = Some(server);
        Ok(())
    }

    fn planned_nodes(&self) -> Vec<String> {
        vec![NODE.to_string()]
    }

    fn clients(&self) -> anyhow::Result<Arc<dyn ClientFactory>> {
        let level = self.level()?;
        let server = self.server.iter().map(|s| {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, s.port));
            (NODE.to_string(), addr)
        });
        let open = move |_: &str, addr: SocketAddr| {
            Ok(Box::new(PgClient::new(addr.port(), DB_USER, level)) as Box<dyn Client>)
        };
        Ok(NodeClients::new("postgres", server.collect(), open)?.shared())
    }

    fn nodes(&self) -> Vec<NodeInfo> {
        self.server
            .iter()
            .map(|s| NodeInfo {
                name: NODE.to_string(),
                addr: SocketAddr::from((Ipv4Addr::LOCALHOST, s.port)),
                pid: s.pid(),
                log: s.log.clone(),
            })
            .collect()
    }

    fn exited(&mut self) -> Vec<(String, String)> {
        self.server
            .as_mut()
            .and_then(PgServer::exited)
            .map(|why| (NODE.to_string(), why))
            .into_iter()
            .collect()
    }

    async fn teardown(&mut self) -> anyhow::Result<()> {
        if let Some(s) = self.server.as_mut() {
            s.stop().await;
        }
        Ok(())
    }

    async fn kill_node(&mut self, name: &str) -> anyhow::Result<()> {
        self.check_node(name)?;
        self.server()?.kill();
        Ok(())
    }

    async fn start_node(&mut self, name: &str) -> anyhow::Result<()> {
        self.check_node(name)?;
        self.server()?.start().await
    }

    fn fault_support(&self) -> FaultSupport {
        FaultSupport::only("postgres", &[FaultFamily::Kill], |f| {
            match f {
            FaultFamily::Pause => "postgres refuses pause: a SIGSTOP reaches only the postmaster, whose backends keep serving their connections; use --nemesis kill".to_string(),
            other => format!("postgres refuses {other} faults: the server runs on loopback, outside any network namespace and clock shim; use --nemesis kill"),
        }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_faults_are_checked_before_anything_starts() {
        let opts = TargetOptions {
            nodes: None,
            work_dir: "/nonexistent".into(),
            base_port: 0,
            node_binary: "ferrocheck".into(),
            seed: 0,
            placement: None,
            fsync: true,
        };
        let t = PostgresTarget::new(opts.clone(), None);
        assert_eq!(t.level().unwrap(), PgIsolation::Serializable);
        assert!(t.fault_support().accepts(FaultFamily::Kill));
        assert!(t
            .fault_support()
            .refuses(FaultFamily::Pause)
            .is_some_and(|w| w.contains("postmaster")));
        let t = PostgresTarget::new(opts, Some("snapshot".into()));
        assert!(t
            .level()
            .unwrap_err()
            .to_string()
            .contains("repeatable-read"));
    }
}
