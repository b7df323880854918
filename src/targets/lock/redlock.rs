//! `redlock`: the Redlock algorithm over 5 independent redis-servers, and the target that runs it.
//!
//! To acquire, a client sets the same random value with `SET NX PX ttl` on every instance (each
//! with a short timeout), and holds the lock if a majority took it and time is left: the
//! validity `ttl - elapsed - drift` (drift = 1% of the TTL + 2 ms) must be positive. Otherwise it
//! releases whatever it took. Release is compare-and-delete on every instance.
//!
//! Redlock has no fencing token (the point of Kleppmann's 2016 critique), so a holder paused past
//! its validity still writes stale data; `--fencing` is refused rather than faked.
//!
//! The critique's other scenario needs the network and the clocks: under a run with faults the
//! target places every redis-server in its own network namespace under the clock shim, and its
//! lock workers in two client groups (`ga`, `gb`). `--nemesis redlock-clock` splits the groups so
//! they share one lock server, then jumps that server's clock past the TTL: it expires the
//! holder's key early and the other group wins a majority too.

use crate::history::Value;
use crate::nemesis::family::{FaultFamily, FaultSupport, NamedOnly};
use crate::targets::lock::target::{LockService, LockTarget, PLACED_PORT};
use crate::targets::lock::{LockClient, LockOptions};
use crate::targets::real::RealOptions;
use crate::targets::redis::{RedisConn, RedisServer};
use crate::targets::server_process::ports;
use crate::targets::{NodeInfo, TargetOptions};
use anyhow::bail;
use async_trait::async_trait;
use rand::Rng;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};
/// The lock's key on every instance.
const LOCK_KEY: &str = "redlock";

/// How long one instance may take to answer during acquire or release.
const INSTANCE_TIMEOUT: Duration = Duration::from_millis(50);

/// Deletes KEYS[1] only if it still holds ARGV[1].
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

/// Why `--fencing` is refused for Redlock.
pub const NO_FENCING: &str = "redlock hands out no fencing tokens (there is no counter all instances agree on), so --fencing cannot be honoured; run --target redis-lock --fencing or --target etcd-lock --fencing to see what a fence does";

/// One client's view of a Redlock over several instances.
pub struct Redlock {
    urls: Vec<String>,
    instances: Vec<RedisConn>,
    ttl: Duration,
    value: String,
}

impl Redlock {
    /// A lock over the Redis instances at `urls`.
    pub fn new(urls: &[String], opts: &LockOptions) -> anyhow::Result<Self> {
        if opts.fencing {
            bail!("{NO_FENCING}");
        }
        if urls.is_empty() {
            bail!("redlock needs at least one instance");
        }
        Ok(Redlock {
            urls: urls.to_vec(),
            instances: urls
                .iter()
                .map(|u| RedisConn::new(u))
                .collect::<anyhow::Result<_>>()?,
            ttl: opts.ttl,
            value: String::new(),
        })
    }

    fn quorum(&self) -> usize {
        self.urls.len() / 2 + 1
    }

    /// Runs `cmd` on every instance at once, each bounded by [`INSTANCE_TIMEOUT`] (connecting
    /// included: an instance behind a partition must not hold up the others); true for each
    /// instance whose answer satisfied `taken`.
    async fn on_all(&mut self, cmd: redis::Cmd, taken: fn(&redis::Value) -> bool) -> Vec<bool> {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, mut inst) in std::mem::take(&mut self.instances).into_iter().enumerate() {
            let cmd = cmd.clone();
            tasks.spawn(async move {
                let call = async {
                    let con = inst.get().await?;
                    cmd.query_async::<redis::Value>(con)
                        .await
                        .map_err(|e| e.to_string())
                };
                let ok = match tokio::time::timeout(INSTANCE_TIMEOUT, call).await {
                    Ok(Ok(v)) => taken(&v),
                    Ok(Err(_)) | Err(_) => {
                        inst.reset();
                        false
                    }
                };
                (i, inst, ok)
            });
        }
        let mut done: Vec<Option<(RedisConn, bool)>> = self.urls.iter().map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            if let Ok((i, inst, ok)) = joined {
                done[i] = Some((inst, ok));
            }
        }
        let mut out = Vec::new();
        for (url, d) in self.urls.iter().zip(done) {
            // A task that died lost its connection: open a fresh one, and count no answer.
            let (inst, ok) = match d {
                Some(d) => d,
                None => match RedisConn::new(url) {
                    Ok(c) => (c, false),
                    Err(_) => continue,
                },
            };
            self.instances.push(inst);
            out.push(ok);
        }
        out
    }

    /// Compare-and-delete of our value on every instance; how many deleted it.
    async fn release_all(&mut self, value: &str) -> usize {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(RELEASE).arg(1).arg(LOCK_KEY).arg(value);
        let done = self
            .on_all(cmd, |v| matches!(v, redis::Value::Int(1)))
            .await;
        done.into_iter().filter(|ok| *ok).count()
    }
}

