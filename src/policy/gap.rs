//! The generalized assignment problem (GAP): assign each task to one node;
//! task `i` on node `j` costs `c(j, i)` and uses `a(j, i)` of node `j`'s
//! capacity `b(j)`; minimise the total cost.
//!
//! - [`Gap`], its errors and solutions: the problem itself;
//! - the Lagrangian bound, the regret greedy and the local descent the
//!   solvers start from;
//! - branch-and-bound under the Lagrangian bound, for the exact solver and
//!   the hybrid's sub-problems.

mod branch_and_bound;
mod heuristics;
mod problem;

pub(crate) use branch_and_bound::branch_and_bound;
pub(crate) use heuristics::Lagrangian;
pub use problem::{Gap, GapError, GapSolution};
