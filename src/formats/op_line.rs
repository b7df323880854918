//! One op line read without serde, for the lines ferrocheck itself writes: the fields in the
//! writer's order (`index`, `time`, `process`, `type`, `f`, then `key`, `value`, `error` when
//! present), no spaces, strings without escapes, whole numbers. Such a line makes exactly the
//! [`Op`] serde would make from it; anything else (other field orders, escapes, floats, unknown
//! fields, a mistake) gets `None`, and the caller reads the line with serde, which also words
//! its errors. Big histories are almost all such lines, so this is the hot path of reading one.

use crate::formats::scan::Scan;
use crate::history::{Op, OpType, Process, Value};

/// Lists nested deeper than this are left to serde.
const MAX_DEPTH: usize = 8;

/// Reads `line` (already trimmed) if it is in the writer's own form.
pub fn read(line: &str) -> Option<Op> {
    let mut s = Scan { text: line, at: 0 };
    s.lit("{\"index\":")?;
    let index = s.whole()?;
    s.lit(",\"time\":")?;
    let time = s.whole()?;
    s.lit(",\"process\":")?;
    let process = if s.lit("\"nemesis\"").is_some() {
        Process::Nemesis
    } else {
        Process::Client(s.whole()?)
    };
    s.lit(",\"type\":\"")?;
    let kind = if s.lit("invoke\"").is_some() {
        OpType::Invoke
    } else if s.lit("ok\"").is_some() {
        OpType::Ok
    } else if s.lit("fail\"").is_some() {
        OpType::Fail
    } else {
        s.lit("info\"")?;
        OpType::Info
    };
    s.lit(",\"f\":")?;
    let f = s.string()?.to_owned();
    let key = match s.lit(",\"key\":") {
        Some(()) => Some(s.string()?.to_owned()),
        None => None,
    };
    let value = match s.lit(",\"value\":") {
        Some(()) => s.value(0)?,
        None => Value::Nil,
    };
    let error = match s.lit(",\"error\":") {
        Some(()) => Some(s.string()?.to_owned()),
        None => None,
    };
    s.lit("}")?;
    (s.at == line.len()).then_some(Op {
        index,
        time,
        process,
        kind,
        f,
        key,
        value,
        error,
    })
}

impl Scan<'_> {
    /// An op's value: null, a boolean, an integer, a string, or a list of these.
    fn value(&mut self, depth: usize) -> Option<Value> {
        match *self.rest().first()? {
            b'n' => self.lit("null").map(|()| Value::Nil),
            b't' => self.lit("true").map(|()| Value::Bool(true)),
            b'f' => self.lit("false").map(|()| Value::Bool(false)),
            b'"' => self.string().map(|s| Value::Str(s.to_owned())),
            b'-' | b'0'..=b'9' => self.int().map(Value::Int),
            b'[' if depth < MAX_DEPTH => {
                self.at += 1;
                let mut items = Vec::with_capacity(2);
                if self.lit("]").is_some() {
                    return Some(Value::List(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    if self.lit("]").is_some() {
                        return Some(Value::List(items));
                    }
                    self.lit(",")?;
                }
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines in the writer's form read exactly as serde reads them; others are left to serde.
    #[test]
    fn reads_what_serde_reads_and_leaves_the_rest() {
        let ours = [
            r#"{"index":0,"time":5,"process":3,"type":"invoke","f":"cas","key":"k2","value":[1,-4]}"#,
            r#"{"index":7,"time":0,"process":"nemesis","type":"info","f":"start-partition","value":null}"#,
            r#"{"index":2,"time":9,"process":3,"type":"fail","f":"append","key":"k","value":"x1 é","error":"compare failed"}"#,
            r#"{"index":2,"time":9,"process":3,"type":"ok","f":"read","value":[[],[true,false],"a",0]}"#,
            r#"{"index":2,"time":9,"process":0,"type":"ok","f":"read"}"#,
        ];
        for line in ours {
            let fast = read(line).unwrap_or_else(|| panic!("not read: {line}"));
            assert_eq!(fast, serde_json::from_str::<Op>(line).unwrap(), "{line}");
        }
        let theirs = [
            r#"{"time":9,"index":2,"process":3,"type":"ok","f":"read"}"#,
            r#"{"index":2,"time":9,"process":3,"type":"ok","f":"re\"ad"}"#,
            r#"{"index":2,"time":9,"process":3,"type":"okay","f":"read"}"#,
            r#"{"index":2,"time":9,"process":3,"type":"ok","f":"read","value":1.5}"#,
            r#"{"index":2,"time":9,"process":3,"type":"ok","f":"read","value":01}"#,
            r#"{"index":2,"time":9,"process":3,"type":"ok","f":"read","value":-0}"#,
            r#"{"index":2,"time":9,"process":3,"type":"ok","f":"read","value":1234567890123456789}"#,
            r#"{"index":2,"time":9,"process":3,"type":"ok","f":"read","key":null}"#,
            r#"{"index":2,"time":9,"process":3,"type":"ok","f":"read","extra":1}"#,
            r#"{"index":2,"time":9,"process":3,"type":"ok","f":"read"} "#,
            r#"{"index":2, "time":9,"process":3,"type":"ok","f":"read"}"#,
            r#"{"index":2,"time":9,"process":3,"type":"ok","f":"read","value":[1,]}"#,
            r#"{"index":2,"time":9,"process":3,"type":"ok","f":"read","value":[[[[[[[[[[1]]]]]]]]]]}"#,
        ];
        for line in theirs {
            assert!(read(line).is_none(), "read: {line}");
        }
    }
}
