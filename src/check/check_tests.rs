//! Hand-built histories with known verdicts, in a one-line-per-op notation:
//! `"p type f value"` or `"p type f key value"`, e.g. `"1 ok cas k [1 2]"`.

use super::*;
use crate::history::{History, Op, OpType, Process, Value};

fn value(s: &str) -> Value {
    let s = s.trim();
    if s == "nil" {
        Value::Nil
    } else if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        Value::List(inner.split_whitespace().map(value).collect())
    } else if let Ok(i) = s.parse() {
        Value::Int(i)
    } else {
        Value::Str(s.to_string())
    }
}

/// Builds a history from compact lines.
pub fn hist(lines: &[&str]) -> History {
    let mut ops = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let mut parts = line.splitn(4, ' ');
        let p: u64 = parts.next().unwrap().parse().unwrap();
        let kind = match parts.next().unwrap() {
            "invoke" => OpType::Invoke,
            "ok" => OpType::Ok,
            "fail" => OpType::Fail,
            "info" => OpType::Info,
            k => panic!("bad type {k}"),
        };
        let f = parts.next().unwrap().to_string();
        let rest = parts.next().unwrap_or("nil");
        let (key, v) = match rest.split_once(' ') {
            Some((k, v)) if k.starts_with('k') => (Some(k.to_string()), value(v)),
            _ => (None, value(rest)),
        };
        ops.push(Op {
            index: i as u64,
            time: 0,
            process: Process::Client(p),
            kind,
            f,
            key,
            value: v,
            error: None,
        });
    }
    History { header: None, ops }
}

/// The verdict of linearizability under `model`.
pub fn verdict(model: &str, lines: &[&str]) -> Validity {
    let opts = CheckOptions {
        model: Some(model.into()),
        ..Default::default()
    };
    check(&hist(lines), &opts).unwrap().validity
}

use Validity::*;

#[test]
fn empty_and_sequential_histories_are_valid() {
    assert_eq!(verdict("cas-register", &[]), Valid);
    let h = [
        "0 invoke write 1",
        "0 ok write 1",
        "0 invoke read nil",
        "0 ok read 1",
        "0 invoke cas [1 2]",
        "0 ok cas [1 2]",
        "0 invoke read nil",
        "0 ok read 2",
    ];
    assert_eq!(verdict("cas-register", &h), Valid);
}

#[test]
fn stale_read_is_invalid() {
    let h = [
        "0 invoke write 1",
        "0 ok write 1",
        "0 invoke write 2",
        "0 ok write 2",
        "1 invoke read nil",
        "1 ok read 1",
    ];
    assert_eq!(verdict("register", &h), Invalid);
}

#[test]
fn concurrent_write_may_be_read_either_way() {
    let h = [
        "0 invoke write 1",
        "1 invoke read nil",
        "2 invoke read nil",
        "1 ok read 1",
        "2 ok read nil",
        "0 ok write 1",
    ];
    assert_eq!(verdict("register", &h), Valid);
    // ... but not back and forth: 1 then nil, in real-time order.
    let h = [
        "0 invoke write 1",
        "1 invoke read nil",
        "1 ok read 1",
        "2 invoke read nil",
        "2 ok read nil",
        "0 ok write 1",
    ];
    assert_eq!(verdict("register", &h), Invalid);
    let h = [
        "0 invoke write 1",
        "1 invoke read nil",
        "1 ok read 1",
        "1 invoke read nil",
        "1 ok read nil",
        "0 ok write 1",
    ];
    assert_eq!(verdict("register", &h), Invalid);
}

#[test]
fn info_write_may_happen_late_or_never() {
    // The unknown write of 1 explains a later read of 1 ...
    let h = [
        "0 invoke write 1",
        "0 info write 1",
        "1 invoke read nil",
        "1 ok read nil",
        "1 invoke read nil",
        "1 ok read 1",
    ];
    assert_eq!(verdict("register", &h), Valid);
    // ... or never happens.
    let h = [
        "0 invoke write 1",
        "0 info write 1",
        "1 invoke read nil",
        "1 ok read nil",
    ];
    assert_eq!(verdict("register", &h), Valid);
    // But it cannot happen before it was invoked.
    let h = [
        "1 invoke read nil",
        "1 ok read 1",
        "0 invoke write 1",
        "0 info write 1",
    ];
    assert_eq!(verdict("register", &h), Invalid);
    // And it happens at most once: 1, then 2, then 1 again is impossible.
    let h = [
        "0 invoke write 1",
        "0 info write 1",
        "2 invoke read nil",
        "2 ok read 1",
        "2 invoke write 2",
        "2 ok write 2",
        "2 invoke read nil",
        "2 ok read 1",
    ];
    assert_eq!(verdict("register", &h), Invalid);
}

