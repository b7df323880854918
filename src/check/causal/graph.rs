//! The causal checker's graph and its parts, shared by the pattern search, the vector clocks and
//! the explanations: the events (ok reads and writes, possibly effective unknown writes), the
//! po/rf edges between them, the bit matrix CM uses, and the report of what was found. The
//! checker itself (`causal.rs`) builds on this module; nothing here imports it back.

use crate::check::result::Anomaly;
use crate::history::{History, OpType, Process, Value};
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::HashMap;

/// The most ops (calls kept in the graph) for which causal memory (CM) is searched: its `hb_p`
/// bit matrices are quadratic. CC and CCv have no such limit.
pub const MAX_CM_OPS: usize = 40_000;

/// At most this many anomalies of one pattern are explained; the rest are counted.
pub(super) const MAX_PER_PATTERN: usize = 10;

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

pub(super) fn key_id(
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
pub(super) fn plural(n: usize, what: &str) -> String {
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
    pub(super) words: usize,
    pub(super) bits: Vec<u64>,
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
    pub(super) fn explains(&mut self, kind: &str) -> bool {
        let n = self.counts.get(kind).copied().unwrap_or(0);
        if n < MAX_PER_PATTERN {
            return true;
        }
        self.counts.insert(kind.to_string(), n + 1);
        false
    }

    pub(super) fn add(&mut self, model: CausalModel, a: Anomaly) {
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
