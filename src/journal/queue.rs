//! [`Queue`]: what the journal's threads hand its writer — a vector behind
//! a lock, whose pushers wake the writer only when it has asked for what
//! they bring.
//!
//! A channel wakes its receiver for every message that finds it waiting.
//! The writer, gathering a group, waits for *several* submitters: woken
//! by each, it would pay a context switch per submission (microseconds on
//! a VM, on the cores the submitters need). Here it says how many
//! waiting submitters it wants ([`Queue::take`]), and only the pusher that
//! makes the count wakes it.

use crate::sync::{Condvar, Mutex};
use std::time::Instant;

/// A queue of `T` from many threads to one.
pub(super) struct Queue<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

struct State<T> {
    items: Vec<T>,
    /// Items among `items` whose pusher waits for an answer.
    waiters: usize,
    /// What the taker waits for: `None` when it does not wait; `Some(0)`:
    /// any item; `Some(n)`: `n` waiters.
    want: Option<usize>,
    /// No more items: the pushers are gone, or the taker is.
    closed: bool,
}

/// What [`Queue::take`] found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Taken {
    /// What it asked for (or more), or some items at the deadline.
    Items,
    /// Nothing by the deadline.
    Timeout,
    /// Closed, and nothing left.
    Closed,
}

impl<T> Queue<T> {
    pub(super) fn new() -> Self {
        Queue {
            state: Mutex::new(State {
                items: Vec::new(),
                waiters: 0,
                want: None,
                closed: false,
            }),
            ready: Condvar::new(),
        }
    }

    /// Queues `item` (`waits`: its pusher waits for an answer, and
    /// counts toward what the taker wants). Hands it back if the queue is
    /// closed.
    pub(super) fn push(&self, item: T, waits: bool) -> Result<(), T> {
        let mut s = self.state.lock();
        if s.closed {
            return Err(item);
        }
        s.items.push(item);
        s.waiters += usize::from(waits);
        let wake = match s.want {
            Some(0) => true,
            Some(n) => s.waiters >= n,
            None => false,
        };
        if wake {
            s.want = None;
            drop(s);
            self.ready.notify_one();
        }
        Ok(())
    }

    /// Closes the queue: later pushes fail, and the taker, once it has
    /// taken what is left, finds it closed. Returns what was left.
    pub(super) fn close(&self) -> Vec<T> {
        let mut s = self.state.lock();
        s.closed = true;
        s.waiters = 0;
        let rest = std::mem::take(&mut s.items);
        drop(s);
        self.ready.notify_one();
        rest
    }

    /// Marks the queue closed, leaving its items to be taken: the pushers
    /// are gone.
    pub(super) fn hang_up(&self) {
        self.state.lock().closed = true;
        self.ready.notify_one();
    }

    /// Appends the queued items to `out` once `waiters` pushers that wait
    /// are queued (with `waiters` 0: once anything is), or at `deadline`
    /// (whatever is queued then), or when closed.
    pub(super) fn take(
        &self,
        out: &mut Vec<T>,
        waiters: usize,
        deadline: Option<Instant>,
    ) -> Taken {
        let mut s = self.state.lock();
        loop {
            let enough = if waiters == 0 {
                !s.items.is_empty()
            } else {
                s.waiters >= waiters
            };
            if enough || s.closed {
                break;
            }
            s.want = Some(waiters);
            let timed_out = match deadline {
                Some(at) => self.ready.wait_until(&mut s, at).timed_out(),
                None => {
                    self.ready.wait(&mut s);
                    false
                }
            };
            s.want = None;
            if timed_out {
                break;
            }
        }
        if s.items.is_empty() {
            return if s.closed {
                Taken::Closed
            } else {
                Taken::Timeout
            };
        }
        s.waiters = 0;
        if out.is_empty() {
            std::mem::swap(out, &mut s.items);
        } else {
            out.append(&mut s.items);
        }
        Taken::Items
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn the_taker_is_woken_by_the_pusher_that_makes_its_count() {
        let q = Arc::new(Queue::new());
        q.push(1, true).unwrap();
        let pusher = {
            let q = Arc::clone(&q);
            std::thread::spawn(move || {
                q.push(2, false).unwrap();
                q.push(3, true).unwrap();
                q.push(4, true).unwrap();
            })
        };
        let mut out = Vec::new();
        // Three waiting pushers (1, 3, 4); the deadline is far.
        let far = Instant::now() + Duration::from_secs(60);
        assert_eq!(q.take(&mut out, 3, Some(far)), Taken::Items);
        pusher.join().unwrap();
        q.take(&mut out, 0, Some(Instant::now()));
        assert_eq!(out, [1, 2, 3, 4]);
    }

    #[test]
    fn a_deadline_takes_what_there_is_and_a_closed_queue_says_so() {
        let q = Queue::new();
        let mut out = Vec::new();
        assert_eq!(q.take(&mut out, 0, Some(Instant::now())), Taken::Timeout);
        q.push(7, true).unwrap();
        assert_eq!(q.take(&mut out, 5, Some(Instant::now())), Taken::Items);
        assert_eq!(out, [7]);
        q.push(8, false).unwrap();
        q.hang_up();
        out.clear();
        assert_eq!(q.take(&mut out, 0, None), Taken::Items);
        assert_eq!(q.take(&mut out, 0, None), Taken::Closed);
        assert_eq!(q.push(9, false), Err(9));
        assert_eq!(q.close(), Vec::<i32>::new());
    }
}
