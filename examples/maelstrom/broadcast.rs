//! A Maelstrom `broadcast` node in Rust, in one file. Every 100 ms each node sends every other
//! node the messages that node has not acknowledged yet (`gossip`, answered with the messages
//! received), so a message crosses a partition once it heals and no acknowledged broadcast is
//! lost. One thread reads stdin into a channel; the main thread handles messages and the timer.
//! Build with `cargo build --release --example maelstrom-broadcast`, then
//! `ferrocheck test -w broadcast --bin target/release/examples/maelstrom-broadcast --nemesis partition`.

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const GOSSIP_EVERY: Duration = Duration::from_millis(100);

struct Node {
    id: String,
    peers: Vec<String>,
    messages: BTreeSet<i64>,
    /// What each peer has acknowledged.
    confirmed: BTreeMap<String, BTreeSet<i64>>,
    next_msg_id: u64,
    out: std::io::StdoutLock<'static>,
}

impl Node {
    fn send(&mut self, dest: &Value, body: Value) -> std::io::Result<()> {
        let line = json!({"src": self.id, "dest": dest, "body": body});
        writeln!(self.out, "{line}")?;
        self.out.flush()
    }

    fn handle(&mut self, msg: &Value) -> std::io::Result<()> {
        let body = &msg["body"];
        let mut reply = match body["type"].as_str() {
            Some("init") => {
                self.id = body["node_id"].as_str().unwrap_or("n?").to_owned();
                self.peers = body["node_ids"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .filter(|p| *p != self.id)
                    .map(str::to_owned)
                    .collect();
                eprintln!("{} initialized; peers {:?}", self.id, self.peers);
                json!({"type": "init_ok"})
            }
            Some("topology") => json!({"type": "topology_ok"}),
            Some("broadcast") => {
                if let Some(m) = body["message"].as_i64() {
                    self.messages.insert(m);
                }
                json!({"type": "broadcast_ok"})
            }
            Some("read") => json!({"type": "read_ok", "messages": self.messages}),
            Some("gossip") => {
                let got: Vec<i64> = body["messages"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_i64)
                    .collect();
                self.messages.extend(&got);
                json!({"type": "gossip_ok", "messages": got})
            }
            Some("gossip_ok") => {
                let peer = msg["src"].as_str().unwrap_or("").to_owned();
                let acked = body["messages"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_i64);
                self.confirmed.entry(peer).or_default().extend(acked);
                return Ok(());
            }
            other => {
                json!({"type": "error", "code": 10, "text": format!("not supported: {other:?}")})
            }
        };
        reply["in_reply_to"] = body["msg_id"].clone();
        self.send(&msg["src"], reply)
    }

    fn gossip(&mut self) -> std::io::Result<()> {
        for peer in self.peers.clone() {
            let confirmed = self.confirmed.entry(peer.clone()).or_default();
            let missing: Vec<i64> = self.messages.difference(confirmed).copied().collect();
            if missing.is_empty() {
                continue;
            }
            self.next_msg_id += 1;
            let body = json!({"type": "gossip", "msg_id": self.next_msg_id, "messages": missing});
            self.send(&Value::String(peer), body)?;
        }
        Ok(())
    }
}

fn main() {
    let (tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut node = Node {
        id: String::new(),
        peers: Vec::new(),
        messages: BTreeSet::new(),
        confirmed: BTreeMap::new(),
        next_msg_id: 0,
        out: std::io::stdout().lock(),
    };
    let mut next_gossip = Instant::now() + GOSSIP_EVERY;
    loop {
        let wait = next_gossip.saturating_duration_since(Instant::now());
        let done = match lines.recv_timeout(wait) {
            Ok(line) => match serde_json::from_str::<Value>(&line) {
                Ok(msg) => node.handle(&msg).is_err(),
                Err(e) => {
                    eprintln!("ignoring a line that is not JSON ({e}): {line}");
                    false
                }
            },
            Err(mpsc::RecvTimeoutError::Timeout) => false,
            // stdin closed: the run is over.
            Err(mpsc::RecvTimeoutError::Disconnected) => true,
        };
        if done {
            break;
        }
        if Instant::now() >= next_gossip {
            if node.gossip().is_err() {
                break;
            }
            next_gossip = Instant::now() + GOSSIP_EVERY;
        }
    }
}
