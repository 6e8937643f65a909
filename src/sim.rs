//! Simulators and instance files for measuring the allocation policies.
//!
//! - [`openb`]: the Alibaba openb GPU cluster trace loader;
//! - [`cluster`]: the FGD paper's evaluation method on such a trace;
//! - [`gap_file`]: the OR-Library GAP instance format;
//! - [`gap_gen`]: seeded GAP instances of types C, D and E;
//! - [`makespan_gen`]: seeded P‖Cmax instance families and their lower
//!   bound;
//! - [`bandit`]: UCB against an oracle that knows node speeds;
//! - [`scale`]: clusters and workloads of any size generated from a trace,
//!   for measuring how the replay scales.
//!
//! Everything here is plain, deterministic Rust on top of [`crate::policy`]:
//! no actors, no threads.
//!
//! Each item has one path, through its module: `sim::openb::Trace`,
//! `sim::cluster::simulate`, `sim::bandit::run_bandit`. This module
//! re-exports nothing, so that a name says which simulator it belongs to.

pub mod bandit;
pub mod cluster;
pub mod gap_file;
pub mod gap_gen;
pub mod makespan_gen;
pub mod openb;
pub mod replay;
pub mod scale;
