//! One PostgreSQL server as a child process: finding the binaries, the user it runs as, `initdb`
//! into the run's folder, starting `postgres` on a loopback port, waiting until it answers, and
//! stopping it (fast shutdown, then SIGKILL of its whole process group).
//!
//! PostgreSQL refuses to run as root. When ferrocheck is root, the server runs as the `postgres`
//! system user (Debian's package creates it) or else `nobody`; its data directory is chowned to
//! that user. The data directory lives in the run's folder when that user can reach it, else in
//! a private folder under the system's temp dir (removed at the end). The server's output goes
//! to `postgres.log` in the run's folder either way.

use crate::targets::server_process::{die_with_parent, log_tail, spawn_child};
use anyhow::{bail, Context};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::{Gid, Pid, Uid, User};
use std::fs::File;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The database user ferrocheck creates and connects as (trust authentication, loopback only).
pub const DB_USER: &str = "ferrocheck";
/// How long the server may take to accept its first connection.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a fast shutdown may take before the server is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The error line when PostgreSQL is not installed.
pub const MISSING: &str = "PostgreSQL not found: apt-get install postgresql (its binaries live in /usr/lib/postgresql/<version>/bin), or put initdb and postgres on PATH";

/// The folder holding `initdb` and `postgres`: the newest `/usr/lib/postgresql/*/bin` (where
/// Debian puts them, off PATH), else the folder of `initdb` on PATH.
pub fn find_bin_dir() -> anyhow::Result<PathBuf> {
    let has_both = |d: &Path| d.join("initdb").is_file() && d.join("postgres").is_file();
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            has_both(&bin).then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        if has_both(&dir) {
            return Ok(dir);
        }
    }
    bail!("{MISSING}")
}

/// Who the server runs as: `None` for ferrocheck's own user, or a system user when ferrocheck
/// is root (PostgreSQL refuses root).
pub fn server_user() -> anyhow::Result<Option<(String, Uid, Gid)>> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    for name in ["postgres", "nobody"] {
        if let Ok(Some(u)) = User::from_name(name) {
            return Ok(Some((name.to_string(), u.uid, u.gid)));
        }
    }
    bail!("PostgreSQL refuses to run as root and there is no `postgres` or `nobody` user to run it as: create one (useradd --system postgres), or run ferrocheck as another user")
}

/// True when every folder above `dir` lets `uid`/`gid` through (search permission).
fn reachable(dir: &Path, uid: Uid, gid: Gid) -> bool {
    dir.ancestors().skip(1).all(|a| match std::fs::metadata(a) {
        Ok(m) => {
            let mode = m.mode();
            if m.uid() == uid.as_raw() {
                mode & 0o100 != 0
            } else if m.gid() == gid.as_raw() {
                mode & 0o010 != 0
            } else {
                mode & 0o001 != 0
            }
        }
        Err(_) => false,
    })
}

/// A PostgreSQL server: its files, and its process while it runs.
#[derive(Debug)]
pub struct PgServer {
    bin: PathBuf,
    /// The data directory.
    pub data: PathBuf,
    /// True when `data` is a private temp folder to remove at the end.
    data_is_temp: bool,
    /// The server's log (its stdout and stderr).
    pub log: PathBuf,
    /// The loopback port it listens on.
    pub port: u16,
    fsync: bool,
    user: Option<(String, Uid, Gid)>,
    child: Option<Child>,
}

