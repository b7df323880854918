//! The multi-register: several registers read and written together, atomically, by one op.
//!
//! An op's value is a list of micro-ops, each `[f, register, value]` with `f` one of `r`/`read`
//! or `w`/`write` (Knossos's multi-register, written as JSON):
//! `{"f":"txn","value":[["r","x",1],["w","y",2]]}`. On invoke a read's value is usually nil; on
//! `ok` it is the value read. The whole list takes effect at one instant, in order: a read must
//! see the register's value at that instant (after the op's own earlier writes), a write sets
//! it. Registers are named
//! inside the value, so ops are not partitioned by key: one search covers them all.
//!
//! Failed ops did not happen and are dropped. An unknown (`info`) op may have taken effect at
//! any time after its invoke, or never: its reads are unknown, so only its writes are kept.

use crate::check::model::{CallView, Interner, Model, Outcome};
use crate::check::model_checkers::{erase, DynModel};
use crate::history::Value;

/// A compiled txn: its micro-ops in order, as (is_write, register id, value id). A read must
/// see that value (after the txn's own earlier writes); a write sets it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Txn {
    ops: Vec<(bool, u32, u32)>,
}

/// The multi-register model; every register starts at `initial` (an interned value).
#[derive(Clone, Copy, Debug)]
pub struct MultiRegister {
    /// The interned initial value of every register (0 = nil).
    pub initial: u32,
}

/// The state: the registers that hold something other than the initial value, sorted.
pub type State = Vec<(u32, u32)>;

fn get(state: &State, register: u32, initial: u32) -> u32 {
    match state.binary_search_by_key(&register, |&(r, _)| r) {
        Ok(i) => state[i].1,
        Err(_) => initial,
    }
}

fn set(state: &mut State, register: u32, value: u32, initial: u32) {
    match state.binary_search_by_key(&register, |&(r, _)| r) {
        Ok(i) if value == initial => {
            state.remove(i);
        }
        Ok(i) => state[i].1 = value,
        Err(_) if value == initial => {}
        Err(i) => state.insert(i, (register, value)),
    }
}

/// The micro-ops of a txn value, as (is_write, register, value).
fn micro_ops(v: &Value) -> Result<Vec<(bool, &Value, &Value)>, String> {
    let list = v.as_list().ok_or_else(|| {
        format!("a multi-register op's value is a list of [f, register, value], got {v}")
    })?;
    list.iter()
        .map(|m| match m.as_list() {
            Some([Value::Str(f), reg, val]) => match f.as_str() {
                "r" | "read" => Ok((false, reg, val)),
                "w" | "write" => Ok((true, reg, val)),
                other => Err(format!(
                    "unknown micro-op {other:?} in {v}: use r/read or w/write"
                )),
            },
            _ => Err(format!(
                "a micro-op is [f, register, value], got {m} in {v}"
            )),
        })
        .collect()
}

impl Model for MultiRegister {
    type State = State;
    type Op = Txn;

    fn name(&self) -> &'static str {
        "multi-register"
    }

    fn init(&self) -> State {
        Vec::new()
    }

    fn compile(&self, call: &CallView, values: &mut Interner) -> Result<Option<Txn>, String> {
        if call.outcome == Outcome::Fail {
            return Ok(None);
        }
        let invoked = micro_ops(call.input)?;
        // The completion carries what the reads returned; an unknown op has no results.
        let done = match call.outcome {
            Outcome::Ok => micro_ops(call.output)?,
            _ => invoked.clone(),
        };
        if done.len() != invoked.len() {
            return Err(format!(
                "the completion has {} micro-ops but the invoke had {}",
                done.len(),
                invoked.len()
            ));
        }
        let mut txn = Txn { ops: Vec::new() };
        for (&(write, reg, arg), &(_, _, result)) in invoked.iter().zip(&done) {
            let reg = values.intern(reg);
            if write {
                txn.ops.push((true, reg, values.intern(arg)));
            } else if call.outcome == Outcome::Ok {
                txn.ops.push((false, reg, values.intern(result)));
            }
        }
        if txn.ops.is_empty() {
            return Ok(None);
        }
        Ok(Some(txn))
    }

    fn step(&self, state: &State, op: &Txn) -> Option<State> {
        let mut next = state.clone();
        for &(write, reg, val) in &op.ops {
            if write {
                set(&mut next, reg, val, self.initial);
            } else if get(&next, reg, self.initial) != val {
                return None;
            }
        }
        Some(next)
    }

    fn is_observer(&self, op: &Txn) -> bool {
        op.ops.iter().all(|&(write, _, _)| !write)
    }

    fn describe_state(&self, state: &State, values: &Interner) -> String {
        if state.is_empty() {
            return format!("every register at {}", values.value(self.initial));
        }
        let parts: Vec<String> = state
            .iter()
            .map(|&(r, v)| format!("{}={}", values.value(r), values.value(v)))
            .collect();
        format!(
            "{} (others at {})",
            parts.join(" "),
            values.value(self.initial)
        )
    }
}

