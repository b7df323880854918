//! The command line: raw arguments parsed by clap, then validated per subcommand.
//!
//! Each subcommand lives in its own file and returns the process exit code (Jepsen's: 0 valid,
//! 1 invalid, 2 unknown, 254 bad arguments, 255 the harness itself failed).

use clap::{Parser, Subcommand};

pub mod bench;
pub mod bench_run;
pub mod check;
pub mod cleanup;
pub mod list;
pub mod lock_worker;
pub mod maelstrom;
pub mod node;
pub mod report;
pub mod serve;
pub mod test;

/// Exit code for bad arguments or unusable input.
pub const EXIT_BAD_ARGS: i32 = 254;
/// Exit code for a failure of the harness itself.
pub const EXIT_HARNESS: i32 = 255;

/// Bad input from the user (exit 254): the library's [`crate::error::Error::Usage`].
pub use crate::error::usage;
/// The library's error, whose kind picks the exit code.
pub use crate::error::Error as UsageError;

/// ferrocheck: Jepsen-style fault injection and fast consistency checking.
#[derive(Debug, Parser)]
#[command(name = "ferrocheck", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a test: start a target, drive clients against it under faults, check the history.
    Test(Box<test::TestArgs>),
    /// List the built-in targets, workloads, nemeses and checkers.
    List(list::ListArgs),
    /// Measure the checker's speed on the corpus and on generated histories (`bench run`: the
    /// run loop's).
    Bench(bench::BenchArgs),
    /// Check stored histories (ours, Jepsen EDN, Porcupine logs) and print a verdict per file.
    Check(check::CheckArgs),
    /// Remove what a killed run left behind (namespaces, stopped processes, rules, clock files).
    Cleanup(cleanup::CleanupArgs),
    /// Run one lock client as its own process (started by the lock targets).
    #[command(hide = true)]
    LockWorker(lock_worker::LockWorkerArgs),
    /// Run one toy-store node (started by the harness; also handy by hand).
    Node(node::NodeArgs),
    /// Rebuild the HTML report of a stored history.
    Report(report::ReportArgs),
    /// Serve the reports folder read-only over HTTP (127.0.0.1 by default).
    Serve(serve::ServeArgs),
    /// Print the Maelstrom protocol reference (workloads, RPCs, errors, services) as Markdown.
    MaelstromDoc,
}

/// Runs the parsed command and returns the exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Test(args) => test::run(*args),
        Command::List(args) => list::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Check(args) => check::run(args),
        Command::Cleanup(args) => cleanup::run(args),
        Command::LockWorker(args) => lock_worker::run(args),
        Command::Node(args) => node::run(args),
        Command::Report(args) => report::run(args),
        Command::Serve(args) => serve::run(args),
        Command::MaelstromDoc => {
            print!("{}", crate::maelstrom::protocol_doc());
            Ok(0)
        }
    }
}
