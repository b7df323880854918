//! The register workload: reads, writes and compare-and-sets over a few independent keys.
//!
//! Each key is a cas-register holding a small integer (small, so that cas ops often match and the
//! checker sees real contention). Every history it makes is checked for linearizability against
//! the `cas-register` model, key by key, and for acknowledged writes the final reads show were
//! lost (`lost-updates`). A workload file changes the op mix (`[mix]`) and the values written
//! (`values = [min, max]`, or `"unique"`: each write a value never written before, and a cas
//! expects the value its worker last saw on that key).

use super::file::Values as Written;
use super::{Step, WorkerGen, Workload, WorkloadOptions};
use crate::check::CheckOptions;
use crate::history::Value;
use crate::targets::{Outcome, Request};
use rand::rngs::StdRng;
use rand::Rng;

/// Values written are drawn from `0..VALUES` unless a workload file says otherwise.
const VALUES: i64 = 5;
/// The ops and their weights unless a workload file says otherwise.
const MIX: &[(&str, f64)] = &[("read", 2.0), ("write", 1.0), ("cas", 1.0)];

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
    mix: Vec<(String, f64)>,
    values: Written,
}

impl Register {
    /// A register workload over `opts.keys` keys, with the mix and values of `opts.file`.
    pub fn new(opts: &WorkloadOptions) -> Register {
        let file = opts.file.as_deref();
        let mut mix: Vec<(String, f64)> = match file.filter(|f| !f.mix.is_empty()) {
            Some(f) => f.mix.clone(),
            None => MIX.iter().map(|(f, w)| (f.to_string(), *w)).collect(),
        };
        // `--values unique`: reads and writes of values written once each (no cas), so each
        // read names the one write it read from (the causal checks need that).
        let unique = opts.values == Values::Unique;
        if unique {
            mix.retain(|(f, _)| f != "cas");
        }
        Register {
            keys: opts.keys.max(1),
            mix,
            values: match unique {
                true => Written::Unique,
                false => file
                    .and_then(|f| f.values.clone())
                    .unwrap_or(Written::Range(0, VALUES - 1)),
            },
        }
    }
}

/// The name of key number `i`.
pub fn key_name(i: usize) -> String {
    format!("k{i}")
}

struct RegisterGen {
    keys: usize,
    mix: Vec<(String, f64)>,
    values: Written,
    /// Unique values: this worker's number and how many it has written.
    worker: usize,
    written: i64,
    /// Unique values: the value this worker last saw on each key (the `from` of its cas).
    seen: std::collections::HashMap<String, Value>,
}

impl RegisterGen {
    fn value(&mut self, rng: &mut StdRng) -> Value {
        match self.values {
            Written::Range(lo, hi) => Value::Int(rng.gen_range(lo..=hi)),
            Written::Unique => {
                self.written += 1;
                Value::Int(self.worker as i64 * 1_000_000 + self.written)
            }
        }
    }

    fn expected(&mut self, rng: &mut StdRng, key: &str) -> Value {
        match self.values {
            Written::Range(..) => self.value(rng),
            Written::Unique => self.seen.get(key).cloned().unwrap_or(Value::Nil),
        }
    }
}

impl WorkerGen for RegisterGen {
    fn next(&mut self, rng: &mut StdRng, last: Option<(&Request, &Outcome)>) -> Step {
        if let Some((req, Outcome::Ok(v))) = last {
            let seen = if req.f == "read" {
                v.clone()
            } else {
                req.value.clone()
            };
            let seen = match seen.as_list() {
                Some([_, to]) => to.clone(),
                _ => seen,
            };
            if let Some(k) = &req.key {
                self.seen.insert(k.clone(), seen);
            }
        }
        let key = key_name(rng.gen_range(0..self.keys));
        let total: f64 = self.mix.iter().map(|(_, w)| w).sum();
        let mut roll = rng.gen_range(0.0..total.max(f64::MIN_POSITIVE));
        let mut f = self.mix[0].0.clone();
        for (op, w) in &self.mix {
            if roll < *w {
                f = op.clone();
                break;
            }
            roll -= w;
        }
        let value = match f.as_str() {
            "write" => self.value(rng),
            "cas" => {
                let from = self.expected(rng, &key);
                Value::List(vec![from, self.value(rng)])
            }
            _ => Value::Nil,
        };
        Step::Request(Request {
            f,
            key: Some(key),
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
            mix: self.mix.clone(),
            values: self.values.clone(),
            worker: worker + 1,
            written: 0,
            seen: Default::default(),
        })
    }
    fn ops(&self) -> Vec<&str> {
        vec!["read", "write", "cas"]
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
