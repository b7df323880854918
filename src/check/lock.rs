//! Lock checks: mutual exclusion of "believed held" intervals, and lost updates on the resource
//! the lock protects.
//!
//! The lock workload's vocabulary: `acquire` (ok value = the token: the fencing token when the
//! lock hands one out, else the lock's random value), `read` (ok value = the resource, a list),
//! `write` (value = the whole new list; the elements it adds to the writer's previous read are its
//! own), `release`, and one `final-read` of the resource after every fault is healed.
//!
//! A client believes it holds the lock from its `acquire` ok until it invokes `release` (or, if it
//! never does, until its last op ends, or the end of the history). Two different clients whose
//! beliefs overlap break mutual exclusion. Whether the overlap did harm is the second question,
//! answered the way Jepsen's set-full checker does: every element whose write was acknowledged
//! must be in the final read; one that is missing is a lost update, and the write that dropped it
//! is named. With fencing tokens (Kleppmann, "How to do distributed locking", 2016) the resource
//! refuses a stale holder, so an overlap in which the stale holder got nothing past the fence is
//! counted as "fenced" rather than as an anomaly.

use crate::check::checker::Checker;
use crate::check::result::{Anomaly, CheckResult, Validity};
use crate::check::spec::CheckerOptions;
use crate::history::{History, Op, OpType, Process, Value};
use std::collections::{BTreeSet, HashMap};

/// A client's belief that it holds the lock: from its acquire-ok to its release-invoke.
#[derive(Clone, Debug, PartialEq)]
pub struct Hold {
    /// The client process.
    pub process: u64,
    /// Index of the `acquire` ok op.
    pub acquired: u64,
    /// Index of the op that ended the belief (`release` invoke, or the process's last op), or
    /// `None` when the belief lasted to the end of the history.
    pub ended: Option<u64>,
    /// Time of the acquire ok, ns.
    pub start: u64,
    /// Time the belief ended, ns (the history's last time when still open).
    pub end: u64,
    /// The token the acquire returned.
    pub token: Value,
}

/// " (token 7)" for a fencing token; nothing for an opaque lock value.
fn token_note(token: &Value) -> String {
    match token {
        Value::Int(t) => format!(" (token {t})"),
        _ => String::new(),
    }
}

/// A value for an explanation: long lists show their ends and their length.
fn brief(v: &Value) -> String {
    match v.as_list() {
        Some(l) if l.len() > 8 => {
            let head: Vec<String> = l[..3].iter().map(Value::to_string).collect();
            let tail: Vec<String> = l[l.len() - 3..].iter().map(Value::to_string).collect();
            format!(
                "[{} ... {}] ({} elements)",
                head.join(" "),
                tail.join(" "),
                l.len()
            )
        }
        _ => v.to_string(),
    }
}

/// Seconds with three decimals, for explanations.
fn secs(ns: u64) -> String {
    format!("{:.3} s", ns as f64 / 1e9)
}

fn client(op: &Op) -> Option<u64> {
    match op.process {
        Process::Client(p) => Some(p),
        Process::Nemesis => None,
    }
}

/// Every client's believed-held intervals, in order of acquisition.
pub fn holds(history: &History) -> Vec<Hold> {
    let end_time = history.ops.iter().map(|o| o.time).max().unwrap_or(0);
    let mut open: HashMap<u64, Hold> = HashMap::new();
    let mut last_op: HashMap<u64, &Op> = HashMap::new();
    let mut out = Vec::new();
    for op in &history.ops {
        let Some(p) = client(op) else { continue };
        last_op.insert(p, op);
        if op.f == "acquire" && op.kind == OpType::Ok {
            if let Some(prev) = open.remove(&p) {
                // Acquired again without releasing: the old belief ends here.
                out.push(Hold {
                    ended: Some(op.index),
                    end: op.time,
                    ..prev
                });
            }
            open.insert(
                p,
                Hold {
                    process: p,
                    acquired: op.index,
                    ended: None,
                    start: op.time,
                    end: end_time,
                    token: op.value.clone(),
                },
            );
        } else if op.f == "release" && op.kind == OpType::Invoke {
            if let Some(h) = open.remove(&p) {
                out.push(Hold {
                    ended: Some(op.index),
                    end: op.time,
                    ..h
                });
            }
        }
    }
    // Beliefs never released: a process retired by an `info` stops believing when that op ends;
    // one whose last op is still open (or completed ok) believes to the end of the history.
    for (p, h) in open {
        let last = last_op.get(&p);
        match last {
            Some(op) if op.kind == OpType::Info => out.push(Hold {
                ended: Some(op.index),
                end: op.time,
                ..h
            }),
            _ => out.push(h),
        }
    }
    out.sort_by_key(|h| (h.start, h.acquired));
    out
}

