//! Queue disciplines: the order in which waiting tasks are started.
//!
//! Pure logic, no actors. The supervisor's pending queue and every node's
//! local queue are a [`DisciplineQueue`] with the runtime's [`Discipline`].

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::str::FromStr;

/// The order in which waiting tasks start.
///
/// Ties are always broken by submission order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Discipline {
    /// First come, first served.
    #[default]
    Fcfs,
    /// Shortest job first, by [`TaskSpec::cost`](crate::TaskSpec::cost).
    Sjf,
    /// Highest [`TaskSpec::priority`](crate::TaskSpec::priority) first.
    Priority,
    /// Earliest deadline first; tasks without a deadline go last.
    Edf,
}

impl fmt::Display for Discipline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Discipline::Fcfs => "fcfs",
            Discipline::Sjf => "sjf",
            Discipline::Priority => "priority",
            Discipline::Edf => "edf",
        })
    }
}

/// An unknown discipline name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownDiscipline(pub String);

impl fmt::Display for UnknownDiscipline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown queue discipline `{}` (expected fcfs, sjf, priority or edf)",
            self.0
        )
    }
}

impl std::error::Error for UnknownDiscipline {}

impl FromStr for Discipline {
    type Err = UnknownDiscipline;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "fcfs" | "fifo" => Ok(Discipline::Fcfs),
            "sjf" => Ok(Discipline::Sjf),
            "priority" => Ok(Discipline::Priority),
            "edf" => Ok(Discipline::Edf),
            _ => Err(UnknownDiscipline(s.to_owned())),
        }
    }
}

/// What a discipline needs to know about a queued item.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct OrderKey {
    /// Submission sequence number (unique).
    pub(crate) seq: u64,
    /// Estimated cost, finite and >= 0.
    pub(crate) cost: f64,
    /// Larger first.
    pub(crate) priority: i32,
    /// Absolute deadline in nanoseconds since the runtime started.
    pub(crate) deadline_nanos: Option<u64>,
}

impl Discipline {
    /// A key that sorts ascending in start order.
    fn sort_key(self, key: &OrderKey) -> (u64, u64) {
        let primary = match self {
            Discipline::Fcfs => 0,
            // Non-negative finite floats order like their bit patterns.
            Discipline::Sjf => key.cost.max(0.0).to_bits(),
            Discipline::Priority => (i64::from(i32::MAX) - i64::from(key.priority)) as u64,
            Discipline::Edf => key.deadline_nanos.unwrap_or(u64::MAX),
        };
        (primary, key.seq)
    }
}

/// A queue that pops in [`Discipline`] order and can also give up its least
/// urgent items (for migration).
#[derive(Debug)]
pub(crate) enum DisciplineQueue<T> {
    Fifo(VecDeque<T>),
    Ordered(Discipline, BTreeMap<(u64, u64), T>),
}

impl<T> DisciplineQueue<T> {
    pub(crate) fn new(discipline: Discipline) -> Self {
        match discipline {
            Discipline::Fcfs => DisciplineQueue::Fifo(VecDeque::new()),
            other => DisciplineQueue::Ordered(other, BTreeMap::new()),
        }
    }

    #[cfg(test)]
    pub(crate) fn push(&mut self, key: OrderKey, item: T) {
        self.push_with(item, |_| key);
    }

    /// [`push`](Self::push), computing the key from the item only if the
    /// discipline orders by it (FCFS does not).
    #[inline]
    pub(crate) fn push_with(&mut self, item: T, key: impl FnOnce(&T) -> OrderKey) {
        match self {
            DisciplineQueue::Fifo(q) => q.push_back(item),
            DisciplineQueue::Ordered(d, map) => {
                map.insert(d.sort_key(&key(&item)), item);
            }
        }
    }

    /// Pushes every item of `items`, oldest first, leaving it empty (with
    /// some capacity). Into an empty FCFS queue this trades buffers instead
    /// of moving items.
    pub(crate) fn append_with(&mut self, items: &mut Vec<T>, key: impl Fn(&T) -> OrderKey) {
        match self {
            DisciplineQueue::Fifo(q) if q.is_empty() => {
                let emptied = std::mem::replace(q, VecDeque::from(std::mem::take(items)));
                *items = Vec::from(emptied);
            }
            DisciplineQueue::Fifo(q) => q.extend(items.drain(..)),
            DisciplineQueue::Ordered(d, map) => {
                for item in items.drain(..) {
                    map.insert(d.sort_key(&key(&item)), item);
                }
            }
        }
    }

    /// The most urgent item.
    pub(crate) fn pop(&mut self) -> Option<T> {
        match self {
            DisciplineQueue::Fifo(q) => q.pop_front(),
            DisciplineQueue::Ordered(_, map) => map.pop_first().map(|(_, v)| v),
        }
    }

    /// The item `k` places behind the most urgent one (`peek(0)` is what
    /// [`pop`](Self::pop) takes next).
    pub(crate) fn peek(&self, k: usize) -> Option<&T> {
        match self {
            DisciplineQueue::Fifo(q) => q.get(k),
            DisciplineQueue::Ordered(_, map) => map.values().nth(k),
        }
    }

    /// The place of the first item that `is` picks, in start order (0:
    /// popped next). Walks the queue: for the state API, never the data
    /// path.
    pub(crate) fn position(&self, mut is: impl FnMut(&T) -> bool) -> Option<usize> {
        match self {
            DisciplineQueue::Fifo(q) => q.iter().position(is),
            DisciplineQueue::Ordered(_, map) => map.values().position(&mut is),
        }
    }

