//! A RESP client for register workloads (`read`, `write`, `cas` on integer values), used for the
//! toy stores and for any server that speaks `GET`/`SET` plus the toy stores' `CAS`; and for the
//! data-type workloads (`set`, `queue`, `counter`, `bank`, whose keys name their type), with the
//! toy stores' commands for them (`SADD`, `LPUSH`/`RPOP`, `INCRBY`, `TRANSFER`, ...).
//!
//! Mapping a call to an [`Outcome`] is the heart of an honest history:
//!
//! - the connection could not be opened → `Fail` (nothing was sent);
//! - the reply arrived → `Ok`, or `Fail` for a cas whose compare failed or a `-NOTAPPLIED`
//!   error;
//! - anything else after the request may have left (an I/O error, end of stream, a timeout, any
//!   other error reply) → `Info`: it may have taken effect.
//!
//! The connection is opened lazily and dropped after any failure; the next call reconnects. It
//! is also dropped when a call is abandoned half-way (the controller's timeout drops the
//! future), because its reply could otherwise be read as the answer to the next request.

use super::register::RegisterOp;
use super::{Client, FailReason, Outcome, Request};
use crate::history::Value;
use crate::node::resp::{Connection, Frame};
use crate::node::NOT_APPLIED;
use std::net::SocketAddr;
use std::time::Duration;

/// How long to wait for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// A client for one node.
#[derive(Debug)]
pub struct RespClient {
    node: String,
    addr: SocketAddr,
    timeout: Duration,
    conn: Option<Connection>,
}

impl RespClient {
    /// A client for node `node` at `addr`; each call waits at most `timeout` for its reply.
    /// Connects on the first call.
    pub fn new(node: impl Into<String>, addr: SocketAddr, timeout: Duration) -> RespClient {
        RespClient {
            node: node.into(),
            addr,
            timeout,
            conn: None,
        }
    }

    /// Sends `command` and waits for its reply: `Err(outcome)` for a failure on the way
    /// (`Fail` when the connection could not be opened, `Info` once the request may have left).
    pub async fn call(&mut self, command: &Frame) -> Result<Frame, Outcome> {
        // Taken out while in use: if this future is dropped mid-call, the connection goes too.
        let mut conn = match self.conn.take().filter(|c| !c.is_stale()) {
            Some(conn) => conn,
            None => Connection::connect(self.addr, CONNECT_TIMEOUT)
                .await
                .map_err(|e| {
                    Outcome::Fail(FailReason::NotSent(format!(
                        "cannot connect to {} at {}: {e}",
                        self.node, self.addr
                    )))
                })?,
        };
        match tokio::time::timeout(self.timeout, conn.call(command)).await {
            Ok(Ok(reply)) => {
                self.conn = Some(conn);
                Ok(reply)
            }
            Ok(Err(e)) => Err(Outcome::Info(format!(
                "connection to {} lost after sending: {e}",
                self.node
            ))),
            Err(_) => Err(Outcome::Info(format!(
                "no reply from {} within {:?}",
                self.node, self.timeout
            ))),
        }
    }
}

/// The integer to send for a register value, or `None` for nil.
fn register_arg(v: &Value) -> Result<Option<String>, String> {
    match v {
        Value::Nil => Ok(None),
        Value::Int(i) => Ok(Some(i.to_string())),
        other => Err(format!(
            "register values must be integers or nil, got {other}"
        )),
    }
}

/// A value read back: integers as `Int`, anything else as `Str`.
fn read_value(bytes: Option<Vec<u8>>) -> Value {
    match bytes {
        None => Value::Nil,
        Some(b) => {
            let s = String::from_utf8_lossy(&b).into_owned();
            s.parse().map(Value::Int).unwrap_or(Value::Str(s))
        }
    }
}

/// The text of an integer argument of a data-type op: the value itself, or element `i` of a
/// list value.
fn int_arg(req: &Request, i: Option<usize>) -> Result<String, String> {
    let v = match i {
        None => Some(&req.value),
        Some(i) => req.value.as_list().and_then(|l| l.get(i)),
    };
    v.and_then(Value::as_int)
        .map(|n| n.to_string())
        .ok_or_else(|| format!("{} needs integers, got {}", req.f, req.value))
}

