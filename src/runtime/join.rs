//! Cluster mode's membership while the runtime runs: a worker that joins
//! after `build` (or comes back in a new process after its nodes were
//! retired) gets nodes of its own, placed onto like any other.
//!
//! 1. The transport's heartbeat listener hears a worker for the first
//!    time, or in a new process, and calls [`Joiner::join`] (also called
//!    once at build for every worker heard so far: the joiner tells those
//!    it already has apart).
//! 2. A worker that has a node in service keeps it (it serves its old
//!    nodes again); otherwise its nodes are checked (specs, room under
//!    `cluster.max_nodes`, threads) and added to the plane's table at the
//!    next free indices, with their links. A refused worker is logged and
//!    shown in the cluster metrics, never used.
//! 3. The supervisor is told ([`NodesJoined`]): it gives the nodes their
//!    per-node state and arbiters, starts them, emits
//!    `SupervisorEvent::NodeJoined` and places what waits.
//!
//! Until step 3 a new node is in the table but not accepting work:
//! policies see it unavailable.

use super::core::{Core, RunState};
use super::fork_host::ForkJoinHost;
use crate::cluster_error::ClusterError;
use crate::hooks::Hooks;
use crate::ids::NodeId;
use crate::node::{NodeShared, NodeSpec, Reported};
use crate::queue::Discipline;
use crate::supervisor::NodesJoined;
use crate::sync::Mutex;
use crate::transport::Cluster;
use std::collections::HashMap;
use std::sync::{Arc, Weak};

/// What a node that joins is made with.
pub(super) struct NodeRecipe {
    pub(super) discipline: Discipline,
    pub(super) hooks: Hooks,
    pub(super) prefetch: usize,
    /// The speed that runs at the machine's pace (the fastest at build).
    pub(super) reference_speed: f64,
    /// Whether the policy learns from completions.
    pub(super) feedback: bool,
}

/// Adds the nodes of workers that join the running runtime.
pub(super) struct Joiner {
    core: Weak<Core>,
    cluster: Weak<Cluster>,
    recipe: NodeRecipe,
    /// Local nodes: remote nodes take the indices after them.
    local: usize,
    /// Each worker's nodes, by index (its latest ones).
    members: Mutex<HashMap<String, Vec<usize>>>,
}

impl Joiner {
    /// A joiner for `core`'s runtime, whose build took `members`' nodes.
    pub(super) fn new(
        core: &Arc<Core>,
        cluster: &Arc<Cluster>,
        recipe: NodeRecipe,
        local: usize,
        members: HashMap<String, Vec<usize>>,
    ) -> Self {
        Joiner {
            core: Arc::downgrade(core),
            cluster: Arc::downgrade(cluster),
            recipe,
            local,
            members: Mutex::new(members),
        }
    }

    /// `worker` joined, or came back in a new process, with `specs`.
    pub(super) fn join(&self, worker: &str, specs: Vec<NodeSpec>) {
        let (Some(core), Some(cluster)) = (self.core.upgrade(), self.cluster.upgrade()) else {
            return;
        };
        // A draining runtime still takes workers: its accepted tasks may
        // be waiting for one.
        if *core.state.read() == RunState::Stopped {
            return;
        }
        let plane = &core.plane;
        let mut members = self.members.lock();
        let serving = members.get(worker).is_some_and(|ix| {
            ix.iter()
                .any(|&i| plane.nodes.get(i).is_some_and(|n| !n.is_retired()))
        });
        if serving {
            // Its nodes are in service: it serves them again.
            return;
        }
        let added = remote_specs(worker, specs)
            .and_then(|specs| self.fits(&core, worker, &specs).map(|()| specs))
            .and_then(|specs| {
                let count = specs.len();
                let parts: Vec<_> = specs
                    .into_iter()
                    .enumerate()
                    .map(|(k, spec)| (spec, cluster.link(worker, k)))
                    .collect();
                plane
                    .nodes
                    .extend_with(parts, |id, (spec, (link, reported))| {
                        self.node(&core, id, spec, link, reported)
                    })
                    .map_err(|max| ClusterError::TooManyNodes {
                        worker: worker.to_owned(),
                        nodes: count,
                        taken: plane.nodes.len() - self.local,
                        max_nodes: max - self.local,
                    })
            });
        match added {
            Ok(range) => {
                members.insert(worker.to_owned(), range.clone().collect());
                drop(members);
                tracing::info!(
                    worker,
                    nodes = range.len(),
                    first = range.start,
                    "cluster.worker_added"
                );
                core.supervisor.do_send(NodesJoined(range));
            }
            Err(e) => {
                drop(members);
                tracing::error!(worker, error = %e, "cluster.join_refused");
                cluster.refuse(worker, e.to_string());
            }
        }
    }

    /// Whether `specs` fit in the room left and the threads left.
    fn fits(&self, core: &Core, worker: &str, specs: &[NodeSpec]) -> Result<(), ClusterError> {
        let nodes = &core.plane.nodes;
        if nodes.len() + specs.len() > nodes.capacity() {
            return Err(ClusterError::TooManyNodes {
                worker: worker.to_owned(),
                nodes: specs.len(),
                taken: nodes.len() - self.local,
                max_nodes: nodes.capacity() - self.local,
            });
        }
        // A proxy executor per slot and per prefetch, and an arbiter.
        let needed = specs.iter().fold(0usize, |n, s| {
            n.saturating_add(s.slots.max(1))
                .saturating_add(self.recipe.prefetch)
                .saturating_add(1)
        });
        if let Some(left) = crate::threads::available() {
            if needed > left {
                return Err(ClusterError::TooManyThreads {
                    worker: worker.to_owned(),
                    needed,
                    left,
                });
            }
        }
        Ok(())
    }

    /// Remote node `id`, as the build makes them.
    fn node(
        &self,
        core: &Arc<Core>,
        id: NodeId,
        spec: NodeSpec,
        link: Arc<crate::transport::NodeLink>,
        reported: Arc<Reported>,
    ) -> Arc<NodeShared> {
        let r = &self.recipe;
        let node = NodeShared::new(
            id,
            spec,
            r.discipline,
            Arc::clone(&core.plane.ledger),
            r.hooks.clone(),
        )
        .with_remote(link, r.prefetch, reported);
        node.set_reference_speed(r.reference_speed.max(node.spec.speed));
        // A proxy executor waits for replies: nothing to watch for.
        node.set_watch_idle(false);
        if r.feedback {
            node.enable_feedback();
        }
        node.set_host(Arc::new(ForkJoinHost {
            shared: Arc::downgrade(core),
            node: id.0,
        }));
        Arc::new(node)
    }
}

/// A worker's node specs, checked and named `worker/name` (or
/// `worker/index` when unnamed).
///
/// # Errors
///
/// [`ClusterError::Config`] naming the worker and node whose spec is bad.
pub(super) fn remote_specs(
    worker: &str,
    specs: Vec<NodeSpec>,
) -> Result<Vec<NodeSpec>, ClusterError> {
    specs
        .into_iter()
        .enumerate()
        .map(|(k, mut spec)| {
            if let Err((field, reason)) = spec.validate() {
                return Err(ClusterError::Config {
                    field,
                    reason: format!("worker {worker} node {k}: {reason}"),
                });
            }
            spec.name = if spec.name.is_empty() {
                format!("{worker}/{k}")
            } else {
                format!("{worker}/{}", spec.name)
            };
            Ok(spec)
        })
        .collect()
}
