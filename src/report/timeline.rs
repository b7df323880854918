//! The run as a timeline: each client call as a bar on its process's lane, and the nemesis's
//! fault windows (a partition from `start-partition` to `stop-partition`, a pause from `pause`
//! to `resume`, ...), plus the compact JSON the page's canvas script draws from.
//!
//! The JSON uses arrays, not objects, and a table of `f` names and keys, so a 100,000-op
//! history stays a few megabytes; past [`MAX_PAGE_CALLS`] calls the timeline is sampled.

use crate::history::{History, Op, OpType, Process, Value};
use std::collections::HashMap;

/// The most calls the page's timeline data holds. A longer run's timeline shows an even sample
/// (every k-th call) plus every call an anomaly names, and the page says so; the plots
/// aggregate every call.
pub(crate) const MAX_PAGE_CALLS: usize = 100_000;

/// The page script that draws the timeline on a canvas (zoom, pan, hover).
pub(crate) const SCRIPT: &str = include_str!("timeline.js");

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// It happened.
    Ok,
    /// It certainly did not happen.
    Fail,
    /// Unknown outcome.
    Info,
    /// The history ended before it completed.
    Open,
}

impl Status {
    /// The word the page shows.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Fail => "fail",
            Status::Info => "info",
            Status::Open => "open",
        }
    }
    fn code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Fail => 1,
            Status::Info => 2,
            Status::Open => 3,
        }
    }
}

/// One client call: invoke to completion.
#[derive(Clone, Debug)]
pub(crate) struct CallBar {
    /// The client process.
    pub process: Process,
    /// The timeline lane it is drawn on.
    pub lane: usize,
    /// Position of the invoke in `History::ops`.
    pub invoke: usize,
    /// Position of the completion, if any.
    pub complete: Option<usize>,
    /// Invoke time, ns.
    pub start: u64,
    /// Completion time, ns (the history's end for calls still open).
    pub end: u64,
    /// How it ended.
    pub status: Status,
}

/// A stretch of time during which a fault was in force.
#[derive(Clone, Debug)]
pub(crate) struct FaultWindow {
    /// The fault's family: `partition`, `pause`, `kill`, `clock`, ...
    pub family: String,
    /// What the page writes on the window: the start op's `f` and value.
    pub label: String,
    /// When the fault began, ns.
    pub start: u64,
    /// When it was healed, ns (the history's end if never healed).
    pub end: u64,
    /// False when the history ended with the fault still in force.
    pub healed: bool,
    /// Positions in `History::ops` of the nemesis ops that opened and closed it.
    pub ops: Vec<usize>,
    /// The start op's value (which nodes, which processes), to pair it with its stop.
    pub target: Value,
}

/// Everything the timeline, the anomaly pictures and the plots draw from.
#[derive(Clone, Debug, Default)]
pub(crate) struct Timeline {
    /// Client calls, in invocation order.
    pub calls: Vec<CallBar>,
    /// Fault windows, in start order.
    pub windows: Vec<FaultWindow>,
    /// Nemesis ops that are not part of a window (one-off events), by position.
    pub events: Vec<usize>,
    /// The last time seen in the history, ns.
    pub end: u64,
    /// The processes drawn on each lane. A process retired after an `info` hands its lane to
    /// a later process, so there are about as many lanes as concurrent clients.
    pub lanes: Vec<Vec<Process>>,
}

/// The fault family of a nemesis `f`, and whether it starts (true) or ends (false) a fault.
pub(crate) fn fault_family(f: &str) -> Option<(String, bool)> {
    if let Some(rest) = f.strip_prefix("start-") {
        return Some((rest.to_owned(), true));
    }
    if let Some(rest) = f.strip_prefix("stop-") {
        return Some((rest.to_owned(), false));
    }
    let pair = match f {
        "pause" => ("pause", true),
        "resume" => ("pause", false),
        "kill" => ("kill", true),
        "start" => ("kill", false),
        "clock-reset" => ("clock", false),
        f if f.starts_with("clock-") => ("clock", true),
        _ => return None,
    };
    Some((pair.0.to_owned(), pair.1))
}

