//! The `clock` fault family: move nodes' wall clocks (bump, strobe) through the `LD_PRELOAD`
//! clock shim ([`crate::nemesis::clock`]), then put them back.
//!
//! Its `[clock]` table says which nodes (`targets`, or `nodes` by name), which `modes` (`bump`,
//! `strobe`), the bump range and strobe shape, and when: `after` seconds into its entry, again
//! `every` so many seconds. Faults: `clock-bump`, `clock-strobe` and `clock-reset`.

use crate::history::Value;
use crate::nemesis::clock::Clock;
use crate::nemesis::family::{Family, FamilySpec, FaultFamily, NamedOnly, Needs};
use crate::nemesis::registry::Resources;
use crate::nemesis::schedule::{parse_table, Schedule, Targets};
use crate::nemesis::{node_names, Fault, FaultValue, Nemesis, NemesisError};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use serde::Deserialize;

#[allow(non_upper_case_globals)]
impl FaultFamily {
    /// Move nodes' clocks (bump, strobe) through the clock shim.
    pub const Clock: FaultFamily = FaultFamily::new("clock");
}

/// A clock fault.
#[derive(Clone, Debug, PartialEq)]
pub enum ClockFault {
    /// Move these nodes' wall clocks by `ms` (added to any offset they have).
    Bump {
        /// The nodes.
        nodes: Vec<String>,
        /// Milliseconds, may be negative.
        ms: i64,
    },
    /// Make these nodes' wall clocks jump back and forth by `delta_ms` every `period_ms`.
    Strobe {
        /// The nodes.
        nodes: Vec<String>,
        /// Size of the jump, milliseconds.
        delta_ms: i64,
        /// How long each phase lasts, milliseconds.
        period_ms: u64,
    },
    /// Put these nodes' clocks back to real time (empty: every node).
    Reset(Vec<String>),
}

impl FaultValue for ClockFault {
    fn family(&self) -> FaultFamily {
        FaultFamily::Clock
    }

    fn f(&self) -> &'static str {
        match self {
            ClockFault::Bump { .. } => "clock-bump",
            ClockFault::Strobe { .. } => "clock-strobe",
            ClockFault::Reset(_) => "clock-reset",
        }
    }

    fn value(&self) -> Value {
        match self {
            ClockFault::Bump { nodes, ms } => Value::List(vec![node_names(nodes), Value::Int(*ms)]),
            ClockFault::Strobe {
                nodes,
                delta_ms,
                period_ms,
            } => Value::List(vec![
                node_names(nodes),
                Value::Int(*delta_ms),
                Value::Int(*period_ms as i64),
            ]),
            ClockFault::Reset(n) => node_names(n),
        }
    }

    fn ends_window(&self) -> bool {
        matches!(self, ClockFault::Reset(_))
    }
}

/// The `[clock]` table.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClockSpec {
    /// Which nodes.
    #[serde(default)]
    pub targets: Targets,
    /// These nodes by name instead of drawing by `targets` (any node of the run, not only
    /// the fault targets).
    #[serde(default)]
    pub nodes: Vec<String>,
    /// Seconds into its entry before the clock fault starts (so a partition composed with it
    /// is in place first); it is still reset when the entry ends.
    #[serde(default)]
    pub after: f64,
    /// When positive, the clock fault is applied again every this many seconds until its
    /// entry ends (bumps add up; one reset undoes them all).
    #[serde(default)]
    pub every: f64,
    /// `bump` and/or `strobe`.
    #[serde(default = "default_clock_modes")]
    pub modes: Vec<String>,
    /// Bumps are drawn uniformly from this range of milliseconds (never zero).
    #[serde(default = "default_bump")]
    pub bump_ms: [i64; 2],
    /// A strobe's jump, milliseconds.
    #[serde(default = "default_strobe_delta")]
    pub strobe_delta_ms: i64,
    /// A strobe's period, milliseconds.
    #[serde(default = "default_strobe_period")]
    pub strobe_period_ms: u64,
}

fn default_clock_modes() -> Vec<String> {
    vec!["bump".into(), "strobe".into()]
}
fn default_bump() -> [i64; 2] {
    [-60_000, 60_000]
}
fn default_strobe_delta() -> i64 {
    200
}
fn default_strobe_period() -> u64 {
    10
}

impl Default for ClockSpec {
    fn default() -> Self {
        ClockSpec {
            targets: Targets::One,
            nodes: Vec::new(),
            after: 0.0,
            every: 0.0,
            modes: default_clock_modes(),
            bump_ms: default_bump(),
            strobe_delta_ms: default_strobe_delta(),
            strobe_period_ms: default_strobe_period(),
        }
    }
}

