//! The registry of targets that run real systems — `redis`, `redis-lock`, `redlock`, `etcd`,
//! `etcd-lock` — and the options they take on the command line (`--redis-server PATH`,
//! `--etcd PATH`, `--fencing`, `--lock-ttl-ms`, `--serializable-reads`, ...).
//!
//! Kept apart from the toy stores' registry so each can grow alone; [`by_name`] answers `None`
//! for a name it does not know, and the caller falls back to the toy stores.

use crate::targets::etcd::EtcdTarget;
use crate::targets::lock::etcd::EtcdLockTarget;
use crate::targets::lock::redis::RedisLockTarget;
use crate::targets::lock::redlock::RedlockTarget;
use crate::targets::lock::LockOptions;
use crate::targets::redis::RedisTarget;
use crate::targets::{Target, TargetOptions};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// Options for the real-system targets (the CLI's `--redis-server`, `--fencing`, ...).
#[derive(Clone, Debug, Serialize)]
pub struct RealOptions {
    /// The redis-server binary (default: redis-server on PATH).
    pub redis_server: Option<PathBuf>,
    /// The etcd binary (default: etcd on PATH).
    pub etcd: Option<PathBuf>,
    /// etcd: serializable reads (a member's local copy, possibly stale) instead of
    /// linearizable ones.
    pub serializable_reads: bool,
    /// Lock targets: acquiring also takes a fencing token, and the protected resource refuses
    /// any read or write with a token lower than the highest it has seen.
    pub fencing: bool,
    /// Lock targets: the lease, in milliseconds. A pause longer than this lets a second client
    /// take the lock.
    pub lock_ttl_ms: u64,
    /// Lock targets: the client's work between reading and writing the resource, in
    /// milliseconds.
    pub lock_work_ms: u64,
}

impl Default for RealOptions {
    fn default() -> Self {
        RealOptions {
            redis_server: None,
            etcd: None,
            serializable_reads: false,
            fencing: false,
            lock_ttl_ms: 500,
            lock_work_ms: 100,
        }
    }
}

impl RealOptions {
    /// The lock settings these options describe.
    pub fn lock(&self) -> LockOptions {
        LockOptions {
            ttl: Duration::from_millis(self.lock_ttl_ms.max(1)),
            work: Duration::from_millis(self.lock_work_ms),
            fencing: self.fencing,
            ..LockOptions::default()
        }
    }

    /// The flags that differ from the defaults, to reproduce a run (` --fencing ...`).
    pub fn command_line(&self) -> String {
        let d = RealOptions::default();
        let mut out = String::new();
        if let Some(p) = &self.redis_server {
            out.push_str(&format!(" --redis-server {}", p.display()));
        }
        if let Some(p) = &self.etcd {
            out.push_str(&format!(" --etcd {}", p.display()));
        }
        if self.serializable_reads {
            out.push_str(" --serializable-reads");
        }
        if self.fencing {
            out.push_str(" --fencing");
        }
        if self.lock_ttl_ms != d.lock_ttl_ms {
            out.push_str(&format!(" --lock-ttl-ms {}", self.lock_ttl_ms));
        }
        if self.lock_work_ms != d.lock_work_ms {
            out.push_str(&format!(" --lock-work-ms {}", self.lock_work_ms));
        }
        out
    }
}

/// The workload a target runs when `--workload` is not given: `lock` for the lock targets,
/// `register` for everything else.
pub fn default_workload(target: &str) -> &'static str {
    match target {
        "redis-lock" | "redlock" | "etcd-lock" => "lock",
        _ => "register",
    }
}

/// The client op timeout when `--op-timeout-ms` is not given: 10 s for the lock targets (longer
/// than a pause, so the paused holder's late write is acknowledged rather than `info`, and a lost
/// update is provable), 1 s for everything else.
pub fn default_op_timeout_ms(target: &str) -> u64 {
    match default_workload(target) {
        "lock" => 10_000,
        _ => 1_000,
    }
}

/// The real-system targets: name and a line each.
pub fn list() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "redis",
            "real redis-server (1 node by default); register ops as GET / SET / a compare-and-set script",
        ),
        (
            "redis-lock",
            "Redis lease lock (SET NX PX, compare-and-delete release) guarding a list on a second redis-server; workload lock; --fencing adds fencing tokens",
        ),
        (
            "redlock",
            "Redlock over 5 independent redis-servers (majority, validity with drift) guarding a list on a sixth; workload lock; no fencing tokens",
        ),
        (
            "etcd-lock",
            "etcd lock (lease + /v3/lock/lock) on a 3-member cluster, guarding a list on a redis-server; workload lock; --fencing uses the lock revision as the token",
        ),
        (
            "etcd",
            "real etcd cluster (3 members by default); register ops over the JSON gateway; --serializable-reads",
        ),
    ]
}

/// Builds the real-system target called `name`, or `None` if it is not one of them.
pub fn by_name(name: &str, opts: TargetOptions, real: &RealOptions) -> Option<Box<dyn Target>> {
    match name {
        "redis" => Some(Box::new(RedisTarget::new(opts, real.redis_server.clone()))),
        "redlock" => Some(Box::new(RedlockTarget::new(
            opts,
            real.lock(),
            real.redis_server.clone(),
        ))),
        "etcd-lock" => Some(Box::new(EtcdLockTarget::new(
            opts,
            real.lock(),
            real.etcd.clone(),
            real.redis_server.clone(),
        ))),
        "etcd" => Some(Box::new(EtcdTarget::new(
            opts,
            real.etcd.clone(),
            real.serializable_reads,
        ))),
        "redis-lock" => Some(Box::new(RedisLockTarget::new(
            opts,
            real.lock(),
            real.redis_server.clone(),
        ))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_name_builds_and_others_fall_through() {
        let opts = TargetOptions {
            nodes: None,
            work_dir: PathBuf::from("/nonexistent"),
            base_port: 0,
            node_binary: PathBuf::from("ferrocheck"),
            seed: 0,
            placement: None,
            fsync: true,
        };
        for (name, _) in list() {
            let t = by_name(name, opts.clone(), &RealOptions::default());
            assert_eq!(t.map(|t| t.name().to_string()).as_deref(), Some(name));
        }
        assert!(by_name("lin-kv", opts, &RealOptions::default()).is_none());
        let r = RealOptions {
            fencing: true,
            lock_ttl_ms: 300,
            ..Default::default()
        };
        assert_eq!(r.command_line(), " --fencing --lock-ttl-ms 300");
        assert!(r.lock().fencing);
    }
}
