//! The RESP client of a described target: each op is the command its target file gives
//! (`GET {key}`, `SET {key} {value}`, `CAS {key} {from} {to}` unless `[ops]` says otherwise),
//! sent over the toy stores' [`RespClient`] connection handling. Ops of the data-type
//! workloads use the entries named `KIND-f` (`set-add`, `queue-dequeue`, `bank-transfer`, ...;
//! see [`template_name`]), and their replies are read as the toy stores' are.
//!
//! Replies: a read's bulk string (or integer) is the value, nil is nil; a cas answered `:1` or
//! `+OK` happened, `:0` or nil did not (compare failed); any other op's non-error reply is ok.
//! An error reply is what the file's `[replies]` say it is (the toy stores' `NOTAPPLIED` is a
//! fail by default), else `info`: the server may have acted before it failed.

use super::file::{Match, Meaning, TargetFile};
use crate::history::Value;
use crate::node::resp::{Connection, Frame};
use crate::targets::resp_client::RespClient;
use crate::targets::{Client, FailReason, Outcome, Request};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// True when a RESP server answers `PING` with `+PONG` on `addr` within half a second.
pub async fn ping(addr: SocketAddr) -> bool {
    let ping = Frame::command(&[Some(b"PING")]);
    let answer = async {
        let mut conn = Connection::connect(addr, Duration::from_millis(300)).await?;
        conn.call(&ping).await
    };
    matches!(
        tokio::time::timeout(Duration::from_millis(500), answer).await,
        Ok(Ok(Frame::Simple(p))) if p == "PONG"
    )
}

/// A client for one node of a RESP target.
#[derive(Debug)]
pub struct TemplateClient {
    file: Arc<TargetFile>,
    conn: RespClient,
}

impl TemplateClient {
    /// A client for node `node` at `addr`; each call waits at most `timeout`.
    pub fn new(file: Arc<TargetFile>, node: String, addr: SocketAddr, timeout: Duration) -> Self {
        TemplateClient {
            file,
            conn: RespClient::new(node, addr, timeout),
        }
    }
}

