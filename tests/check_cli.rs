//! `ferrocheck check` end to end on hand-written histories: Jepsen EDN (valid and invalid
//! cas-register, a mutex held by two clients at once), ferrocheck JSONL, malformed input.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write test history");
    p
}

fn run(args: &[&std::ffi::OsStr]) -> (Option<i32>, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(support::BIN)
        .arg("check")
        .args(args)
        .output()
        .expect("run ferrocheck");
    (
        status.code(),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

const CAS_VALID: &str = r#"[{:type :invoke, :f :write, :value 1, :process 0, :time 10}
 {:type :ok, :f :write, :value 1, :process 0, :time 20}
 {:type :info, :f :start-partition, :value [:n1 :n2], :process :nemesis, :time 25}
 {:type :invoke, :f :cas, :value [1 2], :process 1, :time 30}
 {:type :invoke, :f :read, :value nil, :process 2, :time 31}
 {:type :ok, :f :read, :value 1, :process 2, :time 32}
 {:type :ok, :f :cas, :value [1 2], :process 1, :time 40}
 {:type :invoke, :f :cas, :value [1 3], :process 0, :time 50}
 {:type :fail, :f :cas, :value [1 3], :process 0, :time 60}
 {:type :invoke, :f :write, :value 4, :process 2, :time 70}
 {:type :info, :f :write, :value 4, :process 2, :time 80, :error :timeout}
 {:type :invoke, :f :read, :value nil, :process 1, :time 90}
 {:type :ok, :f :read, :value 4, :process 1, :time 100}]
"#;

// The cas [1 2] succeeded, yet a read that starts after it still sees 1.
const CAS_INVALID: &str = r#"{:type :invoke, :f :write, :value 1, :process 0, :time 1000000000}
{:type :ok, :f :write, :value 1, :process 0, :time 1100000000}
{:type :invoke, :f :cas, :value [1 2], :process 1, :time 1200000000}
{:type :ok, :f :cas, :value [1 2], :process 1, :time 1300000000}
{:type :invoke, :f :read, :value nil, :process 2, :time 1400000000}
{:type :ok, :f :read, :value 1, :process 2, :time 1500000000}
"#;

// Client 1 acquires while client 0 still holds the lock.
const MUTEX_TWO_HOLDERS: &str = r#"[{:type :invoke, :f :acquire, :process 0}
 {:type :ok, :f :acquire, :process 0}
 {:type :invoke, :f :acquire, :process 1}
 {:type :ok, :f :acquire, :process 1}
 {:type :invoke, :f :release, :process 0}
 {:type :ok, :f :release, :process 0}]
"#;

#[test]
fn jepsen_edn_valid_cas_register() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "history.edn", CAS_VALID);
    let (code, out, err) = run(&[p.as_os_str()]);
    assert_eq!(code, Some(0), "{out}{err}");
    let fields: Vec<&str> = out.lines().next().unwrap_or("").split('\t').collect();
    assert_eq!(fields[1], "edn", "{out}");
    assert!(fields[2].starts_with("cas-register"), "{out}");
    assert_eq!(fields[3], "valid", "{out}");
    assert_eq!(fields[4], "6 ops", "{out}");
}

#[test]
fn jepsen_edn_invalid_cas_register_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "history.edn", CAS_INVALID);
    let (code, out, err) = run(&[p.as_os_str()]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("\tinvalid\t"), "{out}");
    assert!(
        out.contains("nonlinearizable: process 2's read returned 1"),
        "{out}"
    );
    assert!(out.contains("at 1.400 s"), "{out}");
    // --json carries the anomaly as data.
    let (code, out, _) = run(&["--json".as_ref(), p.as_os_str()]);
    assert_eq!(code, Some(1));
    let v: serde_json::Value = serde_json::from_str(&out).expect("json output");
    let a = &v[0]["result"]["anomalies"][0];
    assert_eq!(a["kind"], "nonlinearizable");
    assert_eq!(a["ops"][0], 4);
    assert_eq!(a["details"]["states"][0], "2");
}

#[test]
fn jepsen_edn_mutex_with_two_holders_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "lock.edn", MUTEX_TWO_HOLDERS);
    let (code, out, err) = run(&[p.as_os_str()]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        out.contains("mutex (inferred from the ops; Knossos semantics: fail ops removed)"),
        "{out}"
    );
    assert!(out.contains("acquire"), "{out}");
}

#[test]
fn exit_codes_merge_over_files() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.edn", CAS_VALID);
    let bad = write(dir.path(), "bad.edn", CAS_INVALID);
    let (code, out, _) = run(&[good.as_os_str(), bad.as_os_str()]);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(
        out.lines().filter(|l| !l.starts_with(' ')).count(),
        2,
        "{out}"
    );
}

#[test]
fn jsonl_header_names_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let text = concat!(
        "{\"ferrocheck\":{\"version\":1,\"model\":\"register\"}}\n",
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"key\":\"k1\",\"value\":3}\n",
        "{\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"key\":\"k1\",\"value\":3}\n",
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k1\",\"value\":null}\n",
        "{\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"key\":\"k1\",\"value\":3}\n",
    );
    let p = write(dir.path(), "history.jsonl", text);
    let (code, out, err) = run(&[p.as_os_str()]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("\tjsonl\tregister (history header)\tvalid"),
        "{out}"
    );
    // The initial value option changes the verdict of a read of 0 before any write.
    let p = write(
        dir.path(),
        "zero.jsonl",
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}\n{\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"value\":0}\n",
    );
    assert_eq!(run(&[p.as_os_str()]).0, Some(1));
    assert_eq!(
        run(&["--initial-value".as_ref(), "0".as_ref(), p.as_os_str()]).0,
        Some(0)
    );
}

