//! `txn-kv`: a single-node transactional store whose isolation level is chosen per transaction,
//! each level built to allow exactly its own anomalies, so the transactional checker has
//! something to find.
//!
//! One command runs a whole transaction: `TXN level mops`, where `mops` is a JSON list of
//! Elle micro-ops (`["append", k, v]`, `["w", k, v]`, `["r", k, null]`). The reply is the same
//! list with every read filled in (a list for a key that was appended to, an integer for a
//! register, null for a key never written), or `-NOTAPPLIED aborted: ...` when the transaction
//! did not commit. The store sleeps a random moment (up to [`MAX_PAUSE`]) before each micro-op
//! and before the commit, so concurrent transactions interleave the way they would over a
//! network.
//!
//! | level | how | what a checker can find |
//! | --- | --- | --- |
//! | `serializable` | one lock held for the whole transaction: strict one-at-a-time order | nothing |
//! | `snapshot` | reads from the snapshot taken at begin, writes buffered, first committer wins on each written key | write skew (G2-item); never G-single or G1 |
//! | `read-committed` | each read sees the latest committed value; write locks held to commit, writes buffered and applied at commit | read skew (G-single), G2-item; never G1 or G0 |
//! | `read-uncommitted` | write locks held to commit, writes applied in place at once (visible to every reader), one transaction in [`ABORT_ONE_IN`] aborts at the end and its writes are undone | dirty reads: G1a (aborted read), G1b (intermediate read), G1c; never G0 |
//!
//! A write lock that cannot be had within [`LOCK_WAIT`] aborts the transaction (no deadlock can
//! last). Committed versions are journaled, so a killed node comes back with its data.

use super::journal::Journal;
use super::resp::Frame;
use super::{arg, unknown_command, wrong_arity, Node, Store, NOT_APPLIED};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The longest random pause before a micro-op or a commit.
pub const MAX_PAUSE: Duration = Duration::from_micros(1500);
/// How long a transaction waits for another's write lock before it aborts.
pub const LOCK_WAIT: Duration = Duration::from_millis(20);
/// Under read-uncommitted, one transaction in this many aborts on purpose (so its dirty writes
/// were read by transactions that commit: G1a).
pub const ABORT_ONE_IN: u64 = 8;

/// A transaction's isolation level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// One transaction at a time.
    Serializable,
    /// Snapshot reads, first committer wins.
    Snapshot,
    /// Reads see the latest committed value.
    ReadCommitted,
    /// Reads see uncommitted writes.
    ReadUncommitted,
}

impl Isolation {
    /// Every level, strongest first.
    pub const ALL: [Isolation; 4] = [
        Isolation::Serializable,
        Isolation::Snapshot,
        Isolation::ReadCommitted,
        Isolation::ReadUncommitted,
    ];

    /// The name as `--isolation` and the `TXN` command spell it.
    pub fn name(self) -> &'static str {
        match self {
            Isolation::Serializable => "serializable",
            Isolation::Snapshot => "snapshot",
            Isolation::ReadCommitted => "read-committed",
            Isolation::ReadUncommitted => "read-uncommitted",
        }
    }

    /// The level called `name`.
    pub fn from_name(name: &str) -> Option<Isolation> {
        Isolation::ALL.into_iter().find(|l| l.name() == name)
    }
}

/// One journaled change: `key` now holds `value`.
#[derive(Debug, Serialize, Deserialize)]
struct Change {
    key: String,
    value: Json,
}

/// The committed data, the uncommitted writes, the write locks and the journal.
#[derive(Debug)]
struct State {
    /// The commit clock: the timestamp of the newest committed version.
    clock: u64,
    /// Committed versions per key, oldest first: (commit timestamp, value).
    versions: HashMap<String, Vec<(u64, Json)>>,
    /// Read-uncommitted writes not committed yet, visible to every reader.
    dirty: HashMap<String, Json>,
    /// Write locks: key → the transaction holding it.
    locks: HashMap<String, u64>,
    journal: Journal,
}

