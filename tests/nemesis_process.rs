//! Pause, resume and kill on real processes, observed through /proc.

mod nemesis_support;

use ferrocheck::nemesis::process::{self, PauseNemesis, Pauser};
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
    nem.invoke(&Fault::Pause(vec!["n1".into(), "n2".into()]))
        .unwrap();
    assert!(reaches(a.pid(), 'T') && reaches(b.pid(), 'T'));
    nem.invoke(&Fault::Resume(vec!["n1".into()])).unwrap();
    assert!(reaches(a.pid(), 'S'));
    assert_eq!(process::state(b.pid()), Some('T'));
    nem.heal().unwrap();
    assert!(reaches(b.pid(), 'S'), "heal resumes every paused node");
    assert!(nem.invoke(&Fault::Pause(vec!["n9".into()])).is_err());
}
