//! [`Runtime`]: the owner of a running runtime, which stops it when dropped.

use super::handle::RuntimeHandle;
use super::shutdown::ShutdownReport;
use crate::metrics::Metrics;
use std::time::Duration;

/// A running allot runtime, built by a [`Builder`](super::Builder).
/// Dropping it is [`shutdown_now`](Runtime::shutdown_now)
/// with the unfinished tasks discarded (their handles see
/// [`TaskError::Cancelled`](crate::TaskError::Cancelled)).
#[derive(Debug)]
pub struct Runtime {
    pub(super) handle: RuntimeHandle,
}

impl Runtime {
    /// A handle for submitting work; clone it freely, send it anywhere.
    pub fn handle(&self) -> &RuntimeHandle {
        &self.handle
    }

    /// Drains every task, then stops. See [`RuntimeHandle::shutdown`].
    pub fn shutdown(self) -> Metrics {
        self.handle.shutdown()
    }

    /// Stops now and hands back every unfinished task. See
    /// [`RuntimeHandle::shutdown_now`].
    pub fn shutdown_now(self) -> ShutdownReport {
        self.handle.shutdown_now()
    }

    /// Drains for at most `timeout`, then stops and hands back what is
    /// unfinished. See [`RuntimeHandle::shutdown_timeout`].
    pub fn shutdown_timeout(self, timeout: Duration) -> ShutdownReport {
        self.handle.shutdown_timeout(timeout)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        drop(self.handle.shutdown_now());
    }
}
