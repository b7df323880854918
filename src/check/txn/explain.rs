//! Turning a cycle or a finding into an [`Anomaly`]: the cycle's transactions named T1, T2, ...
//! in cycle order, each edge explained by the micro-ops that put it there ("T1 read x without
//! 3; T2 appended 3 to x (rw)"), the txns' op indices in `Anomaly::ops`, and the steps as data
//! in `details` for the report to draw.

use super::cycles::Cycle;
use super::graph::rel;
use super::infer::{external_len, read_list, show_list, Finding, Inference};
use super::shape::{Elem, Key, Mop, TxnId, Txns, Workload};
use crate::check::Anomaly;
use serde_json::json;

/// One edge in words, with the key and value that witness it.
struct Witness {
    text: String,
    key: Option<Key>,
    value: serde_json::Value,
}

/// A txn's micro-ops as Elle prints them: `[append x 3] [r y [5]]`.
pub fn show_mops(t: &Txns, id: TxnId) -> String {
    let mops: Vec<String> = mop_words(t, id)
        .into_iter()
        .map(|m| format!("[{m}]"))
        .collect();
    mops.join(" ")
}

/// A txn's micro-ops in words, one string each: `append x 3`, `r y [1 5]`.
pub fn mop_words(t: &Txns, id: TxnId) -> Vec<String> {
    t.txns[id as usize]
        .mops
        .iter()
        .map(|m| match m {
            Mop::Append { key, elem } => format!("append {} {elem}", t.key_name(*key)),
            Mop::Write { key, value } => format!("w {} {value}", t.key_name(*key)),
            Mop::ReadList { key, list } => format!(
                "r {} {}",
                t.key_name(*key),
                list.as_deref().map_or("?".into(), show_list)
            ),
            Mop::ReadReg { key, value } => format!(
                "r {} {}",
                t.key_name(*key),
                match value {
                    None => "?".into(),
                    Some(None) => "nil".into(),
                    Some(Some(v)) => v.to_string(),
                }
            ),
        })
        .collect()
}

fn appends(t: &Txns, id: TxnId) -> impl Iterator<Item = (usize, Key, Elem)> + '_ {
    t.txns[id as usize]
        .mops
        .iter()
        .enumerate()
        .filter_map(|(i, m)| match *m {
            Mop::Append { key, elem } | Mop::Write { key, value: elem } => Some((i, key, elem)),
            _ => None,
        })
}

fn reads(t: &Txns, id: TxnId) -> impl Iterator<Item = (usize, Key)> + '_ {
    t.txns[id as usize]
        .mops
        .iter()
        .enumerate()
        .filter_map(|(i, m)| match m {
            Mop::ReadList { key, list: Some(_) } => Some((i, *key)),
            Mop::ReadReg {
                key,
                value: Some(_),
            } => Some((i, *key)),
            _ => None,
        })
}

/// The first read of `key` in `id`, if it came before any write of `key` there: its value.
fn external_reg_read(t: &Txns, id: TxnId, key: Key) -> Option<Option<Elem>> {
    for m in &t.txns[id as usize].mops {
        match m {
            Mop::ReadReg { key: k, value } if *k == key => return *value,
            m if m.key() == key => return None,
            _ => {}
        }
    }
    None
}

fn witness_list(
    t: &Txns,
    inf: &Inference,
    a: TxnId,
    b: TxnId,
    r: u8,
    n: &dyn Fn(TxnId) -> String,
) -> Option<Witness> {
    let next_writer = |k: Key, from: usize| -> Option<(Elem, TxnId)> {
        inf.orders[k as usize][from..]
            .iter()
            .find_map(|e| inf.writer.get(&(k, *e)).map(|w| (*e, w.0)))
    };
    match r {
        rel::WW => appends(t, a).find_map(|(_, k, e)| {
            let pos = inf.orders[k as usize].iter().position(|x| *x == e)?;
            let (e2, w) = next_writer(k, pos + 1)?;
            (w == b).then(|| Witness {
                text: format!(
                    "{} appended {e} to {}; {} appended {e2} after it (ww)",
                    n(a),
                    t.key_name(k),
                    n(b)
                ),
                key: Some(k),
                value: json!([e, e2]),
            })
        }),
        rel::WR => reads(t, b).find_map(|(i, k)| {
            let ext = external_len(t, b, i)?;
            let e = *read_list(t, b, i).get(ext.checked_sub(1)?)?;
            (inf.writer.get(&(k, e))?.0 == a).then(|| Witness {
                text: format!(
                    "{} appended {e} to {}; {} read {} with {e} (wr)",
                    n(a),
                    t.key_name(k),
                    n(b),
                    t.key_name(k)
                ),
                key: Some(k),
                value: json!(e),
            })
        }),
        rel::RW => reads(t, a).find_map(|(i, k)| {
            let ext = external_len(t, a, i)?;
            let order = &inf.orders[k as usize];
            let e = *order.get(ext)?;
            (inf.writer.get(&(k, e))?.0 == b).then(|| Witness {
                text: format!(
                    "{} read {} without {e}; {} appended {e} to {} (rw)",
                    n(a),
                    t.key_name(k),
                    n(b),
                    t.key_name(k)
                ),
                key: Some(k),
                value: json!(e),
            })
        }),
        _ => None,
    }
}

