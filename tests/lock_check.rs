//! The lock checks on hand-built histories: sequential holds, the paused-holder story with and
//! without a fence, unreleased and retired holds.
use ferrocheck::check::lock::*;
use ferrocheck::check::Validity;
use ferrocheck::history::{History, Op, OpType, Process, Value};

/// Builds a history from `(ms, process, type, f, value)` rows; process `None` is the nemesis.
fn h(rows: &[(u64, Option<u64>, &str, &str, Value)]) -> History {
    let ops = rows
        .iter()
        .enumerate()
        .map(|(i, (ms, p, t, f, v))| Op {
            index: i as u64,
            time: ms * 1_000_000,
            process: p.map(Process::Client).unwrap_or(Process::Nemesis),
            kind: match *t {
                "invoke" => OpType::Invoke,
                "ok" => OpType::Ok,
                "fail" => OpType::Fail,
                _ => OpType::Info,
            },
            f: f.to_string(),
            key: None,
            value: v.clone(),
            error: None,
        })
        .collect();
    History { header: None, ops }
}

fn l(xs: &[i64]) -> Value {
    Value::List(xs.iter().map(|x| Value::Int(*x)).collect())
}

use Value::{Int, Nil};

/// Client `p` takes the lock at `t`, reads `before`, appends `x`, releases.
fn turn(
    t: u64,
    p: u64,
    tok: i64,
    before: &[i64],
    x: i64,
) -> Vec<(u64, Option<u64>, &'static str, &'static str, Value)> {
    let mut after = before.to_vec();
    after.push(x);
    vec![
        (t, Some(p), "invoke", "acquire", Nil),
        (t + 1, Some(p), "ok", "acquire", Int(tok)),
        (t + 2, Some(p), "invoke", "read", Nil),
        (t + 3, Some(p), "ok", "read", l(before)),
        (t + 4, Some(p), "invoke", "write", l(&after)),
        (t + 5, Some(p), "ok", "write", l(&after)),
        (t + 6, Some(p), "invoke", "release", Nil),
        (t + 7, Some(p), "ok", "release", Nil),
    ]
}

#[test]
fn sequential_holds_are_valid() {
    let mut rows = turn(0, 1, 1, &[], 10);
    rows.extend(turn(10, 2, 2, &[10], 20));
    rows.extend(turn(20, 1, 3, &[10, 20], 11));
    rows.push((30, Some(9), "invoke", "final-read", Nil));
    rows.push((31, Some(9), "ok", "final-read", l(&[10, 20, 11])));
    let r = check_lock(&h(&rows), false);
    assert_eq!(r.validity, Validity::Valid, "{r:?}");
    assert_eq!(r.stats["lost_updates"]["acknowledged"], 3);
    assert_eq!(r.stats["mutual_exclusion"]["holds"], 3);
}

/// The GC-pause story: client 1 reads, is paused past its lease, client 2 takes the lock and
/// appends 20, client 1 wakes and writes its stale list, dropping 20.
fn paused_holder(stale_write: &'static str) -> History {
    h(&[
        (0, Some(1), "invoke", "acquire", Nil),
        (1, Some(1), "ok", "acquire", Int(1)),
        (2, Some(1), "invoke", "read", Nil),
        (3, Some(1), "ok", "read", l(&[])),
        (4, None, "info", "pause", Value::Str("client 1".into())),
        (5, Some(1), "invoke", "write", l(&[10])),
        (400, Some(2), "invoke", "acquire", Nil),
        (401, Some(2), "ok", "acquire", Int(2)),
        (402, Some(2), "invoke", "read", Nil),
        (403, Some(2), "ok", "read", l(&[])),
        (404, Some(2), "invoke", "write", l(&[20])),
        (405, Some(2), "ok", "write", l(&[20])),
        (406, Some(2), "invoke", "release", Nil),
        (407, Some(2), "ok", "release", Nil),
        (900, None, "info", "resume", Value::Str("client 1".into())),
        (901, Some(1), stale_write, "write", l(&[10])),
        (902, Some(1), "invoke", "release", Nil),
        (903, Some(1), "fail", "release", Nil),
        (950, Some(9), "invoke", "final-read", Nil),
        (
            951,
            Some(9),
            "ok",
            "final-read",
            if stale_write == "ok" {
                l(&[10])
            } else {
                l(&[20])
            },
        ),
    ])
}

