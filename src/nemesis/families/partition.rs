//! The `partition` fault family: cut the network between groups of nodes, then heal it.
//!
//! Its `[partition]` table lists generator `kinds` (`random-halves` by default, see
//! [`PartitionKind`]), `explicit` components and `one-way` partitions to draw from. Faults:
//! `start-partition` (value: the grudge) and `stop-partition`. With network namespaces a
//! [`Firewall`] applies the grudge; when nodes talk through proxy links the packet family's
//! nemesis cuts links instead (firewall rules would only see the proxy's address).

use crate::history::Value;
use crate::nemesis::families::packet::PacketNemesis;
use crate::nemesis::family::{Family, FamilySpec, FaultFamily, NamedOnly, Needs};
use crate::nemesis::partition::{Firewall, Partition, PartitionKind};
use crate::nemesis::registry::Resources;
use crate::nemesis::schedule::{parse_table, Schedule};
use crate::nemesis::{Fault, FaultValue, Nemesis, NemesisError};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Deserialize;

#[allow(non_upper_case_globals)]
impl FaultFamily {
    /// Cut the network between groups of nodes.
    pub const Partition: FaultFamily = FaultFamily::new("partition");
}

/// A partition fault.
#[derive(Clone, Debug, PartialEq)]
pub enum PartitionFault {
    /// Start this network partition.
    Start(Partition),
    /// Heal the network partition.
    Stop,
}

impl FaultValue for PartitionFault {
    fn family(&self) -> FaultFamily {
        FaultFamily::Partition
    }

    fn f(&self) -> &'static str {
        match self {
            PartitionFault::Start(_) => "start-partition",
            PartitionFault::Stop => "stop-partition",
        }
    }

    fn value(&self) -> Value {
        match self {
            PartitionFault::Start(p) => p.value(),
            PartitionFault::Stop => Value::Nil,
        }
    }

    fn ends_window(&self) -> bool {
        matches!(self, PartitionFault::Stop)
    }
}

/// The `[partition]` table.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PartitionSpec {
    /// Generator names to draw from.
    #[serde(default = "default_partition_kinds")]
    pub kinds: Vec<String>,
    /// Explicit components, drawn like a kind when given.
    #[serde(default)]
    pub explicit: Vec<Vec<Vec<String>>>,
    /// One-way partitions, drawn like a kind when given.
    #[serde(default)]
    pub one_way: Vec<OneWaySpec>,
}

/// A one-way partition in a schedule.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OneWaySpec {
    /// Senders whose packets are dropped.
    pub from: Vec<String>,
    /// Receivers that drop them.
    pub to: Vec<String>,
}

fn default_partition_kinds() -> Vec<String> {
    vec!["random-halves".into()]
}

impl Default for PartitionSpec {
    fn default() -> Self {
        PartitionSpec {
            kinds: default_partition_kinds(),
            explicit: Vec::new(),
            one_way: Vec::new(),
        }
    }
}

impl FamilySpec for PartitionSpec {
    fn draw(
        &self,
        nodes: &[String],
        known: &[String],
        rng: &mut StdRng,
    ) -> Result<(Fault, Fault), NemesisError> {
        let mut kinds: Vec<PartitionKind> = self
            .kinds
            .iter()
            .map(|k| PartitionKind::parse(k))
            .collect::<Result<_, _>>()?;
        kinds.extend(self.explicit.iter().cloned().map(PartitionKind::Explicit));
        kinds.extend(self.one_way.iter().map(|o| PartitionKind::OneWay {
            from: o.from.clone(),
            to: o.to.clone(),
        }));
        let kind = kinds
            .choose(rng)
            .ok_or_else(|| NemesisError::Invalid("[partition] lists no partitions".into()))?;
        let part = match kind {
            PartitionKind::Explicit(_) | PartitionKind::OneWay { .. } => {
                kind.generate(known, rng)?
            }
            _ => kind.generate(nodes, rng)?,
        };
        Ok((
            PartitionFault::Start(part).into(),
            PartitionFault::Stop.into(),
        ))
    }

