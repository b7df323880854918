//! The registry of checkers: each entry is a name, a line about it, and how to build it from
//! its [`CheckerOptions`]. A new checker is one file (a [`Checker`] and its `build`) and one
//! line in [`CHECKERS`].
//!
//! Here too: which checkers a history gets by default ([`default_specs`]: the ones its header
//! records, else one chosen from its model), the mapping from the model names that used to stand
//! for checkers (`lock`, `fenced-lock`, `lost-updates`) to registry entries, and [`run_all`].

use crate::check::checker::Checker;
use crate::check::model::model_for_functions;
use crate::check::model_checkers::{self, Linearizable, Sequential};
use crate::check::result::{CheckResult, Validity};
use crate::check::spec::{CheckOptions, CheckerOptions, Consistency};
use crate::check::{bank, causal, eventual, lock, lost_updates, models, txn};
use crate::history::{CheckerSpec, History};

/// One checker in the registry.
pub struct CheckerEntry {
    /// The name a [`CheckerSpec`] and `ferrocheck list` use.
    pub name: &'static str,
    /// One line for `ferrocheck list`.
    pub about: &'static str,
    /// Builds the checker from its options; errors say which option to fix.
    pub build: fn(&CheckerOptions) -> anyhow::Result<Box<dyn Checker>>,
}

/// Every checker ferrocheck knows.
pub const CHECKERS: &[CheckerEntry] = &[
    entry(
        "linearizable",
        model_checkers::LINEARIZABLE_ABOUT,
        build_linearizable,
    ),
    entry(
        "sequential",
        model_checkers::SEQUENTIAL_ABOUT,
        build_sequential,
    ),
    entry("causal", causal::ABOUT, causal::build),
    entry(eventual::NAME, eventual::ABOUT, eventual::build),
    entry("lock", lock::ABOUT, lock::build),
    entry(lost_updates::NAME, lost_updates::ABOUT, lost_updates::build),
    entry(bank::NAME, bank::ABOUT, bank::build),
    entry(txn::NAME, txn::ABOUT, txn::build),
    entry(
        crate::maelstrom::checkers::NAME,
        crate::maelstrom::checkers::ABOUT,
        crate::maelstrom::checkers::build,
    ),
];

const fn entry(
    name: &'static str,
    about: &'static str,
    build: fn(&CheckerOptions) -> anyhow::Result<Box<dyn Checker>>,
) -> CheckerEntry {
    CheckerEntry { name, about, build }
}

/// The model a model-stepping checker was given, or an error saying how to give one.
fn model_of(opts: &CheckerOptions) -> anyhow::Result<Box<dyn model_checkers::DynModel>> {
    let name = opts.model.as_deref().ok_or_else(|| {
        anyhow::anyhow!(
            "this checker steps a model, and none was given: pass --model (one of {})",
            models::names().join(", ")
        )
    })?;
    models::build(name, &opts.initial())
}

fn build_linearizable(opts: &CheckerOptions) -> anyhow::Result<Box<dyn Checker>> {
    Ok(Box::new(Linearizable {
        model: model_of(opts)?,
        time_limit: opts.time_limit(),
    }))
}

fn build_sequential(opts: &CheckerOptions) -> anyhow::Result<Box<dyn Checker>> {
    Ok(Box::new(Sequential {
        model: model_of(opts)?,
        time_limit: opts.time_limit(),
        initial: opts.initial(),
    }))
}

