//! Inferring dependencies from a list-append history, where inference is exact: each list read
//! shows a prefix of its key's version order, so the longest read of a key gives that order
//! (Elle's "traceability" and "recoverability": every element is unique, so its writer is
//! known). From it come ww edges (consecutive appenders), wr edges (a read's last element was
//! appended by the writer) and rw edges (the next element after a read's last was appended by
//! someone who overwrote what the reader saw), plus the non-cycle anomalies that need no graph.
//!
//! A read after the same txn's own appends to the key must end with them, in order (internal
//! consistency); what precedes them is its external view. An external view that differs from the
//! same txn's earlier read of the key is a non-repeatable read (Adya's P2, allowed at read
//! committed): named on its own, and both reads feed the graph, where it is also a G-single.

use super::anomalies::name;
use super::graph::{rel, Edge};
use super::shape::{Elem, FastMap, Key, Mop, Status, TxnId, Txns};
use serde_json::json;
use std::collections::HashSet;

/// A non-cycle anomaly, found without the graph.
#[derive(Clone, Debug)]
pub struct Finding {
    /// Its name (see [`super::anomalies::name`]).
    pub kind: &'static str,
    /// The key it happened on.
    pub key: Option<Key>,
    /// The transactions that prove it, the most important first.
    pub txns: Vec<TxnId>,
    /// The anomaly in words.
    pub explanation: String,
    /// Data for the report.
    pub details: serde_json::Value,
}

/// What inference produced: the data edges, the non-cycle anomalies, and what explanations of
/// edges need.
#[derive(Debug, Default)]
pub struct Inference {
    /// ww, wr and rw edges (possibly repeated; the graph merges them).
    pub edges: Vec<Edge>,
    /// Non-cycle anomalies.
    pub findings: Vec<Finding>,
    /// Each key's version order as far as it is known (list-append: the longest read).
    pub orders: Vec<Vec<Elem>>,
    /// Who wrote each (key, element), among txns that did not fail, and in which micro-op.
    pub writer: FastMap<(Key, Elem), (TxnId, u32)>,
    /// Caveats to print with the result.
    pub notes: Vec<String>,
}

/// `[1 2 3]`, as Elle prints lists.
pub fn show_list(l: &[Elem]) -> String {
    let items: Vec<String> = l.iter().map(|e| e.to_string()).collect();
    format!("[{}]", items.join(" "))
}

/// The list a read mop saw (empty if unknown).
pub fn read_list(t: &Txns, id: TxnId, mop: usize) -> &[Elem] {
    match &t.txns[id as usize].mops[mop] {
        Mop::ReadList { list: Some(l), .. } => l,
        _ => &[],
    }
}

/// How many of a read's elements were in the database before the txn's own earlier appends to
/// the key (its external view), or `None` if the read does not end with those appends.
pub fn external_len(t: &Txns, id: TxnId, mop: usize) -> Option<usize> {
    let x = &t.txns[id as usize];
    let key = x.mops[mop].key();
    let own: Vec<Elem> = x.mops[..mop]
        .iter()
        .filter_map(|m| match m {
            Mop::Append { key: k, elem } if *k == key => Some(*elem),
            _ => None,
        })
        .collect();
    let l = read_list(t, id, mop);
    l.ends_with(&own).then(|| l.len() - own.len())
}

/// What a txn knows about one key it touched.
struct KeyState {
    key: Key,
    /// The external view of its last read of the key (without its own appends).
    seen: Option<Vec<Elem>>,
    /// Its own appends so far.
    own: Vec<Elem>,
    /// The length of its first read, when the first touch was a read.
    first_read: Option<u32>,
    /// Whether it already counted as a read-then-append (lost-update candidate).
    lost_recorded: bool,
}

struct ReadObs {
    txn: TxnId,
    mop: u32,
    ext: u32,
}

