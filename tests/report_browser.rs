//! The report in a real browser: headless Chromium loads the page from disk with networking
//! disabled, runs its script, and the rendered DOM must show the verdict, the anomaly's ops and
//! the fault windows, with the timeline drawn. A screenshot is left in the test output folder
//! (`target/tmp/report_browser/`) for a person to look at.
//!
//! Needs Debian's `chromium`; skips with a reason when it is missing, and fails instead when
//! the environment variable `CI` is set.

mod support;

use ferrocheck::check::{merge, CheckResult};
use ferrocheck::history::History;
use ferrocheck::report;
use std::path::PathBuf;
use std::time::Instant;
use support::browser::Chromium;
use support::report::*;

/// The lock run: a mutex overlap caused by a pause, amid a few hundred other calls.
fn lock_run() -> (History, Vec<CheckResult>) {
    let (mut history, result, _) = mutex_overlap();
    // Surround the anomaly with ordinary traffic so the timeline has something to draw.
    let extra = register_history(600, 4);
    let shift = history.ops.last().map(|o| o.time).unwrap_or(0) + 1_000_000;
    let base = history.ops.len() as u64;
    for mut op in extra.ops {
        if let ferrocheck::history::Process::Client(p) = op.process {
            op.process = ferrocheck::history::Process::Client(p + 2);
        }
        op.time += shift;
        op.index += base;
        history.ops.push(op);
    }
    (history, vec![valid("linearizable(cas-register)"), result])
}

#[test]
fn chromium_renders_verdict_anomaly_and_fault_windows() {
    let Some(browser) = Chromium::for_test("report_browser") else {
        return;
    };
    let out = &browser.out;
    let (history, results) = lock_run();
    assert_eq!(merge(&results).to_string(), "invalid");
    let page = report::write(
        &out.join("lock"),
        &run_info("lock-pause", "lock", "pause"),
        &history,
        &results,
    )
    .unwrap();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the page must not reach the network"
    );

    let dom = browser.dom(&page, &["--virtual-time-budget=2000"]);
    assert!(
        dom.contains("<span id=\"verdict\" class=\"verdict\">INVALID</span>"),
        "verdict missing from the DOM"
    );
    assert!(dom.contains("<span class=\"kind\">mutex-overlap</span>"));
    for op in &results[1].anomalies[0].ops {
        assert!(
            dom.contains(&format!("<td class=\"opi\">#{op}</td>")),
            "anomaly op #{op} missing"
        );
    }
    assert!(
        dom.contains("class=\"fault-window fam-pause\""),
        "pause window missing"
    );
    assert!(
        dom.contains("class=\"fault-window fam-partition\""),
        "partition window missing"
    );
    // The script ran: the timeline was drawn, with both fault windows in view.
    assert!(
        dom.contains("data-rendered=\"yes\""),
        "timeline script did not run"
    );
    assert!(
        dom.contains("data-faults=\"2\""),
        "fault windows not drawn on the timeline"
    );
    let bars: usize = dom
        .split("data-bars=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|s| s.parse().ok())
        .expect("data-bars attribute");
    assert!(bars > 10, "only {bars} bars drawn");
    assert!(
        dom.contains("<span id=\"tl-range\">"),
        "range label present"
    );

    // Opened on a stretch of time, the timeline draws only that stretch.
    let url_page = PathBuf::from(format!("{}#view=0.001,0.050", page.display()));
    let zoomed = browser.dom(&url_page, &[]);
    assert!(
        zoomed.contains("0.0010 s – 0.0500 s"),
        "zoomed range not shown"
    );
    assert!(
        zoomed.contains("data-faults=\"1\""),
        "only the pause is in view"
    );
    assert!(
        zoomed.contains("data-bars=\"2\""),
        "only the two acquires are in view"
    );

    // Opened on one op, the timeline shows that call's details.
    let op_page = PathBuf::from(format!("{}#op=4", page.display()));
    let focused = browser.dom(&op_page, &[]);
    let tip = focused
        .split("<div id=\"tl-tip\"")
        .nth(1)
        .and_then(|s| s.split("</div>").next())
        .unwrap_or("");
    assert!(!tip.contains("hidden"), "tooltip not shown: {tip}");
    assert!(tip.contains("process 1: acquire"), "{tip}");
    assert!(tip.contains("ops #3 … #4"), "{tip}");
    assert!(tip.contains("named by an anomaly"), "{tip}");
    assert!(tip.contains("fault: pause"), "{tip}");

    let shot = out.join("report.png");
    browser.screenshot(&page, &shot, "1200,4200", &["--virtual-time-budget=2000"]);
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10_000,
        "screenshot {} is {size} bytes",
        shot.display()
    );
    println!("screenshot: {}", shot.display());
}

