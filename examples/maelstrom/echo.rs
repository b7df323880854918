//! A Maelstrom `echo` node in Rust, in one file: it answers `init` with `init_ok` and each
//! `echo` with `echo_ok` carrying the same payload. Build with
//! `cargo build --release --example maelstrom-echo`, then
//! `ferrocheck test -w echo --bin target/release/examples/maelstrom-echo --node-count 1`.

use serde_json::{json, Value};
use std::io::{BufRead, Write};

fn main() {
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    let mut node_id = String::new();
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
        let mut reply = match body["type"].as_str() {
            Some("init") => {
                node_id = body["node_id"].as_str().unwrap_or("n?").to_owned();
                eprintln!("{node_id} initialized");
                json!({"type": "init_ok"})
            }
            Some("echo") => json!({"type": "echo_ok", "echo": body["echo"]}),
            other => {
                json!({"type": "error", "code": 10, "text": format!("not supported: {other:?}")})
            }
        };
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
