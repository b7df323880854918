//! Histories: the record of every operation a run invoked and how each one completed.
//!
//! The on-disk form is JSON Lines, one [`Op`] per line, in the order the controller saw the
//! events (Jepsen's vocabulary: `invoke`, then exactly one of `ok`, `fail` or `info`). An
//! optional first line `{"ferrocheck": {...}}` is a [`Header`] naming the workload, the model
//! and the checkers the run used, so `ferrocheck check` knows how to read and check the rest.
//! During a run the controller's recorder writes these lines as the run goes (in groups every
//! few milliseconds), so a run that crashes or is interrupted leaves a readable history.

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// What an op line records: the start of a call, or how it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpType {
    /// The client is about to send the request.
    Invoke,
    /// The operation certainly happened.
    Ok,
    /// The operation certainly did not happen.
    Fail,
    /// Unknown: it may have happened, at any time after its invoke, or never.
    Info,
}

/// Who performed an op: a numbered client process, or the nemesis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Process {
    /// A client process. A process whose op ends `info` is retired and never reused.
    Client(u64),
    /// The fault injector; its ops mark fault windows and are ignored by checkers.
    Nemesis,
}

impl Serialize for Process {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Process::Client(p) => s.serialize_u64(*p),
            Process::Nemesis => s.serialize_str("nemesis"),
        }
    }
}

