//! Synthetic histories recorded from a real sequential object, for benchmarks and tests.
//!
//! Concurrent clients invoke ops; each op takes effect at one random moment between its invoke
//! and its completion, on a real register (or key/value map), and records what that object
//! returned. Such a history is linearizable by construction: the moments are a linearization.
//! Ops chosen to end `info` take effect at a random later moment, or never.

use crate::history::{History, Op, OpType, Process, Value};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;

/// What to generate.
#[derive(Clone, Debug)]
pub struct SynthOptions {
    /// Number of calls (each is two lines: invoke and completion).
    pub calls: usize,
    /// Concurrent clients.
    pub clients: usize,
    /// Keys (1 = a single register).
    pub keys: usize,
    /// Fraction of writes and cas ops that end `info`.
    pub info_rate: f64,
    /// Written values are drawn from `0..values`.
    pub values: i64,
    /// `true`: kv ops (get/put/append with strings); `false`: register ops (read/write/cas).
    pub kv: bool,
    /// Random seed.
    pub seed: u64,
}

#[derive(Clone)]
struct Pending {
    f: &'static str,
    key: String,
    arg: Value,
    result: Option<(OpType, Value)>,
    ends_info: bool,
}

fn apply(state: &mut HashMap<String, Value>, p: &Pending, kv: bool) -> (OpType, Value) {
    let cur = state.get(&p.key).cloned().unwrap_or(if kv {
        Value::Str(String::new())
    } else {
        Value::Nil
    });
    match p.f {
        "read" | "get" => (OpType::Ok, cur),
        "write" | "put" => {
            state.insert(p.key.clone(), p.arg.clone());
            (OpType::Ok, p.arg.clone())
        }
        "append" => {
            let mut s = match cur {
                Value::Str(s) => s,
                _ => String::new(),
            };
            if let Value::Str(a) = &p.arg {
                s.push_str(a);
            }
            state.insert(p.key.clone(), Value::Str(s));
            (OpType::Ok, p.arg.clone())
        }
        _ => {
            let (from, to) = match p.arg.as_list() {
                Some([a, b]) => (a.clone(), b.clone()),
                _ => (Value::Nil, Value::Nil),
            };
            if cur == from {
                state.insert(p.key.clone(), to);
                (OpType::Ok, p.arg.clone())
            } else {
                (OpType::Fail, p.arg.clone())
            }
        }
    }
}

/// Generates a linearizable history as `opts` says.
pub fn history(opts: &SynthOptions) -> History {
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let mut state: HashMap<String, Value> = HashMap::new();
    let mut ops: Vec<Op> = Vec::with_capacity(opts.calls * 2);
    let clients = opts.clients.max(1);
    let mut process: Vec<u64> = (0..clients as u64).collect();
    let mut next_process = clients as u64;
    let mut pending: Vec<Option<Pending>> = vec![None; clients];
    let mut lingering: Vec<Pending> = Vec::new();
    let mut invoked = 0usize;
    let mut time: u64 = 0;
    let mut counter = 0u64;
    let push = |ops: &mut Vec<Op>, time: u64, p: u64, kind, f: &str, key: &str, value| {
        ops.push(Op {
            index: ops.len() as u64,
            time,
            process: Process::Client(p),
            kind,
            f: f.to_string(),
            key: Some(key.to_string()),
            value,
            error: None,
        });
    };
    loop {
        let busy = pending.iter().any(|p| p.is_some());
        if invoked >= opts.calls && !busy {
            break;
        }
        time += 1000;
        if !lingering.is_empty() && rng.gen_bool(0.05) {
            let l = lingering.swap_remove(rng.gen_range(0..lingering.len()));
            if rng.gen_bool(0.5) {
                apply(&mut state, &l, opts.kv);
            }
        }
        let c = rng.gen_range(0..clients);
        let key = format!("k{}", rng.gen_range(0..opts.keys.max(1)));
        match pending[c].take() {
            None if invoked < opts.calls => {
                invoked += 1;
                let roll = rng.gen_range(0..100);
                let (f, arg): (&'static str, Value) = if opts.kv {
                    counter += 1;
                    let text = format!("x{c}.{counter} ");
                    match roll {
                        0..=49 => ("get", Value::Nil),
                        50..=79 => ("append", Value::Str(text)),
                        _ => ("put", Value::Str(text)),
                    }
                } else {
                    let mut v = || Value::Int(rng.gen_range(0..opts.values.max(1)));
                    match roll {
                        0..=49 => ("read", Value::Nil),
                        50..=79 => ("write", v()),
                        _ => ("cas", Value::List(vec![v(), v()])),
                    }
                };
                let ends_info = f != "read" && f != "get" && rng.gen_bool(opts.info_rate);
                push(
                    &mut ops,
                    time,
                    process[c],
                    OpType::Invoke,
                    f,
                    &key,
                    arg.clone(),
                );
                pending[c] = Some(Pending {
                    f,
                    key,
                    arg,
                    result: None,
                    ends_info,
                });
            }
            None => {}
            Some(mut p) if p.ends_info => {
                push(
                    &mut ops,
                    time,
                    process[c],
                    OpType::Info,
                    p.f,
                    &p.key.clone(),
                    p.arg.clone(),
                );
                process[c] = next_process;
                next_process += 1;
                p.ends_info = false;
                lingering.push(p);
            }
            Some(mut p) => match p.result.take() {
                None => {
                    p.result = Some(apply(&mut state, &p, opts.kv));
                    pending[c] = Some(p);
                }
                Some((kind, value)) => {
                    push(&mut ops, time, process[c], kind, p.f, &p.key, value);
                }
            },
        }
    }
    History { header: None, ops }
}
