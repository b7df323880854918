//! The node's server loop: accept connections, read commands, answer the ones every store
//! shares (`PING`) and hand the rest to the store.
//!
//! Each connection is served by its own task, one command at a time, so a client that pipelines
//! gets its replies in order.
//!
//! For `ferrocheck bench run` only: the environment variable [`SERVICE_TIME_ENV`] (microseconds)
//! makes every store command take at least that long (a busy wait, exact to the microsecond), a
//! store with a known service time against which the harness's own latency shows.

use super::resp::{Connection, Frame};
use super::{Node, Store, NOT_APPLIED};
use std::sync::Arc;
use tokio::net::TcpListener;

/// The environment variable giving a store command's least service time, in microseconds.
pub const SERVICE_TIME_ENV: &str = "FERROCHECK_NODE_SERVICE_US";

/// Serves `store` on `listener` until the process ends.
pub async fn serve(
    listener: TcpListener,
    node: Arc<Node>,
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: say so, breathe, go on.
                node.log(format!("accept failed: {e}"));
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let store = store.clone();
        let service = service_time();
        tokio::spawn(async move {
            let mut conn = Connection::new(stream);
            loop {
                let frame = match conn.read_frame().await {
                    Ok(Some(frame)) => frame,
                    Ok(None) => return,
                    Err(e) => {
                        let _ = conn.write_frame(&Frame::error("ERR", &e)).await;
                        return;
                    }
                };
                let started = std::time::Instant::now();
                let reply = answer(store.as_ref(), frame).await;
                while started.elapsed() < service {
                    std::hint::spin_loop();
                }
                if conn.write_frame(&reply).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// The least service time [`SERVICE_TIME_ENV`] asks for (zero when unset).
fn service_time() -> std::time::Duration {
    std::env::var(SERVICE_TIME_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(std::time::Duration::ZERO, std::time::Duration::from_micros)
}

/// The reply to one frame read from a connection.
async fn answer(store: &dyn Store, frame: Frame) -> Frame {
    let Some((name, args)) = command_words(frame) else {
        return Frame::error(NOT_APPLIED, "a command is an array of bulk strings");
    };
    match name.as_str() {
        "PING" => Frame::Simple("PONG".into()),
        _ => store.handle(&name, &args).await,
    }
}

/// Splits a command frame into its upper-cased name and its argument words.
fn command_words(frame: Frame) -> Option<(String, Vec<Option<String>>)> {
    let Frame::Array(Some(items)) = frame else {
        return None;
    };
    let mut words = items.into_iter().map(|item| match item {
        Frame::Bulk(b) => Some(b.map(|b| String::from_utf8_lossy(&b).into_owned())),
        Frame::Simple(s) => Some(Some(s)),
        Frame::Integer(n) => Some(Some(n.to_string())),
        _ => None,
    });
    let name = words.next()??.map(|n| n.to_ascii_uppercase())?;
    let args = words.collect::<Option<Vec<_>>>()?;
    Some((name, args))
}
