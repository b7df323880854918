//! The transactional workloads, `list-append` and `rw-register`, as Elle runs them: each op is a
//! transaction (`f` = `txn`) whose value lists micro-ops, checked by the `txn` checker.
//!
//! - `list-append`: `["append", k, v]` and `["r", k, nil]` (the completion fills in the list
//!   read); the order of a list shows each key's version order, so inference is exact.
//! - `rw-register`: `["w", k, v]` and `["r", k, nil]`; weaker inference (version order only
//!   from a txn that read a value and then wrote another).
//!
//! Values written are unique per key (a counter per key shared by all workers). Keys are
//! integers; `--keys` of them are active at a time, and a key retires after
//! [`MAX_WRITES_PER_KEY`] writes, replaced by a fresh one, so lists stay short and reads cheap
//! while every key still sees contention. Half the transactions are Elle's random mix (1 to 4
//! micro-ops, reads and writes alike); the other half read two keys and write one of them, the
//! shape that exposes write skew (G2-item) under snapshot isolation and read skew (G-single)
//! under read committed.

use super::{Step, WorkerGen, Workload, WorkloadOptions};
use crate::check::CheckOptions;
use crate::history::Value;
use crate::targets::{Outcome, Request};
use rand::rngs::StdRng;
use rand::Rng;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Writes a key takes before it retires and a fresh key takes its place.
pub const MAX_WRITES_PER_KEY: u32 = 64;
/// The longest random transaction, in micro-ops (Elle's default).
pub const MAX_TXN_LENGTH: usize = 4;

/// Which of the two transactional workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnKind {
    /// Appends to lists, reads of whole lists.
    ListAppend,
    /// Blind writes to registers, reads of registers.
    RwRegister,
}

impl TxnKind {
    /// The workload's (and the checker model's) name.
    pub fn name(self) -> &'static str {
        match self {
            TxnKind::ListAppend => "list-append",
            TxnKind::RwRegister => "rw-register",
        }
    }

    /// The micro-op function that writes: `append` or `w`.
    pub fn write_f(self) -> &'static str {
        match self {
            TxnKind::ListAppend => "append",
            TxnKind::RwRegister => "w",
        }
    }
}

/// The keys in use and the next value of each, shared by every worker of a run.
#[derive(Debug, Default)]
struct KeyPool {
    active: Vec<i64>,
    next_key: i64,
    writes: HashMap<i64, u32>,
    next_value: HashMap<i64, i64>,
}

impl KeyPool {
    fn new(keys: usize) -> KeyPool {
        let keys = keys.max(1) as i64;
        KeyPool {
            active: (0..keys).collect(),
            next_key: keys,
            ..KeyPool::default()
        }
    }

    /// The next unique value for active key number `slot`, retiring the key once it has taken
    /// [`MAX_WRITES_PER_KEY`] writes.
    fn write(&mut self, slot: usize) -> (i64, i64) {
        let key = self.active[slot];
        let v = self.next_value.entry(key).or_insert(0);
        *v += 1;
        let value = *v;
        let n = self.writes.entry(key).or_insert(0);
        *n += 1;
        if *n >= MAX_WRITES_PER_KEY {
            self.writes.remove(&key);
            self.next_value.remove(&key);
            self.active[slot] = self.next_key;
            self.next_key += 1;
        }
        (key, value)
    }
}

/// A transactional workload over `keys` active keys.
pub struct TxnWorkload {
    kind: TxnKind,
    pool: Arc<Mutex<KeyPool>>,
}

impl TxnWorkload {
    /// A `kind` workload over `opts.keys` active keys.
    pub fn new(kind: TxnKind, opts: &WorkloadOptions) -> TxnWorkload {
        TxnWorkload {
            kind,
            pool: Arc::new(Mutex::new(KeyPool::new(opts.keys))),
        }
    }
}

/// One micro-op as a history value: `[f, k, v]`.
pub fn mop(f: &str, key: i64, value: Value) -> Value {
    Value::List(vec![Value::Str(f.into()), Value::Int(key), value])
}

struct TxnGen {
    kind: TxnKind,
    pool: Arc<Mutex<KeyPool>>,
}

