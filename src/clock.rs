//! The data path's clock: nanoseconds since a process-wide epoch.
//!
//! Every task is stamped when it is submitted and again when it ends (for
//! the latency histogram and timeouts), so the clock is read millions of
//! times a second. `quanta` reads the CPU's invariant time-stamp counter
//! where there is one (about 13 ns here, against about 35 ns for
//! `std::time::Instant::now` on this VM) and falls back to the OS clock
//! where there is not.

use std::sync::OnceLock;
use std::time::Duration;

struct Source {
    clock: quanta::Clock,
    epoch: u64,
    /// The wall-clock time at the epoch, to tell times in the state API.
    wall: std::time::SystemTime,
}

fn source() -> &'static Source {
    static SOURCE: OnceLock<Source> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let clock = quanta::Clock::new();
        let epoch = clock.raw();
        Source {
            clock,
            epoch,
            wall: std::time::SystemTime::now(),
        }
    })
}

/// The instant `timeout` from now, or `None` when that is past the
/// clock's range: a timeout that long (such as `Duration::MAX`, the usual
/// "wait for ever") is no deadline.
pub(crate) fn deadline_after(timeout: Duration) -> Option<std::time::Instant> {
    std::time::Instant::now().checked_add(timeout)
}

/// Calibrates the clock, if not done yet: call before the hot path starts.
pub(crate) fn init() {
    source();
}

/// Nanoseconds since the epoch (the first use of this clock).
pub(crate) fn now_nanos() -> u64 {
    let s = source();
    let raw = s.clock.raw().max(s.epoch);
    s.clock.delta_as_nanos(s.epoch, raw)
}

/// The wall-clock time of a reading of [`now_nanos`] (off by the two
/// clocks' drift since the epoch: for showing, not for ordering).
pub(crate) fn to_system(nanos: u64) -> std::time::SystemTime {
    source().wall + Duration::from_nanos(nanos)
}

/// The reading of [`now_nanos`] at wall-clock time `t` (0 before the epoch).
pub(crate) fn from_system(t: std::time::SystemTime) -> u64 {
    t.duration_since(source().wall)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The time from `earlier` to `later`, both from [`now_nanos`]; zero if
/// `later` is not later.
pub(crate) fn between(earlier: u64, later: u64) -> Duration {
    Duration::from_nanos(later.saturating_sub(earlier))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_moves_at_the_pace_of_the_os_clock() {
        // OS readings bracket ours, so a preemption only widens the bracket.
        let t0 = std::time::Instant::now();
        let a = now_nanos();
        let t1 = std::time::Instant::now();
        while t1.elapsed() < Duration::from_millis(30) {
            std::hint::spin_loop();
        }
        let t2 = std::time::Instant::now();
        let b = now_nanos();
        let t3 = std::time::Instant::now();
        let (ours, inner, outer) = (between(a, b), t2 - t1, t3 - t0);
        assert!(
            ours >= inner.mul_f64(0.95),
            "ours {ours:?} < inner {inner:?}"
        );
        assert!(
            ours <= outer.mul_f64(1.05),
            "ours {ours:?} > outer {outer:?}"
        );
        assert_eq!(between(b, a), Duration::ZERO);
    }
}
