//! Process faults: pause (SIGSTOP), resume (SIGCONT) and kill (SIGKILL) a node's process.
//!
//! A [`Pauser`] remembers every process it stopped (in memory and in the run record, so a
//! killed run's stopped processes are resumed by cleanup) and resumes them all when healed or
//! dropped. Identities carry the process start time, so a recycled pid is never signalled.

use super::state::{ProcessId, RunRecord};
use super::{Fault, Nemesis, NemesisError, NodeControl};
use crate::history::Value;
use nix::sys::signal::{kill as send, Signal};
use nix::unistd::Pid;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

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

fn pid_of(nodes: &dyn NodeControl, node: &str) -> Result<u32, NemesisError> {
    nodes.pid(node).ok_or_else(|| {
        NemesisError::Invalid(format!("node {node} has no running process to signal"))
    })
}

fn node_list(nodes: &[String]) -> Value {
    Value::List(nodes.iter().map(|n| Value::Str(n.clone())).collect())
}

/// The pause nemesis: `pause` stops nodes' processes, `resume` (and heal) continues them.
pub struct PauseNemesis {
    nodes: Arc<dyn NodeControl>,
    pauser: Pauser,
    by_node: BTreeMap<String, u32>,
}

impl PauseNemesis {
    /// A pause nemesis over the controller's nodes.
    pub fn new(nodes: Arc<dyn NodeControl>, record: Option<&RunRecord>) -> PauseNemesis {
        PauseNemesis {
            nodes,
            pauser: Pauser::new(record),
            by_node: BTreeMap::new(),
        }
    }
}

impl Nemesis for PauseNemesis {
    fn name(&self) -> &str {
        "pause"
    }

    fn handles(&self, fault: &Fault) -> bool {
        matches!(fault, Fault::Pause(_) | Fault::Resume(_))
    }

    fn invoke(&mut self, fault: &Fault) -> Result<Value, NemesisError> {
        match fault {
            Fault::Pause(names) => {
                for n in names {
                    let pid = pid_of(self.nodes.as_ref(), n)?;
                    self.pauser.pause(pid)?;
                    self.by_node.insert(n.clone(), pid);
                }
                Ok(node_list(names))
            }
            Fault::Resume(names) => {
                let names: Vec<String> = if names.is_empty() {
                    self.by_node.keys().cloned().collect()
                } else {
                    names.clone()
                };
                for n in &names {
                    if let Some(pid) = self.by_node.remove(n) {
                        self.pauser.resume(pid)?;
                    }
                }
                Ok(node_list(&names))
            }
            other => Err(NemesisError::Invalid(format!(
                "the pause nemesis cannot do {}",
                other.f()
            ))),
        }
    }

    fn heal(&mut self) -> Result<(), NemesisError> {
        self.by_node.clear();
        self.pauser.resume_all()
    }
}

/// The kill nemesis: `kill` SIGKILLs nodes' processes, `start` (and heal) restarts them through
/// the controller.
pub struct KillNemesis {
    nodes: Arc<dyn NodeControl>,
    down: BTreeSet<String>,
}

impl KillNemesis {
    /// A kill nemesis over the controller's nodes.
    pub fn new(nodes: Arc<dyn NodeControl>) -> KillNemesis {
        KillNemesis {
            nodes,
            down: BTreeSet::new(),
        }
    }

    fn start(&mut self, names: &[String]) -> Result<(), NemesisError> {
        for n in names {
            if self.down.remove(n) {
                self.nodes.restart(n).map_err(|e| NemesisError::Tool {
                    command: format!("restart node {n}"),
                    detail: format!("{e:#}"),
                })?;
            }
        }
        Ok(())
    }
}

impl Nemesis for KillNemesis {
    fn name(&self) -> &str {
        "kill"
    }

    fn handles(&self, fault: &Fault) -> bool {
        matches!(fault, Fault::Kill(_) | Fault::Start(_))
    }

    fn invoke(&mut self, fault: &Fault) -> Result<Value, NemesisError> {
        match fault {
            Fault::Kill(names) => {
                for n in names {
                    let pid = pid_of(self.nodes.as_ref(), n)?;
                    self.down.insert(n.clone());
                    // A stopped process dies of SIGKILL too; no need to continue it first.
                    kill(pid)?;
                }
                Ok(node_list(names))
            }
            Fault::Start(names) => {
                let names: Vec<String> = if names.is_empty() {
                    self.down.iter().cloned().collect()
                } else {
                    names.clone()
                };
                self.start(&names)?;
                Ok(node_list(&names))
            }
            other => Err(NemesisError::Invalid(format!(
                "the kill nemesis cannot do {}",
                other.f()
            ))),
        }
    }

    fn heal(&mut self) -> Result<(), NemesisError> {
        let down: Vec<String> = self.down.iter().cloned().collect();
        self.start(&down)
    }
}
