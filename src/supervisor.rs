//! The supervisor actor: pending queue, allocation, retries, and the
//! supervision of nodes (restart strategies and policies, intensity,
//! backoff, escalation, hang detection).
//!
//! Submissions arrive as batches on a crossbeam channel; the submitter sends
//! one [`Drain`] message only when none is outstanding, so under load many
//! batches share one wake-up. The supervisor orders pending jobs by the
//! queue discipline, asks the policy for a batch allocation, and pushes each
//! node's share into that node's queue in one locked step.

use crate::error::{AttemptFailure, TaskError};
use crate::fault::{Fault, SpeedChange};
use crate::hooks::Hooks;
use crate::ids::NodeId;
use crate::job::{after_failure, fail_now, AfterFailure, JobRef, Phase};
use crate::ledger::{Sample, Settled};
use crate::metrics::AbandonReason;
use crate::node::{
    count_failed, requeue_evicted, start_node, ActorFault, NodeEvent, NodeShared, Ping, StopNode,
};
use crate::plane::Plane;
use crate::queue::{Discipline, DisciplineQueue};
use crate::supervision::{
    restart_set, DownReason, Escalation, Health, RestartPolicy, RestartWindow, SupervisionConfig,
    SupervisorEvent,
};
use actix::prelude::*;
use crossbeam_channel::Receiver;
use rand::SeedableRng;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest batch handed to the policy at once.
const ALLOCATE_CHUNK: usize = 16_384;
/// The pending queue's buffer, past this many jobs when it empties, is
/// shrunk to `ALLOCATE_CHUNK`.
const SHRINK_PENDING_ABOVE: usize = 2 * ALLOCATE_CHUNK;

/// What submitters put in the supervisor's inbox: jobs to place, in order.
pub(crate) type Inbound = Vec<JobRef>;

/// Supervisor settings.
#[derive(Debug, Clone)]
pub(crate) struct SupervisorConfig {
    pub(crate) heartbeat_interval: Duration,
    pub(crate) retry_backoff_min: Duration,
    pub(crate) retry_backoff_max: Duration,
    pub(crate) supervision: SupervisionConfig,
    pub(crate) rng_seed: u64,
}

pub(crate) struct Supervisor {
    /// What the runtime's handles and the balancer share with it.
    plane: Arc<Plane>,
    /// Per node: the arbiter (thread) its actor runs on.
    arbiters: Vec<ArbiterHandle>,
    /// The arbiters of nodes that joined after start, stopped and joined
    /// by the system's thread as it ends.
    late_arbiters: Arc<crate::sync::Mutex<Vec<Arbiter>>>,
    pending: DisciplineQueue<JobRef>,
    inbox: Receiver<Inbound>,
    config: SupervisorConfig,
    windows: Vec<RestartWindow>,
    ping_outstanding: Vec<bool>,
    /// Per node: the generation whose actor a tick found gone, with no
    /// report of it yet.
    gone_unreported: Vec<Option<u64>>,
    /// Per node: the progress value last seen and when it last changed.
    progress_seen: Vec<(u64, Instant)>,
    rng: rand::rngs::StdRng,
    epoch: Instant,
    speed_changes: Vec<SpeedChange>,
    stopping: bool,
    hooks: Hooks,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("nodes", &self.plane.nodes.len())
            .field("pending", &self.pending.len())
            .field(
                "policy",
                &self
                    .plane
                    .dispatcher
                    .try_lock()
                    .map(|d| d.policy_name().to_owned()),
            )
            .finish_non_exhaustive()
    }
}

/// Everything the supervisor needs at start.
pub(crate) struct SupervisorParts {
    pub(crate) plane: Arc<Plane>,
    pub(crate) arbiters: Vec<ArbiterHandle>,
    pub(crate) late_arbiters: Arc<crate::sync::Mutex<Vec<Arbiter>>>,
    pub(crate) discipline: Discipline,
    pub(crate) inbox: Receiver<Inbound>,
    pub(crate) config: SupervisorConfig,
    pub(crate) epoch: Instant,
    pub(crate) speed_changes: Vec<SpeedChange>,
    pub(crate) hooks: Hooks,
}

