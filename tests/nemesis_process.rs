//! Pause, resume and kill on real processes, observed through /proc.

mod support;

use ferrocheck::nemesis::families::kill::{KillFault, KillNemesis};
use ferrocheck::nemesis::families::pause::{PauseFault, PauseNemesis};
use ferrocheck::nemesis::process::{self, Pauser};
use ferrocheck::nemesis::{Fault, Nemesis, NodeControl};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A `sleep` child killed on drop.
struct Sleeper(Child);

impl Sleeper {
    fn start() -> Sleeper {
        Sleeper(
            Command::new("sleep")
                .arg("30")
                .spawn()
                .expect("starting sleep"),
        )
    }
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits up to a second for process `pid` to reach state `want`.
fn reaches(pid: u32, want: char) -> bool {
    let end = Instant::now() + Duration::from_secs(1);
    while Instant::now() < end {
        if process::state(pid) == Some(want) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn pause_resume_and_kill_are_seen_in_proc() {
    let mut s = Sleeper::start();
    let pid = s.pid();
    assert!(reaches(pid, 'S'));
    process::pause(pid).unwrap();
    assert!(reaches(pid, 'T'), "SIGSTOP leaves state T");
    process::resume(pid).unwrap();
    assert!(reaches(pid, 'S'), "SIGCONT leaves state T");
    process::kill(pid).unwrap();
    let status = s.0.wait().expect("waiting for sleep");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9));
}

#[test]
fn pauser_resumes_everything_when_dropped() {
    let a = Sleeper::start();
    let b = Sleeper::start();
    {
        let mut p = Pauser::new(None);
        p.pause(a.pid()).unwrap();
        p.pause(b.pid()).unwrap();
        assert!(reaches(a.pid(), 'T') && reaches(b.pid(), 'T'));
        assert_eq!(p.paused().len(), 2);
    }
    assert!(reaches(a.pid(), 'S') && reaches(b.pid(), 'S'));
}

struct Pids(Vec<(String, u32)>);

impl NodeControl for Pids {
    fn pid(&self, node: &str) -> Option<u32> {
        self.0.iter().find(|(n, _)| n == node).map(|(_, p)| *p)
    }
    fn restart(&self, node: &str) -> anyhow::Result<()> {
        anyhow::bail!("{node} cannot restart in this test")
    }
}

#[test]
fn pause_nemesis_heal_resumes_paused_nodes() {
    let a = Sleeper::start();
    let b = Sleeper::start();
    let nodes = Arc::new(Pids(vec![("n1".into(), a.pid()), ("n2".into(), b.pid())]));
    let mut nem = PauseNemesis::new(nodes, None);
    nem.invoke(&PauseFault::Pause(vec!["n1".into(), "n2".into()]).into())
        .unwrap();
    assert!(reaches(a.pid(), 'T') && reaches(b.pid(), 'T'));
    nem.invoke(&PauseFault::Resume(vec!["n1".into()]).into())
        .unwrap();
    assert!(reaches(a.pid(), 'S'));
    assert_eq!(process::state(b.pid()), Some('T'));
    nem.heal().unwrap();
    assert!(reaches(b.pid(), 'S'), "heal resumes every paused node");
    let unknown: Fault = PauseFault::Pause(vec!["n9".into()]).into();
    assert!(nem.invoke(&unknown).is_err());
}

/// Nodes whose processes are `sleep`s; restart starts a new one.
struct Restartable(std::sync::Mutex<Vec<Sleeper>>);

impl NodeControl for Restartable {
    fn pid(&self, node: &str) -> Option<u32> {
        let i: usize = node.strip_prefix('n')?.parse().ok()?;
        self.0.lock().ok()?.get(i - 1).map(|s| s.pid())
    }
    fn restart(&self, node: &str) -> anyhow::Result<()> {
        let i: usize = node.strip_prefix('n').unwrap_or("0").parse()?;
        let mut v = self.0.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        v[i - 1] = Sleeper::start();
        Ok(())
    }
}

#[test]
fn kill_nemesis_kills_and_heal_restarts() {
    let nodes = Arc::new(Restartable(std::sync::Mutex::new(vec![
        Sleeper::start(),
        Sleeper::start(),
    ])));
    let old = nodes.pid("n2").unwrap();
    let mut nem = KillNemesis::new(nodes.clone());
    nem.invoke(&KillFault::Kill(vec!["n2".into()]).into())
        .unwrap();
    assert!(reaches(old, 'Z'), "SIGKILL leaves a zombie until reaped");
    nem.heal().unwrap();
    let new = nodes.pid("n2").unwrap();
    assert_ne!(new, old, "heal restarted the killed node");
    assert!(reaches(new, 'S'));
    // Nothing is down any more: a second heal restarts nothing.
    nem.heal().unwrap();
    assert_eq!(nodes.pid("n2"), Some(new));
}
