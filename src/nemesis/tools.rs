//! The system tools the nemesis drives (`ip`, `nft`, `iptables`) and what the machine allows.
//!
//! Network faults need root and iproute2; partitions also need nftables or iptables. This module
//! finds those tools, runs them (optionally inside a network namespace) with their output
//! captured, and turns "not root" or "tool missing" into a sentence naming the faults that are
//! unavailable and what to install.

use super::NemesisError;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// How long a system tool may take before it is killed.
pub const TOOL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Directories searched for system tools besides `PATH` (root's tools live in sbin).
const SBIN: &[&str] = &["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

/// Finds `tool` on `PATH` or in the sbin directories.
pub fn find(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN.iter().map(PathBuf::from))
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
}

/// True when this process runs with effective uid 0.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// What this machine lets the nemesis do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Running as root.
    pub root: bool,
    /// iproute2's `ip`.
    pub ip: Option<PathBuf>,
    /// nftables' `nft`.
    pub nft: Option<PathBuf>,
    /// `iptables`, the fallback for partitions.
    pub iptables: Option<PathBuf>,
}

impl Capabilities {
    /// Looks at the machine.
    pub fn detect() -> Capabilities {
        Capabilities {
            root: is_root(),
            ip: find("ip"),
            nft: find("nft"),
            iptables: find("iptables"),
        }
    }

    /// Why network namespaces cannot be made here, or `None` when they can.
    pub fn netns_unavailable(&self) -> Option<String> {
        match (self.root, &self.ip) {
            (false, _) => Some(
                "network namespaces need root (run ferrocheck as root); without them partitions \
                 are unavailable and packet faults use the userspace proxy on 127.0.0.x"
                    .into(),
            ),
            (true, None) => Some(
                "`ip` not found: apt-get install iproute2; without it network namespaces and \
                 partitions are unavailable"
                    .into(),
            ),
            (true, Some(_)) => None,
        }
    }

    /// Why partitions cannot be applied here, or `None` when they can.
    pub fn partition_unavailable(&self) -> Option<String> {
        if let Some(why) = self.netns_unavailable() {
            return Some(why);
        }
        if self.nft.is_none() && self.iptables.is_none() {
            return Some(
                "neither `nft` nor `iptables` found: apt-get install nftables (or iptables); \
                 partitions are unavailable without one"
                    .into(),
            );
        }
        None
    }
}

/// Runs `program args...`, inside `netns` when given, feeding `stdin`; returns stdout. The tool
/// is killed after [`TOOL_TIMEOUT`]. Its output must be small (it is read after it exits).
///
/// A non-zero exit becomes [`NemesisError::Tool`] carrying the command line and its stderr.
pub fn run(
    program: &Path,
    args: &[&str],
    netns: Option<&str>,
    stdin: Option<&str>,
) -> Result<String, NemesisError> {
    let shown = format!(
        "{}{} {}",
        netns.map(|n| format!("[netns {n}] ")).unwrap_or_default(),
        program.display(),
        args.join(" ")
    );
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(ns) = netns {
        super::netns::in_namespace(&mut cmd, ns)?;
    }
    let mut child = cmd.spawn().map_err(|e| NemesisError::Tool {
        command: shown.clone(),
        detail: format!("could not start it: {e}"),
    })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|e| NemesisError::Tool {
                command: shown.clone(),
                detail: format!("could not write its input: {e}"),
            })?;
    }
    // These tools answer in milliseconds; one that hangs is killed rather than waited for.
    let deadline = std::time::Instant::now() + TOOL_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(NemesisError::Tool {
                    command: shown,
                    detail: format!("no answer within {TOOL_TIMEOUT:?}, killed it"),
                });
            }
            Err(e) => {
                return Err(NemesisError::Tool {
                    command: shown,
                    detail: format!("could not wait for it: {e}"),
                })
            }
        }
    }
    let out = child.wait_with_output().map_err(|e| NemesisError::Tool {
        command: shown.clone(),
        detail: format!("could not read its output: {e}"),
    })?;
    if !out.status.success() {
        return Err(NemesisError::Tool {
            command: shown,
            detail: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `ip args...` (with `-n netns` when given).
pub fn ip(args: &[&str], netns: Option<&str>) -> Result<String, NemesisError> {
    let ip = find("ip").ok_or_else(|| NemesisError::Unavailable {
        what: "network namespaces".into(),
        why: "`ip` not found: apt-get install iproute2".into(),
    })?;
    let mut full: Vec<&str> = Vec::with_capacity(args.len() + 2);
    if let Some(ns) = netns {
        full.push("-n");
        full.push(ns);
    }
    full.extend_from_slice(args);
    run(&ip, &full, None, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_root_the_reason_names_the_unavailable_faults() {
        let caps = Capabilities {
            root: false,
            ip: Some(PathBuf::from("/usr/sbin/ip")),
            nft: None,
            iptables: None,
        };
        let why = caps
            .partition_unavailable()
            .expect("no partitions without root");
        assert!(why.contains("root") && why.contains("partitions"), "{why}");
    }

    #[test]
    fn without_ip_or_firewall_the_reason_says_what_to_install() {
        let no_ip = Capabilities {
            root: true,
            ip: None,
            nft: None,
            iptables: None,
        };
        assert!(no_ip.netns_unavailable().unwrap().contains("iproute2"));
        let no_fw = Capabilities {
            ip: Some(PathBuf::from("/usr/sbin/ip")),
            ..no_ip
        };
        assert!(no_fw.netns_unavailable().is_none());
        assert!(no_fw.partition_unavailable().unwrap().contains("nftables"));
    }

    #[test]
    fn a_failing_tool_reports_its_command_and_stderr() {
        let err = run(
            Path::new("/bin/sh"),
            &["-c", "echo boom >&2; exit 3"],
            None,
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("/bin/sh") && err.contains("boom"), "{err}");
        let out = run(Path::new("/bin/cat"), &[], None, Some("fed")).unwrap();
        assert_eq!(out, "fed");
    }
}
