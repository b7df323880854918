//! Causal consistency of read/write registers whose written values are unique per key, checked
//! by searching for the bad patterns of Bouajjani, Enea, Guerraoui and Hamza, "On Verifying
//! Causal Consistency" (POPL 2017).
//!
//! Checking causal consistency is NP-complete in general, but when every write to a key writes a
//! distinct value (a *differentiated* history) each read names the one write it reads from, and
//! the paper shows that a history is causally consistent iff it contains none of a few bad
//! patterns, each found in polynomial time. The relations, as the paper defines them:
//!
//! * **po**, program order: each process's completed ops in the order it ran them;
//! * **rf**, reads-from: the unique write of `v` to `x` precedes every read of `x` returning `v`;
//!   a read of the initial value reads from no write;
//! * **co**, causal order: the transitive closure of po ∪ rf.
//!
//! The three models, from weakest to strongest, and the patterns that rule each out:
//!
//! * **CC** (causal consistency): `CyclicCO` (co has a cycle), `WriteCOInitRead` (a read of the
//!   initial value of `x` is co-after a write to `x`), `ThinAirRead` (a read returns a value no
//!   write wrote), `WriteCORead` (a read of `w1` is co-after a write `w2` to the same key that is
//!   itself co-after `w1`: the value read had been overwritten in its causal past).
//! * **CCv** (causal convergence, CC plus one arbitration order of all writes that every replica
//!   agrees on): the CC patterns and `CyclicCF`, a cycle in co ∪ cf, where the conflict relation
//!   cf orders `w1` before `w2` (same key) when some read of `w2` is co-after `w1`.
//! * **CM** (causal memory, every process sees one order of its own reads consistent with co):
//!   the CC patterns and, per process `p`, `CyclicHB` and `WriteHBInitRead` over `hb_p`, the
//!   smallest transitive relation that contains co on the causal past of `p`'s reads and that
//!   orders `w2` before `w1` whenever a read of `p` reads from `w1` and `w2` (same key) is
//!   `hb_p`-before that read. `CyclicHB`: `hb_p` has a cycle; `WriteHBInitRead`: a read of the
//!   initial value by `p` is `hb_p`-after a write to its key.
//!
//! CM and CCv each imply CC and are incomparable. The verdict of `--consistency causal` is CC's
//! and its anomalies are CC's; the result also says which of CCv and CM hold (`stats.models`,
//! with the anomalies that rule them out in `stats.stronger_model_anomalies`), and its summary
//! names the strongest model that holds. [`search`] gives all three lists directly.
//!
//! How calls enter the graph: an `ok` read or write is an op; a failed op and a read whose
//! outcome is unknown are left out (they constrain nothing); a write whose outcome is unknown
//! (`info`, or open at the end) is kept as *possibly effective*: it may be read from, it comes
//! after its process's earlier ops, but it precedes nothing in program order (nothing says it
//! took effect before its process's later ops, if there were any). An unknown write nobody read
//! is therefore isolated from everything after it and can never be part of a pattern. `cas` is
//! rejected with an error: a compare-and-set is not a read/write op of the paper's memory.
//!
//! Cost: co is never closed into an n × n matrix. The ops are split into chains totally
//! ordered by co (one per process, see [`clocks`]) and each op gets a vector clock, the length
//! of its causal past on every chain: "is a co-before b" is one comparison, and the clocks take
//! n × chains × 4 bytes (200 MB for a million ops of 50 processes). The CC patterns and the
//! conflict edges of CCv are then a binary search per chain for each read, O(n · c · log n)
//! for c chains, and the CCv cycle search is linear in the edges. CM recomputes `hb_p` for each
//! process until no new edge appears, with a bit matrix over the writes and `p`'s reads of the
//! causal past of p's last read, which is quadratic; it runs on histories of at most
//! [`MAX_CM_OPS`] ops and is reported as not checked above that. A history whose clocks would
//! take more than [`clocks::MEMORY_LIMIT`] bytes (a very long history with thousands of
//! processes) is answered `unknown`.

pub mod clocks;
mod explain;
mod patterns;

use crate::check::checker::Checker;
use crate::check::result::{Anomaly, CheckResult, Validity};
use crate::check::spec::CheckerOptions;
use crate::history::{History, OpType, Process, Value};
use petgraph::graph::{DiGraph, NodeIndex};
use serde_json::json;
use std::collections::HashMap;
use std::time::Instant;

/// The most ops (calls kept in the graph) for which causal memory (CM) is searched: its `hb_p`
/// bit matrices are quadratic. CC and CCv have no such limit.
pub const MAX_CM_OPS: usize = 40_000;

