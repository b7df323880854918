//! The one support module of the integration tests (`mod support;` in each test file).
//!
//! - [`env`]: whether this machine has what a test needs (root, a program); a test without it
//!   prints why it skips, and fails instead when the environment variable `CI` is set;
//! - [`cmd`]: the `ferrocheck` binary: runs of `ferrocheck test` into a fresh folder, the run
//!   folder and history they wrote, output for assertion messages, processes left behind;
//! - [`faults`]: runs under namespaced faults: one at a time, short schedules, the faults a
//!   history records as applied, namespaces a run must not leave;
//! - [`lock`]: lock-target runs through the real binary (pause schedules, verdicts, nothing
//!   left running);
//! - [`report`]: histories and check results built by hand for the report tests;
//! - [`browser`]: headless Chromium for the report-in-a-browser tests.
//!
//! Each test binary compiles this module on its own and uses a part of it.

#![allow(dead_code, unused_imports)]

pub mod browser;
pub mod cmd;
pub mod env;
pub mod faults;
pub mod lock;
pub mod report;

pub use cmd::*;
pub use env::*;
pub use faults::*;
