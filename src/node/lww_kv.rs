//! `lww-kv`: every node serves reads and writes from its own copy and tells the others later;
//! conflicts are settled by last-writer-wins on wall-clock timestamps. Not linearizable.
//!
//! A write is stamped with the node's clock (real time plus the offset a clock-skew fault sets)
//! and the node's id as a tie-break, applied locally, acknowledged at once, and pushed to every
//! other node after a short random delay (10–60 ms). A node keeps whichever version of a key has
//! the larger stamp. Every second each node also sends all it has to every peer (anti-entropy),
//! so replicas converge once the network heals.
//!
//! What a test should find:
//!
//! - stale reads without any fault: a client reading from another node inside the replication
//!   delay sees the old value, after the write was acknowledged;
//! - a cas that both nodes accept: each compares against its own copy, so two clients can swap
//!   the same `from`, and one of the swaps is then silently lost;
//! - lost updates under clock skew: a node whose clock runs behind stamps its writes in the
//!   past, and they lose to older writes from other nodes (or to its own earlier ones);
//! - lost set adds, counter increments and queue changes: the data-type commands (see
//!   [`commands`](super::commands)) change the local copy of a key's whole value, and when two
//!   nodes change one key concurrently (a partition makes that certain), one node's version
//!   replaces the other's, adds and increments included. A bank is one key, so a version is
//!   always a whole bank: its total is kept, and the transfers of the losing side vanish.

use super::journal::{Commits, Journal};
use super::resp::Frame;
use super::{arg, commands, unknown_command, wrong_arity, Node, Store, NOT_APPLIED, UNCERTAIN};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Shortest and longest delay before a write is pushed to the other nodes, in milliseconds.
const REPLICATION_DELAY_MS: (u64, u64) = (10, 60);
/// How often each node sends everything it has to every peer.
const ANTI_ENTROPY_EVERY: Duration = Duration::from_secs(1);
/// How long to wait for a peer to take a push.
const PUSH_TIMEOUT: Duration = Duration::from_millis(500);

/// One version of a key: its value and the stamp that orders it against other versions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Version {
    key: String,
    value: String,
    /// The writing node's clock, in nanoseconds since the Unix epoch.
    time: i64,
    /// The writing node's id, to break ties between equal times.
    writer: String,
}

impl Version {
    /// True if this version wins over `other` under last-writer-wins.
    fn beats(&self, other: &Version) -> bool {
        (self.time, &self.writer) > (other.time, &other.writer)
    }
}

/// The local copy and its journal.
#[derive(Debug)]
struct Data {
    map: HashMap<String, Version>,
    journal: Journal,
}

impl Data {
    /// Keeps `version` if it beats what this node has, queueing it for the journal; the reply
    /// that depends on it waits for [`Journal::last_ticket`] outside the lock. Returns whether
    /// it was kept.
    fn offer(&mut self, version: Version) -> anyhow::Result<bool> {
        if self
            .map
            .get(&version.key)
            .is_some_and(|old| !version.beats(old))
        {
            return Ok(false);
        }
        self.journal.append_grouped(&version)?;
        self.map.insert(version.key.clone(), version);
        Ok(true)
    }
}

/// An `lww-kv` node.
pub struct LwwKv {
    node: Arc<Node>,
    data: Arc<Mutex<Data>>,
    /// Where replies wait for the journal to hold what they depend on.
    commits: Commits,
}

