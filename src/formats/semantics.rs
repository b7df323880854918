//! What a history's `fail` ops and nil reads mean, decided once after loading.
//!
//! The same line can mean two things depending on who wrote the history:
//!
//! * **Knossos** (Jepsen's checker, so every Jepsen `history.edn`): a `:fail` op did not happen;
//!   Knossos removes it before checking. In its register and cas-register models a read whose
//!   `:ok` value is nil is a read of unknown value: it matches any state.
//! * **strict** (ferrocheck's own histories, and Porcupine's formats, which mean the same): a
//!   failed `cas` is an observation that the value was not `from` while the cas ran (see
//!   [`crate::check::models`]), and a read of nil saw nil.
//!
//! The strict reading can only find more violations, so checking a Jepsen history with it can
//! turn a history Jepsen calls valid into an invalid one. EDN input therefore gets Knossos's
//! reading unless `--semantics strict` asks otherwise; every other format stays strict. Knossos's
//! reading is applied here by rewriting the history (removing the calls it ignores, keeping every
//! remaining op's `index`, so explanations still point at the file's ops); the checkers never
//! see the difference.

use crate::formats::Format;
use crate::history::{History, OpType};
use std::borrow::Cow;

/// How `fail` ops and nil reads are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Semantics {
    /// ferrocheck's (and Porcupine's): a failed cas saw a value other than `from`, a nil read saw nil.
    Strict,
    /// Knossos's: `fail` ops did not happen (removed), nil reads of a register are unknown.
    Knossos,
}

impl Semantics {
    /// The reading a format implies: Knossos's for Jepsen EDN, strict for the rest.
    pub fn default_for(format: Format) -> Semantics {
        match format {
            Format::Edn => Semantics::Knossos,
            _ => Semantics::Strict,
        }
    }

    /// The name as `--semantics` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Semantics::Strict => "strict",
            Semantics::Knossos => "knossos",
        }
    }
}

impl std::str::FromStr for Semantics {
    type Err = String;

    fn from_str(s: &str) -> Result<Semantics, String> {
        match s {
            "strict" => Ok(Semantics::Strict),
            "knossos" => Ok(Semantics::Knossos),
            _ => Err(format!("unknown semantics {s:?}: knossos or strict")),
        }
    }
}

/// Models whose nil reads Knossos reads as "unknown value".
const NIL_READ_UNKNOWN: &[&str] = &["register", "cas-register"];

/// Models that are ferrocheck's own (no Knossos counterpart): their `fail` ops keep their meaning.
const OWN_MODELS: &[&str] = &[
    "lock",
    "fenced-lock",
    "lost-updates",
    "txn",
    "list-append",
    "rw-register",
    "maelstrom",
];

/// The reading applied to one history: what it means in words, and what it removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// Which reading.
    pub semantics: Semantics,
    /// Calls removed because they failed (Knossos).
    pub failed_removed: usize,
    /// Ok reads of nil removed as reads of an unknown value (Knossos, registers).
    pub nil_reads_removed: usize,
    /// False when the model is ferrocheck's own (lock, txn, ...), so the reading changed nothing.
    pub applies: bool,
    /// The reading in words for the result line, e.g.
    /// `Knossos semantics: fail ops removed, nil reads unknown`.
    pub description: String,
}

/// Applies `semantics` to `history` checked as `model`: the history to check and what was done.
/// Strict returns the history unchanged (borrowed).
pub fn apply<'h>(
    history: &'h History,
    semantics: Semantics,
    model: &str,
) -> (Cow<'h, History>, Applied) {
    let nil_unknown = NIL_READ_UNKNOWN.contains(&model);
    let mut applied = Applied {
        semantics,
        failed_removed: 0,
        nil_reads_removed: 0,
        applies: !OWN_MODELS.contains(&model),
        description: match semantics {
            Semantics::Strict if NIL_READ_UNKNOWN.contains(&model) => {
                "strict semantics: a failed cas saw a value other than its from, nil reads saw nil"
                    .into()
            }
            Semantics::Strict => "strict semantics".into(),
            Semantics::Knossos if OWN_MODELS.contains(&model) => {
                format!("Knossos semantics do not apply to {model}: read as recorded")
            }
            Semantics::Knossos if nil_unknown => {
                "Knossos semantics: fail ops removed, nil reads unknown".into()
            }
            Semantics::Knossos => "Knossos semantics: fail ops removed".into(),
        },
    };
    if semantics == Semantics::Strict || OWN_MODELS.contains(&model) {
        return (Cow::Borrowed(history), applied);
    }
    let mut drop = vec![false; history.ops.len()];
    for call in history.calls() {
        let Some(done) = call.complete else { continue };
        let d = &history.ops[done];
        let failed = d.kind == OpType::Fail;
        let nil_read = nil_unknown && d.kind == OpType::Ok && d.f == "read" && d.value.is_nil();
        if failed || nil_read {
            drop[call.invoke] = true;
            drop[done] = true;
            if failed {
                applied.failed_removed += 1;
            } else {
                applied.nil_reads_removed += 1;
            }
        }
    }
    let ops = history
        .ops
        .iter()
        .zip(drop)
        .filter(|(_, gone)| !gone)
        .map(|(op, _)| op.clone())
        .collect();
    let header = history.header.clone();
    (Cow::Owned(History { header, ops }), applied)
}

