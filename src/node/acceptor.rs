//! The acceptor half of single-decree Paxos, per key, as `quorum-kv` uses it (see
//! [`quorum_kv`](super::quorum_kv) for the whole protocol).
//!
//! Each node keeps, for every key, a [`Slot`]: the highest ballot it has promised, and the
//! ballot and value it last accepted. `PREPARE` and `ACCEPT` from coordinators change slots; each
//! change is journaled before it is made and answered, so a node that crashes and comes back
//! keeps every promise. The same journal records the rounds this node's own coordinator has
//! reserved, so it never reuses a ballot after a restart.

use super::journal::{Commits, Durability, Journal};
use super::peers::CallError;
use super::resp::Frame;
use super::{NOT_APPLIED, UNCERTAIN};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// How many rounds a coordinator reserves (and journals) at a time.
const ROUND_RESERVE: u64 = 1000;

/// A Paxos ballot: ordered by round, then node id. The default is lower than any real one.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Ballot {
    /// Higher rounds win.
    pub round: u64,
    /// The coordinator that chose the ballot; breaks ties.
    pub node: String,
}

/// An acceptor's state for one key.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    /// No ballot below this one may prepare or accept.
    pub promised: Ballot,
    /// The ballot that wrote `value`.
    pub accepted: Ballot,
    /// The value, nil if never written.
    pub value: Option<String>,
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
pub struct State {
    slots: HashMap<String, Slot>,
    /// The highest round this node has seen or used.
    pub max_round: u64,
    /// Rounds up to here are journaled as reserved.
    reserved: u64,
    journal: Journal,
}

impl State {
    /// Reads the journal in `dir` back (or starts empty without a directory); new records are
    /// kept as `durability` says.
    pub fn open(dir: Option<&Path>, durability: Durability) -> anyhow::Result<State> {
        let (journal, records) = Journal::open::<Record>(dir, durability)?;
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
        Ok(state)
    }

    /// How many keys have a slot.
    pub fn keys(&self) -> usize {
        self.slots.len()
    }

    /// A ballot for coordinator `node` above every round seen so far, journaling a new block
    /// of rounds when the reserved ones run out.
    pub fn next_ballot(&mut self, node: &str) -> Result<Ballot, Frame> {
        self.max_round += 1;
        let round = self.max_round;
        if round > self.reserved {
            let reserved = round + ROUND_RESERVE;
            self.journal
                .append(&Record::Reserve { round: reserved })
                .map_err(|e| Frame::error(NOT_APPLIED, e))?;
            self.reserved = reserved;
        }
        Ok(Ballot {
            round,
            node: node.to_string(),
        })
    }

    /// Remembers the highest round in `votes`, so the next ballot goes above it.
    pub fn observe(&mut self, votes: &[Vote]) {
        for vote in votes {
            if let Vote::Reject(b) | Vote::Promise(b, _) = vote {
                self.max_round = self.max_round.max(b.round);
            }
        }
    }

    /// Where votes wait for the journal to hold what they promise, outside the lock.
    pub fn commits(&self) -> Commits {
        self.journal.commits()
    }

    /// Queues `slot` for the journal as the new state of `key`, then keeps it: a change that
    /// cannot be journaled is not made (nor answered). The vote that depends on it waits for
    /// its ticket ([`Journal::last_ticket`]) before it leaves this node.
    fn save(&mut self, key: &str, slot: Slot) -> Result<(), Frame> {
        let record = Record::Slot {
            key: key.to_string(),
            slot,
        };
        self.journal
            .append_grouped(&record)
            .map_err(|e| Frame::error(NOT_APPLIED, e))?;
        if let Record::Slot { key, slot } = record {
            self.slots.insert(key, slot);
        }
        Ok(())
    }

    /// Phase 1 at this acceptor: the vote, and the journal ticket to wait for before it is
    /// sent or counted (it covers every change this acceptor has made, whatever the vote saw).
    pub fn prepare(&mut self, key: &str, ballot: Ballot) -> Result<(Vote, u64), Frame> {
        self.max_round = self.max_round.max(ballot.round);
        let old = self.slots.get(key).cloned().unwrap_or_default();
        if ballot <= old.promised {
            return Ok((Vote::Reject(old.promised), self.journal.last_ticket()));
        }
        let vote = Vote::Promise(old.accepted.clone(), old.value.clone());
        self.save(
            key,
            Slot {
                promised: ballot,
                ..old
            },
        )?;
        Ok((vote, self.journal.last_ticket()))
    }

    /// Phase 2 at this acceptor: the vote, and the journal ticket to wait for, as for
    /// [`prepare`](State::prepare).
    pub fn accept(
        &mut self,
        key: &str,
        ballot: Ballot,
        value: Option<String>,
    ) -> Result<(Vote, u64), Frame> {
        self.max_round = self.max_round.max(ballot.round);
        let promised = self.slots.get(key).map(|s| &s.promised);
        if let Some(promised) = promised.filter(|p| ballot < **p) {
            return Ok((Vote::Reject(promised.clone()), self.journal.last_ticket()));
        }
        let slot = Slot {
            promised: ballot.clone(),
            accepted: ballot,
            value,
        };
        self.save(key, slot)?;
        Ok((Vote::Accepted, self.journal.last_ticket()))
    }
}

/// One node's answer in a phase.
#[derive(Clone, Debug, PartialEq)]
pub enum Vote {
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
    /// The wire form of this vote.
    pub fn to_frame(&self) -> Frame {
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

    /// The vote a peer's reply (or failure to reply) stands for.
    pub fn from_reply(reply: Result<Frame, CallError>) -> Vote {
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
        State::open(None, Durability::Fsync).unwrap()
    }

    #[test]
    fn an_acceptor_keeps_its_promises() {
        let mut s = state();
        assert_eq!(
            s.prepare("k", ballot(2, "n1")).map(|(v, _)| v),
            Ok(Vote::Promise(Ballot::default(), None))
        );
        // A lower or equal prepare, and a lower accept, are refused.
        assert_eq!(
            s.prepare("k", ballot(1, "n2")).map(|(v, _)| v),
            Ok(Vote::Reject(ballot(2, "n1")))
        );
        assert_eq!(
            s.prepare("k", ballot(2, "n1")).map(|(v, _)| v),
            Ok(Vote::Reject(ballot(2, "n1")))
        );
        assert_eq!(
            s.accept("k", ballot(1, "n3"), Some("x".into()))
                .map(|(v, _)| v),
            Ok(Vote::Reject(ballot(2, "n1")))
        );
        // The promised ballot may accept; a later prepare sees what it accepted.
        assert_eq!(
            s.accept("k", ballot(2, "n1"), Some("5".into()))
                .map(|(v, _)| v),
            Ok(Vote::Accepted)
        );
        assert_eq!(
            s.prepare("k", ballot(3, "n2")).map(|(v, _)| v),
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

    #[test]
    fn a_restarted_node_keeps_promises_and_never_reuses_a_round() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::open(Some(dir.path()), Durability::Fsync).unwrap();
        let mine = s.next_ballot("n1").unwrap();
        assert_eq!(
            s.prepare("k", ballot(5, "n2")).map(|(v, _)| v),
            Ok(Vote::Promise(Ballot::default(), None))
        );
        drop(s);
        let mut s = State::open(Some(dir.path()), Durability::Fsync).unwrap();
        assert_eq!(
            s.prepare("k", ballot(4, "n3")).map(|(v, _)| v),
            Ok(Vote::Reject(ballot(5, "n2")))
        );
        assert!(s.next_ballot("n1").unwrap().round > mine.round + ROUND_RESERVE - 1);
    }
}
