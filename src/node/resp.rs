//! RESP, the Redis serialization protocol: the subset the toy stores speak.
//!
//! A RESP value ([`Frame`]) starts with one type byte and ends with CRLF: `+OK` (simple string),
//! `-ERR why` (error), `:42` (integer), `$3\r\nabc` (bulk string; `$-1` is nil) and `*2\r\n...`
//! (array of frames; `*-1` is a nil array). A command is an array of bulk strings, so
//! `redis-cli -p PORT GET k` can talk to a node. A line that does not start with a type byte is
//! an "inline command" (`GET k` typed into `nc`), split on whitespace.
//!
//! [`parse`] decodes one frame from a byte buffer (or says it needs more bytes), and
//! [`Connection`] wraps a TCP stream with a read buffer to send and receive whole frames.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest bulk string or array we accept, to keep a garbled peer from exhausting memory.
const MAX_LEN: usize = 64 * 1024 * 1024;

/// One RESP value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// `+text`: a short status such as `OK` or `PONG`.
    Simple(String),
    /// `-text`: an error; by convention the first word is a code such as `ERR`.
    Error(String),
    /// `:n`: an integer.
    Integer(i64),
    /// `$len\r\nbytes`: a binary-safe string; `None` is the nil bulk string `$-1`.
    Bulk(Option<Vec<u8>>),
    /// `*n\r\n...`: an array of frames; `None` is the nil array `*-1`.
    Array(Option<Vec<Frame>>),
}

impl Frame {
    /// A bulk string holding `s`.
    pub fn bulk(s: impl AsRef<[u8]>) -> Frame {
        Frame::Bulk(Some(s.as_ref().to_vec()))
    }

    /// A bulk string holding `s`, or the nil bulk string for `None`.
    pub fn opt_bulk(s: Option<impl AsRef<[u8]>>) -> Frame {
        Frame::Bulk(s.map(|s| s.as_ref().to_vec()))
    }

    /// The simple string `+OK`.
    pub fn ok() -> Frame {
        Frame::Simple("OK".into())
    }

    /// An error frame `-CODE message`.
    pub fn error(code: &str, message: impl std::fmt::Display) -> Frame {
        Frame::Error(format!("{code} {message}"))
    }

    /// A command: an array of bulk strings, each `None` sent as nil.
    pub fn command(words: &[Option<&[u8]>]) -> Frame {
        Frame::Array(Some(words.iter().map(|w| Frame::opt_bulk(*w)).collect()))
    }

    /// Appends the wire form of this frame to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Frame::Simple(s) => line(out, b'+', s.as_bytes()),
            Frame::Error(s) => line(out, b'-', s.as_bytes()),
            Frame::Integer(n) => line(out, b':', n.to_string().as_bytes()),
            Frame::Bulk(None) => out.extend_from_slice(b"$-1\r\n"),
            Frame::Bulk(Some(b)) => {
                line(out, b'$', b.len().to_string().as_bytes());
                out.extend_from_slice(b);
                out.extend_from_slice(b"\r\n");
            }
            Frame::Array(None) => out.extend_from_slice(b"*-1\r\n"),
            Frame::Array(Some(items)) => {
                line(out, b'*', items.len().to_string().as_bytes());
                for item in items {
                    item.encode(out);
                }
            }
        }
    }

    /// The wire form of this frame.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

fn line(out: &mut Vec<u8>, kind: u8, body: &[u8]) {
    out.push(kind);
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
}

/// Why bytes are not valid RESP.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("protocol error: {0}")]
pub struct ProtocolError(pub String);

/// Decodes one frame from the start of `buf`: `Ok(Some((frame, bytes used)))`, or `Ok(None)` if
/// `buf` holds only part of a frame so far.
pub fn parse(buf: &[u8]) -> Result<Option<(Frame, usize)>, ProtocolError> {
    let Some(&kind) = buf.first() else {
        return Ok(None);
    };
    if !b"+-:$*".contains(&kind) {
        return parse_inline(buf);
    }
    let Some((head, mut pos)) = read_line(buf, 1) else {
        return Ok(None);
    };
    let text = || String::from_utf8_lossy(head).into_owned();
    let frame = match kind {
        b'+' => Frame::Simple(text()),
        b'-' => Frame::Error(text()),
        b':' => Frame::Integer(parse_int(head)?),
        b'$' => match length(head)? {
            None => Frame::Bulk(None),
            Some(len) => {
                if buf.len() < pos + len + 2 {
                    return Ok(None);
                }
                if &buf[pos + len..pos + len + 2] != b"\r\n" {
                    return Err(ProtocolError("bulk string not followed by CRLF".into()));
                }
                let body = buf[pos..pos + len].to_vec();
                pos += len + 2;
                Frame::Bulk(Some(body))
            }
        },
        _ => match length(head)? {
            None => Frame::Array(None),
            Some(count) => {
                let mut items = Vec::with_capacity(count.min(1024));
                for _ in 0..count {
                    match parse(&buf[pos..])? {
                        None => return Ok(None),
                        Some((item, used)) => {
                            items.push(item);
                            pos += used;
                        }
                    }
                }
                Frame::Array(Some(items))
            }
        },
    };
    Ok(Some((frame, pos)))
}

