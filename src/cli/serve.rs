//! `ferrocheck serve [--port 8080] [--dir reports]`: serve the reports folder read-only over
//! HTTP, on 127.0.0.1 unless told otherwise, so reports can be opened from another tab or
//! machine tunnel without copying files.
//!
//! A deliberately small HTTP/1.1 server: `GET` and `HEAD` only, one request per connection,
//! no directory listings, and every path is resolved inside the folder (no `..`, no symlinks
//! leading out), so nothing but the reports can be read through it.

use anyhow::Context;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Arguments of `ferrocheck serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The port to listen on.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// The folder to serve.
    #[arg(long, default_value = "reports", value_name = "DIR")]
    pub dir: PathBuf,
    /// The address to listen on; the default keeps the reports on this machine.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,
}

/// Runs `ferrocheck serve` until Ctrl-C.
pub fn run(args: ServeArgs) -> anyhow::Result<i32> {
    if !args.dir.is_dir() {
        return Err(super::usage(format!(
            "the reports folder {} does not exist: run `ferrocheck report HISTORY` first, or pass --dir DIR",
            args.dir.display()
        )));
    }
    let root = args
        .dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", args.dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let addr = SocketAddr::new(args.bind, args.port);
        let listener = TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on {addr}: is another server using the port? pass --port N")
        })?;
        let local = listener
            .local_addr()
            .context("cannot read the bound address")?;
        println!(
            "serving {} at http://{local}/ (read-only; Ctrl-C to stop)",
            root.display()
        );
        tokio::select! {
            r = serve(listener, root) => r.context("the server stopped")?,
            _ = tokio::signal::ctrl_c() => println!("stopped"),
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(0)
}

/// Serves files under the folder `root` to every connection on `listener`, until accepting
/// fails.
pub async fn serve(listener: TcpListener, root: PathBuf) -> std::io::Result<()> {
    let root = std::sync::Arc::new(root.canonicalize()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let root = root.clone();
        tokio::spawn(async move {
            // A client that stalls or hangs up only loses its own connection.
            let _ = tokio::time::timeout(Duration::from_secs(30), handle(stream, &root)).await;
        });
    }
}

/// Why a request cannot be answered with a file.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed request or path (400).
    BadRequest,
    /// Nothing there, or outside the folder (404).
    NotFound,
}

async fn handle(mut stream: TcpStream, root: &Path) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 16 * 1024 {
            return respond(
                &mut stream,
                431,
                "text/plain",
                b"request head too large",
                true,
            )
            .await;
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let with_body = method != "HEAD";
    if method != "GET" && method != "HEAD" {
        return respond(&mut stream, 405, "text/plain", b"only GET and HEAD", true).await;
    }
    let path = match resolve(root, target) {
        Ok(p) => p,
        Err(Refusal::BadRequest) => {
            return respond(&mut stream, 400, "text/plain", b"bad path", with_body).await
        }
        Err(Refusal::NotFound) => {
            return respond(&mut stream, 404, "text/plain", b"not found", with_body).await
        }
    };
    match tokio::fs::read(&path).await {
        Ok(body) => respond(&mut stream, 200, content_type(&path), &body, with_body).await,
        Err(_) => respond(&mut stream, 404, "text/plain", b"not found", with_body).await,
    }
}

async fn respond(
    stream: &mut TcpStream,
    status: u16,
    kind: &str,
    body: &[u8],
    with_body: bool,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Request Header Fields Too Large",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    if with_body {
        stream.write_all(body).await?;
    }
    stream.shutdown().await
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "json" => "application/json",
        "jsonl" | "txt" | "log" | "edn" => "text/plain; charset=utf-8",
        "css" => "text/css",
        "js" => "text/javascript",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        _ => "application/octet-stream",
    }
}

/// Maps a request target (`/run-1/index.html?x`) to a regular file inside `root`, which must be
/// canonical. Folders map to their `index.html`. Rejects `..`, backslashes and NUL, and anything
/// whose real path (after symlinks) is outside `root`.
pub fn resolve(root: &Path, target: &str) -> Result<PathBuf, Refusal> {
    let path = target.split(['?', '#']).next().unwrap_or("");
    if !path.starts_with('/') {
        return Err(Refusal::BadRequest);
    }
    let decoded = percent_decode(path).ok_or(Refusal::BadRequest)?;
    let mut full = root.to_path_buf();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => continue,
            ".." => return Err(Refusal::BadRequest),
            s if s.contains('\\') || s.contains('\0') => return Err(Refusal::BadRequest),
            s => full.push(s),
        }
    }
    if full.is_dir() {
        full.push("index.html");
    }
    let real = full.canonicalize().map_err(|_| Refusal::NotFound)?;
    if !real.starts_with(root) || !real.is_file() {
        return Err(Refusal::NotFound);
    }
    Ok(real)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_inside_the_folder_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("run 1")).unwrap();
        std::fs::write(root.join("run 1/index.html"), "x").unwrap();
        std::fs::write(root.join("index.html"), "i").unwrap();
        assert_eq!(resolve(&root, "/"), Ok(root.join("index.html")));
        assert_eq!(
            resolve(&root, "/run%201/?q=1"),
            Ok(root.join("run 1/index.html"))
        );
        assert_eq!(resolve(&root, "/../etc/passwd"), Err(Refusal::BadRequest));
        assert_eq!(
            resolve(&root, "/%2e%2e/etc/passwd"),
            Err(Refusal::BadRequest)
        );
        assert_eq!(
            resolve(&root, "/run%201/..%2f..%2fx"),
            Err(Refusal::BadRequest)
        );
        assert_eq!(resolve(&root, "/a%5c..%5cb"), Err(Refusal::BadRequest));
        assert_eq!(resolve(&root, "/nope.html"), Err(Refusal::NotFound));
        assert_eq!(resolve(&root, "http://x/"), Err(Refusal::BadRequest));
        std::os::unix::fs::symlink("/etc", root.join("out")).unwrap();
        assert_eq!(resolve(&root, "/out/hostname"), Err(Refusal::NotFound));
    }
}
