//! The `lock` workload: clients take a lock, read the resource it protects, append their own
//! element, write the resource back and release, over and over.
//!
//! Each worker appends elements unique to it (`worker * 1_000_000 + n`), so the final read says
//! exactly which acknowledged writes survived. The history is checked by `check::lock`: mutual
//! exclusion of the clients' believed-held intervals, and no lost updates (`lock`, or
//! `fenced-lock` when the lock hands out fencing tokens and the resource checks them).

use crate::check::CheckOptions;
use crate::history::Value;
use crate::targets::{Outcome, Request};
use crate::workload::{Step, WorkerGen, Workload};
use rand::rngs::StdRng;

/// The lock workload.
#[derive(Clone, Debug, Default)]
pub struct LockWorkload {
    /// Whether the target runs with fencing tokens (changes the check, not the ops). When false
    /// the model is `lock`, whose check still treats the run as fenced if every acquire returned
    /// an integer token.
    pub fencing: bool,
}

impl LockWorkload {
    /// The workload for a target with or without fencing.
    pub fn new(fencing: bool) -> Self {
        LockWorkload { fencing }
    }
}

fn request(f: &str, value: Value) -> Request {
    Request {
        f: f.to_string(),
        key: None,
        value,
    }
}

/// One worker's cycle: acquire → read → write (read + own element) → release → acquire ...
#[derive(Clone, Debug)]
pub struct LockGen {
    worker: usize,
    written: i64,
}

impl LockGen {
    /// The generator for worker number `worker`.
    pub fn new(worker: usize) -> Self {
        LockGen { worker, written: 0 }
    }

    fn next_element(&mut self) -> Value {
        self.written += 1;
        Value::Int(self.worker as i64 * 1_000_000 + self.written)
    }
}

impl WorkerGen for LockGen {
    fn next(&mut self, _rng: &mut StdRng, last: Option<(&Request, &Outcome)>) -> Step {
        let Some((req, outcome)) = last else {
            return Step::Request(request("acquire", Value::Nil));
        };
        Step::Request(match (req.f.as_str(), outcome) {
            ("acquire", Outcome::Ok(_)) => request("read", Value::Nil),
            ("acquire", _) => request("acquire", Value::Nil),
            ("read", Outcome::Ok(list)) => {
                let mut items = list.as_list().map(<[Value]>::to_vec).unwrap_or_default();
                items.push(self.next_element());
                request("write", Value::List(items))
            }
            // A refused or unknown access, or a finished write: let go and start over.
            ("read", _) | ("write", _) => request("release", Value::Nil),
            _ => request("acquire", Value::Nil),
        })
    }

    fn finish(&mut self, last: Option<(&Request, &Outcome)>) -> Step {
        match last {
            // Holding: let go without more work.
            // After an `info` the process was retired: the fresh client holds nothing.
            Some((req, outcome))
                if !matches!(outcome, Outcome::Info(_))
                    && (matches!(req.f.as_str(), "read" | "write")
                        || (req.f == "acquire" && matches!(outcome, Outcome::Ok(_)))) =>
            {
                Step::Request(request("release", Value::Nil))
            }
            _ => Step::Done,
        }
    }
}

impl Workload for LockWorkload {
    fn name(&self) -> &str {
        "lock"
    }

    fn model(&self) -> &str {
        if self.fencing {
            "fenced-lock"
        } else {
            "lock"
        }
    }

    fn worker(&self, worker: usize) -> Box<dyn WorkerGen> {
        Box::new(LockGen::new(worker))
    }

    fn final_requests(&self) -> Vec<Request> {
        vec![request("final-read", Value::Nil)]
    }

    fn checks(&self) -> Vec<CheckOptions> {
        vec![CheckOptions {
            model: Some(self.model().to_string()),
            ..Default::default()
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::FailReason;
    use rand::SeedableRng;

    #[test]
    fn at_the_time_limit_a_holder_releases_and_nobody_else_does_anything() {
        let mut g = LockGen::new(0);
        let acquire = request("acquire", Value::Nil);
        let read = request("read", Value::Nil);
        let write = request("write", Value::List(vec![]));
        let release = request("release", Value::Nil);
        let ok = Outcome::Ok(Value::Int(1));
        let refused = Outcome::Fail(FailReason::Refused("held".into()));
        let unknown = Outcome::Info("timed out".into());
        let finish = |g: &mut LockGen, r: &Request, o: &Outcome| match g.finish(Some((r, o))) {
            Step::Request(r) => Some(r.f),
            Step::Done => None,
        };
        // Holding: after an acquire ok, a read, or a write, the worker lets go.
        assert_eq!(finish(&mut g, &acquire, &ok).as_deref(), Some("release"));
        assert_eq!(finish(&mut g, &read, &ok).as_deref(), Some("release"));
        assert_eq!(finish(&mut g, &read, &refused).as_deref(), Some("release"));
        assert_eq!(finish(&mut g, &write, &ok).as_deref(), Some("release"));
        // Not holding, or retired by an unknown outcome (the fresh client holds nothing).
        assert_eq!(finish(&mut g, &acquire, &refused), None);
        assert_eq!(finish(&mut g, &write, &unknown), None);
        assert_eq!(finish(&mut g, &release, &ok), None);
        assert_eq!(g.finish(None), Step::Done);
    }

    #[test]
    fn a_worker_cycles_acquire_read_write_release() {
        let mut g = LockGen::new(3);
        let mut rng = StdRng::seed_from_u64(1);
        let Step::Request(a) = g.next(&mut rng, None) else {
            panic!()
        };
        assert_eq!(a.f, "acquire");
        let fail = Outcome::Fail(FailReason::Refused("held".into()));
        let Step::Request(a2) = g.next(&mut rng, Some((&a, &fail))) else {
            panic!()
        };
        assert_eq!(a2.f, "acquire");
        let Step::Request(r) = g.next(&mut rng, Some((&a2, &Outcome::Ok(Value::Int(1))))) else {
            panic!()
        };
        assert_eq!(r.f, "read");
        let read = Outcome::Ok(Value::List(vec![Value::Int(7)]));
        let Step::Request(w) = g.next(&mut rng, Some((&r, &read))) else {
            panic!()
        };
        assert_eq!(w.f, "write");
        assert_eq!(
            w.value,
            Value::List(vec![Value::Int(7), Value::Int(3_000_001)])
        );
        let Step::Request(rel) = g.next(&mut rng, Some((&w, &Outcome::Ok(w.value.clone())))) else {
            panic!()
        };
        assert_eq!(rel.f, "release");
        let Step::Request(again) = g.next(&mut rng, Some((&rel, &Outcome::Ok(Value::Nil)))) else {
            panic!()
        };
        assert_eq!(again.f, "acquire");
        let w = LockWorkload::new(true);
        assert_eq!(w.model(), "fenced-lock");
        assert_eq!(w.final_requests()[0].f, "final-read");
    }
}
