//! ferrocheck's JSON Lines, read fast: the text is cut into pieces at line ends and the pieces
//! are searched for lines in parallel; the lines are then read in parallel, straight into the
//! history's op list (most with [`op_line::read`], the rest with serde), and one pass checks
//! the per-process rules in order. This is the one JSONL reader; [`History::read_jsonl`] and
//! [`History::parse_jsonl`] hand their text to it. A torn last line (a run killed mid-write) is
//! left out. An error names the file's own line: the first bad line, as a reader going line
//! by line would find it.

use crate::formats::{op_line, OpenSet};
use crate::history::{HeaderLine, History, HistoryError, Op, OpType, Process, Value};
use rayon::prelude::*;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes per piece when looking for lines.
const PIECE_BYTES: usize = 1 << 20;

/// Parses a whole JSON Lines history held in memory.
pub fn parse(path: &Path, text: &str) -> Result<History, HistoryError> {
    let mut lines = line_spans(text);
    let mut header = None;
    if let Some(&(start, end)) = lines.first() {
        let first = &text[start..end];
        if first.contains("\"ferrocheck\"") {
            if let Ok(h) = serde_json::from_str::<HeaderLine>(first) {
                header = Some(h.ferrocheck);
                lines.remove(0);
            }
        }
    }
    // A last line without its newline that does not parse is a write torn by a kill: the
    // history ends at the last complete line.
    let torn = !text.ends_with('\n')
        && lines
            .last()
            .is_some_and(|&(s, e)| read_op(&text[s..e]).is_err());
    if torn {
        lines.pop();
    }
    // Each line straight into its place; a bad line leaves a stand-in and the first bad
    // position is kept, to be read again for its error. Beside the ops, each op's process and
    // type packed in a word, for the pass over the rules below.
    let first_bad = AtomicUsize::new(usize::MAX);
    let mut ops: Vec<Op> = Vec::with_capacity(lines.len());
    let mut packed: Vec<u64> = Vec::with_capacity(lines.len());
    lines
        .par_iter()
        .enumerate()
        .map(|(i, &(s, e))| {
            let mut op = read_op(&text[s..e]).unwrap_or_else(|_| {
                first_bad.fetch_min(i, Ordering::Relaxed);
                stand_in()
            });
            op.index = i as u64;
            let code = pack(&op);
            (op, code)
        })
        .unzip_into_vecs(&mut ops, &mut packed);
    let first_bad = first_bad.into_inner();
    let line_of = |i: usize| 1 + memchr_count(&text.as_bytes()[..lines[i].0]);
    let error = |i: usize, message: String| HistoryError::Malformed {
        path: path.to_owned(),
        line: line_of(i),
        column: 1,
        message,
    };
    // The rules in order, up to the first bad line: whichever comes first is the error.
    let mut open = OpenSet::default();
    for (i, &code) in packed.iter().enumerate().take(first_bad) {
        let kept = match code {
            NEMESIS => Ok(()),
            LARGE => super::open_or_close(&mut open, &ops[i]),
            _ => super::open_or_close_client(&mut open, code >> 1, code & 1 == 1),
        };
        kept.map_err(|m| error(i, m))?;
    }
    drop(packed);
    if first_bad < ops.len() {
        let (s, e) = lines[first_bad];
        let e = read_op(&text[s..e]).err().map(|e| HistoryError::Malformed {
            path: path.to_owned(),
            line: line_of(first_bad),
            column: e.column().max(1),
            message: plain_message(&e),
        });
        return Err(e.unwrap_or_else(|| error(first_bad, "this line could not be read".into())));
    }
    Ok(History { header, ops })
}

/// [`pack`]'s word for a nemesis op.
const NEMESIS: u64 = u64::MAX;
/// [`pack`]'s word for a client whose id is too large to pack.
const LARGE: u64 = u64::MAX - 1;

