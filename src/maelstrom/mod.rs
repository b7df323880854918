//! Maelstrom mode: run a student's node program, unchanged, against ferrocheck's own simulated
//! network, with Maelstrom's protocol, workloads, services and flags.
//!
//! `ferrocheck test -w broadcast --bin ./node --node-count 5` starts five copies of `./node`
//! ([`node`]), each talking newline-delimited JSON on stdin/stdout ([`protocol`]). Every message
//! between nodes, clients and the built-in [`services`] passes through one in-process
//! [`net`]work that adds latency, drops messages across the [`nemesis`]'s partitions and logs
//! them all. The [`runner`] drives the clients of a [`workload`] (each workload declares its RPCs
//! once in a [`schema`]: the same declaration checks replies and generates the docs), records
//! the history with the usual recorder, and checks it with the workload's checker (lin-kv uses
//! the linearizability checker). A node that misbehaves ends or degrades the run with an
//! explanation ([`problems`]), never a harness panic or hang.

pub mod checkers;
pub mod nemesis;
pub mod net;
pub mod node;
pub mod problems;
pub mod protocol;
pub mod runner;
pub mod schema;
pub mod services;
pub mod spec;
pub mod stats;
pub mod topology;
pub mod workload;

/// The protocol reference in Markdown, generated from the workloads' and services'
/// declarations (`docs/maelstrom.md`).
pub fn protocol_doc() -> String {
    let workloads: Vec<schema::Section> = workload::SECTIONS.iter().map(|s| **s).collect();
    schema::markdown(&workloads, services::SECTIONS)
}
