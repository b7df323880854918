//! The Maelstrom-mode nemesis: a plan of faults drawn from `--nemesis` (`partition`, `pause`,
//! `kill`, comma-separated, or `none`) every `--nemesis-interval` seconds. Quiet and faulty
//! stretches alternate: each fault starts after a quiet interval and is healed one interval
//! later. Partitions split the nodes into two random halves (messages between them are
//! dropped); pauses SIGSTOP a random minority of nodes; kills SIGKILL a minority and restart
//! it (a restarted node gets `init` again and has lost its memory).

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

/// One kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Cut the network into two halves.
    Partition,
    /// SIGSTOP nodes.
    Pause,
    /// SIGKILL nodes and start them again.
    Kill,
}

/// The names `--nemesis` accepts in Maelstrom mode.
pub const NAMES: &[&str] = &["none", "partition", "pause", "kill"];

/// Parses `partition,kill` (or `none`).
pub fn parse(s: &str) -> Result<Vec<Fault>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part {
            "none" => {}
            "partition" => out.push(Fault::Partition),
            "pause" => out.push(Fault::Pause),
            "kill" => out.push(Fault::Kill),
            o => {
                return Err(format!(
                    "unknown nemesis {o:?} for a Maelstrom run: use {} (comma-separated)",
                    NAMES.join(", ")
                ))
            }
        }
    }
    Ok(out)
}

/// A fault starting or ending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Cut the network into these groups.
    Partition(Vec<Vec<usize>>),
    /// Heal the network.
    Heal,
    /// SIGSTOP these nodes.
    Pause(Vec<usize>),
    /// SIGCONT them.
    Resume(Vec<usize>),
    /// SIGKILL these nodes.
    Kill(Vec<usize>),
    /// Start them again.
    Restart(Vec<usize>),
}

impl Action {
    /// The undo of a starting fault (`None` for an ending one).
    pub fn undo(&self) -> Option<Action> {
        match self {
            Action::Partition(_) => Some(Action::Heal),
            Action::Pause(n) => Some(Action::Resume(n.clone())),
            Action::Kill(n) => Some(Action::Restart(n.clone())),
            _ => None,
        }
    }
}

/// A random minority (at least one node).
fn minority(nodes: usize, rng: &mut StdRng) -> Vec<usize> {
    let mut all: Vec<usize> = (0..nodes).collect();
    all.shuffle(rng);
    let k = rng.gen_range(1..=((nodes.saturating_sub(1)) / 2).max(1));
    let mut v: Vec<usize> = all.into_iter().take(k).collect();
    v.sort_unstable();
    v
}

/// The plan: (time in ns, action), in time order, every fault healed by `until`.
pub fn plan(
    faults: &[Fault],
    nodes: usize,
    interval_ns: u64,
    until: u64,
    rng: &mut StdRng,
) -> Vec<(u64, Action)> {
    let mut out = Vec::new();
    if faults.is_empty() || nodes == 0 || interval_ns == 0 {
        return out;
    }
    let mut t = interval_ns;
    let mut k = 0;
    while t < until {
        let start = match faults[k % faults.len()] {
            Fault::Partition => {
                let mut all: Vec<usize> = (0..nodes).collect();
                all.shuffle(rng);
                let (a, b) = all.split_at(nodes / 2);
                let (mut a, mut b) = (a.to_vec(), b.to_vec());
                a.sort_unstable();
                b.sort_unstable();
                Action::Partition(vec![a, b].into_iter().filter(|g| !g.is_empty()).collect())
            }
            Fault::Pause => Action::Pause(minority(nodes, rng)),
            Fault::Kill => Action::Kill(minority(nodes, rng)),
        };
        let end = start.undo();
        out.push((t, start));
        if let Some(e) = end {
            if t + interval_ns < until {
                out.push((t + interval_ns, e));
            }
        }
        t += 2 * interval_ns;
        k += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn faults_alternate_with_quiet_stretches() {
        let mut rng = StdRng::seed_from_u64(7);
        let p = plan(&parse("partition,kill").unwrap(), 5, 10, 45, &mut rng);
        let times: Vec<u64> = p.iter().map(|(t, _)| *t).collect();
        assert_eq!(times, vec![10, 20, 30, 40]);
        assert!(
            matches!(&p[0].1, Action::Partition(g) if g.len() == 2 && g[0].len() + g[1].len() == 5)
        );
        assert_eq!(p[1].1, Action::Heal);
        assert!(matches!(&p[2].1, Action::Kill(n) if !n.is_empty() && n.len() <= 2));
        assert!(parse("flood").is_err());
        assert!(parse("none").unwrap().is_empty());
    }
}
