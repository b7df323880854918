//! The run index: `reports/index.html`, one row per run folder that holds a `results.json`,
//! newest first, with the run's target, workload, nemesis, verdict and a link to its report.

use super::{escape, ResultsFile};
use anyhow::Context;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// One row of the index.
struct Row {
    folder: String,
    results: Result<ResultsFile, String>,
}

/// Writes `reports_root/index.html` listing every run under it and returns its path.
pub fn write_index(reports_root: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(reports_root).with_context(|| {
        format!(
            "cannot create the reports folder {}",
            reports_root.display()
        )
    })?;
    let entries = std::fs::read_dir(reports_root)
        .with_context(|| format!("cannot list the reports folder {}", reports_root.display()))?;
    let mut rows = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", reports_root.display()))?;
        let path = entry.path().join("results.json");
        if !path.is_file() {
            continue;
        }
        let folder = entry.file_name().to_string_lossy().into_owned();
        let results = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str::<ResultsFile>(&text).map_err(|e| e.to_string()));
        rows.push(Row { folder, results });
    }
    rows.sort_by(|a, b| {
        let key = |r: &Row| {
            r.results
                .as_ref()
                .map(|x| x.run.start_time.clone())
                .unwrap_or_default()
        };
        key(b).cmp(&key(a)).then_with(|| a.folder.cmp(&b.folder))
    });
    let path = reports_root.join("index.html");
    std::fs::write(&path, render(&rows))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

fn render(rows: &[Row]) -> String {
    let mut s = String::from(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\"><title>ferrocheck runs</title><style>\
         body{margin:0 auto;max-width:1100px;padding:16px 20px;color:#1d1f21;background:#fff;font:15px/1.45 system-ui,\"DejaVu Sans\",sans-serif}\
         table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #d7dbe0}thead th{background:#f5f7f9}\
         .badge{color:#fff;padding:0 7px;border-radius:3px;font-size:13px;font-weight:600}.v-valid{background:#3f8f4a}.v-invalid{background:#c9302c}.v-unknown{background:#d98c00}\
         .broken{color:#c9302c}code{font:13px ui-monospace,\"DejaVu Sans Mono\",monospace}\
         </style></head><body><h1>ferrocheck runs</h1>",
    );
    if rows.is_empty() {
        s.push_str("<p>No runs yet. Run <code>ferrocheck test …</code> or <code>ferrocheck report HISTORY</code>.</p>");
    } else {
        let _ = write!(
            s,
            "<p>{} runs, newest first.</p><table><thead><tr><th>run</th><th>verdict</th><th>target</th><th>workload</th><th>nemesis</th><th>ops</th><th>started</th></tr></thead><tbody>",
            rows.len()
        );
        for row in rows {
            let href = format!("{}/index.html", percent_encode(&row.folder));
            match &row.results {
                Ok(r) => {
                    let _ = write!(
                        s,
                        "<tr class=\"run\"><td><a href=\"{}\">{}</a></td><td><span class=\"badge v-{v}\">{v}</span></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        escape(&href),
                        escape(&row.folder),
                        escape(&r.run.target),
                        escape(&r.run.workload),
                        escape(&r.run.nemesis),
                        r.ops,
                        escape(&r.run.start_time),
                        v = r.validity,
                    );
                }
                Err(e) => {
                    let _ = write!(
                        s,
                        "<tr class=\"run broken\"><td><a href=\"{}\">{}</a></td><td colspan=\"6\">results.json is unreadable: {}</td></tr>",
                        escape(&href),
                        escape(&row.folder),
                        escape(e)
                    );
                }
            }
        }
        s.push_str("</tbody></table>");
    }
    s.push_str("</body></html>");
    s
}

/// Percent-encodes a folder name for use in a relative link.
fn percent_encode(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}
