//! Fault schedules: which faults a run injects, how often and for how long, read from
//! `nemeses/*.toml` and planned in full from a seed, so the same seed gives the same faults.
//!
//! A schedule lists entries in `faults`: a family (`partition`, `pause`, `kill`, `clock`,
//! `packet`), a composition that starts and stops together (`partition+pause`), or `all` (one
//! family at a time, drawn from all five). Each cycle waits `interval` seconds (± `jitter`),
//! starts one entry's faults, and heals them `duration` seconds later. Per-family tables say
//! which shapes and targets to draw from; a clock fault may instead name its nodes, start
//! `after` seconds into its entry and repeat `every` so many seconds. The built-in schedules
//! (`none`, `partition`, `pause`, `kill`, `kill-all`, `clock`, `packet`, `all`,
//! `redlock-clock`) are the files in `nemeses/`, embedded in the binary.

use super::partition::PartitionKind;
use super::{Fault, NemesisError, PacketFaults};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

pub use super::family::FaultFamily;

/// The built-in schedules: name and TOML text.
pub const BUILTIN: &[(&str, &str)] = &[
    ("none", include_str!("../../nemeses/none.toml")),
    ("partition", include_str!("../../nemeses/partition.toml")),
    ("pause", include_str!("../../nemeses/pause.toml")),
    ("kill", include_str!("../../nemeses/kill.toml")),
    ("kill-all", include_str!("../../nemeses/kill-all.toml")),
    ("clock", include_str!("../../nemeses/clock.toml")),
    ("packet", include_str!("../../nemeses/packet.toml")),
    ("all", include_str!("../../nemeses/all.toml")),
    (
        "redlock-clock",
        include_str!("../../nemeses/redlock-clock.toml"),
    ),
];

/// Which nodes a process or clock fault hits.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Targets {
    /// One random node.
    #[default]
    One,
    /// A random minority (at least one node).
    Minority,
    /// A random majority.
    Majority,
    /// Every node.
    All,
}

impl Targets {
    fn pick(self, nodes: &[String], rng: &mut StdRng) -> Vec<String> {
        let n = nodes.len();
        let k = match self {
            Targets::One => 1,
            Targets::Minority => ((n.saturating_sub(1)) / 2).max(1),
            Targets::Majority => n / 2 + 1,
            Targets::All => n,
        }
        .min(n);
        let mut v: Vec<String> = nodes.choose_multiple(rng, k).cloned().collect();
        v.sort();
        v
    }
}

/// The `[partition]` table.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PartitionSpec {
    /// Generator names to draw from.
    #[serde(default = "default_partition_kinds")]
    pub kinds: Vec<String>,
    /// Explicit components, drawn like a kind when given.
    #[serde(default)]
    pub explicit: Vec<Vec<Vec<String>>>,
    /// One-way partitions, drawn like a kind when given.
    #[serde(default)]
    pub one_way: Vec<OneWaySpec>,
}

/// A one-way partition in a schedule.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OneWaySpec {
    /// Senders whose packets are dropped.
    pub from: Vec<String>,
    /// Receivers that drop them.
    pub to: Vec<String>,
}

fn default_partition_kinds() -> Vec<String> {
    vec!["random-halves".into()]
}

impl Default for PartitionSpec {
    fn default() -> Self {
        PartitionSpec {
            kinds: default_partition_kinds(),
            explicit: Vec::new(),
            one_way: Vec::new(),
        }
    }
}

/// The `[pause]` and `[kill]` tables.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProcessSpec {
    /// Which nodes.
    #[serde(default)]
    pub targets: Targets,
}

