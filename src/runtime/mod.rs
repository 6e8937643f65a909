//! What users touch: [`Builder`], [`Runtime`], [`RuntimeHandle`],
//! [`TaskHandle`].
//!
//! actix stays inside: the runtime starts its own actix system on a
//! background thread, and no actix type appears in this API.

mod admission;
mod builder;
mod core;
#[cfg(feature = "journal")]
mod durable;
mod fork_host;
mod handle;
mod inspect;
mod instance;
#[cfg(feature = "cluster")]
mod join;
#[cfg(feature = "journal")]
mod recovered;
mod shutdown;
mod system;

pub use builder::Builder;
#[cfg(feature = "dashboard")]
pub(crate) use core::Attached;
pub use handle::RuntimeHandle;
pub use instance::Runtime;
#[cfg(feature = "journal")]
pub use recovered::RecoveredTask;
pub use shutdown::{ShutdownReport, UnfinishedTask};
