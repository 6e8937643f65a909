//! What users touch: [`Builder`], [`Runtime`], [`RuntimeHandle`],
//! [`TaskHandle`].
//!
//! actix stays inside: the runtime starts its own actix system on a
//! background thread, and no actix type appears in this API.

mod admission;
mod builder;
mod core;
mod fork_host;
mod handle;
mod instance;
mod shutdown;
mod system;

pub use builder::Builder;
pub use handle::RuntimeHandle;
pub use instance::Runtime;
pub use shutdown::{ShutdownReport, UnfinishedTask};
