//! `ferrocheck node` (not built yet).

/// Arguments of `ferrocheck node`.
#[derive(Debug, clap::Args)]
pub struct NodeArgs {}

/// Runs `ferrocheck node`.
pub fn run(_args: NodeArgs) -> anyhow::Result<i32> {
    Err(super::usage("`ferrocheck node` is not built yet"))
}