impl Supervisor {
    pub(crate) fn new(parts: SupervisorParts) -> Self {
        let n = parts.plane.nodes.len();
        let rng = rand::rngs::StdRng::seed_from_u64(parts.config.rng_seed ^ SUPERVISOR_SALT);
        Supervisor {
            plane: parts.plane,
            arbiters: parts.arbiters,
            late_arbiters: parts.late_arbiters,
            pending: DisciplineQueue::new(parts.discipline),
            inbox: parts.inbox,
            config: parts.config,
            windows: vec![RestartWindow::default(); n],
            ping_outstanding: vec![false; n],
            gone_unreported: vec![None; n],
            progress_seen: vec![(u64::MAX, Instant::now()); n],
            rng,
            epoch: parts.epoch,
            speed_changes: parts.speed_changes,
            stopping: false,
            hooks: parts.hooks,
        }
    }

    fn start_node(&mut self, j: usize, ctx: &mut Context<Self>) {
        let recipient = ctx.address().recipient();
        match start_node(&self.plane.nodes[j], &self.arbiters[j], recipient) {
            Ok(addr) => self.plane.directory.lock()[j] = Some(addr),
            Err(e) => {
                tracing::error!(node = self.plane.nodes[j].name(), node_id = j, error = %e, "node.start_failed");
                self.retire(j);
            }
        }
    }

    /// Takes everything from the inbox into the pending queue.
    fn drain_inbox(&mut self) {
        self.plane.drain_scheduled.store(false, Ordering::SeqCst);
        while let Ok(batch) = self.inbox.try_recv() {
            // Counted in the backlog by their sender.
            for job in batch {
                self.pending.push_with(job, |j| j.core().key());
            }
        }
    }

    /// Puts a job that did not come through the inbox (a retry, a job
    /// taken back from a node) into the pending queue.
    fn hold(&mut self, job: JobRef) {
        self.plane.backlog.add(1);
        self.pending.push_with(job, |j| j.core().key());
    }

    /// Allocates pending jobs to available nodes and pushes them.
    fn dispatch(&mut self) {
        if self.stopping || self.pending.is_empty() {
            return;
        }
        let taken = self.pending.len();
        let mut held: Vec<JobRef> = Vec::new();
        {
            let mut dispatcher = self.plane.dispatcher.lock();
            let mut batch = Vec::with_capacity(self.pending.len().min(ALLOCATE_CHUNK));
            while !self.pending.is_empty() {
                while batch.len() < ALLOCATE_CHUNK {
                    match self.pending.pop() {
                        Some(job) => batch.push(job),
                        None => break,
                    }
                }
                dispatcher.place(
                    &self.plane.nodes,
                    &self.plane.ledger,
                    &mut batch,
                    &mut held,
                    false,
                );
            }
        }
        let mut kept = 0;
        for job in held {
            if self.can_ever_run(&job) {
                self.pending.push_with(job, |j| j.core().key());
                kept += 1;
            } else {
                self.fail_unschedulable(&job);
            }
        }
        // Lowered only now, after the placed jobs are in node queues.
        self.plane.backlog.sub(taken - kept);
        // A burst's buffer goes back once it is placed.
        self.pending
            .shrink_if_idle(SHRINK_PENDING_ABOVE, ALLOCATE_CHUNK);
    }

    /// Whether some node that is not retired could ever host the job
    /// (or one may join that could: cluster mode).
    fn can_ever_run(&self, job: &JobRef) -> bool {
        if self.plane.joinable {
            return true;
        }
        let demand = job.core().spec.demand();
        self.plane
            .nodes
            .iter()
            .any(|n| !n.is_retired() && demand.fits_in(&n.spec.capacity))
    }

    fn fail_unschedulable(&self, job: &JobRef) {
        let reason = format!(
            "no node that can fit {} is left in service",
            job.core().spec.demand()
        );
        if fail_now(&**job, TaskError::Unschedulable { reason }) {
            self.plane.ledger.settle(job.core(), Settled::Failed);
        }
    }

