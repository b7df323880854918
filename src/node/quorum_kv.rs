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
//! Every node is both a coordinator (it serves `GET`, `SET`, `CAS` and the data-type commands of
//! [`commands`](super::commands) from clients, each one read-modify-write of one key) and an
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
//! Acceptors journal every promise and accept before answering (and fsync it; syncs are shared
//! between votes that arrive together, see [`group_commit`](super::group_commit), and a
//! coordinator counts its own vote only once it is on disk), and coordinators
//! journal the rounds they reserve, so a killed node that comes back never forgets a promise or
//! reuses a ballot. Turn fsync off (`--no-fsync`: the journal is buffered in the process and
//! written out lazily, see [`journal`](super::journal)) and a kill of a majority makes the
//! cluster forget values it acknowledged: the run turns non-linearizable.

use super::acceptor::{Ballot, State, Vote};
use super::journal::Commits;
use super::resp::Frame;
use super::{arg, commands, unknown_command, wrong_arity, Node, Store, NOT_APPLIED, UNCERTAIN};
use rand::Rng;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long one phase waits for a peer's answer.
const PHASE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a coordinator keeps retrying an op that has not written anything yet.
const OP_BUDGET: Duration = Duration::from_secs(2);

/// How a round ended, when it did not end the op with an error.
enum RoundEnd {
    /// A majority accepted: the op took effect; this is the client's reply.
    Done(Frame),
    /// No node holds this round's value: safe to try again with a higher ballot.
    WroteNothing(String),
}

