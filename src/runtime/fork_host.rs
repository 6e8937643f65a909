//! The runtime as fork-join sees it from inside a running task.

use super::core::Core;
use super::handle::RuntimeHandle;
use crate::error::Refusal;
use crate::job::{Host, JobRef, Rejection};
use crate::node::run_inline;
use std::sync::Weak;

/// The runtime as seen from one node's running tasks.
pub(crate) struct ForkJoinHost {
    pub(crate) shared: Weak<Core>,
    pub(crate) node: usize,
}

impl Host for ForkJoinHost {
    fn submit(&self, jobs: &mut Vec<JobRef>) -> Result<(), Rejection> {
        let Some(shared) = self.shared.upgrade() else {
            return Err(Rejection::Refused {
                index: 0,
                reason: Refusal::ShuttingDown,
            });
        };
        RuntimeHandle { shared }.admit_built(jobs)
    }

    fn run_here(&self, job: &JobRef) -> bool {
        self.shared
            .upgrade()
            .is_some_and(|shared| run_inline(&shared.plane.nodes[self.node], job))
    }
}
