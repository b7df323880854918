//! The `ferrocheck` binary: parse arguments, run, map errors to Jepsen's exit codes.

use clap::Parser;
use ferrocheck::cli::{self, Cli, EXIT_BAD_ARGS, EXIT_HARNESS};
use ferrocheck::error::Error;

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
        Err(e) => match e.chain().find_map(|c| c.downcast_ref::<Error>()) {
            // The user's to fix: the message alone says what to do.
            Some(u @ (Error::Usage(_) | Error::Unsupported(_))) => {
                eprintln!("error: {u}");
                EXIT_BAD_ARGS
            }
            _ => {
                eprintln!("error: {e:#}");
                EXIT_HARNESS
            }
        },
    };
    std::process::exit(code);
}