impl State {
    fn latest(&self, key: &str) -> Json {
        self.versions
            .get(key)
            .and_then(|v| v.last())
            .map(|(_, value)| value.clone())
            .unwrap_or(Json::Null)
    }

    fn latest_ts(&self, key: &str) -> u64 {
        self.versions
            .get(key)
            .and_then(|v| v.last())
            .map(|(ts, _)| *ts)
            .unwrap_or(0)
    }

    fn as_of(&self, key: &str, ts: u64) -> Json {
        self.versions
            .get(key)
            .and_then(|v| v.iter().rev().find(|(t, _)| *t <= ts))
            .map(|(_, value)| value.clone())
            .unwrap_or(Json::Null)
    }

    fn release(&mut self, txn: u64) {
        self.locks.retain(|_, holder| *holder != txn);
    }
}

/// A `txn-kv` node.
pub struct TxnKv {
    node: Arc<Node>,
    state: Mutex<State>,
    /// Held for a whole serializable transaction.
    serial: tokio::sync::Mutex<()>,
    next_txn: AtomicU64,
}

/// One micro-op as sent: its function, its key as JSON (echoed back) and as a map key.
struct MopIn {
    f: String,
    key: Json,
    name: String,
    value: Json,
}

fn parse_mops(text: &str) -> Result<Vec<MopIn>, String> {
    let json: Json =
        serde_json::from_str(text).map_err(|e| format!("the micro-ops are not JSON: {e}"))?;
    let Json::Array(items) = json else {
        return Err("the micro-ops must be a JSON list".into());
    };
    items
        .into_iter()
        .map(|m| match m {
            Json::Array(parts) if parts.len() == 3 => {
                let mut parts = parts.into_iter();
                let (f, key, value) = (parts.next(), parts.next(), parts.next());
                let (Some(Json::String(f)), Some(key), Some(value)) = (f, key, value) else {
                    return Err("a micro-op is [f, key, value] with f a string".to_string());
                };
                if !matches!(f.as_str(), "r" | "append" | "w") {
                    return Err(format!("unknown micro-op {f:?}: use r, append or w"));
                }
                if f != "r" && !value.is_i64() {
                    return Err(format!("{f} needs an integer value, got {value}"));
                }
                Ok(MopIn {
                    name: key.to_string(),
                    f,
                    key,
                    value,
                })
            }
            other => Err(format!("not a micro-op: {other}")),
        })
        .collect()
}

/// Sleeps a random moment up to [`MAX_PAUSE`], so transactions interleave.
async fn pause() {
    let micros = rand::random::<u64>() % (MAX_PAUSE.as_micros() as u64 + 1);
    tokio::time::sleep(Duration::from_micros(micros)).await;
}

impl TxnKv {
    /// Opens the store on `node`, reading back its journal.
    pub fn open(node: Arc<Node>) -> anyhow::Result<TxnKv> {
        let (journal, changes) = Journal::open::<Change>(node.dir.as_deref(), node.durability)?;
        let mut versions: HashMap<String, Vec<(u64, Json)>> = HashMap::new();
        let mut clock = 0;
        for change in changes {
            clock += 1;
            versions
                .entry(change.key)
                .or_default()
                .push((clock, change.value));
        }
        node.log(format!(
            "txn-kv; {} keys from the journal; isolation chosen per transaction",
            versions.len()
        ));
        Ok(TxnKv {
            node,
            state: Mutex::new(State {
                clock,
                versions,
                dirty: HashMap::new(),
                locks: HashMap::new(),
                journal,
            }),
            serial: tokio::sync::Mutex::new(()),
            next_txn: AtomicU64::new(1),
        })
    }

