//! Built-in services a node may send requests to, with Maelstrom's semantics: `lin-kv` (a
//! linearizable key-value store), `seq-kv` (sequentially consistent: a caller may be served an
//! old state, but never an older one than it saw before, and it always sees its own writes),
//! `lww-kv` (three replicas that each serve requests locally and merge by last-writer-wins
//! every few tens of milliseconds: reads may be stale, concurrent writes lost) and `lin-tso`
//! (a timestamp oracle handing out increasing integers).

use super::protocol::{error_body, Message};
use super::schema::{field, optional, Rpc, Section, Ty};
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{Map, Value as Json};
use std::collections::HashMap;

const KV_READ: Rpc = Rpc {
    name: "read",
    doc: "Read a key.",
    request: &[field("key", Ty::Any, "the key")],
    reply: &[field("value", Ty::Any, "its value")],
    errors: &[20],
};
const KV_WRITE: Rpc = Rpc {
    name: "write",
    doc: "Write a key.",
    request: &[
        field("key", Ty::Any, "the key"),
        field("value", Ty::Any, "the value"),
    ],
    reply: &[],
    errors: &[],
};
const KV_CAS: Rpc = Rpc {
    name: "cas",
    doc: "Set the key to `to` if it holds `from`.",
    request: &[
        field("key", Ty::Any, "the key"),
        field("from", Ty::Any, "the expected value"),
        field("to", Ty::Any, "the new value"),
        optional(
            "create_if_not_exists",
            Ty::Any,
            "true: a missing key counts as holding `from`",
        ),
    ],
    reply: &[],
    errors: &[20, 22],
};
const TS: Rpc = Rpc {
    name: "ts",
    doc: "Get a timestamp.",
    request: &[],
    reply: &[field(
        "ts",
        Ty::Int,
        "greater than every timestamp handed out before",
    )],
    errors: &[],
};

/// The services' declarations, for the docs.
pub const SECTIONS: &[Section] = &[
    Section { name: "lin-kv", doc: "A linearizable key-value store.", rpcs: &[KV_READ, KV_WRITE, KV_CAS] },
    Section { name: "seq-kv", doc: "A sequentially consistent key-value store: each caller sees the store's states in order and sees its own writes, but a read may return a state older than the latest.", rpcs: &[KV_READ, KV_WRITE, KV_CAS] },
    Section { name: "lww-kv", doc: "An eventually consistent key-value store: three replicas, each request served by a random one, replicas merged by last-writer-wins every few tens of milliseconds. Reads may be stale and go backwards; concurrent writes may be lost.", rpcs: &[KV_READ, KV_WRITE, KV_CAS] },
    Section { name: "lin-tso", doc: "A linearizable timestamp oracle.", rpcs: &[TS] },
];

/// The service names a node may use as `dest`.
pub const NAMES: &[&str] = &["lin-kv", "seq-kv", "lww-kv", "lin-tso"];

type Store = HashMap<String, Json>;

/// The services' state.
pub struct Services {
    rng: StdRng,
    lin: Store,
    /// seq-kv: per key the (version, value) history; the global version; per caller the
    /// version it last saw.
    seq_log: HashMap<String, Vec<(u64, Option<Json>)>>,
    seq_version: u64,
    seq_seen: HashMap<String, u64>,
    /// lww-kv: replicas of key → (timestamp, value).
    lww: Vec<HashMap<String, (u64, Json)>>,
    lww_next_merge: u64,
    tso: i64,
}

const LWW_REPLICAS: usize = 3;
const LWW_MERGE_NS: u64 = 50_000_000;

fn key_of(body: &Map<String, Json>) -> String {
    body.get("key").map(|k| k.to_string()).unwrap_or_default()
}

fn flag(body: &Map<String, Json>) -> bool {
    body.get("create_if_not_exists")
        .is_some_and(|v| v.as_bool() == Some(true))
}

/// One request on a plain map: the reply body (without `in_reply_to`).
fn apply(
    store: &mut Store,
    kind: &str,
    body: &Map<String, Json>,
) -> Result<Map<String, Json>, (u64, String)> {
    let key = key_of(body);
    let mut out = Map::new();
    match kind {
        "read" => {
            let v = store
                .get(&key)
                .ok_or((20, format!("key {key} does not exist")))?;
            out.insert("value".into(), v.clone());
        }
        "write" => {
            store.insert(key, body.get("value").cloned().unwrap_or(Json::Null));
        }
        _ => {
            let (from, to) = (
                body.get("from").cloned().unwrap_or(Json::Null),
                body.get("to").cloned().unwrap_or(Json::Null),
            );
            match store.get(&key) {
                None if !flag(body) => return Err((20, format!("key {key} does not exist"))),
                Some(v) if *v != from => return Err((22, format!("expected {from}, but had {v}"))),
                _ => {
                    store.insert(key, to);
                }
            }
        }
    }
    out.insert("type".into(), format!("{kind}_ok").into());
    Ok(out)
}