/// Infers a list-append history's edges and non-cycle anomalies.
pub fn list_append(t: &Txns) -> Inference {
    let nk = t.keys.len();
    let who = |id: TxnId| t.who(id);
    let kn = |k: Key| t.key_name(k);
    let mut inf = Inference {
        orders: vec![Vec::new(); nk],
        ..Default::default()
    };
    let mut writer_mop: FastMap<(Key, Elem), (TxnId, u32)> = FastMap::default();
    let mut failed: FastMap<(Key, Elem), TxnId> = FastMap::default();
    for (id, x) in t.txns.iter().enumerate() {
        for (i, m) in x.mops.iter().enumerate() {
            if let Mop::Append { key, elem } = *m {
                if x.status == Status::Fail {
                    failed.insert((key, elem), id as TxnId);
                } else if let Some((other, _)) =
                    writer_mop.insert((key, elem), (id as TxnId, i as u32))
                {
                    inf.notes.push(format!(
                        "{} and {} both appended {elem} to {}: elements must be unique per key, so edges through it may be wrong",
                        who(other),
                        who(id as TxnId),
                        kn(key)
                    ));
                }
            }
        }
    }
    let mut reads: Vec<Vec<ReadObs>> = (0..nk).map(|_| Vec::new()).collect();
    let mut lost: Vec<(Key, u32, TxnId)> = Vec::new();
    for (id, x) in t.txns.iter().enumerate() {
        if x.status != Status::Ok {
            continue;
        }
        let id = id as TxnId;
        let repeats = x
            .mops
            .iter()
            .enumerate()
            .any(|(i, m)| x.mops[..i].iter().any(|p| p.key() == m.key()));
        if !repeats {
            // Each key touched once: every read is external, nothing to check within.
            for (i, m) in x.mops.iter().enumerate() {
                if let Mop::ReadList { key, list: Some(l) } = m {
                    reads[*key as usize].push(ReadObs {
                        txn: id,
                        mop: i as u32,
                        ext: l.len() as u32,
                    });
                }
            }
            continue;
        }
        let mut state: Vec<KeyState> = Vec::new();
        let mut internal_reported = false;
        let mut nonrepeatable_reported = false;
        for (i, m) in x.mops.iter().enumerate() {
            let key = m.key();
            let s = match state.iter().position(|s| s.key == key) {
                Some(p) => p,
                None => {
                    let first_read = match m {
                        Mop::ReadList { list: Some(l), .. } => Some(l.len() as u32),
                        _ => None,
                    };
                    state.push(KeyState {
                        key,
                        seen: None,
                        own: Vec::new(),
                        first_read,
                        lost_recorded: false,
                    });
                    state.len() - 1
                }
            };
            match m {
                Mop::Append { elem, .. } => {
                    let st = &mut state[s];
                    st.own.push(*elem);
                    if let (Some(len), false) = (st.first_read, st.lost_recorded) {
                        st.lost_recorded = true;
                        lost.push((key, len, id));
                    }
                }
                Mop::ReadList { list: Some(l), .. } => {
                    let st = &mut state[s];
                    let ext = if l.ends_with(&st.own) {
                        Some(l.len() - st.own.len())
                    } else {
                        if !internal_reported {
                            internal_reported = true;
                            inf.findings.push(Finding {
                                kind: name::INTERNAL,
                                key: Some(key),
                                txns: vec![id],
                                explanation: format!(
                                    "{} appended {} to {} and then read {} = {} without them at the end, in order (internal inconsistency)",
                                    who(id), show_list(&st.own), kn(key), kn(key), show_list(l)
                                ),
                                details: json!({"key": kn(key), "read": l, "own": st.own, "mop": i}),
                            });
                        }
                        None
                    };
                    if let Some(n) = ext {
                        let now = &l[..n];
                        if let Some(before) = st.seen.as_deref().filter(|b| *b != now) {
                            if !nonrepeatable_reported {
                                nonrepeatable_reported = true;
                                inf.findings.push(Finding {
                                    kind: name::NON_REPEATABLE_READ,
                                    key: Some(key),
                                    txns: vec![id],
                                    explanation: format!(
                                        "{} read {} = {} and later, apart from its own appends, {} = {}: other transactions changed {} between its reads (non-repeatable read)",
                                        who(id), kn(key), show_list(before), kn(key), show_list(now), kn(key)
                                    ),
                                    details: json!({"key": kn(key), "before": before, "after": now, "read": l, "mop": i}),
                                });
                            }
                        }
                        st.seen = Some(now.to_vec());
                    }
                    for later in &x.mops[i + 1..] {
                        if let Mop::Append { key: k2, elem } = later {
                            if *k2 == key && l.contains(elem) {
                                inf.findings.push(Finding {
                                    kind: name::FUTURE_READ,
                                    key: Some(key),
                                    txns: vec![id],
                                    explanation: format!(
                                        "{} read {} = {}, which holds {elem}, an element the same transaction appends only later (future read)",
                                        who(id), kn(key), show_list(l)
                                    ),
                                    details: json!({"key": kn(key), "read": l, "element": elem}),
                                });
                                break;
                            }
                        }
                    }
                    if let Some(ext) = ext {
                        reads[key as usize].push(ReadObs {
                            txn: id,
                            mop: i as u32,
                            ext: ext as u32,
                        });
                    }
                }
                _ => {}
            }
        }
    }

    for (k, obs) in reads.iter().enumerate() {
        let k = k as Key;
        let Some(longest) = obs
            .iter()
            .max_by_key(|o| read_list(t, o.txn, o.mop as usize).len())
        else {
            continue;
        };
        let order = read_list(t, longest.txn, longest.mop as usize);
        let mut compatible = true;
        for o in obs {
            let l = read_list(t, o.txn, o.mop as usize);
            if l != &order[..l.len()] {
                inf.findings.push(Finding {
                    kind: name::INCOMPATIBLE_ORDER,
                    key: Some(k),
                    txns: vec![o.txn, longest.txn],
                    explanation: format!(
                        "{} read {} = {} and {} read {} = {}: neither is a prefix of the other, so {} has no single order of appends (incompatible order)",
                        who(o.txn), kn(k), show_list(l), who(longest.txn), kn(k), show_list(order), kn(k)
                    ),
                    details: json!({"key": kn(k), "reads": [l, order]}),
                });
                compatible = false;
                break;
            }
        }
        if !compatible {
            // An aborted read needs no version order: a committed read that saw a failed
            // transaction's append is G1a even when the key's reads disagree. Only when it
            // really saw that write: the element is in what it read from the database (not
            // its own appends), and no transaction that may have committed appended it too.
            let aborted = obs.iter().find_map(|o| {
                let l = read_list(t, o.txn, o.mop as usize);
                l[..o.ext as usize].iter().find_map(|e| {
                    if writer_mop.contains_key(&(k, *e)) {
                        return None;
                    }
                    failed.get(&(k, *e)).map(|f| (o.txn, *f, *e, l))
                })
            });
            if let Some((r, f, e, l)) = aborted {
                inf.findings.push(Finding {
                    kind: name::G1A,
                    key: Some(k),
                    txns: vec![f, r],
                    explanation: format!(
                        "{} appended {e} to {} in a transaction that failed, yet {} read {} = {} with it (aborted read)",
                        who(f), kn(k), who(r), kn(k), show_list(l)
                    ),
                    details: json!({"key": kn(k), "element": e, "readers": 1}),
                });
            }
            continue;
        }
        if order.len() > 1 {
            let dup = if order.len() <= 64 {
                order
                    .iter()
                    .enumerate()
                    .find(|(i, e)| order[..*i].contains(e))
                    .map(|(_, e)| e)
            } else {
                let mut seen = HashSet::with_capacity(order.len());
                order.iter().find(|e| !seen.insert(**e))
            };
            if let Some(dup) = dup {
                inf.findings.push(Finding {
                    kind: name::DUPLICATE_ELEMENTS,
                    key: Some(k),
                    txns: vec![longest.txn],
                    explanation: format!(
                        "{} read {} = {}: element {dup} appears more than once (duplicate elements)",
                        who(longest.txn),
                        kn(k),
                        show_list(order)
                    ),
                    details: json!({"key": kn(k), "read": order, "element": dup}),
                });
                continue;
            }
        }
        inf.orders[k as usize] = order.to_vec();
        let ws: Vec<Option<(TxnId, u32)>> = order
            .iter()
            .map(|e| writer_mop.get(&(k, *e)).copied())
            .collect();
        for (i, e) in order.iter().enumerate() {
            if ws[i].is_some() {
                continue;
            }
            let readers: Vec<TxnId> = obs
                .iter()
                .filter(|o| read_list(t, o.txn, o.mop as usize).len() > i)
                .map(|o| o.txn)
                .collect();
            if let Some(&f) = failed.get(&(k, *e)) {
                let r = readers[0];
                let mut txns = readers.clone();
                txns.insert(0, f);
                inf.findings.push(Finding {
                    kind: name::G1A,
                    key: Some(k),
                    txns,
                    explanation: format!(
                        "{} appended {e} to {} in a transaction that failed, yet {} read {} = {} with it (aborted read)",
                        who(f), kn(k), who(r), kn(k), show_list(read_list(t, r, obs.iter().find(|o| o.txn == r).map_or(0, |o| o.mop as usize)))
                    ),
                    details: json!({"key": kn(k), "element": e, "readers": readers.len()}),
                });
                if let Some(w) = ws[i + 1..]
                    .iter()
                    .flatten()
                    .find(|w| t.txns[w.0 as usize].status == Status::Ok)
                {
                    inf.findings.push(Finding {
                        kind: name::DIRTY_UPDATE,
                        key: Some(k),
                        txns: vec![f, w.0],
                        explanation: format!(
                            "{} appended {e} to {} in a transaction that failed, and committed {} appended to {} after it: a write built on an aborted one (dirty update)",
                            who(f), kn(k), who(w.0), kn(k)
                        ),
                        details: json!({"key": kn(k), "element": e}),
                    });
                }
            } else {
                inf.findings.push(Finding {
                    kind: name::GARBAGE_READ,
                    key: Some(k),
                    txns: readers.clone(),
                    explanation: format!(
                        "{} read {} = {}, but no transaction appended {e} to {} (garbage read)",
                        who(readers[0]),
                        kn(k),
                        show_list(order),
                        kn(k)
                    ),
                    details: json!({"key": kn(k), "element": e}),
                });
            }
        }
        let mut prev: Option<TxnId> = None;
        for w in ws.iter().flatten() {
            if let Some(p) = prev {
                inf.edges.push((p, w.0, rel::WW));
            }
            prev = Some(w.0);
        }
        for o in obs {
            let l = o.ext as usize;
            if l > 0 {
                if let Some((w, wm)) = ws[l - 1] {
                    if w != o.txn {
                        inf.edges.push((w, o.txn, rel::WR));
                        let overwritten = t.txns[w as usize].mops[wm as usize + 1..]
                            .iter()
                            .any(|m| matches!(m, Mop::Append { key, .. } if *key == k));
                        if overwritten {
                            inf.findings.push(Finding {
                                kind: name::G1B,
                                key: Some(k),
                                txns: vec![o.txn, w],
                                explanation: format!(
                                    "{} read {} = {}, ending at {}, but {} appended more to {} after {} in the same transaction: the read saw an intermediate state (intermediate read)",
                                    who(o.txn), kn(k), show_list(read_list(t, o.txn, o.mop as usize)), order[l - 1], who(w), kn(k), order[l - 1]
                                ),
                                details: json!({"key": kn(k), "element": order[l - 1]}),
                            });
                        }
                    }
                }
            }
            if l < order.len() {
                if let Some((w, _)) = ws[l] {
                    inf.edges.push((o.txn, w, rel::RW));
                }
            }
        }
    }
    lost.sort_unstable();
    for group in lost.chunk_by(|a, b| a.0 == b.0 && a.1 == b.1) {
        if group.len() < 2 {
            continue;
        }
        let (k, len) = (group[0].0, group[0].1 as usize);
        let txns: Vec<TxnId> = group.iter().map(|g| g.2).collect();
        let seen = inf.orders[k as usize].get(..len).map(show_list);
        inf.findings.push(Finding {
            kind: name::LOST_UPDATE,
            key: Some(k),
            txns: txns.clone(),
            explanation: format!(
                "{} all read the same version of {}{} and then appended to it: each update was made without seeing the others (lost update)",
                txns.iter().map(|&x| who(x)).collect::<Vec<_>>().join(", "),
                kn(k),
                seen.map(|s| format!(" ({s})")).unwrap_or_default()
            ),
            details: json!({"key": kn(k), "read_length": len}),
        });
    }
    inf.writer = writer_mop;
    inf
}
