//! `g-set`: a grow-only set CRDT. Clients `add` elements at any node and `read` a node's set;
//! after the faults heal every node must hold every acknowledged element.

use super::broadcast::final_read;
use super::set_convergence;
use super::{body, Call, Completion, Workload, WorkloadOptions};
use crate::history::{History, Value};
use crate::maelstrom::schema::{field, Rpc, Section, Ty};
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{Map, Value as Json};

/// The add RPC.
pub const ADD: Rpc = Rpc {
    name: "add",
    doc: "Add `element` to the set.",
    request: &[field("element", Ty::Any, "the element; unique per request")],
    reply: &[],
    errors: &[],
};

/// The read RPC.
pub const READ: Rpc = Rpc {
    name: "read",
    doc: "Return the set as this node knows it.",
    request: &[],
    reply: &[field(
        "value",
        Ty::List(&Ty::Any),
        "the elements, in any order",
    )],
    errors: &[],
};

/// The workload's declaration.
pub const SECTION: Section = Section {
    name: "g-set",
    doc: "A grow-only set. Clients `add` unique elements and `read` sets at random nodes. Checked: after the faults heal, every node's final read holds every acknowledged element, and no read holds an element nobody added.",
    rpcs: &[ADD, READ],
};

/// The g-set generator.
pub struct GSet {
    nodes: usize,
    next_element: i64,
}

impl GSet {
    /// A generator for `opts.node_count` nodes.
    pub fn new(opts: &WorkloadOptions) -> GSet {
        GSet {
            nodes: opts.node_count,
            next_element: 0,
        }
    }
}

impl Workload for GSet {
    fn section(&self) -> &'static Section {
        &SECTION
    }

    fn next(&mut self, _worker: usize, node: usize, rng: &mut StdRng) -> Call {
        if rng.gen_bool(0.5) {
            let e = self.next_element;
            self.next_element += 1;
            Call::new(&ADD, Value::Int(e), body([("element", Json::from(e))]))
        } else {
            let mut c = Call::new(&READ, Value::Nil, Map::new());
            c.key = Some(format!("n{node}"));
            c
        }
    }

    fn complete(&mut self, _worker: usize, call: &Call, reply: &Map<String, Json>) -> Completion {
        match call.rpc.name {
            "read" => set_convergence::read_result(reply.get("value")),
            _ => Completion::Ok(call.value.clone()),
        }
    }

    fn final_calls(&mut self, _round: usize, history: &History) -> Vec<(usize, Call)> {
        if set_convergence::settled(history, "add", "read", self.nodes) {
            return Vec::new();
        }
        (0..self.nodes).map(|n| final_read(&READ, n)).collect()
    }
}
