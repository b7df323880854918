//! The `packet` fault family: delay and drop packets on node-to-node links, through the
//! userspace proxy ([`crate::nemesis::proxy`]) the run puts on every link.
//!
//! Its `[packet]` table gives `delay-ms`, `jitter-ms` and `drop` (a loss probability). Faults:
//! `start-packet` (value: `[delay, jitter, drop]`) and `stop-packet`. Its nemesis also applies
//! partitions by cutting links, the partition of a run whose nodes talk through proxies.

use crate::history::Value;
use crate::nemesis::families::partition::PartitionFault;
use crate::nemesis::family::{Family, FamilySpec, FaultFamily, Needs};
use crate::nemesis::proxy::{LinkFaults, ProxyControl};
use crate::nemesis::registry::Resources;
use crate::nemesis::schedule::{parse_table, Schedule};
use crate::nemesis::{Fault, FaultValue, Grudge, Nemesis, NemesisError};
use rand::rngs::StdRng;
use serde::Deserialize;
use std::time::Duration;

#[allow(non_upper_case_globals)]
impl FaultFamily {
    /// Delay and drop packets on node-to-node links (through proxies).
    pub const Packet: FaultFamily = FaultFamily::new("packet");
}

/// Packet faults on every link of the userspace proxy.
#[derive(Clone, Debug, PartialEq)]
pub struct PacketFaults {
    /// Added one-way delay, milliseconds.
    pub delay_ms: u64,
    /// Extra random delay, uniform in `0..=jitter_ms`.
    pub jitter_ms: u64,
    /// Probability that a forwarded chunk is lost (which resets its TCP connection).
    pub drop: f64,
}

/// A packet fault.
#[derive(Clone, Debug, PartialEq)]
pub enum PacketFault {
    /// Start packet faults on the proxy links.
    Start(PacketFaults),
    /// Stop packet faults.
    Stop,
}

impl FaultValue for PacketFault {
    fn family(&self) -> FaultFamily {
        FaultFamily::Packet
    }

    fn f(&self) -> &'static str {
        match self {
            PacketFault::Start(_) => "start-packet",
            PacketFault::Stop => "stop-packet",
        }
    }

    fn value(&self) -> Value {
        match self {
            PacketFault::Start(p) => Value::List(vec![
                Value::Int(p.delay_ms as i64),
                Value::Int(p.jitter_ms as i64),
                Value::Str(format!("{}", p.drop)),
            ]),
            PacketFault::Stop => Value::Nil,
        }
    }

    fn ends_window(&self) -> bool {
        matches!(self, PacketFault::Stop)
    }
}

/// The `[packet]` table.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PacketSpec {
    /// Added one-way delay, milliseconds.
    #[serde(default)]
    pub delay_ms: u64,
    /// Extra random delay, milliseconds.
    #[serde(default)]
    pub jitter_ms: u64,
    /// Loss probability per chunk.
    #[serde(default)]
    pub drop: f64,
}

impl Default for PacketSpec {
    fn default() -> Self {
        PacketSpec {
            delay_ms: 50,
            jitter_ms: 50,
            drop: 0.0,
        }
    }
}

impl FamilySpec for PacketSpec {
    fn draw(
        &self,
        _nodes: &[String],
        _known: &[String],
        _rng: &mut StdRng,
    ) -> Result<(Fault, Fault), NemesisError> {
        let start = PacketFault::Start(PacketFaults {
            delay_ms: self.delay_ms,
            jitter_ms: self.jitter_ms,
            drop: self.drop,
        });
        Ok((start.into(), PacketFault::Stop.into()))
    }
}

/// The `packet` family.
pub struct PacketFamily;

/// The `packet` family's registry entry.
pub static PACKET: PacketFamily = PacketFamily;

impl Family for PacketFamily {
    fn family(&self) -> FaultFamily {
        FaultFamily::Packet
    }

    fn about(&self) -> &'static str {
        "delay and drop packets on node-to-node links (the userspace proxy)"
    }

    fn needs(&self) -> Needs {
        Needs {
            network: true,
            proxy_links: true,
            ..Needs::default()
        }
    }

    fn parse(&self, table: Option<toml::Value>) -> Result<Box<dyn FamilySpec>, String> {
        let spec: PacketSpec = parse_table(FaultFamily::Packet, table)?;
        if !(0.0..=1.0).contains(&spec.drop) {
            return Err("packet drop is a probability between 0 and 1".into());
        }
        Ok(Box::new(spec))
    }

    fn build(
        &self,
        res: &mut Resources<'_>,
        _schedule: &Schedule,
    ) -> Result<Option<Box<dyn Nemesis>>, NemesisError> {
        if res.proxies.is_empty() {
            return Err(NemesisError::Unavailable {
                what: "packet faults".into(),
                why: "this run has no proxy links (start the target behind ferrocheck's proxy)"
                    .into(),
            });
        }
        let links = std::mem::take(&mut res.proxies);
        Ok(Some(Box::new(PacketNemesis::new(links))))
    }
}

/// The packet nemesis: `start-packet` puts delay, jitter and loss on every proxy link,
/// `stop-packet` (and heal) takes them off. It also applies grudges by cutting links, the
/// partition of a run without network namespaces.
#[derive(Debug, Default)]
pub struct PacketNemesis {
    links: Vec<ProxyControl>,
}

impl PacketNemesis {
    /// A packet nemesis over these proxy links.
    pub fn new(links: Vec<ProxyControl>) -> PacketNemesis {
        PacketNemesis { links }
    }

    /// Cuts every link `from` → `to` where `to` holds a grudge against `from`; mends the rest.
    pub fn apply_grudge(&self, grudge: &Grudge) {
        for l in &self.links {
            let cut = grudge.get(l.to()).is_some_and(|g| g.contains(l.from()));
            l.cut(cut);
        }
    }

    fn start(&self, p: &PacketFaults) {
        for l in &self.links {
            l.set(LinkFaults {
                delay: Duration::from_millis(p.delay_ms),
                jitter: Duration::from_millis(p.jitter_ms),
                drop: p.drop,
                cut: l.faults().cut,
            });
        }
    }

    fn stop(&self) {
        for l in &self.links {
            let cut = l.faults().cut;
            l.set(LinkFaults {
                cut,
                ..LinkFaults::default()
            });
        }
    }
}

impl Nemesis for PacketNemesis {
    fn name(&self) -> &str {
        "packet"
    }

    fn handles(&self, fault: &Fault) -> bool {
        fault.get::<PacketFault>().is_some() || fault.get::<PartitionFault>().is_some()
    }

    fn invoke(&mut self, fault: &Fault) -> Result<Value, NemesisError> {
        if let Some(p) = fault.get::<PacketFault>() {
            return Ok(match p {
                PacketFault::Start(faults) => {
                    self.start(faults);
                    fault.value()
                }
                PacketFault::Stop => {
                    self.stop();
                    Value::Str("healed".into())
                }
            });
        }
        match fault.get::<PartitionFault>() {
            Some(PartitionFault::Start(p)) => {
                self.apply_grudge(&p.grudge);
                Ok(p.value())
            }
            Some(PartitionFault::Stop) => {
                self.apply_grudge(&Grudge::new());
                Ok(Value::Str("healed".into()))
            }
            None => Err(fault.unhandled("packet")),
        }
    }

    fn heal(&mut self) -> Result<(), NemesisError> {
        for l in &self.links {
            l.heal();
        }
        Ok(())
    }
}
