//! The unordered queue: `enqueue v` and `dequeue` returning any element (nil when empty).
//!
//! Failed ops did not happen. An unknown enqueue is optional. An unknown dequeue, if it took
//! effect, removed some element (or found the queue empty). Which element cannot be left to
//! chance in a deterministic step, so the model relies on enqueued values being unique (checked
//! before the search, see [`check_unique`]): then an unknown dequeue can only have removed an
//! element that no acknowledged dequeue returns later (else that dequeue would fail), and all
//! such "unobserved" elements are interchangeable, since nothing ever tells them apart except
//! the queue being empty or not. [`UnorderedQueue::prepare`] merges them into one marker value
//! and the state counts them.

use crate::check::model::{CallView, Interner, Model, Outcome};
use crate::check::model_checkers::{erase_with, DynModel};
use crate::history::Value;
use crate::history::{History, OpType};
use std::collections::HashSet;

/// The marker for elements no acknowledged dequeue returns.
const UNOBSERVED: u32 = u32::MAX;

/// A compiled unordered-queue op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UQueueOp {
    /// Add an element.
    Enqueue(u32),
    /// Removed this element (`None`: found the queue empty).
    Dequeue(Option<u32>),
    /// A dequeue with unknown result.
    DequeueUnknown,
}

/// The state: the observed elements (sorted, with repeats) and how many unobserved ones.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Bag {
    items: Vec<u32>,
    unobserved: u32,
}

/// The unordered-queue model.
#[derive(Clone, Copy, Debug, Default)]
pub struct UnorderedQueue;

/// Errors unless every enqueued value is unique, which the model needs when some dequeue has
/// an unknown outcome.
pub fn check_unique(history: &History) -> anyhow::Result<()> {
    let calls = history.calls();
    let unknown_dequeue = calls.iter().any(|c| {
        history.ops[c.invoke].f == "dequeue"
            && c.complete
                .is_none_or(|i| history.ops[i].kind == OpType::Info)
    });
    if !unknown_dequeue {
        return Ok(());
    }
    let mut seen = HashSet::new();
    for c in &calls {
        let inv = &history.ops[c.invoke];
        if inv.f == "enqueue" && !seen.insert((inv.key.clone(), inv.value.clone())) {
            anyhow::bail!(
                "the unordered-queue model needs unique enqueued values when a dequeue's outcome \
                 is unknown, but {} is enqueued twice (op {}): enqueue unique values, or check \
                 with --model fifo-queue if the queue is FIFO",
                inv.value,
                inv.index
            );
        }
    }
    Ok(())
}

impl Model for UnorderedQueue {
    type State = Bag;
    type Op = UQueueOp;

    fn name(&self) -> &'static str {
        "unordered-queue"
    }
    fn init(&self) -> Bag {
        Bag::default()
    }
    fn compile(&self, call: &CallView, values: &mut Interner) -> Result<Option<UQueueOp>, String> {
        match (call.f, call.outcome) {
            ("enqueue" | "dequeue", Outcome::Fail) => Ok(None),
            ("enqueue", _) => Ok(Some(UQueueOp::Enqueue(values.intern(call.input)))),
            ("dequeue", Outcome::Info) => Ok(Some(UQueueOp::DequeueUnknown)),
            ("dequeue", Outcome::Ok) => Ok(Some(UQueueOp::Dequeue(
                (!call.output.is_nil()).then(|| values.intern(call.output)),
            ))),
            (f, _) => Err(format!(
                "the unordered-queue model has no operation {f:?} (it knows enqueue, dequeue)"
            )),
        }
    }
    fn is_observer(&self, op: &UQueueOp) -> bool {
        matches!(op, UQueueOp::Dequeue(None))
    }
    fn step(&self, bag: &Bag, op: &UQueueOp) -> Option<Bag> {
        match *op {
            UQueueOp::Enqueue(UNOBSERVED) => Some(Bag {
                items: bag.items.clone(),
                unobserved: bag.unobserved + 1,
            }),
            UQueueOp::Enqueue(v) => {
                let mut next = bag.clone();
                let at = next.items.partition_point(|&x| x < v);
                next.items.insert(at, v);
                Some(next)
            }
            UQueueOp::Dequeue(None) => {
                (bag.items.is_empty() && bag.unobserved == 0).then(|| bag.clone())
            }
            UQueueOp::Dequeue(Some(v)) => {
                let at = bag.items.binary_search(&v).ok()?;
                let mut next = bag.clone();
                next.items.remove(at);
                Some(next)
            }
            UQueueOp::DequeueUnknown if bag.unobserved > 0 => Some(Bag {
                items: bag.items.clone(),
                unobserved: bag.unobserved - 1,
            }),
            // Removing an observed element would break the dequeue that returns it later.
            UQueueOp::DequeueUnknown => bag.items.is_empty().then(|| bag.clone()),
        }
    }
    fn prepare(&self, ops: &mut [UQueueOp]) {
        let observed: HashSet<u32> = ops
            .iter()
            .filter_map(|o| match o {
                UQueueOp::Dequeue(Some(v)) => Some(*v),
                _ => None,
            })
            .collect();
        for op in ops.iter_mut() {
            if let UQueueOp::Enqueue(v) = op {
                if !observed.contains(v) {
                    *v = UNOBSERVED;
                }
            }
        }
    }
    fn describe_state(&self, bag: &Bag, values: &Interner) -> String {
        let mut items: Vec<String> = bag
            .items
            .iter()
            .map(|v| values.value(*v).to_string())
            .collect();
        if bag.unobserved > 0 {
            items.push(format!("{} elements never dequeued", bag.unobserved));
        }
        format!("#{{{}}}", items.join(" "))
    }
}