/// An op's process and type in one word: client `p`'s invoke as 2p + 1, its completion as 2p.
fn pack(op: &Op) -> u64 {
    match op.process {
        Process::Nemesis => NEMESIS,
        Process::Client(p) if p >= LARGE / 2 => LARGE,
        Process::Client(p) => 2 * p + u64::from(op.kind == OpType::Invoke),
    }
}

/// One op line: in the writer's own form without serde, anything else with it.
fn read_op(line: &str) -> Result<Op, serde_json::Error> {
    match op_line::read(line) {
        Some(op) => Ok(op),
        None => serde_json::from_str::<Op>(line),
    }
}

/// What stands in a bad line's place until the error is returned (it allocates nothing).
pub(crate) fn stand_in() -> Op {
    Op {
        index: 0,
        time: 0,
        process: Process::Nemesis,
        kind: OpType::Info,
        f: String::new(),
        key: None,
        value: Value::Nil,
        error: None,
    }
}

/// The byte ranges of `text`'s non-blank lines, trimmed, in order; found in parallel over
/// pieces of about [`PIECE_BYTES`] that end at line ends.
pub(crate) fn line_spans(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut cuts = vec![0];
    let mut at = 0;
    while at + PIECE_BYTES < bytes.len() {
        at = match bytes[at + PIECE_BYTES..].iter().position(|&b| b == b'\n') {
            Some(p) => at + PIECE_BYTES + p + 1,
            None => bytes.len(),
        };
        cuts.push(at);
    }
    if *cuts.last().unwrap_or(&0) < bytes.len() {
        cuts.push(bytes.len());
    }
    let pieces: Vec<Vec<(usize, usize)>> = cuts
        .par_windows(2)
        .map(|w| {
            let piece = &text[w[0]..w[1]];
            piece
                .split('\n')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| {
                    let s = l.as_ptr() as usize - text.as_ptr() as usize;
                    (s, s + l.len())
                })
                .collect()
        })
        .collect();
    pieces.concat()
}

