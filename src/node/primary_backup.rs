//! `primary-backup`: one primary serves everything and copies its data to the backups in the
//! background; a backup that stops hearing from the primary takes over. Fast, and loses
//! acknowledged writes whenever the primary is cut off or stalls.
//!
//! How it works:
//!
//! - **Serving.** The node with the smallest id starts as primary. It applies `GET`, `SET` and
//!   `CAS` on its own copy and replies at once. A backup forwards each client request to the
//!   node it believes is primary (marked `FORWARDED`, so a request is never forwarded twice).
//! - **Replication.** Every [`SYNC_EVERY`] the primary sends its whole state to each backup
//!   (`SYNC epoch primary k v ...`), one call at a time per backup. A write acknowledged in the
//!   meantime exists only on the primary.
//! - **Failure detection.** Every [`HEARTBEAT_EVERY`] a backup sends `HEARTBEAT` to its
//!   primary. After [`PRIMARY_TIMEOUT`] without an answer (or a `SYNC`), it pings the other
//!   backups with smaller ids; if none answers, it promotes itself: a new *claim* (epoch + 1,
//!   itself) that it announces with its own `SYNC`s.
//! - **Reconciling.** A node that receives a `SYNC` with a newer claim (higher epoch; on a tie,
//!   the smaller id) follows that primary and takes its state wholesale, dropping whatever it
//!   had that the new primary never got. A primary whose `SYNC` is answered `-STALE` steps down
//!   the same way.
//!
//! What is missing on purpose: nothing fences the old primary. It keeps serving its clients
//! until a `SYNC` from the new one reaches it, so during a partition there are two primaries
//! (split brain), and the writes the old one acknowledged vanish when it reconciles. A pause
//! (SIGSTOP) of the primary does the same on a smaller scale: the writes it acknowledged but
//! had not yet copied are gone once a backup has taken over. The register workload's
//! linearizability check finds both.

use super::journal::{Commits, Journal};
use super::peers::{CallError, Peer};
use super::resp::Frame;
use super::{arg, unknown_command, wrong_arity, Node, Store, NOT_APPLIED, UNCERTAIN};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the primary sends its state to each backup.
pub const SYNC_EVERY: Duration = Duration::from_millis(50);
/// How often a backup asks its primary whether it is alive.
pub const HEARTBEAT_EVERY: Duration = Duration::from_millis(100);
/// How long a backup goes without hearing from its primary before it considers taking over.
pub const PRIMARY_TIMEOUT: Duration = Duration::from_millis(600);
/// How long node-to-node calls (heartbeats, syncs, pings) wait for an answer.
const PEER_TIMEOUT: Duration = Duration::from_millis(300);
/// How long a backup waits for the primary's answer to a forwarded request.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(2);

/// Who is primary, as one node believes it: epoch and node id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Claim {
    epoch: u64,
    primary: String,
}

impl Claim {
    /// True if this claim replaces `other`: a higher epoch, or the same epoch and a smaller id.
    fn newer_than(&self, other: &Claim) -> bool {
        self.epoch > other.epoch || (self.epoch == other.epoch && self.primary < other.primary)
    }
}

/// One journal line.
#[derive(Debug, Serialize, Deserialize)]
enum Record {
    /// This node now believes `Claim`.
    Claim(Claim),
    /// `key` now holds `value`.
    Set { key: String, value: String },
    /// The whole state is now this (taken from a primary).
    Replace(BTreeMap<String, String>),
}

/// What a node knows: who is primary, the data, when it last heard from the primary.
#[derive(Debug)]
struct Data {
    claim: Claim,
    map: BTreeMap<String, String>,
    journal: Journal,
    last_heard: Instant,
}

impl Data {
    fn adopt(&mut self, claim: Claim) -> Result<(), Frame> {
        self.journal
            .append(&Record::Claim(claim.clone()))
            .map_err(|e| Frame::error(NOT_APPLIED, e))?;
        self.claim = claim;
        Ok(())
    }

    /// Queues `key = value` for the journal and applies it; the reply waits for the journal
    /// outside the lock ([`PrimaryBackup::apply`]).
    fn set(&mut self, key: &str, value: &str) -> Result<(), Frame> {
        let record = Record::Set {
            key: key.to_string(),
            value: value.to_string(),
        };
        self.journal
            .append_grouped(&record)
            .map_err(|e| Frame::error(NOT_APPLIED, e))?;
        self.map.insert(key.to_string(), value.to_string());
        Ok(())
    }

