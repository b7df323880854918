//! The controller: one run from start to verdict.
//!
//! It builds the target and workload from a [`RunSpec`], starts the nodes, drives `concurrency`
//! client workers until the time limit while recording every event, then runs the final phase
//! (final reads), stops every node, checks the history and writes the report. Ctrl-C, SIGTERM, a
//! node that dies and an error all take the same way out: in-flight ops are recorded as `info`,
//! the nodes are stopped, and the history so far is kept and checked.

pub mod faults;
pub mod histogram;
pub mod node_reads;
mod phases;
pub mod progress;
pub mod recorder;
pub mod worker;

use crate::check::{self, CheckResult, CheckerSpec, Validity};
use crate::history::History;
use crate::nemesis::schedule::Schedule;
use crate::targets::registry::TargetEntry;
use crate::targets::{self, ClientFactory, Target, TargetOptions};
use crate::workload::{self, WorkloadEntry, WorkloadOptions};
use anyhow::Context;
use progress::Progress;
use recorder::Recorder;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Mutex};

/// The target's lifecycle, shared by the monitor (liveness, teardown) and the nemesis (kill,
/// restart); clients come from its [`ClientFactory`], without this lock.
pub type SharedTarget = Arc<Mutex<Box<dyn Target>>>;

/// Where a run is: workers start new ops only while `Running`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Ops are being generated.
    Running,
    /// No new ops; ops in flight finish (or time out).
    Stop,
    /// Abandon ops in flight (recorded as `info`).
    Abort,
}

/// Everything a run needs, validated by the CLI.
#[derive(Clone, Debug, Serialize)]
pub struct RunSpec {
    /// The target (registry entry; serialized as its name).
    #[serde(serialize_with = "target_name")]
    pub target: &'static TargetEntry,
    /// The workload (registry entry; serialized as its name).
    #[serde(serialize_with = "workload_name")]
    pub workload: &'static WorkloadEntry,
    /// Nemesis name (registry); `none` for the control run.
    pub nemesis: String,
    /// The nemesis's schedule, parsed once (`None` for `none`).
    #[serde(skip)]
    pub schedule: Option<Schedule>,
    /// How long to generate ops.
    #[serde(serialize_with = "seconds")]
    pub time_limit: Duration,
    /// How many client workers.
    pub concurrency: usize,
    /// Total ops per second over all workers (0 = unthrottled).
    pub rate: f64,
    /// Independent keys.
    pub keys: usize,
    /// Seed for the generator and everything random.
    pub seed: u64,
    /// Bound on one client call; past it the op is `info`.
    #[serde(serialize_with = "seconds")]
    pub op_timeout: Duration,
    /// Number of nodes (`None` = the target's default).
    pub nodes: Option<usize>,
    /// False: the target's nodes acknowledge changes before they are on disk.
    pub fsync: bool,
    /// First port for nodes (0 = free ports).
    pub base_port: u16,
    /// Where `histories/<run>/` go.
    pub history_dir: PathBuf,
    /// Where `reports/<run>/` go.
    pub report_dir: PathBuf,
    /// The ferrocheck binary that runs toy-store nodes.
    #[serde(skip)]
    pub node_binary: PathBuf,
    /// Draw progress on the terminal.
    #[serde(skip)]
    pub progress: bool,
    /// The command that reproduces this run.
    pub command_line: String,
    /// Options of the real-system targets (redis-server path, fencing, lock lease...).
    pub real: targets::real::RealOptions,
    /// The workload file behind `workload`, when it is one (its mix, values and checks).
    #[serde(skip)]
    pub workload_file: Option<Arc<workload::file::WorkloadFile>>,
    /// Which values the register workload writes (`--values`).
    pub values: workload::register::Values,
    /// The model of the consistency lattice whose verdict decides the exit code.
    pub consistency: check::Consistency,
}

fn target_name<S: serde::Serializer>(e: &&TargetEntry, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(e.name)
}

fn workload_name<S: serde::Serializer>(e: &&WorkloadEntry, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(e.name)
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Why the main phase ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The time limit passed (or every generator finished).
    Completed,
    /// Ctrl-C or SIGTERM.
    Interrupted(String),
    /// The run could not go on (a node died, a client could not connect...).
    Aborted(String),
}

