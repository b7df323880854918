//! Cleanup after a killed run: leftovers made the way a run makes them (namespaces with
//! partition rules, a stopped process, clock files) are removed by `ferrocheck cleanup`, while a
//! live run's namespaces are left alone.

mod support;

use ferrocheck::nemesis::clock::Clock;
use ferrocheck::nemesis::netns::Network;
use ferrocheck::nemesis::partition::{Firewall, PartitionKind};
use ferrocheck::nemesis::process::{self, Pauser};
use ferrocheck::nemesis::state::write_atomic;
use rand::SeedableRng;
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use support::*;

struct Sleeper(Child);

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn reaches(pid: u32, want: char) -> bool {
    let end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < end {
        if process::state(pid) == Some(want) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn cleanup_removes_a_killed_runs_leftovers_only() {
    if !netns_available() || !tool_available("nft", "nftables") {
        return;
    }
    let nodes = vec!["n1".to_string(), "n2".to_string()];

    // A live run: must survive the sweep.
    let live = record();
    let live_net = Network::create(&live, &nodes).expect("live network");

    // A "killed" run: make everything, then forget the guards as a SIGKILL would.
    let dead = record();
    let _leftovers = NamespacesOf(dead.run().to_owned());
    let net = Network::create(&dead, &nodes).expect("dead network");
    let mut fw = Firewall::new(net.nodes()).unwrap();
    let p = PartitionKind::Halves
        .generate(&nodes, &mut rand::rngs::StdRng::seed_from_u64(0))
        .unwrap();
    fw.apply(&p.grudge).unwrap();
    let sleeper = Sleeper(Command::new("sleep").arg("30").spawn().unwrap());
    let pid = sleeper.0.id();
    let mut pauser = Pauser::new(Some(&dead));
    pauser.pause(pid).unwrap();
    assert!(reaches(pid, 'T'));
    let mut clock = Clock::for_run(&dead).unwrap();
    clock.bump("n1", 5000).unwrap();
    let clock_file = clock.file("n1");
    assert!(clock_file.exists());
    std::mem::forget(fw);
    std::mem::forget(pauser);
    std::mem::forget(net);
    // Its owner is gone: a pid beyond pid_max never matches a live process.
    write_atomic(&dead.dir().join("owner"), "4194305 1\n").unwrap();
    assert_eq!(namespaces_of(dead.run()).len(), 4);

    let out = Command::new(support::BIN)
        .arg("cleanup")
        .output()
        .expect("running ferrocheck cleanup");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&format!("fc-{}-hub", dead.run())), "{text}");

    assert!(
        namespaces_of(dead.run()).is_empty(),
        "dead run's namespaces are gone"
    );
    assert!(reaches(pid, 'S'), "the stopped process runs again");
    assert!(!clock_file.exists(), "clock files are gone");
    assert!(!dead.dir().exists(), "the run record is gone");

    assert_eq!(
        namespaces_of(live.run()).len(),
        4,
        "a live run is left alone"
    );
    live_net.verify().expect("the live network still works");
    drop(live_net);
    assert!(namespaces_of(live.run()).is_empty());
}
