//! Causal consistency of read/write registers whose written values are unique per key, checked
//! by searching for the bad patterns of Bouajjani, Enea, Guerraoui and Hamza, "On Verifying
//! Causal Consistency" (POPL 2017).
//!
//! Checking causal consistency is NP-complete in general, but when every write to a key writes a
//! distinct value (a *differentiated* history) each read names the one write it reads from, and
//! the paper shows that a history is causally consistent iff it contains none of a few bad
//! patterns, each found in polynomial time. The relations, as the paper defines them:
//!
//! * **po**, program order: each process's completed ops in the order it ran them;
//! * **rf**, reads-from: the unique write of `v` to `x` precedes every read of `x` returning `v`;
//!   a read of the initial value reads from no write;
//! * **co**, causal order: the transitive closure of po ∪ rf.
//!
//! The three models, from weakest to strongest, and the patterns that rule each out:
//!
//! * **CC** (causal consistency): `CyclicCO` (co has a cycle), `WriteCOInitRead` (a read of the
//!   initial value of `x` is co-after a write to `x`), `ThinAirRead` (a read returns a value no
//!   write wrote), `WriteCORead` (a read of `w1` is co-after a write `w2` to the same key that is
//!   itself co-after `w1`: the value read had been overwritten in its causal past).
//! * **CCv** (causal convergence, CC plus one arbitration order of all writes that every replica
//!   agrees on): the CC patterns and `CyclicCF`, a cycle in co ∪ cf, where the conflict relation
//!   cf orders `w1` before `w2` (same key) when some read of `w2` is co-after `w1`.
//! * **CM** (causal memory, every process sees one order of its own reads consistent with co):
//!   the CC patterns and, per process `p`, `CyclicHB` and `WriteHBInitRead` over `hb_p`, the
//!   smallest transitive relation that contains co on the causal past of `p`'s reads and that
//!   orders `w2` before `w1` whenever a read of `p` reads from `w1` and `w2` (same key) is
//!   `hb_p`-before that read. `CyclicHB`: `hb_p` has a cycle; `WriteHBInitRead`: a read of the
//!   initial value by `p` is `hb_p`-after a write to its key.
//!
//! CM and CCv each imply CC and are incomparable. The verdict of `--consistency causal` is CC's
//! and its anomalies are CC's; the result also says which of CCv and CM hold (`stats.models`,
//! with the anomalies that rule them out in `stats.stronger_model_anomalies`), and its summary
//! names the strongest model that holds. [`search`] gives all three lists directly.
//!
//! How calls enter the graph: an `ok` read or write is an op; a failed op and a read whose
//! outcome is unknown are left out (they constrain nothing); a write whose outcome is unknown
//! (`info`, or open at the end) is kept as *possibly effective*: it may be read from, it comes
//! after its process's earlier ops, but it precedes nothing in program order (nothing says it
//! took effect before its process's later ops, if there were any). An unknown write nobody read
//! is therefore isolated from everything after it and can never be part of a pattern. `cas` is
//! rejected with an error: a compare-and-set is not a read/write op of the paper's memory.
//!
//! Cost: co is never closed into an n × n matrix. The ops are split into chains totally
//! ordered by co (one per process, see [`clocks`]) and each op gets a vector clock, the length
//! of its causal past on every chain: "is a co-before b" is one comparison, and the clocks take
//! n × chains × 4 bytes (200 MB for a million ops of 50 processes). The CC patterns and the
//! conflict edges of CCv are then a binary search per chain for each read, O(n · c · log n)
//! for c chains, and the CCv cycle search is linear in the edges. CM recomputes `hb_p` for each
//! process until no new edge appears, with a bit matrix over the writes and `p`'s reads of the
//! causal past of p's last read, which is quadratic; it runs on histories of at most
//! [`MAX_CM_OPS`] ops and is reported as not checked above that. A history whose clocks would
//! take more than [`clocks::MEMORY_LIMIT`] bytes (a very long history with thousands of
//! processes) is answered `unknown`.

pub mod clocks;
mod explain;
pub mod graph;
mod patterns;

pub use graph::{
    key_text, BitMatrix, CausalGraph, CausalModel, CausalReport, Edge, Event, EventKind, MAX_CM_OPS,
};

use crate::check::checker::Checker;
use crate::check::result::{Anomaly, CheckResult, Validity};
use crate::check::spec::CheckerOptions;
use crate::history::{History, Value};
use graph::plural;
use serde_json::json;
use std::time::Instant;

/// Searches `history` for every bad pattern; errors when the history is not a differentiated
/// read/write history. `None` when its vector clocks would take more than
/// [`clocks::MEMORY_LIMIT`] bytes.
pub fn search(
    history: &History,
    initial: &Value,
) -> anyhow::Result<Option<(CausalGraph, CausalReport)>> {
    let g = CausalGraph::build(history, initial)?;
    let chains = clocks::Chains::of(&g);
    if chains.clock_bytes(g.len()) > clocks::MEMORY_LIMIT {
        return Ok(None);
    }
    let mut report = CausalReport::default();
    patterns::search_all(history, &g, chains, &mut report);
    Ok(Some((g, report)))
}

