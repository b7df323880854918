//! The HTTP client of a described target (`protocol = "http-json"`): each op is the request
//! template of its `[ops.NAME]` table, with a JSON body, and a read's value is found in the
//! reply by a JSON pointer.
//!
//! A status the file's `[replies]` name means what they say (fail or info); any other 2xx is
//! ok; any other status is `info` (the server may have acted before answering). A connection
//! that could not be opened is `fail` (nothing was sent); a timeout or a broken reply is `info`.

use super::file::{expand, HttpOp, Match, Meaning, TargetFile};
use crate::history::Value;
use crate::targets::{Client, FailReason, Outcome, Request};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// True when the node answers its `ping` op (or `GET /`) with a status below 500.
pub async fn ping(file: &TargetFile, addr: SocketAddr) -> bool {
    let path = file.http_ops.get("ping").map_or("/", |p| p.path.as_str());
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .no_proxy()
        .build()
    else {
        return false;
    };
    match client.get(format!("http://{addr}{path}")).send().await {
        Ok(r) => r.status().as_u16() < 500,
        Err(_) => false,
    }
}

/// A client for one node of an HTTP target.
#[derive(Debug)]
pub struct HttpClient {
    file: Arc<TargetFile>,
    base: String,
    http: reqwest::Client,
}

impl HttpClient {
    /// A client for the node at `addr`; each call waits at most `timeout`.
    pub fn new(file: Arc<TargetFile>, addr: SocketAddr, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(1))
            .no_proxy()
            .build()
            .map_err(|e| anyhow::anyhow!("cannot make an HTTP client: {e}"))?;
        Ok(HttpClient {
            file,
            base: format!("http://{addr}"),
            http,
        })
    }
}

