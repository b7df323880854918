//! The client commands every toy store understands, parsed once, and what each does to the
//! value of its key.
//!
//! Every client command names one key and is a read-modify-write of that key's value:
//! [`parse`] turns the words of a request into a [`Command`], and [`Command::apply`] maps the
//! key's current value to its new value and the reply. A store only decides *how* that step is
//! made atomic and replicated: `lin-kv` runs it under the leader's lock, `quorum-kv` inside one
//! Paxos round, `lww-kv` on its local copy (and replicates the new value, last writer wins).
//!
//! Values are strings. Registers hold the client's text; the other data types are stored as
//! JSON text in the same string, so every store keeps, journals and replicates them unchanged:
//!
//! | command | value | reply |
//! | --- | --- | --- |
//! | `GET k` · `SET k v` · `CAS k from to` | text | bulk · `+OK` · `:1`/`:0` |
//! | `SADD k v` · `SMEMBERS k` | a JSON array of distinct strings | `:1` new, `:0` already there · array of bulk strings |
//! | `LPUSH k v` · `RPOP k` | a JSON array, newest first | `:length` · the oldest element, nil when empty |
//! | `INCRBY k n` | an integer | `:new value` (read it with `GET`) |
//! | `BANKINIT k accounts balance` | a JSON object, account number → balance | `:1` created, `:0` it existed |
//! | `TRANSFER k from to amount` | (the same object) | `:1` moved, `:0` insufficient funds |
//! | `BALANCES k` | (the same object) | array of integers in account order, empty if no bank |
//!
//! A bank is one key holding every account, so a transfer is one atomic step on one key in
//! every store (no store here has multi-key transactions). A command on a key holding another
//! type answers `-NOTAPPLIED WRONGTYPE ...` and changes nothing.

use super::resp::Frame;
use super::{unknown_command, wrong_arity, NOT_APPLIED};
use std::collections::BTreeMap;

/// Every client command name, for stores that forward requests without parsing them.
pub const NAMES: &[&str] = &[
    "GET", "SET", "CAS", "SADD", "SMEMBERS", "LPUSH", "RPOP", "INCRBY", "BANKINIT", "TRANSFER",
    "BALANCES",
];

/// One parsed client command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `GET k`: the register's value.
    Get(String),
    /// `SET k v`.
    Set(String, String),
    /// `CAS k from to`; `from` nil compares against a missing key.
    Cas(String, Option<String>, String),
    /// `SADD k v`.
    Sadd(String, String),
    /// `SMEMBERS k`.
    Smembers(String),
    /// `LPUSH k v`: add at the head (newest first).
    Lpush(String, String),
    /// `RPOP k`: take from the tail (oldest); with `LPUSH`, a FIFO queue.
    Rpop(String),
    /// `INCRBY k n`.
    Incrby(String, i64),
    /// `BANKINIT k accounts balance`: create the bank if it does not exist.
    BankInit(String, u32, i64),
    /// `TRANSFER k from to amount`: move `amount` between two accounts of bank `k`.
    Transfer(String, u32, u32, i64),
    /// `BALANCES k`: every account's balance, in account order.
    Balances(String),
}

/// True for a name [`parse`] knows.
pub fn is_client_command(name: &str) -> bool {
    NAMES.contains(&name)
}

fn word<'a>(args: &'a [Option<String>], i: usize, what: &str) -> Result<&'a str, Frame> {
    super::arg(args, i, what)
}

fn number<T: std::str::FromStr>(args: &[Option<String>], i: usize, what: &str) -> Result<T, Frame> {
    word(args, i, what)?
        .parse()
        .map_err(|_| Frame::error(NOT_APPLIED, format!("{what} must be an integer")))
}

/// Parses a client command (`name` upper-cased); `Ok(None)` for a name that is not one, so the
/// store can try its internal commands.
pub fn parse(name: &str, args: &[Option<String>]) -> Result<Option<Command>, Frame> {
    let key = || word(args, 0, "the key").map(str::to_string);
    let usage = match name {
        "GET" => "GET key",
        "SET" => "SET key value",
        "CAS" => "CAS key from to",
        "SADD" => "SADD key member",
        "SMEMBERS" => "SMEMBERS key",
        "LPUSH" => "LPUSH key value",
        "RPOP" => "RPOP key",
        "INCRBY" => "INCRBY key n",
        "BANKINIT" => "BANKINIT key accounts balance",
        "TRANSFER" => "TRANSFER key from to amount",
        "BALANCES" => "BALANCES key",
        _ => return Ok(None),
    };
    let words = usage.split(' ').count() - 1;
    if args.len() != words {
        return Err(wrong_arity(name, usage));
    }
    let value = |i| word(args, i, "the value").map(str::to_string);
    Ok(Some(match name {
        "GET" => Command::Get(key()?),
        "SET" => Command::Set(key()?, value(1)?),
        "CAS" => Command::Cas(key()?, args[1].clone(), value(2)?),
        "SADD" => Command::Sadd(key()?, value(1)?),
        "SMEMBERS" => Command::Smembers(key()?),
        "LPUSH" => Command::Lpush(key()?, value(1)?),
        "RPOP" => Command::Rpop(key()?),
        "INCRBY" => Command::Incrby(key()?, number(args, 1, "the increment")?),
        "BANKINIT" => Command::BankInit(
            key()?,
            number(args, 1, "the number of accounts")?,
            number(args, 2, "the balance")?,
        ),
        "TRANSFER" => Command::Transfer(
            key()?,
            number(args, 1, "the from account")?,
            number(args, 2, "the to account")?,
            number(args, 3, "the amount")?,
        ),
        _ => Command::Balances(key()?),
    }))
}

