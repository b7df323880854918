//! The shape of a transactional history: each client op whose `f` is `txn` carries a list of
//! micro-ops (`["append", k, v]`, `["r", k, list]` for list-append; `["w", k, v]`,
//! `["r", k, v]` for rw-register), and an invocation paired with its completion becomes one
//! [`Txn`].
//!
//! Keys may be integers or strings (interned to [`Key`] ids); written elements must be integers,
//! unique per key, as in Elle's workloads. An `ok` txn's reads are its completion's; an `info` or
//! `fail` txn's reads are unknown, and a `fail` txn's writes never happened. A completion with no
//! invocation (Elle's example histories record only completions) gives a txn with neither
//! process nor real-time order.

use crate::history::{History, OpType, Process, Value};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A fast hasher for the checker's integer keys (a multiply-rotate hash, as in rustc's Fx);
/// not resistant to adversarial keys, which a history file cannot exploit beyond slowness.
#[derive(Clone, Copy, Debug, Default)]
pub struct FastHasher(u64);

impl FastHasher {
    fn add(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(b));
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.add(n as u64)
    }
    fn write_u32(&mut self, n: u32) {
        self.add(n as u64)
    }
    fn write_u64(&mut self, n: u64) {
        self.add(n)
    }
    fn write_i64(&mut self, n: i64) {
        self.add(n as u64)
    }
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64)
    }
    fn write_isize(&mut self, n: isize) {
        self.add(n as u64)
    }
}

/// A hash map with [`FastHasher`].
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// A key, interned: an index into [`Txns::keys`].
pub type Key = u32;
/// An element appended to a list, or a value written to a register.
pub type Elem = i64;
/// A transaction's position in [`Txns::txns`]; also its node in the dependency graph.
pub type TxnId = u32;

/// Which transactional workload a history comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Appends to lists and reads of whole lists: each key's version order is visible.
    ListAppend,
    /// Blind writes and reads of registers: version order only from read-then-write.
    RwRegister,
}

impl Workload {
    /// The name as `--model` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Workload::ListAppend => "list-append",
            Workload::RwRegister => "rw-register",
        }
    }
}

/// One micro-op inside a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mop {
    /// `["append", k, e]`.
    Append {
        /// The key.
        key: Key,
        /// The appended element.
        elem: Elem,
    },
    /// `["r", k, [e ...]]`; `None` when the result is unknown (info, fail, invocation).
    ReadList {
        /// The key.
        key: Key,
        /// The list read; nil reads as the empty list.
        list: Option<Vec<Elem>>,
    },
    /// `["w", k, v]`.
    Write {
        /// The key.
        key: Key,
        /// The written value.
        value: Elem,
    },
    /// `["r", k, v]`; outer `None` when unknown, inner `None` for nil (the initial state).
    ReadReg {
        /// The key.
        key: Key,
        /// The value read.
        value: Option<Option<Elem>>,
    },
}

impl Mop {
    /// The key the micro-op touches.
    pub fn key(&self) -> Key {
        match self {
            Mop::Append { key, .. }
            | Mop::ReadList { key, .. }
            | Mop::Write { key, .. }
            | Mop::ReadReg { key, .. } => *key,
        }
    }
    /// True for appends and writes.
    pub fn is_write(&self) -> bool {
        matches!(self, Mop::Append { .. } | Mop::Write { .. })
    }
}

/// How a transaction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Committed.
    Ok,
    /// Unknown: it may have committed.
    Info,
    /// Certainly did not commit.
    Fail,
}

/// One transaction: an invocation and its completion.
#[derive(Clone, Debug)]
pub struct Txn {
    /// The op index (`Op::index`) that names it: the completion's, or the invocation's when
    /// the history ended first.
    pub op: u64,
    /// Position of the invocation in `History::ops`, if there was one.
    pub invoke: Option<usize>,
    /// Position of the completion, if there was one.
    pub complete: Option<usize>,
    /// The client process, when known (a completion with no invocation has none).
    pub process: Option<u64>,
    /// How it ended.
    pub status: Status,
    /// The micro-ops, in order.
    pub mops: Vec<Mop>,
}

