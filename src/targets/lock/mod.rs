//! Lock targets: a lock service, a resource it protects, and lock clients run as their own OS
//! processes so a pause can stop a holder mid-work, like a long GC pause.
//!
//! The story is Kleppmann's ("How to do distributed locking", 2016): a client takes a lease lock,
//! reads the resource, works, writes the resource back and releases. If the client stalls longer
//! than the lease, another client takes the lock too, and the stalled one, waking, writes a list
//! built from its stale read — an acknowledged update is lost. With fencing, each acquire also
//! hands out a token from a counter that only grows, and the resource refuses any read or write
//! carrying a token lower than the highest it has seen.
//!
//! One generic [`LockTarget`] runs every lock service: the service's servers, the resource and
//! the workers; each service is one file implementing [`LockService`] (its servers, how a worker
//! takes and releases the lock, the faults it accepts), one line in [`BACKENDS`] and one entry
//! in the target registry.
//!
//! Each client is a `ferrocheck lock-worker` process. The controller's [`worker::WorkerClient`]
//! sends it one request per line on stdin (`{"id":1,"f":"acquire"}`) and reads the answer on
//! stdout (`{"id":1,"type":"ok","value":7}`). Inside the worker a [`LockSession`] performs it: the
//! ops are `acquire` (ok value = the token), `read` (ok value = the resource's list), `write`
//! (value = the whole new list), `release` and `final-read` (the resource, unfenced, after the
//! run).

pub mod catch;
pub mod etcd;
pub mod redis;
pub mod redlock;
pub mod resource;
pub mod target;
pub mod worker;

pub use target::{LockService, LockTarget};

use crate::history::Value;
use crate::nemesis::family::{FaultFamily, FaultSupport};
use crate::targets::Outcome;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

/// The lock targets' fault support: only `pause`. They plan faults against the lock holder, a
/// client process, which only a pause makes sense for.
pub fn pause_only(target: &str) -> FaultSupport {
    FaultSupport::only(target, &[FaultFamily::Pause], |family| {
        format!(
            "target {target} takes only the pause nemesis (it stops the client holding the lock, like a long GC pause), not {family}; use --nemesis pause"
        )
    })
}

/// A client-side worker process (a lock client run as its own OS process), so a fault such as a
/// pause can stop a client the way a long GC pause would.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerInfo {
    /// The client process it serves.
    pub process: u64,
    /// Its OS process id.
    pub pid: u32,
    /// Whether it believes it holds the lock (from its acquire ok until it invokes release).
    pub holds_lock: bool,
    /// When it was sent its write, if that write has not answered yet: it is mid-update (the
    /// worker does its "work", then writes what it read earlier). A pause landing early in this
    /// window stalls the holder before its write lands, where a stall does the most harm.
    pub writing_since: Option<std::time::Instant>,
}

/// Settings shared by every lock target.
#[derive(Clone, Debug)]
pub struct LockOptions {
    /// Lease length: how long a lock lasts unless released.
    pub ttl: Duration,
    /// The "work" a client does between reading and writing the resource.
    pub work: Duration,
    /// How long an `acquire` keeps trying before it fails.
    pub acquire_wait: Duration,
    /// Whether acquires hand out fencing tokens that the resource checks.
    pub fencing: bool,
}

impl Default for LockOptions {
    fn default() -> Self {
        LockOptions {
            ttl: Duration::from_millis(500),
            work: Duration::from_millis(50),
            acquire_wait: Duration::from_millis(250),
            fencing: false,
        }
    }
}

/// How a worker opens its lock on a service: from its `--lock` argument and the lock options.
pub type Connect = fn(&str, &LockOptions) -> anyhow::Result<Box<dyn LockClient>>;

/// Every lock service by the `ferrocheck lock-worker --backend` name its workers take: one line
/// per service (its [`LockService`] impl says the rest).
pub const BACKENDS: &[(&str, Connect)] = &[
    (
        redis::RedisLockService::BACKEND,
        redis::RedisLockService::connect,
    ),
    (
        etcd::EtcdLockService::BACKEND,
        etcd::EtcdLockService::connect,
    ),
    (
        redlock::RedlockService::BACKEND,
        redlock::RedlockService::connect,
    ),
];

/// The lock of `backend` for one worker, or `None` for an unknown backend.
pub fn connect(
    backend: &str,
    lock: &str,
    opts: &LockOptions,
) -> Option<anyhow::Result<Box<dyn LockClient>>> {
    BACKENDS
        .iter()
        .find(|(name, _)| *name == backend)
        .map(|(_, connect)| connect(lock, opts))
}

/// A lock service as one client sees it (inside a worker process).
#[async_trait]
pub trait LockClient: Send {
    /// Tries once to take the lock. `Ok(Some(token))` when taken (the fencing token if the
    /// service hands them out, else any value naming this hold), `Ok(None)` when someone else
    /// holds it, `Err(reason)` when it is unknown whether the lock was taken.
    async fn try_acquire(&mut self) -> Result<Option<Value>, String>;
    /// Releases the lock if this client still holds it: `Ok(true)` released, `Ok(false)` not
    /// ours any more (the lease ran out), `Err` unknown.
    async fn release(&mut self) -> Result<bool, String>;
}