impl Timeline {
    /// Builds the timeline of a history.
    pub(crate) fn build(history: &History) -> Timeline {
        let ops = &history.ops;
        let end = ops.iter().map(|o| o.time).max().unwrap_or(0);
        let mut calls = Vec::new();
        for c in history.calls() {
            let inv = &ops[c.invoke];
            let (stop, status) = match c.complete {
                Some(i) => (
                    ops[i].time,
                    match ops[i].kind {
                        OpType::Ok => Status::Ok,
                        OpType::Fail => Status::Fail,
                        _ => Status::Info,
                    },
                ),
                None => (end, Status::Open),
            };
            calls.push(CallBar {
                process: inv.process,
                lane: 0,
                invoke: c.invoke,
                complete: c.complete,
                start: inv.time,
                end: stop.max(inv.time),
                status,
            });
        }
        let lanes = assign_lanes(&mut calls);

        let (windows, events) = pair_faults(ops, end);
        Timeline {
            calls,
            windows,
            events,
            end,
            lanes,
        }
    }

    /// Every how many calls the page's timeline keeps one (1: all of them).
    pub(crate) fn sample_stride(&self) -> usize {
        self.calls.len().div_ceil(MAX_PAGE_CALLS).max(1)
    }

    /// What the page says about a sampled timeline, if it is sampled.
    pub(crate) fn sample_note(&self) -> Option<String> {
        let stride = self.sample_stride();
        (stride > 1).then(|| {
            format!(
                "This run has {} calls, more than a page can draw: the timeline shows one call in \
                 {} (and every call an anomaly names); the plots below count every call.",
                self.calls.len(),
                stride
            )
        })
    }

    /// The page's data: compact JSON (arrays, tables of names); the template writes it into a
    /// `<script>` element with its `tojson` filter, which makes it safe there.
    ///
    /// `calls`: `[lane, f, key, start, duration, status, invoke index, completion index,
    /// argument, result, process]`; `faults`: `[family, label, start, end, healed, first op index]`;
    /// `events`: `[time, f, op index, value]`; `marked`: op indices named by anomalies.
    pub(crate) fn page_data(&self, history: &History, marked: &[u64]) -> serde_json::Value {
        use serde_json::{json, Value as J};
        let ops = &history.ops;
        let mut fs: Vec<String> = Vec::new();
        let mut f_ix: HashMap<&str, usize> = HashMap::new();
        let mut keys: Vec<String> = Vec::new();
        let mut key_ix: HashMap<&str, usize> = HashMap::new();
        let stride = self.sample_stride();
        let named: std::collections::HashSet<u64> = marked.iter().copied().collect();
        let mut calls = Vec::with_capacity(self.calls.len().min(2 * MAX_PAGE_CALLS));
        for (n, c) in self.calls.iter().enumerate() {
            let inv = &ops[c.invoke];
            let shown = n % stride == 0
                || named.contains(&inv.index)
                || c.complete.is_some_and(|i| named.contains(&ops[i].index));
            if !shown {
                continue;
            }
            let f = *f_ix.entry(inv.f.as_str()).or_insert_with(|| {
                fs.push(inv.f.clone());
                fs.len() - 1
            });
            let key = match &inv.key {
                Some(k) => *key_ix.entry(k.as_str()).or_insert_with(|| {
                    keys.push(k.clone());
                    keys.len() - 1
                }) as i64,
                None => -1,
            };
            let (comp_index, result) = match c.complete {
                Some(i) => {
                    let op = &ops[i];
                    let text = match (&op.error, op.value.is_nil()) {
                        (Some(e), true) => e.clone(),
                        (Some(e), false) => format!("{} ({e})", op.value),
                        (None, _) => op.value.to_string(),
                    };
                    (json!(op.index), J::String(text))
                }
                None => (J::Null, J::String(String::new())),
            };
            let arg = if inv.value.is_nil() {
                String::new()
            } else {
                inv.value.to_string()
            };
            calls.push(json!([
                c.lane,
                f,
                key,
                c.start,
                c.end - c.start,
                c.status.code(),
                inv.index,
                comp_index,
                arg,
                result,
                c.process.to_string()
            ]));
        }
        let faults: Vec<J> = self
            .windows
            .iter()
            .map(|w| {
                json!([
                    w.family,
                    w.label,
                    w.start,
                    w.end,
                    w.healed,
                    ops[w.ops[0]].index
                ])
            })
            .collect();
        let events: Vec<J> = self
            .events
            .iter()
            .map(|&i| {
                let op = &ops[i];
                json!([op.time, op.f, op.index, op.value.to_string()])
            })
            .collect();
        let lanes: Vec<String> = self
            .lanes
            .iter()
            .map(|ps| {
                // The final phase's processes are named by what they did, not their number.
                let roles: Vec<Option<String>> =
                    ps.iter().map(|&p| super::process_role(p)).collect();
                match (roles.first(), ps.as_slice()) {
                    (Some(Some(role)), _) if roles.iter().all(|r| r.as_ref() == Some(role)) => {
                        role.clone()
                    }
                    (Some(Some(_)), _) => "final reads".into(),
                    (_, [one]) => format!("p{one}"),
                    (_, [first, .., last]) => format!("p{first}…p{last}"),
                    (_, []) => String::new(),
                }
            })
            .collect();
        json!({
            "lanes": lanes,
            "fs": fs,
            "keys": keys,
            "calls": calls,
            "faults": faults,
            "events": events,
            "end": self.end,
            "marked": marked,
        })
    }
}

