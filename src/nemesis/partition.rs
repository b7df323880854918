//! Network partitions: a grudge says, for each node, which nodes it must not hear from; a
//! firewall turns the grudge into DROP rules inside the nodes' namespaces.
//!
//! Generators make the usual shapes (Jepsen's names): `halves`, `random-halves`, `one` (isolate
//! one node), `majorities-ring` (every node sees a majority, no two the same), `bridge` (two
//! halves joined by one node that sees both), an explicit list of components, and `one-way`
//! (some nodes stop hearing others, not the reverse). Rules go into a table of their own
//! (`inet ferrocheck` in nftables, or a `FERROCHECK` chain in iptables when `nft` is absent), so
//! healing deletes exactly what was added. The `partition` family
//! ([`super::families::partition`]) draws partitions and applies them through these.

use super::netns::NetNode;
use super::tools;
use super::NemesisError;
use crate::history::Value;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// For each node, the nodes whose packets it drops. Nodes absent from the map hear everyone.
pub type Grudge = BTreeMap<String, BTreeSet<String>>;

/// The nftables table (family `inet`) holding partition rules inside a namespace.
pub const NFT_TABLE: &str = "ferrocheck";
/// The iptables chain holding partition rules when nftables is absent.
pub const IPTABLES_CHAIN: &str = "FERROCHECK";

/// A named grudge, as recorded in the history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// How it was made: `halves`, `one`, `explicit`, ...
    pub name: String,
    /// Who drops whom.
    pub grudge: Grudge,
}

impl Partition {
    /// True for a `primaries` partition whose primary has not been looked up yet.
    pub fn is_unresolved_primaries(&self) -> bool {
        self.name == "primaries" && self.grudge.is_empty()
    }

    /// The `primaries` partition of `nodes` once the target named its primary: the primary
    /// alone against the rest.
    pub fn primaries(primary: &str, nodes: &[String]) -> Partition {
        let rest: Vec<String> = nodes.iter().filter(|n| *n != primary).cloned().collect();
        Partition {
            name: "primaries".into(),
            grudge: complete_grudge(&[vec![primary.to_string()], rest]),
        }
    }

    /// The history value: `[name, [[node, [sources...]], ...]]`.
    pub fn value(&self) -> Value {
        let pairs = self
            .grudge
            .iter()
            .map(|(n, from)| {
                Value::List(vec![
                    Value::Str(n.clone()),
                    Value::List(from.iter().map(|s| Value::Str(s.clone())).collect()),
                ])
            })
            .collect();
        Value::List(vec![Value::Str(self.name.clone()), Value::List(pairs)])
    }
}

/// A grudge in which every node in a component drops every node outside it (nodes in no
/// component are left alone).
pub fn complete_grudge(components: &[Vec<String>]) -> Grudge {
    let mut g = Grudge::new();
    for (i, comp) in components.iter().enumerate() {
        let others: BTreeSet<String> = components
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .flat_map(|(_, c)| c.iter().cloned())
            .collect();
        for n in comp {
            if !others.is_empty() {
                g.entry(n.clone())
                    .or_default()
                    .extend(others.iter().cloned());
            }
        }
    }
    g
}

/// The shapes a partition can take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartitionKind {
    /// The first half of the nodes against the rest.
    Halves,
    /// Shuffled, then halves.
    RandomHalves,
    /// One randomly chosen node cut off from all others.
    One,
    /// Every node sees a majority of its neighbours on a ring; no two majorities are the same.
    MajoritiesRing,
    /// Two halves that cannot talk, joined by one node that hears both.
    Bridge,
    /// These components, each cut off from the others.
    Explicit(Vec<Vec<String>>),
    /// The target's primary (leader) cut off from all others. Who that is is only known while
    /// the run goes, so the plan holds a placeholder that the controller resolves by asking the
    /// target just before applying it ([`Partition::is_unresolved_primaries`]).
    Primaries,
    /// The `to` nodes stop hearing from the `from` nodes; the other direction keeps working.
    OneWay {
        /// Senders whose packets are dropped.
        from: Vec<String>,
        /// Receivers that drop them.
        to: Vec<String>,
    },
}