/// All transactions of a history, with the interned keys.
#[derive(Debug, Default)]
pub struct Txns {
    /// The transactions in completion order (an unfinished one at its invocation).
    pub txns: Vec<Txn>,
    /// Key names, indexed by [`Key`].
    pub keys: Vec<Value>,
    /// How many completions had no invocation (no process or real-time order for them).
    pub without_invoke: usize,
    /// Client ops that are not transactions, ignored.
    pub ignored: usize,
}

impl Txns {
    /// A transaction as a reader finds it in the history: `op 7 (process 1)`.
    pub fn who(&self, id: TxnId) -> String {
        let x = &self.txns[id as usize];
        match x.process {
            Some(p) => format!("op {} (process {p})", x.op),
            None => format!("op {}", x.op),
        }
    }

    /// A key's name as a user wrote it.
    pub fn key_name(&self, k: Key) -> String {
        match &self.keys[k as usize] {
            Value::Str(s) => s.clone(),
            v => v.to_string(),
        }
    }
}

/// True if `v` looks like a transaction: a list of `[f k v]` micro-ops with a known `f`.
pub fn is_txn_value(v: &Value) -> bool {
    match v {
        Value::List(mops) => {
            !mops.is_empty()
                && mops.iter().all(|m| match m.as_list() {
                    Some([Value::Str(f), _, _]) => matches!(f.as_str(), "append" | "r" | "w"),
                    _ => false,
                })
        }
        _ => false,
    }
}

/// Tells from the micro-ops which workload produced the history; `None` when it has no txns.
pub fn detect(history: &History) -> Option<Workload> {
    let mut saw_read_list = false;
    let mut saw_read = false;
    for op in history.ops.iter().filter(|o| o.f == "txn") {
        for m in op.value.as_list().unwrap_or(&[]) {
            match m.as_list() {
                Some([Value::Str(f), _, v]) => match f.as_str() {
                    "append" => return Some(Workload::ListAppend),
                    "w" => return Some(Workload::RwRegister),
                    "r" => {
                        saw_read = true;
                        saw_read_list |= matches!(v, Value::List(_));
                    }
                    _ => {}
                },
                _ => continue,
            }
        }
    }
    match (saw_read, saw_read_list) {
        (_, true) => Some(Workload::ListAppend),
        (true, false) => Some(Workload::RwRegister),
        _ => None,
    }
}

struct KeyInterner<'a> {
    ids: FastMap<&'a Value, Key>,
    names: Vec<Value>,
}

impl<'a> KeyInterner<'a> {
    fn intern(&mut self, v: &'a Value) -> Key {
        if let Some(&k) = self.ids.get(v) {
            return k;
        }
        let k = self.names.len() as Key;
        self.names.push(v.clone());
        self.ids.insert(v, k);
        k
    }
}

fn elem(v: &Value, what: &str) -> Result<Elem, String> {
    v.as_int().ok_or_else(|| {
        format!("{what} must be an integer (unique per key, as in Elle's workloads), got {v}")
    })
}

