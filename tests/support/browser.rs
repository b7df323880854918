//! Headless Chromium for the report tests: finds the browser (or skips, failing under `CI`),
//! gives each test a clean output folder and profile, and loads pages with networking disabled,
//! failing on any script error or blocked load the page logs.

use super::env::available;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A browser ready for one test: its binary, a fresh profile, and the test's output folder
/// (`target/tmp/<name>/`, emptied first, left for a person to look at).
pub struct Chromium {
    bin: PathBuf,
    profile: tempfile::TempDir,
    /// Where the test writes its pages and screenshots.
    pub out: PathBuf,
}

impl Chromium {
    /// Chromium for the test whose output folder is `name`, or `None` (skip) without one.
    pub fn for_test(name: &str) -> Option<Chromium> {
        let bin = find_chromium();
        if !available(
            bin.is_none()
                .then(|| "chromium not found on PATH: apt-get install -y chromium".to_string()),
        ) {
            return None;
        }
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        let _ = std::fs::remove_dir_all(&out);
        Some(Chromium {
            bin: bin?,
            profile: tempfile::tempdir().expect("temp dir"),
            out,
        })
    }

    /// The DOM of `page` after its scripts ran (`--dump-dom` plus `extra` flags).
    pub fn dom(&self, page: &Path, extra: &[&str]) -> String {
        let mut flags = vec!["--dump-dom"];
        flags.extend(extra);
        self.run(page, &flags)
    }

    /// A screenshot of `page` into `shot`, `size` as `W,H`, with `extra` flags.
    pub fn screenshot(&self, page: &Path, shot: &Path, size: &str, extra: &[&str]) {
        let shot_flag = format!("--screenshot={}", shot.display());
        let size_flag = format!("--window-size={size}");
        let mut flags = vec![shot_flag.as_str(), size_flag.as_str()];
        flags.extend(extra);
        self.run(page, &flags);
    }

    /// Runs headless Chromium on `page` with `extra` flags; returns stdout. Bounded to 25 s.
    pub fn run(&self, page: &Path, extra: &[&str]) -> String {
        let url = format!("file://{}", page.display());
        let child = Command::new(&self.bin)
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
            .arg(format!("--user-data-dir={}", self.profile.path().display()))
            .args(extra)
            .arg(&url)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
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
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
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
}

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
