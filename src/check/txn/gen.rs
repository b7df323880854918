//! Generated list-append histories for the benchmark and the property tests: clients run random
//! transactions against an in-memory database that executes each one atomically at its
//! completion, so every generated history is strict serializable (valid under every model).
//!
//! Keys rotate as in Elle's generator: a fixed number of keys are active, and a key that has
//! taken its maximum number of appends is retired for a fresh one, so reads stay short.

use crate::history::{History, Op, OpType, Process, Value};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenOptions {
    /// Number of transactions.
    pub txns: usize,
    /// Concurrent client processes (1 = a serial history).
    pub processes: usize,
    /// Keys in use at any time.
    pub active_keys: usize,
    /// Appends a key takes before it is retired.
    pub writes_per_key: i64,
    /// Micro-ops per txn, at most (at least 1).
    pub max_mops: usize,
    /// The random seed.
    pub seed: u64,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            txns: 1000,
            processes: 10,
            active_keys: 8,
            writes_per_key: 16,
            max_mops: 4,
            seed: 1,
        }
    }
}

fn mop(f: &str, key: i64, v: Value) -> Value {
    Value::List(vec![Value::Str(f.into()), Value::Int(key), v])
}

/// A strict serializable list-append history.
pub fn list_append(o: &GenOptions) -> History {
    let mut rng = StdRng::seed_from_u64(o.seed);
    let mut db: Vec<Vec<i64>> = Vec::new(); // by key id
    let mut active: Vec<i64> = (0..o.active_keys.max(1) as i64).collect();
    let mut next_elem: Vec<i64> = Vec::new();
    let mut next_key = active.len() as i64;
    // Per process slot: the open txn's invocation (micro-ops) if any, and its process id.
    let procs = o.processes.max(1);
    let mut open: Vec<Option<Vec<(bool, i64, i64)>>> = vec![None; procs];
    let mut ops: Vec<Op> = Vec::with_capacity(o.txns * 2);
    let (mut started, mut done) = (0usize, 0usize);
    let push = |ops: &mut Vec<Op>, p: usize, kind, value| {
        let index = ops.len() as u64;
        ops.push(Op {
            index,
            time: index * 1000,
            process: Process::Client(p as u64),
            kind,
            f: "txn".into(),
            key: None,
            value,
            error: None,
        });
    };
    while done < o.txns {
        let p = rng.gen_range(0..procs);
        match open[p].take() {
            None if started < o.txns => {
                started += 1;
                let n = rng.gen_range(1..=o.max_mops.max(1));
                let mut mops = Vec::with_capacity(n);
                for _ in 0..n {
                    let slot = rng.gen_range(0..active.len());
                    let k = active[slot];
                    if rng.gen_bool(0.5) {
                        mops.push((false, k, 0));
                    } else {
                        let ku = k as usize;
                        if next_elem.len() <= ku {
                            next_elem.resize(ku + 1, 1);
                        }
                        let e = next_elem[ku];
                        next_elem[ku] += 1;
                        if e >= o.writes_per_key {
                            active[slot] = next_key;
                            next_key += 1;
                        }
                        mops.push((true, k, e));
                    }
                }
                let inv = mops
                    .iter()
                    .map(|&(w, k, e)| {
                        if w {
                            mop("append", k, Value::Int(e))
                        } else {
                            mop("r", k, Value::Nil)
                        }
                    })
                    .collect();
                push(&mut ops, p, OpType::Invoke, Value::List(inv));
                open[p] = Some(mops);
            }
            None => {}
            Some(mops) => {
                done += 1;
                let mut out = Vec::with_capacity(mops.len());
                for (w, k, e) in mops {
                    let ku = k as usize;
                    if db.len() <= ku {
                        db.resize(ku + 1, Vec::new());
                    }
                    if w {
                        db[ku].push(e);
                        out.push(mop("append", k, Value::Int(e)));
                    } else {
                        let l = db[ku].iter().map(|&x| Value::Int(x)).collect();
                        out.push(mop("r", k, Value::List(l)));
                    }
                }
                push(&mut ops, p, OpType::Ok, Value::List(out));
            }
        }
    }
    History { header: None, ops }
}
