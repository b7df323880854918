//! The bank workload: transfers between the accounts of one bank, and reads of every balance.
//!
//! The bank is one key, `bank:accounts`, holding `--keys` accounts (numbered from 0) of
//! [`BALANCE`] each; the `bank:` prefix tells a target's client to use its bank commands (the
//! toy stores' `BANKINIT`, `TRANSFER`, `BALANCES`; a Lua script on a Redis hash). Each worker
//! first sends `init` (`[accounts, balance]`: create the bank unless it exists) until one is
//! acknowledged, then transfers (`[from, to, amount]`, refused when `from` holds less than
//! `amount`) and reads (every balance, in account order). After the main phase, a final read.
//!
//! Checked by `bank`: every read adds up to `accounts × balance`, and no balance is negative.

use super::{pick, Step, WorkerGen, Workload, WorkloadOptions};
use crate::check::CheckOptions;
use crate::history::Value;
use crate::targets::{Outcome, Request};
use rand::rngs::StdRng;
use rand::Rng;

/// The key holding the bank.
pub const KEY: &str = "bank:accounts";
/// What every account holds at first.
pub const BALANCE: i64 = 100;
/// Transfers per read.
const MIX: &[(&str, f64)] = &[("transfer", 3.0), ("read", 1.0)];
/// The largest amount one transfer moves.
const MAX_AMOUNT: i64 = 25;

/// Transfers and reads over one bank of `accounts` accounts.
pub struct BankWorkload {
    accounts: usize,
}

impl BankWorkload {
    /// A bank of `opts.keys` accounts (at least 2).
    pub fn new(opts: &WorkloadOptions) -> BankWorkload {
        BankWorkload {
            accounts: opts.keys.max(2),
        }
    }

    fn init(&self) -> Request {
        request(
            "init",
            Value::List(vec![Value::Int(self.accounts as i64), Value::Int(BALANCE)]),
        )
    }
}

fn request(f: &str, value: Value) -> Request {
    Request {
        f: f.into(),
        key: Some(KEY.into()),
        value,
    }
}

struct BankGen {
    accounts: usize,
    init: Request,
    ready: bool,
}

impl WorkerGen for BankGen {
    fn next(&mut self, rng: &mut StdRng, last: Option<(&Request, &Outcome)>) -> Step {
        if let Some((req, Outcome::Ok(_))) = last {
            self.ready |= req.f == "init";
        }
        if !self.ready {
            return Step::Request(self.init.clone());
        }
        match pick(rng, MIX) {
            "transfer" => {
                let from = rng.gen_range(0..self.accounts);
                let to = (from + rng.gen_range(1..self.accounts)) % self.accounts;
                let amount = rng.gen_range(1..=MAX_AMOUNT);
                let ints = [from as i64, to as i64, amount].map(Value::Int);
                Step::Request(request("transfer", Value::List(ints.to_vec())))
            }
            _ => Step::Request(request("read", Value::Nil)),
        }
    }
}

impl Workload for BankWorkload {
    fn name(&self) -> &str {
        "bank"
    }
    fn model(&self) -> &str {
        crate::check::bank::NAME
    }
    fn worker(&self, _worker: usize) -> Box<dyn WorkerGen> {
        Box::new(BankGen {
            accounts: self.accounts,
            init: self.init(),
            ready: false,
        })
    }
    fn final_requests(&self) -> Vec<Request> {
        vec![request("read", Value::Nil)]
    }
    fn checks(&self) -> Vec<CheckOptions> {
        vec![CheckOptions {
            model: Some(crate::check::bank::NAME.into()),
            ..Default::default()
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::FailReason;
    use rand::SeedableRng;

    #[test]
    fn a_worker_inits_until_acknowledged_then_transfers() {
        let w = BankWorkload::new(&WorkloadOptions::default());
        let mut g = w.worker(0);
        let mut rng = StdRng::seed_from_u64(1);
        let Step::Request(init) = g.next(&mut rng, None) else {
            panic!("no first op")
        };
        assert_eq!(init.f, "init");
        let failed = Outcome::Fail(FailReason::Refused("no quorum".into()));
        assert_eq!(
            g.next(&mut rng, Some((&init, &failed))),
            Step::Request(init.clone())
        );
        let ok = Outcome::Ok(init.value.clone());
        let mut transfers = 0;
        let mut last = (init, ok);
        for _ in 0..100 {
            let Step::Request(r) = g.next(&mut rng, Some((&last.0, &last.1))) else {
                panic!("bank workers never finish on their own");
            };
            assert_ne!(r.f, "init");
            if let Some([from, to, amount]) = r.value.as_list() {
                transfers += 1;
                assert_ne!(from, to);
                assert!(matches!(amount, Value::Int(1..=MAX_AMOUNT)));
            }
            last = (r, Outcome::Ok(Value::Nil));
        }
        assert!(transfers > 50, "{transfers}");
    }
}
