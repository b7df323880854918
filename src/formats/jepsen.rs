//! Jepsen's `history.edn`: a vector `[...]`, a list `(...)`, or a plain sequence of op maps such
//! as `{:type :invoke, :f :cas, :value [1 2], :process 3, :time 1843021, :index 7}` (newer
//! Jepsen writes them tagged, `#jepsen.history.Op{...}`; the tag is dropped).
//!
//! This module only reads; what a `:fail` op or a nil read *means* is decided afterwards, by
//! [`crate::formats::semantics`] (Knossos's reading by default for EDN).
//!
//! `:process :nemesis` ops are kept (they mark fault windows) but are ignored by checkers.
//! `:key` is kept when present (Porcupine's kv files use it). Keywords in values become strings
//! (`:timed-out` → "timed-out"); floats and maps in a client op's value are errors.

use crate::formats::edn::{Edn, Reader};
use crate::formats::Builder;
use crate::history::{History, HistoryError, Op, OpType, Process, Value};
use std::path::Path;

/// Converts an EDN value to a history value.
pub fn edn_to_value(e: &Edn) -> Result<Value, String> {
    Ok(match e {
        Edn::Nil => Value::Nil,
        Edn::Bool(b) => Value::Bool(*b),
        Edn::Int(i) => Value::Int(*i),
        Edn::Str(s) => Value::Str(s.clone()),
        Edn::Keyword(k) | Edn::Symbol(k) => Value::Str(k.clone()),
        Edn::Vector(v) | Edn::Set(v) => {
            Value::List(v.iter().map(edn_to_value).collect::<Result<_, _>>()?)
        }
        Edn::Float(x) => return Err(format!("floating-point values are not supported, got {x}")),
        Edn::Map(_) => return Err(format!("maps are not supported as op values, got {e}")),
    })
}

/// The process given to a completion recorded without one (and without its invocation): such
/// ops get a process of their own each, and checkers treat them as unordered.
const UNPAIRED: u64 = u64::MAX;

