//! `quorum-kv`: every op is one round of single-decree Paxos on the key's register (CASPaxos,
//! Rystsov 2018). Linearizable, and stays so under partitions, pauses and crashes as long as a
//! majority of nodes is up and connected.
//!
//! Why not plain ABD (read a majority, write back to a majority)? ABD gives a linearizable
//! register for reads and writes, but a cas needs its read and its write to be one atomic step,
//! and two coordinators running "read majority, then write majority" at the same time can both
//! see `from` and both swap. Ballots fix that: a coordinator may only write if no one has
//! started a newer round on that key since it read.
//!
//! Every node is both a coordinator (it serves `GET`, `SET`, `CAS` from clients) and an
//! acceptor (it stores, per key, the value, the ballot that wrote it, and the highest ballot it
//! has promised). A ballot is (round, node id), unique per coordinator and totally ordered.
//! One op on key `k`:
//!
//! 1. **Prepare.** Pick a ballot `b` higher than any seen. Send `PREPARE k b` to all nodes. An
//!    acceptor that has promised nothing higher promises `b` and answers with its (ballot,
//!    value); otherwise it rejects with what it promised.
//! 2. With promises from a majority, take the value with the highest accepted ballot: that is
//!    the register's current value. Apply the op: a read keeps it, a write replaces it, a cas
//!    replaces it only if it equals `from`.
//! 3. **Accept.** Send `ACCEPT k b value` to all nodes. An acceptor that has not promised a
//!    higher ballot stores it. Accepted by a majority: the op took effect, reply to the client.
//!
//! Any two majorities share a node, so a later round always sees the latest accepted value, and
//! an accept of `b` only succeeds if no newer prepare slipped in between: read-modify-write is
//! atomic. Reads and failed cas go through both phases too (a read that skipped the accept could
//! return a value a minority holds and a later read no longer sees).
//!
//! What the client hears when a round fails:
//!
//! - no majority of promises: nothing was written, so the coordinator retries with a higher
//!   ballot (after a random pause, so dueling coordinators do not livelock) and gives up with
//!   `-NOTAPPLIED` after about two seconds;
//! - every node refused or could not be reached in the accept phase: nothing holds the value, so
//!   it retries the same way;
//! - some node may hold the value but not a majority confirmed it: `-UNCERTAIN`, because a later
//!   round may still pick that value up. (An op that would not change the value — a read, a
//!   failed cas — answers `-NOTAPPLIED` instead: whether it "happened" changes nothing.)
//!
//! Acceptors journal every promise and accept before answering, and coordinators journal the
//! rounds they reserve, so a killed node that comes back never forgets a promise or reuses a
//! ballot.

use super::journal::Journal;
use super::peers::CallError;
use super::resp::Frame;
use super::{arg, unknown_command, wrong_arity, Node, Store, NOT_APPLIED, UNCERTAIN};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long one phase waits for a peer's answer.
const PHASE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a coordinator keeps retrying an op that has not written anything yet.
const OP_BUDGET: Duration = Duration::from_secs(2);
/// How many rounds a coordinator reserves (and journals) at a time.
const ROUND_RESERVE: u64 = 1000;

/// A Paxos ballot: ordered by round, then node id. The default is lower than any real one.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct Ballot {
    round: u64,
    node: String,
}

/// An acceptor's state for one key.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Slot {
    promised: Ballot,
    accepted: Ballot,
    value: Option<String>,
}

/// One journal line.
#[derive(Debug, Serialize, Deserialize)]
enum Record {
    /// The acceptor state of `key` is now `slot`.
    Slot { key: String, slot: Slot },
    /// This node's coordinator may use rounds up to `round`.
    Reserve { round: u64 },
}

/// Acceptor slots and coordinator counters, with their journal.
#[derive(Debug)]
struct State {
    slots: HashMap<String, Slot>,
    /// The highest round this node has seen or used.
    max_round: u64,
    /// Rounds up to here are journaled as reserved.
    reserved: u64,
    journal: Journal,
}

