//! The checkers that step a sequential [`Model`]: `linearizable(model)` and
//! `sequential(model)`, and [`DynModel`], a model with its types erased so that a registry can
//! hand out any model by name.
//!
//! A model file's `build` function makes its model from the initial value and wraps it with
//! [`erase`]; the checkers here then run the linearizability or sequential-consistency search
//! on it without knowing which model it is.

use crate::check::checker::Checker;
use crate::check::linearizable::check_linearizable;
use crate::check::model::{Interner, Model};
use crate::check::result::CheckResult;
use crate::check::sequential::check_sequential;
use crate::history::History;
use std::time::Duration;

/// A model whose state and op types are hidden: it can only be checked.
pub trait DynModel: Send + Sync {
    /// The model's name, as `--model` spells it.
    fn name(&self) -> &'static str;
    /// Checks `history` for linearizability under this model.
    fn linearizable(
        &self,
        history: &History,
        limit: Option<Duration>,
    ) -> anyhow::Result<CheckResult>;
    /// Checks `history` for sequential consistency under this model.
    fn sequential(&self, history: &History, limit: Option<Duration>)
        -> anyhow::Result<CheckResult>;
    /// Like [`DynModel::sequential`], bounded by search steps instead of time, so the answer
    /// does not depend on the machine's load (`unknown` when the steps run out).
    fn sequential_steps(&self, history: &History, max_steps: u64) -> anyhow::Result<CheckResult>;
}

/// A history the model cannot take, found before the search (e.g. repeated queue values).
pub type Precheck = fn(&History) -> anyhow::Result<()>;

struct Erased<M> {
    model: M,
    values: Interner,
    precheck: Option<Precheck>,
}

impl<M: Model + Send> DynModel for Erased<M> {
    fn name(&self) -> &'static str {
        self.model.name()
    }
    fn linearizable(
        &self,
        history: &History,
        limit: Option<Duration>,
    ) -> anyhow::Result<CheckResult> {
        if let Some(p) = self.precheck {
            p(history)?;
        }
        check_linearizable(&self.model, history, limit, self.values.clone())
    }
    fn sequential(
        &self,
        history: &History,
        limit: Option<Duration>,
    ) -> anyhow::Result<CheckResult> {
        if let Some(p) = self.precheck {
            p(history)?;
        }
        check_sequential(&self.model, history, limit, None, self.values.clone())
    }
    fn sequential_steps(&self, history: &History, max_steps: u64) -> anyhow::Result<CheckResult> {
        if let Some(p) = self.precheck {
            p(history)?;
        }
        check_sequential(
            &self.model,
            history,
            None,
            Some(max_steps),
            self.values.clone(),
        )
    }
}

/// Wraps `model`, whose values (the initial one) were interned into `values`.
pub fn erase<M: Model + Send + 'static>(model: M, values: Interner) -> Box<dyn DynModel> {
    Box::new(Erased {
        model,
        values,
        precheck: None,
    })
}

/// Like [`erase`], with a check of the whole history that runs before every search.
pub fn erase_with<M: Model + Send + 'static>(
    model: M,
    values: Interner,
    precheck: Precheck,
) -> Box<dyn DynModel> {
    Box::new(Erased {
        model,
        values,
        precheck: Some(precheck),
    })
}

/// `linearizable(model)`: every op appears to take effect at one instant between its invoke and
/// its completion, per key (Herlihy & Wing).
pub struct Linearizable {
    /// The model to step.
    pub model: Box<dyn DynModel>,
    /// Give up with `unknown` after this long.
    pub time_limit: Option<Duration>,
}

impl Checker for Linearizable {
    fn name(&self) -> String {
        format!("linearizable({})", self.model.name())
    }
    fn about(&self) -> &'static str {
        LINEARIZABLE_ABOUT
    }
    fn needs(&self) -> String {
        format!("ops of the {} model, keyed or not", self.model.name())
    }
    fn check(&self, history: &History) -> anyhow::Result<CheckResult> {
        self.model.linearizable(history, self.time_limit)
    }
}

/// `sequential(model)`: some order of all ops that keeps each process's own order is legal
/// for the model (Lamport).
pub struct Sequential {
    /// The model to step.
    pub model: Box<dyn DynModel>,
    /// Give up with `unknown` after this long.
    pub time_limit: Option<Duration>,
    /// The initial value of every key (for the causal patterns and the cycle refutation).
    pub initial: crate::history::Value,
}

impl Checker for Sequential {
    fn name(&self) -> String {
        format!("sequential({})", self.model.name())
    }
    fn about(&self) -> &'static str {
        SEQUENTIAL_ABOUT
    }
    fn needs(&self) -> String {
        format!("ops of the {} model, with process ids", self.model.name())
    }
    fn check(&self, history: &History) -> anyhow::Result<CheckResult> {
        crate::check::sequential_decide::decide(
            self.model.as_ref(),
            history,
            self.time_limit,
            &self.initial,
        )
    }
}

/// What `linearizable` checks, in one line.
pub const LINEARIZABLE_ABOUT: &str =
    "every op appears to take effect at one instant between its invoke and completion (per key)";
/// What `sequential` checks, in one line.
pub const SEQUENTIAL_ABOUT: &str =
    "some order of all ops that keeps each process's own order is legal for the model";
