//! The one lock facade: every lock in allot comes from here, so swapping
//! parking_lot for std or loom is a change to this file only.
//!
//! Rule: never hold a guard across an actor send or an `.await`.

pub(crate) use parking_lot::RwLock;
pub(crate) use parking_lot::{Condvar, Mutex, MutexGuard};
