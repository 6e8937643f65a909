//! The supervisor actor: pending queue, allocation, node restarts, retries.
//!
//! Submissions arrive as batches on a crossbeam channel; the submitter sends
//! one [`Drain`] message only when none is outstanding, so under load many
//! batches share one wake-up. The supervisor orders pending jobs by the
//! queue discipline, asks the policy for a batch allocation, and pushes each
//! node's share into that node's queue in one locked step.

use crate::error::{AttemptFailure, TaskError};
use crate::fault::Fault;
use crate::ids::NodeId;
use crate::job::{after_failure, fail_now, AfterFailure, JobRef, Phase};
use crate::ledger::{Ledger, Settled};
use crate::node::{
    count_failed, requeue_evicted, start_node, ActorFault, DownReason, NodeDirectory, NodeEvent,
    NodeShared, Ping, StopNode,
};
use crate::policy::{NodeView, Policy, TaskView};
use crate::queue::{Discipline, DisciplineQueue};
use actix::prelude::*;
use crossbeam_channel::Receiver;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What submitters put in the supervisor's inbox.
pub(crate) enum Inbound {
    One(JobRef),
    Many(Vec<JobRef>),
}

/// Largest share pushed into one node under one lock.
const PUSH_CHUNK: usize = 4096;
/// Largest batch handed to the policy at once.
const ALLOCATE_CHUNK: usize = 16_384;

/// Supervisor settings.
#[derive(Debug, Clone)]
pub(crate) struct SupervisorConfig {
    pub(crate) heartbeat_interval: Duration,
    pub(crate) retry_backoff_min: Duration,
    pub(crate) retry_backoff_max: Duration,
}

pub(crate) struct Supervisor {
    nodes: Vec<Arc<NodeShared>>,
    arbiters: Vec<ArbiterHandle>,
    directory: NodeDirectory,
    ledger: Arc<Ledger>,
    policy: Box<dyn Policy>,
    pending: DisciplineQueue<JobRef>,
    inbox: Receiver<Inbound>,
    drain_scheduled: Arc<AtomicBool>,
    restarts: Arc<AtomicU64>,
    config: SupervisorConfig,
    stopping: bool,
    scratch_choice: Vec<Option<usize>>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("nodes", &self.nodes.len())
            .field("pending", &self.pending.len())
            .field("policy", &self.policy.name())
            .finish_non_exhaustive()
    }
}

/// Everything the supervisor needs at start.
pub(crate) struct SupervisorParts {
    pub(crate) nodes: Vec<Arc<NodeShared>>,
    pub(crate) arbiters: Vec<ArbiterHandle>,
    pub(crate) directory: NodeDirectory,
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) policy: Box<dyn Policy>,
    pub(crate) discipline: Discipline,
    pub(crate) inbox: Receiver<Inbound>,
    pub(crate) drain_scheduled: Arc<AtomicBool>,
    pub(crate) restarts: Arc<AtomicU64>,
    pub(crate) config: SupervisorConfig,
}

impl Supervisor {
    pub(crate) fn new(parts: SupervisorParts) -> Self {
        Supervisor {
            nodes: parts.nodes,
            arbiters: parts.arbiters,
            directory: parts.directory,
            ledger: parts.ledger,
            policy: parts.policy,
            pending: DisciplineQueue::new(parts.discipline),
            inbox: parts.inbox,
            drain_scheduled: parts.drain_scheduled,
            restarts: parts.restarts,
            config: parts.config,
            stopping: false,
            scratch_choice: Vec::new(),
        }
    }

    fn start_node(&mut self, j: usize, ctx: &mut Context<Self>) {
        let recipient = ctx.address().recipient();
        match start_node(&self.nodes[j], &self.arbiters[j], recipient) {
            Ok(addr) => self.directory.lock()[j] = Some(addr),
            Err(e) => {
                tracing::error!(node = %self.nodes[j].id, error = %e, "node.start failed");
                self.nodes[j].retire();
            }
        }
    }

    /// Takes everything from the inbox into the pending queue.
    fn drain_inbox(&mut self) {
        self.drain_scheduled.store(false, Ordering::SeqCst);
        while let Ok(inbound) = self.inbox.try_recv() {
            match inbound {
                Inbound::One(job) => self.pending.push(job.core().key, job),
                Inbound::Many(batch) => {
                    for job in batch {
                        self.pending.push(job.core().key, job);
                    }
                }
            }
        }
    }

