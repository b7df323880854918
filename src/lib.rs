//! ferrocheck: a Jepsen-style fault-injection test harness and a fast consistency checker.
//!
//! A run starts a [`target`] (the system under test) as real processes, drives concurrent
//! clients against it from a [`workload`]'s generator while a nemesis injects faults, records
//! every operation into a [`history`], and hands the history to the [`check`]ers, whose verdict
//! the [`report`] explains. `ferrocheck check` runs the checkers alone on a stored history.

pub mod atomic_file;
pub mod check;
pub mod cli;
pub mod controller;
pub mod error;
pub mod formats;
pub mod history;
pub mod maelstrom;
pub mod nemesis;
pub mod node;
pub mod report;
pub mod targets;
pub mod toml_file;
pub mod workload;