#[test]
fn chromium_renders_a_hundred_thousand_op_report() {
    let Some(browser) = Chromium::for_test("report_browser_big") else {
        return;
    };
    let out = &browser.out;
    let history = register_history(50_000, 10);
    let page = report::write(
        out,
        &run_info("big", "register", "partition"),
        &history,
        &[valid("linearizable(cas-register)")],
    )
    .unwrap();
    let started = Instant::now();
    let dom = browser.dom(&page, &[]);
    println!(
        "100,002-op report loaded and dumped in {:?} (including browser start)",
        started.elapsed()
    );
    assert!(
        dom.contains("data-rendered=\"yes\""),
        "timeline script did not finish"
    );
    assert!(dom.contains(">VALID</span>"));
    let ready = dom
        .split("data-ready-ms=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or("?");
    println!("page usable {ready} ms after navigation started");
    let shot = out.join("report.png");
    browser.screenshot(&page, &shot, "1200,1400", &[]);
}

/// A write skew (G2-item) found by the `txn` checker: the browser builds the cycle's SVG with
/// both transactions' boxes and both labelled rw arrows. A screenshot is left for a person.
#[test]
fn chromium_renders_a_txn_cycle() {
    let Some(browser) = Chromium::for_test("report_browser_txn") else {
        return;
    };
    let out = &browser.out;
    let history =
        ferrocheck::check::txn::notation::concurrent(&["ax1ry", "ay1rx", "rx1ry1"]).unwrap();
    let result = ferrocheck::check::txn::check(&history, None).unwrap();
    let page = report::write(
        &out.join("txn"),
        &run_info("write-skew", "list-append", "none"),
        &history,
        &[result],
    )
    .unwrap();
    let dom = browser.dom(&page, &["--virtual-time-budget=2000"]);
    let start = dom
        .find("<svg class=\"txn-cycle-graph\"")
        .expect("no cycle in the DOM");
    let svg = &dom[start..start + dom[start..].find("</svg>").expect("svg closed")];
    assert_eq!(svg.matches("class=\"txn-edge txn-edge-rw\"").count(), 2);
    assert_eq!(svg.matches("<g class=\"txn-box\"").count(), 2);
    assert!(svg.contains(">rw x</text>") && svg.contains(">rw y</text>"));
    assert!(svg.contains(">append y 1</tspan>"), "{svg}");
    let shot = out.join("txn.png");
    browser.screenshot(&page, &shot, "1200,1400", &["--virtual-time-budget=2000"]);
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10_000,
        "screenshot {} is {size} bytes",
        shot.display()
    );
    println!("screenshot: {}", shot.display());
}

/// A lock history in which 15 clients take the lock one after another while the first holder
/// still believes it holds it, during a partition and a clock jump (a Redlock run): every label
/// of the anomaly's picture is measured in the browser and no two may intersect.
fn fifteen_holders() -> History {
    use ferrocheck::history::{OpType, Value};
    let s = |x: &str| Value::Str(x.into());
    let l = |v: Vec<Value>| Value::List(v);
    let mut b = Builder::default();
    let cut = |n: &str, away: &[&str]| l(vec![s(n), l(away.iter().map(|a| s(a)).collect())]);
    let split = l(vec![
        s("explicit"),
        l(vec![
            cut("ga", &["gb", "l4", "l5"]),
            cut("gb", &["ga", "l1", "l2"]),
            cut("l1", &["gb", "l4", "l5"]),
            cut("l2", &["gb", "l4", "l5"]),
            cut("l4", &["ga", "l1", "l2"]),
            cut("l5", &["ga", "l1", "l2"]),
        ]),
    ]);
    b.nemesis(0.5, "start-partition", split);
    b.client(1.0, 0, OpType::Invoke, "acquire", Value::Nil);
    b.client(2.0, 0, OpType::Ok, "acquire", s("t0"));
    b.nemesis(
        3.0,
        "clock-bump",
        l(vec![l(vec![s("l3")]), Value::Int(2000)]),
    );
    for i in 1..=15u64 {
        let t = 4.0 + i as f64 * 5.0;
        b.client(t, i, OpType::Invoke, "acquire", Value::Nil);
        b.client(t + 1.0, i, OpType::Ok, "acquire", s(&format!("t{i}")));
        b.client(t + 2.0, i, OpType::Invoke, "release", Value::Nil);
        b.client(t + 3.0, i, OpType::Ok, "release", Value::Nil);
    }
    b.client(100.0, 0, OpType::Invoke, "release", Value::Nil);
    b.client(101.0, 0, OpType::Ok, "release", Value::Nil);
    b.nemesis(110.0, "stop-partition", Value::Nil);
    b.nemesis(112.0, "clock-reset", l(vec![s("l3")]));
    let mut h = b.build();
    h.header = Some(ferrocheck::history::Header {
        version: 1,
        workload: Some("lock".into()),
        model: None,
        run: Some(
            serde_json::json!({"target": "redlock", "command_line": "ferrocheck test --target redlock --nemesis redlock-clock"}),
        ),
        checkers: Vec::new(),
    });
    h
}

