//! A small etcd v3 client over etcd's JSON gateway (plain HTTP on 127.0.0.1, no TLS).
//!
//! The gateway speaks the gRPC messages as JSON: keys and values are base64, 64-bit integers are
//! JSON strings, fields with zero values (false, 0, empty) are left out, and errors come back as
//! `{"error": ..., "code": <gRPC code>}`. etcd 3.4 serves it under `/v3/` (and the older
//! `/v3beta/`). Every call has a timeout; an error says whether the request certainly did not
//! take effect ([`EtcdError::definite`]) or may have.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How an etcd call went wrong.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// The connection could not be made: nothing was sent.
    #[error("cannot connect to etcd at {url}: {why}")]
    Connect {
        /// The endpoint.
        url: String,
        /// The cause.
        why: String,
    },
    /// Sent, but no (readable) answer: it may or may not have taken effect.
    #[error("no answer from etcd at {url}: {why}")]
    Unknown {
        /// The endpoint.
        url: String,
        /// The cause.
        why: String,
    },
    /// etcd answered with an error.
    #[error("etcd refused: {message} (gRPC code {code})")]
    Status {
        /// The gRPC status code (14 unavailable, 4 deadline exceeded, ...).
        code: i64,
        /// etcd's message.
        message: String,
    },
}

impl EtcdError {
    /// True when the request certainly did not take effect.
    pub fn definite(&self) -> bool {
        match self {
            EtcdError::Connect { .. } => true,
            EtcdError::Unknown { .. } => false,
            // Unavailable / deadline exceeded / unknown may have been proposed to raft already.
            EtcdError::Status { code, .. } => !matches!(code, 2 | 4 | 14),
        }
    }
}

/// The JSON error body.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: i64,
}

/// A key-value pair as the gateway returns it.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct KeyValue {
    /// base64 key.
    #[serde(default)]
    pub key: String,
    /// base64 value.
    #[serde(default)]
    pub value: String,
    /// Revision of the last change, as a string.
    #[serde(default)]
    pub mod_revision: String,
    /// Revision of creation, as a string.
    #[serde(default)]
    pub create_revision: String,
}

/// The response header (revision as a string).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ResponseHeader {
    /// The store's revision when the request was served.
    #[serde(default)]
    pub revision: String,
}

#[derive(Deserialize)]
struct RangeResponse {
    #[serde(default)]
    kvs: Vec<KeyValue>,
}

#[derive(Deserialize)]
struct TxnResponse {
    #[serde(default)]
    succeeded: bool,
}

#[derive(Deserialize)]
struct LeaseGrantResponse {
    #[serde(rename = "ID", default)]
    id: String,
}

#[derive(Deserialize)]
struct LockResponse {
    #[serde(default)]
    header: ResponseHeader,
    #[serde(default)]
    key: String,
}

#[derive(Deserialize)]
struct Ignored {}

/// Base64 of a string, as the gateway wants keys and values.
pub fn b64(s: &str) -> String {
    B64.encode(s.as_bytes())
}

/// A base64 field back to text.
pub fn unb64(s: &str) -> Result<String, String> {
    let bytes = B64
        .decode(s)
        .map_err(|e| format!("etcd sent bad base64 {s:?}: {e}"))?;
    String::from_utf8(bytes).map_err(|e| format!("etcd sent a non-UTF-8 value: {e}"))
}

/// An error and its causes, `: `-separated (reqwest hides the useful part in the causes).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}

fn int(s: &str) -> i64 {
    s.parse().unwrap_or(0)
}

/// A client of one etcd member.
#[derive(Clone, Debug)]
pub struct EtcdClient {
    http: reqwest::Client,
    base: String,
}

