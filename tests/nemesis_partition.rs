//! Partitions on real namespaces: traffic flows, stops during a partition, flows after heal;
//! a one-way partition blocks one direction only. Both nftables and the iptables fallback.

mod support;

use ferrocheck::nemesis::netns::{self, Network};
use ferrocheck::nemesis::partition::{Backend, Firewall, PartitionKind};
use ferrocheck::nemesis::tools;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;
use support::*;

// Long enough that a working link always answers on a loaded machine.
const WAIT: Duration = Duration::from_millis(1000);

/// Two nodes, a TCP listener on n2 and a UDP socket on each.
struct Pair {
    net: Network,
    _listener: TcpListener,
    tcp: SocketAddr,
    u1: UdpSocket,
    u2: UdpSocket,
}

fn pair(rec: &ferrocheck::nemesis::state::RunRecord) -> Pair {
    let net = Network::create(rec, &["n1".to_string(), "n2".to_string()]).expect("network");
    let (a1, a2) = (net.node("n1").unwrap().addr, net.node("n2").unwrap().addr);
    let tcp = SocketAddr::from((a2, 7200));
    let ns2 = net.node("n2").unwrap().namespace.clone();
    let ns1 = net.node("n1").unwrap().namespace.clone();
    let listener = netns::run_in(&ns2, move || TcpListener::bind(tcp))
        .unwrap()
        .unwrap();
    let u2 = netns::run_in(&ns2, move || UdpSocket::bind((a2, 7201)))
        .unwrap()
        .unwrap();
    let u1 = netns::run_in(&ns1, move || UdpSocket::bind((a1, 7201)))
        .unwrap()
        .unwrap();
    for u in [&u1, &u2] {
        u.set_read_timeout(Some(WAIT)).unwrap();
    }
    Pair {
        net,
        _listener: listener,
        tcp,
        u1,
        u2,
    }
}

impl Pair {
    /// Can n1 open a TCP connection to n2?
    fn tcp_ok(&self) -> bool {
        let ns1 = self.net.node("n1").unwrap().namespace.clone();
        let addr = self.tcp;
        netns::run_in(&ns1, move || {
            TcpStream::connect_timeout(&addr, WAIT).is_ok()
        })
        .unwrap()
    }

    /// Does a datagram from `a` reach `b`? (Drains stale datagrams first.)
    fn udp_ok(a: &UdpSocket, b: &UdpSocket) -> bool {
        b.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 64];
        while b.recv_from(&mut buf).is_ok() {}
        b.set_nonblocking(false).unwrap();
        a.send_to(b"ping", b.local_addr().unwrap()).unwrap();
        matches!(b.recv_from(&mut buf), Ok((4, _)))
    }

    fn forward(&self) -> bool {
        Pair::udp_ok(&self.u1, &self.u2)
    }

    fn backward(&self) -> bool {
        Pair::udp_ok(&self.u2, &self.u1)
    }
}

fn partition_round_trip(backend: Backend) {
    let rec = record();
    let p = pair(&rec);
    let nodes = vec!["n1".to_string(), "n2".to_string()];
    let mut fw = Firewall::with_backend(p.net.nodes(), backend.clone());
    let ns1 = p.net.node("n1").unwrap().namespace.clone();

    assert!(
        p.tcp_ok() && p.forward() && p.backward(),
        "before: all flows"
    );

    let halves = PartitionKind::Halves
        .generate(&nodes, &mut StdRng::seed_from_u64(1))
        .unwrap();
    fw.apply(&halves.grudge).expect("applying halves");
    assert!(backend.has_rules(Some(&ns1)).unwrap());
    assert!(!p.tcp_ok(), "during halves: TCP must fail");
    assert!(
        !p.forward() && !p.backward(),
        "during halves: UDP lost both ways"
    );

    fw.heal().expect("healing");
    assert!(
        !backend.has_rules(Some(&ns1)).unwrap(),
        "heal removes the rules"
    );
    assert!(
        p.tcp_ok() && p.forward() && p.backward(),
        "after heal: all flows"
    );

    let one_way = PartitionKind::OneWay {
        from: vec!["n1".into()],
        to: vec!["n2".into()],
    }
    .generate(&nodes, &mut StdRng::seed_from_u64(1))
    .unwrap();
    fw.apply(&one_way.grudge).expect("applying one-way");
    assert!(!p.forward(), "one-way: n2 must not hear n1");
    assert!(p.backward(), "one-way: n1 still hears n2");
    fw.heal().expect("healing");
    assert!(p.forward() && p.backward());
}

#[test]
fn nftables_partition_blocks_and_heals() {
    if !netns_available() || !tool_available("nft", "nftables") {
        return;
    }
    let nft = tools::find("nft").unwrap();
    partition_round_trip(Backend::Nft(nft));
}

#[test]
fn iptables_partition_blocks_and_heals() {
    if !netns_available() || !tool_available("iptables", "iptables") {
        return;
    }
    let ipt = tools::find("iptables").unwrap();
    partition_round_trip(Backend::Iptables(ipt));
}
