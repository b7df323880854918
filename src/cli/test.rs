//! `ferrocheck test`: start a target, drive a workload against it under a nemesis, check the
//! history, write the report, exit with the verdict.

use crate::controller::{self, Ending, RunOutcome, RunSpec};
use crate::nemesis::schedule::Schedule;
use crate::targets::real::RealOptions;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `ferrocheck test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// The system under test: a name (`ferrocheck list` shows them; `./targets/NAME.toml` comes
    /// first) or the path of a target file.
    #[arg(long, default_value = "lww-kv")]
    pub target: String,
    /// Which ops the clients perform and how the history is checked: a name
    /// (`./workloads/NAME.toml` comes first) or the path of a workload file (default: `lock`
    /// for the lock targets, else `register`; with --bin a Maelstrom workload such as
    /// `broadcast`).
    #[arg(long, short = 'w')]
    pub workload: Option<String>,
    /// Which faults to inject while the clients run (`none` is the control run).
    #[arg(long, default_value = "none")]
    pub nemesis: String,
    /// Seconds of client ops before the final phase.
    #[arg(long, default_value_t = 15.0, allow_negative_numbers = true)]
    pub time_limit: f64,
    /// Concurrent client workers: a number, or a multiple of the node count such as `2n`
    /// (default 10; with --bin, one per node).
    #[arg(long)]
    pub concurrency: Option<String>,
    /// Total ops per second over all clients (0 = as fast as they go; default 500, with --bin 5).
    #[arg(long, allow_negative_numbers = true)]
    pub rate: Option<f64>,
    /// Independent keys the ops are spread over (default: the workload file's, else 5).
    #[arg(long)]
    pub keys: Option<usize>,
    /// Register workload: `small` (a few values, with cas) or `unique` (reads and writes of
    /// values written once each, so the causal and sequential checks apply).
    #[arg(long, default_value = "small", value_parser = parse_values)]
    pub values: crate::workload::register::Values,
    /// The consistency model whose verdict decides the exit code: linearizable, sequential,
    /// causal or eventual (every one that applies is checked and shown).
    #[arg(long, default_value = "linearizable", value_parser = super::check::parse_consistency)]
    pub consistency: crate::check::Consistency,
    /// Seed for every random choice; a run with the same seed makes the same choices.
    /// Random when not given (the summary prints it).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Milliseconds a client waits for an answer before recording the op as `info` (default:
    /// 1000, or 10000 for the lock targets, so a paused lock holder can still answer).
    #[arg(long)]
    pub op_timeout_ms: Option<u64>,
    /// Number of nodes (default: the target's own, 3 for the toy stores).
    #[arg(long)]
    pub nodes: Option<usize>,
    /// Let the nodes acknowledge changes before they are on disk (toy stores buffer their journal
    /// in the process and write it out at most every 200 ms, so a killed node forgets acknowledged
    /// writes).
    #[arg(long)]
    pub no_fsync: bool,
    /// First TCP port for the nodes on 127.0.0.1 (0 = pick free ports).
    #[arg(long, default_value_t = 0)]
    pub base_port: u16,
    /// Folder for recorded histories (`<dir>/<run>/history.jsonl`).
    #[arg(long, default_value = "histories")]
    pub history_dir: PathBuf,
    /// Folder for HTML reports (`<dir>/<run>/index.html`).
    #[arg(long, default_value = "reports")]
    pub report_dir: PathBuf,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Options of the real-system targets.
    #[command(flatten)]
    pub real: RealArgs,
    /// Maelstrom mode (`--bin`): a student's node program on ferrocheck's simulated network.
    #[command(flatten)]
    pub maelstrom: Box<super::maelstrom::MaelstromArgs>,
}

/// Options of the real-system targets, as given on the command line.
#[derive(Clone, Debug, clap::Args)]
pub struct RealArgs {
    /// The redis-server binary (default: redis-server on PATH).
    #[arg(long, value_name = "PATH")]
    pub redis_server: Option<PathBuf>,
    /// The etcd binary (default: etcd on PATH).
    #[arg(long, value_name = "PATH")]
    pub etcd: Option<PathBuf>,
    /// etcd: serializable reads (a member's local copy, possibly stale) instead of
    /// linearizable ones.
    #[arg(long)]
    pub serializable_reads: bool,
    /// Lock targets: acquiring also takes a fencing token, and the protected resource refuses
    /// any read or write with a token lower than the highest it has seen.
    #[arg(long)]
    pub fencing: bool,
    /// Lock targets: the lease, in milliseconds. A pause longer than this lets a second client
    /// take the lock.
    #[arg(long, default_value_t = 500, value_name = "MS")]
    pub lock_ttl_ms: u64,
    /// Lock targets: the client's work between reading and writing the resource, in
    /// milliseconds.
    #[arg(long, default_value_t = 100, value_name = "MS")]
    pub lock_work_ms: u64,
    /// Transactional targets: the isolation level of every transaction (txn-kv: serializable,
    /// snapshot, read-committed, read-uncommitted; postgres: read-committed, repeatable-read,
    /// serializable; default serializable).
    #[arg(long, value_name = "LEVEL")]
    pub isolation: Option<String>,
}

impl From<RealArgs> for RealOptions {
    fn from(a: RealArgs) -> RealOptions {
        RealOptions {
            redis_server: a.redis_server,
            etcd: a.etcd,
            serializable_reads: a.serializable_reads,
            fencing: a.fencing,
            lock_ttl_ms: a.lock_ttl_ms,
            lock_work_ms: a.lock_work_ms,
            isolation: a.isolation,
            described: None,
        }
    }
}

/// `--values` through the workload's names.
pub fn parse_values(s: &str) -> Result<crate::workload::register::Values, String> {
    s.parse()
}

/// The longest `--time-limit` of a run: 30 days.
pub const MAX_TEST_SECONDS: f64 = 30.0 * 86400.0;
/// The most keys a run spreads its ops over (each is read back in the final phase).
pub const MAX_KEYS: usize = 10_000;
/// The lowest non-zero `--rate` (one op every 1000 s over all clients).
pub const MIN_RATE: f64 = 0.001;

impl TestArgs {
    /// Validates the options into a [`RunSpec`].
    pub fn into_spec(self) -> anyhow::Result<RunSpec> {
        use super::usage;
        if !(self.time_limit.is_finite()
            && self.time_limit > 0.0
            && self.time_limit <= MAX_TEST_SECONDS)
        {
            return Err(usage(format!(
                "--time-limit must be a positive number of seconds up to {MAX_TEST_SECONDS} (30 days), got {}",
                self.time_limit
            )));
        }
        let (target, described) = crate::targets::described::resolve(&self.target)?;
        let (workload, workload_file) =
            crate::workload::file::resolve(self.workload.as_deref().unwrap_or(target.workload))?;
        let nodes = self.nodes.or(described.as_ref().map(|d| d.nodes));
        let concurrency = match self
            .concurrency
            .as_ref()
            .or(workload_file.as_ref().and_then(|w| w.concurrency.as_ref()))
        {
            Some(c) => {
                crate::maelstrom::spec::parse_concurrency(c, nodes.unwrap_or(3)).map_err(usage)?
            }
            None => 10,
        };
        let rate = self
            .rate
            .or(workload_file.as_ref().and_then(|w| w.rate))
            .unwrap_or(500.0);
        let keys = self
            .keys
            .or(workload_file.as_ref().and_then(|w| w.keys))
            .unwrap_or(5);
        if !(rate.is_finite() && (rate == 0.0 || rate >= MIN_RATE)) {
            return Err(usage(format!(
                "--rate must be 0 (unthrottled) or at least {MIN_RATE} ops/s, got {rate}"
            )));
        }
        if self.real.lock_ttl_ms == 0 {
            return Err(usage(
                "--lock-ttl-ms must be at least 1: a lease of 0 ms expires as it is granted",
            ));
        }
        if !(1..=MAX_KEYS).contains(&keys) {
            return Err(usage(format!(
                "--keys must be between 1 and {MAX_KEYS}, got {}",
                keys
            )));
        }
        let op_timeout_ms = self
            .op_timeout_ms
            .unwrap_or_else(|| target.default_op_timeout_ms());
        if op_timeout_ms == 0 {
            return Err(usage("--op-timeout-ms must be at least 1"));
        }
        if self.nodes == Some(0) {
            return Err(usage("--nodes must be at least 1"));
        }
        let schedule = match self.nemesis.as_str() {
            "none" => None,
            name => Some(Schedule::load(name).map_err(|e| usage(e.to_string()))?),
        };
        let seed = self.seed.unwrap_or_else(rand::random);
        for (flag, dir) in [
            ("--history-dir", &self.history_dir),
            ("--report-dir", &self.report_dir),
        ] {
            std::fs::create_dir_all(dir).map_err(|e| {
                usage(format!(
                    "cannot create {flag} {}: {e}; pass a folder you can write to",
                    dir.display()
                ))
            })?;
        }
        // A workload file runs a Rust workload: that is what the target must be able to run.
        let base = workload_file
            .as_ref()
            .map_or(workload.name, |w| w.workload.as_str());
        let described_has = described.as_ref().is_some_and(|t| t.has_ops_for(base));
        if !target.workloads().contains(&base) && !described_has {
            return Err(usage(format!(
                "target {} cannot run the {} workload; use --workload {}",
                target.name,
                workload.name,
                target.workloads().join(" or ")
            )));
        }
        if self.real.isolation.is_some() && target.workload != "list-append" {
            return Err(usage(format!(
                "--isolation applies to the transactional targets (txn-kv, postgres), not {}",
                target.name
            )));
        }
        if let (Some(t), Some(w)) = (&described, &workload_file) {
            let has = t.ops();
            if let Some((op, _)) = w
                .mix
                .iter()
                .find(|(op, wt)| *wt > 0.0 && !has.contains(&op.as_str()))
            {
                return Err(usage(format!(
                    "target {} ({}) has no {op:?} op for workload {}: add it to the target's [ops], or give it weight 0 in the workload's [mix]",
                    t.name, t.origin, w.name
                )));
            }
        }
        if self.values == crate::workload::register::Values::Unique && workload.name != "register" {
            return Err(usage(format!(
                "--values unique is for the register workload, not {}",
                workload.name
            )));
        }
        let node_binary = std::env::current_exe().map_err(|e| {
            anyhow::anyhow!("cannot find the ferrocheck binary to start nodes: {e}")
        })?;
        let mut command_line = format!(
            "ferrocheck test --target {} --workload {} --nemesis {} --time-limit {} --concurrency {} --rate {} --keys {} --seed {}",
            self.target,
            self.workload.as_deref().unwrap_or(workload.name),
            self.nemesis,
            self.time_limit,
            concurrency,
            rate,
            keys,
            seed
        );
        if let Some(n) = self.nodes {
            command_line.push_str(&format!(" --nodes {n}"));
        }
        let mut real = RealOptions::from(self.real);
        real.described = described;
        command_line.push_str(&real.command_line());
        if self.no_fsync {
            command_line.push_str(" --no-fsync");
        }
        if self.values == crate::workload::register::Values::Unique {
            command_line.push_str(" --values unique");
        }
        if self.consistency != crate::check::Consistency::Linearizable {
            command_line.push_str(&format!(" --consistency {}", self.consistency.name()));
        }
        Ok(RunSpec {
            target,
            workload,
            nemesis: self.nemesis,
            schedule,
            time_limit: Duration::try_from_secs_f64(self.time_limit)
                .map_err(|e| usage(format!("--time-limit {}: {e}", self.time_limit)))?,
            concurrency,
            rate,
            keys,
            seed,
            op_timeout: Duration::from_millis(op_timeout_ms),
            nodes: self.nodes,
            fsync: !self.no_fsync,
            base_port: self.base_port,
            history_dir: self.history_dir,
            report_dir: self.report_dir,
            node_binary,
            progress: !self.quiet,
            command_line,
            real,
            workload_file,
            values: self.values,
            consistency: self.consistency,
        })
    }
}

/// Runs `ferrocheck test`.
pub fn run(mut args: TestArgs) -> anyhow::Result<i32> {
    if args.maelstrom.bin.is_none() {
        // A target file whose nodes speak Maelstrom runs in Maelstrom mode, as `--bin` would.
        if let Some((program, rest, nodes)) =
            crate::targets::described::maelstrom_command(&args.target)
        {
            args.maelstrom.bin = Some(program);
            args.maelstrom.bin_args.splice(0..0, rest);
            args.maelstrom.node_count = args.maelstrom.node_count.or(args.nodes).or(Some(nodes));
        }
    }
    if args.maelstrom.bin.is_some() {
        return super::maelstrom::run(&args);
    }
    let spec = args.into_spec()?;
    let command_line = spec.command_line.clone();
    let outcome = controller::run(spec)?;
    print_summary(&outcome, &command_line);
    Ok(outcome.validity().exit_code())
}

/// One line per side of each fault window: the fraction of ops that completed ok, as the
/// report's faults table shows it (read back from the report's `results.json`).
fn write_availability(out: &mut impl std::io::Write, outcome: &RunOutcome) -> std::io::Result<()> {
    let Some(dir) = outcome.report_path.as_ref().and_then(|p| p.parent()) else {
        return Ok(());
    };
    let Ok(text) = std::fs::read_to_string(dir.join("results.json")) else {
        return Ok(());
    };
    let Ok(results) = serde_json::from_str::<crate::report::ResultsFile>(&text) else {
        return Ok(());
    };
    for w in &results.availability {
        let fault = w.fault.split(' ').next().unwrap_or(&w.fault);
        for s in &w.sides {
            let side = if s.kind.is_empty() {
                s.side.clone()
            } else {
                format!("{} side {}", s.kind, s.side)
            };
            let figure = match s.fraction {
                Some(f) => format!("{:.0}% ok ({} of {})", f * 100.0, s.ok, s.invoked),
                None => "no ops".into(),
            };
            writeln!(
                out,
                "avail    {fault} {:.3}–{:.3} s, {side}: {figure}",
                w.from, w.to
            )?;
        }
    }
    Ok(())
}

/// Prints the end-of-run summary: verdict per check, the anomaly, where things are.
pub fn print_summary(outcome: &RunOutcome, command_line: &str) {
    // A closed stdout (`| head`) must not turn a finished run into a panic.
    let _ = write_summary(&mut std::io::stdout().lock(), outcome, command_line);
}

fn write_summary(
    out: &mut impl std::io::Write,
    outcome: &RunOutcome,
    command_line: &str,
) -> std::io::Result<()> {
    writeln!(out, "run      {}", outcome.name)?;
    match &outcome.ending {
        Ending::Completed => {}
        Ending::Interrupted(why) => {
            writeln!(
                out,
                "stopped  {why}: the history so far was kept and checked"
            )?;
        }
        Ending::Aborted(why) => {
            writeln!(
                out,
                "aborted  {why}\n         the history so far was kept and checked"
            )?;
        }
    }
    writeln!(
        out,
        "history  {} ({} ops)",
        outcome.history_path.display(),
        outcome.ops
    )?;
    match outcome.faults {
        Some(0) => writeln!(
            out,
            "faults   none injected: the nemesis never took effect, so this run tested nothing under faults"
        )?,
        Some(n) => writeln!(out, "faults   {n} injected")?,
        None => writeln!(out, "faults   none (--nemesis none)")?,
    }
    if let Some((n, p50, p99, _)) = outcome.lateness {
        writeln!(
            out,
            "schedule {n} ops started late by p50 {:.2} ms, p99 {:.2} ms",
            p50 as f64 / 1e6,
            p99 as f64 / 1e6
        )?;
    }
    if let Some(r) = &outcome.report_path {
        let shown = std::fs::canonicalize(r).unwrap_or_else(|_| r.clone());
        writeln!(out, "report   file://{}", shown.display())?;
    }
    for w in &outcome.warnings {
        writeln!(out, "warning  {w}")?;
    }
    for d in &outcome.doubts {
        writeln!(out, "doubt    {d} (so the verdict cannot be valid)")?;
    }
    for r in &outcome.results {
        writeln!(
            out,
            "{}: {} — {}",
            r.checker,
            r.validity.to_string().to_uppercase(),
            r.summary
        )?;
        for a in r.anomalies.iter().take(3) {
            if r.summary.contains(a.explanation.as_str()) {
                continue;
            }
            for line in a.explanation.lines() {
                writeln!(out, "    {line}")?;
            }
        }
    }
    write_availability(out, outcome)?;
    if let Some(l) = &outcome.lattice {
        writeln!(out, "lattice  {} (* decides the verdict)", l.headline())?;
        for line in l.lines() {
            writeln!(out, "  {line}")?;
        }
    }
    writeln!(out, "verdict  {}", outcome.validity())?;
    writeln!(out, "reproduce: {command_line}")?;
    writeln!(
        out,
        "re-check:  ferrocheck check {}",
        outcome.history_path.display()
    )?;
    Ok(())
}
