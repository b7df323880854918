//! Porcupine's copy of Jepsen's 2014 etcd logs: one op per line, after `jepsen.util - `, the
//! fields process, type, f and value separated by whitespace:
//!
//! ```text
//! INFO  jepsen.util - 2 :invoke :cas [3 0]
//! INFO  jepsen.util - 4 :info :write :timed-out
//! ```
//!
//! `:fail :read` (a timed-out read) is unknown, so it becomes `info`; `:fail :cas` stays `fail`
//! (the compare did not match). The kv files are EDN op maps, read by [`super::porcupine_kv`].

use crate::formats::edn::{Edn, Reader};
use crate::formats::jepsen::edn_to_value;
use crate::formats::Builder;
use crate::history::{History, HistoryError, Op, OpType, Process, Value};
use std::path::Path;

/// Parses an etcd log.
pub fn parse_etcd(path: &Path, text: &str) -> Result<History, HistoryError> {
    let mut b = Builder::new(path);
    let mut invoked: std::collections::HashMap<u64, Value> = Default::default();
    for (n, line) in text.lines().enumerate() {
        let lineno = n + 1;
        if line.trim().is_empty() {
            continue;
        }
        let Some(at) = line.find(" - ") else {
            return Err(b.error(
                lineno,
                1,
                "expected a Jepsen log line like `INFO  jepsen.util - 2\t:invoke\t:write\t4`",
            ));
        };
        let rest = &line[at + 3..];
        let col = |s: &str| s.as_ptr() as usize - line.as_ptr() as usize + 1;
        let mut fields = rest.split_whitespace();
        let (Some(p), Some(t), Some(f)) = (fields.next(), fields.next(), fields.next()) else {
            return Err(b.error(lineno, at + 4, "expected process, type, f and value"));
        };
        let process: u64 = p.parse().map_err(|_| {
            b.error(
                lineno,
                col(p),
                format!("process must be an integer, got {p}"),
            )
        })?;
        let kind = match t {
            ":invoke" => OpType::Invoke,
            ":ok" => OpType::Ok,
            ":fail" => OpType::Fail,
            ":info" => OpType::Info,
            _ => return Err(b.error(lineno, col(t), format!("unknown op type {t}"))),
        };
        let fname = f
            .strip_prefix(':')
            .filter(|f| matches!(*f, "read" | "write" | "cas"))
            .ok_or_else(|| {
                b.error(
                    lineno,
                    col(f),
                    format!("unknown function {f} (expected :read, :write or :cas)"),
                )
            })?;
        let value_start = col(f) - 1 + f.len();
        let vtext = line[value_start..].trim();
        let value = if vtext.is_empty() {
            Value::Nil
        } else {
            let mut r = Reader::new(vtext);
            let v = r
                .read()
                .map_err(|e| b.error(lineno, value_start + e.column, e.message))?;
            match v {
                Edn::Keyword(_) => Value::Nil,
                other => edn_to_value(&other).map_err(|m| b.error(lineno, value_start + 1, m))?,
            }
        };
        let (kind, value) = match kind {
            OpType::Invoke => {
                invoked.insert(process, value.clone());
                (kind, value)
            }
            OpType::Fail if fname == "read" => (OpType::Info, Value::Nil),
            OpType::Info | OpType::Fail if value.is_nil() => {
                (kind, invoked.get(&process).cloned().unwrap_or(Value::Nil))
            }
            _ => (kind, value),
        };
        b.push(
            Op {
                index: 0,
                time: 0,
                process: Process::Client(process),
                kind,
                f: fname.to_string(),
                key: None,
                value,
                error: None,
            },
            lineno,
            1,
        )?;
    }
    Ok(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_etcd_lines_with_tabs_or_spaces() {
        let text = "INFO  jepsen.util - 2\t:invoke\t:cas\t[3 0]\nINFO  jepsen.util - 2 :fail :cas [3 0]\n\
                    INFO  jepsen.util - 4\t:invoke\t:read\tnil\nINFO  jepsen.util - 4\t:fail\t:read\t:timed-out\n";
        let h = parse_etcd(Path::new("e.log"), text).unwrap();
        assert_eq!(h.ops.len(), 4);
        assert_eq!(h.ops[1].kind, OpType::Fail);
        assert_eq!(
            h.ops[1].value,
            Value::List(vec![Value::Int(3), Value::Int(0)])
        );
        assert_eq!(h.ops[3].kind, OpType::Info);
    }

    #[test]
    fn bad_lines_name_line_and_column() {
        let e = parse_etcd(
            Path::new("e.log"),
            "INFO  jepsen.util - 2\t:invoke\t:frob\t1\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("e.log:1:31:"), "{e}");
        let e = parse_etcd(
            Path::new("e.log"),
            "\nINFO  jepsen.util - 2\t:invoke\t:write\t[1\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("e.log:2:"), "{e}");
    }
}
