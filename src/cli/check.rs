//! `ferrocheck check FILE...`: read stored histories (ours, Jepsen EDN, Porcupine logs), check
//! each one, print one line per file and exit with the merged verdict (0 valid, 1 invalid,
//! 2 unknown, 254 when any file could not be read or interpreted).

use crate::check::{self, CheckOptions, Consistency, Validity};
use crate::formats::{self, Format};
use crate::history::Value;
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
    /// The model (register, cas-register, kv, mutex, set, fifo-queue, counter); default: what the
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
    let mut verdict = Validity::Valid;
    let mut bad_input = false;
    let mut json_out = Vec::new();
    // Printing errors (a closed pipe) are ignored: the exit code still carries the verdict.
    let mut out = std::io::stdout().lock();
    for path in &args.files {
        let started = Instant::now();
        let shown = path.display().to_string();
        let loaded = match formats::load(path, args.format) {
            Ok(l) => l,
            Err(e) => {
                bad_input = true;
                eprintln!("error: {e}");
                json_out.push(serde_json::json!({"file": shown, "error": e.to_string()}));
                continue;
            }
        };
        let (model, source) = match (&args.model, &loaded.model) {
            (Some(m), _) => (Some(m.clone()), "given"),
            (None, Some(m)) if loaded.format == Format::Jsonl => {
                (Some(m.clone()), "history header")
            }
            (None, Some(m)) => (Some(m.clone()), "implied by the format"),
            (None, None) => (None, "inferred from the ops"),
        };
        let opts = CheckOptions {
            model,
            consistency,
            time_limit,
            initial_value: args.initial_value.as_deref().map(parse_value),
        };
        let model_name = match check::choose_model(&loaded.history, &opts) {
            Ok(m) => m,
            Err(e) => {
                bad_input = true;
                eprintln!("error: {shown}: {e}");
                json_out.push(serde_json::json!({"file": shown, "error": e.to_string()}));
                continue;
            }
        };
        let result = match check::check(&loaded.history, &opts) {
            Ok(r) => r,
            Err(e) => {
                bad_input = true;
                eprintln!("error: {shown}: {e:#}");
                json_out.push(serde_json::json!({"file": shown, "error": format!("{e:#}")}));
                continue;
            }
        };
        verdict = verdict.max(result.validity);
        let ops = loaded.history.calls().len();
        let secs = started.elapsed().as_secs_f64();
        if args.json {
            json_out.push(serde_json::json!({
                "file": shown,
                "format": loaded.format.name(),
                "model": model_name,
                "model_source": source,
                "seconds": secs,
                "result": result,
            }));
        } else {
            let _ = writeln!(
                out,
                "{shown}\t{}\t{model_name} ({source})\t{}\t{ops} ops\t{secs:.3} s",
                loaded.format.name(),
                result.validity
            );
            match result.validity {
                Validity::Invalid => {
                    for a in &result.anomalies {
                        let _ = writeln!(out, "  {}: {}", a.kind, a.explanation);
                    }
                }
                Validity::Unknown => {
                    let _ = writeln!(out, "  {}", result.summary);
                }
                Validity::Valid => {}
            }
        }
    }
    if args.json {
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(&json_out)?);
    }
    Ok(if bad_input {
        super::EXIT_BAD_ARGS
    } else {
        verdict.exit_code()
    })
}
