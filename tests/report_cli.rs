//! `ferrocheck report` and `ferrocheck serve` as a user runs them: the real binary on a stored
//! history, and the real server on a loopback port.

use ferrocheck::report::ResultsFile;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

mod support;

use support::BIN;

fn write_history(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("histories/reg-7/history.jsonl");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        concat!(
            "{\"ferrocheck\":{\"version\":1,\"workload\":\"register\",\"model\":\"cas-register\",\"run\":{\"target\":\"toy-register\",\"nemesis\":\"partition\",\"seed\":7,\"command\":\"ferrocheck test --seed 7\",\"start_time\":\"2026-11-26T04:30:00Z\"}}}\n",
            "{\"index\":0,\"time\":1000,\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n",
            "{\"index\":1,\"time\":2000,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"start-partition\",\"value\":\"n1\"}\n",
            "{\"index\":2,\"time\":3000,\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":1}\n",
            "{\"index\":3,\"time\":4000,\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}\n",
            "{\"index\":4,\"time\":5000,\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"value\":1}\n",
            "{\"index\":5,\"time\":6000,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"stop-partition\",\"value\":null}\n",
        ),
    )
    .unwrap();
    path
}

#[test]
fn report_command_writes_report_results_and_index() {
    let dir = tempfile::tempdir().unwrap();
    let history = write_history(dir.path());
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .args(["report", "histories/reg-7/history.jsonl"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let results: ResultsFile = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("reports/reg-7/results.json")).unwrap(),
    )
    .unwrap();
    // The exit code is the verdict's, whatever the checker concluded (or could not).
    assert_eq!(
        out.status.code(),
        Some(results.validity.exit_code()),
        "{stdout}"
    );
    assert_eq!(results.run.target, "toy-register");
    assert_eq!(results.run.workload, "register");
    assert_eq!(results.run.seed, 7);
    assert_eq!(
        results.run.history,
        Path::new("histories/reg-7/history.jsonl")
    );
    assert!(!results.results.is_empty());
    let html = std::fs::read_to_string(dir.path().join("reports/reg-7/index.html")).unwrap();
    for r in &results.results {
        assert!(html.contains(&r.checker), "checker {} shown", r.checker);
    }
    assert!(html.contains("ferrocheck test --seed 7"));
    assert!(html.contains("class=\"fault-window fam-partition\""));
    let index = std::fs::read_to_string(dir.path().join("reports/index.html")).unwrap();
    assert!(index.contains("href=\"reg-7/index.html\""));
    assert!(
        stdout.contains("report written to reports/reg-7/index.html"),
        "{stdout}"
    );

    let elsewhere = dir.path().join("elsewhere");
    let out = Command::new(BIN)
        .arg("report")
        .arg(&history)
        .arg("--out")
        .arg(&elsewhere)
        .output()
        .unwrap();
    assert!(out.status.code().unwrap_or(255) <= 2);
    assert!(elsewhere.join("index.html").is_file());
    assert!(elsewhere.join("results.json").is_file());
}

#[test]
fn report_command_rejects_a_malformed_history_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    std::fs::write(&path, "{\"process\":0,\"type\":\"done\",\"f\":\"read\"}\n").unwrap();
    let out = Command::new(BIN).arg("report").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(254));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.jsonl:1:"), "{stderr}");
}

/// Kills the server on every exit path.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(port: u16, request: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn serve_command_serves_reports_read_only_and_refuses_traversal() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("reports");
    std::fs::create_dir_all(root.join("run-1")).unwrap();
    std::fs::write(root.join("index.html"), "<h1>runs</h1>").unwrap();
    std::fs::write(root.join("run-1/index.html"), "<h1>run 1</h1>").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "do not serve").unwrap();
    let child = Command::new(BIN)
        .args(["serve", "--port", "0", "--dir"])
        .arg(&root)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no loopback address in {line:?}"));

    let index = get(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(index.starts_with("HTTP/1.1 200 OK"), "{index}");
    // Header names are case-insensitive; the server may send them in lower case.
    assert!(index
        .to_ascii_lowercase()
        .contains("content-type: text/html"));
    assert!(index.ends_with("<h1>runs</h1>"));
    let run = get(port, "GET /run-1/ HTTP/1.1\r\n\r\n");
    assert!(run.ends_with("<h1>run 1</h1>"), "{run}");
    let head = get(port, "HEAD /run-1/index.html HTTP/1.1\r\n\r\n");
    assert!(
        head.starts_with("HTTP/1.1 200") && head.ends_with("\r\n\r\n"),
        "{head}"
    );
    for path in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/run-1/..%2f..%2fsecret.txt",
    ] {
        let r = get(port, &format!("GET {path} HTTP/1.1\r\n\r\n"));
        assert!(r.starts_with("HTTP/1.1 400"), "{path}: {r}");
        assert!(!r.contains("do not serve"));
    }
    let missing = get(port, "GET /nope.html HTTP/1.1\r\n\r\n");
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    let post = get(port, "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert!(post.starts_with("HTTP/1.1 405"), "{post}");
    drop(server);
}