#[test]
fn failed_write_never_happened() {
    let h = [
        "0 invoke write 1",
        "0 fail write 1",
        "1 invoke read nil",
        "1 ok read 1",
    ];
    assert_eq!(verdict("register", &h), Invalid);
}

#[test]
fn failed_cas_means_the_compare_did_not_match() {
    // The value is certainly 1 while the cas [1 2] runs, so it cannot have failed.
    let h = [
        "0 invoke write 1",
        "0 ok write 1",
        "1 invoke cas [1 2]",
        "1 fail cas [1 2]",
    ];
    assert_eq!(verdict("cas-register", &h), Invalid);
    // With a concurrent write of 3 the compare may have seen 3.
    let h = [
        "0 invoke write 1",
        "0 ok write 1",
        "2 invoke write 3",
        "1 invoke cas [1 2]",
        "1 fail cas [1 2]",
        "2 ok write 3",
    ];
    assert_eq!(verdict("cas-register", &h), Valid);
    // A failed cas changes nothing.
    let h = ["1 invoke cas [nil 2]", "1 fail cas [nil 2]"];
    assert_eq!(verdict("cas-register", &h), Invalid);
    let h = [
        "0 invoke write 5",
        "0 ok write 5",
        "1 invoke cas [1 2]",
        "1 fail cas [1 2]",
        "1 invoke read nil",
        "1 ok read 5",
    ];
    assert_eq!(verdict("cas-register", &h), Valid);
}

#[test]
fn info_cas_applies_only_if_it_matches() {
    let h = [
        "0 invoke write 1",
        "0 ok write 1",
        "1 invoke cas [1 2]",
        "1 info cas [1 2]",
        "2 invoke read nil",
        "2 ok read 2",
    ];
    assert_eq!(verdict("cas-register", &h), Valid);
    let h = [
        "0 invoke write 3",
        "0 ok write 3",
        "1 invoke cas [1 2]",
        "1 info cas [1 2]",
        "2 invoke read nil",
        "2 ok read 2",
    ];
    assert_eq!(verdict("cas-register", &h), Invalid);
}

#[test]
fn open_ops_at_the_end_are_unknown() {
    let h = ["0 invoke write 1", "1 invoke read nil", "1 ok read 1"];
    assert_eq!(verdict("register", &h), Valid);
}

