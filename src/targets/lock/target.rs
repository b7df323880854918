//! The one lock target: a lock service's servers, a redis-server holding the protected
//! resource, and one `ferrocheck lock-worker` process per client. Everything that differs
//! between lock services (which servers, how a worker reaches them, which faults fit) is the
//! [`LockService`] each one implements in its own file; the lifecycle is here, once.

use crate::nemesis::family::FaultSupport;
use crate::targets::lock::worker::{WorkerClients, WorkerTable};
use crate::targets::lock::{pause_only, LockClient, LockOptions};
use crate::targets::real::RealOptions;
use crate::targets::redis::{redis_binary, RedisServer};
use crate::targets::server_process::ports;
use crate::targets::{ClientFactory, NodeInfo, Target, TargetOptions};
use anyhow::Context;
use async_trait::async_trait;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The resource server's node name.
pub const RESOURCE: &str = "resource";

/// The port a server in its own network namespace listens on (each namespace has its own).
pub const PLACED_PORT: u16 = 6379;

/// A lock service as a lock target runs it, and as its workers reach it.
#[async_trait]
pub trait LockService: Send + Sync + Sized + 'static {
    /// The target's registry name, e.g. `redis-lock`.
    const NAME: &'static str;
    /// The `ferrocheck lock-worker --backend` that speaks this service.
    const BACKEND: &'static str;
    /// The client groups its workers are placed in under a run with network faults (each a
    /// node name of the run's network); empty: workers stay with the harness.
    const CLIENT_GROUPS: &'static [&'static str] = &[];

    /// The service for a run, nothing started yet.
    fn build(opts: &TargetOptions, real: &RealOptions) -> Self;
    /// One client's lock, inside a worker: `lock` is the worker's `--lock` argument.
    fn connect(lock: &str, opts: &LockOptions) -> anyhow::Result<Box<dyn LockClient>>;
    /// Refuses lock options the service cannot honour, before anything starts.
    fn refuse(_lock: &LockOptions) -> anyhow::Result<()> {
        Ok(())
    }
    /// The client group of client `process`'s worker (see [`CLIENT_GROUPS`](Self::CLIENT_GROUPS)).
    fn client_group(_process: u64) -> Option<&'static str> {
        None
    }
    /// True when its servers run where the run's placement says (namespaces, clock shim).
    fn supports_placement(&self) -> bool {
        false
    }
    /// The names its servers will have, known before they start.
    fn planned(&self) -> Vec<String>;
    /// How many ports it takes from a fixed `--base-port`; the resource takes the next one.
    fn ports_used(&self) -> u16;
    /// Starts its servers (`redis` is the redis-server binary, for services built on it) and
    /// waits until they answer; on an error nothing of it is left running.
    async fn start(&mut self, redis: &Path) -> anyhow::Result<()>;
    /// The `--lock` arguments of the workers: client `p` gets `lock_args()[p % len]`.
    fn lock_args(&self) -> Vec<String>;
    /// Its servers as they are now.
    fn servers(&self) -> Vec<NodeInfo>;
    /// Servers whose process exited since the last call: name, and why.
    fn exited(&mut self) -> Vec<(String, String)>;
    /// Stops every server. Safe to call more than once.
    async fn stop(&mut self) -> anyhow::Result<()>;
    /// The fault families it takes: by default only `pause` (of the lock holder).
    fn fault_support(&self) -> FaultSupport {
        pause_only(Self::NAME)
    }
}

/// A lock target over lock service `S`.
pub struct LockTarget<S: LockService> {
    opts: TargetOptions,
    lock: LockOptions,
    redis_binary: Option<PathBuf>,
    service: S,
    resource: Option<RedisServer>,
    workers: WorkerTable,
}

impl<S: LockService> LockTarget<S> {
    /// The target for a run, nothing started yet.
    pub fn new(opts: TargetOptions, real: &RealOptions) -> Self {
        LockTarget {
            service: S::build(&opts, real),
            opts,
            lock: real.lock(),
            redis_binary: real.redis_server.clone(),
            resource: None,
            workers: WorkerTable::default(),
        }
    }

    /// The target for a run, as a registry entry builds it.
    pub fn boxed(opts: TargetOptions, real: &RealOptions) -> Box<dyn Target> {
        Box::new(Self::new(opts, real))
    }
}

