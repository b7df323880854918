//! Progress while a run goes: elapsed against the time limit, ops/s and ok/fail/info counts.
//!
//! Drawn on stderr with indicatif (hidden automatically when stderr is not a terminal).

use super::recorder::Recorder;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The live progress bar of one run.
pub struct Progress {
    bar: ProgressBar,
    start: Instant,
}

impl Progress {
    /// A bar over `limit`; `visible: false` draws nothing (tests, `--quiet`).
    pub fn new(limit: Duration, visible: bool) -> Progress {
        let bar = ProgressBar::new(limit.as_millis() as u64);
        if !visible {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        let style = ProgressStyle::with_template(
            "{spinner:.green} [{elapsed_precise}] {bar:30.cyan/blue} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        Progress {
            bar,
            start: Instant::now(),
        }
    }

    /// Redraws from the counts; `phase` names what the run is doing (`running`, `final reads`...).
    pub fn update(&self, recorder: &Recorder, phase: &str) {
        let counts = &recorder.counts;
        let elapsed = self.start.elapsed();
        let total = counts.total();
        let rate = total as f64 / elapsed.as_secs_f64().max(0.001);
        self.bar.set_position(elapsed.as_millis() as u64);
        let fault = recorder
            .fault()
            .map(|f| format!(" | fault: {f}"))
            .unwrap_or_default();
        self.bar.set_message(format!(
            "{phase} | {total} ops, {rate:.0}/s | ok {} fail {} info {}{fault}",
            counts.ok.load(Ordering::Relaxed),
            counts.fail.load(Ordering::Relaxed),
            counts.info.load(Ordering::Relaxed),
        ));
        self.bar.tick();
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    /// A spinner for a long step (checking), cleared with `finish_and_clear`.
    pub fn spinner(message: String, visible: bool) -> ProgressBar {
        let s = ProgressBar::new_spinner();
        if !visible {
            s.set_draw_target(ProgressDrawTarget::hidden());
        }
        s.set_message(message);
        s.enable_steady_tick(Duration::from_millis(100));
        s
    }
}
