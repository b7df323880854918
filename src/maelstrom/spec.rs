//! A validated Maelstrom run: everything the runner needs, checked once by the CLI, and the
//! `--concurrency` spelling (`10` or `2n`) shared with workload files.

use super::net::Dist;
use super::topology::Topology;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// A validated Maelstrom run.
#[derive(Clone, Debug, Serialize)]
pub struct Spec {
    /// The workload.
    pub workload: String,
    /// The node program.
    pub bin: PathBuf,
    /// Its arguments.
    pub bin_args: Vec<String>,
    /// Nodes.
    pub node_count: usize,
    /// Client ops for this long.
    #[serde(serialize_with = "seconds")]
    pub time_limit: Duration,
    /// Ops per second over all clients (0 = unthrottled).
    pub rate: f64,
    /// Client workers.
    pub concurrency: usize,
    /// Mean latency (ms).
    pub latency_ms: f64,
    /// Latency distribution.
    #[serde(skip)]
    pub latency_dist: Dist,
    /// Faults.
    #[serde(skip)]
    pub nemesis: Vec<super::nemesis::Fault>,
    /// As given.
    pub nemesis_name: String,
    /// Between faults.
    #[serde(serialize_with = "seconds")]
    pub nemesis_interval: Duration,
    /// Broadcast topology.
    #[serde(skip)]
    pub topology: Topology,
    /// As given.
    pub topology_name: String,
    /// Required availability, if any.
    pub availability: Option<f64>,
    /// lin-kv's models.
    pub consistency_models: Vec<String>,
    /// Echo node stderr.
    pub log_stderr: bool,
    /// Print sends.
    pub log_net_send: bool,
    /// Print deliveries.
    pub log_net_recv: bool,
    /// Keys.
    pub key_count: usize,
    /// Micro-ops per transaction at most.
    pub max_txn_length: usize,
    /// Writes per key (lin-kv, txn workloads).
    pub max_writes_per_key: usize,
    /// Seed.
    pub seed: u64,
    /// Client request timeout.
    #[serde(serialize_with = "seconds")]
    pub op_timeout: Duration,
    /// Init timeout.
    #[serde(serialize_with = "seconds")]
    pub init_timeout: Duration,
    /// Final-read convergence time.
    #[serde(serialize_with = "seconds")]
    pub recovery: Duration,
    /// Histories folder.
    pub history_dir: PathBuf,
    /// Reports folder.
    pub report_dir: PathBuf,
    /// The command that reproduces the run.
    pub command_line: String,
}

/// `10` or `2n` (twice the node count).
pub fn parse_concurrency(s: &str, nodes: usize) -> Result<usize, String> {
    let bad = || {
        format!("--concurrency must be a number of clients (10) or a multiple of the node count (2n), got {s:?}")
    };
    let n = match s.strip_suffix('n') {
        Some("") => nodes,
        Some(k) => k.parse::<usize>().map_err(|_| bad())? * nodes,
        None => s.parse::<usize>().map_err(|_| bad())?,
    };
    if n == 0 {
        return Err("--concurrency must be at least 1".into());
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_takes_a_number_or_a_multiple_of_the_nodes() {
        assert_eq!(parse_concurrency("10", 5), Ok(10));
        assert_eq!(parse_concurrency("2n", 5), Ok(10));
        assert_eq!(parse_concurrency("n", 3), Ok(3));
        assert!(parse_concurrency("0", 3).is_err());
        assert!(parse_concurrency("xn", 3).unwrap_err().contains("2n"));
    }
}
