//! The toy stores: small replicated key-value stores to practise testing on, one OS process per
//! node, talking RESP on loopback.
//!
//! Five stores, each in its own file, each a different answer to "how do replicas agree?":
//!
//! - [`lin_kv`]: one leader serves every request, followers forward to it. Linearizable.
//! - [`lww_kv`]: every node serves locally and replicates later; last writer (by wall clock)
//!   wins. Fast, available, and shows stale reads and lost updates.
//! - [`quorum_kv`]: every op is a majority round with ballots (CASPaxos). Linearizable, and
//!   stays so under partitions, pauses and crashes while a majority is up.
//! - [`primary_backup`]: one primary acknowledges at once and copies to backups later; a
//!   backup takes over when the primary goes quiet. Linearizable while nothing fails, and
//!   loses acknowledged writes when the primary is cut off or paused (split brain).
//! - [`seq_kv`]: one primary orders all writes in a log; every node reads from its own replica,
//!   which applies the log with a lag. Sequential (stale reads in process order), not
//!   linearizable.
//!
//! What every node shares lives here and in [`server`] (the accept loop and the commands every
//! store answers: `PING`), [`resp`] (the wire format), [`peers`] (connections
//! to the other nodes) and [`journal`] (the append-only state file that lets a killed node come
//! back with its data); [`acceptor`] is the Paxos acceptor that `quorum-kv` runs on every node.
//!
//! Client commands, the same for every store:
//!
//! | command | reply |
//! | --- | --- |
//! | `GET k` | the value as a bulk string, nil bulk string if `k` was never written |
//! | `SET k v` | `+OK` |
//! | `CAS k from to` | `:1` if `k` held `from` and now holds `to`, `:0` if it did not hold `from` |
//! | `SADD`, `SMEMBERS`, `LPUSH`, `RPOP`, `INCRBY`, `BANKINIT`, `TRANSFER`, `BALANCES` | sets, FIFO queues, counters and a bank, in `lin-kv`, `lww-kv` and `quorum-kv` (see [`commands`], which parses every client command once) |
//! | `PING` | `+PONG` |
//!
//! To compare against a missing key, send `from` as a RESP nil bulk string (`$-1`); the
//! harness's client does this for a cas from nil (`redis-cli` cannot send nil).
//!
//! Nodes also talk to each other with internal commands on the same port: `MERGE` (lww-kv
//! replication), `PREPARE` and `ACCEPT` (quorum-kv's Paxos phases), `FORWARDED`, `HEARTBEAT`
//! and `SYNC` (primary-backup), described in their files.
//!
//! Errors start with a code that tells a client whether the request took effect:
//! `-NOTAPPLIED ...` means certainly not, `-UNCERTAIN ...` means it may have or may not
//! (any other error is to be treated as uncertain too).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub mod acceptor;
pub mod commands;
pub mod group_commit;
pub mod journal;
pub mod lin_kv;
pub mod lww_kv;
pub mod peers;
pub mod primary_backup;
pub mod quorum_kv;
pub mod resp;
pub mod seq_kv;
pub mod server;
pub mod txn_kv;

use resp::Frame;

/// Error code of a request that certainly did not take effect.
pub const NOT_APPLIED: &str = "NOTAPPLIED";
/// Error code of a request that may or may not have taken effect.
pub const UNCERTAIN: &str = "UNCERTAIN";

/// Which toy store a node runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// One leader (the node with the smallest id) serves everything; linearizable.
    LinKv,
    /// Local reads and writes, asynchronous replication, last-writer-wins; not linearizable.
    LwwKv,
    /// Majority rounds with ballots (CASPaxos) for every op; linearizable.
    QuorumKv,
    /// A primary that acknowledges at once and copies to backups later; failover loses writes.
    PrimaryBackup,
    /// One primary orders writes; replicas apply its log with a lag and serve reads (`seq-kv`).
    SeqKv,
    /// One node running transactions at the isolation level each one asks for (`txn-kv`).
    TxnKv,
}

impl StoreKind {
    /// Every store, in registry order.
    pub const ALL: [StoreKind; 6] = [
        StoreKind::LinKv,
        StoreKind::LwwKv,
        StoreKind::QuorumKv,
        StoreKind::PrimaryBackup,
        StoreKind::SeqKv,
        StoreKind::TxnKv,
    ];

    /// The store called `name` (its command-line and registry name).
    pub fn from_name(name: &str) -> Option<StoreKind> {
        StoreKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The name used on the command line and in the target registry.
    pub const fn name(self) -> &'static str {
        match self {
            StoreKind::LinKv => "lin-kv",
            StoreKind::LwwKv => "lww-kv",
            StoreKind::QuorumKv => "quorum-kv",
            StoreKind::PrimaryBackup => "primary-backup",
            StoreKind::SeqKv => "seq-kv",
            StoreKind::TxnKv => "txn-kv",
        }
    }

