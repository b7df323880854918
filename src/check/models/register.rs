//! The read/write register: one value per key with `read` and `write v` (no cas).
//!
//! Failed reads and writes did not happen and are dropped; unknown writes may have happened at
//! any time after their invoke, or never. The steps are the cas-register's, restricted.

use crate::check::model::{CallView, Interner, Model};
use crate::check::model_checkers::{erase, DynModel};
use crate::check::models::cas_register::{
    compile_register, describe_value, prepare_values, step_register, RegisterOp,
};
use crate::history::Value;

/// The register model, with every key starting at `initial` (an interned value).
#[derive(Clone, Copy, Debug)]
pub struct Register {
    /// The interned initial value (0 = nil).
    pub initial: u32,
}

impl Model for Register {
    type State = u32;
    type Op = RegisterOp;

    fn name(&self) -> &'static str {
        "register"
    }
    fn init(&self) -> u32 {
        self.initial
    }
    fn compile(
        &self,
        call: &CallView,
        values: &mut Interner,
    ) -> Result<Option<RegisterOp>, String> {
        compile_register(call, values, false)
    }
    fn unknown_uses_per_run(&self) -> Option<u32> {
        Some(1)
    }
    fn is_observer(&self, op: &RegisterOp) -> bool {
        matches!(op, RegisterOp::Read(_) | RegisterOp::CasFailed(_))
    }
    fn step(&self, state: &u32, op: &RegisterOp) -> Option<u32> {
        step_register(*state, op)
    }
    fn prepare(&self, ops: &mut [RegisterOp]) {
        prepare_values(self.initial, ops)
    }
    fn refute(
        &self,
        ops: &[crate::check::linearizable::search::KeyOp<RegisterOp>],
    ) -> Option<Vec<usize>> {
        crate::check::linearizable::stale::impossible_read(ops, self.initial).map(|f| f.core())
    }
    fn describe_state(&self, state: &u32, values: &Interner) -> String {
        describe_value(*state, values)
    }
}

/// What the model is, in one line (for `ferrocheck list`).
pub const ABOUT: &str = "one value per key: read, write";

/// Builds the model with every key starting at `initial`.
pub fn build(initial: &Value) -> anyhow::Result<Box<dyn DynModel>> {
    let mut values = Interner::default();
    let m = Register {
        initial: values.intern(initial),
    };
    Ok(erase(m, values))
}