/// At most this many anomalies of one pattern are explained; the rest are counted.
const MAX_PER_PATTERN: usize = 10;

/// One of the three causal models of the paper.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CausalModel {
    /// Causal consistency.
    CC,
    /// Causal convergence.
    CCv,
    /// Causal memory.
    CM,
}

impl CausalModel {
    /// The short name, as the paper writes it.
    pub fn name(self) -> &'static str {
        match self {
            CausalModel::CC => "CC",
            CausalModel::CCv => "CCv",
            CausalModel::CM => "CM",
        }
    }
    /// The long name, in words.
    pub fn long_name(self) -> &'static str {
        match self {
            CausalModel::CC => "causal consistency",
            CausalModel::CCv => "causal convergence",
            CausalModel::CM => "causal memory",
        }
    }
}

/// Whether an op read or wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A completed read.
    Read,
    /// A write that happened (`ok`) or may have happened (`info`).
    Write,
}

/// One op of the causal graph.
#[derive(Clone, Debug)]
pub struct Event {
    /// Read or write.
    pub kind: EventKind,
    /// Index into [`CausalGraph::keys`].
    pub key: usize,
    /// The value written, or the value the read returned.
    pub value: Value,
    /// Who ran it.
    pub process: Process,
    /// Positions of its invoke and completion in `History::ops`.
    pub origin: (usize, Option<usize>),
    /// False for a write whose outcome is unknown.
    pub certain: bool,
    /// For a read: the write it reads from (`None`: the initial value, or thin air).
    pub writer: Option<usize>,
    /// For a read: true if no write ever wrote its value.
    pub thin_air: bool,
}

/// A relation an edge of a pattern belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    /// Program order.
    Po,
    /// Reads-from.
    Rf,
    /// Conflict (CCv): the read that orders the two writes.
    Cf(usize),
    /// Happens-before of causal memory: the read that orders the two writes.
    Hb(usize),
    /// A path of po and rf edges, in graphs that leave out the ops in between.
    Co,
}

/// The ops of a history with program order and reads-from, ready for the pattern search.
#[derive(Debug)]
pub struct CausalGraph {
    /// The ops, in invoke order.
    pub events: Vec<Event>,
    /// Key names (`None` for ops without a key).
    pub keys: Vec<Option<String>>,
    /// The writes of each key, in invoke order.
    pub writes: Vec<Vec<usize>>,
    /// The reads of each process, in program order (processes in order of first op).
    pub reads_by_process: Vec<Vec<usize>>,
    /// All ops of each process, in program order (same process order).
    pub by_process: Vec<Vec<usize>>,
    /// po and rf edges: `(from, to, relation)`.
    pub edges: Vec<(usize, usize, Edge)>,
    /// The initial value of every key.
    pub initial: Value,
    /// Failed writes by (key, value): their invoke's `Op::index`, to explain thin-air reads.
    pub failed_writes: HashMap<(usize, Value), u64>,
}