impl PartitionKind {
    /// Parses a generator name: `halves`, `random-halves`, `one`, `majorities-ring`, `bridge`.
    pub fn parse(name: &str) -> Result<PartitionKind, NemesisError> {
        Ok(match name {
            "halves" => PartitionKind::Halves,
            "random-halves" => PartitionKind::RandomHalves,
            "one" => PartitionKind::One,
            "majorities-ring" => PartitionKind::MajoritiesRing,
            "bridge" => PartitionKind::Bridge,
            "primaries" => PartitionKind::Primaries,
            other => {
                return Err(NemesisError::Invalid(format!(
                    "unknown partition {other:?}: use halves, random-halves, one, \
                     majorities-ring, bridge or primaries (or explicit components in the schedule)"
                )))
            }
        })
    }

    /// Makes a partition of `nodes`; random shapes draw from `rng`.
    pub fn generate(&self, nodes: &[String], rng: &mut StdRng) -> Result<Partition, NemesisError> {
        let need = |k: usize, what: &str| -> Result<(), NemesisError> {
            if nodes.len() < k {
                Err(NemesisError::Invalid(format!(
                    "a {what} partition needs at least {k} nodes, this run has {}",
                    nodes.len()
                )))
            } else {
                Ok(())
            }
        };
        let halves = |v: &[String]| {
            let (a, b) = v.split_at(v.len() / 2);
            complete_grudge(&[a.to_vec(), b.to_vec()])
        };
        let (name, grudge) = match self {
            PartitionKind::Halves => {
                need(2, "halves")?;
                ("halves", halves(nodes))
            }
            PartitionKind::RandomHalves => {
                need(2, "random-halves")?;
                let mut v = nodes.to_vec();
                v.shuffle(rng);
                ("random-halves", halves(&v))
            }
            PartitionKind::Primaries => {
                need(2, "primaries")?;
                ("primaries", Grudge::new())
            }
            PartitionKind::One => {
                need(2, "one")?;
                let i = rng.gen_range(0..nodes.len());
                let rest: Vec<String> = nodes
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, n)| n.clone())
                    .collect();
                ("one", complete_grudge(&[vec![nodes[i].clone()], rest]))
            }
            PartitionKind::MajoritiesRing => {
                need(3, "majorities-ring")?;
                let mut ring = nodes.to_vec();
                ring.shuffle(rng);
                ("majorities-ring", majorities_ring(&ring))
            }
            PartitionKind::Bridge => {
                need(3, "bridge")?;
                let mut v = nodes.to_vec();
                v.shuffle(rng);
                let mid = v.len() / 2;
                let (a, b) = (v[..mid].to_vec(), v[mid + 1..].to_vec());
                ("bridge", complete_grudge(&[a, b]))
            }
            PartitionKind::Explicit(components) => {
                check_known(nodes, components.iter().flatten())?;
                ("explicit", complete_grudge(components))
            }
            PartitionKind::OneWay { from, to } => {
                check_known(nodes, from.iter().chain(to))?;
                let mut g = Grudge::new();
                for t in to {
                    let srcs: BTreeSet<String> = from.iter().filter(|f| *f != t).cloned().collect();
                    if !srcs.is_empty() {
                        g.insert(t.clone(), srcs);
                    }
                }
                ("one-way", g)
            }
        };
        Ok(Partition {
            name: name.to_owned(),
            grudge,
        })
    }
}

fn check_known<'a>(
    nodes: &[String],
    named: impl Iterator<Item = &'a String>,
) -> Result<(), NemesisError> {
    for n in named {
        if !nodes.contains(n) {
            return Err(NemesisError::UnknownNode(n.clone()));
        }
    }
    Ok(())
}

/// Each node at ring position `i` hears the `m = n/2 + 1` consecutive ring positions starting
/// `(m-1)/2` before it (itself included) and drops the rest.
fn majorities_ring(ring: &[String]) -> Grudge {
    let n = ring.len();
    let m = n / 2 + 1;
    let back = (m - 1) / 2;
    let mut g = Grudge::new();
    for i in 0..n {
        let sees: BTreeSet<usize> = (0..m).map(|k| (i + n - back + k) % n).collect();
        let drops: BTreeSet<String> = (0..n)
            .filter(|j| !sees.contains(j))
            .map(|j| ring[j].clone())
            .collect();
        if !drops.is_empty() {
            g.insert(ring[i].clone(), drops);
        }
    }
    g
}

/// How partition rules are installed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// nftables, with the `nft` program at this path.
    Nft(PathBuf),
    /// iptables, with the `iptables` program at this path.
    Iptables(PathBuf),
}