/// The toy stores' command for an op of a data-type workload (its key `kind:...` names the
/// type, see [`crate::workload::key_kind`]): `None` for a register key.
fn typed_command(req: &Request) -> Option<Result<Frame, String>> {
    let kind = crate::workload::key_kind(req.key.as_deref())?;
    let key = req.key.as_deref().unwrap_or_default();
    let (name, args): (&str, Vec<Option<usize>>) = match (kind, req.f.as_str()) {
        ("set", "add") => ("SADD", vec![None]),
        ("set", "read") => ("SMEMBERS", vec![]),
        ("counter", "add") => ("INCRBY", vec![None]),
        ("counter", "read") => ("GET", vec![]),
        ("queue", "enqueue") => ("LPUSH", vec![None]),
        ("queue", "dequeue") => ("RPOP", vec![]),
        ("bank", "init") => ("BANKINIT", vec![Some(0), Some(1)]),
        ("bank", "transfer") => ("TRANSFER", vec![Some(0), Some(1), Some(2)]),
        ("bank", "read") => ("BALANCES", vec![]),
        (kind, f) => return Some(Err(format!("unsupported op {f:?} on a {kind} key"))),
    };
    let words = match args
        .into_iter()
        .map(|i| int_arg(req, i))
        .collect::<Result<Vec<String>, String>>()
    {
        Ok(w) => w,
        Err(e) => return Some(Err(e)),
    };
    let mut all: Vec<Option<&[u8]>> = vec![Some(name.as_bytes()), Some(key.as_bytes())];
    all.extend(words.iter().map(|w| Some(w.as_bytes())));
    Some(Ok(Frame::command(&all)))
}

/// An integer from a RESP reply element (an integer or a bulk string of digits).
fn reply_int(frame: &Frame) -> Option<i64> {
    match frame {
        Frame::Integer(i) => Some(*i),
        Frame::Bulk(Some(b)) => std::str::from_utf8(b).ok()?.parse().ok(),
        _ => None,
    }
}

/// The outcome of a data-type op given a reply that is not an error, the same for the toy
/// stores and Redis (whose commands answer in the same shapes): `None` for a register key.
///
/// A set read's members come back sorted; a counter never written reads as 0; a dequeue of an
/// empty queue is ok with nil; a transfer answered `:0` was refused (insufficient funds), a
/// fail.
pub fn typed_outcome(req: &Request, reply: &Frame) -> Option<Outcome> {
    let kind = crate::workload::key_kind(req.key.as_deref())?;
    let ints = |items: &[Frame]| -> Option<Vec<Value>> {
        items.iter().map(|f| reply_int(f).map(Value::Int)).collect()
    };
    let unexpected = || Outcome::Info(format!("unexpected reply to {kind} {}: {reply:?}", req.f));
    Some(match (kind, req.f.as_str(), reply) {
        ("set", "read", Frame::Array(items)) => match ints(items.as_deref().unwrap_or_default()) {
            Some(mut members) => {
                members.sort();
                Outcome::Ok(Value::List(members))
            }
            None => unexpected(),
        },
        ("counter", "read", Frame::Bulk(None)) => Outcome::Ok(Value::Int(0)),
        ("counter", "read", r) => {
            reply_int(r).map_or_else(unexpected, |n| Outcome::Ok(Value::Int(n)))
        }
        ("queue", "dequeue", Frame::Bulk(None)) => Outcome::Ok(Value::Nil),
        ("queue", "dequeue", r) => {
            reply_int(r).map_or_else(unexpected, |n| Outcome::Ok(Value::Int(n)))
        }
        ("bank", "read", Frame::Array(items)) => match ints(items.as_deref().unwrap_or_default()) {
            Some(balances) => Outcome::Ok(Value::List(balances)),
            None => unexpected(),
        },
        ("bank", "transfer", Frame::Integer(0)) => {
            Outcome::Fail(FailReason::Refused("insufficient funds".into()))
        }
        ("bank", "transfer", Frame::Integer(1)) => Outcome::Ok(req.value.clone()),
        ("set" | "counter", "add", Frame::Integer(_))
        | ("queue", "enqueue", Frame::Integer(_))
        | ("bank", "init", Frame::Integer(_)) => Outcome::Ok(req.value.clone()),
        _ => unexpected(),
    })
}

