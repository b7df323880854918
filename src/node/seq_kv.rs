//! `seq-kv`: one primary orders every write in a log; every node answers reads from its own
//! replica, which applies that log in order with a lag. Sequentially consistent, not
//! linearizable.
//!
//! The node with the smallest id is the primary. It appends each `SET` and each successful
//! `CAS` to its log (journaled before the reply) and evaluates every `CAS` against the log's
//! end. Every other node keeps a replica: a copy of the data as of some prefix of the log, which
//! it brings up to date by pulling the rest of the log from the primary every 50–200 ms
//! ([`PULL_EVERY_MS`]). A client talks to one node for the whole run and reads what that node's
//! replica holds, so a read may miss writes other clients have already seen acknowledged: a
//! stale read, and the end of linearizability.
//!
//! Why it is still sequential: the log is one total order of the writes, and each client's ops
//! fit into it in the order the client made them.
//!
//! - A replica only moves forward through the log, so a client's reads see growing prefixes.
//! - A write (or a failed `CAS`, which read the primary's state) is answered with its position
//!   in the log, and the client's node waits until its replica has applied that position before
//!   replying: the client's next read sees its own write, and everything before it.
//! - A write lands at the log's end, which is at or past any prefix a replica has applied.
//!
//! A node that is killed loses its replica and starts again from an empty one (only the primary
//! journals), so under kill faults a client on a restarted node can see time run backwards.

use super::journal::{Commits, Journal};
use super::peers::{CallError, Peer};
use super::resp::Frame;
use super::{arg, unknown_command, wrong_arity, Node, Store, NOT_APPLIED, UNCERTAIN};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Shortest and longest pause between two pulls of the log, in milliseconds: the replicas' lag.
pub const PULL_EVERY_MS: (u64, u64) = (50, 200);
/// How long a node waits for the primary's answer to a forwarded write or a pull.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// One entry of the log (and one journaled record): `key` now holds `value`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    key: String,
    value: String,
}

/// A replica: the data as of the first `applied` entries of the log.
#[derive(Debug, Default)]
struct Replica {
    map: HashMap<String, String>,
    applied: u64,
}

impl Replica {
    /// Applies `entries`, which start at log position `from`; skips the ones already applied.
    fn apply(&mut self, from: u64, entries: Vec<Entry>) {
        for (i, e) in entries.into_iter().enumerate() {
            if from + i as u64 == self.applied {
                self.map.insert(e.key, e.value);
                self.applied += 1;
            }
        }
    }
}

/// The primary's log, its journal, and each entry's journal ticket.
#[derive(Debug)]
struct Log {
    entries: Vec<(Entry, u64)>,
    /// Every key's latest value and the ticket of the entry that wrote it.
    map: HashMap<String, (String, u64)>,
    journal: Journal,
}

impl Log {
    /// Appends `key = value`; returns the journal ticket.
    fn append(&mut self, key: &str, value: &str) -> Result<u64, Frame> {
        let entry = Entry {
            key: key.to_string(),
            value: value.to_string(),
        };
        let ticket = self
            .journal
            .append_grouped(&entry)
            .map_err(|e| Frame::error(NOT_APPLIED, e))?;
        self.map
            .insert(entry.key.clone(), (entry.value.clone(), ticket));
        self.entries.push((entry, ticket));
        Ok(ticket)
    }
}

/// What this node is: the primary with the log, or a replica of it.
enum Role {
    Primary {
        log: Mutex<Log>,
        commits: Commits,
    },
    Replica {
        primary: Arc<Peer>,
        replica: Arc<Mutex<Replica>>,
        /// Held while a pull runs, so pulls do not overlap.
        pulling: Arc<tokio::sync::Mutex<()>>,
    },
}

/// A `seq-kv` node.
pub struct SeqKv {
    role: Role,
}

impl SeqKv {
    /// Opens the store on `node`: the primary reads back its journal, a replica starts pulling.
    pub fn open(node: Arc<Node>) -> anyhow::Result<SeqKv> {
        let primary = node
            .peers
            .iter()
            .filter(|p| p.id < node.id)
            .min_by(|a, b| a.id.cmp(&b.id))
            .cloned();
        let role = match primary {
            Some(primary) => {
                node.log(format!("replica of primary {}", primary.id));
                let replica = Arc::new(Mutex::new(Replica::default()));
                let pulling = Arc::new(tokio::sync::Mutex::new(()));
                tokio::spawn(pull_forever(
                    node.clone(),
                    primary.clone(),
                    replica.clone(),
                    pulling.clone(),
                ));
                Role::Replica {
                    primary,
                    replica,
                    pulling,
                }
            }
            None => {
                let (journal, records) =
                    Journal::open::<Entry>(node.dir.as_deref(), node.durability)?;
                let mut log = Log {
                    entries: Vec::new(),
                    map: HashMap::new(),
                    journal,
                };
                for e in records {
                    log.map.insert(e.key.clone(), (e.value.clone(), 0));
                    log.entries.push((e, 0));
                }
                node.log(format!(
                    "primary; {} log entries from the journal",
                    log.entries.len()
                ));
                Role::Primary {
                    commits: log.journal.commits(),
                    log: Mutex::new(log),
                }
            }
        };
        Ok(SeqKv { role })
    }

