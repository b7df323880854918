//! The key/value model: per key a string with `get`, `put v` and `append v`; a key never
//! written reads as "" (or as the initial value, when one is given).
//!
//! Values are compared as strings: a string is itself, an integer its decimal form, nil "".
//! Failed ops and unknown `get`s are dropped; unknown `put`/`append` are optional.

use crate::check::model::{CallView, Interner, Model, Outcome};
use crate::history::Value;
use std::sync::Arc;

/// A compiled kv op.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOp {
    /// A get that returned this string.
    Get(Arc<str>),
    /// A put of this string.
    Put(Arc<str>),
    /// An append of this string.
    Append(Arc<str>),
}

/// The kv model.
#[derive(Clone, Debug)]
pub struct Kv {
    /// What a key holds before its first write.
    pub initial: Arc<str>,
}

/// A value as the kv model compares it.
pub fn as_text(v: &Value) -> Arc<str> {
    match v {
        Value::Nil => Arc::from(""),
        Value::Str(s) => Arc::from(s.as_str()),
        other => Arc::from(other.to_string()),
    }
}

impl Model for Kv {
    type State = Arc<str>;
    type Op = KvOp;

    fn name(&self) -> &'static str {
        "kv"
    }
    fn init(&self) -> Arc<str> {
        self.initial.clone()
    }
    fn compile(&self, call: &CallView, _values: &mut Interner) -> Result<Option<KvOp>, String> {
        match (call.f, call.outcome) {
            ("get" | "read", Outcome::Ok) => Ok(Some(KvOp::Get(as_text(call.output)))),
            ("get" | "read", _) | ("put" | "write" | "append", Outcome::Fail) => Ok(None),
            ("put" | "write", _) => Ok(Some(KvOp::Put(as_text(call.input)))),
            ("append", _) => Ok(Some(KvOp::Append(as_text(call.input)))),
            (f, _) => Err(format!(
                "the kv model has no operation {f:?} (it knows get, put, append)"
            )),
        }
    }
    fn is_observer(&self, op: &KvOp) -> bool {
        matches!(op, KvOp::Get(_))
    }
    fn step(&self, state: &Arc<str>, op: &KvOp) -> Option<Arc<str>> {
        match op {
            KvOp::Get(v) => (state == v).then(|| state.clone()),
            KvOp::Put(v) => Some(v.clone()),
            KvOp::Append(v) => {
                let mut s = String::with_capacity(state.len() + v.len());
                s.push_str(state);
                s.push_str(v);
                Some(Arc::from(s))
            }
        }
    }
    fn describe_state(&self, state: &Arc<str>, _values: &Interner) -> String {
        format!("{:?}", &**state)
    }
}
