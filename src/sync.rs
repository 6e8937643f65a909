//! The one lock facade: every lock in allot comes from here, so swapping
//! parking_lot for std or loom is a change to this file only.
//!
//! Rule: never hold a guard across an actor send or an `.await`.

pub(crate) use parking_lot::RwLock;
pub(crate) use parking_lot::{Condvar, Mutex, MutexGuard};

/// Spins until `done()` holds or a bounded budget runs out (about 20 µs of
/// pauses, checking at least every four, then a few yields). Returns
/// whether `done()` held.
///
/// The checks stay close together because the typical wait is a handoff
/// from the other core: a pause costs ~30 ns on this VM, so an exponential
/// backoff to 64 pauses answered ~2 µs late, every time.
pub(crate) fn spin_until(mut done: impl FnMut() -> bool) -> bool {
    const PAUSES: u32 = 640;
    let (mut spent, mut step) = (0u32, 1u32);
    while spent < PAUSES {
        if done() {
            return true;
        }
        for _ in 0..step {
            std::hint::spin_loop();
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