    /// On the primary: a client command or an internal one (`APPEND`, `PULL`).
    async fn primary(
        &self,
        log: &Mutex<Log>,
        commits: &Commits,
        name: &str,
        args: &[Option<String>],
    ) -> Result<Frame, Frame> {
        let lock = || {
            log.lock()
                .map_err(|_| Frame::error(NOT_APPLIED, "log lock poisoned"))
        };
        let durable = |ticket| async move {
            commits
                .durable(ticket)
                .await
                .map_err(|e| Frame::error(UNCERTAIN, format!("the journal failed: {e}")))
        };
        match (name, args.len()) {
            ("GET", 1) => {
                let key = arg(args, 0, "the key")?;
                let (value, ticket) = match lock()?.map.get(key) {
                    Some((v, t)) => (Some(v.clone()), *t),
                    None => (None, 0),
                };
                durable(ticket).await?;
                Ok(Frame::opt_bulk(value))
            }
            ("SET" | "CAS", _) => {
                let (reply, _, ticket) = self.write(&mut *lock()?, name, args)?;
                durable(ticket).await?;
                Ok(reply)
            }
            ("APPEND", n) if n >= 1 => {
                let (reply, position, ticket) =
                    self.write(&mut *lock()?, arg(args, 0, "the command")?, &args[1..])?;
                durable(ticket).await?;
                Ok(Frame::Array(Some(vec![
                    reply,
                    Frame::Integer(position as i64),
                ])))
            }
            ("PULL", 1) => {
                let from: usize = arg(args, 0, "the position")?
                    .parse()
                    .map_err(|_| Frame::error(NOT_APPLIED, "PULL position must be a number"))?;
                let (words, ticket) = {
                    let log = lock()?;
                    let tail = log.entries.get(from..).unwrap_or(&[]);
                    let ticket = tail.last().map_or(0, |(_, t)| *t);
                    let words: Vec<Frame> = tail
                        .iter()
                        .flat_map(|(e, _)| [Frame::bulk(&e.key), Frame::bulk(&e.value)])
                        .collect();
                    (words, ticket)
                };
                // A replica never shows an entry a crash of the primary could take back.
                durable(ticket).await?;
                Ok(Frame::Array(Some(words)))
            }
            ("GET", _) => Err(wrong_arity(name, "GET key")),
            ("PULL", _) => Err(wrong_arity(name, "PULL position")),
            ("APPEND", _) => Err(wrong_arity(name, "APPEND SET|CAS args...")),
            _ => Err(unknown_command(name)),
        }
    }

    /// Applies a `SET` or `CAS` to the log. Returns the reply, the log length the op saw or
    /// made (what the writer's replica must reach), and the journal ticket to wait for.
    fn write(
        &self,
        log: &mut Log,
        name: &str,
        args: &[Option<String>],
    ) -> Result<(Frame, u64, u64), Frame> {
        match (name, args.len()) {
            ("SET", 2) => {
                let (key, value) = (arg(args, 0, "the key")?, arg(args, 1, "the value")?);
                let ticket = log.append(key, value)?;
                Ok((Frame::ok(), log.entries.len() as u64, ticket))
            }
            ("CAS", 3) => {
                let (key, to) = (arg(args, 0, "the key")?, arg(args, 2, "the new value")?);
                let (now, ticket) = match log.map.get(key) {
                    Some((v, t)) => (Some(v.as_str()), *t),
                    None => (None, 0),
                };
                if now != args[1].as_deref() {
                    return Ok((Frame::Integer(0), log.entries.len() as u64, ticket));
                }
                let ticket = log.append(key, to)?;
                Ok((Frame::Integer(1), log.entries.len() as u64, ticket))
            }
            ("SET", _) => Err(wrong_arity(name, "SET key value")),
            ("CAS", _) => Err(wrong_arity(name, "CAS key from to")),
            _ => Err(unknown_command(name)),
        }
    }

