//! The journal: an append-only file of state changes, so a node that is killed and started
//! again comes back with the state it had acknowledged.
//!
//! Each record is one JSON line. How far it has gone before the node replies is the journal's
//! [`Durability`]:
//!
//! - [`Durability::Fsync`] (the default): written and `fdatasync`ed before the reply, so an
//!   acknowledged change survives the process being killed and the machine losing power. Syncs
//!   are grouped ([`group_commit`](super::group_commit)): a store that appends with
//!   [`Journal::append_grouped`] and waits with [`Commits::durable`] outside its lock shares
//!   each sync with every change that arrived while the previous one ran.
//! - [`Durability::Lazy`] (`ferrocheck node --no-fsync`): kept in a buffer inside the process
//!   and written out at most every [`LAZY_FLUSH_EVERY`], as many real stores do when fsync is
//!   turned off for speed. A SIGKILL loses whatever the buffer held, acknowledged or not: the
//!   lesson a kill fault then teaches. (Writing without fsync would not show it: a killed
//!   process's writes are already in the kernel's page cache, and only a power cut loses them.)
//!
//! On start the node reads the records back in order; a torn last line (killed mid-write) is
//! ignored.

use super::group_commit::GroupCommit;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a lazy journal may keep records in its buffer.
pub const LAZY_FLUSH_EVERY: Duration = Duration::from_millis(200);

/// How durable an appended record is when [`Journal::append`] returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// Written and synced to the disk (`fdatasync`).
    #[default]
    Fsync,
    /// Buffered in the process, written out at most every [`LAZY_FLUSH_EVERY`]; lost on SIGKILL.
    Lazy,
}

/// An append-only file of records of type `T`, or nothing at all for a node without a directory.
#[derive(Debug)]
pub struct Journal {
    /// The file, for lazy journals.
    file: Option<(File, PathBuf)>,
    /// The file's syncer, for fsync journals.
    group: Commits,
    /// Records not written out yet (lazy journals only).
    buffer: Vec<u8>,
    last_flush: Instant,
    /// The ticket of the last record appended (0: none, or a journal that needs no wait).
    last_ticket: u64,
}

impl Journal {
    /// Opens `dir/state.jsonl` (if `dir` is given) and returns it with the records it holds.
    pub fn open<T: DeserializeOwned>(
        dir: Option<&Path>,
        durability: Durability,
    ) -> anyhow::Result<(Journal, Vec<T>)> {
        let mut journal = Journal {
            file: None,
            group: Commits::default(),
            buffer: Vec::new(),
            last_flush: Instant::now(),
            last_ticket: 0,
        };
        let Some(dir) = dir else {
            return Ok((journal, Vec::new()));
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
        match durability {
            Durability::Fsync => {
                journal.group = Commits(Some(Arc::new(GroupCommit::start(file, path)?)));
            }
            Durability::Lazy => journal.file = Some((file, path)),
        }
        Ok((journal, records))
    }

    /// Appends one record and waits (blocking the thread) until it is as durable as the
    /// journal's [`Durability`] says. Call before acknowledging the change it records.
    pub fn append<T: Serialize>(&mut self, record: &T) -> anyhow::Result<()> {
        let seq = self.append_grouped(record)?;
        match &self.group.0 {
            Some(g) => g.durable_blocking(seq).map_err(anyhow::Error::msg),
            None => Ok(()),
        }
    }

    /// Where to wait for appended records to be durable, outside any lock.
    pub fn commits(&self) -> Commits {
        self.group.clone()
    }

    /// The ticket of the last record appended so far: a reply that waits for it covers every
    /// change this node had made when the reply was formed, whatever the reply saw.
    pub fn last_ticket(&self) -> u64 {
        self.last_ticket
    }

    /// Appends one record without waiting and returns its ticket: acknowledge the change only
    /// after [`Commits::durable`] of the ticket (0 needs no wait: lazy or in-memory journals).
    pub fn append_grouped<T: Serialize>(&mut self, record: &T) -> anyhow::Result<u64> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        if let Some(g) = &self.group.0 {
            self.last_ticket = g.append(&line);
            return Ok(self.last_ticket);
        }
        let Some((file, path)) = &mut self.file else {
            return Ok(0);
        };
        // Only a lazy journal keeps the file itself (an fsync journal's file is its syncer's).
        let failed = |e| anyhow::anyhow!("cannot append to journal {}: {e}", path.display());
        self.buffer.extend_from_slice(&line);
        if self.last_flush.elapsed() >= LAZY_FLUSH_EVERY {
            self.last_flush = Instant::now();
            let buffered = std::mem::take(&mut self.buffer);
            file.write_all(&buffered).map_err(failed)?;
        }
        Ok(0)
    }
}

/// A handle on a journal's syncer, to wait for a ticket of [`Journal::append_grouped`] without
/// holding the store's lock.
#[derive(Clone, Debug, Default)]
pub struct Commits(Option<Arc<GroupCommit>>);

impl Commits {
    /// Resolves once the record with ticket `seq` is durable; an error if the journal could not
    /// write or sync it (the change may or may not survive a crash).
    pub async fn durable(&self, seq: u64) -> Result<(), String> {
        match &self.0 {
            Some(g) if seq > 0 => g.durable(seq).await,
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopening_and_a_torn_tail_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, old) =
            Journal::open::<(String, i64)>(Some(dir.path()), Durability::Fsync).unwrap();
        assert!(old.is_empty());
        journal.append(&("a".to_string(), 1)).unwrap();
        journal.append(&("b".to_string(), 2)).unwrap();
        drop(journal);
        let path = dir.path().join("state.jsonl");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"[\"c\",").unwrap();
        let (mut journal, records) =
            Journal::open::<(String, i64)>(Some(dir.path()), Durability::Fsync).unwrap();
        assert_eq!(records, vec![("a".to_string(), 1), ("b".to_string(), 2)]);
        journal.append(&("d".to_string(), 4)).unwrap();
        let (_, records) =
            Journal::open::<(String, i64)>(Some(dir.path()), Durability::Fsync).unwrap();
        assert_eq!(records.len(), 3, "a record after a repaired tail is kept");
    }

    #[test]
    fn a_lazy_journal_holds_records_back_until_its_flush_is_due() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, _) = Journal::open::<i64>(Some(dir.path()), Durability::Lazy).unwrap();
        journal.append(&1).unwrap();
        journal.append(&2).unwrap();
        let on_disk = || {
            Journal::open::<i64>(Some(dir.path()), Durability::Fsync)
                .unwrap()
                .1
        };
        assert!(
            on_disk().is_empty(),
            "nothing written before the flush is due"
        );
        std::thread::sleep(LAZY_FLUSH_EVERY);
        journal.append(&3).unwrap();
        assert_eq!(on_disk(), vec![1, 2, 3]);
        journal.append(&4).unwrap();
        drop(journal);
        assert_eq!(
            on_disk(),
            vec![1, 2, 3],
            "a process that dies loses its buffer"
        );
    }
}
