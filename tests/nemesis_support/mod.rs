//! Helpers shared by the nemesis tests: skipping (or failing under CI) when the machine lacks
//! root or a tool, and fresh run records.

#![allow(dead_code)]

use ferrocheck::nemesis::state::{new_run_id, RunRecord};
use ferrocheck::nemesis::tools::{self, Capabilities};

/// Returns true when the test may go on; otherwise prints why it skips, or panics under CI.
pub fn available(why_not: Option<String>) -> bool {
    match why_not {
        None => true,
        Some(why) if std::env::var_os("CI").is_some() => {
            panic!("CI is set, so this test must run, but: {why}")
        }
        Some(why) => {
            eprintln!("skipping: {why}");
            false
        }
    }
}

/// True when network namespaces can be made (root and `ip`).
pub fn netns_available() -> bool {
    available(Capabilities::detect().netns_unavailable())
}

/// True when `tool` is installed.
pub fn tool_available(tool: &str, install: &str) -> bool {
    available(tools::find(tool).map_or_else(
        || Some(format!("`{tool}` not found: apt-get install {install}")),
        |_| None,
    ))
}

/// A fresh run record (removed when dropped).
pub fn record() -> RunRecord {
    RunRecord::create(&new_run_id()).expect("creating a run record")
}

/// The namespaces of `run` that exist now.
pub fn namespaces_of(run: &str) -> Vec<String> {
    let prefix = ferrocheck::nemesis::netns::namespace_prefix(run);
    ferrocheck::nemesis::netns::list_namespaces()
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

/// Deletes every namespace of a run when dropped (for tests that leave namespaces on purpose).
pub struct NamespacesOf(pub String);

impl Drop for NamespacesOf {
    fn drop(&mut self) {
        for ns in namespaces_of(&self.0) {
            let _ = ferrocheck::nemesis::netns::delete_namespace(&ns);
        }
    }
}
