//! The discrete-event loop: departures, the queue retry, arrivals, in that
//! order at each instant.

use super::outcome::{PodOutcome, Progress, ReplayReport, ReplayRun, TimeSummary, TimelinePoint};
use super::queue::QueueOrder;
use super::setup::Replay;
use super::window::{over, Capacity};
use crate::policy::{
    node_fragmentation, Fgd, GpuChoice, GpuCluster, GpuDemand, GpuNode, GpuPlacement, TypicalShape,
};
use crate::sim::cluster::SimError;
use rustc_hash::FxHashMap;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

impl Replay {
    /// Replays the pods through `policy`.
    ///
    /// # Errors
    ///
    /// [`SimError::InvalidChoice`] when the policy picks a node or GPUs
    /// without room.
    pub fn run(&self, policy: &mut dyn GpuPlacement) -> Result<ReplayRun, SimError> {
        self.run_with(policy, |_| {})
    }

    /// Replays the pods through `policy`, calling `on_time` before each
    /// instant with events (to show progress, or to pace the replay against
    /// a wall clock).
    ///
    /// # Errors
    ///
    /// [`SimError::InvalidChoice`] when the policy picks a node or GPUs
    /// without room.
    pub fn run_with(
        &self,
        policy: &mut dyn GpuPlacement,
        on_time: impl FnMut(&Progress),
    ) -> Result<ReplayRun, SimError> {
        let _span = tracing::debug_span!("replay.run", policy = policy.name()).entered();
        let run = Engine::new(self, policy).run(on_time)?;
        tracing::debug!(
            placed = run.report.placed,
            waiting = run.report.waiting,
            unplaceable = run.report.unplaceable,
            gpu_allocation = run.report.gpu_allocation,
            "replay.done"
        );
        Ok(run)
    }
}

/// The state of one replay.
struct Engine<'a> {
    replay: &'a Replay,
    policy: &'a mut dyn GpuPlacement,
    /// The nodes, indexed by state for the policy.
    cluster: GpuCluster,
    /// Whether some node could host a demand when empty, by demand.
    could_fit: FxHashMap<GpuDemand, bool>,
    /// The GPUs each running pod holds.
    held: Vec<Vec<usize>>,
    outcomes: Vec<PodOutcome>,
    /// `(finish, pod)`, earliest first.
    departures: BinaryHeap<Reverse<(u64, usize)>>,
    queue: VecDeque<usize>,
    placed: usize,
    max_queue: usize,
    gpu_allocated: u64,
    cpu_allocated: u64,
    gpu_peak: u64,
    /// The typical pod shapes, for the fragmentation measure.
    typical: Vec<TypicalShape>,
    /// Each node's fragmentation, and their sum.
    frag: Vec<f64>,
    frag_sum: f64,
    /// Nodes that freed room at the current instant (or were opened by a
    /// reservation that moved).
    freed: Vec<usize>,
    /// `(finish, pod)` of the pods running on each node.
    running: Vec<Vec<(u64, usize)>>,
    /// The head of the backfill queue's reservation.
    reservation: Option<Reservation>,
    timeline: Vec<TimelinePoint>,
}

impl<'a> Engine<'a> {
    fn new(replay: &'a Replay, policy: &'a mut dyn GpuPlacement) -> Self {
        let demands: Vec<GpuDemand> = replay.pods.iter().map(|p| p.demand).collect();
        let typical = Fgd::from_workload(&demands, Fgd::DEFAULT_TYPICAL_COVERAGE)
            .typical()
            .to_vec();
        let frag: Vec<f64> = replay
            .nodes
            .iter()
            .map(|n| node_fragmentation(n, &typical))
            .collect();
        Engine {
            frag_sum: frag.iter().sum(),
            frag,
            typical,
            freed: Vec::new(),
            running: vec![Vec::new(); replay.nodes.len()],
            reservation: None,
            timeline: Vec::new(),
            replay,
            policy,
            cluster: GpuCluster::new(replay.nodes.clone()),
            could_fit: FxHashMap::default(),
            held: vec![Vec::new(); replay.pods.len()],
            outcomes: vec![PodOutcome::Waiting; replay.pods.len()],
            departures: BinaryHeap::new(),
            queue: VecDeque::new(),
            placed: 0,
            max_queue: 0,
            gpu_allocated: 0,
            cpu_allocated: 0,
            gpu_peak: 0,
        }
    }

