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
    thread: JoinHandle<(Vec<Sample>, Duration)>,
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
                    // The nodes' published counters and gauges, not
                    // `metrics()`: that takes every node's state lock (and
                    // copies its latency histogram), and under load one
                    // descheduled lock holder delays the whole snapshot.
                    let nodes = handle.node_status();
                    let counts = handle.state_counts();
                    let s = Sample::live(start.elapsed().as_secs_f64(), &nodes, counts.failed);
                    let done = s.completed + counts.failed + counts.cancelled;
                    let restarts: u64 = nodes.iter().map(|n| n.restarts).sum();
                    let moved: u64 = nodes.iter().map(|n| n.migrations_in).sum();
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
                        "{rate:.0}/s · {} failed · {restarts} restarts · {moved} moved",
                        counts.failed
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
                    // No next tick within the clock's range (an interval
                    // of centuries): wait for the end of the run.
                    let Some(tick) = next_tick(next, Instant::now(), interval) else {
                        let _ = stopped.recv();
                        return (samples, interval);
                    };
                    next = tick;
                    match stopped.recv_deadline(next) {
                        Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                        _ => return (samples, interval),
                    }
                }
            })
            .map_err(|e| CliError::Other(format!("cannot start the sampler thread: {e}")))?;
        Ok(Sampler { stop, thread })
    }

    /// Stops it: the snapshots, oldest first, and the interval in force
    /// at the end.
    pub(super) fn finish(self, asked: Duration) -> (Vec<Sample>, Duration) {
        let _ = self.stop.send(());
        self.thread.join().unwrap_or((Vec::new(), asked))
    }
}

/// The first tick of the clock `next + k × interval` (k ≥ 1) after `now`:
/// ticks already past are skipped, not made up. `None` past the range of
/// `Instant`.
fn next_tick(next: Instant, now: Instant, interval: Duration) -> Option<Instant> {
    let interval = interval.max(Duration::from_nanos(1));
    let tick = next.checked_add(interval)?;
    if tick > now {
        return Some(tick);
    }
    let behind = now.duration_since(tick).as_nanos() / interval.as_nanos();
    let skip = u32::try_from(behind).unwrap_or(u32::MAX).saturating_add(1);
    tick.checked_add(interval.checked_mul(skip)?)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_keep_to_the_clock_and_skip_the_ones_missed() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // On time: the next tick, whatever the snapshot took.
        assert_eq!(next_tick(t0, t0 + ms(7), ms(20)), Some(t0 + ms(20)));
        // 55 ms late: the ticks at 20 and 40 are gone; the next is at 60.
        assert_eq!(next_tick(t0, t0 + ms(55), ms(20)), Some(t0 + ms(60)));
        // Exactly on a tick: the one after it.
        assert_eq!(next_tick(t0, t0 + ms(40), ms(20)), Some(t0 + ms(60)));
        // An interval past the clock's range: no tick, no panic.
        assert_eq!(next_tick(t0, t0, Duration::MAX), None);
    }
}