/// How many line ends `bytes` holds.
fn memchr_count(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// serde_json's message in words for a history's reader: without its own position (each line
/// is parsed alone, so it would always say line 1; the caller names the file's line), and with
/// numbers too large for the field named as such.
fn plain_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" at line ") {
        Some(at) if text[at..].contains(" column ") => text[..at].to_string(),
        _ => text,
    };
    if text.starts_with("invalid type: floating point") && text.contains("expected u64") {
        format!("{text}: a whole number from 0 to {} is expected here (this one is too large, negative or has a fraction)", u64::MAX)
    } else if text.starts_with("number out of range") {
        "a number too large to hold (more digits than any 64-bit or floating-point number has)"
            .to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_too_large_are_named_at_the_files_own_line() {
        let op = |index: &str| {
            format!("{{\"index\":{index},\"time\":1,\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}}\n")
        };
        let text = format!("{}{}", op("0"), op("100000000000000000000000000"));
        let e = parse(Path::new("h.jsonl"), &text).unwrap_err().to_string();
        assert!(e.starts_with("h.jsonl:2:"), "{e}");
        assert!(
            e.contains("whole number") && !e.contains("at line 1"),
            "{e}"
        );
        let text = op(&"9".repeat(400));
        let e = parse(Path::new("h.jsonl"), &text).unwrap_err().to_string();
        assert!(
            e.contains("too large to hold") && !e.contains("at line"),
            "{e}"
        );
    }

    /// Lines over many pieces: an error still names the file's own line, and the first
    /// broken rule or bad line in file order is the one reported.
    #[test]
    fn errors_over_many_pieces_name_the_first_bad_line() {
        let mut text = String::from("{\"ferrocheck\":{\"version\":1}}\n");
        for i in 0..30_000u64 {
            let p = i % 7;
            text.push_str(&format!("{{\"index\":{i},\"time\":{i},\"process\":{p},\"type\":\"invoke\",\"f\":\"get\",\"key\":\"k{p}\",\"value\":null}}\n\n"));
            text.push_str(&format!("{{\"process\":{p},\"type\":\"ok\",\"f\":\"get\",\"key\":\"k{p}\",\"value\":\"x y\"}}\n"));
        }
        assert!(text.len() > 3 * PIECE_BYTES);
        let h = parse(Path::new("h.jsonl"), &text).unwrap();
        assert_eq!(h.ops.len(), 60_000);
        assert_eq!(h.ops[59_999].index, 59_999);
        assert_eq!(h.ops[59_999].value, Value::Str("x y".into()));
        let lines: Vec<&str> = text.split('\n').collect();
        let with = |edits: &[(usize, &str)]| {
            let mut lines = lines.clone();
            for &(n, l) in edits {
                lines[n - 1] = l;
            }
            parse(Path::new("h.jsonl"), &lines.join("\n"))
                .unwrap_err()
                .to_string()
        };
        let bad = "{\"process\":1,\"type\":\"okay\",\"f\":\"read\"}";
        let twice = "{\"process\":70,\"type\":\"ok\",\"f\":\"read\"}";
        let e = with(&[(70_001, bad)]);
        assert!(e.starts_with("h.jsonl:70001:") && e.contains("okay"), "{e}");
        let e = with(&[(70_001, bad), (80_002, twice)]);
        assert!(e.starts_with("h.jsonl:70001:"), "{e}");
        let e = with(&[(80_001, bad), (70_002, twice)]);
        assert!(
            e.starts_with("h.jsonl:70002:") && e.contains("never invoked"),
            "{e}"
        );
    }

    #[test]
    fn reads_the_header_and_the_ops() {
        let text = concat!(
            "{\"ferrocheck\":{\"version\":1,\"model\":\"cas-register\"}}\n",
            "{\"index\":0,\"time\":5,\"process\":3,\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"k2\",\"value\":[1,4]}\n",
            "\n",
            "{\"index\":1,\"time\":6,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"start-partition\",\"value\":null}\n",
            "{\"index\":2,\"time\":9,\"process\":3,\"type\":\"ok\",\"f\":\"cas\",\"key\":\"k2\",\"value\":[1,4]}\n",
        );
        let h = parse(Path::new("h.jsonl"), text).unwrap();
        let header = h.header.as_ref().unwrap();
        assert_eq!(header.model.as_deref(), Some("cas-register"));
        assert!(header.checkers.is_empty(), "an old header has no checkers");
        assert_eq!(h.ops.len(), 3);
        assert_eq!(h.ops[2].index, 2);
    }

    #[test]
    fn a_torn_last_line_ends_the_history() {
        let text = concat!(
            "{\"index\":0,\"time\":5,\"process\":3,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\"}\n",
            "{\"index\":1,\"time\":6,\"process\":3,\"type\":\"ok\",\"f\":\"read\",\"key\":\"k\",\"val",
        );
        let h = parse(Path::new("h.jsonl"), text).unwrap();
        assert_eq!(h.ops.len(), 1);
        let e = parse(Path::new("h.jsonl"), &format!("{text}\n")).unwrap_err();
        assert!(
            e.to_string().starts_with("h.jsonl:2:"),
            "a complete bad line is an error"
        );
    }

    #[test]
    fn errors_name_line_and_column() {
        let text = "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n\n{\"process\":1,\"type\":\"okay\",\"f\":\"read\"}\n";
        let e = parse(Path::new("h.jsonl"), text).unwrap_err().to_string();
        assert!(e.starts_with("h.jsonl:3:") && e.contains("okay"), "{e}");
        let text = "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n";
        let e = parse(Path::new("h.jsonl"), text).unwrap_err().to_string();
        assert!(
            e.starts_with("h.jsonl:2:") && e.contains("still open"),
            "{e}"
        );
    }
}
