//! History importers: ferrocheck's JSON Lines, Jepsen's `history.edn`, and the two Porcupine
//! test formats (Jepsen etcd logs and kv EDN lines, the latter read in parallel when in
//! Porcupine's own line form). Each turns a file into a [`History`], or
//! into a [`HistoryError`] naming file:line:column; none of them ever guesses a verdict.

use crate::history::{History, HistoryError, Op, OpType, Process};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub mod edn;
pub mod jepsen;
pub mod jsonl;
pub mod op_line;
pub mod porcupine;
pub mod porcupine_kv;
pub mod scan;
pub mod semantics;

/// A history file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Look at the name and the first line.
    Auto,
    /// ferrocheck's JSON Lines (optional header line naming the model).
    Jsonl,
    /// Jepsen's `history.edn`: a vector (or a sequence) of op maps.
    Edn,
    /// Porcupine's copy of Jepsen etcd logs (`INFO  jepsen.util - 2 :invoke :write 4`).
    PorcupineEtcd,
    /// Porcupine's kv test files: one EDN op map per line, with `:key`.
    PorcupineKv,
}

impl Format {
    /// The name as `--format` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Jsonl => "jsonl",
            Format::Edn => "edn",
            Format::PorcupineEtcd => "porcupine-etcd",
            Format::PorcupineKv => "porcupine-kv",
        }
    }
}

impl Format {
    /// Every format, `Auto` first.
    pub const ALL: [Format; 5] = [
        Format::Auto,
        Format::Jsonl,
        Format::Edn,
        Format::PorcupineEtcd,
        Format::PorcupineKv,
    ];
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
                format!("unknown format {s:?}: use one of {}", names.join(", "))
            })
    }
}

/// A history read from a file, with the format it was read as and the model it implies.
#[derive(Debug)]
pub struct Loaded {
    /// The ops.
    pub history: History,
    /// The format actually used (never `Auto`).
    pub format: Format,
    /// The model the format implies, if it implies one (etcd logs: cas-register; kv: kv).
    pub model: Option<String>,
    /// The line number of a torn last line (a crash mid-write) that was left out: the complete
    /// lines before it were read, but an op's completion may be missing.
    pub torn: Option<usize>,
}

/// Guesses the format from the file name and its first non-blank line.
pub fn detect(path: &Path, text: &str) -> Format {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    if first.starts_with("{\"") || first.starts_with("{ \"") {
        return Format::Jsonl;
    }
    if first.contains("jepsen.util") {
        return Format::PorcupineEtcd;
    }
    let edn_start = ["{:", "[", "(", ";", "#jepsen", "#{"];
    if edn_start.iter().any(|s| first.starts_with(s)) {
        let kv_like = first.starts_with("{:")
            && first.contains(":key")
            && [":f :get", ":f :put", ":f :append"]
                .iter()
                .any(|f| first.contains(f));
        return if kv_like {
            Format::PorcupineKv
        } else {
            Format::Edn
        };
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some("edn") => Format::Edn,
        Some("log") => Format::PorcupineEtcd,
        Some("txt") => Format::PorcupineKv,
        _ => Format::Jsonl,
    }
}

/// Reads `path` in `format` (`Auto` detects).
pub fn load(path: &Path, format: Format) -> Result<Loaded, HistoryError> {
    let io = |source| HistoryError::Io {
        path: path.to_owned(),
        source,
    };
    // A FIFO or a device would block or never end: only regular files are read.
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(io(std::io::Error::other(if meta.is_dir() {
            "is a directory, not a history file"
        } else {
            "is not a regular file (a FIFO, socket or device): save the history to a file first"
        })));
    }
    let bytes = read_file(path).map_err(io)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let upto = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = upto.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = upto.len() - upto.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1) + 1;
        HistoryError::Malformed {
            path: path.to_owned(),
            line,
            column,
            message: "the file is not UTF-8 text".into(),
        }
    })?;
    parse(path, &text, format)
}

/// Files at least this long are read in pieces in parallel.
const PARALLEL_READ_BYTES: u64 = 8 << 20;