/// What a run produced.
#[derive(Debug)]
pub struct RunOutcome {
    /// The run's name: `<time>-<target>-<workload>`.
    pub name: String,
    /// The history file.
    pub history_path: PathBuf,
    /// The HTML report, if it could be written.
    pub report_path: Option<PathBuf>,
    /// One result per check.
    pub results: Vec<CheckResult>,
    /// How the main phase ended.
    pub ending: Ending,
    /// Ops in the history.
    pub ops: usize,
    /// Problems that did not stop the run (teardown errors, report errors).
    pub warnings: Vec<String>,
    /// Why the history may not show the run as it happened (it could not all be written, the
    /// nodes' disks were full): each makes the verdict at best `unknown`.
    pub doubts: Vec<String>,
    /// How many faults the nemesis injected (partitions, pauses, kills, clock jumps, packet
    /// faults begun), or `None` when the run had no nemesis.
    pub faults: Option<usize>,
    /// Where the history stands on the consistency lattice (`None`: the lattice does not cover
    /// its workload).
    pub lattice: Option<check::lattice::Lattice>,
    /// How late throttled ops started against their schedule: (samples, p50 ns, p99 ns, max ns);
    /// `None` for an unthrottled run.
    pub lateness: Option<(u64, u64, u64, u64)>,
}

/// The fault-starting nemesis ops of `history` that took effect (heals, resumes and restarts
/// are not counted).
pub fn faults_injected(history: &crate::history::History) -> usize {
    use crate::history::{OpType, Process};
    const STARTS: &[&str] = &[
        "start-partition",
        "pause",
        "kill",
        "clock-bump",
        "clock-strobe",
        "start-packet",
    ];
    history
        .ops
        .iter()
        .filter(|o| {
            o.process == Process::Nemesis && o.kind == OpType::Ok && STARTS.contains(&o.f.as_str())
        })
        .count()
}

/// A doubt naming the ops the nodes failed for lack of disk space (a journal that hit ENOSPC),
/// if any: a store that cannot write its journal may have answered inconsistently, so the
/// verdict cannot be trusted beyond `unknown`.
pub fn disk_errors(history: &crate::history::History) -> Option<String> {
    let full = |e: &str| e.contains("os error 28") || e.contains("No space left on device");
    let mut hits = history
        .ops
        .iter()
        .filter(|o| o.error.as_deref().is_some_and(full));
    let first = hits.next()?;
    let n = 1 + hits.count();
    Some(format!(
        "the nodes ran out of disk space: {n} ops failed with it, the first at {:.3} s ({}: {})",
        first.time as f64 / 1e9,
        first.process,
        first.error.as_deref().unwrap_or_default()
    ))
}

impl RunOutcome {
    /// The merged verdict; a run that did not complete is at best `unknown`.
    pub fn validity(&self) -> Validity {
        let v = match &self.lattice {
            // Another model than linearizability decides: its rung, with the checks that are
            // not about consistency (lost updates...).
            Some(l) if l.decides != check::lattice::Rung::Linearizable => {
                let others: Vec<CheckResult> = self
                    .results
                    .iter()
                    .filter(|r| !check::lattice::is_consistency_check(&r.checker))
                    .cloned()
                    .collect();
                check::merge(&others).max(l.validity())
            }
            _ => check::merge(&self.results),
        };
        if self.ending == Ending::Completed && self.doubts.is_empty() {
            v
        } else {
            v.max(Validity::Unknown)
        }
    }
}