    /// One line saying what the store is and what a test should find.
    pub const fn description(self) -> &'static str {
        match self {
            StoreKind::LinKv => {
                "toy store: one leader serves all requests, followers forward (linearizable)"
            }
            StoreKind::LwwKv => {
                "toy store: local reads/writes, async replication, last-writer-wins \
                 (stale reads, lost updates)"
            }
            StoreKind::QuorumKv => {
                "toy store: majority-quorum rounds with ballots for every op (linearizable)"
            }
            StoreKind::PrimaryBackup => {
                "toy store: primary acknowledges at once, copies to backups later, backups take \
                 over when it goes quiet (loses acknowledged writes under partitions and pauses)"
            }
            StoreKind::SeqKv => {
                "toy store: one primary orders writes in a log, each node reads from its replica \
                 of it, lagging (sequential, not linearizable: stale reads in process order)"
            }
            StoreKind::TxnKv => {
                "toy transactional store (1 node), --isolation serializable | snapshot | \
                 read-committed | read-uncommitted, each showing exactly its anomalies; \
                 workloads list-append, rw-register"
            }
        }
    }
}

/// How to start one node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Which store to run.
    pub store: StoreKind,
    /// This node's id, e.g. `n1`.
    pub id: String,
    /// Where to listen for clients and peers.
    pub listen: SocketAddr,
    /// The other nodes: id and address.
    pub peers: Vec<(String, SocketAddr)>,
    /// Where to keep the state journal; `None` keeps state in memory only.
    pub dir: Option<PathBuf>,
    /// How far a journaled change has gone before the node acknowledges it.
    pub durability: journal::Durability,
}

/// What every store needs to know about the node it runs in.
#[derive(Debug)]
pub struct Node {
    /// This node's id.
    pub id: String,
    /// Connections to the other nodes.
    pub peers: Vec<Arc<peers::Peer>>,
    /// Where the state journal lives, if anywhere.
    pub dir: Option<PathBuf>,
    /// How far a journaled change has gone before the node acknowledges it.
    pub durability: journal::Durability,
    started: Instant,
}

impl Node {
    /// A node with the given id and peers.
    pub fn new(config: &NodeConfig) -> Node {
        Node {
            id: config.id.clone(),
            peers: config
                .peers
                .iter()
                .map(|(id, addr)| Arc::new(peers::Peer::new(id.clone(), *addr)))
                .collect(),
            dir: config.dir.clone(),
            durability: config.durability,
            started: Instant::now(),
        }
    }

    /// How many nodes make a majority of the cluster (peers plus this one).
    pub fn majority(&self) -> usize {
        let cluster = self.peers.len() + 1;
        cluster / 2 + 1
    }

    /// This node's wall clock in nanoseconds since the Unix epoch: the clock a clock-skew
    /// fault moves (through the `LD_PRELOAD` clock shim, see [`crate::nemesis::clock`]).
    pub fn now_nanos(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0)
    }

    /// Writes one line to the node's log (stderr, which the harness sends to `node.log`).
    pub fn log(&self, message: impl std::fmt::Display) {
        let t = self.started.elapsed();
        eprintln!("[{:>8.3}s {}] {message}", t.as_secs_f64(), self.id);
    }
}

/// One store's request handling. The server answers the commands every store shares and hands
/// the rest here.
#[async_trait::async_trait]
pub trait Store: Send + Sync {
    /// Answers one command: `name` upper-cased, `args` the words after it (nil allowed).
    async fn handle(&self, name: &str, args: &[Option<String>]) -> Frame;
}

/// The reply to a command this store does not know.
pub fn unknown_command(name: &str) -> Frame {
    Frame::error("ERR", format!("unknown command '{name}'"))
}

/// The reply to a command with the wrong number of words.
pub fn wrong_arity(name: &str, usage: &str) -> Frame {
    Frame::error(
        NOT_APPLIED,
        format!("wrong arguments for '{name}'; usage: {usage}"),
    )
}

/// The argument at `i` as a string, or an error reply naming the missing word.
pub fn arg<'a>(args: &'a [Option<String>], i: usize, what: &str) -> Result<&'a str, Frame> {
    match args.get(i) {
        Some(Some(s)) => Ok(s),
        _ => Err(Frame::error(NOT_APPLIED, format!("{what} must not be nil"))),
    }
}

/// Builds the store `config` asks for and serves it until the process is stopped.
pub async fn run(config: NodeConfig) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "node {} cannot listen on {}: {e}; pick another port",
                config.id,
                config.listen
            )
        })?;
    let node = Arc::new(Node::new(&config));
    let store: Arc<dyn Store> = match config.store {
        StoreKind::LinKv => Arc::new(lin_kv::LinKv::open(node.clone())?),
        StoreKind::LwwKv => Arc::new(lww_kv::LwwKv::open(node.clone())?),
        StoreKind::QuorumKv => Arc::new(quorum_kv::QuorumKv::open(node.clone())?),
        StoreKind::PrimaryBackup => Arc::new(primary_backup::PrimaryBackup::open(node.clone())?),
        StoreKind::SeqKv => Arc::new(seq_kv::SeqKv::open(node.clone())?),
        StoreKind::TxnKv => Arc::new(txn_kv::TxnKv::open(node.clone())?),
    };
    node.log(format!(
        "{} listening on {} with peers [{}]",
        config.store.name(),
        config.listen,
        config
            .peers
            .iter()
            .map(|(id, addr)| format!("{id}={addr}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    server::serve(listener, node, store).await
}
