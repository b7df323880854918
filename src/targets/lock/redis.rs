//! `redis-lock`: the single-instance Redis lease lock, and the target that runs it.
//!
//! Acquire is `SET lock <random value> NX PX <ttl>`; release is a compare-and-delete script, so
//! a client never deletes a lock someone else now holds. With fencing, the acquire script also
//! INCRs a counter and returns it as the token. The target starts two redis-servers — `lock` and
//! `resource` — so the resource's updates are not made atomic by the lock's server.

use crate::history::Value;
use crate::nemesis::family::FaultSupport;
use crate::targets::lock::worker::{WorkerClients, WorkerTable};
use crate::targets::lock::{pause_only, LockOptions, LockService, LockTarget, WorkerInfo};
use crate::targets::redis::{call, redis_binary, start_servers, RedisConn, RedisServer};
use crate::targets::{ClientFactory, NodeInfo, Target, TargetOptions};
use async_trait::async_trait;
use rand::Rng;
use std::path::PathBuf;
use std::sync::Arc;

/// The lock's key.
const LOCK_KEY: &str = "lock";
/// The fencing counter's key.
const COUNTER_KEY: &str = "lock:fence";

/// Takes the lock (KEYS[1] = ARGV[1], for ARGV[2] ms) if free and returns the next fencing token
/// from KEYS[2]; 0 if the lock is held.
const FENCED_ACQUIRE: &str = r#"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0
"#;

/// Deletes KEYS[1] only if it still holds ARGV[1] (this client's value).
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

/// One client's view of the Redis lease lock.
pub struct RedisLock {
    conn: RedisConn,
    ttl_ms: u64,
    fencing: bool,
    /// The random value of the current hold, which release compares.
    value: String,
}

impl RedisLock {
    /// A lock on the Redis at `url`.
    pub fn new(url: &str, opts: &LockOptions) -> anyhow::Result<Self> {
        Ok(RedisLock {
            conn: RedisConn::new(url)?,
            ttl_ms: opts.ttl.as_millis().max(1) as u64,
            fencing: opts.fencing,
            value: String::new(),
        })
    }
}

#[async_trait]
impl LockService for RedisLock {
    async fn try_acquire(&mut self) -> Result<Option<Value>, String> {
        let value = format!(
            "{}-{:016x}",
            std::process::id(),
            rand::thread_rng().gen::<u64>()
        );
        let mut con = match self.conn.get().await {
            Ok(c) => c.clone(),
            // Nothing was sent, so the lock certainly was not taken.
            Err(_) => return Ok(None),
        };
        if self.fencing {
            let script = redis::Script::new(FENCED_ACQUIRE);
            let mut inv = script.key(LOCK_KEY);
            inv.key(COUNTER_KEY).arg(&value).arg(self.ttl_ms);
            let fut = inv.invoke_async::<i64>(&mut con);
            match call(&mut self.conn, fut).await? {
                0 => Ok(None),
                token => {
                    self.value = value;
                    Ok(Some(Value::Int(token)))
                }
            }
        } else {
            let mut cmd = redis::cmd("SET");
            cmd.arg(LOCK_KEY)
                .arg(&value)
                .arg("NX")
                .arg("PX")
                .arg(self.ttl_ms);
            let fut = cmd.query_async::<Option<String>>(&mut con);
            match call(&mut self.conn, fut).await? {
                Some(_) => {
                    self.value = value.clone();
                    Ok(Some(Value::Str(value)))
                }
                None => Ok(None),
            }
        }
    }

    async fn release(&mut self) -> Result<bool, String> {
        let mut con = match self.conn.get().await {
            Ok(c) => c.clone(),
            Err(e) => return Err(e),
        };
        let script = redis::Script::new(RELEASE);
        let mut inv = script.key(LOCK_KEY);
        inv.arg(&self.value);
        let fut = inv.invoke_async::<i64>(&mut con);
        call(&mut self.conn, fut).await.map(|n| n == 1)
    }
}