#[async_trait]
impl LockClient for Redlock {
    async fn try_acquire(&mut self) -> Result<Option<Value>, String> {
        let value = format!(
            "{}-{:016x}",
            std::process::id(),
            rand::thread_rng().gen::<u64>()
        );
        let ttl_ms = self.ttl.as_millis().max(1) as u64;
        let start = Instant::now();
        let mut cmd = redis::cmd("SET");
        cmd.arg(LOCK_KEY)
            .arg(&value)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms);
        let taken = self
            .on_all(cmd, |v| matches!(v, redis::Value::Okay))
            .await
            .into_iter()
            .filter(|ok| *ok)
            .count();
        let drift = self.ttl / 100 + Duration::from_millis(2);
        let validity = self.ttl.saturating_sub(start.elapsed() + drift);
        if taken >= self.quorum() && !validity.is_zero() {
            self.value = value.clone();
            return Ok(Some(Value::Str(value)));
        }
        // Not enough instances, or no time left: give back what we took (a left-over key
        // expires with its TTL anyway), so the lock is not ours.
        self.release_all(&value).await;
        Ok(None)
    }

    async fn release(&mut self) -> Result<bool, String> {
        let value = std::mem::take(&mut self.value);
        Ok(self.release_all(&value).await >= self.quorum())
    }
}

/// The `redlock` lock service: 5 lock instances (`l1`..`l5`, or `--nodes`).
///
/// With a placement (a run with network faults), every redis-server runs in its own namespace
/// under the clock shim (the resource too, see [`LockTarget`]), and the workers too, in two
/// client groups: even client processes in namespace `ga`, odd ones in `gb`. A partition can
/// then split the clients between the lock servers (see `nemeses/redlock-clock.toml`) while
/// the controller still talks to each worker over its stdin and stdout. Partitions never name
/// the resource.
pub struct RedlockService {
    opts: TargetOptions,
    instances: Vec<RedisServer>,
}

/// The `redlock` target.
pub type RedlockTarget = LockTarget<RedlockService>;

/// The client groups' node names (namespaces of the workers when placed).
pub const GROUPS: [&str; 2] = ["ga", "gb"];

/// The client group of client `process`.
pub fn group_of(process: u64) -> &'static str {
    GROUPS[(process % 2) as usize]
}

impl RedlockTarget {
    /// The client group of client `process`.
    pub fn group_of(process: u64) -> &'static str {
        group_of(process)
    }
}

impl RedlockService {
    fn lock_names(&self) -> Vec<String> {
        let n = self.opts.nodes.unwrap_or(5).max(1);
        (1..=n).map(|i| format!("l{i}")).collect()
    }
}