impl CausalGraph {
    /// Builds the graph, or says why the history cannot be checked for causal consistency
    /// (an op other than read and write, a written value that is not unique).
    pub fn build(history: &History, initial: &Value) -> anyhow::Result<CausalGraph> {
        let mut g = CausalGraph {
            events: Vec::new(),
            keys: Vec::new(),
            writes: Vec::new(),
            reads_by_process: Vec::new(),
            by_process: Vec::new(),
            edges: Vec::new(),
            initial: initial.clone(),
            failed_writes: HashMap::new(),
        };
        let mut key_ids: HashMap<Option<String>, usize> = HashMap::new();
        let mut procs: HashMap<Process, usize> = HashMap::new();
        let mut last: Vec<Option<usize>> = Vec::new();
        let mut writer_of: HashMap<(usize, Value), usize> = HashMap::new();
        for call in history.calls() {
            let inv = &history.ops[call.invoke];
            let done = call.complete.map(|i| &history.ops[i]);
            let outcome = done.map(|d| d.kind);
            let where_ = || {
                format!(
                    "op {} (process {}, {} {})",
                    inv.index, inv.process, inv.f, inv.value
                )
            };
            let (kind, value, certain) = match (inv.f.as_str(), outcome) {
                ("read", Some(OpType::Ok)) => (
                    EventKind::Read,
                    done.map(|d| d.value.clone()).unwrap_or_default(),
                    true,
                ),
                ("read", _) => continue,
                ("write", Some(OpType::Fail)) => {
                    let key = key_id(
                        &mut g,
                        &mut key_ids,
                        inv.key.clone().or_else(|| done.and_then(|d| d.key.clone())),
                    );
                    g.failed_writes.insert((key, inv.value.clone()), inv.index);
                    continue;
                }
                ("write", Some(OpType::Ok)) => (EventKind::Write, inv.value.clone(), true),
                ("write", _) => (EventKind::Write, inv.value.clone(), false),
                ("cas", _) => anyhow::bail!(
                    "{}: the causal checker handles reads and writes only, not cas; check this \
                     history with --consistency linearizable or sequential",
                    where_()
                ),
                (f, _) => anyhow::bail!(
                    "{}: the causal checker handles register reads and writes only, not {f:?}",
                    where_()
                ),
            };
            let key_name = inv.key.clone().or_else(|| done.and_then(|d| d.key.clone()));
            let key = key_id(&mut g, &mut key_ids, key_name);
            let id = g.events.len();
            if kind == EventKind::Write {
                if value == *initial {
                    anyhow::bail!(
                        "{}: writes the initial value {value}, so a read of it could not tell \
                         which write it saw; causal checking needs every write to write a \
                         distinct value that is not the initial one",
                        where_()
                    );
                }
                if let Some(&other) = writer_of.get(&(key, value.clone())) {
                    anyhow::bail!(
                        "{}: writes {value} to {}, which op {} already wrote; causal checking \
                         needs every write to a key to write a distinct value (write a counter \
                         or unique id)",
                        where_(),
                        key_text(&g.keys[key]),
                        history.ops[g.events[other].origin.0].index
                    );
                }
                writer_of.insert((key, value.clone()), id);
                g.writes[key].push(id);
            }
            let p = *procs.entry(inv.process).or_insert_with(|| {
                g.reads_by_process.push(Vec::new());
                g.by_process.push(Vec::new());
                last.push(None);
                last.len() - 1
            });
            if let Some(prev) = last[p] {
                g.edges.push((prev, id, Edge::Po));
            }
            // An unknown write precedes nothing in program order (see the module doc).
            if certain {
                last[p] = Some(id);
            }
            if kind == EventKind::Read {
                g.reads_by_process[p].push(id);
            }
            g.by_process[p].push(id);
            g.events.push(Event {
                kind,
                key,
                value,
                process: inv.process,
                origin: (call.invoke, call.complete),
                certain,
                writer: None,
                thin_air: false,
            });
        }
        for id in 0..g.events.len() {
            let e = &g.events[id];
            if e.kind != EventKind::Read || e.value == *initial {
                continue;
            }
            match writer_of.get(&(e.key, e.value.clone())) {
                Some(&w) => {
                    g.events[id].writer = Some(w);
                    g.edges.push((w, id, Edge::Rf));
                }
                None => g.events[id].thin_air = true,
            }
        }
        Ok(g)
    }

    /// The number of ops.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True if there are no ops.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The po ∪ rf graph, for petgraph's algorithms.
    pub fn digraph(&self) -> DiGraph<(), Edge> {
        let mut g = DiGraph::with_capacity(self.len(), self.edges.len());
        for _ in 0..self.len() {
            g.add_node(());
        }
        for &(a, b, e) in &self.edges {
            g.add_edge(NodeIndex::new(a), NodeIndex::new(b), e);
        }
        g
    }

    /// True if `id` reads the initial value.
    pub fn reads_initial(&self, id: usize) -> bool {
        let e = &self.events[id];
        e.kind == EventKind::Read && e.writer.is_none() && !e.thin_air
    }
}

fn key_id(
    g: &mut CausalGraph,
    ids: &mut HashMap<Option<String>, usize>,
    k: Option<String>,
) -> usize {
    *ids.entry(k.clone()).or_insert_with(|| {
        g.keys.push(k);
        g.writes.push(Vec::new());
        g.keys.len() - 1
    })
}

/// "1 op", "2 ops", "3 processes".
fn plural(n: usize, what: &str) -> String {
    match (n, what.ends_with('s')) {
        (1, _) => format!("1 {what}"),
        (_, true) => format!("{n} {what}es"),
        _ => format!("{n} {what}s"),
    }
}

/// A key in words: its name, or "the register" for ops without one.
pub fn key_text(k: &Option<String>) -> String {
    k.clone().unwrap_or_else(|| "the register".to_string())
}

/// A square bit matrix: row `i` is a set of op ids (e.g. the strict causal past of op `i`).
pub struct BitMatrix {
    words: usize,
    bits: Vec<u64>,
}