/// The text of a value in a command (nil as an empty string).
fn text(v: &Value) -> String {
    match v {
        Value::Nil => String::new(),
        Value::Int(i) => i.to_string(),
        Value::Str(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The value of placeholder `p` for `req` (`None`: not set for this request).
fn op_var<'a>(req: &'a Request, p: &str) -> Option<&'a Value> {
    match p {
        "value" => Some(&req.value),
        "from" => req.value.as_list().and_then(|l| l.first()),
        "to" => req.value.as_list().and_then(|l| l.get(1)),
        "accounts" => req.value.as_list().and_then(|l| l.first()),
        "balance" => req.value.as_list().and_then(|l| l.get(1)),
        "amount" => req.value.as_list().and_then(|l| l.get(2)),
        _ => None,
    }
}

/// The `[ops]` entry a request uses: its `f`, or `KIND-f` (`set-add`, `bank-transfer`) for an
/// op of a data-type workload, whose key names the type (`set:k0`).
pub fn template_name(req: &Request) -> String {
    match crate::workload::key_kind(req.key.as_deref()) {
        Some(kind) => format!("{kind}-{}", req.f),
        None => req.f.clone(),
    }
}

/// The command for `req` from `template`: a word that is exactly one nil placeholder is sent
/// as the nil bulk string.
pub fn command(template: &[String], req: &Request) -> Result<Frame, String> {
    let key = req.key.clone().unwrap_or_default();
    let mut words: Vec<Option<Vec<u8>>> = Vec::new();
    for w in template {
        let ps = super::file::placeholders(w);
        if let [p] = ps[..] {
            if w == &format!("{{{p}}}") && p != "key" {
                let v = op_var(req, p).ok_or_else(|| {
                    format!("{} has no {{{p}}} (its value is {})", req.f, req.value)
                })?;
                words.push((*v != Value::Nil).then(|| text(v).into_bytes()));
                continue;
            }
        }
        let mut missing = None;
        let word = super::file::expand(w, |p| {
            if p == "key" {
                return Some(key.clone());
            }
            let v = op_var(req, p).map(text);
            if v.is_none() {
                missing = Some(p.to_string());
            }
            v
        });
        if let Some(p) = missing {
            return Err(format!(
                "{} has no {{{p}}} (its value is {})",
                req.f, req.value
            ));
        }
        words.push(Some(word.into_bytes()));
    }
    let refs: Vec<Option<&[u8]>> = words.iter().map(|w| w.as_deref()).collect();
    Ok(Frame::command(&refs))
}

/// A value read back: an integer when it parses as one.
fn decode(bytes: &[u8]) -> Value {
    let s = String::from_utf8_lossy(bytes).into_owned();
    s.parse().map(Value::Int).unwrap_or(Value::Str(s))
}

/// The outcome of `req` given `reply`, as `file` says replies are to be read.
pub fn outcome(file: &TargetFile, req: &Request, reply: Frame) -> Outcome {
    if let Frame::Error(e) = &reply {
        return match file.rule_for(&Match::Text(e.clone())) {
            Some(r) if r.meaning == Meaning::Fail => {
                Outcome::Fail(FailReason::from_text(r.error.clone()))
            }
            Some(r) => Outcome::Info(format!("{}: {e}", r.error)),
            None => Outcome::Info(e.clone()),
        };
    }
    if let Some(o) = crate::targets::resp_client::typed_outcome(req, &reply) {
        return o;
    }
    match (req.f.as_str(), reply) {
        ("read", Frame::Bulk(None)) => Outcome::Ok(Value::Nil),
        ("read", Frame::Bulk(Some(b))) => Outcome::Ok(decode(&b)),
        ("read", Frame::Integer(i)) => Outcome::Ok(Value::Int(i)),
        ("read", other) => Outcome::Info(format!("unexpected reply to read: {other:?}")),
        ("cas", Frame::Integer(1)) => Outcome::Ok(req.value.clone()),
        ("cas", Frame::Simple(s)) if s == "OK" => Outcome::Ok(req.value.clone()),
        ("cas", Frame::Integer(0) | Frame::Bulk(None)) => Outcome::Fail(FailReason::CompareFailed),
        ("cas", other) => Outcome::Info(format!("unexpected reply to cas: {other:?}")),
        _ => Outcome::Ok(req.value.clone()),
    }
}

#[async_trait::async_trait]
impl Client for TemplateClient {
    async fn invoke(&mut self, req: &Request) -> Outcome {
        let op = template_name(req);
        let Some(template) = self.file.resp_ops.get(&op) else {
            return Outcome::Fail(FailReason::NotSent(format!(
                "target {} has no {op:?} in its [ops]",
                self.file.name
            )));
        };
        let cmd = match command(template, req) {
            Ok(c) => c,
            Err(why) => return Outcome::Fail(FailReason::NotSent(why)),
        };
        match self.conn.call(&cmd).await {
            Ok(reply) => outcome(&self.file, req, reply),
            Err(o) => o,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toml_file::Source;

    fn file() -> TargetFile {
        let src = Source {
            origin: "t".into(),
            text: "name = \"t\"\nnodes = 1\ncommand = [\"x\"]\nprotocol = \"resp\"\n\
                   [replies.not-leader]\nmatch = [\"MOVED\"]\nmeans = \"fail\"\n"
                .into(),
        };
        TargetFile::parse(&src, ".".into()).unwrap()
    }

    fn req(f: &str, value: Value) -> Request {
        Request {
            f: f.into(),
            key: Some("k1".into()),
            value,
        }
    }

    #[test]
    fn templates_fill_in_the_request() {
        let f = file();
        let cas = req("cas", Value::List(vec![Value::Nil, Value::Int(3)]));
        assert_eq!(
            command(&f.resp_ops["cas"], &cas),
            Ok(Frame::command(&[
                Some(b"CAS"),
                Some(b"k1"),
                None,
                Some(b"3")
            ]))
        );
        let t: Vec<String> = ["EVAL", "s", "1", "{key}", "x{from}", "{to}"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            command(&t, &cas),
            Ok(Frame::command(&[
                Some(b"EVAL"),
                Some(b"s"),
                Some(b"1"),
                Some(b"k1"),
                Some(b"x"),
                Some(b"3")
            ]))
        );
        assert!(command(&t, &req("write", Value::Int(1))).is_err());
    }

    #[test]
    fn replies_map_as_the_file_says() {
        let f = file();
        let read = req("read", Value::Nil);
        assert_eq!(
            outcome(&f, &read, Frame::bulk("4")),
            Outcome::Ok(Value::Int(4))
        );
        assert_eq!(
            outcome(&f, &read, Frame::Bulk(None)),
            Outcome::Ok(Value::Nil)
        );
        let cas = req("cas", Value::List(vec![Value::Int(1), Value::Int(2)]));
        assert_eq!(
            outcome(&f, &cas, Frame::Integer(0)),
            Outcome::Fail(FailReason::CompareFailed)
        );
        assert_eq!(
            outcome(&f, &cas, Frame::Error("MOVED n1".into())),
            Outcome::Fail(FailReason::Other("not leader".into()))
        );
        assert_eq!(
            outcome(&f, &cas, Frame::Error("NOTAPPLIED no quorum".into())),
            Outcome::Fail(FailReason::Other("not applied".into()))
        );
        assert!(matches!(
            outcome(&f, &cas, Frame::Error("ERR boom".into())),
            Outcome::Info(_)
        ));
    }
}
