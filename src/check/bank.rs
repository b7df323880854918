//! The bank check: money moves between accounts and is never made or destroyed.
//!
//! A bank history (the `bank` workload) has `init` ops (value `[accounts, balance]`: create
//! the bank with that many accounts, each holding `balance`, unless it exists), `transfer`
//! ops (value `[from, to, amount]`) and `read` ops whose completion lists every account's
//! balance. Whatever order transfers take effect in, and whether an unknown one happened or
//! not, the total stays `accounts × balance` and, since a transfer never overdraws, no balance
//! is negative. So every ok read must show exactly that total and no negative balance
//! (Jepsen's bank test). A read of an empty bank is fine until some `init` was acknowledged,
//! after that it is a vanished bank.
//!
//! This is a safety check on reads only: a store that loses whole transfers (each replica
//! keeping its own consistent bank) keeps the total and passes; the set and counter workloads
//! are the ones that show lost updates.

use crate::check::checker::Checker;
use crate::check::result::{Anomaly, CheckResult, Validity};
use crate::check::spec::CheckerOptions;
use crate::history::{History, OpType, Value};
use serde_json::json;

/// The checker's name in the registry and in results (and the bank workload's model).
pub const NAME: &str = "bank";

/// What `bank` checks, in one line.
pub const ABOUT: &str =
    "bank transfers: every read's balances add up to the initial total and none is negative";

/// Most anomalies reported one by one (the count says how many there were).
const MAX_ANOMALIES: usize = 10;

/// The bank checker (no options).
#[derive(Debug, Default)]
pub struct Bank;

/// Builds the checker; it takes no options.
pub fn build(_opts: &CheckerOptions) -> anyhow::Result<Box<dyn Checker>> {
    Ok(Box::new(Bank))
}

impl Checker for Bank {
    fn name(&self) -> String {
        NAME.into()
    }
    fn about(&self) -> &'static str {
        ABOUT
    }
    fn needs(&self) -> String {
        "init [accounts balance], transfer [from to amount] and read ops returning every balance"
            .into()
    }
    fn check(&self, history: &History) -> anyhow::Result<CheckResult> {
        check(history)
    }
}

fn ints(v: &Value) -> Option<Vec<i64>> {
    v.as_list()?.iter().map(Value::as_int).collect()
}

