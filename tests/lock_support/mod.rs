//! A small driver for lock-target tests: runs lock workers against a target, pauses the lock
//! holder with real SIGSTOP/SIGCONT, and records everything as a History.

#![allow(dead_code)]

use ferrocheck::history::{History, Op, OpType, Process, Value};
use ferrocheck::targets::lock::{LockTarget, WorkerInfo};
use ferrocheck::targets::{Client, Outcome, Request};
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

    /// Invokes `req` on `client` as `process` within `timeout` (past it: `info`), recording both
    /// ends, as the controller does.
    pub async fn call(
        &self,
        process: u64,
        client: &mut dyn Client,
        req: &Request,
        timeout: Duration,
    ) -> Outcome {
        self.record(
            Process::Client(process),
            OpType::Invoke,
            &req.f,
            req.value.clone(),
            None,
        );
        let out = match tokio::time::timeout(timeout, client.invoke(req)).await {
            Ok(o) => o,
            Err(_) => Outcome::Info(format!("timed out after {timeout:?}")),
        };
        let (kind, value, error) = match &out {
            Outcome::Ok(v) => (OpType::Ok, v.clone(), None),
            Outcome::Fail(e) => (OpType::Fail, req.value.clone(), Some(e.to_string())),
            Outcome::Info(e) => (OpType::Info, req.value.clone(), Some(e.clone())),
        };
        self.record(Process::Client(process), kind, &req.f, value, error);
        out
    }

    /// Whether `process`'s latest op is the invocation of a write.
    pub fn last_is_write_invoke(&self, process: u64) -> bool {
        let ops = self.ops.lock().unwrap();
        ops.iter()
            .rev()
            .find(|o| o.process == Process::Client(process))
            .is_some_and(|o| o.f == "write" && o.kind == OpType::Invoke)
    }

    pub fn history(&self) -> History {
        History {
            header: None,
            ops: self.ops.lock().unwrap().clone(),
        }
    }
}

/// How a lock test runs.
pub struct Plan {
    pub fencing: bool,
    pub workers: usize,
    pub run: Duration,
    /// Pause the holder this often...
    pub every: Duration,
    /// ...for this long.
    pub pause: Duration,
    /// A call past this is `info`; the process retires and gets a new client.
    pub op_timeout: Duration,
    /// Keep one last holder stopped until the other workers are done.
    pub final_pause: bool,
}

/// Runs the plan's lock workers, pausing the holder now and then, then a final read. Returns the
/// history and how many pauses hit a holder.
pub async fn run_lock_test(target: Arc<dyn LockTarget>, plan: &Plan) -> (History, usize) {
    let (fencing, workers, run, every, pause, op_timeout) = (
        plan.fencing,
        plan.workers,
        plan.run,
        plan.every,
        plan.pause,
        plan.op_timeout,
    );
    let rec = Recorder::new();
    let workload = LockWorkload::new(fencing);
    let deadline = Instant::now() + run;
    let clients = target.clients().unwrap();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let mut client = clients.client(w as u64).await.unwrap();
        let mut gen = workload.worker(w);
        let rec = rec.clone();
        let clients = clients.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(w as u64);
            let mut process = w as u64;
            let mut last: Option<(Request, Outcome)> = None;
            while Instant::now() < deadline {
                let step = gen.next(&mut rng, last.as_ref().map(|(r, o)| (r, o)));
                let Step::Request(req) = step else { break };
                let out = rec.call(process, client.as_mut(), &req, op_timeout).await;
                if matches!(out, Outcome::Info(_)) {
                    // Retired: continue under a new process id with a new client.
                    process += 100;
                    client = clients.client(process).await.unwrap();
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
        let Some(holder) = catch_holder(target.as_ref(), &rec).await else {
            continue;
        };
        let (pid, who) = stop(&rec, &holder);
        tokio::time::sleep(pause).await;
        cont(&rec, pid, who);
        hits += 1;
    }
    // With `final_pause`, one last holder stays stopped until every other worker has finished,
    // so its stale write is certainly the last to land.
    let last = match plan.final_pause {
        true => catch_holder(target.as_ref(), &rec)
            .await
            .map(|h| stop(&rec, &h)),
        false => None,
    };
    let mut finished = Vec::new();
    for t in tasks {
        finished.push(t.await.unwrap());
    }
    drop(finished);
    if let Some((pid, who)) = last {
        cont(&rec, pid, who);
        hits += 1;
    }
    // A worker continued by the last resume may still be landing its stale write.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fin = clients.client(999).await.unwrap();
    let req = Request {
        f: "final-read".into(),
        key: None,
        value: Value::Nil,
    };
    let out = rec
        .call(999, fin.as_mut(), &req, Duration::from_secs(5))
        .await;
    assert!(matches!(out, Outcome::Ok(_)), "final read failed: {out:?}");
    (rec.history(), hits)
}

/// The worker that holds the lock and was sent its write moments ago (so it is still doing its
/// work, its write not landed yet: a worker caught later may already have answered), waiting up
/// to 600 ms for one.
async fn catch_holder(target: &dyn LockTarget, rec: &Recorder) -> Option<WorkerInfo> {
    for _ in 0..600 {
        let found = target.workers().into_iter().find(|w| {
            w.holds_lock
                && rec.last_is_write_invoke(w.process)
                && w.writing_since
                    .is_some_and(|t| t.elapsed() < Duration::from_millis(15))
        });
        if let Some(holder) = found {
            // The names a pause nemesis would use resolve to this worker.
            assert_eq!(target.fault_targets(), vec!["holder".to_string()]);
            assert_eq!(
                target.pid_of(&format!("worker-{}", holder.process)),
                Some(holder.pid)
            );
            return Some(holder);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    None
}

/// SIGSTOPs the worker, recording a nemesis `pause`.
fn stop(rec: &Recorder, holder: &WorkerInfo) -> (Pid, Value) {
    let pid = Pid::from_raw(holder.pid as i32);
    let who = Value::Str(format!("client {} (pid {})", holder.process, holder.pid));
    rec.record(Process::Nemesis, OpType::Info, "pause", who.clone(), None);
    kill(pid, Signal::SIGSTOP).unwrap();
    (pid, who)
}

/// SIGCONTs the worker, recording a nemesis `resume`.
fn cont(rec: &Recorder, pid: Pid, who: Value) {
    kill(pid, Signal::SIGCONT).unwrap();
    rec.record(Process::Nemesis, OpType::Info, "resume", who, None);
}

/// The lock workers of the target whose resource node is at `resource` (their command line names
/// it), still running: several tests share this process, so parentage alone cannot tell.
pub fn workers_of(resource: std::net::SocketAddr) -> Vec<(u32, String)> {
    processes_mentioning("lock-worker")
        .into_iter()
        .filter(|(_, cmd)| cmd.contains(&format!("redis://{resource}/")))
        .filter(|(pid, _)| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat
                .rsplit_once(')')
                .map(|x| x.1.trim_start())
                .unwrap_or("");
            !state.starts_with('Z')
        })
        .collect()
}

/// Any process (not a zombie) whose command line contains `needle`.
pub fn processes_mentioning(needle: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(needle) && pid != std::process::id() {
            out.push((pid, cmd));
        }
    }
    out
}
