//! `txn-rw-register`: transactions of reads and blind writes over integer keys, in Maelstrom's
//! wire format, checked with ferrocheck's Elle-style `txn` checker (model `rw-register`).

use super::txn::TxnGen;
use super::WorkloadOptions;
use crate::maelstrom::schema::{field, Rpc, Section, Ty};

/// The txn RPC.
pub const TXN: Rpc = Rpc {
    name: "txn",
    doc: "Execute the micro-ops in order, as one transaction: `[\"r\", k, null]` reads key k, `[\"w\", k, v]` sets it to v. Answer `txn_ok` with the same micro-ops, each read's null replaced by the value read (null for a key never written); error 30 (txn-conflict) when it was aborted, which is definite: none of its writes happened.",
    request: &[field(
        "txn",
        Ty::List(&Ty::Any),
        "the micro-ops: [\"r\", key, null] or [\"w\", key, value]",
    )],
    reply: &[field(
        "txn",
        Ty::List(&Ty::Any),
        "the same micro-ops, reads filled in",
    )],
    errors: &[30],
};

/// The workload's declaration.
pub const SECTION: Section = Section {
    name: "txn-rw-register",
    doc: "A transactional key-value store of registers. Clients send `txn` requests of 1 to `--max-txn-length` micro-ops (reads and writes) over `--key-count` integer keys; each written value is unique per key, and a key is retired after `--max-writes-per-key` writes. Checked: ferrocheck's Elle-style `txn` checker (model rw-register) looks for dependency cycles (G0, G1c, G-single, G2-item, with real-time order) and the anomalies that need no cycle, such as aborted or intermediate reads; any of them makes the run invalid and names the models it rules out. A single node that applies each transaction serially is correct; nodes that apply transactions locally without coordinating are not.",
    rpcs: &[TXN],
};

/// The txn-rw-register workload over `opts.key_count` live keys.
pub fn new(opts: &WorkloadOptions) -> TxnGen {
    TxnGen::new(&SECTION, &TXN, "w", "rw-register", opts)
}
