//! A job's state word: its phase and attempt packed in one `u64`, and
//! the fixed-point scale of costs.

pub(super) const PHASE_BITS: u32 = 3;
pub(super) const PHASE_MASK: u64 = (1 << PHASE_BITS) - 1;

/// Fixed-point scale of cost in load counters: micro-units.
pub(crate) const COST_SCALE: f64 = 1_000_000.0;
/// The most one task adds to its node's load counter: a cost of 1e7 (a
/// cost of 1e300 counts as that). 2^20 such tasks on one node still sum
/// without wrapping the counter.
pub(crate) const MAX_COST_UNITS: u64 = 10_000_000 * COST_SCALE as u64;

/// Where a job is; the low bits of its state word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Pending = 0,
    Queued = 1,
    Running = 2,
    Completed = 3,
    Failed = 4,
    Cancelled = 5,
}

impl Phase {
    pub(crate) fn of(state: u64) -> Phase {
        match state & PHASE_MASK {
            0 => Phase::Pending,
            1 => Phase::Queued,
            2 => Phase::Running,
            3 => Phase::Completed,
            4 => Phase::Failed,
            _ => Phase::Cancelled,
        }
    }

    pub(crate) fn is_terminal(self) -> bool {
        matches!(self, Phase::Completed | Phase::Failed | Phase::Cancelled)
    }
}

pub(crate) fn attempt_of(state: u64) -> u32 {
    (state >> PHASE_BITS) as u32
}

pub(super) fn pack(phase: Phase, attempt: u32) -> u64 {
    (u64::from(attempt) << PHASE_BITS) | phase as u64
}
