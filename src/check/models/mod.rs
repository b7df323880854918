//! The models ferrocheck knows, one file each, and their names as `--model` spells them.

pub mod cas_register;
pub mod counter;
pub mod fifo_queue;
pub mod kv;
pub mod mutex;
pub mod register;
pub mod set;

/// Every model name `--model` accepts.
pub const NAMES: &[&str] = &[
    "register",
    "cas-register",
    "kv",
    "mutex",
    "set",
    "fifo-queue",
    "counter",
];
