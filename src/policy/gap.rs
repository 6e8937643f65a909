//! The generalized assignment problem (GAP): assign each task to one node;
//! task `i` on node `j` costs `c(j, i)` and uses `a(j, i)` of node `j`'s
//! capacity `b(j)`; minimise the total cost.
//!
//! - [`Gap`], its errors and solutions: the problem itself;
//! - a stronger bound for reports (knapsack sub-problems);
//! - the Lagrangian bound, the regret greedy and the local descent the
//!   solvers start from;
//! - branch-and-bound under the Lagrangian bound, for the exact solver and
//!   the hybrid's sub-problems;
//! - the heuristic solver (constructions, a penalty search with adaptive
//!   weights, exact re-optimisation of small parts) that the hybrid runs
//!   and the exact solver starts from.

mod bound;
mod branch_and_bound;
mod heuristics;
mod penalty;
mod problem;
mod search;

pub(crate) use branch_and_bound::branch_and_bound;
pub(crate) use heuristics::Lagrangian;
pub use problem::{Gap, GapError, GapSolution};
#[cfg(test)]
pub(crate) use search::construct_gap;
pub(crate) use search::{solve_heuristic, solve_with_multipliers};
