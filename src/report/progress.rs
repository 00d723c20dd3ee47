//! Live progress on stderr (indicatif spinners) while the run waits on the
//! API: devices listed, events fetched with their rate, owners resolved,
//! reports written. Drawn only when stderr is a terminal and not `-quiet`;
//! cleared when each step ends, so the console keeps only the summary lines.

use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Braille dots where terminals have the glyphs; plain ASCII on Windows,
/// whose legacy console fonts (Consolas, raster) have none and would draw
/// boxes.
const SPINNER_TICKS: &str = if cfg!(windows) {
    "|/-\\ "
} else {
    "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ "
};

pub struct Progress {
    bars: MultiProgress,
}

/// One step's spinner.
pub struct Step {
    bar: ProgressBar,
    started: Instant,
}

impl Progress {
    pub fn new(visible: bool) -> Self {
        let target = if visible {
            // Hidden by indicatif itself when stderr is not a terminal.
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Self {
            bars: MultiProgress::with_draw_target(target),
        }
    }

    pub fn step(&self, message: &str) -> Step {
        let bar = self.bars.add(ProgressBar::new_spinner());
        let style = ProgressStyle::with_template("{spinner} {prefix} {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .tick_chars(SPINNER_TICKS);
        bar.set_style(style);
        bar.set_prefix(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        Step {
            bar,
            started: Instant::now(),
        }
    }
}

impl Step {
    pub fn update(&self, message: String) {
        self.bar.set_message(message);
    }

    /// Per second since the step began.
    pub fn rate(&self, count: u64) -> f64 {
        count as f64 / self.started.elapsed().as_secs_f64().max(1e-3)
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
