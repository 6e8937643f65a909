//! Metrics snapshots on their own thread, and the progress bar they drive.

use crate::error::CliError;
use crate::report::Sample;
use allot::RuntimeHandle;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Most snapshots kept; past it the sampling interval doubles.
const MAX_SAMPLES: usize = 4096;

/// Samples `metrics()` every `interval` on its own thread, and drives the
/// progress bar.
pub(super) struct Sampler {
    stop: crossbeam_channel::Sender<()>,
    thread: JoinHandle<Vec<Sample>>,
}

impl Sampler {
    pub(super) fn start(
        handle: RuntimeHandle,
        interval: Duration,
        start: Instant,
        bar: ProgressBar,
    ) -> Result<Sampler, CliError> {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
        let thread = std::thread::Builder::new()
            .name("allot-cli-sampler".into())
            .spawn(move || {
                let mut samples: Vec<Sample> = Vec::new();
                let mut interval = interval;
                // Snapshots on a fixed clock (start + k × interval), not
                // `interval` after the last one ended: the time a snapshot
                // takes under load does not add up. A tick missed while
                // the thread waited for a core is skipped, not made up.
                let mut next = Instant::now();
                loop {
                    let m = handle.metrics();
                    let s = Sample::of(start.elapsed().as_secs_f64(), &m, false);
                    let done = m.totals.completed + m.totals.failed + m.totals.cancelled;
                    // Throughput over the last second or so.
                    let back = samples
                        .iter()
                        .rev()
                        .find(|o| s.t_s - o.t_s >= 1.0)
                        .or(samples.first());
                    let rate = back.map_or(0.0, |o| {
                        (s.completed - o.completed) as f64 / (s.t_s - o.t_s).max(1e-3)
                    });
                    bar.set_position(done);
                    bar.set_message(format!(
                        "{rate:.0}/s · {} failed · {} restarts · {} moved",
                        m.totals.failed, m.totals.restarts, m.totals.migrations
                    ));
                    samples.push(s);
                    if samples.len() >= MAX_SAMPLES {
                        // A long run: halve the resolution rather than grow
                        // without bound. Counters are cumulative, so no
                        // restart or migration is lost, only its precise time.
                        let mut keep = false;
                        samples.retain(|_| {
                            keep = !keep;
                            keep
                        });
                        interval = interval.saturating_mul(2);
                    }
                    let now = Instant::now();
                    while next <= now {
                        next += interval;
                    }
                    match stopped.recv_deadline(next) {
                        Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                        _ => return samples,
                    }
                }
            })
            .map_err(|e| CliError::Other(format!("cannot start the sampler thread: {e}")))?;
        Ok(Sampler { stop, thread })
    }

    pub(super) fn finish(self) -> Vec<Sample> {
        let _ = self.stop.send(());
        self.thread.join().unwrap_or_default()
    }
}

pub(super) fn progress_bar(total: u64, hidden: bool) -> ProgressBar {
    let target = if hidden {
        ProgressDrawTarget::hidden()
    } else {
        // Draws only when stderr is a terminal.
        ProgressDrawTarget::stderr()
    };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    if let Ok(style) =
        // `wide_bar` takes what the terminal has left: the line fits its
        // width (80 columns leave a short bar), with an ETA.
        ProgressStyle::with_template(
            "{elapsed_precise} [{wide_bar}] {pos}/{len} eta {eta} · {msg}",
        )
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
