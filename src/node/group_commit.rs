//! Group commit: one `fdatasync` covers every record appended while the previous one ran.
//!
//! A store appends a record (a cheap copy into a shared buffer, done under the store's own lock
//! so that the journal's order is the order the changes were made) and gets its sequence
//! number. A syncer thread writes the whole buffer and syncs it, then publishes how far the file
//! is durable. The store replies only once its record is covered ([`GroupCommit::durable`]), so
//! durability is what it was with one sync per record, but many clients share each sync's wait,
//! as real databases do.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use tokio::sync::watch;

/// How far the file is durable, or why it cannot be any more.
#[derive(Clone, Debug, Default)]
struct Synced {
    /// Records `1..=upto` are on disk.
    upto: u64,
    /// The first write or sync error; every later wait fails with it (the data of a failed
    /// sync is in doubt, as PostgreSQL learned).
    error: Option<Arc<str>>,
}

struct State {
    buf: Vec<u8>,
    appended: u64,
    synced: Synced,
    stop: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the syncer (records waiting) and blocking waiters (records synced).
    changed: Condvar,
    published: watch::Sender<Synced>,
}

/// A journal file whose appends are synced in groups by a thread of its own.
pub struct GroupCommit {
    shared: Arc<Shared>,
    syncer: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupCommit")
    }
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl GroupCommit {
    /// Starts syncing appends to `file` (opened for appending); `path` names it in errors.
    pub fn start(file: File, path: PathBuf) -> anyhow::Result<GroupCommit> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                buf: Vec::new(),
                appended: 0,
                synced: Synced::default(),
                stop: false,
            }),
            changed: Condvar::new(),
            published: watch::channel(Synced::default()).0,
        });
        let syncer = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("journal-sync".into())
                .spawn(move || sync_loop(&shared, file, &path))
                .map_err(|e| anyhow::anyhow!("cannot start the journal's sync thread: {e}"))?
        };
        Ok(GroupCommit {
            shared,
            syncer: Some(syncer),
        })
    }

    /// Queues one whole record line and returns its sequence number (from 1).
    pub fn append(&self, line: &[u8]) -> u64 {
        let mut s = lock(&self.shared.state);
        s.buf.extend_from_slice(line);
        s.appended += 1;
        let seq = s.appended;
        drop(s);
        self.shared.changed.notify_all();
        seq
    }

    /// Waits until record `seq` (and every one before it) is on disk. `seq` 0 is always durable.
    pub async fn durable(&self, seq: u64) -> Result<(), String> {
        let mut rx = self.shared.published.subscribe();
        let seen = rx
            .wait_for(|s| s.upto >= seq || s.error.is_some())
            .await
            .map(|s| Synced::clone(&s));
        match seen {
            Ok(s) if s.upto >= seq => Ok(()),
            Ok(s) => Err(s.error.as_deref().unwrap_or("sync failed").to_string()),
            Err(_) => Err("the journal was closed".into()),
        }
    }

    /// Waits, blocking the thread, until record `seq` is on disk.
    pub fn durable_blocking(&self, seq: u64) -> Result<(), String> {
        let mut s = lock(&self.shared.state);
        loop {
            if s.synced.upto >= seq {
                return Ok(());
            }
            if let Some(e) = &s.synced.error {
                return Err(e.to_string());
            }
            if s.stop {
                return Err("the journal was closed".into());
            }
            s = self
                .shared
                .changed
                .wait(s)
                .unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// The syncer: take everything queued, write it, sync it, publish; sleep while nothing waits.
fn sync_loop(shared: &Shared, mut file: File, path: &std::path::Path) {
    let mut batch = Vec::new();
    loop {
        let upto = {
            let mut s = lock(&shared.state);
            while s.buf.is_empty() && !s.stop {
                s = shared.changed.wait(s).unwrap_or_else(|p| p.into_inner());
            }
            if s.buf.is_empty() {
                return;
            }
            std::mem::swap(&mut s.buf, &mut batch);
            s.appended
        };
        let done = file.write_all(&batch).and_then(|()| file.sync_data());
        batch.clear();
        let mut s = lock(&shared.state);
        match done {
            Ok(()) => s.synced.upto = upto,
            Err(e) => {
                let why = format!("cannot append to journal {}: {e}", path.display());
                s.synced.error.get_or_insert_with(|| why.into());
            }
        }
        let published = s.synced.clone();
        let failed = published.error.is_some();
        drop(s);
        shared.changed.notify_all();
        shared.published.send_replace(published);
        if failed {
            return;
        }
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        lock(&self.shared.state).stop = true;
        self.shared.changed.notify_all();
        if let Some(t) = self.syncer.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_on_disk_once_durable_returns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        let g = GroupCommit::start(file, path.clone()).unwrap();
        let seqs: Vec<u64> = (0..100)
            .map(|i| g.append(format!("{i}\n").as_bytes()))
            .collect();
        assert_eq!(seqs, (1..=100).collect::<Vec<_>>());
        g.durable_blocking(100).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 100, "every record, in order");
        assert!(text.starts_with("0\n1\n2\n"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let last = g.append(b"last\n");
        rt.block_on(g.durable(last)).unwrap();
        rt.block_on(g.durable(0)).unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().ends_with("last\n"));
    }
}