/// The `[clock]` table.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClockSpec {
    /// Which nodes.
    #[serde(default)]
    pub targets: Targets,
    /// These nodes by name instead of drawing by `targets` (any node of the run, not only
    /// the fault targets).
    #[serde(default)]
    pub nodes: Vec<String>,
    /// Seconds into its entry before the clock fault starts (so a partition composed with it
    /// is in place first); it is still reset when the entry ends.
    #[serde(default)]
    pub after: f64,
    /// When positive, the clock fault is applied again every this many seconds until its
    /// entry ends (bumps add up; one reset undoes them all).
    #[serde(default)]
    pub every: f64,
    /// `bump` and/or `strobe`.
    #[serde(default = "default_clock_modes")]
    pub modes: Vec<String>,
    /// Bumps are drawn uniformly from this range of milliseconds (never zero).
    #[serde(default = "default_bump")]
    pub bump_ms: [i64; 2],
    /// A strobe's jump, milliseconds.
    #[serde(default = "default_strobe_delta")]
    pub strobe_delta_ms: i64,
    /// A strobe's period, milliseconds.
    #[serde(default = "default_strobe_period")]
    pub strobe_period_ms: u64,
}

fn default_clock_modes() -> Vec<String> {
    vec!["bump".into(), "strobe".into()]
}
fn default_bump() -> [i64; 2] {
    [-60_000, 60_000]
}
fn default_strobe_delta() -> i64 {
    200
}
fn default_strobe_period() -> u64 {
    10
}

impl Default for ClockSpec {
    fn default() -> Self {
        ClockSpec {
            targets: Targets::One,
            nodes: Vec::new(),
            after: 0.0,
            every: 0.0,
            modes: default_clock_modes(),
            bump_ms: default_bump(),
            strobe_delta_ms: default_strobe_delta(),
            strobe_period_ms: default_strobe_period(),
        }
    }
}

/// The `[packet]` table.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PacketSpec {
    /// Added one-way delay, milliseconds.
    #[serde(default)]
    pub delay_ms: u64,
    /// Extra random delay, milliseconds.
    #[serde(default)]
    pub jitter_ms: u64,
    /// Loss probability per chunk.
    #[serde(default)]
    pub drop: f64,
}

impl Default for PacketSpec {
    fn default() -> Self {
        PacketSpec {
            delay_ms: 50,
            jitter_ms: 50,
            drop: 0.0,
        }
    }
}

/// A fault schedule, as written in `nemeses/*.toml`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// The schedule's name.
    pub name: String,
    /// One line saying what it does.
    #[serde(default)]
    pub description: String,
    /// Entries drawn each cycle: a family, `a+b` composition, or `all`.
    #[serde(default)]
    pub faults: Vec<String>,
    /// Seconds between the end of one fault and the start of the next.
    #[serde(default = "default_interval")]
    pub interval: f64,
    /// Up to this many seconds more or less than `interval`.
    #[serde(default)]
    pub jitter: f64,
    /// Seconds a fault lasts before it is healed.
    #[serde(default = "default_duration")]
    pub duration: f64,
    /// Partition shapes.
    #[serde(default)]
    pub partition: PartitionSpec,
    /// Pause targets.
    #[serde(default)]
    pub pause: ProcessSpec,
    /// Kill targets.
    #[serde(default)]
    pub kill: ProcessSpec,
    /// Clock faults.
    #[serde(default)]
    pub clock: ClockSpec,
    /// Packet faults.
    #[serde(default)]
    pub packet: PacketSpec,
}

fn default_interval() -> f64 {
    5.0
}
fn default_duration() -> f64 {
    5.0
}

/// One fault at its time since the run started.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    /// When to apply it.
    pub at: Duration,
    /// What to apply.
    pub fault: Fault,
}

impl Schedule {
    /// Parses and validates a schedule's TOML text (`origin` names it in errors).
    pub fn parse(text: &str, origin: &str) -> Result<Schedule, NemesisError> {
        let s: Schedule =
            toml::from_str(text).map_err(|e| NemesisError::Invalid(format!("{origin}: {e}")))?;
        s.validate()
            .map_err(|e| NemesisError::Invalid(format!("{origin}: {e}")))?;
        Ok(s)
    }