fn parse_mops<'a>(
    value: &'a Value,
    workload: Workload,
    reads_known: bool,
    keys: &mut KeyInterner<'a>,
) -> Result<Vec<Mop>, String> {
    let Some(list) = value.as_list() else {
        return Err(format!(
            "a txn's value must be a list of micro-ops like [[\"append\", \"x\", 1], [\"r\", \"y\", [1, 2]]], got {value}"
        ));
    };
    let mut out = Vec::with_capacity(list.len());
    for m in list {
        let Some([Value::Str(f), k, v]) = m.as_list() else {
            return Err(format!("a micro-op must be [f, key, value], got {m}"));
        };
        let key = keys.intern(k);
        let mop = match (f.as_str(), workload) {
            ("append", Workload::ListAppend) => Mop::Append {
                key,
                elem: elem(v, "an appended element")?,
            },
            ("w", Workload::RwRegister) => Mop::Write {
                key,
                value: elem(v, "a written value")?,
            },
            ("r", Workload::ListAppend) => Mop::ReadList {
                key,
                list: match (reads_known, v) {
                    (false, _) => None,
                    (true, Value::Nil) => Some(Vec::new()),
                    (true, Value::List(l)) => Some(
                        l.iter()
                            .map(|e| elem(e, "a read element"))
                            .collect::<Result<_, _>>()?,
                    ),
                    (true, other) => {
                        return Err(format!("a list-append read must be a list, got {other}"))
                    }
                },
            },
            ("r", Workload::RwRegister) => Mop::ReadReg {
                key,
                value: match (reads_known, v) {
                    (false, _) => None,
                    (true, Value::Nil) => Some(None),
                    (true, v) => Some(Some(elem(v, "a read value")?)),
                },
            },
            (f, w) => {
                return Err(format!(
                    "micro-op {f:?} does not belong to a {} history (list-append uses append and r; rw-register uses w and r)",
                    w.name()
                ))
            }
        };
        out.push(mop);
    }
    Ok(out)
}

fn push_txn<'a>(
    history: &'a History,
    workload: Workload,
    out: &mut Txns,
    keys: &mut KeyInterner<'a>,
    invoke: Option<usize>,
    complete: Option<usize>,
) -> anyhow::Result<()> {
    let inv = invoke.map(|i| &history.ops[i]);
    let comp = complete.map(|i| &history.ops[i]);
    let status = match comp.map(|c| c.kind) {
        Some(OpType::Ok) => Status::Ok,
        Some(OpType::Fail) => Status::Fail,
        _ => Status::Info,
    };
    let Some(named) = comp.or(inv) else {
        return Ok(());
    };
    let value = match (status, comp, inv) {
        (Status::Ok, Some(c), _) => &c.value,
        (_, Some(c), Some(i)) if c.value.is_nil() => &i.value,
        (_, Some(c), _) => &c.value,
        (_, None, Some(i)) => &i.value,
        (_, None, None) => return Ok(()),
    };
    let mops = parse_mops(value, workload, status == Status::Ok, keys)
        .map_err(|e| anyhow::anyhow!("op {}: {e}", named.index))?;
    let process = match (invoke, named.process) {
        (Some(_), Process::Client(p)) => Some(p),
        _ => None,
    };
    out.txns.push(Txn {
        op: named.index,
        invoke,
        complete,
        process,
        status,
        mops,
    });
    Ok(())
}

/// Pairs invocations with completions and parses every txn's micro-ops. Errors name the op.
pub fn extract(history: &History, workload: Workload) -> anyhow::Result<Txns> {
    let mut keys = KeyInterner {
        ids: FastMap::default(),
        names: Vec::new(),
    };
    let mut out = Txns::default();
    let mut open: FastMap<u64, usize> = FastMap::default();
    let mut unfinished: Vec<usize> = Vec::new();
    for (pos, op) in history.ops.iter().enumerate() {
        let Process::Client(p) = op.process else {
            continue;
        };
        if op.f != "txn" {
            out.ignored += 1;
            continue;
        }
        match op.kind {
            OpType::Invoke => {
                if let Some(prev) = open.insert(p, pos) {
                    unfinished.push(prev);
                }
            }
            _ => {
                let inv = open.remove(&p);
                if inv.is_none() {
                    out.without_invoke += 1;
                }
                push_txn(history, workload, &mut out, &mut keys, inv, Some(pos))?;
            }
        }
    }
    unfinished.extend(open.into_values());
    unfinished.sort_unstable();
    for inv in unfinished {
        push_txn(history, workload, &mut out, &mut keys, Some(inv), None)?;
    }
    out.keys = keys.names;
    Ok(out)
}
