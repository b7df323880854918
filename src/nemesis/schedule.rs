//! Fault schedules: which faults a run injects, how often and for how long, read from
//! `nemeses/*.toml` and planned in full from a seed, so the same seed gives the same faults.
//!
//! A schedule lists entries in `faults`: a family (`partition`, `pause`, `kill`, `clock`,
//! `packet`), a composition that starts and stops together (`partition+pause`), or `all` (one
//! family at a time, drawn from all of them). Each cycle waits `interval` seconds (± `jitter`),
//! starts one entry's faults, and heals them `duration` seconds later. A table named after a
//! family (`[partition]`, `[clock]`, ...) is read by that family's file in
//! [`families`](super::families): which shapes and nodes to draw from, and for clock faults
//! when to start and how often to repeat. The built-in schedules (`none`, `partition`, `pause`,
//! `kill`, `kill-all`, `clock`, `packet`, `all`, `redlock-clock`) are the files in `nemeses/`,
//! embedded in the binary.

use super::family::{FamilySpec, Needs};
use super::registry::{self, FAMILIES};
use super::{Fault, NemesisError};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
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
    /// Draws the nodes from `nodes`, sorted.
    pub fn pick(self, nodes: &[String], rng: &mut StdRng) -> Vec<String> {
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

/// A family's table that only says which nodes its faults hit (`[pause]`, `[kill]`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProcessSpec {
    /// Which nodes.
    #[serde(default)]
    pub targets: Targets,
}

/// Reads family `family`'s table (absent: its defaults), with the table's name in errors.
pub fn parse_table<T: DeserializeOwned + Default>(
    family: FaultFamily,
    table: Option<toml::Value>,
) -> Result<T, String> {
    match table {
        None => Ok(T::default()),
        Some(t) => t.try_into().map_err(|e| format!("[{family}]: {e}")),
    }
}

/// The names of a schedule's own fields ([`Base`]); any other top-level key must be a family's
/// table.
const BASE_FIELDS: &[&str] = &[
    "name",
    "description",
    "faults",
    "interval",
    "jitter",
    "duration",
];

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// A schedule's own fields: everything but the families' tables (other keys are checked
/// against [`BASE_FIELDS`] and the families).
#[derive(Clone, Debug, Deserialize, PartialEq)]
struct Base {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    faults: Vec<String>,
    #[serde(default = "default_interval")]
    interval: f64,
    #[serde(default)]
    jitter: f64,
    #[serde(default = "default_duration")]
    duration: f64,
}

