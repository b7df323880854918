//! Fault families as a type, and what a target says about the faults it takes.
//!
//! A schedule names families (`partition`, `pause`, `kill`, `clock`, `packet`); a target
//! describes what it accepts as a [`FaultSupport`] (families it refuses, with the reason, and
//! for targets whose faults must name particular nodes, which ones). The nemesis side checks a
//! schedule against it with [`FaultSupport::refusal`]: targets never read schedules.

use super::schedule::Schedule;
use std::collections::BTreeMap;
use std::fmt;

/// A kind of fault a nemesis can inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultFamily {
    /// Cut the network between groups of nodes.
    Partition,
    /// Stop processes with SIGSTOP, resume with SIGCONT.
    Pause,
    /// Kill processes with SIGKILL, start them again.
    Kill,
    /// Move nodes' clocks (bump, strobe) through the clock shim.
    Clock,
    /// Delay and drop packets on node-to-node links (through proxies).
    Packet,
}

impl FaultFamily {
    /// Every family, in registry order.
    pub const ALL: [FaultFamily; 5] = [
        FaultFamily::Partition,
        FaultFamily::Pause,
        FaultFamily::Kill,
        FaultFamily::Clock,
        FaultFamily::Packet,
    ];

    /// The name used in schedules and error messages.
    pub fn name(self) -> &'static str {
        match self {
            FaultFamily::Partition => "partition",
            FaultFamily::Pause => "pause",
            FaultFamily::Kill => "kill",
            FaultFamily::Clock => "clock",
            FaultFamily::Packet => "packet",
        }
    }

    /// The family called `name`.
    pub fn from_name(name: &str) -> Option<FaultFamily> {
        FaultFamily::ALL.into_iter().find(|f| f.name() == name)
    }

    /// True for the families that need the run's own network (namespaces or proxy links).
    pub fn needs_network(self) -> bool {
        matches!(
            self,
            FaultFamily::Partition | FaultFamily::Clock | FaultFamily::Packet
        )
    }
}

impl fmt::Display for FaultFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Faults that must name nodes: explicit partitions over `partition` names only, clock faults
/// on `clock` names only (a target whose other nodes must stay untouched).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedOnly {
    /// Nodes an explicit partition may name.
    pub partition: Vec<String>,
    /// What the partition names are, for messages (`its lock servers (l1, ...) and client groups`).
    pub partition_what: String,
    /// Nodes a clock fault may name.
    pub clock: Vec<String>,
    /// What the clock names are, for messages (`lock servers`).
    pub clock_what: String,
    /// Why, for messages (`its resource must stay reachable`).
    pub why: String,
    /// What to use instead (`see --nemesis redlock-clock`).
    pub hint: String,
}

/// What faults a target takes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultSupport {
    /// The target's name, for messages.
    pub target: String,
    /// Families it refuses, each with the reason (which says what to use instead).
    pub refused: BTreeMap<FaultFamily, String>,
    /// Restrictions on which nodes faults may name, if any.
    pub named_only: Option<NamedOnly>,
}

impl FaultSupport {
    /// Every family, on any node.
    pub fn all(target: &str) -> FaultSupport {
        FaultSupport {
            target: target.to_owned(),
            ..FaultSupport::default()
        }
    }

    /// Only the families in `accepted`; every other is refused with `why(family)`.
    pub fn only(
        target: &str,
        accepted: &[FaultFamily],
        why: impl Fn(FaultFamily) -> String,
    ) -> FaultSupport {
        FaultSupport {
            target: target.to_owned(),
            refused: FaultFamily::ALL
                .into_iter()
                .filter(|f| !accepted.contains(f))
                .map(|f| (f, why(f)))
                .collect(),
            named_only: None,
        }
    }

    /// Refuses `family` with `why`.
    pub fn refuse(mut self, family: FaultFamily, why: impl Into<String>) -> FaultSupport {
        self.refused.insert(family, why.into());
        self
    }

    /// Why the target refuses `family`, if it does.
    pub fn refuses(&self, family: FaultFamily) -> Option<&str> {
        self.refused.get(&family).map(String::as_str)
    }

    /// True when the target takes `family`.
    pub fn accepts(&self, family: FaultFamily) -> bool {
        !self.refused.contains_key(&family)
    }

    /// Why `schedule` does not fit the target, if it does not: the first family it refuses,
    /// or a partition or clock fault that names nodes it must not.
    pub fn refusal(&self, schedule: &Schedule) -> Option<String> {
        let families = schedule.families();
        if let Some(why) = families.iter().find_map(|f| self.refuses(*f)) {
            return Some(why.to_owned());
        }
        let named = self.named_only.as_ref()?;
        let target = &self.target;
        if families.contains(&FaultFamily::Partition) {
            let p = &schedule.partition;
            if !p.kinds.is_empty() {
                return Some(format!(
                    "target {target} takes only explicit partitions over {}, not random shapes ({}): {}; {}",
                    named.partition_what,
                    p.kinds.join(", "),
                    named.why,
                    named.hint
                ));
            }
            let mut names = p
                .explicit
                .iter()
                .flatten()
                .flatten()
                .chain(p.one_way.iter().flat_map(|o| o.from.iter().chain(&o.to)));
            if let Some(n) = names.find(|n| !named.partition.contains(n)) {
                return Some(format!(
                    "target {target}: a partition may name only {} (not {n:?}: {})",
                    named.partition.join(", "),
                    named.why
                ));
            }
        }
        if families.contains(&FaultFamily::Clock) {
            let c = &schedule.clock;
            if c.nodes.is_empty() {
                return Some(format!(
                    "target {target}: a clock fault must name its {} in [clock] nodes ({}); {}",
                    named.clock_what,
                    named.clock.join(", "),
                    named.hint
                ));
            }
            if let Some(n) = c.nodes.iter().find(|n| !named.clock.contains(n)) {
                return Some(format!(
                    "target {target}: clock faults reach only the {} {}, not {n:?}",
                    named.clock_what,
                    named.clock.join(", ")
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_only_refuses_the_rest() {
        for f in FaultFamily::ALL {
            assert_eq!(FaultFamily::from_name(f.name()), Some(f));
        }
        assert_eq!(FaultFamily::from_name("all"), None);
        let s = FaultSupport::only("x", &[FaultFamily::Pause], |f| format!("not {f}"));
        assert!(s.accepts(FaultFamily::Pause));
        assert_eq!(s.refuses(FaultFamily::Kill), Some("not kill"));
        let kill = Schedule::load("kill").unwrap();
        assert_eq!(s.refusal(&kill).as_deref(), Some("not kill"));
        assert_eq!(FaultSupport::all("x").refusal(&kill), None);
    }
}