impl BitMatrix {
    /// An empty n × n matrix.
    pub fn new(n: usize) -> BitMatrix {
        let words = n.div_ceil(64).max(1);
        BitMatrix {
            words,
            bits: vec![0; words * n],
        }
    }
    /// True if `j` is in row `i`.
    pub fn has(&self, i: usize, j: usize) -> bool {
        self.bits[i * self.words + j / 64] >> (j % 64) & 1 == 1
    }
    /// Adds `j` to row `i`.
    pub fn set(&mut self, i: usize, j: usize) {
        self.bits[i * self.words + j / 64] |= 1 << (j % 64);
    }
    /// Row `dst` |= row `src`.
    pub fn union_into(&mut self, dst: usize, src: usize) {
        if dst == src {
            return;
        }
        let w = self.words;
        let (d, s) = if dst < src {
            let (a, b) = self.bits.split_at_mut(src * w);
            (&mut a[dst * w..dst * w + w], &b[..w])
        } else {
            let (a, b) = self.bits.split_at_mut(dst * w);
            (&mut b[..w], &a[src * w..src * w + w])
        };
        for (x, y) in d.iter_mut().zip(s) {
            *x |= *y;
        }
    }

    /// The strict ancestors of every node of an acyclic graph: `order` is a topological order
    /// and `preds[v]` lists v's direct predecessors.
    pub fn ancestors(order: &[usize], preds: &[Vec<usize>]) -> BitMatrix {
        let mut m = BitMatrix::new(preds.len());
        for &v in order {
            for &u in &preds[v] {
                m.union_into(v, u);
                m.set(v, u);
            }
        }
        m
    }
}

/// What the pattern search found, per model.
#[derive(Debug, Default)]
pub struct CausalReport {
    /// The anomalies that rule out CC (and so CCv and CM too).
    pub cc: Vec<Anomaly>,
    /// The anomalies that rule out CCv only (searched when CC holds).
    pub ccv: Vec<Anomaly>,
    /// The anomalies that rule out CM only (searched when CC holds).
    pub cm: Vec<Anomaly>,
    /// How many instances of each pattern were found (more than are explained).
    pub counts: std::collections::BTreeMap<String, usize>,
    /// True when CM was not searched (more than [`MAX_CM_OPS`] ops): `cm` says nothing.
    pub cm_unchecked: bool,
}

impl CausalReport {
    /// True if the model holds.
    pub fn holds(&self, m: CausalModel) -> bool {
        self.cc.is_empty()
            && match m {
                CausalModel::CC => true,
                CausalModel::CCv => self.ccv.is_empty(),
                CausalModel::CM => self.cm.is_empty(),
            }
    }

    /// Whether one more instance of pattern `kind` will be explained; when it will not, it is
    /// counted here, so the caller can skip building its explanation.
    fn explains(&mut self, kind: &str) -> bool {
        let n = self.counts.get(kind).copied().unwrap_or(0);
        if n < MAX_PER_PATTERN {
            return true;
        }
        self.counts.insert(kind.to_string(), n + 1);
        false
    }

    fn add(&mut self, model: CausalModel, a: Anomaly) {
        let n = self.counts.entry(a.kind.clone()).or_insert(0);
        *n += 1;
        if *n > MAX_PER_PATTERN {
            return;
        }
        match model {
            CausalModel::CC => self.cc.push(a),
            CausalModel::CCv => self.ccv.push(a),
            CausalModel::CM => self.cm.push(a),
        }
    }
}

/// Searches `history` for every bad pattern; errors when the history is not a differentiated
/// read/write history. `None` when its vector clocks would take more than
/// [`clocks::MEMORY_LIMIT`] bytes.
pub fn search(
    history: &History,
    initial: &Value,
) -> anyhow::Result<Option<(CausalGraph, CausalReport)>> {
    let g = CausalGraph::build(history, initial)?;
    let chains = clocks::Chains::of(&g);
    if chains.clock_bytes(g.len()) > clocks::MEMORY_LIMIT {
        return Ok(None);
    }
    let mut report = CausalReport::default();
    patterns::search_all(history, &g, chains, &mut report);
    Ok(Some((g, report)))
}

/// The `causal` checker: causal consistency (CC, with CCv and CM reported) of a register
/// history with unique written values.
pub struct Causal {
    /// `register` or `cas-register`, for the checker's name.
    pub model: &'static str,
    /// The initial value of every key.
    pub initial: Value,
}

