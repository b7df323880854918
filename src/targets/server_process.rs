//! A server binary (redis-server, etcd, a lock worker) run as a child process that cannot
//! outlive the harness.
//!
//! Each child gets `PR_SET_PDEATHSIG = SIGKILL` before it execs, so the kernel kills it if the
//! harness dies (even by SIGKILL); [`ServerProcess`] kills and reaps it on [`ServerProcess::kill`]
//! and again when dropped, so no path leaves a server running. Output goes to a log file whose
//! tail is shown when the server does not come up.

use crate::targets::node_process::Spawner;
use crate::targets::{node_name, TargetOptions};
use anyhow::{bail, Context};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running child process, killed and reaped on drop.
#[derive(Debug)]
pub struct ServerProcess {
    name: String,
    child: Option<Child>,
    log: PathBuf,
    reported: bool,
}

/// Spawns `cmd` from one thread that lives as long as the harness. The kernel sends the
/// death-of-parent signal when the spawning *thread* exits, so spawning from whichever thread
/// happens to call (a nemesis thread, an idle-timed-out blocking thread) would kill the child
/// early.
pub fn spawn_child(cmd: Command) -> std::io::Result<Child> {
    static SPAWNER: std::sync::OnceLock<std::io::Result<Spawner>> = std::sync::OnceLock::new();
    match SPAWNER.get_or_init(Spawner::new) {
        Ok(s) => s.spawn(cmd),
        Err(e) => Err(std::io::Error::new(
            e.kind(),
            format!("cannot start the thread that spawns servers: {e}"),
        )),
    }
}

/// Makes `cmd` die with SIGKILL when the thread that spawned it exits (see [`spawn_child`]),
/// and not start at all if the harness is already gone.
pub fn die_with_parent(cmd: &mut Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe calls
    // (prctl, getppid, _exit).
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

impl ServerProcess {
    /// Starts `program args...` with stdout and stderr appended to `log` (created with its
    /// folder). `name` is used in error messages (`n1`, `redis n2`).
    pub fn spawn(name: &str, program: &Path, args: &[String], log: &Path) -> anyhow::Result<Self> {
        Self::spawn_with(name, program, args, log, |_| Ok(()))
    }

    /// Like [`spawn`](Self::spawn), with `prepare` applied to the command first (e.g. a
    /// [`NodePlacement`](super::NodePlacement) putting it in the node's network namespace).
    pub fn spawn_with(
        name: &str,
        program: &Path,
        args: &[String],
        log: &Path,
        prepare: impl FnOnce(&mut Command) -> anyhow::Result<()>,
    ) -> anyhow::Result<Self> {
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("cannot open log file {}", log.display()))?;
        let err = out
            .try_clone()
            .with_context(|| format!("cannot open log file {}", log.display()))?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        die_with_parent(&mut cmd);
        prepare(&mut cmd)?;
        let child = spawn_child(cmd)
            .with_context(|| format!("cannot start {name} ({})", program.display()))?;
        Ok(ServerProcess {
            name: name.to_string(),
            child: Some(child),
            log: log.to_owned(),
            reported: false,
        })
    }

    /// The OS process id while the child has not been reaped.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// The log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// `Some(description)` if the process has exited on its own.
    pub fn exited(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("cannot be waited for: {e}")),
        }
    }

    /// If the process exited on its own and this was not said before: why, with its log's tail.
    pub fn take_exit(&mut self) -> Option<String> {
        if self.reported {
            return None;
        }
        let status = self.exited()?;
        self.reported = true;
        Some(format!(
            "{} exited on its own ({status}); last lines of {}:\n{}",
            self.name,
            self.log.display(),
            log_tail(&self.log, 15)
        ))
    }

    /// Kills (SIGKILL, which also ends a stopped process) and reaps the child. Idempotent.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last `lines` lines of a log file (or a note that it could not be read).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) => return format!("(cannot read {}: {e})", path.display()),
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(16 * 1024)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    let tail = all[all.len().saturating_sub(lines)..].join("\n");
    if tail.trim().is_empty() {
        "(log is empty)".to_string()
    } else {
        tail
    }
}

/// Finds a binary: `configured` if given (it must exist), else `name` on PATH. `hint` is the
/// whole error line when it is not on PATH; `flag` is the option that names it.
pub fn find_binary(
    name: &str,
    configured: Option<&Path>,
    hint: &str,
    flag: &str,
) -> anyhow::Result<PathBuf> {
    if let Some(p) = configured {
        if p.is_file() {
            return Ok(p.to_owned());
        }
        bail!(
            "{flag} {}: no such file; point {flag} at the {name} binary, or leave it out to use {name} from PATH",
            p.display()
        );
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!("{hint}")
}

/// A TCP port on 127.0.0.1 that was free a moment ago (see [`ports`]).
pub fn free_port() -> anyhow::Result<u16> {
    let port = ports(0, 1)?.first().copied();
    port.context("no free port on 127.0.0.1")
}

/// The first port nodes use inside their own network namespaces (with `--base-port 0`).
const NAMESPACE_PORT: u16 = 7001;

/// How one node's port is chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Slot {
    /// The harness fixed it (a placement that proxies links chose it).
    Fixed(u16),
    /// The node has a network namespace, and so every port, of its own.
    Own,
    /// The node listens on this address of the host's, shared with everything else running.
    Shared(IpAddr),
}