    fn state(&self) -> Result<MutexGuard<'_, State>, String> {
        self.state
            .lock()
            .map_err(|_| "the store's lock is poisoned".to_string())
    }

    /// Takes `key`'s write lock for `txn`, waiting up to [`LOCK_WAIT`].
    async fn lock(&self, txn: u64, key: &str) -> Result<(), String> {
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            {
                let mut s = self.state()?;
                let holder = *s.locks.entry(key.to_string()).or_insert(txn);
                if holder == txn {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!("waited {LOCK_WAIT:?} for the write lock on {key}"));
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }

    /// Runs one transaction at `level`: the micro-ops with reads filled in, or why it aborted.
    async fn run(&self, level: Isolation, mops: Vec<MopIn>) -> Result<Json, String> {
        let _serial = match level {
            Isolation::Serializable => Some(self.serial.lock().await),
            _ => None,
        };
        let txn = self.next_txn.fetch_add(1, Ordering::Relaxed);
        let start = self.state()?.clock;
        let result = self.body(level, txn, start, &mops).await;
        let mut s = self.state()?;
        let outcome = match result {
            Ok((done, own)) => self.commit(&mut s, level, txn, start, own).map(|()| done),
            Err(e) => Err(e),
        };
        if outcome.is_err() && level == Isolation::ReadUncommitted {
            // Undo the dirty writes: only this transaction wrote these keys since their last
            // commit, as it held their locks.
            let mine: Vec<String> = s
                .locks
                .iter()
                .filter(|(_, h)| **h == txn)
                .map(|(k, _)| k.clone())
                .collect();
            for k in mine {
                s.dirty.remove(&k);
            }
        }
        s.release(txn);
        outcome
    }

    /// The micro-ops, performed: the reply and the transaction's own writes (key → value).
    async fn body(
        &self,
        level: Isolation,
        txn: u64,
        start: u64,
        mops: &[MopIn],
    ) -> Result<(Json, HashMap<String, Json>), String> {
        let mut own: HashMap<String, Json> = HashMap::new();
        let mut done = Vec::with_capacity(mops.len());
        for m in mops {
            pause().await;
            let locks = matches!(level, Isolation::ReadCommitted | Isolation::ReadUncommitted);
            if m.f != "r" && locks {
                self.lock(txn, &m.name).await?;
            }
            let mut s = self.state()?;
            let visible = match own.get(&m.name) {
                Some(v) => v.clone(),
                None => match level {
                    Isolation::Snapshot => s.as_of(&m.name, start),
                    Isolation::ReadUncommitted => match s.dirty.get(&m.name) {
                        Some(v) => v.clone(),
                        None => s.latest(&m.name),
                    },
                    Isolation::Serializable | Isolation::ReadCommitted => s.latest(&m.name),
                },
            };
            let value = match m.f.as_str() {
                "r" => visible,
                f => {
                    let new = if f == "w" {
                        m.value.clone()
                    } else {
                        let mut list = match visible {
                            Json::Array(l) => l,
                            _ => Vec::new(),
                        };
                        list.push(m.value.clone());
                        Json::Array(list)
                    };
                    if level == Isolation::ReadUncommitted {
                        s.dirty.insert(m.name.clone(), new.clone());
                    }
                    own.insert(m.name.clone(), new);
                    m.value.clone()
                }
            };
            done.push(Json::Array(vec![
                Json::String(m.f.clone()),
                m.key.clone(),
                value,
            ]));
        }
        pause().await;
        Ok((Json::Array(done), own))
    }

    /// Commits `own` (or refuses to): first committer wins under snapshot isolation, and one
    /// read-uncommitted transaction in [`ABORT_ONE_IN`] aborts.
    fn commit(
        &self,
        s: &mut State,
        level: Isolation,
        txn: u64,
        start: u64,
        own: HashMap<String, Json>,
    ) -> Result<(), String> {
        if level == Isolation::Snapshot {
            if let Some(k) = own.keys().find(|k| s.latest_ts(k) > start) {
                return Err(format!(
                    "first committer wins: {k} was committed by another transaction since this one began"
                ));
            }
        }
        if level == Isolation::ReadUncommitted
            && !own.is_empty()
            && txn.is_multiple_of(ABORT_ONE_IN)
        {
            return Err("aborted on purpose (read-uncommitted aborts some transactions, so their dirty writes were read)".into());
        }
        for (key, value) in own {
            s.journal
                .append(&Change {
                    key: key.clone(),
                    value: value.clone(),
                })
                .map_err(|e| {
                    self.node.log(format!("journal: {e:#}"));
                    format!("cannot journal the commit: {e:#}")
                })?;
            s.clock += 1;
            let ts = s.clock;
            s.dirty.remove(&key);
            s.versions.entry(key).or_default().push((ts, value));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Store for TxnKv {
    async fn handle(&self, name: &str, args: &[Option<String>]) -> Frame {
        if name != "TXN" {
            return unknown_command(name);
        }
        if args.len() != 2 {
            return wrong_arity(
                "TXN",
                "TXN serializable|snapshot|read-committed|read-uncommitted <JSON micro-ops>",
            );
        }
        let (level, mops) = match (arg(args, 0, "the level"), arg(args, 1, "the micro-ops")) {
            (Ok(l), Ok(m)) => (l, m),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        let Some(level) = Isolation::from_name(level) else {
            return Frame::error(
                NOT_APPLIED,
                format!("unknown isolation level {level:?}: use serializable, snapshot, read-committed or read-uncommitted"),
            );
        };
        let mops = match parse_mops(mops) {
            Ok(m) => m,
            Err(e) => return Frame::error(NOT_APPLIED, e),
        };
        match self.run(level, mops).await {
            Ok(done) => Frame::bulk(done.to_string()),
            Err(why) => Frame::error(NOT_APPLIED, format!("aborted: {why}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::journal::Durability;
    use crate::node::{NodeConfig, StoreKind};

    fn store(dir: Option<&std::path::Path>) -> TxnKv {
        let config = NodeConfig {
            store: StoreKind::TxnKv,
            id: "n1".into(),
            listen: "127.0.0.1:1".parse().unwrap(),
            peers: vec![],
            dir: dir.map(|d| d.to_owned()),
            durability: Durability::Fsync,
        };
        TxnKv::open(Arc::new(Node::new(&config))).unwrap()
    }

    async fn txn(s: &TxnKv, level: &str, mops: &str) -> Frame {
        s.handle("TXN", &[Some(level.into()), Some(mops.into())])
            .await
    }

    #[tokio::test]
    async fn reads_see_own_and_committed_writes_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(Some(dir.path()));
        let r = txn(
            &s,
            "snapshot",
            r#"[["append",1,5],["r",1,null],["w","x",3],["r","x",null]]"#,
        )
        .await;
        assert_eq!(
            r,
            Frame::bulk(r#"[["append",1,5],["r",1,[5]],["w","x",3],["r","x",3]]"#)
        );
        drop(s);
        let s = store(Some(dir.path()));
        let r = txn(&s, "read-committed", r#"[["r",1,null],["r",2,null]]"#).await;
        assert_eq!(r, Frame::bulk(r#"[["r",1,[5]],["r",2,null]]"#));
        let bad = txn(&s, "chaos", "[]").await;
        assert!(matches!(bad, Frame::Error(e) if e.contains("unknown isolation")));
        let bad = txn(&s, "snapshot", r#"[["append",1,"a"]]"#).await;
        assert!(matches!(bad, Frame::Error(e) if e.contains("integer")));
    }

    #[tokio::test]
    async fn snapshot_isolation_lets_the_first_committer_win() {
        let s = store(None);
        let mut st = s.state().unwrap();
        let start = st.clock;
        st.clock += 1;
        let ts = st.clock;
        st.versions
            .insert("1".into(), vec![(ts, Json::Array(vec![7.into()]))]);
        let own = HashMap::from([("1".to_string(), Json::Array(vec![8.into()]))]);
        let err = s
            .commit(&mut st, Isolation::Snapshot, 2, start, own.clone())
            .unwrap_err();
        assert!(err.contains("first committer wins"), "{err}");
        assert_eq!(st.as_of("1", start), Json::Null);
        s.commit(&mut st, Isolation::ReadCommitted, 3, start, own)
            .unwrap();
        assert_eq!(st.latest("1"), Json::Array(vec![8.into()]));
    }
}