    /// On a replica: reads locally, sends writes to the primary and waits to have applied them.
    async fn replica(
        &self,
        primary: &Peer,
        replica: &Mutex<Replica>,
        pulling: &tokio::sync::Mutex<()>,
        name: &str,
        args: &[Option<String>],
    ) -> Result<Frame, Frame> {
        match (name, args.len()) {
            ("GET", 1) => {
                let key = arg(args, 0, "the key")?;
                let replica = replica
                    .lock()
                    .map_err(|_| Frame::error(NOT_APPLIED, "replica lock poisoned"))?;
                Ok(Frame::opt_bulk(replica.map.get(key)))
            }
            ("GET", _) => Err(wrong_arity(name, "GET key")),
            ("SET" | "CAS", _) => {
                let mut words = vec![Some(&b"APPEND"[..]), Some(name.as_bytes())];
                words.extend(args.iter().map(|a| a.as_deref().map(str::as_bytes)));
                let answer = match primary.call(&Frame::command(&words), CALL_TIMEOUT).await {
                    Ok(answer) => answer,
                    Err(e @ CallError::NotSent { .. }) => {
                        return Err(Frame::error(
                            NOT_APPLIED,
                            format!("primary unavailable: {e}"),
                        ))
                    }
                    Err(e @ CallError::NoReply { .. }) => {
                        return Err(Frame::error(
                            UNCERTAIN,
                            format!("primary did not answer: {e}"),
                        ))
                    }
                };
                let (reply, position) = match answer {
                    Frame::Array(Some(mut parts)) if parts.len() == 2 => match parts.pop() {
                        Some(Frame::Integer(p)) => (parts.remove(0), p.max(0) as u64),
                        _ => return Err(Frame::error(UNCERTAIN, "primary sent no log position")),
                    },
                    Frame::Error(e) => return Ok(Frame::Error(e)),
                    other => {
                        return Err(Frame::error(
                            UNCERTAIN,
                            format!("unexpected answer from the primary: {other:?}"),
                        ))
                    }
                };
                // Read your writes: this client's next read must see the log up to its write.
                loop {
                    if applied(replica) >= position {
                        return Ok(reply);
                    }
                    if let Err(e) = pull(primary, replica, pulling).await {
                        return Err(Frame::error(
                            UNCERTAIN,
                            format!(
                                "applied on the primary, but this replica cannot catch up: {e}"
                            ),
                        ));
                    }
                }
            }
            _ => Err(unknown_command(name)),
        }
    }
}

/// How many log entries `replica` has applied (0 if its lock is poisoned).
fn applied(replica: &Mutex<Replica>) -> u64 {
    replica.lock().map(|r| r.applied).unwrap_or(0)
}

/// Fetches the log from where `replica` stands and applies it.
async fn pull(
    primary: &Peer,
    replica: &Mutex<Replica>,
    pulling: &tokio::sync::Mutex<()>,
) -> anyhow::Result<()> {
    let _one_at_a_time = pulling.lock().await;
    let from = applied(replica);
    let position = from.to_string();
    let request = Frame::command(&[Some(b"PULL"), Some(position.as_bytes())]);
    let words = match primary.call(&request, CALL_TIMEOUT).await? {
        Frame::Array(Some(words)) => words,
        other => anyhow::bail!("the primary answered PULL with {other:?}"),
    };
    let text = |f: &Frame| match f {
        Frame::Bulk(Some(b)) => Ok(String::from_utf8_lossy(b).into_owned()),
        other => Err(anyhow::anyhow!("a log entry word is {other:?}")),
    };
    let entries = words
        .chunks(2)
        .map(|kv| match kv {
            [k, v] => Ok(Entry {
                key: text(k)?,
                value: text(v)?,
            }),
            _ => anyhow::bail!("the log has an odd number of words"),
        })
        .collect::<anyhow::Result<Vec<Entry>>>()?;
    replica
        .lock()
        .map_err(|_| anyhow::anyhow!("replica lock poisoned"))?
        .apply(from, entries);
    Ok(())
}

/// Pulls the log every 50–200 ms, for as long as the node runs.
async fn pull_forever(
    node: Arc<Node>,
    primary: Arc<Peer>,
    replica: Arc<Mutex<Replica>>,
    pulling: Arc<tokio::sync::Mutex<()>>,
) {
    let mut failing = false;
    loop {
        let pause = rand::thread_rng().gen_range(PULL_EVERY_MS.0..=PULL_EVERY_MS.1);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        match pull(&primary, &replica, &pulling).await {
            Ok(()) if failing => {
                node.log("pulling from the primary again");
                failing = false;
            }
            Ok(()) => {}
            Err(e) if !failing => {
                node.log(format!("cannot pull the log: {e}"));
                failing = true;
            }
            Err(_) => {}
        }
    }
}

#[async_trait::async_trait]
impl Store for SeqKv {
    async fn handle(&self, name: &str, args: &[Option<String>]) -> Frame {
        let answer = match &self.role {
            Role::Primary { log, commits } => self.primary(log, commits, name, args).await,
            Role::Replica {
                primary,
                replica,
                pulling,
            } => self.replica(primary, replica, pulling, name, args).await,
        };
        answer.unwrap_or_else(|e| e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, value: &str) -> Entry {
        Entry {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn a_replica_applies_the_log_in_order_and_once() {
        let mut r = Replica::default();
        r.apply(0, vec![entry("k", "1"), entry("j", "2")]);
        // A late pull that overlaps what was applied changes nothing twice.
        r.apply(1, vec![entry("j", "2"), entry("k", "3")]);
        assert_eq!(r.applied, 3);
        assert_eq!(r.map["k"], "3");
        // A pull from past the end (a gap) is not applied.
        r.apply(5, vec![entry("k", "9")]);
        assert_eq!((r.applied, r.map["k"].as_str()), (3, "3"));
    }
}