/// Runs one test end to end: prepares the fault environment (the clients' network namespace
/// must be entered before the async runtime starts its threads), then runs [`run_async`].
/// Errors are for runs that could not start (bad names, a target that would not come up, a
/// fault this machine cannot inject); anything after the target is up ends in a [`RunOutcome`].
pub fn run(spec: RunSpec) -> anyhow::Result<RunOutcome> {
    let workload = (spec.workload.build)(&WorkloadOptions {
        keys: spec.keys,
        seed: spec.seed,
        file: spec.workload_file.clone(),
        values: spec.values,
    });
    let name = format!(
        "{}-{}-{}",
        chrono::Local::now().format("%Y%m%dT%H%M%S%.3f"),
        spec.target.name,
        spec.workload.name
    );
    let run_dir = spec.history_dir.join(&name);
    let target_opts = |placement| TargetOptions {
        nodes: spec.nodes,
        // Absolute: servers such as redis-server change directory before opening their log.
        work_dir: std::path::absolute(run_dir.join("nodes"))
            .unwrap_or_else(|_| run_dir.join("nodes")),
        base_port: spec.base_port,
        node_binary: spec.node_binary.clone(),
        seed: spec.seed,
        placement,
        fsync: spec.fsync,
    };
    let build = |placement: Option<Arc<dyn targets::NodePlacement>>| {
        anyhow::Ok((spec.target.build)(target_opts(placement), &spec.real))
    };
    let Probe {
        nodes,
        placeable,
        fault_targets,
        known,
    } = Probe::of(&spec, build(None)?)?;
    refuse_idle_schedule(&spec)?;
    let mut faults = faults::FaultEnv::prepare(spec.schedule.clone(), &nodes, placeable)?;
    let target = build(faults.placement())?;
    let inside = faults.enter_clients()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let outcome = runtime.block_on(run_async(
        &spec,
        name,
        workload,
        target,
        &fault_targets,
        &known,
        &mut faults,
    ));
    runtime.shutdown_timeout(Duration::from_secs(5));
    drop(inside);
    drop(faults);
    outcome
}

/// What a first look at the target (no process started) tells the run.
struct Probe {
    /// The nodes to make a network for.
    nodes: Vec<String>,
    /// Whether the target can run its nodes where the run places them.
    placeable: bool,
    /// The names faults are planned against (the lock targets pause the lock holder).
    fault_targets: Vec<String>,
    /// Every name a fault may name explicitly: the fault targets, then the other nodes (a lock
    /// target's servers).
    known: Vec<String>,
}

impl Probe {
    /// Looks at `probe` (dropped before any node starts); refuses a schedule it cannot carry out.
    fn of(spec: &RunSpec, probe: Box<dyn targets::Target>) -> anyhow::Result<Probe> {
        let nodes = probe.planned_nodes();
        let fault_targets = probe.fault_targets();
        let mut known = fault_targets.clone();
        known.extend(nodes.iter().filter(|n| !fault_targets.contains(n)).cloned());
        if let Some(why) = spec
            .schedule
            .as_ref()
            .and_then(|s| probe.fault_support().refusal(s))
        {
            return Err(crate::error::unsupported(why));
        }
        Ok(Probe {
            placeable: probe.supports_placement(),
            nodes,
            fault_targets,
            known,
        })
    }
}

/// Refuses a run that would inject nothing: it must not pass for one tested under faults.
fn refuse_idle_schedule(spec: &RunSpec) -> anyhow::Result<()> {
    let Some(s) = &spec.schedule else {
        return Ok(());
    };
    match s.too_short(spec.seed, spec.time_limit) {
        Some(needs) => Err(crate::error::usage(format!(
            "--nemesis {} would inject no fault in a {} s run: its first fault starts after about {} s and lasts {} s; use --time-limit {} or more, or --nemesis none",
            spec.nemesis,
            spec.time_limit.as_secs_f64(),
            s.interval,
            s.duration,
            needs.ceil()
        ))),
        None => Ok(()),
    }
}

/// The async part of a run, inside the clients' namespace, phase by phase: setup → main →
/// heal while draining → final reads → teardown → check → report. Faults are drawn from `nodes` (the
/// target's fault targets); explicit ones may name any of `known`.
pub async fn run_async(
    spec: &RunSpec,
    name: String,
    workload: Box<dyn workload::Workload>,
    target: Box<dyn Target>,
    nodes: &[String],
    known: &[String],
    faults: &mut faults::FaultEnv,
) -> anyhow::Result<RunOutcome> {
    let mut run = phases::Run::new(spec, name, workload, target)?;
    let prepared = run.prepare_faults(faults, nodes, known).await?;
    run.start_target().await?;
    let nemesis = prepared.map(|p| run.start_nemesis(p, nodes)).transpose()?;
    let mut workers = run.start_workers();
    let ending = run.main_phase(&mut workers).await;
    // Heal while the ops in flight finish: a process paused past the time limit answers then,
    // instead of holding the drain up until its op times out.
    run.stop_workers(&ending);
    if let Some(n) = nemesis {
        run.heal(n).await?;
    }
    run.drain(workers).await;
    if ending == Ending::Completed {
        run.final_reads().await;
    }
    run.teardown().await;
    Ok(run.check_and_report(ending).await)
}