/// The bytes of the file at `path`. A long file is read in pieces on all cores (copying a big
/// file out of the page cache on one core is a good part of loading it); what was appended
/// while it was read follows.
fn read_file(path: &Path) -> std::io::Result<Vec<u8>> {
    use rayon::prelude::*;
    use std::io::{Read, Seek};
    use std::os::unix::fs::FileExt;
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len < PARALLEL_READ_BYTES {
        let mut bytes = Vec::with_capacity(len as usize);
        file.read_to_end(&mut bytes)?;
        return Ok(bytes);
    }
    let len = usize::try_from(len).map_err(std::io::Error::other)?;
    let piece = (len / rayon::current_num_threads().max(1) / 4).max(1 << 20);
    let mut bytes = vec![0u8; len];
    bytes
        .par_chunks_mut(piece)
        .enumerate()
        .try_for_each(|(i, chunk)| file.read_exact_at(chunk, (i * piece) as u64))?;
    file.seek(std::io::SeekFrom::Start(len as u64))?;
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Parses `text` (read from `path`, used in errors) in `format`.
pub fn parse(path: &Path, text: &str, format: Format) -> Result<Loaded, HistoryError> {
    let format = if format == Format::Auto {
        detect(path, text)
    } else {
        format
    };
    let mut torn = None;
    let (history, model) = match format {
        Format::Auto | Format::Jsonl => {
            // The reader leaves a torn last line out; `check` says so.
            torn = torn_tail(text);
            let h = jsonl::parse(path, text)?;
            let m = h.header.as_ref().and_then(|h| h.model.clone());
            (h, m)
        }
        Format::Edn => (jepsen::parse(path, text)?, None),
        Format::PorcupineKv => (porcupine_kv::parse(path, text)?, Some("kv".to_string())),
        Format::PorcupineEtcd => (
            porcupine::parse_etcd(path, text)?,
            Some("cas-register".to_string()),
        ),
    };
    Ok(Loaded {
        history,
        format,
        model,
        torn,
    })
}

/// The line number of `text`'s last line when it was cut off: no line end follows it and it
/// does not parse, as when a writer crashed or the disk filled mid-line.
fn torn_tail(text: &str) -> Option<usize> {
    if text.ends_with('\n') {
        return None;
    }
    let (n, last) = text
        .split('\n')
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .last()?;
    serde_json::from_str::<crate::history::Op>(last.trim())
        .is_err()
        .then_some(n + 1)
}

/// Which client processes have an op open: a bit vector for small ids, a set for the rest.
#[derive(Default)]
pub struct OpenSet {
    small: Vec<bool>,
    large: HashMap<u64, ()>,
}

impl OpenSet {
    const SMALL: u64 = 1 << 20;

    /// True if process `p` has an op open.
    pub fn contains(&self, p: u64) -> bool {
        if p < Self::SMALL {
            self.small.get(p as usize).copied().unwrap_or(false)
        } else {
            self.large.contains_key(&p)
        }
    }

    /// Marks process `p` open or not.
    pub fn set(&mut self, p: u64, open: bool) {
        if p < Self::SMALL {
            let i = p as usize;
            if i >= self.small.len() {
                self.small.resize(i + 1, false);
            }
            self.small[i] = open;
        } else if open {
            self.large.insert(p, ());
        } else {
            self.large.remove(&p);
        }
    }
}

/// Applies the one-open-op-per-client rule to `op`: an invoke opens its process, a completion
/// closes it; the broken rule in words.
pub fn open_or_close(open: &mut OpenSet, op: &Op) -> Result<(), String> {
    match op.process {
        Process::Client(p) => open_or_close_client(open, p, op.kind == OpType::Invoke),
        Process::Nemesis => Ok(()),
    }
}

/// [`open_or_close`] for client `p`'s invoke (`invoke`) or completion.
pub fn open_or_close_client(open: &mut OpenSet, p: u64, invoke: bool) -> Result<(), String> {
    match (invoke, open.contains(p)) {
        (true, true) => Err(format!(
            "process {p} invokes again while its previous op is still open"
        )),
        (false, false) => Err(format!("process {p} completes an op it never invoked")),
        _ => {
            open.set(p, invoke);
            Ok(())
        }
    }
}

/// Builds a history op by op, enforcing one open op per client process, with positions for errors.
pub struct Builder {
    path: PathBuf,
    history: History,
    open: OpenSet,
}

impl Builder {
    /// An empty history read from `path`.
    pub fn new(path: &Path) -> Builder {
        Builder {
            path: path.to_owned(),
            history: History::default(),
            open: OpenSet::default(),
        }
    }

    /// An error at `line`:`column` of the file.
    pub fn error(&self, line: usize, column: usize, message: impl Into<String>) -> HistoryError {
        HistoryError::Malformed {
            path: self.path.clone(),
            line,
            column,
            message: message.into(),
        }
    }

    /// Appends `op` (its index is set here); `line`/`column` locate it for errors.
    pub fn push(&mut self, mut op: Op, line: usize, column: usize) -> Result<(), HistoryError> {
        op.index = self.history.ops.len() as u64;
        open_or_close(&mut self.open, &op).map_err(|m| self.error(line, column, m))?;
        self.history.ops.push(op);
        Ok(())
    }

    /// Appends a completion recorded without its invocation (Elle's example histories): it
    /// opens and closes nothing.
    pub fn push_unpaired(&mut self, mut op: Op) {
        op.index = self.history.ops.len() as u64;
        self.history.ops.push(op);
    }

    /// Makes room for `n` more ops.
    pub fn reserve(&mut self, n: usize) {
        self.history.ops.reserve(n);
    }

    /// The history built so far.
    pub fn finish(self) -> History {
        self.history
    }
}
