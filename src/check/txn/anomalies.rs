//! The anomalies the transactional checker can name, after Adya's thesis ("Weak Consistency: A
//! Generalized Theory and Optimistic Implementations for Distributed Transactions", MIT 1999)
//! and Elle (Kingsbury & Alvaro, "Elle: Inferring Isolation Anomalies from Experimental
//! Observations", VLDB 2020), and which anomalies each one implies.
//!
//! Cycle anomalies (a cycle in the dependency graph):
//! - `G0` write cycle: only ww edges.
//! - `G1c` circular information flow: ww and wr edges, at least one wr.
//! - `G-single` read skew: exactly one rw edge, the rest ww/wr.
//! - `G-nonadjacent`: at least two rw edges, no two of them adjacent.
//! - `G2-item` anti-dependency cycle on items: rw edges, two of them adjacent.
//!
//! Each also comes as `-process` (the cycle needs a process-order edge) and `-realtime` (it
//! needs a real-time edge), which only models with session or real-time guarantees forbid.
//! `G2` (Adya's, with predicates) is implied by `G2-item`; item histories never show more.
//!
//! Non-cycle anomalies: `G1a` aborted read, `G1b` intermediate read, `internal` (a txn's read
//! contradicts its own earlier writes), `non-repeatable-read` (a txn read a key twice and other
//! txns changed it in between: Adya's P2, a G-single), `future-read` (a txn read what it wrote
//! only later), `dirty-update`, `lost-update`, `duplicate-elements`, `incompatible-order`,
//! `garbage-read` (a value nobody wrote).

use std::collections::BTreeSet;

/// The shape of a dependency cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CycleKind {
    /// Only ww edges.
    G0,
    /// ww and wr edges, at least one wr.
    G1c,
    /// Exactly one rw edge.
    GSingle,
    /// Two or more rw edges, none adjacent.
    GNonadjacent,
    /// rw edges, some adjacent.
    G2Item,
}

impl CycleKind {
    /// Every kind, weakest relation set first (the order the search tries them in).
    pub const ALL: [CycleKind; 5] = [
        CycleKind::G0,
        CycleKind::G1c,
        CycleKind::GSingle,
        CycleKind::GNonadjacent,
        CycleKind::G2Item,
    ];

    /// The name used in papers and in Elle.
    pub fn name(self) -> &'static str {
        match self {
            CycleKind::G0 => "G0",
            CycleKind::G1c => "G1c",
            CycleKind::GSingle => "G-single",
            CycleKind::GNonadjacent => "G-nonadjacent",
            CycleKind::G2Item => "G2-item",
        }
    }
}

/// Which order edges a cycle may use besides the data dependencies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Order {
    /// ww, wr and rw only.
    Data,
    /// Also process order (one client's txns in sequence).
    Process,
    /// Also process order and real-time order (one txn finished before another began).
    Realtime,
}

impl Order {
    /// Every order, weakest first.
    pub const ALL: [Order; 3] = [Order::Data, Order::Process, Order::Realtime];

    /// The suffix of an anomaly's name: "", "-process", "-realtime".
    pub fn suffix(self) -> &'static str {
        match self {
            Order::Data => "",
            Order::Process => "-process",
            Order::Realtime => "-realtime",
        }
    }
}

/// The full name of a cycle anomaly, e.g. `G-single-realtime`.
pub fn cycle_name(kind: CycleKind, order: Order) -> String {
    format!("{}{}", kind.name(), order.suffix())
}

/// Non-cycle anomaly names.
pub mod name {
    /// Aborted read: a committed txn read a failed txn's write.
    pub const G1A: &str = "G1a";
    /// Intermediate read: a txn read a version another txn overwrote within itself.
    pub const G1B: &str = "G1b";
    /// A txn's read contradicts its own earlier writes.
    pub const INTERNAL: &str = "internal";
    /// A txn read a key twice and saw other txns' changes between (fuzzy read; read committed
    /// allows it).
    pub const NON_REPEATABLE_READ: &str = "non-repeatable-read";
    /// A txn read a value it wrote only later in the same txn.
    pub const FUTURE_READ: &str = "future-read";
    /// A committed write built on a failed txn's write.
    pub const DIRTY_UPDATE: &str = "dirty-update";
    /// Two committed txns read the same version of a key and both wrote it.
    pub const LOST_UPDATE: &str = "lost-update";
    /// A list read holds one element twice.
    pub const DUPLICATE_ELEMENTS: &str = "duplicate-elements";
    /// Two reads of a key where neither list is a prefix of the other.
    pub const INCOMPATIBLE_ORDER: &str = "incompatible-order";
    /// A read of a value no txn wrote.
    pub const GARBAGE_READ: &str = "garbage-read";
}

/// The anomalies `anomaly` directly implies (a G0 cycle is also a G1c cycle, a cycle in the
/// data graph is also one in the graph with process edges, a G1a is a G1, ...).
pub fn implies(anomaly: &str) -> Vec<String> {
    let mut out = Vec::new();
    for order in Order::ALL {
        for kind in CycleKind::ALL {
            if anomaly != cycle_name(kind, order) {
                continue;
            }
            let weaker_shape = match kind {
                CycleKind::G0 => Some(CycleKind::G1c),
                CycleKind::G1c => None,
                CycleKind::GSingle => Some(CycleKind::GNonadjacent),
                CycleKind::GNonadjacent => Some(CycleKind::G2Item),
                CycleKind::G2Item => None,
            };
            if let Some(k) = weaker_shape {
                out.push(cycle_name(k, order));
            }
            match order {
                Order::Data => out.push(cycle_name(kind, Order::Process)),
                Order::Process => out.push(cycle_name(kind, Order::Realtime)),
                Order::Realtime => {}
            }
            if kind == CycleKind::G1c && order == Order::Data {
                out.push("G1".into());
            }
            if kind == CycleKind::G2Item && order == Order::Data {
                out.push("G2".into());
            }
        }
    }
    match anomaly {
        name::G1A | name::G1B => out.push("G1".into()),
        name::FUTURE_READ => out.push(name::INTERNAL.into()),
        _ => {}
    }
    out
}

/// `found` with everything it implies, transitively.
pub fn closure<'a>(found: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    let mut all: BTreeSet<String> = BTreeSet::new();
    let mut todo: Vec<String> = found.into_iter().map(str::to_string).collect();
    while let Some(a) = todo.pop() {
        if all.insert(a.clone()) {
            todo.extend(implies(&a));
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closure_follows_shape_and_order() {
        let c = closure(["G-single"]);
        for a in [
            "G-single",
            "G-nonadjacent",
            "G2-item",
            "G2",
            "G-single-process",
            "G2-item-realtime",
        ] {
            assert!(c.contains(a), "{a} missing from {c:?}");
        }
        assert!(!c.contains("G1c") && !c.contains("G1"));
        let c = closure(["G0-process"]);
        assert!(c.contains("G1c-realtime") && !c.contains("G0") && !c.contains("G1"));
        assert!(closure(["G1a"]).contains("G1"));
    }
}
