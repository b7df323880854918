//! The Maelstrom flags of `ferrocheck test` (`--bin` switches a run into Maelstrom mode), their
//! validation into a [`Spec`], and the end of a run: the report, the summary, the exit code.
//!
//! Maelstrom's own flags are accepted as Maelstrom spells them, so a command line from a
//! Maelstrom tutorial works: `-w/--workload`, `--bin`, `--node-count`, `--time-limit`, `--rate`,
//! `--concurrency` (`10` or `2n`: twice the node count), `--latency`, `--latency-dist`,
//! `--nemesis`, `--nemesis-interval`, `--topology`, `--availability`, `--consistency-models`,
//! `--log-stderr`, `--log-net-send`, `--log-net-recv`, `--key-count`, `--max-txn-length`,
//! `--max-writes-per-key`; arguments after `--` go to the node program.

use super::test::TestArgs;
use super::usage;
use crate::controller::Ending;
use crate::maelstrom::net::Dist;
use crate::maelstrom::runner::Outcome;
use crate::maelstrom::spec::{parse_concurrency, Spec};
use crate::maelstrom::topology::Topology;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// The Maelstrom-mode options of `ferrocheck test`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct MaelstromArgs {
    /// Run a Maelstrom-protocol node program (any language; JSON lines on stdin/stdout) instead
    /// of a built-in target; arguments after `--` are passed to it.
    #[arg(long, value_name = "PATH")]
    pub bin: Option<PathBuf>,
    /// Maelstrom mode: how many copies of the program to run (n0, n1, ...). Default 5.
    #[arg(long)]
    pub node_count: Option<usize>,
    /// Maelstrom mode: mean message latency in milliseconds.
    #[arg(long, default_value_t = 0.0)]
    pub latency: f64,
    /// Maelstrom mode: latency distribution: constant, uniform or exponential.
    #[arg(long, default_value = "constant")]
    pub latency_dist: String,
    /// Maelstrom mode: seconds between faults (quiet and faulty stretches alternate).
    #[arg(long, default_value_t = 10.0)]
    pub nemesis_interval: f64,
    /// Maelstrom mode: the topology sent to broadcast nodes: grid, line, tree2, tree3, tree4, total.
    #[arg(long, default_value = "grid")]
    pub topology: String,
    /// Maelstrom mode: the fraction of ops that must succeed (`total` = all), else invalid.
    #[arg(long)]
    pub availability: Option<String>,
    /// Maelstrom mode: consistency models for lin-kv (linearizable, strict-serializable, sequential).
    #[arg(long, default_value = "linearizable")]
    pub consistency_models: String,
    /// Maelstrom mode: echo each node's stderr on ferrocheck's stderr.
    #[arg(long)]
    pub log_stderr: bool,
    /// Maelstrom mode: print every message sent.
    #[arg(long)]
    pub log_net_send: bool,
    /// Maelstrom mode: print every message delivered.
    #[arg(long)]
    pub log_net_recv: bool,
    /// Maelstrom mode: keys for lin-kv, kafka and the txn workloads (default 3).
    #[arg(long)]
    pub key_count: Option<usize>,
    /// Maelstrom mode: micro-ops per transaction at most (txn-rw-register, txn-list-append).
    #[arg(long, default_value_t = 4)]
    pub max_txn_length: usize,
    /// Maelstrom mode: lin-kv and the txn workloads move to a fresh key after this many writes to one.
    #[arg(long, default_value_t = 16)]
    pub max_writes_per_key: usize,
    /// Maelstrom mode: seconds a node has to answer `init`.
    #[arg(long, default_value_t = 10.0)]
    pub init_timeout: f64,
    /// Maelstrom mode: seconds after healing for the final reads to converge.
    #[arg(long, default_value_t = 5.0)]
    pub recovery: f64,
    /// Arguments for the node program (after `--`).
    #[arg(last = true)]
    pub bin_args: Vec<String>,
}

