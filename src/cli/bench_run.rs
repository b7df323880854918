//! `ferrocheck bench run`: how fast the run loop is, end to end, on this machine.
//!
//! Runs real tests (toy stores as processes, recording on, checked and reported as usual) into a
//! scratch folder and prints: ops/s against `lin-kv` with fsync and 50 clients; the harness's
//! own ceiling against a store that never waits for the disk; the recorder's cost per event; the
//! generator's accuracy at `--rate 1000` (achieved rate, lateness p50/p99); client-observed
//! latency against a store with a known service time; start-up and teardown per target; and the
//! machine it ran on (cores, memory, load, fsync latency: this machine is shared, and the
//! figures move with it).

use crate::controller::histogram::Histogram;
use crate::controller::recorder::Recorder;
use crate::controller::{self, RunOutcome};
use crate::history::{Header, History, OpType, Process, Value};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Arguments of `ferrocheck bench run`.
#[derive(Debug, clap::Args)]
pub struct BenchRunArgs {
    /// Seconds of each throughput and generator run (the README's figures used 10; 5 is a quick
    /// look).
    #[arg(long, default_value_t = 30.0)]
    pub duration: f64,
    /// Leave out the start-up and teardown of redis and etcd.
    #[arg(long)]
    pub skip_real: bool,
    /// Scratch folder for the runs' histories and reports (default: a temporary folder,
    /// removed afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// The store service time of the latency run.
const SERVICE_US: u64 = 1000;

/// Runs `ferrocheck bench run`.
pub fn run(args: BenchRunArgs) -> anyhow::Result<i32> {
    if !(args.duration.is_finite() && args.duration >= 1.0) {
        return Err(super::usage("--duration must be at least 1 second"));
    }
    let scratch = std::env::temp_dir().join(format!("ferrocheck-bench-{}", std::process::id()));
    let dir = args.dir.clone().unwrap_or_else(|| scratch.clone());
    let result = run_in(&args, &dir);
    if args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    result
}

fn run_in(args: &BenchRunArgs, dir: &Path) -> anyhow::Result<i32> {
    let dir = dir.to_owned();
    let d = args.duration;
    let mut out = std::io::stdout().lock();
    machine(&mut out, &dir)?;
    out.flush()?;

    let m = measure(
        &dir,
        &["--target", "lin-kv", "--concurrency", "50", "--rate", "0"],
        d,
    )?;
    line(
        &mut out,
        "lin-kv, fsync (group commit), 50 clients",
        &m.throughput(),
    )?;
    let m = measure(
        &dir,
        &[
            "--target",
            "lin-kv",
            "--nodes",
            "1",
            "--no-fsync",
            "--concurrency",
            "50",
            "--rate",
            "0",
        ],
        d,
    )?;
    line(
        &mut out,
        "harness ceiling: lin-kv, 1 node, no fsync, 50 clients",
        &m.throughput(),
    )?;
    line(&mut out, "recorder cost", &recorder_cost(&dir)?)?;
    let m = measure(
        &dir,
        &[
            "--target",
            "lin-kv",
            "--nodes",
            "1",
            "--no-fsync",
            "--concurrency",
            "50",
            "--rate",
            "1000",
        ],
        d,
    )?;
    let (n, p50, p99, max) = m.outcome.lateness.unwrap_or_default();
    line(
        &mut out,
        "generator at --rate 1000, 50 clients",
        &format!(
            "achieved {:.1} ops/s ({:+.2}%); lateness over {n} ops p50 {}, p99 {}, max {}",
            m.invokes as f64 / d,
            (m.invokes as f64 / d / 1000.0 - 1.0) * 100.0,
            us(p50),
            us(p99),
            us(max)
        ),
    )?;
    // Every node started from here on inherits the service time.
    std::env::set_var(
        crate::node::server::SERVICE_TIME_ENV,
        SERVICE_US.to_string(),
    );
    let m = measure(
        &dir,
        &[
            "--target",
            "lin-kv",
            "--nodes",
            "1",
            "--no-fsync",
            "--concurrency",
            "1",
            "--rate",
            "0",
        ],
        d.min(10.0),
    );
    std::env::remove_var(crate::node::server::SERVICE_TIME_ENV);
    let m = m?;
    line(
        &mut out,
        &format!("latency vs a store taking {SERVICE_US} µs, 1 client"),
        &format!(
            "p50 {}, p99 {} (the harness, loopback TCP and the scheduler add p50 {})",
            us(m.latency.quantile(0.5)),
            us(m.latency.quantile(0.99)),
            us(m.latency.quantile(0.5).saturating_sub(SERVICE_US * 1000))
        ),
    )?;
    let mut targets = vec!["lin-kv", "lww-kv", "quorum-kv", "primary-backup"];
    if !args.skip_real {
        targets.extend(["redis", "etcd"]);
    }
    for t in targets {
        let args = ["--target", t, "--concurrency", "5", "--rate", "100"];
        let text = match measure(&dir, &args, 2.0) {
            Ok(m) => format!(
                "start-up {} (command to first op), teardown {} (time limit to exit: the \
                 {} s recovery pause, final reads, stopping the nodes, check, report)",
                secs(m.first_op),
                secs(m.wall.saturating_sub(m.first_op + Duration::from_secs(2))),
                crate::controller::faults::RECOVERY.as_secs()
            ),
            Err(e) => format!("skipped: {e:#}"),
        };
        line(&mut out, &format!("{t}: start-up and teardown"), &text)?;
    }
    Ok(0)
}

/// What one measured run gave.
struct Measured {
    outcome: RunOutcome,
    /// Seconds of the main phase.
    seconds: f64,
    /// Client completions within the main phase.
    completions: u64,
    /// Client invocations within the main phase.
    invokes: u64,
    /// Client-observed latency of completed calls.
    latency: Histogram,
    /// From the call to the first op.
    first_op: Duration,
    /// From the call to the outcome.
    wall: Duration,
    /// Resident memory sampled at the start of the main phase and the most during it, in KiB.
    main_rss_kib: (u64, u64),
    /// Events in the history.
    events: usize,
}

impl Measured {
    fn throughput(&self) -> String {
        format!(
            "{:.0} ops/s ({} events/s); harness RSS {:.1} MiB at the start of the run, at most \
             {:.1} MiB during it; {}",
            self.completions as f64 / self.seconds,
            (self.events as f64 / self.seconds) as u64,
            self.main_rss_kib.0 as f64 / 1024.0,
            self.main_rss_kib.1 as f64 / 1024.0,
            self.outcome
                .results
                .iter()
                .map(|r| format!("{} {}", r.checker, r.validity))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// Runs one quiet test with `args` for `seconds` and measures it.
fn measure(dir: &Path, args: &[&str], seconds: f64) -> anyhow::Result<Measured> {
    let limit = seconds.to_string();
    let (histories, reports) = (dir.join("histories"), dir.join("reports"));
    let mut argv = vec!["ferrocheck", "test", "--quiet", "--time-limit", &limit];
    argv.extend_from_slice(args);
    let (h, r) = (histories.to_string_lossy(), reports.to_string_lossy());
    argv.extend(["--history-dir", &h, "--report-dir", &r]);
    let cli = <super::Cli as clap::Parser>::try_parse_from(argv)?;
    let super::Command::Test(test) = cli.command else {
        anyhow::bail!("bench run: not a test command");
    };
    let spec = test.into_spec()?;
    let samples = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let sampler = {
        let (samples, stop) = (samples.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some(kib) = rss_kib() {
                    if let Ok(mut s) = samples.lock() {
                        s.push((started.elapsed(), kib));
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let outcome = controller::run(spec);
    let wall = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let outcome = outcome?;
    let history = History::read_jsonl(&outcome.history_path)?;
    let first = history
        .ops
        .iter()
        .find(|o| o.is_client())
        .map_or(0, |o| o.time);
    let end = first + (seconds * 1e9) as u64;
    let (mut completions, mut invokes) = (0, 0);
    let latency = Histogram::default();
    let mut open: HashMap<Process, u64> = HashMap::new();
    for op in history
        .ops
        .iter()
        .filter(|o| o.is_client() && o.time <= end)
    {
        if op.kind == OpType::Invoke {
            invokes += 1;
            open.insert(op.process, op.time);
        } else {
            completions += 1;
            if let (Some(t), true) = (open.remove(&op.process), op.kind != OpType::Info) {
                latency.record(op.time - t);
            }
        }
    }
    let first_op = Duration::from_nanos(first);
    let main = first_op..first_op + Duration::from_secs_f64(seconds);
    let main_rss_kib = samples
        .lock()
        .map(|s| {
            let during = || s.iter().filter(|(t, _)| main.contains(t)).map(|&(_, k)| k);
            (during().next().unwrap_or(0), during().max().unwrap_or(0))
        })
        .unwrap_or((0, 0));
    Ok(Measured {
        seconds,
        completions,
        invokes,
        latency,
        first_op,
        wall,
        main_rss_kib,
        events: history.ops.len(),
        outcome,
    })
}

/// The recorder's cost per event: one thread records a million events (to a real file).
fn recorder_cost(dir: &Path) -> anyhow::Result<String> {
    const EVENTS: u64 = 1_000_000;
    std::fs::create_dir_all(dir)?;
    let path = dir.join("recorder-bench.jsonl");
    let recorder = Recorder::create(&path, &Header::default())?;
    let started = Instant::now();
    for i in 0..EVENTS {
        let (kind, value) = if i % 2 == 0 {
            (OpType::Invoke, Value::Nil)
        } else {
            (OpType::Ok, Value::Int(i as i64))
        };
        let p = Process::Client(i % 50);
        recorder.record(p, kind, "read", Some("k3"), value, None);
    }
    let recording = started.elapsed();
    drop(recorder);
    let total = started.elapsed();
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let _ = std::fs::remove_file(&path);
    Ok(format!(
        "{:.0} ns per event recorded ({:.0} ns with the last write), {:.0} bytes per event",
        recording.as_nanos() as f64 / EVENTS as f64,
        total.as_nanos() as f64 / EVENTS as f64,
        bytes as f64 / EVENTS as f64
    ))
}

/// Prints the machine: CPU, cores, memory, kernel, load, and how long an fsync takes here.
fn machine(out: &mut impl Write, dir: &Path) -> anyhow::Result<()> {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU".to_string(), |s| s.trim().to_string());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse::<u64>().ok())
        .map_or(0.0, |k| k as f64 / (1024.0 * 1024.0));
    let load = read("/proc/loadavg");
    let load = load
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    let kernel = read("/proc/sys/kernel/osrelease");
    line(
        out,
        "machine",
        &format!(
            "{cpu}, {cores} cores, {mem:.1} GiB, Linux {}, load average {load}",
            kernel.trim()
        ),
    )?;
    line(out, "fsync here", &fsync_latency(dir)?)?;
    Ok(())
}

/// The median time of one small append + `fdatasync` in `dir`.
fn fsync_latency(dir: &Path) -> anyhow::Result<String> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("fsync-probe");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    let mut times = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        f.write_all(b"{\"key\":\"k1\",\"value\":\"42\"}\n")?;
        f.sync_data()?;
        times.push(t.elapsed());
    }
    let _ = std::fs::remove_file(&path);
    times.sort();
    Ok(format!(
        "append + fdatasync p50 {}, max {}",
        us(times[times.len() / 2].as_nanos() as u64),
        us(times[times.len() - 1].as_nanos() as u64)
    ))
}

fn line(out: &mut impl Write, what: &str, value: &str) -> std::io::Result<()> {
    writeln!(out, "{what:<56} {value}")?;
    out.flush()
}

fn rss_kib() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Nanoseconds as microseconds or milliseconds.
fn us(ns: u64) -> String {
    if ns >= 10_000_000 {
        format!("{:.1} ms", ns as f64 / 1e6)
    } else {
        format!("{:.0} µs", ns as f64 / 1e3)
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}
