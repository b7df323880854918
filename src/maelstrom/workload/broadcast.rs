//! `broadcast`: clients hand integers to nodes with `broadcast`; every node must eventually
//! return every acknowledged one from `read`. Before the clients start, each node gets a
//! `topology` message (the neighbours `--topology` gives it), which it may use or ignore.
//! Checked: after the faults heal, every node's final read holds every acknowledged message.

use super::set_convergence;
use super::{body, final_marker, Call, Completion, Workload, WorkloadOptions};
use crate::check::CheckResult;
use crate::history::{History, Value};
use crate::maelstrom::schema::{field, Rpc, Section, Ty};
use crate::maelstrom::topology::Topology;
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{Map, Value as Json};

/// The topology RPC.
pub const TOPOLOGY: Rpc = Rpc {
    name: "topology",
    doc: "Sent once to every node before the clients start: the node's suggested neighbours (from `--topology`: grid, line, tree2, tree3, tree4, total). A node may gossip along other links too.",
    request: &[field("topology", Ty::Map(&Ty::List(&Ty::Str)), "node id → its neighbours' ids")],
    reply: &[],
    errors: &[],
};

/// The broadcast RPC.
pub const BROADCAST: Rpc = Rpc {
    name: "broadcast",
    doc: "Remember `message` and make sure every other node learns it too (even across partitions, once they heal).",
    request: &[field("message", Ty::Int, "the value to spread; unique per request")],
    reply: &[],
    errors: &[],
};

/// The read RPC.
pub const READ: Rpc = Rpc {
    name: "read",
    doc: "Return every message this node knows of.",
    request: &[],
    reply: &[field(
        "messages",
        Ty::List(&Ty::Int),
        "the messages, in any order",
    )],
    errors: &[],
};

/// The workload's declaration.
pub const SECTION: Section = Section {
    name: "broadcast",
    doc: "Clients `broadcast` unique integers to random nodes and `read` nodes' sets. After the run the faults heal, and every node is read until it has every acknowledged message (or the recovery time ends). Checked: every acknowledged broadcast is in every node's final read, and no read returns a message nobody broadcast. Reported: the stable latency (how long a message took to show up in every read) and the messages between nodes per client op.",
    rpcs: &[TOPOLOGY, BROADCAST, READ],
};

/// The broadcast generator.
pub struct Broadcast {
    nodes: usize,
    topology: Topology,
    next_message: i64,
}

impl Broadcast {
    /// A generator for `opts.node_count` nodes.
    pub fn new(opts: &WorkloadOptions) -> Broadcast {
        Broadcast {
            nodes: opts.node_count,
            topology: opts.topology,
            next_message: 0,
        }
    }
}

/// A `read` of node `node` in the final phase.
pub fn final_read(rpc: &'static Rpc, node: usize) -> (usize, Call) {
    let mut c = Call::new(rpc, final_marker(), Map::new());
    c.key = Some(format!("n{node}"));
    (node, c)
}

impl Workload for Broadcast {
    fn section(&self) -> &'static Section {
        &SECTION
    }

    fn setup(&mut self, node_ids: &[String]) -> Vec<(usize, Call)> {
        let map = self.topology.to_map(node_ids);
        let json = serde_json::to_value(&map).unwrap_or(Json::Null);
        (0..node_ids.len())
            .map(|i| {
                (
                    i,
                    Call::new(&TOPOLOGY, Value::Nil, body([("topology", json.clone())])),
                )
            })
            .collect()
    }

    fn next(&mut self, _worker: usize, node: usize, rng: &mut StdRng) -> Call {
        if rng.gen_bool(0.5) {
            let m = self.next_message;
            self.next_message += 1;
            Call::new(
                &BROADCAST,
                Value::Int(m),
                body([("message", Json::from(m))]),
            )
        } else {
            let mut c = Call::new(&READ, Value::Nil, Map::new());
            c.key = Some(format!("n{node}"));
            c
        }
    }

    fn complete(&mut self, _worker: usize, call: &Call, reply: &Map<String, Json>) -> Completion {
        match call.rpc.name {
            "read" => set_convergence::read_result(reply.get("messages")),
            _ => Completion::Ok(call.value.clone()),
        }
    }

    fn final_calls(&mut self, _round: usize, history: &History) -> Vec<(usize, Call)> {
        if set_convergence::settled(history, "broadcast", "read", self.nodes) {
            return Vec::new();
        }
        (0..self.nodes).map(|n| final_read(&READ, n)).collect()
    }
}

/// Checks a broadcast history of a cluster of `nodes` nodes.
pub fn check(history: &History, nodes: usize) -> CheckResult {
    set_convergence::check(history, "broadcast", "broadcast", "read", nodes)
}
