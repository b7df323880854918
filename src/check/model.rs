//! Sequential specifications ("models") that the linearizability search steps through.
//!
//! A [`Model`] says, for one key, what state an object starts in and which transitions an op
//! allows. The search never sees a history [`Op`](crate::history::Op): each call is compiled
//! once into the model's compact [`Model::Op`] (values interned as `u32`, strings shared), so a
//! search branch copies a few words, never a piece of the history.
//!
//! How an op's completion enters the model is decided here, per model, by [`Model::compile`]:
//!
//! * `ok`: the op happened, with the recorded result, between its invoke and its completion.
//! * `info` (or still open at the end): the op may have happened at any point after its invoke,
//!   or never, and its result is unknown. The search gives it no return and does not require it.
//!   An op that cannot change the state (a read) is dropped: its unknown result constrains
//!   nothing.
//! * `fail`: the op did not take effect. Most models drop it. The exception is a failed `cas`
//!   on a cas-register: a `cas` fails *because* its compare did not match, which is an
//!   observation of the register between invoke and completion (this is how Jepsen's etcd
//!   histories and Porcupine's tests read `:fail :cas`). It is kept as a constraint op that
//!   changes nothing and requires the current value to differ from its `from`.

use crate::history::Value;
use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;

/// How a call ended, as far as a model cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It happened, with the recorded result.
    Ok,
    /// It certainly did not take effect (see the module doc for failed `cas`).
    Fail,
    /// Unknown: it may have taken effect at any time after its invoke, or never.
    Info,
}

/// One call as a model sees it when compiling: the function, the argument, the result.
#[derive(Clone, Copy, Debug)]
pub struct CallView<'a> {
    /// The function (`read`, `write`, `cas`, `get`, ...).
    pub f: &'a str,
    /// The invoke's value (the argument).
    pub input: &'a Value,
    /// The completion's value (the result), `Nil` when there is none.
    pub output: &'a Value,
    /// How the call ended.
    pub outcome: Outcome,
    /// The completion's `error`, when it gave one (why a `fail` failed).
    pub error: Option<&'a str>,
}

/// The `error` a client records on a failed cas whose compare did not match. A failed cas with
/// this error (or with no error at all, as in other tools' histories) is an observation that the
/// value differed from `from` when the cas ran; a failed cas with any other error (a refused
/// connection, no quorum) only says the cas did not happen. Clients write it as
/// `targets::FailReason::CompareFailed`.
pub const COMPARE_FAILED: &str = "compare failed";

/// Turns history values into dense `u32` ids, so states and ops are small and cheap to compare.
/// Id 0 is always `nil`.
#[derive(Clone, Debug)]
pub struct Interner {
    ids: HashMap<Value, u32>,
    values: Vec<Value>,
}

impl Default for Interner {
    fn default() -> Self {
        let mut ids = HashMap::new();
        ids.insert(Value::Nil, 0);
        Interner {
            ids,
            values: vec![Value::Nil],
        }
    }
}

impl Interner {
    /// The id of `v`, assigning a new one on first sight.
    pub fn intern(&mut self, v: &Value) -> u32 {
        if let Some(&id) = self.ids.get(v) {
            return id;
        }
        let id = self.values.len() as u32;
        self.values.push(v.clone());
        self.ids.insert(v.clone(), id);
        id
    }

    /// The value behind an id (`nil` for ids this interner never gave out).
    pub fn value(&self, id: u32) -> &Value {
        self.values.get(id as usize).unwrap_or(&Value::Nil)
    }
}

/// A sequential specification of one object (one key). Only `init`, `compile` and `step` are
/// required; the rest have defaults.
pub trait Model: Sync {
    /// The object's state. Kept small: it is cloned per search step and stored in the memo.
    type State: Clone + Eq + Hash + Send + Sync + Debug;
    /// A compiled op. Ops that compare equal are interchangeable (same effect, same constraint).
    type Op: Clone + Eq + Hash + Send + Sync + Debug;

    /// The model's name, as `--model` spells it.
    fn name(&self) -> &'static str;

    /// The state every key starts in.
    fn init(&self) -> Self::State;

    /// Compiles one call, or returns `Ok(None)` when the call cannot matter (a failed write, an
    /// unknown read). `Err` is for calls the model cannot interpret, in words.
    fn compile(&self, call: &CallView, values: &mut Interner) -> Result<Option<Self::Op>, String>;

    /// The state after `op`, or `None` if `op` is not allowed in `state`.
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;

    /// True if `op` never changes the state, whatever the state (a read, a failed cas). The
    /// search takes such an op as soon as it is allowed, without branching; the default (false)
    /// is always safe.
    fn is_observer(&self, _op: &Self::Op) -> bool {
        false
    }

    /// A bound b such that a shortest run of unknown ops between two completed ops never uses
    /// equal ops more than b times, if there is one. For a register it is 1: a second use of
    /// a write of v, or of a cas from a, happens in a state the run has already been in, so the
    /// run has a loop that can be cut out. `None` (the default) is always safe.
    fn unknown_uses_per_run(&self) -> Option<u32> {
        None
    }

    /// A chance to rewrite one key's ops before the search (e.g. merge values nobody observed).
    /// It must keep the answer exactly the same; the default changes nothing.
    fn prepare(&self, _ops: &mut [Self::Op]) {}

    /// A quick, sound refutation of one key's (prepared) ops, tried before the search: the
    /// positions of a core of ops that no linearization allows even when every other op of the
    /// key may take effect at any time after its invoke, or never; the op that cannot be placed
    /// first. `None` (the default) when it finds none; the search decides then.
    fn refute(
        &self,
        _ops: &[crate::check::linearizable::search::KeyOp<Self::Op>],
    ) -> Option<Vec<usize>> {
        None
    }

    /// Every state the object can be in, when that is a short list (a mutex: free or held).
    /// The shrinker then proves an anomaly from *any* state, so the ops before it need not be
    /// kept (which matters where a relaxed op could undo the anomaly: a release taking effect
    /// late). `None` (the default) when the states are many or unbounded.
    fn any_states(&self) -> Option<Vec<Self::State>> {
        None
    }

    /// The state in words, for explanations.
    fn describe_state(&self, state: &Self::State, values: &Interner) -> String;
}

/// The `f` names a model accepts, for inferring the model from a history.
pub fn model_for_functions<'a>(fs: impl IntoIterator<Item = &'a str>) -> Option<&'static str> {
    let mut seen = std::collections::BTreeSet::new();
    for f in fs {
        seen.insert(f);
    }
    let has = |f: &str| seen.contains(f);
    if has("cas") {
        Some("cas-register")
    } else if has("acquire") || has("release") {
        Some("mutex")
    } else if has("enqueue") || has("dequeue") {
        Some("fifo-queue")
    } else if has("append") || has("get") || has("put") {
        Some("kv")
    } else if has("add") && has("read") && seen.len() == 2 {
        Some("set")
    } else if has("increment") || has("incr") {
        Some("counter")
    } else if has("read") || has("write") {
        Some("register")
    } else {
        None
    }
}
