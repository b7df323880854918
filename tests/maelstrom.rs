//! Maelstrom mode end to end, through the real binary: the example nodes in examples/maelstrom
//! (correct and deliberately broken) get the verdicts and anomaly kinds they should, each
//! misbehaviour of a student's node ends or degrades the run with a clear explanation and the
//! tail of its stderr, no node process outlives a run, and docs/maelstrom.md is current.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::{have_python, only_run, results, test_cmd, text, BIN};

fn example(name: &str) -> String {
    format!("{}/examples/maelstrom/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs `ferrocheck test` with `args` in a fresh folder.
fn run(dir: &Path, args: &[&str]) -> Output {
    let started = Instant::now();
    let out = test_cmd(dir)
        .current_dir(dir)
        .args(["--seed", "7"])
        .args(args)
        .output()
        .expect("run ferrocheck");
    eprintln!("run took {:.1} s", started.elapsed().as_secs_f64());
    out
}

/// Every anomaly kind of every checker.
fn anomaly_kinds(r: &serde_json::Value) -> Vec<String> {
    r["results"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["anomalies"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["kind"].as_str().map(str::to_owned))
        .collect()
}

/// The one run's report page (index.html).
fn report_page(dir: &Path) -> String {
    let page = std::fs::read_dir(dir.join("reports"))
        .expect("reports folder")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("index.html"))
        .find(|p| p.exists())
        .expect("the run's index.html");
    std::fs::read_to_string(page).expect("read index.html")
}

fn example_run(
    node: &str,
    workload: &str,
    extra: &[&str],
    expected: i32,
) -> (tempfile::TempDir, Output) {
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = example(node);
    let mut args = vec![
        "-w",
        workload,
        "--bin",
        bin.as_str(),
        "--time-limit",
        "5",
        "--nemesis",
        "partition",
        "--nemesis-interval",
        "1",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let out = run(dir.path(), &args);
    assert_eq!(out.status.code(), Some(expected), "{}", text(&out));
    let run_dir = only_run(dir.path(), "histories");
    let messages = std::fs::read_to_string(run_dir.join("messages.jsonl")).expect("messages.jsonl");
    assert!(messages.lines().count() > 10, "too few messages logged");
    assert!(run_dir.join("nodes/n0.log").exists());
    (dir, out)
}

#[test]
fn echo_example_is_valid() {
    if !have_python() {
        return;
    }
    let (d, out) = example_run("echo.py", "echo", &["--node-count", "2", "--rate", "50"], 0);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("echo: VALID"), "{}", text(&out));
    assert!(s.contains("availability 100.0%"), "{}", text(&out));
    // The page shows the first seconds' messages and each node's stderr tail.
    let page = report_page(d.path());
    let diagram = &page[page
        .find("id=\"message-diagram\"")
        .expect("diagram section")..];
    assert!(diagram.contains("first seconds"), "{diagram:.400}");
    assert!(diagram.contains("<svg") && diagram.contains(">echo<"));
    let logs = &page[page.find("id=\"node-logs\"").expect("node logs section")..];
    assert!(
        logs.contains("<b>n0</b>") && logs.contains("<b>n1</b>"),
        "{logs:.600}"
    );
    assert!(
        logs.contains("n1.log") && logs.contains("<pre>initialized n1</pre>"),
        "the stderr tail is shown: {logs:.600}"
    );
}

#[test]
fn correct_broadcast_is_valid_under_partitions() {
    if !have_python() {
        return;
    }
    let (d, out) = example_run(
        "broadcast.py",
        "broadcast",
        &["--node-count", "5", "--rate", "40", "--latency", "5"],
        0,
    );
    let r = results(d.path());
    assert_eq!(r["validity"], "valid", "{}", text(&out));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("messages between nodes per op") && s.contains("stable "),
        "{s}"
    );
    let h = std::fs::read_to_string(only_run(d.path(), "histories").join("history.jsonl")).unwrap();
    assert!(
        h.contains("start-partition"),
        "the nemesis never partitioned"
    );
    // The history names its checker, so `ferrocheck check` re-runs it and agrees.
    let hist = only_run(d.path(), "histories").join("history.jsonl");
    let check = Command::new(BIN)
        .arg("check")
        .arg(&hist)
        .output()
        .expect("ferrocheck check");
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    let svg = std::fs::read_dir(d.path().join("reports"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("messages.svg"))
        .find(|p| p.exists())
        .expect("messages.svg");
    assert!(std::fs::read_to_string(svg).unwrap().contains("gossip"));
}

#[test]
fn lossy_broadcast_loses_messages_under_partitions() {
    if !have_python() {
        return;
    }
    let (d, out) = example_run(
        "broadcast_lossy.py",
        "broadcast",
        &[
            "--node-count",
            "5",
            "--rate",
            "40",
            "--latency",
            "5",
            "--recovery",
            "1",
        ],
        1,
    );
    let kinds = anomaly_kinds(&results(d.path()));
    assert!(
        kinds.iter().any(|k| k == "lost"),
        "{kinds:?}\n{}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("missing from the final read of"),
        "{}",
        text(&out)
    );
}

#[test]
fn lin_kv_proxy_is_linearizable() {
    if !have_python() {
        return;
    }
    let (d, out) = example_run(
        "lin_kv_proxy.py",
        "lin-kv",
        &["--node-count", "3", "--rate", "60", "--latency", "2"],
        0,
    );
    let r = results(d.path());
    assert!(
        r["results"][0]["checker"]
            .as_str()
            .unwrap_or("")
            .starts_with("linearizable"),
        "{}",
        text(&out)
    );
}

#[test]
fn lin_kv_with_a_read_cache_is_not_linearizable() {
    if !have_python() {
        return;
    }
    let (d, out) = example_run(
        "lin_kv_cached.py",
        "lin-kv",
        &[
            "--node-count",
            "3",
            "--rate",
            "100",
            "--latency",
            "2",
            "--key-count",
            "2",
        ],
        1,
    );
    let kinds = anomaly_kinds(&results(d.path()));
    assert!(
        kinds.iter().any(|k| k == "nonlinearizable"),
        "{kinds:?}\n{}",
        text(&out)
    );
    // The diagram on the page is the window around the anomaly, its ops marked.
    let page = report_page(d.path());
    let diagram = &page[page
        .find("id=\"message-diagram\"")
        .expect("diagram section")..];
    assert!(
        diagram.contains("around the first anomaly: nonlinearizable"),
        "{diagram:.600}"
    );
    assert!(diagram.contains("class=\"md-mark\""), "{diagram:.600}");
    assert!(page.contains("id=\"node-logs\""));
}

#[test]
fn kafka_example_keeps_every_acknowledged_message() {
    if !have_python() {
        return;
    }
    let (d, out) = example_run(
        "kafka.py",
        "kafka",
        &["--node-count", "3", "--rate", "60", "--latency", "2"],
        0,
    );
    assert_eq!(
        results(d.path())["results"][0]["checker"],
        "kafka",
        "{}",
        text(&out)
    );
}

#[test]
fn counter_example_converges_under_partitions() {
    if !have_python() {
        return;
    }
    let (_d, out) = example_run(
        "g_counter.py",
        "pn-counter",
        &["--node-count", "3", "--rate", "60", "--latency", "2"],
        0,
    );
    assert!(
        stdout(&out).contains("pn-counter: VALID — every node's final read is"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_single_serial_txn_node_is_valid_on_both_txn_workloads() {
    if !have_python() {
        return;
    }
    for (workload, checker) in [
        ("txn-rw-register", "txn(rw-register)"),
        ("txn-list-append", "txn(list-append)"),
    ] {
        let (d, out) = example_run(
            "txn_single.py",
            workload,
            &[
                "--node-count",
                "1",
                "--rate",
                "100",
                "--concurrency",
                "4",
                "--key-count",
                "3",
                "--max-txn-length",
                "3",
                "--max-writes-per-key",
                "8",
            ],
            0,
        );
        let r = results(d.path());
        assert_eq!(r["results"][0]["checker"], checker, "{}", text(&out));
        assert!(
            r["results"][0]["stats"]["txns"].as_u64().unwrap_or(0) > 50,
            "too few transactions checked\n{}",
            text(&out)
        );
        let h =
            std::fs::read_to_string(only_run(d.path(), "histories").join("history.jsonl")).unwrap();
        assert!(
            h.contains("\"f\":\"txn\""),
            "the ops' value is the transaction"
        );
    }
}

#[test]
fn txn_nodes_that_do_not_coordinate_are_caught() {
    if !have_python() {
        return;
    }
    let (d, out) = example_run(
        "txn_local.py",
        "txn-list-append",
        &[
            "--node-count",
            "2",
            "--rate",
            "100",
            "--concurrency",
            "4",
            "--key-count",
            "2",
        ],
        1,
    );
    let r = results(d.path());
    assert_eq!(
        r["results"][0]["checker"],
        "txn(list-append)",
        "{}",
        text(&out)
    );
    assert!(!anomaly_kinds(&r).is_empty(), "{}", text(&out));
    assert!(
        stdout(&out).contains("txn(list-append): INVALID"),
        "{}",
        text(&out)
    );
}

/// The Rust example node `name` (an `[[example]]` of Cargo.toml), built if missing.
fn rust_example(name: &str) -> String {
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let exe = Path::new(BIN)
        .parent()
        .expect("target dir")
        .join("examples")
        .join(name);
    let _one_build_at_a_time = BUILD.lock().unwrap_or_else(|p| p.into_inner());
    if !exe.exists() {
        let st = Command::new(env!("CARGO"))
            .args(["build", "--release", "--example", name, "--manifest-path"])
            .arg(format!("{}/Cargo.toml", env!("CARGO_MANIFEST_DIR")))
            .status()
            .expect("cargo build");
        assert!(st.success());
    }
    exe.to_string_lossy().into_owned()
}

#[test]
fn rust_echo_example_is_valid() {
    let exe = rust_example("maelstrom-echo");
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[
            "-w",
            "echo",
            "--bin",
            &exe,
            "--node-count",
            "2",
            "--time-limit",
            "3",
            "--rate",
            "100",
            "--nemesis",
            "partition",
            "--nemesis-interval",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(stdout(&out).contains("echo: VALID"), "{}", text(&out));
    assert!(
        stdout(&out).contains("availability 100.0%"),
        "{}",
        text(&out)
    );
}

#[test]
fn rust_broadcast_example_is_valid_under_partitions() {
    let exe = rust_example("maelstrom-broadcast");
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[
            "-w",
            "broadcast",
            "--bin",
            &exe,
            "--node-count",
            "5",
            "--time-limit",
            "5",
            "--rate",
            "40",
            "--latency",
            "5",
            "--nemesis",
            "partition",
            "--nemesis-interval",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(stdout(&out).contains("broadcast: VALID"), "{}", text(&out));
    let h =
        std::fs::read_to_string(only_run(dir.path(), "histories").join("history.jsonl")).unwrap();
    assert!(
        h.contains("start-partition"),
        "the nemesis never partitioned"
    );
}

#[test]
fn rust_unique_ids_example_is_valid() {
    let exe = rust_example("maelstrom-unique-ids");
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[
            "-w",
            "unique-ids",
            "--bin",
            &exe,
            "--node-count",
            "3",
            "--time-limit",
            "3",
            "--rate",
            "200",
            "--nemesis",
            "partition",
            "--nemesis-interval",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("unique-ids: VALID"),
        "{}",
        text(&out)
    );
}

// ---- misbehaving nodes -------------------------------------------------------------------

/// The common start of the little broken nodes: record the pid (and children's), answer init.
const PRELUDE: &str = r#"#!/usr/bin/env python3
import json, os, sys, subprocess
PIDS = os.environ["PIDS_DIR"]
open(os.path.join(PIDS, str(os.getpid())), "w").close()
def out(m):
    sys.stdout.write(json.dumps(m) + "\n"); sys.stdout.flush()
def reply(req, body):
    body["in_reply_to"] = req["body"]["msg_id"]
    out({"src": me, "dest": req["src"], "body": body})
me = None
for line in iter(sys.stdin.readline, ""):
    req = json.loads(line)
    body = req["body"]
    if body["type"] == "init":
        me = body["node_id"]
        print("hello from", me, file=sys.stderr, flush=True)
        reply(req, {"type": "init_ok"})
        continue
"#;

/// Runs the echo workload on a node whose request handling is `handler` (Python, indented by
/// four spaces, inside the loop); returns the output, the folder, and the pids it left.
fn misbehave(handler: &str, extra: &[&str]) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("node.py");
    std::fs::write(&script, format!("{PRELUDE}{handler}")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let pids = dir.path().join("pids");
    std::fs::create_dir(&pids).unwrap();
    let started = Instant::now();
    let out = test_cmd(dir.path())
        .current_dir(dir.path())
        .env("PIDS_DIR", &pids)
        .args(["-w", "echo", "--bin"])
        .arg(&script)
        .args([
            "--node-count",
            "2",
            "--time-limit",
            "3",
            "--rate",
            "20",
            "--nemesis",
            "partition",
            "--nemesis-interval",
            "1",
            "--init-timeout",
            "2",
        ])
        .args(extra)
        .output()
        .expect("run ferrocheck");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the run took {:?}",
        started.elapsed()
    );
    assert_no_survivors(&pids);
    (out, dir)
}

/// No process whose pid a node recorded is still alive.
fn assert_no_survivors(pids: &Path) {
    let recorded: Vec<i32> = std::fs::read_dir(pids)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    assert!(!recorded.is_empty(), "no node recorded its pid");
    for pid in recorded {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Gone, or a zombie waiting for a parent that is not us.
        let state = stat.rsplit(") ").next().and_then(|s| s.chars().next());
        assert!(
            stat.is_empty() || state == Some('Z'),
            "process {pid} survived the run: {stat}"
        );
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn a_node_that_crashes_ends_the_run_with_its_exit_status_and_stderr() {
    if !have_python() {
        return;
    }
    let (out, _d) = misbehave(
        "    print('about to crash', file=sys.stderr, flush=True)\n    sys.exit(3)\n",
        &[],
    );
    let s = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(s.contains("exited with status 3 at"), "{}", text(&out));
    assert!(
        s.contains("about to crash") && s.contains("stderr:"),
        "{}",
        text(&out)
    );
    assert!(
        s.contains("aborted") && s.contains("history so far was kept and checked"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_node_that_hangs_is_reported_and_killed() {
    if !have_python() {
        return;
    }
    // It also starts a child of its own: the whole process group must go.
    let handler = "    if not os.environ.get('CHILD'):\n        os.environ['CHILD'] = '1'\n        c = subprocess.Popen(['sleep', '300'])\n        open(os.path.join(PIDS, str(c.pid)), 'w').close()\n    continue\n";
    let (out, _d) = misbehave(handler, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stdout(&out).contains("answered none of the"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_line_that_is_not_json_is_named() {
    if !have_python() {
        return;
    }
    let (out, _d) = misbehave("    print('debug: got a request', flush=True)\n", &[]);
    let s = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        s.contains("wrote a line that is not JSON at") && s.contains("debug: got a request"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_reply_to_a_message_never_sent_is_named() {
    if !have_python() {
        return;
    }
    let (out, _d) = misbehave("    req['body']['msg_id'] = 99999\n    reply(req, {'type': 'echo_ok', 'echo': body['echo']})\n", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stdout(&out).contains("never sent a message with that msg_id"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_message_to_a_node_that_does_not_exist_is_named() {
    if !have_python() {
        return;
    }
    let (out, _d) = misbehave("    out({'src': me, 'dest': 'n9', 'body': {'type': 'gossip'}})\n    reply(req, {'type': 'echo_ok', 'echo': body['echo']})\n", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stdout(&out).contains("sent a message to \"n9\""),
        "{}",
        text(&out)
    );
}

#[test]
fn a_reply_missing_a_field_names_the_field() {
    if !have_python() {
        return;
    }
    let (out, _d) = misbehave("    reply(req, {'type': 'echo_ok'})\n", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stdout(&out).contains("the field `echo` (any) is missing"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_node_that_never_answers_init_is_named() {
    if !have_python() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A shell script starts fast even on a busy machine, so it records its pid in time.
    let script = dir.path().join("silent.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\ntouch \"$PIDS_DIR/$$\"\nwhile read -r line; do :; done\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let pids = dir.path().join("pids");
    std::fs::create_dir(&pids).unwrap();
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .env("PIDS_DIR", &pids)
        .args([
            "test",
            "--history-dir",
            "h",
            "--report-dir",
            "r",
            "-w",
            "echo",
            "--node-count",
            "2",
            "--init-timeout",
            "1",
            "--bin",
        ])
        .arg(&script)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stdout(&out).contains("never answered init"),
        "{}",
        text(&out)
    );
    assert_no_survivors(&pids);
}

#[test]
fn sigint_stops_the_nodes_and_keeps_the_history() {
    if !have_python() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    std::fs::create_dir(&pids).unwrap();
    let script = dir.path().join("node.py");
    std::fs::write(
        &script,
        format!("{PRELUDE}    reply(req, {{'type': 'echo_ok', 'echo': body['echo']}})\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let child = Command::new(BIN)
        .current_dir(dir.path())
        .env("PIDS_DIR", &pids)
        .args([
            "test",
            "--history-dir",
            "h",
            "--report-dir",
            "r",
            "-w",
            "echo",
            "--node-count",
            "3",
            "--time-limit",
            "60",
            "--rate",
            "50",
            "--bin",
        ])
        .arg(&script)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the run did not stop promptly"
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stdout(&out).contains("stopped") && stdout(&out).contains("history"),
        "{}",
        text(&out)
    );
    assert_no_survivors(&pids);
}

#[test]
fn bad_maelstrom_options_exit_254() {
    let dir = tempfile::tempdir().unwrap();
    for (args, needle) in [
        (vec!["-w", "echo", "--bin", "/no/such/node"], "no such file"),
        (
            vec!["-w", "paxos", "--bin", "/bin/cat"],
            "unknown Maelstrom workload",
        ),
        (
            vec!["-w", "echo", "--bin", "/bin/cat", "--topology", "ring"],
            "unknown topology",
        ),
        (
            vec!["-w", "echo", "--bin", "/bin/cat", "--concurrency", "xn"],
            "2n",
        ),
        (
            vec!["-w", "echo", "--bin", "/bin/cat", "--nemesis", "flood"],
            "unknown nemesis",
        ),
    ] {
        let out = run(dir.path(), &args);
        assert_eq!(out.status.code(), Some(254), "{args:?}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{args:?}: {}",
            text(&out)
        );
    }
}

#[test]
fn protocol_doc_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/maelstrom.md");
    let fresh = ferrocheck::maelstrom::protocol_doc();
    if std::env::var_os("FERROCHECK_UPDATE_DOCS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &fresh).unwrap();
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        stored == fresh,
        "docs/maelstrom.md is stale: regenerate it with `FERROCHECK_UPDATE_DOCS=1 cargo test --release --test maelstrom protocol_doc` (or `ferrocheck maelstrom-doc > docs/maelstrom.md`)"
    );
}
