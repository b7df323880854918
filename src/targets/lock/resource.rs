//! The resource a lock protects: a list kept as one JSON string on its own redis-server.
//!
//! Clients update it the unsafe way on purpose — GET the whole list, then SET the whole list —
//! so only the lock stands between two clients and a lost update; Redis's own atomicity cannot
//! hide a broken lock. With fencing, every read and write goes through a Lua script that refuses
//! a token lower than the highest the resource has seen (and remembers the highest), which is
//! what makes a stale holder harmless.

use crate::history::Value;
use crate::targets::redis::{call, RedisConn};
use crate::targets::Outcome;

/// The key holding the list.
const KEY: &str = "resource";
/// The key holding the highest fencing token seen.
const FENCE_KEY: &str = "resource:fence";

/// Checks the fence (KEYS[2]) against ARGV[1], then returns the list (KEYS[1]).
const FENCED_READ: &str = r#"
local hi = tonumber(redis.call('GET', KEYS[2]) or '0')
local t = tonumber(ARGV[1])
if t < hi then
  return redis.error_reply('STALE token ' .. t .. ' is lower than ' .. hi .. ', the highest this resource has seen')
end
redis.call('SET', KEYS[2], t)
return redis.call('GET', KEYS[1])
"#;

/// Checks the fence (KEYS[2]) against ARGV[1], then stores ARGV[2] in KEYS[1].
const FENCED_WRITE: &str = r#"
local hi = tonumber(redis.call('GET', KEYS[2]) or '0')
local t = tonumber(ARGV[1])
if t < hi then
  return redis.error_reply('STALE token ' .. t .. ' is lower than ' .. hi .. ', the highest this resource has seen')
end
redis.call('SET', KEYS[2], t)
redis.call('SET', KEYS[1], ARGV[2])
return 1
"#;

/// A client of the protected resource.
pub struct Resource {
    conn: RedisConn,
}

/// The outcome for a redis error: a refused fence is certain (`fail`), anything else unknown.
fn refused_or_unknown(e: String) -> Outcome {
    match e.find("STALE") {
        Some(i) => Outcome::Fail(crate::targets::FailReason::Refused(format!(
            "fence refused: {}",
            e[i + "STALE".len()..].trim_start_matches([':', ' ', '-'])
        ))),
        None => Outcome::Info(e),
    }
}

/// The stored text back to a list (missing = empty).
fn decode(text: Option<String>) -> Result<Value, String> {
    match text {
        None => Ok(Value::List(Vec::new())),
        Some(t) => match serde_json::from_str::<Value>(&t) {
            Ok(v @ Value::List(_)) => Ok(v),
            Ok(other) => Err(format!("the resource holds {other}, not a list")),
            Err(e) => Err(format!("the resource holds {t:?}, not a JSON list: {e}")),
        },
    }
}

impl Resource {
    /// A resource on the Redis at `url`.
    pub fn new(url: &str) -> anyhow::Result<Self> {
        Ok(Resource {
            conn: RedisConn::new(url)?,
        })
    }

    /// Reads the list; with `fence`, only if the token is not stale.
    pub async fn read(&mut self, fence: Option<i64>) -> Outcome {
        let mut con = match self.conn.get().await {
            Ok(c) => c.clone(),
            Err(e) => return Outcome::Fail(crate::targets::FailReason::NotSent(e)),
        };
        let got = match fence {
            None => {
                let mut cmd = redis::cmd("GET");
                cmd.arg(KEY);
                let fut = cmd.query_async::<Option<String>>(&mut con);
                call(&mut self.conn, fut).await
            }
            Some(token) => {
                let script = redis::Script::new(FENCED_READ);
                let mut inv = script.key(KEY);
                inv.key(FENCE_KEY).arg(token);
                let fut = inv.invoke_async::<Option<String>>(&mut con);
                call(&mut self.conn, fut).await
            }
        };
        match got {
            Ok(text) => match decode(text) {
                Ok(list) => Outcome::Ok(list),
                Err(e) => Outcome::Fail(crate::targets::FailReason::Other(e)),
            },
            Err(e) => refused_or_unknown(e),
        }
    }

    /// Replaces the list with `value`; with `fence`, only if the token is not stale.
    pub async fn write(&mut self, value: &Value, fence: Option<i64>) -> Outcome {
        if value.as_list().is_none() {
            return Outcome::Fail(crate::targets::FailReason::NotSent(format!(
                "a write needs the whole list, got {value}"
            )));
        }
        let text = match serde_json::to_string(value) {
            Ok(t) => t,
            Err(e) => {
                return Outcome::Fail(crate::targets::FailReason::NotSent(format!(
                    "cannot encode {value}: {e}"
                )))
            }
        };
        let mut con = match self.conn.get().await {
            Ok(c) => c.clone(),
            Err(e) => return Outcome::Fail(crate::targets::FailReason::NotSent(e)),
        };
        let done = match fence {
            None => {
                let mut cmd = redis::cmd("SET");
                cmd.arg(KEY).arg(&text);
                let fut = cmd.query_async::<()>(&mut con);
                call(&mut self.conn, fut).await
            }
            Some(token) => {
                let script = redis::Script::new(FENCED_WRITE);
                let mut inv = script.key(KEY);
                inv.key(FENCE_KEY).arg(token).arg(&text);
                let fut = inv.invoke_async::<i64>(&mut con);
                call(&mut self.conn, fut).await.map(|_| ())
            }
        };
        match done {
            Ok(()) => Outcome::Ok(value.clone()),
            Err(e) => refused_or_unknown(e),
        }
    }
}
