//! Checkers: pure functions from a [`History`](crate::history::History) to a [`CheckResult`].
//!
//! A result is data with a three-valued verdict ([`Validity`]) that merges in Jepsen's order,
//! invalid > unknown > valid, and a list of [`Anomaly`]s, each naming the ops that prove it and
//! explaining it in words a student can follow. Checkers do no I/O.
//!
//! The map: [`checker`] is the [`Checker`] trait and [`registry`] the table of checkers (a
//! history header records which ones a run used, as [`CheckerSpec`]s); [`model`] is the
//! [`Model`](model::Model) trait and [`models`] the models, one file each, with their own
//! table; [`linearizable`] (per-key driver, search, shrinker, explanation) and [`sequential`]
//! step a model, through [`model_checkers`]; [`causal`], [`lock`] and [`lost_updates`] need
//! none. This file only declares the modules and re-exports the names callers use.

pub mod bank;
pub mod causal;
pub mod checker;
pub mod eventual;
pub mod lattice;
pub mod linearizable;
pub mod lock;
pub mod lock_cause;
pub mod lost_updates;
pub mod model;
pub mod model_checkers;
pub mod models;
pub mod registry;
pub mod result;
pub mod sequential;
pub mod sequential_cycles;
pub mod sequential_decide;
pub mod sequential_projection;
pub mod sequential_shrink;
pub mod spec;
pub mod synth;
pub mod txn;

pub use crate::history::CheckerSpec;
pub use checker::Checker;
pub use registry::{
    choose_model, default_specs, run_all, spec_for, spec_for_model, specs_for_workload,
};
pub use result::{merge, Anomaly, CheckResult, Validity};
pub use spec::{CheckOptions, CheckerOptions, Consistency};

/// Checks `history` as `opts` says: one checker, chosen from the model (`opts.model`, else the
/// header's, else inferred) and the consistency. Errors are for unusable input (an unknown
/// model name, ops the model cannot interpret), never for a verdict.
pub fn check(
    history: &crate::history::History,
    opts: &CheckOptions,
) -> anyhow::Result<CheckResult> {
    registry::run(history, &spec_for(history, opts)?)
}

#[cfg(test)]
mod check_tests;
