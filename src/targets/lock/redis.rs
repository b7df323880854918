//! `redis-lock`: the single-instance Redis lease lock, and the target that runs it.
//!
//! Acquire is `SET lock <random value> NX PX <ttl>`; release is a compare-and-delete script, so
//! a client never deletes a lock someone else now holds. With fencing, the acquire script also
//! INCRs a counter and returns it as the token. The service is one redis-server, `lock`; the
//! resource is on a second (`resource`, started by [`LockTarget`]), so the resource's updates
//! are not made atomic by the lock's server.

use crate::history::Value;
use crate::targets::lock::target::{LockService, LockTarget};
use crate::targets::lock::{LockClient, LockOptions};
use crate::targets::real::RealOptions;
use crate::targets::redis::{call, start_servers, RedisConn, RedisServer};
use crate::targets::{NodeInfo, TargetOptions};
use async_trait::async_trait;
use rand::Rng;
use std::path::Path;

/// The lock's key.
const LOCK_KEY: &str = "lock";
/// The fencing counter's key.
const COUNTER_KEY: &str = "lock:fence";

/// Takes the lock (KEYS[1] = ARGV[1], for ARGV[2] ms) if free and returns the next fencing token
/// from KEYS[2]; 0 if the lock is held.
const FENCED_ACQUIRE: &str = r#"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0
"#;

/// Deletes KEYS[1] only if it still holds ARGV[1] (this client's value).
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

/// One client's view of the Redis lease lock.
pub struct RedisLock {
    conn: RedisConn,
    ttl_ms: u64,
    fencing: bool,
    /// The random value of the current hold, which release compares.
    value: String,
}

impl RedisLock {
    /// A lock on the Redis at `url`.
    pub fn new(url: &str, opts: &LockOptions) -> anyhow::Result<Self> {
        Ok(RedisLock {
            conn: RedisConn::new(url)?,
            ttl_ms: opts.ttl.as_millis().max(1) as u64,
            fencing: opts.fencing,
            value: String::new(),
        })
    }
}

#[async_trait]
impl LockClient for RedisLock {
    async fn try_acquire(&mut self) -> Result<Option<Value>, String> {
        let value = format!(
            "{}-{:016x}",
            std::process::id(),
            rand::thread_rng().gen::<u64>()
        );
        let mut con = match self.conn.get().await {
            Ok(c) => c.clone(),
            // Nothing was sent, so the lock certainly was not taken.
            Err(_) => return Ok(None),
        };
        if self.fencing {
            let script = redis::Script::new(FENCED_ACQUIRE);
            let mut inv = script.key(LOCK_KEY);
            inv.key(COUNTER_KEY).arg(&value).arg(self.ttl_ms);
            let fut = inv.invoke_async::<i64>(&mut con);
            match call(&mut self.conn, fut).await? {
                0 => Ok(None),
                token => {
                    self.value = value;
                    Ok(Some(Value::Int(token)))
                }
            }
        } else {
            let mut cmd = redis::cmd("SET");
            cmd.arg(LOCK_KEY)
                .arg(&value)
                .arg("NX")
                .arg("PX")
                .arg(self.ttl_ms);
            let fut = cmd.query_async::<Option<String>>(&mut con);
            match call(&mut self.conn, fut).await? {
                Some(_) => {
                    self.value = value.clone();
                    Ok(Some(Value::Str(value)))
                }
                None => Ok(None),
            }
        }
    }

    async fn release(&mut self) -> Result<bool, String> {
        let mut con = match self.conn.get().await {
            Ok(c) => c.clone(),
            Err(e) => return Err(e),
        };
        let script = redis::Script::new(RELEASE);
        let mut inv = script.key(LOCK_KEY);
        inv.arg(&self.value);
        let fut = inv.invoke_async::<i64>(&mut con);
        call(&mut self.conn, fut).await.map(|n| n == 1)
    }
}

/// The `redis-lock` lock service: one redis-server, `lock`.
pub struct RedisLockService {
    opts: TargetOptions,
    server: Vec<RedisServer>,
}

/// The `redis-lock` target.
pub type RedisLockTarget = LockTarget<RedisLockService>;

#[async_trait]
impl LockService for RedisLockService {
    const NAME: &'static str = "redis-lock";
    const BACKEND: &'static str = "redis";

    fn build(opts: &TargetOptions, _real: &RealOptions) -> Self {
        RedisLockService {
            opts: opts.clone(),
            server: Vec::new(),
        }
    }

    fn connect(lock: &str, opts: &LockOptions) -> anyhow::Result<Box<dyn LockClient>> {
        Ok(Box::new(RedisLock::new(lock, opts)?))
    }

    fn planned(&self) -> Vec<String> {
        vec!["lock".to_string()]
    }

    fn ports_used(&self) -> u16 {
        1
    }

    async fn start(&mut self, redis: &Path) -> anyhow::Result<()> {
        self.server = start_servers(&self.opts, redis, &self.planned()).await?;
        Ok(())
    }

    fn lock_args(&self) -> Vec<String> {
        self.server.iter().map(RedisServer::url).collect()
    }

    fn servers(&self) -> Vec<NodeInfo> {
        self.server.iter().map(RedisServer::info).collect()
    }

    fn exited(&mut self) -> Vec<(String, String)> {
        self.server
            .iter_mut()
            .filter_map(RedisServer::exited)
            .collect()
    }

    async fn stop(&mut self) -> anyhow::Result<()> {
        self.server.iter_mut().for_each(RedisServer::stop);
        Ok(())
    }
}