/// One request from the controller to a worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerRequest {
    /// Matches the reply to the request.
    pub id: u64,
    /// `acquire`, `read`, `write`, `release` or `final-read`.
    pub f: String,
    /// A write's list; nil otherwise.
    #[serde(default)]
    pub value: Value,
}

/// A worker's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerReply {
    /// The request's id.
    pub id: u64,
    /// `ok`, `fail` or `info`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The result.
    #[serde(default)]
    pub value: Value,
    /// Why it failed or is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl WorkerReply {
    /// The reply for `outcome`.
    pub fn from_outcome(id: u64, outcome: Outcome) -> Self {
        let (kind, value, error) = match outcome {
            Outcome::Ok(v) => ("ok", v, None),
            Outcome::Fail(e) => ("fail", Value::Nil, Some(e.to_string())),
            Outcome::Info(e) => ("info", Value::Nil, Some(e)),
        };
        WorkerReply {
            id,
            kind: kind.into(),
            value,
            error,
        }
    }

    /// The outcome this reply carries (an unknown `type` is `info`).
    pub fn into_outcome(self) -> Outcome {
        let why = self.error.unwrap_or_default();
        match self.kind.as_str() {
            "ok" => Outcome::Ok(self.value),
            "fail" => Outcome::Fail(why.into()),
            _ => Outcome::Info(why),
        }
    }
}

/// A lock client's whole state inside a worker: the lock, the resource, and the token of the
/// current hold.
pub struct LockSession {
    lock: Box<dyn LockClient>,
    resource: resource::Resource,
    opts: LockOptions,
    /// The fencing token of the current hold, sent with every resource access.
    fence: Option<i64>,
}

impl LockSession {
    /// A session over `lock` protecting `resource`.
    pub fn new(lock: Box<dyn LockClient>, resource: resource::Resource, opts: LockOptions) -> Self {
        LockSession {
            lock,
            resource,
            opts,
            fence: None,
        }
    }

    /// Performs one op of the lock workload.
    pub async fn perform(&mut self, f: &str, value: &Value) -> Outcome {
        match f {
            "acquire" => self.acquire().await,
            "release" => {
                self.fence = None;
                match self.lock.release().await {
                    Ok(true) => Outcome::Ok(Value::Nil),
                    Ok(false) => Outcome::Fail(crate::targets::FailReason::Refused(
                        "the lock was no longer ours: the lease had run out".into(),
                    )),
                    Err(e) => Outcome::Info(e),
                }
            }
            "read" => self.resource.read(self.fenced()).await,
            "write" => {
                tokio::time::sleep(self.opts.work).await;
                self.resource.write(value, self.fenced()).await
            }
            "final-read" => self.resource.read(None).await,
            other => Outcome::Fail(crate::targets::FailReason::NotSent(format!(
                "the lock workload has no op {other:?} (acquire, read, write, release, final-read)"
            ))),
        }
    }

    fn fenced(&self) -> Option<i64> {
        if self.opts.fencing {
            // A fenced client without a token sends 0, which any holder's token outranks.
            Some(self.fence.unwrap_or(0))
        } else {
            None
        }
    }

    async fn acquire(&mut self) -> Outcome {
        let deadline = tokio::time::Instant::now() + self.opts.acquire_wait;
        loop {
            match self.lock.try_acquire().await {
                Ok(Some(token)) => {
                    self.fence = token.as_int();
                    return Outcome::Ok(token);
                }
                Ok(None) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Ok(None) => {
                    return Outcome::Fail(crate::targets::FailReason::Refused(
                        "the lock is held by another client".into(),
                    ))
                }
                Err(e) => return Outcome::Info(e),
            }
        }
    }
}

/// Serves requests from `input` until it closes, one JSON line each, answering on `output`.
pub async fn serve(
    session: &mut LockSession,
    input: impl AsyncBufRead + Unpin,
    mut output: impl AsyncWrite + Unpin,
) -> anyhow::Result<()> {
    let mut lines = input.lines();
    while let Some(line) = lines.next_line().await? {
        if line.trim().is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<WorkerRequest>(&line) {
            Ok(req) => WorkerReply::from_outcome(req.id, session.perform(&req.f, &req.value).await),
            Err(e) => WorkerReply::from_outcome(
                0,
                Outcome::Fail(crate::targets::FailReason::NotSent(format!(
                    "bad request {line:?}: {e}"
                ))),
            ),
        };
        let mut text = serde_json::to_string(&reply)?;
        text.push('\n');
        output.write_all(text.as_bytes()).await?;
        output.flush().await?;
    }
    Ok(())
}