/// Appended to a copy of the page: measures every text of every anomaly picture and writes
/// the count and any two that intersect into attributes of `<body>`.
const MEASURE: &str = r#"<script>
(function () {
  var counts = [], bad = [];
  document.querySelectorAll(".anomaly-picture svg").forEach(function (svg) {
    var ts = [].slice.call(svg.querySelectorAll("text"));
    var r = ts.map(function (t) { return t.getBoundingClientRect(); });
    counts.push(ts.length);
    for (var i = 0; i < r.length; i++) for (var j = i + 1; j < r.length; j++) {
      var a = r[i], b = r[j];
      if (a.width > 0 && b.width > 0 && a.left < b.right - 0.5 && b.left < a.right - 0.5
          && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5)
        bad.push(ts[i].textContent + " | " + ts[j].textContent);
    }
  });
  document.body.setAttribute("data-labels", counts.join(","));
  document.body.setAttribute("data-overlapping", bad.length ? bad.join(" ;; ") : "none");
})();
</script>"#;

#[test]
fn chromium_measures_no_overlapping_labels_with_fifteen_holders() {
    let Some(browser) = Chromium::for_test("report_browser_holders") else {
        return;
    };
    let out = &browser.out;
    let history = fifteen_holders();
    let result = ferrocheck::check::lock::check_mutual_exclusion(&history, false);
    assert_eq!(result.anomalies.len(), 1, "{:?}", result.anomalies);
    let anomaly = &result.anomalies[0];
    assert!(anomaly.ops.len() >= 16, "{:?}", anomaly.ops);
    // The explanation names the fault and the groups, not a pause.
    for words in [
        "client 0 (group ga) acquired the lock",
        "jumped l3's clock forward by 2 s",
        "expired client 0's key on l3 early",
        "client 1 (group gb) acquired it",
        "the majority l3, l4, l5",
        "ga reached l1, l2, l3; gb reached l3, l4, l5",
        "nothing was paused",
    ] {
        assert!(
            anomaly.explanation.contains(words),
            "{words}: {}",
            anomaly.explanation
        );
    }
    assert!(
        result.summary.contains("after a clock jump"),
        "{}",
        result.summary
    );
    let page = report::write(
        &out.join("lock"),
        &run_info("redlock-clock", "lock", "redlock-clock"),
        &history,
        &[result],
    )
    .unwrap();
    let html = std::fs::read_to_string(&page).unwrap();
    let measured = out.join("measured.html");
    std::fs::write(
        &measured,
        html.replace("</body>", &format!("{MEASURE}</body>")),
    )
    .unwrap();
    let dom = browser.dom(&measured, &["--virtual-time-budget=2000"]);
    let attr = |name: &str| {
        dom.split(&format!("{name}=\""))
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or("")
            .to_owned()
    };
    let labels: usize = attr("data-labels")
        .split(',')
        .filter_map(|n| n.parse::<usize>().ok())
        .sum();
    // 16 lanes, 17 calls, 2 nemesis ops, 2 fault bands, the overlap and the axis.
    assert!(
        labels >= 35,
        "only {labels} labels measured: {}",
        attr("data-labels")
    );
    assert_eq!(attr("data-overlapping"), "none", "labels intersect");
    // The lanes and labels are there, and the raw data is folded away.
    assert!(
        dom.contains(">process 15</text>"),
        "lane of the 15th holder missing"
    );
    assert!(dom.contains("<summary>data</summary>"));
    assert!(!dom.contains("Other details"));
    let shot = out.join("holders.png");
    browser.screenshot(&page, &shot, "1200,2400", &["--virtual-time-budget=2000"]);
    println!("screenshot: {}", shot.display());
}
