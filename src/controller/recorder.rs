//! The recorder: stamps every event with the run's monotonic clock and streams it to the history
//! file, counting outcomes for the progress bar. Nothing keeps the ops in memory during the run:
//! memory stays flat however long the run goes, and the checkers read the file back afterwards
//! ([`Recorder::snapshot`]).
//!
//! Writes are grouped (group commit, as databases do): an event is serialized into a shared
//! buffer under a short lock, and a flusher thread hands the buffer to the kernel every
//! [`FLUSH_EVERY`] or as soon as it holds [`FLUSH_BYTES`]. A crash or Ctrl-C thus loses at most
//! the last few milliseconds of events (written data survives the process; the buffer is also
//! written out when the recorder is dropped, panics included), and as only whole lines are ever
//! buffered, a SIGKILLed run's history parses up to its last complete line.

use crate::history::{Header, HeaderLine, History, OpType, Process, Value};
use anyhow::Context;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The longest an event waits in the buffer before it is written to the history file.
pub const FLUSH_EVERY: Duration = Duration::from_millis(5);

/// A buffer this large is written out at once, without waiting for the next tick.
pub const FLUSH_BYTES: usize = 256 * 1024;

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
    shared: Arc<Shared>,
    flusher: Mutex<Option<JoinHandle<()>>>,
    /// Live counts for progress output.
    pub counts: Counts,
    /// How late the generator started its ops against their schedule (throttled runs only).
    pub lateness: super::histogram::Histogram,
    fault: Mutex<Option<String>>,
    path: PathBuf,
}

/// What the recording tasks and the flusher share.
struct Shared {
    pending: Mutex<Pending>,
    /// Wakes the flusher early (a full buffer, or the end of the run).
    wake: Condvar,
    /// The file, locked while a buffer is written so that buffers land in order.
    file: Mutex<Output>,
    /// Set once a write failed: cheap to poll while the run goes on.
    failed: AtomicBool,
}

/// Events serialized but not written yet.
struct Pending {
    buf: Vec<u8>,
    next_index: u64,
    stop: bool,
}

struct Output {
    file: File,
    /// The first write error, if any. Nothing is written after it, so the file stays a prefix
    /// of the run (its last line perhaps torn), and the controller stops the run.
    error: Option<String>,
}

/// Appends one op line (with its newline) to `buf`: the same JSON as [`crate::history::Op`]
/// serializes to, written by hand because it is on every client call's path.
#[allow(clippy::too_many_arguments)]
fn write_line(
    buf: &mut Vec<u8>,
    index: u64,
    time: u64,
    process: Process,
    kind: OpType,
    f: &str,
    key: Option<&str>,
    value: &Value,
    error: Option<&str>,
) {
    buf.extend_from_slice(b"{\"index\":");
    push_u64(buf, index);
    buf.extend_from_slice(b",\"time\":");
    push_u64(buf, time);
    buf.extend_from_slice(b",\"process\":");
    match process {
        Process::Client(p) => push_u64(buf, p),
        Process::Nemesis => buf.extend_from_slice(b"\"nemesis\""),
    }
    buf.extend_from_slice(match kind {
        OpType::Invoke => b",\"type\":\"invoke\",\"f\":",
        OpType::Ok => b",\"type\":\"ok\",\"f\":",
        OpType::Fail => b",\"type\":\"fail\",\"f\":",
        OpType::Info => b",\"type\":\"info\",\"f\":",
    });
    push_str(buf, f);
    if let Some(k) = key {
        buf.extend_from_slice(b",\"key\":");
        push_str(buf, k);
    }
    buf.extend_from_slice(b",\"value\":");
    match value {
        Value::Nil => buf.extend_from_slice(b"null"),
        Value::Int(i) => {
            if *i < 0 {
                buf.push(b'-');
            }
            push_u64(buf, i.unsigned_abs());
        }
        // Serializing plain data into memory does not fail.
        other => serde_json::to_writer(&mut *buf, other).unwrap_or(()),
    }
    if let Some(e) = error {
        buf.extend_from_slice(b",\"error\":");
        push_str(buf, e);
    }
    buf.extend_from_slice(b"}\n");
}

fn push_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[at..]);
}