/// Pairs the nemesis's ops into fault windows; the ops that start or stop nothing are events.
///
/// A start opens a window (a second start of the same family on other targets opens another);
/// a stop closes the open windows of its family with the same value, or all of them when its
/// value names none (`stop-partition` heals every partition). A completion line right after its
/// own invoke belongs to whatever the invoke did, and a stop's completion extends the window.
fn pair_faults(ops: &[Op], end: u64) -> (Vec<FaultWindow>, Vec<usize>) {
    let mut windows: Vec<FaultWindow> = Vec::new();
    let mut events = Vec::new();
    let mut open: HashMap<String, Vec<usize>> = HashMap::new();
    // The previous nemesis op: its f, whether it was an invoke, and the windows it touched.
    let mut prev: Option<(&str, bool, Vec<usize>)> = None;
    for (i, op) in ops.iter().enumerate() {
        if op.is_client() {
            continue;
        }
        let completes_prev =
            matches!(&prev, Some((f, true, _)) if *f == op.f) && op.kind != OpType::Invoke;
        if completes_prev {
            let touched = prev.take().map(|p| p.2).unwrap_or_default();
            let stop = matches!(fault_family(&op.f), Some((_, false)));
            for &w in &touched {
                windows[w].ops.push(i);
                if stop {
                    windows[w].end = op.time.max(windows[w].end);
                }
            }
            if touched.is_empty() {
                events.push(i);
            }
            continue;
        }
        let touched = match fault_family(&op.f) {
            Some((family, true)) => {
                let list = open.entry(family.clone()).or_default();
                let same = list
                    .iter()
                    .copied()
                    .find(|&w| windows[w].target == op.value && ops[windows[w].ops[0]].f == op.f);
                match same {
                    Some(w) => {
                        windows[w].ops.push(i);
                        vec![w]
                    }
                    None => {
                        let label = if op.value.is_nil() {
                            op.f.clone()
                        } else {
                            format!("{} {}", op.f, op.value)
                        };
                        list.push(windows.len());
                        windows.push(FaultWindow {
                            family,
                            label,
                            start: op.time,
                            end,
                            healed: false,
                            ops: vec![i],
                            target: op.value.clone(),
                        });
                        vec![windows.len() - 1]
                    }
                }
            }
            Some((family, false)) => {
                let list = open.entry(family).or_default();
                let matching: Vec<usize> = list
                    .iter()
                    .copied()
                    .filter(|&w| windows[w].target == op.value)
                    .collect();
                let closing = if matching.is_empty() {
                    std::mem::take(list)
                } else {
                    list.retain(|w| !matching.contains(w));
                    matching
                };
                for &w in &closing {
                    windows[w].end = op.time.max(windows[w].start);
                    windows[w].healed = true;
                    windows[w].ops.push(i);
                }
                closing
            }
            None => Vec::new(),
        };
        if touched.is_empty() {
            events.push(i);
        }
        prev = Some((op.f.as_str(), op.kind == OpType::Invoke, touched));
    }
    (windows, events)
}

