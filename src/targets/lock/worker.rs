//! The controller's side of a lock worker: a `ferrocheck lock-worker` child process driven over
//! stdin/stdout, and the table of workers that tells a nemesis which pid holds the lock.
//!
//! A worker stopped by SIGSTOP simply does not answer; when it is continued it finishes the
//! request it had and answers late. Replies carry the request's id, so a late answer to a request
//! the controller already gave up on is skipped, never taken for the next one.

use crate::targets::lock::catch::{self, Catch};
use crate::targets::lock::{WorkerInfo, WorkerReply, WorkerRequest};
use crate::targets::server_process::{die_with_parent, spawn_child};
use crate::targets::{Client, ClientFactory, Outcome, Request};
use anyhow::Context;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufReader, Lines};
use tokio::process::{ChildStdin, ChildStdout};

/// How long the controller waits for one answer. Generous on purpose: a paused holder should
/// answer late rather than be given up on; the controller's own call timeout is usually shorter.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Every live worker of a target, by client process: its pid and whether it believes it holds
/// the lock (from its acquire ok until it invokes release); and the retired workers, still
/// finishing a request the controller gave up on, until [`WorkerTable::kill_all`]; and the
/// [`Catch`] through which a pause takes the holder just before its write.
#[derive(Clone, Debug, Default)]
pub struct WorkerTable {
    inner: Arc<Mutex<BTreeMap<u64, WorkerInfo>>>,
    retired: Arc<Mutex<Retired>>,
    catch: Catch,
}

/// Worker processes whose client is gone; killed and reaped when the last table handle goes.
#[derive(Debug, Default)]
struct Retired(Vec<Child>);

