//! Fault families: the key that names one, the trait each family implements in its own file
//! under [`families`](super::families), and what a target says about the faults it takes.
//!
//! A schedule names families (`partition`, `pause`, `kill`, `clock`, `packet`); each is a
//! [`Family`] listed once in [`registry::FAMILIES`](super::registry::FAMILIES): its name, one
//! line about it, what it needs from the run ([`Needs`]), how it reads its table of a schedule
//! into a [`FamilySpec`] (which draws its faults), and how it builds the nemesis that applies
//! and heals them. A target describes what it accepts as a [`FaultSupport`] (families it
//! refuses, with the reason, and for targets whose faults must name particular nodes, which
//! ones); the nemesis side checks a schedule against it with [`FaultSupport::refusal`]: targets
//! never read schedules.

use super::registry::{self, Resources};
use super::schedule::Schedule;
use super::{Fault, Nemesis, NemesisError};
use rand::rngs::StdRng;
use std::collections::BTreeMap;
use std::fmt;

/// A kind of fault a nemesis can inject, by name. Each family's file declares its key as an
/// associated constant (`FaultFamily::Pause`, named like the enum variants these once were).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FaultFamily(&'static str);

impl FaultFamily {
    /// The key of the family called `name` (for a family's own file; others look families up
    /// with [`FaultFamily::from_name`]).
    pub const fn new(name: &'static str) -> FaultFamily {
        FaultFamily(name)
    }

    /// Every registered family, in registry order.
    pub fn all() -> Vec<FaultFamily> {
        registry::FAMILIES.iter().map(|f| f.family()).collect()
    }

    /// The name used in schedules and error messages.
    pub fn name(self) -> &'static str {
        self.0
    }

    /// The registered family called `name`.
    pub fn from_name(name: &str) -> Option<FaultFamily> {
        registry::family(name).map(|f| f.family())
    }
}

impl fmt::Display for FaultFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// What a family needs the run to prepare before the target starts its nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// The nodes in network namespaces of the run's own (or proxy links without them).
    pub network: bool,
    /// The nodes started under the `LD_PRELOAD` clock shim.
    pub clock_shim: bool,
    /// A userspace proxy on every node-to-node link.
    pub proxy_links: bool,
}

/// One fault family: everything about it but the mechanisms it may share with others
/// (signals, firewall rules, proxies, the clock shim).
pub trait Family: Sync {
    /// Its key; its name is the schedule's word for it and its table's name.
    fn family(&self) -> FaultFamily;
    /// One line saying what it does.
    fn about(&self) -> &'static str;
    /// What it needs the run to prepare.
    fn needs(&self) -> Needs;
    /// Reads its table of a schedule (`None`: the schedule has none, use the defaults), or says
    /// what is wrong with it.
    fn parse(&self, table: Option<toml::Value>) -> Result<Box<dyn FamilySpec>, String>;
    /// The nemesis that applies and heals its faults on this run of `schedule`; `Ok(None)`
    /// when another family's nemesis does (partitions cut through proxy links by the packet
    /// nemesis). A run that cannot do it is an [`NemesisError::Unavailable`] saying why.
    fn build(
        &self,
        res: &mut Resources<'_>,
        schedule: &Schedule,
    ) -> Result<Option<Box<dyn Nemesis>>, NemesisError>;
}

/// A family's table of one schedule, read: it draws the family's faults.
pub trait FamilySpec: fmt::Debug + Send + Sync {
    /// A start fault, drawn from `nodes` (the fault targets), and the fault that ends it.
    /// Faults that name nodes explicitly may name any of `known` (every node of the run).
    fn draw(
        &self,
        nodes: &[String],
        known: &[String],
        rng: &mut StdRng,
    ) -> Result<(Fault, Fault), NemesisError>;
    /// Seconds into its entry before the start fault, and how often it is applied again until
    /// the entry ends (0: once).
    fn timing(&self) -> (f64, f64) {
        (0.0, 0.0)
    }
    /// What is wrong with it given the schedule's `duration` (seconds a fault lasts).
    fn check(&self, duration: f64) -> Result<(), String> {
        let _ = duration;
        Ok(())
    }
    /// Why target `target`, whose faults may name only the nodes `named` says, refuses it.
    fn refusal(&self, target: &str, named: &NamedOnly) -> Option<String> {
        let _ = (target, named);
        None
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
            refused: FaultFamily::all()
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
    /// or a fault that names nodes it must not (each family says which of its faults do).
    pub fn refusal(&self, schedule: &Schedule) -> Option<String> {
        let families = schedule.families();
        if let Some(why) = families.iter().find_map(|f| self.refuses(*f)) {
            return Some(why.to_owned());
        }
        let named = self.named_only.as_ref()?;
        families
            .iter()
            .find_map(|f| schedule.spec(*f)?.refusal(&self.target, named))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_only_refuses_the_rest() {
        for f in FaultFamily::all() {
            assert_eq!(FaultFamily::from_name(f.name()), Some(f));
        }
        assert_eq!(
            FaultFamily::all(),
            [
                FaultFamily::Partition,
                FaultFamily::Pause,
                FaultFamily::Kill,
                FaultFamily::Clock,
                FaultFamily::Packet
            ]
        );
        assert_eq!(FaultFamily::from_name("all"), None);
        let s = FaultSupport::only("x", &[FaultFamily::Pause], |f| format!("not {f}"));
        assert!(s.accepts(FaultFamily::Pause));
        assert_eq!(s.refuses(FaultFamily::Kill), Some("not kill"));
        let kill = Schedule::load("kill").unwrap();
        assert_eq!(s.refusal(&kill).as_deref(), Some("not kill"));
        assert_eq!(FaultSupport::all("x").refusal(&kill), None);
    }
}