/// The one port picker: a port per slot. Shared slots get `base + i`, each checked to be free,
/// or with `base` 0 a free port from the OS; every probe stays bound until every port is
/// picked, so none is handed out twice. The servers bind them after this returns, and one taken
/// in between shows as that server's startup error.
fn pick(slots: &[Slot], base: u16) -> anyhow::Result<Vec<u16>> {
    let mut probes = Vec::new();
    let mut ports = Vec::with_capacity(slots.len());
    for (i, slot) in slots.iter().enumerate() {
        let nth = |first: u16| {
            u16::try_from(first as usize + i).map_err(|_| {
                crate::error::usage(format!(
                    "--base-port {first} leaves no room for {} ports; pass a lower one",
                    slots.len()
                ))
            })
        };
        let port = match *slot {
            Slot::Fixed(port) => port,
            Slot::Own => nth(if base == 0 { NAMESPACE_PORT } else { base })?,
            Slot::Shared(ip) if base == 0 => {
                let probe = TcpListener::bind((ip, 0))
                    .map_err(|e| anyhow::anyhow!("cannot find a free port on {ip}: {e}"))?;
                let port = probe
                    .local_addr()
                    .map_err(|e| anyhow::anyhow!("cannot read a port bound on {ip}: {e}"))?
                    .port();
                probes.push(probe);
                port
            }
            Slot::Shared(ip) => {
                let port = nth(base)?;
                let probe = TcpListener::bind((ip, port)).map_err(|e| {
                    crate::error::usage(format!(
                        "port {port} on {ip} is not available ({e}): pass another --base-port, \
                         or --base-port 0 to pick free ports"
                    ))
                })?;
                probes.push(probe);
                port
            }
        };
        ports.push(port);
    }
    Ok(ports)
}

/// `count` ports on 127.0.0.1: consecutive from `base` when it is non-zero (each checked to be
/// free), else free ones the OS hands out; none twice (see [`pick`]).
pub fn ports(base: u16, count: usize) -> anyhow::Result<Vec<u16>> {
    pick(
        &vec![Slot::Shared(IpAddr::V4(Ipv4Addr::LOCALHOST)); count],
        base,
    )
}

/// The address node `i` (0-based) of a cluster listens on: loopback, or the node's own address
/// when the harness placed it in a network namespace.
pub fn listen_ip(opts: &TargetOptions, i: usize) -> anyhow::Result<IpAddr> {
    match &opts.placement {
        Some(p) => p.ip(&node_name(i)),
        None => Ok(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    }
}

/// Where each of a cluster's `count` nodes listens, placed as `opts` says: the port a placement
/// fixed, else `--base-port` up (7001 up for a node in its own namespace), else a free one.
pub fn node_addrs(opts: &TargetOptions, count: usize) -> anyhow::Result<Vec<SocketAddr>> {
    let mut ips = Vec::with_capacity(count);
    let mut slots = Vec::with_capacity(count);
    for i in 0..count {
        let ip = listen_ip(opts, i)?;
        let fixed = opts.placement.as_ref().and_then(|p| p.port(&node_name(i)));
        slots.push(match fixed {
            Some(port) => Slot::Fixed(port),
            None if ip.is_loopback() => Slot::Shared(ip),
            None => Slot::Own,
        });
        ips.push(ip);
    }
    let ports = pick(&slots, opts.base_port)?;
    Ok(ips
        .into_iter()
        .zip(ports)
        .map(|(ip, port)| SocketAddr::new(ip, port))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_killed_child_is_reaped_and_its_exit_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("x/log");
        let mut p = ServerProcess::spawn(
            "sleeper",
            Path::new("/bin/sh"),
            &["-c".into(), "echo hello; exec sleep 30".into()],
            &log,
        )
        .unwrap();
        let pid = p.pid().unwrap();
        assert!(p.take_exit().is_none());
        p.kill();
        assert!(p.pid().is_none());
        // Reaped: no such process any more.
        assert!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_err());

        let mut q = ServerProcess::spawn(
            "quitter",
            Path::new("/bin/sh"),
            &["-c".into(), "echo bye; exit 3".into()],
            &log,
        )
        .unwrap();
        let t = std::time::Instant::now();
        while q.exited().is_none() && t.elapsed().as_secs() < 5 {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let err = q.take_exit().expect("the quitter's exit is reported");
        assert!(
            err.contains("quitter exited") && err.contains("bye"),
            "{err}"
        );
        assert_eq!(q.take_exit(), None, "an exit is reported once");
    }

    #[test]
    fn a_missing_binary_says_what_to_do() {
        let err = find_binary(
            "no-such-binary-xyz",
            None,
            "no-such-binary-xyz not found on PATH: install it",
            "--xyz",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(err, "no-such-binary-xyz not found on PATH: install it");
        let ps = ports(0, 3).unwrap();
        assert_eq!(ps.len(), 3);
    }

    #[test]
    fn ports_are_never_handed_out_twice_and_a_busy_base_port_is_refused() {
        let ps = ports(0, 8).unwrap();
        let distinct: std::collections::BTreeSet<_> = ps.iter().collect();
        assert_eq!(distinct.len(), 8, "{ps:?}");
        // A base port held by someone else is refused with what to pass instead.
        let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = held.local_addr().unwrap().port();
        let err = ports(port, 1).unwrap_err().to_string();
        assert!(err.contains("--base-port"), "{err}");
        drop(held);
        assert_eq!(ports(port, 1).unwrap(), vec![port]);
        let err = pick(&[Slot::Own, Slot::Own], u16::MAX)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no room"), "{err}");
        let own = pick(&[Slot::Own, Slot::Own, Slot::Fixed(9)], 0).unwrap();
        assert_eq!(own, vec![NAMESPACE_PORT, NAMESPACE_PORT + 1, 9]);
    }
}