    fn run(mut self, mut on_time: impl FnMut(&Progress)) -> Result<ReplayRun, SimError> {
        let replay = self.replay;
        let pods = &replay.pods;
        let mut order: Vec<usize> = (0..pods.len()).collect();
        order.sort_by_key(|&i| (pods[i].arrival, i));
        let last_arrival = order.last().map_or(0, |&i| pods[i].arrival);
        let stop = (!replay.drain).then(|| replay.trace_end.max(last_arrival));
        let mut last = 0u64;
        let mut next = 0;
        loop {
            let arrival = order.get(next).map(|&i| pods[i].arrival);
            let departure = self.departures.peek().map(|Reverse((t, _))| *t);
            let t = match (arrival, departure) {
                (Some(a), Some(d)) => a.min(d),
                (Some(a), None) => a,
                (None, Some(d)) => d,
                (None, None) => break,
            };
            if stop.is_some_and(|s| t > s) {
                break;
            }
            last = t;
            on_time(&Progress {
                time: t,
                end: stop,
                placed: self.placed,
                waiting: self.queue.len(),
            });

            self.freed.clear();
            while let Some(&Reverse((finish, i))) = self.departures.peek() {
                if finish != t {
                    break;
                }
                self.departures.pop();
                self.release(i, t);
            }
            if !self.freed.is_empty() {
                match replay.queue {
                    QueueOrder::Fifo => self.retry_head(t)?,
                    _ => self.retry_all(t)?,
                }
            }
            let fifo = replay.queue == QueueOrder::Fifo;
            while let Some(&i) = order.get(next).filter(|&&i| pods[i].arrival == t) {
                next += 1;
                let d = &pods[i].demand;
                let could = *self
                    .could_fit
                    .entry(*d)
                    .or_insert_with(|| replay.nodes.iter().any(|n| n.could_fit(d)));
                if !could {
                    self.outcomes[i] = PodOutcome::Unplaceable;
                } else if (fifo && !self.queue.is_empty()) || !self.try_arrival(i, t)? {
                    self.queue.push_back(i);
                    self.max_queue = self.max_queue.max(self.queue.len());
                }
            }
            self.timeline.push(TimelinePoint {
                time: t,
                gpu_milli: self.gpu_allocated,
                cpu_milli: self.cpu_allocated,
                queued: self.queue.len(),
                fragmentation_milli: self.frag_sum.max(0.0),
            });
        }
        let end = stop.unwrap_or(last);
        Ok(self.finish(end))
    }

    /// FIFO: places queued pods from the head until one does not fit. The
    /// head did not fit anywhere when last tried; since then only the
    /// nodes freed now gained room, so unless one of them fits it, it
    /// still does not fit, and the policy is not asked.
    fn retry_head(&mut self, t: u64) -> Result<(), SimError> {
        if let Some(&i) = self.queue.front() {
            let d = &self.replay.pods[i].demand;
            let nodes = self.cluster.nodes();
            if !self.freed.iter().any(|&n| nodes[n].fits(d)) {
                return Ok(());
            }
        }
        while let Some(&i) = self.queue.front() {
            if !self.try_place(i, t)? {
                break;
            }
            self.queue.pop_front();
        }
        Ok(())
    }

    /// Backfill: tries every queued pod, in order, and places each that
    /// fits. Every queued pod was tried at the last instant that freed
    /// room (or on arrival) and did not fit anywhere; since then only the
    /// nodes freed now gained room (and a node a reservation no longer
    /// holds), so a pod none of them fits is passed over without asking
    /// the policy, and a shape that did not fit is not tried again in this
    /// pass (placements only take room). With [`QueueOrder::Backfill`] the
    /// first pod left waiting gets a reservation that the pods behind it
    /// respect ([`Engine::reserve`]).
    fn retry_all(&mut self, t: u64) -> Result<(), SimError> {
        let mut kept = VecDeque::with_capacity(self.queue.len());
        let mut refused: Vec<(GpuDemand, Option<usize>)> = Vec::new();
        let queue = std::mem::take(&mut self.queue);
        for i in queue {
            let d = self.replay.pods[i].demand;
            let closed = if kept.is_empty() {
                None
            } else {
                self.closed_for(i, t)
            };
            let nodes = self.cluster.nodes();
            let could = !refused.contains(&(d, closed))
                && self
                    .freed
                    .iter()
                    .any(|&n| Some(n) != closed && nodes[n].fits(&d));
            if could && self.try_place_except(i, t, closed)? {
                continue;
            }
            if could {
                refused.push((d, closed));
            }
            if kept.is_empty() {
                self.reserve(i, t);
            }
            kept.push_back(i);
        }
        if kept.is_empty() {
            self.reservation = None;
        }
        self.queue = kept;
        Ok(())
    }

