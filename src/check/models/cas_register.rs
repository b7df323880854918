//! The cas-register: one value per key with `read`, `write v` and `cas [from to]`.
//!
//! Failed ops: a failed `write` or `read` did not happen and is dropped. A failed `cas` whose
//! error is [`COMPARE_FAILED`] (or absent, as in Jepsen's etcd histories, where that is the only
//! way a cas fails) is an observation that the compare did not match at the moment the cas ran,
//! so it stays in the history as [`RegisterOp::CasFailed`]: a step that changes nothing and
//! requires the value to differ from `from`. A failed cas with any other error (the client could
//! not connect, the store found no quorum) never ran its compare: it is dropped like a failed
//! write. An unknown (`info`) cas may have run or not; if it ran, it wrote
//! `to` exactly when the value was `from` ([`RegisterOp::CasUnknown`]).

use crate::check::model::{CallView, Interner, Model, Outcome, COMPARE_FAILED};
use crate::check::model_checkers::{erase, DynModel};
use crate::history::Value;

/// The id of "some value that no read and no compare ever looks at" (see [`prepare_values`]).
pub const UNOBSERVED: u32 = u32::MAX;

/// A compiled register op over interned values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegisterOp {
    /// A read that returned this value.
    Read(u32),
    /// A write of this value (acknowledged or unknown).
    Write(u32),
    /// A cas that succeeded: the value was `.0` and became `.1`.
    Cas(u32, u32),
    /// A cas with unknown outcome: if the value was `.0` it became `.1`, else nothing changed.
    CasUnknown(u32, u32),
    /// A cas that failed: the value was not `.0`.
    CasFailed(u32),
}

/// The cas-register model, with every key starting at `initial` (an interned value); with
/// `cas` false it is the plain read/write register (a cas is refused when compiled).
#[derive(Clone, Copy, Debug)]
pub struct CasRegister {
    /// The interned initial value (0 = nil).
    pub initial: u32,
    /// Whether `cas` ops are allowed (false: the `register` model).
    pub cas: bool,
}

/// Compiles a register call; `allow_cas` is false for the plain register model.
pub fn compile_register(
    call: &CallView,
    values: &mut Interner,
    allow_cas: bool,
) -> Result<Option<RegisterOp>, String> {
    match (call.f, call.outcome) {
        ("read", Outcome::Ok) => Ok(Some(RegisterOp::Read(values.intern(call.output)))),
        ("read", _) => Ok(None),
        ("write", Outcome::Fail) => Ok(None),
        ("write", _) => Ok(Some(RegisterOp::Write(values.intern(call.input)))),
        ("cas", Outcome::Fail) if allow_cas && call.error.is_some_and(|e| e != COMPARE_FAILED) => {
            Ok(None)
        }
        ("cas", outcome) if allow_cas => {
            let pair = call
                .input
                .as_list()
                .filter(|l| l.len() == 2)
                .ok_or_else(|| format!("a cas needs the value [from, to], got {}", call.input))?;
            let (from, to) = (values.intern(&pair[0]), values.intern(&pair[1]));
            Ok(Some(match outcome {
                Outcome::Ok => RegisterOp::Cas(from, to),
                Outcome::Info => RegisterOp::CasUnknown(from, to),
                Outcome::Fail => RegisterOp::CasFailed(from),
            }))
        }
        (f, _) => Err(format!(
            "the {} model has no operation {f:?} (it knows read, write{})",
            if allow_cas {
                "cas-register"
            } else {
                "register"
            },
            if allow_cas { ", cas" } else { "" }
        )),
    }
}

/// One register step.
pub fn step_register(state: u32, op: &RegisterOp) -> Option<u32> {
    match *op {
        RegisterOp::Read(v) => (state == v).then_some(state),
        RegisterOp::Write(v) => Some(v),
        RegisterOp::Cas(from, to) => (state == from).then_some(to),
        RegisterOp::CasUnknown(from, to) => Some(if state == from { to } else { state }),
        RegisterOp::CasFailed(from) => (state != from).then_some(state),
    }
}

/// Replaces every written value that nothing ever observes by [`UNOBSERVED`].
///
/// Let O be the initial value, every value a read returned, and every cas's `from` (ok, failed
/// or unknown). Map each value to itself if it is in O and to U = [`UNOBSERVED`] (not in O)
/// otherwise; call the map φ. Claim: an order of the ops is legal for the original values iff it
/// is legal for the mapped ones. By induction over the order, with original state s and mapped
/// state m = φ(s): a write v gives v and φ(v); a read r (r ∈ O) passes iff s = r iff φ(s) = r,
/// because φ is the identity on O and sends everything else to U ≠ r; a cas with `from` a ∈ O
/// (ok, failed or unknown) sees s = a iff φ(s) = a, so it takes the same branch and its result
/// `to` maps to φ(to). So both runs accept the same orders, and φ(s) = m holds throughout.
/// The gain: all unknown writes of unobserved values become the same op, and the search treats
/// equal unknown ops as interchangeable, which removes most of the blow-up from timed-out writes.
pub fn prepare_values(initial: u32, ops: &mut [RegisterOp]) {
    let mut observed = crate::check::linearizable::memo::FxSet::default();
    observed.insert(initial);
    for op in ops.iter() {
        match *op {
            RegisterOp::Read(v) => {
                observed.insert(v);
            }
            RegisterOp::Cas(a, _) | RegisterOp::CasUnknown(a, _) | RegisterOp::CasFailed(a) => {
                observed.insert(a);
            }
            RegisterOp::Write(_) => {}
        }
    }
    let phi = |v: u32| if observed.contains(&v) { v } else { UNOBSERVED };
    for op in ops.iter_mut() {
        *op = match *op {
            RegisterOp::Write(v) => RegisterOp::Write(phi(v)),
            RegisterOp::Cas(a, b) => RegisterOp::Cas(a, phi(b)),
            RegisterOp::CasUnknown(a, b) => RegisterOp::CasUnknown(a, phi(b)),
            other => other,
        };
    }
}

/// A register value in words.
pub fn describe_value(v: u32, values: &Interner) -> String {
    if v == UNOBSERVED {
        "a value no read observed".to_string()
    } else {
        values.value(v).to_string()
    }
}

impl Model for CasRegister {
    type State = u32;
    type Op = RegisterOp;

    fn name(&self) -> &'static str {
        if self.cas {
            "cas-register"
        } else {
            "register"
        }
    }
    fn init(&self) -> u32 {
        self.initial
    }
    fn compile(
        &self,
        call: &CallView,
        values: &mut Interner,
    ) -> Result<Option<RegisterOp>, String> {
        compile_register(call, values, self.cas)
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
pub const ABOUT: &str = "one value per key: read, write, cas [from to]";

/// Builds the model with every key starting at `initial`.
pub fn build(initial: &Value) -> anyhow::Result<Box<dyn DynModel>> {
    let mut values = Interner::default();
    let m = CasRegister {
        initial: values.intern(initial),
        cas: true,
    };
    Ok(erase(m, values))
}