fn positive(name: &str, v: f64, zero_ok: bool) -> anyhow::Result<()> {
    if v.is_finite() && (v > 0.0 || (zero_ok && v == 0.0)) {
        Ok(())
    } else {
        Err(usage(format!(
            "{name} must be a {}number, got {v}",
            if zero_ok {
                "non-negative "
            } else {
                "positive "
            }
        )))
    }
}

/// Validates the Maelstrom-mode options of `args` into a [`Spec`].
pub fn spec(args: &TestArgs) -> anyhow::Result<Spec> {
    let m = &args.maelstrom;
    let bin = m
        .bin
        .clone()
        .ok_or_else(|| usage("Maelstrom mode needs --bin PATH"))?;
    if !bin.exists() {
        return Err(usage(format!(
            "--bin {}: no such file; give the path of your node program (e.g. ./node.py)",
            bin.display()
        )));
    }
    let workload = args.workload.clone().ok_or_else(|| {
        usage(format!(
            "a Maelstrom run needs -w WORKLOAD: one of {}",
            crate::maelstrom::workload::SECTIONS
                .iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let node_count = m.node_count.or(args.nodes).unwrap_or(5);
    if node_count == 0 {
        return Err(usage("--node-count must be at least 1"));
    }
    let concurrency = match &args.concurrency {
        Some(s) => parse_concurrency(s, node_count).map_err(usage)?,
        None => node_count,
    };
    let rate = args.rate.unwrap_or(5.0);
    positive("--rate", rate, true)?;
    positive("--time-limit", args.time_limit, false)?;
    positive("--latency", m.latency, true)?;
    positive("--nemesis-interval", m.nemesis_interval, false)?;
    positive("--init-timeout", m.init_timeout, false)?;
    positive("--recovery", m.recovery, true)?;
    let latency_dist: Dist = m.latency_dist.parse().map_err(usage)?;
    let topology: Topology = m.topology.parse().map_err(usage)?;
    let nemesis = crate::maelstrom::nemesis::parse(&args.nemesis).map_err(usage)?;
    let availability = availability(m.availability.as_deref())?;
    let consistency_models = consistency_models(&m.consistency_models)?;
    let default_timeout = (10.0 * m.latency).max(1000.0) as u64;
    let op_timeout_ms = args.op_timeout_ms.unwrap_or(default_timeout);
    if op_timeout_ms == 0 {
        return Err(usage("--op-timeout-ms must be at least 1"));
    }
    let seed = args.seed.unwrap_or_else(rand::random);
    let key_count = m.key_count.unwrap_or(3);
    if key_count == 0 {
        return Err(usage("--key-count must be at least 1"));
    }
    if m.max_txn_length == 0 || m.max_writes_per_key == 0 {
        return Err(usage(
            "--max-txn-length and --max-writes-per-key must be at least 1",
        ));
    }
    let command_line = command_line(
        args,
        &workload,
        node_count,
        concurrency,
        rate,
        key_count,
        seed,
    );
    Ok(Spec {
        workload,
        bin,
        bin_args: m.bin_args.clone(),
        node_count,
        time_limit: Duration::from_secs_f64(args.time_limit),
        rate,
        concurrency,
        latency_ms: m.latency,
        latency_dist,
        nemesis,
        nemesis_name: args.nemesis.clone(),
        nemesis_interval: Duration::from_secs_f64(m.nemesis_interval),
        topology,
        topology_name: m.topology.clone(),
        availability,
        consistency_models,
        log_stderr: m.log_stderr,
        log_net_send: m.log_net_send,
        log_net_recv: m.log_net_recv,
        key_count,
        max_txn_length: m.max_txn_length,
        max_writes_per_key: m.max_writes_per_key,
        seed,
        op_timeout: Duration::from_millis(op_timeout_ms),
        init_timeout: Duration::from_secs_f64(m.init_timeout),
        recovery: Duration::from_secs_f64(m.recovery),
        history_dir: args.history_dir.clone(),
        report_dir: args.report_dir.clone(),
        command_line,
    })
}

/// `--availability`: `total` or a fraction between 0 and 1.
fn availability(given: Option<&str>) -> anyhow::Result<Option<f64>> {
    Ok(match given {
        None => None,
        Some("total") => Some(1.0),
        Some(s) => match s.parse::<f64>() {
            Ok(f) if (0.0..=1.0).contains(&f) => Some(f),
            _ => {
                return Err(usage(format!(
                    "--availability must be `total` or a fraction between 0 and 1, got {s:?}"
                )))
            }
        },
    })
}

/// `--consistency-models`: a comma-separated list of lin-kv's models.
fn consistency_models(given: &str) -> anyhow::Result<Vec<String>> {
    let models: Vec<String> = given
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let known = crate::maelstrom::workload::lin_kv::MODELS;
    if let Some(c) = models.iter().find(|c| !known.contains(&c.as_str())) {
        return Err(usage(format!(
            "unknown consistency model {c:?}: use {}",
            known.join(", ")
        )));
    }
    Ok(models)
}

/// The command line that reproduces the run, with every choice (defaults, the seed) spelled
/// out.
fn command_line(
    args: &TestArgs,
    workload: &str,
    node_count: usize,
    concurrency: usize,
    rate: f64,
    key_count: usize,
    seed: u64,
) -> String {
    let m = &args.maelstrom;
    let mut line = format!(
        "ferrocheck test -w {workload} --bin {} --node-count {node_count} --time-limit {} --rate {rate} --concurrency {concurrency} --latency {} --latency-dist {} --nemesis {} --nemesis-interval {} --topology {} --key-count {key_count} --max-txn-length {} --max-writes-per-key {} --seed {seed}",
        m.bin.as_deref().unwrap_or(std::path::Path::new("")).display(), args.time_limit, m.latency, m.latency_dist, args.nemesis, m.nemesis_interval, m.topology, m.max_txn_length, m.max_writes_per_key
    );
    if let Some(a) = &m.availability {
        line.push_str(&format!(" --availability {a}"));
    }
    if !m.bin_args.is_empty() {
        line.push_str(&format!(" -- {}", m.bin_args.join(" ")));
    }
    line
}

/// Runs `ferrocheck test --bin ...`: the run, the report, the summary; returns the exit code.
pub fn run(args: &TestArgs) -> anyhow::Result<i32> {
    let spec = spec(args)?;
    let name = format!(
        "{}-maelstrom-{}",
        chrono::Local::now().format("%Y%m%dT%H%M%S%.3f"),
        spec.workload
    );
    let started = chrono::Local::now();
    let outcome = crate::maelstrom::runner::run(&spec, &name)?;
    let mut warnings = outcome.warnings.clone();
    let report = match write_report(&spec, &outcome, started) {
        Ok(p) => Some(p),
        Err(e) => {
            warnings.push(format!("writing the report: {e:#}"));
            None
        }
    };
    let _ = write_summary(
        &mut std::io::stdout().lock(),
        &spec,
        &outcome,
        report.as_deref(),
        &warnings,
    );
    Ok(outcome.validity().exit_code())
}

fn write_report(
    spec: &Spec,
    o: &Outcome,
    started: chrono::DateTime<chrono::Local>,
) -> anyhow::Result<PathBuf> {
    let node_logs: Vec<crate::report::NodeLog> = (0..spec.node_count)
        .map(|i| {
            let path = o.nodes_dir.join(format!("n{i}.log"));
            crate::report::NodeLog {
                node: format!("n{i}"),
                tail: crate::targets::server_process::log_tail(&path, 20),
                path: path.display().to_string(),
            }
        })
        .collect();
    let run = crate::report::RunInfo {
        name: o.name.clone(),
        target: format!("maelstrom node {}", spec.bin.display()),
        workload: spec.workload.clone(),
        nemesis: spec.nemesis_name.clone(),
        options: serde_json::json!({"run": spec, "stats": o.summary}),
        command: spec.command_line.clone(),
        start_time: started.to_rfc3339(),
        seed: spec.seed,
        history: o.history_path.clone(),
    };
    let dir = spec.report_dir.join(&o.name);
    // The message diagram: around the first anomaly, else the run's first seconds; on the
    // page and next to it as an SVG file.
    let log = std::fs::read_to_string(&o.messages_path).unwrap_or_default();
    let diagram = crate::report::message_diagram::for_run(&log, &o.history, &o.results);
    let extras = crate::report::Extras {
        message_diagram: Some(diagram.clone()),
        node_logs,
    };
    let path = crate::report::write_full(&dir, &run, &o.history, &o.results, None, &extras)?;
    std::fs::write(dir.join("messages.svg"), &diagram.svg)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", dir.join("messages.svg").display()))?;
    crate::report::write_index(&spec.report_dir)?;
    Ok(path)
}

/// Prints the end-of-run summary.
pub fn write_summary(
    out: &mut impl Write,
    spec: &Spec,
    o: &Outcome,
    report: Option<&std::path::Path>,
    warnings: &[String],
) -> std::io::Result<()> {
    writeln!(out, "run       {}", o.name)?;
    match &o.ending {
        Ending::Completed => {}
        Ending::Interrupted(why) => writeln!(
            out,
            "stopped   {why}: the history so far was kept and checked"
        )?,
        Ending::Aborted(why) => writeln!(
            out,
            "aborted   {why}\n          the history so far was kept and checked"
        )?,
    }
    let s = &o.summary;
    writeln!(
        out,
        "history   {} ({} ops)",
        o.history_path.display(),
        o.history.ops.len()
    )?;
    writeln!(
        out,
        "messages  {} ({} sent, {} between nodes, {} dropped by partitions)",
        o.messages_path.display(),
        s.net.all,
        s.net.between_nodes,
        s.net.dropped
    )?;
    writeln!(out, "node logs {}", o.nodes_dir.display())?;
    if let Some(r) = report {
        let shown = std::fs::canonicalize(r).unwrap_or_else(|_| r.to_owned());
        writeln!(out, "report    file://{}", shown.display())?;
        writeln!(
            out,
            "diagram   file://{}",
            shown.with_file_name("messages.svg").display()
        )?;
    }
    writeln!(
        out,
        "ops       {} ({} ok, {} fail, {} info): availability {:.1}%",
        s.ops,
        s.ok,
        s.fail,
        s.info,
        s.availability * 100.0
    )?;
    writeln!(
        out,
        "latency   ok ops: p50 {} ms, p95 {} ms, p99 {} ms, max {} ms",
        s.latency_ms.p50, s.latency_ms.p95, s.latency_ms.p99, s.latency_ms.max
    )?;
    writeln!(
        out,
        "net       {} messages between nodes per op ({} with clients, {} with services)",
        s.msgs_per_op, s.net.with_clients, s.net.with_services
    )?;
    for r in &o.results {
        if let Some(q) = r.stats.get("stable_latency_ms") {
            writeln!(
                out,
                "stable    a message reached every read after: p50 {} ms, p95 {} ms, max {} ms",
                q["p50"], q["p95"], q["max"]
            )?;
        }
    }
    for w in warnings {
        writeln!(out, "warning   {w}")?;
    }
    for r in &o.results {
        writeln!(
            out,
            "{}: {} — {}",
            r.checker,
            r.validity.to_string().to_uppercase(),
            r.summary.lines().next().unwrap_or("")
        )?;
        for a in r.anomalies.iter().take(3) {
            let mut lines = a.explanation.lines().peekable();
            // The summary often quotes the first anomaly's first line already.
            if lines.peek().is_some_and(|l| r.summary.contains(l)) {
                lines.next();
            }
            for line in lines {
                writeln!(out, "    {line}")?;
            }
        }
        if r.anomalies.len() > 3 {
            writeln!(
                out,
                "    ... and {} more (see the report)",
                r.anomalies.len() - 3
            )?;
        }
    }
    writeln!(out, "verdict   {}", o.validity())?;
    writeln!(out, "reproduce: {}", spec.command_line)?;
    Ok(())
}
