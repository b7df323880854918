//! `ferrocheck node`: run one toy-store node in the foreground.
//!
//! The harness starts each node of a toy target this way; it is also the way to play with a
//! store by hand:
//!
//! ```text
//! ferrocheck node --store lin-kv --id n1 --port 7001 --peers n2=127.0.0.1:7002 &
//! ferrocheck node --store lin-kv --id n2 --port 7002 --peers n1=127.0.0.1:7001 &
//! redis-cli -p 7002 SET k 5; redis-cli -p 7001 GET k
//! ```

use crate::node::journal::Durability;
use crate::node::{NodeConfig, StoreKind};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

/// Arguments of `ferrocheck node`.
#[derive(Debug, clap::Args)]
pub struct NodeArgs {
    /// Which store to run.
    #[arg(long, value_parser = store_parser())]
    pub store: StoreKind,
    /// This node's id (the leader of lin-kv is the smallest id).
    #[arg(long)]
    pub id: String,
    /// Port to listen on.
    #[arg(long)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub host: IpAddr,
    /// The other nodes, as `id=host:port`, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub peers: Vec<String>,
    /// Directory for the node's state journal; without it the node keeps state in memory only.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Acknowledge changes before they are on disk: the journal is buffered in the process and
    /// written out at most every 200 ms, so a SIGKILL loses acknowledged changes.
    #[arg(long)]
    pub no_fsync: bool,
}

/// Parses `--store` from the store names, listing them in `--help` and in errors.
fn store_parser() -> impl clap::builder::TypedValueParser<Value = StoreKind> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(StoreKind::ALL.map(StoreKind::name)).map(|name| {
        // Only the names above get here.
        StoreKind::from_name(&name).unwrap_or(StoreKind::LinKv)
    })
}

/// Runs `ferrocheck node` until the process is stopped.
pub fn run(args: NodeArgs) -> anyhow::Result<i32> {
    let mut peers = Vec::new();
    for spec in args.peers.iter().filter(|s| !s.is_empty()) {
        let parsed = spec
            .split_once('=')
            .and_then(|(id, addr)| Some((id.to_string(), addr.parse::<SocketAddr>().ok()?)));
        match parsed {
            Some(peer) if !peer.0.is_empty() && peer.0 != args.id => peers.push(peer),
            _ => {
                return Err(super::usage(format!(
                    "bad --peers entry {spec:?}: expected id=host:port (e.g. n2=127.0.0.1:7002), \
                     with an id other than this node's"
                )))
            }
        }
    }
    if let Some(dir) = &args.dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create node directory {}: {e}", dir.display()))?;
    }
    let config = NodeConfig {
        store: args.store,
        id: args.id,
        listen: SocketAddr::new(args.host, args.port),
        peers,
        dir: args.dir,
        durability: if args.no_fsync {
            Durability::Lazy
        } else {
            Durability::Fsync
        },
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    runtime.block_on(crate::node::run(config))?;
    Ok(0)
}
