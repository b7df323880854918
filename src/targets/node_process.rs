//! Node processes: how the harness starts, watches and stops the OS process of one node.
//!
//! [`spawn_node`] is the one place a node process is created, so a later change can wrap it
//! (run it inside a network namespace, under libfaketime, ...). Every node dies with the harness,
//! even when the harness is SIGKILLed: the child asks the kernel for SIGKILL when its parent
//! goes away (`PR_SET_PDEATHSIG`). The kernel means the parent *thread*, so children are spawned
//! from one long-lived thread per target ([`Spawner`]) rather than from whichever runtime thread
//! happens to call (a tokio blocking-pool thread exits when idle and would take its children
//! with it).
//!
//! Nodes run in their own process group, so a Ctrl-C in the terminal reaches only the harness,
//! which then stops the nodes itself in order.

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Everything needed to start one node.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    /// The store to run (`lin-kv`, ...).
    pub store: String,
    /// The node's id, e.g. `n1`.
    pub name: String,
    /// Where the node listens.
    pub listen: SocketAddr,
    /// The other nodes: id and address.
    pub peers: Vec<(String, SocketAddr)>,
    /// The node's own directory (journal, log).
    pub dir: PathBuf,
    /// The node's log file (its stdout and stderr).
    pub log: PathBuf,
    /// False to start the node with `--no-fsync`.
    pub fsync: bool,
}

/// The command that runs `spec` with `binary` (`ferrocheck node ...`), with its output going to
/// the node's log and the death-of-parent signal set.
pub fn node_command(binary: &Path, spec: &NodeSpec) -> io::Result<Command> {
    std::fs::create_dir_all(&spec.dir)?;
    let log = File::options().create(true).append(true).open(&spec.log)?;
    let peers = spec
        .peers
        .iter()
        .map(|(id, addr)| format!("{id}={addr}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut cmd = Command::new(binary);
    cmd.arg("node")
        .args(["--store", &spec.store, "--id", &spec.name])
        .args(["--host", &spec.listen.ip().to_string()])
        .args(["--port", &spec.listen.port().to_string()])
        .arg(format!("--peers={peers}"))
        .arg("--dir")
        .arg(&spec.dir)
        .args((!spec.fsync).then_some("--no-fsync"))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0);
    super::server_process::die_with_parent(&mut cmd);
    Ok(cmd)
}

/// Starts a node: builds its command and spawns it on `spawner`'s thread.
/// A `placement` (network namespace, clock shim) prepares the command first.
pub fn spawn_node(
    spawner: &Spawner,
    binary: &Path,
    spec: &NodeSpec,
    placement: Option<&dyn super::NodePlacement>,
) -> anyhow::Result<Child> {
    let mut cmd = node_command(binary, spec).map_err(|e| {
        anyhow::anyhow!(
            "cannot prepare node {} (directory {}): {e}",
            spec.name,
            spec.dir.display()
        )
    })?;
    if let Some(p) = placement {
        p.prepare(&spec.name, &mut cmd)?;
    }
    spawner.spawn(cmd).map_err(|e| {
        anyhow::anyhow!(
            "cannot start node {} with {}: {e}; build ferrocheck first or check the path",
            spec.name,
            binary.display()
        )
    })
}

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// A thread that spawns child processes and lives as long as this value, so the children's
/// death-of-parent signal fires when the harness goes away, not when some worker thread idles
/// out.
#[derive(Debug)]
pub struct Spawner {
    requests: mpsc::Sender<SpawnRequest>,
}

impl Spawner {
    /// Starts the spawning thread.
    pub fn new() -> io::Result<Spawner> {
        let (requests, incoming) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("node-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in incoming {
                    let _ = reply.send(cmd.spawn());
                }
            })?;
        Ok(Spawner { requests })
    }

    /// Spawns `cmd` on the spawning thread.
    pub fn spawn(&self, cmd: Command) -> io::Result<Child> {
        let (reply, result) = mpsc::channel();
        let gone = || io::Error::new(io::ErrorKind::BrokenPipe, "the spawning thread is gone");
        self.requests.send((cmd, reply)).map_err(|_| gone())?;
        result.recv().map_err(|_| gone())?
    }
}

/// Sends `signal` to the child (ignoring a child that is already gone).
pub fn signal(child: &Child, signal: Signal) {
    // A pid we own (not yet reaped, so not reused).
    let _ = nix::sys::signal::kill(Pid::from_raw(child.id() as i32), signal);
}

/// Stops `children`: SIGTERM to all, up to `grace` for them to exit, then SIGKILL; reaps each.
/// Returns how each one ended.
pub async fn stop_all(children: &mut [&mut Child], grace: Duration) -> Vec<io::Result<ExitStatus>> {
    for child in children.iter() {
        signal(child, Signal::SIGTERM);
        // A paused (SIGSTOPped) node only acts on SIGTERM once it runs again.
        signal(child, Signal::SIGCONT);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline
        && children
            .iter_mut()
            .any(|c| matches!(c.try_wait(), Ok(None)))
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    children.iter_mut().map(|c| kill_and_reap(c)).collect()
}

/// SIGKILLs the child (if still running) and waits for it.
pub fn kill_and_reap(child: &mut Child) -> io::Result<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Ok(status);
    }
    signal(child, Signal::SIGKILL);
    child.wait()
}

pub use super::server_process::log_tail;