#[test]
fn paused_holder_overlaps_and_loses_an_update() {
    let hist = paused_holder("ok");
    let m = check_mutual_exclusion(&hist, false);
    assert_eq!(m.validity, Validity::Invalid);
    assert_eq!(m.anomalies.len(), 1);
    let a = &m.anomalies[0];
    assert_eq!(a.kind, "mutex-overlap");
    assert_eq!(a.ops, vec![1, 7, 16, 12, 4], "{a:?}");
    assert!(
        a.explanation
            .contains("client 1 acquired the lock at 0.001 s"),
        "{}",
        a.explanation
    );
    assert!(
        a.explanation.contains("paused \"client 1\" at 0.004 s"),
        "{}",
        a.explanation
    );
    assert!(
        a.explanation.contains("from 0.401 s to 0.406 s"),
        "{}",
        a.explanation
    );

    let lost = check_lost_updates(&hist);
    assert_eq!(lost.validity, Validity::Invalid);
    assert_eq!(lost.anomalies.len(), 1);
    let a = &lost.anomalies[0];
    assert_eq!(a.kind, "lost-update");
    assert_eq!(a.details["element"], 20);
    assert_eq!(a.ops, vec![11, 5, 19], "{a:?}");
    assert!(
        a.explanation.contains("client 1 overwrote it"),
        "{}",
        a.explanation
    );
    assert_eq!(check_lock(&hist, false).validity, Validity::Invalid);
    // A fence that let the stale write through: the values prove it (a lost update) even
    // though in real time the stale write began before the new holder's accesses.
    assert_eq!(check_lock(&hist, true).validity, Validity::Invalid);
}

#[test]
fn a_stale_access_that_begins_after_the_new_holder_used_the_resource_is_caught() {
    let hist = h(&[
        (0, Some(1), "invoke", "acquire", Nil),
        (1, Some(1), "ok", "acquire", Int(1)),
        (400, Some(2), "invoke", "acquire", Nil),
        (401, Some(2), "ok", "acquire", Int(2)),
        (402, Some(2), "invoke", "read", Nil),
        (403, Some(2), "ok", "read", l(&[])),
        // Client 1 wakes and reads after client 2's read was acknowledged: a fence that
        // works refuses this; this one let it through.
        (500, Some(1), "invoke", "read", Nil),
        (501, Some(1), "ok", "read", l(&[])),
        (502, Some(2), "invoke", "release", Nil),
        (503, Some(1), "invoke", "release", Nil),
    ]);
    let m = check_mutual_exclusion(&hist, true);
    assert_eq!(m.anomalies.len(), 1, "{m:?}");
    assert_eq!(m.stats["fenced_overlaps"], 0);
    // Refused instead: harmless.
    let mut refused = hist.clone();
    refused.ops[7].kind = OpType::Fail;
    let m = check_mutual_exclusion(&refused, true);
    assert_eq!(m.validity, Validity::Valid, "{m:?}");
    assert_eq!(m.stats["fenced_overlaps"], 1);
}

#[test]
fn a_fence_that_refuses_the_stale_write_makes_the_overlap_harmless() {
    let hist = paused_holder("fail");
    let r = check_lock(&hist, true);
    assert_eq!(r.validity, Validity::Valid, "{r:?}");
    assert_eq!(r.stats["mutual_exclusion"]["fenced_overlaps"], 1);
    assert_eq!(r.stats["lost_updates"]["refused_writes"], 1);
    assert_eq!(r.stats["lost_updates"]["lost"], 0);
    // Without the fence the same overlap is still a broken mutex.
    assert_eq!(
        check_mutual_exclusion(&hist, false).validity,
        Validity::Invalid
    );
}

#[test]
fn unreleased_hold_runs_to_the_end_and_missing_final_read_is_unknown() {
    let hist = h(&[
        (0, Some(1), "invoke", "acquire", Nil),
        (1, Some(1), "ok", "acquire", Int(1)),
        (5, Some(2), "invoke", "acquire", Nil),
        (6, Some(2), "ok", "acquire", Int(2)),
        (7, Some(2), "invoke", "release", Nil),
    ]);
    let hs = holds(&hist);
    assert_eq!(hs.len(), 2);
    assert_eq!(hs[0].ended, None);
    assert_eq!(hs[0].end, 7_000_000);
    assert_eq!(check_mutual_exclusion(&hist, false).anomalies.len(), 1);
    assert_eq!(check_lost_updates(&hist).validity, Validity::Unknown);
}

#[test]
fn a_retired_process_stops_believing_when_its_info_arrives() {
    let hist = h(&[
        (0, Some(1), "invoke", "acquire", Nil),
        (1, Some(1), "ok", "acquire", Int(1)),
        (2, Some(1), "invoke", "read", Nil),
        (3, Some(1), "info", "read", Nil),
        (5, Some(2), "invoke", "acquire", Nil),
        (6, Some(2), "ok", "acquire", Int(2)),
    ]);
    assert_eq!(
        check_mutual_exclusion(&hist, false).validity,
        Validity::Valid
    );
}