/// Judges `history`; an error for ops it cannot read.
pub fn check(history: &History) -> anyhow::Result<CheckResult> {
    let mut total = None;
    for op in history
        .ops
        .iter()
        .filter(|o| o.is_client() && o.f == "init")
    {
        match ints(&op.value).as_deref() {
            Some(&[accounts, balance]) => {
                let t = accounts * balance;
                if total.is_some_and(|x| x != t) {
                    anyhow::bail!("op {}: init ops disagree on the initial total", op.index);
                }
                total = Some(t);
            }
            _ => anyhow::bail!(
                "op {}: an init's value must be [accounts, balance], got {}",
                op.index,
                op.value
            ),
        }
    }
    let Some(total) = total else {
        return Ok(CheckResult {
            checker: NAME.into(),
            validity: Validity::Unknown,
            summary: "no init op: the initial total is not known".into(),
            anomalies: Vec::new(),
            stats: serde_json::Value::Null,
        });
    };
    let mut anomalies = Vec::new();
    let mut wrong = 0usize;
    let mut reads = 0usize;
    let mut initialised = false;
    // Invokes of reads still open, by process: a read that began before any init was
    // acknowledged may see no bank at all.
    let mut began_before_init = std::collections::HashMap::new();
    for op in history.ops.iter().filter(|o| o.is_client()) {
        match (op.f.as_str(), op.kind) {
            ("init", OpType::Ok) => initialised = true,
            ("read", OpType::Invoke) => {
                began_before_init.insert(op.process, !initialised);
            }
            ("read", OpType::Ok) => {
                reads += 1;
                let early = began_before_init.remove(&op.process).unwrap_or(false);
                let balances = match &op.value {
                    Value::Nil => Vec::new(),
                    v => ints(v).ok_or_else(|| {
                        anyhow::anyhow!(
                            "op {}: a bank read must return a list of balances, got {v}",
                            op.index
                        )
                    })?,
                };
                let sum: i64 = balances.iter().sum();
                let negative: Vec<i64> = balances.iter().copied().filter(|&b| b < 0).collect();
                let (kind, explanation) = if balances.is_empty() && early {
                    continue;
                } else if balances.is_empty() {
                    (
                        "vanished-bank",
                        "read no bank at all, after the bank was created".to_string(),
                    )
                } else if sum != total {
                    (
                        "wrong-total",
                        format!(
                            "read balances {} adding up to {sum}, but transfers only move money: \
                             the total must stay {total}",
                            op.value
                        ),
                    )
                } else if !negative.is_empty() {
                    (
                        "negative-balance",
                        format!(
                            "read balances {} with a negative balance, though no transfer may \
                             overdraw an account",
                            op.value
                        ),
                    )
                } else {
                    continue;
                };
                wrong += 1;
                if anomalies.len() < MAX_ANOMALIES {
                    anomalies.push(Anomaly {
                        kind: kind.into(),
                        key: op.key.clone(),
                        ops: vec![op.index],
                        explanation: format!("process {} {explanation}", op.process),
                        details: json!({ "balances": op.value.to_string(), "sum": sum, "total": total }),
                    });
                }
            }
            ("read", _) => {
                began_before_init.remove(&op.process);
            }
            _ => {}
        }
    }
    let (validity, summary) = match wrong {
        0 => (
            Validity::Valid,
            format!("all {reads} reads add up to {total}, none negative"),
        ),
        n => (
            Validity::Invalid,
            format!("{n} of {reads} reads do not add up to {total} or show a negative balance"),
        ),
    };
    Ok(CheckResult {
        checker: NAME.into(),
        validity,
        summary,
        anomalies,
        stats: json!({ "reads": reads, "bad_reads": wrong, "total": total }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Op, Process};

    fn op(i: u64, p: u64, kind: OpType, f: &str, value: Value) -> Op {
        Op {
            index: i,
            time: i,
            process: Process::Client(p),
            kind,
            f: f.into(),
            key: Some("bank:accounts".into()),
            value,
            error: None,
        }
    }

    fn list(v: &[i64]) -> Value {
        Value::List(v.iter().map(|&i| Value::Int(i)).collect())
    }

    fn history(read: &[i64]) -> History {
        History {
            header: None,
            ops: vec![
                op(0, 1, OpType::Invoke, "init", list(&[3, 10])),
                op(1, 1, OpType::Ok, "init", list(&[3, 10])),
                op(2, 1, OpType::Invoke, "transfer", list(&[0, 1, 4])),
                op(3, 1, OpType::Info, "transfer", list(&[0, 1, 4])),
                op(4, 2, OpType::Invoke, "read", Value::Nil),
                op(5, 2, OpType::Ok, "read", list(read)),
            ],
        }
    }

    #[test]
    fn a_conserved_total_is_valid() {
        let r = check(&history(&[6, 14, 10])).unwrap();
        assert_eq!(r.validity, Validity::Valid, "{}", r.summary);
    }

    #[test]
    fn money_made_or_lost_is_named() {
        let r = check(&history(&[10, 14, 10])).unwrap();
        assert_eq!(r.validity, Validity::Invalid);
        assert_eq!(r.anomalies[0].kind, "wrong-total");
        assert_eq!(r.anomalies[0].ops, [5]);
        let r = check(&history(&[-4, 24, 10])).unwrap();
        assert_eq!(r.anomalies[0].kind, "negative-balance");
        let r = check(&history(&[])).unwrap();
        assert_eq!(r.anomalies[0].kind, "vanished-bank");
    }

    #[test]
    fn without_an_init_the_total_is_unknown() {
        let mut h = history(&[6, 14, 10]);
        h.ops.drain(..2);
        assert_eq!(check(&h).unwrap().validity, Validity::Unknown);
    }
}
