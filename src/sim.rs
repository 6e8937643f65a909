//! Simulators and instance files for measuring the allocation policies.
//!
//! - [`openb`]: the Alibaba openb GPU cluster trace loader;
//! - [`cluster`]: the FGD paper's evaluation method on such a trace;
//! - [`gap_file`]: the OR-Library GAP instance format;
//! - [`makespan_gen`]: seeded P‖Cmax instance families and their lower
//!   bound;
//! - [`bandit`]: UCB against an oracle that knows node speeds.
//!
//! Everything here is plain, deterministic Rust on top of [`crate::policy`]:
//! no actors, no threads.

pub mod bandit;
pub mod cluster;
pub mod gap_file;
pub mod makespan_gen;
pub mod openb;
pub mod replay;

pub use bandit::{run_bandit, BanditConfig, BanditResult, Slowdown};
pub use cluster::{simulate, FgdConfig, FgdRun, Scenario, SimError};
pub use gap_file::{
    parse_gap, parse_optima, read_gap, GapFileError, GapFileErrorKind, KnownOptimum,
};
pub use makespan_gen::{lower_bound, Family};
pub use openb::{Trace, TraceError};
