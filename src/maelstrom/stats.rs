//! The run's figures for the summary: availability (the fraction of client ops that ended
//! `ok`), latency quantiles of the ok ops, and network counts (messages between nodes per
//! client op, Maelstrom's "msgs-per-op").

use super::net::NetStats;
use crate::check::{CheckResult, Validity};
use crate::history::{History, OpType};
use serde::Serialize;

/// The `p`-quantile (0..=1) of nanosecond durations, in milliseconds (0 when empty).
pub fn quantile_ms(ns: &[u64], p: f64) -> f64 {
    if ns.is_empty() {
        return 0.0;
    }
    let mut v = ns.to_vec();
    v.sort_unstable();
    let i = ((v.len() - 1) as f64 * p.clamp(0.0, 1.0)).round() as usize;
    (v[i] as f64 / 1e6 * 100.0).round() / 100.0
}

/// Latency quantiles in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Quantiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

/// The run in figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Completed client ops.
    pub ops: u64,
    /// Of which ok.
    pub ok: u64,
    /// Of which fail.
    pub fail: u64,
    /// Of which info.
    pub info: u64,
    /// ok / ops (1 when there were none).
    pub availability: f64,
    /// Latency of the ok ops.
    pub latency_ms: Quantiles,
    /// Message counts.
    pub net: NetStats,
    /// Messages between nodes per client op.
    pub msgs_per_op: f64,
}

/// Figures of `history` and the network's counts.
pub fn summarize(history: &History, net: &NetStats) -> Summary {
    let mut s = Summary {
        net: net.clone(),
        ..Summary::default()
    };
    let mut lat = Vec::new();
    for c in history.calls() {
        let Some(done) = c.complete.map(|i| &history.ops[i]) else {
            continue;
        };
        s.ops += 1;
        match done.kind {
            OpType::Ok => {
                s.ok += 1;
                lat.push(done.time.saturating_sub(history.ops[c.invoke].time));
            }
            OpType::Fail => s.fail += 1,
            _ => s.info += 1,
        }
    }
    s.availability = if s.ops == 0 {
        1.0
    } else {
        s.ok as f64 / s.ops as f64
    };
    s.latency_ms = Quantiles {
        p50: quantile_ms(&lat, 0.5),
        p95: quantile_ms(&lat, 0.95),
        p99: quantile_ms(&lat, 0.99),
        max: quantile_ms(&lat, 1.0),
    };
    s.msgs_per_op = if s.ops == 0 {
        0.0
    } else {
        (net.between_nodes as f64 / s.ops as f64 * 100.0).round() / 100.0
    };
    s
}

/// The availability check `--availability` asks for (`total` = 1.0).
pub fn availability_check(s: &Summary, required: f64) -> CheckResult {
    let ok = s.availability + 1e-12 >= required;
    CheckResult {
        checker: "availability".into(),
        validity: if ok {
            Validity::Valid
        } else {
            Validity::Invalid
        },
        summary: format!(
            "{:.1}% of {} ops ended ok ({} fail, {} info); required {:.1}%",
            s.availability * 100.0,
            s.ops,
            s.fail,
            s.info,
            required * 100.0
        ),
        anomalies: Vec::new(),
        stats: serde_json::json!({"availability": s.availability, "required": required}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_pick_the_nearest_rank() {
        let ns: Vec<u64> = (1..=100).map(|i| i * 1_000_000).collect();
        assert_eq!(quantile_ms(&ns, 0.5), 51.0);
        assert_eq!(quantile_ms(&ns, 1.0), 100.0);
        assert_eq!(quantile_ms(&[], 0.5), 0.0);
    }
}