impl EtcdClient {
    /// A client of the member whose client URL is `base` (`http://127.0.0.1:P`), each call
    /// bounded by `timeout`.
    pub fn new(base: &str, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(1)))
            .no_proxy()
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build an HTTP client: {e}"))?;
        Ok(EtcdClient {
            http,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    /// The member's client URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// POSTs `body` to `/v3/<path>` and decodes the answer.
    async fn post<B: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R, EtcdError> {
        let url = format!("{}/v3/{path}", self.base);
        let resp = self.http.post(&url).json(body).send().await.map_err(|e| {
            if e.is_connect() {
                EtcdError::Connect {
                    url: url.clone(),
                    why: chain(&e),
                }
            } else {
                EtcdError::Unknown {
                    url: url.clone(),
                    why: chain(&e),
                }
            }
        })?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| EtcdError::Unknown {
            url: url.clone(),
            why: chain(&e),
        })?;
        if !status.is_success() {
            return Err(match serde_json::from_str::<ErrorBody>(&text) {
                Ok(b) => EtcdError::Status {
                    code: b.code,
                    message: if b.message.is_empty() {
                        b.error
                    } else {
                        b.message
                    },
                },
                Err(_) => EtcdError::Unknown {
                    url,
                    why: format!("HTTP {status}: {}", text.trim()),
                },
            });
        }
        serde_json::from_str(&text).map_err(|e| EtcdError::Unknown {
            url,
            why: format!("unreadable answer {text:?}: {e}"),
        })
    }

    /// The value of `key` (`None` when absent). `serializable` reads the member's local copy
    /// (fast, possibly stale); otherwise the read is linearizable.
    pub async fn get(&self, key: &str, serializable: bool) -> Result<Option<String>, EtcdError> {
        let mut body = serde_json::json!({"key": b64(key)});
        if serializable {
            body["serializable"] = serde_json::Value::Bool(true);
        }
        let r: RangeResponse = self.post("kv/range", &body).await?;
        match r.kvs.first() {
            None => Ok(None),
            Some(kv) => unb64(&kv.value)
                .map(Some)
                .map_err(|why| EtcdError::Unknown {
                    url: self.base.clone(),
                    why,
                }),
        }
    }

    /// Sets `key` to `value`.
    pub async fn put(&self, key: &str, value: &str) -> Result<(), EtcdError> {
        let _: Ignored = self
            .post(
                "kv/put",
                &serde_json::json!({"key": b64(key), "value": b64(value)}),
            )
            .await?;
        Ok(())
    }

    /// Sets `key` to `new` if it holds `expected` (`None` = absent), in one transaction.
    /// Returns whether it did.
    pub async fn cas(
        &self,
        key: &str,
        expected: Option<&str>,
        new: &str,
    ) -> Result<bool, EtcdError> {
        let compare = match expected {
            // Absent: the key was never created (create revision 0; the gateway omits the zero).
            None => serde_json::json!({"target": "CREATE", "key": b64(key), "result": "EQUAL"}),
            Some(v) => {
                serde_json::json!({"target": "VALUE", "key": b64(key), "result": "EQUAL", "value": b64(v)})
            }
        };
        let body = serde_json::json!({
            "compare": [compare],
            "success": [{"requestPut": {"key": b64(key), "value": b64(new)}}],
        });
        let r: TxnResponse = self.post("kv/txn", &body).await?;
        Ok(r.succeeded)
    }

    /// Grants a lease of `ttl_s` seconds (etcd may round it up to its minimum); its id.
    pub async fn lease_grant(&self, ttl_s: i64) -> Result<i64, EtcdError> {
        let r: LeaseGrantResponse = self
            .post(
                "lease/grant",
                &serde_json::json!({"TTL": ttl_s.to_string()}),
            )
            .await?;
        Ok(int(&r.id))
    }

    /// Revokes a lease, deleting every key attached to it.
    pub async fn lease_revoke(&self, id: i64) -> Result<(), EtcdError> {
        let _: Ignored = self
            .post("lease/revoke", &serde_json::json!({"ID": id.to_string()}))
            .await?;
        Ok(())
    }

    /// Waits for the lock `name`, held under lease `lease`; returns the lock's key (to unlock)
    /// and the revision at which it was taken (a fencing token: it only grows).
    pub async fn lock(&self, name: &str, lease: i64) -> Result<(String, i64), EtcdError> {
        let r: LockResponse = self
            .post(
                "lock/lock",
                &serde_json::json!({"name": b64(name), "lease": lease.to_string()}),
            )
            .await?;
        Ok((r.key, int(&r.header.revision)))
    }

    /// Releases the lock whose key (base64, as `lock` returned it) is `key`.
    pub async fn unlock(&self, key: &str) -> Result<(), EtcdError> {
        let _: Ignored = self
            .post("lock/unlock", &serde_json::json!({"key": key}))
            .await?;
        Ok(())
    }

    /// True if the member answers a serializable read.
    pub async fn ready(&self) -> bool {
        self.get("ferrocheck-ready", true).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_json_shapes() {
        assert_eq!(b64("foo"), "Zm9v");
        assert_eq!(unb64("YmFy").unwrap(), "bar");
        assert!(unb64("%%").is_err());
        // Zero values are left out: an empty range and a failed txn.
        let r: RangeResponse = serde_json::from_str(r#"{"header":{"revision":"3"}}"#).unwrap();
        assert!(r.kvs.is_empty());
        let t: TxnResponse = serde_json::from_str(r#"{"header":{"revision":"3"}}"#).unwrap();
        assert!(!t.succeeded);
        let l: LockResponse =
            serde_json::from_str(r#"{"header":{"revision":"4"},"key":"bG9jay8x"}"#).unwrap();
        assert_eq!((l.key.as_str(), int(&l.header.revision)), ("bG9jay8x", 4));
        let e: ErrorBody = serde_json::from_str(
            r#"{"error":"x","message":"etcdserver: request timed out","code":14}"#,
        )
        .unwrap();
        assert_eq!(e.code, 14);
        assert!(!EtcdError::Status {
            code: 14,
            message: e.message
        }
        .definite());
        assert!(EtcdError::Status {
            code: 3,
            message: String::new()
        }
        .definite());
    }
}
