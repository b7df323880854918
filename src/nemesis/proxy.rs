//! A userspace TCP proxy per link, with delay, jitter, loss and a cut switch changeable while it
//! runs.
//!
//! This kernel has no netem qdisc, so packet faults happen here: each link listens on one
//! address and forwards to an upstream, holding every chunk back by the link's delay (plus
//! uniform jitter) without reordering. TCP cannot lose bytes inside a stream, so a lost chunk
//! resets its connection, as a flaky link eventually does. A cut link forwards nothing (like a
//! partition: peers time out rather than being refused). Without root the proxy, listening on
//! 127.0.0.x, is also how partitions between nodes are made: cut the links that the grudge
//! names. The `packet` family ([`super::families::packet`]) holds the nemesis over these links.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// The faults on one link now.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LinkFaults {
    /// Added one-way delay.
    pub delay: Duration,
    /// Extra delay, uniform in `0..=jitter`.
    pub jitter: Duration,
    /// Probability that a chunk is lost (its connection is reset).
    pub drop: f64,
    /// Nothing is forwarded while set.
    pub cut: bool,
}

/// A handle that changes a running proxy's faults; cheap to clone, usable without a runtime.
#[derive(Clone, Debug)]
pub struct ProxyControl {
    from: String,
    to: String,
    faults: Arc<watch::Sender<LinkFaults>>,
}

impl ProxyControl {
    /// The node (or `client`) whose traffic enters this link.
    pub fn from(&self) -> &str {
        &self.from
    }

    /// The node the link leads to.
    pub fn to(&self) -> &str {
        &self.to
    }

    /// Replaces the link's faults.
    pub fn set(&self, faults: LinkFaults) {
        self.faults.send_replace(faults);
    }

    /// Cuts the link (`true`) or mends it (`false`), keeping its other faults.
    pub fn cut(&self, on: bool) {
        self.faults.send_modify(|f| f.cut = on);
    }

    /// The link's faults now.
    pub fn faults(&self) -> LinkFaults {
        self.faults.borrow().clone()
    }

    /// Removes every fault from the link.
    pub fn heal(&self) {
        self.set(LinkFaults::default());
    }
}

/// A running proxy for one link. Dropping it stops the proxy and closes its connections.
pub struct Proxy {
    local: SocketAddr,
    control: ProxyControl,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Listens on `listen` (port 0 picks one) and forwards every connection to `upstream`. The
    /// link is labelled `from` → `to` for partitions; `seed` makes loss and jitter reproducible.
    pub async fn start(
        listen: SocketAddr,
        upstream: SocketAddr,
        from: &str,
        to: &str,
        seed: u64,
    ) -> io::Result<Proxy> {
        let listener = TcpListener::bind(listen).await?;
        let local = listener.local_addr()?;
        let (tx, rx) = watch::channel(LinkFaults::default());
        let task = tokio::spawn(serve(listener, upstream, rx, seed));
        Ok(Proxy {
            local,
            control: ProxyControl {
                from: from.to_owned(),
                to: to.to_owned(),
                faults: Arc::new(tx),
            },
            task,
        })
    }

    /// Where clients connect.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The handle that changes this link's faults.
    pub fn control(&self) -> ProxyControl {
        self.control.clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    listener: TcpListener,
    upstream: SocketAddr,
    rx: watch::Receiver<LinkFaults>,
    seed: u64,
) {
    // Connections live in the set, so aborting this task aborts them all.
    let mut links = JoinSet::new();
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { continue };
                n += 1;
                let rx = rx.clone();
                let seed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(n);
                links.spawn(async move {
                    // A link that fails just closes both sides, as a broken connection would.
                    let _ = link(client, upstream, rx, seed).await;
                });
            }
            Some(_) = links.join_next(), if !links.is_empty() => {}
        }
    }
}

async fn wait_uncut(rx: &mut watch::Receiver<LinkFaults>) {
    // An error means the proxy is gone; nothing left to wait for.
    let _ = rx.wait_for(|f| !f.cut).await;
}

async fn link(
    client: TcpStream,
    upstream: SocketAddr,
    mut rx: watch::Receiver<LinkFaults>,
    seed: u64,
) -> io::Result<()> {
    wait_uncut(&mut rx).await;
    let server = TcpStream::connect(upstream).await?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    tokio::try_join!(
        pipe(cr, sw, rx.clone(), StdRng::seed_from_u64(seed)),
        pipe(sr, cw, rx, StdRng::seed_from_u64(!seed)),
    )?;
    Ok(())
}

async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    rx: watch::Receiver<LinkFaults>,
    mut rng: StdRng,
) -> io::Result<()> {
    let (tx, mut queue) = mpsc::channel::<(Instant, Vec<u8>)>(64);
    let faults = rx.clone();
    let reader = async move {
        let mut buf = vec![0u8; 16 * 1024];
        let mut last = Instant::now();
        loop {
            let n = from.read(&mut buf).await?;
            if n == 0 {
                return Ok::<(), io::Error>(());
            }
            let f = faults.borrow().clone();
            if f.drop > 0.0 && rng.gen_bool(f.drop.min(1.0)) {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "chunk lost by the packet nemesis",
                ));
            }
            let jitter = if f.jitter.is_zero() {
                Duration::ZERO
            } else {
                Duration::from_micros(rng.gen_range(0..=f.jitter.as_micros() as u64))
            };
            // Never earlier than the chunk before it: a stream keeps its order.
            last = last.max(Instant::now() + f.delay + jitter);
            if tx.send((last, buf[..n].to_vec())).await.is_err() {
                return Ok(());
            }
        }
    };
    let mut cut = rx;
    let writer = async move {
        while let Some((at, bytes)) = queue.recv().await {
            tokio::time::sleep_until(at).await;
            wait_uncut(&mut cut).await;
            to.write_all(&bytes).await?;
        }
        to.shutdown().await
    };
    tokio::try_join!(reader, writer)?;
    Ok(())
}
