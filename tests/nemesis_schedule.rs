//! A planned schedule driven against real processes and a real network, with the heal guard:
//! faults recorded as nemesis ops, everything undone when the guard drops, even on a panic.

mod support;

use ferrocheck::history::{OpType, Process};
use ferrocheck::nemesis::netns::Network;
use ferrocheck::nemesis::partition::Backend;
use ferrocheck::nemesis::registry::{self, Resources};
use ferrocheck::nemesis::schedule::Schedule;
use ferrocheck::nemesis::{process, Fault, HealGuard, Nemesis, NodeControl};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;

/// Node processes: `sleep`s inside the node namespaces, killed on drop.
struct Nodes {
    names: Vec<String>,
    children: Mutex<Vec<Child>>,
}

impl NodeControl for Nodes {
    fn pid(&self, node: &str) -> Option<u32> {
        let i = self.names.iter().position(|n| n == node)?;
        self.children.lock().ok()?.get(i).map(|c| c.id())
    }
    fn restart(&self, _node: &str) -> anyhow::Result<()> {
        anyhow::bail!("not in this test")
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        if let Ok(mut cs) = self.children.lock() {
            for c in cs.iter_mut() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

const SCHEDULE: &str = r#"
name = "test"
faults = ["partition+pause"]
interval = 1.0
duration = 1.0
[partition]
kinds = ["one"]
[pause]
targets = "all"
"#;

#[test]
fn guard_heals_partition_and_pause_even_on_panic() {
    if !netns_available() || !tool_available("nft", "nftables") {
        return;
    }
    let rec = record();
    let names: Vec<String> = (1..=3).map(|i| format!("n{i}")).collect();
    let net = Network::create(&rec, &names).expect("network");
    let children = names
        .iter()
        .map(|n| {
            net.command_in(n, "sleep")
                .unwrap()
                .arg("30")
                .spawn()
                .expect("starting sleep")
        })
        .collect();
    let nodes = Arc::new(Nodes {
        names: names.clone(),
        children: Mutex::new(children),
    });
    let pids: Vec<u32> = names.iter().map(|n| nodes.pid(n).unwrap()).collect();

    let schedule = Schedule::parse(SCHEDULE, "test").unwrap();
    let plan = schedule.plan(&names, 9, Duration::from_secs(3)).unwrap();
    let starts: Vec<&Fault> = plan
        .iter()
        .filter(|p| p.at == Duration::from_secs(1))
        .map(|p| &p.fault)
        .collect();
    assert_eq!(starts.len(), 2, "{plan:?}");

    let nemesis = registry::build(
        &schedule,
        Resources {
            network: Some(&net),
            nodes: nodes.clone(),
            record: Some(&rec),
            clock: None,
            proxies: Vec::new(),
        },
    )
    .unwrap();
    let backend = Backend::Nft(ferrocheck::nemesis::tools::find("nft").unwrap());
    let has_rules = |n: usize| backend.has_rules(Some(&net.nodes()[n].namespace)).unwrap();

    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut guard = HealGuard::new(nemesis);
        for fault in &starts {
            let invoke = fault.op(OpType::Invoke, None);
            assert_eq!(invoke.process, Process::Nemesis);
            let res = guard.invoke(fault);
            let done = fault.op(OpType::Ok, Some(&res));
            assert!(res.is_ok(), "{res:?}");
            assert!(done.error.is_none());
        }
        assert!(pids.iter().all(|p| process::state(*p) == Some('T')));
        assert!((0..3).any(has_rules), "a node drops packets");
        panic!("the run fails mid-fault");
    }));
    assert!(result.is_err());
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        pids.iter().all(|p| process::state(*p) == Some('S')),
        "the guard resumed every node"
    );
    assert!(!(0..3).any(has_rules), "the guard healed the partition");
    assert!(
        rec.paused().is_empty(),
        "no paused process left in the record"
    );
}

#[test]
fn unavailable_families_are_refused_clearly() {
    let schedule = Schedule::load("packet").unwrap();
    let nodes = Arc::new(Nodes {
        names: vec![],
        children: Mutex::new(vec![]),
    });
    let err = registry::build(
        &schedule,
        Resources {
            network: None,
            nodes,
            record: None,
            clock: None,
            proxies: Vec::new(),
        },
    )
    .err()
    .expect("packet faults without proxies must be refused");
    assert!(err.to_string().contains("unavailable"), "{err}");
}
