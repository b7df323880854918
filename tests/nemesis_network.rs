//! The run network: namespaces, addresses, commands inside a node, entering the client
//! namespace, removal, and the refusal to send when a route could leave the machine.

mod support;

use ferrocheck::nemesis::netns::{self, Network, CLIENT_ADDR};
use ferrocheck::nemesis::tools;
use ferrocheck::nemesis::NemesisError;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;
use support::*;

fn names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("n{i}")).collect()
}

fn own_netns() -> std::path::PathBuf {
    std::fs::read_link("/proc/thread-self/ns/net").expect("reading /proc/thread-self/ns/net")
}

#[test]
fn network_is_made_used_and_removed() {
    if !netns_available() {
        return;
    }
    let rec = record();
    let mut net = Network::create(&rec, &names(2)).expect("creating the network");
    let made = namespaces_of(rec.run());
    assert_eq!(made.len(), 4, "hub, client and two nodes: {made:?}");
    assert_eq!(net.node("n2").unwrap().addr, Ipv4Addr::new(10, 77, 0, 12));

    // A command runs inside the node's namespace: it sees the node's address.
    let out = net
        .command_in("n1", "ip")
        .unwrap()
        .args(["-o", "-4", "addr", "show"])
        .output()
        .expect("running ip in n1");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("10.77.0.11/24"), "{text}");
    assert!(!text.contains("10.77.0.12"), "{text}");

    // A server in n2, a client in the client namespace.
    let addr = SocketAddr::from((net.node("n2").unwrap().addr, 7100));
    let listener = netns::run_in(&net.node("n2").unwrap().namespace, move || {
        TcpListener::bind(addr)
    })
    .unwrap()
    .expect("binding in n2");
    let before = own_netns();
    {
        let _inside = net.enter_client().expect("entering the client namespace");
        assert_ne!(own_netns(), before);
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connecting");
        assert_eq!(s.local_addr().unwrap().ip(), CLIENT_ADDR);
        let (_, peer) = listener.accept().expect("accepting");
        assert_eq!(peer.ip(), CLIENT_ADDR);
    }
    assert_eq!(
        own_netns(),
        before,
        "leaving returns the thread to its namespace"
    );

    net.destroy().expect("destroying");
    assert!(namespaces_of(rec.run()).is_empty());
}

#[test]
fn a_route_that_could_leave_is_refused() {
    if !netns_available() {
        return;
    }
    let rec = record();
    let net = Network::create(&rec, &names(2)).expect("creating the network");
    let client = net.client_namespace();

    // Addresses outside the run range are refused before anything is looked up.
    let outside = netns::verify_routes(client, "fc0", &[Ipv4Addr::new(192, 0, 2, 1)]);
    assert!(
        matches!(outside, Err(NemesisError::UnsafeRoute(_))),
        "{outside:?}"
    );
    // Namespaces ferrocheck did not make are refused.
    let foreign = netns::verify_routes("default", "fc0", &[Ipv4Addr::new(10, 77, 0, 11)]);
    assert!(
        matches!(foreign, Err(NemesisError::UnsafeRoute(_))),
        "{foreign:?}"
    );

    // A more specific route for n1 over another device: verify and enter_client refuse.
    let c = Some(client);
    tools::ip(
        &[
            "link", "add", "other0", "type", "veth", "peer", "name", "other1",
        ],
        c,
    )
    .unwrap();
    tools::ip(&["link", "set", "other0", "up"], c).unwrap();
    tools::ip(&["route", "add", "10.77.0.11/32", "dev", "other0"], c).unwrap();
    let err = net
        .verify()
        .expect_err("a route over other0 must be refused");
    assert!(matches!(err, NemesisError::UnsafeRoute(_)));
    assert!(err.to_string().contains("10.77.0.11"), "{err}");
    assert!(net.enter_client().is_err());

    // A gateway route is refused too.
    tools::ip(&["route", "del", "10.77.0.11/32"], c).unwrap();
    net.verify().expect("back to safe");
    tools::ip(&["route", "add", "10.77.0.11/32", "via", "10.77.0.12"], c).unwrap();
    assert!(
        net.verify().is_err(),
        "a route via a gateway must be refused"
    );
}

#[test]
fn leftover_namespace_blocks_creation_with_a_hint() {
    if !netns_available() {
        return;
    }
    let rec = record();
    let hub = format!("{}hub", netns::namespace_prefix(rec.run()));
    tools::ip(&["netns", "add", &hub], None).unwrap();
    let res = Network::create(&rec, &names(1));
    netns::delete_namespace(&hub).unwrap();
    let err = res.expect_err("an existing namespace must stop creation");
    assert!(err.to_string().contains("ferrocheck cleanup"), "{err}");
    assert!(namespaces_of(rec.run()).is_empty());
}

#[test]
fn tokio_runtime_started_inside_the_client_namespace_stays_there() {
    if !netns_available() {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let rec = record();
    let net = Network::create(&rec, &names(1)).expect("creating the network");
    let node = net.node("n1").unwrap().clone();
    let addr = SocketAddr::from((node.addr, 7300));
    let listener = netns::run_in(&node.namespace, move || TcpListener::bind(addr))
        .unwrap()
        .expect("binding in n1");
    let client_ino = std::fs::metadata(format!("/run/netns/{}", net.client_namespace()))
        .unwrap()
        .ino();
    let before = own_netns();

    // What the controller does: on one thread, enter, then build the runtime.
    let inos = std::thread::scope(|s| {
        s.spawn(|| {
            let _inside = net.enter_client().expect("entering");
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let mut inos = Vec::new();
                for _ in 0..4 {
                    let h = tokio::spawn(async move {
                        let s = tokio::time::timeout(
                            Duration::from_secs(2),
                            tokio::net::TcpStream::connect(addr),
                        )
                        .await
                        .expect("connect in time")
                        .expect("connect");
                        assert_eq!(s.local_addr().unwrap().ip(), CLIENT_ADDR);
                        std::fs::metadata("/proc/thread-self/ns/net").unwrap().ino()
                    });
                    inos.push(h.await.unwrap());
                }
                inos
            })
        })
        .join()
        .expect("client thread")
    });
    assert!(
        inos.iter().all(|i| *i == client_ino),
        "every worker is in the client namespace"
    );
    assert_eq!(
        own_netns(),
        before,
        "the test thread never left the root namespace"
    );
    drop(listener);
}
