//! Turning a failed search into an [`Anomaly`] a student can follow: which op could not take
//! effect, what the object could have held just before it, and which ops ran concurrently.

use crate::check::linearizable::Stuck;
use crate::check::model::{Interner, Model};
use crate::check::partition::Partition;
use crate::check::{Anomaly, CheckOptions};
use crate::history::{History, Op, OpType};
use serde_json::json;

/// How many ops of the longest linearizable prefix the details keep (the last ones).
const PREFIX_SHOWN: usize = 20;

/// When an op happened, in words: seconds if the history has times, else its index.
pub fn when(op: &Op) -> String {
    if op.time > 0 {
        format!("at {:.3} s", op.time as f64 / 1e9)
    } else {
        format!("at op #{}", op.index)
    }
}

/// One call in words: "process 3's cas [1 4] on k2 (failed)".
pub fn describe_call(history: &History, origin: (usize, Option<usize>)) -> String {
    let inv = &history.ops[origin.0];
    let done = origin.1.map(|i| &history.ops[i]);
    let on = inv
        .key
        .as_deref()
        .map(|k| format!(" on {k}"))
        .unwrap_or_default();
    let what = match (inv.f.as_str(), done.map(|d| d.kind)) {
        ("read" | "get", Some(OpType::Ok)) => {
            let v = done.map(|d| d.value.to_string()).unwrap_or_default();
            format!("{}{on} returned {v}", inv.f)
        }
        ("dequeue", Some(OpType::Ok)) => {
            let v = done.map(|d| d.value.to_string()).unwrap_or_default();
            format!("dequeue{on} returned {v}")
        }
        (f, kind) => {
            let arg = if inv.value.is_nil() {
                String::new()
            } else {
                format!(" {}", inv.value)
            };
            let how = match kind {
                Some(OpType::Ok) => "succeeded",
                Some(OpType::Fail) => "failed",
                Some(OpType::Info) => "outcome unknown",
                _ => "never completed",
            };
            format!("{f}{arg}{on} ({how})")
        }
    };
    format!("process {}'s {what}", inv.process)
}

fn op_json(history: &History, origin: (usize, Option<usize>)) -> serde_json::Value {
    let inv = &history.ops[origin.0];
    let done = origin.1.map(|i| &history.ops[i]);
    json!({
        "index": inv.index,
        "completion_index": done.map(|d| d.index),
        "process": inv.process,
        "f": inv.f,
        "value": inv.value,
        "type": done.map(|d| d.kind),
        "result": done.map(|d| &d.value),
        "invoke_time": inv.time,
        "complete_time": done.map(|d| d.time),
        "description": describe_call(history, origin),
    })
}

/// The anomaly for one key whose search got stuck.
pub fn anomaly<M: Model>(
    model: &M,
    values: &Interner,
    history: &History,
    part: &Partition<M::Op>,
    stuck: &Stuck<M::State>,
    _opts: &CheckOptions,
) -> Anomaly {
    let blocked = part.origin[stuck.blocked];
    let b_call = part.ops[stuck.blocked].call;
    let b_ret = part.ops[stuck.blocked].ret.unwrap_or(u64::MAX);
    let concurrent: Vec<usize> = (0..part.ops.len())
        .filter(|&i| {
            i != stuck.blocked
                && part.ops[i].call < b_ret
                && part.ops[i].ret.unwrap_or(u64::MAX) > b_call
        })
        .collect();
    let mut states: Vec<String> = stuck
        .states
        .iter()
        .map(|s| model.describe_state(s, values))
        .collect();
    states.sort();
    states.dedup();
    let key_name = part.key.clone().unwrap_or_else(|| "the object".to_string());
    let inv = &history.ops[blocked.0];
    let end = blocked.1.map(|i| &history.ops[i]).unwrap_or(inv);
    let explanation = format!(
        "{} (invoked {}, completed {}) cannot take effect: every legal order of the {} ops \
         linearized before it leaves {key_name} at {}, and it is allowed in none of them \
         ({} ops ran concurrently with it)",
        describe_call(history, blocked),
        when(inv),
        when(end),
        stuck.prefix.len(),
        if states.is_empty() {
            "no state at all".to_string()
        } else {
            states.join(" or ")
        },
        concurrent.len(),
    );
    let shown = &stuck.prefix[stuck.prefix.len().saturating_sub(PREFIX_SHOWN)..];
    let mut ops: Vec<u64> = vec![inv.index];
    ops.extend(
        concurrent
            .iter()
            .map(|&i| history.ops[part.origin[i].0].index),
    );
    Anomaly {
        kind: "nonlinearizable".to_string(),
        key: part.key.clone(),
        ops,
        explanation,
        details: json!({
            "key": part.key,
            "op": op_json(history, blocked),
            "prefix_length": stuck.prefix.len(),
            "prefix_tail": shown.iter().map(|&i| op_json(history, part.origin[i])).collect::<Vec<_>>(),
            "states": states,
            "concurrent": concurrent.iter().map(|&i| op_json(history, part.origin[i])).collect::<Vec<_>>(),
        }),
    }
}
