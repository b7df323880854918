//! The [`Checker`] trait: one way of judging a history, built from a registry entry and its
//! options, pure (no I/O), and saying in words what it needs from a history.

use crate::check::result::CheckResult;
use crate::history::History;

/// One built checker, ready to judge histories. Checkers are pure: no I/O, no clock except for
/// their own time budget.
pub trait Checker: Send + Sync {
    /// The name results carry, with its options: `linearizable(cas-register)`, `lost-updates`.
    fn name(&self) -> String;
    /// One line saying what it checks.
    fn about(&self) -> &'static str;
    /// What it needs from a history, in words (the ops it reads, the model it steps through).
    fn needs(&self) -> String;
    /// Judges `history`. `Err` is for unusable input (ops it cannot interpret), never a verdict.
    fn check(&self, history: &History) -> anyhow::Result<CheckResult>;
}
