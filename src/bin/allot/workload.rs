//! The workload file (`.toml` or `.json`): a runtime config plus a task mix.
//!
//! ```toml
//! name = "mixed"                  # optional; the file stem otherwise
//!
//! [runtime]                       # an allot::RuntimeConfig, verbatim
//! policy = "least-loaded"
//! discipline = "fcfs"
//! rng_seed = 42
//!
//! [nodes]                         # shorthand: `count` copies of `template`
//! count = 4                       # (or `[[nodes]]` entries, or `[[runtime.nodes]]`)
//! template = { name = "cpu", slots = 2, capacity = { cpu_milli = 4000 } }
//!
//! [tasks]
//! count = 2000
//! arrival_rate = 0                # tasks/s; 0 = as fast as possible
//!
//! [[tasks.kinds]]
//! kind = "inference"
//! weight = 3
//! cost = { dist = "exponential", mean = 0.001 }
//! ```
//!
//! Unknown fields are errors everywhere. Every number is checked against
//! a documented range ([`ranges::check_ranges`], `docs/guide.md`) so that none
//! reaches arithmetic that overflows; checks that the runtime itself makes
//! (a negative or NaN cost, a zero timeout, feasibility of demands, zero
//! nodes or slots) are left to it, so the messages are the runtime's typed
//! errors.
//!
//! - [`model`]: the file's shape (nodes, the task mix, its kinds), with the
//!   bounds serde checks as it reads;
//! - [`cost`]: the cost distributions and their sampling;
//! - [`ranges`]: the documented range of every other number;
//! - [`file`](mod@file): reading and parsing a file, and errors that point into it.
//!
//! Each item is named through its module (`workload::file::load`), as in
//! `allot::sim`; this module re-exports nothing.

pub(crate) mod cost;
pub(crate) mod file;
pub(crate) mod model;
pub(crate) mod ranges;
#[cfg(test)]
mod tests;
