//! The dashboard (feature `dashboard`): a small web page and JSON
//! endpoints served from inside the process, and `/metrics` in the
//! Prometheus text format.
//!
//! [`Builder::dashboard`](crate::Builder::dashboard) starts it with the
//! runtime; it reads the state API ([`RuntimeHandle::tasks`](crate::RuntimeHandle::tasks)
//! and friends) and nothing else, so when it is off the runtime pays
//! nothing, and when it is on it costs what its readers ask for. It runs
//! on a thread of its own (an actix-web server with one worker), stopped
//! by the runtime's shutdown. `docs/dashboard.md` documents the endpoints.

mod api;
mod prometheus;
mod server;

pub(crate) use server::start;
pub use server::DashboardConfig;
