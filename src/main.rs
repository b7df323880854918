//! The `ferrocheck` binary: parse arguments, run, map errors to Jepsen's exit codes.

use clap::Parser;
use ferrocheck::cli::{self, Cli, UsageError, EXIT_BAD_ARGS, EXIT_HARNESS};

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_BAD_ARGS } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let code = match cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            if let Some(u) = e.downcast_ref::<UsageError>() {
                eprintln!("error: {u}");
                EXIT_BAD_ARGS
            } else {
                eprintln!("error: {e:#}");
                EXIT_HARNESS
            }
        }
    };
    std::process::exit(code);
}
