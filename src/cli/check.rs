//! `ferrocheck check` (not built yet).

/// Arguments of `ferrocheck check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {}

/// Runs `ferrocheck check`.
pub fn run(_args: CheckArgs) -> anyhow::Result<i32> {
    Err(super::usage("`ferrocheck check` is not built yet"))
}
