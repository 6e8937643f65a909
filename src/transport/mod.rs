//! Cluster mode's transport: NATS JetStream through `async-nats`.
//!
//! Files: [`config`] (`ClusterConfig`, plain data), [`wire`]
//! (subjects, batches, heartbeats), [`connect`] (connection and streams),
//! [`packer`] (what queues up goes in one message), [`publish`] (a
//! publish sent until the server holds it),
//! [`link`] (the coordinator's connection and each remote node's link).
//! The worker process's side is the `worker` module, a layer up: it runs a
//! runtime of its own.

mod config;
#[cfg(feature = "cluster")]
mod connect;
#[cfg(feature = "cluster")]
mod link;
#[cfg(feature = "cluster")]
mod packer;
#[cfg(feature = "cluster")]
mod publish;
// The state a coordinator's connection tasks and proxy executors share.
#[cfg(feature = "cluster")]
mod shared;
#[cfg(feature = "cluster")]
pub(crate) mod wire;

pub use crate::cluster_error::ClusterError;
pub use config::{ClusterConfig, TlsConfig};
#[cfg(feature = "cluster")]
pub(crate) use connect::{connect, ensure_streams};
#[cfg(feature = "cluster")]
pub(crate) use link::{batch_limit, Cluster, NodeLink, Recovery};
#[cfg(feature = "cluster")]
pub(crate) use packer::Packer;
#[cfg(feature = "cluster")]
pub(crate) use publish::{until_held, Published};
#[cfg(feature = "cluster")]
pub use wire::WireError;
