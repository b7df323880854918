//! Property tests of the linearizability checker against a brute-force oracle that tries every
//! order, written independently of the checker's models and pruning rules.

use ferrocheck::check::synth::{self, SynthOptions};
use ferrocheck::check::{check, CheckOptions, Consistency, Validity};
use ferrocheck::history::{History, Op, OpType, Process, Value};
use proptest::prelude::*;

/// One call as the oracle sees it.
#[derive(Clone, Debug)]
struct Call {
    f: String,
    arg: Value,
    result: Value,
    kind: OpType, // Ok, Fail or Info (Info also for calls left open)
    process: Process,
    call: usize,
    ret: Option<usize>,
}

fn calls_of(h: &History) -> Vec<Call> {
    let mut out: Vec<Call> = Vec::new();
    let mut open = std::collections::HashMap::new();
    for (i, op) in h.ops.iter().enumerate() {
        if op.kind == OpType::Invoke {
            open.insert(op.process, out.len());
            out.push(Call {
                f: op.f.clone(),
                arg: op.value.clone(),
                result: Value::Nil,
                kind: OpType::Info,
                process: op.process,
                call: i,
                ret: None,
            });
        } else if let Some(c) = open.remove(&op.process) {
            out[c].kind = op.kind;
            out[c].result = op.value.clone();
            out[c].ret = (op.kind != OpType::Info).then_some(i);
        }
    }
    // Failed reads and writes never happened; failed cas stays (the compare did not match).
    out.retain(|c| !(c.kind == OpType::Fail && c.f != "cas"));
    out
}

/// The register semantics, written out plainly: the state after `c`, or None if not allowed.
fn apply(state: &Value, c: &Call) -> Option<Value> {
    let pair = |v: &Value| match v.as_list() {
        Some([a, b]) => (a.clone(), b.clone()),
        _ => panic!("bad cas value {v}"),
    };
    match (c.f.as_str(), c.kind) {
        ("read", OpType::Ok) => (*state == c.result).then(|| state.clone()),
        ("read", _) => Some(state.clone()),
        ("write", _) => Some(c.arg.clone()),
        ("cas", OpType::Ok) => {
            let (a, b) = pair(&c.arg);
            (*state == a).then_some(b)
        }
        ("cas", OpType::Fail) => {
            let (a, _) = pair(&c.arg);
            (*state != a).then(|| state.clone())
        }
        ("cas", _) => {
            let (a, b) = pair(&c.arg);
            Some(if *state == a { b } else { state.clone() })
        }
        (f, _) => panic!("unknown f {f}"),
    }
}

/// Tries every order: an op may go next if no pending completed op returned before it was
/// invoked; unknown ops may also never happen.
fn brute_force(
    sequential: bool,
    calls: &[Call],
    done: &mut Vec<bool>,
    state: &Value,
    failed: &mut std::collections::HashSet<(Vec<bool>, Value)>,
) -> bool {
    if failed.contains(&(done.clone(), state.clone())) {
        return false;
    }
    if calls
        .iter()
        .zip(done.iter())
        .all(|(c, d)| *d || c.ret.is_none())
    {
        return true;
    }
    for i in 0..calls.len() {
        if done[i] {
            continue;
        }
        // Linearizable: a pending op that returned before this one was invoked must go first.
        // Sequential: only an earlier pending op of the same process must.
        let blocked = calls.iter().zip(done.iter()).any(|(o, d)| {
            !*d && if sequential {
                o.process == calls[i].process && o.call < calls[i].call
            } else {
                o.ret.is_some_and(|r| r < calls[i].call)
            }
        });
        if blocked {
            continue;
        }
        if let Some(next) = apply(state, &calls[i]) {
            done[i] = true;
            let ok = brute_force(sequential, calls, done, &next, failed);
            done[i] = false;
            if ok {
                return true;
            }
        }
    }
    failed.insert((done.clone(), state.clone()));
    false
}

fn oracle(h: &History) -> Validity {
    oracle_for(false, h)
}