/// Runs the workload's final requests (a read of every key...) once the faults are healed.
/// They go out on up to [`FINAL_LANES`] clients at once, each taking a contiguous share, so a
/// run over thousands of keys does not end with thousands of round trips one after another.
/// Process ids start past every worker's (`1_000_000 + concurrency + lane`); a client whose
/// call ended `info` is replaced by one with a fresh id, as a worker's would be.
async fn final_phase(
    spec: &RunSpec,
    workload: &dyn workload::Workload,
    clients: &Arc<dyn ClientFactory>,
    recorder: &Arc<Recorder>,
) -> anyhow::Result<()> {
    let requests = workload.final_requests();
    if requests.is_empty() {
        return Ok(());
    }
    let lanes = FINAL_LANES.min(spec.concurrency.max(1)).min(requests.len());
    let share = requests.len().div_ceil(lanes);
    let mut requests = requests.into_iter();
    let mut tasks = tokio::task::JoinSet::new();
    for lane in 0..lanes {
        let chunk: Vec<_> = requests.by_ref().take(share).collect();
        let (clients, recorder) = (clients.clone(), recorder.clone());
        let (first, stride) = (
            1_000_000 + spec.concurrency as u64 + lane as u64,
            lanes as u64,
        );
        let op_timeout = spec.op_timeout;
        tasks.spawn(async move {
            let mut process = first;
            let mut client = clients.client(process).await?;
            let (_tx, mut phase) = watch::channel(Phase::Running);
            for req in chunk {
                let outcome = worker::call(
                    &recorder,
                    client.as_mut(),
                    process,
                    &req,
                    op_timeout,
                    &mut phase,
                )
                .await;
                if matches!(outcome, crate::targets::Outcome::Info(_)) {
                    process += stride;
                    client = clients.client(process).await?;
                }
            }
            anyhow::Ok(())
        });
    }
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        let r = joined.map_err(|e| anyhow::anyhow!("a final-read task crashed: {e}"));
        if let Err(e) = r.and_then(|r| r) {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// At most this many clients run the final reads side by side.
const FINAL_LANES: usize = 8;

/// Runs every checker on a blocking thread, with a spinner. A checker that cannot run (or
/// crashes) gives `unknown`.
pub async fn check_all(
    history: Arc<History>,
    checkers: &[CheckerSpec],
    visible: bool,
) -> Vec<CheckResult> {
    let spinner = Progress::spinner(format!("checking {} ops", history.ops.len()), visible);
    let mut out = Vec::new();
    for spec in checkers {
        // Shared, not copied: a long run's history is large.
        let h = history.clone();
        let s = spec.clone();
        let r = tokio::task::spawn_blocking(move || check::run_all(&h, &[s])).await;
        out.extend(match r {
            Ok(results) => results,
            Err(e) => vec![check::registry::could_not_run(
                spec,
                format!("the checker crashed: {e}"),
            )],
        });
    }
    spinner.finish_and_clear();
    out
}

/// SIGINT and SIGTERM as a stream of reasons.
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
        })
    }

    async fn next(&mut self) -> String {
        tokio::select! {
            _ = self.int.recv() => "interrupted (SIGINT)".into(),
            _ = self.term.recv() => "terminated (SIGTERM)".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{History, Op, OpType, Process, Value};

    fn op(time: u64, kind: OpType, error: Option<&str>) -> Op {
        Op {
            index: 0,
            time,
            process: Process::Client(3),
            kind,
            f: "write".into(),
            key: Some("k0".into()),
            value: Value::Int(1),
            error: error.map(str::to_owned),
        }
    }

    #[test]
    fn nodes_out_of_disk_space_become_a_doubt_naming_the_first() {
        let mut h = History {
            header: None,
            ops: vec![
                op(1_000_000, OpType::Invoke, None),
                op(2_000_000, OpType::Fail, Some("timed out")),
            ],
        };
        assert_eq!(disk_errors(&h), None);
        h.ops.push(op(
            1_500_000_000,
            OpType::Fail,
            Some("NOTAPPLIED cannot append to journal: No space left on device (os error 28)"),
        ));
        h.ops
            .push(op(1_600_000_000, OpType::Info, Some("os error 28")));
        let doubt = disk_errors(&h).expect("a doubt");
        assert!(doubt.contains("2 ops"), "{doubt}");
        assert!(doubt.contains("1.500 s"), "{doubt}");
    }
}
