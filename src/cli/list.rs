//! `ferrocheck list`: the targets, workloads, nemeses, fault families, checkers and models, a
//! line each, read from their registries and from the target and workload files (built in,
//! `./targets/`, `./workloads/`).

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
    let mut targets: Vec<(String, String)> = crate::targets::list()
        .into_iter()
        .map(|(n, a)| (n.to_string(), a.to_string()))
        .collect();
    targets.extend(crate::targets::described::list());
    // Workload files first; a Rust workload without a file of its name after them.
    let mut workloads = crate::workload::file::list();
    let rust: Vec<(String, String)> = crate::workload::list()
        .into_iter()
        .filter(|(n, _)| !workloads.iter().any(|(f, _)| f == n))
        .map(|(n, a)| (n.to_string(), format!("{a} [Rust]")))
        .collect();
    workloads.extend(rust);
    let t: Vec<(&str, &str)> = targets
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let w: Vec<(&str, &str)> = workloads
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    section("targets", &t);
    section("workloads", &w);
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
    let families: Vec<(&str, &str)> = crate::nemesis::registry::FAMILIES
        .iter()
        .map(|f| (f.family().name(), f.about()))
        .collect();
    section("fault families", &families);
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
