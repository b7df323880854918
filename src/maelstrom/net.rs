//! The simulated network: every message between nodes, clients and services passes through
//! here, in the harness's own process. A message is delayed by the configured latency
//! (`--latency` ms, `--latency-dist constant|uniform|exponential`), dropped when the nemesis has
//! cut its two nodes apart, and logged to `histories/<run>/messages.jsonl` with its send time,
//! its delivery time (or why it was dropped).

use super::protocol::Message;
use rand::rngs::StdRng;
use rand::Rng;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// How latencies are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dist {
    /// Always the mean.
    Constant,
    /// Uniform between 0 and twice the mean.
    Uniform,
    /// Exponential with the given mean.
    Exponential,
}

impl std::str::FromStr for Dist {
    type Err = String;
    fn from_str(s: &str) -> Result<Dist, String> {
        match s {
            "constant" => Ok(Dist::Constant),
            "uniform" => Ok(Dist::Uniform),
            "exponential" => Ok(Dist::Exponential),
            o => Err(format!(
                "unknown latency distribution {o:?}: use constant, uniform or exponential"
            )),
        }
    }
}

/// Message counts.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct NetStats {
    /// Every message sent.
    pub all: u64,
    /// Node → node.
    pub between_nodes: u64,
    /// Client → node and node → client.
    pub with_clients: u64,
    /// Node → service and service → node.
    pub with_services: u64,
    /// Dropped by a partition.
    pub dropped: u64,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    at: u64,
    seq: u64,
}

/// Which kind of endpoint a name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A node, by index.
    Node(usize),
    /// A client (`c…`).
    Client,
    /// A built-in service.
    Service,
}

/// The network.
pub struct Net {
    mean_ns: f64,
    dist: Dist,
    rng: StdRng,
    queue: BinaryHeap<Reverse<Pending>>,
    in_flight: std::collections::HashMap<u64, Message>,
    seq: u64,
    cut: BTreeSet<(usize, usize)>,
    log: Option<BufWriter<File>>,
    log_error: Option<String>,
    log_send: bool,
    log_recv: bool,
    /// Counts so far.
    pub stats: NetStats,
}

impl Net {
    /// A network logging to `log_path`.
    pub fn new(
        latency_ms: f64,
        dist: Dist,
        rng: StdRng,
        log_path: &Path,
        log_send: bool,
        log_recv: bool,
    ) -> anyhow::Result<Net> {
        let log = File::create(log_path)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", log_path.display()))?;
        Ok(Net {
            mean_ns: latency_ms * 1e6,
            dist,
            rng,
            queue: BinaryHeap::new(),
            in_flight: Default::default(),
            seq: 0,
            cut: BTreeSet::new(),
            log: Some(BufWriter::new(log)),
            log_error: None,
            log_send,
            log_recv,
            stats: NetStats::default(),
        })
    }

    fn delay(&mut self) -> u64 {
        let d = match self.dist {
            Dist::Constant => self.mean_ns,
            Dist::Uniform => self.rng.gen_range(0.0..=2.0 * self.mean_ns.max(0.0)),
            Dist::Exponential => {
                let u: f64 = self.rng.gen_range(f64::EPSILON..1.0);
                -u.ln() * self.mean_ns
            }
        };
        d.max(0.0) as u64
    }

    /// Cuts the links between `a` and `b` (both directions), or heals every cut when `groups`
    /// is empty. Nodes in the same group still talk.
    pub fn partition(&mut self, groups: &[Vec<usize>]) {
        self.cut.clear();
        for (gi, g) in groups.iter().enumerate() {
            for h in &groups[gi + 1..] {
                for &a in g {
                    for &b in h {
                        self.cut.insert((a.min(b), a.max(b)));
                    }
                }
            }
        }
    }

    /// True when a partition is in force.
    pub fn is_partitioned(&self) -> bool {
        !self.cut.is_empty()
    }

