//! Page assembly: the verdict first, then the anomalies in words and pictures, the fault
//! windows, the timeline of the whole run and the plots, all in one HTML string with its style,
//! script and data inline.

use super::anomaly::{self, Lookup};
use super::timeline::{self, Timeline};
use super::{escape, human_ns, jsonview, plot, RunInfo};
use crate::check::{self, CheckResult, Validity};
use crate::history::History;
use std::fmt::Write;

const STYLE: &str = include_str!("report.css");

/// The page may load nothing: its own inline script and style only, no connections at all.
const CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'";

/// How many anomalies per checker are drawn; the rest are counted.
const MAX_ANOMALIES: usize = 20;

/// Renders the whole page.
pub(crate) fn render(run: &RunInfo, history: &History, results: &[CheckResult]) -> String {
    let timeline = Timeline::build(history);
    let look = Lookup::new(history, &timeline);
    let verdict = check::merge(results);
    let title = if run.name.is_empty() {
        "ferrocheck run".to_owned()
    } else {
        run.name.clone()
    };
    let mut page = String::with_capacity(1 << 20);
    let _ = write!(
        page,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\"><title>{} — {}</title><style>{STYLE}</style></head><body>",
        verdict,
        escape(&title)
    );
    page.push_str(&header(run, history, &timeline, results, verdict, &title));
    page.push_str(&anomalies(&look, results));
    page.push_str(&faults(history, &timeline));
    page.push_str(
        "<section id=\"timeline-section\"><h2>Timeline</h2><p class=\"hint\">One lane per client process; bars run from invoke to completion. Scroll to zoom, drag to pan, hover for details, double-click to reset. Shaded bands are fault windows. Add <code>#view=FROM,TO</code> (seconds) or <code>#op=N</code> to the address to open on a stretch of time or on one op.</p>\
         <div class=\"controls\"><button type=\"button\" id=\"tl-reset\">Whole run</button><button type=\"button\" id=\"tl-in\">Zoom in</button><button type=\"button\" id=\"tl-out\">Zoom out</button><button type=\"button\" id=\"tl-anomaly\">Zoom to anomaly</button>\
         <span class=\"legend\"><i class=\"sw ok\"></i>ok <i class=\"sw fail\"></i>fail <i class=\"sw info\"></i>info <i class=\"sw open\"></i>never completed <i class=\"sw marked\"></i>named by an anomaly</span><span id=\"tl-range\"></span></div>\
         <div id=\"tl-wrap\"><canvas id=\"tl-canvas\"></canvas><div id=\"tl-tip\" hidden></div></div>\
         <noscript><p>The interactive timeline needs JavaScript; everything else on this page does not.</p></noscript></section>",
    );
    page.push_str("<section id=\"plots\"><h2>Latency and throughput</h2>");
    if timeline.calls.is_empty() {
        page.push_str("<p>No client calls in this history.</p>");
    } else {
        let _ = write!(
            page,
            "<h3>Latency of each call</h3>{}<h3>Latency quantiles</h3>{}<h3>Throughput</h3>{}",
            plot::latency(history, &timeline),
            plot::quantiles(history, &timeline),
            plot::throughput(history, &timeline)
        );
    }
    page.push_str("</section>");
    let _ = write!(
        page,
        "<footer>History: <code>{}</code> · {} ops · made by ferrocheck {}</footer>",
        escape(&run.history.display().to_string()),
        history.ops.len(),
        env!("CARGO_PKG_VERSION")
    );
    let marked: Vec<u64> = results
        .iter()
        .flat_map(|r| r.anomalies.iter().take(MAX_ANOMALIES))
        .flat_map(|a| a.ops.iter().copied())
        .collect();
    let _ = write!(
        page,
        "<script type=\"application/json\" id=\"fc-data\">{}</script><script>{}</script></body></html>",
        timeline.page_json(history, &marked),
        timeline::SCRIPT
    );
    page
}

fn badge(v: Validity) -> String {
    format!("<span class=\"badge v-{v}\">{v}</span>")
}