/// Gives each call a lane: a new process takes over the lane of a process retired by an
/// `info` (whose last call has ended), else opens a new lane. Calls on a lane never overlap.
fn assign_lanes(calls: &mut [CallBar]) -> Vec<Vec<Process>> {
    let mut lanes: Vec<Vec<Process>> = Vec::new();
    // Per lane: the time its current process's last call ended, and whether it retired.
    let mut state: Vec<(u64, bool)> = Vec::new();
    let mut lane_of: HashMap<Process, usize> = HashMap::new();
    let mut order: Vec<usize> = (0..calls.len()).collect();
    order.sort_by_key(|&i| (calls[i].start, calls[i].invoke));
    for i in order {
        let c = &mut calls[i];
        let lane = match lane_of.get(&c.process) {
            Some(&l) => l,
            None => {
                let free = state
                    .iter()
                    .position(|&(end, retired)| retired && end <= c.start);
                let l = free.unwrap_or_else(|| {
                    lanes.push(Vec::new());
                    state.push((0, false));
                    lanes.len() - 1
                });
                lanes[l].push(c.process);
                lane_of.insert(c.process, l);
                l
            }
        };
        c.lane = lane;
        state[lane] = (c.end, c.status == Status::Info);
    }
    lanes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> History {
        History::parse_jsonl(text.as_bytes(), std::path::Path::new("t.jsonl")).unwrap()
    }

    #[test]
    fn pairs_each_kill_with_the_start_of_the_same_node() {
        let h = parse(concat!(
            "{\"time\":1,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"kill\",\"value\":\"n1\"}\n",
            "{\"time\":2,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"kill\",\"value\":\"n2\"}\n",
            "{\"time\":3,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"start\",\"value\":\"n2\"}\n",
            "{\"time\":4,\"process\":\"nemesis\",\"type\":\"invoke\",\"f\":\"start\",\"value\":null}\n",
            "{\"time\":5,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"start\",\"value\":\"started n1\"}\n",
        ));
        let t = Timeline::build(&h);
        let spans: Vec<_> = t
            .windows
            .iter()
            .map(|w| (w.label.as_str(), w.start, w.end))
            .collect();
        assert_eq!(spans, vec![("kill \"n1\"", 1, 5), ("kill \"n2\"", 2, 3)]);
        assert!(t.events.is_empty());
    }

    #[test]
    fn pairs_fault_starts_with_stops_and_absorbs_completion_lines() {
        let h = parse(concat!(
            "{\"time\":1,\"process\":\"nemesis\",\"type\":\"invoke\",\"f\":\"start-partition\",\"value\":[\"n1\"]}\n",
            "{\"time\":2,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"start-partition\",\"value\":[\"n1\"]}\n",
            "{\"time\":3,\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n",
            "{\"time\":5,\"process\":\"nemesis\",\"type\":\"invoke\",\"f\":\"stop-partition\"}\n",
            "{\"time\":6,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"stop-partition\"}\n",
            "{\"time\":7,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"pause\",\"value\":\"n2\"}\n",
            "{\"time\":8,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"note\"}\n",
        ));
        let t = Timeline::build(&h);
        assert_eq!(t.windows.len(), 2);
        let p = &t.windows[0];
        assert_eq!(
            (p.family.as_str(), p.start, p.end, p.healed),
            ("partition", 1, 6, true)
        );
        assert_eq!(p.label, "start-partition [\"n1\"]");
        let pause = &t.windows[1];
        assert_eq!((pause.start, pause.end, pause.healed), (7, 8, false));
        assert_eq!(t.events, vec![6]);
        assert_eq!(t.windows[0].ops, vec![0, 1, 3, 4]);
        assert_eq!(t.calls.len(), 1);
        assert_eq!(t.calls[0].status, Status::Open);
        let data = t.page_data(&h, &[2]);
        assert_eq!(data["marked"], serde_json::json!([2]));
    }

    #[test]
    fn a_long_run_timeline_is_sampled_and_keeps_the_named_calls() {
        let n = 2 * MAX_PAGE_CALLS + 10;
        let mut text = String::with_capacity(n * 160);
        for i in 0..n {
            let p = i % 7;
            text.push_str(&format!(
                "{{\"time\":{},\"process\":{p},\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\"}}\n",
                2 * i
            ));
            text.push_str(&format!(
                "{{\"time\":{},\"process\":{p},\"type\":\"ok\",\"f\":\"read\",\"key\":\"k\",\"value\":1}}\n",
                2 * i + 1
            ));
        }
        let h = parse(&text);
        let t = Timeline::build(&h);
        assert_eq!(t.calls.len(), n);
        assert_eq!(t.sample_stride(), 3);
        // Call 4 is off the stride; an anomaly names its completion (op 9).
        let data = t.page_data(&h, &[9]);
        let calls = data["calls"].as_array().unwrap();
        assert_eq!(calls.len(), n.div_ceil(3) + 1);
        assert!(calls.iter().any(|c| c[7] == serde_json::json!(9)));
        assert!(t.sample_note().unwrap().contains("one call in 3 "));
        let small: String = text.lines().take(40).map(|l| format!("{l}\n")).collect();
        let small = parse(&small);
        assert!(Timeline::build(&small).sample_note().is_none());
    }
}
