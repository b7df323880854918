//! One redis-server of a lock target at an address the target chooses: on loopback, or inside
//! its node's network namespace under the clock shim when the run gives a
//! [`NodePlacement`](crate::target::NodePlacement).
//!
//! A placed server listens on its namespace's own address at a fixed port (each namespace has
//! its own ports), so partitions can cut clients off from it and a clock fault can move its
//! wall clock — which Redis reads to expire keys.

use crate::target::redis::ping;
use crate::target::server_process::{log_tail, ServerProcess};
use crate::target::{NodeInfo, NodePlacement};
use anyhow::bail;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

/// The port a placed server listens on inside its namespace.
pub const PLACED_PORT: u16 = 6379;

/// How long a server may take to answer its first PING.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A running redis-server at `addr`.
#[derive(Debug)]
pub struct RedisNode {
    name: String,
    addr: SocketAddr,
    process: ServerProcess,
}

impl RedisNode {
    /// Starts `binary` as node `name` listening on `addr`, data and log under `dir`, prepared
    /// by `placement` when given, and waits until it answers PING.
    pub async fn start(
        name: &str,
        binary: &Path,
        addr: SocketAddr,
        dir: &Path,
        placement: Option<&dyn NodePlacement>,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        let log = dir.join("redis.log");
        let args: Vec<String> = [
            "--port",
            &addr.port().to_string(),
            "--bind",
            &addr.ip().to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "no",
            "--daemonize",
            "no",
            "--dir",
            &dir.to_string_lossy(),
            "--logfile",
            &log.to_string_lossy(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let process = ServerProcess::spawn_with(
            &format!("redis-server {name}"),
            binary,
            &args,
            &log,
            |cmd| match placement {
                Some(p) => p.prepare(name, cmd),
                None => Ok(()),
            },
        )?;
        let mut node = RedisNode {
            name: name.to_owned(),
            addr,
            process,
        };
        node.wait_ready().await?;
        Ok(node)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            if ping(self.addr).await {
                return Ok(());
            }
            if let Some(status) = self.process.exited() {
                bail!(
                    "redis-server {} exited while starting ({status}); last lines of {}:\n{}",
                    self.name,
                    self.process.log().display(),
                    log_tail(self.process.log(), 15)
                );
            }
            if start.elapsed() > READY_TIMEOUT {
                bail!(
                    "redis-server {} did not answer PING on {} within {READY_TIMEOUT:?}; last lines of {}:\n{}",
                    self.name,
                    self.addr,
                    self.process.log().display(),
                    log_tail(self.process.log(), 15)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A `redis://` URL for the node.
    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    /// The node as the harness and the nemesis see it.
    pub fn info(&self) -> NodeInfo {
        NodeInfo {
            name: self.name.clone(),
            addr: self.addr,
            pid: self.process.pid(),
            log: self.process.log().to_owned(),
        }
    }

    /// `(name, why)` if the server exited on its own since the last call.
    pub fn exited(&mut self) -> Option<(String, String)> {
        self.process.take_exit().map(|why| (self.name.clone(), why))
    }

    /// Kills and reaps the server. Idempotent.
    pub fn stop(&mut self) {
        self.process.kill();
    }
}
