//! The Maelstrom run loop, on one thread: it starts the nodes, sends each `init`, runs the
//! workload's setup (broadcast's `topology`), then drives the clients until the time limit
//! while the nemesis plan plays out, heals, makes the final reads, stops the nodes and checks.
//!
//! Everything happens in [`Run::pump`]: wait (briefly) for a node's line, deliver the messages
//! that are due, let the services' time pass, and time out requests nobody answered. A node's
//! fatal misbehaviour (a crash, a line that is not JSON, an unanswered `init`) or Ctrl-C ends
//! the run early by the same way out: in-flight ops are recorded `info`, the nodes are stopped,
//! and the history so far is checked.

use super::nemesis::{self, Action};
use super::net::{Endpoint, Net};
use super::node::{Event, Nodes, Program};
use super::problems::Problems;
use super::protocol::{LineError, Message};
use super::services::Services;
use super::workload::{Call, Completion, Workload};
use crate::check::{CheckResult, Validity};
use crate::controller::recorder::Recorder;
use crate::controller::Ending;
use crate::history::{Header, History, OpType, Process, Value};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value as Json};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

pub use super::spec::Spec;

mod routing;

/// What a Maelstrom run produced.
#[derive(Debug)]
pub struct Outcome {
    /// The run's folder name.
    pub name: String,
    /// The history.
    pub history: History,
    /// Where it is.
    pub history_path: std::path::PathBuf,
    /// Every message, one JSON object per line.
    pub messages_path: std::path::PathBuf,
    /// The node logs' folder.
    pub nodes_dir: std::path::PathBuf,
    /// Each check's result (the workload's, the protocol's, availability).
    pub results: Vec<CheckResult>,
    /// How the main phase ended.
    pub ending: Ending,
    /// Figures for the summary.
    pub summary: super::stats::Summary,
    /// Problems that did not stop the run.
    pub warnings: Vec<String>,
}

impl Outcome {
    /// The merged verdict; a run that did not complete is at best `unknown`.
    pub fn validity(&self) -> Validity {
        let v = crate::check::merge(&self.results);
        if self.ending == Ending::Completed {
            v
        } else {
            v.max(Validity::Unknown)
        }
    }
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
}

/// First process id of the final-phase clients (no worker reaches it).
const FINAL_PROCESS: u64 = 1_000_000;

enum Purpose {
    Init(usize),
    Setup,
    Op {
        worker: Option<usize>,
        process: u64,
        call: Call,
    },
}

struct Pending {
    msg_id: u64,
    node: usize,
    sent_at: u64,
    purpose: Purpose,
}

struct Client {
    next_msg_id: u64,
    sent: HashSet<u64>,
    pending: Option<Pending>,
}

struct Worker {
    cid: String,
    process: u64,
    node: usize,
    next_at: u64,
}

#[derive(Default, Clone)]
struct Load {
    requests: u64,
    answered: u64,
    last_answer: Option<u64>,
    unanswered_since: u64,
}

enum Stop {
    Fatal(String),
    Interrupted(String),
}

struct Run<'a> {
    spec: &'a Spec,
    recorder: Recorder,
    header: Header,
    net: Net,
    nodes: Nodes,
    services: Services,
    workload: Box<dyn Workload>,
    events: mpsc::Receiver<Event>,
    clients: HashMap<String, Client>,
    next_client: u64,
    workers: Vec<Worker>,
    rng: StdRng,
    problems: Problems,
    ids: Vec<String>,
    inited: Vec<bool>,
    down: Vec<bool>,
    load: Vec<Load>,
    fatal: Option<String>,
    warnings: Vec<String>,
    next_final_process: u64,
}

fn secs(ns: u64) -> String {
    format!("{:.2} s", ns as f64 / 1e9)
}