#[test]
fn keys_are_checked_independently() {
    let h = [
        "0 invoke write ka 1",
        "0 ok write ka 1",
        "1 invoke read kb nil",
        "1 ok read kb nil",
        "1 invoke read ka nil",
        "1 ok read ka 1",
    ];
    assert_eq!(verdict("register", &h), Valid);
    let h = [
        "0 invoke write ka 1",
        "0 ok write ka 1",
        "1 invoke read kb nil",
        "1 ok read kb 1",
    ];
    let r = check(
        &hist(&h),
        &CheckOptions {
            model: Some("register".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(r.validity, Invalid);
    assert_eq!(r.anomalies[0].key.as_deref(), Some("kb"));
    assert_eq!(r.anomalies[0].kind, "nonlinearizable");
    assert!(
        r.anomalies[0].explanation.contains("read on kb returned 1"),
        "{}",
        r.anomalies[0].explanation
    );
}

#[test]
fn initial_value_option_is_used() {
    let h = ["0 invoke read nil", "0 ok read 0"];
    assert_eq!(verdict("register", &h), Invalid);
    let opts = CheckOptions {
        model: Some("register".into()),
        initial_value: Some(Value::Int(0)),
        ..Default::default()
    };
    assert_eq!(check(&hist(&h), &opts).unwrap().validity, Valid);
}

#[test]
fn mutex_with_two_holders_is_invalid() {
    let h = [
        "0 invoke acquire nil",
        "0 ok acquire nil",
        "1 invoke acquire nil",
        "1 ok acquire nil",
    ];
    assert_eq!(verdict("mutex", &h), Invalid);
    let h = [
        "0 invoke acquire nil",
        "0 ok acquire nil",
        "1 invoke acquire nil",
        "0 invoke release nil",
        "0 ok release nil",
        "1 ok acquire nil",
    ];
    assert_eq!(verdict("mutex", &h), Valid);
}

#[test]
fn other_models_accept_and_reject() {
    let kv = [
        "0 invoke append k1 x",
        "0 ok append k1 x",
        "0 invoke append k1 y",
        "0 ok append k1 y",
        "1 invoke get k1 nil",
        "1 ok get k1 xy",
    ];
    assert_eq!(verdict("kv", &kv), Valid);
    let kv_bad = ["1 invoke get k1 nil", "1 ok get k1 x"];
    assert_eq!(verdict("kv", &kv_bad), Invalid);
    let set = [
        "0 invoke add 1",
        "0 ok add 1",
        "1 invoke add 2",
        "2 invoke read nil",
        "2 ok read [1]",
        "1 ok add 2",
        "2 invoke read nil",
        "2 ok read [2 1]",
    ];
    assert_eq!(verdict("set", &set), Valid);
    let set_bad = [
        "0 invoke add 1",
        "0 ok add 1",
        "2 invoke read nil",
        "2 ok read []",
    ];
    assert_eq!(verdict("set", &set_bad), Invalid);
    let q = [
        "0 invoke enqueue 1",
        "0 ok enqueue 1",
        "0 invoke enqueue 2",
        "0 ok enqueue 2",
        "1 invoke dequeue nil",
        "1 info dequeue nil",
        "1 invoke dequeue nil",
        "1 ok dequeue 2",
    ];
    assert_eq!(verdict("fifo-queue", &q), Valid);
    let q_bad = [
        "0 invoke enqueue 1",
        "0 ok enqueue 1",
        "0 invoke enqueue 2",
        "0 ok enqueue 2",
        "1 invoke dequeue nil",
        "1 ok dequeue 2",
    ];
    assert_eq!(verdict("fifo-queue", &q_bad), Invalid);
    let counter = [
        "0 invoke add 2",
        "1 invoke read nil",
        "1 ok read 2",
        "0 ok add 2",
        "0 invoke add 3",
        "0 info add 3",
        "1 invoke read nil",
        "1 ok read 2",
    ];
    assert_eq!(verdict("counter", &counter), Valid);
    let counter_bad = [
        "0 invoke add 2",
        "0 ok add 2",
        "1 invoke read nil",
        "1 ok read 3",
    ];
    assert_eq!(verdict("counter", &counter_bad), Invalid);
}

#[test]
fn model_is_inferred_from_functions() {
    let h = hist(&["0 invoke cas [1 2]", "0 fail cas [1 2]"]);
    assert_eq!(
        choose_model(&h, &CheckOptions::default()).unwrap(),
        "cas-register"
    );
    let h = hist(&["0 invoke frobnicate 1"]);
    assert!(choose_model(&h, &CheckOptions::default()).is_err());
}

#[test]
fn synthetic_register_history_of_10k_ops_is_valid_and_fast() {
    let h = synth::history(&synth::SynthOptions {
        calls: 10_000,
        clients: 10,
        keys: 1,
        info_rate: 0.05,
        values: 5,
        kv: false,
        seed: 7,
    });
    let started = std::time::Instant::now();
    let r = check(
        &h,
        &CheckOptions {
            model: Some("cas-register".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(r.validity, Valid, "{}", r.summary);
    eprintln!("10k ops: {:?} {}", started.elapsed(), r.stats);
}

#[test]
fn counterexample_of_a_long_history_is_shrunk_to_a_few_ops() {
    let mut h = synth::history(&synth::SynthOptions {
        calls: 3_000,
        clients: 5,
        keys: 1,
        info_rate: 0.02,
        values: 5,
        kv: false,
        seed: 11,
    });
    // A read near the end returns a value nobody ever wrote.
    let i = (0..h.ops.len())
        .rev()
        .find(|&i| h.ops[i].kind == crate::history::OpType::Ok && h.ops[i].f == "read")
        .unwrap();
    h.ops[i].value = Value::Int(99);
    let r = check(
        &h,
        &CheckOptions {
            model: Some("cas-register".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(r.validity, Invalid);
    let a = &r.anomalies[0];
    assert!(a.ops.len() <= 10, "{} ops: {}", a.ops.len(), a.explanation);
    assert!(a.explanation.contains("returned 99"), "{}", a.explanation);
    // A stale read: after a write completes, a later read returns an older value.
    let h = hist(&[
        "0 invoke write 1",
        "0 ok write 1",
        "1 invoke write 2",
        "1 ok write 2",
        "2 invoke write 3",
        "2 ok write 3",
        "0 invoke read nil",
        "0 ok read 2",
        "1 invoke write 4",
        "1 ok write 4",
    ]);
    let r = check(
        &h,
        &CheckOptions {
            model: Some("register".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let a = &r.anomalies[0];
    assert_eq!(a.ops, vec![6, 2, 4], "{}", a.explanation);
    assert!(
        a.explanation.contains("leaves the object at 3"),
        "{}",
        a.explanation
    );
}

#[test]
fn exhausted_time_budget_gives_unknown_naming_the_key() {
    let h = synth::history(&synth::SynthOptions {
        calls: 200_000,
        clients: 20,
        keys: 1,
        info_rate: 0.05,
        values: 5,
        kv: false,
        seed: 3,
    });
    let r = check(
        &h,
        &CheckOptions {
            model: Some("cas-register".into()),
            time_limit: Some(std::time::Duration::from_millis(1)),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(r.validity, Unknown, "{}", r.summary);
    assert!(
        r.summary.contains("time limit") && r.summary.contains("key k0"),
        "{}",
        r.summary
    );
    assert_eq!(r.stats["exhausted"]["what"], "time");
}