impl PgServer {
    /// Prepares a server in `dir` (the node's folder in the run) on `port`; runs `initdb`.
    pub fn init(dir: &Path, port: u16, fsync: bool) -> anyhow::Result<PgServer> {
        let bin = find_bin_dir()?;
        let user = server_user()?;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let dir = std::fs::canonicalize(dir)
            .with_context(|| format!("cannot resolve {}", dir.display()))?;
        let log = dir.join("postgres.log");
        let (data, data_is_temp) = match &user {
            Some((_, uid, gid)) if !reachable(&dir.join("data"), *uid, *gid) => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0);
                let tmp = std::env::temp_dir().join(format!(
                    "ferrocheck-postgres-{}-{nanos}",
                    std::process::id()
                ));
                (tmp, true)
            }
            _ => (dir.join("data"), false),
        };
        std::fs::create_dir_all(&data)
            .with_context(|| format!("cannot create {}", data.display()))?;
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict {}", data.display()))?;
        if let Some((name, uid, gid)) = &user {
            nix::unistd::chown(&data, Some(*uid), Some(*gid)).with_context(|| {
                format!(
                    "cannot hand the data directory {} to user {name}",
                    data.display()
                )
            })?;
        }
        let server = PgServer {
            bin,
            data,
            data_is_temp,
            log,
            port,
            fsync,
            user,
            child: None,
        };
        server.initdb()?;
        Ok(server)
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        cmd.current_dir("/").env("LC_ALL", "C").stdin(Stdio::null());
        if let Some((_, uid, gid)) = &self.user {
            cmd.uid(uid.as_raw()).gid(gid.as_raw());
        }
        cmd
    }

    fn initdb(&self) -> anyhow::Result<()> {
        if self.data.join("PG_VERSION").is_file() {
            return Ok(());
        }
        let out = self
            .command("initdb")
            .arg("-D")
            .arg(&self.data)
            .args(["-U", DB_USER, "--auth=trust", "--no-locale", "-E", "UTF8"])
            .arg("--no-sync")
            .output()
            .with_context(|| format!("cannot run {}", self.bin.join("initdb").display()))?;
        if !out.status.success() {
            bail!(
                "initdb failed ({}) for {}:\n{}{}",
                out.status,
                self.data.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// The OS pid of the postmaster, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Starts `postgres` (once more after a kill: same data directory) and waits until it
    /// accepts a connection; an error shows the log's tail.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            self.spawn()?;
            match self.wait_ready(deadline).await {
                Ok(()) => return Ok(()),
                // Backends of a killed server may still hold its shared memory for a moment.
                Err(e) if Instant::now() < deadline && self.exited_early() => {
                    tracing_note(&self.log, &e);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                Err(e) => {
                    self.kill();
                    return Err(e);
                }
            }
        }
    }

    fn exited_early(&mut self) -> bool {
        let gone = matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(Some(_))));
        if gone {
            self.child = None;
        }
        gone
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("cannot open {}", self.log.display()))?;
        let err = out
            .try_clone()
            .with_context(|| format!("cannot open {}", self.log.display()))?;
        let mut cmd = self.command("postgres");
        cmd.arg("-D")
            .arg(&self.data)
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "unix_socket_directories="])
            .args(["-c", "max_connections=200"])
            // Deadlocks are found (and one transaction aborted, 40P01) after this long instead
            // of the default second, so contention does not stall the clients.
            .args(["-c", "deadlock_timeout=100ms"]);
        if !self.fsync {
            cmd.args(["-c", "fsync=off", "-c", "synchronous_commit=off"]);
        }
        cmd.stdout(out).stderr(err).process_group(0);
        die_with_parent(&mut cmd);
        let child = spawn_child(cmd)
            .with_context(|| format!("cannot start {}", self.bin.join("postgres").display()))?;
        self.child = Some(child);
        Ok(())
    }

    async fn wait_ready(&mut self, deadline: Instant) -> anyhow::Result<()> {
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                bail!(
                    "postgres exited while starting ({status}); last lines of {}:\n{}",
                    self.log.display(),
                    log_tail(&self.log, 15)
                );
            }
            let mut config = tokio_postgres::Config::new();
            config
                .host("127.0.0.1")
                .port(self.port)
                .user(DB_USER)
                .dbname("postgres")
                .connect_timeout(Duration::from_millis(500));
            let attempt = config.connect(tokio_postgres::NoTls);
            if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(1), attempt).await {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "postgres did not accept connections on 127.0.0.1:{} within {READY_TIMEOUT:?}; last lines of {}:\n{}",
                    self.port,
                    self.log.display(),
                    log_tail(&self.log, 15)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILLs the server and every backend (its process group), and reaps the postmaster.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let _ = child.wait();
        }
    }

    /// Fast shutdown (SIGINT: open transactions roll back), SIGKILL of the group after
    /// [`STOP_GRACE`]; removes the data directory (the log stays).
    pub async fn stop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let group = Pid::from_raw(child.id() as i32);
            let _ = killpg(group, Signal::SIGCONT);
            let _ = nix::sys::signal::kill(group, Signal::SIGINT);
            let deadline = Instant::now() + STOP_GRACE;
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        self.kill();
        self.remove_temp();
        let _ = std::fs::remove_dir_all(&self.data);
    }

    /// True if the postmaster exited on its own: why, with the log's tail.
    pub fn exited(&mut self) -> Option<String> {
        let status = match self.child.as_mut()?.try_wait() {
            Ok(Some(status)) => status.to_string(),
            Ok(None) => return None,
            Err(e) => format!("cannot be waited for: {e}"),
        };
        self.kill();
        Some(format!(
            "postgres exited on its own ({status}); last lines of {}:\n{}",
            self.log.display(),
            log_tail(&self.log, 15)
        ))
    }

    fn remove_temp(&mut self) {
        if self.data_is_temp {
            let _ = std::fs::remove_dir_all(&self.data);
            self.data_is_temp = false;
        }
    }
}

/// Notes in the server's log that a start is retried (the old server's backends were still
/// leaving), so the log explains the repeated start-up lines.
fn tracing_note(log: &Path, e: &anyhow::Error) {
    use std::io::Write;
    if let Ok(mut f) = File::options().append(true).open(log) {
        let first = e.to_string();
        let first = first.lines().next().unwrap_or("");
        let _ = writeln!(f, "ferrocheck: start failed ({first}); retrying");
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.kill();
        self.remove_temp();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_folder_is_unreachable_for_other_users() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("a/b");
        std::fs::create_dir_all(&inner).unwrap();
        let other = (Uid::from_raw(65534), Gid::from_raw(65534));
        std::fs::set_permissions(dir.path().join("a"), std::fs::Permissions::from_mode(0o700))
            .unwrap();
        assert!(!reachable(&inner.join("data"), other.0, other.1));
        std::fs::set_permissions(dir.path().join("a"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let tmp_reachable = reachable(&inner.join("data"), other.0, other.1);
        // The temp dir itself may sit under a private folder; only compare when it does not.
        if reachable(dir.path(), other.0, other.1) {
            assert!(tmp_reachable);
        }
    }
}
