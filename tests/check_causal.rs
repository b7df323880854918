//! Causal consistency (CC, CCv, CM) on hand-built histories, one process per string:
//! `"wx1 ry_ rx1"` is a process that writes 1 to x, reads y's initial value, then reads x = 1.
//! A write ending in `?` has an unknown outcome (`info`), one ending in `!` failed.
//! Each bad pattern of Bouajjani et al. (POPL 2017) has a history that exhibits it.

mod support;

use ferrocheck::check::causal::{self, CausalModel};
use ferrocheck::check::{check, CheckOptions, CheckResult, Consistency, Validity};
use ferrocheck::history::{History, Op, OpType, Process, Value};
use std::process::Command;

/// Builds a history from one string of ops per process (process ids 0, 1, ...).
fn h(procs: &[&str]) -> History {
    let mut ops = Vec::new();
    for (p, line) in procs.iter().enumerate() {
        for tok in line.split_whitespace() {
            let (f, rest) = match tok.as_bytes()[0] {
                b'w' => ("write", &tok[1..]),
                b'r' => ("read", &tok[1..]),
                b'c' => ("cas", &tok[1..]),
                _ => panic!("bad op {tok}"),
            };
            let key = rest[..1].to_string();
            let (v, end) = match rest[1..].strip_suffix('?') {
                Some(v) => (v, OpType::Info),
                None => match rest[1..].strip_suffix('!') {
                    Some(v) => (v, OpType::Fail),
                    None => (&rest[1..], OpType::Ok),
                },
            };
            let value = if v == "_" {
                Value::Nil
            } else {
                Value::Int(v.parse().expect("int value"))
            };
            let mut op = |kind, value: Value| {
                ops.push(Op {
                    index: ops.len() as u64,
                    time: 0,
                    process: Process::Client(p as u64),
                    kind,
                    f: f.to_string(),
                    key: Some(key.clone()),
                    value,
                    error: None,
                })
            };
            let arg = if f == "read" {
                Value::Nil
            } else {
                value.clone()
            };
            op(OpType::Invoke, arg);
            op(end, value);
        }
    }
    History { header: None, ops }
}

fn causal(procs: &[&str]) -> CheckResult {
    let opts = CheckOptions {
        model: Some("register".into()),
        consistency: Consistency::Causal,
        ..Default::default()
    };
    check(&h(procs), &opts).expect("check")
}

fn models(r: &CheckResult) -> (bool, bool, bool) {
    let m = &r.stats["models"];
    (
        m["CC"].as_bool().unwrap(),
        m["CCv"].as_bool().unwrap(),
        m["CM"].as_bool().unwrap(),
    )
}

/// The kinds of the anomalies ruling out `model`, via the library's report.
fn kinds(procs: &[&str], model: CausalModel) -> Vec<String> {
    let (_, report) = causal::search(&h(procs), &Value::Nil)
        .expect("search")
        .expect("small");
    let list = match model {
        CausalModel::CC => &report.cc,
        CausalModel::CCv => &report.ccv,
        CausalModel::CM => &report.cm,
    };
    list.iter().map(|a| a.kind.clone()).collect()
}

#[test]
fn causal_but_not_sequentially_consistent() {
    // Dekker: each process writes, then misses the other's write.
    let procs = ["wx1 ry_", "wy1 rx_"];
    let r = causal(&procs);
    assert_eq!(r.validity, Validity::Valid, "{}", r.summary);
    assert_eq!(models(&r), (true, true, true));
    assert_eq!(r.checker, "causal(register)");
    assert!(r
        .summary
        .contains("causal memory (CM) and causal convergence (CCv) hold"));
    let seq = CheckOptions {
        model: Some("register".into()),
        consistency: Consistency::Sequential,
        ..Default::default()
    };
    assert_eq!(check(&h(&procs), &seq).unwrap().validity, Validity::Invalid);
}

