//! `redlock`: the Redlock algorithm over 5 independent redis-servers, and the target that runs it.
//!
//! To acquire, a client sets the same random value with `SET NX PX ttl` on every instance (each
//! with a short timeout), and holds the lock if a majority took it and time is left: the
//! validity `ttl - elapsed - drift` (drift = 1% of the TTL + 2 ms) must be positive. Otherwise it
//! releases whatever it took. Release is compare-and-delete on every instance.
//!
//! Redlock has no fencing token (the point of Kleppmann's 2016 critique), so a holder paused past
//! its validity still writes stale data; `--fencing` is refused rather than faked.

use crate::history::Value;
use crate::target::lock::redis::worker_args;
use crate::target::lock::worker::{WorkerClient, WorkerTable};
use crate::target::lock::{refuse_all_but_pause, LockOptions, LockService};
use crate::target::redis::{redis_binary, start_servers, RedisConn, RedisServer};
use crate::target::{Client, NodeInfo, Target, TargetOptions, WorkerInfo};
use anyhow::{bail, Context};
use async_trait::async_trait;
use rand::Rng;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The lock's key on every instance.
const LOCK_KEY: &str = "redlock";

/// How long one instance may take to answer during acquire or release.
const INSTANCE_TIMEOUT: Duration = Duration::from_millis(50);

/// Deletes KEYS[1] only if it still holds ARGV[1].
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

/// Why `--fencing` is refused for Redlock.
pub const NO_FENCING: &str = "redlock hands out no fencing tokens (there is no counter all instances agree on), so --fencing cannot be honoured; run --target redis-lock --fencing or --target etcd-lock --fencing to see what a fence does";

/// One client's view of a Redlock over several instances.
pub struct Redlock {
    instances: Vec<RedisConn>,
    ttl: Duration,
    value: String,
}

impl Redlock {
    /// A lock over the Redis instances at `urls`.
    pub fn new(urls: &[String], opts: &LockOptions) -> anyhow::Result<Self> {
        if opts.fencing {
            bail!("{NO_FENCING}");
        }
        if urls.is_empty() {
            bail!("redlock needs at least one instance");
        }
        Ok(Redlock {
            instances: urls
                .iter()
                .map(|u| RedisConn::new(u))
                .collect::<anyhow::Result<_>>()?,
            ttl: opts.ttl,
            value: String::new(),
        })
    }

    fn quorum(&self) -> usize {
        self.instances.len() / 2 + 1
    }

    /// Compare-and-delete of our value on every instance; how many deleted it.
    async fn release_all(&mut self, value: &str) -> usize {
        let mut released = 0;
        for inst in &mut self.instances {
            let Ok(con) = inst.get().await else { continue };
            let mut con = con.clone();
            let script = redis::Script::new(RELEASE);
            let mut inv = script.key(LOCK_KEY);
            inv.arg(value);
            match tokio::time::timeout(INSTANCE_TIMEOUT, inv.invoke_async::<i64>(&mut con)).await {
                Ok(Ok(1)) => released += 1,
                Ok(Ok(_)) => {}
                Ok(Err(_)) | Err(_) => inst.reset(),
            }
        }
        released
    }
}

#[async_trait]
impl LockService for Redlock {
    async fn try_acquire(&mut self) -> Result<Option<Value>, String> {
        let value = format!(
            "{}-{:016x}",
            std::process::id(),
            rand::thread_rng().gen::<u64>()
        );
        let ttl_ms = self.ttl.as_millis().max(1) as u64;
        let start = Instant::now();
        let mut taken = 0;
        for inst in &mut self.instances {
            let Ok(con) = inst.get().await else { continue };
            let mut con = con.clone();
            let mut cmd = redis::cmd("SET");
            cmd.arg(LOCK_KEY)
                .arg(&value)
                .arg("NX")
                .arg("PX")
                .arg(ttl_ms);
            match tokio::time::timeout(
                INSTANCE_TIMEOUT,
                cmd.query_async::<Option<String>>(&mut con),
            )
            .await
            {
                Ok(Ok(Some(_))) => taken += 1,
                Ok(Ok(None)) => {}
                Ok(Err(_)) | Err(_) => inst.reset(),
            }
        }
        let drift = self.ttl / 100 + Duration::from_millis(2);
        let validity = self.ttl.saturating_sub(start.elapsed() + drift);
        if taken >= self.quorum() && !validity.is_zero() {
            self.value = value.clone();
            return Ok(Some(Value::Str(value)));
        }
        // Not enough instances, or no time left: give back what we took (a left-over key
        // expires with its TTL anyway), so the lock is not ours.
        self.release_all(&value).await;
        Ok(None)
    }

