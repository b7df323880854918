//! `etcd-lock`: etcd's lock service (a lease, then `/v3/lock/lock` under it), and the target that
//! runs it: a 3-member etcd cluster plus a redis-server holding the protected resource.
//!
//! The lock is only as good as the lease: a holder that stalls past the lease's TTL loses the
//! lock without knowing, exactly like the Redis lease lock. etcd's answer is the revision at which
//! the lock was taken, which only grows: with `--fencing` it is the fencing token the resource
//! checks. etcd rounds short TTLs up to its minimum (about 2 s with default timing), so a pause
//! must outlast that.

use crate::history::Value;
use crate::nemesis::family::FaultSupport;
use crate::targets::etcd::EtcdTarget;
use crate::targets::etcd_client::EtcdClient;
use crate::targets::lock::redis::worker_args;
use crate::targets::lock::worker::{WorkerClients, WorkerTable};
use crate::targets::lock::{pause_only, LockOptions, LockService, LockTarget, WorkerInfo};
use crate::targets::redis::{redis_binary, start_servers, RedisServer};
use crate::targets::{ClientFactory, NodeInfo, Target, TargetOptions};
use anyhow::Context;
use async_trait::async_trait;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The lock's name.
const LOCK_NAME: &str = "ferrocheck-lock";

/// One client's view of etcd's lock.
pub struct EtcdLock {
    etcd: EtcdClient,
    ttl_s: i64,
    wait: Duration,
    fencing: bool,
    /// The current hold: its lease and lock key.
    held: Option<(i64, String)>,
}

impl EtcdLock {
    /// A lock on the etcd member at `url`.
    pub fn new(url: &str, opts: &LockOptions) -> anyhow::Result<Self> {
        Ok(EtcdLock {
            etcd: EtcdClient::new(url, Duration::from_secs(2))?,
            ttl_s: opts.ttl.as_millis().div_ceil(1000).max(1) as i64,
            wait: opts.acquire_wait,
            fencing: opts.fencing,
            held: None,
        })
    }
}

#[async_trait]
impl LockService for EtcdLock {
    async fn try_acquire(&mut self) -> Result<Option<Value>, String> {
        let lease = match self.etcd.lease_grant(self.ttl_s).await {
            Ok(id) => id,
            // No lease, no lock: nothing this client could hold.
            Err(e) if e.definite() => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        match tokio::time::timeout(self.wait, self.etcd.lock(LOCK_NAME, lease)).await {
            Ok(Ok((key, revision))) => {
                self.held = Some((lease, key.clone()));
                Ok(Some(if self.fencing {
                    Value::Int(revision)
                } else {
                    Value::Str(key)
                }))
            }
            // Waited too long, or the lock call failed: revoking the lease drops any lock key
            // made under it, so afterwards the lock is certainly not ours.
            Ok(Err(_)) | Err(_) => match self.etcd.lease_revoke(lease).await {
                Ok(()) => Ok(None),
                Err(e) => Err(format!("could not give up the lock attempt: {e}")),
            },
        }
    }

    async fn release(&mut self) -> Result<bool, String> {
        let Some((lease, key)) = self.held.take() else {
            return Ok(false);
        };
        // Deleting our key is harmless even if the lease ran out; the lease tells us which.
        let _ = self.etcd.unlock(&key).await;
        match self.etcd.lease_revoke(lease).await {
            Ok(()) => Ok(true),
            Err(crate::targets::etcd_client::EtcdError::Status { code: 5, .. }) => Ok(false),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The `etcd-lock` target.
pub struct EtcdLockTarget {
    opts: TargetOptions,
    lock: LockOptions,
    cluster: EtcdTarget,
    redis_binary: Option<PathBuf>,
    resource: Vec<RedisServer>,
    workers: WorkerTable,
}

impl EtcdLockTarget {
    /// A target that starts an etcd cluster (`etcd`, else from PATH) and a redis-server for the
    /// resource (`redis`, else from PATH) on `setup`.
    pub fn new(
        opts: TargetOptions,
        lock: LockOptions,
        etcd: Option<PathBuf>,
        redis: Option<PathBuf>,
    ) -> Self {
        EtcdLockTarget {
            cluster: EtcdTarget::new(opts.clone(), etcd, false),
            opts,
            lock,
            redis_binary: redis,
            resource: Vec::new(),
            workers: WorkerTable::default(),
        }
    }
}

#[async_trait]
impl Target for EtcdLockTarget {
    fn name(&self) -> &str {
        "etcd-lock"
    }

    async fn setup(&mut self) -> anyhow::Result<()> {
        let redis = redis_binary(self.redis_binary.as_deref())?;
        self.cluster.setup().await?;
        // With fixed ports, the resource takes the first port after the members' 2 each.
        let mut opts = self.opts.clone();
        if opts.base_port != 0 {
            let members = opts.nodes.unwrap_or(3).max(1) as u16;
            opts.base_port = opts.base_port.saturating_add(2 * members);
        }
        self.resource = start_servers(&opts, &redis, &["resource".to_string()]).await?;
        Ok(())
    }

    /// Client `p` takes the lock through member `p % members`.
    fn clients(&self) -> anyhow::Result<Arc<dyn ClientFactory>> {
        let urls = self.cluster.client_urls();
        let resource = self
            .resource
            .first()
            .context("the etcd-lock target is not running: call setup first")?
            .url();
        let lock = self.lock.clone();
        let args = move |process: u64| {
            let lock_url = &urls[process as usize % urls.len().max(1)];
            worker_args("etcd", lock_url, &resource, &lock)
        };
        let (binary, dir) = (&self.opts.node_binary, &self.opts.work_dir);
        Ok(Arc::new(WorkerClients::new(
            binary,
            dir,
            self.workers.clone(),
            args,
        )))
    }

    fn nodes(&self) -> Vec<NodeInfo> {
        let mut out = self.cluster.nodes();
        out.extend(self.resource.iter().map(RedisServer::info));
        out
    }

    fn planned_nodes(&self) -> Vec<String> {
        let mut out = self.cluster.planned_nodes();
        out.push("resource".to_string());
        out
    }

    fn exited(&mut self) -> Vec<(String, String)> {
        let mut out = self.cluster.exited();
        out.extend(self.resource.iter_mut().filter_map(RedisServer::exited));
        out
    }

    async fn teardown(&mut self) -> anyhow::Result<()> {
        self.workers.kill_all().await;
        self.resource.iter_mut().for_each(RedisServer::stop);
        self.cluster.teardown().await
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

impl LockTarget for EtcdLockTarget {
    fn workers(&self) -> Vec<WorkerInfo> {
        self.workers.list()
    }
}
