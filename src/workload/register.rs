//! The register workload: reads, writes and compare-and-sets over a few independent keys.
//!
//! Each key is a cas-register holding a small integer (small, so that cas ops often match and the
//! checker sees real contention). Every history it makes is checked for linearizability against
//! the `cas-register` model, key by key, and for acknowledged writes the final reads show were
//! lost (`lost-updates`).

use super::{Step, WorkerGen, Workload, WorkloadOptions};
use crate::check::CheckOptions;
use crate::history::Value;
use crate::targets::{Outcome, Request};
use rand::rngs::StdRng;
use rand::Rng;

/// Values written are drawn from `0..VALUES`.
const VALUES: i64 = 5;

/// Read / write / cas over `keys` independent registers.
pub struct Register {
    keys: usize,
}

impl Register {
    /// A register workload over `opts.keys` keys.
    pub fn new(opts: &WorkloadOptions) -> Register {
        Register {
            keys: opts.keys.max(1),
        }
    }
}

/// The name of key number `i`.
pub fn key_name(i: usize) -> String {
    format!("k{i}")
}

struct RegisterGen {
    keys: usize,
}

impl WorkerGen for RegisterGen {
    fn next(&mut self, rng: &mut StdRng, _last: Option<(&Request, &Outcome)>) -> Step {
        let key = Some(key_name(rng.gen_range(0..self.keys)));
        let roll = rng.gen_range(0..4);
        let (f, value) = match roll {
            0 | 1 => ("read", Value::Nil),
            2 => ("write", Value::Int(rng.gen_range(0..VALUES))),
            _ => (
                "cas",
                Value::List(vec![
                    Value::Int(rng.gen_range(0..VALUES)),
                    Value::Int(rng.gen_range(0..VALUES)),
                ]),
            ),
        };
        Step::Request(Request {
            f: f.to_owned(),
            key,
            value,
        })
    }
}

impl Workload for Register {
    fn name(&self) -> &str {
        "register"
    }
    fn model(&self) -> &str {
        "cas-register"
    }
    fn worker(&self, _worker: usize) -> Box<dyn WorkerGen> {
        Box::new(RegisterGen { keys: self.keys })
    }
    fn final_requests(&self) -> Vec<Request> {
        (0..self.keys)
            .map(|i| Request {
                f: "read".into(),
                key: Some(key_name(i)),
                value: Value::Nil,
            })
            .collect()
    }
    fn checks(&self) -> Vec<CheckOptions> {
        vec![
            CheckOptions {
                model: Some("cas-register".into()),
                ..Default::default()
            },
            CheckOptions {
                model: Some(crate::check::lost_updates::NAME.into()),
                ..Default::default()
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn generates_a_seeded_mix_over_the_keys() {
        let w = Register::new(&WorkloadOptions {
            keys: 3,
            ..Default::default()
        });
        let mut g = w.worker(0);
        let mut rng = StdRng::seed_from_u64(7);
        let mut fs = std::collections::BTreeMap::new();
        let mut keys = std::collections::BTreeSet::new();
        for _ in 0..400 {
            match g.next(&mut rng, None) {
                Step::Request(r) => {
                    *fs.entry(r.f.clone()).or_insert(0) += 1;
                    keys.insert(r.key.clone().unwrap());
                    if r.f == "cas" {
                        assert_eq!(r.value.as_list().map(|l| l.len()), Some(2));
                    }
                }
                Step::Done => panic!("register workers never finish on their own"),
            }
        }
        assert_eq!(fs.len(), 3, "{fs:?}");
        assert!(fs["read"] > fs["write"], "{fs:?}");
        assert_eq!(keys.len(), 3);
        assert_eq!(w.final_requests().len(), 3);
    }
}
