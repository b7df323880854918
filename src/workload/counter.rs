//! The counter workload: increments by small positive amounts and reads of a few counters.
//!
//! Keys are `counter:k0`, ... (the prefix tells a target's client to use `INCRBY` and to read a
//! missing counter as 0). An `add` carries its amount (1 to 5); a `read` returns the counter.
//! After the main phase, a final read of every counter. Checked for linearizability against
//! the `counter` model: a read must equal the sum of some set of the adds that could have taken
//! effect before it, every add acknowledged before the read began included. A store that loses
//! increments shows reads below any possible sum.

use super::{pick, typed_key, Step, WorkerGen, Workload, WorkloadOptions};
use crate::check::CheckOptions;
use crate::history::Value;
use crate::targets::{Outcome, Request};
use rand::rngs::StdRng;
use rand::Rng;

/// The key prefix naming the data type.
pub const KIND: &str = "counter";
/// Adds per read.
const MIX: &[(&str, f64)] = &[("add", 2.0), ("read", 1.0)];
/// The largest amount one add adds.
const MAX_ADD: i64 = 5;

/// Adds and reads over `keys` counters.
pub struct CounterWorkload {
    keys: usize,
}

impl CounterWorkload {
    /// A counter workload over `opts.keys` counters.
    pub fn new(opts: &WorkloadOptions) -> CounterWorkload {
        CounterWorkload {
            keys: opts.keys.max(1),
        }
    }
}

struct CounterGen {
    keys: usize,
}

impl WorkerGen for CounterGen {
    fn next(&mut self, rng: &mut StdRng, _last: Option<(&Request, &Outcome)>) -> Step {
        let key = typed_key(KIND, rng.gen_range(0..self.keys));
        let f = pick(rng, MIX);
        let value = match f {
            "add" => Value::Int(rng.gen_range(1..=MAX_ADD)),
            _ => Value::Nil,
        };
        Step::Request(Request {
            f: f.into(),
            key: Some(key),
            value,
        })
    }
}

impl Workload for CounterWorkload {
    fn name(&self) -> &str {
        "counter"
    }
    fn model(&self) -> &str {
        "counter"
    }
    fn worker(&self, _worker: usize) -> Box<dyn WorkerGen> {
        Box::new(CounterGen { keys: self.keys })
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
            model: Some("counter".into()),
            ..Default::default()
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn adds_carry_small_positive_amounts() {
        let w = CounterWorkload::new(&WorkloadOptions::default());
        let mut g = w.worker(0);
        let mut rng = StdRng::seed_from_u64(5);
        let mut adds = 0;
        for _ in 0..300 {
            let Step::Request(r) = g.next(&mut rng, None) else {
                panic!("counter workers never finish on their own");
            };
            if r.f == "add" {
                adds += 1;
                assert!(matches!(r.value, Value::Int(1..=MAX_ADD)), "{}", r.value);
            }
        }
        assert!(adds > 150, "{adds}");
    }
}
