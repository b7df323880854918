//! A Maelstrom `unique-ids` node in Rust, in one file: each id is the node's own id and a
//! counter (`n3-17`), so ids are unique across nodes without any coordination, also while the
//! network is partitioned. Build with `cargo build --release --example maelstrom-unique-ids`,
//! then `ferrocheck test -w unique-ids --bin target/release/examples/maelstrom-unique-ids`.

use serde_json::{json, Value};
use std::io::{BufRead, Write};

fn main() {
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    let mut node_id = String::new();
    let mut counter = 0u64;
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let msg: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("ignoring a line that is not JSON ({e}): {line}");
                continue;
            }
        };
        let body = &msg["body"];
        let reply = match body["type"].as_str() {
            Some("init") => {
                node_id = body["node_id"].as_str().unwrap_or("n?").to_owned();
                eprintln!("{node_id} initialized");
                json!({"type": "init_ok"})
            }
            Some("generate") => {
                counter += 1;
                json!({"type": "generate_ok", "id": format!("{node_id}-{counter}")})
            }
            other => {
                json!({"type": "error", "code": 10, "text": format!("not supported: {other:?}")})
            }
        };
        let mut reply = reply;
        reply["in_reply_to"] = body["msg_id"].clone();
        let out = json!({"src": node_id, "dest": msg["src"], "body": reply});
        if writeln!(stdout, "{out}")
            .and_then(|_| stdout.flush())
            .is_err()
        {
            break;
        }
    }
}
