//! `ferrocheck bench`: how fast the checker is, on the public corpus and on generated histories
//! (`ferrocheck bench run`, in `bench_run.rs`, measures the run loop).
//!
//! Prints, per case, the seconds (parse and check; generating a history is not counted), ops
//! per second, and the process's peak resident memory during the measured part (VmHWM from
//! /proc/self/status, reset where the measuring starts, so a generated history counts only
//! while it is checked; where Linux does not allow the reset, the peak so far, and one case at
//! a time gives a per-case peak).

use crate::check::synth::{self, SynthOptions};
use crate::check::{self, CheckOptions, Validity};
use crate::formats::{self, Format};
use rayon::prelude::*;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `ferrocheck bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Run only this case (corpus, kv-1m, kv-1m-porcupine, register-5k, register-20k, register-100k,
    /// stale-100k, thin-air-100k, deep-100k, list-append-1m, causal-1m); default all.
    #[arg(long)]
    pub case: Option<String>,
    /// Where the Porcupine corpus is (a folder with jepsen/ and kv/).
    #[arg(long, default_value = "../shared/corpus/porcupine")]
    pub corpus: PathBuf,
    /// `run`: measure the run loop instead of the checker.
    #[command(subcommand)]
    pub mode: Option<BenchMode>,
}

/// What else `ferrocheck bench` measures.
#[derive(Debug, clap::Subcommand)]
pub enum BenchMode {
    /// Measure the run loop end to end: throughput with and without fsync, the recorder's cost,
    /// the generator's accuracy, latency added by the harness, start-up and teardown per target.
    Run(super::bench_run::BenchRunArgs),
}

/// The benchmark cases, in the order they run.
pub const CASES: &[&str] = &[
    "corpus",
    "kv-1m",
    "kv-1m-porcupine",
    "register-5k",
    "register-20k",
    "register-100k",
    "stale-100k",
    "thin-air-100k",
    "deep-100k",
    "list-append-1m",
    "causal-1m",
];

/// Peak resident memory of this process so far, in bytes (0 if /proc is unavailable).
pub fn peak_memory() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Resets the peak resident memory to the current one (Linux's clear_refs "5"), so the next
/// [`peak_memory`] is the peak since now; where that is not possible, nothing changes.
fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Tidies the allocator's free lists after a generated history is dropped, so that the
/// measured part does not pay for the generator's garbage (a `ferrocheck check` process starts
/// without any).
fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only reorganises the allocator's own free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

struct Outcome {
    ops: usize,
    /// Seconds of the measured part (generating a history is not measured).
    seconds: f64,
    validity: Validity,
    note: String,
}

fn corpus(dir: &std::path::Path) -> anyhow::Result<Outcome> {
    reset_peak_memory();
    let started = Instant::now();
    let mut paths = Vec::new();
    for sub in ["jepsen", "kv"] {
        let entries = std::fs::read_dir(dir.join(sub)).map_err(|e| {
            super::usage(format!(
                "cannot read the corpus at {}: {e}; pass --corpus DIR",
                dir.join(sub).display()
            ))
        })?;
        paths.extend(entries.flatten().map(|e| e.path()));
    }
    // Files in parallel, as `ferrocheck check` does.
    let results: Vec<anyhow::Result<(usize, Validity)>> = paths
        .par_iter()
        .map(|path| {
            let loaded = formats::load(path, Format::Auto)?;
            let opts = CheckOptions {
                model: loaded.model.clone(),
                ..Default::default()
            };
            let r = check::check(&loaded.history, &opts)?;
            Ok((loaded.history.calls().len(), r.validity))
        })
        .collect();
    let (mut ops, mut invalid, mut verdict) = (0, 0, Validity::Valid);
    for r in results {
        let (n, v) = r?;
        ops += n;
        if v == Validity::Invalid {
            invalid += 1;
        }
        verdict = verdict.max(v);
    }
    let files = paths.len();
    Ok(Outcome {
        ops,
        seconds: started.elapsed().as_secs_f64(),
        validity: verdict,
        note: format!("{files} files, {invalid} invalid"),
    })
}

/// Writes `h` (a generated kv history: string keys, string or nil values) in Porcupine's kv
/// test format, one EDN op map per line.
fn write_porcupine_kv(h: &crate::history::History, w: &mut impl Write) -> std::io::Result<()> {
    use crate::history::{OpType, Process, Value};
    let edn_string = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    for op in &h.ops {
        let Process::Client(p) = op.process else {
            continue;
        };
        let kind = match op.kind {
            OpType::Invoke => "invoke",
            OpType::Ok => "ok",
            OpType::Fail => "fail",
            OpType::Info => "info",
        };
        let value = match &op.value {
            Value::Str(s) => edn_string(s),
            Value::Int(i) => i.to_string(),
            _ => "nil".to_string(),
        };
        let key = edn_string(op.key.as_deref().unwrap_or(""));
        writeln!(
            w,
            "{{:process {p}, :type :{kind}, :f :{}, :key {key}, :value {value}}}",
            op.f
        )?;
    }
    Ok(())
}

/// A million generated kv calls (50 clients, 1,000 keys) written to a file in `format`
/// (ferrocheck's JSONL or Porcupine's kv format), then read and checked as `ferrocheck check`
/// does. Freeing the history is left out of the time: `ferrocheck check` on one file does not
/// free it either (the process's exit does, at once).
fn kv_1m(format: Format) -> anyhow::Result<Outcome> {
    let h = synth::history(&SynthOptions {
        calls: 1_000_000,
        clients: 50,
        keys: 1000,
        info_rate: 0.0,
        values: 0,
        kv: true,
        seed: 1,
    });
    let path = std::env::temp_dir().join(format!(
        "ferrocheck-bench-{}.{}",
        std::process::id(),
        if format == Format::Jsonl {
            "jsonl"
        } else {
            "txt"
        }
    ));
    {
        let file = std::fs::File::create(&path)?;
        let mut w = std::io::BufWriter::new(file);
        if format == Format::Jsonl {
            h.write_jsonl(&mut w)?;
        } else {
            write_porcupine_kv(&h, &mut w)?;
        }
        w.flush()?;
    }
    let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    drop(h);
    give_back_freed_memory();
    reset_peak_memory();
    let started = Instant::now();
    let loaded = formats::load(&path, format);
    let _ = std::fs::remove_file(&path);
    let loaded = loaded?;
    let parsed = started.elapsed().as_secs_f64();
    let opts = CheckOptions {
        model: Some("kv".into()),
        ..Default::default()
    };
    let r = check::check(&loaded.history, &opts)?;
    let seconds = started.elapsed().as_secs_f64();
    let lines = loaded.history.ops.len();
    drop(loaded);
    give_back_freed_memory();
    Ok(Outcome {
        ops: lines / 2,
        seconds,
        validity: r.validity,
        note: format!(
            "{} ({lines} lines, {} MB); parse {parsed:.2} s, check {:.2} s; freeing the history not counted (ferrocheck check leaves it to the exit)",
            if format == Format::Jsonl {
                "ferrocheck JSONL"
            } else {
                "Porcupine kv format"
            },
            bytes / 1_000_000,
            r.stats["seconds"].as_f64().unwrap_or(0.0),
        ),
    })
}

fn register(calls: usize) -> anyhow::Result<Outcome> {
    register_with(calls, None)
}

/// A bad read added to a generated cas-register history: `Stale` reads a value written (and
/// acknowledged) before everything else, so certainly overwritten long before; `ThinAir` a
/// value nobody wrote; `Crossed` two readers who see two concurrent writes in opposite orders
/// (every read alone is possible, so the O(n) precheck passes it and the search must refute
/// the history: the deep-refutation case).
#[derive(Clone, Copy)]
enum BadRead {
    Stale,
    ThinAir,
    Crossed,
}

fn with_bad_read(h: crate::history::History, bad: BadRead) -> crate::history::History {
    use crate::history::{History, Op, OpType, Process, Value};
    let call = |kind, f: &str, value, time, p| Op {
        index: 0,
        time,
        process: Process::Client(p),
        kind,
        f: f.to_string(),
        key: Some("k0".into()),
        value,
        error: None,
    };
    let end = h.ops.last().map_or(0, |o| o.time) + 1000;
    let mut ops = Vec::with_capacity(h.ops.len() + 4);
    let old = Value::Int(1_000_000);
    if let BadRead::Stale = bad {
        ops.push(call(OpType::Invoke, "write", old.clone(), 0, 1 << 30));
        ops.push(call(OpType::Ok, "write", old.clone(), 0, 1 << 30));
    }
    ops.extend(h.ops);
    let read = match bad {
        BadRead::Stale => old,
        BadRead::ThinAir => Value::Int(-7),
        BadRead::Crossed => {
            let (a, b) = (Value::Int(2_000_001), Value::Int(2_000_002));
            let (w1, w2, r1, r2) = (1 << 30, (1 << 30) + 1, (1 << 30) + 2, (1 << 30) + 3);
            let mut t = end;
            let mut at = |kind, f: &str, v: &Value, p| {
                t += 1;
                call(kind, f, v.clone(), t, p)
            };
            let nil = Value::Nil;
            let crossed = [
                at(OpType::Invoke, "write", &a, w1),
                at(OpType::Invoke, "write", &b, w2),
                at(OpType::Invoke, "read", &nil, r1),
                at(OpType::Ok, "read", &a, r1),
                at(OpType::Invoke, "read", &nil, r1),
                at(OpType::Ok, "read", &b, r1),
                at(OpType::Invoke, "read", &nil, r2),
                at(OpType::Ok, "read", &b, r2),
                at(OpType::Invoke, "read", &nil, r2),
                at(OpType::Ok, "read", &a, r2),
                at(OpType::Ok, "write", &a, w1),
                at(OpType::Ok, "write", &b, w2),
            ];
            ops.extend(crossed);
            for (i, o) in ops.iter_mut().enumerate() {
                o.index = i as u64;
            }
            return History { header: None, ops };
        }
    };
    ops.push(call(OpType::Invoke, "read", Value::Nil, end, (1 << 30) + 1));
    ops.push(call(OpType::Ok, "read", read, end + 1, (1 << 30) + 1));
    for (i, o) in ops.iter_mut().enumerate() {
        o.index = i as u64;
    }
    History { header: None, ops }
}

fn register_with(calls: usize, bad: Option<BadRead>) -> anyhow::Result<Outcome> {
    let h = synth::history(&SynthOptions {
        calls,
        clients: 20,
        keys: 1,
        info_rate: 0.05,
        values: 5,
        kv: false,
        seed: calls as u64,
    });
    let h = match bad {
        Some(b) => with_bad_read(h, b),
        None => h,
    };
    let infos = h
        .ops
        .iter()
        .filter(|o| o.kind == crate::history::OpType::Info)
        .count();
    reset_peak_memory();
    let started = Instant::now();
    let r = check::check(
        &h,
        &CheckOptions {
            model: Some("cas-register".into()),
            // A refutation that does not come is an `unknown`, not a hung benchmark.
            time_limit: Some(std::time::Duration::from_secs(60)),
            ..Default::default()
        },
    )?;
    let named = r.anomalies.first().map_or(0, |a| a.ops.len());
    Ok(Outcome {
        ops: calls,
        seconds: started.elapsed().as_secs_f64(),
        validity: r.validity,
        note: format!(
            "{infos} info ops, {} configurations{}",
            r.stats["configurations"],
            if named > 0 {
                format!(", {named} ops named")
            } else {
                String::new()
            }
        ),
    })
}

/// CPU seconds (user + system) this process has used so far.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return 0.0;
    }
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// A million generated list-append transactions (10 clients, keys rotating after 16 appends)
/// through the Elle-style checker; "ops" are transactions here.
fn list_append_1m() -> anyhow::Result<Outcome> {
    use crate::check::txn::{self, gen};
    let h = gen::list_append(&gen::GenOptions {
        txns: 1_000_000,
        processes: 10,
        active_keys: 10,
        writes_per_key: 16,
        max_mops: 4,
        seed: 1,
    });
    reset_peak_memory();
    let (started, cpu0) = (Instant::now(), cpu_seconds());
    let r = txn::check(&h, Some(txn::Workload::ListAppend))?;
    let (seconds, cpu) = (started.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
    Ok(Outcome {
        ops: r.stats["txns"].as_u64().unwrap_or(0) as usize,
        seconds,
        validity: r.validity,
        note: format!(
            "transactions; cpu {cpu:.2} s; {} keys, {} edges; infer {:.2} s, graph {:.2} s",
            r.stats["keys"],
            r.stats["edges"],
            r.stats["seconds"]["infer"].as_f64().unwrap_or(0.0),
            r.stats["seconds"]["graph"].as_f64().unwrap_or(0.0),
        ),
    })
}

/// A register history of `calls` calls by `procs` processes on one key, every write of a
/// distinct value, recorded from a sequential store (so causal consistency holds).
fn unique_register(calls: usize, procs: u64) -> crate::history::History {
    use crate::history::{History, Op, OpType, Process, Value};
    let mut ops = Vec::with_capacity(2 * calls);
    let mut current = Value::Nil;
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for i in 0..calls {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let p = seed % procs;
        let write = (seed >> 20).is_multiple_of(2);
        let (f, arg, out) = if write {
            current = Value::Int(i as i64 + 1);
            ("write", current.clone(), current.clone())
        } else {
            ("read", Value::Nil, current.clone())
        };
        for (kind, value) in [(OpType::Invoke, arg), (OpType::Ok, out)] {
            ops.push(Op {
                index: ops.len() as u64,
                time: i as u64 * 1000,
                process: Process::Client(p),
                kind,
                f: f.into(),
                key: None,
                value,
                error: None,
            });
        }
    }
    History { header: None, ops }
}

fn causal_1m() -> anyhow::Result<Outcome> {
    let calls = 1_000_000;
    let h = unique_register(calls, 50);
    reset_peak_memory();
    let started = Instant::now();
    let r = check::check(
        &h,
        &CheckOptions {
            model: Some("register".into()),
            consistency: check::Consistency::Causal,
            ..Default::default()
        },
    )?;
    Ok(Outcome {
        ops: calls,
        seconds: started.elapsed().as_secs_f64(),
        validity: r.validity,
        note: format!("50 processes, unique values: {}", r.summary),
    })
}

/// Runs `ferrocheck bench`.
pub fn run(args: BenchArgs) -> anyhow::Result<i32> {
    if let Some(BenchMode::Run(run)) = args.mode {
        return super::bench_run::run(run);
    }
    let cases: Vec<&str> = match &args.case {
        Some(c) if CASES.contains(&c.as_str()) => vec![c.as_str()],
        Some(c) => {
            return Err(super::usage(format!(
                "unknown bench case {c:?}: use one of {}",
                CASES.join(", ")
            )))
        }
        None => CASES.to_vec(),
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "case\tverdict\tops\tseconds\tops/s\tpeak MiB\tnote");
    for case in cases {
        let o = match case {
            "corpus" => corpus(&args.corpus)?,
            "kv-1m" => kv_1m(Format::Jsonl)?,
            "kv-1m-porcupine" => kv_1m(Format::PorcupineKv)?,
            "register-5k" => register(5_000)?,
            "register-20k" => register(20_000)?,
            "list-append-1m" => list_append_1m()?,
            "causal-1m" => causal_1m()?,
            "stale-100k" => register_with(100_000, Some(BadRead::Stale))?,
            "thin-air-100k" => register_with(100_000, Some(BadRead::ThinAir))?,
            "deep-100k" => register_with(100_000, Some(BadRead::Crossed))?,
            _ => register(100_000)?,
        };
        let secs = o.seconds;
        let _ = writeln!(
            out,
            "{case}\t{}\t{}\t{secs:.3}\t{:.0}\t{:.0}\t{}",
            o.validity,
            o.ops,
            o.ops as f64 / secs.max(1e-9),
            peak_memory() as f64 / (1024.0 * 1024.0),
            o.note
        );
    }
    Ok(0)
}
