//! The phases of one run, in order: [`Run::new`] (history file, signals), fault preparation
//! (proxies, nemesis, plan), [`Run::start_target`], the main phase (workers and the nemesis
//! thread under the watch of the clock, the signals and the nodes), stop the workers, heal while they drain, final reads,
//! teardown, and check + report. Each phase is one method, so the order reads in
//! [`super::run_async`].

use super::faults::{self, FaultEnv, NemesisThread, TargetNodes};
use super::progress::Progress;
use super::recorder::Recorder;
use super::{check_all, final_phase, worker, Ending, Phase, RunOutcome, RunSpec, SharedTarget};
use super::{Signals, Target};
use crate::history::Header;
use crate::nemesis::schedule::Planned;
use crate::nemesis::{Composed, HealGuard};
use crate::report::{self, RunInfo};
use crate::targets::ClientFactory;
use crate::workload::Workload;
use anyhow::Context;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The nemesis of a run, built and planned, not started yet.
pub struct PreparedNemesis {
    nemesis: HealGuard<Composed>,
    plan: Vec<Planned>,
}

/// Everything the phases of one run share.
pub struct Run<'a> {
    spec: &'a RunSpec,
    name: String,
    workload: Box<dyn Workload>,
    target: SharedTarget,
    /// Opens clients without the target's lock; set once the target is up.
    clients: Option<Arc<dyn ClientFactory>>,
    header: Header,
    started: chrono::DateTime<chrono::Local>,
    recorder: Arc<Recorder>,
    signals: Signals,
    phase_tx: watch::Sender<Phase>,
    phase_rx: watch::Receiver<Phase>,
    down: Arc<Mutex<BTreeSet<String>>>,
    target_nodes: Arc<TargetNodes>,
    progress: Option<Progress>,
    deadline: tokio::time::Instant,
    warnings: Vec<String>,
}

