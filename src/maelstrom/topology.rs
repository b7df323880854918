//! Topologies for the broadcast workload's `topology` message, as Maelstrom names them:
//! `grid` (the default), `line`, `total`, and `tree2`/`tree3`/`tree4` (k-ary trees).

use std::collections::BTreeMap;

/// A topology kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topology {
    /// A square grid; each node's neighbours are left, right, up and down.
    Grid,
    /// A chain: each node's neighbours are the one before and the one after.
    Line,
    /// Everyone is everyone's neighbour.
    Total,
    /// A tree where each node has up to this many children.
    Tree(usize),
}

/// The names `--topology` accepts.
pub const NAMES: &[&str] = &["grid", "line", "total", "tree2", "tree3", "tree4"];

impl std::str::FromStr for Topology {
    type Err = String;
    fn from_str(s: &str) -> Result<Topology, String> {
        Ok(match s {
            "grid" => Topology::Grid,
            "line" => Topology::Line,
            "total" => Topology::Total,
            "tree2" => Topology::Tree(2),
            "tree3" => Topology::Tree(3),
            "tree4" => Topology::Tree(4),
            other => {
                return Err(format!(
                    "unknown topology {other:?}: use one of {}",
                    NAMES.join(", ")
                ))
            }
        })
    }
}

impl Topology {
    /// Each node's neighbours (indices into `0..n`), symmetric.
    pub fn neighbours(self, n: usize) -> Vec<Vec<usize>> {
        let mut adj = vec![std::collections::BTreeSet::new(); n];
        let mut link = |a: usize, b: usize| {
            if a != b && a < n && b < n {
                adj[a].insert(b);
                adj[b].insert(a);
            }
        };
        match self {
            Topology::Line => (1..n).for_each(|i| link(i - 1, i)),
            Topology::Total => {
                for a in 0..n {
                    for b in a + 1..n {
                        link(a, b);
                    }
                }
            }
            Topology::Tree(k) => (1..n).for_each(|i| link(i, (i - 1) / k)),
            Topology::Grid => {
                let side = (1..=n).find(|s| s * s >= n).unwrap_or(1);
                for i in 0..n {
                    if (i + 1) % side != 0 {
                        link(i, i + 1);
                    }
                    link(i, i + side);
                }
            }
        }
        adj.into_iter().map(|s| s.into_iter().collect()).collect()
    }

    /// The `topology` field of the message: node id → neighbour ids.
    pub fn to_map(self, ids: &[String]) -> BTreeMap<String, Vec<String>> {
        self.neighbours(ids.len())
            .into_iter()
            .enumerate()
            .map(|(i, ns)| {
                (
                    ids[i].clone(),
                    ns.into_iter().map(|j| ids[j].clone()).collect(),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connected(adj: &[Vec<usize>]) -> bool {
        let mut seen = vec![false; adj.len()];
        let mut stack = vec![0];
        while let Some(i) = stack.pop() {
            if !std::mem::replace(&mut seen[i], true) {
                stack.extend(&adj[i]);
            }
        }
        seen.iter().all(|s| *s)
    }

    #[test]
    fn every_topology_is_connected_and_symmetric() {
        for name in NAMES {
            let t: Topology = name.parse().unwrap();
            for n in 1..12 {
                let adj = t.neighbours(n);
                assert!(connected(&adj), "{name} with {n} nodes");
                for (a, ns) in adj.iter().enumerate() {
                    assert!(ns.iter().all(|b| adj[*b].contains(&a)), "{name} {n}");
                }
            }
        }
        assert_eq!(
            Topology::Grid.neighbours(4),
            vec![vec![1, 2], vec![0, 3], vec![0, 3], vec![1, 2]]
        );
        assert_eq!(
            Topology::Tree(2).neighbours(3),
            vec![vec![1, 2], vec![0], vec![0]]
        );
    }
}
