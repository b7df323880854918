//! Reports rendered from hand-built histories and results: the page must show the verdict, the
//! anomaly's ops and the fault windows, load nothing from the network, and stay small.

mod support;

use ferrocheck::check::Validity;
use ferrocheck::report::{self, ResultsFile};
use std::path::Path;
use support::report::*;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// No `http://` or `https://` anywhere: no external script, style, font or image can load.
fn assert_offline(html: &str) {
    for scheme in ["http://", "https://", "//fonts.", "src=\"//", "href=\"//"] {
        assert!(!html.contains(scheme), "the page references {scheme}");
    }
    assert!(
        !html.contains("<link"),
        "the page links an external resource"
    );
}

#[test]
fn valid_history_shows_verdict_options_command_and_fault_windows() {
    let dir = tempfile::tempdir().unwrap();
    let history = register_history(300, 3);
    let run = run_info("reg-valid", "register", "partition");
    let path = report::write(
        &dir.path().join("reg-valid"),
        &run,
        &history,
        &[valid("linearizable(cas-register)")],
    )
    .unwrap();
    let html = read(&path);
    assert!(html.contains("<span id=\"verdict\" class=\"verdict\">VALID</span>"));
    assert!(html.contains("linearizable(cas-register)"));
    assert!(html.contains(
        "ferrocheck test --target toy-register --workload register --nemesis partition --seed 42"
    ));
    assert!(html.contains("<th>concurrency</th>"), "options are shown");
    assert!(html.contains("class=\"fault-window fam-partition\""));
    assert!(html.contains("start-partition [&quot;n1&quot; &quot;n2&quot;]"));
    assert!(
        !html.contains("id=\"anomalies\""),
        "a valid run has no anomaly section"
    );
    assert!(html.contains("<svg class=\"plot\""), "plots are drawn");
    assert_offline(&html);
    let results: ResultsFile =
        serde_json::from_str(&read(&dir.path().join("reg-valid/results.json"))).unwrap();
    assert_eq!(results.validity, Validity::Valid);
    assert_eq!(results.ops, history.ops.len());
    assert_eq!(results.run, run);
}

#[test]
fn nonlinearizable_result_shows_the_ops_prefix_and_states() {
    let dir = tempfile::tempdir().unwrap();
    let (history, result) = nonlinearizable();
    let path = report::write(
        dir.path(),
        &run_info("lin", "register", "partition"),
        &history,
        std::slice::from_ref(&result),
    )
    .unwrap();
    let html = read(&path);
    assert!(html.contains("<span id=\"verdict\" class=\"verdict\">INVALID</span>"));
    assert!(html.contains("<span class=\"kind\">nonlinearizable</span> on key <code>k1</code>"));
    // The explanation is shown escaped (the template engine writes ' and / as entities).
    let explanation = result.anomalies[0]
        .explanation
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;");
    assert!(html.contains(&explanation), "{explanation}");
    for op in &result.anomalies[0].ops {
        assert!(
            html.contains(&format!("data-op=\"{op}\"><td class=\"opi\">#{op}</td>")),
            "op #{op} is listed"
        );
    }
    assert!(html.contains("Longest linearizable prefix"));
    assert!(html.contains("Model states before the stuck op"));
    // Details that name ops are shown as those ops, in words: the prefix (op 0) and the stuck op.
    assert!(html.contains("<h4>stuck op</h4><ul class=\"oplist\"><li data-op=\"3\"><span class=\"opi\">#3</span> p1 read → ok 0</li>"), "{html}");
    assert!(html.contains("<li data-op=\"0\"><span class=\"opi\">#0</span> p0 write 1 → ok</li>"));
    // The picture draws both calls, the partition in force, and marks them for the timeline.
    assert!(html.contains(">#3 read → ok 0</text>"), "{html}");
    assert!(html.contains(">#0 write 1 → ok</text>"));
    assert!(html.contains("<g class=\"fault  fam-partition\">"));
    assert!(html.contains("\"marked\":[4,0]"));
    assert_offline(&html);
}