/// Builds the checker `spec` names.
pub fn build(spec: &CheckerSpec) -> anyhow::Result<Box<dyn Checker>> {
    let opts = CheckerOptions::of(spec)?;
    match CHECKERS.iter().find(|c| c.name == spec.name) {
        Some(c) => (c.build)(&opts),
        None => anyhow::bail!(
            "unknown checker {:?}: use one of {} (`ferrocheck list` shows them)",
            spec.name,
            CHECKERS
                .iter()
                .map(|c| c.name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Builds and runs the checker `spec` names.
pub fn run(history: &History, spec: &CheckerSpec) -> anyhow::Result<CheckResult> {
    build(spec)?.check(history)
}

/// Runs every checker in `specs`, in order. One that cannot run (an unknown name, ops it
/// cannot read) gives an `unknown` result saying why, so the others still count.
pub fn run_all(history: &History, specs: &[CheckerSpec]) -> Vec<CheckResult> {
    specs
        .iter()
        .map(|spec| {
            run(history, spec).unwrap_or_else(|e| {
                could_not_run(spec, format!("the checker could not run: {e:#}"))
            })
        })
        .collect()
}

/// The `unknown` result standing for a checker that could not run, with `summary` saying why.
pub fn could_not_run(spec: &CheckerSpec, summary: String) -> CheckResult {
    CheckResult {
        checker: describe(spec),
        validity: Validity::Unknown,
        summary,
        anomalies: Vec::new(),
        stats: serde_json::Value::Null,
    }
}

/// A spec in a few words: `linearizable(cas-register)`, `lost-updates`.
pub fn describe(spec: &CheckerSpec) -> String {
    match spec.options.get("model").and_then(|m| m.as_str()) {
        Some(m) => format!("{}({m})", spec.name),
        None => spec.name.clone(),
    }
}

/// The checker that model name `model` calls for under `opts`: `lock` and `fenced-lock` mean
/// the lock checker, `lost-updates` and `bank` their checkers, any other model the consistency
/// `opts` names.
pub fn spec_for_model(model: &str, opts: &CheckOptions) -> CheckerSpec {
    let mut o = CheckerOptions {
        model: None,
        initial_value: opts.initial_value.clone(),
        time_limit: opts.time_limit.map(|d| d.as_secs_f64()),
        fencing: None,
    };
    let name = match model {
        "lock" => lock_spec_name(&mut o, None),
        "fenced-lock" => lock_spec_name(&mut o, Some(true)),
        bank::NAME => bank::NAME,
        _ if opts.consistency == Consistency::Causal => {
            o.model = Some(model.to_string());
            Consistency::Causal.name()
        }
        lost_updates::NAME => lost_updates::NAME,
        m if txn::workload(m).is_some() => {
            o.model = Some(m.to_string());
            txn::NAME
        }
        _ => {
            o.model = Some(model.to_string());
            opts.consistency.name()
        }
    };
    o.spec(name)
}

fn lock_spec_name(o: &mut CheckerOptions, fencing: Option<bool>) -> &'static str {
    o.fencing = fencing;
    o.initial_value = None;
    o.time_limit = None;
    "lock"
}

/// The checker `opts` asks for on `history`: its model is `opts.model`, else the header's,
/// else one inferred from the ops (see [`choose_model`]).
pub fn spec_for(history: &History, opts: &CheckOptions) -> anyhow::Result<CheckerSpec> {
    Ok(spec_for_model(&choose_model(history, opts)?, opts))
}

/// The checkers a workload's checks call for (its `checks()`, each naming a model), as the
/// controller records them in the history header. A check without a model gets `model`.
pub fn specs_for_workload(model: &str, checks: &[CheckOptions]) -> Vec<CheckerSpec> {
    checks
        .iter()
        .map(|c| spec_for_model(c.model.as_deref().unwrap_or(model), c))
        .collect()
}

/// The checkers `history` gets when nobody says otherwise: those its header records, else
/// (histories written before headers recorded them) one chosen from its model.
pub fn default_specs(history: &History) -> anyhow::Result<Vec<CheckerSpec>> {
    match history.header.as_ref().map(|h| &h.checkers) {
        Some(c) if !c.is_empty() => Ok(c.clone()),
        _ => Ok(vec![spec_for(history, &CheckOptions::default())?]),
    }
}

/// The model to check with: `opts.model`, else the history header's, else one inferred from
/// the ops' `f` values. Errors when none fits.
pub fn choose_model(history: &History, opts: &CheckOptions) -> anyhow::Result<String> {
    if let Some(m) = &opts.model {
        return Ok(m.clone());
    }
    if let Some(m) = history.header.as_ref().and_then(|h| h.model.clone()) {
        return Ok(m);
    }
    if txn::is_txn_history(history) {
        if let Some(w) = txn::shape::detect(history) {
            return Ok(w.name().to_string());
        }
    }
    let fs = history
        .ops
        .iter()
        .filter(|o| o.is_client())
        .map(|o| o.f.as_str());
    match model_for_functions(fs) {
        Some(m) => Ok(m.to_string()),
        None if history.ops.iter().all(|o| !o.is_client()) => Ok("register".to_string()),
        None => anyhow::bail!(
            "cannot tell which model this history needs from its ops: pass --model (one of {})",
            models::names().join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_builds_with_the_options_it_needs() {
        let opts = CheckerOptions {
            model: Some("cas-register".into()),
            ..Default::default()
        };
        for c in CHECKERS {
            let built = (c.build)(&opts).unwrap_or_else(|e| panic!("{}: {e}", c.name));
            assert_eq!(built.about(), c.about);
            assert!(!built.needs().is_empty());
        }
        for m in models::MODELS {
            assert_eq!((m.build)(&Default::default()).unwrap().name(), m.name);
        }
    }

    #[test]
    fn legacy_model_names_map_to_registry_entries() {
        let d = CheckOptions::default();
        assert_eq!(
            describe(&spec_for_model("cas-register", &d)),
            "linearizable(cas-register)"
        );
        assert_eq!(spec_for_model("lost-updates", &d).name, "lost-updates");
        let fenced = spec_for_model("fenced-lock", &d);
        assert_eq!(fenced.name, "lock");
        assert_eq!(CheckerOptions::of(&fenced).unwrap().fencing, Some(true));
        let seq = CheckOptions {
            consistency: Consistency::Sequential,
            ..Default::default()
        };
        assert_eq!(describe(&spec_for_model("kv", &seq)), "sequential(kv)");
    }

    #[test]
    fn a_register_workloads_checks_become_two_recorded_checkers() {
        let checks = [
            CheckOptions {
                model: Some("cas-register".into()),
                ..Default::default()
            },
            CheckOptions {
                model: Some(lost_updates::NAME.into()),
                ..Default::default()
            },
        ];
        let specs = specs_for_workload("cas-register", &checks);
        let names: Vec<String> = specs.iter().map(describe).collect();
        assert_eq!(names, ["linearizable(cas-register)", "lost-updates"]);
        let header = crate::history::Header {
            version: 1,
            checkers: specs.clone(),
            ..Default::default()
        };
        let history = History {
            header: Some(header),
            ops: vec![],
        };
        assert_eq!(default_specs(&history).unwrap(), specs);
        assert_eq!(run_all(&history, &specs).len(), 2);
    }

    #[test]
    fn unknown_checker_and_missing_model_say_what_to_do() {
        let e = build(&CheckerSpec {
            name: "linearisable".into(),
            ..Default::default()
        })
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            e.contains("ferrocheck list") && e.contains("lost-updates"),
            "{e}"
        );
        let e = build(&CheckerOptions::default().spec("linearizable"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("--model"), "{e}");
    }
}
