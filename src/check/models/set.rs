//! The grow-only set: `add v` and `read` returning every element (as a list).
//!
//! Failed adds did not happen; unknown adds are optional; unknown reads are dropped.

use crate::check::model::{CallView, Interner, Model, Outcome};
use crate::check::model_checkers::{erase, DynModel};
use crate::history::Value;

/// A compiled set op; a read holds its elements sorted and deduplicated.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SetOp {
    /// Add one element.
    Add(u32),
    /// A read that returned exactly these elements.
    Read(Vec<u32>),
}

/// The set model; the state is the sorted elements.
#[derive(Clone, Copy, Debug, Default)]
pub struct Set;

impl Model for Set {
    type State = Vec<u32>;
    type Op = SetOp;

    fn name(&self) -> &'static str {
        "set"
    }
    fn init(&self) -> Vec<u32> {
        Vec::new()
    }
    fn compile(&self, call: &CallView, values: &mut Interner) -> Result<Option<SetOp>, String> {
        match (call.f, call.outcome) {
            ("add", Outcome::Fail) | ("read", Outcome::Fail | Outcome::Info) => Ok(None),
            ("add", _) => Ok(Some(SetOp::Add(values.intern(call.input)))),
            ("read", Outcome::Ok) => {
                let items = match call.output {
                    crate::history::Value::Nil => &[][..],
                    v => v
                        .as_list()
                        .ok_or_else(|| format!("a set read must return a list, got {v}"))?,
                };
                let mut ids: Vec<u32> = items.iter().map(|v| values.intern(v)).collect();
                ids.sort_unstable();
                ids.dedup();
                Ok(Some(SetOp::Read(ids)))
            }
            (f, _) => Err(format!(
                "the set model has no operation {f:?} (it knows add, read)"
            )),
        }
    }
    fn is_observer(&self, op: &SetOp) -> bool {
        matches!(op, SetOp::Read(_))
    }
    fn step(&self, state: &Vec<u32>, op: &SetOp) -> Option<Vec<u32>> {
        match op {
            SetOp::Add(v) => match state.binary_search(v) {
                Ok(_) => Some(state.clone()),
                Err(at) => {
                    let mut next = state.clone();
                    next.insert(at, *v);
                    Some(next)
                }
            },
            SetOp::Read(items) => (state == items).then(|| state.clone()),
        }
    }
    fn describe_state(&self, state: &Vec<u32>, values: &Interner) -> String {
        let items: Vec<String> = state.iter().map(|v| values.value(*v).to_string()).collect();
        format!("#{{{}}}", items.join(" "))
    }
}

/// What the model is, in one line (for `ferrocheck list`).
pub const ABOUT: &str = "a grow-only set: add, read";

/// Builds the model with every key starting at `initial`.
pub fn build(_initial: &Value) -> anyhow::Result<Box<dyn DynModel>> {
    Ok(erase(Set, Interner::default()))
}