/// A JSON string: copied as is when nothing in it needs escaping.
fn push_str(buf: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
    } else {
        // Serializing a string into memory does not fail.
        serde_json::to_writer(&mut *buf, s).unwrap_or(());
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// Writes whatever is buffered; returns false once the recorder stopped.
    fn flush(&self, spare: &mut Vec<u8>) -> bool {
        // Take the file first, then the buffer: whoever holds the file writes buffers in the
        // order they were taken.
        let mut out = lock(&self.file);
        let stop = {
            let mut p = lock(&self.pending);
            std::mem::swap(&mut p.buf, spare);
            p.stop
        };
        if !spare.is_empty() && out.error.is_none() {
            if let Err(e) = out.file.write_all(spare) {
                out.error = Some(e.to_string());
                self.failed.store(true, Ordering::Release);
            }
        }
        spare.clear();
        !stop
    }
}

impl Recorder {
    /// Creates the history file at `path` with `header` as its first line and starts the
    /// flusher.
    pub fn create(path: &Path, header: &Header) -> anyhow::Result<Recorder> {
        let open = || -> std::io::Result<File> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut file = File::create(path)?;
            let mut line = serde_json::to_vec(&HeaderLine {
                ferrocheck: header.clone(),
            })?;
            line.push(b'\n');
            file.write_all(&line)?;
            Ok(file)
        };
        let file =
            open().with_context(|| format!("cannot create the history file {}", path.display()))?;
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending {
                buf: Vec::with_capacity(FLUSH_BYTES),
                next_index: 0,
                stop: false,
            }),
            wake: Condvar::new(),
            file: Mutex::new(Output { file, error: None }),
            failed: AtomicBool::new(false),
        });
        let flusher = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("history-flusher".into())
                .spawn(move || {
                    let mut spare = Vec::with_capacity(FLUSH_BYTES);
                    loop {
                        {
                            let p = lock(&shared.pending);
                            if !p.stop && p.buf.len() < FLUSH_BYTES {
                                let _ = shared.wake.wait_timeout(p, FLUSH_EVERY);
                            }
                        }
                        if !shared.flush(&mut spare) {
                            return;
                        }
                    }
                })
                .context("cannot start the history flusher thread")?
        };
        Ok(Recorder {
            start: Instant::now(),
            shared,
            flusher: Mutex::new(Some(flusher)),
            counts: Counts::default(),
            lateness: Default::default(),
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
        *lock(&self.fault) = fault;
    }

    /// The fault now in force, if any.
    pub fn fault(&self) -> Option<String> {
        lock(&self.fault).clone()
    }

    /// Where the history goes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records one event: gives it the next index and the current time and buffers its line.
    pub fn record(
        &self,
        process: Process,
        kind: OpType,
        f: &str,
        key: Option<&str>,
        value: Value,
        error: Option<String>,
    ) {
        match kind {
            OpType::Ok => self.counts.ok.fetch_add(1, Ordering::Relaxed),
            OpType::Fail => self.counts.fail.fetch_add(1, Ordering::Relaxed),
            OpType::Info if process != Process::Nemesis => {
                self.counts.info.fetch_add(1, Ordering::Relaxed)
            }
            _ => 0,
        };
        let full = {
            let mut p = lock(&self.shared.pending);
            // Index and time under the lock, so that file order, index order and time order agree.
            let (index, time) = (p.next_index, self.now());
            p.next_index += 1;
            write_line(
                &mut p.buf,
                index,
                time,
                process,
                kind,
                f,
                key,
                &value,
                error.as_deref(),
            );
            p.buf.len() >= FLUSH_BYTES
        };
        if full {
            self.shared.wake.notify_one();
        }
    }

    /// Why the history file could not be written, once a write failed (a full disk...): from
    /// then on nothing more is written, and the run should stop.
    pub fn write_error(&self) -> Option<String> {
        if !self.shared.failed.load(Ordering::Acquire) {
            return None;
        }
        lock(&self.shared.file)
            .error
            .as_ref()
            .map(|e| format!("writing {}: {e}", self.path.display()))
    }

    /// Events recorded so far.
    pub fn recorded(&self) -> u64 {
        lock(&self.shared.pending).next_index
    }

    /// Writes every buffered event to the history file now.
    pub fn flush(&self) {
        self.shared.flush(&mut Vec::new());
    }

    /// The history recorded so far, read back from the file (after a flush), and the first
    /// write error if the file could not keep up.
    pub fn snapshot(&self, header: Header) -> (History, Option<String>) {
        self.flush();
        let error = self.write_error();
        match History::read_jsonl(&self.path) {
            Ok(mut history) => {
                history.header = Some(header);
                (history, error)
            }
            Err(e) => (
                History {
                    header: Some(header),
                    ops: Vec::new(),
                },
                Some(error.unwrap_or_else(|| format!("reading the history back: {e}"))),
            ),
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        lock(&self.shared.pending).stop = true;
        self.shared.wake.notify_one();
        if let Some(t) = lock(&self.flusher).take() {
            let _ = t.join();
        }
        // The flusher's last round took everything before `stop`; nothing records after drop.
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            version: 1,
            workload: Some("register".into()),
            model: Some("cas-register".into()),
            run: None,
            checkers: Vec::new(),
        }
    }

    #[test]
    fn events_stream_to_the_file_and_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h").join("history.jsonl");
        let r = Recorder::create(&path, &header()).unwrap();
        for p in 0..3u64 {
            let key = format!("k{p}");
            r.record(
                Process::Client(p),
                OpType::Invoke,
                "write",
                Some(&key),
                Value::Int(p as i64),
                None,
            );
        }
        r.record(
            Process::Client(1),
            OpType::Info,
            "write",
            Some("k1"),
            Value::Int(1),
            Some("timed out".into()),
        );
        r.record(
            Process::Nemesis,
            OpType::Info,
            "start-partition",
            None,
            Value::Nil,
            None,
        );
        assert_eq!(r.recorded(), 5);
        let (h, err) = r.snapshot(header());
        assert!(err.is_none(), "{err:?}");
        assert_eq!(h.ops.len(), 5);
        assert_eq!(
            h.ops.iter().map(|o| o.index).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4]
        );
        assert!(h.ops.windows(2).all(|w| w[0].time <= w[1].time));
        assert_eq!(h.ops[3].error.as_deref(), Some("timed out"));
        assert_eq!(h.ops[4].process, Process::Nemesis);
        assert_eq!(r.counts.info.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn the_flusher_writes_without_being_asked_and_drop_writes_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let r = Recorder::create(&path, &header()).unwrap();
        r.record(
            Process::Client(0),
            OpType::Invoke,
            "read",
            Some("k"),
            Value::Nil,
            None,
        );
        // No timing assertion: wait (generously) until the flusher has written the line.
        let lines = || std::fs::read_to_string(&path).unwrap().lines().count();
        let deadline = Instant::now() + Duration::from_secs(60);
        while lines() < 2 {
            assert!(Instant::now() < deadline, "the flusher never wrote");
            std::thread::sleep(Duration::from_millis(5));
        }
        r.record(
            Process::Client(0),
            OpType::Ok,
            "read",
            Some("k"),
            Value::Int(3),
            None,
        );
        drop(r);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with('\n'));
        let h = History::read_jsonl(&path).unwrap();
        assert_eq!(h.ops.len(), 2);
        assert_eq!(h.ops[1].value, Value::Int(3));
    }

    #[test]
    fn lines_are_the_json_of_the_op() {
        let values = [
            Value::Nil,
            Value::Int(-42),
            Value::Int(i64::MIN),
            Value::Str("a \"quoted\" \\ line\n".into()),
            Value::List(vec![Value::Int(1), Value::Bool(true)]),
        ];
        for (i, value) in values.into_iter().enumerate() {
            let op = crate::history::Op {
                index: i as u64,
                time: u64::MAX - i as u64,
                process: if i == 2 {
                    Process::Nemesis
                } else {
                    Process::Client(i as u64 * 1000)
                },
                kind: [OpType::Invoke, OpType::Ok, OpType::Fail, OpType::Info][i % 4],
                f: if i == 3 {
                    "wr\u{1}te".into()
                } else {
                    "cas".into()
                },
                key: (i % 2 == 0).then(|| "k\"é".to_string()),
                value,
                error: (i == 4).then(|| "timed \"out\"".to_string()),
            };
            let mut buf = Vec::new();
            write_line(
                &mut buf,
                op.index,
                op.time,
                op.process,
                op.kind,
                &op.f,
                op.key.as_deref(),
                &op.value,
                op.error.as_deref(),
            );
            let mut want = serde_json::to_vec(&op).unwrap();
            want.push(b'\n');
            assert_eq!(
                String::from_utf8(buf).unwrap(),
                String::from_utf8(want).unwrap()
            );
        }
    }

    #[test]
    fn many_writers_make_a_well_formed_history() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let r = Arc::new(Recorder::create(&path, &header()).unwrap());
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let r = r.clone();
                std::thread::spawn(move || {
                    for i in 0..5_000 {
                        let p = Process::Client(t);
                        r.record(p, OpType::Invoke, "write", Some("k"), Value::Int(i), None);
                        r.record(p, OpType::Ok, "write", Some("k"), Value::Int(i), None);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let (h, err) = r.snapshot(header());
        assert!(err.is_none());
        assert_eq!(h.ops.len(), 40_000);
        assert!(h.ops.iter().enumerate().all(|(i, o)| o.index == i as u64));
    }
}
