//! Packing what queues up into messages: a sender keeps at most
//! [`IN_FLIGHT`] messages unacknowledged by the server; items offered
//! meanwhile wait and go together in the next message. A lone item is sent
//! at once by whoever offers it (no hand-off to another task or thread);
//! a flood shares messages.

use crate::sync::Mutex;
use std::collections::VecDeque;

/// Messages one packer keeps unacknowledged by the server. One packs the
/// most (measured with `allot bench --nats`: 12–15 attempts a message and
/// 0.52–0.56× raw JetStream, against 8–11 and 0.43–0.50× with two).
pub(crate) const IN_FLIGHT: usize = 1;

/// Items waiting for a message, and how many messages are out.
#[derive(Debug)]
pub(crate) struct Packer<I> {
    state: Mutex<State<I>>,
    max_items: usize,
}

#[derive(Debug)]
struct State<I> {
    in_flight: usize,
    queue: VecDeque<I>,
}

impl<I> Packer<I> {
    /// A packer putting at most `max_items` (at least one) in a message.
    pub(crate) fn new(max_items: usize) -> Self {
        Packer {
            state: Mutex::new(State {
                in_flight: 0,
                queue: VecDeque::new(),
            }),
            max_items: max_items.max(1),
        }
    }

    /// Offers `item`. `Some(batch)`: the caller now holds a send and must
    /// send `batch`, then call [`next`](Self::next) until it returns
    /// `None`. `None`: the item waits for a send in progress to take it.
    pub(crate) fn offer(
        &self,
        item: I,
        limit: usize,
        size: impl Fn(&I) -> usize,
    ) -> Option<Vec<I>> {
        let mut st = self.state.lock();
        st.queue.push_back(item);
        if st.in_flight < IN_FLIGHT {
            st.in_flight += 1;
            Some(self.take(&mut st.queue, limit, size))
        } else {
            None
        }
    }

    /// A send ended: the next batch to send under it, or `None` (nothing
    /// waits, and the send is given back).
    pub(crate) fn next(&self, limit: usize, size: impl Fn(&I) -> usize) -> Option<Vec<I>> {
        let mut st = self.state.lock();
        if st.queue.is_empty() {
            st.in_flight -= 1;
            None
        } else {
            Some(self.take(&mut st.queue, limit, size))
        }
    }

    /// The oldest waiting items, up to `max_items` and `limit` bytes by
    /// `size` (at least one).
    fn take(&self, queue: &mut VecDeque<I>, limit: usize, size: impl Fn(&I) -> usize) -> Vec<I> {
        let mut out = Vec::new();
        let mut bytes = 0;
        while let Some(front) = queue.front() {
            let s = size(front);
            if !out.is_empty() && (out.len() >= self.max_items || bytes + s > limit) {
                break;
            }
            bytes += s;
            out.extend(queue.pop_front());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::{Packer, IN_FLIGHT};

    #[test]
    fn a_lone_item_goes_at_once_and_a_flood_packs() {
        let p = Packer::new(3);
        let one = |_: &u32| 10;
        // Free sends: each offer sends its own item.
        for k in 0..IN_FLIGHT as u32 {
            assert_eq!(p.offer(k, 100, one), Some(vec![k]));
        }
        // Every send out: offers wait.
        for k in 10..15 {
            assert_eq!(p.offer(k, 100, one), None);
        }
        // A send ends: the waiting items go, at most 3 a message.
        assert_eq!(p.next(100, one), Some(vec![10, 11, 12]));
        // Under the byte limit: 2 of 10 bytes fit in 25.
        assert_eq!(p.next(25, one), Some(vec![13, 14]));
        // Nothing waits: the sends are given back, one by one.
        for _ in 0..IN_FLIGHT {
            assert_eq!(p.next(100, one), None);
        }
        // An item larger than the limit still goes, alone.
        assert_eq!(p.offer(7, 5, one), Some(vec![7]));
        for k in 1..IN_FLIGHT as u32 {
            assert_eq!(p.offer(7 + k, 100, one), Some(vec![7 + k]));
        }
        assert_eq!(p.offer(20, 5, one), None);
        assert_eq!(p.offer(21, 5, one), None);
        assert_eq!(p.next(5, one), Some(vec![20]));
        assert_eq!(p.next(5, one), Some(vec![21]));
    }
}
