//! What users touch: [`Builder`], [`Runtime`], [`RuntimeHandle`],
//! [`TaskHandle`].
//!
//! actix stays inside: the runtime starts its own actix system on a
//! background thread, and no actix type appears in this API.

use crate::config::RuntimeConfig;
use crate::metrics::Metrics;
use std::time::Duration;

mod admission;
mod builder;
mod core;
mod fork_host;
mod handle;
mod shutdown;

pub use builder::Builder;
pub use handle::RuntimeHandle;
pub use shutdown::{ShutdownReport, UnfinishedTask};

/// A running allot runtime. Dropping it is [`shutdown_now`](Runtime::shutdown_now)
/// with the unfinished tasks discarded (their handles see
/// [`TaskError::Cancelled`]).
#[derive(Debug)]
pub struct Runtime {
    handle: RuntimeHandle,
}

impl Runtime {
    /// A [`Builder`] with every default.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// A [`Builder`] set from a [`RuntimeConfig`].
    pub fn builder_from(config: &RuntimeConfig) -> Builder {
        Builder::from_config(config)
    }

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
