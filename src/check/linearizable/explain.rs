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
/// How many ops an anomaly names when no small proof was found (the blocked op and the
/// concurrent ops nearest to it).
const NAMED: usize = 10;
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

/// Whether `history` records times (some op has a time other than 0); asked once per
/// explanation and passed to [`since_start`].
pub fn has_times(history: &History) -> bool {
    history.ops.iter().any(|o| o.time > 0)
}

/// When an op happened, for a step-by-step explanation: the op's time as the history records it
/// (seconds since the run or test began, as in ferrocheck's and Jepsen's histories, and as the
/// report's timeline shows it), or its index if the history has no times (`timed` is
/// [`has_times`] of the history).
pub fn since_start(timed: bool, op: &Op) -> String {
    if timed || op.time > 0 {
        format!("{:.3} s", op.time as f64 / 1e9)
    } else {
        format!("op #{}", op.index)
    }
}

/// The shrunk core and the blocked op as numbered steps a student can follow: each op with
/// its times, which earlier ones real time puts before it, and why the last cannot happen.
fn steps<M: Model>(
    history: &History,
    part: &KeyHistory<M::Op>,
    s: &Shrunk<M::Op, M::State>,
    states: &[String],
    key_name: &str,
    timed: bool,
) -> Vec<String> {
    let b = s.blocked;
    let mut order: Vec<usize> = (0..part.ops.len())
        .filter(|&i| s.hard[i] || i == b)
        .collect();
    order.sort_by_key(|&i| part.ops[i].call);
    let mut out = Vec::new();
    if let Some((t, gone)) = s.cut {
        let at = history.ops.get(t).map(|o| since_start(timed, o));
        out.push(format!(
            "(0) {key_name} is in some state at {}, whatever the {gone} ops that completed \
             before then did",
            at.unwrap_or_default()
        ));
    }
    for n in 0..order.len() {
        out.push(step_line(history, part, &order, n, timed));
    }
    out.push(conclusion(s, &order, states, key_name));
    out
}

/// The number step `i` has in `order` (from 1), as the steps show it.
fn label(order: &[usize], i: usize) -> usize {
    order.iter().position(|&j| j == i).map_or(0, |n| n + 1)
}

/// Step `n` of `order` in words: the op, its times, and the earlier steps real time puts
/// before it (without those implied by others).
fn step_line<O>(
    history: &History,
    part: &KeyHistory<O>,
    order: &[usize],
    n: usize,
    timed: bool,
) -> String {
    let i = order[n];
    let (inv, done) = (part.origin[i].0, part.origin[i].1);
    let span = match (done, part.ops[i].ret) {
        (Some(d), Some(_)) => format!(
            "invoked at {}, completed at {}",
            since_start(timed, &history.ops[inv]),
            since_start(timed, &history.ops[d])
        ),
        _ => format!(
            "invoked at {}, may take effect any time after or never",
            since_start(timed, &history.ops[inv])
        ),
    };
    let call = part.ops[i].call;
    let before: Vec<usize> = order[..n]
        .iter()
        .copied()
        .filter(|&j| part.ops[j].ret.is_some_and(|r| r < call))
        .collect();
    let direct: Vec<String> = before
        .iter()
        .filter(|&&j| {
            let rj = part.ops[j].ret.unwrap_or(u64::MAX);
            !before
                .iter()
                .any(|&k| k != j && rj < part.ops[k].call && part.ops[k].ret.is_some())
        })
        .map(|&j| format!("({})", label(order, j)))
        .collect();
    let after = if direct.is_empty() {
        String::new()
    } else {
        format!(
            "; it began after {} completed, so it takes effect after {}",
            direct.join(" and "),
            if direct.len() == 1 { "it" } else { "them" }
        )
    };
    format!(
        "({}) {} ({span}){after}",
        n + 1,
        describe_call(history, part.origin[i])
    )
}

