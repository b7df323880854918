//! `lin-kv`: a single-leader key-value store. Linearizable by construction.
//!
//! The node with the smallest id is the leader and holds the only copy of the data. It applies
//! every client command (`GET`, `SET`, `CAS` and the data-type commands of
//! [`commands`](super::commands)) one at a time under a lock, so every op takes effect at one instant
//! between its request and its reply: the definition of linearizable. Every other node is a
//! follower that forwards each request to the leader and relays the answer.
//!
//! The price is availability: when the leader is down, paused or cut off, every request fails
//! (`-NOTAPPLIED` if the forward never left, `-UNCERTAIN` if it left and no answer came back).
//! The leader journals every change before it replies, so a killed leader that is started again
//! still has its data. Syncs are grouped: a change is applied and queued for the journal under
//! the lock, and the reply waits, outside the lock, for the sync that covers it. A read or a
//! failed CAS waits for the sync of the change it saw, so no client sees a value a crash could
//! still take back.

use super::journal::{Commits, Journal};
use super::peers::{CallError, Peer};
use super::resp::Frame;
use super::{commands, unknown_command, Node, Store, NOT_APPLIED, UNCERTAIN};
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

/// The data and its journal, kept together so a change is journaled under the same lock. Each
/// value keeps the journal ticket of the change that wrote it (0: already on disk).
#[derive(Debug)]
struct Data {
    map: HashMap<String, (String, u64)>,
    journal: Journal,
}

/// A `lin-kv` node: the leader, or a follower that forwards to it.
pub struct LinKv {
    node: Arc<Node>,
    /// `None` on the leader itself.
    leader: Option<Arc<Peer>>,
    data: Mutex<Data>,
    /// Where replies wait for their changes to be on disk.
    commits: Commits,
}

impl LinKv {
    /// Opens the store on `node`, reading back its journal.
    pub fn open(node: Arc<Node>) -> anyhow::Result<LinKv> {
        let (journal, changes) = Journal::open::<Change>(node.dir.as_deref(), node.durability)?;
        let mut map = HashMap::new();
        for change in changes {
            map.insert(change.key, (change.value, 0));
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
            commits: journal.commits(),
            data: Mutex::new(Data { map, journal }),
        })
    }

    /// Applies one client command on the leader, then waits for the journal to hold what the
    /// reply depends on.
    async fn apply(&self, name: &str, args: &[Option<String>]) -> Result<Frame, Frame> {
        let (reply, ticket) = self.apply_in_memory(name, args)?;
        self.commits
            .durable(ticket)
            .await
            .map_err(|e| Frame::error(UNCERTAIN, format!("the journal failed: {e}")))?;
        Ok(reply)
    }

    /// Applies one command under the lock; returns the reply and the journal ticket to wait for.
    fn apply_in_memory(&self, name: &str, args: &[Option<String>]) -> Result<(Frame, u64), Frame> {
        let mut data = self
            .data
            .lock()
            .map_err(|_| Frame::error(NOT_APPLIED, "store lock poisoned"))?;
        let command = commands::parse_client(name, args)?;
        let key = command.key();
        let (current, ticket) = match data.map.get(key) {
            Some((v, t)) => (Some(v.clone()), *t),
            None => (None, 0),
        };
        let (new, reply) = command.apply(current.as_deref())?;
        match new {
            // Unchanged (a read, a failed cas, an empty pop): wait for what it saw.
            Some(v) if Some(&v) != current.as_ref() => Ok((reply, set(&mut data, key, &v)?)),
            _ => Ok((reply, ticket)),
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

/// Queues `key = value` for the journal and applies it; returns the journal ticket.
fn set(data: &mut Data, key: &str, value: &str) -> Result<u64, Frame> {
    let change = Change {
        key: key.to_string(),
        value: value.to_string(),
    };
    let ticket = data
        .journal
        .append_grouped(&change)
        .map_err(|e| Frame::error(NOT_APPLIED, e))?;
    data.map.insert(change.key, (change.value, ticket));
    Ok(ticket)
}

#[async_trait::async_trait]
impl Store for LinKv {
    async fn handle(&self, name: &str, args: &[Option<String>]) -> Frame {
        if !commands::is_client_command(name) {
            return unknown_command(name);
        }
        match &self.leader {
            Some(leader) => self.forward(leader, name, args).await,
            None => self.apply(name, args).await.unwrap_or_else(|e| e),
        }
    }
}