#[test]
fn mutex_overlap_shows_both_intervals_and_the_pause() {
    let dir = tempfile::tempdir().unwrap();
    let (history, result, pause) = mutex_overlap();
    let path = report::write(
        dir.path(),
        &run_info("lock", "lock", "pause"),
        &history,
        &[result],
    )
    .unwrap();
    let html = read(&path);
    assert!(html.contains(">INVALID</span>"));
    assert!(html.contains("<span class=\"kind\">mutex-overlap</span>"));
    assert_eq!(
        html.matches("<rect class=\"held\"").count(),
        2,
        "two believed-held intervals"
    );
    assert!(
        html.contains("process 0 and process 1 both held the lock: 22.0 ms"),
        "the overlap runs from 40 ms to 62 ms"
    );
    assert!(
        html.contains("<g class=\"fault cause fam-pause\">"),
        "the pause window is named"
    );
    assert!(html.contains(&format!("<g class=\"nemesis-op\" data-op=\"{pause}\">")));
    assert!(html.contains("<tr class=\"fault-window fam-pause\">"));
    // The checker's raw details are folded away behind a "data" toggle.
    assert!(
        html.contains(
            "<details class=\"data\"><summary>data</summary><pre>{\n  &quot;intervals&quot;"
        ),
        "{html}"
    );
    assert!(!html.contains("Other details"));
    assert_offline(&html);
}

#[test]
fn checker_errors_and_unknown_show_as_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = valid("linearizable(inferred model)");
    r.validity = Validity::Unknown;
    r.summary = "could not check: the checker is not built yet".into();
    let path = report::write(
        dir.path(),
        &run_info("u", "register", "none"),
        &register_history(30, 2),
        &[r],
    )
    .unwrap();
    let html = read(&path);
    assert!(html.contains(">UNKNOWN</span>"));
    assert!(html.contains("could not check: the checker is not built yet"));
}

#[test]
fn index_lists_every_run_with_its_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let (h, r) = nonlinearizable();
    report::write(
        &dir.path().join("run-b"),
        &run_info("run-b", "register", "partition"),
        &h,
        &[r],
    )
    .unwrap();
    let mut later = run_info("run a", "lock", "pause");
    later.start_time = "2026-11-26T05:00:00Z".into();
    report::write(
        &dir.path().join("run a"),
        &later,
        &register_history(20, 2),
        &[valid("mutex")],
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("junk")).unwrap();
    std::fs::write(dir.path().join("junk/results.json"), "{").unwrap();
    let html = read(&report::write_index(dir.path()).unwrap());
    let a = html
        .find("href=\"run%20a/index.html\"")
        .expect("run a is listed");
    let b = html
        .find("href=\"run-b/index.html\"")
        .expect("run-b is listed");
    assert!(a < b, "newest first");
    assert!(html.contains("<span class=\"badge v-invalid\">invalid</span>"));
    assert!(html.contains("<span class=\"badge v-valid\">valid</span>"));
    assert!(html.contains("results.json is unreadable"));
    assert!(html.contains("<td>partition</td>") && html.contains("<td>pause</td>"));
}

#[test]
fn hundred_thousand_ops_stay_under_ten_megabytes() {
    let dir = tempfile::tempdir().unwrap();
    let history = register_history(50_000, 10);
    assert_eq!(history.ops.len(), 100_002);
    let (_, mut result) = nonlinearizable();
    result.anomalies[0].ops = vec![50_001, 50_003];
    let started = std::time::Instant::now();
    let path = report::write(
        dir.path(),
        &run_info("big", "register", "partition"),
        &history,
        &[result],
    )
    .unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    println!("100,002 ops: {size} bytes in {:?}", started.elapsed());
    assert!(size < 10_000_000, "report is {size} bytes");
    let html = read(&path);
    assert!(html.contains("100002 ops"));
    // Lanes are reused by the processes that replace retired ones: 10 lanes, not 1,010.
    let lanes = &html[html.find("\"lanes\":").unwrap()..][..200];
    assert!(
        lanes.starts_with("\"lanes\":[\"p0…p"),
        "lanes are shared: {lanes}"
    );
    assert_offline(&html);
}

#[test]
fn empty_history_without_checkers_still_renders() {
    let dir = tempfile::tempdir().unwrap();
    let history = ferrocheck::history::History::default();
    let path = report::write(
        dir.path(),
        &ferrocheck::report::RunInfo::default(),
        &history,
        &[],
    )
    .unwrap();
    let html = read(&path);
    assert!(html.contains(">VALID</span> ferrocheck run"));
    assert!(html.contains("No checker ran."));
    assert!(html.contains("No faults were injected in this run."));
    assert!(html.contains("No client calls in this history."));
}

