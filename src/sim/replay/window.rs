//! Allocation over a stretch of the replay, and the busiest stretch.

use super::outcome::{TimelinePoint, WindowAllocation};

/// The cluster's capacity, to turn allocations into shares.
#[derive(Clone, Copy, Debug)]
pub(super) struct Capacity {
    pub(super) gpu_milli: u64,
    pub(super) cpu_milli: u64,
}

/// Integrals of the timeline's step functions from 0 to each point.
struct Integrals {
    /// `(time, gpu, cpu, fragmentation, queue)` integrals up to `time`.
    at: Vec<(u64, f64, f64, f64, f64)>,
}

impl Integrals {
    fn new(timeline: &[TimelinePoint]) -> Self {
        let mut at = Vec::with_capacity(timeline.len() + 1);
        let mut acc = (0u64, 0.0, 0.0, 0.0, 0.0);
        at.push(acc);
        for w in timeline.windows(2) {
            let dt = (w[1].time - w[0].time) as f64;
            acc = (
                w[1].time,
                acc.1 + w[0].gpu_milli as f64 * dt,
                acc.2 + w[0].cpu_milli as f64 * dt,
                acc.3 + w[0].fragmentation_milli * dt,
                acc.4 + w[0].queued as f64 * dt,
            );
            at.push(acc);
        }
        Integrals { at }
    }

    /// The integrals from 0 to `t` (the state before the first point is an
    /// empty cluster).
    fn until(&self, timeline: &[TimelinePoint], t: u64) -> (f64, f64, f64, f64) {
        // The last point at or before `t`.
        let k = timeline.partition_point(|p| p.time <= t);
        if k == 0 {
            return (0.0, 0.0, 0.0, 0.0);
        }
        let p = &timeline[k - 1];
        // `at[k - 1]` is the integral up to the (k-1)-th point's time
        // (`at[0]` covers up to the first point: nothing before it).
        let base = if k == 1 {
            (0u64, 0.0, 0.0, 0.0, 0.0)
        } else {
            self.at[k - 1]
        };
        let dt = (t - p.time) as f64;
        (
            base.1 + p.gpu_milli as f64 * dt,
            base.2 + p.cpu_milli as f64 * dt,
            base.3 + p.fragmentation_milli * dt,
            base.4 + p.queued as f64 * dt,
        )
    }
}

/// Where the stretch of `length` seconds within `[0, end]` starts in which
/// the timeline's GPU integral is largest (the earliest of equals).
pub(super) fn busiest_start(timeline: &[TimelinePoint], end: u64, length: u64) -> u64 {
    let length = length.min(end);
    let ints = Integrals::new(timeline);
    let gpu = |s: u64| ints.until(timeline, s + length).0 - ints.until(timeline, s).0;
    // The GPU integral over [s, s + length] is piecewise linear in s, with
    // breaks where s or s + length meets a point: its maximum is at one.
    let last = end - length;
    let mut candidates: Vec<u64> = timeline
        .iter()
        .flat_map(|p| [p.time, p.time.saturating_sub(length)])
        .filter(|&s| s <= last)
        .chain([0, last])
        .collect();
    candidates.sort_unstable();
    candidates.dedup();
    let mut best = (0u64, gpu(0));
    for &s in &candidates {
        let v = gpu(s);
        if v > best.1 {
            best = (s, v);
        }
    }
    best.0
}

/// The averages over `[start, start + length]`.
pub(super) fn over(
    timeline: &[TimelinePoint],
    start: u64,
    length: u64,
    cap: Capacity,
) -> WindowAllocation {
    if length == 0 {
        return WindowAllocation::default();
    }
    let ints = Integrals::new(timeline);
    let (a, b) = (
        ints.until(timeline, start),
        ints.until(timeline, start + length),
    );
    let share = |x: f64, c: u64| {
        if c == 0 {
            0.0
        } else {
            x / (c as f64 * length as f64)
        }
    };
    WindowAllocation {
        start_s: start,
        end_s: start + length,
        gpu_allocation: share(b.0 - a.0, cap.gpu_milli),
        cpu_allocation: share(b.1 - a.1, cap.cpu_milli),
        fragmentation: share(b.2 - a.2, cap.gpu_milli),
        mean_queue: (b.3 - a.3) / length as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(time: u64, gpu_milli: u64, queued: usize) -> TimelinePoint {
        TimelinePoint {
            time,
            gpu_milli,
            cpu_milli: gpu_milli / 2,
            queued,
            fragmentation_milli: 0.0,
        }
    }

    const CAP: Capacity = Capacity {
        gpu_milli: 1_000,
        cpu_milli: 1_000,
    };

    #[test]
    fn the_whole_replay_averages_the_step_function() {
        // 0 until 10, 1000 from 10 to 20, 500 from 20 to the end at 40.
        let t = [p(10, 1_000, 0), p(20, 500, 2), p(30, 500, 0)];
        let w = over(&t, 0, 40, CAP);
        assert_eq!((w.start_s, w.end_s), (0, 40));
        assert!((w.gpu_allocation - (10_000.0 + 10_000.0) / 40_000.0).abs() < 1e-12);
        assert!((w.mean_queue - 20.0 / 40.0).abs() < 1e-12);
    }

    #[test]
    fn the_busy_window_is_the_stretch_with_the_most_gpu() {
        let t = [p(10, 1_000, 0), p(20, 500, 0), p(30, 0, 0)];
        assert_eq!(busiest_start(&t, 100, 10), 10);
        let w = over(&t, 10, 10, CAP);
        assert!((w.gpu_allocation - 1.0).abs() < 1e-12);
        assert_eq!(busiest_start(&t, 100, 15), 10);
        let w = over(&t, 10, 15, CAP);
        assert_eq!((w.start_s, w.end_s), (10, 25));
        assert!((w.gpu_allocation - 12_500.0 / 15_000.0).abs() < 1e-12);
        assert_eq!(busiest_start(&t, 5, 10), 0);
        assert_eq!(over(&t, 0, 0, CAP), WindowAllocation::default());
    }
}
