//! What a test needs from the machine. A test that cannot run here says why and skips; under
//! `CI` (where the packages are installed by `.ci/run`) it fails instead, so that a missing
//! package never passes silently.

use ferrocheck::nemesis::tools::{self, Capabilities};
use std::process::Command;

/// True when `why_not` is `None`; otherwise prints why the test skips, or panics under `CI`.
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

/// True when `program --version` runs; otherwise says which Debian `package` to install.
pub fn have(program: &str, package: &str) -> bool {
    let ok = Command::new(program)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    available((!ok).then(|| format!("{program} not found on PATH: apt-get install {package}")))
}

/// True when python3 runs (the example nodes and the servers of the target-file tests).
pub fn have_python() -> bool {
    have("python3", "python3")
}

/// True when redis-server runs.
pub fn have_redis() -> bool {
    have("redis-server", "redis-server")
}

/// True when etcd runs.
pub fn have_etcd() -> bool {
    have("etcd", "etcd-server")
}

/// True when this machine can run namespaced faults through the binary: root and iproute2.
pub fn can_inject() -> bool {
    let root = nix::unistd::geteuid().is_root();
    let ip = Command::new("ip")
        .arg("-V")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    available((!(root && ip)).then(|| format!("needs root and iproute2 (root: {root}, ip: {ip})")))
}

/// True when network namespaces can be made, as the nemesis itself detects it.
pub fn netns_available() -> bool {
    available(Capabilities::detect().netns_unavailable())
}

/// True when the nemesis finds `tool` (nft, iptables, ...).
pub fn tool_available(tool: &str, install: &str) -> bool {
    available(tools::find(tool).map_or_else(
        || Some(format!("`{tool}` not found: apt-get install {install}")),
        |_| None,
    ))
}