/// Starts the resource redis-server: after the service's `offset` ports when ports are fixed,
/// and where the placement puts it when there is one.
async fn start_resource(
    opts: &TargetOptions,
    redis: &Path,
    offset: u16,
) -> anyhow::Result<RedisServer> {
    let base = match opts.base_port {
        0 => 0,
        b => b.checked_add(offset).with_context(|| {
            format!("port {b} + {offset} is out of range: pick a lower --base-port")
        })?,
    };
    let ip = match &opts.placement {
        Some(p) => p.ip(RESOURCE)?,
        None => IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    let port = match ip.is_loopback() {
        true => ports(base, 1)?[0],
        false => PLACED_PORT,
    };
    let dir = opts.work_dir.join(RESOURCE);
    let addr = SocketAddr::new(ip, port);
    RedisServer::start_at(RESOURCE, redis, addr, &dir, opts.placement.clone()).await
}

#[async_trait]
impl<S: LockService> Target for LockTarget<S> {
    fn name(&self) -> &str {
        S::NAME
    }

    async fn setup(&mut self) -> anyhow::Result<()> {
        S::refuse(&self.lock)?;
        let redis = redis_binary(self.redis_binary.as_deref())?;
        self.service.start(&redis).await?;
        match start_resource(&self.opts, &redis, self.service.ports_used()).await {
            Ok(r) => self.resource = Some(r),
            Err(e) => {
                let _ = self.service.stop().await;
                return Err(e);
            }
        }
        Ok(())
    }

    fn supports_placement(&self) -> bool {
        self.service.supports_placement()
    }

    /// Client `p`'s worker gets the service's `--lock` argument for `p`, and runs in its client
    /// group when the run places processes.
    fn clients(&self) -> anyhow::Result<Arc<dyn ClientFactory>> {
        let resource = self
            .resource
            .as_ref()
            .with_context(|| format!("the {} target is not running: call setup first", S::NAME))?
            .url();
        let locks = self.service.lock_args();
        anyhow::ensure!(
            !locks.is_empty(),
            "the {} target has no lock server",
            S::NAME
        );
        let lock = self.lock.clone();
        let args = move |process: u64| {
            let lock_arg = &locks[process as usize % locks.len()];
            worker_args(S::BACKEND, lock_arg, &resource, &lock)
        };
        let placement = self.opts.placement.clone();
        let (binary, dir) = (&self.opts.node_binary, &self.opts.work_dir);
        let workers = WorkerClients::new(binary, dir, self.workers.clone(), args).prepared_by(
            move |process, cmd| match (&placement, S::client_group(process)) {
                (Some(p), Some(group)) => p.prepare(group, cmd),
                _ => Ok(()),
            },
        );
        Ok(Arc::new(workers))
    }

    fn nodes(&self) -> Vec<NodeInfo> {
        let mut out = self.service.servers();
        out.extend(self.resource.iter().map(RedisServer::info));
        out
    }

    /// The service's servers, the resource, and the client groups (namespaces for workers).
    fn planned_nodes(&self) -> Vec<String> {
        let mut out = self.service.planned();
        out.push(RESOURCE.to_string());
        out.extend(S::CLIENT_GROUPS.iter().map(|g| g.to_string()));
        out
    }

    fn exited(&mut self) -> Vec<(String, String)> {
        let mut out = self.service.exited();
        out.extend(self.resource.iter_mut().filter_map(RedisServer::exited));
        out
    }

    async fn teardown(&mut self) -> anyhow::Result<()> {
        self.workers.kill_all().await;
        self.resource.iter_mut().for_each(RedisServer::stop);
        self.service.stop().await
    }

    /// `holder`: a pause stops whichever client holds the lock at that moment, like a GC
    /// pause. Explicit partitions and clock faults name servers and client groups instead
    /// (see [`Target::planned_nodes`]).
    fn fault_targets(&self) -> Vec<String> {
        vec!["holder".to_string()]
    }

    fn fault_support(&self) -> FaultSupport {
        self.service.fault_support()
    }

    fn pid_of(&self, name: &str) -> Option<u32> {
        self.workers
            .pid_of(name)
            .or_else(|| crate::targets::node_pid(&self.nodes(), name))
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
