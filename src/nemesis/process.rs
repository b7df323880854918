//! Process faults: pause (SIGSTOP), resume (SIGCONT) and kill (SIGKILL) a node's process.
//!
//! A [`Pauser`] remembers every process it stopped (in memory and in the run record, so a
//! killed run's stopped processes are resumed by cleanup) and resumes them all when healed or
//! dropped. Identities carry the process start time, so a recycled pid is never signalled.
//! The `pause` and `kill` families ([`super::families`]) apply their faults through these.

use super::state::{ProcessId, RunRecord};
use super::{NemesisError, NodeControl};
use nix::sys::signal::{kill as send, Signal};
use nix::unistd::Pid;
use std::collections::BTreeSet;

fn signal(pid: u32, sig: Signal) -> Result<(), NemesisError> {
    let p = i32::try_from(pid)
        .map_err(|_| NemesisError::Invalid(format!("pid {pid} is out of range")))?;
    send(Pid::from_raw(p), sig).map_err(|e| NemesisError::Io {
        context: format!("sending {sig} to pid {pid}"),
        source: std::io::Error::from(e),
    })
}

/// Stops process `pid` (SIGSTOP).
pub fn pause(pid: u32) -> Result<(), NemesisError> {
    signal(pid, Signal::SIGSTOP)
}

/// Continues stopped process `pid` (SIGCONT).
pub fn resume(pid: u32) -> Result<(), NemesisError> {
    signal(pid, Signal::SIGCONT)
}

/// Kills process `pid` (SIGKILL).
pub fn kill(pid: u32) -> Result<(), NemesisError> {
    signal(pid, Signal::SIGKILL)
}

/// The state letter of process `pid` from /proc/PID/stat (`R`, `S`, `T` stopped, `Z`, ...).
pub fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// Stops processes and remembers them until resumed.
#[derive(Debug, Default)]
pub struct Pauser {
    paused: BTreeSet<ProcessId>,
    record: Option<RunRecord>,
}

impl Pauser {
    /// A pauser that also lists stopped processes in `record` (for cleanup after a crash).
    pub fn new(record: Option<&RunRecord>) -> Pauser {
        Pauser {
            paused: BTreeSet::new(),
            record: record.cloned(),
        }
    }

    fn save(&self) -> Result<(), NemesisError> {
        match &self.record {
            Some(r) => r.set_paused(&self.paused.iter().copied().collect::<Vec<_>>()),
            None => Ok(()),
        }
    }

    /// Stops `pid`, recording it first so it is resumed even if this process dies next.
    pub fn pause(&mut self, pid: u32) -> Result<(), NemesisError> {
        let id = ProcessId::of(pid)
            .ok_or_else(|| NemesisError::Invalid(format!("no process {pid} to pause")))?;
        self.paused.insert(id);
        self.save()?;
        pause(pid)
    }

    /// Resumes `pid` if this pauser stopped it.
    pub fn resume(&mut self, pid: u32) -> Result<(), NemesisError> {
        let ids: Vec<ProcessId> = self
            .paused
            .iter()
            .filter(|p| p.pid == pid)
            .copied()
            .collect();
        for id in ids {
            if id.alive() {
                resume(pid)?;
            }
            self.paused.remove(&id);
        }
        self.save()
    }

    /// The processes stopped now.
    pub fn paused(&self) -> Vec<u32> {
        self.paused.iter().map(|p| p.pid).collect()
    }

    /// Resumes every process this pauser stopped (those still alive).
    pub fn resume_all(&mut self) -> Result<(), NemesisError> {
        let mut first = None;
        for id in std::mem::take(&mut self.paused) {
            if id.alive() {
                if let Err(e) = resume(id.pid) {
                    first.get_or_insert(e);
                }
            }
        }
        if let Err(e) = self.save() {
            first.get_or_insert(e);
        }
        first.map_or(Ok(()), Err)
    }
}

impl Drop for Pauser {
    fn drop(&mut self) {
        if let Err(e) = self.resume_all() {
            eprintln!("ferrocheck: resuming paused processes: {e}");
        }
    }
}

/// The pid of node `node`'s running process, or why there is none to signal.
pub fn pid_of(nodes: &dyn NodeControl, node: &str) -> Result<u32, NemesisError> {
    nodes.pid(node).ok_or_else(|| {
        NemesisError::Invalid(format!("node {node} has no running process to signal"))
    })
}
