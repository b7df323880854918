//! The journal: an append-only file of state changes, so a node that is killed and started
//! again comes back with the state it had acknowledged.
//!
//! Each record is one JSON line, appended (and handed to the kernel) before the node replies.
//! That survives the process being killed, which is the crash fault the harness injects; it
//! would not survive the whole machine losing power (there is no fsync). On start the node reads
//! the records back in order; a torn last line (killed mid-write) is ignored.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// An append-only file of records of type `T`, or nothing at all for a node without a directory.
#[derive(Debug)]
pub struct Journal {
    file: Option<(File, PathBuf)>,
}

impl Journal {
    /// Opens `dir/state.jsonl` (if `dir` is given) and returns it with the records it holds.
    pub fn open<T: DeserializeOwned>(dir: Option<&Path>) -> anyhow::Result<(Journal, Vec<T>)> {
        let Some(dir) = dir else {
            return Ok((Journal { file: None }, Vec::new()));
        };
        let path = dir.join("state.jsonl");
        let mut records = Vec::new();
        if path.exists() {
            let read = File::open(&path)
                .map_err(|e| anyhow::anyhow!("cannot read journal {}: {e}", path.display()))?;
            let mut reader = BufReader::new(read);
            let (mut good_len, mut line) = (0u64, Vec::new());
            loop {
                line.clear();
                let n = reader
                    .read_until(b'\n', &mut line)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
                // A torn last record (killed mid-write) ends the journal: nothing after it was
                // acknowledged.
                if n == 0 || line.last() != Some(&b'\n') {
                    break;
                }
                match serde_json::from_slice(&line) {
                    Ok(record) => records.push(record),
                    Err(_) => break,
                }
                good_len += n as u64;
            }
            // Cut the torn tail off, so new records do not land behind it.
            let cut = OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_len(good_len));
            cut.map_err(|e| anyhow::anyhow!("cannot repair journal {}: {e}", path.display()))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot open journal {} for appending: {e}; check the directory is writable",
                    path.display()
                )
            })?;
        Ok((
            Journal {
                file: Some((file, path)),
            },
            records,
        ))
    }

    /// Appends one record. Call before acknowledging the change it records.
    pub fn append<T: Serialize>(&mut self, record: &T) -> anyhow::Result<()> {
        let Some((file, path)) = &mut self.file else {
            return Ok(());
        };
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        file.write_all(&line)
            .map_err(|e| anyhow::anyhow!("cannot append to journal {}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopening_and_a_torn_tail_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, old) = Journal::open::<(String, i64)>(Some(dir.path())).unwrap();
        assert!(old.is_empty());
        journal.append(&("a".to_string(), 1)).unwrap();
        journal.append(&("b".to_string(), 2)).unwrap();
        drop(journal);
        let path = dir.path().join("state.jsonl");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"[\"c\",").unwrap();
        let (mut journal, records) = Journal::open::<(String, i64)>(Some(dir.path())).unwrap();
        assert_eq!(records, vec![("a".to_string(), 1), ("b".to_string(), 2)]);
        journal.append(&("d".to_string(), 4)).unwrap();
        let (_, records) = Journal::open::<(String, i64)>(Some(dir.path())).unwrap();
        assert_eq!(records.len(), 3, "a record after a repaired tail is kept");
    }
}