    fn replace(&mut self, map: BTreeMap<String, String>) -> Result<(), Frame> {
        if map == self.map {
            return Ok(());
        }
        self.journal
            .append(&Record::Replace(map.clone()))
            .map_err(|e| Frame::error(NOT_APPLIED, e))?;
        self.map = map;
        Ok(())
    }
}

/// A `primary-backup` node.
pub struct PrimaryBackup {
    node: Arc<Node>,
    data: Arc<Mutex<Data>>,
    /// Where replies wait for the journal to hold what they depend on.
    commits: Commits,
}

impl PrimaryBackup {
    /// Opens the store on `node`, reading back its journal, and starts replication and failure
    /// detection.
    pub fn open(node: Arc<Node>) -> anyhow::Result<PrimaryBackup> {
        let (journal, records) = Journal::open::<Record>(node.dir.as_deref(), node.durability)?;
        let first = node
            .peers
            .iter()
            .map(|p| &p.id)
            .chain([&node.id])
            .min()
            .cloned()
            .unwrap_or_else(|| node.id.clone());
        let mut data = Data {
            claim: Claim {
                epoch: 0,
                primary: first,
            },
            map: BTreeMap::new(),
            journal,
            last_heard: Instant::now(),
        };
        for record in records {
            match record {
                Record::Claim(c) => data.claim = c,
                Record::Set { key, value } => {
                    data.map.insert(key, value);
                }
                Record::Replace(map) => data.map = map,
            }
        }
        node.log(format!(
            "{} is primary (epoch {}); {} keys from the journal",
            data.claim.primary,
            data.claim.epoch,
            data.map.len()
        ));
        let commits = data.journal.commits();
        let data = Arc::new(Mutex::new(data));
        tokio::spawn(replicate(node.clone(), data.clone()));
        tokio::spawn(watch_primary(node.clone(), data.clone()));
        Ok(PrimaryBackup {
            node,
            data,
            commits,
        })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Data>, Frame> {
        lock(&self.data)
    }

    /// Applies a client command here, if this node is the primary, and answers once the
    /// journal holds every change made so far (syncs shared by the commands that arrive
    /// together).
    async fn apply(&self, name: &str, args: &[Option<String>]) -> Frame {
        let (reply, ticket) = match self.apply_in_memory(name, args) {
            Ok(answer) => answer,
            Err(e) => return e,
        };
        match self.commits.durable(ticket).await {
            Ok(()) => reply,
            Err(e) => Frame::error(UNCERTAIN, format!("the journal failed: {e}")),
        }
    }

    /// Applies a client command under the lock; returns the reply and the journal ticket to
    /// wait for.
    fn apply_in_memory(&self, name: &str, args: &[Option<String>]) -> Result<(Frame, u64), Frame> {
        let mut data = self.lock()?;
        if data.claim.primary != self.node.id {
            return Err(Frame::error(
                NOT_APPLIED,
                format!(
                    "not the primary ({} is, epoch {})",
                    data.claim.primary, data.claim.epoch
                ),
            ));
        }
        let reply = match (name, args.len()) {
            ("GET", 1) => Frame::opt_bulk(data.map.get(arg(args, 0, "the key")?)),
            ("SET", 2) => {
                data.set(arg(args, 0, "the key")?, arg(args, 1, "the value")?)?;
                Frame::ok()
            }
            ("CAS", 3) => {
                let (key, to) = (arg(args, 0, "the key")?, arg(args, 2, "the new value")?);
                if data.map.get(key).map(String::as_str) != args[1].as_deref() {
                    Frame::Integer(0)
                } else {
                    data.set(key, to)?;
                    Frame::Integer(1)
                }
            }
            ("GET", _) => return Err(wrong_arity(name, "GET key")),
            ("SET", _) => return Err(wrong_arity(name, "SET key value")),
            ("CAS", _) => return Err(wrong_arity(name, "CAS key from to")),
            _ => return Err(unknown_command(name)),
        };
        Ok((reply, data.journal.last_ticket()))
    }

    /// Serves a client command: here on the primary, else forwarded to the primary.
    async fn client(&self, name: &str, args: &[Option<String>]) -> Frame {
        let primary = match self.lock() {
            Ok(data) => data.claim.primary.clone(),
            Err(e) => return e,
        };
        if primary == self.node.id {
            return self.apply(name, args).await;
        }
        let Some(peer) = self.node.peers.iter().find(|p| p.id == primary) else {
            return Frame::error(
                NOT_APPLIED,
                format!("primary {primary} is not a known peer"),
            );
        };
        let mut words = vec![Some(&b"FORWARDED"[..]), Some(name.as_bytes())];
        words.extend(args.iter().map(|a| a.as_deref().map(str::as_bytes)));
        match peer.call(&Frame::command(&words), FORWARD_TIMEOUT).await {
            Ok(reply) => reply,
            Err(e @ CallError::NotSent { .. }) => {
                Frame::error(NOT_APPLIED, format!("primary unavailable: {e}"))
            }
            Err(e @ CallError::NoReply { .. }) => {
                Frame::error(UNCERTAIN, format!("primary did not answer: {e}"))
            }
        }
    }

    /// `SYNC epoch primary k v ...`: a primary's whole state.
    fn sync(&self, args: &[Option<String>]) -> Result<Frame, Frame> {
        let usage = || wrong_arity("SYNC", "SYNC epoch primary [key value ...]");
        if args.len() < 2 || !args.len().is_multiple_of(2) {
            return Err(usage());
        }
        let claim = Claim {
            epoch: arg(args, 0, "the epoch")?.parse().map_err(|_| usage())?,
            primary: arg(args, 1, "the primary")?.to_string(),
        };
        let mut map = BTreeMap::new();
        for pair in args[2..].chunks(2) {
            map.insert(
                arg(pair, 0, "a key")?.to_string(),
                arg(pair, 1, "a value")?.to_string(),
            );
        }
        let mut data = self.lock()?;
        if data.claim.newer_than(&claim) {
            return Err(stale(&data.claim));
        }
        if claim != data.claim {
            if data.claim.primary == self.node.id {
                self.node.log(format!(
                    "stepping down: {} is primary (epoch {}); dropping what it does not have",
                    claim.primary, claim.epoch
                ));
            } else {
                self.node.log(format!(
                    "following {} (epoch {})",
                    claim.primary, claim.epoch
                ));
            }
            data.adopt(claim)?;
        }
        data.replace(map)?;
        data.last_heard = Instant::now();
        Ok(Frame::ok())
    }
}

/// The `-STALE epoch primary` reply to a node whose claim is older than `claim`.
fn stale(claim: &Claim) -> Frame {
    Frame::Error(format!("STALE {} {}", claim.epoch, claim.primary))
}

fn lock(data: &Mutex<Data>) -> Result<std::sync::MutexGuard<'_, Data>, Frame> {
    data.lock()
        .map_err(|_| Frame::error(NOT_APPLIED, "store lock poisoned"))
}

