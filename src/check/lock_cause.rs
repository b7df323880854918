//! Which fault let a second client take a lock that its holder still believed it held, in
//! words a student can follow: the nemesis ops in force between the two acquires (a pause of
//! the holder, a clock jump on a lock server, a partition, a killed node), read from the
//! history's own nemesis ops and their values.
//!
//! A clock jump forward on a lock server expires the keys it holds early (the server's TTL
//! runs on its own clock); a partition decides which lock servers each client group reaches,
//! so it tells which majority the second holder took. Client groups are Redlock's (`ga` for even
//! client processes, `gb` for odd ones), named only when the history's run was a `redlock` run.

use crate::check::lock::Hold;
use crate::history::{History, Op, OpType, Process, Value};
use std::collections::BTreeSet;

/// The fault behind an overlap, as the explanation says it.
#[derive(Debug, Default)]
pub struct Cause {
    /// The nemesis ops it rests on (op indices).
    pub ops: Vec<u64>,
    /// What happened to the first holder, said between the two acquires (`""` when nothing).
    pub before: String,
    /// How the second holder got the lock, said after its acquire (`""` when unknown).
    pub after: String,
    /// A short name of the cause, for the summary: `a pause`, `a clock jump`, `no fault`, ...
    pub kind: &'static str,
}

fn secs(ns: u64) -> String {
    format!("{:.3} s", ns as f64 / 1e9)
}

/// A string value's text.
fn text(v: &Value) -> Option<&str> {
    match v {
        Value::Str(s) => Some(s),
        _ => None,
    }
}

fn nemesis_ops(history: &History) -> impl Iterator<Item = &Op> {
    history
        .ops
        .iter()
        .filter(|o| o.process == Process::Nemesis && o.kind != OpType::Fail)
}

/// Redlock's client group of `process` (` (group ga)`), when the history is a redlock run.
pub fn group_note(history: &History, process: u64) -> String {
    let redlock = history
        .header
        .as_ref()
        .and_then(|h| h.run.as_ref())
        .and_then(|r| r.get("target"))
        .and_then(|t| t.as_str())
        == Some("redlock");
    if !redlock {
        return String::new();
    }
    format!(
        " (group {})",
        crate::targets::lock::redlock::RedlockTarget::group_of(process)
    )
}

fn group_name(history: &History, process: u64) -> Option<String> {
    let note = group_note(history, process);
    note.strip_prefix(" (group ")
        .and_then(|s| s.strip_suffix(')'))
        .map(str::to_owned)
}

/// When `process` invoked the acquire whose ok is op `acquired`.
fn acquire_invoked(history: &History, process: u64, acquired: u64) -> Option<u64> {
    history
        .ops
        .iter()
        .filter(|o| o.index < acquired && o.process == Process::Client(process))
        .rfind(|o| o.f == "acquire" && o.kind == OpType::Invoke)
        .map(|o| o.time)
}

/// The pause closest after the first hold began, before the overlap ended.
fn pause(history: &History, a: &Hold, b: &Hold) -> Option<Cause> {
    let to = a.end.min(b.end);
    let p = nemesis_ops(history)
        .filter(|o| o.f == "pause" && o.time >= a.start && o.time <= to)
        .min_by_key(|o| o.time)?;
    let whom = if p.value.to_string().contains("holder") {
        format!("the lock holder (client {})", a.process)
    } else {
        p.value.to_string()
    };
    Some(Cause {
        ops: vec![p.index],
        before: String::new(),
        after: format!(
            " after the nemesis paused {whom} at {} (the lease ran out while the holder was stopped)",
            secs(p.time)
        ),
        kind: "a pause",
    })
}

/// A clock op's nodes and jump in ms: `[["l3"], 2000]`.
fn clock_jump(v: &Value) -> Option<(Vec<String>, i64)> {
    let [nodes, ms] = v.as_list()? else {
        return None;
    };
    let nodes = nodes
        .as_list()?
        .iter()
        .map(|n| text(n).map(str::to_owned))
        .collect::<Option<Vec<_>>>()?;
    let Value::Int(ms) = ms else { return None };
    Some((nodes, *ms))
}

/// The last clock jump between the first holder's acquire and the second one's.
fn clock(history: &History, a: &Hold, b: &Hold) -> Option<(Vec<String>, Cause)> {
    let from = acquire_invoked(history, a.process, a.acquired).unwrap_or(a.start);
    let op = nemesis_ops(history)
        .filter(|o| o.f.starts_with("clock-") && o.f != "clock-reset")
        .filter(|o| o.time >= from && o.time <= b.start)
        .filter(|o| clock_jump(&o.value).is_some())
        .last()?;
    let (nodes, ms) = clock_jump(&op.value)?;
    let on = nodes.join(", ");
    let (way, amount) = if ms >= 0 {
        ("forward", ms)
    } else {
        ("back", -ms)
    };
    let mut before = format!(
        "; at {} the nemesis jumped {on}'s clock {way} by {} (op #{})",
        secs(op.time),
        if amount % 1000 == 0 {
            format!("{} s", amount / 1000)
        } else {
            format!("{amount} ms")
        },
        op.index
    );
    if ms > 0 {
        before.push_str(&format!(
            ", which expired client {}'s key on {on} early (a server counts the key's TTL on its own clock)",
            a.process
        ));
    }
    let cause = Cause {
        ops: vec![op.index],
        before,
        after: String::new(),
        kind: "a clock jump",
    };
    Some((nodes, cause))
}