    /// Ends node `k`'s incarnation and takes its work: queued jobs go back
    /// to pending, running ones count a lost attempt.
    fn take_down(&mut self, k: usize, ctx: &mut Context<Self>) {
        let node = Arc::clone(&self.plane.nodes[k]);
        if let Some(addr) = self.plane.directory.lock()[k].take() {
            addr.do_send(StopNode);
        }
        *node.actor_slot() = None;
        let evicted = node.evict_all(AbandonReason::NodeDown);
        let (n_queued, n_running) = (evicted.queued.len(), evicted.running.len());
        for job in requeue_evicted(&self.plane.ledger, evicted.queued) {
            self.hold(job);
        }
        for (job, attempt) in evicted.running {
            self.fail_attempt(
                &node,
                job,
                Phase::Running,
                attempt,
                AttemptFailure::NodeLost,
                ctx,
            );
        }
        tracing::debug!(
            node = node.name(),
            node_id = node.id.0,
            queued = n_queued,
            running = n_running,
            "node.evict"
        );
    }

    /// Retires node `k`. Its event is emitted last, once its metrics and
    /// `health()` show the retirement (as every supervisor event is).
    fn retire(&mut self, k: usize) {
        self.plane.nodes[k].retire();
        if self.plane.is_dead() {
            // Nothing is left to run anything: the runtime has stopped.
            self.plane.health.worsen(Health::Stopped);
            tracing::error!("runtime.all_retired");
        } else if self.plane.all_retired() {
            // A worker may still join (cluster mode): tasks wait for it.
            self.plane.health.worsen(Health::Degraded);
            tracing::warn!("runtime.all_retired_awaiting_workers");
        } else {
            self.plane.health.worsen(Health::Degraded);
        }
        tracing::warn!(
            node = self.plane.nodes[k].name(),
            node_id = k,
            "node.retire"
        );
        self.event(SupervisorEvent::NodeRetired {
            node: self.plane.nodes[k].id,
        });
    }

    /// Keeps a supervisor event for the state API, then runs the hook.
    fn event(&self, event: SupervisorEvent) {
        self.plane
            .ledger
            .history()
            .event(crate::clock::now_nanos(), event.clone());
        self.hooks.supervisor_event(event);
    }

    /// A node went down: apply the restart strategy and policy, the
    /// intensity limit and the backoff.
    fn on_node_down(
        &mut self,
        node: NodeId,
        generation: u64,
        reason: DownReason,
        ctx: &mut Context<Self>,
    ) {
        let j = node.0;
        let Some(shared) = self.plane.nodes.get(j).cloned() else {
            return;
        };
        if self.stopping || shared.generation() != generation || !shared.is_available() {
            return;
        }
        let _span = tracing::info_span!("node.restart", node = shared.name(), node_id = j, %reason)
            .entered();
        tracing::warn!(node = shared.name(), node_id = j, %reason, "node.down");
        shared.count_failure();
        let sup = self.config.supervision.clone();
        let set: Vec<usize> = restart_set(sup.strategy, j, self.windows.len())
            .into_iter()
            .filter(|&k| k == j || self.plane.nodes[k].is_available())
            .collect();
        // Taken down first: a hook that reads the node's metrics on
        // `NodeDown` sees it unavailable, its failure counted.
        self.take_down(j, ctx);
        self.event(SupervisorEvent::NodeDown { node, reason });
        for &k in &set {
            if k != j {
                self.take_down(k, ctx);
            }
        }
        // The failed node: restart, or retire, or escalate.
        let restart_failed = match sup.policy_of(j) {
            RestartPolicy::Permanent => true,
            RestartPolicy::Transient => reason.is_abnormal(),
            RestartPolicy::Temporary => false,
        };
        let mut to_restart: Vec<usize> = set
            .iter()
            .copied()
            .filter(|&k| k != j && sup.policy_of(k) != RestartPolicy::Temporary)
            .collect();
        let mut delay = Duration::ZERO;
        if !restart_failed {
            tracing::info!(policy = %sup.policy_of(j), "node.not_restarted");
            self.retire(j);
        } else if !self.windows[j].admit(Instant::now(), sup.max_restarts, sup.restart_period) {
            tracing::error!(
                max = sup.max_restarts,
                period_s = sup.restart_period.as_secs_f64(),
                "supervisor.escalate"
            );
            match sup.escalation {
                Escalation::RetireNode => self.retire(j),
                Escalation::StopRuntime => {
                    self.stop_runtime_by_escalation(ctx);
                    return;
                }
            }
        } else {
            delay = sup.backoff(self.windows[j].consecutive, &mut self.rng);
            to_restart.insert(0, j);
        }
        for &k in &set {
            if !to_restart.contains(&k) && k != j {
                self.retire(k);
            }
        }
        if !to_restart.is_empty() {
            tracing::debug!(
                delay_s = delay.as_secs_f64(),
                nodes = %to_restart
                    .iter()
                    .map(|&k| self.plane.nodes[k].name())
                    .collect::<Vec<_>>()
                    .join(","),
                "node.restart_scheduled"
            );
            ctx.run_later(delay, move |act, ctx| {
                for k in to_restart {
                    act.restart(k, ctx);
                }
                act.dispatch();
            });
        }
        self.dispatch();
    }

