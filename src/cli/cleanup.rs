//! `ferrocheck cleanup`: remove what a killed run left behind (network namespaces, stopped
//! processes, partition rules, clock offset files), leaving live runs alone.

use crate::nemesis::cleanup::{sweep, SweepOptions};

/// Arguments of `ferrocheck cleanup`.
#[derive(Debug, clap::Args)]
pub struct CleanupArgs {
    /// Only print what would be removed.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `ferrocheck cleanup`: 0 when everything found was removed, 255 when something could
/// not be.
pub fn run(args: CleanupArgs) -> anyhow::Result<i32> {
    let report = sweep(SweepOptions {
        dry_run: args.dry_run,
    })?;
    for line in report.lines(args.dry_run) {
        println!("{line}");
    }
    if report.is_empty() && report.problems.is_empty() {
        println!("nothing to clean");
    }
    Ok(if report.problems.is_empty() {
        0
    } else {
        super::EXIT_HARNESS
    })
}
