//! The recorder: stamps every event with the run's monotonic clock, appends it to the history
//! file (flushed at once, so a crash keeps it) and to the in-memory history, and counts outcomes
//! for the progress bar.

use crate::history::{Header, History, HistoryWriter, Op, OpType, Process, Value};
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Live counts of completions, read by the progress display.
#[derive(Debug, Default)]
pub struct Counts {
    /// Completed ok.
    pub ok: AtomicU64,
    /// Completed fail.
    pub fail: AtomicU64,
    /// Completed info.
    pub info: AtomicU64,
}

impl Counts {
    /// All completions so far.
    pub fn total(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
            + self.fail.load(Ordering::Relaxed)
            + self.info.load(Ordering::Relaxed)
    }
}

/// Records a run's history, shared by every client task and the nemesis.
pub struct Recorder {
    start: Instant,
    inner: Mutex<Inner>,
    /// Live counts for progress output.
    pub counts: Counts,
    fault: Mutex<Option<String>>,
    path: PathBuf,
}

struct Inner {
    writer: HistoryWriter,
    ops: Vec<Op>,
    /// The first write error, if any: recording goes on in memory and the run reports it.
    error: Option<String>,
}

impl Recorder {
    /// Creates the history file at `path` with `header` as its first line.
    pub fn create(path: &Path, header: &Header) -> anyhow::Result<Recorder> {
        let writer = HistoryWriter::create(path, header)
            .with_context(|| format!("cannot create the history file {}", path.display()))?;
        Ok(Recorder {
            start: Instant::now(),
            inner: Mutex::new(Inner {
                writer,
                ops: Vec::new(),
                error: None,
            }),
            counts: Counts::default(),
            fault: Mutex::new(None),
            path: path.to_owned(),
        })
    }

    /// Nanoseconds since the run started.
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// Notes the fault now in force (`None` once healed), for the progress display.
    pub fn set_fault(&self, fault: Option<String>) {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner()) = fault;
    }

    /// The fault now in force, if any.
    pub fn fault(&self) -> Option<String> {
        self.fault.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Where the history goes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records one event and returns it with its index and time filled in.
    pub fn record(
        &self,
        process: Process,
        kind: OpType,
        f: &str,
        key: Option<&str>,
        value: Value,
        error: Option<String>,
    ) -> Op {
        match kind {
            OpType::Ok => self.counts.ok.fetch_add(1, Ordering::Relaxed),
            OpType::Fail => self.counts.fail.fetch_add(1, Ordering::Relaxed),
            OpType::Info if process != Process::Nemesis => {
                self.counts.info.fetch_add(1, Ordering::Relaxed)
            }
            _ => 0,
        };
        let mut inner = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        // Take the time under the lock so that file order and time order agree.
        let op = Op {
            index: 0,
            time: self.now(),
            process,
            kind,
            f: f.to_owned(),
            key: key.map(str::to_owned),
            value,
            error,
        };
        let op = match inner.writer.append(op.clone()) {
            Ok(op) => op,
            Err(e) => {
                let op = Op {
                    index: inner.ops.len() as u64,
                    ..op
                };
                inner
                    .error
                    .get_or_insert_with(|| format!("writing {}: {e}", self.path.display()));
                op
            }
        };
        inner.ops.push(op.clone());
        op
    }

    /// The history recorded so far, and the first write error if the file could not keep up.
    pub fn snapshot(&self, header: Header) -> (History, Option<String>) {
        let inner = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        (
            History {
                header: Some(header),
                ops: inner.ops.clone(),
            },
            inner.error.clone(),
        )
    }
}