/// Parses a client command, or answers that the store does not know it.
pub fn parse_client(name: &str, args: &[Option<String>]) -> Result<Command, Frame> {
    parse(name, args)?.ok_or_else(|| unknown_command(name))
}

fn wrong_type(key: &str, what: &str) -> Frame {
    Frame::error(
        NOT_APPLIED,
        format!("WRONGTYPE key {key} does not hold {what}"),
    )
}

/// The JSON value of `key` as a `T`, or the default when the key is missing.
fn decode<T: serde::de::DeserializeOwned + Default>(
    key: &str,
    current: Option<&str>,
    what: &str,
) -> Result<T, Frame> {
    match current {
        None => Ok(T::default()),
        Some(text) => serde_json::from_str(text).map_err(|_| wrong_type(key, what)),
    }
}

fn encode<T: serde::Serialize>(value: &T) -> Option<String> {
    serde_json::to_string(value).ok()
}

impl Command {
    /// The key the command reads or changes.
    pub fn key(&self) -> &str {
        match self {
            Command::Get(k)
            | Command::Set(k, _)
            | Command::Cas(k, ..)
            | Command::Sadd(k, _)
            | Command::Smembers(k)
            | Command::Lpush(k, _)
            | Command::Rpop(k)
            | Command::Incrby(k, _)
            | Command::BankInit(k, ..)
            | Command::Transfer(k, ..)
            | Command::Balances(k) => k,
        }
    }

    /// The command's step on its key: from the current value (`None`: missing) to the new value
    /// and the reply. An error reply means nothing changed.
    pub fn apply(&self, current: Option<&str>) -> Result<(Option<String>, Frame), Frame> {
        let unchanged = || current.map(str::to_string);
        let key = self.key();
        Ok(match self {
            Command::Get(_) => (unchanged(), Frame::opt_bulk(current)),
            Command::Set(_, v) => (Some(v.clone()), Frame::ok()),
            Command::Cas(_, from, to) if current == from.as_deref() => {
                (Some(to.clone()), Frame::Integer(1))
            }
            Command::Cas(..) => (unchanged(), Frame::Integer(0)),
            Command::Sadd(_, v) => {
                let mut set: Vec<String> = decode(key, current, "a set")?;
                if set.contains(v) {
                    (unchanged(), Frame::Integer(0))
                } else {
                    set.push(v.clone());
                    (encode(&set), Frame::Integer(1))
                }
            }
            Command::Smembers(_) => {
                let set: Vec<String> = decode(key, current, "a set")?;
                let members = set.iter().map(Frame::bulk).collect();
                (unchanged(), Frame::Array(Some(members)))
            }
            Command::Lpush(_, v) => {
                let mut list: Vec<String> = decode(key, current, "a list")?;
                list.insert(0, v.clone());
                (encode(&list), Frame::Integer(list.len() as i64))
            }
            Command::Rpop(_) => {
                let mut list: Vec<String> = decode(key, current, "a list")?;
                match list.pop() {
                    None => (unchanged(), Frame::Bulk(None)),
                    Some(v) => (encode(&list), Frame::bulk(v)),
                }
            }
            Command::Incrby(_, n) => {
                let now: i64 = match current {
                    None => 0,
                    Some(t) => t.parse().map_err(|_| wrong_type(key, "an integer"))?,
                };
                let new = now.wrapping_add(*n);
                (Some(new.to_string()), Frame::Integer(new))
            }
            Command::BankInit(_, accounts, balance) => {
                if current.is_some() {
                    let _: BTreeMap<u32, i64> = decode(key, current, "a bank")?;
                    (unchanged(), Frame::Integer(0))
                } else {
                    let bank: BTreeMap<u32, i64> = (0..*accounts).map(|a| (a, *balance)).collect();
                    (encode(&bank), Frame::Integer(1))
                }
            }
            Command::Transfer(_, from, to, amount) => {
                let mut bank: BTreeMap<u32, i64> = decode(key, current, "a bank")?;
                let (Some(&have), true) = (bank.get(from), bank.contains_key(to)) else {
                    return Err(Frame::error(
                        NOT_APPLIED,
                        format!("no account {from} or {to} in bank {key} (send BANKINIT first)"),
                    ));
                };
                if *amount < 0 || have < *amount {
                    (unchanged(), Frame::Integer(0))
                } else {
                    bank.insert(*from, have - amount);
                    *bank.entry(*to).or_default() += amount;
                    (encode(&bank), Frame::Integer(1))
                }
            }
            Command::Balances(_) => {
                let bank: BTreeMap<u32, i64> = decode(key, current, "a bank")?;
                let balances = bank.values().map(|&b| Frame::Integer(b)).collect();
                (unchanged(), Frame::Array(Some(balances)))
            }
        })
    }