impl Backend {
    /// nftables when `nft` is installed, else iptables, else a clear error.
    pub fn detect() -> Result<Backend, NemesisError> {
        if let Some(nft) = tools::find("nft") {
            return Ok(Backend::Nft(nft));
        }
        if let Some(ipt) = tools::find("iptables") {
            return Ok(Backend::Iptables(ipt));
        }
        Err(NemesisError::Unavailable {
            what: "partitions".into(),
            why: "neither `nft` nor `iptables` found: apt-get install nftables".into(),
        })
    }

    /// Installs rules in namespace `ns` dropping packets from `sources` (replacing old ones).
    fn install(&self, ns: &str, sources: &[String]) -> Result<(), NemesisError> {
        match self {
            Backend::Nft(nft) => {
                let script = format!(
                    "add table inet {NFT_TABLE}\ndelete table inet {NFT_TABLE}\n\
                     table inet {NFT_TABLE} {{\n  chain input {{\n    \
                     type filter hook input priority -10; policy accept;\n    \
                     ip saddr {{ {} }} drop\n  }}\n}}\n",
                    sources.join(", ")
                );
                tools::run(nft, &["-f", "-"], Some(ns), Some(&script)).map(|_| ())
            }
            Backend::Iptables(ipt) => {
                self.remove(ns)?;
                tools::run(ipt, &["-w", "-N", IPTABLES_CHAIN], Some(ns), None)?;
                for s in sources {
                    tools::run(
                        ipt,
                        &["-w", "-A", IPTABLES_CHAIN, "-s", s, "-j", "DROP"],
                        Some(ns),
                        None,
                    )?;
                }
                tools::run(
                    ipt,
                    &["-w", "-I", "INPUT", "-j", IPTABLES_CHAIN],
                    Some(ns),
                    None,
                )
                .map(|_| ())
            }
        }
    }

    /// True when namespace `ns` (or the current one, for `None`) holds ferrocheck's rules.
    pub fn has_rules(&self, ns: Option<&str>) -> Result<bool, NemesisError> {
        match self {
            Backend::Nft(nft) => {
                let out = tools::run(nft, &["list", "tables"], ns, None)?;
                Ok(out
                    .lines()
                    .any(|l| l.trim() == format!("table inet {NFT_TABLE}")))
            }
            Backend::Iptables(ipt) => {
                let out = tools::run(ipt, &["-w", "-S"], ns, None)?;
                Ok(out.lines().any(|l| l.contains(IPTABLES_CHAIN)))
            }
        }
    }

    /// Deletes ferrocheck's rules from namespace `ns` (or the current one); absent rules are fine.
    pub fn remove_in(&self, ns: Option<&str>) -> Result<(), NemesisError> {
        if !self.has_rules(ns)? {
            return Ok(());
        }
        match self {
            Backend::Nft(nft) => {
                tools::run(nft, &["delete", "table", "inet", NFT_TABLE], ns, None).map(|_| ())
            }
            Backend::Iptables(ipt) => {
                // The jump may be absent if an install stopped half-way: ignore that one.
                let _ = tools::run(ipt, &["-w", "-D", "INPUT", "-j", IPTABLES_CHAIN], ns, None);
                tools::run(ipt, &["-w", "-F", IPTABLES_CHAIN], ns, None)?;
                tools::run(ipt, &["-w", "-X", IPTABLES_CHAIN], ns, None).map(|_| ())
            }
        }
    }

    fn remove(&self, ns: &str) -> Result<(), NemesisError> {
        self.remove_in(Some(ns))
    }
}

/// Applies grudges to a run's node namespaces and heals them.
#[derive(Debug)]
pub struct Firewall {
    backend: Backend,
    nodes: Vec<NetNode>,
    applied: BTreeSet<String>,
}

impl Firewall {
    /// A firewall over `nodes` with the best backend available.
    pub fn new(nodes: &[NetNode]) -> Result<Firewall, NemesisError> {
        Ok(Firewall::with_backend(nodes, Backend::detect()?))
    }

    /// A firewall over `nodes` with a chosen backend.
    pub fn with_backend(nodes: &[NetNode], backend: Backend) -> Firewall {
        Firewall {
            backend,
            nodes: nodes.to_vec(),
            applied: BTreeSet::new(),
        }
    }