/// The claim a `-STALE epoch primary` reply carries.
fn parse_stale(reply: &Frame) -> Option<Claim> {
    let Frame::Error(text) = reply else {
        return None;
    };
    let mut words = text.split_whitespace();
    if words.next() != Some("STALE") {
        return None;
    }
    Some(Claim {
        epoch: words.next()?.parse().ok()?,
        primary: words.next()?.to_string(),
    })
}

/// While this node is primary, sends its state to each backup every [`SYNC_EVERY`], one call
/// at a time per backup; steps down when a backup knows a newer primary.
async fn replicate(node: Arc<Node>, data: Arc<Mutex<Data>>) {
    let busy: Vec<Arc<AtomicBool>> = node
        .peers
        .iter()
        .map(|_| Arc::new(AtomicBool::new(false)))
        .collect();
    loop {
        tokio::time::sleep(SYNC_EVERY).await;
        let (claim, map) = match data.lock() {
            Ok(d) if d.claim.primary == node.id => (d.claim.clone(), d.map.clone()),
            Ok(_) => continue,
            Err(_) => return,
        };
        let epoch = claim.epoch.to_string();
        let mut words: Vec<Option<&[u8]>> = vec![
            Some(b"SYNC"),
            Some(epoch.as_bytes()),
            Some(claim.primary.as_bytes()),
        ];
        for (k, v) in &map {
            words.extend([Some(k.as_bytes()), Some(v.as_bytes())]);
        }
        let request = Arc::new(Frame::command(&words));
        for (peer, busy) in node.peers.iter().zip(&busy) {
            if busy.swap(true, Ordering::SeqCst) {
                continue;
            }
            let (node, data, peer, busy, request) = (
                node.clone(),
                data.clone(),
                peer.clone(),
                busy.clone(),
                request.clone(),
            );
            tokio::spawn(async move {
                if let Ok(reply) = peer.call(&request, PEER_TIMEOUT).await {
                    if let Some(newer) = parse_stale(&reply) {
                        step_down(&node, &data, newer, &peer.id);
                    }
                }
                busy.store(false, Ordering::SeqCst);
            });
        }
    }
}

