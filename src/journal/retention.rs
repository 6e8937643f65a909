//! [`Unread`]: which finished, unread results a journal forgets, and when
//! (pure logic: the writer thread feeds it and writes what it says).
//!
//! Times are wall-clock milliseconds since the Unix epoch (they outlive
//! the process); sizes are the bytes of a task's two records.

use crate::journal_retention::JournalRetention;
use std::collections::{BTreeMap, HashMap};

/// The unread results of a journal with a retention limit, oldest first.
#[derive(Debug)]
pub(crate) struct Unread {
    max_age_ms: Option<u64>,
    max_bytes: Option<u64>,
    /// Finished, unread: (finished at, id) → bytes.
    by_age: BTreeMap<(u64, u64), u64>,
    /// Finished, unread: id → finished at.
    at: HashMap<u64, u64>,
    /// Unfinished: id → its submission's bytes (kept only with a size
    /// limit).
    pending: HashMap<u64, u64>,
    /// Sum over `by_age`.
    bytes: u64,
}

impl Unread {
    /// An index under `limits`; `None` when there is none (nothing to
    /// track).
    pub(crate) fn new(limits: &JournalRetention) -> Option<Unread> {
        if limits.is_unlimited() {
            return None;
        }
        Some(Unread {
            max_age_ms: limits
                .max_age
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            max_bytes: limits.max_bytes,
            by_age: BTreeMap::new(),
            at: HashMap::new(),
            pending: HashMap::new(),
            bytes: 0,
        })
    }

    /// Task `id`'s submission, of `bytes`, is journalled.
    pub(crate) fn accepted(&mut self, id: u64, bytes: u64) {
        if self.max_bytes.is_some() {
            self.pending.insert(id, bytes);
        }
    }

    /// Task `id`'s outcome, of `bytes`, was journalled at `at_ms`.
    pub(crate) fn finished(&mut self, id: u64, at_ms: u64, bytes: u64) {
        let total = bytes + self.pending.remove(&id).unwrap_or(0);
        self.forgotten(id);
        self.by_age.insert((at_ms, id), total);
        self.at.insert(id, at_ms);
        self.bytes += total;
    }

    /// Task `id`'s records went (its outcome was read).
    pub(crate) fn forgotten(&mut self, id: u64) {
        self.pending.remove(&id);
        if let Some(at) = self.at.remove(&id) {
            if let Some(b) = self.by_age.remove(&(at, id)) {
                self.bytes -= b;
            }
        }
    }

    /// The results to forget at `now_ms`, oldest first: those past the
    /// age limit, then the oldest until the rest fit the size limit. They
    /// are no longer tracked.
    pub(crate) fn expire(&mut self, now_ms: u64) -> Vec<u64> {
        let mut out = Vec::new();
        while let Some((&(at, id), &b)) = self.by_age.first_key_value() {
            let too_old = self
                .max_age_ms
                .is_some_and(|max| now_ms.saturating_sub(at) >= max);
            let too_big = self.max_bytes.is_some_and(|max| self.bytes > max);
            if !too_old && !too_big {
                break;
            }
            self.by_age.pop_first();
            self.at.remove(&id);
            self.bytes -= b;
            out.push(id);
        }
        out
    }

    /// When the oldest result passes the age limit, if there is one.
    pub(crate) fn next_expiry_ms(&self) -> Option<u64> {
        let max = self.max_age_ms?;
        let (&(at, _), _) = self.by_age.first_key_value()?;
        Some(at.saturating_add(max))
    }

    /// Bytes of unread results.
    #[cfg(test)]
    fn bytes(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits(age_ms: Option<u64>, bytes: Option<u64>) -> Unread {
        Unread::new(&JournalRetention {
            max_age: age_ms.map(Duration::from_millis),
            max_bytes: bytes,
        })
        .unwrap()
    }

    #[test]
    fn no_limit_tracks_nothing() {
        assert!(Unread::new(&JournalRetention::default()).is_none());
    }

    #[test]
    fn results_past_the_age_limit_go_oldest_first_and_no_sooner() {
        let mut u = limits(Some(100), None);
        u.finished(5, 1_000, 10);
        u.finished(2, 1_050, 10);
        u.finished(9, 1_200, 10);
        assert_eq!(u.next_expiry_ms(), Some(1_100));
        assert!(u.expire(1_099).is_empty());
        assert_eq!(u.expire(1_100), vec![5]);
        assert_eq!(u.expire(1_250), vec![2]);
        assert_eq!(u.next_expiry_ms(), Some(1_300));
        assert_eq!(u.expire(10_000), vec![9]);
        assert_eq!(u.next_expiry_ms(), None);
    }

    #[test]
    fn over_the_size_limit_the_oldest_go_until_the_rest_fit() {
        let mut u = limits(None, Some(100));
        u.accepted(1, 10);
        u.accepted(2, 10);
        u.accepted(3, 10);
        u.finished(1, 1, 30);
        u.finished(2, 2, 30);
        assert!(u.expire(3).is_empty(), "80 bytes fit");
        u.finished(3, 3, 30);
        assert_eq!(u.bytes(), 120);
        assert_eq!(u.expire(3), vec![1]);
        assert_eq!(u.bytes(), 80);
        // Submissions not finished do not count.
        u.accepted(4, 1_000);
        assert!(u.expire(4).is_empty());
        assert_eq!(u.next_expiry_ms(), None);
    }

    #[test]
    fn a_result_read_is_no_longer_counted() {
        let mut u = limits(Some(100), Some(50));
        u.finished(1, 0, 40);
        u.finished(2, 10, 40);
        u.forgotten(1);
        assert_eq!(u.bytes(), 40);
        assert!(u.expire(50).is_empty());
        assert_eq!(u.next_expiry_ms(), Some(110));
        u.forgotten(2);
        assert_eq!(u.bytes(), 0);
        assert_eq!(u.next_expiry_ms(), None);
        // Forgetting twice, or what was never there, is harmless.
        u.forgotten(2);
        u.forgotten(77);
        assert_eq!(u.bytes(), 0);
    }
}
