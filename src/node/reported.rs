//! [`Reported`]: what a remote node's worker last said of it in a
//! heartbeat, for the coordinator's views of that node.
//!
//! The coordinator keeps a remote node's figures from what it dispatched
//! and what came back: an attempt counts as running from the moment its
//! proxy executor hands it over until its result returns. That overstates
//! the worker's running attempts by what it holds queued (its prefetch)
//! and by attempts it no longer holds at all (its process restarted and
//! the broker has not delivered them again yet; a result that was lost).
//! The worker's heartbeat says what it runs; the views take the smaller
//! of the two as running and count the rest as queued, while the report
//! is fresh (younger than `max_age`, a few heartbeat intervals).

#![cfg_attr(not(feature = "cluster"), allow(dead_code))]

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// A remote node's last heartbeat figures (written by the transport's
/// heartbeat listener, read lock-free by the node's views).
#[derive(Debug)]
pub(crate) struct Reported {
    running: AtomicUsize,
    queued: AtomicUsize,
    /// `clock::now_nanos() + 1` at the last report; 0: none yet.
    at: AtomicU64,
    max_age: u64,
}

impl Reported {
    /// No report yet; a report older than `max_age` is not used.
    pub(crate) fn new(max_age: Duration) -> Self {
        Reported {
            running: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
            at: AtomicU64::new(0),
            max_age: u64::try_from(max_age.as_nanos()).unwrap_or(u64::MAX),
        }
    }

    /// The worker runs `running` attempts of this node and holds `queued`
    /// more.
    pub(crate) fn set(&self, running: usize, queued: usize) {
        self.running.store(running, Ordering::Relaxed);
        self.queued.store(queued, Ordering::Relaxed);
        self.at.store(
            crate::clock::now_nanos().saturating_add(1),
            Ordering::Release,
        );
    }

    /// The last report's `(running, queued)`, if fresh.
    pub(crate) fn fresh(&self) -> Option<(usize, usize)> {
        let at = self.at.load(Ordering::Acquire);
        if at == 0 || crate::clock::now_nanos().saturating_sub(at - 1) > self.max_age {
            return None;
        }
        Some((
            self.running.load(Ordering::Relaxed),
            self.queued.load(Ordering::Relaxed),
        ))
    }

    /// The coordinator's `(queued, running)` of the node, corrected by a
    /// fresh report: running is at most what the worker runs, the rest of
    /// what was handed over counts as queued.
    pub(crate) fn correct(&self, queued: usize, running: usize) -> (usize, usize) {
        match self.fresh() {
            Some((worker_running, _)) => {
                let r = running.min(worker_running);
                (queued + (running - r), r)
            }
            None => (queued, running),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_report_caps_running_and_moves_the_rest_to_queued() {
        crate::clock::init();
        let r = Reported::new(Duration::from_secs(60));
        assert_eq!(
            r.correct(4, 3),
            (4, 3),
            "no report: the coordinator's figures"
        );
        r.set(1, 2);
        assert_eq!(r.fresh(), Some((1, 2)));
        assert_eq!(r.correct(4, 3), (6, 1));
        // A worker that restarted runs nothing of what was handed over.
        r.set(0, 0);
        assert_eq!(r.correct(0, 3), (3, 0));
        // Never more running than the coordinator handed over.
        r.set(5, 0);
        assert_eq!(r.correct(0, 2), (0, 2));
    }

    #[test]
    fn a_stale_report_is_not_used() {
        crate::clock::init();
        let r = Reported::new(Duration::ZERO);
        r.set(0, 0);
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while r.fresh().is_some() {
            assert!(
                std::time::Instant::now() < until,
                "the report never went stale"
            );
            std::hint::spin_loop();
        }
        assert_eq!(r.correct(1, 3), (1, 3));
    }
}