impl State {
    /// Journals `slot` as the new state of `key`, then keeps it: a change that cannot be
    /// journaled is not made (nor answered).
    fn save(&mut self, key: &str, slot: Slot) -> Result<(), Frame> {
        let record = Record::Slot {
            key: key.to_string(),
            slot,
        };
        self.journal
            .append(&record)
            .map_err(|e| Frame::error(NOT_APPLIED, e))?;
        if let Record::Slot { key, slot } = record {
            self.slots.insert(key, slot);
        }
        Ok(())
    }

    /// Phase 1 at this acceptor.
    fn prepare(&mut self, key: &str, ballot: Ballot) -> Result<Vote, Frame> {
        self.max_round = self.max_round.max(ballot.round);
        let old = self.slots.get(key).cloned().unwrap_or_default();
        if ballot <= old.promised {
            return Ok(Vote::Reject(old.promised));
        }
        let vote = Vote::Promise(old.accepted.clone(), old.value.clone());
        self.save(
            key,
            Slot {
                promised: ballot,
                ..old
            },
        )?;
        Ok(vote)
    }

    /// Phase 2 at this acceptor.
    fn accept(&mut self, key: &str, ballot: Ballot, value: Option<String>) -> Result<Vote, Frame> {
        self.max_round = self.max_round.max(ballot.round);
        let promised = self.slots.get(key).map(|s| &s.promised);
        if let Some(promised) = promised.filter(|p| ballot < **p) {
            return Ok(Vote::Reject(promised.clone()));
        }
        let slot = Slot {
            promised: ballot.clone(),
            accepted: ballot,
            value,
        };
        self.save(key, slot)?;
        Ok(Vote::Accepted)
    }
}

/// One node's answer in a phase.
#[derive(Clone, Debug, PartialEq)]
enum Vote {
    /// Phase 1 yes: the acceptor's accepted ballot and value.
    Promise(Ballot, Option<String>),
    /// Phase 2 yes.
    Accepted,
    /// No: the acceptor has promised this higher ballot.
    Reject(Ballot),
    /// The request never left (no connection): certainly no effect.
    Unreachable,
    /// Sent, but no (sensible) answer: it may or may not have had an effect.
    Unknown,
}

impl Vote {
    fn to_frame(&self) -> Frame {
        let ballot = |b: &Ballot| [Frame::Integer(b.round as i64), Frame::bulk(&b.node)];
        match self {
            Vote::Promise(b, value) => {
                let [round, node] = ballot(b);
                let words = vec![Frame::Simple("PROMISE".into()), round, node];
                Frame::Array(Some(
                    [words, vec![Frame::opt_bulk(value.as_ref())]].concat(),
                ))
            }
            Vote::Accepted => Frame::Simple("ACCEPTED".into()),
            Vote::Reject(b) => {
                let [round, node] = ballot(b);
                Frame::Array(Some(vec![Frame::Simple("REJECT".into()), round, node]))
            }
            Vote::Unreachable | Vote::Unknown => Frame::error(UNCERTAIN, "no vote"),
        }
    }

