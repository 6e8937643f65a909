//! What a job needs to run on a node in another process: the call it
//! sends ([`RemoteCall`]), the reply it gets ([`RemoteReply`]), and the
//! link that carries them ([`RemoteLink`], implemented by cluster mode).

// Without the `cluster` feature nothing implements the link yet.
#![cfg_attr(not(feature = "cluster"), allow(dead_code))]

use crate::ids::TaskId;
use std::time::Duration;

/// One attempt of a named task, as sent to a remote node.
pub(crate) struct RemoteCall<'a> {
    pub(crate) task: TaskId,
    pub(crate) attempt: u32,
    /// The registered function's name.
    pub(crate) name: &'a str,
    /// The encoded arguments.
    pub(crate) args: &'a [u8],
    /// The attempt's timeout, for the worker to enforce as well.
    pub(crate) timeout: Option<Duration>,
    /// Whether the attempt was abandoned (cancelled, timed out, its node
    /// taken down) while the link waits for its reply.
    pub(crate) abandoned: &'a (dyn Fn() -> bool + Sync),
}

impl std::fmt::Debug for RemoteCall<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteCall")
            .field("task", &self.task)
            .field("attempt", &self.attempt)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// How a remote attempt ended, as the link saw it.
#[derive(Debug)]
pub(crate) enum RemoteReply {
    /// The encoded value.
    Value(Vec<u8>),
    /// The function returned an error (its `Display`).
    Error(String),
    /// The function panicked (the message).
    Panicked(String),
    /// The attempt ran past its timeout on the worker.
    TimedOut,
    /// The worker lost the attempt (its node there failed).
    Lost,
    /// The attempt was abandoned here before a reply came: no outcome.
    Abandoned,
}

/// Carries attempts to a node that runs in another process and waits for
/// their replies. Blocking: an executor of the proxy node calls it in
/// place of running the task's code, so timeouts, cancels, eviction and
/// the ledger treat a remote attempt as they treat a local one.
pub(crate) trait RemoteLink: Send + Sync + std::fmt::Debug + 'static {
    /// Sends `call` and waits for its reply, or until the attempt is
    /// abandoned (checked at least once per heartbeat interval).
    fn call(&self, call: RemoteCall<'_>) -> RemoteReply;

    /// How long the remote node has been silent (no heartbeat) — counted
    /// from its node's latest (re)start at most.
    fn silent_for(&self) -> Duration;

    /// The node is starting a new incarnation: its silence counts from now.
    fn restarted(&self);

    /// Whether the remote node's worker said it is leaving.
    fn departed(&self) -> bool;
}

/// The wire form of a named task's work: what a [`RemoteLink`] sends, and
/// how the reply's bytes become the task's value.
pub(crate) trait RemoteForm<T>: Send + Sync {
    /// The registered function's name.
    fn name(&self) -> &str;
    /// The encoded arguments.
    fn args(&self) -> &[u8];
    /// Decodes a remote attempt's value.
    fn decode(&self, bytes: &[u8]) -> Result<T, crate::spec::BoxError>;
    /// Encodes a value (for the journal); `None` if it does not encode.
    fn encode(&self, value: &T) -> Option<Vec<u8>>;
}