/// The last step: why the blocked op cannot take effect, whatever the other ops did.
fn conclusion<O, S>(
    s: &Shrunk<O, S>,
    order: &[usize],
    states: &[String],
    key_name: &str,
) -> String {
    let b = label(order, s.blocked);
    let others = s
        .original_ops
        .saturating_sub(order.len() + s.cut.map_or(0, |c| c.1));
    let mut so = format!("so ({b}) cannot take effect");
    if !states.is_empty() {
        so = format!(
            "every order real time allows leaves {key_name} at {} when ({b}) must take effect, \
             which ({b}) does not allow; {so}",
            states.join(" or "),
        );
    }
    if others > 0 {
        so.push_str(&format!(
            ", even if the other {others} ops on {key_name} took effect at any time after \
             their invoke, or never"
        ));
    }
    so
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

/// The ops of `part` running concurrently with op `b` (neither returned before the other began).
fn concurrent_with<O>(part: &KeyHistory<O>, b: usize) -> Vec<usize> {
    let b_call = part.ops[b].call;
    let b_ret = part.ops[b].ret.unwrap_or(u64::MAX);
    (0..part.ops.len())
        .filter(|&i| {
            i != b && part.ops[i].call < b_ret && part.ops[i].ret.unwrap_or(u64::MAX) > b_call
        })
        .collect()
}

/// The states the search reached when it had to place op `b`, in words, sorted, once each
/// (none when the search was stuck at another op).
fn states_before<M: Model>(
    model: &M,
    part: &KeyHistory<M::Op>,
    stuck: &Stuck<M::State>,
    b: usize,
) -> Vec<String> {
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
    states
}

/// What an explanation adds about the ops around the blocked one: the history indexes of the
/// ops it names (after the blocked op's), the text, and the `core` and `steps` details.
struct Around {
    ops: Vec<u64>,
    text: String,
    core: serde_json::Value,
    steps: serde_json::Value,
}

/// With a shrunk proof: its core ops and the steps in words.
fn around_core<M: Model>(
    history: &History,
    part: &KeyHistory<M::Op>,
    s: &Shrunk<M::Op, M::State>,
    shown_states: &[String],
    key_name: &str,
    timed: bool,
) -> Around {
    let b = s.blocked;
    let core: Vec<usize> = (0..s.part.ops.len())
        .filter(|&i| s.hard[i] && i != b)
        .collect();
    let mut text = String::new();
    if core.is_empty() && s.cut.is_none() {
        text.push_str(". It contradicts the initial state alone");
    }
    let steps = steps::<M>(history, part, s, shown_states, key_name, timed);
    text.push_str(&format!(". Step by step: {}.", steps.join("; ")));
    Around {
        ops: core
            .iter()
            .map(|&i| history.ops[part.origin[i].0].index)
            .collect(),
        text,
        core: json!(core
            .iter()
            .map(|&i| op_json(history, part.origin[i]))
            .collect::<Vec<_>>()),
        steps: json!(steps),
    }
}

/// Without a shrunk proof: how many ops ran concurrently, naming the blocked op's nearest few.
fn around_concurrent<O>(
    history: &History,
    part: &KeyHistory<O>,
    b: usize,
    concurrent: &[usize],
) -> Around {
    let b_call = part.ops[b].call;
    let text = format!(" ({} ops ran concurrently with it)", concurrent.len());
    // Named: the blocked op and the concurrent ops nearest to it, a readable few.
    let mut near = concurrent.to_vec();
    near.sort_by_key(|&i| part.ops[i].call.abs_diff(b_call));
    near.truncate(NAMED - 1);
    near.sort_unstable();
    Around {
        ops: near
            .iter()
            .map(|&i| history.ops[part.origin[i].0].index)
            .collect(),
        text,
        core: serde_json::Value::Null,
        steps: serde_json::Value::Null,
    }
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
    let concurrent = concurrent_with(part, b);
    let states = states_before(model, part, stuck, b);
    let key_name = part.key.clone().unwrap_or_else(|| "the object".to_string());
    let inv = &history.ops[blocked.0];
    let end = blocked.1.map(|i| &history.ops[i]).unwrap_or(inv);
    let timed = has_times(history);
    let mut shown_states: Vec<String> =
        states.iter().take(STATES_SHOWN).map(|s| short(s)).collect();
    if states.len() > STATES_SHOWN {
        shown_states.push(format!("{} other states", states.len() - STATES_SHOWN));
    }
    let mut explanation = format!(
        "{} (invoked at {}, completed at {}) cannot take effect: no legal order of the ops before it \
         allows it{}",
        describe_call(history, blocked),
        since_start(timed, inv),
        since_start(timed, end),
        if shown_states.is_empty() || shrunk.is_some() {
            String::new()
        } else {
            format!(
                "; the longest ones found leave {key_name} at {}",
                shown_states.join(" or ")
            )
        },
    );
    let around = match shrunk {
        Some(s) => around_core::<M>(history, part, s, &shown_states, &key_name, timed),
        None => around_concurrent(history, part, b, &concurrent),
    };
    explanation.push_str(&around.text);
    let mut ops: Vec<u64> = vec![inv.index];
    ops.extend(around.ops);
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
            "core": around.core,
            "key_ops": shrunk.map_or(part.ops.len(), |s| s.original_ops),
            "steps": around.steps,
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