    /// True for a command that only reads.
    pub fn changes_nothing(&self) -> bool {
        matches!(
            self,
            Command::Get(_) | Command::Smembers(_) | Command::Balances(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(words: &[&str]) -> Command {
        let args: Vec<Option<String>> = words[1..].iter().map(|w| Some(w.to_string())).collect();
        parse_client(words[0], &args).unwrap()
    }

    /// Applies `words` to `value`; returns the new value and the reply.
    fn step(value: Option<String>, words: &[&str]) -> (Option<String>, Frame) {
        cmd(words).apply(value.as_deref()).unwrap()
    }

    #[test]
    fn registers_behave_as_before() {
        let (v, r) = step(None, &["SET", "k", "3"]);
        assert_eq!((v.as_deref(), r), (Some("3"), Frame::ok()));
        let (_, r) = step(v.clone(), &["CAS", "k", "4", "5"]);
        assert_eq!(r, Frame::Integer(0));
        let (v, r) = step(v, &["CAS", "k", "3", "5"]);
        assert_eq!((v.as_deref(), r), (Some("5"), Frame::Integer(1)));
        let nil_cas = Command::Cas("k".into(), None, "1".into());
        assert_eq!(nil_cas.apply(None).unwrap().1, Frame::Integer(1));
    }

    #[test]
    fn sets_queues_and_counters() {
        let (v, _) = step(None, &["SADD", "s", "1"]);
        let (v, r) = step(v, &["SADD", "s", "1"]);
        assert_eq!(r, Frame::Integer(0));
        let (v, _) = step(v, &["SADD", "s", "2"]);
        let (_, r) = step(v, &["SMEMBERS", "s"]);
        assert_eq!(
            r,
            Frame::Array(Some(vec![Frame::bulk("1"), Frame::bulk("2")]))
        );

        let (q, _) = step(None, &["LPUSH", "q", "a"]);
        let (q, _) = step(q, &["LPUSH", "q", "b"]);
        let (q, r) = step(q, &["RPOP", "q"]);
        assert_eq!(r, Frame::bulk("a"), "oldest first");
        let (q, _) = step(q, &["RPOP", "q"]);
        assert_eq!(step(q, &["RPOP", "q"]).1, Frame::Bulk(None));

        let (c, _) = step(None, &["INCRBY", "c", "4"]);
        let (c, r) = step(c, &["INCRBY", "c", "-1"]);
        assert_eq!((c.as_deref(), r), (Some("3"), Frame::Integer(3)));
        assert!(cmd(&["SADD", "c", "1"]).apply(c.as_deref()).is_err());
    }

    #[test]
    fn a_bank_conserves_its_total_and_refuses_overdrafts() {
        let (b, r) = step(None, &["BANKINIT", "b", "3", "10"]);
        assert_eq!(r, Frame::Integer(1));
        let (b, r) = step(b, &["BANKINIT", "b", "3", "99"]);
        assert_eq!(r, Frame::Integer(0), "an existing bank is kept");
        let (b, r) = step(b, &["TRANSFER", "b", "0", "2", "7"]);
        assert_eq!(r, Frame::Integer(1));
        let (b, r) = step(b, &["TRANSFER", "b", "0", "1", "4"]);
        assert_eq!(r, Frame::Integer(0), "only 3 left in account 0");
        let balances = |b| match step(b, &["BALANCES", "b"]).1 {
            Frame::Array(Some(v)) => v,
            other => panic!("{other:?}"),
        };
        let want: Vec<Frame> = [3, 10, 17].into_iter().map(Frame::Integer).collect();
        assert_eq!(balances(b), want);
        assert!(cmd(&["TRANSFER", "x", "0", "1", "1"]).apply(None).is_err());
    }

    #[test]
    fn wrong_arity_and_unknown_names_are_refused() {
        assert!(parse("SADD", &[Some("k".into())]).is_err());
        assert_eq!(parse("MERGE", &[]), Ok(None));
        assert!(parse_client("NOPE", &[]).is_err());
    }
}
