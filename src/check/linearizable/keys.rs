//! One key's sub-history, compiled: the calls of `History` grouped by key, each compiled once
//! by the model into the compact ops the search steps through.
//!
//! Linearizability is compositional (Herlihy & Wing's locality), so the driver checks each
//! [`KeyHistory`] on its own; the shrinker and the explanation work on one as well.

use crate::check::linearizable::memo::FxMap;
use crate::check::linearizable::search::KeyOp;
use crate::check::model::{CallView, Interner, Model, Outcome};
use crate::history::{History, OpType, Value};
use rayon::prelude::*;

/// Where a call is in `History::ops`: its invoke and its completion (if any).
pub type Origin = (usize, Option<usize>);

/// One key's compiled ops (its sub-history), with where each came from in the history.
#[derive(Debug)]
pub struct KeyHistory<O> {
    /// The key (`None` for ops without one).
    pub key: Option<String>,
    /// The compiled ops.
    pub ops: Vec<KeyOp<O>>,
    /// For each op: positions of its invoke and completion in `History::ops`.
    pub origin: Vec<(usize, Option<usize>)>,
    /// The values this key's ops were compiled with.
    pub values: Interner,
}

/// Compiles one call (invoke and completion positions in `history`). With `relax`, the call is
/// compiled as if its outcome were unknown: optional, result unconstrained. `None`: the model
/// drops it.
pub fn compile_call<M: Model>(
    model: &M,
    history: &History,
    origin: (usize, Option<usize>),
    relax: bool,
    values: &mut Interner,
) -> anyhow::Result<Option<KeyOp<M::Op>>> {
    let nil = Value::Nil;
    let inv = &history.ops[origin.0];
    let done = origin.1.map(|i| &history.ops[i]);
    let outcome = match done.map(|d| d.kind) {
        _ if relax => Outcome::Info,
        Some(OpType::Ok) => Outcome::Ok,
        Some(OpType::Fail) => Outcome::Fail,
        _ => Outcome::Info,
    };
    let view = CallView {
        f: &inv.f,
        input: &inv.value,
        output: match (outcome, done) {
            (Outcome::Ok, Some(d)) => &d.value,
            _ => &nil,
        },
        outcome,
        error: done.and_then(|d| d.error.as_deref()),
    };
    let compiled = model.compile(&view, values).map_err(|e| {
        anyhow::anyhow!(
            "op {} (process {}, {} {}): {e}",
            inv.index,
            inv.process,
            inv.f,
            inv.value
        )
    })?;
    Ok(compiled.map(|op| KeyOp {
        op,
        call: origin.0 as u64,
        ret: if outcome == Outcome::Info {
            None
        } else {
            origin.1.map(|i| i as u64)
        },
    }))
}

/// Compiles every client call of `history` and groups the calls by key.
pub fn split<M: Model>(
    model: &M,
    history: &History,
    values: &Interner,
) -> anyhow::Result<Vec<KeyHistory<M::Op>>> {
    // Group the calls by key (in one pass), then compile each key's calls in parallel, each
    // key with its own copy of the values interned so far (the initial value). Key by key, so
    // that a key's compiled values sit together in memory (they are freed together, too).
    // The memo's fast hash: keys are short names hashed once per call, where SipHash cost
    // more than the rest of the grouping.
    let mut index: FxMap<Option<&str>, usize> = FxMap::default();
    let mut groups: Vec<(Option<&str>, Vec<Origin>)> = Vec::new();
    for call in history.calls() {
        let inv = &history.ops[call.invoke];
        let done = call.complete.map(|i| &history.ops[i]);
        let key = inv
            .key
            .as_deref()
            .or_else(|| done.and_then(|d| d.key.as_deref()));
        let at = *index.entry(key).or_insert_with(|| {
            groups.push((key, Vec::new()));
            groups.len() - 1
        });
        groups[at].1.push((call.invoke, call.complete));
    }
    let compiled: Vec<anyhow::Result<KeyHistory<M::Op>>> = groups
        .par_iter()
        .map(|(key, origins)| {
            let mut part = KeyHistory {
                key: key.map(str::to_string),
                ops: Vec::with_capacity(origins.len()),
                origin: Vec::with_capacity(origins.len()),
                values: values.clone(),
            };
            for &origin in origins {
                if let Some(op) = compile_call(model, history, origin, false, &mut part.values)? {
                    part.ops.push(op);
                    part.origin.push(origin);
                }
            }
            let mut ops: Vec<M::Op> = part.ops.iter().map(|o| o.op.clone()).collect();
            model.prepare(&mut ops);
            for (o, c) in part.ops.iter_mut().zip(ops) {
                o.op = c;
            }
            Ok(part)
        })
        .collect();
    let mut out = Vec::with_capacity(compiled.len());
    for part in compiled {
        out.push(part?);
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}
