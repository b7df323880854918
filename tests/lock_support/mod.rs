//! A small driver for lock-target tests: runs lock workers against a target, pauses the lock
//! holder with real SIGSTOP/SIGCONT, and records everything as a History.

#![allow(dead_code)]

use ferrocheck::history::{History, Op, OpType, Process, Value};
use ferrocheck::target::{Client, Outcome, Request, Target};
use ferrocheck::workload::lock::LockWorkload;
use ferrocheck::workload::{Step, Workload};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rand::SeedableRng;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// True if `binary` is on PATH; otherwise says why the test skips (and fails under CI).
pub fn have(binary: &str, install: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    if std::env::split_paths(&path).any(|d| d.join(binary).is_file()) {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{binary} not found on PATH and CI is set: {install}");
    }
    eprintln!("skipping: {binary} not found on PATH ({install})");
    false
}

/// Records ops with times on one monotonic clock.
#[derive(Clone)]
pub struct Recorder {
    start: Instant,
    ops: Arc<Mutex<Vec<Op>>>,
}

impl Recorder {
    pub fn new() -> Self {
        Recorder {
            start: Instant::now(),
            ops: Arc::new(Mutex::new(Vec::new())),
        }
    }

    pub fn record(
        &self,
        process: Process,
        kind: OpType,
        f: &str,
        value: Value,
        error: Option<String>,
    ) {
        let mut ops = self.ops.lock().unwrap();
        let index = ops.len() as u64;
        ops.push(Op {
            index,
            time: self.start.elapsed().as_nanos() as u64,
            process,
            kind,
            f: f.to_string(),
            key: None,
            value,
            error,
        });
    }

    /// Invokes `req` on `client` as `process`, recording both ends.
    pub async fn call(&self, process: u64, client: &mut dyn Client, req: &Request) -> Outcome {
        self.record(
            Process::Client(process),
            OpType::Invoke,
            &req.f,
            req.value.clone(),
            None,
        );
        let out = client.invoke(req).await;
        let (kind, value, error) = match &out {
            Outcome::Ok(v) => (OpType::Ok, v.clone(), None),
            Outcome::Fail(e) => (OpType::Fail, req.value.clone(), Some(e.clone())),
            Outcome::Info(e) => (OpType::Info, req.value.clone(), Some(e.clone())),
        };
        self.record(Process::Client(process), kind, &req.f, value, error);
        out
    }

    pub fn history(&self) -> History {
        History {
            header: None,
            ops: self.ops.lock().unwrap().clone(),
        }
    }
}

/// Runs `workers` lock workers for `run`, pausing the holder for `pause` every `every`, then a
/// final read. Returns the history and how many pauses hit a holder.
pub async fn run_lock_test(
    target: Arc<dyn Target>,
    fencing: bool,
    workers: usize,
    run: Duration,
    every: Duration,
    pause: Duration,
) -> (History, usize) {
    let rec = Recorder::new();
    let workload = LockWorkload::new(fencing);
    let deadline = Instant::now() + run;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let mut client = target.client(w as u64).await.unwrap();
        let mut gen = workload.worker(w);
        let rec = rec.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(w as u64);
            let mut process = w as u64;
            let mut last: Option<(Request, Outcome)> = None;
            while Instant::now() < deadline {
                let step = gen.next(&mut rng, last.as_ref().map(|(r, o)| (r, o)));
                let Step::Request(req) = step else { break };
                let out = rec.call(process, client.as_mut(), &req).await;
                if matches!(out, Outcome::Info(_)) {
                    process += 100; // retired: continue under a new process id
                }
                last = Some((req, out));
            }
            client
        }));
    }
    // The nemesis: stop whoever holds the lock for longer than the lease, then continue it.
    let mut hits = 0;
    while Instant::now() + every < deadline {
        tokio::time::sleep(every).await;
        let Some(holder) = target.workers().into_iter().find(|w| w.holds_lock) else {
            continue;
        };
        let pid = Pid::from_raw(holder.pid as i32);
        let who = Value::Str(format!("client {} (pid {})", holder.process, holder.pid));
        rec.record(Process::Nemesis, OpType::Info, "pause", who.clone(), None);
        kill(pid, Signal::SIGSTOP).unwrap();
        tokio::time::sleep(pause).await;
        kill(pid, Signal::SIGCONT).unwrap();
        rec.record(Process::Nemesis, OpType::Info, "resume", who, None);
        hits += 1;
    }
    let mut clients = Vec::new();
    for t in tasks {
        clients.push(t.await.unwrap());
    }
    drop(clients);
    let mut fin = target.client(999).await.unwrap();
    let req = Request {
        f: "final-read".into(),
        key: None,
        value: Value::Nil,
    };
    let out = rec.call(999, fin.as_mut(), &req).await;
    assert!(matches!(out, Outcome::Ok(_)), "final read failed: {out:?}");
    (rec.history(), hits)
}