    /// The backend in use.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    fn node(&self, name: &str) -> Result<&NetNode, NemesisError> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| NemesisError::UnknownNode(name.to_owned()))
    }

    /// Heals any current partition, then makes every node in `grudge` drop packets from the
    /// nodes it holds a grudge against.
    pub fn apply(&mut self, grudge: &Grudge) -> Result<(), NemesisError> {
        self.heal()?;
        for (node, from) in grudge {
            let ns = self.node(node)?.namespace.clone();
            let sources = from
                .iter()
                .map(|s| self.node(s).map(|n| n.addr.to_string()))
                .collect::<Result<Vec<_>, _>>()?;
            if sources.is_empty() {
                continue;
            }
            self.applied.insert(ns.clone());
            self.backend.install(&ns, &sources)?;
        }
        Ok(())
    }

    /// Deletes every rule this firewall added.
    pub fn heal(&mut self) -> Result<(), NemesisError> {
        let mut first = None;
        for ns in std::mem::take(&mut self.applied) {
            if let Err(e) = self.backend.remove(&ns) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn nodes(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn halves_cut_both_ways() {
        let p = PartitionKind::Halves
            .generate(&nodes(5), &mut StdRng::seed_from_u64(1))
            .unwrap();
        assert_eq!(p.grudge["n1"], set(&["n3", "n4", "n5"]));
        assert_eq!(p.grudge["n5"], set(&["n1", "n2"]));
    }

    #[test]
    fn random_halves_are_reproducible_from_the_seed() {
        let a = PartitionKind::RandomHalves
            .generate(&nodes(5), &mut StdRng::seed_from_u64(7))
            .unwrap();
        let b = PartitionKind::RandomHalves
            .generate(&nodes(5), &mut StdRng::seed_from_u64(7))
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.grudge.len(), 5);
    }

    #[test]
    fn one_isolates_a_single_node() {
        let p = PartitionKind::One
            .generate(&nodes(5), &mut StdRng::seed_from_u64(3))
            .unwrap();
        let lonely: Vec<_> = p.grudge.iter().filter(|(_, f)| f.len() == 4).collect();
        assert_eq!(lonely.len(), 1);
        assert!(p.grudge.values().filter(|f| f.len() == 1).count() == 4);
    }

    #[test]
    fn majorities_ring_gives_every_node_a_distinct_majority() {
        let p = PartitionKind::MajoritiesRing
            .generate(&nodes(5), &mut StdRng::seed_from_u64(3))
            .unwrap();
        let mut seen = BTreeSet::new();
        for n in nodes(5) {
            let drops = &p.grudge[&n];
            assert_eq!(drops.len(), 2, "{n} must hear 3 of 5");
            assert!(!drops.contains(&n));
            assert!(seen.insert(drops.clone()), "majorities must differ");
        }
    }

    #[test]
    fn bridge_node_hears_everyone() {
        let p = PartitionKind::Bridge
            .generate(&nodes(5), &mut StdRng::seed_from_u64(4))
            .unwrap();
        assert_eq!(p.grudge.len(), 4);
        let bridge: Vec<_> = nodes(5)
            .into_iter()
            .filter(|n| !p.grudge.contains_key(n))
            .collect();
        assert_eq!(bridge.len(), 1);
        assert!(p.grudge.values().all(|f| !f.contains(&bridge[0])));
    }

    #[test]
    fn one_way_drops_in_one_direction_only() {
        let kind = PartitionKind::OneWay {
            from: vec!["n1".into()],
            to: vec!["n2".into(), "n3".into()],
        };
        let p = kind
            .generate(&nodes(3), &mut StdRng::seed_from_u64(0))
            .unwrap();
        assert_eq!(p.grudge["n2"], set(&["n1"]));
        assert!(!p.grudge.contains_key("n1"));
    }

    #[test]
    fn explicit_components_reject_unknown_nodes() {
        let kind = PartitionKind::Explicit(vec![vec!["n1".into()], vec!["n9".into()]]);
        assert!(kind
            .generate(&nodes(3), &mut StdRng::seed_from_u64(0))
            .is_err());
        let kind = PartitionKind::Explicit(vec![vec!["n1".into()], vec!["n2".into()]]);
        let p = kind
            .generate(&nodes(3), &mut StdRng::seed_from_u64(0))
            .unwrap();
        assert_eq!(p.grudge["n1"], set(&["n2"]));
        assert!(!p.grudge.contains_key("n3"));
    }
}
