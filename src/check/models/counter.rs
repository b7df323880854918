//! The counter: `add n` (also `increment`, adding 1 when no value is given) and `read`.
//!
//! Failed adds did not happen; unknown adds are optional; unknown reads are dropped.

use crate::check::model::{CallView, Interner, Model, Outcome};
use crate::check::model_checkers::{erase, DynModel};
use crate::history::Value;

/// A compiled counter op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CounterOp {
    /// Add this amount.
    Add(i64),
    /// A read that returned this total.
    Read(i64),
}

/// The counter model.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counter {
    /// The starting total.
    pub initial: i64,
}

impl Model for Counter {
    type State = i64;
    type Op = CounterOp;

    fn name(&self) -> &'static str {
        "counter"
    }
    fn init(&self) -> i64 {
        self.initial
    }
    fn compile(
        &self,
        call: &CallView,
        _values: &mut Interner,
    ) -> Result<Option<CounterOp>, String> {
        let int = |v: &crate::history::Value, what: &str| {
            v.as_int()
                .ok_or_else(|| format!("a counter {what} needs an integer, got {v}"))
        };
        match (call.f, call.outcome) {
            ("add" | "increment", Outcome::Fail) | ("read", Outcome::Fail | Outcome::Info) => {
                Ok(None)
            }
            ("increment", _) if call.input.is_nil() => Ok(Some(CounterOp::Add(1))),
            ("add" | "increment", _) => Ok(Some(CounterOp::Add(int(call.input, "add")?))),
            ("read", Outcome::Ok) => Ok(Some(CounterOp::Read(int(call.output, "read")?))),
            (f, _) => Err(format!(
                "the counter model has no operation {f:?} (it knows add, read)"
            )),
        }
    }
    fn is_observer(&self, op: &CounterOp) -> bool {
        matches!(op, CounterOp::Read(_))
    }
    fn step(&self, state: &i64, op: &CounterOp) -> Option<i64> {
        match *op {
            CounterOp::Add(n) => Some(state.wrapping_add(n)),
            CounterOp::Read(v) => (*state == v).then_some(*state),
        }
    }
    fn describe_state(&self, state: &i64, _values: &Interner) -> String {
        state.to_string()
    }
}

/// What the model is, in one line (for `ferrocheck list`).
pub const ABOUT: &str = "an integer: add n (or increment), read";

/// Builds the model with every key starting at `initial`.
pub fn build(initial: &Value) -> anyhow::Result<Box<dyn DynModel>> {
    let initial = match initial {
        Value::Nil => 0,
        v => v.as_int().ok_or_else(|| {
            anyhow::anyhow!(
                "a counter's initial value must be an integer, got {v}: pass --initial-value N"
            )
        })?,
    };
    Ok(erase(Counter { initial }, Interner::default()))
}