/// The `causal` checker: causal consistency (CC, with CCv and CM reported) of a register
/// history with unique written values.
pub struct Causal {
    /// `register` or `cas-register`, for the checker's name.
    pub model: &'static str,
    /// The initial value of every key.
    pub initial: Value,
}

/// Builds the `causal` checker from its options (`model`: register or cas-register, the
/// default; `initial_value`).
pub fn build(opts: &CheckerOptions) -> anyhow::Result<Box<dyn Checker>> {
    let model = match opts.model.as_deref() {
        None | Some("cas-register") => "cas-register",
        Some("register") => "register",
        Some(other) => anyhow::bail!(
            "causal consistency is checked for registers only (model register or \
             cas-register), not {other}: check with --consistency linearizable or sequential"
        ),
    };
    Ok(Box::new(Causal {
        model,
        initial: opts.initial(),
    }))
}

impl Checker for Causal {
    fn name(&self) -> String {
        format!("causal({})", self.model)
    }
    fn about(&self) -> &'static str {
        ABOUT
    }
    fn needs(&self) -> String {
        "register reads and writes (no cas) whose written values are unique per key".into()
    }
    fn check(&self, history: &History) -> anyhow::Result<CheckResult> {
        check_causal(history, &self.initial, self.model)
    }
}

/// What `causal` checks, in one line.
pub const ABOUT: &str = "no read contradicts the causal order of reads and writes (Bouajjani et al.'s bad patterns; registers with unique values)";

/// Checks `history` for causal consistency; `model_name` is `register` or `cas-register`, for
/// the checker's name. The verdict is CC's; the summary names the strongest model that holds.
pub fn check_causal(
    history: &History,
    initial: &Value,
    model_name: &str,
) -> anyhow::Result<CheckResult> {
    let started = Instant::now();
    let checker = format!("causal({model_name})");
    let Some((g, report)) = search(history, initial)? else {
        let n = history.calls().len();
        let limit = clocks::MEMORY_LIMIT >> 20;
        return Ok(CheckResult {
            checker,
            validity: Validity::Unknown,
            summary: format!(
                "unknown: the vector clocks of {n} calls over this many processes (each op \
                 whose outcome is unknown in the middle of a process starts one more) would \
                 take more than the causal checker's {limit} MiB; check a shorter history"
            ),
            anomalies: vec![],
            stats: json!({"ops": n, "memory_limit_mib": limit}),
        });
    };
    let holds = |m| report.holds(m);
    let counted = format!(
        "{}, {}, {}",
        plural(g.len(), "op"),
        plural(g.reads_by_process.len(), "process"),
        plural(g.keys.len(), "key")
    );
    let (validity, summary) = if let Some(a) = report.cc.first() {
        (
            Validity::Invalid,
            format!(
                "not causally consistent (CC, so neither CCv nor CM): {}",
                a.explanation
            ),
        )
    } else {
        let first_of =
            |v: &Vec<Anomaly>| v.first().map(|a| a.explanation.clone()).unwrap_or_default();
        let ccv = holds(CausalModel::CCv);
        let s = if report.cm_unchecked {
            let cm = format!("causal memory (CM) not checked above {MAX_CM_OPS} ops");
            if ccv {
                format!("causal convergence (CCv) holds, {cm} ({counted})")
            } else {
                format!(
                    "causal consistency (CC) holds, causal convergence (CCv) does not, {cm} \
                     ({counted}): {}",
                    first_of(&report.ccv)
                )
            }
        } else {
            match (ccv, holds(CausalModel::CM)) {
                (true, true) => {
                    format!("causal memory (CM) and causal convergence (CCv) hold ({counted})")
                }
                (false, true) => format!(
                    "causal memory (CM) holds, causal convergence (CCv) does not ({counted}): {}",
                    first_of(&report.ccv)
                ),
                (true, false) => format!(
                    "causal convergence (CCv) holds, causal memory (CM) does not ({counted}): {}",
                    first_of(&report.cm)
                ),
                (false, false) => format!(
                    "causal consistency (CC) holds, neither CCv nor CM does ({counted}): {}",
                    first_of(&report.ccv)
                ),
            }
        };
        (Validity::Valid, s)
    };
    let stronger: Vec<&Anomaly> = report.ccv.iter().chain(&report.cm).collect();
    Ok(CheckResult {
        checker,
        validity,
        summary,
        anomalies: report.cc.clone(),
        stats: json!({
            "ops": g.len(),
            "processes": g.reads_by_process.len(),
            "keys": g.keys.len(),
            "models": {
                "CC": holds(CausalModel::CC),
                "CCv": holds(CausalModel::CCv),
                "CM": if report.cm_unchecked { serde_json::Value::Null } else { holds(CausalModel::CM).into() },
            },
            "patterns": report.counts,
            "stronger_model_anomalies": stronger,
            "seconds": started.elapsed().as_secs_f64(),
        }),
    })
}
