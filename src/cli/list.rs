//! `ferrocheck list`: the built-in targets, workloads, nemeses, checkers and models, a line
//! each, read from their registries.

/// Arguments of `ferrocheck list` (none).
#[derive(Debug, clap::Args)]
pub struct ListArgs {}

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
    let checkers: Vec<(&str, &str)> = crate::check::registry::CHECKERS
        .iter()
        .map(|c| (c.name, c.about))
        .collect();
    section("checkers", &checkers);
    let models: Vec<(&str, &str)> = crate::check::models::MODELS
        .iter()
        .map(|m| (m.name, m.about))
        .collect();
    section("models", &models);
    Ok(0)
}