impl Retired {
    fn kill_all(&mut self) {
        for mut c in self.0.drain(..) {
            // SIGKILL ends a stopped worker too; the wait is immediate after it.
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Retired {
    fn drop(&mut self) {
        self.kill_all();
    }
}

impl WorkerTable {
    /// The workers as they are now, by process.
    pub fn list(&self) -> Vec<WorkerInfo> {
        match self.inner.lock() {
            Ok(t) => t.values().cloned().collect(),
            Err(p) => p.into_inner().values().cloned().collect(),
        }
    }

    /// The worker that believes it holds the lock, if any.
    pub fn holder(&self) -> Option<WorkerInfo> {
        self.list().into_iter().find(|w| w.holds_lock)
    }

    /// Whether client `process`'s worker believes it holds the lock.
    fn holder_of(&self, process: u64) -> bool {
        self.list()
            .iter()
            .any(|w| w.process == process && w.holds_lock)
    }

    /// The pid for a fault target name: `holder`, or `worker-<process>`.
    ///
    /// `holder` is the worker holding the lock, caught between its read and its write (see
    /// [`catch`]): this blocks, on the nemesis's own thread, until the next holder is about to
    /// be sent its write, at most [`catch::ARM_WAIT`]; if none comes, it takes a holder
    /// mid-update, else the holder as it is.
    pub fn pid_of(&self, name: &str) -> Option<u32> {
        if name == "holder" {
            if let Some(pid) = self.catch.arm_and_wait(catch::ARM_WAIT) {
                return Some(pid);
            }
            let list = self.list();
            let mid = list
                .iter()
                .find(|w| w.holds_lock && w.writing_since.is_some());
            return mid.or(list.iter().find(|w| w.holds_lock)).map(|w| w.pid);
        }
        let process: u64 = name.strip_prefix("worker-")?.parse().ok()?;
        self.list()
            .into_iter()
            .find(|w| w.process == process)
            .map(|w| w.pid)
    }

    /// Kills and reaps every retired worker (live ones are retired when their client is
    /// dropped; all die when the harness exits). Called on teardown, and when the last handle
    /// to the table goes.
    pub async fn kill_all(&self) {
        match self.retired.lock() {
            Ok(mut r) => r.kill_all(),
            Err(p) => p.into_inner().kill_all(),
        }
    }

    fn retire(&self, child: Child) {
        match self.retired.lock() {
            Ok(mut r) => r.0.push(child),
            Err(p) => p.into_inner().0.push(child),
        }
    }

    fn update(&self, f: impl FnOnce(&mut BTreeMap<u64, WorkerInfo>)) {
        match self.inner.lock() {
            Ok(mut t) => f(&mut t),
            Err(p) => f(&mut p.into_inner()),
        }
    }
}

/// The worker arguments for a client process.
type ArgsFor = dyn Fn(u64) -> Vec<String> + Send + Sync;
/// Prepares a client process's worker command (e.g. puts it in a network namespace).
type PrepareFor = dyn Fn(u64, &mut std::process::Command) -> anyhow::Result<()> + Send + Sync;

/// The client factory of a lock target: each client is a new worker process, entered in the
/// target's [`WorkerTable`], its stderr in `<work_dir>/workers/worker-<process>.log`.
pub struct WorkerClients {
    binary: PathBuf,
    work_dir: PathBuf,
    table: WorkerTable,
    args: Box<ArgsFor>,
    prepare: Box<PrepareFor>,
}

impl WorkerClients {
    /// Workers of `binary` (`ferrocheck lock-worker`), with the arguments `args` gives each
    /// client process.
    pub fn new(
        binary: &Path,
        work_dir: &Path,
        table: WorkerTable,
        args: impl Fn(u64) -> Vec<String> + Send + Sync + 'static,
    ) -> WorkerClients {
        WorkerClients {
            binary: binary.to_owned(),
            work_dir: work_dir.to_owned(),
            table,
            args: Box::new(args),
            prepare: Box::new(|_, _| Ok(())),
        }
    }

    /// Each worker's command prepared by `prepare` before it is spawned.
    pub fn prepared_by(
        mut self,
        prepare: impl Fn(u64, &mut std::process::Command) -> anyhow::Result<()> + Send + Sync + 'static,
    ) -> WorkerClients {
        self.prepare = Box::new(prepare);
        self
    }
}

#[async_trait]
impl ClientFactory for WorkerClients {
    async fn client(&self, process: u64) -> anyhow::Result<Box<dyn Client>> {
        let log = self
            .work_dir
            .join("workers")
            .join(format!("worker-{process}.log"));
        let w = WorkerClient::spawn_with(
            process,
            &self.binary,
            &(self.args)(process),
            &log,
            self.table.clone(),
            |cmd| (self.prepare)(process, cmd),
        )
        .with_context(|| format!("cannot start the lock worker for client {process}"))?;
        Ok(Box::new(w))
    }
}

/// A client that forwards each request to its own worker process.
pub struct WorkerClient {
    process: u64,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    next_id: u64,
    table: WorkerTable,
}

impl WorkerClient {
    /// Starts `binary lock-worker args...` for client `process`, its stderr going to `log`, and
    /// enters it in `table`.
    pub fn spawn(
        process: u64,
        binary: &Path,
        args: &[String],
        log: &Path,
        table: WorkerTable,
    ) -> anyhow::Result<Self> {
        Self::spawn_with(process, binary, args, log, table, |_| Ok(()))
    }

    /// Like [`spawn`](Self::spawn), with `prepare` applied to the command first (e.g. a
    /// placement putting the worker in its client group's network namespace).
    pub fn spawn_with(
        process: u64,
        binary: &Path,
        args: &[String],
        log: &Path,
        table: WorkerTable,
        prepare: impl FnOnce(&mut std::process::Command) -> anyhow::Result<()>,
    ) -> anyhow::Result<Self> {
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let err = std::fs::File::create(log)
            .with_context(|| format!("cannot create worker log {}", log.display()))?;
        let mut std_cmd = std::process::Command::new(binary);
        std_cmd
            .arg("lock-worker")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(err));
        die_with_parent(&mut std_cmd);
        prepare(&mut std_cmd)?;
        let mut child = spawn_child(std_cmd).with_context(|| {
            format!(
                "cannot start lock worker {} lock-worker: is the ferrocheck binary there?",
                binary.display()
            )
        })?;
        let pipes = child
            .stdin
            .take()
            .zip(child.stdout.take())
            .context("lock worker has no stdin/stdout");
        let pipes =
            pipes.and_then(|(i, o)| Ok((ChildStdin::from_std(i)?, ChildStdout::from_std(o)?)));
        let (stdin, stdout) = match pipes {
            Ok(p) => p,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e.context("cannot talk to the lock worker"));
            }
        };
        let pid = child.id();
        table.update(|t| {
            t.insert(
                process,
                WorkerInfo {
                    process,
                    pid,
                    holds_lock: false,
                    writing_since: None,
                },
            );
        });
        Ok(WorkerClient {
            process,
            child: Some(child),
            stdin: Some(stdin),
            stdout: tokio::io::AsyncBufReadExt::lines(BufReader::new(stdout)),
            next_id: 0,
            table,
        })
    }