fn name(e: &Edn) -> Option<String> {
    match e {
        Edn::Keyword(k) | Edn::Symbol(k) | Edn::Str(k) => Some(k.clone()),
        Edn::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn to_op(m: &Edn) -> Result<Op, String> {
    if !matches!(m, Edn::Map(_)) {
        return Err(format!(
            "expected an op map like {{:type :invoke, :f :read, :process 0}}, got {m}"
        ));
    }
    let process = match m.get("process") {
        Some(Edn::Int(p)) if *p >= 0 => Process::Client(*p as u64),
        Some(Edn::Keyword(k)) if k == "nemesis" => Process::Nemesis,
        Some(other) => {
            return Err(format!(
                ":process must be a non-negative integer or :nemesis, got {other}"
            ))
        }
        // Elle's example histories record completions only, without :process.
        None if !matches!(m.get("type"), Some(Edn::Keyword(k)) if k == "invoke") => {
            Process::Client(UNPAIRED)
        }
        None => return Err("the op has no :process".into()),
    };
    let kind = match m.get("type") {
        Some(Edn::Keyword(k)) => match k.as_str() {
            "invoke" => OpType::Invoke,
            "ok" => OpType::Ok,
            "fail" => OpType::Fail,
            "info" => OpType::Info,
            _ => {
                return Err(format!(
                    "unknown :type :{k} (expected :invoke, :ok, :fail or :info)"
                ))
            }
        },
        Some(other) => return Err(format!(":type must be a keyword, got {other}")),
        None => return Err("the op has no :type".into()),
    };
    let raw = m.get("value").unwrap_or(&Edn::Nil);
    let f = match m.get("f").and_then(name) {
        Some(f) => f,
        // A transaction's value says what it is; Elle's examples often leave :f out.
        None if edn_to_value(raw).is_ok_and(|v| crate::check::txn::shape::is_txn_value(&v)) => {
            "txn".to_string()
        }
        None => return Err("the op has no :f (or it is not a keyword)".into()),
    };
    let value = match (process, edn_to_value(raw)) {
        (_, Ok(v)) => v,
        (Process::Nemesis, Err(_)) => Value::Str(raw.to_string()),
        (Process::Client(_), Err(e)) => return Err(e),
    };
    let time = match m.get("time") {
        Some(Edn::Int(t)) => (*t).max(0) as u64,
        _ => 0,
    };
    Ok(Op {
        index: 0,
        time,
        process,
        kind,
        f,
        key: m.get("key").and_then(name),
        value,
        error: m.get("error").map(|e| e.to_string()),
    })
}

/// Parses a Jepsen EDN history (or Porcupine kv file).
pub fn parse(path: &Path, text: &str) -> Result<History, HistoryError> {
    let mut b = Builder::new(path);
    let mut r = Reader::new(text);
    let at = |_: &Reader, e: crate::formats::edn::EdnError| HistoryError::Malformed {
        path: path.to_owned(),
        line: e.line,
        column: e.column,
        message: e.message,
    };

    let mut unpaired = 0;
    let close = match r.peek().map_err(|e| at(&r, e))? {
        Some(b'[') => Some(b']'),
        Some(b'(') => Some(b')'),
        _ => None,
    };
    let wrapped = close.is_some();
    let what = if close == Some(b')') {
        "list"
    } else {
        "vector"
    };
    if wrapped {
        r.bump();
    }
    loop {
        if let Some(close) = close {
            match r.peek().map_err(|e| at(&r, e))? {
                Some(c) if c == close => {
                    r.bump();
                    if let Some((_, line, column)) = r.next_form().map_err(|e| at(&r, e))? {
                        return Err(b.error(
                            line,
                            column,
                            format!("unexpected text after the history {what}"),
                        ));
                    }
                    break;
                }
                None => {
                    let (line, column) = r.position();
                    return Err(b.error(
                        line,
                        column,
                        format!(
                            "missing '{}' at the end of the history {what}",
                            close as char
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        let Some((form, line, column)) = r.next_form().map_err(|e| at(&r, e))? else {
            break;
        };
        let mut op = to_op(&form).map_err(|m| b.error(line, column, m))?;
        if op.process == Process::Client(UNPAIRED) {
            op.process = Process::Client(UNPAIRED - unpaired);
            unpaired += 1;
            b.push_unpaired(op);
        } else {
            b.push(op, line, column)?;
        }
    }
    Ok(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vector_and_sequence_forms() {
        let v = "[{:type :invoke, :f :write, :value 1, :process 0, :time 5}\n {:type :ok, :f :write, :value 1, :process 0}\n {:type :info, :f :start, :value {:a 1.5}, :process :nemesis}]";
        let h = parse(Path::new("h.edn"), v).unwrap();
        assert_eq!(h.ops.len(), 3);
        assert_eq!(h.ops[0].time, 5);
        assert_eq!(h.ops[2].process, Process::Nemesis);
        let s = "{:type :invoke, :f :get, :key \"3\", :process 1}\n{:type :ok, :f :get, :key \"3\", :value \"x\", :process 1}\n";
        let h = parse(Path::new("h.edn"), s).unwrap();
        assert_eq!(h.ops[1].key.as_deref(), Some("3"));
        assert_eq!(h.ops[1].value, Value::Str("x".into()));
    }

    #[test]
    fn reads_elle_transactions_without_process_or_f() {
        let text = "; an Elle example\n{:type :ok, :value [[:append :x 1] [:r :y [1 2]]]}\n; between ops\n{:index 1, :type :ok, :value [[:r :x [1]]]}\n";
        let h = parse(Path::new("h.edn"), text).unwrap();
        assert_eq!(h.ops.len(), 2);
        assert_eq!(h.ops[0].f, "txn");
        assert_ne!(h.ops[0].process, h.ops[1].process);
        assert_eq!(
            h.ops[0].value.to_string(),
            "[[\"append\" \"x\" 1] [\"r\" \"y\" [1 2]]]"
        );
        let e = parse(Path::new("h.edn"), "{:type :invoke, :f :txn, :value []}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no :process"), "{e}");
    }

    #[test]
    fn bad_ops_name_line_and_column() {
        let e = parse(
            Path::new("h.edn"),
            "[{:type :invoke, :f :read, :process 0}\n  {:type :okay, :f :read, :process 0}]",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("h.edn:2:3:") && e.contains(":okay"), "{e}");
        let e = parse(Path::new("h.edn"), "[{:type :invoke, :f :read, :process 0}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing ']'"), "{e}");
        let e = parse(Path::new("h.edn"), "{:type :ok, :f :read, :process 0}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("never invoked"), "{e}");
    }

    #[test]
    fn reads_a_top_level_list_with_comments_tags_and_sets() {
        let text = "; history.edn written by Jepsen\n(#jepsen.history.Op{:index 0, :time 5, :type :invoke, :process 0, :f :read, :value nil}\n #jepsen.history.Op{:index 1, :time 9, :type :ok, :process 0, :f :read, :value #{1 2}}\n {:type :info, :process :nemesis, :f :start, :value :knossos.model/x, :error \"a \\\"quoted\\\" reason\"}\n)\n";
        let h = parse(Path::new("h.edn"), text).unwrap();
        assert_eq!(h.ops.len(), 3);
        assert_eq!(h.ops[0].time, 5);
        assert_eq!(
            h.ops[1].value,
            Value::List(vec![Value::Int(1), Value::Int(2)])
        );
        assert_eq!(h.ops[2].value, Value::Str("knossos.model/x".into()));
        assert!(h.ops[2]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("quoted")));
        let e = parse(Path::new("h.edn"), "({:type :invoke, :f :read, :process 0}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing ')'") && e.contains("list"), "{e}");
    }
}