impl Services {
    /// Empty services.
    pub fn new(rng: StdRng) -> Services {
        Services {
            rng,
            lin: Store::new(),
            seq_log: HashMap::new(),
            seq_version: 0,
            seq_seen: HashMap::new(),
            lww: vec![HashMap::new(); LWW_REPLICAS],
            lww_next_merge: 0,
            tso: 0,
        }
    }

    /// Lets time pass: lww-kv's replicas merge.
    pub fn tick(&mut self, now: u64) {
        if now < self.lww_next_merge {
            return;
        }
        self.lww_next_merge = now + LWW_MERGE_NS;
        let a = self.rng.gen_range(0..LWW_REPLICAS);
        let b = self.rng.gen_range(0..LWW_REPLICAS);
        if a == b {
            return;
        }
        let theirs = self.lww[b].clone();
        for (k, (ts, v)) in theirs {
            let mine = self.lww[a].entry(k).or_insert((0, Json::Null));
            if ts > mine.0 {
                *mine = (ts, v);
            }
        }
    }

    /// Handles a request sent to service `msg.dest` at `now`; returns the reply.
    pub fn handle(&mut self, now: u64, msg: &Message) -> Message {
        let service = msg.dest.as_str();
        let kind = msg.kind();
        let rpcs = SECTIONS
            .iter()
            .find(|s| s.name == service)
            .map(|s| s.rpcs)
            .unwrap_or(&[]);
        let result = match rpcs.iter().find(|r| r.name == kind) {
            None => Err((
                10,
                format!("{service} does not support requests of type {kind:?}"),
            )),
            Some(rpc) => match rpc.check_request(&msg.body) {
                Err(e) => Err((12, format!("malformed {kind} request to {service}: {e}"))),
                Ok(()) => self.serve(now, service, kind, &msg.src, &msg.body),
            },
        };
        let mut body = match result {
            Ok(b) => b,
            Err((code, text)) => error_body(None, code, &text),
        };
        if let Some(id) = msg.msg_id() {
            body.insert("in_reply_to".into(), id.into());
        }
        Message {
            src: msg.dest.clone(),
            dest: msg.src.clone(),
            body,
        }
    }

    fn serve(
        &mut self,
        now: u64,
        service: &str,
        kind: &str,
        caller: &str,
        body: &Map<String, Json>,
    ) -> Result<Map<String, Json>, (u64, String)> {
        match service {
            "lin-kv" => apply(&mut self.lin, kind, body),
            "seq-kv" => self.seq(kind, caller, body),
            "lww-kv" => {
                let r = self.rng.gen_range(0..LWW_REPLICAS);
                // Each replica's clock is a little off, so last-writer-wins can pick the older write.
                let ts = now + self.rng.gen_range(0..5_000_000) + 1;
                let mut plain: Store = self.lww[r]
                    .iter()
                    .map(|(k, (_, v))| (k.clone(), v.clone()))
                    .collect();
                plain.retain(|_, v| !v.is_null());
                let out = apply(&mut plain, kind, body)?;
                if kind != "read" {
                    let key = key_of(body);
                    if let Some(v) = plain.get(&key) {
                        self.lww[r].insert(key, (ts, v.clone()));
                    }
                }
                Ok(out)
            }
            _ => {
                self.tso += 1;
                let mut out = Map::new();
                out.insert("type".into(), "ts_ok".into());
                out.insert("ts".into(), self.tso.into());
                Ok(out)
            }
        }
    }

    fn seq_value(&self, key: &str, version: u64) -> Option<Json> {
        let log = self.seq_log.get(key)?;
        log.iter()
            .rev()
            .find(|(v, _)| *v <= version)
            .and_then(|(_, x)| x.clone())
    }

