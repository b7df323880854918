//! The run index: `reports/index.html`, one row per run folder that holds a `results.json`,
//! newest first, with the run's target, workload, nemesis, verdict and a link to its report,
//! rendered with the template `templates/index.html`.

use super::{templates, ResultsFile};
use anyhow::Context;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One row of the index: a run folder and its results, or why they cannot be read.
#[derive(Serialize)]
struct Row {
    folder: String,
    results: Option<ResultsFile>,
    error: Option<String>,
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
        let (results, error) = match results {
            Ok(r) => (Some(r), None),
            Err(e) => (None, Some(e)),
        };
        rows.push(Row {
            folder,
            results,
            error,
        });
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
    let page = templates::render("index.html", &serde_json::json!({ "rows": rows }))?;
    let path = reports_root.join("index.html");
    crate::atomic_file::write(&path, page.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}
