//! The mutex: `acquire` and `release` on a lock that starts free.
//!
//! An acknowledged acquire needs the lock free and takes it; an acknowledged release needs it
//! held and frees it. Failed ops did not happen and are dropped; unknown ones are optional.
//! Two clients that both hold the lock at once make the history non-linearizable.

use crate::check::model::{CallView, Interner, Model, Outcome};
use crate::check::model_checkers::{erase, DynModel};
use crate::history::Value;

/// A compiled mutex op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MutexOp {
    /// Take the lock.
    Acquire,
    /// Give it back.
    Release,
}

/// The mutex model; the state is "held".
#[derive(Clone, Copy, Debug, Default)]
pub struct Mutex;

impl Model for Mutex {
    type State = bool;
    type Op = MutexOp;

    fn name(&self) -> &'static str {
        "mutex"
    }
    fn init(&self) -> bool {
        false
    }
    fn compile(&self, call: &CallView, _values: &mut Interner) -> Result<Option<MutexOp>, String> {
        match (call.f, call.outcome) {
            (_, Outcome::Fail) if matches!(call.f, "acquire" | "release") => Ok(None),
            ("acquire", _) => Ok(Some(MutexOp::Acquire)),
            ("release", _) => Ok(Some(MutexOp::Release)),
            (f, _) => Err(format!(
                "the mutex model has no operation {f:?} (it knows acquire, release)"
            )),
        }
    }
    fn step(&self, held: &bool, op: &MutexOp) -> Option<bool> {
        match op {
            MutexOp::Acquire => (!held).then_some(true),
            MutexOp::Release => held.then_some(false),
        }
    }
    /// 1: an acquire always leaves the lock held and a release always leaves it free, so a
    /// second use of either in one run of unknown ops returns to a state the run was already in,
    /// and the loop between can be cut out.
    fn unknown_uses_per_run(&self) -> Option<u32> {
        Some(1)
    }
    fn any_states(&self) -> Option<Vec<bool>> {
        Some(vec![false, true])
    }
    fn describe_state(&self, held: &bool, _values: &Interner) -> String {
        if *held { "held" } else { "free" }.to_string()
    }
}

/// What the model is, in one line (for `ferrocheck list`).
pub const ABOUT: &str = "a lock: acquire, release";

/// Builds the model with every key starting at `initial`.
pub fn build(_initial: &Value) -> anyhow::Result<Box<dyn DynModel>> {
    Ok(erase(Mutex, Interner::default()))
}
