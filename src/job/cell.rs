//! [`ResultCell`]: where a task's value waits for its handle, behind a
//! one-byte lock, with the waiter's wake-up.

use super::core::{JobCore, HAS_ERROR, TAKEN};
use crate::error::TaskError;
use crate::sync::atomic::Ordering;
use crate::sync::Mutex;
use std::sync::Arc;
use std::task::{Poll, Wake, Waker};
use std::time::Instant;

/// Wakes a thread blocked in [`ResultCell::take`].
pub(super) struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

thread_local! {
    static THREAD_WAKER: Waker = Waker::from(Arc::new(Unpark(std::thread::current())));
}

/// Looks at a result cell before parking on it.
pub(super) const SPIN_ROUNDS: u32 = 12;

/// Where a task's value waits for its handle. A failed outcome and the
/// waiter's waker live in the job's cold state, so the cell is just the
/// value behind a one-byte lock.
pub(crate) struct ResultCell<T> {
    pub(super) value: Mutex<Option<T>>,
}

impl<T> ResultCell<T> {
    pub(crate) fn new() -> Self {
        ResultCell {
            value: Mutex::new(None),
        }
    }

    pub(super) fn put(&self, core: &JobCore, value: T) {
        {
            let mut v = self.value.lock();
            debug_assert!(v.is_none() && !core.has(TAKEN), "outcome delivered twice");
            *v = Some(value);
        }
        core.wake_waiter();
    }

    /// Takes the outcome, waiting until `deadline` (forever if `None`).
    ///
    /// # Panics
    ///
    /// If the outcome was already taken.
    pub(crate) fn take(
        &self,
        core: &JobCore,
        deadline: Option<Instant>,
    ) -> Option<Result<T, TaskError>> {
        // Results often arrive within a microsecond or two when tasks are
        // short: look a few times before paying for a park and an unpark.
        for round in 0..SPIN_ROUNDS {
            if let Some(v) = self.try_take(core) {
                return Some(v);
            }
            if round < SPIN_ROUNDS / 2 {
                for _ in 0..(1 << round.min(6)) {
                    std::hint::spin_loop();
                }
            } else {
                std::thread::yield_now();
            }
        }
        loop {
            THREAD_WAKER.with(|w| core.register_waker(w));
            if let Some(v) = self.try_take(core) {
                return Some(v);
            }
            match deadline {
                None => std::thread::park(),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        core.clear_waker();
                        // One last look: it may have arrived meanwhile.
                        return self.try_take(core);
                    }
                    std::thread::park_timeout(d - now);
                }
            }
        }
    }

    pub(super) fn try_take(&self, core: &JobCore) -> Option<Result<T, TaskError>> {
        assert!(!core.has(TAKEN), "task outcome already taken");
        let value = self.value.lock().take();
        let out = match value {
            Some(v) => Some(Ok(v)),
            None => core.take_error().map(Err),
        };
        if out.is_some() {
            core.flags.fetch_or(TAKEN, Ordering::AcqRel);
        }
        out
    }

    pub(crate) fn poll(&self, core: &JobCore, waker: &Waker) -> Poll<Result<T, TaskError>> {
        if let Some(v) = self.try_take(core) {
            return Poll::Ready(v);
        }
        core.register_waker(waker);
        match self.try_take(core) {
            Some(v) => Poll::Ready(v),
            None => Poll::Pending,
        }
    }

    pub(crate) fn is_ready(&self, core: &JobCore) -> bool {
        self.value.lock().is_some() || core.has(HAS_ERROR)
    }
}
