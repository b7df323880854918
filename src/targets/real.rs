//! The options of the targets that run real systems — `redis`, `redis-lock`, `redlock`, `etcd`,
//! `etcd-lock` (`--redis-server PATH`, `--etcd PATH`, `--fencing`, `--lock-ttl-ms`,
//! `--serializable-reads`, ...); the targets themselves are in [`super::registry`].

use crate::targets::lock::LockOptions;
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
    /// Transactional targets (`txn-kv`, `postgres`): the isolation level the clients ask for
    /// (each target has its own default and its own levels).
    pub isolation: Option<String>,
    /// The target file `--target` named, for a target described by a file.
    #[serde(skip)]
    pub described: Option<std::sync::Arc<super::described::file::TargetFile>>,
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
            isolation: None,
            described: None,
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
        if let Some(level) = &self.isolation {
            out.push_str(&format!(" --isolation {level}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_shows_what_differs_from_the_defaults() {
        let r = RealOptions {
            fencing: true,
            lock_ttl_ms: 300,
            ..Default::default()
        };
        assert_eq!(r.command_line(), " --fencing --lock-ttl-ms 300");
        assert!(r.lock().fencing);
    }
}