/// The history of `loaded` read with its format's default semantics, for callers that check it
/// without choosing (`ferrocheck report`): the model is the one `check` would infer.
pub fn default_reading(loaded: crate::formats::Loaded) -> History {
    let semantics = Semantics::default_for(loaded.format);
    if semantics == Semantics::Strict {
        return loaded.history;
    }
    let opts = crate::check::CheckOptions {
        model: loaded.model.clone(),
        ..Default::default()
    };
    match crate::check::choose_model(&loaded.history, &opts) {
        Ok(model) => apply(&loaded.history, semantics, &model).0.into_owned(),
        Err(_) => loaded.history,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{self, CheckOptions, Validity};
    use std::path::Path;

    fn verdict(text: &str, semantics: Semantics) -> Validity {
        let h = crate::formats::jepsen::parse(Path::new("h.edn"), text).unwrap();
        let opts = CheckOptions::default();
        let model = check::choose_model(&h, &opts).unwrap();
        let (h, _) = apply(&h, semantics, &model);
        check::check(&h, &opts).unwrap().validity
    }

    // A cas [0 1] that Jepsen saw fail while the register held 0: under Knossos the failure
    // means only "did not happen"; strictly it claims the value was not 0, which it was.
    const FAILED_CAS: &str = "[{:process 0, :type :invoke, :f :write, :value 0}
 {:process 0, :type :ok, :f :write, :value 0}
 {:process 1, :type :invoke, :f :cas, :value [0 1]}
 {:process 1, :type :fail, :f :cas, :value [0 1]}
 {:process 0, :type :invoke, :f :read, :value nil}
 {:process 0, :type :ok, :f :read, :value 0}]";

    // A read that returned nil after a write of 3 completed: Knossos reads nil as "unknown".
    const NIL_READ: &str = "({:process 0, :type :invoke, :f :write, :value 3}
 {:process 0, :type :ok, :f :write, :value 3}
 {:process 1, :type :invoke, :f :read, :value nil}
 {:process 1, :type :ok, :f :read, :value nil})";

    // Invalid under both: a read of 1 after 2 overwrote it, with no failed op or nil read to blame.
    const STALE_READ: &str = "[{:process 0, :type :invoke, :f :write, :value 1}
 {:process 0, :type :ok, :f :write, :value 1}
 {:process 1, :type :invoke, :f :cas, :value [1 2]}
 {:process 1, :type :ok, :f :cas, :value [1 2]}
 {:process 2, :type :invoke, :f :cas, :value [5 6]}
 {:process 2, :type :fail, :f :cas, :value [5 6]}
 {:process 0, :type :invoke, :f :read, :value nil}
 {:process 0, :type :ok, :f :read, :value 1}]";

    #[test]
    fn knossos_removes_failed_ops_and_strict_keeps_the_compare() {
        assert_eq!(verdict(FAILED_CAS, Semantics::Knossos), Validity::Valid);
        assert_eq!(verdict(FAILED_CAS, Semantics::Strict), Validity::Invalid);
    }

    #[test]
    fn knossos_reads_nil_as_unknown_and_strict_as_nil() {
        assert_eq!(verdict(NIL_READ, Semantics::Knossos), Validity::Valid);
        assert_eq!(verdict(NIL_READ, Semantics::Strict), Validity::Invalid);
    }

    #[test]
    fn a_stale_read_is_invalid_under_both() {
        assert_eq!(verdict(STALE_READ, Semantics::Knossos), Validity::Invalid);
        assert_eq!(verdict(STALE_READ, Semantics::Strict), Validity::Invalid);
    }

    #[test]
    fn removal_keeps_indices_and_says_what_it_did() {
        let h = crate::formats::jepsen::parse(Path::new("h.edn"), STALE_READ).unwrap();
        let (h, applied) = apply(&h, Semantics::Knossos, "cas-register");
        assert_eq!(applied.failed_removed, 1);
        assert_eq!(applied.nil_reads_removed, 0);
        let idx: Vec<u64> = h.ops.iter().map(|o| o.index).collect();
        assert_eq!(idx, vec![0, 1, 2, 3, 6, 7]);
        assert_eq!(
            applied.description,
            "Knossos semantics: fail ops removed, nil reads unknown"
        );
        let h = crate::formats::jepsen::parse(Path::new("h.edn"), NIL_READ).unwrap();
        let (same, applied) = apply(&h, Semantics::Strict, "register");
        assert_eq!(same.ops.len(), h.ops.len());
        assert_eq!(applied.nil_reads_removed, 0);
        let (kept, _) = apply(&h, Semantics::Knossos, "lock");
        assert_eq!(kept.ops.len(), h.ops.len());
        assert_eq!(Semantics::default_for(Format::Edn), Semantics::Knossos);
        assert_eq!(
            Semantics::default_for(Format::PorcupineEtcd),
            Semantics::Strict
        );
    }
}
