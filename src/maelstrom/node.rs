//! Node processes on pipes: a student's program started once per node id, fed messages on its
//! stdin and read line by line on its stdout; its stderr is its log, saved to
//! `histories/<run>/nodes/<node>.log` (and echoed with `--log-stderr`).
//!
//! Every node runs in its own process group (so a Ctrl-C in the terminal reaches only the
//! harness, which then stops the nodes, and a node's own children are stopped with it), and
//! asks the kernel to SIGKILL it when the harness's spawning thread goes away
//! (`PR_SET_PDEATHSIG`), so not even a SIGKILLed harness leaves a node behind. [`Nodes`] kills
//! every group it started when dropped, on every exit path.

use crate::targets::server_process::die_with_parent;
use crate::targets::server_process::log_tail;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Something a node's reader thread saw.
#[derive(Debug)]
pub enum Event {
    /// The node wrote a line on stdout (`Err` holds the bytes when they are not UTF-8).
    Line {
        /// Node index.
        node: usize,
        /// Which start of the node wrote it (a restarted node is a new incarnation).
        incarnation: u32,
        /// The line, without its newline.
        text: Result<String, Vec<u8>>,
    },
    /// The node's stdout closed: it exited (or closed it).
    Closed {
        /// Node index.
        node: usize,
        /// Which start of the node.
        incarnation: u32,
    },
}

/// What starts a node.
#[derive(Clone, Debug)]
pub struct Program {
    /// The program (`--bin`).
    pub bin: PathBuf,
    /// Its arguments (after `--`).
    pub args: Vec<String>,
    /// Where the node logs go.
    pub log_dir: PathBuf,
    /// Echo each stderr line on the harness's stderr.
    pub log_stderr: bool,
}

struct Proc {
    child: Child,
    stdin: mpsc::Sender<String>,
}

/// One node.
pub struct Node {
    /// `n0`, `n1`, ...
    pub id: String,
    /// Its log file.
    pub log: PathBuf,
    /// Bumped at every start; events of an older start are stale.
    pub incarnation: u32,
    /// SIGSTOPped by the nemesis.
    pub paused: bool,
    proc: Option<Proc>,
}

impl Node {
    /// True while the process is running (maybe paused).
    pub fn is_up(&self) -> bool {
        self.proc.is_some()
    }
}

/// The run's nodes.
pub struct Nodes {
    /// The nodes, by index.
    pub nodes: Vec<Node>,
    program: Program,
    events: mpsc::Sender<Event>,
}

fn signal_group(child: &Child, sig: Signal) {
    // A child we have not reaped yet: its pid is its process group's id.
    let _ = killpg(Pid::from_raw(child.id() as i32), sig);
}

impl Nodes {
    /// Prepares `count` nodes (nothing started yet); events go to `events`.
    pub fn new(program: Program, count: usize, events: mpsc::Sender<Event>) -> io::Result<Nodes> {
        std::fs::create_dir_all(&program.log_dir)?;
        let nodes = (0..count)
            .map(|i| Node {
                id: format!("n{i}"),
                log: program.log_dir.join(format!("n{i}.log")),
                incarnation: 0,
                paused: false,
                proc: None,
            })
            .collect();
        Ok(Nodes {
            nodes,
            program,
            events,
        })
    }