    fn restart(&mut self, k: usize, ctx: &mut Context<Self>) {
        if self.stopping || self.plane.nodes[k].is_retired() || self.plane.nodes[k].is_available() {
            return;
        }
        self.plane.nodes[k].count_restart();
        self.plane.restarts.fetch_add(1, Ordering::Relaxed);
        self.start_node(k, ctx);
        tracing::info!(
            node = self.plane.nodes[k].name(),
            node_id = k,
            "node.restarted"
        );
        self.event(SupervisorEvent::NodeRestarted {
            node: self.plane.nodes[k].id,
            restarts: self.plane.nodes[k].restart_count(),
        });
    }

    /// Escalation past the intensity limit with `StopRuntime`: every node
    /// is retired and every unfinished task fails.
    fn stop_runtime_by_escalation(&mut self, ctx: &mut Context<Self>) {
        self.plane.health.worsen(Health::Stopped);
        for k in 0..self.plane.nodes.len() {
            if self.plane.nodes[k].is_available() {
                self.take_down(k, ctx);
            }
            if !self.plane.nodes[k].is_retired() {
                self.plane.nodes[k].retire();
                self.event(SupervisorEvent::NodeRetired {
                    node: self.plane.nodes[k].id,
                });
            }
        }
        self.stopping = true;
        let reason = "runtime stopped: restart intensity exceeded".to_owned();
        for job in self.plane.ledger.drain_live() {
            if fail_now(
                &*job,
                TaskError::Unschedulable {
                    reason: reason.clone(),
                },
            ) {
                self.plane.ledger.count_terminal(Phase::Failed);
            } else {
                self.plane.ledger.count_terminal(job.core().phase());
            }
        }
        drop(self.pending.drain_all());
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
        let ledger = &self.plane.ledger;
        let history = ledger.history();
        if history.is_recording() {
            history.attempt_failed(
                job.core().id.0,
                crate::inspect::Attempt {
                    number: attempt,
                    node: Some(node.id),
                    started: None,
                    ended: Some(crate::clock::to_system(crate::clock::now_nanos())),
                    outcome: crate::ledger::outcome_of(&failure),
                    error: Some(failure.to_string()),
                },
            );
        }
        let counted = || {
            if ledger.settle(job.core(), Settled::Failed) {
                count_failed(node);
            }
        };
        match after_failure(
            &*job,
            from,
            attempt,
            Some((node.id, node.label())),
            failure,
            counted,
        ) {
            AfterFailure::Retry => {
                self.plane.ledger.note_retry();
                self.schedule_retry(job, ctx);
            }
            AfterFailure::Failed => {}
            AfterFailure::Superseded => self.plane.ledger.reap_if_cancelled(job.core()),
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
            self.hold(job);
            return;
        }
        let (id, attempt) = (job.core().id.0, job.core().attempt());
        let until = crate::clock::now_nanos().saturating_add(delay.as_nanos() as u64);
        self.plane.ledger.history().backing_off(id, until, attempt);
        ctx.run_later(delay, move |act, _| {
            act.plane.ledger.history().backed_off(id);
            act.hold(job);
            act.dispatch();
        });
    }

