//! ferrocheck's JSON Lines, read fast: the text is cut into chunks at line ends, the chunks are
//! parsed in parallel, then one pass checks the per-process rules in order. This is the one
//! JSONL reader; [`History::read_jsonl`] and [`History::parse_jsonl`] hand their text to it. A
//! torn last line (a run killed mid-write) is left out.

use crate::formats::Builder;
use crate::history::{HeaderLine, History, HistoryError, Op};
use rayon::prelude::*;
use std::path::Path;

/// Lines per parallel chunk.
const CHUNK_LINES: usize = 32 * 1024;

/// Parses a whole JSON Lines history held in memory.
pub fn parse(path: &Path, text: &str) -> Result<History, HistoryError> {
    let mut lines: Vec<(usize, &str)> = text
        .split('\n')
        .enumerate()
        .map(|(n, l)| (n + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
        .collect();
    let mut header = None;
    if let Some(&(_, first)) = lines.first() {
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
            .is_some_and(|(_, l)| serde_json::from_str::<Op>(l).is_err());
    if torn {
        lines.pop();
    }
    let chunks: Vec<Result<Vec<Op>, HistoryError>> = lines
        .par_chunks(CHUNK_LINES)
        .map(|chunk| {
            chunk
                .iter()
                .map(|&(lineno, line)| {
                    serde_json::from_str::<Op>(line).map_err(|e| HistoryError::Malformed {
                        path: path.to_owned(),
                        line: lineno,
                        column: e.column().max(1),
                        message: plain_message(&e),
                    })
                })
                .collect()
        })
        .collect();
    let mut b = Builder::new(path);
    b.reserve(lines.len());
    let mut at = 0;
    for chunk in chunks {
        for op in chunk? {
            b.push(op, lines[at].0, 1)?;
            at += 1;
        }
    }
    let mut history = b.finish();
    history.header = header;
    Ok(history)
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