/// A `quorum-kv` node.
pub struct QuorumKv {
    node: Arc<Node>,
    state: Mutex<State>,
    /// Where votes wait for the journal to hold them, outside the state's lock.
    commits: Commits,
    /// One lock per key, so this node runs one round per key at a time instead of dueling with
    /// itself.
    key_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl QuorumKv {
    /// Opens the store on `node`, reading back its journal.
    pub fn open(node: Arc<Node>) -> anyhow::Result<QuorumKv> {
        let state = State::open(node.dir.as_deref(), node.durability)?;
        node.log(format!(
            "{} keys from the journal, next round above {}",
            state.keys(),
            state.max_round
        ));
        Ok(QuorumKv {
            node,
            commits: state.commits(),
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
        self.lock()?.next_ballot(&self.node.id)
    }

    /// Remembers the highest round in `votes`, so the next ballot goes above it.
    fn observe(&self, votes: &[Vote]) {
        if let Ok(mut state) = self.state.lock() {
            state.observe(votes);
        }
    }

    /// Sends `request` to every peer, with `local` as this node's own vote (counted once its
    /// journal ticket is on disk, while the peers work), and gathers votes as they arrive until
    /// `enough` says so or every node has answered.
    async fn phase(
        &self,
        request: Frame,
        (local, ticket): (Vote, u64),
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
        let (commits, local_tx) = (self.commits.clone(), tx.clone());
        tokio::spawn(async move {
            // A vote whose journal failed may or may not survive a crash: it counts for nothing.
            let vote = match commits.durable(ticket).await {
                Ok(()) => local,
                Err(_) => Vote::Unknown,
            };
            let _ = local_tx.send(vote).await;
        });
        drop(tx);
        let mut votes = Vec::with_capacity(cluster);
        while votes.len() < cluster && !enough(&votes) {
            match rx.recv().await {
                Some(vote) => votes.push(vote),
                None => break,
            }
        }
        votes
    }

    /// Runs one op on `key`: `change` maps the current value to the new value and the reply.
    /// Retries rounds that certainly wrote nothing, until the op's time is up.
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
        let deadline = Instant::now() + OP_BUDGET;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.round(key, &change).await? {
                RoundEnd::Done(reply) => return Ok(reply),
                RoundEnd::WroteNothing(why) => {
                    self.pause_before_retry(attempt, deadline, &why).await?
                }
            }
        }
    }

    /// One round of prepare and accept with a fresh ballot.
    async fn round(
        &self,
        key: &str,
        change: impl Fn(Option<&str>) -> (Option<String>, Frame),
    ) -> Result<RoundEnd, Frame> {
        let (cluster, majority) = (self.node.peers.len() + 1, self.node.majority());
        let ballot = self.next_ballot()?;
        let round = ballot.round.to_string();
        let (k, r, n) = (key.as_bytes(), round.as_bytes(), ballot.node.as_bytes());

        // Phase 1: a majority promises to ignore older ballots and says what it holds.
        let request = Frame::command(&[Some(b"PREPARE"), Some(k), Some(r), Some(n)]);
        let local = self.lock()?.prepare(key, ballot.clone())?;
        let votes = self
            .phase(request, local, |v| {
                let yes = v.iter().filter(|v| matches!(v, Vote::Promise(..))).count();
                yes >= majority || v.len() - yes > cluster - majority
            })
            .await;
        self.observe(&votes);
        let promises: Vec<(&Ballot, &Option<String>)> = votes
            .iter()
            .filter_map(|v| match v {
                Vote::Promise(b, value) => Some((b, value)),
                _ => None,
            })
            .collect();
        if promises.len() < majority {
            return Ok(RoundEnd::WroteNothing(format!(
                "only {} of {cluster} nodes promised ballot {round}/{} (need {majority})",
                promises.len(),
                ballot.node
            )));
        }
        let newest = promises.iter().max_by(|a, b| a.0.cmp(b.0));
        let current = newest.and_then(|(_, v)| v.as_deref());
        let (new, reply) = change(current);

        // Phase 2: a majority stores the new value under this ballot.
        let value = new.as_deref().map(str::as_bytes);
        let request = Frame::command(&[Some(b"ACCEPT"), Some(k), Some(r), Some(n), value]);
        let local = self.lock()?.accept(key, ballot.clone(), new.clone())?;
        let votes = self
            .phase(request, local, |v| {
                v.iter().filter(|v| **v == Vote::Accepted).count() >= majority
            })
            .await;
        self.observe(&votes);
        let accepted = votes.iter().filter(|v| **v == Vote::Accepted).count();
        if accepted >= majority {
            return Ok(RoundEnd::Done(reply));
        }
        let why = format!(
            "only {accepted} of {cluster} nodes accepted ballot {round}/{} (need {majority})",
            ballot.node
        );
        let surely_nowhere = votes.len() == cluster
            && votes
                .iter()
                .all(|v| matches!(v, Vote::Reject(_) | Vote::Unreachable));
        if surely_nowhere {
            Ok(RoundEnd::WroteNothing(why))
        } else if new.as_deref() == current {
            // Held somewhere or not, the register's value is the same: as if it never ran.
            Err(Frame::error(NOT_APPLIED, why))
        } else {
            Err(Frame::error(UNCERTAIN, why))
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
    async fn acceptor(&self, name: &str, args: &[Option<String>]) -> Result<Frame, Frame> {
        let key = arg(args, 0, "the key")?;
        let round = arg(args, 1, "the round")?
            .parse()
            .map_err(|_| Frame::error(NOT_APPLIED, "the round must be a number"))?;
        let ballot = Ballot {
            round,
            node: arg(args, 2, "the ballot's node")?.to_string(),
        };
        let (vote, ticket) = match (name, args.len()) {
            ("PREPARE", 3) => self.lock()?.prepare(key, ballot)?,
            ("ACCEPT", 4) => self.lock()?.accept(key, ballot, args[3].clone())?,
            _ => {
                return Err(wrong_arity(
                    name,
                    "PREPARE key round node | ACCEPT key round node value",
                ))
            }
        };
        // The vote leaves only once the journal holds it; a failed journal sends no vote,
        // which the coordinator counts as unknown.
        self.commits
            .durable(ticket)
            .await
            .map_err(|e| Frame::error(UNCERTAIN, format!("the journal failed: {e}")))?;
        Ok(vote.to_frame())
    }

    async fn serve(&self, name: &str, args: &[Option<String>]) -> Result<Frame, Frame> {
        if let Some(command) = commands::parse(name, args)? {
            // The command is the round's change; one that cannot apply (a wrong type) keeps
            // the value and answers its error.
            return self
                .propose(command.key(), |cur| match command.apply(cur) {
                    Ok(step) => step,
                    Err(e) => (cur.map(str::to_string), e),
                })
                .await;
        }
        match (name, args.len()) {
            ("PREPARE" | "ACCEPT", _) => self.acceptor(name, args).await,
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