    fn from_reply(reply: Result<Frame, CallError>) -> Vote {
        let text = |f: &Frame| match f {
            Frame::Bulk(Some(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        };
        let ballot = |round: &Frame, node: &Frame| match (round, text(node)) {
            (Frame::Integer(r), Some(node)) if *r >= 0 => Some(Ballot {
                round: *r as u64,
                node,
            }),
            _ => None,
        };
        match reply {
            Err(CallError::NotSent { .. }) => Vote::Unreachable,
            Err(CallError::NoReply { .. }) => Vote::Unknown,
            Ok(Frame::Simple(s)) if s == "ACCEPTED" => Vote::Accepted,
            Ok(Frame::Array(Some(items))) => match items.as_slice() {
                [Frame::Simple(p), round, node, value] if p == "PROMISE" => {
                    match (ballot(round, node), value) {
                        (Some(b), Frame::Bulk(None)) => Vote::Promise(b, None),
                        (Some(b), v) => {
                            text(v).map_or(Vote::Unknown, |v| Vote::Promise(b, Some(v)))
                        }
                        _ => Vote::Unknown,
                    }
                }
                [Frame::Simple(r), round, node] if r == "REJECT" => {
                    ballot(round, node).map_or(Vote::Unknown, Vote::Reject)
                }
                _ => Vote::Unknown,
            },
            Ok(_) => Vote::Unknown,
        }
    }
}

/// A `quorum-kv` node.
pub struct QuorumKv {
    node: Arc<Node>,
    state: Mutex<State>,
    /// One lock per key, so this node runs one round per key at a time instead of dueling with
    /// itself.
    key_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl QuorumKv {
    /// Opens the store on `node`, reading back its journal.
    pub fn open(node: Arc<Node>) -> anyhow::Result<QuorumKv> {
        let (journal, records) = Journal::open::<Record>(node.dir.as_deref())?;
        let mut state = State {
            slots: HashMap::new(),
            max_round: 0,
            reserved: 0,
            journal,
        };
        for record in records {
            match record {
                Record::Slot { key, slot } => {
                    state.max_round = state.max_round.max(slot.promised.round);
                    state.slots.insert(key, slot);
                }
                Record::Reserve { round } => state.reserved = state.reserved.max(round),
            }
        }
        // Rounds reserved before a crash may have been used: start above them.
        state.max_round = state.max_round.max(state.reserved);
        node.log(format!(
            "{} keys from the journal, next round above {}",
            state.slots.len(),
            state.max_round
        ));
        Ok(QuorumKv {
            node,
            state: Mutex::new(state),
            key_locks: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, Frame> {
        self.state
            .lock()
            .map_err(|_| Frame::error(NOT_APPLIED, "store lock poisoned"))
    }

    /// A ballot higher than any this node has seen.
    fn next_ballot(&self) -> Result<Ballot, Frame> {
        let mut state = self.lock()?;
        state.max_round += 1;
        let round = state.max_round;
        if round > state.reserved {
            let reserved = round + ROUND_RESERVE;
            state
                .journal
                .append(&Record::Reserve { round: reserved })
                .map_err(|e| Frame::error(NOT_APPLIED, e))?;
            state.reserved = reserved;
        }
        Ok(Ballot {
            round,
            node: self.node.id.clone(),
        })
    }

    /// Remembers the highest round in `votes`, so the next ballot goes above it.
    fn observe(&self, votes: &[Vote]) {
        if let Ok(mut state) = self.state.lock() {
            for vote in votes {
                if let Vote::Reject(b) | Vote::Promise(b, _) = vote {
                    state.max_round = state.max_round.max(b.round);
                }
            }
        }
    }

    /// Sends `request` to every peer, with `local` as this node's own vote, and gathers votes
    /// as they arrive until `enough` says so or every node has answered.
    async fn phase(
        &self,
        request: Frame,
        local: Vote,
        enough: impl Fn(&[Vote]) -> bool,
    ) -> Vec<Vote> {
        let cluster = self.node.peers.len() + 1;
        let request = Arc::new(request);
        let (tx, mut rx) = tokio::sync::mpsc::channel(cluster);
        for peer in &self.node.peers {
            let (peer, request, tx) = (peer.clone(), request.clone(), tx.clone());
            tokio::spawn(async move {
                let reply = peer.call(&request, PHASE_TIMEOUT).await;
                let _ = tx.send(Vote::from_reply(reply)).await;
            });
        }
        drop(tx);
        let mut votes = vec![local];
        while votes.len() < cluster && !enough(&votes) {
            match rx.recv().await {
                Some(vote) => votes.push(vote),
                None => break,
            }
        }
        votes
    }

    /// Runs one op on `key`: `change` maps the current value to the new value and the reply.
    async fn propose(
        &self,
        key: &str,
        change: impl Fn(Option<&str>) -> (Option<String>, Frame),
    ) -> Result<Frame, Frame> {
        let key_lock = {
            let mut locks = self
                .key_locks
                .lock()
                .map_err(|_| Frame::error(NOT_APPLIED, "lock table poisoned"))?;
            locks.entry(key.to_string()).or_default().clone()
        };
        let _one_round_per_key = key_lock.lock().await;
        let (cluster, majority) = (self.node.peers.len() + 1, self.node.majority());
        let deadline = Instant::now() + OP_BUDGET;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let ballot = self.next_ballot()?;
            let (b, k) = (ballot.round.to_string(), key.as_bytes());
            let words = [
                b"PREPARE".as_slice(),
                k,
                b.as_bytes(),
                ballot.node.as_bytes(),
            ];
            let request = Frame::command(&words.map(Some));
            let local = self.lock()?.prepare(key, ballot.clone())?;
            let votes = self
                .phase(request, local, |v| {
                    let yes = v.iter().filter(|v| matches!(v, Vote::Promise(..))).count();
                    yes >= majority || v.len() - yes > cluster - majority
                })
                .await;
            self.observe(&votes);
            let mut promises: Vec<(&Ballot, &Option<String>)> = votes
                .iter()
                .filter_map(|v| match v {
                    Vote::Promise(b, value) => Some((b, value)),
                    _ => None,
                })
                .collect();
            if promises.len() < majority {
                let why = format!(
                    "only {} of {cluster} nodes promised ballot {}/{} (need {majority})",
                    promises.len(),
                    ballot.round,
                    ballot.node
                );
                self.pause_before_retry(attempt, deadline, &why).await?;
                continue;
            }
            promises.sort_by(|a, b| a.0.cmp(b.0));
            let current = promises.last().and_then(|(_, v)| v.as_deref());
            let (new, reply) = change(current);
            let unchanged = new.as_deref() == current;

            let mut words = vec![Some(b"ACCEPT".as_slice()), Some(k), Some(b.as_bytes())];
            words.extend([
                Some(ballot.node.as_bytes()),
                new.as_deref().map(str::as_bytes),
            ]);
            let request = Frame::command(&words);
            let local = self.lock()?.accept(key, ballot.clone(), new.clone())?;
            let votes = self
                .phase(request, local, |v| {
                    v.iter().filter(|v| **v == Vote::Accepted).count() >= majority
                })
                .await;
            self.observe(&votes);
            let accepted = votes.iter().filter(|v| **v == Vote::Accepted).count();
            if accepted >= majority {
                return Ok(reply);
            }
            let why = format!(
                "only {accepted} of {cluster} nodes accepted ballot {}/{} (need {majority})",
                ballot.round, ballot.node
            );
            let surely_nowhere = votes.len() == cluster
                && votes
                    .iter()
                    .all(|v| matches!(v, Vote::Reject(_) | Vote::Unreachable));
            if surely_nowhere {
                self.pause_before_retry(attempt, deadline, &why).await?;
                continue;
            }
            if unchanged {
                return Err(Frame::error(NOT_APPLIED, why));
            }
            return Err(Frame::error(UNCERTAIN, why));
        }
    }

    /// Waits a random, growing pause before another round, or gives up with `-NOTAPPLIED` when
    /// the op's time is up.
    async fn pause_before_retry(
        &self,
        attempt: u32,
        deadline: Instant,
        why: &str,
    ) -> Result<(), Frame> {
        let cap_ms = 2u64.saturating_pow(attempt.min(7)).min(100);
        let pause = Duration::from_millis(rand::thread_rng().gen_range(1..=cap_ms.max(2)));
        if Instant::now() + pause >= deadline {
            self.node
                .log(format!("giving up after {attempt} rounds: {why}"));
            return Err(Frame::error(
                NOT_APPLIED,
                format!("{why}; gave up after {attempt} rounds"),
            ));
        }
        tokio::time::sleep(pause).await;
        Ok(())
    }

    /// Answers `PREPARE` and `ACCEPT` from another node's coordinator.
    fn acceptor(&self, name: &str, args: &[Option<String>]) -> Result<Frame, Frame> {
        let key = arg(args, 0, "the key")?;
        let round = arg(args, 1, "the round")?
            .parse()
            .map_err(|_| Frame::error(NOT_APPLIED, "the round must be a number"))?;
        let ballot = Ballot {
            round,
            node: arg(args, 2, "the ballot's node")?.to_string(),
        };
        let vote = match (name, args.len()) {
            ("PREPARE", 3) => self.lock()?.prepare(key, ballot)?,
            ("ACCEPT", 4) => self.lock()?.accept(key, ballot, args[3].clone())?,
            _ => {
                return Err(wrong_arity(
                    name,
                    "PREPARE key round node | ACCEPT key round node value",
                ))
            }
        };
        Ok(vote.to_frame())
    }

    async fn serve(&self, name: &str, args: &[Option<String>]) -> Result<Frame, Frame> {
        match (name, args.len()) {
            ("GET", 1) => {
                let key = arg(args, 0, "the key")?;
                self.propose(key, |cur| (cur.map(str::to_string), Frame::opt_bulk(cur)))
                    .await
            }
            ("SET", 2) => {
                let (key, value) = (arg(args, 0, "the key")?, arg(args, 1, "the value")?);
                self.propose(key, |_| (Some(value.to_string()), Frame::ok()))
                    .await
            }
            ("CAS", 3) => {
                let (key, to) = (arg(args, 0, "the key")?, arg(args, 2, "the new value")?);
                let from = args[1].as_deref();
                self.propose(key, |cur| {
                    if cur == from {
                        (Some(to.to_string()), Frame::Integer(1))
                    } else {
                        (cur.map(str::to_string), Frame::Integer(0))
                    }
                })
                .await
            }
            ("PREPARE" | "ACCEPT", _) => self.acceptor(name, args),
            ("GET", _) => Err(wrong_arity(name, "GET key")),
            ("SET", _) => Err(wrong_arity(name, "SET key value")),
            ("CAS", _) => Err(wrong_arity(name, "CAS key from to")),
            _ => Err(unknown_command(name)),
        }
    }
}

#[async_trait::async_trait]
impl Store for QuorumKv {
    async fn handle(&self, name: &str, args: &[Option<String>]) -> Frame {
        self.serve(name, args).await.unwrap_or_else(|e| e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ballot(round: u64, node: &str) -> Ballot {
        Ballot {
            round,
            node: node.into(),
        }
    }

    fn state() -> State {
        State {
            slots: HashMap::new(),
            max_round: 0,
            reserved: 0,
            journal: Journal::open::<Record>(None).unwrap().0,
        }
    }

    #[test]
    fn an_acceptor_keeps_its_promises() {
        let mut s = state();
        assert_eq!(
            s.prepare("k", ballot(2, "n1")),
            Ok(Vote::Promise(Ballot::default(), None))
        );
        // A lower or equal prepare, and a lower accept, are refused.
        assert_eq!(
            s.prepare("k", ballot(1, "n2")),
            Ok(Vote::Reject(ballot(2, "n1")))
        );
        assert_eq!(
            s.prepare("k", ballot(2, "n1")),
            Ok(Vote::Reject(ballot(2, "n1")))
        );
        assert_eq!(
            s.accept("k", ballot(1, "n3"), Some("x".into())),
            Ok(Vote::Reject(ballot(2, "n1")))
        );
        // The promised ballot may accept; a later prepare sees what it accepted.
        assert_eq!(
            s.accept("k", ballot(2, "n1"), Some("5".into())),
            Ok(Vote::Accepted)
        );
        assert_eq!(
            s.prepare("k", ballot(3, "n2")),
            Ok(Vote::Promise(ballot(2, "n1"), Some("5".into())))
        );
        assert_eq!(s.max_round, 3);
    }

    #[test]
    fn votes_survive_the_wire() {
        let votes = [
            Vote::Promise(ballot(7, "n2"), Some("3".into())),
            Vote::Promise(Ballot::default(), None),
            Vote::Accepted,
            Vote::Reject(ballot(9, "n3")),
        ];
        for vote in votes {
            assert_eq!(Vote::from_reply(Ok(vote.to_frame())), vote);
        }
        assert_eq!(Vote::from_reply(Ok(Frame::ok())), Vote::Unknown);
    }
}
