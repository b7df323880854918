//! The nemesis registry: every fault family, one line each, and from a schedule's families to
//! the nemeses that carry them out on this run, or a clear error naming what is unavailable and
//! why.
//!
//! A new family is a file in [`families`](super::families) (a [`Family`] impl) plus its line
//! in [`FAMILIES`] and its `pub mod` line. `none` needs nothing.

use super::clock::Clock;
use super::families::{clock, kill, packet, partition, pause};
use super::family::Family;
use super::netns::Network;
use super::proxy::ProxyControl;
use super::schedule::Schedule;
use super::state::RunRecord;
use super::{Composed, NemesisError, NodeControl};
use std::sync::Arc;

/// Every fault family, in the order `all` draws from and `ferrocheck list` shows.
pub static FAMILIES: &[&dyn Family] = &[
    &partition::PARTITION,
    &pause::PAUSE,
    &kill::KILL,
    &clock::CLOCK,
    &packet::PACKET,
];

/// The family called `name`.
pub fn family(name: &str) -> Option<&'static dyn Family> {
    FAMILIES.iter().copied().find(|f| f.family().name() == name)
}

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
    for fam in schedule.families() {
        let family = family(fam.name()).ok_or_else(|| {
            NemesisError::Invalid(format!("no fault family {fam} in the registry"))
        })?;
        let built = family.build(&mut res, schedule).map_err(|e| match e {
            NemesisError::Unavailable { what, why } => NemesisError::Unavailable {
                what: format!("{what} (nemesis {})", schedule.name),
                why,
            },
            other => other,
        })?;
        if let Some(nemesis) = built {
            composed.push(nemesis);
        }
    }
    Ok(composed)
}