    fn refusal(&self, target: &str, named: &NamedOnly) -> Option<String> {
        if !self.kinds.is_empty() {
            return Some(format!(
                "target {target} takes only explicit partitions over {}, not random shapes ({}): {}; {}",
                named.partition_what,
                self.kinds.join(", "),
                named.why,
                named.hint
            ));
        }
        let mut names = self
            .explicit
            .iter()
            .flatten()
            .flatten()
            .chain(self.one_way.iter().flat_map(|o| o.from.iter().chain(&o.to)));
        let n = names.find(|n| !named.partition.contains(n))?;
        Some(format!(
            "target {target}: a partition may name only {} (not {n:?}: {})",
            named.partition.join(", "),
            named.why
        ))
    }
}

/// The `partition` family.
pub struct PartitionFamily;

/// The `partition` family's registry entry.
pub static PARTITION: PartitionFamily = PartitionFamily;

impl Family for PartitionFamily {
    fn family(&self) -> FaultFamily {
        FaultFamily::Partition
    }

    fn about(&self) -> &'static str {
        "cut the network between groups of nodes (nftables/iptables rules, or cut proxy links)"
    }

    fn needs(&self) -> Needs {
        Needs {
            network: true,
            ..Needs::default()
        }
    }

    fn parse(&self, table: Option<toml::Value>) -> Result<Box<dyn FamilySpec>, String> {
        let spec: PartitionSpec = parse_table(FaultFamily::Partition, table)?;
        for k in &spec.kinds {
            PartitionKind::parse(k).map_err(|e| e.to_string())?;
        }
        Ok(Box::new(spec))
    }

    fn build(
        &self,
        res: &mut Resources<'_>,
        schedule: &Schedule,
    ) -> Result<Option<Box<dyn Nemesis>>, NemesisError> {
        if !res.proxies.is_empty() {
            // Nodes talk through proxies: partitions cut proxy links (the packet nemesis), since
            // firewall rules would only see the proxy's address.
            if schedule.families().contains(&FaultFamily::Packet) {
                return Ok(None);
            }
            let links = std::mem::take(&mut res.proxies);
            return Ok(Some(Box::new(PacketNemesis::new(links))));
        }
        if let Some(net) = res.network {
            return Ok(Some(Box::new(PartitionNemesis::new(Firewall::new(
                net.nodes(),
            )?))));
        }
        let why = crate::nemesis::tools::Capabilities::detect()
            .partition_unavailable()
            .unwrap_or_else(|| "this run has neither network namespaces nor proxy links".into());
        Err(NemesisError::Unavailable {
            what: "partition faults".into(),
            why,
        })
    }
}

/// The partition nemesis: `start-partition` applies a grudge, `stop-partition` heals.
#[derive(Debug)]
pub struct PartitionNemesis {
    firewall: Firewall,
}

impl PartitionNemesis {
    /// A partition nemesis over a run network's nodes.
    pub fn new(firewall: Firewall) -> PartitionNemesis {
        PartitionNemesis { firewall }
    }
}

impl Nemesis for PartitionNemesis {
    fn name(&self) -> &str {
        "partition"
    }

    fn handles(&self, fault: &Fault) -> bool {
        fault.get::<PartitionFault>().is_some()
    }

    fn invoke(&mut self, fault: &Fault) -> Result<Value, NemesisError> {
        match fault.get::<PartitionFault>() {
            Some(PartitionFault::Start(p)) => self.firewall.apply(&p.grudge).map(|_| p.value()),
            Some(PartitionFault::Stop) => self.firewall.heal().map(|_| Value::Str("healed".into())),
            None => Err(fault.unhandled("partition")),
        }
    }

    fn heal(&mut self) -> Result<(), NemesisError> {
        self.firewall.heal()
    }
}
