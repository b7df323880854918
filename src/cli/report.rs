//! `ferrocheck report HISTORY [--out DIR]`: check a stored history with the checkers its header
//! records (the ones the run used; any format `ferrocheck check` reads) and write the run's
//! HTML report (and `results.json`), then refresh the run index.
//!
//! The exit code is the verdict's (0 valid, 1 invalid, 2 unknown), as for `ferrocheck check`. A
//! checker that cannot run (an unknown model, ops it cannot read) shows as `unknown` in the
//! report with its error, rather than stopping the report.

use crate::check::{self, CheckOptions, CheckResult, Consistency};
use crate::formats::{self, Format};
use crate::history::History;
use crate::report::{self, RunInfo};
use std::path::{Path, PathBuf};

/// Arguments of `ferrocheck report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The history to report on (JSON Lines as `ferrocheck test` writes it, or any format
    /// `ferrocheck check` reads).
    pub history: PathBuf,
    /// Where to write index.html and results.json [default: reports/<run name>, and the run
    /// index reports/index.html is refreshed].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Runs `ferrocheck report`.
pub fn run(args: ReportArgs) -> anyhow::Result<i32> {
    let loaded = formats::load(&args.history, Format::Auto).map_err(|e| {
        super::usage(format!(
            "cannot read the history: {e} (expected JSON Lines as `ferrocheck test` writes, \
             Jepsen EDN or a Porcupine log; `ferrocheck check` reads the same)"
        ))
    })?;
    // Jepsen EDN is read as Knossos reads it, as `ferrocheck check` does by default.
    let history = formats::semantics::default_reading(loaded);
    let info = run_info(&history, &args.history);
    let results = run_checks(&history);
    let (dir, root) = match &args.out {
        Some(dir) => (dir.clone(), None),
        None => {
            let root = PathBuf::from("reports");
            (root.join(folder_name(&info.name)), Some(root))
        }
    };
    // The model of the history's own linearizability check, else its header's.
    let model = results
        .iter()
        .find_map(|r| r.checker.strip_prefix("linearizable(")?.strip_suffix(')'))
        .map(str::to_owned);
    let lattice = check::lattice::for_history(
        &history,
        model.as_deref(),
        &crate::history::Value::Nil,
        &results,
        check::lattice::Rung::Linearizable,
        check::lattice::DEFAULT_BUDGET,
    );
    let page = report::write_with_lattice(&dir, &info, &history, &results, lattice.as_ref())?;
    if let Some(root) = root {
        report::write_index(&root)?;
    }
    let verdict = check::merge(&results);
    for r in &results {
        println!("{:<8} {}: {}", r.validity.to_string(), r.checker, r.summary);
    }
    if let Some(l) = &lattice {
        println!("lattice  {}", l.headline());
    }
    println!("{verdict}: report written to {}", page.display());
    Ok(verdict.exit_code())
}

/// A run name made safe as one folder name: no separators, no `..`.
fn folder_name(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.trim_matches('.').is_empty() {
        "run".into()
    } else {
        safe
    }
}

/// Runs the checkers the history's header records (for a history written before headers
/// recorded them: one check chosen from its model, with the consistency its run options name);
/// a checker that cannot run becomes an `unknown` result with its error.
fn run_checks(history: &History) -> Vec<CheckResult> {
    let recorded = history
        .header
        .as_ref()
        .map(|h| h.checkers.clone())
        .unwrap_or_default();
    if !recorded.is_empty() {
        return check::run_all(history, &recorded);
    }
    let consistency = history
        .header
        .as_ref()
        .and_then(|h| h.run.as_ref())
        .and_then(|run| run.get("consistency"))
        .and_then(|c| c.as_str())
        .and_then(|c| c.parse::<Consistency>().ok())
        .unwrap_or_default();
    let opts = CheckOptions {
        consistency,
        ..Default::default()
    };
    match check::spec_for(history, &opts) {
        Ok(spec) => check::run_all(history, &[spec]),
        Err(e) => vec![check::registry::could_not_run(
            &check::CheckerSpec {
                name: consistency.name().into(),
                ..Default::default()
            },
            format!("could not check: {e:#}"),
        )],
    }
}

/// The run's facts from the history's header (`run` object), with the history's folder name as
/// the run's name when the header does not give one.
fn run_info(history: &History, path: &Path) -> RunInfo {
    let header = history.header.clone().unwrap_or_default();
    let run = header.run.clone().unwrap_or(serde_json::Value::Null);
    let text = |k: &str| {
        run.get(k)
            .map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_default()
    };
    let folder = path
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty() && n != "." && n != "histories");
    let stem = path
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".into());
    let mut name = text("name");
    if name.is_empty() {
        name = folder.unwrap_or(stem);
    }
    let mut workload = text("workload");
    if workload.is_empty() {
        workload = header.workload.clone().unwrap_or_default();
    }
    RunInfo {
        name,
        target: text("target"),
        workload,
        nemesis: text("nemesis"),
        options: run.clone(),
        command: text("command"),
        start_time: text("start_time"),
        seed: run.get("seed").and_then(|s| s.as_u64()).unwrap_or(0),
        history: path.to_owned(),
    }
}