    /// Allocates pending jobs to available nodes and pushes them.
    fn dispatch(&mut self) {
        if self.stopping || self.pending.is_empty() {
            return;
        }
        let mut views: Vec<NodeView> = self.nodes.iter().map(|n| n.view()).collect();
        if !views.iter().any(|v| v.available) {
            self.fail_unschedulable();
            return;
        }
        let mut held: Vec<JobRef> = Vec::new();
        while !self.pending.is_empty() {
            let mut batch = Vec::with_capacity(self.pending.len().min(ALLOCATE_CHUNK));
            while batch.len() < ALLOCATE_CHUNK {
                match self.pending.pop() {
                    Some(job) => {
                        if job.core().phase().is_terminal() {
                            self.ledger.settle(job.core(), Settled::Cancelled);
                        } else {
                            batch.push(job);
                        }
                    }
                    None => break,
                }
            }
            if batch.is_empty() {
                break;
            }
            let tasks: Vec<TaskView<'_>> = batch
                .iter()
                .map(|j| {
                    let c = j.core();
                    TaskView {
                        id: c.id,
                        kind: &c.spec.kind,
                        cost: c.spec.cost,
                        demand: c.spec.demand,
                        priority: c.spec.priority,
                    }
                })
                .collect();
            let mut choice = std::mem::take(&mut self.scratch_choice);
            let _span = tracing::trace_span!("task.allocate", tasks = tasks.len()).entered();
            self.policy.allocate(&tasks, &mut views, &mut choice);
            drop(tasks);
            let mut per_node: Vec<Vec<JobRef>> = vec![Vec::new(); self.nodes.len()];
            for (job, pick) in batch.into_iter().zip(choice.iter().copied()) {
                let demand = job.core().spec.demand;
                let ok = |j: usize| views[j].available && demand.fits_in(&views[j].capacity);
                let target = match pick {
                    Some(j) if j < views.len() && ok(j) => Some(j),
                    _ => (0..views.len()).find(|&j| ok(j)),
                };
                match target {
                    Some(j) => per_node[j].push(job),
                    None => held.push(job),
                }
            }
            self.scratch_choice = choice;
            for (j, jobs) in per_node.into_iter().enumerate() {
                if !jobs.is_empty() {
                    self.push_to(j, jobs, &mut held);
                }
            }
        }
        for job in held {
            self.pending.push(job.core().key, job);
        }
    }

    fn push_to(&self, j: usize, mut jobs: Vec<JobRef>, held: &mut Vec<JobRef>) {
        while !jobs.is_empty() {
            let rest = if jobs.len() > PUSH_CHUNK {
                jobs.split_off(PUSH_CHUNK)
            } else {
                Vec::new()
            };
            if let Err(back) = self.nodes[j].push_batch(jobs) {
                held.extend(back);
                held.extend(rest);
                return;
            }
            jobs = rest;
        }
    }

    /// Fails pending jobs that no node that is not retired could ever host.
    fn fail_unschedulable(&mut self) {
        let live: Vec<&Arc<NodeShared>> = self.nodes.iter().filter(|n| !n.is_retired()).collect();
        let mut keep = Vec::new();
        for job in self.pending.drain_all() {
            let demand = job.core().spec.demand;
            if live.iter().any(|n| demand.fits_in(&n.spec.capacity)) {
                keep.push(job);
            } else {
                let reason = format!("no node that can fit {demand} is left");
                if fail_now(&*job, TaskError::Unschedulable { reason }) {
                    self.ledger.settle(job.core(), Settled::Failed);
                }
            }
        }
        for job in keep {
            self.pending.push(job.core().key, job);
        }
    }

    /// A node went down: take its work, restart it, re-dispatch.
    fn on_node_down(
        &mut self,
        node: NodeId,
        generation: u64,
        reason: DownReason,
        ctx: &mut Context<Self>,
    ) {
        let j = node.0;
        let Some(shared) = self.nodes.get(j).cloned() else {
            return;
        };
        if self.stopping || shared.generation() != generation || !shared.is_available() {
            return;
        }
        let _span = tracing::info_span!("node.restart", node = %node, ?reason).entered();
        if reason == DownReason::Hung {
            if let Some(addr) = self.directory.lock()[j].take() {
                addr.do_send(StopNode);
            }
        }
        let evicted = shared.evict_all();
        let (n_queued, n_running) = (evicted.queued.len(), evicted.running.len());
        for job in requeue_evicted(&self.ledger, evicted.queued) {
            self.pending.push(job.core().key, job);
        }
        for (job, attempt) in evicted.running {
            self.fail_attempt(
                &shared,
                job,
                Phase::Running,
                attempt,
                AttemptFailure::NodeLost,
                ctx,
            );
        }
        tracing::warn!(
            queued = n_queued,
            running = n_running,
            "node down, restarting"
        );
        shared.count_restart();
        self.restarts.fetch_add(1, Ordering::Relaxed);
        self.start_node(j, ctx);
        self.dispatch();
    }