#[test]
fn serve_command_explains_a_missing_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--port", "0", "--dir"])
        .arg(dir.path().join("nope"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(254));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ferrocheck report HISTORY"), "{stderr}");
}

#[test]
fn serve_command_reports_a_taken_port_as_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = Command::new(BIN)
        .args(["serve", "--port", &port.to_string(), "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(254));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("port {port}")), "{stderr}");
    assert!(stderr.contains("already taken"), "{stderr}");
    assert!(stderr.contains("--port"), "{stderr}");
    drop(taken);
}

/// A register run's header names the checkers it used, linearizable(cas-register) and
/// lost-updates; `report` and `check` must re-run both (report once rebuilt its checks from a
/// field nothing wrote, and a re-rendered register run lost its lost-updates check).
#[test]
fn report_and_check_rerun_the_checkers_the_header_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("histories/lost-1/history.jsonl");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    // Write 1, then write 2 (acknowledged, begun after 1 was), then a final read of 1 more than
    // a second later: write 2 was lost, and the read is stale.
    std::fs::write(
        &path,
        concat!(
            "{\"ferrocheck\":{\"version\":1,\"workload\":\"register\",\"model\":\"register\",\"checkers\":[{\"name\":\"linearizable\",\"options\":{\"model\":\"cas-register\"}},{\"name\":\"lost-updates\"}]}}\n",
            "{\"index\":0,\"time\":1000,\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"key\":\"k0\",\"value\":1}\n",
            "{\"index\":1,\"time\":2000,\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"key\":\"k0\",\"value\":1}\n",
            "{\"index\":2,\"time\":3000,\"process\":1,\"type\":\"invoke\",\"f\":\"write\",\"key\":\"k0\",\"value\":2}\n",
            "{\"index\":3,\"time\":4000,\"process\":1,\"type\":\"ok\",\"f\":\"write\",\"key\":\"k0\",\"value\":2}\n",
            "{\"index\":4,\"time\":2000000000,\"process\":2,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k0\",\"value\":null}\n",
            "{\"index\":5,\"time\":2000001000,\"process\":2,\"type\":\"ok\",\"f\":\"read\",\"key\":\"k0\",\"value\":1}\n",
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .args(["report", "histories/lost-1/history.jsonl"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let results: ResultsFile = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("reports/lost-1/results.json")).unwrap(),
    )
    .unwrap();
    let checkers: Vec<&str> = results.results.iter().map(|r| r.checker.as_str()).collect();
    assert_eq!(
        checkers,
        ["linearizable(cas-register)", "lost-updates"],
        "{stdout}"
    );
    assert!(results.results[1]
        .anomalies
        .iter()
        .any(|a| a.kind == "lost-update"));

    let out = Command::new(BIN)
        .args(["check", "--json"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let names: Vec<&str> = json[0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["checker"].as_str())
        .collect();
    assert_eq!(names, ["linearizable(cas-register)", "lost-updates"]);
    assert_eq!(json[0]["model_source"], "history header");

    // An explicit --model replaces the recorded checkers with the one check it names.
    let out = Command::new(BIN)
        .args(["check", "--json", "--model", "register"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json[0]["results"].as_array().map(Vec::len), Some(1));
    assert_eq!(json[0]["result"]["checker"], "linearizable(register)");
}

/// `report` reads every format `check` reads, e.g. a Jepsen EDN history.
#[test]
fn report_reads_jepsen_edn() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.edn");
    std::fs::write(
        &path,
        "[{:type :invoke, :f :write, :value 1, :process 0, :time 10}\n {:type :ok, :f :write, :value 1, :process 0, :time 20}\n {:type :invoke, :f :read, :value nil, :process 1, :time 30}\n {:type :ok, :f :read, :value 1, :process 1, :time 40}]\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("report")
        .arg(&path)
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("linearizable(register)"), "{stdout}");
}