/// A fault schedule, as written in `nemeses/*.toml`.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// The schedule's name.
    pub name: String,
    /// One line saying what it does.
    pub description: String,
    /// Entries drawn each cycle: a family, `a+b` composition, or `all`.
    pub faults: Vec<String>,
    /// Seconds between the end of one fault and the start of the next.
    pub interval: f64,
    /// Up to this many seconds more or less than `interval`.
    pub jitter: f64,
    /// Seconds a fault lasts before it is healed.
    pub duration: f64,
    /// The families' tables as written (absent ones are not here).
    tables: toml::Table,
    /// Every family's table, read (its defaults when the schedule has none).
    specs: BTreeMap<FaultFamily, Arc<dyn FamilySpec>>,
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Schedule) -> bool {
        (
            &self.name,
            &self.description,
            &self.faults,
            self.interval,
            self.jitter,
            self.duration,
            &self.tables,
        ) == (
            &other.name,
            &other.description,
            &other.faults,
            other.interval,
            other.jitter,
            other.duration,
            &other.tables,
        )
    }
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
        Schedule::read(text).map_err(|e| NemesisError::Invalid(format!("{origin}: {e}")))
    }

    /// The schedule `text` holds, or what is wrong with it, with the line it is on.
    fn read(text: &str) -> Result<Schedule, String> {
        // The schedule's own fields, read straight from the text so that a wrong value keeps
        // the line toml names; the families' tables are read below, each by its family.
        let base: Base = toml::from_str(text).map_err(|e| e.to_string())?;
        let top: BTreeMap<String, toml::Spanned<toml::Value>> =
            toml::from_str(text).map_err(|e| e.to_string())?;
        let mut tables = toml::Table::new();
        let mut lines = BTreeMap::new();
        for (key, value) in top {
            let line = line_of(text, value.span().start);
            if FAMILIES.iter().any(|f| f.family().name() == key) {
                lines.insert(key.clone(), line);
                tables.insert(key, value.into_inner());
            } else if !BASE_FIELDS.contains(&key.as_str()) {
                let families: Vec<&str> = FAMILIES.iter().map(|f| f.family().name()).collect();
                return Err(format!(
                    "line {line}: unknown field `{key}`: a schedule has the fields {} and the \
                     tables [{}]",
                    BASE_FIELDS.join(", "),
                    families.join("], [")
                ));
            }
        }
        let mut specs: BTreeMap<FaultFamily, Arc<dyn FamilySpec>> = BTreeMap::new();
        for family in FAMILIES {
            let name = family.family().name();
            let spec =
                family
                    .parse(tables.get(name).cloned())
                    .map_err(|e| match lines.get(name) {
                        Some(line) => format!("line {line}: {e}"),
                        None => e,
                    })?;
            specs.insert(family.family(), Arc::from(spec));
        }
        let s = Schedule {
            name: base.name,
            description: base.description,
            faults: base.faults,
            interval: base.interval,
            jitter: base.jitter,
            duration: base.duration,
            tables,
            specs,
        };
        s.validate()?;
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
                        FaultFamily::all()
                            .iter()
                            .map(|f| f.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
        }
        let times = [self.interval, self.jitter, self.duration];
        if times.iter().any(|t| !t.is_finite() || *t < 0.0) || self.interval <= 0.0 {
            return Err("interval must be positive; jitter and duration not negative".into());
        }
        if self.jitter > self.interval {
            return Err("jitter must not exceed interval".into());
        }
        for spec in self.specs.values() {
            spec.check(self.duration)?;
        }
        Ok(())
    }

    /// Family `family`'s table, read.
    pub fn spec(&self, family: FaultFamily) -> Option<&dyn FamilySpec> {
        self.specs.get(&family).map(|s| &**s)
    }

    /// The fault families this schedule can use (what the nemesis must be able to do).
    pub fn families(&self) -> Vec<FaultFamily> {
        FaultFamily::all()
            .into_iter()
            .filter(|f| {
                self.faults
                    .iter()
                    .any(|e| e.split('+').any(|x| x == "all" || x == f.name()))
            })
            .collect()
    }

    /// What this schedule's families need the run to prepare, together.
    pub fn needs(&self) -> Needs {
        let mut all = Needs::default();
        for f in self
            .families()
            .into_iter()
            .filter_map(|f| registry::family(f.name()))
        {
            let n = f.needs();
            all.network |= n.network;
            all.clock_shim |= n.clock_shim;
            all.proxy_links |= n.proxy_links;
        }
        all
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
            for family in self.draw_entry(&mut rng)? {
                let spec = self.spec(family).ok_or_else(|| {
                    NemesisError::Invalid(format!("no fault family {family} in the registry"))
                })?;
                let (start, stop) = spec.draw(nodes, known, &mut rng)?;
                let (delay, every) = spec.timing();
                if every > 0.0 {
                    let mut again = t + delay + every;
                    while again < end {
                        out.push(Planned {
                            at: Duration::from_secs_f64(again),
                            fault: start.clone(),
                        });
                        again += every;
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

    /// The families of one entry drawn from `faults` (for `all`, one family drawn from all).
    fn draw_entry(&self, rng: &mut StdRng) -> Result<Vec<FaultFamily>, NemesisError> {
        let entry = self
            .faults
            .choose(rng)
            .ok_or_else(|| NemesisError::Invalid("a schedule with no faults".into()))?;
        if entry == "all" {
            let all = FaultFamily::all();
            return Ok(vec![all.choose(rng).copied().unwrap_or(all[0])]);
        }
        entry
            .split('+')
            .map(|f| {
                FaultFamily::from_name(f)
                    .ok_or_else(|| NemesisError::Invalid(format!("unknown fault {f:?}")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nemesis::families::clock::ClockFault;

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
        assert_eq!(
            Schedule::load("all").unwrap().families(),
            FaultFamily::all()
        );
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
        let bump = Fault::from(ClockFault::Bump {
            nodes: vec!["n3".into()],
            ms: 900,
        });
        assert!(plan.iter().any(|p| p.fault == bump));
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
        // A table no family reads, and a family's own table, are checked as before.
        let bad = Schedule::parse("name = \"x\"\n[flood]\nrate = 1", "x.toml").unwrap_err();
        assert!(bad.to_string().contains("flood"), "{bad}");
        let bad =
            Schedule::parse("name = \"x\"\n[clock]\nmodes = [\"wobble\"]", "x.toml").unwrap_err();
        assert!(bad.to_string().contains("wobble"), "{bad}");
        let bad = Schedule::parse("name = \"x\"\n[pause]\nwho = 1", "x.toml").unwrap_err();
        assert!(bad.to_string().contains("[pause]"), "{bad}");
        let bad = Schedule::parse("name = \"x\"\n[packet]\ndrop = 2.0", "x.toml").unwrap_err();
        assert!(bad.to_string().contains("probability"), "{bad}");
        // Every error names its line: a schedule's own field, an unknown key, a family's table.
        let bad = Schedule::parse("name = \"x\"\n\ninterval = \"soon\"", "x.toml").unwrap_err();
        assert!(bad.to_string().contains("line 3"), "{bad}");
        let bad = Schedule::parse("name = \"x\"\nintervall = 2.0", "x.toml").unwrap_err();
        assert!(bad.to_string().contains("line 2"), "{bad}");
        assert!(bad.to_string().contains("intervall"), "{bad}");
        let bad = Schedule::parse("name = \"x\"\n\n[pause]\nwho = 1", "x.toml").unwrap_err();
        assert!(bad.to_string().contains("line 3"), "{bad}");
        let a = Schedule::load("all").unwrap();
        assert_eq!(a, Schedule::load("all").unwrap());
        assert_ne!(a, Schedule::load("clock").unwrap());
    }
}
