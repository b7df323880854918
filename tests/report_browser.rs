//! The report in a real browser: headless Chromium loads the page from disk with networking
//! disabled, runs its script, and the rendered DOM must show the verdict, the anomaly's ops and
//! the fault windows, with the timeline drawn. A screenshot is left in the test output folder
//! (`target/tmp/report_browser/`) for a person to look at.
//!
//! Needs Debian's `chromium`; skips with a reason when it is missing, and fails instead when
//! the environment variable `CI` is set.

mod report_support;

use ferrocheck::check::{merge, CheckResult};
use ferrocheck::history::History;
use ferrocheck::report;
use report_support::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn find_chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// Kills the browser on every exit path.
struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs headless Chromium on `page` with `extra` flags; returns stdout. Bounded to 25 s.
fn chromium(bin: &Path, profile: &Path, page: &Path, extra: &[&str]) -> String {
    let url = format!("file://{}", page.display());
    let child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(&url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let mut browser = Browser(child);
    let mut out = browser.0.stdout.take().expect("piped stdout");
    let mut err = browser.0.stderr.take().expect("piped stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(25);
    loop {
        match browser.0.try_wait() {
            Ok(Some(status)) => {
                assert!(status.success(), "chromium exited with {status}");
                break;
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => panic!("chromium did not finish within 25 s"),
            Err(e) => panic!("cannot wait for chromium: {e}"),
        }
    }
    drop(browser);
    // The page's console, logged by --enable-logging: no script error, and no load the
    // page's Content-Security-Policy had to block (it allows no connection at all).
    let log = err_reader.join().expect("stderr reader thread");
    for line in log.lines().filter(|l| l.contains(":CONSOLE")) {
        assert!(
            !line.contains("Uncaught") && !line.contains("Content Security Policy"),
            "the page logged: {line}"
        );
    }
    reader.join().expect("reader thread")
}

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
    let Some(bin) = find_chromium() else {
        if std::env::var_os("CI").is_some() {
            panic!("chromium not found on PATH and CI is set: apt-get install -y chromium");
        }
        println!("skipped: chromium not found on PATH (apt-get install -y chromium)");
        return;
    };
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report_browser");
    let _ = std::fs::remove_dir_all(&out);
    let profile = tempfile::tempdir().unwrap();
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

    let dom = chromium(
        &bin,
        profile.path(),
        &page,
        &["--dump-dom", "--virtual-time-budget=2000"],
    );
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
    let zoomed = chromium(&bin, profile.path(), &url_page, &["--dump-dom"]);
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
    let focused = chromium(&bin, profile.path(), &op_page, &["--dump-dom"]);
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
    chromium(
        &bin,
        profile.path(),
        &page,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,4200",
            "--virtual-time-budget=2000",
        ],
    );
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
    let Some(bin) = find_chromium() else {
        if std::env::var_os("CI").is_some() {
            panic!("chromium not found on PATH and CI is set: apt-get install -y chromium");
        }
        println!("skipped: chromium not found on PATH (apt-get install -y chromium)");
        return;
    };
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report_browser_big");
    let _ = std::fs::remove_dir_all(&out);
    let profile = tempfile::tempdir().unwrap();
    let history = register_history(50_000, 10);
    let page = report::write(
        &out,
        &run_info("big", "register", "partition"),
        &history,
        &[valid("linearizable(cas-register)")],
    )
    .unwrap();
    let started = Instant::now();
    let dom = chromium(&bin, profile.path(), &page, &["--dump-dom"]);
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
    chromium(
        &bin,
        profile.path(),
        &page,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,1400",
        ],
    );
}

/// A write skew (G2-item) found by the `txn` checker: the browser builds the cycle's SVG with
/// both transactions' boxes and both labelled rw arrows. A screenshot is left for a person.
#[test]
fn chromium_renders_a_txn_cycle() {
    let Some(bin) = find_chromium() else {
        if std::env::var_os("CI").is_some() {
            panic!("chromium not found on PATH and CI is set: apt-get install -y chromium");
        }
        println!("skipped: chromium not found on PATH (apt-get install -y chromium)");
        return;
    };
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report_browser_txn");
    let _ = std::fs::remove_dir_all(&out);
    let profile = tempfile::tempdir().unwrap();
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
    let dom = chromium(
        &bin,
        profile.path(),
        &page,
        &["--dump-dom", "--virtual-time-budget=2000"],
    );
    let start = dom
        .find("<svg class=\"txn-cycle-graph\"")
        .expect("no cycle in the DOM");
    let svg = &dom[start..start + dom[start..].find("</svg>").expect("svg closed")];
    assert_eq!(svg.matches("class=\"txn-edge txn-edge-rw\"").count(), 2);
    assert_eq!(svg.matches("<g class=\"txn-box\"").count(), 2);
    assert!(svg.contains(">rw x</text>") && svg.contains(">rw y</text>"));
    assert!(svg.contains(">append y 1</tspan>"), "{svg}");
    let shot = out.join("txn.png");
    chromium(
        &bin,
        profile.path(),
        &page,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,1400",
            "--virtual-time-budget=2000",
        ],
    );
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10_000,
        "screenshot {} is {size} bytes",
        shot.display()
    );
    println!("screenshot: {}", shot.display());
}
