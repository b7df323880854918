//! Workloads: which ops the clients perform, on which keys, and how the result is checked.
//!
//! A [`Workload`] hands each client worker its own [`WorkerGen`], a small state machine that
//! yields the next [`Request`] given how the previous one ended (a lock worker goes acquire →
//! read → write → release). The controller adds rate, concurrency and the time limit.

pub mod lock;

use crate::check::CheckOptions;
use crate::target::{Outcome, Request};
use rand::rngs::StdRng;

/// What a worker should do next.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Perform this request.
    Request(Request),
    /// Nothing more from this worker.
    Done,
}

/// One client worker's op generator. Workers are numbered `0..concurrency` and keep their number
/// when their process id is retired after an `info`.
pub trait WorkerGen: Send {
    /// The next request, given the previous request and how it ended (`None` at the start).
    fn next(&mut self, rng: &mut StdRng, last: Option<(&Request, &Outcome)>) -> Step;
}

/// A workload: generators for the main phase, requests for the final phase, and the checks.
pub trait Workload: Send + Sync {
    /// Registry name, e.g. `register`.
    fn name(&self) -> &str;
    /// The model its histories are checked against, written into the history header.
    fn model(&self) -> &str;
    /// A generator for worker `worker`.
    fn worker(&self, worker: usize) -> Box<dyn WorkerGen>;
    /// Requests to perform once, after faults are healed (e.g. a read of every key).
    fn final_requests(&self) -> Vec<Request> {
        Vec::new()
    }
    /// The checks to run on the history.
    fn checks(&self) -> Vec<CheckOptions>;
}
