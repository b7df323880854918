//! The read/write register: one value per key with `read` and `write v` (no cas).
//!
//! Failed reads and writes did not happen and are dropped; unknown writes may have happened at
//! any time after their invoke, or never. It is the cas-register with cas refused
//! ([`CasRegister`] with `cas: false`): the same steps, restricted.

use crate::check::model::Interner;
use crate::check::model_checkers::{erase, DynModel};
use crate::check::models::cas_register::CasRegister;
use crate::history::Value;

/// What the model is, in one line (for `ferrocheck list`).
pub const ABOUT: &str = "one value per key: read, write";

/// Builds the model with every key starting at `initial`.
pub fn build(initial: &Value) -> anyhow::Result<Box<dyn DynModel>> {
    let mut values = Interner::default();
    let m = CasRegister {
        initial: values.intern(initial),
        cas: false,
    };
    Ok(erase(m, values))
}
