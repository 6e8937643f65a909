//! A GAP instance, why one is refused, and a solution.

use std::fmt;

/// A GAP instance with integer data, `agents` nodes and `items` tasks.
///
/// # Examples
///
/// ```
/// use allot::policy::Gap;
///
/// // Two nodes of capacity 5; three tasks.
/// let gap = Gap::new(
///     2,
///     3,
///     vec![1, 2, 3, /* node 1: */ 3, 2, 1],
///     vec![3, 3, 3, /* node 1: */ 2, 2, 2],
///     vec![5, 5],
/// )?;
/// assert_eq!(gap.evaluate(&[0, 1, 1]), Some(4));
/// assert_eq!(gap.evaluate(&[0, 0, 1]), None); // node 0 over capacity
/// # Ok::<(), allot::policy::GapError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    pub(super) agents: usize,
    pub(super) items: usize,
    pub(super) cost: Vec<i64>,
    pub(super) weight: Vec<i64>,
    pub(super) capacity: Vec<i64>,
}

/// Why [`Gap::new`] refused its data.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GapError {
    /// A matrix or vector has the wrong number of entries.
    Shape {
        /// Which one: `cost`, `weight` or `capacity`.
        what: &'static str,
        /// Entries expected.
        expected: usize,
        /// Entries given.
        got: usize,
    },
    /// A weight or capacity is negative.
    Negative {
        /// Which one: `weight` or `capacity`.
        what: &'static str,
        /// Its index (row-major for matrices).
        index: usize,
    },
    /// No agents, or no items.
    Empty,
    /// A cost, weight or capacity beyond [`Gap::MAX_VALUE`] in size: sums
    /// of them could overflow.
    TooLarge {
        /// Which one: `cost`, `weight` or `capacity`.
        what: &'static str,
        /// Its index (row-major for matrices).
        index: usize,
        /// The value.
        value: i64,
    },
}

impl fmt::Display for GapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GapError::Shape {
                what,
                expected,
                got,
            } => {
                write!(f, "`{what}` has {got} entries, expected {expected}")
            }
            GapError::Negative { what, index } => {
                write!(f, "`{what}` entry {index} is negative")
            }
            GapError::Empty => f.write_str("an instance needs at least one agent and one item"),
            GapError::TooLarge { what, index, value } => write!(
                f,
                "`{what}` entry {index} is {value}, beyond ±{} (sums could overflow)",
                Gap::MAX_VALUE
            ),
        }
    }
}

impl std::error::Error for GapError {}

/// A GAP assignment and how good it is.
#[derive(Clone, Debug, PartialEq)]
pub struct GapSolution {
    /// Node (agent) of each task (item).
    pub assignment: Vec<usize>,
    /// Its total cost.
    pub cost: i64,
    /// Whether the solver proved that no feasible assignment costs less.
    pub proved_optimal: bool,
    /// The best lower bound on the optimum the solver found.
    pub lower_bound: f64,
}

impl Gap {
    /// The largest cost, weight or capacity (in size) an instance may hold:
    /// 2^40, so that sums over up to 2^23 tasks cannot overflow.
    pub const MAX_VALUE: i64 = 1 << 40;

    /// An instance from row-major matrices (`cost[j * items + i]` is task
    /// `i` on node `j`) and the node capacities.
    ///
    /// # Errors
    ///
    /// A [`GapError`] for a matrix of the wrong size, a negative weight or
    /// capacity, or an empty instance.
    pub fn new(
        agents: usize,
        items: usize,
        cost: Vec<i64>,
        weight: Vec<i64>,
        capacity: Vec<i64>,
    ) -> Result<Self, GapError> {
        if agents == 0 || items == 0 {
            return Err(GapError::Empty);
        }
        for (what, len, expected) in [
            ("cost", cost.len(), agents * items),
            ("weight", weight.len(), agents * items),
            ("capacity", capacity.len(), agents),
        ] {
            if len != expected {
                return Err(GapError::Shape {
                    what,
                    expected,
                    got: len,
                });
            }
        }
        for (what, values) in [
            ("cost", &cost),
            ("weight", &weight),
            ("capacity", &capacity),
        ] {
            if let Some(index) = values
                .iter()
                .position(|v| v.unsigned_abs() > Self::MAX_VALUE.unsigned_abs())
            {
                return Err(GapError::TooLarge {
                    what,
                    index,
                    value: values[index],
                });
            }
        }
        if let Some(index) = weight.iter().position(|&w| w < 0) {
            return Err(GapError::Negative {
                what: "weight",
                index,
            });
        }
        if let Some(index) = capacity.iter().position(|&b| b < 0) {
            return Err(GapError::Negative {
                what: "capacity",
                index,
            });
        }
        Ok(Gap {
            agents,
            items,
            cost,
            weight,
            capacity,
        })
    }

    /// Number of nodes (agents).
    pub fn agents(&self) -> usize {
        self.agents
    }

    /// Number of tasks (items).
    pub fn items(&self) -> usize {
        self.items
    }

    /// Cost of task `i` on node `j`.
    pub fn cost(&self, j: usize, i: usize) -> i64 {
        self.cost[j * self.items + i]
    }

    /// Capacity task `i` uses on node `j`.
    pub fn weight(&self, j: usize, i: usize) -> i64 {
        self.weight[j * self.items + i]
    }

    /// Capacity of node `j`.
    pub fn capacity(&self, j: usize) -> i64 {
        self.capacity[j]
    }

    /// Capacity used on each node under `assignment`.
    ///
    /// # Panics
    ///
    /// If `assignment` is not one node index per task.
    pub fn loads(&self, assignment: &[usize]) -> Vec<i64> {
        assert_eq!(assignment.len(), self.items, "one node per task");
        let mut load = vec![0; self.agents];
        for (i, &j) in assignment.iter().enumerate() {
            load[j] += self.weight(j, i);
        }
        load
    }

    /// Total cost of `assignment`, or `None` when it is malformed or puts a
    /// node over capacity.
    pub fn evaluate(&self, assignment: &[usize]) -> Option<i64> {
        if assignment.len() != self.items || assignment.iter().any(|&j| j >= self.agents) {
            return None;
        }
        let load = self.loads(assignment);
        if (0..self.agents).any(|j| load[j] > self.capacity[j]) {
            return None;
        }
        Some(
            assignment
                .iter()
                .enumerate()
                .map(|(i, &j)| self.cost(j, i))
                .sum(),
        )
    }
}
