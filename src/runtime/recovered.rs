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
    /// recorded one), or runs again now. A task whose last journalled
    /// attempt used up its retry budget counts as finished too: it failed
    /// at the restart with that attempt lost
    /// ([`AttemptFailure::NodeLost`](crate::AttemptFailure::NodeLost)).
    pub finished: bool,
    /// The name of the node its last journalled attempt started on —
    /// where it was when the earlier process ended, if it had not
    /// finished. `None` if no attempt was journalled. A first attempt's
    /// record may lag by up to 100 ms (see `docs/semantics.md`).
    pub node: Option<String>,
    /// Attempts journalled as started before the restart: its next
    /// attempt has this number, and counts against its retry budget
    /// ([`TaskSpec::max_retries`](crate::TaskSpec::max_retries)) after them.
    /// An attempt on a worker's node (cluster mode) is not counted: it may
    /// still run there, and the task takes it up again under its number.
    pub attempts: u32,
    /// Its outcome, encoded.
    pub handle: TaskHandle<Vec<u8>>,
}

impl fmt::Debug for RecoveredTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecoveredTask")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("finished", &self.finished)
            .field("node", &self.node)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}
