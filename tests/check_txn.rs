//! `ferrocheck check` on transactional histories: an Elle-style EDN history (completions only,
//! no :process or :f, `;` comments) with a G-single, a Jepsen list-append history with
//! processes whose stale read needs real-time order, and a valid rw-register one in JSONL.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write test history");
    p
}

fn check(args: &[&str], file: &Path) -> (Option<i32>, String) {
    let out = Command::new(support::BIN)
        .arg("check")
        .args(args)
        .arg(file)
        .output()
        .expect("run ferrocheck");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

// T1 reads x empty and y = [1]; T2 appended 1 to both: read skew.
const ELLE_G_SINGLE: &str = "; completions only, as in Elle's examples
{:type :ok, :value [[:r :x nil] [:r :y [1]]]}
; the writer
{:type :ok, :value [[:append :x 1] [:append :y 1]]}
{:type :ok, :value [[:r :x [1]]]}
";

// Process 0 appends 1 to x and completes; process 1 then reads x empty (stale).
const JEPSEN_STALE: &str = "[{:type :invoke, :f :txn, :value [[:append :x 1]], :process 0, :time 1}
 {:type :ok, :f :txn, :value [[:append :x 1]], :process 0, :time 2}
 {:type :invoke, :f :txn, :value [[:r :x nil]], :process 1, :time 3}
 {:type :ok, :f :txn, :value [[:r :x []]], :process 1, :time 4}
 {:type :invoke, :f :txn, :value [[:r :x nil]], :process 2, :time 5}
 {:type :ok, :f :txn, :value [[:r :x [1]]], :process 2, :time 6}]
";

const REGISTER_VALID: &str = r#"{"process":0,"type":"invoke","f":"txn","value":[["w","x",1]]}
{"process":0,"type":"ok","f":"txn","value":[["w","x",1]]}
{"process":1,"type":"invoke","f":"txn","value":[["r","x",null],["w","x",2]]}
{"process":1,"type":"ok","f":"txn","value":[["r","x",1],["w","x",2]]}
"#;

#[test]
fn elle_history_without_processes_shows_g_single_and_the_models_it_rules_out() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = check(&[], &write(dir.path(), "elle.edn", ELLE_G_SINGLE));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("list-append"), "{out}");
    assert!(out.contains("G-single: "), "{out}");
    assert!(out.contains("cycle T1 → T2 → T1 (G-single)"), "{out}");
    assert!(
        out.contains("not consistent-view, repeatable-read"),
        "{out}"
    );
}

#[test]
fn stale_read_needs_real_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = check(
        &["--model", "list-append"],
        &write(dir.path(), "stale.edn", JEPSEN_STALE),
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("G-single-realtime"), "{out}");
    assert!(out.contains("strict-serializable"), "{out}");
    assert!(out.contains("may still be"), "{out}");
}

#[test]
fn valid_rw_register_history_in_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = check(&[], &write(dir.path(), "reg.jsonl", REGISTER_VALID));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("rw-register"), "{out}");
}
