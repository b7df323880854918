//! The `redis` target: real `redis-server` processes, and a register client for them.
//!
//! Each node is one `redis-server` started from PATH (or `--redis-server PATH`) on 127.0.0.1 with
//! persistence off and its own folder under the work dir; readiness is a PING. The register client
//! maps `read` to GET, `write` to SET and `cas` to a compare-and-set Lua script, so a single
//! Redis is linearizable and a test against it should pass. [`RedisServer`] is also the building
//! block of the lock targets.

use crate::history::Value;
use crate::targets::clients::NodeClients;
use crate::targets::register::{decode, RegisterOp};
use crate::targets::server_process::{find_binary, log_tail, ports, ServerProcess};
use crate::targets::{
    node_names, Client, ClientFactory, FailReason, NodeInfo, NodePlacement, Outcome, Request,
    Target, TargetOptions,
};
use anyhow::{bail, Context};
use async_trait::async_trait;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The error line for a missing `redis-server`.
pub const MISSING: &str =
    "redis-server not found on PATH: apt-get install redis-server, or pass --redis-server PATH";

/// How long a node may take to answer PING after it starts.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one client call may take before it is reported as unknown (`info`).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// Finds the `redis-server` binary: `configured`, else PATH.
pub fn redis_binary(configured: Option<&Path>) -> anyhow::Result<PathBuf> {
    find_binary("redis-server", configured, MISSING, "--redis-server")
}

/// One `redis-server` process: on 127.0.0.1, or at the address a
/// [`NodePlacement`](crate::targets::NodePlacement) gives it (inside its node's network namespace,
/// under the clock shim — Redis reads the wall clock to expire keys).
#[derive(Debug)]
pub struct RedisServer {
    name: String,
    addr: SocketAddr,
    binary: PathBuf,
    args: Vec<String>,
    placement: Option<Arc<dyn NodePlacement>>,
    process: ServerProcess,
}

impl RedisServer {
    /// Starts `binary` as node `name` on 127.0.0.1:`port`, with data and log under `dir`, and
    /// waits until it answers PING (an error shows the log's tail otherwise).
    pub async fn start(name: &str, binary: &Path, port: u16, dir: &Path) -> anyhow::Result<Self> {
        Self::start_at(
            name,
            binary,
            SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            dir,
            None,
        )
        .await
    }

    /// Like [`start`](Self::start), listening on `addr` and prepared by `placement` when given
    /// (again on every restart).
    pub async fn start_at(
        name: &str,
        binary: &Path,
        addr: SocketAddr,
        dir: &Path,
        placement: Option<Arc<dyn NodePlacement>>,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
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
        let process = spawn(name, binary, &args, &log, placement.as_deref())?;
        let mut server = RedisServer {
            name: name.to_string(),
            addr,
            binary: binary.to_owned(),
            args,
            placement,
            process,
        };
        server.wait_ready().await?;
        Ok(server)
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
                    "redis-server {} did not answer PING on {} within {:?}; last lines of {}:\n{}",
                    self.name,
                    self.addr,
                    READY_TIMEOUT,
                    self.process.log().display(),
                    log_tail(self.process.log(), 15)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A `redis://` URL for the node.
    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    /// The node as the harness and nemesis see it.
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

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Starts the server again on the same port (without persistence it comes back empty) and
    /// waits until it answers.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.process.kill();
        let log = self.process.log().to_owned();
        self.process = spawn(
            &self.name,
            &self.binary,
            &self.args,
            &log,
            self.placement.as_deref(),
        )?;
        self.wait_ready().await
    }

    /// Kills and reaps the server. Idempotent.
    pub fn stop(&mut self) {
        self.process.kill();
    }
}

/// Spawns redis-server `name`, prepared by `placement` when given.
fn spawn(
    name: &str,
    binary: &Path,
    args: &[String],
    log: &Path,
    placement: Option<&dyn NodePlacement>,
) -> anyhow::Result<ServerProcess> {
    ServerProcess::spawn_with(&format!("redis-server {name}"), binary, args, log, |cmd| {
        match placement {
            Some(p) => p.prepare(name, cmd),
            None => Ok(()),
        }
    })
}

