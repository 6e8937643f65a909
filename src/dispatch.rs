//! Placing pending jobs on nodes: the policy and its scratch space, behind
//! one lock shared by the supervisor and by submitters.
//!
//! A submitter that finds nothing waiting at the supervisor (no job sent to
//! it and not yet placed, see [`Backlog`]) places its batch itself, on its
//! own thread, instead of handing it over: one thread hop less per task.
//! Anything that cannot be placed at once still goes to the supervisor.

use crate::job::{JobRef, Phase};
use crate::ledger::Ledger;
use crate::plane::NodeTable;
use crate::policy::{NodeView, Policy, TaskView};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Largest share pushed into one node under one lock.
const PUSH_CHUNK: usize = 4096;

/// Jobs sent to the supervisor and not yet placed on a node (in its inbox
/// or its pending queue). Raised by senders before they send, lowered by
/// the supervisor after it has placed or ended them: while it is above
/// zero, submitters leave placement to the supervisor, so a submitter's
/// batches stay in order.
#[derive(Debug, Default)]
pub(crate) struct Backlog(AtomicUsize);

impl Backlog {
    pub(crate) fn add(&self, n: usize) {
        self.0.fetch_add(n, Ordering::AcqRel);
    }

    pub(crate) fn sub(&self, n: usize) {
        self.0.fetch_sub(n, Ordering::AcqRel);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.load(Ordering::Acquire) == 0
    }
}

/// The allocation policy with the buffers one placement needs, kept from
/// one placement to the next (a batch's buffers are large enough for the
/// allocator to treat them slowly).
pub(crate) struct Dispatcher {
    policy: Box<dyn Policy>,
    choice: Vec<Option<usize>>,
    per_node: Vec<Vec<JobRef>>,
    views: Vec<NodeView>,
    /// Always empty between placements; only its capacity is kept.
    tasks: Vec<TaskView<'static>>,
}

/// An empty vector of another lifetime, with the same allocation: the
/// in-place `collect` of an empty iterator keeps the buffer.
fn relabel<'a, 'b>(v: Vec<TaskView<'a>>) -> Vec<TaskView<'b>> {
    debug_assert!(v.is_empty());
    v.into_iter()
        .map(|t| TaskView {
            id: t.id,
            kind: &crate::spec::UNSPECIFIED,
            cost: t.cost,
            demand: t.demand,
            priority: t.priority,
        })
        .collect()
}

impl Dispatcher {
    pub(crate) fn new(policy: Box<dyn Policy>) -> Self {
        Dispatcher {
            policy,
            choice: Vec::new(),
            per_node: Vec::new(),
            views: Vec::new(),
            tasks: Vec::new(),
        }
    }

    /// Whether the policy learns from completions.
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    pub(crate) fn wants_feedback(&self) -> bool {
        self.policy.wants_feedback()
    }

    pub(crate) fn policy_name(&self) -> &str {
        self.policy.name()
    }

    /// Hands completions recorded by the nodes to a learning policy.
    pub(crate) fn feed_policy(&mut self, nodes: &NodeTable) {
        if !self.policy.wants_feedback() {
            return;
        }
        for node in nodes.iter() {
            for fb in node.take_feedback() {
                self.policy.observe(&fb);
            }
        }
    }

    /// Places `batch` (in queue order; left empty): the policy picks a
    /// node for each job, and each node's share is pushed in one locked
    /// step. Jobs that are no longer pending are reaped; jobs that no
    /// available node can take are added to `held`, still pending. A
    /// `fresh` batch is one just submitted, which no one else can reach
    /// yet (see `NodeShared::push_fresh`).
    pub(crate) fn place(
        &mut self,
        nodes: &NodeTable,
        ledger: &Ledger,
        batch: &mut Vec<JobRef>,
        held: &mut Vec<JobRef>,
        fresh: bool,
    ) {
        if !fresh {
            batch.retain(|job| {
                let pending = job.core().phase() == Phase::Pending;
                if !pending {
                    // Cancelled, or claimed by a joining parent.
                    ledger.reap_if_cancelled(job.core());
                }
                pending
            });
        }
        if batch.is_empty() {
            return;
        }
        self.feed_policy(nodes);
        // One read of the node count for the whole round: nodes that join
        // meanwhile are placed onto from the next (indices are stable, so
        // the first `count` are the same nodes throughout).
        let count = nodes.len();
        if count == 0 {
            // No node yet (a coordinator waiting for its workers).
            held.append(batch);
            return;
        }
        self.views.clear();
        self.views
            .extend(nodes.iter().take(count).map(|n| n.view()));
        let mut tasks = relabel(std::mem::take(&mut self.tasks));
        tasks.extend(batch.iter().map(|j| {
            let c = j.core();
            TaskView {
                id: c.id,
                kind: c.spec.kind(),
                cost: c.spec.cost(),
                demand: c.spec.demand(),
                priority: c.spec.priority(),
            }
        }));
        {
            let _span = tracing::trace_span!("task.allocate", tasks = tasks.len()).entered();
            self.policy
                .allocate(&tasks, &mut self.views, &mut self.choice);
        }
        tasks.clear();
        self.tasks = relabel(tasks);
        // A policy that answered for too few tasks leaves the rest to the
        // fallback below rather than dropping them.
        self.choice.resize(batch.len(), None);
        let views = &self.views;
        self.per_node.resize_with(count, Vec::new);
        for (job, pick) in batch.drain(..).zip(self.choice.iter().copied()) {
            let demand = job.core().spec.demand();
            let ok = |j: usize| views[j].available && demand.fits_in(&views[j].capacity);
            let target = match pick {
                Some(j) if j < views.len() && ok(j) => Some(j),
                _ => (0..views.len()).find(|&j| ok(j)),
            };
            match target {
                Some(j) => self.per_node[j].push(job),
                None => held.push(job),
            }
        }
        for (j, node) in nodes.iter().take(count).enumerate() {
            let share = &mut self.per_node[j];
            while !share.is_empty() {
                let k = share.len().min(PUSH_CHUNK);
                let refused = {
                    let drained = share.drain(..k);
                    let pushed = if fresh {
                        node.push_fresh(drained)
                    } else {
                        node.push_batch(drained)
                    };
                    match pushed {
                        Ok(()) => false,
                        Err(back) => {
                            held.extend(back);
                            true
                        }
                    }
                };
                if refused {
                    held.append(share);
                }
            }
        }
    }
}
