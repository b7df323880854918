//! `ferrocheck check FILE...`: read stored histories (ours, Jepsen EDN, Porcupine logs), check
//! each one, print one line per file and checker and exit with the merged verdict (0 valid,
//! 1 invalid, 2 unknown, 254 when any file could not be read or interpreted).
//!
//! By default a history is checked by the checkers its header records (the ones the run used);
//! `--model` or `--consistency` replaces them with the one check they name.

use crate::check::{self, CheckOptions, CheckResult, CheckerSpec, Consistency, Validity};
use crate::formats::semantics::{self, Applied, Semantics};
use crate::formats::{self, Format};
use crate::history::Value;
use rayon::prelude::*;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Arguments of `ferrocheck check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// History files to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The file format: auto (look at the name and the first line), jsonl, edn, porcupine-etcd,
    /// porcupine-kv.
    #[arg(long, default_value = "auto", value_parser = parse_format)]
    pub format: Format,
    /// The model (register, cas-register, kv, mutex, set, fifo-queue, unordered-queue, counter,
    /// multi-register; list-append or rw-register for transactions); replaces the checkers the history header records. Default: what the
    /// format or the history header implies, else inferred from the ops.
    #[arg(long)]
    pub model: Option<String>,
    /// The consistency model to check: linearizable (the default), sequential or causal;
    /// replaces the checkers the history header records.
    #[arg(long, value_parser = parse_consistency)]
    pub consistency: Option<Consistency>,
    /// Print the results as JSON instead of one line per file.
    #[arg(long)]
    pub json: bool,
    /// Give up with `unknown` after this many seconds per file.
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub time_limit: Option<f64>,
    /// The initial value of every key (an integer, a string, or nil; default nil).
    #[arg(long, value_name = "V")]
    pub initial_value: Option<String>,
    /// What `fail` ops and nil reads mean: knossos (a fail did not happen, a nil read of a
    /// register is unknown) or strict (a failed cas saw a value other than its from, a nil read
    /// saw nil). Default: knossos for Jepsen EDN, strict for every other format.
    #[arg(long, value_parser = parse_semantics)]
    pub semantics: Option<Semantics>,
}

/// `--format` through the library's names.
pub fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}

/// `--semantics` through the library's names.
fn parse_semantics(s: &str) -> Result<Semantics, String> {
    s.parse()
}

/// `--consistency` through the library's names.
pub fn parse_consistency(s: &str) -> Result<Consistency, String> {
    s.parse()
}

fn parse_value(s: &str) -> Value {
    match s {
        "nil" | "null" => Value::Nil,
        _ => match s.parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Str(s.to_string()),
        },
    }
}

/// The longest `--time-limit` accepted (about 31 years): beyond it a limit means nothing.
pub const MAX_CHECK_SECONDS: f64 = 1e9;

/// Runs `ferrocheck check`.
pub fn run(args: CheckArgs) -> anyhow::Result<i32> {
    if let Some(m) = &args.model {
        if !check::models::names().contains(&m.as_str()) && check::txn::workload(m).is_none() {
            return Err(super::usage(format!(
                "unknown model {m:?}: use one of {}, {}",
                check::models::names().join(", "),
                check::txn::NAMES.join(", ")
            )));
        }
    }
    let time_limit = match args.time_limit {
        Some(s) if s.is_finite() && s > 0.0 && s <= MAX_CHECK_SECONDS => {
            Duration::try_from_secs_f64(s).ok()
        }
        Some(s) => {
            return Err(super::usage(format!(
            "--time-limit must be a positive number of seconds up to {MAX_CHECK_SECONDS}, got {s}"
        )))
        }
        None => None,
    };
    let opts = CheckOptions {
        model: None,
        consistency: args.consistency.unwrap_or_default(),
        time_limit,
        initial_value: args.initial_value.as_deref().map(parse_value),
    };
    // Files are checked in parallel; their reports are printed in the order given.
    let reports: Vec<FileReport> = args
        .files
        .par_iter()
        .map(|path| check_file(path, &args, &opts))
        .collect();
    let mut verdict = Validity::Valid;
    let mut bad_input = false;
    // Printing errors (a closed pipe) are ignored: the exit code still carries the verdict.
    let mut out = std::io::stdout().lock();
    for r in &reports {
        match r.validity {
            Some(v) => verdict = verdict.max(v),
            None => bad_input = true,
        }
        if let Some(e) = &r.error {
            eprintln!("error: {e}");
        }
        if !args.json {
            let _ = out.write_all(r.text.as_bytes());
        }
    }
    if args.json {
        let all: Vec<&serde_json::Value> = reports.iter().map(|r| &r.json).collect();
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(&all)?);
    }
    Ok(if bad_input {
        super::EXIT_BAD_ARGS
    } else {
        verdict.exit_code()
    })
}

/// What checking one file produced.
struct FileReport {
    /// The verdict, or `None` when the file could not be read or interpreted.
    validity: Option<Validity>,
    /// The lines for the terminal.
    text: String,
    /// The entry for `--json`.
    json: serde_json::Value,
    /// Why the file could not be checked.
    error: Option<String>,
}

/// The checkers to run on one loaded history, each with the label its line shows, and where
/// they came from.
fn plan(
    loaded: &formats::Loaded,
    args: &CheckArgs,
    base: &CheckOptions,
) -> anyhow::Result<(Vec<(String, CheckerSpec)>, &'static str)> {
    let recorded = loaded
        .history
        .header
        .as_ref()
        .map(|h| h.checkers.clone())
        .unwrap_or_default();
    let explicit = args.model.is_some() || args.consistency.is_some();
    if !explicit && !recorded.is_empty() {
        let specs = recorded
            .into_iter()
            .map(|spec| with_overrides(spec, base))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let specs = specs
            .into_iter()
            .map(|s| (check::registry::describe(&s), s))
            .collect();
        return Ok((specs, "history header"));
    }
    let (model, source) = match (&args.model, &loaded.model) {
        (Some(m), _) => (Some(m.clone()), "given"),
        (None, Some(m)) if loaded.format == Format::Jsonl => (Some(m.clone()), "history header"),
        (None, Some(m)) => (Some(m.clone()), "implied by the format"),
        (None, None) => (None, "inferred from the ops"),
    };
    let opts = CheckOptions {
        model,
        ..base.clone()
    };
    let model_name = check::choose_model(&loaded.history, &opts)?;
    Ok((
        vec![(
            model_name.clone(),
            check::spec_for_model(&model_name, &opts),
        )],
        source,
    ))
}

/// `spec` with `--time-limit` and `--initial-value` applied when they were given.
fn with_overrides(spec: CheckerSpec, base: &CheckOptions) -> anyhow::Result<CheckerSpec> {
    let mut o = check::CheckerOptions::of(&spec)?;
    if let Some(t) = base.time_limit {
        o.time_limit = Some(t.as_secs_f64());
    }
    if let Some(v) = &base.initial_value {
        o.initial_value = Some(v.clone());
    }
    Ok(o.spec(&spec.name))
}

/// The budget of each lattice rung that `check` has to search, unless `--time-limit` says.
pub const LATTICE_BUDGET: Duration = Duration::from_secs(1);

/// The history placed on the consistency lattice, for models the lattice covers (not locks,
/// transactions or Maelstrom workloads).
fn place_on_lattice(
    loaded: &formats::Loaded,
    specs: &[(String, CheckerSpec)],
    results: &[CheckResult],
    args: &CheckArgs,
    base: &CheckOptions,
    chosen: Semantics,
) -> Option<check::lattice::Lattice> {
    use check::lattice::{self, Rung};
    let model = specs
        .iter()
        .find_map(|(_, s)| s.options.get("model").and_then(|m| m.as_str()))
        .map(str::to_owned)
        .or_else(|| loaded.model.clone())
        .or_else(|| check::choose_model(&loaded.history, base).ok())?;
    let (history, _) = semantics::apply(&loaded.history, chosen, &model);
    let decides = Rung::of(args.consistency.unwrap_or_default());
    let budget = base.time_limit.unwrap_or(LATTICE_BUDGET);
    let initial = base.initial_value.clone().unwrap_or_default();
    lattice::for_history(&history, Some(&model), &initial, results, decides, budget)
}

fn check_file(path: &std::path::Path, args: &CheckArgs, base: &CheckOptions) -> FileReport {
    let started = Instant::now();
    let shown = path.display().to_string();
    let failed = |error: String| FileReport {
        validity: None,
        text: String::new(),
        json: serde_json::json!({"file": shown, "error": error}),
        error: Some(error),
    };
    let loaded = match formats::load(path, args.format) {
        Ok(l) => l,
        Err(e) => return failed(e.to_string()),
    };
    let (specs, source) = match plan(&loaded, args, base) {
        Ok(p) => p,
        Err(e) => return failed(format!("{shown}: {e}")),
    };
    let ops = loaded.history.call_count();
    let chosen = args
        .semantics
        .unwrap_or(Semantics::default_for(loaded.format));
    let mut results: Vec<CheckResult> = Vec::new();
    let mut readings: Vec<Applied> = Vec::new();
    for (_, spec) in &specs {
        // Knossos's reading is about model-stepping checks; the others read ops as recorded.
        let stepping = ["linearizable", "sequential", "causal"].contains(&spec.name.as_str());
        let model = match spec.options.get("model").and_then(|m| m.as_str()) {
            Some(m) if stepping => m,
            _ => &spec.name,
        };
        let (history, applied) = semantics::apply(&loaded.history, chosen, model);
        match check::registry::run(&history, spec) {
            Ok(r) => results.push(r),
            Err(e) => return failed(format!("{shown}: {e:#}")),
        }
        readings.push(applied);
    }
    // A torn last line may have been a completion: no better than unknown.
    if let Some(line) = loaded.torn {
        for r in &mut results {
            if r.validity == Validity::Valid {
                r.validity = Validity::Unknown;
                r.summary = format!(
                    "{}; but line {line}, the last, was torn (a crash mid-write?): the complete lines before it were checked, and an op's completion may be missing, so valid is at best unknown",
                    r.summary
                );
            }
        }
    }
    // Nothing to check is not a pass: the line says so.
    let empty = if ops == 0 { " (empty history)" } else { "" };
    let secs = started.elapsed().as_secs_f64();
    let mut text = String::new();
    for (((label, _), result), applied) in specs.iter().zip(&results).zip(&readings) {
        // The reading is named whenever it is not simply the format's own strict one.
        let reading = match (args.semantics, chosen) {
            (None, Semantics::Strict) => String::new(),
            (None, _) if !applied.applies => String::new(),
            _ => format!("; {}", applied.description),
        };
        text.push_str(&format!(
            "{shown}\t{}\t{label} ({source}{reading})\t{}\t{ops} ops{empty}\t{secs:.3} s\n",
            loaded.format.name(),
            result.validity
        ));
        if let Some(line) = loaded.torn {
            text.push_str(&format!(
                "  line {line}, the last, was torn (cut off mid-write) and left out\n"
            ));
        }
        if result.checker.starts_with(check::txn::NAME) {
            // Which consistency models the anomalies rule out, and which remain possible.
            text.push_str(&format!("  {}\n", result.summary));
        }
        match result.validity {
            Validity::Invalid => {
                for a in &result.anomalies {
                    text.push_str(&format!("  {}: {}\n", a.kind, a.explanation));
                }
            }
            Validity::Unknown => text.push_str(&format!("  {}\n", result.summary)),
            Validity::Valid => {}
        }
    }
    // Where the history stands on the consistency lattice (models the checkers above did not
    // decide are searched under a budget).
    let lattice = place_on_lattice(&loaded, &specs, &results, args, base, chosen);
    if let Some(l) = &lattice {
        text.push_str(&format!("  lattice: {}\n", l.headline()));
        for line in l.lines() {
            text.push_str(&format!("  {line}\n"));
        }
    }
    // The worst result stands for the file; all of them are in `results`.
    let worst = (0..results.len())
        .max_by_key(|&i| (results[i].validity, std::cmp::Reverse(i)))
        .unwrap_or(0);
    let (model_name, _) = &specs[worst];
    let result = &results[worst];
    let applied = &readings[worst];
    let report = FileReport {
        validity: Some(result.validity),
        text,
        json: serde_json::json!({
            "file": shown,
            "format": loaded.format.name(),
            "model": model_name,
            "model_source": source,
            "semantics": chosen.name(),
            "semantics_applied": applied.description,
            "removed": {"failed": applied.failed_removed, "nil_reads": applied.nil_reads_removed},
            "seconds": secs,
            "torn_line": loaded.torn,
            "result": result,
            "results": results,
            "lattice": lattice,
        }),
        error: None,
    };
    // With one file the process exits right after: freeing a big history op by op would
    // only delay the exit (a million ops take a few tenths of a second), and the exit frees
    // it all at once. With several, each is freed, so memory stays at one history at a time.
    if args.files.len() == 1 {
        std::mem::forget(loaded);
    }
    report
}