/// True if a Redis answers `+PONG` on `addr` within half a second.
async fn ping(addr: SocketAddr) -> bool {
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        s.write_all(b"*1\r\n$4\r\nPING\r\n").await.ok()?;
        let mut buf = [0u8; 7];
        s.read_exact(&mut buf).await.ok()?;
        Some(&buf == b"+PONG\r\n")
    };
    matches!(
        tokio::time::timeout(Duration::from_millis(500), attempt).await,
        Ok(Some(true))
    )
}

/// Starts one server per name, ports from `opts.base_port` (or free ones), each with its own
/// folder `<work_dir>/<name>`.
pub async fn start_servers(
    opts: &TargetOptions,
    binary: &Path,
    names: &[String],
) -> anyhow::Result<Vec<RedisServer>> {
    let ports = ports(opts.base_port, names.len())?;
    let mut out = Vec::with_capacity(names.len());
    for (name, port) in names.iter().zip(ports) {
        let dir = opts.work_dir.join(name);
        out.push(RedisServer::start(name, binary, port, &dir).await?);
    }
    Ok(out)
}

/// The `redis` target: `nodes` independent redis-servers (1 by default); clients use the first.
pub struct RedisTarget {
    opts: TargetOptions,
    binary: Option<PathBuf>,
    servers: Vec<RedisServer>,
}

impl RedisTarget {
    /// A target that will start `redis-server` (`binary`, else from PATH) on `setup`.
    pub fn new(opts: TargetOptions, binary: Option<PathBuf>) -> Self {
        RedisTarget {
            opts,
            binary,
            servers: Vec::new(),
        }
    }
}

#[async_trait]
impl Target for RedisTarget {
    fn name(&self) -> &str {
        "redis"
    }

    async fn setup(&mut self) -> anyhow::Result<()> {
        let binary = redis_binary(self.binary.as_deref())?;
        let count = self.opts.nodes.unwrap_or(1).max(1);
        self.servers = start_servers(&self.opts, &binary, &node_names(count)).await?;
        Ok(())
    }

    /// Every client uses the first server, and only it has a per-node client: the others are
    /// independent servers, not replicas of it.
    fn clients(&self) -> anyhow::Result<Arc<dyn ClientFactory>> {
        let first = self
            .servers
            .iter()
            .take(1)
            .map(|s| (s.name.clone(), s.addr));
        let open = |_: &str, addr| {
            Ok(Box::new(RedisClient::new(&format!("redis://{addr}/"))?) as Box<dyn Client>)
        };
        Ok(NodeClients::new("redis", first.collect(), open)?
            .with_node_reads()
            .shared())
    }

    fn nodes(&self) -> Vec<NodeInfo> {
        self.servers.iter().map(RedisServer::info).collect()
    }

    fn planned_nodes(&self) -> Vec<String> {
        node_names(self.opts.nodes.unwrap_or(1).max(1))
    }

    fn exited(&mut self) -> Vec<(String, String)> {
        self.servers
            .iter_mut()
            .filter_map(RedisServer::exited)
            .collect()
    }

    async fn teardown(&mut self) -> anyhow::Result<()> {
        self.servers.iter_mut().for_each(RedisServer::stop);
        Ok(())
    }

    async fn kill_node(&mut self, name: &str) -> anyhow::Result<()> {
        server_named(&mut self.servers, name)?.stop();
        Ok(())
    }

    async fn start_node(&mut self, name: &str) -> anyhow::Result<()> {
        server_named(&mut self.servers, name)?.restart().await
    }
}

/// The server called `name`, or an error naming the ones there are.
pub fn server_named<'a>(
    servers: &'a mut [RedisServer],
    name: &str,
) -> anyhow::Result<&'a mut RedisServer> {
    let known: Vec<String> = servers.iter().map(|s| s.name.clone()).collect();
    servers
        .iter_mut()
        .find(|s| s.name == name)
        .with_context(|| format!("no redis node {name:?} (nodes: {})", known.join(", ")))
}

/// Compare-and-set: set KEYS[1] to ARGV[2] if it currently holds ARGV[1] ("" = missing).
const CAS_SCRIPT: &str = r#"
local cur = redis.call('GET', KEYS[1])
if cur == false then cur = '' end
if cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
"#;