    fn schedule_speed_changes(&mut self, changes: Vec<SpeedChange>, ctx: &mut Context<Self>) {
        let elapsed = self.epoch.elapsed();
        for c in changes {
            let delay = c.at.saturating_sub(elapsed);
            ctx.run_later(delay, move |act, _| {
                if let Some(n) = act.plane.nodes.get(c.node.0) {
                    n.set_speed(n.spec.speed * c.factor);
                    tracing::info!(
                        node = n.name(),
                        node_id = n.id.0,
                        factor = c.factor,
                        "fault.slow"
                    );
                }
            });
        }
    }

    /// Keeps a sample of the counters, for rates.
    fn sample(&self) {
        let t = self.plane.ledger.totals_fast();
        self.plane.ledger.history().sample(Sample {
            at: crate::clock::now_nanos(),
            completed: self.plane.nodes.iter().map(|n| n.completed()).sum(),
            failed: t.failed,
            retried: t.retried,
        });
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        self.sample();
        self.plane.dispatcher.lock().feed_policy(&self.plane.nodes);
        let now = Instant::now();
        let hang_timeout = self.config.supervision.hang_timeout;
        let mut nodes = self.plane.nodes.snapshot();
        // Nodes that joined and whose `NodesJoined` is still on its way
        // are not started yet: left for after it.
        nodes.truncate(self.windows.len());
        for (j, node) in nodes.iter().enumerate() {
            if !node.is_available() {
                continue;
            }
            let generation = node.generation();
            let addr = self.plane.directory.lock()[j].clone();
            let Some(addr) = addr else { continue };
            // Missed notification: the actor is gone but we did not hear.
            // Its own report (with the true reason: a crash or a panic is
            // not a normal stop) is sent as it goes, so it gets one tick to
            // arrive before the node is taken down as stopped.
            if !addr.connected() {
                if self.gone_unreported[j] == Some(generation) {
                    self.on_node_down(node.id, generation, DownReason::Stopped, ctx);
                } else {
                    self.gone_unreported[j] = Some(generation);
                }
                continue;
            }
            self.gone_unreported[j] = None;
            // A remote node: its worker's heartbeats are its pulse.
            if let Some((silent, departed)) = node.remote_status() {
                if departed {
                    self.on_node_down(node.id, generation, DownReason::Left, ctx);
                    continue;
                }
                if silent > hang_timeout {
                    self.on_node_down(node.id, generation, DownReason::Unreachable, ctx);
                    continue;
                }
            }
            // Executors stuck: work is running and nothing moved for too long.
            let progress = node.progress();
            let seen = &mut self.progress_seen[j];
            // (A remote node's tasks run in its worker, whose own
            // supervisor watches them; its heartbeats are checked above.)
            if progress != seen.0 || node.is_remote() || !node.is_running_work() {
                *seen = (progress, now);
            } else if now.saturating_duration_since(seen.1) > hang_timeout {
                self.on_node_down(node.id, generation, DownReason::Hung, ctx);
                continue;
            }
            let linger = self.config.heartbeat_interval;
            for (job, attempt) in node.take_abandoned(crate::clock::now_nanos(), linger) {
                tracing::debug!(node = node.name(), node_id = node.id.0, task = %job.core().id, attempt, "attempt.timed_out");
                self.fail_attempt(
                    node,
                    job,
                    Phase::Running,
                    attempt,
                    AttemptFailure::TimedOut,
                    ctx,
                );
            }
            // The actor itself must answer within the hang timeout.
            if !self.ping_outstanding[j] {
                self.ping_outstanding[j] = true;
                let id = node.id;
                addr.send(Ping)
                    .timeout(hang_timeout)
                    .into_actor(self)
                    .map(move |res, act, ctx| {
                        act.ping_outstanding[id.0] = false;
                        match res {
                            Ok(p) => {
                                tracing::trace!(
                                    node_id = id.0,
                                    generation = p.generation,
                                    oldest_running_s = p.oldest_running.map(|d| d.as_secs_f64()),
                                    "node.heartbeat"
                                );
                            }
                            Err(MailboxError::Timeout) => {
                                act.on_node_down(id, generation, DownReason::Hung, ctx);
                            }
                            Err(MailboxError::Closed) => {}
                        }
                    })
                    .spawn(ctx);
            }
        }
        self.dispatch();
    }
}