#[test]
fn malformed_input_exits_254_with_position_and_no_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "broken.edn",
        "[{:type :invoke, :f :read, :process 0}\n {:type :ok :f :read, :process 0 :value}]\n",
    );
    let (code, out, err) = run(&[p.as_os_str()]);
    assert_eq!(code, Some(254), "{out}{err}");
    assert!(out.is_empty(), "no verdict expected: {out}");
    assert!(err.contains("broken.edn:2:"), "{err}");
    let p = write(
        dir.path(),
        "broken.jsonl",
        "{\"process\":0,\"type\":\"invoke\"\n",
    );
    let (code, _, err) = run(&["--format".as_ref(), "jsonl".as_ref(), p.as_os_str()]);
    assert_eq!(code, Some(254), "{err}");
    assert!(err.contains("broken.jsonl:1:"), "{err}");
    let (code, _, err) = run(&["--model".as_ref(), "queue-ish".as_ref(), p.as_os_str()]);
    assert_eq!(code, Some(254), "{err}");
    assert!(err.contains("unknown model"), "{err}");
    let missing = dir.path().join("nope.edn");
    assert_eq!(run(&[missing.as_os_str()]).0, Some(254));
}

#[test]
fn sequential_consistency_accepts_a_stale_read() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "stale.edn",
        "[{:type :invoke, :f :write, :value 1, :process 0}\n {:type :ok, :f :write, :value 1, :process 0}\n {:type :invoke, :f :write, :value 2, :process 0}\n {:type :ok, :f :write, :value 2, :process 0}\n {:type :invoke, :f :read, :process 1}\n {:type :ok, :f :read, :value 1, :process 1}]\n",
    );
    assert_eq!(run(&[p.as_os_str()]).0, Some(1));
    let (code, out, err) = run(&[
        "--consistency".as_ref(),
        "sequential".as_ref(),
        p.as_os_str(),
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, out, err) = run(&["--consistency".as_ref(), "causal".as_ref(), p.as_os_str()]);
    assert_eq!(code, Some(0), "{out}{err}");
}

// Jepsen saw the cas [0 1] fail while the register held 0, and a read return nil: Knossos reads
// the failure as "did not happen" and the nil as "unknown value" (valid); ferrocheck's strict
// reading takes both as observations (invalid).
const KNOSSOS_VALID_STRICT_INVALID: &str = r#"; written by a Jepsen test
(#jepsen.history.Op{:index 0, :time 1, :type :invoke, :process 0, :f :write, :value 0}
 #jepsen.history.Op{:index 1, :time 2, :type :ok, :process 0, :f :write, :value 0}
 {:type :invoke, :f :cas, :value [0 1], :process 1, :time 3}
 {:type :fail, :f :cas, :value [0 1], :process 1, :time 4, :error :knossos.model/cas-failed}
 {:type :invoke, :f :read, :value nil, :process 2, :time 5}
 {:type :ok, :f :read, :value nil, :process 2, :time 6}
 {:type :info, :f :start, :value #{"n1" "n2"}, :process :nemesis, :time 7})
"#;

#[test]
fn jepsen_edn_is_read_with_knossos_semantics_unless_told_strict() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "history.edn", KNOSSOS_VALID_STRICT_INVALID);
    let (code, out, err) = run(&[p.as_os_str()]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains(
            "cas-register (inferred from the ops; Knossos semantics: fail ops removed, nil reads unknown)\tvalid"
        ),
        "{out}"
    );
    let (code, out, err) = run(&["--semantics".as_ref(), "strict".as_ref(), p.as_os_str()]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("strict semantics"), "{out}");
    // Invalid under both: the cas [0 2] succeeded, then a read still saw 0.
    let bad = KNOSSOS_VALID_STRICT_INVALID.replace(
        "{:type :invoke, :f :read, :value nil, :process 2, :time 5}\n {:type :ok, :f :read, :value nil, :process 2, :time 6}",
        "{:type :invoke, :f :cas, :value [0 2], :process 2, :time 5}\n {:type :ok, :f :cas, :value [0 2], :process 2, :time 6}\n {:type :invoke, :f :read, :process 0, :time 8}\n {:type :ok, :f :read, :value 0, :process 0, :time 9}",
    );
    let p = write(dir.path(), "bad.edn", &bad);
    for semantics in ["knossos", "strict"] {
        let (code, out, err) = run(&["--semantics".as_ref(), semantics.as_ref(), p.as_os_str()]);
        assert_eq!(code, Some(1), "{semantics}: {out}{err}");
    }
    // --json says which reading applied and what it removed.
    let p = write(dir.path(), "history.edn", KNOSSOS_VALID_STRICT_INVALID);
    let (_, out, _) = run(&["--json".as_ref(), p.as_os_str()]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json output");
    assert_eq!(v[0]["semantics"], "knossos");
    assert_eq!(v[0]["removed"]["failed"], 1);
    assert_eq!(v[0]["removed"]["nil_reads"], 1);
}

#[test]
fn porcupine_logs_keep_porcupine_semantics() {
    let dir = tempfile::tempdir().unwrap();
    // A cas [0 1] that failed while the register held 0: Porcupine reads it as "compare failed".
    let log = "INFO  jepsen.util - 0\t:invoke\t:write\t0\nINFO  jepsen.util - 0\t:ok\t:write\t0\nINFO  jepsen.util - 1\t:invoke\t:cas\t[0 1]\nINFO  jepsen.util - 1\t:fail\t:cas\t[0 1]\n";
    let p = write(dir.path(), "etcd.log", log);
    let (code, out, err) = run(&[p.as_os_str()]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        out.contains("cas-register (implied by the format)\tinvalid"),
        "{out}"
    );
}
