//! The register workload: reads, writes and compare-and-sets over a few independent keys.
//!
//! Each key is a cas-register holding a small integer (small, so that cas ops often match and the
//! checker sees real contention). Every history it makes is checked for linearizability against
//! the `cas-register` model, key by key, and for acknowledged writes the final reads show were
//! lost (`lost-updates`).
//!
//! With `--values unique` ([`Values::Unique`]) the workload reads and writes only (no cas), and
//! every write writes a value no other write wrote (worker `w`'s `n`-th write writes
//! `w * 1_000_000 + n`): each read then names the one write it read from, which the causal
//! checks need and which makes the sequential search far cheaper.

use super::{Step, WorkerGen, Workload, WorkloadOptions};
use crate::check::CheckOptions;
use crate::history::Value;
use crate::targets::{Outcome, Request};
use rand::rngs::StdRng;
use rand::Rng;

/// Values written are drawn from `0..VALUES`.
const VALUES: i64 = 5;

/// Which values writes write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Values {
    /// Small integers, often repeated, with cas ops: real contention for linearizability.
    #[default]
    Small,
    /// Reads and writes only, every written value unique: causal and sequential checks apply.
    Unique,
}

impl std::str::FromStr for Values {
    type Err = String;
    fn from_str(s: &str) -> Result<Values, String> {
        match s {
            "small" => Ok(Values::Small),
            "unique" => Ok(Values::Unique),
            other => Err(format!(
                "unknown --values {other:?}: use small (the default: a few values, with cas) or \
                 unique (reads and writes of unique values, for the causal checks)"
            )),
        }
    }
}

/// Read / write / cas over `keys` independent registers.
pub struct Register {
    keys: usize,
    values: Values,
}

impl Register {
    /// A register workload over `opts.keys` keys.
    pub fn new(opts: &WorkloadOptions) -> Register {
        Register {
            keys: opts.keys.max(1),
            values: opts.values,
        }
    }
}

/// The name of key number `i`.
pub fn key_name(i: usize) -> String {
    format!("k{i}")
}

struct RegisterGen {
    keys: usize,
    /// `Some((worker, writes so far))` when every written value must be unique.
    unique: Option<(usize, i64)>,
}

impl WorkerGen for RegisterGen {
    fn next(&mut self, rng: &mut StdRng, _last: Option<(&Request, &Outcome)>) -> Step {
        let key = Some(key_name(rng.gen_range(0..self.keys)));
        if let Some((worker, written)) = &mut self.unique {
            let (f, value) = if rng.gen_bool(0.5) {
                ("read", Value::Nil)
            } else {
                *written += 1;
                ("write", Value::Int(*worker as i64 * 1_000_000 + *written))
            };
            return Step::Request(Request {
                f: f.to_owned(),
                key,
                value,
            });
        }
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
    fn worker(&self, worker: usize) -> Box<dyn WorkerGen> {
        Box::new(RegisterGen {
            keys: self.keys,
            unique: (self.values == Values::Unique).then_some((worker, 0)),
        })
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

    #[test]
    fn unique_values_are_never_written_twice_and_there_is_no_cas() {
        let w = Register::new(&WorkloadOptions {
            keys: 2,
            values: Values::Unique,
            ..Default::default()
        });
        let mut seen = std::collections::BTreeSet::new();
        for worker in 0..3 {
            let mut g = w.worker(worker);
            let mut rng = StdRng::seed_from_u64(worker as u64);
            for _ in 0..300 {
                let Step::Request(r) = g.next(&mut rng, None) else {
                    panic!("register workers never finish on their own");
                };
                assert_ne!(r.f, "cas");
                if r.f == "write" {
                    assert!(seen.insert(r.value.clone()), "{} written twice", r.value);
                }
            }
        }
        assert!(seen.len() > 300, "{}", seen.len());
        assert_eq!("unique".parse::<Values>(), Ok(Values::Unique));
        assert!("many".parse::<Values>().unwrap_err().contains("unique"));
    }
}
