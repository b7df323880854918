//! The userspace proxy on loopback: added delay is observed, a cut blocks and mending resumes,
//! loss resets connections, and grudges cut exactly the links they name.

use ferrocheck::nemesis::families::packet::{PacketFault, PacketFaults, PacketNemesis};
use ferrocheck::nemesis::families::partition::PartitionFault;
use ferrocheck::nemesis::proxy::{LinkFaults, Proxy};
use ferrocheck::nemesis::{Nemesis, Partition};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

/// An echo server on 127.0.0.1; returns its address.
async fn echo() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// One round trip through `s`; `None` if it takes longer than `limit`.
async fn round_trip(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4];
    let work = async {
        s.write_all(b"ping").await.ok()?;
        s.read_exact(&mut buf).await.ok()
    };
    timeout(limit, work).await.ok()??;
    Some(start.elapsed())
}

#[tokio::test]
async fn delay_is_added_and_cut_blocks() {
    let up = echo().await;
    let proxy = Proxy::start("127.0.0.2:0".parse().unwrap(), up, "client", "n1", 1)
        .await
        .expect("starting the proxy on 127.0.0.2");
    let ctl = proxy.control();
    let mut s = TcpStream::connect(proxy.local_addr()).await.unwrap();

    let base = round_trip(&mut s, Duration::from_secs(2))
        .await
        .expect("no faults");
    assert!(base < Duration::from_millis(250), "{base:?}");

    ctl.set(LinkFaults {
        delay: Duration::from_millis(150),
        ..LinkFaults::default()
    });
    let slow = round_trip(&mut s, Duration::from_secs(3))
        .await
        .expect("delayed");
    // 150 ms each way.
    assert!(slow >= Duration::from_millis(290), "{slow:?}");
    assert!(slow < Duration::from_millis(1500), "{slow:?}");

    ctl.heal();
    ctl.cut(true);
    assert!(
        round_trip(&mut s, Duration::from_millis(400))
            .await
            .is_none(),
        "a cut link forwards nothing"
    );
    let mut fresh = TcpStream::connect(proxy.local_addr()).await.unwrap();
    assert!(round_trip(&mut fresh, Duration::from_millis(300))
        .await
        .is_none());
    ctl.cut(false);
    // The held-back bytes arrive once mended.
    let mut buf = [0u8; 4];
    timeout(Duration::from_secs(2), s.read_exact(&mut buf))
        .await
        .expect("held bytes arrive after mending")
        .unwrap();
    assert!(round_trip(&mut fresh, Duration::from_secs(2))
        .await
        .is_some());
}

#[tokio::test]
async fn packet_nemesis_loses_chunks_and_heals() {
    let up = echo().await;
    let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), up, "client", "n1", 7)
        .await
        .unwrap();
    let mut nem = PacketNemesis::new(vec![proxy.control()]);
    nem.invoke(
        &PacketFault::Start(PacketFaults {
            delay_ms: 0,
            jitter_ms: 0,
            drop: 1.0,
        })
        .into(),
    )
    .unwrap();
    let mut s = TcpStream::connect(proxy.local_addr()).await.unwrap();
    assert!(
        round_trip(&mut s, Duration::from_secs(1)).await.is_none(),
        "with loss 1.0 nothing comes back"
    );
    nem.heal().unwrap();
    let mut s = TcpStream::connect(proxy.local_addr()).await.unwrap();
    assert!(round_trip(&mut s, Duration::from_secs(1)).await.is_some());
}

#[tokio::test]
async fn grudge_cuts_only_named_links() {
    let up = echo().await;
    let a = Proxy::start("127.0.0.1:0".parse().unwrap(), up, "n1", "n2", 1)
        .await
        .unwrap();
    let b = Proxy::start("127.0.0.1:0".parse().unwrap(), up, "n2", "n1", 1)
        .await
        .unwrap();
    let mut nem = PacketNemesis::new(vec![a.control(), b.control()]);
    let mut grudge = ferrocheck::nemesis::Grudge::new();
    grudge.insert("n2".into(), ["n1".to_string()].into_iter().collect());
    nem.invoke(
        &PartitionFault::Start(Partition {
            name: "one-way".into(),
            grudge,
        })
        .into(),
    )
    .unwrap();
    assert!(a.control().faults().cut, "n1 -> n2 is cut");
    assert!(!b.control().faults().cut, "n2 -> n1 still works");
    nem.invoke(&PartitionFault::Stop.into()).unwrap();
    assert!(!a.control().faults().cut);
}
