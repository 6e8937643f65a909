//! Replay of a GPU cluster trace through a
//! [`GpuPlacement`](crate::policy::GpuPlacement), in simulated time: pods
//! arrive, wait, run and leave, and the replay measures how much of the
//! cluster was allocated and how long pods waited.
//!
//! It is a discrete-event simulation: no threads, no clock. Time is in
//! whole trace seconds.
//!
//! - **Arrival**: a pod arrives at its `creation_time`, shifted so that the
//!   first arrival is at t = 0.
//! - **Run**: once placed, it holds its CPU, memory and GPU share for
//!   `max(1, deletion_time − scheduled_time)` seconds, then leaves and
//!   frees them.
//! - **Queue**: a pod that cannot be placed on arrival joins a queue, in
//!   arrival order. Whenever a pod leaves, the queue is retried from its
//!   head. [`QueueOrder::Fifo`] (the default) stops at the first pod that
//!   still does not fit (head-of-line blocking: a pod never overtakes one
//!   that arrived before it, so none starves, at the price of room left
//!   idle while the head waits), and while the queue is not empty, new
//!   arrivals join its tail without being tried. [`QueueOrder::Backfill`]
//!   tries every queued pod in order and places each that fits, and tries
//!   each arrival at once: a blocked large pod does not hold up smaller
//!   ones behind it; it gets a reservation (the node where it would fit
//!   earliest, were the running pods to leave at their finish times) that
//!   a pod behind it may use only if it leaves by then (EASY backfilling),
//!   so it does not starve. [`QueueOrder::GreedyBackfill`] backfills
//!   without the reservation, at the risk of starving the head.
//! - **Index**: the nodes are kept in a
//!   [`GpuCluster`](crate::policy::GpuCluster), which groups them by state,
//!   and the policy is asked through
//!   [`choose_indexed`](crate::policy::GpuPlacement::choose_indexed): the
//!   same choice as scanning every node, found faster by a policy whose
//!   score depends on a node's state alone.
//! - **Unplaceable**: a pod that no node could host even when empty is
//!   counted as unplaceable on arrival and never queued.
//! - **Order of events at one instant**: departures first, then the queue
//!   retry, then arrivals in file order.
//! - **End**: by default the replay stops at the end of the trace
//!   ([`Replay::trace_end`]: the last `deletion_time`, or later if a pod
//!   placed on arrival would leave later); pods still queued then are
//!   *waiting*, pods still running are *placed* but not finished.
//!   [`Replay::drain`] instead runs until every pod has left.
//! - **Skipped**: pods whose times are missing or invalid are not replayed
//!   but counted, with the reason ([`SkipReason`]).
//!
//! The allocation ratio is time-averaged: the integral of allocated
//! milli-GPUs (CPU milli-cores) over the replay, divided by the cluster's
//! capacity times the replay's length. It is also given over the *busy
//! window* ([`Replay::busy_span`]), the stretch around the peak of the GPU
//! the pods would hold at their recorded times, while that stays at least
//! half its peak: the same stretch for every policy. The cluster's fragmentation is the FGD
//! paper's ([`node_fragmentation`](crate::policy::node_fragmentation),
//! summed over the nodes, for the typical shapes of the replayed pods),
//! time-averaged the same way. [`ReplayRun::timeline`] holds every instant.
//!
//! Runs are deterministic: the nodes are sorted by name and shuffled with
//! the seed, as in [`super::cluster`], and policies break ties by the lowest
//! node index, so the shuffle is the tie-break order.
//!
//! # Examples
//!
//! A one-GPU node; the second pod must wait for the first to leave:
//!
//! ```
//! use allot::policy::{BestFit, GpuDemand, GpuNode};
//! use allot::sim::replay::{Replay, ReplayPod};
//!
//! let gpu = GpuDemand::whole(1_000, 1_024, 1);
//! let replay = Replay::new(
//!     vec![GpuNode::new(8_000, 16_384, 1, None)],
//!     vec![ReplayPod::new("a", gpu, 0, 10), ReplayPod::new("b", gpu, 2, 5)],
//! );
//! let run = replay.run(&mut BestFit::new())?;
//! assert_eq!(run.report.placed, 2);
//! assert_eq!(run.report.waiting_s.max, 8.0); // b waited from 2 to 10
//! assert_eq!(run.report.completion_s.max, 13.0); // and finished at 15
//! # Ok::<(), allot::sim::cluster::SimError>(())
//! ```

mod engine;
mod outcome;
mod queue;
mod setup;
#[cfg(test)]
mod tests;
mod times;
mod window;

pub use outcome::{
    PodOutcome, Progress, ReplayReport, ReplayRun, TimeSummary, TimelinePoint, WindowAllocation,
};
pub use queue::QueueOrder;
pub use setup::{Replay, ReplayConfig, ReplayPod, DEFAULT_REPLAY_SEED};
pub use times::{parse_pod_phases, parse_pod_times, PodTimes, SkipReason, SkippedPod};