/// The JSON of a history value.
fn json_of(v: &Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// A JSON value from a reply as a history value (numbers that are integers as integers).
fn value_of(j: &serde_json::Value) -> Value {
    match j {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(Value::Int)
            .unwrap_or_else(|| Value::Str(n.to_string())),
        serde_json::Value::String(s) => s.parse().map(Value::Int).unwrap_or(Value::Str(s.clone())),
        serde_json::Value::Array(a) => Value::List(a.iter().map(value_of).collect()),
        other => Value::Str(other.to_string()),
    }
}

/// The value of placeholder `p` for `req`.
fn op_var(req: &Request, p: &str) -> Option<Value> {
    match p {
        "value" => Some(req.value.clone()),
        "from" => req.value.as_list().and_then(|l| l.first()).cloned(),
        "to" => req.value.as_list().and_then(|l| l.get(1)).cloned(),
        _ => None,
    }
}

/// The path and body of `req` from its template.
pub fn request_parts(op: &HttpOp, req: &Request) -> Result<(String, Option<String>), String> {
    let key = req.key.clone().unwrap_or_default();
    let mut missing = None;
    let path = expand(&op.path, |p| {
        let text = match p {
            "key" => key.clone(),
            _ => match op_var(req, p) {
                Some(Value::Nil) => String::new(),
                Some(Value::Str(s)) => s,
                Some(v) => v.to_string(),
                None => {
                    missing = Some(p.to_string());
                    return None;
                }
            },
        };
        Some(
            percent_encoding::utf8_percent_encode(&text, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
        )
    });
    let body = op.body.as_ref().map(|b| {
        expand(b, |p| match p {
            "key" => Some(serde_json::Value::String(key.clone()).to_string()),
            _ => match op_var(req, p) {
                Some(v) => Some(json_of(&v).to_string()),
                None => {
                    missing = Some(p.to_string());
                    None
                }
            },
        })
    });
    match missing {
        Some(p) => Err(format!(
            "{} has no {{{p}}} (its value is {})",
            req.f, req.value
        )),
        None => Ok((path, body)),
    }
}

/// The outcome of `req` given the reply's status and body.
pub fn outcome(file: &TargetFile, op: &HttpOp, req: &Request, status: u16, body: &str) -> Outcome {
    if let Some(r) = file.rule_for(&Match::Status(status)) {
        return match r.meaning {
            Meaning::Fail => Outcome::Fail(FailReason::from_text(r.error.clone())),
            Meaning::Info => Outcome::Info(format!("{} (HTTP {status})", r.error)),
        };
    }
    if !(200..300).contains(&status) {
        let short: String = body.chars().take(200).collect();
        return Outcome::Info(format!("HTTP {status}: {short}"));
    }
    let Some(pointer) = &op.value else {
        return Outcome::Ok(req.value.clone());
    };
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(j) => Outcome::Ok(j.pointer(pointer).map_or(Value::Nil, value_of)),
        Err(e) => Outcome::Info(format!("the reply to {} is not JSON ({e}): {body}", req.f)),
    }
}

#[async_trait::async_trait]
impl Client for HttpClient {
    async fn invoke(&mut self, req: &Request) -> Outcome {
        let Some(op) = self.file.http_ops.get(&req.f) else {
            return Outcome::Fail(FailReason::NotSent(format!(
                "target {} has no [ops.{}] table",
                self.file.name, req.f
            )));
        };
        let (path, body) = match request_parts(op, req) {
            Ok(p) => p,
            Err(why) => return Outcome::Fail(FailReason::NotSent(why)),
        };
        let method = match reqwest::Method::from_bytes(op.method.as_bytes()) {
            Ok(m) => m,
            Err(_) => {
                return Outcome::Fail(FailReason::NotSent(format!(
                    "bad HTTP method {:?}",
                    op.method
                )))
            }
        };
        let mut r = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            r = r.header("content-type", "application/json").body(b);
        }
        let reply = match r.send().await {
            Ok(reply) => reply,
            Err(e) if e.is_connect() => {
                return Outcome::Fail(FailReason::NotSent(format!(
                    "cannot connect to {}: {e}",
                    self.base
                )))
            }
            Err(e) => return Outcome::Info(format!("no answer from {}: {e}", self.base)),
        };
        let status = reply.status().as_u16();
        match reply.text().await {
            Ok(text) => outcome(&self.file, op, req, status, &text),
            Err(e) => Outcome::Info(format!("the reply from {} broke off: {e}", self.base)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toml_file::Source;

    fn file() -> TargetFile {
        let text = r#"
name = "h"
nodes = 1
command = ["x"]
protocol = "http-json"
[ops.read]
path = "/kv/{key}"
value = "/value"
[ops.write]
method = "PUT"
path = "/kv/{key}"
body = '{"value": {value}}'
[ops.cas]
method = "POST"
path = "/cas/{key}"
body = '{"from": {from}, "to": {to}}'
[replies.compare-failed]
match = [409]
means = "fail"
"#;
        let src = Source {
            origin: "t".into(),
            text: text.into(),
        };
        TargetFile::parse(&src, ".".into()).unwrap()
    }

    fn req(f: &str, value: Value) -> Request {
        Request {
            f: f.into(),
            key: Some("k 1".into()),
            value,
        }
    }

    #[test]
    fn requests_are_filled_in_as_json() {
        let f = file();
        let cas = req("cas", Value::List(vec![Value::Nil, Value::Int(3)]));
        let (path, body) = request_parts(&f.http_ops["cas"], &cas).unwrap();
        assert_eq!(path, "/cas/k%201");
        let body: serde_json::Value = serde_json::from_str(&body.unwrap()).unwrap();
        assert_eq!(body, serde_json::json!({"from": null, "to": 3}));
        assert!(request_parts(&f.http_ops["cas"], &req("cas", Value::Int(1))).is_err());
    }

    #[test]
    fn statuses_and_bodies_map_to_outcomes() {
        let f = file();
        let read = req("read", Value::Nil);
        let op = &f.http_ops["read"];
        assert_eq!(
            outcome(&f, op, &read, 200, r#"{"value": 4}"#),
            Outcome::Ok(Value::Int(4))
        );
        assert_eq!(
            outcome(&f, op, &read, 200, r#"{"value": null}"#),
            Outcome::Ok(Value::Nil)
        );
        assert!(matches!(
            outcome(&f, op, &read, 200, "nope"),
            Outcome::Info(_)
        ));
        assert!(matches!(outcome(&f, op, &read, 503, ""), Outcome::Info(_)));
        let cas = req("cas", Value::List(vec![Value::Int(1), Value::Int(2)]));
        let op = &f.http_ops["cas"];
        assert_eq!(
            outcome(&f, op, &cas, 409, ""),
            Outcome::Fail(FailReason::CompareFailed)
        );
        assert_eq!(
            outcome(&f, op, &cas, 200, "{}"),
            Outcome::Ok(cas.value.clone())
        );
    }
}
