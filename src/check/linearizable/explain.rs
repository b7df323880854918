//! Turning a failed search into an [`Anomaly`] a student can follow: which op could not take
//! effect, what the object could have held just before it, and which ops ran concurrently.

use crate::check::linearizable::keys::KeyHistory;
use crate::check::linearizable::search::Stuck;
use crate::check::linearizable::shrink::Shrunk;
use crate::check::model::Model;
use crate::check::result::Anomaly;
use crate::history::{History, Op, OpType};
use serde_json::json;

/// How many ops of the longest linearizable prefix the details keep (the last ones).
const PREFIX_SHOWN: usize = 20;
/// How many states the one-line explanation names.
const STATES_SHOWN: usize = 4;

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
    history: &History,
    part: &KeyHistory<M::Op>,
    stuck: &Stuck<M::State>,
    shrunk: Option<&Shrunk<M::Op, M::State>>,
) -> Anomaly {
    // The op that cannot be placed: the shrinker's, else where the search got stuck. The
    // states are those the search reached when it had to place that op.
    let b = shrunk.map_or(stuck.blocked, |s| s.blocked);
    let blocked = part.origin[b];
    let b_call = part.ops[b].call;
    let b_ret = part.ops[b].ret.unwrap_or(u64::MAX);
    let concurrent: Vec<usize> = (0..part.ops.len())
        .filter(|&i| {
            i != b && part.ops[i].call < b_ret && part.ops[i].ret.unwrap_or(u64::MAX) > b_call
        })
        .collect();
    let mut states: Vec<String> = if stuck.blocked == b {
        stuck
            .states
            .iter()
            .map(|s| model.describe_state(s, &part.values))
            .collect()
    } else {
        Vec::new()
    };
    states.sort();
    states.dedup();
    let key_name = part.key.clone().unwrap_or_else(|| "the object".to_string());
    let inv = &history.ops[blocked.0];
    let end = blocked.1.map(|i| &history.ops[i]).unwrap_or(inv);
    let mut shown_states: Vec<String> =
        states.iter().take(STATES_SHOWN).map(|s| short(s)).collect();
    if states.len() > STATES_SHOWN {
        shown_states.push(format!("{} other states", states.len() - STATES_SHOWN));
    }
    let mut explanation = format!(
        "{} (invoked {}, completed {}) cannot take effect: no legal order of the ops before it \
         allows it{}",
        describe_call(history, blocked),
        when(inv),
        when(end),
        if shown_states.is_empty() {
            String::new()
        } else {
            format!(
                "; the longest ones found leave {key_name} at {}",
                shown_states.join(" or ")
            )
        },
    );
    let mut ops: Vec<u64> = vec![inv.index];
    let mut core_json = serde_json::Value::Null;
    match shrunk {
        Some(s) => {
            let core: Vec<usize> = (0..s.part.ops.len())
                .filter(|&i| s.hard[i] && i != b)
                .collect();
            ops.extend(core.iter().map(|&i| history.ops[part.origin[i].0].index));
            let others = s.original_ops.saturating_sub(core.len() + 1);
            let listed: Vec<String> = core
                .iter()
                .map(|&i| describe_call(history, part.origin[i]))
                .collect();
            explanation.push_str(&format!(
                ". It contradicts {}{}",
                if listed.is_empty() {
                    "the initial state alone".to_string()
                } else {
                    listed.join("; ")
                },
                match others {
                    0 => String::new(),
                    1 => format!(
                        ", even if the one other op on {key_name} took effect at any time after \
                         its invoke, or never"
                    ),
                    _ => format!(
                        ", even if the other {others} ops on {key_name} took effect at any time \
                         after their invoke, or never"
                    ),
                }
            ));
            core_json = json!(core
                .iter()
                .map(|&i| op_json(history, part.origin[i]))
                .collect::<Vec<_>>());
        }
        None => {
            explanation.push_str(&format!(
                " ({} ops ran concurrently with it)",
                concurrent.len()
            ));
            ops.extend(
                concurrent
                    .iter()
                    .map(|&i| history.ops[part.origin[i].0].index),
            );
        }
    }
    let shown = &stuck.prefix[stuck.prefix.len().saturating_sub(PREFIX_SHOWN)..];
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
            "core": core_json,
            "key_ops": shrunk.map_or(part.ops.len(), |s| s.original_ops),
        }),
    }
}

/// A long state cut to its ends, for one line of text.
fn short(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= 60 {
        return s.to_string();
    }
    let head: String = chars[..28].iter().collect();
    let tail: String = chars[chars.len() - 28..].iter().collect();
    format!("{head}…{tail} ({} characters)", chars.len())
}
