//! Workload files (`workloads/*.toml`): which ops in which mix, over how many keys and values,
//! at what rate and concurrency, checked by which checkers — on top of a Rust workload
//! registered by name in [`WORKLOADS`](super::WORKLOADS).
//!
//! The built-in `register` and `lock` workloads are such files, embedded in the binary.
//! [`resolve`] turns `--workload` into a registry entry plus the file; the Rust workload reads
//! the file's options through [`WorkloadOptions::file`](super::WorkloadOptions), and
//! [`FileWorkload`] gives the run the file's name, model and checks.

use super::{Step, WorkerGen, Workload, WorkloadEntry, WorkloadOptions};
use crate::check::{CheckOptions, Consistency};
use crate::toml_file::{looks_like_path, FileError, Source};
use rand::rngs::StdRng;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use toml::Spanned;

/// Workload files shipped in the binary: name and text.
pub const BUILTIN: &[(&str, &str)] = &[
    ("register", include_str!("../../workloads/register.toml")),
    ("lock", include_str!("../../workloads/lock.toml")),
];

/// The values ops write.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    /// Integers drawn from `min..=max`.
    Range(i64, i64),
    /// Every write a value never written before.
    Unique,
}

/// A parsed, checked workload file.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadFile {
    /// What `--workload` says.
    pub name: String,
    /// One line for `ferrocheck list`.
    pub about: String,
    /// The Rust workload behind it.
    pub workload: String,
    /// Op name and weight (empty: the Rust workload's own behaviour).
    pub mix: Vec<(String, f64)>,
    /// Keys unless `--keys` says otherwise.
    pub keys: Option<usize>,
    /// The values written (`None`: the Rust workload's default).
    pub values: Option<Values>,
    /// Ops per second unless `--rate` says otherwise.
    pub rate: Option<f64>,
    /// Client workers unless `--concurrency` says otherwise (`10`, or `2n`).
    pub concurrency: Option<String>,
    /// The model the history is checked against (`None`: the Rust workload's).
    pub model: Option<String>,
    /// The checkers to run (`None`: the Rust workload's).
    pub checkers: Option<Vec<String>>,
    /// Where it came from.
    pub origin: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    name: Spanned<String>,
    #[serde(default)]
    about: String,
    workload: Spanned<String>,
    #[serde(default)]
    mix: Option<Spanned<BTreeMap<String, f64>>>,
    #[serde(default)]
    keys: Option<Spanned<usize>>,
    #[serde(default)]
    values: Option<Spanned<toml::Value>>,
    #[serde(default)]
    rate: Option<Spanned<f64>>,
    #[serde(default)]
    concurrency: Option<Spanned<toml::Value>>,
    #[serde(default)]
    model: Option<Spanned<String>>,
    #[serde(default)]
    checkers: Option<Spanned<Vec<String>>>,
}

