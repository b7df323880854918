//! `ferrocheck check FILE...`: read stored histories (ours, Jepsen EDN, Porcupine logs), check
//! each one, print one line per file and exit with the merged verdict (0 valid, 1 invalid,
//! 2 unknown, 254 when any file could not be read or interpreted).

use crate::check::{self, CheckOptions, Consistency, Validity};
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
    /// The file format (auto looks at the name and the first line).
    #[arg(long, value_enum, default_value = "auto")]
    pub format: Format,
    /// The model (register, cas-register, kv, mutex, set, fifo-queue, unordered-queue, counter, multi-register);
    /// default: what the
    /// format or the history header implies, else inferred from the ops.
    #[arg(long)]
    pub model: Option<String>,
    /// The consistency model to check.
    #[arg(long, value_enum, default_value = "linearizable")]
    pub consistency: ConsistencyArg,
    /// Print the results as JSON instead of one line per file.
    #[arg(long)]
    pub json: bool,
    /// Give up with `unknown` after this many seconds per file.
    #[arg(long, value_name = "SECONDS")]
    pub time_limit: Option<f64>,
    /// The initial value of every key (an integer, a string, or nil; default nil).
    #[arg(long, value_name = "V")]
    pub initial_value: Option<String>,
}

/// `--consistency` values.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ConsistencyArg {
    /// Real-time order must be respected.
    Linearizable,
    /// Only each process's own order must be respected.
    Sequential,
    /// Causal consistency (registers with unique written values).
    Causal,
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

/// Runs `ferrocheck check`.
pub fn run(args: CheckArgs) -> anyhow::Result<i32> {
    if let Some(m) = &args.model {
        if !check::models::NAMES.contains(&m.as_str()) {
            return Err(super::usage(format!(
                "unknown model {m:?}: use one of {}",
                check::models::NAMES.join(", ")
            )));
        }
    }
    let time_limit = match args.time_limit {
        Some(s) if s.is_finite() && s > 0.0 => Some(Duration::from_secs_f64(s)),
        Some(s) => {
            return Err(super::usage(format!(
                "--time-limit must be a positive number of seconds, got {s}"
            )))
        }
        None => None,
    };
    let consistency = match args.consistency {
        ConsistencyArg::Linearizable => Consistency::Linearizable,
        ConsistencyArg::Sequential => Consistency::Sequential,
        ConsistencyArg::Causal => Consistency::Causal,
    };
    let opts = CheckOptions {
        model: None,
        consistency,
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
    let model_name = match check::choose_model(&loaded.history, &opts) {
        Ok(m) => m,
        Err(e) => return failed(format!("{shown}: {e}")),
    };
    let result = match check::check(&loaded.history, &opts) {
        Ok(r) => r,
        Err(e) => return failed(format!("{shown}: {e:#}")),
    };
    let ops = crate::check::partition::pair_calls(&loaded.history).len();
    let secs = started.elapsed().as_secs_f64();
    let mut text = format!(
        "{shown}\t{}\t{model_name} ({source})\t{}\t{ops} ops\t{secs:.3} s\n",
        loaded.format.name(),
        result.validity
    );
    match result.validity {
        Validity::Invalid => {
            for a in &result.anomalies {
                text.push_str(&format!("  {}: {}\n", a.kind, a.explanation));
            }
        }
        Validity::Unknown => text.push_str(&format!("  {}\n", result.summary)),
        Validity::Valid => {}
    }
    FileReport {
        validity: Some(result.validity),
        text,
        json: serde_json::json!({
            "file": shown,
            "format": loaded.format.name(),
            "model": model_name,
            "model_source": source,
            "seconds": secs,
            "result": result,
        }),
        error: None,
    }
}