/// A lazily (re)connected multiplexed connection to one Redis.
pub struct RedisConn {
    client: redis::Client,
    conn: Option<redis::aio::MultiplexedConnection>,
}

impl RedisConn {
    /// A connection to `url` (`redis://127.0.0.1:P/`), opened on first use.
    pub fn new(url: &str) -> anyhow::Result<Self> {
        Ok(RedisConn {
            client: redis::Client::open(url).with_context(|| format!("bad redis URL {url}"))?,
            conn: None,
        })
    }

    /// The open connection, connecting first if needed. A failure to connect means nothing was
    /// sent, so callers may report it as `fail`.
    pub async fn get(&mut self) -> Result<&mut redis::aio::MultiplexedConnection, String> {
        if self.conn.is_none() {
            let c =
                tokio::time::timeout(CALL_TIMEOUT, self.client.get_multiplexed_async_connection())
                    .await
                    .map_err(|_| "timed out connecting".to_string())?
                    .map_err(|e| format!("cannot connect: {e}"))?;
            self.conn = Some(c);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| "no connection".to_string())
    }

    /// Forgets the connection after an error, so the next call reconnects.
    pub fn reset(&mut self) {
        self.conn = None;
    }
}

/// Runs `fut` (a call already sent or about to be) with [`CALL_TIMEOUT`]; a timeout or I/O error
/// is unknown (`Err` with the reason, to be reported as `info`) and resets the connection.
pub async fn call<T>(
    conn: &mut RedisConn,
    fut: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, String> {
    match tokio::time::timeout(CALL_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            conn.reset();
            Err(e.to_string())
        }
        Err(_) => {
            conn.reset();
            Err(format!("no answer within {CALL_TIMEOUT:?}"))
        }
    }
}

/// A register client: `read` = GET, `write` = SET, `cas [from to]` = compare-and-set script.
pub struct RedisClient {
    conn: RedisConn,
}

impl RedisClient {
    /// A client for the Redis at `url`.
    pub fn new(url: &str) -> anyhow::Result<Self> {
        Ok(RedisClient {
            conn: RedisConn::new(url)?,
        })
    }
}

/// The wire form of a register value: integers and strings as text, nil as missing.
fn encode(v: &Value) -> String {
    match v {
        Value::Nil => String::new(),
        Value::Int(i) => i.to_string(),
        Value::Str(s) => s.clone(),
        other => other.to_string(),
    }
}

#[async_trait]
impl Client for RedisClient {
    async fn invoke(&mut self, req: &Request) -> Outcome {
        let op = match RegisterOp::of(req) {
            Ok(op) => op,
            Err(why) => return Outcome::Fail(FailReason::NotSent(why)),
        };
        let key = req.key.clone().unwrap_or_else(|| "register".to_string());
        let mut con = match self.conn.get().await {
            Ok(c) => c.clone(),
            Err(e) => return Outcome::Fail(FailReason::NotSent(e)),
        };
        match op {
            RegisterOp::Read => {
                let mut cmd = redis::cmd("GET");
                cmd.arg(&key);
                let fut = cmd.query_async::<Option<String>>(&mut con);
                match call(&mut self.conn, fut).await {
                    Ok(v) => Outcome::Ok(decode(v)),
                    Err(e) => Outcome::Info(e),
                }
            }
            RegisterOp::Write(value) => {
                let mut cmd = redis::cmd("SET");
                cmd.arg(&key).arg(encode(value));
                let fut = cmd.query_async::<()>(&mut con);
                match call(&mut self.conn, fut).await {
                    Ok(()) => Outcome::Ok(req.value.clone()),
                    Err(e) => Outcome::Info(e),
                }
            }
            RegisterOp::Cas { from, to } => {
                let script = redis::Script::new(CAS_SCRIPT);
                let mut inv = script.key(&key);
                inv.arg(encode(from)).arg(encode(to));
                let fut = inv.invoke_async::<i64>(&mut con);
                match call(&mut self.conn, fut).await {
                    Ok(1) => Outcome::Ok(req.value.clone()),
                    Ok(_) => Outcome::Fail(FailReason::CompareFailed),
                    Err(e) => Outcome::Info(e),
                }
            }
        }
    }
}
