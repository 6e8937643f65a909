//! The one lock facade: every lock in allot comes from here, so swapping
//! parking_lot for std or loom is a change to this file only.
//!
//! Rule: never hold a guard across an actor send or an `.await`.
//!
//! Built with `RUSTFLAGS="--cfg loom"`, the locks, the condition variable,
//! the atomics of [`atomic`] and the spin loops here are loom's, for the
//! model checks of the lock-free core (`src/loom_models.rs`,
//! `src/node/loom_models.rs`). The modules those models exercise (the job,
//! the ledger, the node) take their atomics from [`atomic`]; the rest of the
//! crate keeps std's. Loom's types work only inside a loom model, so in that
//! configuration only the models run. The normal build is parking_lot and
//! std, unchanged.

#[cfg(not(loom))]
pub(crate) use parking_lot::RwLock;
#[cfg(not(loom))]
pub(crate) use parking_lot::{Condvar, Mutex, MutexGuard};

#[cfg(loom)]
pub(crate) use loom::thread_local;
#[cfg(loom)]
pub(crate) use model::{Condvar, Mutex, MutexGuard, RwLock};

/// The atomics of the modelled modules: std's, or loom's under `cfg(loom)`.
pub(crate) mod atomic {
    #[cfg(loom)]
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize};
    pub(crate) use std::sync::atomic::Ordering;
    #[cfg(not(loom))]
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize};
}

/// One pause of a spin loop; under loom, a yield to the model's scheduler
/// (a spinning thread makes no progress until another thread does).
#[inline]
fn pause() {
    #[cfg(not(loom))]
    std::hint::spin_loop();
    #[cfg(loom)]
    loom::hint::spin_loop();
}

/// Spins until `done()` holds or a bounded budget runs out (about 20 µs of
/// pauses, checking at least every four, then a few yields). Returns
/// whether `done()` held.
///
/// The checks stay close together because the typical wait is a handoff
/// from the other core: a pause costs ~30 ns on this VM, so an exponential
/// backoff to 64 pauses answered ~2 µs late, every time.
///
/// Under loom the budget is two checks with a yield between: the same
/// contract (it may give up before `done()` holds), few states to explore.
pub(crate) fn spin_until(mut done: impl FnMut() -> bool) -> bool {
    #[cfg(loom)]
    {
        if done() {
            return true;
        }
        pause();
        done()
    }
    #[cfg(not(loom))]
    {
        const PAUSES: u32 = 640;
        let (mut spent, mut step) = (0u32, 1u32);
        while spent < PAUSES {
            if done() {
                return true;
            }
            for _ in 0..step {
                pause();
            }
            spent += step;
            step = (step * 2).min(4);
        }
        for _ in 0..4 {
            if done() {
                return true;
            }
            std::thread::yield_now();
        }
        done()
    }
}

/// Locks `m`, spinning a while before parking: for the locks of the data
/// path, held for well under a microsecond to a few microseconds by the
/// thread on the other core. Parking there costs a futex wait and a wake
/// (tens of microseconds on a VM), and once a thread is parked every other
/// locker parks too; spinning past a short hold avoids the convoy.
pub(crate) fn lock_spinning<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    let mut guard = None;
    spin_until(|| {
        guard = m.try_lock();
        guard.is_some()
    });
    guard.unwrap_or_else(|| m.lock())
}

/// parking_lot's API on loom's primitives: `lock` without a `Result`,
/// `try_lock` giving an `Option`, a condition variable that waits on
/// `&mut MutexGuard`, and [`MutexGuard::unlocked`]. Poisoning is ignored,
/// as parking_lot has none.
#[cfg(loom)]
mod model {
    use std::fmt;
    use std::ops::{Deref, DerefMut};
    use std::sync::{PoisonError, TryLockError};
    use std::time::Duration;

    /// A loom mutex with parking_lot's API.
    pub(crate) struct Mutex<T> {
        inner: loom::sync::Mutex<T>,
    }

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex {
                inner: loom::sync::Mutex::new(value),
            }
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard {
                mutex: self,
                inner: Some(self.inner.lock().unwrap_or_else(PoisonError::into_inner)),
            }
        }

        pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            let inner = match self.inner.try_lock() {
                Ok(g) => g,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => return None,
            };
            Some(MutexGuard {
                mutex: self,
                inner: Some(inner),
            })
        }
    }

    impl<T: Default> Default for Mutex<T> {
        fn default() -> Self {
            Mutex::new(T::default())
        }
    }

    impl<T> fmt::Debug for Mutex<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Mutex").finish_non_exhaustive()
        }
    }

    /// Holds its mutex except while [`unlocked`](Self::unlocked) runs or a
    /// condition variable waits.
    pub(crate) struct MutexGuard<'a, T> {
        mutex: &'a Mutex<T>,
        inner: Option<loom::sync::MutexGuard<'a, T>>,
    }

    impl<T> MutexGuard<'_, T> {
        /// Lets go of the lock while `f` runs, then takes it again.
        pub(crate) fn unlocked<U>(guard: &mut Self, f: impl FnOnce() -> U) -> U {
            guard.inner = None;
            let out = f();
            guard.inner = Some(
                guard
                    .mutex
                    .inner
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner),
            );
            out
        }
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;

        fn deref(&self) -> &T {
            self.inner.as_ref().expect("the guard holds its lock")
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.inner.as_mut().expect("the guard holds its lock")
        }
    }

    impl<T> fmt::Debug for MutexGuard<'_, T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("MutexGuard").finish_non_exhaustive()
        }
    }

    /// Whether a timed wait ended by its timeout.
    #[derive(Debug)]
    pub(crate) struct WaitTimeoutResult(bool);

    impl WaitTimeoutResult {
        pub(crate) fn timed_out(&self) -> bool {
            self.0
        }
    }

    /// A loom condition variable with parking_lot's API.
    #[derive(Debug, Default)]
    pub(crate) struct Condvar {
        inner: loom::sync::Condvar,
    }

    impl Condvar {
        pub(crate) fn new() -> Self {
            Condvar::default()
        }

        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            let g = guard.inner.take().expect("the guard holds its lock");
            guard.inner = Some(self.inner.wait(g).unwrap_or_else(PoisonError::into_inner));
        }

        /// Loom has no clock: a timed wait never times out, so a model
        /// passes only if some thread notifies the waiter.
        pub(crate) fn wait_for<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            _timeout: Duration,
        ) -> WaitTimeoutResult {
            self.wait(guard);
            WaitTimeoutResult(false)
        }

        pub(crate) fn notify_one(&self) {
            self.inner.notify_one();
        }

        pub(crate) fn notify_all(&self) {
            self.inner.notify_all();
        }
    }

    /// A loom reader-writer lock with parking_lot's API.
    pub(crate) struct RwLock<T> {
        inner: loom::sync::RwLock<T>,
    }

    impl<T> RwLock<T> {
        pub(crate) fn new(value: T) -> Self {
            RwLock {
                inner: loom::sync::RwLock::new(value),
            }
        }

        pub(crate) fn read(&self) -> loom::sync::RwLockReadGuard<'_, T> {
            self.inner.read().unwrap_or_else(PoisonError::into_inner)
        }

        pub(crate) fn write(&self) -> loom::sync::RwLockWriteGuard<'_, T> {
            self.inner.write().unwrap_or_else(PoisonError::into_inner)
        }
    }

    impl<T> fmt::Debug for RwLock<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("RwLock").finish_non_exhaustive()
        }
    }
}
