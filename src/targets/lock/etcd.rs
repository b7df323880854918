//! `etcd-lock`: etcd's lock service (a lease, then `/v3/lock/lock` under it), and the target that
//! runs it: a 3-member etcd cluster (the resource, a redis-server, is [`LockTarget`]'s).
//!
//! The lock is only as good as the lease: a holder that stalls past the lease's TTL loses the
//! lock without knowing, exactly like the Redis lease lock. etcd's answer is the revision at which
//! the lock was taken, which only grows: with `--fencing` it is the fencing token the resource
//! checks. etcd rounds short TTLs up to its minimum (about 2 s with default timing), so a pause
//! must outlast that.

use crate::history::Value;
use crate::targets::etcd::EtcdTarget;
use crate::targets::etcd_client::EtcdClient;
use crate::targets::lock::target::{LockService, LockTarget};
use crate::targets::lock::{LockClient, LockOptions};
use crate::targets::real::RealOptions;
use crate::targets::{NodeInfo, Target, TargetOptions};
use async_trait::async_trait;
use std::path::Path;
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
impl LockClient for EtcdLock {
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

/// The `etcd-lock` lock service: an etcd cluster (3 members by default).
pub struct EtcdLockService {
    cluster: EtcdTarget,
    members: u16,
}

/// The `etcd-lock` target.
pub type EtcdLockTarget = LockTarget<EtcdLockService>;

#[async_trait]
impl LockService for EtcdLockService {
    const NAME: &'static str = "etcd-lock";
    const BACKEND: &'static str = "etcd";

    fn build(opts: &TargetOptions, real: &RealOptions) -> Self {
        EtcdLockService {
            cluster: EtcdTarget::new(opts.clone(), real.etcd.clone(), false),
            members: opts.nodes.unwrap_or(3).max(1) as u16,
        }
    }

    fn connect(lock: &str, opts: &LockOptions) -> anyhow::Result<Box<dyn LockClient>> {
        Ok(Box::new(EtcdLock::new(lock, opts)?))
    }

    fn planned(&self) -> Vec<String> {
        self.cluster.planned_nodes()
    }

    /// Each member takes 2 ports (client and peer).
    fn ports_used(&self) -> u16 {
        2 * self.members
    }

    async fn start(&mut self, _redis: &Path) -> anyhow::Result<()> {
        self.cluster.setup().await
    }

    /// Client `p` takes the lock through member `p % members`.
    fn lock_args(&self) -> Vec<String> {
        self.cluster.client_urls()
    }

    fn servers(&self) -> Vec<NodeInfo> {
        self.cluster.nodes()
    }

    fn exited(&mut self) -> Vec<(String, String)> {
        self.cluster.exited()
    }

    async fn stop(&mut self) -> anyhow::Result<()> {
        self.cluster.teardown().await
    }
}
