//! Progress lines of the live commands on stderr: one per target (jobs listed, reads done of how
//! many, changes, the pace achieved, an estimate of the time left). On a terminal they are
//! refreshed in place; forced on elsewhere (`--progress always`) each update is a new line.
//! Nothing is written to stdout, which holds only the command's result.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::cli::ProgressArg;
use crate::reconcile::{CycleProgress, ProgressSnapshot};

/// How often the lines are refreshed.
const EVERY: Duration = Duration::from_millis(500);
/// The pace shown is measured over this long.
const PACE_WINDOW: Duration = Duration::from_secs(5);

/// The running printer; [`Printer::finish`] prints the last state and stops it.
pub struct Printer {
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

struct Line {
    name: String,
    progress: Arc<CycleProgress>,
    /// (time, calls done) samples for the pace.
    samples: Vec<(Instant, usize)>,
    /// Calls one change costs (the tag store writes its memory tags too); 0: no change is made.
    calls_per_change: usize,
}

impl Printer {
    /// Starts printing for `targets` (name, counters, calls per change) when `mode` says so.
    pub fn start(mode: ProgressArg, targets: Vec<(String, Arc<CycleProgress>, usize)>) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let on = match mode {
            ProgressArg::Always => true,
            ProgressArg::Never => false,
            ProgressArg::Auto => terminal,
        };
        let stop = CancellationToken::new();
        if !on || targets.is_empty() {
            return Printer { stop, task: None };
        }
        let mut lines: Vec<Line> = targets
            .into_iter()
            .map(|(name, progress, calls_per_change)| Line {
                name,
                progress,
                samples: Vec::new(),
                calls_per_change,
            })
            .collect();
        let until = stop.clone();
        let task = tokio::spawn(async move {
            let mut printed = false;
            let mut tick = tokio::time::interval(EVERY);
            loop {
                let last = tokio::select! {
                    _ = until.cancelled() => true,
                    _ = tick.tick() => false,
                };
                render(&mut lines, terminal, printed);
                printed = true;
                if last {
                    return;
                }
            }
        });
        Printer {
            stop,
            task: Some(task),
        }
    }

    pub async fn finish(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

fn render(lines: &mut [Line], terminal: bool, printed: bool) {
    let mut out = String::new();
    if terminal && printed {
        // Back to the first of our lines.
        out.push_str(&format!("\x1b[{}A", lines.len()));
    }
    for line in lines.iter_mut() {
        let s = line.progress.snapshot();
        let now = Instant::now();
        line.samples.push((now, s.calls_done));
        line.samples
            .retain(|(t, _)| now.duration_since(*t) <= PACE_WINDOW);
        let rate = pace(&line.samples);
        if terminal {
            out.push_str("\r\x1b[2K");
        }
        out.push_str(&describe(&line.name, &s, rate, line.calls_per_change));
        out.push('\n');
    }
    // A closed stderr must not stop the command.
    let _ = std::io::stderr().write_all(out.as_bytes());
}

/// Calls per second over the samples' span.
fn pace(samples: &[(Instant, usize)]) -> Option<f64> {
    let (first, last) = (samples.first()?, samples.last()?);
    let secs = last.0.duration_since(first.0).as_secs_f64();
    (secs >= 1.0).then(|| (last.1.saturating_sub(first.1)) as f64 / secs)
}

/// One target's line: `NAME: 2000 jobs listed; 340/2000 reads; 3/12 changes made; 9.8 req/s;
/// about 2m 50s left`. `calls_per_change` 0: the command makes no change (`plan`).
pub fn describe(
    name: &str,
    s: &ProgressSnapshot,
    rate: Option<f64>,
    calls_per_change: usize,
) -> String {
    if !s.listing_done {
        return format!("{name}: listing jobs...");
    }
    let reads_left = s.reads_queued.saturating_sub(s.reads_done);
    let changes_left = s.changes_planned.saturating_sub(s.changes_settled);
    let calls_left = reads_left + changes_left * calls_per_change;
    let mut text = format!(
        "{name}: {} jobs listed; {}/{} reads; ",
        s.listed, s.reads_done, s.reads_queued
    );
    if calls_per_change == 0 {
        text.push_str(&format!("{} changes planned", s.changes_planned));
    } else {
        text.push_str(&format!(
            "{}/{} changes made",
            s.changes_settled, s.changes_planned
        ));
    }
    match rate {
        Some(r) if r > 0.0 => {
            text.push_str(&format!("; {r:.1} req/s"));
            if calls_left > 0 {
                let secs = (calls_left as f64 / r).round() as u64;
                text.push_str(&format!("; about {} left", human(secs)));
            }
        }
        _ => {}
    }
    text
}

fn human(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ => format!("{}h {:02}m", secs / 3600, secs / 60 % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_says_what_is_done_and_what_is_left() {
        let s = ProgressSnapshot {
            listed: 2000,
            listing_done: true,
            reads_queued: 2000,
            reads_done: 340,
            changes_planned: 12,
            changes_settled: 3,
            calls_done: 352,
        };
        assert_eq!(
            describe("emu", &s, Some(10.0), 2),
            "emu: 2000 jobs listed; 340/2000 reads; 3/12 changes made; 10.0 req/s; about 2m 48s left"
        );
        assert_eq!(
            describe("emu", &s, Some(10.0), 0),
            "emu: 2000 jobs listed; 340/2000 reads; 12 changes planned; 10.0 req/s; about 2m 46s left"
        );
        assert_eq!(
            describe("emu", &ProgressSnapshot::default(), None, 1),
            "emu: listing jobs..."
        );
    }
}