/// An explicit partition's map: each node and the nodes it cannot reach.
fn partition_map(v: &Value) -> Option<Vec<(String, Vec<String>)>> {
    let [kind, map] = v.as_list()? else {
        return None;
    };
    if text(kind) != Some("explicit") {
        return None;
    }
    map.as_list()?
        .iter()
        .map(|entry| {
            let [node, blocked] = entry.as_list()? else {
                return None;
            };
            let blocked = blocked
                .as_list()?
                .iter()
                .map(|n| text(n).map(str::to_owned))
                .collect::<Option<Vec<_>>>()?;
            Some((text(node)?.to_owned(), blocked))
        })
        .collect()
}

/// The partition in force when the second holder acquired: its op and value.
fn partition_at(history: &History, t: u64) -> Option<&Op> {
    let mut current = None;
    for o in nemesis_ops(history).filter(|o| o.time <= t) {
        if o.f == "start-partition" && o.kind != OpType::Invoke {
            current = Some(o);
        } else if o.f == "stop-partition" {
            current = None;
        }
    }
    current
}

/// Which lock servers the second holder's group reached in the partition in force, when the
/// partition names client groups; the words say which majority it took.
fn majority(history: &History, b: &Hold, jumped: &[String]) -> Option<(u64, String)> {
    let group = group_name(history, b.process)?;
    let op = partition_at(history, b.start)?;
    let map = partition_map(&op.value)?;
    let groups: BTreeSet<String> = crate::targets::lock::redlock::GROUPS
        .iter()
        .map(|g| g.to_string())
        .collect();
    let mut servers: BTreeSet<String> = map
        .iter()
        .flat_map(|(n, bl)| std::iter::once(n).chain(bl))
        .filter(|n| !groups.contains(*n))
        .cloned()
        .collect();
    servers.extend(jumped.iter().cloned());
    let reach = |g: &str| -> Vec<String> {
        let blocked: Vec<&String> = map
            .iter()
            .filter(|(n, _)| n == g)
            .flat_map(|(_, bl)| bl)
            .collect();
        servers
            .iter()
            .filter(|s| !blocked.contains(s))
            .cloned()
            .collect()
    };
    let mine = reach(&group);
    let need = servers.len() / 2 + 1;
    let took = if mine.len() == need {
        format!("the majority {}", mine.join(", "))
    } else {
        format!("a majority of {}", mine.join(", "))
    };
    let split: Vec<String> = groups
        .iter()
        .map(|g| format!("{g} reached {}", reach(g).join(", ")))
        .collect();
    Some((
        op.index,
        format!(
            " by taking {took} (the network was split since {}, op #{}: {})",
            secs(op.time),
            op.index,
            split.join("; ")
        ),
    ))
}

/// A kill in force when the second holder acquired (killed, not yet restarted).
fn kill(history: &History, b: &Hold) -> Option<Cause> {
    let mut killed: Option<&Op> = None;
    for o in nemesis_ops(history).filter(|o| o.time <= b.start) {
        match o.f.as_str() {
            "kill" => killed = Some(o),
            "start" => killed = None,
            _ => {}
        }
    }
    let k = killed?;
    Some(Cause {
        ops: vec![k.index],
        before: format!(
            "; at {} the nemesis killed {} (op #{}), losing the lock it kept",
            secs(k.time),
            k.value,
            k.index
        ),
        after: String::new(),
        kind: "a kill",
    })
}

/// The fault in force between `a`'s acquire and `b`'s that explains the overlap, or a cause
/// of kind `no fault` saying none was in force.
pub fn explain(history: &History, a: &Hold, b: &Hold) -> Cause {
    if let Some(p) = pause(history, a, b) {
        return p;
    }
    let (jumped, mut cause) = match clock(history, a, b) {
        Some((nodes, c)) => (nodes, c),
        None => match kill(history, b) {
            Some(k) => (Vec::new(), k),
            None => (Vec::new(), Cause::default()),
        },
    };
    if let Some((op, took)) = majority(history, b, &jumped) {
        cause.ops.push(op);
        cause.after = took;
        if cause.kind.is_empty() {
            cause.kind = "a partition";
        }
    }
    if cause.kind.is_empty() {
        cause.kind = "no fault";
        cause.before =
            "; no fault was in force between the two acquires: the lease ran out on its own while the holder still worked"
                .into();
    } else if cause.kind != "a pause" {
        cause.after.push_str(" (nothing was paused)");
    }
    cause
}
