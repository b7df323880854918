//! `ferrocheck report` (not built yet).

/// Arguments of `ferrocheck report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {}

/// Runs `ferrocheck report`.
pub fn run(_args: ReportArgs) -> anyhow::Result<i32> {
    Err(super::usage("`ferrocheck report` is not built yet"))
}