/// What the model is, in one line (for `ferrocheck list`).
pub const ABOUT: &str = "a bag of unique values: enqueue, dequeue in any order";

/// Builds the model with every key starting at `initial`.
pub fn build(_initial: &Value) -> anyhow::Result<Box<dyn DynModel>> {
    Ok(erase_with(UnorderedQueue, Interner::default(), |h| {
        check_unique(h)
    }))
}

#[cfg(test)]
mod tests {
    use crate::check::check_tests::{hist, verdict};
    use crate::check::{check, CheckOptions, Validity::*};

    #[test]
    fn unordered_queue_allows_any_order_but_not_lost_or_invented_elements() {
        let out_of_order = [
            "0 invoke enqueue 1",
            "0 ok enqueue 1",
            "0 invoke enqueue 2",
            "0 ok enqueue 2",
            "1 invoke dequeue nil",
            "1 ok dequeue 2",
            "1 invoke dequeue nil",
            "1 ok dequeue 1",
        ];
        assert_eq!(verdict("unordered-queue", &out_of_order), Valid);
        assert_eq!(verdict("fifo-queue", &out_of_order), Invalid);
        let invented = [
            "0 invoke enqueue 1",
            "0 ok enqueue 1",
            "1 invoke dequeue nil",
            "1 ok dequeue 3",
        ];
        assert_eq!(verdict("unordered-queue", &invented), Invalid);
        let twice = [
            "0 invoke enqueue 1",
            "0 ok enqueue 1",
            "1 invoke dequeue nil",
            "1 ok dequeue 1",
            "1 invoke dequeue nil",
            "1 ok dequeue 1",
        ];
        assert_eq!(verdict("unordered-queue", &twice), Invalid);
        // An element still in the queue makes a later "empty" dequeue wrong ...
        let lost = [
            "0 invoke enqueue 1",
            "0 ok enqueue 1",
            "1 invoke dequeue nil",
            "1 ok dequeue nil",
        ];
        assert_eq!(verdict("unordered-queue", &lost), Invalid);
        // ... unless a dequeue with unknown outcome may have taken it.
        let taken = [
            "0 invoke enqueue 1",
            "0 ok enqueue 1",
            "2 invoke dequeue nil",
            "2 info dequeue nil",
            "1 invoke dequeue nil",
            "1 ok dequeue nil",
        ];
        assert_eq!(verdict("unordered-queue", &taken), Valid);
        // The unknown dequeue cannot have taken an element that is dequeued later.
        let not_that_one = [
            "0 invoke enqueue 1",
            "0 ok enqueue 1",
            "2 invoke dequeue nil",
            "2 info dequeue nil",
            "1 invoke dequeue nil",
            "1 ok dequeue nil",
            "1 invoke dequeue nil",
            "1 ok dequeue 1",
        ];
        assert_eq!(verdict("unordered-queue", &not_that_one), Invalid);
        // Unknown dequeues need unique enqueued values.
        let dup = [
            "0 invoke enqueue 1",
            "0 ok enqueue 1",
            "0 invoke enqueue 1",
            "0 ok enqueue 1",
            "2 invoke dequeue nil",
            "2 info dequeue nil",
        ];
        let opts = CheckOptions {
            model: Some("unordered-queue".into()),
            ..Default::default()
        };
        let err = check(&hist(&dup), &opts).unwrap_err().to_string();
        assert!(err.contains("unique"), "{err}");
    }
}