#[async_trait]
impl LockService for RedlockService {
    const NAME: &'static str = "redlock";
    const BACKEND: &'static str = "redlock";
    const CLIENT_GROUPS: &'static [&'static str] = &GROUPS;

    fn build(opts: &TargetOptions, _real: &RealOptions) -> Self {
        RedlockService {
            opts: opts.clone(),
            instances: Vec::new(),
        }
    }

    /// `lock` lists every instance's URL, comma-separated.
    fn connect(lock: &str, opts: &LockOptions) -> anyhow::Result<Box<dyn LockClient>> {
        let urls: Vec<String> = lock.split(',').map(str::to_string).collect();
        Ok(Box::new(Redlock::new(&urls, opts)?))
    }

    fn refuse(lock: &LockOptions) -> anyhow::Result<()> {
        if lock.fencing {
            bail!("{NO_FENCING}");
        }
        Ok(())
    }

    fn client_group(process: u64) -> Option<&'static str> {
        Some(group_of(process))
    }

    fn supports_placement(&self) -> bool {
        true
    }

    fn planned(&self) -> Vec<String> {
        self.lock_names()
    }

    fn ports_used(&self) -> u16 {
        self.lock_names().len() as u16
    }

    async fn start(&mut self, redis: &Path) -> anyhow::Result<()> {
        let names = self.lock_names();
        let placement = self.opts.placement.clone();
        // Loopback ports for servers that share loopback (no placement, or a placement without
        // namespaces); a server in its own namespace takes the fixed port.
        let loopback = ports(self.opts.base_port, names.len())?;
        let mut started = Vec::new();
        for (name, free) in names.iter().zip(loopback) {
            let ip = match &placement {
                Some(p) => p.ip(name)?,
                None => IpAddr::V4(Ipv4Addr::LOCALHOST),
            };
            let port = if ip.is_loopback() { free } else { PLACED_PORT };
            let dir = self.opts.work_dir.join(name);
            let addr = SocketAddr::new(ip, port);
            // On an error, the servers started so far stop as `started` is dropped.
            started.push(RedisServer::start_at(name, redis, addr, &dir, placement.clone()).await?);
        }
        self.instances = started;
        Ok(())
    }

    /// Every client gets every instance.
    fn lock_args(&self) -> Vec<String> {
        let urls: Vec<String> = self.instances.iter().map(RedisServer::url).collect();
        vec![urls.join(",")]
    }

    fn servers(&self) -> Vec<NodeInfo> {
        self.instances.iter().map(RedisServer::info).collect()
    }

    fn exited(&mut self) -> Vec<(String, String)> {
        self.instances
            .iter_mut()
            .filter_map(RedisServer::exited)
            .collect()
    }

    async fn stop(&mut self) -> anyhow::Result<()> {
        self.instances.iter_mut().for_each(RedisServer::stop);
        Ok(())
    }

    /// Pause, and partitions and clock faults that name its lock servers (and, for
    /// partitions, its client groups), never the resource.
    fn fault_support(&self) -> FaultSupport {
        let servers = self.lock_names();
        let mut nameable: Vec<String> = servers.clone();
        nameable.extend(GROUPS.iter().map(|g| g.to_string()));
        let mut support = FaultSupport::only(
            "redlock",
            &[
                FaultFamily::Pause,
                FaultFamily::Partition,
                FaultFamily::Clock,
            ],
            |family| {
                format!(
                "target redlock takes pause, and partition and clock faults that name its nodes (see --nemesis redlock-clock), not {family}"
            )
            },
        );
        support.named_only = Some(NamedOnly {
            partition_what: format!(
                "its lock servers ({}) and client groups ({})",
                servers.join(", "),
                GROUPS.join(", ")
            ),
            partition: nameable,
            clock_what: "lock servers".into(),
            clock: servers,
            why: "the resource must stay reachable".into(),
            hint: "see --nemesis redlock-clock".into(),
        });
        support
    }
}

impl Drop for RedlockService {
    fn drop(&mut self) {
        self.instances.iter_mut().for_each(RedisServer::stop);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nemesis::schedule::Schedule;
    use crate::targets::Target;
    use std::path::PathBuf;

    fn target() -> RedlockTarget {
        let opts = TargetOptions {
            nodes: None,
            work_dir: PathBuf::from("/nonexistent"),
            base_port: 0,
            node_binary: PathBuf::from("ferrocheck"),
            seed: 1,
            placement: None,
            fsync: true,
        };
        RedlockTarget::new(opts, &RealOptions::default())
    }

    fn refusal(text: &str) -> Option<String> {
        let s = Schedule::parse(text, "test").unwrap();
        target().fault_support().refusal(&s)
    }

    #[test]
    fn the_network_knows_servers_resource_and_client_groups() {
        let t = target();
        assert_eq!(
            t.planned_nodes(),
            ["l1", "l2", "l3", "l4", "l5", "resource", "ga", "gb"]
        );
        assert_eq!(t.fault_targets(), ["holder"]);
        assert_eq!(RedlockTarget::group_of(4), "ga");
        assert_eq!(RedlockTarget::group_of(7), "gb");
    }

    #[test]
    fn schedules_must_name_nodes_and_spare_the_resource() {
        let builtin = Schedule::load("redlock-clock").unwrap();
        assert_eq!(target().fault_support().refusal(&builtin), None);
        assert_eq!(refusal("name = \"p\"\nfaults = [\"pause\"]"), None);
        let cut_resource = "name = \"x\"\nfaults = [\"partition\"]\n[partition]\nkinds = []\n\
                            explicit = [[[\"ga\", \"resource\"], [\"gb\"]]]";
        assert!(refusal(cut_resource)
            .unwrap()
            .contains("resource must stay reachable"));
        let clock_resource = "name = \"x\"\nfaults = [\"clock\"]\n[clock]\nnodes = [\"resource\"]";
        assert!(refusal(clock_resource)
            .unwrap()
            .contains("only the lock servers"));
        assert!(refusal("name = \"x\"\nfaults = [\"packet\"]")
            .unwrap()
            .contains("not packet"));
    }
}
