//! Page assembly: the run's results gathered as data ([`Page`]) and rendered with the page
//! template (`templates/report.html`): the verdict first, then the anomalies in words and
//! pictures, the fault windows, the timeline of the whole run and the plots, all in one HTML
//! file with its style, script and data inline.

use super::anomaly::{self, AnomalyView, Lookup};
use super::availability::WindowAvailability;
use super::lattice::{self as lattice_view, LatticeView};
use super::plot::{self, Plot, Quantiles};
use super::timeline::{self, Timeline};
use super::{human_ns, templates, Extras, RunInfo};
use crate::check::{self, CheckResult, Validity};
use crate::history::History;
use serde::Serialize;

const STYLE: &str = include_str!("report.css");

/// The page may load nothing: its own inline script and style only, no connections at all.
const CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'";

/// How many anomalies per checker are drawn; the rest are counted.
const MAX_ANOMALIES: usize = 20;

/// One checker's line in the checkers table.
#[derive(Serialize)]
struct CheckerRow<'a> {
    checker: &'a str,
    validity: Validity,
    summary: &'a str,
    anomalies: usize,
}

/// The run's facts, as the page shows them.
#[derive(Serialize)]
struct RunFacts<'a> {
    target: &'a str,
    workload: &'a str,
    nemesis: &'a str,
    start_time: &'a str,
    seed: u64,
    command: &'a str,
    /// The run's settings that are not on the command line and differ from the defaults.
    options: Vec<OptionRow>,
    /// Every option as recorded, for the folded "data" toggle.
    options_data: Option<String>,
    history: String,
    ops: usize,
    calls: usize,
    windows: usize,
    duration: String,
}

/// One setting of the run, as the page shows it.
#[derive(Serialize)]
struct OptionRow {
    name: String,
    value: String,
}

/// Options that are the harness's own business (where files go), or already shown.
const INTERNAL: [&str; 5] = [
    "report_dir",
    "history_dir",
    "command_line",
    "described",
    "workload_file",
];

/// Values the options take unless a flag changes them (`ferrocheck test --help`).
const DEFAULTS: [(&str, &str); 11] = [
    ("consistency", "linearizable"),
    ("values", "small"),
    ("fsync", "true"),
    ("base_port", "0"),
    ("lock_ttl_ms", "500"),
    ("lock_work_ms", "100"),
    ("fencing", "false"),
    ("serializable_reads", "false"),
    ("progress", "true"),
    ("op_timeout", "10.0"),
    ("time_limit", "15.0"),
];

/// The settings worth showing beside the command line: nested blocks (`real`) flattened, and
/// left out what is internal, empty, at its default, or already on the command line.
fn shown_options(options: &serde_json::Value, command: &str) -> Vec<OptionRow> {
    let mut flat = Vec::new();
    let Some(map) = options.as_object() else {
        return flat;
    };
    let mut entries: Vec<(&String, &serde_json::Value)> = Vec::new();
    for (k, v) in map {
        match v.as_object() {
            Some(inner) if k == "real" => entries.extend(inner.iter()),
            _ => entries.push((k, v)),
        }
    }
    for (k, v) in entries {
        let value = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => continue,
            serde_json::Value::Object(_) | serde_json::Value::Array(_) => continue,
            other => other.to_string(),
        };
        let flag = format!("--{}", k.replace('_', "-"));
        if INTERNAL.contains(&k.as_str())
            || DEFAULTS.contains(&(k.as_str(), value.as_str()))
            || command.split_whitespace().any(|w| w == flag)
            || ["target", "workload", "nemesis", "seed"].contains(&k.as_str())
        {
            continue;
        }
        flat.push(OptionRow {
            name: k.replace('_', " "),
            value,
        });
    }
    flat
}

/// One checker's drawn anomalies, and how many more it found.
#[derive(Serialize)]
struct AnomalyGroup<'a> {
    checker: &'a str,
    anomalies: Vec<AnomalyView>,
    more: usize,
}

/// A fault window in the faults table.
#[derive(Serialize)]
struct WindowRow {
    family: String,
    label: String,
    from: String,
    /// `None` when never healed.
    to: Option<String>,
    lasted: String,
    ops: Vec<u64>,
    /// Availability during the window, per side of a partition.
    availability: Vec<super::availability::SideAvailability>,
}

/// A one-off nemesis op in the faults table.
#[derive(Serialize)]
struct EventRow {
    f: String,
    value: String,
    time: String,
    op: u64,
}

/// The latency and throughput plots.
#[derive(Serialize)]
struct Plots {
    latency: Plot,
    quantiles: Quantiles,
    throughput: Plot,
}

/// Everything the page template draws.
#[derive(Serialize)]
struct Page<'a> {
    title: &'a str,
    verdict: Validity,
    verdict_upper: String,
    csp: &'static str,
    style: &'static str,
    script: &'static str,
    checkers: Vec<CheckerRow<'a>>,
    /// The consistency lattice, when the run's workload has one.
    lattice: Option<LatticeView>,
    run: RunFacts<'a>,
    anomaly_count: usize,
    anomaly_groups: Vec<AnomalyGroup<'a>>,
    windows: Vec<WindowRow>,
    events: Vec<EventRow>,
    /// Says the timeline is a sample, for a run too long to draw whole.
    timeline_note: Option<String>,
    plots: Option<Plots>,
    /// A Maelstrom run's message diagram and node logs.
    extras: &'a Extras,
    version: &'static str,
    /// The timeline's data, for the page's script.
    data: serde_json::Value,
}

