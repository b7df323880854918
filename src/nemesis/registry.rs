//! The nemesis registry: from a schedule's fault families to the nemeses that carry them out on
//! this run, or a clear error naming what is unavailable and why.
//!
//! Families: `partition` (nftables/iptables rules in the run's namespaces, or cut proxy links
//! without namespaces), `pause`, `kill`, `clock` (the `LD_PRELOAD` shim), `packet` (the
//! userspace proxy). `none` needs nothing.

use super::clock::{Clock, ClockNemesis};
use super::family::FaultFamily;
use super::netns::Network;
use super::partition::{Firewall, PartitionNemesis};
use super::process::{KillNemesis, PauseNemesis};
use super::proxy::{PacketNemesis, ProxyControl};
use super::schedule::Schedule;
use super::state::RunRecord;
use super::{Composed, NemesisError, NodeControl};
use std::sync::Arc;

/// What a run offers the nemeses.
pub struct Resources<'a> {
    /// The run network, when nodes run in namespaces (root).
    pub network: Option<&'a Network>,
    /// The controller's nodes (pids, restart).
    pub nodes: Arc<dyn NodeControl>,
    /// The run record (paused processes are listed there for cleanup).
    pub record: Option<&'a RunRecord>,
    /// The clock whose shim the node commands were configured with.
    pub clock: Option<Clock>,
    /// The proxy links clients and nodes talk through, if any.
    pub proxies: Vec<ProxyControl>,
}

/// Builds the nemesis for `schedule`'s families. A family this run cannot do is an
/// [`NemesisError::Unavailable`] error saying why, never a silent no-op.
pub fn build(schedule: &Schedule, mut res: Resources<'_>) -> Result<Composed, NemesisError> {
    let mut composed = Composed::default();
    let families = schedule.families();
    let unavailable = |what: &str, why: String| NemesisError::Unavailable {
        what: format!("{what} faults (nemesis {})", schedule.name),
        why,
    };
    for fam in &families {
        match *fam {
            FaultFamily::Partition => {
                if !res.proxies.is_empty() {
                    // Nodes talk through proxies: partitions cut proxy links (the packet
                    // nemesis below), since firewall rules would only see the proxy's address.
                } else if let Some(net) = res.network {
                    composed.push(Box::new(PartitionNemesis::new(Firewall::new(net.nodes())?)));
                } else {
                    let why = super::tools::Capabilities::detect()
                        .partition_unavailable()
                        .unwrap_or_else(|| {
                            "this run has neither network namespaces nor proxy links".into()
                        });
                    return Err(unavailable("partition", why));
                }
            }
            FaultFamily::Pause => {
                composed.push(Box::new(PauseNemesis::new(res.nodes.clone(), res.record)))
            }
            FaultFamily::Kill => composed.push(Box::new(KillNemesis::new(res.nodes.clone()))),
            FaultFamily::Clock => {
                let clock = res.clock.take().ok_or_else(|| {
                    unavailable(
                        "clock",
                        super::clock::shim_unavailable().unwrap_or_else(|| {
                            "the target's nodes were not started under the clock shim".into()
                        }),
                    )
                })?;
                composed.push(Box::new(ClockNemesis::new(clock)));
            }
            FaultFamily::Packet => {}
        }
    }
    let wants_packet = families.contains(&FaultFamily::Packet);
    let partition_by_proxy = families.contains(&FaultFamily::Partition)
        && (res.network.is_none() || !res.proxies.is_empty());
    if wants_packet || partition_by_proxy {
        if res.proxies.is_empty() {
            return Err(unavailable(
                "packet",
                "this run has no proxy links (start the target behind ferrocheck's proxy)".into(),
            ));
        }
        composed.push(Box::new(PacketNemesis::new(std::mem::take(
            &mut res.proxies,
        ))));
    }
    Ok(composed)
}
