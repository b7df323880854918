//! The `pause` fault family: stop nodes' processes with SIGSTOP, continue them with SIGCONT.
//!
//! Its `[pause]` table says which nodes (`targets`: one, minority, majority, all). Faults:
//! `pause` and `resume` (value: the nodes). Stopped processes are listed in the run record, so
//! a killed run's are continued by cleanup.

use crate::history::Value;
use crate::nemesis::family::{Family, FamilySpec, FaultFamily, Needs};
use crate::nemesis::process::{pid_of, Pauser};
use crate::nemesis::registry::Resources;
use crate::nemesis::schedule::{parse_table, ProcessSpec, Schedule};
use crate::nemesis::state::RunRecord;
use crate::nemesis::{node_names, Fault, FaultValue, Nemesis, NemesisError, NodeControl};
use rand::rngs::StdRng;
use std::collections::BTreeMap;
use std::sync::Arc;

#[allow(non_upper_case_globals)]
impl FaultFamily {
    /// Stop processes with SIGSTOP, resume with SIGCONT.
    pub const Pause: FaultFamily = FaultFamily::new("pause");
}

/// A pause fault.
#[derive(Clone, Debug, PartialEq)]
pub enum PauseFault {
    /// SIGSTOP these nodes' processes.
    Pause(Vec<String>),
    /// SIGCONT these nodes (empty: every paused node).
    Resume(Vec<String>),
}

impl FaultValue for PauseFault {
    fn family(&self) -> FaultFamily {
        FaultFamily::Pause
    }

    fn f(&self) -> &'static str {
        match self {
            PauseFault::Pause(_) => "pause",
            PauseFault::Resume(_) => "resume",
        }
    }

    fn value(&self) -> Value {
        match self {
            PauseFault::Pause(n) | PauseFault::Resume(n) => node_names(n),
        }
    }

    fn ends_window(&self) -> bool {
        matches!(self, PauseFault::Resume(_))
    }
}

/// The `[pause]` table, read.
#[derive(Debug)]
struct PauseSpec(ProcessSpec);

impl FamilySpec for PauseSpec {
    fn draw(
        &self,
        nodes: &[String],
        _known: &[String],
        rng: &mut StdRng,
    ) -> Result<(Fault, Fault), NemesisError> {
        let t = self.0.targets.pick(nodes, rng);
        Ok((
            PauseFault::Pause(t.clone()).into(),
            PauseFault::Resume(t).into(),
        ))
    }
}

/// The `pause` family.
pub struct PauseFamily;

/// The `pause` family's registry entry.
pub static PAUSE: PauseFamily = PauseFamily;

impl Family for PauseFamily {
    fn family(&self) -> FaultFamily {
        FaultFamily::Pause
    }

    fn about(&self) -> &'static str {
        "stop processes with SIGSTOP, resume them with SIGCONT"
    }

    fn needs(&self) -> Needs {
        Needs::default()
    }

    fn parse(&self, table: Option<toml::Value>) -> Result<Box<dyn FamilySpec>, String> {
        Ok(Box::new(PauseSpec(parse_table(FaultFamily::Pause, table)?)))
    }

    fn build(
        &self,
        res: &mut Resources<'_>,
        _schedule: &Schedule,
    ) -> Result<Option<Box<dyn Nemesis>>, NemesisError> {
        Ok(Some(Box::new(PauseNemesis::new(
            res.nodes.clone(),
            res.record,
        ))))
    }
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
        fault.get::<PauseFault>().is_some()
    }

    fn invoke(&mut self, fault: &Fault) -> Result<Value, NemesisError> {
        match fault.get::<PauseFault>() {
            Some(PauseFault::Pause(names)) => {
                for n in names {
                    let pid = pid_of(self.nodes.as_ref(), n)?;
                    self.pauser.pause(pid)?;
                    self.by_node.insert(n.clone(), pid);
                }
                Ok(node_names(names))
            }
            Some(PauseFault::Resume(names)) => {
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
                Ok(node_names(&names))
            }
            None => Err(fault.unhandled("pause")),
        }
    }

    fn heal(&mut self) -> Result<(), NemesisError> {
        self.by_node.clear();
        self.pauser.resume_all()
    }
}