/// An inline command: one line of words, as typed into `nc` or `telnet`.
fn parse_inline(buf: &[u8]) -> Result<Option<(Frame, usize)>, ProtocolError> {
    let Some(end) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > MAX_LEN {
            return Err(ProtocolError("inline command too long".into()));
        }
        return Ok(None);
    };
    let words = buf[..end]
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .map(Frame::bulk)
        .collect();
    Ok(Some((Frame::Array(Some(words)), end + 1)))
}

/// The bytes from `start` up to the next CRLF, and the position after it.
fn read_line(buf: &[u8], start: usize) -> Option<(&[u8], usize)> {
    let end = buf[start..].windows(2).position(|w| w == b"\r\n")? + start;
    Some((&buf[start..end], end + 2))
}

fn parse_int(digits: &[u8]) -> Result<i64, ProtocolError> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            ProtocolError(format!(
                "expected an integer, got {:?}",
                String::from_utf8_lossy(digits)
            ))
        })
}

/// A bulk or array length: `None` for -1 (nil).
fn length(digits: &[u8]) -> Result<Option<usize>, ProtocolError> {
    match parse_int(digits)? {
        -1 => Ok(None),
        n if n < 0 => Err(ProtocolError(format!("negative length {n}"))),
        n if n as usize > MAX_LEN => Err(ProtocolError(format!("length {n} too large"))),
        n => Ok(Some(n as usize)),
    }
}

/// A TCP stream that sends and receives whole frames.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Connection {
    /// Wraps an open stream.
    pub fn new(stream: TcpStream) -> Connection {
        let _ = stream.set_nodelay(true);
        Connection {
            stream,
            buf: Vec::with_capacity(4096),
        }
    }

    /// Connects to `addr`, giving up after `timeout`.
    pub async fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<Connection> {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(stream) => Ok(Connection::new(stream?)),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connecting to {addr} took longer than {timeout:?}"),
            )),
        }
    }

    /// True if the other side has closed this idle connection (or sent bytes nobody asked
    /// for): reusing it would make the next call fail for no reason of its own.
    pub fn is_stale(&self) -> bool {
        if !self.buf.is_empty() {
            return true;
        }
        let mut byte = 0u8;
        // SAFETY: a non-blocking peek of one byte into a local buffer on a socket we own.
        let n = unsafe {
            libc::recv(
                self.stream.as_raw_fd(),
                (&mut byte as *mut u8).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        let would_block = n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock;
        !would_block
    }

    /// Reads the next frame; `Ok(None)` if the peer closed the connection between frames.
    pub async fn read_frame(&mut self) -> io::Result<Option<Frame>> {
        loop {
            match parse(&self.buf) {
                Ok(Some((frame, used))) => {
                    self.buf.drain(..used);
                    return Ok(Some(frame));
                }
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed in the middle of a frame",
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends one frame.
    pub async fn write_frame(&mut self, frame: &Frame) -> io::Result<()> {
        self.stream.write_all(&frame.to_bytes()).await
    }

    /// Sends `request` and reads one reply; a closed connection is an `UnexpectedEof` error.
    pub async fn call(&mut self, request: &Frame) -> io::Result<Frame> {
        self.write_frame(request).await?;
        self.read_frame().await?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before the reply",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(frame: Frame) {
        let bytes = frame.to_bytes();
        assert_eq!(parse(&bytes), Ok(Some((frame, bytes.len()))));
    }

    #[test]
    fn every_kind_roundtrips() {
        roundtrip(Frame::ok());
        roundtrip(Frame::Error("ERR nope".into()));
        roundtrip(Frame::Integer(-17));
        roundtrip(Frame::bulk("a\r\nb"));
        roundtrip(Frame::bulk(""));
        roundtrip(Frame::Bulk(None));
        roundtrip(Frame::Array(None));
        roundtrip(Frame::Array(Some(vec![
            Frame::bulk("CAS"),
            Frame::Bulk(None),
            Frame::Array(Some(vec![Frame::Integer(1)])),
        ])));
    }

    #[test]
    fn encodes_a_command_as_redis_does() {
        let cmd = Frame::command(&[Some(b"GET"), Some(b"k")]);
        assert_eq!(cmd.to_bytes(), b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    }

    #[test]
    fn partial_input_asks_for_more() {
        let bytes = Frame::command(&[Some(b"SET"), Some(b"k"), Some(b"12")]).to_bytes();
        for cut in 0..bytes.len() {
            assert_eq!(parse(&bytes[..cut]), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn leaves_the_next_frame_in_the_buffer() {
        let mut bytes = b":1\r\n".to_vec();
        bytes.extend_from_slice(b"+PONG\r\n");
        assert_eq!(parse(&bytes), Ok(Some((Frame::Integer(1), 4))));
    }

    #[test]
    fn inline_commands_split_on_whitespace() {
        let (frame, used) = parse(b"SET  k 5\r\nGET k").unwrap().unwrap();
        assert_eq!(
            frame,
            Frame::Array(Some(vec![
                Frame::bulk("SET"),
                Frame::bulk("k"),
                Frame::bulk("5")
            ]))
        );
        assert_eq!(used, 10);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse(b":abc\r\n").is_err());
        assert!(parse(b"$-5\r\n").is_err());
        assert!(parse(b"$2\r\nabcd\r\n").is_err());
    }
}
