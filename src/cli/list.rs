//! `ferrocheck list`: the built-in targets, workloads, nemeses and checkers, a line each.

/// Arguments of `ferrocheck list` (none).
#[derive(Debug, clap::Args)]
pub struct ListArgs {}

/// The checkers, a line each.
pub const CHECKERS: &[(&str, &str)] = &[
    (
        "linearizable",
        "every op appears to take effect at one instant between its invoke and completion (per key)",
    ),
    (
        "lost-updates",
        "no acknowledged write is missing from the final reads when it came after every write of the value read",
    ),
];

/// Prints the registries.
pub fn run(_args: ListArgs) -> anyhow::Result<i32> {
    let section = |title: &str, rows: &[(&str, &str)]| {
        println!("{title}:");
        for (name, line) in rows {
            println!("  {name:<16} {line}");
        }
        println!();
    };
    section("targets", &crate::targets::list());
    section("workloads", &crate::workload::list());
    let nemeses: Vec<(String, String)> = crate::nemesis::schedule::BUILTIN
        .iter()
        .map(|(name, _)| {
            let line = crate::nemesis::schedule::Schedule::load(name)
                .map(|s| s.description)
                .unwrap_or_else(|e| format!("(broken: {e})"));
            (name.to_string(), line)
        })
        .collect();
    let nemeses: Vec<(&str, &str)> = nemeses
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    section("nemeses", &nemeses);
    section("checkers", CHECKERS);
    Ok(0)
}
