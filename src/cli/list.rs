//! `ferrocheck list`: the built-in targets, workloads, nemeses and checkers, a line each.

/// Arguments of `ferrocheck list` (none).
#[derive(Debug, clap::Args)]
pub struct ListArgs {}

/// The checkers, a line each.
pub const CHECKERS: &[(&str, &str)] = &[(
    "linearizable",
    "every op appears to take effect at one instant between its invoke and completion (per key)",
)];

/// The nemeses, a line each.
pub const NEMESES: &[(&str, &str)] = &[("none", "no faults: the control run")];

/// Prints the registries.
pub fn run(_args: ListArgs) -> anyhow::Result<i32> {
    let section = |title: &str, rows: &[(&str, &str)]| {
        println!("{title}:");
        for (name, line) in rows {
            println!("  {name:<16} {line}");
        }
        println!();
    };
    section(
        "targets",
        &[crate::target::list(), crate::target::real::list()].concat(),
    );
    section("workloads", &crate::workload::list());
    section("nemeses", NEMESES);
    section("checkers", CHECKERS);
    Ok(0)
}
