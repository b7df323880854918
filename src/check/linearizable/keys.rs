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

/// Calls per piece when grouping them by key in parallel.
const GROUP_PIECE: usize = 1 << 16;

/// How many calls ahead of the one being compiled its ops are fetched into the caches.
const AHEAD: usize = 16;

/// Asks the processor to bring the memory at `p` into its caches: a hint, nothing is read.
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch only hints at a later read; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Fetches the fields of call `origin`'s ops that compiling reads, ahead of their use (taking
/// a field's address reads nothing).
fn fetch_ops(history: &History, origin: Origin) {
    let inv = &history.ops[origin.0];
    prefetch(&inv.f);
    prefetch(&inv.value);
    if let Some(done) = origin.1.map(|i| &history.ops[i]) {
        prefetch(&done.kind);
        prefetch(&done.value);
        prefetch(&done.error);
    }
}

/// Fetches what call `origin`'s ops point to (their function name and string values), once the
/// ops themselves are in the caches.
fn fetch_strings(history: &History, origin: Origin) {
    for at in std::iter::once(origin.0).chain(origin.1) {
        let op = &history.ops[at];
        prefetch(op.f.as_ptr());
        if let Value::Str(s) = &op.value {
            prefetch(s.as_ptr());
        }
    }
}

/// Groups the calls by key: pieces of the history grouped in parallel, then the pieces'
/// groups joined in order, so each key's calls stay in invocation order. Keys are short names
/// hashed once per call, so the memo's fast hash (SipHash cost more than the rest of the
/// grouping).
fn group_by_key(history: &History) -> Vec<(Option<&str>, Vec<Vec<Origin>>)> {
    let calls = history.calls();
    let pieces: Vec<Vec<(Option<&str>, Vec<Origin>)>> = calls
        .par_chunks(GROUP_PIECE)
        .map(|piece| {
            let mut index: FxMap<Option<&str>, usize> = FxMap::default();
            let mut groups: Vec<(Option<&str>, Vec<Origin>)> = Vec::new();
            for call in piece {
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
            groups
        })
        .collect();
    drop(calls);
    let mut index: FxMap<Option<&str>, usize> = FxMap::default();
    let mut groups: Vec<(Option<&str>, Vec<Vec<Origin>>)> = Vec::new();
    for piece in pieces {
        for (key, origins) in piece {
            let at = *index.entry(key).or_insert_with(|| {
                groups.push((key, Vec::new()));
                groups.len() - 1
            });
            groups[at].1.push(origins);
        }
    }
    groups
}

/// Compiles every client call of `history` and groups the calls by key.
pub fn split<M: Model>(
    model: &M,
    history: &History,
    values: &Interner,
) -> anyhow::Result<Vec<KeyHistory<M::Op>>> {
    // Group the calls by key, then compile each key's calls in parallel, each key with its own
    // copy of the values interned so far (the initial value). Key by key, so that a key's
    // compiled values sit together in memory (they are freed together, too). A key's calls
    // are spread over the whole history, so each would wait for memory: the ops of the calls
    // a little ahead are fetched while the current one compiles.
    let groups = group_by_key(history);
    let compiled: Vec<anyhow::Result<KeyHistory<M::Op>>> = groups
        .par_iter()
        .map(|(key, pieces)| {
            let origins: Vec<Origin> = pieces.concat();
            let mut part = KeyHistory {
                key: key.map(str::to_string),
                ops: Vec::with_capacity(origins.len()),
                origin: Vec::with_capacity(origins.len()),
                values: values.clone(),
            };
            for (j, &origin) in origins.iter().enumerate() {
                if let Some(&ahead) = origins.get(j + AHEAD) {
                    fetch_ops(history, ahead);
                }
                if let Some(&ahead) = origins.get(j + AHEAD / 2) {
                    fetch_strings(history, ahead);
                }
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
    drop(groups);
    let mut out = Vec::with_capacity(compiled.len());
    for part in compiled {
        out.push(part?);
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Op, Process};

    /// Calls over several pieces: every call lands in its key's group once, in invocation order.
    #[test]
    fn grouping_over_pieces_keeps_each_keys_calls_in_order() {
        let calls = GROUP_PIECE + GROUP_PIECE / 2;
        let mut ops = Vec::with_capacity(2 * calls);
        for i in 0..calls {
            // Two clients interleaved, so completions come after the other client's invoke.
            for kind in [OpType::Invoke, OpType::Ok] {
                ops.push(Op {
                    index: ops.len() as u64,
                    time: 0,
                    process: Process::Client((i % 2) as u64),
                    kind,
                    f: "get".into(),
                    key: Some(format!("k{}", i % 3)),
                    value: Value::Nil,
                    error: None,
                });
            }
        }
        let history = History { header: None, ops };
        let groups = group_by_key(&history);
        let keys: Vec<Option<&str>> = groups.iter().map(|g| g.0).collect();
        assert_eq!(keys, [Some("k0"), Some("k1"), Some("k2")]);
        let mut seen = 0;
        for (k, (_, pieces)) in groups.iter().enumerate() {
            let origins = pieces.concat();
            assert!(origins.windows(2).all(|w| w[0].0 < w[1].0));
            assert!(origins
                .iter()
                .all(|&(i, done)| (i / 2) % 3 == k && done == Some(i + 1)));
            seen += origins.len();
        }
        assert_eq!(seen, calls);
    }
}
