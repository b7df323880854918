//! Inferring dependencies from an rw-register history, where inference is weaker than for
//! list-append: a read shows one value, not the history of the key, so the version order is
//! known only where a transaction read a key and then wrote it (the read version precedes the
//! written one) and from the initial nil (it precedes every written version). wr edges are
//! exact (written values are unique per key); ww and rw edges exist only for those known
//! version pairs, so some cycles a database really formed stay invisible. The checker says so.

use super::anomalies::name;
use super::graph::rel;
use super::infer::{Finding, Inference};
use super::shape::{Elem, FastMap, Key, Mop, Status, TxnId, Txns};
use serde_json::json;
use std::collections::HashMap;

/// The most rw edges the initial-nil rule may add before it stops (nil readers × writers).
const NIL_EDGE_CAP: usize = 2_000_000;

/// What a txn knows about one register it touched.
struct RegState {
    key: Key,
    /// The value it knows the key has.
    known: Option<Option<Elem>>,
    /// Its first read's value, when the first touch was a read.
    first_read: Option<Option<Elem>>,
    /// Whether it wrote the key yet.
    wrote: bool,
}

fn show(v: Option<Elem>) -> String {
    v.map_or("nil".into(), |e| e.to_string())
}

/// Infers an rw-register history's edges and non-cycle anomalies.
pub fn rw_register(t: &Txns) -> Inference {
    let nk = t.keys.len();
    let who = |id: TxnId| t.who(id);
    let kn = |k: Key| t.key_name(k);
    let mut inf = Inference {
        orders: vec![Vec::new(); nk],
        ..Default::default()
    };
    inf.notes.push(
        "rw-register: the version order is known only where a transaction read a key and then wrote it, and from the initial nil; other ww and rw dependencies are unknown, so some cycles may go unseen".into(),
    );
    let mut failed: FastMap<(Key, Elem), TxnId> = FastMap::default();
    let mut writers_of: Vec<Vec<TxnId>> = vec![Vec::new(); nk];
    for (id, x) in t.txns.iter().enumerate() {
        for (i, m) in x.mops.iter().enumerate() {
            if let Mop::Write { key, value } = *m {
                if x.status == Status::Fail {
                    failed.insert((key, value), id as TxnId);
                    continue;
                }
                if writers_of[key as usize].last() != Some(&(id as TxnId)) {
                    writers_of[key as usize].push(id as TxnId);
                }
                if let Some((other, _)) = inf.writer.insert((key, value), (id as TxnId, i as u32)) {
                    inf.notes.push(format!(
                        "{} and {} both wrote {value} to {}: values must be unique per key, so edges through it may be wrong",
                        who(other), who(id as TxnId), kn(key)
                    ));
                }
            }
        }
    }
    // (key, value read) -> external readers; (key, version read, txn) for read-then-write.
    let mut readers: HashMap<(Key, Option<Elem>), Vec<TxnId>> = HashMap::new();
    let mut pairs: Vec<(Key, Option<Elem>, TxnId)> = Vec::new();
    for (id, x) in t.txns.iter().enumerate() {
        if x.status != Status::Ok {
            continue;
        }
        let id = id as TxnId;
        let mut state: Vec<RegState> = Vec::new();
        let mut internal_reported = false;
        let mut nonrepeatable_reported = false;
        for (i, m) in x.mops.iter().enumerate() {
            let key = m.key();
            let s = match state.iter().position(|s| s.key == key) {
                Some(p) => p,
                None => {
                    let first = match m {
                        Mop::ReadReg { value: Some(v), .. } => Some(*v),
                        _ => None,
                    };
                    if let Some(v) = first {
                        readers.entry((key, v)).or_default().push(id);
                    }
                    state.push(RegState {
                        key,
                        known: None,
                        first_read: first,
                        wrote: false,
                    });
                    state.len() - 1
                }
            };
            match m {
                Mop::Write { value, .. } => {
                    let st = &mut state[s];
                    st.known = Some(Some(*value));
                    if let (Some(v), false) = (st.first_read, st.wrote) {
                        pairs.push((key, v, id));
                    }
                    st.wrote = true;
                }
                Mop::ReadReg { value: Some(v), .. } => {
                    let st = &mut state[s];
                    if let Some(expected) = st.known.filter(|e| e != v) {
                        if !st.wrote && !nonrepeatable_reported {
                            // Only reads so far: the database changed between them.
                            nonrepeatable_reported = true;
                            inf.findings.push(Finding {
                                kind: name::NON_REPEATABLE_READ,
                                key: Some(key),
                                txns: vec![id],
                                explanation: format!(
                                    "{} read {} = {} and later {} = {}: another transaction changed {} between its reads (non-repeatable read)",
                                    who(id), kn(key), show(expected), kn(key), show(*v), kn(key)
                                ),
                                details: json!({"key": kn(key), "before": expected, "after": v, "mop": i}),
                            });
                        } else if st.wrote && !internal_reported {
                            internal_reported = true;
                            inf.findings.push(Finding {
                                kind: name::INTERNAL,
                                key: Some(key),
                                txns: vec![id],
                                explanation: format!(
                                    "{} read {} = {}, but its own earlier write says {} = {} (internal inconsistency)",
                                    who(id), kn(key), show(*v), kn(key), show(expected)
                                ),
                                details: json!({"key": kn(key), "read": v, "expected": expected, "mop": i}),
                            });
                        }
                    }
                    st.known = Some(*v);
                    let future = x.mops[i + 1..].iter().any(
                        |m| matches!(m, Mop::Write { key: k2, value } if *k2 == key && Some(*value) == *v),
                    );
                    if future {
                        inf.findings.push(Finding {
                            kind: name::FUTURE_READ,
                            key: Some(key),
                            txns: vec![id],
                            explanation: format!(
                                "{} read {} = {}, a value the same transaction writes only later (future read)",
                                who(id), kn(key), show(*v)
                            ),
                            details: json!({"key": kn(key), "read": v}),
                        });
                    }
                }
                _ => {}
            }
        }
    }
    // wr edges, aborted, intermediate and garbage reads.
    let mut read_values: Vec<(Key, Option<Elem>)> = readers.keys().copied().collect();
    read_values.sort_unstable();
    for (k, v) in read_values {
        let rs = &readers[&(k, v)];
        let Some(e) = v else { continue };
        match (inf.writer.get(&(k, e)), failed.get(&(k, e))) {
            (Some(&(w, wm)), _) => {
                let overwritten = t.txns[w as usize].mops[wm as usize + 1..]
                    .iter()
                    .any(|m| matches!(m, Mop::Write { key, .. } if *key == k));
                for &r in rs.iter().filter(|&&r| r != w) {
                    inf.edges.push((w, r, rel::WR));
                    if overwritten {
                        inf.findings.push(Finding {
                            kind: name::G1B,
                            key: Some(k),
                            txns: vec![r, w],
                            explanation: format!(
                                "{} read {} = {e}, but {} wrote {e} and then overwrote it in the same transaction: the read saw an intermediate state (intermediate read)",
                                who(r), kn(k), who(w)
                            ),
                            details: json!({"key": kn(k), "value": e}),
                        });
                    }
                }
            }
            (None, Some(&f)) => {
                let mut txns = vec![f];
                txns.extend(rs);
                inf.findings.push(Finding {
                    kind: name::G1A,
                    key: Some(k),
                    txns,
                    explanation: format!(
                        "{} wrote {e} to {} in a transaction that failed, yet {} read {} = {e} (aborted read)",
                        who(f), kn(k), who(rs[0]), kn(k)
                    ),
                    details: json!({"key": kn(k), "value": e, "readers": rs.len()}),
                });
            }
            (None, None) => inf.findings.push(Finding {
                kind: name::GARBAGE_READ,
                key: Some(k),
                txns: rs.clone(),
                explanation: format!(
                    "{} read {} = {e}, but no transaction wrote {e} to {} (garbage read)",
                    who(rs[0]),
                    kn(k),
                    kn(k)
                ),
                details: json!({"key": kn(k), "value": e}),
            }),
        }
    }
    // Known version pairs: what a txn read precedes what it wrote.
    pairs.sort_unstable();
    for &(k, v, tx) in &pairs {
        if let Some(e) = v {
            if let Some(&(w, _)) = inf.writer.get(&(k, e)) {
                if w != tx {
                    inf.edges.push((w, tx, rel::WW));
                }
            } else if let Some(&f) = failed.get(&(k, e)) {
                inf.findings.push(Finding {
                    kind: name::DIRTY_UPDATE,
                    key: Some(k),
                    txns: vec![f, tx],
                    explanation: format!(
                        "{} wrote {e} to {} in a transaction that failed, and committed {} read it and wrote {} over it: a write built on an aborted one (dirty update)",
                        who(f), kn(k), who(tx), kn(k)
                    ),
                    details: json!({"key": kn(k), "value": e}),
                });
            }
        }
        if let Some(rs) = readers.get(&(k, v)) {
            for &r in rs.iter().filter(|&&r| r != tx) {
                inf.edges.push((r, tx, rel::RW));
            }
        }
    }
    for group in pairs.chunk_by(|a, b| a.0 == b.0 && a.1 == b.1) {
        if group.len() < 2 {
            continue;
        }
        let (k, v) = (group[0].0, group[0].1);
        let txns: Vec<TxnId> = group.iter().map(|g| g.2).collect();
        inf.findings.push(Finding {
            kind: name::LOST_UPDATE,
            key: Some(k),
            txns: txns.clone(),
            explanation: format!(
                "{} all read {} = {} and then wrote it: each update was made without seeing the others (lost update)",
                txns.iter().map(|&x| who(x)).collect::<Vec<_>>().join(", "),
                kn(k),
                show(v)
            ),
            details: json!({"key": kn(k), "read": v}),
        });
    }
    // The initial nil precedes every written version.
    let mut added = 0usize;
    'keys: for (k, ws) in writers_of.iter().enumerate() {
        let Some(nil_readers) = readers.get(&(k as Key, None)) else {
            continue;
        };
        for &r in nil_readers {
            for &w in ws.iter().filter(|&&w| w != r) {
                if added == NIL_EDGE_CAP {
                    inf.notes.push(format!(
                        "stopped adding rw edges from reads of the initial nil after {NIL_EDGE_CAP}: some cycles through them may go unseen"
                    ));
                    break 'keys;
                }
                inf.edges.push((r, w, rel::RW));
                added += 1;
            }
        }
    }
    inf
}