fn witness_register(
    t: &Txns,
    inf: &Inference,
    a: TxnId,
    b: TxnId,
    r: u8,
    n: &dyn Fn(TxnId) -> String,
) -> Option<Witness> {
    let show = |v: Option<Elem>| v.map_or("nil".to_string(), |e| e.to_string());
    let last_write = |id: TxnId, k: Key| appends(t, id).filter(|w| w.1 == k).map(|w| w.2).last();
    match r {
        rel::WW => appends(t, a).find_map(|(_, k, e)| {
            (external_reg_read(t, b, k)? == Some(e)).then_some(())?;
            let w = last_write(b, k)?;
            Some(Witness {
                text: format!(
                    "{} wrote {e} to {}; {} read {} = {e} and wrote {w} over it (ww)",
                    n(a),
                    t.key_name(k),
                    n(b),
                    t.key_name(k)
                ),
                key: Some(k),
                value: json!([e, w]),
            })
        }),
        rel::WR => reads(t, b).find_map(|(_, k)| {
            let e = external_reg_read(t, b, k)??;
            (inf.writer.get(&(k, e))?.0 == a).then(|| Witness {
                text: format!(
                    "{} wrote {e} to {}; {} read {} = {e} (wr)",
                    n(a),
                    t.key_name(k),
                    n(b),
                    t.key_name(k)
                ),
                key: Some(k),
                value: json!(e),
            })
        }),
        rel::RW => reads(t, a).find_map(|(_, k)| {
            let v = external_reg_read(t, a, k)?;
            let w = last_write(b, k)?;
            let follows = v.is_none() || external_reg_read(t, b, k) == Some(v);
            follows.then(|| Witness {
                text: format!(
                    "{} read {} = {}; {} wrote {w} over that version (rw)",
                    n(a),
                    t.key_name(k),
                    show(v),
                    n(b)
                ),
                key: Some(k),
                value: json!(w),
            })
        }),
        _ => None,
    }
}

fn witness(
    t: &Txns,
    inf: &Inference,
    w: Workload,
    a: TxnId,
    b: TxnId,
    r: u8,
    n: &dyn Fn(TxnId) -> String,
) -> Witness {
    let data = match w {
        Workload::ListAppend => witness_list(t, inf, a, b, r, n),
        Workload::RwRegister => witness_register(t, inf, a, b, r, n),
    };
    if let Some(d) = data {
        return d;
    }
    let text = match r {
        rel::PROCESS => format!(
            "{} and {} ran on process {}, {} first (process)",
            n(a),
            n(b),
            t.txns[a as usize]
                .process
                .map_or("?".into(), |p| p.to_string()),
            n(a)
        ),
        rel::REALTIME => format!("{} completed before {} began (realtime)", n(a), n(b)),
        r => format!("{} → {} ({})", n(a), n(b), rel::name(r)),
    };
    Witness {
        text,
        key: None,
        value: serde_json::Value::Null,
    }
}

/// A cycle as an anomaly: step-by-step explanation, op indices, and edge data.
pub fn cycle(t: &Txns, inf: &Inference, w: Workload, c: &Cycle) -> Anomaly {
    let members: Vec<TxnId> = c.steps.iter().map(|s| s.from).collect();
    let label = |id: TxnId| {
        members
            .iter()
            .position(|&m| m == id)
            .map_or("T?".to_string(), |p| format!("T{}", p + 1))
    };
    let mentioned = std::cell::RefCell::new(Vec::<TxnId>::new());
    let named = |id: TxnId| {
        let mut m = mentioned.borrow_mut();
        if m.contains(&id) {
            label(id)
        } else {
            m.push(id);
            format!("{} ({})", label(id), t.who(id))
        }
    };
    let mut texts = Vec::new();
    let mut steps = Vec::new();
    for s in &c.steps {
        let wit = witness(t, inf, w, s.from, s.to, s.rel, &named);
        steps.push(json!({
            "from": label(s.from),
            "to": label(s.to),
            "from_op": t.txns[s.from as usize].op,
            "to_op": t.txns[s.to as usize].op,
            "rel": rel::name(s.rel),
            "key": wit.key.map(|k| t.key_name(k)),
            "value": wit.value,
            "text": wit.text,
        }));
        texts.push(wit.text);
    }
    let mut ring: Vec<String> = members.iter().map(|&m| label(m)).collect();
    ring.push(label(members[0]));
    let name = c.name();
    let explanation = format!("{}: cycle {} ({name})", texts.join("; "), ring.join(" → "));
    let txns: Vec<serde_json::Value> = members
        .iter()
        .map(|&m| {
            let x = &t.txns[m as usize];
            json!({"name": label(m), "op": x.op, "process": x.process, "txn": show_mops(t, m), "mops": mop_words(t, m)})
        })
        .collect();
    Anomaly {
        kind: name,
        key: None,
        ops: members.iter().map(|&m| t.txns[m as usize].op).collect(),
        explanation,
        details: json!({"cycle": txns, "steps": steps, "length": c.steps.len()}),
    }
}

/// A non-cycle finding as an anomaly.
pub fn finding(t: &Txns, f: &Finding) -> Anomaly {
    let mut details = f.details.clone();
    if let Some(obj) = details.as_object_mut() {
        obj.insert(
            "txns".into(),
            f.txns
                .iter()
                .map(|&id| json!({"op": t.txns[id as usize].op, "txn": show_mops(t, id)}))
                .collect(),
        );
    }
    Anomaly {
        kind: f.kind.to_string(),
        key: f.key.map(|k| t.key_name(k)),
        ops: f.txns.iter().map(|&id| t.txns[id as usize].op).collect(),
        explanation: f.explanation.clone(),
        details,
    }
}