    fn seq(
        &mut self,
        kind: &str,
        caller: &str,
        body: &Map<String, Json>,
    ) -> Result<Map<String, Json>, (u64, String)> {
        let key = key_of(body);
        let seen = self.seq_seen.get(caller).copied().unwrap_or(0);
        if kind == "read" {
            // An old state, but not older than what this caller saw last.
            let v = if self.rng.gen_bool(0.5) {
                self.seq_version
            } else {
                self.rng.gen_range(seen..=self.seq_version)
            };
            self.seq_seen.insert(caller.to_owned(), v);
            let mut out = Map::new();
            let value = self
                .seq_value(&key, v)
                .ok_or((20, format!("key {key} does not exist")))?;
            out.insert("type".into(), "read_ok".into());
            out.insert("value".into(), value);
            return Ok(out);
        }
        // Writes apply to the latest state, and the caller sees it from now on.
        let mut latest: Store = Store::new();
        if let Some(v) = self.seq_value(&key, self.seq_version) {
            latest.insert(key.clone(), v);
        }
        self.seq_seen.insert(caller.to_owned(), self.seq_version);
        let out = apply(&mut latest, kind, body)?;
        self.seq_version += 1;
        let v = self.seq_version;
        self.seq_log
            .entry(key.clone())
            .or_default()
            .push((v, latest.remove(&key)));
        self.seq_seen.insert(caller.to_owned(), v);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use serde_json::json;

    fn req(svc: &Services, dest: &str, body: Json) -> Message {
        let _ = svc;
        Message {
            src: "n0".into(),
            dest: dest.into(),
            body: body.as_object().cloned().unwrap(),
        }
    }

    #[test]
    fn lin_kv_reads_writes_and_cas_with_maelstrom_errors() {
        let mut s = Services::new(StdRng::seed_from_u64(3));
        let r = s.handle(
            0,
            &req(&s, "lin-kv", json!({"type":"read","msg_id":1,"key":"a"})),
        );
        assert_eq!(
            (
                r.body["code"].clone(),
                r.body["in_reply_to"].clone(),
                r.dest.as_str()
            ),
            (json!(20), json!(1), "n0")
        );
        s.handle(
            0,
            &req(
                &s,
                "lin-kv",
                json!({"type":"write","msg_id":2,"key":"a","value":1}),
            ),
        );
        let r = s.handle(
            0,
            &req(
                &s,
                "lin-kv",
                json!({"type":"cas","msg_id":3,"key":"a","from":2,"to":3}),
            ),
        );
        assert_eq!(r.body["code"], json!(22));
        let r = s.handle(
            0,
            &req(
                &s,
                "lin-kv",
                json!({"type":"cas","msg_id":4,"key":"a","from":1,"to":3}),
            ),
        );
        assert_eq!(r.kind(), "cas_ok");
        let r = s.handle(
            0,
            &req(&s, "lin-kv", json!({"type":"read","msg_id":5,"key":"a"})),
        );
        assert_eq!(r.body["value"], json!(3));
        let r = s.handle(0, &req(&s, "lin-kv", json!({"type":"write","msg_id":6})));
        assert_eq!(r.body["code"], json!(12));
        assert!(r.body["text"].as_str().unwrap().contains("`key`"));
        let r = s.handle(0, &req(&s, "lin-tso", json!({"type":"ts","msg_id":7})));
        let r2 = s.handle(0, &req(&s, "lin-tso", json!({"type":"ts","msg_id":8})));
        assert!(r2.body["ts"].as_i64() > r.body["ts"].as_i64());
    }

    #[test]
    fn seq_kv_reads_are_monotonic_per_caller_and_see_own_writes() {
        let mut s = Services::new(StdRng::seed_from_u64(9));
        let mut stale = false;
        for i in 0..200 {
            s.handle(
                0,
                &Message {
                    src: "n1".into(),
                    dest: "seq-kv".into(),
                    body: json!({"type":"write","msg_id":i,"key":"k","value":i})
                        .as_object()
                        .cloned()
                        .unwrap(),
                },
            );
        }
        let mut last = -1;
        for i in 0..200 {
            let r = s.handle(
                0,
                &req(&s, "seq-kv", json!({"type":"read","msg_id":i,"key":"k"})),
            );
            let v = r.body.get("value").and_then(Json::as_i64).unwrap_or(-1);
            assert!(v >= last, "went back from {last} to {v}");
            stale |= v < 199;
            last = v;
        }
        assert!(stale, "seq-kv never served a stale read");
        s.handle(
            0,
            &req(
                &s,
                "seq-kv",
                json!({"type":"write","msg_id":1,"key":"k","value":"mine"}),
            ),
        );
        let r = s.handle(
            0,
            &req(&s, "seq-kv", json!({"type":"read","msg_id":2,"key":"k"})),
        );
        assert_eq!(r.body["value"], json!("mine"));
    }
}
