//! Workloads: which ops the clients perform, on which keys, and how the result is checked.
//!
//! A [`Workload`] hands each client worker its own [`WorkerGen`], a small state machine that
//! yields the next [`Request`] given how the previous one ended (a lock worker goes acquire →
//! read → write → release). The controller adds rate, concurrency and the time limit.

use crate::check::CheckOptions;
use crate::targets::{Outcome, Request};
use rand::rngs::StdRng;

pub mod bank;
pub mod counter;
pub mod file;
pub mod lock;
pub mod queue;
pub mod register;
pub mod set;
pub mod txn;

/// What a worker should do next.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Perform this request.
    Request(Request),
    /// Nothing more from this worker.
    Done,
}

/// One client worker's op generator. Workers are numbered `0..concurrency` and keep their number
/// when their process id is retired after an `info`.
pub trait WorkerGen: Send {
    /// The next request, given the previous request and how it ended (`None` at the start).
    fn next(&mut self, rng: &mut StdRng, last: Option<(&Request, &Outcome)>) -> Step;

    /// What the worker must still do once the time limit has passed, before it stops: a lock
    /// worker that holds the lock releases it, so that no hold is left open by the harness
    /// itself (an open hold reads as "still believed it held" to the lock checker). Called
    /// repeatedly until it says [`Step::Done`]; the default has nothing to finish.
    fn finish(&mut self, last: Option<(&Request, &Outcome)>) -> Step {
        let _ = last;
        Step::Done
    }
}

/// A workload: generators for the main phase, requests for the final phase, and the checks.
pub trait Workload: Send + Sync {
    /// Registry name, e.g. `register`.
    fn name(&self) -> &str;
    /// The model its histories are checked against, written into the history header.
    fn model(&self) -> &str;
    /// A generator for worker `worker`.
    fn worker(&self, worker: usize) -> Box<dyn WorkerGen>;
    /// Requests to perform once, after faults are healed (e.g. a read of every key).
    fn final_requests(&self) -> Vec<Request> {
        Vec::new()
    }
    /// The checks to run on the history.
    fn checks(&self) -> Vec<CheckOptions>;
    /// The ops a workload file's `[mix]` may weigh (empty: its ops follow from each other).
    fn ops(&self) -> Vec<&str> {
        Vec::new()
    }
}

/// Options every workload understands.
#[derive(Clone, Debug)]
pub struct WorkloadOptions {
    /// How many independent keys to spread ops over.
    pub keys: usize,
    /// Seed for anything random the workload decides up front.
    pub seed: u64,
    /// The workload file the run names, if any: its op mix and values, for the Rust workload
    /// to read (see [`file`]).
    pub file: Option<std::sync::Arc<file::WorkloadFile>>,
    /// Which values the register workload writes (`--values`).
    pub values: register::Values,
}

impl Default for WorkloadOptions {
    fn default() -> Self {
        WorkloadOptions {
            keys: 5,
            seed: 0,
            file: None,
            values: register::Values::Small,
        }
    }
}

/// One workload of the registry.
#[derive(Debug)]
pub struct WorkloadEntry {
    /// The name used on the command line, e.g. `register`.
    pub name: &'static str,
    /// One line saying what it does and how it is checked.
    pub about: &'static str,
    /// Builds it.
    pub build: fn(&WorkloadOptions) -> Box<dyn Workload>,
}

/// Every workload, in the order `ferrocheck list` shows them.
pub const WORKLOADS: &[WorkloadEntry] = &[
    WorkloadEntry {
        name: "register",
        about: "read / write / cas on independent integer registers; checked for linearizability (cas-register model) and lost updates",
        build: |o| Box::new(register::Register::new(o)),
    },
    WorkloadEntry {
        name: "lock",
        about: "acquire / read / write / release of a resource guarded by a lock (lock targets); checked for mutual exclusion and lost updates",
        build: |_| Box::new(lock::LockWorkload::default()),
    },
    WorkloadEntry {
        name: "list-append",
        about: "transactions of appends to and reads of lists (Elle), unique values per key, a few keys in contention; checked for transactional anomalies (txn)",
        build: |o| Box::new(txn::TxnWorkload::new(txn::TxnKind::ListAppend, o)),
    },
    WorkloadEntry {
        name: "rw-register",
        about: "transactions of writes and reads of registers (Elle), unique values per key; checked for transactional anomalies (txn, weaker inference than list-append)",
        build: |o| Box::new(txn::TxnWorkload::new(txn::TxnKind::RwRegister, o)),
    },
    WorkloadEntry {
        name: "set",
        about: "adds of unique integers to grow-only sets (SADD), reads of whole sets (SMEMBERS); checked for linearizability (set model): lost adds show",
        build: |o| Box::new(set::SetWorkload::new(o)),
    },
    WorkloadEntry {
        name: "queue",
        about: "enqueues (LPUSH) and dequeues (RPOP) of unique integers on FIFO queues, drained at the end; checked for linearizability (fifo-queue and unordered-queue models)",
        build: |o| Box::new(queue::QueueWorkload::new(o)),
    },
    WorkloadEntry {
        name: "counter",
        about: "increments by 1-5 (INCRBY) and reads of counters; checked for linearizability (counter model): lost increments show",
        build: |o| Box::new(counter::CounterWorkload::new(o)),
    },
    WorkloadEntry {
        name: "bank",
        about: "transfers between --keys accounts of one bank (no overdrafts) and reads of every balance; checked by bank: each read adds up to the initial total, none negative",
        build: |o| Box::new(bank::BankWorkload::new(o)),
    },
];

/// The name of key number `i` of a data-type workload: `set:k0`, `counter:k2`. The prefix
/// before the colon is the data type, which tells a target's client which commands to send
/// (see [`key_kind`]); register keys (`k0`) have none.
pub fn typed_key(kind: &str, i: usize) -> String {
    format!("{kind}:k{i}")
}

/// The data type a key names (`set`, `queue`, `counter`, `bank`), `None` for a register key.
pub fn key_kind(key: Option<&str>) -> Option<&str> {
    key?.split_once(':').map(|(kind, _)| kind)
}

/// Picks one op of `mix` by weight.
pub fn pick(rng: &mut StdRng, mix: &[(&'static str, f64)]) -> &'static str {
    use rand::Rng;
    let total: f64 = mix.iter().map(|(_, w)| w).sum();
    let mut roll = rng.gen_range(0.0..total.max(f64::MIN_POSITIVE));
    for (op, w) in mix {
        if roll < *w {
            return op;
        }
        roll -= w;
    }
    mix[0].0
}

/// The built-in workloads: name and a line each.
pub fn list() -> Vec<(&'static str, &'static str)> {
    WORKLOADS.iter().map(|e| (e.name, e.about)).collect()
}

/// The entry called `name`, or a usage error listing the known ones.
pub fn entry(name: &str) -> anyhow::Result<&'static WorkloadEntry> {
    WORKLOADS.iter().find(|e| e.name == name).ok_or_else(|| {
        crate::error::usage(format!(
            "unknown workload {name:?}; known workloads: {} (see `ferrocheck list`)",
            WORKLOADS
                .iter()
                .map(|e| e.name)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

/// Builds the workload called `name`.
pub fn by_name(name: &str, opts: &WorkloadOptions) -> anyhow::Result<Box<dyn Workload>> {
    Ok((entry(name)?.build)(opts))
}
