//! The discrete-event loop: departures, the queue retry, arrivals, in that
//! order at each instant.

use super::outcome::{PodOutcome, Progress, ReplayReport, ReplayRun, TimeSummary};
use super::setup::Replay;
use crate::policy::{GpuChoice, GpuDemand, GpuNode, GpuPlacement};
use crate::sim::cluster::SimError;
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
    nodes: Vec<GpuNode>,
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
}

impl<'a> Engine<'a> {
    fn new(replay: &'a Replay, policy: &'a mut dyn GpuPlacement) -> Self {
        Engine {
            replay,
            policy,
            nodes: replay.nodes.clone(),
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
        let (mut gpu_time, mut cpu_time) = (0u128, 0u128);
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
            gpu_time += u128::from(self.gpu_allocated) * u128::from(t - last);
            cpu_time += u128::from(self.cpu_allocated) * u128::from(t - last);
            last = t;
            on_time(&Progress {
                time: t,
                end: stop,
                placed: self.placed,
                waiting: self.queue.len(),
            });

            let mut freed = false;
            while let Some(&Reverse((finish, i))) = self.departures.peek() {
                if finish != t {
                    break;
                }
                self.departures.pop();
                self.release(i, t);
                freed = true;
            }
            if freed {
                while let Some(&i) = self.queue.front() {
                    if !self.try_place(i, t)? {
                        break;
                    }
                    self.queue.pop_front();
                }
            }
            while let Some(&i) = order.get(next).filter(|&&i| pods[i].arrival == t) {
                next += 1;
                let d = &pods[i].demand;
                if !replay.nodes.iter().any(|n| n.could_fit(d)) {
                    self.outcomes[i] = PodOutcome::Unplaceable;
                } else if !self.queue.is_empty() || !self.try_place(i, t)? {
                    self.queue.push_back(i);
                    self.max_queue = self.max_queue.max(self.queue.len());
                }
            }
        }
        let end = stop.unwrap_or(last);
        gpu_time += u128::from(self.gpu_allocated) * u128::from(end - last);
        cpu_time += u128::from(self.cpu_allocated) * u128::from(end - last);
        Ok(self.finish(end, gpu_time, cpu_time))
    }

    /// Places pod `i` at time `t` if some node has room now.
    fn try_place(&mut self, i: usize, t: u64) -> Result<bool, SimError> {
        let pod = &self.replay.pods[i];
        let d = &pod.demand;
        // Every policy returns `None` when no node fits; checking first
        // keeps retries of a blocked pod from reaching (and teaching)
        // policies that learn from what they are asked to place.
        if !self.nodes.iter().any(|n| n.fits(d)) {
            return Ok(false);
        }
        let Some(c) = self.policy.choose(d, &self.nodes) else {
            return Ok(false);
        };
        if !valid_choice(&c, d, &self.nodes) {
            return Err(SimError::InvalidChoice {
                policy: self.policy.name().to_owned(),
                pod: i,
                node: c.node,
            });
        }
        self.nodes[c.node].place(d, &c.gpus);
        self.gpu_allocated += d.total_gpu_milli();
        self.gpu_peak = self.gpu_peak.max(self.gpu_allocated);
        self.cpu_allocated += d.cpu_milli;
        self.placed += 1;
        self.outcomes[i] = PodOutcome::Running {
            node: c.node,
            start: t,
        };
        self.held[i] = c.gpus;
        self.departures
            .push(Reverse((t.saturating_add(pod.duration), i)));
        Ok(true)
    }

    /// Pod `i` leaves at time `t`.
    fn release(&mut self, i: usize, t: u64) {
        let d = &self.replay.pods[i].demand;
        let PodOutcome::Running { node, start } = self.outcomes[i] else {
            return;
        };
        let n = &mut self.nodes[node];
        for &g in &self.held[i] {
            n.gpu_free[g] += d.gpu_milli;
        }
        n.cpu_free += d.cpu_milli;
        n.memory_free += d.memory_mib;
        n.tasks -= 1;
        self.gpu_allocated -= d.total_gpu_milli();
        self.cpu_allocated -= d.cpu_milli;
        self.outcomes[i] = PodOutcome::Finished {
            node,
            start,
            finish: t,
        };
    }

    fn finish(self, end: u64, gpu_time: u128, cpu_time: u128) -> ReplayRun {
        let ratio = |time: u128, capacity: u64| {
            let denominator = u128::from(capacity) * u128::from(end);
            if denominator == 0 {
                0.0
            } else {
                time as f64 / denominator as f64
            }
        };
        let gpu_capacity = self.replay.gpu_capacity_milli();
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
            gpu_allocation: ratio(gpu_time, gpu_capacity),
            cpu_allocation: ratio(cpu_time, self.replay.cpu_capacity_milli()),
            peak_gpu_allocation: if gpu_capacity == 0 {
                0.0
            } else {
                self.gpu_peak as f64 / gpu_capacity as f64
            },
            end_s: end,
            waiting_s: TimeSummary::of(waits),
            completion_s: TimeSummary::of(completions),
            max_queue: self.max_queue,
        };
        ReplayRun {
            report,
            outcomes: self.outcomes,
        }
    }
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
