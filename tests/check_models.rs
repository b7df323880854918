//! Every model through the search, against a brute-force oracle that tries every order of the
//! same compiled ops (no memo of the search's kind, no pruning rules).

use ferrocheck::check::linearizable::keys::compile_call;
use ferrocheck::check::linearizable::search::KeyOp;
use ferrocheck::check::model::{Interner, Model};
use ferrocheck::check::models::{counter, fifo_queue, kv, mutex, set, unordered_queue};
use ferrocheck::check::{check, CheckOptions, Validity};
use ferrocheck::history::{History, Op, OpType, Process, Value};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use std::collections::HashSet;

fn brute<M: Model>(m: &M, ops: &[KeyOp<M::Op>]) -> bool {
    fn go<M: Model>(
        m: &M,
        ops: &[KeyOp<M::Op>],
        done: &mut Vec<bool>,
        s: &M::State,
        failed: &mut HashSet<(Vec<bool>, M::State)>,
    ) -> bool {
        if ops
            .iter()
            .zip(done.iter())
            .all(|(o, d)| *d || o.ret.is_none())
        {
            return true;
        }
        if failed.contains(&(done.clone(), s.clone())) {
            return false;
        }
        for i in 0..ops.len() {
            if done[i] {
                continue;
            }
            let blocked = ops
                .iter()
                .zip(done.iter())
                .any(|(o, d)| !*d && o.ret.is_some_and(|r| r < ops[i].call));
            if blocked {
                continue;
            }
            if let Some(n) = m.step(s, &ops[i].op) {
                done[i] = true;
                let ok = go(m, ops, done, &n, failed);
                done[i] = false;
                if ok {
                    return true;
                }
            }
        }
        failed.insert((done.clone(), s.clone()));
        false
    }
    let mut done = vec![false; ops.len()];
    go(m, ops, &mut done, &m.init(), &mut HashSet::new())
}

fn oracle<M: Model>(m: &M, h: &History) -> Validity {
    let mut values = Interner::default();
    let mut ops = Vec::new();
    for c in h.calls() {
        if let Some(op) = compile_call(m, h, (c.invoke, c.complete), false, &mut values).unwrap() {
            ops.push(op);
        }
    }
    // The unordered queue's unknown dequeues are only meaningful after its value merging; the
    // other models here do not rewrite anything.
    let mut compiled: Vec<M::Op> = ops.iter().map(|o| o.op.clone()).collect();
    m.prepare(&mut compiled);
    for (o, c) in ops.iter_mut().zip(compiled) {
        o.op = c;
    }
    if brute(m, &ops) {
        Validity::Valid
    } else {
        Validity::Invalid
    }
}

fn checked(model: &str, h: &History) -> Validity {
    let opts = CheckOptions {
        model: Some(model.into()),
        ..Default::default()
    };
    check(h, &opts).unwrap().validity
}

/// A random history over `gen` ops: `gen(rng, unique) -> (f, arg, result-if-ok)`.
fn random(
    seed: u64,
    calls: usize,
    clients: u64,
    gen: &dyn Fn(&mut rand::rngs::StdRng, i64) -> (&'static str, Value, Value),
) -> History {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut ops = Vec::new();
    let mut open: Vec<Option<(&str, Value, Value)>> = vec![None; clients as usize];
    let mut procs: Vec<u64> = (0..clients).collect();
    let mut next = clients;
    let mut started = 0;
    while started < calls || open.iter().any(Option::is_some) {
        let c = rng.gen_range(0..clients as usize);
        let p = Process::Client(procs[c]);
        let mk = |kind, f: &str, value| Op {
            index: 0,
            time: 0,
            process: p,
            kind,
            f: f.into(),
            key: None,
            value,
            error: None,
        };
        match open[c].take() {
            None if started < calls => {
                started += 1;
                let (f, arg, res) = gen(&mut rng, started as i64);
                ops.push(mk(OpType::Invoke, f, arg.clone()));
                open[c] = Some((f, arg, res));
            }
            None => {}
            Some((f, arg, res)) => {
                let kind = match rng.gen_range(0..10) {
                    0..=6 => OpType::Ok,
                    7 => OpType::Fail,
                    _ => OpType::Info,
                };
                let value = if kind == OpType::Ok { res } else { arg };
                ops.push(mk(kind, f, value));
                if kind == OpType::Info {
                    procs[c] = next;
                    next += 1;
                }
            }
        }
    }
    for (i, op) in ops.iter_mut().enumerate() {
        op.index = i as u64;
    }
    History { header: None, ops }
}

fn small(rng: &mut rand::rngs::StdRng, n: i64) -> Value {
    Value::Int(rng.gen_range(0..n))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn mutex_agrees(seed in any::<u64>(), calls in 1usize..9, clients in 1u64..4) {
        let h = random(seed, calls, clients, &|rng, _| {
            (if rng.gen_bool(0.5) { "acquire" } else { "release" }, Value::Nil, Value::Nil)
        });
        prop_assert_eq!(checked("mutex", &h), oracle(&mutex::Mutex, &h));
    }

    #[test]
    fn queues_agree(seed in any::<u64>(), calls in 1usize..9, clients in 1u64..4) {
        let h = random(seed, calls, clients, &|rng, unique| {
            if rng.gen_bool(0.5) {
                ("enqueue", Value::Int(unique), Value::Int(unique))
            } else {
                let r = rng.gen_range(-1..calls as i64);
                ("dequeue", Value::Nil, if r < 0 { Value::Nil } else { Value::Int(r) })
            }
        });
        prop_assert_eq!(checked("fifo-queue", &h), oracle(&fifo_queue::FifoQueue, &h));
        prop_assert_eq!(
            checked("unordered-queue", &h),
            oracle(&unordered_queue::UnorderedQueue, &h),
            "{:?}", h.ops
        );
    }

    #[test]
    fn set_counter_and_kv_agree(seed in any::<u64>(), calls in 1usize..8, clients in 1u64..4) {
        let h = random(seed, calls, clients, &|rng, _| {
            if rng.gen_bool(0.5) {
                ("add", small(rng, 3), Value::Nil)
            } else {
                let k = rng.gen_range(0..3);
                let items = (0..k).map(|_| small(rng, 3)).collect();
                ("read", Value::Nil, Value::List(items))
            }
        });
        prop_assert_eq!(checked("set", &h), oracle(&set::Set, &h));
        let h = random(seed, calls, clients, &|rng, _| {
            if rng.gen_bool(0.5) {
                ("add", Value::Int(rng.gen_range(1..3)), Value::Nil)
            } else {
                ("read", Value::Nil, small(rng, 5))
            }
        });
        prop_assert_eq!(checked("counter", &h), oracle(&counter::Counter::default(), &h));
        let h = random(seed, calls, clients, &|rng, _| {
            let s = |rng: &mut rand::rngs::StdRng| Value::Str(["a", "b", "ab", "ba", ""][rng.gen_range(0..5)].into());
            match rng.gen_range(0..3) {
                0 => ("put", s(rng), Value::Nil),
                1 => ("append", s(rng), Value::Nil),
                _ => ("get", Value::Nil, s(rng)),
            }
        });
        let m = kv::Kv { initial: kv::as_text(&Value::Nil) };
        prop_assert_eq!(checked("kv", &h), oracle(&m, &h));
    }
}