impl<'de> Deserialize<'de> for Process {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Process;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a non-negative integer or \"nemesis\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Process, E> {
                Ok(Process::Client(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Process, E> {
                u64::try_from(v)
                    .map(Process::Client)
                    .map_err(|_| E::custom(format!("process must not be negative, got {v}")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Process, E> {
                if v == "nemesis" {
                    Ok(Process::Nemesis)
                } else {
                    Err(E::custom(format!(
                        "process must be an integer or \"nemesis\", got {v:?}"
                    )))
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl fmt::Display for Process {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Process::Client(p) => write!(f, "{p}"),
            Process::Nemesis => f.write_str("nemesis"),
        }
    }
}

/// An op's value: what the client sent (on invoke) or what it got back (on completion).
///
/// Plain data, as in Jepsen: nil, integers, strings, booleans and lists (a cas is `[from, to]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Value {
    /// No value: an unwritten register, an unknown read result.
    #[default]
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
    /// A list, e.g. a cas's `[expected, new]` or a set read.
    List(Vec<Value>),
}

impl Value {
    /// The integer inside, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
    /// The list inside, if this is one.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }
    /// True for `Nil`.
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("nil"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Nil => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Str(x) => s.serialize_str(x),
            Value::List(l) => {
                let mut seq = s.serialize_seq(Some(l.len()))?;
                for v in l {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("null, a boolean, an integer, a string or a list")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Nil)
            }
            fn visit_none<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Nil)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
                Ok(Value::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
                Ok(Value::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
                i64::try_from(v)
                    .map(Value::Int)
                    .map_err(|_| E::custom(format!("integer {v} is too large")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
                Err(E::custom(format!(
                    "floating-point values are not supported, got {v}"
                )))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
                Ok(Value::Str(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
                Ok(Value::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(2));
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(Value::List(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// One line of a history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// Position in the history, 0-based and dense.
    #[serde(default)]
    pub index: u64,
    /// Nanoseconds since the run started, on the controller's monotonic clock.
    #[serde(default)]
    pub time: u64,
    /// Who did it.
    pub process: Process,
    /// Invoke or one of the completions.
    #[serde(rename = "type")]
    pub kind: OpType,
    /// The function: `read`, `write`, `cas`, `acquire`, `start-partition`, ...
    pub f: String,
    /// The key, for workloads over independent keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The argument (invoke) or result (completion).
    #[serde(default)]
    pub value: Value,
    /// Why an op failed or is unknown, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Op {
    /// True for client ops, false for the nemesis's.
    pub fn is_client(&self) -> bool {
        matches!(self.process, Process::Client(_))
    }
}

/// The optional first line of a ferrocheck history, saying what produced it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Format version; 1 for now.
    pub version: u32,
    /// The workload that produced the history (`register`, `lock`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// The model the history should be checked against (`cas-register`, `mutex`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The run's options, as given, for the report and for reproducing the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<serde_json::Value>,
    /// The checkers the run used, with their options; `ferrocheck check` and `ferrocheck
    /// report` re-run exactly these. Empty in histories written before it was recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checkers: Vec<CheckerSpec>,
}

/// One checker a run used: its registry name (`linearizable`, `lost-updates`, ...) and its
/// options (`model`, `initial_value`, `time_limit`, ...; each checker reads the ones it needs).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckerSpec {
    /// The checker's name in the registry (`ferrocheck list` shows them).
    pub name: String,
    /// The checker's options, as a JSON object.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub options: serde_json::Map<String, serde_json::Value>,
}

/// The header line as it is written: `{"ferrocheck": {...}}`.
#[derive(Serialize, Deserialize)]
pub(crate) struct HeaderLine {
    /// The header.
    pub(crate) ferrocheck: Header,
}

/// A whole history: an optional header and the ops in the order they were observed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// What produced it, when known.
    pub header: Option<Header>,
    /// Every op, invocations and completions interleaved in real-time order.
    pub ops: Vec<Op>,
}

/// A malformed history: where, and what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A line did not parse, or broke the rules of a history.
    #[error("{path}:{line}:{column}: {message}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// 1-based column, or 1 when the whole line is at fault.
        column: usize,
        /// What was wrong, in words.
        message: String,
    },
}

/// One call: an invocation paired with its completion (if any).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Call {
    /// Position of the invoke in `History::ops`.
    pub invoke: usize,
    /// Position of the completion, or `None` if the history ended first.
    pub complete: Option<usize>,
}

impl History {
    /// Reads a JSON Lines history, reporting the first malformed line with file:line:column.
    /// The one JSONL reader is [`crate::formats::jsonl::parse`]; this reads the file for it.
    pub fn read_jsonl(path: &Path) -> Result<History, HistoryError> {
        let text = std::fs::read_to_string(path).map_err(|source| HistoryError::Io {
            path: path.to_owned(),
            source,
        })?;
        crate::formats::jsonl::parse(path, &text)
    }

    /// Parses JSON Lines from any reader; `path` is only used in error messages.
    pub fn parse_jsonl(mut reader: impl BufRead, path: &Path) -> Result<History, HistoryError> {
        let mut text = String::new();
        reader
            .read_to_string(&mut text)
            .map_err(|source| HistoryError::Io {
                path: path.to_owned(),
                source,
            })?;
        crate::formats::jsonl::parse(path, &text)
    }

    /// Writes the history (header first, if any) as JSON Lines.
    pub fn write_jsonl(&self, w: &mut impl Write) -> std::io::Result<()> {
        if let Some(h) = &self.header {
            serde_json::to_writer(
                &mut *w,
                &HeaderLine {
                    ferrocheck: h.clone(),
                },
            )?;
            w.write_all(b"\n")?;
        }
        for op in &self.ops {
            serde_json::to_writer(&mut *w, op)?;
            w.write_all(b"\n")?;
        }
        Ok(())
    }

    /// How many calls [`History::calls`] would list (the client invocations), counted in
    /// parallel without pairing them.
    pub fn call_count(&self) -> usize {
        use rayon::prelude::*;
        self.ops
            .par_iter()
            .filter(|o| matches!(o.process, Process::Client(_)) && o.kind == OpType::Invoke)
            .count()
    }

    /// Pairs each client invocation with its completion, in invocation order. Nemesis ops are
    /// left out; a call still open at the end has `complete: None`. Process ids index a table
    /// (a map only for very large ids), so pairing a long history hashes nothing.
    pub fn calls(&self) -> Vec<Call> {
        const SMALL: u64 = 1 << 20;
        let mut out = Vec::with_capacity(self.ops.len() / 2 + 1);
        let mut small: Vec<usize> = Vec::new();
        let mut large: std::collections::HashMap<u64, usize> = Default::default();
        for (i, op) in self.ops.iter().enumerate() {
            let Process::Client(p) = op.process else {
                continue;
            };
            if op.kind == OpType::Invoke {
                if p < SMALL {
                    if p as usize >= small.len() {
                        small.resize(p as usize + 1, usize::MAX);
                    }
                    small[p as usize] = out.len();
                } else {
                    large.insert(p, out.len());
                }
                out.push(Call {
                    invoke: i,
                    complete: None,
                });
            } else {
                let slot = if p < SMALL {
                    small
                        .get_mut(p as usize)
                        .map(|c| std::mem::replace(c, usize::MAX))
                        .filter(|&c| c != usize::MAX)
                } else {
                    large.remove(&p)
                };
                if let Some(c) = slot {
                    out[c].complete = Some(i);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<History, HistoryError> {
        History::parse_jsonl(s.as_bytes(), Path::new("h.jsonl"))
    }

    #[test]
    fn round_trips_ops_and_header() {
        let text = concat!(
            "{\"ferrocheck\":{\"version\":1,\"workload\":\"register\",\"model\":\"cas-register\"}}\n",
            "{\"index\":0,\"time\":5,\"process\":3,\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"k2\",\"value\":[1,4]}\n",
            "{\"index\":1,\"time\":6,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"start-partition\",\"value\":null}\n",
            "{\"index\":2,\"time\":9,\"process\":3,\"type\":\"ok\",\"f\":\"cas\",\"key\":\"k2\",\"value\":[1,4]}\n",
        );
        let h = parse(text).unwrap();
        assert_eq!(
            h.header.as_ref().unwrap().model.as_deref(),
            Some("cas-register")
        );
        assert_eq!(h.ops.len(), 3);
        assert_eq!(h.ops[1].process, Process::Nemesis);
        assert_eq!(
            h.ops[0].value,
            Value::List(vec![Value::Int(1), Value::Int(4)])
        );
        assert_eq!(
            h.calls(),
            vec![Call {
                invoke: 0,
                complete: Some(2)
            }]
        );
        assert_eq!(h.call_count(), 1, "the nemesis op is no call");
        let mut out = Vec::new();
        h.write_jsonl(&mut out).unwrap();
        assert_eq!(parse(std::str::from_utf8(&out).unwrap()).unwrap(), h);
    }

    #[test]
    fn malformed_line_names_file_line_and_column() {
        let text = "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n\n{\"process\":1,\"type\":\"okay\",\"f\":\"read\"}\n";
        let err = parse(text).unwrap_err().to_string();
        assert!(err.starts_with("h.jsonl:3:"), "{err}");
        assert!(err.contains("okay"), "{err}");
    }

    #[test]
    fn rejects_completion_without_invoke_and_double_invoke() {
        let err = parse("{\"process\":1,\"type\":\"ok\",\"f\":\"read\"}\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("h.jsonl:1:") && err.contains("never invoked"),
            "{err}"
        );
        let err = parse(concat!(
            "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n",
            "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("h.jsonl:2:") && err.contains("still open"),
            "{err}"
        );
    }

    #[test]
    fn rejects_floats_and_negative_processes() {
        assert!(parse("{\"process\":-1,\"type\":\"invoke\",\"f\":\"read\"}\n").is_err());
        let err = parse("{\"process\":1,\"type\":\"invoke\",\"f\":\"write\",\"value\":1.5}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("floating-point"), "{err}");
    }
}