impl WorkloadFile {
    /// Parses and checks a workload file.
    pub fn parse(src: &Source) -> Result<WorkloadFile, FileError> {
        let raw: Raw = src.parse()?;
        let base = super::WORKLOADS
            .iter()
            .find(|e| e.name == raw.workload.get_ref())
            .ok_or_else(|| {
                src.at(
                    raw.workload.span(),
                    format!(
                        "workload must name a Rust workload: one of {}",
                        super::WORKLOADS
                            .iter()
                            .map(|e| e.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
        let probe = (base.build)(&WorkloadOptions::default());
        let ops = probe.ops();
        let mut mix = Vec::new();
        if let Some(m) = &raw.mix {
            for (op, w) in m.get_ref() {
                if !ops.contains(&op.as_str()) {
                    return Err(src.at(
                        m.span(),
                        if ops.is_empty() {
                            format!(
                                "workload {} takes no [mix]: its ops follow from each other",
                                base.name
                            )
                        } else {
                            format!(
                                "mix: unknown op {op:?}; workload {} does {}",
                                base.name,
                                ops.join(", ")
                            )
                        },
                    ));
                }
                if !(w.is_finite() && *w >= 0.0) {
                    return Err(src.at(
                        m.span(),
                        format!("mix: {op} must be a weight of 0 or more, got {w}"),
                    ));
                }
                mix.push((op.clone(), *w));
            }
            if mix.iter().all(|(_, w)| *w == 0.0) {
                return Err(src.at(m.span(), "mix needs at least one op with a weight above 0"));
            }
        }
        let keys = match &raw.keys {
            Some(k) if *k.get_ref() == 0 => return Err(src.at(k.span(), "keys must be at least 1")),
            k => k.as_ref().map(|k| *k.get_ref()),
        };
        let values = match &raw.values {
            None => None,
            Some(v) => Some(match v.get_ref() {
                toml::Value::String(s) if s == "unique" => Values::Unique,
                toml::Value::Array(a) => match a.as_slice() {
                    [toml::Value::Integer(lo), toml::Value::Integer(hi)] if lo <= hi => {
                        Values::Range(*lo, *hi)
                    }
                    _ => {
                        return Err(src.at(
                            v.span(),
                            "values must be [min, max] (integers, min <= max) or \"unique\"",
                        ))
                    }
                },
                _ => {
                    return Err(src.at(
                        v.span(),
                        "values must be [min, max] (integers, min <= max) or \"unique\"",
                    ))
                }
            }),
        };
        let rate = match &raw.rate {
            Some(r) if !(r.get_ref().is_finite() && *r.get_ref() >= 0.0) => {
                return Err(src.at(
                    r.span(),
                    "rate must be ops per second, 0 or more (0 = unthrottled)",
                ))
            }
            r => r.as_ref().map(|r| *r.get_ref()),
        };
        let concurrency = match &raw.concurrency {
            None => None,
            Some(c) => {
                let text = match c.get_ref() {
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::String(s) => s.clone(),
                    _ => String::new(),
                };
                crate::maelstrom::spec::parse_concurrency(&text, 3).map_err(|_| {
                    src.at(c.span(), "concurrency must be a number of clients (10) or a multiple of the node count (\"2n\")")
                })?;
                Some(text)
            }
        };
        if let Some(m) = &raw.model {
            let mut known = crate::check::models::names();
            known.extend(["lock", "fenced-lock"]);
            if !known.contains(&m.get_ref().as_str()) {
                return Err(src.at(
                    m.span(),
                    format!("model must be one of {}", known.join(", ")),
                ));
            }
        }
        if let Some(c) = &raw.checkers {
            let known: Vec<&str> = crate::check::registry::CHECKERS
                .iter()
                .map(|c| c.name)
                .collect();
            for name in c.get_ref() {
                if !known.contains(&name.as_str()) {
                    return Err(src.at(
                        c.span(),
                        format!(
                            "unknown checker {name:?}; checkers are {}",
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(WorkloadFile {
            name: raw.name.get_ref().clone(),
            about: raw.about,
            workload: base.name.to_string(),
            mix,
            keys,
            values,
            rate,
            concurrency,
            model: raw.model.map(|m| m.into_inner()),
            checkers: raw.checkers.map(|c| c.into_inner()),
            origin: src.origin.clone(),
        })
    }

    /// The checks its `checkers` ask for: a consistency model (or the lock checker) checks the
    /// workload's model; any other checker is named as the model (`lost-updates`).
    pub fn checks(&self) -> Option<Vec<CheckOptions>> {
        let checkers = self.checkers.as_ref()?;
        Some(
            checkers
                .iter()
                .map(|c| match c.parse::<Consistency>() {
                    Ok(consistency) => CheckOptions {
                        consistency,
                        ..Default::default()
                    },
                    Err(_) if c == "lock" => CheckOptions::default(),
                    Err(_) => CheckOptions {
                        model: Some(c.clone()),
                        ..Default::default()
                    },
                })
                .collect(),
        )
    }
}

/// Reads the workload file at `path`.
pub fn load_path(path: &Path) -> anyhow::Result<WorkloadFile> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        crate::error::usage(format!("cannot read workload file {}: {e}", path.display()))
    })?;
    let src = Source {
        origin: path.display().to_string(),
        text,
    };
    WorkloadFile::parse(&src).map_err(|e| crate::error::usage(e.to_string()))
}

/// The built-in workload file called `name`, parsed.
pub fn builtin(name: &str) -> Option<anyhow::Result<WorkloadFile>> {
    let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name)?;
    let src = Source {
        origin: format!("built-in workload {name}"),
        text: text.to_string(),
    };
    Some(WorkloadFile::parse(&src).map_err(|e| crate::error::usage(e.to_string())))
}

/// The workload files in `./workloads/` (a broken one as its error).
pub fn local_files() -> Vec<(std::path::PathBuf, anyhow::Result<WorkloadFile>)> {
    let mut paths: Vec<_> = std::fs::read_dir("workloads")
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let w = load_path(&p);
            (p, w)
        })
        .collect()
}

/// What `--workload NAME` stands for: a path, `./workloads/NAME.toml`, a built-in file, or a
/// Rust workload of the registry.
pub fn resolve(name: &str) -> anyhow::Result<(&'static WorkloadEntry, Option<Arc<WorkloadFile>>)> {
    let local = Path::new("workloads").join(format!("{name}.toml"));
    let file = if looks_like_path(name) {
        load_path(Path::new(name))?
    } else if local.is_file() {
        load_path(&local)?
    } else if let Some(f) = builtin(name) {
        f?
    } else {
        return super::entry(name).map(|e| (e, None));
    };
    Ok((entry_for(&file), Some(Arc::new(file))))
}

/// A registry entry standing for a workload file; it lives as long as the process.
pub fn entry_for(file: &WorkloadFile) -> &'static WorkloadEntry {
    let leak = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
    Box::leak(Box::new(WorkloadEntry {
        name: leak(&file.name),
        about: leak(&file.about),
        build,
    }))
}

/// Builds the workload `opts.file` describes.
fn build(opts: &WorkloadOptions) -> Box<dyn Workload> {
    let Some(file) = opts.file.clone() else {
        return Box::new(Missing);
    };
    match super::entry(&file.workload) {
        Ok(base) => Box::new(FileWorkload {
            inner: (base.build)(opts),
            file,
        }),
        Err(_) => Box::new(Missing),
    }
}

/// A Rust workload as its file names, models and checks it.
pub struct FileWorkload {
    file: Arc<WorkloadFile>,
    inner: Box<dyn Workload>,
}

impl Workload for FileWorkload {
    fn name(&self) -> &str {
        &self.file.name
    }
    fn model(&self) -> &str {
        self.file
            .model
            .as_deref()
            .unwrap_or_else(|| self.inner.model())
    }
    fn worker(&self, worker: usize) -> Box<dyn WorkerGen> {
        self.inner.worker(worker)
    }
    fn final_requests(&self) -> Vec<crate::targets::Request> {
        self.inner.final_requests()
    }
    fn checks(&self) -> Vec<CheckOptions> {
        self.file.checks().unwrap_or_else(|| self.inner.checks())
    }
    fn ops(&self) -> Vec<&str> {
        self.inner.ops()
    }
}

/// Stands in when a file entry is built without its file (a caller that did not pass
/// `WorkloadOptions::file`): no ops, no checks, so the run shows nothing was tested.
struct Missing;

impl Workload for Missing {
    fn name(&self) -> &str {
        "missing-workload-file"
    }
    fn model(&self) -> &str {
        "register"
    }
    fn worker(&self, _worker: usize) -> Box<dyn WorkerGen> {
        Box::new(Done)
    }
    fn checks(&self) -> Vec<CheckOptions> {
        Vec::new()
    }
}

struct Done;

impl WorkerGen for Done {
    fn next(
        &mut self,
        _rng: &mut StdRng,
        _last: Option<(&crate::targets::Request, &crate::targets::Outcome)>,
    ) -> Step {
        Step::Done
    }
}

/// The workload files `ferrocheck list` shows: built-in ones, then those in `./workloads/`.
pub fn list() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = BUILTIN
        .iter()
        .filter_map(|(n, _)| builtin(n)?.ok())
        .map(|f| {
            (
                f.name.clone(),
                format!("{} [workloads/{}.toml, built in]", f.about, f.name),
            )
        })
        .collect();
    for (path, file) in local_files() {
        out.push(match file {
            Ok(f) => (f.name, format!("{} [{}]", f.about, path.display())),
            Err(e) => (path.display().to_string(), format!("(broken: {e})")),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<WorkloadFile, String> {
        WorkloadFile::parse(&Source {
            origin: "w.toml".into(),
            text: text.into(),
        })
        .map_err(|e| e.to_string())
    }

    const MIX: &str = r#"
name = "reads"
workload = "register"
keys = 3
values = [0, 9]
concurrency = "2n"
checkers = ["linearizable", "lost-updates"]
[mix]
read = 0.8
write = 0.2
"#;

    #[test]
    fn the_readme_example_is_the_builtin_register_file() {
        let block =
            crate::targets::described::tests::readme_block("The built-in `register` is this file");
        let readme = parse(&block).unwrap();
        let builtin = builtin("register").unwrap().unwrap();
        assert_eq!(
            (readme.mix, readme.values, readme.checkers, readme.keys),
            (builtin.mix, builtin.values, builtin.checkers, builtin.keys)
        );
    }

    #[test]
    fn builtin_files_parse() {
        for (name, _) in BUILTIN {
            let f = builtin(name).unwrap().unwrap();
            assert_eq!(&f.name, name);
            assert_eq!(&f.workload, name);
        }
        let (e, f) = resolve("register").unwrap();
        assert_eq!(e.name, "register");
        let w = (e.build)(&WorkloadOptions {
            file: f,
            ..Default::default()
        });
        assert_eq!((w.name(), w.model()), ("register", "cas-register"));
        assert_eq!(w.checks().len(), 2);
        let (_, f) = resolve("lock").unwrap();
        let w = (e.build)(&WorkloadOptions {
            file: f,
            ..Default::default()
        });
        assert_eq!((w.name(), w.model()), ("lock", "lock"));
    }

    #[test]
    fn a_mix_file_parses_and_bad_ones_name_the_line() {
        let f = parse(MIX).unwrap();
        assert_eq!(
            f.mix,
            [("read".to_string(), 0.8), ("write".to_string(), 0.2)]
        );
        assert_eq!(f.values, Some(Values::Range(0, 9)));
        assert_eq!(
            f.checks().unwrap()[1].model.as_deref(),
            Some("lost-updates")
        );
        let e = parse(&MIX.replace("write = 0.2", "append = 0.2")).unwrap_err();
        assert!(
            e.starts_with("w.toml:8: ") && e.contains("append") && e.contains("cas"),
            "{e}"
        );
        let e = parse(&MIX.replace("[0, 9]", "[9, 0]")).unwrap_err();
        assert!(
            e.starts_with("w.toml:5: ") && e.contains("[min, max]"),
            "{e}"
        );
        let e = parse(&MIX.replace("\"register\"", "\"regster\"")).unwrap_err();
        assert!(e.starts_with("w.toml:3: ") && e.contains("lock"), "{e}");
        let e = parse(&MIX.replace("\"lost-updates\"", "\"lost\"")).unwrap_err();
        assert!(
            e.starts_with("w.toml:7: ") && e.contains("lost-updates"),
            "{e}"
        );
        let e = parse(&MIX.replace("\"2n\"", "\"two\"")).unwrap_err();
        assert!(e.starts_with("w.toml:6: "), "{e}");
        let e = parse(&MIX.replace("workload = \"register\"", "workload = \"lock\"")).unwrap_err();
        assert!(e.contains("takes no [mix]"), "{e}");
    }
}
