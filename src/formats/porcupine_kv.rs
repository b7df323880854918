//! Porcupine's kv test files, read fast: one EDN op map per line, always in the same form,
//!
//! ```text
//! {:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}
//! {:process 0, :type :ok, :f :get, :key "7", :value ""}
//! ```
//!
//! The lines are found and read in parallel (with the JSONL reader's line finder), each
//! straight into an [`Op`] without building EDN, then one pass checks the one-open-op rule in
//! order. Any line in another form (comments, other fields or field orders, escapes in strings,
//! a mistake), or a broken rule, sends the whole file to the general EDN reader
//! ([`super::jepsen::parse`]), which reads the rest of EDN and words the errors with their line
//! and column; a line in this form makes exactly the op that reader makes from it.

use crate::formats::scan::Scan;
use crate::formats::{jepsen, jsonl, open_or_close, OpenSet};
use crate::history::{History, HistoryError, Op, OpType, Process, Value};
use rayon::prelude::*;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Parses a Porcupine kv file.
pub fn parse(path: &Path, text: &str) -> Result<History, HistoryError> {
    match parse_lines(text) {
        Some(h) => Ok(h),
        None => jepsen::parse(path, text),
    }
}

/// The history, if every line is in the fixed form and the ops keep the rules.
fn parse_lines(text: &str) -> Option<History> {
    let lines = jsonl::line_spans(text);
    let mut ops: Vec<Op> = Vec::with_capacity(lines.len());
    let other = AtomicBool::new(false);
    lines
        .par_iter()
        .enumerate()
        .map(|(i, &(s, e))| match read(&text[s..e]) {
            Some(mut op) => {
                op.index = i as u64;
                op
            }
            None => {
                other.store(true, Ordering::Relaxed);
                jsonl::stand_in()
            }
        })
        .collect_into_vec(&mut ops);
    if other.into_inner() {
        return None;
    }
    let mut open = OpenSet::default();
    for op in &ops {
        open_or_close(&mut open, op).ok()?;
    }
    Some(History { header: None, ops })
}

/// Reads one line (already trimmed) if it is in the fixed form.
pub fn read(line: &str) -> Option<Op> {
    let mut s = Scan { text: line, at: 0 };
    s.lit("{:process ")?;
    let process = s.whole()?;
    s.lit(", :type :")?;
    let kind = match s.word()? {
        "invoke" => OpType::Invoke,
        "ok" => OpType::Ok,
        "fail" => OpType::Fail,
        "info" => OpType::Info,
        _ => return None,
    };
    s.lit(", :f :")?;
    let f = s.word()?.to_owned();
    s.lit(", :key ")?;
    let key = s.string()?.to_owned();
    s.lit(", :value ")?;
    let value = match s.rest().first()? {
        b'n' => s.lit("nil").map(|()| Value::Nil)?,
        b'"' => Value::Str(s.string()?.to_owned()),
        _ => Value::Int(s.int()?),
    };
    s.lit("}")?;
    (s.at == line.len()).then_some(Op {
        index: 0,
        time: 0,
        process: Process::Client(process),
        kind,
        f,
        key: Some(key),
        value,
        error: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines in the fixed form read exactly as the EDN reader reads them; others are left to it.
    #[test]
    fn reads_what_the_edn_reader_reads_and_leaves_the_rest() {
        let ours = [
            r#"{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}"#,
            r#"{:process 12, :type :ok, :f :get, :key "7", :value ""}"#,
            r#"{:process 3, :type :invoke, :f :get, :key "k é", :value nil}"#,
            r#"{:process 3, :type :fail, :f :put, :key "1", :value -42}"#,
            r#"{:process 3, :type :info, :f :put, :key "1", :value 0}"#,
        ];
        for line in ours {
            let mut fast = read(line).unwrap_or_else(|| panic!("not read: {line}"));
            // A completion needs its invoke before it.
            let text = match fast.kind {
                OpType::Invoke => line.to_string(),
                _ => format!(
                    "{{:process {}, :type :invoke, :f :get, :key \"0\", :value nil}}\n{line}",
                    fast.process
                ),
            };
            let slow = jepsen::parse(Path::new("k.txt"), &text).unwrap();
            fast.index = slow.ops.len() as u64 - 1;
            assert_eq!(Some(&fast), slow.ops.last(), "{line}");
        }
        let theirs = [
            r#"{:type :invoke, :process 0, :f :get, :key "0", :value nil}"#,
            r#"{:process 0, :type :invoke, :f :get, :key "0", :value nil, :time 5}"#,
            r#"{:process 0, :type :invoke, :f :get, :key "a\"b", :value nil}"#,
            r#"{:process 0, :type :okay, :f :get, :key "0", :value nil}"#,
            r#"{:process 0, :type :ok, :f :get, :key 0, :value nil}"#,
            r#"{:process 0, :type :ok, :f :get, :key "0", :value 1.5}"#,
            r#"{:process 0, :type :ok, :f :get, :key "0", :value 007}"#,
            r#"{:process 0, :type :ok, :f :get, :key "0", :value -0}"#,
            r#"{:process 0, :type :ok, :f :get, :key "0", :value [1 2]}"#,
            r#"{:process 0, :type :ok, :f :get, :key "0", :value "x"} "#,
            r#"{:process 0,  :type :ok, :f :get, :key "0", :value "x"}"#,
            r#"{:process 0, :type :ok, :f :ns/get, :key "0", :value "x"}"#,
            "; a comment",
        ];
        for line in theirs {
            assert!(read(line).is_none(), "read: {line}");
        }
    }

    /// A file with a line in another form, or a broken rule, is read (or refused) by the EDN
    /// reader, with its line and column.
    #[test]
    fn other_files_go_to_the_edn_reader() {
        let ok = "{:process 0, :type :invoke, :f :get, :key \"0\", :value nil}\n\
                  ; a comment\n\
                  {:process 0, :type :ok, :f :get, :key \"0\", :value \"\"}\n";
        let h = parse(Path::new("k.txt"), ok).unwrap();
        assert_eq!(h.ops.len(), 2);
        assert_eq!(h.ops[1].index, 1);
        let twice = "{:process 0, :type :invoke, :f :get, :key \"0\", :value nil}\n\n\
                     {:process 0, :type :invoke, :f :get, :key \"0\", :value nil}\n";
        let e = parse(Path::new("k.txt"), twice).unwrap_err().to_string();
        assert!(
            e.starts_with("k.txt:3:1:") && e.contains("still open"),
            "{e}"
        );
        let bad = "{:process 0, :type :invoke, :f :get, :key \"0\", :value nil}\n\
                   {:process 0, :type :okay, :f :get, :key \"0\", :value nil}\n";
        let e = parse(Path::new("k.txt"), bad).unwrap_err().to_string();
        assert!(e.starts_with("k.txt:2:") && e.contains(":okay"), "{e}");
    }

    /// Every corpus file reads the same fast as with the EDN reader.
    #[test]
    fn the_corpus_reads_the_same_both_ways() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/porcupine/kv");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            eprintln!("skipped: no corpus at {}", dir.display());
            return;
        };
        for path in entries.flatten().map(|e| e.path()) {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let fast = parse_lines(&text).unwrap_or_else(|| panic!("{}", path.display()));
            let slow = jepsen::parse(&path, &text).unwrap();
            assert_eq!(fast.ops, slow.ops, "{}", path.display());
        }
    }
}
