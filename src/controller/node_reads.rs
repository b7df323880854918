//! Per-node final reads: after the workload's final reads, every key the workload reads at the
//! end is read once more on every node, each node through a client of its own, so the history
//! shows what each replica finally kept (the `eventual` check compares them).
//!
//! A node's reads carry the process ids [`eventual::node_read_process`] gives it, which name
//! the node; a read that ends `info` retires its process (Jepsen's rule) and the node's next
//! read goes out under the next one. Targets that cannot address one node (the lock targets)
//! answer no client, and the run simply records no per-node reads for them.

use super::recorder::Recorder;
use super::{worker, Phase, RunSpec};
use crate::check::eventual;
use crate::targets::{ClientFactory, Outcome};
use crate::workload::Workload;
use std::sync::Arc;
use tokio::sync::watch;

/// Most retirements per node before its remaining reads are given up.
const MAX_RETIRED: usize = 3;

/// The number in a node name such as `n3`, else its 1-based position.
fn node_number(name: &str, position: usize) -> usize {
    name.strip_prefix('n')
        .and_then(|n| n.parse().ok())
        .filter(|&n: &usize| n > 0 && (n as u64) < eventual::NODE_READ_STRIDE)
        .unwrap_or(position + 1)
}

/// Reads every key of the workload's final reads on every node of `names` that `clients` can
/// address.
/// Returns how many nodes were read.
pub async fn read_every_node(
    spec: &RunSpec,
    workload: &dyn Workload,
    names: &[String],
    clients: &Arc<dyn ClientFactory>,
    recorder: &Arc<Recorder>,
) -> anyhow::Result<usize> {
    // Convergence compares register values with what writes wrote; the data-type workloads'
    // values (sets, sums, balances) are no write's value.
    if !matches!(workload.model(), "register" | "cas-register") {
        return Ok(0);
    }
    let reads: Vec<_> = workload
        .final_requests()
        .into_iter()
        .filter(|r| r.f == "read" && r.key.is_some())
        .collect();
    if reads.is_empty() {
        return Ok(0);
    }
    // One node after another: on a consensus store, the nodes reading the same keys at once
    // would duel for each key (CASPaxos proposers) and some reads would give up.
    let (_tx, mut phase) = watch::channel(Phase::Running);
    let mut read_nodes = 0;
    for (position, name) in names.iter().enumerate() {
        let k = node_number(name, position);
        let mut retired = 0;
        let mut process = eventual::node_read_process(k, retired);
        let Some(mut client) = clients.node_client(name, process).await? else {
            continue;
        };
        read_nodes += 1;
        for req in &reads {
            let outcome = worker::call(
                recorder,
                client.as_mut(),
                process,
                req,
                spec.op_timeout,
                &mut phase,
            )
            .await;
            if matches!(outcome, Outcome::Info(_)) {
                retired += 1;
                if retired > MAX_RETIRED {
                    break;
                }
                process = eventual::node_read_process(k, retired);
                match clients.node_client(name, process).await? {
                    Some(c) => client = c,
                    None => break,
                }
            }
        }
    }
    Ok(read_nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_numbers_come_from_the_name() {
        assert_eq!(node_number("n3", 0), 3);
        assert_eq!(node_number("l2", 4), 5);
        assert_eq!(node_number("n0", 1), 2);
    }
}
