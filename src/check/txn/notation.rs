//! Elle's compact transaction notation, so a test history fits on one line: `"ax1ry12"` is a
//! txn that appends 1 to x and reads y = [1 2]; `"wx1rx"` writes 1 to x then reads x = nil.
//!
//! - micro-ops: `a` append, `w` write, `r` read, each followed by a one-letter key and digits.
//!   An append or write takes the digits as one number (`ax12` appends 12); a list-append read
//!   takes each digit as an element (`ry12` reads [1 2]), a register read the digits as one
//!   value (`rx5`), and no digits read nil / the empty list. A history with any `w` is an
//!   rw-register history.
//! - prefixes: `3:` runs the txn on process 3 (default: a process of its own); `!` marks it
//!   failed, `?` unknown (info).
//!
//! [`concurrent`] lays txns out overlapping (every invocation before any completion, except
//! where one process runs several in turn), so only process order adds order; [`serial`] runs
//! them one after another, so each txn precedes the next in real time.

use crate::history::{History, Op, OpType, Process, Value};

struct Parsed {
    process: Option<u64>,
    status: OpType,
    invoke: Value,
    complete: Value,
}

fn parse_txn(s: &str, register: bool) -> Result<Parsed, String> {
    let mut rest = s;
    let mut process = None;
    if let Some((p, r)) = rest.split_once(':') {
        process = Some(
            p.parse::<u64>()
                .map_err(|e| format!("{s:?}: bad process {p:?}: {e}"))?,
        );
        rest = r;
    }
    let status = match rest.chars().next() {
        Some('!') => OpType::Fail,
        Some('?') => OpType::Info,
        _ => OpType::Ok,
    };
    if status != OpType::Ok {
        rest = &rest[1..];
    }
    let chars: Vec<char> = rest.chars().collect();
    let (mut inv, mut done) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < chars.len() {
        let f = chars[i];
        let key = *chars
            .get(i + 1)
            .filter(|c| c.is_ascii_alphabetic())
            .ok_or_else(|| format!("{s:?}: micro-op {f:?} needs a one-letter key"))?;
        let mut j = i + 2;
        while j < chars.len() && chars[j].is_ascii_digit() {
            j += 1;
        }
        let digits: Vec<i64> = chars[i + 2..j]
            .iter()
            .map(|c| *c as i64 - '0' as i64)
            .collect();
        let number = digits.iter().fold(0i64, |n, d| n * 10 + d);
        let k = Value::Str(key.to_string());
        let (fname, inv_v, done_v) = match f {
            'a' | 'w' if digits.is_empty() => return Err(format!("{s:?}: {f}{key} needs a value")),
            'a' => ("append", Value::Int(number), Value::Int(number)),
            'w' => ("w", Value::Int(number), Value::Int(number)),
            'r' if register => (
                "r",
                Value::Nil,
                if digits.is_empty() {
                    Value::Nil
                } else {
                    Value::Int(number)
                },
            ),
            'r' => (
                "r",
                Value::Nil,
                Value::List(digits.into_iter().map(Value::Int).collect()),
            ),
            other => return Err(format!("{s:?}: unknown micro-op {other:?} (a, w or r)")),
        };
        let mop = |v| Value::List(vec![Value::Str(fname.into()), k.clone(), v]);
        inv.push(mop(inv_v));
        done.push(mop(done_v));
        i = j;
    }
    let complete = if status == OpType::Ok {
        Value::List(done)
    } else {
        Value::List(inv.clone())
    };
    Ok(Parsed {
        process,
        status,
        invoke: Value::List(inv),
        complete,
    })
}

fn op(process: u64, kind: OpType, value: Value) -> Op {
    Op {
        index: 0,
        time: 0,
        process: Process::Client(process),
        kind,
        f: "txn".into(),
        key: None,
        value,
        error: None,
    }
}

fn build(txns: &[&str], serial: bool) -> Result<History, String> {
    let register = txns.iter().any(|t| {
        let body = t.rsplit(':').next().unwrap_or(t);
        body.contains('w')
    });
    let parsed: Vec<Parsed> = txns
        .iter()
        .map(|t| parse_txn(t, register))
        .collect::<Result<_, _>>()?;
    let procs: Vec<u64> = parsed
        .iter()
        .enumerate()
        .map(|(i, p)| p.process.unwrap_or(1000 + i as u64))
        .collect();
    let mut ops = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    for (i, p) in parsed.iter().enumerate() {
        if let Some(pos) = open.iter().position(|&o| procs[o] == procs[i]) {
            let o = open.remove(pos);
            ops.push(op(procs[o], parsed[o].status, parsed[o].complete.clone()));
        }
        ops.push(op(procs[i], OpType::Invoke, p.invoke.clone()));
        if serial {
            ops.push(op(procs[i], p.status, p.complete.clone()));
        } else {
            open.push(i);
        }
    }
    for o in open {
        ops.push(op(procs[o], parsed[o].status, parsed[o].complete.clone()));
    }
    for (i, o) in ops.iter_mut().enumerate() {
        o.index = i as u64;
        o.time = i as u64;
    }
    Ok(History { header: None, ops })
}

/// The txns, overlapping in time (see the module docs).
pub fn concurrent(txns: &[&str]) -> Result<History, String> {
    build(txns, false)
}

/// The txns, one after another.
pub fn serial(txns: &[&str]) -> Result<History, String> {
    build(txns, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notation_reads_as_elle_writes_it() {
        let h = serial(&["ax1ry12", "2:!ax3"]).unwrap();
        assert_eq!(h.ops.len(), 4);
        assert_eq!(
            h.ops[1].value.to_string(),
            "[[\"append\" \"x\" 1] [\"r\" \"y\" [1 2]]]"
        );
        assert_eq!(
            h.ops[0].value.to_string(),
            "[[\"append\" \"x\" 1] [\"r\" \"y\" nil]]"
        );
        assert_eq!(h.ops[3].kind, OpType::Fail);
        assert_eq!(h.ops[3].process, Process::Client(2));
        let c = concurrent(&["ax1", "rx1", "1:ax2"]).unwrap();
        let kinds: Vec<OpType> = c.ops.iter().map(|o| o.kind).collect();
        use OpType::*;
        assert_eq!(kinds, [Invoke, Invoke, Invoke, Ok, Ok, Ok]);
        assert!(serial(&["qx1"]).is_err());
    }
}