/// Client resource calls (`read`/`write`) made during `hold` that were not refused, as
/// (invoke time, acknowledgement time, or `None` when it ended `info` or never completed).
fn accepted_accesses(history: &History, hold: &Hold) -> Vec<(u64, Option<u64>)> {
    let mut out = Vec::new();
    for c in history.calls() {
        let inv = &history.ops[c.invoke];
        let done = c.complete.map(|i| &history.ops[i]);
        if client(inv) != Some(hold.process)
            || !(inv.f == "read" || inv.f == "write")
            || inv.time < hold.start
            || inv.time > hold.end
            || done.is_some_and(|d| d.kind == OpType::Fail)
        {
            continue;
        }
        out.push((
            inv.time,
            done.filter(|d| d.kind == OpType::Ok).map(|d| d.time),
        ));
    }
    out
}

/// With fencing, whether the earlier holder `a` provably got past the fence after the later
/// holder `b` had used the resource: an access of `a` that began after one of `b`'s had been
/// acknowledged, and was itself acknowledged. (An access of `a` that merely overlapped `b`'s in
/// time and was accepted must have taken effect first, or the fence would have refused it.)
fn interleaved(history: &History, a: &Hold, b: &Hold) -> bool {
    let Some(b_done) = accepted_accesses(history, b)
        .iter()
        .filter_map(|x| x.1)
        .min()
    else {
        return false;
    };
    accepted_accesses(history, a)
        .iter()
        .any(|(invoked, done)| *invoked > b_done && done.is_some())
}