impl<'a> Run<'a> {
    /// Creates the history file (with its header) and installs the signal handlers.
    pub fn new(
        spec: &'a RunSpec,
        name: String,
        workload: Box<dyn Workload>,
        target: Box<dyn Target>,
    ) -> anyhow::Result<Run<'a>> {
        let run_dir = spec.history_dir.join(&name);
        let header = Header {
            version: 1,
            workload: Some(workload.name().to_owned()),
            model: Some(workload.model().to_owned()),
            run: Some(serde_json::to_value(spec).context("serializing the run's options")?),
            checkers: crate::check::specs_for_workload(workload.model(), &workload.checks()),
        };
        let recorder = Arc::new(Recorder::create(&run_dir.join("history.jsonl"), &header)?);
        let target: SharedTarget = Arc::new(tokio::sync::Mutex::new(target));
        let (phase_tx, phase_rx) = watch::channel(Phase::Running);
        let down = Arc::new(Mutex::new(BTreeSet::new()));
        let target_nodes = Arc::new(TargetNodes {
            target: target.clone(),
            handle: tokio::runtime::Handle::current(),
            down: down.clone(),
        });
        Ok(Run {
            spec,
            name,
            workload,
            target,
            clients: None,
            header,
            started: chrono::Local::now(),
            recorder,
            signals: Signals::new()?,
            phase_tx,
            phase_rx,
            down,
            target_nodes,
            progress: None,
            deadline: tokio::time::Instant::now() + spec.time_limit,
            warnings: Vec::new(),
        })
    }

    /// Starts the proxies, builds the nemesis and plans its faults over `nodes` (explicit ones
    /// may name any of `known`). A nemesis this run cannot carry out is refused here, before any
    /// node starts.
    pub async fn prepare_faults(
        &mut self,
        faults: &mut FaultEnv,
        nodes: &[String],
        known: &[String],
    ) -> anyhow::Result<Option<PreparedNemesis>> {
        let spec = self.spec;
        faults.start_proxies(spec.seed).await?;
        let nemesis = faults
            .nemesis(self.target_nodes.clone())
            .map_err(|e| crate::error::unsupported(format!("nemesis {}: {e:#}", spec.nemesis)))?;
        let plan = match &faults.schedule {
            Some(s) => s.plan_with(nodes, known, spec.seed, spec.time_limit)?,
            None => Vec::new(),
        };
        self.warnings.extend(faults.notes.iter().cloned());
        Ok(nemesis.map(|nemesis| PreparedNemesis { nemesis, plan }))
    }

    /// Starts the nodes and takes the target's client factory; Ctrl-C while they come up still
    /// stops them.
    pub async fn start_target(&mut self) -> anyhow::Result<()> {
        let target = self.target.clone();
        let setup = tokio::select! {
            r = async {
                let mut t = target.lock().await;
                t.setup().await?;
                t.clients()
            } => r,
            why = self.signals.next() => Err(anyhow::anyhow!("{why} while the target was starting")),
        };
        let setup = setup.map(|clients| self.clients = Some(clients));
        if let Err(e) = setup {
            let _ = self.target.lock().await.teardown().await;
            return Err(e.context(format!("target {} did not start", self.spec.target.name)));
        }
        self.progress = Some(Progress::new(self.spec.time_limit, self.spec.progress));
        self.deadline = tokio::time::Instant::now() + self.spec.time_limit;
        Ok(())
    }

    /// Starts the nemesis thread walking its plan against the fault targets `nodes`.
    pub fn start_nemesis(
        &self,
        prepared: PreparedNemesis,
        nodes: &[String],
    ) -> anyhow::Result<NemesisThread> {
        NemesisThread::start(
            prepared.nemesis,
            prepared.plan,
            self.recorder.clone(),
            std::time::Instant::now(),
            self.down.clone(),
            self.target_nodes.clone(),
            nodes.to_vec(),
        )
    }

    /// Starts `concurrency` client workers, each with its own seeded generator.
    /// Without a started target, the one task fails and the main phase ends the run.
    pub fn start_workers(&self) -> JoinSet<anyhow::Result<()>> {
        let spec = self.spec;
        let mut workers = JoinSet::new();
        let clients = match self.clients() {
            Ok(c) => c,
            Err(e) => {
                workers.spawn(async move { Err(e) });
                return workers;
            }
        };
        let mean_delay = if spec.rate > 0.0 {
            // A tiny rate would overflow a duration: no worker waits longer than the run.
            Duration::try_from_secs_f64(spec.concurrency as f64 / spec.rate)
                .map_or(spec.time_limit, |d| d.min(spec.time_limit))
        } else {
            Duration::ZERO
        };
        for w in 0..spec.concurrency {
            let ctx = worker::WorkerCtx {
                worker: w,
                concurrency: spec.concurrency,
                recorder: self.recorder.clone(),
                clients: clients.clone(),
                mean_delay,
                op_timeout: spec.op_timeout,
                deadline: self.deadline,
                origin: self
                    .deadline
                    .checked_sub(spec.time_limit)
                    .unwrap_or_else(tokio::time::Instant::now),
                phase: self.phase_rx.clone(),
            };
            let rng =
                StdRng::seed_from_u64(spec.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ w as u64);
            workers.spawn(worker::run(ctx, self.workload.worker(w), rng));
        }
        workers
    }

    /// The target's client factory, once [`start_target`](Self::start_target) set it.
    fn clients(&self) -> anyhow::Result<Arc<dyn ClientFactory>> {
        self.clients
            .clone()
            .ok_or_else(|| anyhow::anyhow!("the target has not been started"))
    }

    fn progress(&self, phase: &str) {
        if let Some(p) = &self.progress {
            p.update(&self.recorder, phase);
        }
    }

    /// The main phase: watch the clock, the signals, the nodes and the workers until the time
    /// limit, a signal, a crashed node or a failed worker.
    pub async fn main_phase(&mut self, workers: &mut JoinSet<anyhow::Result<()>>) -> Ending {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    self.progress("running");
                    if let Some(e) = self.recorder.write_error() {
                        return Ending::Aborted(format!(
                            "the history cannot be written ({e}); the run stopped, as what it did next could not be checked"
                        ));
                    }
                    let exited = self.target.lock().await.exited();
                    let down = faults::lock(&self.down).clone();
                    if let Some((node, why)) = exited.into_iter().find(|(n, _)| !down.contains(n)) {
                        return Ending::Aborted(format!("node {node} crashed: {why}"));
                    }
                }
                _ = tokio::time::sleep_until(self.deadline) => return Ending::Completed,
                why = self.signals.next() => return Ending::Interrupted(why),
                joined = workers.join_next() => match joined {
                    None => return Ending::Completed,
                    Some(Ok(Ok(()))) => {}
                    Some(Ok(Err(e))) => return Ending::Aborted(format!("a client failed: {e:#}")),
                    Some(Err(e)) => return Ending::Aborted(format!("a client task crashed: {e}")),
                },
            }
        }
    }

    /// Stops new ops: ops in flight end within the op timeout (or at once on abort), then each
    /// worker finishes what it must (a lock holder releases).
    pub fn stop_workers(&self, ending: &Ending) {
        let _ = self.phase_tx.send(if *ending == Ending::Completed {
            Phase::Stop
        } else {
            Phase::Abort
        });
    }

    /// Waits for the workers told to stop by [`stop_workers`](Self::stop_workers): within two op
    /// timeouts (the op in flight, then a finishing one), else they are abandoned.
    pub async fn drain(&self, mut workers: JoinSet<anyhow::Result<()>>) {
        let drain =
            tokio::time::timeout(2 * self.spec.op_timeout + Duration::from_secs(2), async {
                while workers.join_next().await.is_some() {}
            });
        if drain.await.is_err() {
            workers.abort_all();
        }
    }

    /// Stops the nemesis and heals every fault.
    pub async fn heal(&mut self, nemesis: NemesisThread) -> anyhow::Result<()> {
        self.progress("healing");
        let warnings = tokio::task::spawn_blocking(move || nemesis.stop_and_heal()).await?;
        self.warnings.extend(warnings);
        Ok(())
    }

    /// Lets the target recover and replicate, then runs the workload's final reads, so that they
    /// show what the store finally kept (the lost-updates check relies on it).
    pub async fn final_reads(&mut self) {
        self.progress("recovering");
        tokio::time::sleep(faults::RECOVERY).await;
        self.progress("final reads");
        let clients = match self.clients() {
            Ok(c) => c,
            Err(e) => return self.warnings.push(format!("final reads: {e:#}")),
        };
        if let Err(e) = final_phase(self.spec, &*self.workload, &clients, &self.recorder).await {
            self.warnings.push(format!("final reads: {e:#}"));
        }
        self.progress("reading every node");
        let nodes: Vec<String> = self
            .target
            .lock()
            .await
            .nodes()
            .into_iter()
            .map(|n| n.name)
            .collect();
        let per_node = super::node_reads::read_every_node(
            self.spec,
            &*self.workload,
            &nodes,
            &clients,
            &self.recorder,
        );
        if let Err(e) = per_node.await {
            self.warnings.push(format!("per-node final reads: {e:#}"));
        }
    }

    /// Stops every node.
    pub async fn teardown(&mut self) {
        if let Some(p) = self.progress.take() {
            p.finish();
        }
        if let Err(e) = self.target.lock().await.teardown().await {
            self.warnings.push(format!("stopping the nodes: {e:#}"));
        }
    }

    /// Checks the history and writes the report; problems become warnings of the outcome.
    pub async fn check_and_report(mut self, ending: Ending) -> RunOutcome {
        let spec = self.spec;
        let (history, write_error) = self.recorder.snapshot(self.header.clone());
        let mut doubts = Vec::new();
        if let Some(e) = write_error {
            doubts.push(format!(
                "the history is incomplete: {e}; only the events written before it are checked"
            ));
        }
        doubts.extend(super::disk_errors(&history));
        let history = Arc::new(history);
        let checkers = with_budget(&self.header.checkers, spec.time_limit);
        let results = check_all(history.clone(), &checkers, spec.progress).await;
        let lattice = place_on_lattice(&history, &results, spec).await;
        let run_info = RunInfo {
            name: self.name.clone(),
            target: spec.target.name.to_owned(),
            workload: spec.workload.name.to_owned(),
            nemesis: spec.nemesis.clone(),
            options: serde_json::to_value(spec).unwrap_or_default(),
            command: spec.command_line.clone(),
            start_time: self.started.to_rfc3339(),
            seed: spec.seed,
            history: self.recorder.path().to_owned(),
        };
        let report_path = match report::write_with_lattice(
            &spec.report_dir.join(&self.name),
            &run_info,
            &history,
            &results,
            lattice.as_ref(),
        )
        .and_then(|p| report::write_index(&spec.report_dir).map(|_| p))
        {
            Ok(p) => Some(p),
            Err(e) => {
                self.warnings.push(format!("writing the report: {e:#}"));
                None
            }
        };
        RunOutcome {
            name: self.name,
            history_path: self.recorder.path().to_owned(),
            report_path,
            results,
            ending,
            ops: history.ops.len(),
            warnings: self.warnings,
            doubts,
            faults: spec
                .schedule
                .as_ref()
                .map(|_| super::faults_injected(&history)),
            lattice,
            lateness: (self.recorder.lateness.count() > 0).then(|| {
                let l = &self.recorder.lateness;
                (l.count(), l.quantile(0.5), l.quantile(0.99), l.max())
            }),
        }
    }
}