/// Builds the `causal` checker from its options (`model`: register or cas-register, the
/// default; `initial_value`).
pub fn build(opts: &CheckerOptions) -> anyhow::Result<Box<dyn Checker>> {
    let model = match opts.model.as_deref() {
        None | Some("cas-register") => "cas-register",
        Some("register") => "register",
        Some(other) => anyhow::bail!(
            "causal consistency is checked for registers only (model register or \
             cas-register), not {other}: check with --consistency linearizable or sequential"
        ),
    };
    Ok(Box::new(Causal {
        model,
        initial: opts.initial(),
    }))
}

impl Checker for Causal {
    fn name(&self) -> String {
        format!("causal({})", self.model)
    }
    fn about(&self) -> &'static str {
        ABOUT
    }
    fn needs(&self) -> String {
        "register reads and writes (no cas) whose written values are unique per key".into()
    }
    fn check(&self, history: &History) -> anyhow::Result<CheckResult> {
        check_causal(history, &self.initial, self.model)
    }
}

/// What `causal` checks, in one line.
pub const ABOUT: &str = "no read contradicts the causal order of reads and writes (Bouajjani et al.'s bad patterns; registers with unique values)";

/// Checks `history` for causal consistency; `model_name` is `register` or `cas-register`, for
/// the checker's name. The verdict is CC's; the summary names the strongest model that holds.
pub fn check_causal(
    history: &History,
    initial: &Value,
    model_name: &str,
) -> anyhow::Result<CheckResult> {
    let started = Instant::now();
    let checker = format!("causal({model_name})");
    let Some((g, report)) = search(history, initial)? else {
        let n = history.calls().len();
        let limit = clocks::MEMORY_LIMIT >> 20;
        return Ok(CheckResult {
            checker,
            validity: Validity::Unknown,
            summary: format!(
                "unknown: the vector clocks of {n} calls over this many processes (each op \
                 whose outcome is unknown in the middle of a process starts one more) would \
                 take more than the causal checker's {limit} MiB; check a shorter history"
            ),
            anomalies: vec![],
            stats: json!({"ops": n, "memory_limit_mib": limit}),
        });
    };
    let holds = |m| report.holds(m);
    let counted = format!(
        "{}, {}, {}",
        plural(g.len(), "op"),
        plural(g.reads_by_process.len(), "process"),
        plural(g.keys.len(), "key")
    );
    let (validity, summary) = if let Some(a) = report.cc.first() {
        (
            Validity::Invalid,
            format!(
                "not causally consistent (CC, so neither CCv nor CM): {}",
                a.explanation
            ),
        )
    } else {
        let first_of =
            |v: &Vec<Anomaly>| v.first().map(|a| a.explanation.clone()).unwrap_or_default();
        let ccv = holds(CausalModel::CCv);
        let s = if report.cm_unchecked {
            let cm = format!("causal memory (CM) not checked above {MAX_CM_OPS} ops");
            if ccv {
                format!("causal convergence (CCv) holds, {cm} ({counted})")
            } else {
                format!(
                    "causal consistency (CC) holds, causal convergence (CCv) does not, {cm} \
                     ({counted}): {}",
                    first_of(&report.ccv)
                )
            }
        } else {
            match (ccv, holds(CausalModel::CM)) {
                (true, true) => {
                    format!("causal memory (CM) and causal convergence (CCv) hold ({counted})")
                }
                (false, true) => format!(
                    "causal memory (CM) holds, causal convergence (CCv) does not ({counted}): {}",
                    first_of(&report.ccv)
                ),
                (true, false) => format!(
                    "causal convergence (CCv) holds, causal memory (CM) does not ({counted}): {}",
                    first_of(&report.cm)
                ),
                (false, false) => format!(
                    "causal consistency (CC) holds, neither CCv nor CM does ({counted}): {}",
                    first_of(&report.ccv)
                ),
            }
        };
        (Validity::Valid, s)
    };
    let stronger: Vec<&Anomaly> = report.ccv.iter().chain(&report.cm).collect();
    Ok(CheckResult {
        checker,
        validity,
        summary,
        anomalies: report.cc.clone(),
        stats: json!({
            "ops": g.len(),
            "processes": g.reads_by_process.len(),
            "keys": g.keys.len(),
            "models": {
                "CC": holds(CausalModel::CC),
                "CCv": holds(CausalModel::CCv),
                "CM": if report.cm_unchecked { serde_json::Value::Null } else { holds(CausalModel::CM).into() },
            },
            "patterns": report.counts,
            "stronger_model_anomalies": stronger,
            "seconds": started.elapsed().as_secs_f64(),
        }),
    })
}