/// Follows `newer` if it is newer than what this node believes.
fn step_down(node: &Node, data: &Mutex<Data>, newer: Claim, told_by: &str) {
    let Ok(mut d) = lock(data) else { return };
    if newer.newer_than(&d.claim) {
        node.log(format!(
            "stepping down: {told_by} says {} is primary (epoch {})",
            newer.primary, newer.epoch
        ));
        if d.adopt(newer).is_ok() {
            d.last_heard = Instant::now();
        }
    }
}

/// While this node is a backup, heartbeats the primary and takes over when it goes quiet.
async fn watch_primary(node: Arc<Node>, data: Arc<Mutex<Data>>) {
    loop {
        tokio::time::sleep(HEARTBEAT_EVERY).await;
        let claim = match data.lock() {
            Ok(d) => d.claim.clone(),
            Err(_) => return,
        };
        if claim.primary == node.id {
            continue;
        }
        let Some(primary) = node.peers.iter().find(|p| p.id == claim.primary).cloned() else {
            continue;
        };
        // The heartbeat goes first, so a backup that was itself paused asks before it judges.
        let beat = Frame::command(&[Some(b"HEARTBEAT")]);
        let answered = primary.call(&beat, PEER_TIMEOUT).await;
        let quiet = match data.lock() {
            Ok(mut d) => {
                let alive =
                    matches!(answered, Ok(Frame::Integer(epoch)) if epoch as u64 == d.claim.epoch);
                if alive && d.claim == claim {
                    d.last_heard = Instant::now();
                }
                d.last_heard.elapsed()
            }
            Err(_) => return,
        };
        if quiet < PRIMARY_TIMEOUT {
            continue;
        }
        // The primary has gone quiet. A live backup with a smaller id takes over instead.
        let lower: Vec<Arc<Peer>> = node
            .peers
            .iter()
            .filter(|p| p.id < node.id && p.id != claim.primary)
            .cloned()
            .collect();
        let mut someone_lower = false;
        for peer in &lower {
            let ping = Frame::command(&[Some(b"PING")]);
            if matches!(peer.call(&ping, PEER_TIMEOUT).await, Ok(Frame::Simple(s)) if s == "PONG") {
                someone_lower = true;
                break;
            }
        }
        let Ok(mut d) = data.lock() else { return };
        if d.claim != claim || d.last_heard.elapsed() < PRIMARY_TIMEOUT {
            continue;
        }
        if someone_lower {
            d.last_heard = Instant::now();
            continue;
        }
        let new = Claim {
            epoch: claim.epoch + 1,
            primary: node.id.clone(),
        };
        node.log(format!(
            "no word from {} for {:?}: taking over as primary (epoch {})",
            claim.primary,
            d.last_heard.elapsed(),
            new.epoch
        ));
        if d.adopt(new).is_err() {
            node.log("cannot journal the takeover; staying a backup");
        }
    }
}

#[async_trait::async_trait]
impl Store for PrimaryBackup {
    async fn handle(&self, name: &str, args: &[Option<String>]) -> Frame {
        match name {
            "GET" | "SET" | "CAS" => self.client(name, args).await,
            "FORWARDED" => match args.split_first() {
                Some((Some(inner), rest)) => {
                    let inner = inner.to_ascii_uppercase();
                    self.apply(&inner, rest).await
                }
                _ => wrong_arity(name, "FORWARDED command args..."),
            },
            "HEARTBEAT" => match self.lock() {
                Ok(d) if d.claim.primary == self.node.id => Frame::Integer(d.claim.epoch as i64),
                Ok(d) => Frame::error(
                    NOT_APPLIED,
                    format!("not the primary ({} is)", d.claim.primary),
                ),
                Err(e) => e,
            },
            "SYNC" => self.sync(args).unwrap_or_else(|e| e),
            _ => unknown_command(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(epoch: u64, primary: &str) -> Claim {
        Claim {
            epoch,
            primary: primary.into(),
        }
    }

    #[test]
    fn a_higher_epoch_wins_and_a_tie_goes_to_the_smaller_id() {
        assert!(claim(1, "n3").newer_than(&claim(0, "n1")));
        assert!(!claim(0, "n1").newer_than(&claim(1, "n3")));
        assert!(claim(2, "n2").newer_than(&claim(2, "n3")));
        assert!(!claim(2, "n2").newer_than(&claim(2, "n2")));
    }

    #[test]
    fn a_stale_reply_carries_the_newer_claim() {
        assert_eq!(parse_stale(&stale(&claim(4, "n2"))), Some(claim(4, "n2")));
        assert_eq!(parse_stale(&Frame::ok()), None);
    }
}
