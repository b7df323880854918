//! The FIFO queue: `enqueue v` and `dequeue` returning the oldest element (nil when empty).
//!
//! Failed ops did not happen. An unknown enqueue is optional. An unknown dequeue, if it took
//! effect, removed the head (whatever it was) or found the queue empty.

use crate::check::model::{CallView, Interner, Model, Outcome};
use crate::check::model_checkers::{erase, DynModel};
use crate::history::Value;
use std::collections::VecDeque;

/// A compiled queue op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueueOp {
    /// Add to the tail.
    Enqueue(u32),
    /// Removed this element from the head (`None`: found the queue empty).
    Dequeue(Option<u32>),
    /// A dequeue with unknown result.
    DequeueUnknown,
}

/// The FIFO queue model.
#[derive(Clone, Copy, Debug, Default)]
pub struct FifoQueue;

impl Model for FifoQueue {
    type State = VecDeque<u32>;
    type Op = QueueOp;

    fn name(&self) -> &'static str {
        "fifo-queue"
    }
    fn init(&self) -> VecDeque<u32> {
        VecDeque::new()
    }
    fn compile(&self, call: &CallView, values: &mut Interner) -> Result<Option<QueueOp>, String> {
        match (call.f, call.outcome) {
            ("enqueue" | "dequeue", Outcome::Fail) => Ok(None),
            ("enqueue", _) => Ok(Some(QueueOp::Enqueue(values.intern(call.input)))),
            ("dequeue", Outcome::Info) => Ok(Some(QueueOp::DequeueUnknown)),
            ("dequeue", Outcome::Ok) => Ok(Some(QueueOp::Dequeue(
                (!call.output.is_nil()).then(|| values.intern(call.output)),
            ))),
            (f, _) => Err(format!(
                "the fifo-queue model has no operation {f:?} (it knows enqueue, dequeue)"
            )),
        }
    }
    fn is_observer(&self, op: &QueueOp) -> bool {
        matches!(op, QueueOp::Dequeue(None))
    }
    fn step(&self, state: &VecDeque<u32>, op: &QueueOp) -> Option<VecDeque<u32>> {
        match op {
            QueueOp::Enqueue(v) => {
                let mut next = state.clone();
                next.push_back(*v);
                Some(next)
            }
            QueueOp::Dequeue(None) => state.is_empty().then(|| state.clone()),
            QueueOp::Dequeue(Some(v)) => (state.front() == Some(v)).then(|| {
                let mut next = state.clone();
                next.pop_front();
                next
            }),
            QueueOp::DequeueUnknown => {
                let mut next = state.clone();
                next.pop_front();
                Some(next)
            }
        }
    }
    fn describe_state(&self, state: &VecDeque<u32>, values: &Interner) -> String {
        let items: Vec<String> = state.iter().map(|v| values.value(*v).to_string()).collect();
        format!("queue [{}]", items.join(" "))
    }
}

/// What the model is, in one line (for `ferrocheck list`).
pub const ABOUT: &str = "a first-in first-out queue: enqueue, dequeue";

/// Builds the model with every key starting at `initial`.
pub fn build(_initial: &Value) -> anyhow::Result<Box<dyn DynModel>> {
    Ok(erase(FifoQueue, Interner::default()))
}