fn header(
    run: &RunInfo,
    history: &History,
    timeline: &Timeline,
    results: &[CheckResult],
    verdict: Validity,
    title: &str,
) -> String {
    let mut s = String::new();
    let words = match verdict {
        Validity::Valid => "No checker found a problem.",
        Validity::Invalid => {
            "A checker found a history the model does not allow; see the anomalies below."
        }
        Validity::Unknown => "At least one checker could not decide.",
    };
    let _ = write!(
        s,
        "<header class=\"verdict-box v-{verdict}\"><h1><span id=\"verdict\" class=\"verdict\">{}</span> {}</h1><p>{words}</p></header>",
        verdict.to_string().to_uppercase(),
        escape(title)
    );
    s.push_str("<section id=\"checkers\"><h2>Checkers</h2><table class=\"checkers\"><thead><tr><th>checker</th><th>verdict</th><th>summary</th><th>anomalies</th></tr></thead><tbody>");
    if results.is_empty() {
        s.push_str("<tr><td colspan=\"4\">No checker ran.</td></tr>");
    }
    for r in results {
        let _ = write!(
            s,
            "<tr class=\"checker v-{}\"><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.validity,
            escape(&r.checker),
            badge(r.validity),
            escape(&r.summary),
            r.anomalies.len()
        );
    }
    s.push_str("</tbody></table></section>");
    let dash = |v: &str| {
        if v.is_empty() {
            "—".to_owned()
        } else {
            escape(v)
        }
    };
    let _ = write!(
        s,
        "<section id=\"run\"><h2>Run</h2><table class=\"kv run\">\
         <tr><th>target</th><td>{}</td></tr><tr><th>workload</th><td>{}</td></tr><tr><th>nemesis</th><td>{}</td></tr>\
         <tr><th>started</th><td>{}</td></tr><tr><th>seed</th><td><code>{}</code></td></tr>\
         <tr><th>history</th><td>{} ops, {} client calls, {} fault window{}, {}</td></tr></table>",
        dash(&run.target),
        dash(&run.workload),
        dash(&run.nemesis),
        dash(&run.start_time),
        run.seed,
        history.ops.len(),
        timeline.calls.len(),
        timeline.windows.len(),
        if timeline.windows.len() == 1 { "" } else { "s" },
        human_ns(timeline.end)
    );
    if !run.command.is_empty() {
        let _ = write!(
            s,
            "<h3>Reproduce</h3><div class=\"command\"><pre id=\"command\">{}</pre><button type=\"button\" id=\"copy-command\">Copy</button></div>",
            escape(&run.command)
        );
    }
    if !run.options.is_null() {
        let _ = write!(
            s,
            "<details class=\"options\" open><summary>Options</summary>{}</details>",
            jsonview::render(&run.options)
        );
    }
    s.push_str("</section>");
    s
}

fn anomalies(look: &Lookup, results: &[CheckResult]) -> String {
    let total: usize = results.iter().map(|r| r.anomalies.len()).sum();
    if total == 0 {
        return String::new();
    }
    let mut s = format!(
        "<section id=\"anomalies\"><h2>Anomalies <small>({total})</small></h2><p class=\"hint\">Each anomaly names the ops that prove it. Click an op to find it on the timeline.</p>"
    );
    let mut n = 0;
    for r in results {
        for a in r.anomalies.iter().take(MAX_ANOMALIES) {
            s.push_str(&anomaly::render(look, &r.checker, a, n));
            n += 1;
        }
        if r.anomalies.len() > MAX_ANOMALIES {
            let _ = write!(
                s,
                "<p class=\"more\">{} more anomalies from <code>{}</code> are in results.json.</p>",
                r.anomalies.len() - MAX_ANOMALIES,
                escape(&r.checker)
            );
        }
    }
    s.push_str("</section>");
    s
}

fn faults(history: &History, timeline: &Timeline) -> String {
    let mut s = String::from("<section id=\"faults\"><h2>Faults</h2>");
    if timeline.windows.is_empty() && timeline.events.is_empty() {
        s.push_str("<p>No faults were injected in this run.</p></section>");
        return s;
    }
    s.push_str("<table class=\"faults\"><thead><tr><th>fault</th><th>from</th><th>to</th><th>lasted</th><th>nemesis ops</th></tr></thead><tbody>");
    for w in &timeline.windows {
        let ops: Vec<String> = w
            .ops
            .iter()
            .map(|&p| format!("#{}", history.ops[p].index))
            .collect();
        let _ = write!(
            s,
            "<tr class=\"fault-window fam-{}\"><td><i class=\"sw fam-{}\"></i>{}</td><td>{:.3} s</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&w.family),
            escape(&w.family),
            escape(&w.label),
            w.start as f64 / 1e9,
            if w.healed {
                format!("{:.3} s", w.end as f64 / 1e9)
            } else {
                "never healed".to_owned()
            },
            human_ns(w.end - w.start),
            ops.join(" ")
        );
    }
    for &p in &timeline.events {
        let op = &history.ops[p];
        let _ = write!(
            s,
            "<tr class=\"fault-event\"><td>{} {}</td><td>{:.3} s</td><td>—</td><td>—</td><td>#{}</td></tr>",
            escape(&op.f),
            escape(&op.value.to_string()),
            op.time as f64 / 1e9,
            op.index
        );
    }
    s.push_str("</tbody></table></section>");
    s
}
