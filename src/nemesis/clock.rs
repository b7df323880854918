//! Clock skew: ferrocheck's own `LD_PRELOAD` shim shifts a node's wall clock by an offset the
//! nemesis changes at run time.
//!
//! The shim (`shim/clock.c`, built by `build.rs` and carried inside the binary) replaces
//! `clock_gettime` for the realtime clocks, `gettimeofday`, `time` and `timespec_get` using raw
//! system calls only, so it is safe inside allocators that read the clock (redis-server with
//! jemalloc). Each node reads its own offset file, named by `FERROCHECK_CLOCK_FILE`, which
//! [`Clock`] rewrites atomically; the shim looks again at most every 10 ms. Monotonic clocks are
//! left alone. It reaches dynamically linked programs (C servers, ferrocheck's own toy nodes);
//! statically linked ones and Go binaries ignore `LD_PRELOAD`, so clock faults cannot reach
//! them (etcd among them). The `clock` family ([`super::families::clock`]) applies its faults
//! through a [`Clock`].

use super::state::{write_atomic, RunRecord};
use super::NemesisError;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The environment variable naming a process's offset file.
pub const CLOCK_FILE_ENV: &str = "FERROCHECK_CLOCK_FILE";
/// The shim's file name when written out.
pub const SHIM_NAME: &str = "libferrocheck_clock.so";

static SHIM: &[u8] = include_bytes!(env!("FERROCHECK_CLOCK_SHIM"));

/// Why the clock shim is unavailable (it was built without a C compiler), or `None`.
pub fn shim_unavailable() -> Option<String> {
    SHIM.is_empty().then(|| {
        "this ferrocheck was built without a C compiler, so it carries no clock shim: \
         apt-get install gcc and rebuild"
            .to_owned()
    })
}

/// One node's skew.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Skew {
    offset_ms: i64,
    strobe_delta_ms: i64,
    strobe_period_ms: u64,
}

/// The clock offsets of a run's nodes, and the shim that applies them.
#[derive(Debug)]
pub struct Clock {
    dir: PathBuf,
    library: PathBuf,
    nodes: BTreeMap<String, Skew>,
}

impl Clock {
    /// Writes the shim into `dir` (offset files go there too).
    pub fn new(dir: &Path) -> Result<Clock, NemesisError> {
        if let Some(why) = shim_unavailable() {
            return Err(NemesisError::Unavailable {
                what: "clock faults".into(),
                why,
            });
        }
        let io = |context: String| move |source| NemesisError::Io { context, source };
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        let library = dir.join(SHIM_NAME);
        let tmp = dir.join(format!("{SHIM_NAME}.tmp"));
        std::fs::write(&tmp, SHIM).map_err(io(format!("writing {}", tmp.display())))?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
            .map_err(io(format!("making {} readable", tmp.display())))?;
        std::fs::rename(&tmp, &library).map_err(io(format!("writing {}", library.display())))?;
        Ok(Clock {
            dir: dir.to_owned(),
            library,
            nodes: BTreeMap::new(),
        })
    }

    /// A clock whose files live in the run record (so cleanup removes them).
    pub fn for_run(record: &RunRecord) -> Result<Clock, NemesisError> {
        Clock::new(&record.clock_dir())
    }

    /// The shim's path, for `LD_PRELOAD`.
    pub fn library(&self) -> &Path {
        &self.library
    }

    /// Node `node`'s offset file.
    pub fn file(&self, node: &str) -> PathBuf {
        self.dir.join(format!("{node}.offset"))
    }

    fn write(&mut self, node: &str, skew: Skew) -> Result<(), NemesisError> {
        if node.is_empty() || node.contains('/') {
            return Err(NemesisError::Invalid(format!("bad node name {node:?}")));
        }
        let ms = 1_000_000i64;
        let text = format!(
            "{} {} {}\n",
            skew.offset_ms.saturating_mul(ms),
            skew.strobe_delta_ms.saturating_mul(ms),
            (skew.strobe_period_ms as i64).saturating_mul(ms)
        );
        write_atomic(&self.file(node), &text)?;
        self.nodes.insert(node.to_owned(), skew);
        Ok(())
    }

    /// The environment a node's process needs: `LD_PRELOAD` (the shim, in front of any given
    /// `preload`) and its offset file, which is created at zero offset.
    pub fn env(
        &mut self,
        node: &str,
        preload: Option<&str>,
    ) -> Result<Vec<(String, String)>, NemesisError> {
        let skew = self.nodes.get(node).copied().unwrap_or_default();
        self.write(node, skew)?;
        let mut pre = self.library.display().to_string();
        if let Some(p) = preload.filter(|p| !p.is_empty()) {
            pre = format!("{pre}:{p}");
        }
        Ok(vec![
            ("LD_PRELOAD".to_owned(), pre),
            (
                CLOCK_FILE_ENV.to_owned(),
                self.file(node).display().to_string(),
            ),
        ])
    }

    /// Sets up `cmd` (a node's process, before it is spawned) to run under the shim.
    pub fn configure(&mut self, cmd: &mut Command, node: &str) -> Result<(), NemesisError> {
        let existing = std::env::var("LD_PRELOAD").ok();
        for (k, v) in self.env(node, existing.as_deref())? {
            cmd.env(k, v);
        }
        Ok(())
    }

    /// Moves `node`'s clock by `ms` (on top of its current offset).
    pub fn bump(&mut self, node: &str, ms: i64) -> Result<(), NemesisError> {
        let mut skew = self.nodes.get(node).copied().unwrap_or_default();
        skew.offset_ms = skew.offset_ms.saturating_add(ms);
        self.write(node, skew)
    }

    /// Makes `node`'s clock jump by `delta_ms` every other `period_ms` (on top of its offset).
    pub fn strobe(
        &mut self,
        node: &str,
        delta_ms: i64,
        period_ms: u64,
    ) -> Result<(), NemesisError> {
        if period_ms == 0 {
            return Err(NemesisError::Invalid(
                "a strobe period must be positive".into(),
            ));
        }
        let mut skew = self.nodes.get(node).copied().unwrap_or_default();
        skew.strobe_delta_ms = delta_ms;
        skew.strobe_period_ms = period_ms;
        self.write(node, skew)
    }

    /// Puts `node`'s clock back to real time.
    pub fn reset(&mut self, node: &str) -> Result<(), NemesisError> {
        self.write(node, Skew::default())
    }

    /// Puts every node's clock back to real time.
    pub fn reset_all(&mut self) -> Result<(), NemesisError> {
        let nodes: Vec<String> = self.nodes.keys().cloned().collect();
        let mut first = None;
        for n in nodes {
            if let Err(e) = self.reset(&n) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// `node`'s fixed offset now, in milliseconds (without any strobe).
    pub fn offset_ms(&self, node: &str) -> i64 {
        self.nodes.get(node).map_or(0, |s| s.offset_ms)
    }
}
