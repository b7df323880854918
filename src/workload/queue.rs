//! The queue workload: enqueues of unique integers and dequeues on a few FIFO queues, drained
//! at the end.
//!
//! Keys are `queue:k0`, ... (the prefix tells a target's client to use `LPUSH` to enqueue and
//! `RPOP` to dequeue: push at the head, pop at the tail, first in first out). A dequeue returns
//! the element it took, or nil when the queue was empty. Values are unique (worker number times
//! a million plus a count). The workers count what they may have left in each queue; after the
//! main phase a final process dequeues that many times plus one per queue, so every queue is
//! drained and each element's fate is in the history.
//!
//! Checked for linearizability against `fifo-queue` (dequeues in enqueue order, nothing lost,
//! nothing twice) and against `unordered-queue` (nothing lost or duplicated, order aside), so a
//! store that reorders but keeps every element fails only the first.

use super::{pick, typed_key, Step, WorkerGen, Workload, WorkloadOptions};
use crate::check::CheckOptions;
use crate::history::Value;
use crate::targets::{Outcome, Request};
use rand::rngs::StdRng;
use rand::Rng;
use std::sync::{Arc, Mutex};

/// The key prefix naming the data type.
pub const KIND: &str = "queue";
/// Enqueues per dequeue.
const MIX: &[(&str, f64)] = &[("enqueue", 1.0), ("dequeue", 1.0)];

/// Enqueues and dequeues over `keys` queues.
pub struct QueueWorkload {
    keys: usize,
    /// Per queue: enqueues that may have taken effect minus elements dequeued, an upper bound
    /// on what is left, shared by every worker.
    left: Arc<Mutex<Vec<i64>>>,
}

impl QueueWorkload {
    /// A queue workload over `opts.keys` queues.
    pub fn new(opts: &WorkloadOptions) -> QueueWorkload {
        let keys = opts.keys.max(1);
        QueueWorkload {
            keys,
            left: Arc::new(Mutex::new(vec![0; keys])),
        }
    }
}

/// The queue number of a key `queue:kN`.
fn queue_number(key: Option<&str>) -> Option<usize> {
    key?.strip_prefix("queue:k")?.parse().ok()
}

struct QueueGen {
    keys: usize,
    worker: usize,
    enqueued: i64,
    left: Arc<Mutex<Vec<i64>>>,
}

impl QueueGen {
    /// Counts how the last op changed what may be left in its queue.
    fn account(&self, last: Option<(&Request, &Outcome)>) {
        let Some((req, outcome)) = last else { return };
        let Some(q) = queue_number(req.key.as_deref()) else {
            return;
        };
        let change = match (req.f.as_str(), outcome) {
            // Counted when it was sent; it certainly did not happen.
            ("enqueue", Outcome::Fail(_)) => -1,
            ("dequeue", Outcome::Ok(v)) if !v.is_nil() => -1,
            _ => 0,
        };
        if let Ok(mut left) = self.left.lock() {
            if let Some(n) = left.get_mut(q) {
                *n += change;
            }
        }
    }
}

impl WorkerGen for QueueGen {
    fn next(&mut self, rng: &mut StdRng, last: Option<(&Request, &Outcome)>) -> Step {
        self.account(last);
        let q = rng.gen_range(0..self.keys);
        let f = pick(rng, MIX);
        let value = match f {
            "enqueue" => {
                self.enqueued += 1;
                if let Ok(mut left) = self.left.lock() {
                    left[q] += 1;
                }
                Value::Int(self.worker as i64 * 1_000_000 + self.enqueued)
            }
            _ => Value::Nil,
        };
        Step::Request(Request {
            f: f.into(),
            key: Some(typed_key(KIND, q)),
            value,
        })
    }

    fn finish(&mut self, last: Option<(&Request, &Outcome)>) -> Step {
        // The last op's outcome, so the drain does not ask for more than may be left.
        self.account(last);
        Step::Done
    }
}

impl Workload for QueueWorkload {
    fn name(&self) -> &str {
        "queue"
    }
    fn model(&self) -> &str {
        "fifo-queue"
    }
    fn worker(&self, worker: usize) -> Box<dyn WorkerGen> {
        Box::new(QueueGen {
            keys: self.keys,
            worker: worker + 1,
            enqueued: 0,
            left: self.left.clone(),
        })
    }
    fn ops(&self) -> Vec<&str> {
        vec!["enqueue", "dequeue"]
    }
    /// The drain: as many dequeues per queue as may be left in it, and one more to see it empty.
    fn final_requests(&self) -> Vec<Request> {
        let left = self.left.lock().map(|l| l.clone()).unwrap_or_default();
        let mut out = Vec::new();
        for (q, n) in left.iter().enumerate() {
            for _ in 0..n.max(&0) + 1 {
                out.push(Request {
                    f: "dequeue".into(),
                    key: Some(typed_key(KIND, q)),
                    value: Value::Nil,
                });
            }
        }
        out
    }
    fn checks(&self) -> Vec<CheckOptions> {
        ["fifo-queue", "unordered-queue"]
            .into_iter()
            .map(|m| CheckOptions {
                model: Some(m.into()),
                ..Default::default()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_drain_covers_what_may_be_left() {
        let w = QueueWorkload::new(&WorkloadOptions {
            keys: 2,
            ..Default::default()
        });
        let mut g = w.worker(0);
        let mut rng = StdRng::seed_from_u64(9);
        let mut last: Option<(Request, Outcome)> = None;
        let mut enqueued = [0i64; 2];
        for _ in 0..100 {
            let Step::Request(r) = g.next(&mut rng, last.as_ref().map(|(r, o)| (r, o))) else {
                panic!("queue workers never finish on their own");
            };
            let q = queue_number(r.key.as_deref()).unwrap();
            // Every enqueue succeeds; every dequeue finds the queue empty.
            let outcome = match r.f.as_str() {
                "enqueue" => {
                    enqueued[q] += 1;
                    Outcome::Ok(r.value.clone())
                }
                _ => Outcome::Ok(Value::Nil),
            };
            last = Some((r, outcome));
        }
        assert_eq!(g.finish(last.as_ref().map(|(r, o)| (r, o))), Step::Done);
        let drain = w.final_requests();
        assert_eq!(drain.len() as i64, enqueued[0] + enqueued[1] + 2);
        assert!(drain.iter().all(|r| r.f == "dequeue"));
    }
}
