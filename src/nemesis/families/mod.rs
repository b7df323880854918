//! The fault families, one file each: its key (`FaultFamily::Pause`), its fault values, its
//! schedule table and how that draws faults, what it needs from the run, and the nemesis that
//! applies and heals its faults. Each is listed once in
//! [`registry::FAMILIES`](super::registry::FAMILIES).

pub mod clock;
pub mod kill;
pub mod packet;
pub mod partition;
pub mod pause;