    /// Every item, in start order.
    pub(crate) fn iter(&self) -> Box<dyn Iterator<Item = &T> + '_> {
        match self {
            DisciplineQueue::Fifo(q) => Box::new(q.iter()),
            DisciplineQueue::Ordered(_, map) => Box::new(map.values()),
        }
    }

    /// The least urgent item.
    pub(crate) fn pop_last(&mut self) -> Option<T> {
        match self {
            DisciplineQueue::Fifo(q) => q.pop_back(),
            DisciplineQueue::Ordered(_, map) => map.pop_last().map(|(_, v)| v),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            DisciplineQueue::Fifo(q) => q.len(),
            DisciplineQueue::Ordered(_, map) => map.len(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Gives back the memory of a burst: an empty queue whose buffer holds
    /// more than `above` items shrinks to `keep` (an ordered queue's tree
    /// frees its nodes as it empties, so only FCFS keeps a buffer).
    pub(crate) fn shrink_if_idle(&mut self, above: usize, keep: usize) {
        if let DisciplineQueue::Fifo(q) = self {
            if q.is_empty() && q.capacity() > above {
                q.shrink_to(keep);
            }
        }
    }

    /// Removes every item, in start order.
    pub(crate) fn drain_all(&mut self) -> Vec<T> {
        match self {
            DisciplineQueue::Fifo(q) => q.drain(..).collect(),
            DisciplineQueue::Ordered(_, map) => std::mem::take(map).into_values().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_fifo_queue_gives_back_a_bursts_buffer_and_keeps_a_small_one() {
        let mut q = DisciplineQueue::new(Discipline::Fcfs);
        for i in 0..50_000u64 {
            q.push_with(i, |_| unreachable!("FCFS needs no key"));
        }
        q.shrink_if_idle(16_384, 4_096);
        let DisciplineQueue::Fifo(inner) = &q else {
            unreachable!()
        };
        assert!(inner.capacity() >= 50_000, "not idle: kept");
        while q.pop().is_some() {}
        q.shrink_if_idle(16_384, 4_096);
        let DisciplineQueue::Fifo(inner) = &q else {
            unreachable!()
        };
        assert!(
            (4_096..16_384).contains(&inner.capacity()),
            "{}",
            inner.capacity()
        );
        // Below the threshold, nothing changes.
        let before = inner.capacity();
        q.shrink_if_idle(16_384, 1);
        let DisciplineQueue::Fifo(inner) = &q else {
            unreachable!()
        };
        assert_eq!(inner.capacity(), before);
    }

    fn key(seq: u64, cost: f64, priority: i32, deadline: Option<u64>) -> OrderKey {
        OrderKey {
            seq,
            cost,
            priority,
            deadline_nanos: deadline,
        }
    }

    /// Four tasks whose order differs under each discipline.
    fn sample_keys() -> [OrderKey; 4] {
        [
            key(0, 3.0, 1, Some(30)),
            key(1, 1.0, 5, None),
            key(2, 2.0, 5, Some(10)),
            key(3, 1.0, -2, Some(20)),
        ]
    }

    const ALL: [Discipline; 4] = [
        Discipline::Fcfs,
        Discipline::Sjf,
        Discipline::Priority,
        Discipline::Edf,
    ];

    fn order(d: Discipline, keys: &[OrderKey]) -> Vec<u64> {
        let mut q = DisciplineQueue::new(d);
        for k in keys {
            q.push(*k, k.seq);
        }
        std::iter::from_fn(|| q.pop()).collect()
    }

    #[test]
    fn each_discipline_pops_in_its_order_with_ties_by_submission() {
        let keys = sample_keys();
        assert_eq!(order(Discipline::Fcfs, &keys), vec![0, 1, 2, 3]);
        assert_eq!(order(Discipline::Sjf, &keys), vec![1, 3, 2, 0]);
        assert_eq!(order(Discipline::Priority, &keys), vec![1, 2, 0, 3]);
        assert_eq!(order(Discipline::Edf, &keys), vec![2, 3, 0, 1]);
    }

    #[test]
    fn pop_last_gives_the_least_urgent() {
        let mut q = DisciplineQueue::new(Discipline::Sjf);
        for (i, c) in [5.0, 1.0, 9.0].into_iter().enumerate() {
            q.push(key(i as u64, c, 0, None), i);
        }
        assert_eq!(q.pop_last(), Some(2));
        assert_eq!(q.pop(), Some(1));
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn peek_k_is_the_item_the_kth_next_pop_takes() {
        let keys = sample_keys();
        for d in ALL {
            let mut q = DisciplineQueue::new(d);
            for k in &keys {
                q.push(*k, k.seq);
            }
            let peeked: Vec<u64> = (0..keys.len()).map(|k| *q.peek(k).unwrap()).collect();
            assert_eq!(q.peek(keys.len()), None);
            assert_eq!(peeked, order(d, &keys), "{d:?}");
        }
    }

    #[test]
    fn appending_keeps_each_disciplines_order_and_empties_the_source() {
        let keys = sample_keys();
        for d in ALL {
            // Into an empty queue, then into a non-empty one.
            let mut q = DisciplineQueue::new(d);
            let mut first: Vec<OrderKey> = keys[..2].to_vec();
            q.append_with(&mut first, |k| *k);
            assert!(first.is_empty());
            let mut rest: Vec<OrderKey> = keys[2..].to_vec();
            q.append_with(&mut rest, |k| *k);
            assert!(rest.is_empty());
            let got: Vec<u64> = std::iter::from_fn(|| q.pop()).map(|k| k.seq).collect();
            assert_eq!(got, order(d, &keys), "{d:?}");
        }
    }

    #[test]
    fn names_parse() {
        assert_eq!("EDF".parse::<Discipline>().unwrap(), Discipline::Edf);
        assert!("lifo".parse::<Discipline>().is_err());
    }
}
