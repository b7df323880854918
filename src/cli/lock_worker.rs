//! `ferrocheck lock-worker` (hidden): one lock client as its own OS process.
//!
//! The harness starts one per lock client so that a pause nemesis can SIGSTOP exactly the client
//! holding the lock. It reads one JSON request per line on stdin and answers one JSON line on
//! stdout (see `targets::lock`); it exits when stdin closes. Diagnostics go to stderr.

use crate::targets::lock::resource::Resource;
use crate::targets::lock::{connect, serve, LockOptions, LockSession, BACKENDS};
use std::time::Duration;

/// Arguments of `ferrocheck lock-worker`.
#[derive(Debug, clap::Args)]
pub struct LockWorkerArgs {
    /// The lock service: `redis`, `etcd` or `redlock`.
    #[arg(long, default_value = "redis")]
    pub backend: String,
    /// Where the lock lives: `redis://127.0.0.1:P/`, an etcd member's `http://127.0.0.1:P`, or
    /// for redlock every instance's URL, comma-separated.
    #[arg(long)]
    pub lock: String,
    /// Where the protected resource lives (`redis://127.0.0.1:Q/`).
    #[arg(long)]
    pub resource: String,
    /// Lease length in milliseconds.
    #[arg(long, default_value_t = 500)]
    pub ttl_ms: u64,
    /// Work between reading and writing the resource, in milliseconds.
    #[arg(long, default_value_t = 50)]
    pub work_ms: u64,
    /// How long an acquire keeps trying before it fails, in milliseconds.
    #[arg(long, default_value_t = 250)]
    pub acquire_wait_ms: u64,
    /// Take a fencing token with the lock and send it with every resource access.
    #[arg(long)]
    pub fencing: bool,
}

/// Runs `ferrocheck lock-worker` until stdin closes.
pub fn run(args: LockWorkerArgs) -> anyhow::Result<i32> {
    let opts = LockOptions {
        ttl: Duration::from_millis(args.ttl_ms),
        work: Duration::from_millis(args.work_ms),
        acquire_wait: Duration::from_millis(args.acquire_wait_ms),
        fencing: args.fencing,
    };
    let Some(lock) = connect(&args.backend, &args.lock, &opts) else {
        let known: Vec<&str> = BACKENDS.iter().map(|(name, _)| *name).collect();
        return Err(super::usage(format!(
            "unknown lock backend {:?}: use {}",
            args.backend,
            known.join(", ")
        )));
    };
    let lock = lock?;
    let mut session = LockSession::new(lock, Resource::new(&args.resource)?, opts);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let stdin = tokio::io::BufReader::new(tokio::io::stdin());
        serve(&mut session, stdin, tokio::io::stdout()).await
    })?;
    Ok(0)
}