    /// An arrival: tried at once (FIFO tries it only when nothing waits);
    /// with a reservation, as a pod behind the head.
    fn try_arrival(&mut self, i: usize, t: u64) -> Result<bool, SimError> {
        let closed = if self.queue.is_empty() {
            None
        } else {
            self.closed_for(i, t)
        };
        let placed = self.try_place_except(i, t, closed)?;
        if !placed && self.queue.is_empty() {
            self.reserve(i, t);
        }
        Ok(placed)
    }

    /// The node pod `i` must stay off at time `t`: the reserved node, when
    /// it would still be running at the reservation's time.
    fn closed_for(&self, i: usize, t: u64) -> Option<usize> {
        let r = self.reservation.as_ref()?;
        let finish = t.saturating_add(self.replay.pods[i].duration);
        (finish > r.at).then_some(r.node)
    }

    /// Gives pod `head`, the head of the queue, which does not fit now, a
    /// reservation (with [`QueueOrder::Backfill`]; kept while the head
    /// stays the same, since departures only bring it forward and the
    /// pods placed on its node leave by then): among the nodes that could
    /// host it, the one where it would fit earliest if the running pods
    /// left at their finish times (ties to the lowest index). A node the
    /// reservation held before counts as freed for the rest of this pass.
    fn reserve(&mut self, head: usize, t: u64) {
        if self.replay.queue != QueueOrder::Backfill {
            return;
        }
        if self.reservation.as_ref().is_some_and(|r| r.pod == head) {
            return;
        }
        let d = self.replay.pods[head].demand;
        let mut best: Option<(u64, usize)> = None;
        for (j, n) in self.cluster.nodes().iter().enumerate() {
            if !self.replay.nodes[j].could_fit(&d) {
                continue;
            }
            let mut on: Vec<(u64, usize)> = self.running[j].clone();
            on.sort_unstable();
            let mut node = n.clone();
            let mut at = t;
            for &(finish, p) in &on {
                if node.fits(&d) || best.is_some_and(|(b, _)| finish >= b) {
                    break;
                }
                node.release(&self.replay.pods[p].demand, &self.held[p]);
                at = finish;
            }
            if node.fits(&d) && best.is_none_or(|(b, _)| at < b) {
                best = Some((at, j));
            }
        }
        if let Some(old) = self.reservation.take() {
            if !self.freed.contains(&old.node) {
                self.freed.push(old.node);
            }
        }
        self.reservation = best.map(|(at, node)| Reservation {
            pod: head,
            node,
            at,
        });
        if let Some(r) = &self.reservation {
            tracing::trace!(pod = head, node = r.node, at = r.at, "replay.reserve");
        }
    }

    /// [`try_place`](Self::try_place) with node `closed` (if any) out of
    /// bounds: it takes no task while the policy chooses.
    fn try_place_except(
        &mut self,
        i: usize,
        t: u64,
        closed: Option<usize>,
    ) -> Result<bool, SimError> {
        let Some(c) = closed else {
            return self.try_place(i, t);
        };
        let mut limit = 0;
        self.cluster.update(c, |n| {
            limit = n.max_tasks;
            n.max_tasks = n.tasks;
        });
        let placed = self.try_place(i, t);
        self.cluster.update(c, |n| n.max_tasks = limit);
        placed
    }

    /// Recomputes node `n`'s fragmentation after a change.
    fn refresh_frag(&mut self, n: usize) {
        let f = node_fragmentation(&self.cluster.nodes()[n], &self.typical);
        self.frag_sum += f - self.frag[n];
        self.frag[n] = f;
    }

