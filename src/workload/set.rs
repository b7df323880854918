//! The set workload: adds of unique integers to a few grow-only sets, and reads of whole sets.
//!
//! Keys are `set:k0`, `set:k1`, ... (the `set:` prefix tells a target's client to use its set
//! commands: `SADD` and `SMEMBERS`). Each worker adds values no one else adds (its number times
//! a million plus a count), so a read shows exactly which adds it saw. After the main phase, a
//! final read of every set. Checked for linearizability against the `set` model: a read must
//! hold every add acknowledged before it began and none that had not started; a store that
//! loses an acknowledged add (last-writer-wins replicas replacing each other's sets) fails it.

use super::{pick, typed_key, Step, WorkerGen, Workload, WorkloadOptions};
use crate::check::CheckOptions;
use crate::history::Value;
use crate::targets::{Outcome, Request};
use rand::rngs::StdRng;
use rand::Rng;

/// The key prefix naming the data type.
pub const KIND: &str = "set";
/// Adds per read.
const MIX: &[(&str, f64)] = &[("add", 3.0), ("read", 1.0)];

/// Adds and reads over `keys` sets.
pub struct SetWorkload {
    keys: usize,
}

impl SetWorkload {
    /// A set workload over `opts.keys` sets.
    pub fn new(opts: &WorkloadOptions) -> SetWorkload {
        SetWorkload {
            keys: opts.keys.max(1),
        }
    }
}

struct SetGen {
    keys: usize,
    worker: usize,
    added: i64,
}

impl WorkerGen for SetGen {
    fn next(&mut self, rng: &mut StdRng, _last: Option<(&Request, &Outcome)>) -> Step {
        let key = typed_key(KIND, rng.gen_range(0..self.keys));
        let f = pick(rng, MIX);
        let value = match f {
            "add" => {
                self.added += 1;
                Value::Int(self.worker as i64 * 1_000_000 + self.added)
            }
            _ => Value::Nil,
        };
        Step::Request(Request {
            f: f.into(),
            key: Some(key),
            value,
        })
    }
}

impl Workload for SetWorkload {
    fn name(&self) -> &str {
        "set"
    }
    fn model(&self) -> &str {
        "set"
    }
    fn worker(&self, worker: usize) -> Box<dyn WorkerGen> {
        Box::new(SetGen {
            keys: self.keys,
            worker: worker + 1,
            added: 0,
        })
    }
    fn final_requests(&self) -> Vec<Request> {
        (0..self.keys)
            .map(|i| Request {
                f: "read".into(),
                key: Some(typed_key(KIND, i)),
                value: Value::Nil,
            })
            .collect()
    }
    fn checks(&self) -> Vec<CheckOptions> {
        vec![CheckOptions {
            model: Some("set".into()),
            ..Default::default()
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn adds_are_unique_across_workers() {
        let w = SetWorkload::new(&WorkloadOptions::default());
        let mut rng = StdRng::seed_from_u64(3);
        let mut seen = std::collections::HashSet::new();
        let mut reads = 0;
        for worker in 0..3 {
            let mut g = w.worker(worker);
            for _ in 0..200 {
                let Step::Request(r) = g.next(&mut rng, None) else {
                    panic!("set workers never finish on their own");
                };
                assert!(r.key.as_deref().is_some_and(|k| k.starts_with("set:")));
                match r.f.as_str() {
                    "add" => assert!(seen.insert(r.value.clone()), "{} twice", r.value),
                    _ => reads += 1,
                }
            }
        }
        assert!(
            reads > 50 && seen.len() > 300,
            "{reads} reads, {} adds",
            seen.len()
        );
        assert_eq!(w.final_requests().len(), 5);
    }
}