impl TxnGen {
    /// A random transaction: Elle's mix, or read two keys and write one of them.
    fn txn(&self, rng: &mut StdRng) -> Vec<Value> {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        let slots = pool.active.len();
        let mut mops = Vec::new();
        let write_f = self.kind.write_f();
        if rng.gen_bool(0.5) && slots >= 2 {
            let a = rng.gen_range(0..slots);
            let b = (a + rng.gen_range(1..slots)) % slots;
            mops.push(mop("r", pool.active[a], Value::Nil));
            mops.push(mop("r", pool.active[b], Value::Nil));
            let (k, v) = pool.write(if rng.gen_bool(0.5) { a } else { b });
            mops.push(mop(write_f, k, Value::Int(v)));
        } else {
            for _ in 0..rng.gen_range(1..=MAX_TXN_LENGTH) {
                let slot = rng.gen_range(0..slots);
                if rng.gen_bool(0.5) {
                    mops.push(mop("r", pool.active[slot], Value::Nil));
                } else {
                    let (k, v) = pool.write(slot);
                    mops.push(mop(write_f, k, Value::Int(v)));
                }
            }
        }
        mops
    }
}

impl WorkerGen for TxnGen {
    fn next(&mut self, rng: &mut StdRng, _last: Option<(&Request, &Outcome)>) -> Step {
        Step::Request(Request {
            f: "txn".into(),
            key: None,
            value: Value::List(self.txn(rng)),
        })
    }
}

impl Workload for TxnWorkload {
    fn name(&self) -> &str {
        self.kind.name()
    }
    fn model(&self) -> &str {
        self.kind.name()
    }
    fn worker(&self, _worker: usize) -> Box<dyn WorkerGen> {
        Box::new(TxnGen {
            kind: self.kind,
            pool: self.pool.clone(),
        })
    }
    fn checks(&self) -> Vec<CheckOptions> {
        vec![CheckOptions {
            model: Some(self.kind.name().into()),
            ..Default::default()
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::{BTreeMap, BTreeSet};

    fn mops(step: Step) -> Vec<(String, i64, Value)> {
        let Step::Request(r) = step else {
            panic!("txn workers never finish on their own")
        };
        assert_eq!((r.f.as_str(), r.key.as_ref()), ("txn", None));
        r.value
            .as_list()
            .unwrap()
            .iter()
            .map(|m| match m.as_list().unwrap() {
                [Value::Str(f), Value::Int(k), v] => (f.clone(), *k, v.clone()),
                other => panic!("not a micro-op: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn written_values_are_unique_per_key_across_workers_and_keys_rotate() {
        let w = TxnWorkload::new(
            TxnKind::ListAppend,
            &WorkloadOptions {
                keys: 3,
                ..Default::default()
            },
        );
        let mut gens = [w.worker(0), w.worker(1)];
        let mut rng = StdRng::seed_from_u64(3);
        let mut seen: BTreeMap<i64, BTreeSet<i64>> = BTreeMap::new();
        let mut fs = BTreeMap::new();
        let mut lengths = BTreeSet::new();
        for i in 0..2000 {
            let txn = mops(gens[i % 2].next(&mut rng, None));
            lengths.insert(txn.len());
            for (f, k, v) in txn {
                *fs.entry(f.clone()).or_insert(0) += 1;
                match f.as_str() {
                    "append" => assert!(
                        seen.entry(k).or_default().insert(v.as_int().unwrap()),
                        "value {v} written twice to key {k}"
                    ),
                    "r" => assert_eq!(v, Value::Nil),
                    other => panic!("unexpected micro-op {other}"),
                }
            }
        }
        assert!(seen.len() > 3, "keys retire and fresh ones take over");
        assert!(seen
            .values()
            .all(|s| s.len() <= MAX_WRITES_PER_KEY as usize));
        assert_eq!(lengths, (1..=MAX_TXN_LENGTH).collect());
        assert!(fs["r"] > 0 && fs["append"] > 0, "{fs:?}");
        assert_eq!(w.checks()[0].model.as_deref(), Some("list-append"));
    }

    #[test]
    fn rw_register_writes_with_w() {
        let w = TxnWorkload::new(TxnKind::RwRegister, &WorkloadOptions::default());
        let mut g = w.worker(0);
        let mut rng = StdRng::seed_from_u64(1);
        let fs: BTreeSet<String> = (0..100)
            .flat_map(|_| mops(g.next(&mut rng, None)))
            .map(|(f, _, _)| f)
            .collect();
        assert_eq!(fs, ["r".to_string(), "w".to_string()].into());
        assert_eq!(w.model(), "rw-register");
    }
}