    /// Places pod `i` at time `t` if some node has room now.
    fn try_place(&mut self, i: usize, t: u64) -> Result<bool, SimError> {
        let pod = &self.replay.pods[i];
        let d = &pod.demand;
        // Every policy returns `None` when no node fits; checking first
        // keeps retries of a blocked pod from reaching (and teaching)
        // policies that learn from what they are asked to place.
        if !self.cluster.any_fits(d) {
            return Ok(false);
        }
        let Some(c) = self.policy.choose_indexed(d, &self.cluster) else {
            return Ok(false);
        };
        if !valid_choice(&c, d, self.cluster.nodes()) {
            return Err(SimError::InvalidChoice {
                policy: self.policy.name().to_owned(),
                pod: i,
                node: c.node,
            });
        }
        self.cluster.place(c.node, d, &c.gpus);
        self.refresh_frag(c.node);
        self.gpu_allocated += d.total_gpu_milli();
        self.gpu_peak = self.gpu_peak.max(self.gpu_allocated);
        self.cpu_allocated += d.cpu_milli;
        self.placed += 1;
        self.outcomes[i] = PodOutcome::Running {
            node: c.node,
            start: t,
        };
        self.held[i] = c.gpus;
        let finish = t.saturating_add(pod.duration);
        self.running[c.node].push((finish, i));
        self.departures.push(Reverse((finish, i)));
        Ok(true)
    }

    /// Pod `i` leaves at time `t`.
    fn release(&mut self, i: usize, t: u64) {
        let d = &self.replay.pods[i].demand;
        let PodOutcome::Running { node, start } = self.outcomes[i] else {
            return;
        };
        self.cluster.release(node, d, &self.held[i]);
        let k = self.running[node]
            .iter()
            .position(|&(_, p)| p == i)
            .expect("a running pod is listed on its node");
        self.running[node].swap_remove(k);
        self.refresh_frag(node);
        if !self.freed.contains(&node) {
            self.freed.push(node);
        }
        self.gpu_allocated -= d.total_gpu_milli();
        self.cpu_allocated -= d.cpu_milli;
        self.outcomes[i] = PodOutcome::Finished {
            node,
            start,
            finish: t,
        };
    }

    fn finish(self, end: u64) -> ReplayRun {
        let gpu_capacity = self.replay.gpu_capacity_milli();
        let capacity = Capacity {
            gpu_milli: gpu_capacity,
            cpu_milli: self.replay.cpu_capacity_milli(),
        };
        let whole = over(&self.timeline, 0, end, capacity);
        let (start, length) = self.replay.busy_span();
        let busy = over(&self.timeline, start, length, capacity);
        let pods = &self.replay.pods;
        let (mut waits, mut completions) = (Vec::new(), Vec::new());
        let (mut finished, mut unplaceable) = (0, 0);
        for (o, p) in self.outcomes.iter().zip(pods) {
            match *o {
                PodOutcome::Unplaceable => unplaceable += 1,
                PodOutcome::Waiting => {}
                PodOutcome::Running { start, .. } => waits.push(start - p.arrival),
                PodOutcome::Finished { start, finish, .. } => {
                    waits.push(start - p.arrival);
                    completions.push(finish - p.arrival);
                    finished += 1;
                }
            }
        }
        let report = ReplayReport {
            policy: self.policy.name().to_owned(),
            pods: pods.len() + self.replay.skipped.len(),
            placed: self.placed,
            finished,
            waiting: self.queue.len(),
            unplaceable,
            skipped: self.replay.skipped.len(),
            gpu_allocation: whole.gpu_allocation,
            cpu_allocation: whole.cpu_allocation,
            peak_gpu_allocation: if gpu_capacity == 0 {
                0.0
            } else {
                self.gpu_peak as f64 / gpu_capacity as f64
            },
            end_s: end,
            waiting_s: TimeSummary::of(waits),
            completion_s: TimeSummary::of(completions),
            max_queue: self.max_queue,
            queue: self.replay.queue,
            failed_in_trace: self.replay.failed_in_trace,
            fragmentation: whole.fragmentation,
            busy_window: busy,
        };
        ReplayRun {
            report,
            outcomes: self.outcomes,
            timeline: self.timeline,
        }
    }
}

/// Where and when the head of the backfill queue will start at the
/// latest.
#[derive(Clone, Copy, Debug)]
struct Reservation {
    /// The head.
    pod: usize,
    /// The node held for it.
    node: usize,
    /// When it will fit there.
    at: u64,
}

/// Whether `c` names a node with room for `d` and `d.gpus` distinct GPUs
/// on it, each with `d.gpu_milli` free.
fn valid_choice(c: &GpuChoice, d: &GpuDemand, nodes: &[GpuNode]) -> bool {
    let Some(n) = nodes.get(c.node) else {
        return false;
    };
    n.fits(d)
        && c.gpus.len() == d.gpus as usize
        && c.gpus.iter().enumerate().all(|(k, &g)| {
            g < n.gpu_free.len() && n.gpu_free[g] >= d.gpu_milli && !c.gpus[..k].contains(&g)
        })
}
