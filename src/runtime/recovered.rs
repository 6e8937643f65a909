//! [`RecoveredTask`]: a task a journal gave back at build.

use crate::ids::TaskId;
use crate::task_handle::TaskHandle;
use std::fmt;

/// A task an earlier process journalled, given back by
/// [`RuntimeHandle::recovered`](crate::RuntimeHandle::recovered): its id there (task
/// ids continue across restarts), its function, and a handle to its
/// outcome — the recorded one if it had finished, else that of its run
/// again now. The value is encoded: decode it with the function's
/// [`NamedFn::decode`](crate::NamedFn::decode).
#[non_exhaustive]
pub struct RecoveredTask {
    /// The id `submit` gave it.
    pub id: TaskId,
    /// The function's name.
    pub name: String,
    /// Whether it had finished before the restart (its outcome is the
    /// recorded one), or runs again now.
    pub finished: bool,
    /// Its outcome, encoded.
    pub handle: TaskHandle<Vec<u8>>,
}

impl fmt::Debug for RecoveredTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecoveredTask")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}
