//! The target registry: every system ferrocheck can test — the toy stores, the real systems
//! and the lock services — one entry each, with a line saying what it is and the workload it
//! runs by default.

use super::etcd::EtcdTarget;
use super::lock::etcd::EtcdLockTarget;
use super::lock::redis::RedisLockTarget;
use super::lock::redlock::RedlockTarget;
use super::real::RealOptions;
use super::toy::ToyTarget;
use super::{Target, TargetOptions};
use crate::node::StoreKind;

/// The toy stores that answer the data-type commands (`node::commands`).
const DATA_TYPE_STORES: &[&str] = &["lin-kv", "lww-kv", "quorum-kv"];

/// One target of the registry.
#[derive(Debug)]
pub struct TargetEntry {
    /// The name used on the command line, e.g. `lin-kv`.
    pub name: &'static str,
    /// One line saying what it is and what a test should find.
    pub about: &'static str,
    /// The workload it runs when `--workload` is not given.
    pub workload: &'static str,
    /// Builds it (no process started yet).
    pub build: fn(TargetOptions, &RealOptions) -> Box<dyn Target>,
}

impl TargetEntry {
    /// The workloads it can run: a lock target drives only the lock workload, the toy stores
    /// that know the data-type commands also sets, queues, counters and the bank, every other
    /// target only register ops (a lock workload on a store, or register ops on a lock, would
    /// record ops the checkers misread). A target file runs a data-type workload when its
    /// `[ops]` has commands for it (`TargetFile::has_ops_for`).
    pub fn workloads(&self) -> &'static [&'static str] {
        match self.workload {
            "lock" => &["lock"],
            "list-append" => &["list-append", "rw-register"],
            _ if DATA_TYPE_STORES.contains(&self.name) => {
                &["register", "set", "queue", "counter", "bank"]
            }
            _ => &["register"],
        }
    }

    /// The client op timeout when `--op-timeout-ms` is not given: 10 s for the lock targets
    /// (longer than a pause, so the paused holder's late write is acknowledged rather than
    /// `info`, and a lost update is provable), 1 s for everything else.
    pub fn default_op_timeout_ms(&self) -> u64 {
        match self.workload {
            "lock" => 10_000,
            // A transaction may wait for another's locks.
            "list-append" => 5_000,
            _ => 1_000,
        }
    }
}

const fn toy(
    kind: StoreKind,
    build: fn(TargetOptions, &RealOptions) -> Box<dyn Target>,
) -> TargetEntry {
    TargetEntry {
        name: kind.name(),
        about: kind.description(),
        workload: "register",
        build,
    }
}

/// Every target, in the order `ferrocheck list` shows them.
pub const TARGETS: &[TargetEntry] = &[
    toy(StoreKind::LinKv, |o, _| Box::new(ToyTarget::new(StoreKind::LinKv, o))),
    toy(StoreKind::LwwKv, |o, _| Box::new(ToyTarget::new(StoreKind::LwwKv, o))),
    toy(StoreKind::QuorumKv, |o, _| Box::new(ToyTarget::new(StoreKind::QuorumKv, o))),
    toy(StoreKind::PrimaryBackup, |o, _| {
        Box::new(ToyTarget::new(StoreKind::PrimaryBackup, o))
    }),
    toy(StoreKind::SeqKv, |o, _| Box::new(ToyTarget::new(StoreKind::SeqKv, o))),
    // `redis` is described by targets/redis.toml (see `super::described`).
    TargetEntry {
        name: "redis-lock",
        about: "Redis lease lock (SET NX PX, compare-and-delete release) guarding a list on a second redis-server; workload lock; --fencing adds fencing tokens",
        workload: "lock",
        build: RedisLockTarget::boxed,
    },
    TargetEntry {
        name: "redlock",
        about: "Redlock over 5 independent redis-servers (majority, validity with drift) guarding a list on a sixth; workload lock; no fencing tokens",
        workload: "lock",
        build: RedlockTarget::boxed,
    },
    TargetEntry {
        name: "etcd-lock",
        about: "etcd lock (lease + /v3/lock/lock) on a 3-member cluster, guarding a list on a redis-server; workload lock; --fencing uses the lock revision as the token",
        workload: "lock",
        build: EtcdLockTarget::boxed,
    },
    TargetEntry {
        name: "etcd",
        about: "real etcd cluster (3 members by default); register ops over the JSON gateway; --serializable-reads",
        workload: "register",
        build: |o, r| Box::new(EtcdTarget::new(o, r.etcd.clone(), r.serializable_reads)),
    },
    TargetEntry {
        name: "txn-kv",
        about: StoreKind::TxnKv.description(),
        workload: "list-append",
        build: |o, r| Box::new(super::txn_kv::TxnKvTarget::new(o, r.isolation.clone())),
    },
    TargetEntry {
        name: "postgres",
        about: "real PostgreSQL (initdb + postgres in the run's folder, 1 node); list-append / rw-register transactions, a row per key, --isolation read-committed | repeatable-read | serializable",
        workload: "list-append",
        build: |o, r| Box::new(super::postgres::PostgresTarget::new(o, r.isolation.clone())),
    },
];

/// The entry called `name`, or a usage error listing the known ones.
pub fn entry(name: &str) -> anyhow::Result<&'static TargetEntry> {
    TARGETS.iter().find(|e| e.name == name).ok_or_else(|| {
        let known: Vec<&str> = TARGETS.iter().map(|e| e.name).collect();
        crate::error::usage(format!(
            "unknown target {name:?}; known: {} (see `ferrocheck list`)",
            known.join(", ")
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn every_entry_builds_a_target_of_its_name() {
        let opts = TargetOptions {
            nodes: None,
            work_dir: PathBuf::from("/nonexistent"),
            base_port: 0,
            node_binary: PathBuf::from("ferrocheck"),
            seed: 0,
            placement: None,
            fsync: true,
        };
        for e in TARGETS {
            let t = (e.build)(opts.clone(), &RealOptions::default());
            assert_eq!(t.name(), e.name);
        }
        assert_eq!(entry("redlock").unwrap().default_op_timeout_ms(), 10_000);
        assert_eq!(entry("lww-kv").unwrap().workload, "register");
        for e in TARGETS {
            assert!(e.workloads().contains(&e.workload), "{}", e.name);
        }
        assert_eq!(entry("redis-lock").unwrap().workloads(), ["lock"]);
        let err = entry("nope").unwrap_err().to_string();
        assert!(
            err.contains("redis-lock") && err.contains("quorum-kv"),
            "{err}"
        );
    }
}
