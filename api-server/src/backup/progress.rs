//! Progress of a long data command: a bar on a terminal, a structured log line every few
//! seconds otherwise (Job logs, CI).

use std::{
    io::IsTerminal,
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressStyle};

const LOG_EVERY: Duration = Duration::from_secs(5);

/// Progress of one stage, counted in documents or files.
pub struct Progress {
    stage: &'static str,
    total: u64,
    done: u64,
    bytes: u64,
    started: Instant,
    last_log: Instant,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Start a stage of `total` items (an estimate is fine).
    pub fn start(stage: &'static str, total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            let style =
                ProgressStyle::with_template("{msg:>9} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
            bar.set_style(style);
            bar.set_message(stage);
            bar
        });
        let now = Instant::now();
        Self {
            stage,
            total,
            done: 0,
            bytes: 0,
            started: now,
            last_log: now,
            bar,
        }
    }

    /// `items` more done, `bytes` more moved; `what` names the current collection or file.
    pub fn advance(&mut self, items: u64, bytes: u64, what: &str) {
        self.done += items;
        self.bytes += bytes;
        if self.done > self.total {
            self.total = self.done;
            if let Some(bar) = &self.bar {
                bar.set_length(self.total);
            }
        }
        match &self.bar {
            Some(bar) => bar.set_position(self.done),
            None if self.last_log.elapsed() >= LOG_EVERY => {
                self.last_log = Instant::now();
                let seconds = self.started.elapsed().as_secs_f64().max(0.001);
                tracing::info!(
                    stage = self.stage,
                    current = what,
                    done = self.done,
                    total = self.total,
                    percent = (self.done * 100).checked_div(self.total).unwrap_or(100),
                    per_second = (self.done as f64 / seconds).round(),
                    megabytes = (self.bytes as f64 / 1e6).round(),
                    "progress"
                );
            }
            None => {}
        }
    }

    /// The stage ended.
    pub fn finish(self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        tracing::info!(
            stage = self.stage,
            done = self.done,
            megabytes = (self.bytes as f64 / 1e6 * 10.0).round() / 10.0,
            seconds = (self.started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
            "stage done"
        );
    }
}
