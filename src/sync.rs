//! The one lock facade: every lock in allot comes from here, so swapping
//! parking_lot for std or loom is a change to this file only.
//!
//! Rule: never hold a guard across an actor send or an `.await`.

pub(crate) use parking_lot::RwLock;
pub(crate) use parking_lot::{Condvar, Mutex, MutexGuard};

/// Locks `m`, spinning a while before parking: for the locks of the data
/// path, held for well under a microsecond to a few microseconds by the
/// thread on the other core. Parking there costs a futex wait and a wake
/// (tens of microseconds on a VM), and once a thread is parked every other
/// locker parks too; spinning past a short hold avoids the convoy.
pub(crate) fn lock_spinning<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    for round in 0u32..24 {
        if let Some(g) = m.try_lock() {
            return g;
        }
        if round < 16 {
            for _ in 0..(1u32 << round.min(6)) {
                std::hint::spin_loop();
            }
        } else {
            std::thread::yield_now();
        }
    }
    m.lock()
}