    /// Applies the retry rules to a failed attempt decided here.
    fn fail_attempt(
        &mut self,
        node: &NodeShared,
        job: JobRef,
        from: Phase,
        attempt: u32,
        failure: AttemptFailure,
        ctx: &mut Context<Self>,
    ) {
        match after_failure(&*job, from, attempt, Some(node.id), failure) {
            AfterFailure::Retry => {
                self.ledger.note_retry();
                self.schedule_retry(job, ctx);
            }
            AfterFailure::Failed => {
                if self.ledger.settle(job.core(), Settled::Failed) {
                    count_failed(node);
                }
            }
            AfterFailure::Superseded => {
                if job.core().phase() == Phase::Cancelled {
                    self.ledger.settle(job.core(), Settled::Cancelled);
                }
            }
        }
    }

    fn retry_backoff(&self, attempt: u32) -> Duration {
        let min = self.config.retry_backoff_min;
        let exp = min.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        exp.min(self.config.retry_backoff_max)
    }

    fn schedule_retry(&mut self, job: JobRef, ctx: &mut Context<Self>) {
        let delay = self.retry_backoff(job.core().attempt());
        if delay.is_zero() {
            self.pending.push(job.core().key, job);
            return;
        }
        ctx.run_later(delay, move |act, _| {
            act.pending.push(job.core().key, job);
            act.dispatch();
        });
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        let now = Instant::now();
        let nodes = self.nodes.clone();
        for (j, node) in nodes.iter().enumerate() {
            // Missed notification: the actor is gone but we did not hear.
            let addr = self.directory.lock()[j].clone();
            if let Some(addr) = addr {
                if node.is_available() && !addr.connected() {
                    let generation = node.generation();
                    self.on_node_down(node.id, generation, DownReason::Stopped, ctx);
                    continue;
                }
                addr.send(Ping)
                    .into_actor(self)
                    .map(|pong, _act, _ctx| {
                        if let Ok(p) = pong {
                            tracing::trace!(generation = p.generation, oldest_running = ?p.oldest_running, "node.heartbeat");
                        }
                    })
                    .spawn(ctx);
            }
            for (job, attempt) in node.take_timed_out(now) {
                tracing::debug!(node = %node.id, task = %job.core().id, attempt, "attempt timed out");
                self.fail_attempt(
                    node,
                    job,
                    Phase::Running,
                    attempt,
                    AttemptFailure::TimedOut,
                    ctx,
                );
            }
        }
        self.dispatch();
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        for j in 0..self.nodes.len() {
            self.start_node(j, ctx);
        }
        ctx.run_interval(self.config.heartbeat_interval, |act, ctx| act.tick(ctx));
    }
}

/// New submissions are waiting in the inbox.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Drain;

impl Handler<Drain> for Supervisor {
    type Result = ();

    fn handle(&mut self, _msg: Drain, _ctx: &mut Self::Context) {
        self.drain_inbox();
        self.dispatch();
    }
}

impl Handler<NodeEvent> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: NodeEvent, ctx: &mut Self::Context) {
        match msg {
            NodeEvent::Down {
                node,
                generation,
                reason,
            } => self.on_node_down(node, generation, reason, ctx),
            NodeEvent::Retry(job) => {
                self.schedule_retry(job, ctx);
                self.dispatch();
            }
            NodeEvent::Redispatch(jobs) => {
                for job in jobs {
                    self.pending.push(job.core().key, job);
                }
                self.dispatch();
            }
        }
    }
}

/// Inject a fault.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Inject(pub(crate) Fault);

impl Handler<Inject> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: Inject, _ctx: &mut Self::Context) {
        let addr_of = |node: NodeId| self.directory.lock().get(node.0).cloned().flatten();
        match msg.0 {
            Fault::PanicNode { node } => {
                if let Some(a) = addr_of(node) {
                    a.do_send(ActorFault::Panic);
                }
            }
            Fault::StopNode { node } => {
                if let Some(a) = addr_of(node) {
                    a.do_send(ActorFault::Stop);
                }
            }
            Fault::SlowNode { node, factor } => {
                if let Some(n) = self.nodes.get(node.0) {
                    n.set_speed(n.spec.speed * factor);
                }
            }
        }
    }
}

/// Stop supervising: stop every node actor, take every node's work out.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Stop;

impl Handler<Stop> for Supervisor {
    type Result = ();

    fn handle(&mut self, _msg: Stop, ctx: &mut Self::Context) {
        self.stopping = true;
        for (j, node) in self.nodes.iter().enumerate() {
            if let Some(addr) = self.directory.lock()[j].take() {
                addr.do_send(StopNode);
            }
            // Whatever is left is settled by the caller from the ledger.
            drop(node.evict_all());
        }
        ctx.stop();
    }
}
