//! `ferrocheck serve [--port 8080] [--dir reports]`: serve the reports folder read-only over
//! HTTP, on 127.0.0.1 unless told otherwise, so reports can be opened from another tab or
//! machine tunnel without copying files.
//!
//! The server is axum with tower-http's `ServeDir` doing the file serving. In front of it one
//! guard answers what `ServeDir` would not refuse the way this command promises: methods other
//! than `GET` and `HEAD` (405), paths with `..`, backslashes or NUL (400), and paths whose real
//! location (after symlinks, which `ServeDir` follows) is outside the folder (404). Every answer
//! closes its connection and is marked `no-cache` and `nosniff`. No directory listings.

use anyhow::Context;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpListener;
use tower_http::services::ServeDir;

/// Arguments of `ferrocheck serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The port to listen on (0 picks a free one).
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
        let listener = match TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                return Err(super::usage(format!(
                    "port {} on {} is already taken by another program: pass --port N for another port, or --port 0 for any free one",
                    args.port, args.bind
                )));
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "cannot listen on {addr}: pass --bind with an address of this machine, or another --port"
                )));
            }
        };
        let local = listener
            .local_addr()
            .context("cannot read the bound address")?;
        println!(
            "serving {} at http://{local}/ (read-only; Ctrl-C to stop)",
            root.display()
        );
        axum::serve(listener, app(root))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("the server stopped")?;
        println!("stopped");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(0)
}

/// The service for the folder `root` (canonical): the guard, then `ServeDir`.
pub fn app(root: PathBuf) -> Router {
    let files = ServeDir::new(&root).append_index_html_on_directories(true);
    Router::new()
        .fallback_service(files)
        .layer(middleware::from_fn_with_state(Arc::new(root), guard))
}

/// Refuses what must not reach `ServeDir` and sets the headers every answer carries.
async fn guard(State(root): State<Arc<PathBuf>>, request: Request, next: Next) -> Response {
    let mut response = if request.method() != Method::GET && request.method() != Method::HEAD {
        (StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD").into_response()
    } else {
        match resolve(&root, request.uri().path()) {
            Ok(_) => next.run(request).await,
            Err(Refusal::BadRequest) => (StatusCode::BAD_REQUEST, "bad path").into_response(),
            Err(Refusal::NotFound) => (StatusCode::NOT_FOUND, "not found").into_response(),
        }
    };
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Why a request cannot be answered with a file.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed request or path (400).
    BadRequest,
    /// Nothing there, or outside the folder (404).
    NotFound,
}

/// Maps a request target (`/run-1/index.html?x`) to a regular file inside `root`, which must be
/// canonical. Folders map to their `index.html`. Rejects `..`, backslashes and NUL, and anything
/// whose real path (after symlinks) is outside `root`.
pub fn resolve(root: &Path, target: &str) -> Result<PathBuf, Refusal> {
    let path = target.split(['?', '#']).next().unwrap_or("");
    if !path.starts_with('/') {
        return Err(Refusal::BadRequest);
    }
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| Refusal::BadRequest)?;
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