/// A fixed salt so the supervisor's random stream differs from others
/// derived from the same runtime seed.
const SUPERVISOR_SALT: u64 = 0x5150_5e1f_0a11_c0de;

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.sample();
        for j in 0..self.plane.nodes.len() {
            self.start_node(j, ctx);
        }
        let changes = std::mem::take(&mut self.speed_changes);
        self.schedule_speed_changes(changes, ctx);
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
                if self.stopping {
                    return;
                }
                self.schedule_retry(job, ctx);
                self.dispatch();
            }
            NodeEvent::Redispatch(jobs) => {
                for job in jobs {
                    self.hold(job);
                }
                self.dispatch();
            }
        }
    }
}

/// Inject a fault now.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Inject(pub(crate) Fault);

impl Handler<Inject> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: Inject, _ctx: &mut Self::Context) {
        let addr_of = |node: NodeId| self.plane.directory.lock().get(node.0).cloned().flatten();
        let (node, fault) = match msg.0 {
            Fault::PanicNode { node } => (node, ActorFault::Panic),
            Fault::StopNode { node } => (node, ActorFault::Stop),
            Fault::CrashNode { node } => (node, ActorFault::Crash),
            Fault::SlowNode { node, factor } => {
                if let Some(n) = self.plane.nodes.get(node.0) {
                    n.set_speed(n.spec.speed * factor);
                }
                return;
            }
        };
        if let Some(a) = addr_of(node) {
            a.do_send(fault);
        }
    }
}

/// Schedule time-triggered speed changes from an injected plan.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct ScheduleSpeed(pub(crate) Vec<SpeedChange>);

impl Handler<ScheduleSpeed> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: ScheduleSpeed, ctx: &mut Self::Context) {
        self.schedule_speed_changes(msg.0, ctx);
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
        for arbiter in self.late_arbiters.lock().iter() {
            arbiter.stop();
        }
        for (j, node) in self.plane.nodes.iter().enumerate() {
            if let Some(addr) = self.plane.directory.lock()[j].take() {
                addr.do_send(StopNode);
            }
            // Whatever is left is settled by the caller from the ledger.
            drop(node.evict_all(AbandonReason::Shutdown));
        }
        ctx.stop();
    }
}

/// Nodes were added to the plane's table (a worker joined the cluster):
/// give each its per-node state and an arbiter, start it, and place what
/// waits.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct NodesJoined(pub(crate) std::ops::Range<usize>);

impl Handler<NodesJoined> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: NodesJoined, ctx: &mut Self::Context) {
        // Messages may come out of order: every node up to the newest.
        let end = msg.0.end.min(self.plane.nodes.len());
        let start = self.windows.len();
        if self.stopping || end <= start {
            return;
        }
        for j in start..end {
            // `Arbiter::new` panics when its thread cannot start.
            let arbiter = match std::panic::catch_unwind(Arbiter::new) {
                Ok(a) => a,
                Err(_) => {
                    tracing::error!(
                        node = self.plane.nodes[j].name(),
                        node_id = j,
                        "node.arbiter_failed"
                    );
                    self.grow_to(j + 1);
                    self.retire(j);
                    continue;
                }
            };
            self.arbiters.push(arbiter.handle());
            self.late_arbiters.lock().push(arbiter);
            self.grow_to(j + 1);
            self.start_node(j, ctx);
            let node = &self.plane.nodes[j];
            tracing::info!(node = node.name(), node_id = j, "node.joined");
            self.event(SupervisorEvent::NodeJoined { node: node.id });
        }
        self.dispatch();
    }
}

impl Supervisor {
    /// Per-node state for nodes `..n`.
    fn grow_to(&mut self, n: usize) {
        if self.windows.len() < n {
            self.windows.resize(n, RestartWindow::default());
            self.ping_outstanding.resize(n, false);
            self.gone_unreported.resize(n, None);
            self.progress_seen.resize(n, (u64::MAX, Instant::now()));
        }
        while self.arbiters.len() < n {
            // A node whose arbiter did not start (retired): any handle.
            match self.arbiters.first().cloned() {
                Some(a) => self.arbiters.push(a),
                None => self.arbiters.push(Arbiter::current()),
            }
        }
    }
}