impl FamilySpec for ClockSpec {
    fn draw(
        &self,
        nodes: &[String],
        known: &[String],
        rng: &mut StdRng,
    ) -> Result<(Fault, Fault), NemesisError> {
        let t = if self.nodes.is_empty() {
            self.targets.pick(nodes, rng)
        } else {
            if let Some(n) = self.nodes.iter().find(|n| !known.contains(n)) {
                return Err(NemesisError::UnknownNode(n.clone()));
            }
            self.nodes.clone()
        };
        let mode = self.modes.choose(rng).map_or("bump", |m| m.as_str());
        let start = if mode == "strobe" {
            ClockFault::Strobe {
                nodes: t.clone(),
                delta_ms: self.strobe_delta_ms,
                period_ms: self.strobe_period_ms.max(1),
            }
        } else {
            let mut ms = rng.gen_range(self.bump_ms[0]..=self.bump_ms[1]);
            if ms == 0 {
                ms = self.bump_ms[1].max(1);
            }
            ClockFault::Bump {
                nodes: t.clone(),
                ms,
            }
        };
        Ok((start.into(), ClockFault::Reset(t).into()))
    }

    fn timing(&self) -> (f64, f64) {
        (self.after, self.every)
    }

    fn check(&self, duration: f64) -> Result<(), String> {
        if self.after > 0.0 && self.after >= duration {
            return Err("clock after must be shorter than duration".into());
        }
        Ok(())
    }

    fn refusal(&self, target: &str, named: &NamedOnly) -> Option<String> {
        if self.nodes.is_empty() {
            return Some(format!(
                "target {target}: a clock fault must name its {} in [clock] nodes ({}); {}",
                named.clock_what,
                named.clock.join(", "),
                named.hint
            ));
        }
        let n = self.nodes.iter().find(|n| !named.clock.contains(n))?;
        Some(format!(
            "target {target}: clock faults reach only the {} {}, not {n:?}",
            named.clock_what,
            named.clock.join(", ")
        ))
    }
}

/// The `clock` family.
pub struct ClockFamily;

/// The `clock` family's registry entry.
pub static CLOCK: ClockFamily = ClockFamily;

impl Family for ClockFamily {
    fn family(&self) -> FaultFamily {
        FaultFamily::Clock
    }

    fn about(&self) -> &'static str {
        "move nodes' wall clocks (bump, strobe) through the LD_PRELOAD clock shim"
    }

    fn needs(&self) -> Needs {
        Needs {
            network: true,
            clock_shim: true,
            ..Needs::default()
        }
    }

    fn parse(&self, table: Option<toml::Value>) -> Result<Box<dyn FamilySpec>, String> {
        let spec: ClockSpec = parse_table(FaultFamily::Clock, table)?;
        for m in &spec.modes {
            if m != "bump" && m != "strobe" {
                return Err(format!("unknown clock mode {m:?}: use bump or strobe"));
            }
        }
        if [spec.after, spec.every]
            .iter()
            .any(|t| !t.is_finite() || *t < 0.0)
        {
            return Err("clock after and every must not be negative".into());
        }
        if spec.bump_ms[0] > spec.bump_ms[1] {
            return Err("clock bump-ms must be [low, high]".into());
        }
        Ok(Box::new(spec))
    }

    fn build(
        &self,
        res: &mut Resources<'_>,
        _schedule: &Schedule,
    ) -> Result<Option<Box<dyn Nemesis>>, NemesisError> {
        let clock = res.clock.take().ok_or_else(|| NemesisError::Unavailable {
            what: "clock faults".into(),
            why: crate::nemesis::clock::shim_unavailable().unwrap_or_else(|| {
                "the target's nodes were not started under the clock shim".into()
            }),
        })?;
        Ok(Some(Box::new(ClockNemesis::new(clock))))
    }
}

/// The clock nemesis: `clock-bump`, `clock-strobe` and `clock-reset`; heal resets every clock.
#[derive(Debug)]
pub struct ClockNemesis {
    clock: Clock,
}

impl ClockNemesis {
    /// A clock nemesis over `clock` (configure each node's command with it before starting).
    pub fn new(clock: Clock) -> ClockNemesis {
        ClockNemesis { clock }
    }

    /// The clock, for configuring node commands.
    pub fn clock_mut(&mut self) -> &mut Clock {
        &mut self.clock
    }
}

impl Nemesis for ClockNemesis {
    fn name(&self) -> &str {
        "clock"
    }

    fn handles(&self, fault: &Fault) -> bool {
        fault.get::<ClockFault>().is_some()
    }

    fn invoke(&mut self, fault: &Fault) -> Result<Value, NemesisError> {
        match fault.get::<ClockFault>() {
            Some(ClockFault::Bump { nodes, ms }) => {
                for n in nodes {
                    self.clock.bump(n, *ms)?;
                }
            }
            Some(ClockFault::Strobe {
                nodes,
                delta_ms,
                period_ms,
            }) => {
                for n in nodes {
                    self.clock.strobe(n, *delta_ms, *period_ms)?;
                }
            }
            Some(ClockFault::Reset(nodes)) if nodes.is_empty() => self.clock.reset_all()?,
            Some(ClockFault::Reset(nodes)) => {
                for n in nodes {
                    self.clock.reset(n)?;
                }
            }
            None => return Err(fault.unhandled("clock")),
        }
        Ok(fault.value())
    }

    fn heal(&mut self) -> Result<(), NemesisError> {
        self.clock.reset_all()
    }
}

impl Drop for ClockNemesis {
    fn drop(&mut self) {
        if let Err(e) = self.clock.reset_all() {
            eprintln!("ferrocheck: resetting clocks: {e}");
        }
    }
}