/// Renders the whole page.
pub(crate) fn render(
    run: &RunInfo,
    history: &History,
    results: &[CheckResult],
    lattice: Option<&crate::check::lattice::Lattice>,
    extras: &Extras,
) -> anyhow::Result<(String, Vec<WindowAvailability>)> {
    let timeline = Timeline::build(history);
    let availability = super::availability::per_window(history, &timeline.windows);
    let look = Lookup::new(history, &timeline);
    let verdict = check::merge(results);
    let title = if run.name.is_empty() {
        "ferrocheck run"
    } else {
        run.name.as_str()
    };
    let marked: Vec<u64> = results
        .iter()
        .flat_map(|r| r.anomalies.iter().take(MAX_ANOMALIES))
        .flat_map(|a| a.ops.iter().copied())
        .collect();
    let page = Page {
        title,
        verdict,
        verdict_upper: verdict.to_string().to_uppercase(),
        csp: CSP,
        style: STYLE,
        script: timeline::SCRIPT,
        checkers: results
            .iter()
            .map(|r| CheckerRow {
                checker: &r.checker,
                validity: r.validity,
                summary: &r.summary,
                anomalies: r.anomalies.len(),
            })
            .collect(),
        lattice: lattice.map(|l| {
            let own = format!("linearizable({})", l.model);
            lattice_view::view(l, first_anomaly_number(results, &own))
        }),
        run: facts(run, history, &timeline),
        anomaly_count: results.iter().map(|r| r.anomalies.len()).sum(),
        anomaly_groups: anomaly_groups(&look, results),
        windows: windows(history, &timeline, &availability),
        events: events(history, &timeline),
        timeline_note: timeline.sample_note(),
        plots: (!timeline.calls.is_empty()).then(|| Plots {
            latency: plot::latency(history, &timeline),
            quantiles: plot::quantiles(history, &timeline),
            throughput: plot::throughput(history, &timeline),
        }),
        extras,
        version: env!("CARGO_PKG_VERSION"),
        data: timeline.page_data(history, &marked),
    };
    Ok((templates::render("report.html", &page)?, availability))
}

fn facts<'a>(run: &'a RunInfo, history: &History, timeline: &Timeline) -> RunFacts<'a> {
    let command = if run.command.is_empty() {
        run.options
            .get("command_line")
            .and_then(|c| c.as_str())
            .unwrap_or("")
    } else {
        &run.command
    };
    RunFacts {
        target: &run.target,
        workload: &run.workload,
        nemesis: &run.nemesis,
        start_time: &run.start_time,
        seed: run.seed,
        command,
        options: shown_options(&run.options, command),
        options_data: (!run.options.is_null())
            .then(|| serde_json::to_string_pretty(&run.options).unwrap_or_default()),
        history: run.history.display().to_string(),
        ops: history.ops.len(),
        calls: timeline.calls.len(),
        windows: timeline.windows.len(),
        duration: human_ns(timeline.end),
    }
}

/// The page number of the first anomaly of the result named `checker`, as
/// [`anomaly_groups`] numbers them.
fn first_anomaly_number(results: &[CheckResult], checker: &str) -> Option<usize> {
    let mut n = 0;
    for r in results {
        if r.checker == checker {
            return (!r.anomalies.is_empty()).then_some(n);
        }
        n += r.anomalies.len().min(MAX_ANOMALIES);
    }
    None
}

fn anomaly_groups<'a>(look: &Lookup, results: &'a [CheckResult]) -> Vec<AnomalyGroup<'a>> {
    let mut n = 0;
    let mut groups = Vec::new();
    for r in results {
        let mut anomalies = Vec::new();
        for a in r.anomalies.iter().take(MAX_ANOMALIES) {
            anomalies.push(anomaly::view(look, &r.checker, a, n));
            n += 1;
        }
        groups.push(AnomalyGroup {
            checker: &r.checker,
            anomalies,
            more: r.anomalies.len().saturating_sub(MAX_ANOMALIES),
        });
    }
    groups
}

fn windows(
    history: &History,
    timeline: &Timeline,
    availability: &[WindowAvailability],
) -> Vec<WindowRow> {
    timeline
        .windows
        .iter()
        .zip(availability)
        .map(|(w, a)| WindowRow {
            availability: a.sides.clone(),
            family: w.family.clone(),
            label: w.label.clone(),
            from: format!("{:.3}", w.start as f64 / 1e9),
            to: w.healed.then(|| format!("{:.3}", w.end as f64 / 1e9)),
            lasted: human_ns(w.end - w.start),
            ops: w.ops.iter().map(|&p| history.ops[p].index).collect(),
        })
        .collect()
}

fn events(history: &History, timeline: &Timeline) -> Vec<EventRow> {
    timeline
        .events
        .iter()
        .map(|&p| {
            let op = &history.ops[p];
            EventRow {
                f: op.f.clone(),
                value: op.value.to_string(),
                time: format!("{:.3}", op.time as f64 / 1e9),
                op: op.index,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_show_only_what_the_command_line_and_defaults_do_not() {
        let options = serde_json::json!({
            "command_line": "ferrocheck test --target redlock --time-limit 10 --lock-work-ms 300",
            "report_dir": "/tmp/r", "history_dir": "/tmp/h", "time_limit": 10.0, "nodes": null,
            "fsync": true, "op_timeout": 3.0,
            "real": {"etcd": null, "fencing": false, "lock_ttl_ms": 500, "lock_work_ms": 300}
        });
        let command = options["command_line"].as_str().unwrap();
        let shown: Vec<(String, String)> = shown_options(&options, command)
            .into_iter()
            .map(|o| (o.name, o.value))
            .collect();
        assert_eq!(shown, vec![("op timeout".to_string(), "3.0".to_string())]);
    }
}