fn oracle_for(sequential: bool, h: &History) -> Validity {
    let calls = calls_of(h);
    let mut done = vec![false; calls.len()];
    if brute_force(
        sequential,
        &calls,
        &mut done,
        &Value::Nil,
        &mut Default::default(),
    ) {
        Validity::Valid
    } else {
        Validity::Invalid
    }
}

fn checker(h: &History) -> Validity {
    checker_for(Consistency::Linearizable, h)
}

fn checker_for(consistency: Consistency, h: &History) -> Validity {
    check(
        h,
        &CheckOptions {
            model: Some("cas-register".into()),
            consistency,
            ..Default::default()
        },
    )
    .expect("check")
    .validity
}

/// A random history: random ops with random (often impossible) results, random overlaps.
fn random_history(seed: u64, calls: usize, clients: u64, values: i64) -> History {
    random_history_with(seed, calls, clients, values, 2)
}

/// Like [`random_history`]; `info_weight` out of 10 completions are `info` (6 ok, the rest fail).
fn random_history_with(
    seed: u64,
    calls: usize,
    clients: u64,
    values: i64,
    info_weight: u32,
) -> History {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut ops = Vec::new();
    let mut open: Vec<Option<(String, Value)>> = vec![None; clients as usize];
    let mut proc_of: Vec<u64> = (0..clients).collect();
    let mut next_proc = clients;
    let mut started = 0;
    let val = |rng: &mut rand::rngs::StdRng| {
        let v = rng.gen_range(-1..values);
        if v < 0 {
            Value::Nil
        } else {
            Value::Int(v)
        }
    };
    while started < calls || open.iter().any(|o| o.is_some()) {
        let c = rng.gen_range(0..clients as usize);
        let p = Process::Client(proc_of[c]);
        let mut push = |kind, f: &str, value| {
            ops.push(Op {
                index: ops.len() as u64,
                time: 0,
                process: p,
                kind,
                f: f.into(),
                key: None,
                value,
                error: None,
            })
        };
        match open[c].take() {
            None if started < calls => {
                started += 1;
                let (f, v) = match rng.gen_range(0..3) {
                    0 => ("read", Value::Nil),
                    1 => ("write", val(&mut rng)),
                    _ => ("cas", Value::List(vec![val(&mut rng), val(&mut rng)])),
                };
                push(OpType::Invoke, f, v.clone());
                open[c] = Some((f.to_string(), v));
            }
            None => {}
            Some((f, v)) => {
                // Occasionally leave the last ops open at the end of the history.
                if started >= calls && rng.gen_bool(0.2) {
                    continue;
                }
                let roll = rng.gen_range(0..6 + 2 + info_weight);
                let kind = if roll < 6 {
                    OpType::Ok
                } else if roll < 8 {
                    OpType::Fail
                } else {
                    OpType::Info
                };
                let result = if f == "read" && kind == OpType::Ok {
                    val(&mut rng)
                } else {
                    v
                };
                push(kind, &f, result);
                if kind == OpType::Info {
                    proc_of[c] = next_proc;
                    next_proc += 1;
                }
            }
        }
    }
    History { header: None, ops }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Histories recorded from a real register are always linearizable.
    #[test]
    fn recorded_histories_are_valid(seed in any::<u64>(), calls in 1usize..300, clients in 1usize..8) {
        let h = synth::history(&SynthOptions {
            calls, clients, keys: 1, info_rate: 0.2, values: 4, kv: false, seed,
        });
        prop_assert_eq!(checker(&h), Validity::Valid);
    }

    /// A recorded history with one read result changed: the checker agrees with the oracle.
    #[test]
    fn corrupted_read_agrees_with_brute_force(seed in any::<u64>(), calls in 2usize..9, which in any::<usize>(), to in -1i64..4) {
        let mut h = synth::history(&SynthOptions {
            calls, clients: 3, keys: 1, info_rate: 0.3, values: 4, kv: false, seed,
        });
        for op in &mut h.ops {
            op.key = None;
        }
        let reads: Vec<usize> = (0..h.ops.len())
            .filter(|&i| h.ops[i].kind == OpType::Ok && h.ops[i].f == "read")
            .collect();
        if !reads.is_empty() {
            let i = reads[which % reads.len()];
            h.ops[i].value = if to < 0 { Value::Nil } else { Value::Int(to) };
        }
        prop_assert_eq!(checker(&h), oracle(&h), "history: {:?}", h.ops);
    }

    /// A recorded history with one late read of the initial value (nil, which no op writes back,
    /// so certainly overwritten long before the read began once any write or cas was
    /// acknowledged): always refuted, whatever the length, with the read named first.
    #[test]
    fn a_stale_read_is_always_refuted(seed in any::<u64>(), calls in 20usize..3000, clients in 1usize..12) {
        let h = synth::history(&SynthOptions {
            calls, clients, keys: 1, info_rate: 0.1, values: 5, kv: false, seed,
        });
        // Only certain if an acknowledged write or cas (of another value) ran after it.
        let overwritten = h.ops.iter().any(|o| o.kind == OpType::Ok && (o.f == "write" || o.f == "cas"));
        let mut ops = Vec::new();
        let op = |kind, f: &str, value, p| Op {
            index: 0, time: 0, process: Process::Client(p), kind, f: f.into(),
            key: Some("k0".into()), value, error: None,
        };
        ops.extend(h.ops);
        ops.push(op(OpType::Invoke, "read", Value::Nil, 1001));
        ops.push(op(OpType::Ok, "read", Value::Nil, 1001));
        for (i, o) in ops.iter_mut().enumerate() {
            o.index = i as u64;
        }
        let read = ops.len() as u64 - 2;
        let h = History { header: None, ops };
        let r = check(&h, &CheckOptions { model: Some("cas-register".into()), ..Default::default() }).unwrap();
        if overwritten {
            prop_assert_eq!(r.validity, Validity::Invalid, "{}", r.summary);
            prop_assert_eq!(r.anomalies[0].ops[0], read);
        } else {
            prop_assert_eq!(r.validity, Validity::Valid, "{}", r.summary);
        }
    }

    /// Longer random histories with many unknown ops over few values (where unknown ops of a
    /// kind are plentiful): the checker agrees with the oracle.
    #[test]
    fn unknown_heavy_histories_agree_with_brute_force(seed in any::<u64>(), calls in 6usize..13, clients in 2u64..5) {
        let h = random_history_with(seed, calls, clients, 2, 8);
        prop_assert_eq!(checker(&h), oracle(&h), "history: {:?}", h.ops);
    }

    /// Sequential consistency on random histories: the checker agrees with the oracle.
    #[test]
    fn sequential_agrees_with_brute_force(seed in any::<u64>(), calls in 1usize..9, clients in 1u64..4) {
        let h = random_history_with(seed, calls, clients, 3, 3);
        prop_assert_eq!(
            checker_for(Consistency::Sequential, &h),
            oracle_for(true, &h),
            "history: {:?}", h.ops
        );
    }

    /// Random small histories (ok, fail, info and open ops): the checker agrees with the oracle.
    #[test]
    fn random_histories_agree_with_brute_force(seed in any::<u64>(), calls in 1usize..8, clients in 1u64..4) {
        let h = random_history(seed, calls, clients, 3);
        prop_assert_eq!(checker(&h), oracle(&h), "history: {:?}", h.ops);
    }
}

/// The random generator must produce both verdicts, or the comparison above proves little.
#[test]
fn random_histories_cover_both_verdicts() {
    let (mut valid, mut invalid) = (0, 0);
    for seed in 0..400 {
        match oracle(&random_history(seed, 6, 3, 3)) {
            Validity::Valid => valid += 1,
            _ => invalid += 1,
        }
    }
    eprintln!("valid {valid}, invalid {invalid}");
    assert!(
        valid > 40 && invalid > 40,
        "valid {valid}, invalid {invalid}"
    );
    let (mut valid, mut invalid) = (0, 0);
    for seed in 0..400 {
        match oracle(&random_history_with(seed, 10, 4, 2, 8)) {
            Validity::Valid => valid += 1,
            _ => invalid += 1,
        }
    }
    eprintln!("unknown-heavy: valid {valid}, invalid {invalid}");
    assert!(
        valid > 40 && invalid > 40,
        "valid {valid}, invalid {invalid}"
    );
}