    /// Starts node `i` (again, after a kill). Call from the run's own thread: the death-of-parent
    /// signal follows the thread that spawned.
    pub fn start(&mut self, i: usize) -> anyhow::Result<()> {
        let node = &mut self.nodes[i];
        node.incarnation += 1;
        node.paused = false;
        let inc = node.incarnation;
        let mut log = File::options()
            .create(true)
            .append(true)
            .open(&node.log)
            .map_err(|e| anyhow::anyhow!("cannot open the node log {}: {e}", node.log.display()))?;
        if inc > 1 {
            let _ = writeln!(
                log,
                "--- ferrocheck: {} restarted (start #{inc}) ---",
                node.id
            );
        }
        let mut cmd = Command::new(&self.program.bin);
        cmd.args(&self.program.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        die_with_parent(&mut cmd);
        let mut child = cmd.spawn().map_err(|e| {
            crate::error::usage(format!(
                "cannot start {} for node {}: {e}; check the --bin path (a script needs a #! line and the executable bit)",
                self.program.bin.display(),
                node.id
            ))
        })?;
        let (stdin, stdout, stderr) =
            match (child.stdin.take(), child.stdout.take(), child.stderr.take()) {
                (Some(a), Some(b), Some(c)) => (a, b, c),
                _ => {
                    signal_group(&child, Signal::SIGKILL);
                    let _ = child.wait();
                    anyhow::bail!(
                        "node {}: the pipes to the program could not be set up",
                        node.id
                    );
                }
            };
        let (tx, rx) = mpsc::channel::<String>();
        spawn_thread("node-stdin", move || {
            let mut w = io::BufWriter::new(stdin);
            for line in rx {
                if w.write_all(line.as_bytes())
                    .and_then(|_| w.write_all(b"\n"))
                    .and_then(|_| w.flush())
                    .is_err()
                {
                    break;
                }
            }
        })?;
        let events = self.events.clone();
        spawn_thread("node-stdout", move || {
            let mut r = BufReader::new(stdout);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if buf.last() == Some(&b'\n') {
                            buf.pop();
                        }
                        if buf.iter().all(|b| b.is_ascii_whitespace()) {
                            continue;
                        }
                        let text = String::from_utf8(buf.clone()).map_err(|e| e.into_bytes());
                        if events
                            .send(Event::Line {
                                node: i,
                                incarnation: inc,
                                text,
                            })
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            }
            let _ = events.send(Event::Closed {
                node: i,
                incarnation: inc,
            });
        })?;
        let echo = self.program.log_stderr.then(|| node.id.clone());
        spawn_thread("node-stderr", move || {
            let mut r = BufReader::new(stderr);
            let mut line = Vec::new();
            loop {
                line.clear();
                match r.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let _ = log.write_all(&line);
                        if let Some(id) = &echo {
                            eprint!("{id}: {}", String::from_utf8_lossy(&line));
                        }
                    }
                }
            }
            let _ = log.flush();
        })?;
        node.proc = Some(Proc { child, stdin: tx });
        Ok(())
    }

    /// Queues a line for node `i`'s stdin (dropped if the node is down).
    pub fn send(&self, i: usize, line: String) {
        if let Some(p) = &self.nodes[i].proc {
            let _ = p.stdin.send(line);
        }
    }

    /// SIGKILLs node `i`'s process group and reaps it; returns how it ended, in words.
    pub fn kill(&mut self, i: usize) -> Option<String> {
        let mut p = self.nodes[i].proc.take()?;
        self.nodes[i].paused = false;
        signal_group(&p.child, Signal::SIGKILL);
        signal_group(&p.child, Signal::SIGCONT);
        p.child.wait().ok().map(|s| describe_status(&s))
    }

    /// SIGSTOPs (`true`) or SIGCONTs node `i`'s process group.
    pub fn pause(&mut self, i: usize, stop: bool) {
        if let Some(p) = &self.nodes[i].proc {
            signal_group(
                &p.child,
                if stop {
                    Signal::SIGSTOP
                } else {
                    Signal::SIGCONT
                },
            );
            self.nodes[i].paused = stop;
        }
    }

    /// How node `i` exited, if it has (waits up to `wait` for it).
    pub fn exit_status(&mut self, i: usize, wait: Duration) -> Option<String> {
        let p = self.nodes[i].proc.as_mut()?;
        let deadline = Instant::now() + wait;
        loop {
            match p.child.try_wait() {
                Ok(Some(s)) => return Some(describe_status(&s)),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => return None,
            }
        }
    }

    /// Forgets node `i`'s process after it exited on its own (reaping it).
    pub fn reap(&mut self, i: usize) {
        if let Some(mut p) = self.nodes[i].proc.take() {
            signal_group(&p.child, Signal::SIGKILL);
            let _ = p.child.wait();
        }
    }

    /// Stops every node: SIGTERM (and SIGCONT, for paused ones), up to `grace` to exit, then
    /// SIGKILL; every process is reaped.
    pub fn stop_all(&mut self, grace: Duration) {
        for n in &self.nodes {
            if let Some(p) = &n.proc {
                signal_group(&p.child, Signal::SIGTERM);
                signal_group(&p.child, Signal::SIGCONT);
            }
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline
            && self.nodes.iter_mut().any(|n| {
                n.proc
                    .as_mut()
                    .is_some_and(|p| matches!(p.child.try_wait(), Ok(None)))
            })
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        for i in 0..self.nodes.len() {
            self.reap(i);
        }
    }

    /// The last `lines` lines of node `i`'s log.
    pub fn log_tail(&self, i: usize, lines: usize) -> String {
        log_tail(&self.nodes[i].log, lines)
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.reap(i);
        }
    }
}

fn spawn_thread(name: &str, f: impl FnOnce() + Send + 'static) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("cannot start a thread for a node's pipes: {e}"))
}

fn describe_status(s: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        _ => "ended".into(),
    }
}