    /// A built-in schedule by name, or a schedule file by path.
    pub fn load(name_or_path: &str) -> Result<Schedule, NemesisError> {
        if let Some((_, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            return Schedule::parse(text, &format!("built-in nemesis {name_or_path}"));
        }
        let path = Path::new(name_or_path);
        let text = std::fs::read_to_string(path).map_err(|e| {
            NemesisError::Invalid(format!(
                "nemesis {name_or_path:?} is neither a built-in ({}) nor a readable file: {e}",
                BUILTIN
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        Schedule::parse(&text, name_or_path)
    }

    fn validate(&self) -> Result<(), String> {
        for entry in &self.faults {
            for fam in entry.split('+') {
                if fam != "all" && FaultFamily::from_name(fam).is_none() {
                    return Err(format!(
                        "unknown fault {fam:?} in {entry:?}: use {} or all",
                        FaultFamily::ALL.map(FaultFamily::name).join(", ")
                    ));
                }
            }
        }
        for k in &self.partition.kinds {
            PartitionKind::parse(k).map_err(|e| e.to_string())?;
        }
        for m in &self.clock.modes {
            if m != "bump" && m != "strobe" {
                return Err(format!("unknown clock mode {m:?}: use bump or strobe"));
            }
        }
        let times = [
            self.interval,
            self.jitter,
            self.duration,
            self.clock.after,
            self.clock.every,
        ];
        if times.iter().any(|t| !t.is_finite() || *t < 0.0) || self.interval <= 0.0 {
            return Err("interval must be positive; jitter and duration not negative".into());
        }
        if self.clock.after > 0.0 && self.clock.after >= self.duration {
            return Err("clock after must be shorter than duration".into());
        }
        if self.jitter > self.interval {
            return Err("jitter must not exceed interval".into());
        }
        if !(0.0..=1.0).contains(&self.packet.drop) {
            return Err("packet drop is a probability between 0 and 1".into());
        }
        if self.clock.bump_ms[0] > self.clock.bump_ms[1] {
            return Err("clock bump-ms must be [low, high]".into());
        }
        Ok(())
    }

    /// The fault families this schedule can use (what the nemesis must be able to do).
    pub fn families(&self) -> Vec<FaultFamily> {
        FaultFamily::ALL
            .into_iter()
            .filter(|f| {
                self.faults
                    .iter()
                    .any(|e| e.split('+').any(|x| x == "all" || x == f.name()))
            })
            .collect()
    }

    /// Every fault of a run over `nodes` lasting `time_limit`, drawn from `seed`, sorted by
    /// time. Each started fault is stopped before `time_limit`.
    pub fn plan(
        &self,
        nodes: &[String],
        seed: u64,
        time_limit: Duration,
    ) -> Result<Vec<Planned>, NemesisError> {
        self.plan_with(nodes, nodes, seed, time_limit)
    }

    /// The gap before the next fault: the interval, give or take the jitter.
    fn next_gap(&self, rng: &mut StdRng) -> f64 {
        self.interval + rng.gen_range(-self.jitter..=self.jitter)
    }

    /// `Some(seconds)` when a run of `time_limit` with `seed` would get no fault at all (its
    /// first fault would not end before the time limit): the time limit that would fit one.
    /// `None` when at least one fault fits, or the schedule has none to inject.
    pub fn too_short(&self, seed: u64, time_limit: Duration) -> Option<f64> {
        if self.faults.is_empty() {
            return None;
        }
        // The first draw of the plan's generator, as `plan_with` makes it.
        let first_end = self.next_gap(&mut StdRng::seed_from_u64(seed)) + self.duration;
        (first_end >= time_limit.as_secs_f64())
            .then(|| self.interval + self.jitter.abs() + self.duration + 0.5)
    }

    /// Like [`plan`](Self::plan), where random shapes and picks draw from `nodes` (the fault
    /// targets) but explicit partitions and explicit clock `nodes` may name any of `known`
    /// (every node of the run, e.g. a lock target's servers and client groups).
    pub fn plan_with(
        &self,
        nodes: &[String],
        known: &[String],
        seed: u64,
        time_limit: Duration,
    ) -> Result<Vec<Planned>, NemesisError> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut out = Vec::new();
        if self.faults.is_empty() || nodes.is_empty() {
            return Ok(out);
        }
        let limit = time_limit.as_secs_f64();
        let mut t = 0.0;
        loop {
            t += self.next_gap(&mut rng);
            let end = t + self.duration;
            if end >= limit {
                break;
            }
            let entry = self
                .faults
                .choose(&mut rng)
                .ok_or_else(|| NemesisError::Invalid("a schedule with no faults".into()))?;
            let families: Vec<FaultFamily> = if entry == "all" {
                vec![FaultFamily::ALL
                    .choose(&mut rng)
                    .copied()
                    .unwrap_or(FaultFamily::Partition)]
            } else {
                entry
                    .split('+')
                    .map(|f| {
                        FaultFamily::from_name(f)
                            .ok_or_else(|| NemesisError::Invalid(format!("unknown fault {f:?}")))
                    })
                    .collect::<Result<_, _>>()?
            };
            for fam in families {
                let (start, stop) = self.draw(fam, nodes, known, &mut rng)?;
                let delay = if fam == FaultFamily::Clock {
                    self.clock.after
                } else {
                    0.0
                };
                if fam == FaultFamily::Clock && self.clock.every > 0.0 {
                    let mut again = t + delay + self.clock.every;
                    while again < end {
                        out.push(Planned {
                            at: Duration::from_secs_f64(again),
                            fault: start.clone(),
                        });
                        again += self.clock.every;
                    }
                }
                out.push(Planned {
                    at: Duration::from_secs_f64(t + delay),
                    fault: start,
                });
                out.push(Planned {
                    at: Duration::from_secs_f64(end),
                    fault: stop,
                });
            }
            t = end;
        }
        out.sort_by_key(|p| p.at);
        Ok(out)
    }

    /// A start fault of `family` and the fault that ends it.
    fn draw(
        &self,
        family: FaultFamily,
        nodes: &[String],
        known: &[String],
        rng: &mut StdRng,
    ) -> Result<(Fault, Fault), NemesisError> {
        Ok(match family {
            FaultFamily::Partition => {
                let p = &self.partition;
                let mut kinds: Vec<PartitionKind> = p
                    .kinds
                    .iter()
                    .map(|k| PartitionKind::parse(k))
                    .collect::<Result<_, _>>()?;
                kinds.extend(p.explicit.iter().cloned().map(PartitionKind::Explicit));
                kinds.extend(p.one_way.iter().map(|o| PartitionKind::OneWay {
                    from: o.from.clone(),
                    to: o.to.clone(),
                }));
                let kind = kinds.choose(rng).ok_or_else(|| {
                    NemesisError::Invalid("[partition] lists no partitions".into())
                })?;
                let part = match kind {
                    PartitionKind::Explicit(_) | PartitionKind::OneWay { .. } => {
                        kind.generate(known, rng)?
                    }
                    _ => kind.generate(nodes, rng)?,
                };
                (Fault::StartPartition(part), Fault::StopPartition)
            }
            FaultFamily::Pause => {
                let t = self.pause.targets.pick(nodes, rng);
                (Fault::Pause(t.clone()), Fault::Resume(t))
            }
            FaultFamily::Kill => {
                let t = self.kill.targets.pick(nodes, rng);
                (Fault::Kill(t.clone()), Fault::Start(t))
            }
            FaultFamily::Clock => {
                let c = &self.clock;
                let t = if c.nodes.is_empty() {
                    c.targets.pick(nodes, rng)
                } else {
                    if let Some(n) = c.nodes.iter().find(|n| !known.contains(n)) {
                        return Err(NemesisError::UnknownNode(n.clone()));
                    }
                    c.nodes.clone()
                };
                let mode = c.modes.choose(rng).map_or("bump", |m| m.as_str());
                let start = if mode == "strobe" {
                    Fault::ClockStrobe {
                        nodes: t.clone(),
                        delta_ms: c.strobe_delta_ms,
                        period_ms: c.strobe_period_ms.max(1),
                    }
                } else {
                    let mut ms = rng.gen_range(c.bump_ms[0]..=c.bump_ms[1]);
                    if ms == 0 {
                        ms = c.bump_ms[1].max(1);
                    }
                    Fault::ClockBump {
                        nodes: t.clone(),
                        ms,
                    }
                };
                (start, Fault::ClockReset(t))
            }
            FaultFamily::Packet => (
                Fault::StartPacket(PacketFaults {
                    delay_ms: self.packet.delay_ms,
                    jitter_ms: self.packet.jitter_ms,
                    drop: self.packet.drop,
                }),
                Fault::StopPacket,
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes() -> Vec<String> {
        (1..=5).map(|i| format!("n{i}")).collect()
    }

    #[test]
    fn every_builtin_parses() {
        for (name, _) in BUILTIN {
            let s = Schedule::load(name).unwrap();
            assert_eq!(&s.name, name);
        }
        assert!(Schedule::load("none").unwrap().families().is_empty());
        assert_eq!(Schedule::load("all").unwrap().families(), FaultFamily::ALL);
    }

    #[test]
    fn plans_are_reproducible_and_balanced() {
        let s = Schedule::load("all").unwrap();
        let a = s.plan(&nodes(), 42, Duration::from_secs(120)).unwrap();
        let b = s.plan(&nodes(), 42, Duration::from_secs(120)).unwrap();
        let c = s.plan(&nodes(), 43, Duration::from_secs(120)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(!a.is_empty());
        assert!(a.len().is_multiple_of(2), "every start has a stop");
        assert!(a.iter().all(|p| p.at < Duration::from_secs(120)));
        assert!(a.windows(2).all(|w| w[0].at <= w[1].at));
    }

    #[test]
    fn composition_starts_and_stops_together() {
        let text = r#"
            name = "both"
            faults = ["partition+pause"]
            interval = 2.0
            duration = 1.0
            [partition]
            kinds = ["one"]
        "#;
        let s = Schedule::parse(text, "test").unwrap();
        let plan = s.plan(&nodes(), 1, Duration::from_secs(10)).unwrap();
        assert_eq!(plan[0].at, plan[1].at);
        let fs: Vec<&str> = plan[..2].iter().map(|p| p.fault.f()).collect();
        assert!(
            fs.contains(&"start-partition") && fs.contains(&"pause"),
            "{fs:?}"
        );
        assert_eq!(plan[0].at, Duration::from_secs(2));
        assert_eq!(plan[2].at, Duration::from_secs(3));
    }

    #[test]
    fn clock_faults_can_name_nodes_start_late_and_repeat() {
        let text = r#"
            name = "late"
            faults = ["partition+clock"]
            interval = 1.0
            duration = 2.0
            [partition]
            kinds = []
            explicit = [[["g1", "n1"], ["n2"]]]
            [clock]
            nodes = ["n3"]
            modes = ["bump"]
            bump-ms = [900, 900]
            after = 0.5
            every = 0.6
        "#;
        let s = Schedule::parse(text, "test").unwrap();
        let known: Vec<String> = ["holder", "g1", "n1", "n2", "n3"]
            .iter()
            .map(|n| n.to_string())
            .collect();
        // Random picks would draw from `holder` only; explicit names may be any known node.
        let plan = s
            .plan_with(&known[..1], &known, 1, Duration::from_secs(4))
            .unwrap();
        let at = |f: &str| -> Vec<f64> {
            plan.iter()
                .filter(|p| p.fault.f() == f)
                .map(|p| p.at.as_secs_f64())
                .collect()
        };
        assert_eq!(at("start-partition"), vec![1.0]);
        let bumps = at("clock-bump");
        assert_eq!(bumps.len(), 3, "{bumps:?}");
        assert!((bumps[0] - 1.5).abs() < 1e-9 && (bumps[2] - 2.7).abs() < 1e-9);
        assert_eq!(at("clock-reset"), vec![3.0]);
        assert!(plan.iter().any(|p| p.fault
            == Fault::ClockBump {
                nodes: vec!["n3".into()],
                ms: 900
            }));
        assert!(s.plan(&known[..1], 1, Duration::from_secs(4)).is_err());
        let late = text.replace("after = 0.5", "after = 2.0");
        assert!(Schedule::parse(&late, "test").is_err());
    }

    #[test]
    fn bad_schedules_are_refused_with_the_reason() {
        let bad = Schedule::parse("name = \"x\"\nfaults = [\"flood\"]", "x.toml").unwrap_err();
        assert!(bad.to_string().contains("flood"), "{bad}");
        let bad = Schedule::parse("name = \"x\"\ninterval = 0.0", "x.toml").unwrap_err();
        assert!(bad.to_string().contains("interval"), "{bad}");
        assert!(Schedule::load("no-such-nemesis").is_err());
    }
}