    /// Sends `msg` at time `now` (ns): queues it for delivery or drops it at a cut.
    pub fn send(&mut self, now: u64, msg: Message, from: Endpoint, to: Endpoint) {
        self.stats.all += 1;
        match (from, to) {
            (Endpoint::Node(_), Endpoint::Node(_)) => self.stats.between_nodes += 1,
            (Endpoint::Client, _) | (_, Endpoint::Client) => self.stats.with_clients += 1,
            _ => self.stats.with_services += 1,
        }
        let seq = self.seq;
        self.seq += 1;
        let dropped = match (from, to) {
            (Endpoint::Node(a), Endpoint::Node(b)) => self.cut.contains(&(a.min(b), a.max(b))),
            _ => false,
        };
        let at = now + self.delay();
        let mut entry = serde_json::json!({
            "id": seq, "sent": now, "src": msg.src, "dest": msg.dest, "body": msg.body,
        });
        if dropped {
            self.stats.dropped += 1;
            entry["dropped"] = "partition".into();
        } else {
            entry["delivered"] = at.into();
        }
        if self.log_send {
            eprintln!(
                "net send {:.3}s {}{}",
                now as f64 / 1e9,
                msg.to_line(),
                if dropped { " (dropped: partition)" } else { "" }
            );
        }
        self.write_log(&entry);
        if !dropped {
            self.queue.push(Reverse(Pending { at, seq }));
            self.in_flight.insert(seq, msg);
        }
    }

    fn write_log(&mut self, entry: &serde_json::Value) {
        if let Some(w) = &mut self.log {
            let r = serde_json::to_writer(&mut *w, entry)
                .map_err(std::io::Error::from)
                .and_then(|_| w.write_all(b"\n"));
            if let Err(e) = r {
                self.log_error
                    .get_or_insert_with(|| format!("writing messages.jsonl: {e}"));
                self.log = None;
            }
        }
    }

    /// When the next message is due, if any.
    pub fn next_due(&self) -> Option<u64> {
        self.queue.peek().map(|Reverse(p)| p.at)
    }

    /// The next message due by `now`, if any.
    pub fn pop_due(&mut self, now: u64) -> Option<Message> {
        while self.queue.peek().is_some_and(|Reverse(p)| p.at <= now) {
            let Reverse(p) = self.queue.pop()?;
            if let Some(m) = self.in_flight.remove(&p.seq) {
                if self.log_recv {
                    eprintln!("net recv {:.3}s {}", now as f64 / 1e9, m.to_line());
                }
                return Some(m);
            }
        }
        None
    }

    /// Flushes the message log; returns the first write error, if any.
    pub fn finish(&mut self) -> Option<String> {
        if let Some(w) = &mut self.log {
            if let Err(e) = w.flush() {
                self.log_error
                    .get_or_insert_with(|| format!("writing messages.jsonl: {e}"));
            }
        }
        self.log_error.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn msg(src: &str, dest: &str) -> Message {
        Message {
            src: src.into(),
            dest: dest.into(),
            body: super::super::workload::body([("type", "x".into())]),
        }
    }

    #[test]
    fn a_partition_drops_only_messages_between_cut_nodes() {
        let dir = tempfile::tempdir().unwrap();
        let mut net = Net::new(
            0.0,
            Dist::Constant,
            StdRng::seed_from_u64(1),
            &dir.path().join("m.jsonl"),
            false,
            false,
        )
        .unwrap();
        net.partition(&[vec![0], vec![1, 2]]);
        net.send(5, msg("n0", "n1"), Endpoint::Node(0), Endpoint::Node(1));
        net.send(5, msg("n1", "n2"), Endpoint::Node(1), Endpoint::Node(2));
        net.send(5, msg("c1", "n0"), Endpoint::Client, Endpoint::Node(0));
        assert_eq!(net.pop_due(5).map(|m| m.src), Some("n1".into()));
        assert_eq!(net.pop_due(5).map(|m| m.src), Some("c1".into()));
        assert!(net.pop_due(5).is_none());
        assert_eq!((net.stats.dropped, net.stats.between_nodes), (1, 2));
        net.finish();
        let log = std::fs::read_to_string(dir.path().join("m.jsonl")).unwrap();
        assert_eq!(log.lines().count(), 3);
        assert!(log
            .lines()
            .next()
            .unwrap()
            .contains("\"dropped\":\"partition\""));
    }
}