    async fn release(&mut self) -> Result<bool, String> {
        let value = std::mem::take(&mut self.value);
        Ok(self.release_all(&value).await >= self.quorum())
    }
}

/// The `redlock` target: 5 lock instances (`l1`..`l5`, or `--nodes`), a resource redis-server,
/// one worker process per client.
pub struct RedlockTarget {
    opts: TargetOptions,
    lock: LockOptions,
    binary: Option<PathBuf>,
    instances: Vec<RedisServer>,
    resource: Vec<RedisServer>,
    workers: WorkerTable,
}

impl RedlockTarget {
    /// A target that starts `redis-server` (`binary`, else from PATH) on `setup`.
    pub fn new(opts: TargetOptions, lock: LockOptions, binary: Option<PathBuf>) -> Self {
        RedlockTarget {
            opts,
            lock,
            binary,
            instances: Vec::new(),
            resource: Vec::new(),
            workers: WorkerTable::default(),
        }
    }
}

#[async_trait]
impl Target for RedlockTarget {
    fn name(&self) -> &str {
        "redlock"
    }

    async fn setup(&mut self) -> anyhow::Result<()> {
        if self.lock.fencing {
            bail!("{NO_FENCING}");
        }
        let binary = redis_binary(self.binary.as_deref())?;
        let n = self.opts.nodes.unwrap_or(5).max(1);
        let names: Vec<String> = (1..=n).map(|i| format!("l{i}")).collect();
        self.instances = start_servers(&self.opts, &binary, &names).await?;
        let mut opts = self.opts.clone();
        if opts.base_port != 0 {
            opts.base_port = opts.base_port.saturating_add(n as u16);
        }
        self.resource = start_servers(&opts, &binary, &["resource".to_string()]).await?;
        Ok(())
    }

    async fn client(&self, process: u64) -> anyhow::Result<Box<dyn Client>> {
        let resource = self
            .resource
            .first()
            .context("the redlock target is not running: call setup first")?;
        let urls: Vec<String> = self.instances.iter().map(RedisServer::url).collect();
        let args = worker_args("redlock", &urls.join(","), &resource.url(), &self.lock);
        let log = self
            .opts
            .work_dir
            .join("workers")
            .join(format!("worker-{process}.log"));
        let w = WorkerClient::spawn(
            process,
            &self.opts.node_binary,
            &args,
            &log,
            self.workers.clone(),
        )
        .with_context(|| format!("cannot start the lock worker for client {process}"))?;
        Ok(Box::new(w))
    }

    fn nodes(&self) -> Vec<NodeInfo> {
        self.instances
            .iter()
            .chain(&self.resource)
            .map(RedisServer::info)
            .collect()
    }

    fn planned_nodes(&self) -> Vec<String> {
        let n = self.opts.nodes.unwrap_or(5).max(1);
        let mut out: Vec<String> = (1..=n).map(|i| format!("l{i}")).collect();
        out.push("resource".to_string());
        out
    }

    fn exited(&mut self) -> Vec<(String, String)> {
        self.instances
            .iter_mut()
            .chain(self.resource.iter_mut())
            .filter_map(RedisServer::exited)
            .collect()
    }

    async fn teardown(&mut self) -> anyhow::Result<()> {
        self.workers.kill_all().await;
        self.instances
            .iter_mut()
            .chain(self.resource.iter_mut())
            .for_each(RedisServer::stop);
        Ok(())
    }

    fn workers(&self) -> Vec<WorkerInfo> {
        self.workers.list()
    }

    fn fault_targets(&self) -> Vec<String> {
        vec!["holder".to_string()]
    }

    fn refuse_fault(&self, family: &str) -> Option<String> {
        refuse_all_but_pause(self.name(), family)
    }

    fn pid_of(&self, name: &str) -> Option<u32> {
        self.workers.pid_of(name).or_else(|| {
            self.nodes()
                .into_iter()
                .find(|n| n.name == name)
                .and_then(|n| n.pid)
        })
    }
}