/// The command for a request, or why there is none (a request that is never sent).
pub fn command_for(req: &Request) -> Result<Frame, String> {
    if let Some(typed) = typed_command(req) {
        return typed;
    }
    let key = req
        .key
        .as_deref()
        .ok_or_else(|| format!("{} needs a key", req.f))?
        .as_bytes();
    match RegisterOp::of(req)? {
        RegisterOp::Read => Ok(Frame::command(&[Some(b"GET"), Some(key)])),
        RegisterOp::Write(value) => {
            let v = register_arg(value)?.ok_or("cannot write nil")?;
            Ok(Frame::command(&[
                Some(b"SET"),
                Some(key),
                Some(v.as_bytes()),
            ]))
        }
        RegisterOp::Cas { from, to } => {
            let from = register_arg(from)?;
            let to = register_arg(to)?.ok_or("cannot cas to nil")?;
            Ok(Frame::command(&[
                Some(b"CAS"),
                Some(key),
                from.as_deref().map(str::as_bytes),
                Some(to.as_bytes()),
            ]))
        }
    }
}

/// The outcome of a request given the node's reply.
pub fn outcome_for(req: &Request, reply: Frame) -> Outcome {
    match (req.f.as_str(), reply) {
        (_, Frame::Error(e)) if e.split_whitespace().next() == Some(NOT_APPLIED) => {
            Outcome::Fail(FailReason::Refused(e))
        }
        (_, Frame::Error(e)) => Outcome::Info(e),
        (_, reply) if crate::workload::key_kind(req.key.as_deref()).is_some() => {
            typed_outcome(req, &reply).unwrap_or_else(|| Outcome::Info("no key kind".into()))
        }
        ("read", Frame::Bulk(b)) => Outcome::Ok(read_value(b)),
        ("write", Frame::Simple(s)) if s == "OK" => Outcome::Ok(req.value.clone()),
        ("cas", Frame::Integer(1)) => Outcome::Ok(req.value.clone()),
        ("cas", Frame::Integer(0)) => Outcome::Fail(FailReason::CompareFailed),
        (f, other) => Outcome::Info(format!("unexpected reply to {f}: {other:?}")),
    }
}

#[async_trait::async_trait]
impl Client for RespClient {
    async fn invoke(&mut self, req: &Request) -> Outcome {
        let command = match command_for(req) {
            Ok(command) => command,
            Err(why) => return Outcome::Fail(FailReason::NotSent(why)),
        };
        match self.call(&command).await {
            Ok(reply) => outcome_for(req, reply),
            Err(outcome) => outcome,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(f: &str, value: Value) -> Request {
        Request {
            f: f.into(),
            key: Some("k".into()),
            value,
        }
    }

    #[test]
    fn cas_from_nil_sends_a_nil_bulk() {
        let cas = req("cas", Value::List(vec![Value::Nil, Value::Int(3)]));
        let expected = Frame::command(&[Some(b"CAS"), Some(b"k"), None, Some(b"3")]);
        assert_eq!(command_for(&cas), Ok(expected));
    }

    #[test]
    fn replies_map_to_outcomes() {
        let read = req("read", Value::Nil);
        assert_eq!(
            outcome_for(&read, Frame::bulk("7")),
            Outcome::Ok(Value::Int(7))
        );
        assert_eq!(
            outcome_for(&read, Frame::Bulk(None)),
            Outcome::Ok(Value::Nil)
        );
        let cas = req("cas", Value::List(vec![Value::Int(1), Value::Int(2)]));
        assert_eq!(
            outcome_for(&cas, Frame::Integer(1)),
            Outcome::Ok(cas.value.clone())
        );
        assert!(matches!(
            outcome_for(&cas, Frame::Integer(0)),
            Outcome::Fail(_)
        ));
        let not_applied = Frame::error(NOT_APPLIED, "no quorum");
        assert!(matches!(outcome_for(&cas, not_applied), Outcome::Fail(_)));
        let other = Frame::error("ERR", "something");
        assert!(matches!(outcome_for(&cas, other), Outcome::Info(_)));
    }

    #[test]
    fn bad_requests_are_never_sent() {
        assert!(command_for(&req("write", Value::Str("x".into()))).is_err());
        assert!(command_for(&req("append", Value::Int(1))).is_err());
    }
}
