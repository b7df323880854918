//! Issue 11: a user's own server, described by a target file, tested without writing Rust.
//!
//! The servers in `tests/servers/` are small Python stores written for these tests (not part of
//! ferrocheck): n1 holds the data and the other nodes forward to it, over RESP or over HTTP with
//! JSON. The `-stale` files start the same program with a cache that serves stale reads. Each
//! correct store must come out valid and each stale one invalid with the stale read named, also
//! under partitions; bad files are refused with `file:line`; `ferrocheck list` shows the files.

use ferrocheck::history::{History, OpType, Process};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod support;

use support::{
    can_inject, faults_applied, have_python, history, leftover_namespaces, processes_under, serial,
    test_cmd, text, BIN,
};

/// A target or workload file shipped with the tests.
fn server_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/servers")
        .join(name)
}

/// Runs `ferrocheck test` in a fresh folder (its current directory too, so `./targets/` is
/// the test's own).
fn run(dir: &Path, args: &[&str]) -> Output {
    test_cmd(dir)
        .current_dir(dir)
        .arg("--quiet")
        .args(args)
        .output()
        .expect("run ferrocheck")
}

/// Runs `target` (a file in tests/servers) for a few seconds and checks the verdict: valid for
/// a correct store, invalid with a stale read named for a broken one. `nemesis` is a schedule
/// body or `None`.
fn verdict_of(target: &str, nemesis: Option<&str>, expect: i32) -> History {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = server_file(target);
    let mut args = vec![
        "--target",
        target.to_str().expect("utf-8 path"),
        "--time-limit",
        "4",
        "--rate",
        "300",
        "--seed",
        "11",
    ];
    let schedule = dir.path().join("schedule.toml");
    if let Some(body) = nemesis {
        std::fs::write(&schedule, body).expect("write schedule");
        args.extend(["--nemesis", schedule.to_str().expect("utf-8 path")]);
    }
    let out = run(dir.path(), &args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(expect), "{}", text(&out));
    if expect == 1 {
        assert!(
            stdout.contains("not linearizable") && stdout.contains("'s read on k"),
            "the verdict must name the stale read:\n{}",
            text(&out)
        );
    }
    let h = history(dir.path());
    let reads = h
        .ops
        .iter()
        .filter(|o| o.f == "read" && o.kind == OpType::Ok)
        .count();
    assert!(reads > 50, "only {reads} reads ok:\n{}", text(&out));
    assert_eq!(
        processes_under(dir.path()),
        Vec::<String>::new(),
        "node processes outlived the run"
    );
    h
}

/// The partition schedule of these tests: n1 (the file's `primary`) or one node cut off every
/// ~1.5 s, so a 4 s run sees at least one.
const PARTITIONS: &str = "name = \"test\"\ndescription = \"short partitions\"\n\
    faults = [\"partition\"]\ninterval = 1.5\njitter = 0.3\nduration = 1.2\n\
    [partition]\nkinds = [\"primaries\", \"one\"]\n";

fn under_partitions(target: &str, expect: i32) {
    let _one = serial();
    if !have_python() || !can_inject() {
        return;
    }
    let h = verdict_of(target, Some(PARTITIONS), expect);
    assert!(
        faults_applied(&h).iter().any(|f| f == "start-partition"),
        "no partition was applied: {:?}",
        faults_applied(&h)
    );
    assert!(
        h.ops.iter().any(|o| o.process != Process::Nemesis
            && o.kind != OpType::Ok
            && o.kind != OpType::Invoke),
        "a partition must cost the clients some ops"
    );
    assert_eq!(leftover_namespaces(), Vec::<String>::new());
}

#[test]
fn a_resp_server_from_a_target_file_is_valid() {
    if have_python() {
        verdict_of("resp-kv.toml", None, 0);
    }
}

#[test]
fn a_resp_server_serving_stale_reads_is_invalid() {
    if have_python() {
        verdict_of("resp-kv-stale.toml", None, 1);
    }
}

#[test]
fn an_http_json_server_from_a_target_file_is_valid() {
    if have_python() {
        let h = verdict_of("http-kv.toml", None, 0);
        assert!(
            h.ops
                .iter()
                .any(|o| o.error.as_deref() == Some("compare failed")),
            "409 must read as a failed cas"
        );
    }
}

