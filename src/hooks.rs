//! The user's callbacks ([`Builder`](crate::Builder)'s `on_*` settings),
//! run where the runtime's own threads reach them, with panics contained.

use crate::ids::NodeId;
use crate::supervision::SupervisorEvent;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

type NodeHook = Arc<dyn Fn(NodeId) + Send + Sync>;
type EventHook = Arc<dyn Fn(&SupervisorEvent) + Send + Sync>;

/// Every hook set on a builder; cloned into the nodes and the supervisor.
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    pub(crate) executor_start: Option<NodeHook>,
    pub(crate) executor_stop: Option<NodeHook>,
    pub(crate) supervisor_event: Option<EventHook>,
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("executor_start", &self.executor_start.is_some())
            .field("executor_stop", &self.executor_stop.is_some())
            .field("supervisor_event", &self.supervisor_event.is_some())
            .finish()
    }
}

/// Runs a hook; a panic in it is logged and goes no further (it must not
/// take an executor or the supervisor with it).
fn contained(hook: &'static str, f: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(f)).is_err() {
        tracing::error!(hook, "hook.panicked");
    }
}

impl Hooks {
    /// On a new executor thread of `node`, before it runs anything.
    pub(crate) fn executor_started(&self, node: NodeId) {
        if let Some(h) = &self.executor_start {
            contained("on_executor_start", || h(node));
        }
    }

    /// On an executor thread of `node` that is about to exit.
    pub(crate) fn executor_stopped(&self, node: NodeId) {
        if let Some(h) = &self.executor_stop {
            contained("on_executor_stop", || h(node));
        }
    }

    /// On the supervisor's thread.
    pub(crate) fn supervisor_event(&self, event: SupervisorEvent) {
        if let Some(h) = &self.supervisor_event {
            contained("on_supervisor_event", || h(&event));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_panicking_hook_is_contained_and_the_others_still_run() {
        let stops = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&stops);
        let hooks = Hooks {
            executor_start: Some(Arc::new(|_| panic!("hook bug"))),
            executor_stop: Some(Arc::new(move |_| {
                seen.fetch_add(1, Ordering::Relaxed);
            })),
            supervisor_event: None,
        };
        hooks.executor_started(NodeId(0));
        hooks.executor_stopped(NodeId(0));
        hooks.supervisor_event(SupervisorEvent::NodeRetired { node: NodeId(0) });
        assert_eq!(stops.load(Ordering::Relaxed), 1);
    }
}