/// Runs one Maelstrom test end to end. Errors are for runs that could not start (the program
/// cannot be started, the history cannot be created); anything after that ends in an
/// [`Outcome`].
pub fn run(spec: &Spec, name: &str) -> anyhow::Result<Outcome> {
    install_signal_handlers();
    INTERRUPTED.store(false, Ordering::SeqCst);
    let run_dir = spec.history_dir.join(name);
    let opts = super::workload::WorkloadOptions {
        key_count: spec.key_count,
        max_writes_per_key: spec.max_writes_per_key,
        max_txn_length: spec.max_txn_length,
        consistency_models: spec.consistency_models.clone(),
        node_count: spec.node_count,
        topology: spec.topology,
    };
    let workload = super::workload::by_name(&spec.workload, &opts)?;
    let header = Header {
        version: 1,
        workload: Some(spec.workload.clone()),
        model: workload.model().map(str::to_owned),
        run: Some(serde_json::to_value(spec).unwrap_or_default()),
        checkers: workload.checkers(),
    };
    let recorder = Recorder::create(&run_dir.join("history.jsonl"), &header)?;
    let mut seed_rng = StdRng::seed_from_u64(spec.seed);
    let net = Net::new(
        spec.latency_ms,
        spec.latency_dist,
        StdRng::seed_from_u64(seed_rng.gen()),
        &run_dir.join("messages.jsonl"),
        spec.log_net_send,
        spec.log_net_recv,
    )?;
    let (tx, events) = mpsc::channel();
    let program = Program {
        bin: spec.bin.clone(),
        args: spec.bin_args.clone(),
        log_dir: run_dir.join("nodes"),
        log_stderr: spec.log_stderr,
    };
    let nodes = Nodes::new(program, spec.node_count, tx)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", run_dir.join("nodes").display()))?;
    let n = spec.node_count;
    let mut run = Run {
        spec,
        recorder,
        header,
        net,
        nodes,
        services: Services::new(StdRng::seed_from_u64(seed_rng.gen())),
        workload,
        events,
        clients: HashMap::new(),
        next_client: 0,
        workers: Vec::new(),
        rng: StdRng::seed_from_u64(seed_rng.gen()),
        problems: Problems::default(),
        ids: (0..n).map(|i| format!("n{i}")).collect(),
        inited: vec![false; n],
        down: vec![false; n],
        load: vec![Load::default(); n],
        fatal: None,
        warnings: Vec::new(),
        next_final_process: FINAL_PROCESS,
    };
    for i in 0..n {
        if let Err(e) = run.nodes.start(i) {
            run.nodes.stop_all(Duration::from_millis(200));
            return Err(e);
        }
    }
    let ending = match run.phases() {
        Ok(()) => Ending::Completed,
        Err(Stop::Fatal(why)) => Ending::Aborted(why),
        Err(Stop::Interrupted(why)) => Ending::Interrupted(why),
    };
    run.abandon_pending(match &ending {
        Ending::Completed => "the run ended before a reply came",
        _ => "the run was aborted before a reply came",
    });
    run.nodes.stop_all(Duration::from_secs(1));
    run.finish(name, ending, &run_dir)
}

