//! The `kill` fault family: kill nodes' processes with SIGKILL, then start them again through
//! the controller (with the data they kept).
//!
//! Its `[kill]` table says which nodes (`targets`: one, minority, majority, all). Faults: `kill`
//! and `start` (value: the nodes). A killed node is down on purpose: the run does not count its
//! exit as a crash ([`FaultValue::takes_down`]).

use crate::history::Value;
use crate::nemesis::family::{Family, FamilySpec, FaultFamily, Needs};
use crate::nemesis::process::{kill, pid_of};
use crate::nemesis::registry::Resources;
use crate::nemesis::schedule::{parse_table, ProcessSpec, Schedule};
use crate::nemesis::{node_names, Fault, FaultValue, Nemesis, NemesisError, NodeControl};
use rand::rngs::StdRng;
use std::collections::BTreeSet;
use std::sync::Arc;

#[allow(non_upper_case_globals)]
impl FaultFamily {
    /// Kill processes with SIGKILL, start them again.
    pub const Kill: FaultFamily = FaultFamily::new("kill");
}

/// A kill fault.
#[derive(Clone, Debug, PartialEq)]
pub enum KillFault {
    /// SIGKILL these nodes' processes.
    Kill(Vec<String>),
    /// Restart these killed nodes (empty: every killed node).
    Start(Vec<String>),
}

impl FaultValue for KillFault {
    fn family(&self) -> FaultFamily {
        FaultFamily::Kill
    }

    fn f(&self) -> &'static str {
        match self {
            KillFault::Kill(_) => "kill",
            KillFault::Start(_) => "start",
        }
    }

    fn value(&self) -> Value {
        match self {
            KillFault::Kill(n) | KillFault::Start(n) => node_names(n),
        }
    }

    fn ends_window(&self) -> bool {
        matches!(self, KillFault::Start(_))
    }

    fn takes_down(&self) -> &[String] {
        match self {
            KillFault::Kill(n) => n.as_slice(),
            KillFault::Start(_) => &[],
        }
    }
}

/// The `[kill]` table, read.
#[derive(Debug)]
struct KillSpec(ProcessSpec);

impl FamilySpec for KillSpec {
    fn draw(
        &self,
        nodes: &[String],
        _known: &[String],
        rng: &mut StdRng,
    ) -> Result<(Fault, Fault), NemesisError> {
        let t = self.0.targets.pick(nodes, rng);
        Ok((
            KillFault::Kill(t.clone()).into(),
            KillFault::Start(t).into(),
        ))
    }
}

/// The `kill` family.
pub struct KillFamily;

/// The `kill` family's registry entry.
pub static KILL: KillFamily = KillFamily;

impl Family for KillFamily {
    fn family(&self) -> FaultFamily {
        FaultFamily::Kill
    }

    fn about(&self) -> &'static str {
        "kill processes with SIGKILL, then start them again"
    }

    fn needs(&self) -> Needs {
        Needs::default()
    }

    fn parse(&self, table: Option<toml::Value>) -> Result<Box<dyn FamilySpec>, String> {
        Ok(Box::new(KillSpec(parse_table(FaultFamily::Kill, table)?)))
    }

    fn build(
        &self,
        res: &mut Resources<'_>,
        _schedule: &Schedule,
    ) -> Result<Option<Box<dyn Nemesis>>, NemesisError> {
        Ok(Some(Box::new(KillNemesis::new(res.nodes.clone()))))
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
        fault.get::<KillFault>().is_some()
    }

    fn invoke(&mut self, fault: &Fault) -> Result<Value, NemesisError> {
        match fault.get::<KillFault>() {
            Some(KillFault::Kill(names)) => {
                for n in names {
                    let pid = pid_of(self.nodes.as_ref(), n)?;
                    self.down.insert(n.clone());
                    // A stopped process dies of SIGKILL too; no need to continue it first.
                    kill(pid)?;
                }
                Ok(node_names(names))
            }
            Some(KillFault::Start(names)) => {
                let names: Vec<String> = if names.is_empty() {
                    self.down.iter().cloned().collect()
                } else {
                    names.clone()
                };
                self.start(&names)?;
                Ok(node_names(&names))
            }
            None => Err(fault.unhandled("kill")),
        }
    }

    fn heal(&mut self) -> Result<(), NemesisError> {
        let down: Vec<String> = self.down.iter().cloned().collect();
        self.start(&down)
    }
}
