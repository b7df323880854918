//! The run record: what a run made that must not outlive it, kept on disk so a killed run's
//! leftovers can be found and removed later.
//!
//! Each run owns a directory `<base>/<run-id>/` (base `/run/ferrocheck` as root, else
//! `$TMPDIR/ferrocheck-<uid>`, or `$FERROCHECK_STATE_DIR`) holding `owner` (the pid and start
//! time of the process that made it), `paused` (one `pid starttime` line per process it stopped)
//! and `clock/` (the clock offset files). The record is written *before* the thing it records is
//! made, so a leftover always has a record or none of its run's state survives.

use super::NemesisError;
use std::fs;
use std::path::{Path, PathBuf};

/// Environment variable overriding where run records live.
pub const STATE_DIR_ENV: &str = "FERROCHECK_STATE_DIR";

/// Where run records live.
pub fn base_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(STATE_DIR_ENV) {
        return PathBuf::from(dir);
    }
    if super::tools::is_root() {
        PathBuf::from("/run/ferrocheck")
    } else {
        std::env::temp_dir().join(format!(
            "ferrocheck-{}", // SAFETY: getuid(2) cannot fail.
            unsafe { libc::getuid() }
        ))
    }
}

/// A process identity that survives pid reuse: the pid and its start time (clock ticks since
/// boot, field 22 of `/proc/PID/stat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProcessId {
    /// The pid.
    pub pid: u32,
    /// When it started, in clock ticks since boot.
    pub start: u64,
}

impl ProcessId {
    /// The identity of live process `pid`, or `None` when it is gone.
    pub fn of(pid: u32) -> Option<ProcessId> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name may hold spaces and parentheses: fields start after the last ')'.
        let rest = &stat[stat.rfind(')')? + 1..];
        let start = rest.split_whitespace().nth(19)?.parse().ok()?;
        Some(ProcessId { pid, start })
    }

    /// True when the same process (same pid and start time) is still there.
    pub fn alive(&self) -> bool {
        ProcessId::of(self.pid) == Some(*self)
    }

    fn parse(line: &str) -> Option<ProcessId> {
        let mut it = line.split_whitespace();
        Some(ProcessId {
            pid: it.next()?.parse().ok()?,
            start: it.next()?.parse().ok()?,
        })
    }
}

/// One run's record directory. The value made by [`RunRecord::create`] removes the directory
/// when dropped (the run ended normally); clones and opened records never do.
#[derive(Debug)]
pub struct RunRecord {
    run: String,
    dir: PathBuf,
    owned: bool,
}

impl Clone for RunRecord {
    fn clone(&self) -> RunRecord {
        RunRecord {
            run: self.run.clone(),
            dir: self.dir.clone(),
            owned: false,
        }
    }
}

impl Drop for RunRecord {
    fn drop(&mut self) {
        if self.owned {
            if let Err(e) = self.remove() {
                eprintln!("ferrocheck: {e}");
            }
        }
    }
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> NemesisError {
    move |source| NemesisError::Io { context, source }
}

impl RunRecord {
    /// Creates (or reopens) the record of `run`, owned by this process.
    pub fn create(run: &str) -> Result<RunRecord, NemesisError> {
        validate_run_id(run)?;
        let dir = base_dir().join(run);
        fs::create_dir_all(dir.join("clock"))
            .map_err(io(format!("creating run record {}", dir.display())))?;
        let me = ProcessId::of(std::process::id()).ok_or_else(|| {
            NemesisError::Invalid("cannot read /proc/self/stat: is /proc mounted?".into())
        })?;
        write_atomic(&dir.join("owner"), &format!("{} {}\n", me.pid, me.start))?;
        Ok(RunRecord {
            run: run.to_owned(),
            dir,
            owned: true,
        })
    }

    /// Opens an existing record directory (used by cleanup).
    pub fn open(dir: &Path) -> Option<RunRecord> {
        let run = dir.file_name()?.to_str()?.to_owned();
        validate_run_id(&run).ok()?;
        Some(RunRecord {
            run,
            dir: dir.to_owned(),
            owned: false,
        })
    }

    /// The run id.
    pub fn run(&self) -> &str {
        &self.run
    }

    /// The record's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where clock offset files live.
    pub fn clock_dir(&self) -> PathBuf {
        self.dir.join("clock")
    }

    /// The process that made the run, if recorded.
    pub fn owner(&self) -> Option<ProcessId> {
        ProcessId::parse(&fs::read_to_string(self.dir.join("owner")).ok()?)
    }

    /// True when the process that made the run is still alive.
    pub fn owner_alive(&self) -> bool {
        self.owner().is_some_and(|o| o.alive())
    }

    /// The processes the run stopped and has not resumed.
    pub fn paused(&self) -> Vec<ProcessId> {
        fs::read_to_string(self.dir.join("paused"))
            .unwrap_or_default()
            .lines()
            .filter_map(ProcessId::parse)
            .collect()
    }

    /// Replaces the list of stopped processes.
    pub fn set_paused(&self, paused: &[ProcessId]) -> Result<(), NemesisError> {
        let text: String = paused
            .iter()
            .map(|p| format!("{} {}\n", p.pid, p.start))
            .collect();
        write_atomic(&self.dir.join("paused"), &text)
    }

    /// Deletes the record.
    pub fn remove(&self) -> Result<(), NemesisError> {
        match fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(io(format!("removing {}", self.dir.display()))(e))
            }
            _ => Ok(()),
        }
    }
}

/// Checks a run id: 1 to 16 characters of `[a-z0-9]`, so names built from it stay short and
/// leftovers are recognisable.
pub fn validate_run_id(run: &str) -> Result<(), NemesisError> {
    if run.is_empty()
        || run.len() > 16
        || !run
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return Err(NemesisError::Invalid(format!(
            "run id {run:?} must be 1 to 16 characters of a-z and 0-9"
        )));
    }
    Ok(())
}

/// A fresh run id: the pid and a random suffix, in base 36.
pub fn new_run_id() -> String {
    let n: u64 = u64::from(std::process::id()) << 24 | (rand::random::<u64>() & 0xff_ffff);
    let mut s = String::new();
    let mut v = n;
    while v > 0 || s.is_empty() {
        let d = (v % 36) as u8;
        s.insert(0, char::from(if d < 10 { b'0' + d } else { b'a' + d - 10 }));
        v /= 36;
    }
    s
}

/// Writes `text` to `path` atomically: a temporary file in the same directory, then rename.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), NemesisError> {
    crate::atomic_file::write(path, text.as_bytes())
        .map_err(io(format!("writing {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_short_and_valid() {
        for _ in 0..100 {
            let id = new_run_id();
            assert!(validate_run_id(&id).is_ok(), "{id}");
        }
        assert!(validate_run_id("Bad-id").is_err());
        assert!(validate_run_id("").is_err());
    }

    #[test]
    fn own_process_identity_is_alive() {
        let me = ProcessId::of(std::process::id()).expect("/proc/self/stat");
        assert!(me.alive());
        let other = ProcessId {
            start: me.start + 1,
            ..me
        };
        assert!(!other.alive());
    }
}