    /// The worker's OS pid.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn set_state(&self, f: impl FnOnce(&mut WorkerInfo)) {
        let p = self.process;
        self.table.update(|t| {
            if let Some(w) = t.get_mut(&p) {
                f(w);
            }
        });
    }

    async fn roundtrip(&mut self, req: &Request) -> Outcome {
        self.next_id += 1;
        let id = self.next_id;
        let msg = WorkerRequest {
            id,
            f: req.f.clone(),
            value: req.value.clone(),
        };
        let mut line = match serde_json::to_string(&msg) {
            Ok(l) => l,
            Err(e) => {
                return Outcome::Fail(crate::targets::FailReason::NotSent(format!(
                    "cannot encode request: {e}"
                )))
            }
        };
        line.push('\n');
        let Some(stdin) = self.stdin.as_mut() else {
            return Outcome::Fail(crate::targets::FailReason::NotSent(
                "lock worker is closed (nothing sent)".into(),
            ));
        };
        if let Err(e) = stdin.write_all(line.as_bytes()).await {
            return Outcome::Fail(crate::targets::FailReason::NotSent(format!(
                "lock worker is gone (nothing sent): {e}"
            )));
        }
        if let Err(e) = stdin.flush().await {
            return Outcome::Info(format!("lock worker pipe failed after sending: {e}"));
        }
        let wait = async {
            loop {
                match self.stdout.next_line().await {
                    Ok(Some(text)) => match serde_json::from_str::<WorkerReply>(&text) {
                        Ok(r) if r.id == id => return r.into_outcome(),
                        Ok(_) => continue, // a late answer to a request given up on
                        Err(e) => {
                            return Outcome::Info(format!(
                                "bad reply {text:?} from lock worker: {e}"
                            ))
                        }
                    },
                    Ok(None) => return Outcome::Info("lock worker exited mid-request".into()),
                    Err(e) => return Outcome::Info(format!("cannot read lock worker: {e}")),
                }
            }
        };
        match tokio::time::timeout(REPLY_TIMEOUT, wait).await {
            Ok(o) => o,
            Err(_) => Outcome::Info(format!(
                "lock worker did not answer within {REPLY_TIMEOUT:?}"
            )),
        }
    }
}

#[async_trait]
impl Client for WorkerClient {
    async fn invoke(&mut self, req: &Request) -> Outcome {
        if req.f == "release" {
            // The belief ends when the client decides to release, before it asks.
            self.set_state(|w| {
                w.holds_lock = false;
                w.writing_since = None;
            });
        }
        if req.f == "write" {
            self.set_state(|w| w.writing_since = Some(std::time::Instant::now()));
            // A pause waiting for a holder takes this one now, before its write is sent.
            let holds = self.table.holder_of(self.process);
            if let Some(pid) = self
                .pid()
                .filter(|&pid| holds && self.table.catch.claim(pid))
            {
                catch::until_stopped(pid).await;
            }
        }
        let out = self.roundtrip(req).await;
        let ok = matches!(out, Outcome::Ok(_));
        match req.f.as_str() {
            "acquire" if ok => self.set_state(|w| w.holds_lock = true),
            "write" => self.set_state(|w| w.writing_since = None),
            _ => {}
        }
        out
    }
}

impl Drop for WorkerClient {
    /// A dropped client (retired after an `info`, or at the end of the run) closes the worker's
    /// stdin but does not kill it: a paused worker, once continued, still performs the request
    /// the controller gave up on — exactly the late effect an `info` allows — and then exits.
    /// The target kills whatever is left on teardown.
    fn drop(&mut self) {
        let p = self.process;
        self.table.update(|t| {
            t.remove(&p);
        });
        self.stdin = None;
        if let Some(child) = self.child.take() {
            self.table.retire(child);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(workers: &[(u64, u32, bool, bool)]) -> WorkerTable {
        let t = WorkerTable::default();
        t.update(|m| {
            for &(process, pid, holds_lock, writing) in workers {
                let writing_since = writing.then(std::time::Instant::now);
                m.insert(
                    process,
                    WorkerInfo {
                        process,
                        pid,
                        holds_lock,
                        writing_since,
                    },
                );
            }
        });
        t
    }

    #[test]
    fn fault_target_names_resolve_to_worker_pids() {
        let t = table(&[(0, 100, false, false), (3, 103, true, true)]);
        assert_eq!(t.pid_of("worker-0"), Some(100));
        assert_eq!(t.pid_of("worker-3"), Some(103));
        assert_eq!(t.pid_of("worker-7"), None);
        // No client claims the catch here: after the wait, the holder mid-update.
        assert_eq!(t.pid_of("holder"), Some(103));
        assert_eq!(t.holder().map(|w| w.process), Some(3));
    }

    #[test]
    fn a_pause_takes_the_holder_that_claims_the_catch() {
        // Worker 3 is mid-update, but worker 5 is the next about to be sent its write.
        let t = table(&[(3, 103, true, true), (5, 105, true, false)]);
        let nemesis = {
            let t = t.clone();
            std::thread::spawn(move || t.pid_of("holder"))
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !t.catch.claim(105) {
            assert!(
                std::time::Instant::now() < deadline,
                "the pause never armed"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(nemesis.join().unwrap(), Some(105));
    }

    #[test]
    fn without_a_holder_there_is_no_pid_to_pause() {
        let t = table(&[(1, 101, false, false)]);
        assert_eq!(t.pid_of("holder"), None);
        assert_eq!(t.holder(), None);
    }
}
