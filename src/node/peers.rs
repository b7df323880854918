//! Connections from one node to another, for forwarding and replication.
//!
//! A [`Peer`] keeps a small pool of idle connections: a call takes one (or opens a new one),
//! and puts it back only after a clean reply. A connection that saw an error or a timeout is
//! dropped, because a late reply could otherwise be read as the answer to the next call. So a
//! paused or partitioned peer never blocks calls to the others, and calls to one peer can run
//! side by side.
//!
//! A failed call says whether the request may have reached the peer ([`CallError`]): stores
//! need that to tell a client "certainly not applied" from "unknown".

use super::resp::{Connection, Frame};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

/// How long to wait for a TCP connection to a peer.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// How many idle connections to keep per peer.
const MAX_IDLE: usize = 256;

/// Why a call to a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The request was never sent (the connection could not be opened): it had no effect.
    #[error("could not reach {peer}: {error}")]
    NotSent {
        /// The peer's id.
        peer: String,
        /// What went wrong.
        error: std::io::Error,
    },
    /// The request may have been sent; the peer may or may not have acted on it.
    #[error("no reply from {peer}: {error}")]
    NoReply {
        /// The peer's id.
        peer: String,
        /// What went wrong (a timeout, a closed connection, ...).
        error: std::io::Error,
    },
}

/// Another node of the cluster.
#[derive(Debug)]
pub struct Peer {
    /// Its id, e.g. `n2`.
    pub id: String,
    /// Where it listens.
    pub addr: SocketAddr,
    idle: Mutex<Vec<Connection>>,
}

impl Peer {
    /// A peer with no connections yet.
    pub fn new(id: String, addr: SocketAddr) -> Peer {
        Peer {
            id,
            addr,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Sends `request` and waits up to `timeout` for the reply.
    pub async fn call(&self, request: &Frame, timeout: Duration) -> Result<Frame, CallError> {
        // Take the most recently used idle connection that is still clean (checking only the
        // ones taken, not the whole pool: one peek per call, not one per idle connection).
        let pooled = self
            .idle
            .lock()
            .map(|mut idle| {
                while let Some(conn) = idle.pop() {
                    if !conn.is_stale() {
                        return Some(conn);
                    }
                }
                None
            })
            .unwrap_or(None);
        let mut conn = match pooled {
            Some(conn) => conn,
            None => Connection::connect(self.addr, CONNECT_TIMEOUT.min(timeout))
                .await
                .map_err(|error| CallError::NotSent {
                    peer: self.id.clone(),
                    error,
                })?,
        };
        let reply = match tokio::time::timeout(timeout, conn.call(request)).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(error)) => {
                return Err(CallError::NoReply {
                    peer: self.id.clone(),
                    error,
                })
            }
            Err(_) => {
                return Err(CallError::NoReply {
                    peer: self.id.clone(),
                    error: std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no reply within {timeout:?}"),
                    ),
                })
            }
        };
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
        Ok(reply)
    }
}