/// Places the run's history on the consistency lattice, on a blocking thread (the searched
/// rungs have a time budget each).
async fn place_on_lattice(
    history: &crate::history::History,
    results: &[crate::check::CheckResult],
    spec: &RunSpec,
) -> Option<crate::check::lattice::Lattice> {
    use crate::check::lattice::{self, Rung};
    let (h, known) = (history.clone(), results.to_vec());
    let decides = Rung::of(spec.consistency);
    tokio::task::spawn_blocking(move || {
        let initial = crate::history::Value::Nil;
        lattice::for_history(&h, None, &initial, &known, decides, lattice::DEFAULT_BUDGET)
    })
    .await
    .ok()
    .flatten()
}
/// The checkers of a run, each search given a time budget if it has none: as long as the run
/// itself, at least [`MIN_CHECK_BUDGET`]. Past it a search says `unknown` rather than keep a long
/// run from ever reporting. (The history header keeps no budget: `ferrocheck check` may take as
/// long as it needs.)
fn with_budget(
    checkers: &[crate::history::CheckerSpec],
    run: Duration,
) -> Vec<crate::history::CheckerSpec> {
    let budget = run.max(MIN_CHECK_BUDGET).as_secs_f64();
    checkers
        .iter()
        .cloned()
        .map(|mut c| {
            if matches!(c.name.as_str(), "linearizable" | "sequential") {
                c.options
                    .entry("time_limit")
                    .or_insert_with(|| serde_json::json!(budget));
            }
            c
        })
        .collect()
}

/// The least time a run's checkers get before a search gives up with `unknown`.
const MIN_CHECK_BUDGET: Duration = Duration::from_secs(60);