/// Mutual exclusion: any two clients whose believed-held intervals overlap. With `fenced`, an
/// overlap in which the earlier holder got no access past the fence once the later holder had
/// started using the resource did no harm; those are counted in `stats.fenced_overlaps` instead.
pub fn check_mutual_exclusion(history: &History, fenced: bool) -> CheckResult {
    let holds = holds(history);
    let mut anomalies = Vec::new();
    let mut fenced_overlaps = 0usize;
    let mut overlapping_holds = 0usize;
    let mut causes: std::collections::BTreeMap<&'static str, usize> = Default::default();
    for (i, a) in holds.iter().enumerate() {
        // Every later hold by another client that began while `a` still believed it held.
        let mut others: Vec<&Hold> = Vec::new();
        for b in &holds[i + 1..] {
            if a.process == b.process || b.start >= a.end || a.start >= b.end {
                continue;
            }
            if fenced && !interleaved(history, a, b) {
                fenced_overlaps += 1;
            } else {
                others.push(b);
            }
        }
        let Some(b) = others.first() else { continue };
        overlapping_holds += others.len();
        let (from, to) = (b.start, a.end.min(b.end));
        let held_until = match a.ended {
            Some(_) => format!("believed it held until {}", secs(a.end)),
            None => "still believed it held at the end of the history".to_string(),
        };
        let cause = crate::check::lock_cause::explain(history, a, b);
        let mut ops = vec![a.acquired, b.acquired];
        ops.extend(a.ended);
        ops.extend(b.ended);
        ops.extend(&cause.ops);
        *causes.entry(cause.kind).or_insert(0usize) += 1;
        let group = |p| crate::check::lock_cause::group_note(history, p);
        let mut explanation = format!(
            "client {}{} acquired the lock at {}{} and {held_until}{}; client {}{} acquired it at {}{}{}",
            a.process,
            group(a.process),
            secs(a.start),
            token_note(&a.token),
            cause.before,
            b.process,
            group(b.process),
            secs(b.start),
            token_note(&b.token),
            cause.after,
        );
        explanation.push_str(&format!(
            "; both believed they held the lock from {} to {}",
            secs(from),
            secs(to)
        ));
        if others.len() > 1 {
            let who: BTreeSet<u64> = others.iter().map(|o| o.process).collect();
            let who: Vec<String> = who.iter().map(u64::to_string).collect();
            let clients = if who.len() == 1 { "client" } else { "clients" };
            explanation.push_str(&format!(
                ", and {} more holds (by {clients} {}) began before client {} let go",
                others.len() - 1,
                who.join(", "),
                a.process
            ));
            ops.extend(others[1..].iter().map(|o| o.acquired));
        }
        let overlapping: Vec<serde_json::Value> = others
            .iter()
            .map(|o| serde_json::json!({"process": o.process, "start": o.start, "end": o.end}))
            .collect();
        anomalies.push(Anomaly {
            kind: "mutex-overlap".into(),
            key: None,
            ops,
            explanation,
            details: serde_json::json!({
                "holder": {"process": a.process, "start": a.start, "end": a.end},
                "overlapping": overlapping,
            }),
        });
    }
    let validity = if anomalies.is_empty() {
        Validity::Valid
    } else {
        Validity::Invalid
    };
    let summary = match (anomalies.len(), fenced_overlaps) {
        (0, 0) => format!("{} holds, no two overlap", holds.len()),
        (0, f) => format!(
            "{} holds; {f} overlapping holds, every one stopped by the fence",
            holds.len()
        ),
        (n, f) => {
            let fence = if f > 0 {
                format!("; {f} more stopped by the fence")
            } else {
                String::new()
            };
            format!(
                "mutual exclusion is broken: {overlapping_holds} of {} holds began while another client still believed it held the lock ({n} {} overtaken: {}{fence})",
                holds.len(),
                if n == 1 { "holder" } else { "holders" },
                causes
                    .iter()
                    .map(|(kind, k)| format!("{k} after {kind}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    };
    CheckResult {
        checker: "mutual-exclusion".into(),
        validity,
        summary,
        anomalies,
        stats: serde_json::json!({
            "holds": holds.len(),
            "overlapping_holds": overlapping_holds,
            "fenced_overlaps": fenced_overlaps,
        }),
    }
}

/// The elements a write adds: those in its list that were not in the same process's previous
/// successful read (all of them when there was none).
fn added_elements(history: &History, write: &Op) -> Vec<Value> {
    let upto = (write.index as usize).min(history.ops.len());
    let prev_read = history.ops[..upto]
        .iter()
        .rev()
        .find(|o| o.process == write.process && o.f == "read" && o.kind == OpType::Ok);
    let seen: BTreeSet<&Value> = prev_read
        .and_then(|r| r.value.as_list())
        .map(|l| l.iter().collect())
        .unwrap_or_default();
    write
        .value
        .as_list()
        .unwrap_or(&[])
        .iter()
        .filter(|v| !seen.contains(v))
        .cloned()
        .collect()
}

/// Lost updates: every element whose write was acknowledged must be in the final read
/// (`final-read` ok; else the last ok `read`). Each lost element names the later write whose list
/// no longer had it.
pub fn check_lost_updates(history: &History) -> CheckResult {
    let final_read = history
        .ops
        .iter()
        .rev()
        .find(|o| o.f == "final-read" && o.kind == OpType::Ok)
        .or_else(|| {
            history
                .ops
                .iter()
                .rev()
                .find(|o| o.f == "read" && o.kind == OpType::Ok)
        });
    let calls = history.calls();
    let writes: Vec<(&Op, Option<&Op>)> = calls
        .iter()
        .map(|c| (&history.ops[c.invoke], c.complete.map(|i| &history.ops[i])))
        .filter(|(inv, _)| inv.f == "write")
        .collect();
    let acked: Vec<&Op> = writes
        .iter()
        .filter_map(|(_, c)| c.filter(|c| c.kind == OpType::Ok))
        .collect();
    let refused = writes
        .iter()
        .filter(|(_, c)| c.is_some_and(|c| c.kind == OpType::Fail))
        .count();
    let Some(final_read) = final_read else {
        return CheckResult {
            checker: "lost-updates".into(),
            validity: Validity::Unknown,
            summary: "no final read of the resource: cannot tell which updates survived".into(),
            anomalies: vec![],
            stats: serde_json::json!({"acknowledged": acked.len()}),
        };
    };
    let survived: BTreeSet<&Value> = final_read.value.as_list().unwrap_or(&[]).iter().collect();
    let mut anomalies = Vec::new();
    let mut acked_elements = 0usize;
    for w in &acked {
        for e in added_elements(history, w) {
            acked_elements += 1;
            if survived.contains(&e) {
                continue;
            }
            // The write that dropped it: one that may have taken effect after `w` (acknowledged
            // later, unknown, or never completed) and whose list no longer has `e`.
            // Of several, the one whose list branched off closest to `w`'s (the longest common
            // prefix: it was built from the latest stale read), the earliest on a tie.
            let w_list = w.value.as_list().unwrap_or(&[]);
            let overwriter = writes
                .iter()
                .filter(|(inv, c)| {
                    inv.process != w.process
                        && c.is_none_or(|c| {
                            c.kind == OpType::Info || (c.kind == OpType::Ok && c.index > w.index)
                        })
                        && !inv.value.as_list().unwrap_or(&[]).contains(&e)
                })
                .max_by_key(|(inv, _)| {
                    let l = inv.value.as_list().unwrap_or(&[]);
                    let common = l.iter().zip(w_list).take_while(|(x, y)| x == y).count();
                    (common, std::cmp::Reverse(inv.index))
                });
            let mut ops = vec![w.index, final_read.index];
            let mut explanation = format!(
                "client {} wrote {} (acknowledged at {}), but the final read {} does not contain it",
                w.process,
                e,
                secs(w.time),
                brief(&final_read.value)
            );
            if let Some((inv, c)) = overwriter {
                ops.insert(1, inv.index);
                let landed = match c {
                    Some(c) if c.kind == OpType::Ok => format!("acknowledged at {}", secs(c.time)),
                    Some(c) => format!(
                        "given up on at {}, so it could land any time later",
                        secs(c.time)
                    ),
                    None => "never answered, so it could land any time later".to_string(),
                };
                explanation.push_str(&format!(
                    "; client {} overwrote it with {} (invoked at {}, {landed}), a list built from a read taken before {} was written",
                    inv.process,
                    brief(&inv.value),
                    secs(inv.time),
                    e
                ));
            }
            anomalies.push(Anomaly {
                kind: "lost-update".into(),
                key: None,
                ops,
                explanation,
                details: serde_json::json!({"element": e}),
            });
        }
    }
    let validity = if anomalies.is_empty() {
        Validity::Valid
    } else {
        Validity::Invalid
    };
    let lost_count = anomalies.len();
    let summary = format!(
        "{} of {} acknowledged updates lost; {} writes refused by the resource",
        lost_count, acked_elements, refused
    );
    CheckResult {
        checker: "lost-updates".into(),
        validity,
        summary,
        anomalies,
        stats: serde_json::json!({
            "acknowledged": acked_elements,
            "lost": lost_count,
            "refused_writes": refused,
            "final_read": final_read.index,
        }),
    }
}

/// Whether the history's lock handed out fencing tokens: every acquire ok carries an integer.
pub fn uses_fencing(history: &History) -> bool {
    let mut tokens = history
        .ops
        .iter()
        .filter(|o| o.f == "acquire" && o.kind == OpType::Ok)
        .peekable();
    tokens.peek().is_some() && tokens.all(|o| matches!(o.value, Value::Int(_)))
}

/// Both lock checks merged into one result (`lock` or `fenced-lock`): anomalies of both kinds,
/// the worse verdict, and both summaries.
pub fn check_lock(history: &History, fenced: bool) -> CheckResult {
    let mutex = check_mutual_exclusion(history, fenced);
    let lost = check_lost_updates(history);
    let validity = mutex.validity.max(lost.validity);
    CheckResult {
        checker: if fenced { "fenced-lock" } else { "lock" }.into(),
        validity,
        summary: format!("{}; {}", mutex.summary, lost.summary),
        anomalies: mutex.anomalies.into_iter().chain(lost.anomalies).collect(),
        stats: serde_json::json!({"mutual_exclusion": mutex.stats, "lost_updates": lost.stats}),
    }
}

/// The `lock` checker: mutual exclusion and lost updates on the protected resource, with
/// fencing when the options say so or the history's tokens show it.
pub struct Lock {
    /// Whether the resource checks fencing tokens; `None`: look at the history.
    pub fencing: Option<bool>,
}

/// Builds the `lock` checker from its options (`fencing`).
pub fn build(opts: &CheckerOptions) -> anyhow::Result<Box<dyn Checker>> {
    Ok(Box::new(Lock {
        fencing: opts.fencing,
    }))
}

impl Checker for Lock {
    fn name(&self) -> String {
        match self.fencing {
            Some(true) => "fenced-lock".into(),
            _ => "lock".into(),
        }
    }
    fn about(&self) -> &'static str {
        ABOUT
    }
    fn needs(&self) -> String {
        "the lock workload's acquire, read, write, release and final-read ops".into()
    }
    fn check(&self, history: &History) -> anyhow::Result<CheckResult> {
        let fenced = self.fencing.unwrap_or_else(|| uses_fencing(history));
        Ok(check_lock(history, fenced))
    }
}

/// What `lock` checks, in one line.
pub const ABOUT: &str = "no two clients believed they held the lock at once unless fenced, and no acknowledged write to the resource was lost";