/// What the model is, in one line (for `ferrocheck list`).
pub const ABOUT: &str = "several registers read and written together in one txn";

/// Builds the model with every key starting at `initial`.
pub fn build(initial: &Value) -> anyhow::Result<Box<dyn DynModel>> {
    let mut values = Interner::default();
    let m = MultiRegister {
        initial: values.intern(initial),
    };
    Ok(erase(m, values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{check, CheckOptions, Validity};
    use crate::history::{History, Op, OpType, Process};

    fn txn(ms: &[(&str, &str, Option<i64>)]) -> Value {
        Value::List(
            ms.iter()
                .map(|(f, r, v)| {
                    Value::List(vec![
                        Value::Str(f.to_string()),
                        Value::Str(r.to_string()),
                        v.map(Value::Int).unwrap_or(Value::Nil),
                    ])
                })
                .collect(),
        )
    }

    /// (process, type, value) rows in real-time order.
    fn history(rows: Vec<(u64, OpType, Value)>) -> History {
        History {
            header: None,
            ops: rows
                .into_iter()
                .enumerate()
                .map(|(i, (p, kind, value))| Op {
                    index: i as u64,
                    time: i as u64,
                    process: Process::Client(p),
                    kind,
                    f: "txn".into(),
                    key: None,
                    value,
                    error: None,
                })
                .collect(),
        }
    }

    fn verdict(h: &History) -> Validity {
        let opts = CheckOptions {
            model: Some("multi-register".into()),
            ..Default::default()
        };
        check(h, &opts).expect("checkable").validity
    }

    #[test]
    fn atomic_multi_writes_are_seen_together() {
        use OpType::*;
        let w = txn(&[("w", "x", Some(1)), ("w", "y", Some(1))]);
        let r_inv = txn(&[("r", "x", None), ("r", "y", None)]);
        let good = history(vec![
            (0, Invoke, w.clone()),
            (0, Ok, w.clone()),
            (1, Invoke, r_inv.clone()),
            (1, Ok, txn(&[("r", "x", Some(1)), ("r", "y", Some(1))])),
        ]);
        assert_eq!(verdict(&good), Validity::Valid);
        // A read that sees half of a committed write: not atomic.
        let torn = history(vec![
            (0, Invoke, w.clone()),
            (0, Ok, w),
            (1, Invoke, r_inv),
            (1, Ok, txn(&[("r", "x", Some(1)), ("r", "y", None)])),
        ]);
        assert_eq!(verdict(&torn), Validity::Invalid);
    }

    #[test]
    fn an_unknown_write_may_or_may_not_have_happened() {
        use OpType::*;
        let w = txn(&[("w", "x", Some(3))]);
        let r_inv = txn(&[("r", "x", None)]);
        for seen in [None, Some(3)] {
            let h = history(vec![
                (0, Invoke, w.clone()),
                (0, Info, w.clone()),
                (1, Invoke, r_inv.clone()),
                (1, Ok, txn(&[("r", "x", seen)])),
            ]);
            assert_eq!(verdict(&h), Validity::Valid, "read {seen:?}");
        }
        let h = history(vec![
            (0, Invoke, w.clone()),
            (0, Fail, w),
            (1, Invoke, r_inv),
            (1, Ok, txn(&[("r", "x", Some(3))])),
        ]);
        assert_eq!(verdict(&h), Validity::Invalid, "a failed write was read");
    }

    #[test]
    fn malformed_micro_ops_are_errors_not_verdicts() {
        use OpType::*;
        let bad = Value::List(vec![Value::Int(1)]);
        let h = history(vec![(0, Invoke, bad.clone()), (0, Ok, bad)]);
        let opts = CheckOptions {
            model: Some("multi-register".into()),
            ..Default::default()
        };
        let err = check(&h, &opts).expect_err("malformed").to_string();
        assert!(err.contains("micro-op"), "{err}");
    }
}