/// The `redis-lock` target: a lock redis-server, a resource redis-server, one worker process per
/// client.
pub struct RedisLockTarget {
    opts: TargetOptions,
    lock: LockOptions,
    binary: Option<PathBuf>,
    servers: Vec<RedisServer>,
    workers: WorkerTable,
}

impl RedisLockTarget {
    /// A target that starts `redis-server` (`binary`, else from PATH) on `setup`.
    pub fn new(opts: TargetOptions, lock: LockOptions, binary: Option<PathBuf>) -> Self {
        RedisLockTarget {
            opts,
            lock,
            binary,
            servers: Vec::new(),
            workers: WorkerTable::default(),
        }
    }

    /// The worker that believes it holds the lock now, if any (the one to pause).
    pub fn holder(&self) -> Option<WorkerInfo> {
        self.workers.holder()
    }

    fn worker_args(&self) -> anyhow::Result<Vec<String>> {
        let [lock, resource] = self.servers.as_slice() else {
            anyhow::bail!("the redis-lock target is not running: call setup first");
        };
        Ok(worker_args(
            "redis",
            &lock.url(),
            &resource.url(),
            &self.lock,
        ))
    }
}

/// The `ferrocheck lock-worker` arguments for a backend.
pub fn worker_args(backend: &str, lock: &str, resource: &str, opts: &LockOptions) -> Vec<String> {
    let mut args = vec![
        "--backend".to_string(),
        backend.to_string(),
        "--lock".to_string(),
        lock.to_string(),
        "--resource".to_string(),
        resource.to_string(),
        "--ttl-ms".to_string(),
        opts.ttl.as_millis().to_string(),
        "--work-ms".to_string(),
        opts.work.as_millis().to_string(),
        "--acquire-wait-ms".to_string(),
        opts.acquire_wait.as_millis().to_string(),
    ];
    if opts.fencing {
        args.push("--fencing".to_string());
    }
    args
}

#[async_trait]
impl Target for RedisLockTarget {
    fn name(&self) -> &str {
        "redis-lock"
    }

    async fn setup(&mut self) -> anyhow::Result<()> {
        let binary = redis_binary(self.binary.as_deref())?;
        let names = ["lock".to_string(), "resource".to_string()];
        self.servers = start_servers(&self.opts, &binary, &names).await?;
        Ok(())
    }

    fn clients(&self) -> anyhow::Result<Arc<dyn ClientFactory>> {
        let args = self.worker_args()?;
        let (binary, dir) = (&self.opts.node_binary, &self.opts.work_dir);
        let workers = WorkerClients::new(binary, dir, self.workers.clone(), move |_| args.clone());
        Ok(Arc::new(workers))
    }

    fn nodes(&self) -> Vec<NodeInfo> {
        self.servers.iter().map(RedisServer::info).collect()
    }

    fn planned_nodes(&self) -> Vec<String> {
        vec!["lock".to_string(), "resource".to_string()]
    }

    fn exited(&mut self) -> Vec<(String, String)> {
        self.servers
            .iter_mut()
            .filter_map(RedisServer::exited)
            .collect()
    }

    async fn teardown(&mut self) -> anyhow::Result<()> {
        self.workers.kill_all().await;
        self.servers.iter_mut().for_each(RedisServer::stop);
        Ok(())
    }

    fn fault_targets(&self) -> Vec<String> {
        vec!["holder".to_string()]
    }

    fn fault_support(&self) -> FaultSupport {
        pause_only(self.name())
    }

    fn pid_of(&self, name: &str) -> Option<u32> {
        self.workers
            .pid_of(name)
            .or_else(|| crate::targets::node_pid(&self.nodes(), name))
    }
}

impl LockTarget for RedisLockTarget {
    fn workers(&self) -> Vec<WorkerInfo> {
        self.workers.list()
    }
}