#[test]
fn an_http_json_server_serving_stale_reads_is_invalid() {
    if have_python() {
        verdict_of("http-kv-stale.toml", None, 1);
    }
}

#[test]
fn resp_servers_under_partitions() {
    under_partitions("resp-kv.toml", 0);
    under_partitions("resp-kv-stale.toml", 1);
}

#[test]
fn http_json_servers_under_partitions() {
    under_partitions("http-kv.toml", 0);
    under_partitions("http-kv-stale.toml", 1);
}

#[test]
fn a_workload_file_and_a_local_target_by_name() {
    if !have_python() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("targets")).expect("targets/");
    std::fs::create_dir_all(dir.path().join("workloads")).expect("workloads/");
    // The target by name from ./targets/, its script found through {target_dir}.
    let text_of = |p: &str| std::fs::read_to_string(server_file(p)).expect("read server file");
    std::fs::write(
        dir.path().join("targets/mine.toml"),
        text_of("resp-kv-stale.toml")
            .replace("name = \"resp-kv-stale\"", "name = \"mine\"")
            .replace("{target_dir}/", &format!("{}/", server_file("").display())),
    )
    .expect("write target");
    std::fs::write(
        dir.path().join("workloads/mostly-reads.toml"),
        "name = \"mostly-reads\"\nabout = \"reads, some writes\"\nworkload = \"register\"\n\
         keys = 2\nvalues = \"unique\"\nmodel = \"register\"\n\
         checkers = [\"linearizable\"]\n[mix]\nread = 0.7\nwrite = 0.3\n",
    )
    .expect("write workload");
    let out = run(
        dir.path(),
        &[
            "--target",
            "mine",
            "--workload",
            "mostly-reads",
            "--time-limit",
            "3",
            "--seed",
            "5",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("linearizable(register): INVALID"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("lost-updates"),
        "only the file's checkers run: {stdout}"
    );
    let h = history(dir.path());
    assert!(h.ops.iter().all(|o| o.f != "cas"), "the mix has no cas");
    let keys: std::collections::BTreeSet<_> = h.ops.iter().filter_map(|o| o.key.clone()).collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    let list = Command::new(BIN)
        .current_dir(dir.path())
        .arg("list")
        .output()
        .expect("run list");
    let listed = String::from_utf8_lossy(&list.stdout);
    for name in [
        "mine",
        "mostly-reads",
        "targets/mine.toml",
        "redis",
        "register",
        "lock",
    ] {
        assert!(listed.contains(name), "{name} missing from:\n{listed}");
    }
}

#[test]
fn bad_files_are_refused_with_file_and_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"bad\"\nnodes = 3\ncommand = [\"./kv\", \"--port\", \"{prot}\"]\nprotocol = \"resp\"\n",
    )
    .expect("write");
    let out = run(dir.path(), &["--target", bad.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(254), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:3: unknown placeholder {prot}") && err.contains("{port}"),
        "{err}"
    );
    std::fs::write(
        &bad,
        "name = \"bad\"\nnodes = 3\ncommand = [\"./kv\"]\nprotocol = \"grpc\"\n",
    )
    .expect("write");
    let out = run(dir.path(), &["--target", bad.to_str().expect("utf-8")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:4: ") && err.contains("http-json"),
        "{err}"
    );
    // A target without the cas op the workload needs is refused before anything starts.
    let http = std::fs::read_to_string(server_file("http-kv.toml")).expect("read");
    let start = http.find("[ops.cas]").expect("cas table");
    let end = http.find("[replies.compare-failed]").expect("replies");
    std::fs::write(&bad, format!("{}{}", &http[..start], &http[end..])).expect("write");
    let out = run(dir.path(), &["--target", bad.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(254), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no \"cas\" op"), "{err}");
    let wl = dir.path().join("w.toml");
    std::fs::write(
        &wl,
        "name = \"w\"\nworkload = \"register\"\n[mix]\nread = 1\nscan = 1\n",
    )
    .expect("write");
    let out = run(dir.path(), &["--workload", wl.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(254), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("w.toml:3: ") && err.contains("\"scan\""),
        "{err}"
    );
}
