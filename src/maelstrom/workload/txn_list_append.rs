//! `txn-list-append`: transactions of appends to lists and reads of whole lists over integer
//! keys, in Maelstrom's wire format, checked with ferrocheck's Elle-style `txn` checker (model `list-append`).

use super::txn::TxnGen;
use super::WorkloadOptions;
use crate::maelstrom::schema::{field, Rpc, Section, Ty};

/// The txn RPC.
pub const TXN: Rpc = Rpc {
    name: "txn",
    doc: "Execute the micro-ops in order, as one transaction: `[\"r\", k, null]` reads the list at key k, `[\"append\", k, v]` appends v to it. Answer `txn_ok` with the same micro-ops, each read's null replaced by the whole list read (null or `[]` for a key never appended to); error 30 (txn-conflict) when it was aborted, which is definite: none of its writes happened.",
    request: &[field(
        "txn",
        Ty::List(&Ty::Any),
        "the micro-ops: [\"r\", key, null] or [\"append\", key, value]",
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
    name: "txn-list-append",
    doc: "A transactional key-value store of lists (Elle's list-append: the order of a list shows each key's version order, so the checker's inference is exact). Clients send `txn` requests of 1 to `--max-txn-length` micro-ops (reads and appends) over `--key-count` integer keys; each appended value is unique per key, and a key is retired after `--max-writes-per-key` appends. Checked: ferrocheck's Elle-style `txn` checker (model list-append) looks for dependency cycles (G0, G1c, G-single, G2-item, with real-time order) and the anomalies that need no cycle, such as aborted or intermediate reads; any of them makes the run invalid and names the models it rules out. A single node that applies each transaction serially is correct; nodes that apply transactions locally without coordinating are not.",
    rpcs: &[TXN],
};

/// The txn-list-append workload over `opts.key_count` live keys.
pub fn new(opts: &WorkloadOptions) -> TxnGen {
    TxnGen::new(&SECTION, &TXN, "append", "list-append", opts)
}