impl Run<'_> {
    fn now(&self) -> u64 {
        self.recorder.now()
    }

    fn phases(&mut self) -> Result<(), Stop> {
        for i in 0..self.ids.len() {
            self.send_init(i);
        }
        while self.inited.iter().any(|d| !d) {
            self.pump()?;
        }
        let setup = self.workload.setup(&self.ids);
        for (node, call) in setup {
            let cid = self.new_client();
            self.request(&cid, node, call.rpc.name, call.body.clone(), Purpose::Setup);
        }
        while self.clients.values().any(|c| {
            matches!(
                c.pending,
                Some(Pending {
                    purpose: Purpose::Setup,
                    ..
                })
            )
        }) {
            self.pump()?;
        }
        self.main_phase()?;
        self.drain()?;
        self.final_phase()?;
        self.note_unresponsive();
        Ok(())
    }

    fn main_phase(&mut self) -> Result<(), Stop> {
        let start = self.now();
        let limit = self.spec.time_limit.as_nanos() as u64;
        let deadline = start + limit;
        let plan = nemesis::plan(
            &self.spec.nemesis,
            self.ids.len(),
            self.spec.nemesis_interval.as_nanos() as u64,
            limit,
            &mut self.rng,
        );
        let mut plan = plan.into_iter().map(|(t, a)| (t + start, a)).peekable();
        let mut active: Option<Action> = None;
        for w in 0..self.spec.concurrency {
            let node = w % self.ids.len();
            let cid = self.new_client();
            let next_at = start + self.delay();
            self.workers.push(Worker {
                cid,
                process: w as u64,
                node,
                next_at,
            });
        }
        let result = loop {
            if let Err(stop) = self.pump() {
                break Err(stop);
            }
            let now = self.now();
            if now >= deadline {
                break Ok(());
            }
            while let Some((_, action)) = plan.next_if(|(t, _)| *t <= now) {
                active = action.undo().map(|_| action.clone());
                self.apply(&action);
            }
            for w in 0..self.workers.len() {
                let wk = &self.workers[w];
                let idle = self
                    .clients
                    .get(&wk.cid)
                    .is_some_and(|c| c.pending.is_none());
                if idle && wk.next_at <= now {
                    self.start_op(w);
                }
            }
        };
        if let Some(undo) = active.and_then(|a| a.undo()) {
            self.apply(&undo);
        }
        result
    }

    /// Waits (at most one op timeout) for the ops in flight to end.
    fn drain(&mut self) -> Result<(), Stop> {
        let until = self.now() + self.spec.op_timeout.as_nanos() as u64 + 50_000_000;
        while self.now() < until
            && self.workers.iter().any(|w| {
                self.clients
                    .get(&w.cid)
                    .is_some_and(|c| c.pending.is_some())
            })
        {
            self.pump()?;
        }
        Ok(())
    }

    fn final_phase(&mut self) -> Result<(), Stop> {
        let deadline = self.now() + self.spec.recovery.as_nanos() as u64;
        for round in 0.. {
            let (history, _) = self.recorder.snapshot(self.header.clone());
            let calls = self.workload.final_calls(round, &history);
            if calls.is_empty() {
                break;
            }
            let mut cids = Vec::new();
            for (node, call) in calls {
                let process = self.next_final_process;
                self.next_final_process += 1;
                cids.push(self.invoke(None, process, node, call));
            }
            // A round started before the deadline gets its answers (or its timeouts).
            let round_end = self.now() + self.spec.op_timeout.as_nanos() as u64 + 50_000_000;
            while self.now() < round_end
                && cids
                    .iter()
                    .any(|c| self.clients.get(c).is_some_and(|c| c.pending.is_some()))
            {
                self.pump()?;
            }
            if self.now() >= deadline {
                break;
            }
            let pause = self.now() + 200_000_000;
            while self.now() < pause.min(deadline) {
                self.pump()?;
            }
        }
        Ok(())
    }

    fn delay(&mut self) -> u64 {
        if self.spec.rate <= 0.0 {
            return 0;
        }
        let mean = self.spec.concurrency as f64 / self.spec.rate * 1e9;
        let u: f64 = self.rng.gen_range(f64::EPSILON..1.0);
        (-u.ln() * mean) as u64
    }

    fn new_client(&mut self) -> String {
        let cid = format!("c{}", self.next_client);
        self.next_client += 1;
        self.clients.insert(
            cid.clone(),
            Client {
                next_msg_id: 1,
                sent: HashSet::new(),
                pending: None,
            },
        );
        cid
    }

    fn send_init(&mut self, node: usize) {
        let cid = self.new_client();
        let body = super::workload::body([
            ("node_id", self.ids[node].clone().into()),
            ("node_ids", serde_json::json!(self.ids)),
        ]);
        self.inited[node] = false;
        self.request(&cid, node, "init", body, Purpose::Init(node));
    }

    fn request(
        &mut self,
        cid: &str,
        node: usize,
        kind: &str,
        mut body: Map<String, Json>,
        purpose: Purpose,
    ) {
        let now = self.now();
        let Some(client) = self.clients.get_mut(cid) else {
            return;
        };
        let msg_id = client.next_msg_id;
        client.next_msg_id += 1;
        client.sent.insert(msg_id);
        body.insert("type".into(), kind.into());
        body.insert("msg_id".into(), msg_id.into());
        client.pending = Some(Pending {
            msg_id,
            node,
            sent_at: now,
            purpose,
        });
        let msg = Message {
            src: cid.to_owned(),
            dest: self.ids[node].clone(),
            body,
        };
        self.net
            .send(now, msg, Endpoint::Client, Endpoint::Node(node));
    }

    /// Records the invoke of `call` and sends it to `node` from a fresh client; returns the client.
    fn invoke(&mut self, worker: Option<usize>, process: u64, node: usize, call: Call) -> String {
        let cid = match worker {
            Some(w) => self.workers[w].cid.clone(),
            None => self.new_client(),
        };
        self.recorder.record(
            Process::Client(process),
            OpType::Invoke,
            &call.f,
            call.key.as_deref(),
            call.value.clone(),
            None,
        );
        self.load[node].requests += 1;
        let (kind, body) = (call.rpc.name, call.body.clone());
        self.request(
            &cid,
            node,
            kind,
            body,
            Purpose::Op {
                worker,
                process,
                call,
            },
        );
        cid
    }

    fn start_op(&mut self, w: usize) {
        let (node, process) = (self.workers[w].node, self.workers[w].process);
        let call = self.workload.next(w, node, &mut self.rng);
        self.invoke(Some(w), process, node, call);
    }

    fn finish_op(
        &mut self,
        worker: Option<usize>,
        process: u64,
        call: &Call,
        completion: Completion,
    ) {
        let p = Process::Client(process);
        let (kind, value, error) = match completion {
            Completion::Ok(v) => (OpType::Ok, v, None),
            Completion::Fail(e) => (OpType::Fail, call.value.clone(), Some(e)),
            Completion::Info(e) => (OpType::Info, call.value.clone(), Some(e)),
        };
        self.recorder
            .record(p, kind, &call.f, call.key.as_deref(), value, error);
        if let Some(w) = worker {
            if kind == OpType::Info {
                // Jepsen's rule: a process whose op is unknown is retired.
                self.workers[w].process += self.spec.concurrency as u64;
                self.workers[w].cid = self.new_client();
            }
            self.workers[w].next_at = self.now() + self.delay();
        }
    }

    /// One turn of the loop.
    fn pump(&mut self) -> Result<(), Stop> {
        let now = self.now();
        let wait = self
            .net
            .next_due()
            .map(|t| t.saturating_sub(now))
            .unwrap_or(u64::MAX)
            .min(2_000_000);
        if let Ok(ev) = self.events.recv_timeout(Duration::from_nanos(wait)) {
            self.on_event(ev);
            while let Ok(ev) = self.events.try_recv() {
                self.on_event(ev);
            }
        }
        let now = self.now();
        while let Some(m) = self.net.pop_due(now) {
            self.deliver(m);
        }
        self.services.tick(now);
        self.time_out(now);
        if INTERRUPTED.load(Ordering::SeqCst) {
            return Err(Stop::Interrupted("interrupted (SIGINT or SIGTERM)".into()));
        }
        match self.fatal.take() {
            Some(why) => Err(Stop::Fatal(why)),
            None => Ok(()),
        }
    }

    fn fail_fatally(&mut self, kind: &'static str, node: usize, why: String) {
        self.problems
            .add(kind, Some(node), Validity::Invalid, why.clone());
        self.fatal.get_or_insert(why);
    }

    fn apply(&mut self, action: &Action) {
        let names =
            |ns: &[usize]| Value::List(ns.iter().map(|i| Value::Str(format!("n{i}"))).collect());
        let (f, value) = match action {
            Action::Partition(groups) => {
                self.net.partition(groups);
                (
                    "start-partition",
                    Value::List(groups.iter().map(|g| names(g)).collect()),
                )
            }
            Action::Heal => {
                self.net.partition(&[]);
                ("stop-partition", Value::Nil)
            }
            Action::Pause(ns) => {
                ns.iter().for_each(|&i| self.nodes.pause(i, true));
                ("pause", names(ns))
            }
            Action::Resume(ns) => {
                ns.iter().for_each(|&i| self.nodes.pause(i, false));
                ("resume", names(ns))
            }
            Action::Kill(ns) => {
                for &i in ns {
                    self.down[i] = true;
                    self.nodes.kill(i);
                }
                ("kill", names(ns))
            }
            Action::Restart(ns) => {
                for &i in ns {
                    match self.nodes.start(i) {
                        Ok(()) => {
                            self.down[i] = false;
                            self.send_init(i);
                        }
                        Err(e) => {
                            let why = format!("{} could not be restarted: {e:#}", self.ids[i]);
                            self.fatal.get_or_insert(why);
                        }
                    }
                }
                ("start", names(ns))
            }
        };
        self.recorder
            .record(Process::Nemesis, OpType::Info, f, None, value, None);
    }

    fn abandon_pending(&mut self, why: &str) {
        let cids: Vec<String> = self.clients.keys().cloned().collect();
        for cid in cids {
            let Some(p) = self.clients.get_mut(&cid).and_then(|c| c.pending.take()) else {
                continue;
            };
            if let Purpose::Op {
                worker,
                process,
                call,
            } = p.purpose
            {
                self.finish_op(worker, process, &call, Completion::Info(why.into()));
            }
        }
    }

    /// Notes nodes that stopped answering (a run that otherwise looks fine but learned little).
    fn note_unresponsive(&mut self) {
        for (i, l) in self.load.clone().iter().enumerate() {
            let id = &self.ids[i];
            if l.requests >= 3 && l.answered == 0 {
                self.problems.add("unresponsive", Some(i), Validity::Unknown, format!(
                    "{id} answered none of the {} client requests sent to it: it may be stuck (a blocking call, a deadlock) or not flushing stdout after each message",
                    l.requests));
            } else if l.unanswered_since >= 5 {
                self.problems.add("unresponsive", Some(i), Validity::Unknown, format!(
                    "{id} stopped answering at {}: the {} client requests sent to it after that all timed out",
                    secs(l.last_answer.unwrap_or(0)), l.unanswered_since));
            }
        }
    }

    fn finish(
        mut self,
        name: &str,
        ending: Ending,
        run_dir: &std::path::Path,
    ) -> anyhow::Result<Outcome> {
        if let Some(e) = self.net.finish() {
            self.warnings.push(e);
        }
        let (history, write_error) = self.recorder.snapshot(self.header.clone());
        self.warnings.extend(write_error);
        let mut results = crate::check::run_all(&history, &self.header.checkers);
        let nodes = &self.nodes;
        results.push(self.problems.result(&self.ids, |i| nodes.log_tail(i, 12)));
        let summary = super::stats::summarize(&history, &self.net.stats);
        if let Some(required) = self.spec.availability {
            results.push(super::stats::availability_check(&summary, required));
        }
        Ok(Outcome {
            name: name.to_owned(),
            history,
            history_path: self.recorder.path().to_owned(),
            messages_path: run_dir.join("messages.jsonl"),
            nodes_dir: run_dir.join("nodes"),
            results,
            ending,
            summary,
            warnings: self.warnings,
        })
    }
}