/// A causal anomaly (a cycle of program order and reads-from) is drawn as a labelled graph.
#[test]
fn a_cycle_is_drawn_as_a_graph_with_labelled_edges() {
    use ferrocheck::check::{Anomaly, CheckResult};
    use ferrocheck::history::{OpType, Value};
    let mut b = support::report::Builder::default();
    b.client(0.0, 0, OpType::Invoke, "write", Value::Int(1));
    let w1 = b.client(1.0, 0, OpType::Ok, "write", Value::Int(1));
    b.client(2.0, 0, OpType::Invoke, "read", Value::Nil);
    let r2 = b.client(3.0, 0, OpType::Ok, "read", Value::Int(2));
    b.client(0.5, 1, OpType::Invoke, "write", Value::Int(2));
    let w2 = b.client(1.5, 1, OpType::Ok, "write", Value::Int(2));
    b.client(2.5, 1, OpType::Invoke, "read", Value::Nil);
    let r1 = b.client(3.5, 1, OpType::Ok, "read", Value::Int(1));
    let history = b.build();
    let result = CheckResult {
        checker: "causal(register)".into(),
        validity: Validity::Invalid,
        summary: "not causally consistent".into(),
        anomalies: vec![Anomaly {
            kind: "CyclicCO".into(),
            key: None,
            ops: vec![w1, r2, w2, r1],
            explanation: "each process read the other's write after its own".into(),
            details: serde_json::json!({"edges": [
                {"from": w1, "to": r2, "rel": "po"},
                {"from": w2, "to": r2, "rel": "rf"},
                {"from": w2, "to": r1, "rel": "po"},
                [w1, r1, "rf"],
            ]}),
        }],
        stats: serde_json::Value::Null,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = report::write(
        &dir.path().join("cycle"),
        &run_info("cycle", "register", "none"),
        &history,
        &[result],
    )
    .unwrap();
    let html = read(&path);
    assert!(
        html.contains("<svg class=\"cycle-graph\""),
        "no graph drawn"
    );
    assert_eq!(html.matches("class=\"edge edge-po\"").count(), 2);
    assert_eq!(html.matches("class=\"edge edge-rf\"").count(), 2);
    for op in [w1, r2, w2, r1] {
        assert!(
            html.contains(&format!("<g class=\"node\" data-op=\"{op}\">")),
            "op {op} is not a node"
        );
    }
    assert_offline(&html);
}

/// A transactional anomaly (write skew, G2-item) is drawn as its cycle: each txn a box listing
/// its micro-ops, each step an arrow labelled with its relation and key, the steps in words.
#[test]
fn a_txn_cycle_is_drawn_with_micro_ops_and_labelled_arrows() {
    use ferrocheck::check::txn;
    let history = txn::notation::concurrent(&["ax1ry", "ay1rx", "rx1ry1"]).unwrap();
    let result = txn::check(&history, None).unwrap();
    let g2: Vec<_> = result
        .anomalies
        .iter()
        .filter(|a| a.kind == "G2-item")
        .collect();
    assert_eq!(g2.len(), 1, "{result:#?}");
    let dir = tempfile::tempdir().unwrap();
    let path = report::write(
        &dir.path().join("txn"),
        &run_info("txn", "list-append", "none"),
        &history,
        std::slice::from_ref(&result),
    )
    .unwrap();
    let html = read(&path);
    let start = html
        .find("<svg class=\"txn-cycle-graph\"")
        .expect("no cycle drawn");
    let svg = &html[start..start + html[start..].find("</svg>").unwrap()];
    assert_eq!(
        svg.matches("<path class=\"txn-edge txn-edge-rw\"").count(),
        2
    );
    assert_eq!(svg.matches("<g class=\"txn-box\"").count(), 2);
    for label in [
        ">rw x</text>",
        ">rw y</text>",
        ">append x 1</tspan>",
        ">r y []</tspan>",
    ] {
        assert!(svg.contains(label), "{label} missing from {svg}");
    }
    assert!(
        svg.contains("aria-label=\"the cycle T1 → T2 → T1\""),
        "{svg}"
    );
    assert_eq!(html.matches("<ol class=\"txn-steps\"><li>").count(), 1);
    assert_offline(&html);
}