impl LwwKv {
    /// Opens the store on `node`, reading back its journal, and starts anti-entropy.
    pub fn open(node: Arc<Node>) -> anyhow::Result<LwwKv> {
        let (journal, versions) = Journal::open::<Version>(node.dir.as_deref(), node.durability)?;
        let mut data = Data {
            map: HashMap::new(),
            journal,
        };
        for version in versions {
            if data
                .map
                .get(&version.key)
                .is_none_or(|old| version.beats(old))
            {
                data.map.insert(version.key.clone(), version);
            }
        }
        node.log(format!("{} keys from the journal", data.map.len()));
        let store = LwwKv {
            node,
            commits: data.journal.commits(),
            data: Arc::new(Mutex::new(data)),
        };
        tokio::spawn(anti_entropy(store.node.clone(), store.data.clone()));
        Ok(store)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Data>, Frame> {
        self.data
            .lock()
            .map_err(|_| Frame::error(NOT_APPLIED, "store lock poisoned"))
    }

    /// Stamps and applies a local write, then schedules its push to the peers.
    fn write_locally(&self, data: &mut Data, key: &str, value: &str) -> Result<(), Frame> {
        let version = Version {
            key: key.to_string(),
            value: value.to_string(),
            time: self.node.now_nanos(),
            writer: self.node.id.clone(),
        };
        // A write stamped behind the current version (a clock running slow) loses right here,
        // and is still acknowledged: that is last-writer-wins.
        data.offer(version.clone())
            .map_err(|e| Frame::error(NOT_APPLIED, e))?;
        let delay = rand::thread_rng().gen_range(REPLICATION_DELAY_MS.0..=REPLICATION_DELAY_MS.1);
        let node = self.node.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            push(&node, &[version]);
        });
        Ok(())
    }

    /// Answers one command from the local copy; returns the reply and the journal ticket it
    /// must wait for (every change made so far, so no reply shows a change a crash could
    /// still take back).
    fn serve(&self, name: &str, args: &[Option<String>]) -> Result<(Frame, u64), Frame> {
        if let Some(command) = commands::parse(name, args)? {
            // Read, change and write the local copy in one step; a changed value is a new
            // version, stamped now, that replaces the whole value on every other node.
            let mut data = self.lock()?;
            let current = data.map.get(command.key()).map(|v| v.value.clone());
            let (new, reply) = command.apply(current.as_deref())?;
            if let Some(v) = new.filter(|v| Some(v) != current.as_ref()) {
                self.write_locally(&mut data, command.key(), &v)?;
            }
            return Ok((reply, data.journal.last_ticket()));
        }
        match (name, args.len()) {
            ("MERGE", n) if n % 4 == 0 => {
                let mut data = self.lock()?;
                for chunk in args.chunks(4) {
                    let version = parse_version(chunk)?;
                    data.offer(version)
                        .map_err(|e| Frame::error(NOT_APPLIED, e))?;
                }
                Ok((Frame::ok(), data.journal.last_ticket()))
            }
            ("MERGE", _) => Err(wrong_arity(name, "MERGE [key value time writer]...")),
            _ => Err(unknown_command(name)),
        }
    }
}

/// One version from the four words `key value time writer` of a `MERGE`.
fn parse_version(words: &[Option<String>]) -> Result<Version, Frame> {
    let time = arg(words, 2, "the time")?
        .parse()
        .map_err(|_| Frame::error(NOT_APPLIED, "MERGE time must be an integer"))?;
    Ok(Version {
        key: arg(words, 0, "the key")?.to_string(),
        value: arg(words, 1, "the value")?.to_string(),
        time,
        writer: arg(words, 3, "the writer")?.to_string(),
    })
}

/// Sends `versions` to every peer in one `MERGE` each, in the background; a peer that is
/// unreachable misses it (anti-entropy delivers it later).
fn push(node: &Arc<Node>, versions: &[Version]) {
    let times: Vec<String> = versions.iter().map(|v| v.time.to_string()).collect();
    let mut words: Vec<Option<&[u8]>> = vec![Some(b"MERGE")];
    for (v, time) in versions.iter().zip(&times) {
        let four = [&v.key, &v.value, time, &v.writer];
        words.extend(four.map(|w| Some(w.as_bytes())));
    }
    let merge = Arc::new(Frame::command(&words));
    for peer in &node.peers {
        let (node, peer, merge) = (node.clone(), peer.clone(), merge.clone());
        tokio::spawn(async move {
            if let Ok(Frame::Error(e)) = peer.call(&merge, PUSH_TIMEOUT).await {
                node.log(format!("push to {} refused: {e}", peer.id));
            }
        });
    }
}

/// Every [`ANTI_ENTROPY_EVERY`], sends everything this node has to every peer.
async fn anti_entropy(node: Arc<Node>, data: Arc<Mutex<Data>>) {
    loop {
        tokio::time::sleep(ANTI_ENTROPY_EVERY).await;
        let all: Vec<Version> = match data.lock() {
            Ok(data) => data.map.values().cloned().collect(),
            Err(_) => return,
        };
        if !all.is_empty() {
            push(&node, &all);
        }
    }
}

#[async_trait::async_trait]
impl Store for LwwKv {
    async fn handle(&self, name: &str, args: &[Option<String>]) -> Frame {
        let (reply, ticket) = match self.serve(name, args) {
            Ok(answer) => answer,
            Err(e) => return e,
        };
        match self.commits.durable(ticket).await {
            Ok(()) => reply,
            Err(e) => Frame::error(UNCERTAIN, format!("the journal failed: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(value: &str, time: i64, writer: &str) -> Version {
        Version {
            key: "k".into(),
            value: value.into(),
            time,
            writer: writer.into(),
        }
    }

    #[test]
    fn the_later_stamp_wins_and_ties_go_to_the_larger_id() {
        let mut data = Data {
            map: HashMap::new(),
            journal: Journal::open::<Version>(None, Default::default())
                .unwrap()
                .0,
        };
        assert!(data.offer(version("a", 10, "n1")).unwrap());
        assert!(!data.offer(version("b", 9, "n2")).unwrap());
        assert!(data.offer(version("c", 10, "n2")).unwrap());
        assert!(!data.offer(version("d", 10, "n1")).unwrap());
        assert_eq!(data.map["k"].value, "c");
    }
}
