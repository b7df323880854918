//! `lin-kv`: a single-leader key-value store. Linearizable by construction.
//!
//! The node with the smallest id is the leader and holds the only copy of the data. It applies
//! `GET`, `SET` and `CAS` one at a time under a lock, so every op takes effect at one instant
//! between its request and its reply: the definition of linearizable. Every other node is a
//! follower that forwards each request to the leader and relays the answer.
//!
//! The price is availability: when the leader is down, paused or cut off, every request fails
//! (`-NOTAPPLIED` if the forward never left, `-UNCERTAIN` if it left and no answer came back).
//! The leader journals every change before it replies, so a killed leader that is started again
//! still has its data.

use super::journal::Journal;
use super::peers::{CallError, Peer};
use super::resp::Frame;
use super::{arg, unknown_command, wrong_arity, Node, Store, NOT_APPLIED, UNCERTAIN};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a follower waits for the leader's answer.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(2);

/// One journaled change: `key` now holds `value`.
#[derive(Debug, Serialize, Deserialize)]
struct Change {
    key: String,
    value: String,
}

/// The data and its journal, kept together so a change is journaled under the same lock.
#[derive(Debug)]
struct Data {
    map: HashMap<String, String>,
    journal: Journal,
}

/// A `lin-kv` node: the leader, or a follower that forwards to it.
pub struct LinKv {
    node: Arc<Node>,
    /// `None` on the leader itself.
    leader: Option<Arc<Peer>>,
    data: Mutex<Data>,
}

impl LinKv {
    /// Opens the store on `node`, reading back its journal.
    pub fn open(node: Arc<Node>) -> anyhow::Result<LinKv> {
        let (journal, changes) = Journal::open::<Change>(node.dir.as_deref(), node.durability)?;
        let mut map = HashMap::new();
        for change in changes {
            map.insert(change.key, change.value);
        }
        let leader = node
            .peers
            .iter()
            .filter(|p| p.id < node.id)
            .min_by(|a, b| a.id.cmp(&b.id));
        match leader {
            Some(leader) => node.log(format!("follower; forwarding to leader {}", leader.id)),
            None => node.log(format!("leader; {} keys from the journal", map.len())),
        }
        Ok(LinKv {
            leader: leader.cloned(),
            node,
            data: Mutex::new(Data { map, journal }),
        })
    }

    /// Applies one client command on the leader.
    fn apply(&self, name: &str, args: &[Option<String>]) -> Result<Frame, Frame> {
        let mut data = self
            .data
            .lock()
            .map_err(|_| Frame::error(NOT_APPLIED, "store lock poisoned"))?;
        match (name, args.len()) {
            ("GET", 1) => {
                let key = arg(args, 0, "the key")?;
                Ok(Frame::opt_bulk(data.map.get(key)))
            }
            ("SET", 2) => {
                let (key, value) = (arg(args, 0, "the key")?, arg(args, 1, "the value")?);
                set(&mut data, key, value)?;
                Ok(Frame::ok())
            }
            ("CAS", 3) => {
                let key = arg(args, 0, "the key")?;
                let to = arg(args, 2, "the new value")?;
                if data.map.get(key).map(String::as_str) != args[1].as_deref() {
                    return Ok(Frame::Integer(0));
                }
                set(&mut data, key, to)?;
                Ok(Frame::Integer(1))
            }
            ("GET", _) => Err(wrong_arity(name, "GET key")),
            ("SET", _) => Err(wrong_arity(name, "SET key value")),
            ("CAS", _) => Err(wrong_arity(name, "CAS key from to")),
            _ => Err(unknown_command(name)),
        }
    }

    /// Sends a client command to the leader and relays its answer.
    async fn forward(&self, leader: &Peer, name: &str, args: &[Option<String>]) -> Frame {
        let mut words = vec![Some(name.as_bytes())];
        words.extend(args.iter().map(|a| a.as_deref().map(str::as_bytes)));
        match leader.call(&Frame::command(&words), FORWARD_TIMEOUT).await {
            Ok(reply) => reply,
            Err(e @ CallError::NotSent { .. }) => {
                self.node.log(format!("forward {name} failed: {e}"));
                Frame::error(NOT_APPLIED, format!("leader unavailable: {e}"))
            }
            Err(e @ CallError::NoReply { .. }) => {
                self.node.log(format!("forward {name} failed: {e}"));
                Frame::error(UNCERTAIN, format!("leader did not answer: {e}"))
            }
        }
    }
}

/// Journals and applies `key = value`.
fn set(data: &mut Data, key: &str, value: &str) -> Result<(), Frame> {
    let change = Change {
        key: key.to_string(),
        value: value.to_string(),
    };
    data.journal
        .append(&change)
        .map_err(|e| Frame::error(NOT_APPLIED, e))?;
    data.map.insert(change.key, change.value);
    Ok(())
}

#[async_trait::async_trait]
impl Store for LinKv {
    async fn handle(&self, name: &str, args: &[Option<String>]) -> Frame {
        if !matches!(name, "GET" | "SET" | "CAS") {
            return unknown_command(name);
        }
        match &self.leader {
            Some(leader) => self.forward(leader, name, args).await,
            None => self.apply(name, args).unwrap_or_else(|e| e),
        }
    }
}