#[test]
fn cyclic_co_is_not_causal() {
    // Each process reads the value the other writes only after this read.
    let r = causal(&["rx1 wy1", "ry1 wx1"]);
    assert_eq!(r.validity, Validity::Invalid);
    assert_eq!(r.anomalies[0].kind, "CyclicCO");
    assert_eq!(r.anomalies[0].ops.len(), 4);
    let edges = r.anomalies[0].details["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 4);
    assert!(edges.iter().any(|e| e["relation"] == "po"));
    assert!(edges.iter().any(|e| e["relation"] == "rf"));
    assert!(r.anomalies[0].explanation.contains("in a circle"));
}

#[test]
fn write_co_init_read_is_not_causal() {
    // Process 1 sees y=1, written after x=1, then reads x's initial value.
    let r = causal(&["wx1 wy1", "ry1 rx_"]);
    assert_eq!(r.validity, Validity::Invalid);
    let a = &r.anomalies[0];
    assert_eq!(a.kind, "WriteCOInitRead");
    assert_eq!(a.key.as_deref(), Some("x"));
    // The initial read (op 6), then the write it should have seen (op 0), then the chain.
    assert_eq!(a.ops, vec![6, 0, 2, 4]);
    assert!(
        a.explanation
            .contains("causally seen process 0's write x=1"),
        "{}",
        a.explanation
    );
}

#[test]
fn thin_air_read_is_not_causal() {
    let r = causal(&["wx1", "rx5"]);
    assert_eq!(r.validity, Validity::Invalid);
    assert_eq!(r.anomalies[0].kind, "ThinAirRead");
    assert_eq!(r.anomalies[0].ops, vec![2]);
    // A failed write certainly did not happen: reading its value is out of thin air too.
    let r = causal(&["wx5!", "rx5"]);
    assert_eq!(r.anomalies[0].kind, "ThinAirRead");
    assert!(r.anomalies[0].explanation.contains("failed write"));
}

#[test]
fn write_co_read_is_not_causal() {
    // Process 1 sees x=2, which overwrote x=1 causally, then reads x=1.
    let r = causal(&["wx1 wx2", "rx2 rx1"]);
    assert_eq!(r.validity, Validity::Invalid);
    let a = &r.anomalies[0];
    assert_eq!(a.kind, "WriteCORead");
    assert_eq!(&a.ops[..3], &[6, 0, 2]);
    assert!(
        a.explanation
            .starts_with("process 1 read x=1 after it had causally seen the write x=2"),
        "{}",
        a.explanation
    );
    assert!(r.summary.starts_with("not causally consistent"));
}

#[test]
fn concurrent_writes_seen_in_different_orders_separate_cc_from_ccv() {
    // Each process sees its own write first, then the other's: CC and CM allow it, but no single
    // arbitration order of the two writes explains both (CCv).
    let procs = ["wx1 rx1 rx2", "wx2 rx2 rx1"];
    let r = causal(&procs);
    assert_eq!(r.validity, Validity::Valid, "{}", r.summary);
    assert!(r.anomalies.is_empty());
    assert_eq!(models(&r), (true, false, true));
    assert!(r
        .summary
        .contains("causal memory (CM) holds, causal convergence (CCv) does not"));
    assert_eq!(kinds(&procs, CausalModel::CCv), vec!["CyclicCF"]);
    let stronger = r.stats["stronger_model_anomalies"].as_array().unwrap();
    let edges = stronger[0]["details"]["edges"].as_array().unwrap();
    assert!(edges.iter().filter(|e| e["relation"] == "cf").count() >= 2);
}

#[test]
fn cyclic_hb_separates_ccv_from_cm() {
    // Process 2 reads y=2, then x=1, then z=1 (written after x=2 and y=1), then y=2 again: to
    // explain the last read it must have seen y=1 before y=2, hence x=2 before its read of x=1.
    let procs = ["wx1 wx2 wy1 wz1", "wy2", "ry2 rx1 rz1 ry2"];
    let r = causal(&procs);
    assert_eq!(r.validity, Validity::Valid, "{}", r.summary);
    assert_eq!(models(&r), (true, true, false));
    assert_eq!(kinds(&procs, CausalModel::CM), vec!["CyclicHB"]);
    let a = &r.stats["stronger_model_anomalies"][0];
    assert!(a["explanation"]
        .as_str()
        .unwrap()
        .starts_with("process 2 cannot order"));
}

#[test]
fn write_hb_init_read_is_not_causal_memory() {
    let procs = ["wx1 wy1 wz1", "wy2", "ry2 rx_ rz1 ry2"];
    let r = causal(&procs);
    assert_eq!(models(&r), (true, true, false));
    assert_eq!(kinds(&procs, CausalModel::CM), vec!["WriteHBInitRead"]);
    assert!(r
        .summary
        .contains("causal convergence (CCv) holds, causal memory (CM) does not"));
}

#[test]
fn valid_histories_hold_every_model() {
    for procs in [
        &["wx1 rx1 wy2", "ry2 rx1", "ry_ rx_"][..],
        &["wx1 wx2", "rx1 rx2", "rx_ rx2"][..],
        &[][..],
        // An unknown write may be read (it took effect) or not.
        &["wx1?", "rx1", "rx_"][..],
        &["wx1?", "wx2 rx2"][..],
        // An unknown write precedes nothing in its process's order: here y=2 is seen without x=1.
        &["wx1? wy2", "ry2 rx_"][..],
    ] {
        let r = causal(procs);
        assert_eq!(r.validity, Validity::Valid, "{procs:?}: {}", r.summary);
        assert_eq!(models(&r), (true, true, true), "{procs:?}");
    }
}

#[test]
fn non_unique_writes_and_cas_are_rejected_clearly() {
    let opts = CheckOptions {
        model: Some("register".into()),
        consistency: Consistency::Causal,
        ..Default::default()
    };
    let e = check(&h(&["wx1", "wx1"]), &opts).unwrap_err().to_string();
    assert!(e.contains("distinct value"), "{e}");
    // Same value on different keys is fine.
    assert!(check(&h(&["wx1", "wy1"]), &opts).is_ok());
    let e = check(&h(&["wx_"]), &opts).unwrap_err().to_string();
    assert!(e.contains("initial value"), "{e}");
    let cas = CheckOptions {
        model: Some("cas-register".into()),
        ..opts.clone()
    };
    let e = check(&h(&["wx1", "cx2"]), &cas).unwrap_err().to_string();
    assert!(e.contains("not cas"), "{e}");
    assert_eq!(
        check(&h(&["wx1", "rx1"]), &cas).unwrap().checker,
        "causal(cas-register)"
    );
}

/// A history produced by one sequential store (so every causal model holds): `n` ops of
/// `procs` processes on 3 keys.
fn big(n: usize, procs: u64) -> History {
    let mut ops = Vec::with_capacity(2 * n);
    let mut state = [Value::Nil, Value::Nil, Value::Nil];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..n {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let p = seed % procs;
        let k = (seed >> 8) as usize % 3;
        let (f, arg, out) = if (seed >> 16).is_multiple_of(2) {
            state[k] = Value::Int(i as i64 + 1);
            ("write", state[k].clone(), state[k].clone())
        } else {
            ("read", Value::Nil, state[k].clone())
        };
        for (kind, value) in [(OpType::Invoke, arg), (OpType::Ok, out)] {
            ops.push(Op {
                index: ops.len() as u64,
                time: 0,
                process: Process::Client(p),
                kind,
                f: f.into(),
                key: Some(format!("k{k}")),
                value,
                error: None,
            });
        }
    }
    History { header: None, ops }
}

#[test]
fn ten_thousand_ops_check_quickly() {
    let hist = big(10_000, 8);
    let opts = CheckOptions {
        model: Some("register".into()),
        consistency: Consistency::Causal,
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let r = check(&hist, &opts).unwrap();
    let secs = started.elapsed().as_secs_f64();
    println!("10,000 ops checked in {secs:.3} s");
    assert_eq!(r.validity, Validity::Valid, "{}", r.summary);
    assert_eq!(models(&r), (true, true, true));
    // Unoptimized test builds are far slower than release builds; this bound is for them.
    assert!(secs < 20.0, "took {secs} s");
}

#[test]
fn cli_checks_causal_consistency() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.jsonl");
    let mut text = Vec::new();
    h(&["wx1 wx2", "rx2 rx1"]).write_jsonl(&mut text).unwrap();
    std::fs::write(&path, text).unwrap();
    let out = Command::new(support::BIN)
        .args(["check", "--consistency", "causal"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("WriteCORead"), "{stdout}");
}

#[test]
fn histories_beyond_the_old_limit_are_decided() {
    // The closure matrix made anything above 40,000 ops `unknown`; vector clocks decide CC and
    // CCv at any length, and say CM was not checked.
    let hist = big(60_000, 8);
    let opts = CheckOptions {
        model: Some("register".into()),
        consistency: Consistency::Causal,
        ..Default::default()
    };
    let r = check(&hist, &opts).unwrap();
    assert_eq!(r.validity, Validity::Valid, "{}", r.summary);
    let m = &r.stats["models"];
    assert_eq!(m["CC"], true);
    assert_eq!(m["CCv"], true);
    assert!(m["CM"].is_null(), "{m}");
    assert!(r.summary.contains("CM) not checked"), "{}", r.summary);
    // Process 99 reads the first value written, overwrites it, then reads it again: a
    // WriteCORead, found among 60,000 ops as in a small history.
    let mut bad = hist.clone();
    let (key, first) = bad
        .ops
        .iter()
        .find(|o| o.f == "write")
        .map(|o| (o.key.clone(), o.value.clone()))
        .unwrap();
    let calls = [
        ("read", Value::Nil, first.clone()),
        ("write", Value::Int(-1), Value::Int(-1)),
        ("read", Value::Nil, first.clone()),
    ];
    for (f, arg, out) in calls {
        for (kind, value) in [(OpType::Invoke, arg.clone()), (OpType::Ok, out.clone())] {
            bad.ops.push(Op {
                index: bad.ops.len() as u64,
                time: 0,
                process: Process::Client(99),
                kind,
                f: f.into(),
                key: key.clone(),
                value,
                error: None,
            });
        }
    }
    let r = check(&bad, &opts).unwrap();
    assert_eq!(r.validity, Validity::Invalid, "{}", r.summary);
    assert_eq!(r.anomalies[0].kind, "WriteCORead", "{}", r.summary);
}
