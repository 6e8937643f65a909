//! The type-erased job behind every task: its state machine, its result cell
//! and the decision taken after a failed attempt.
//!
//! A job's state is one `AtomicU64` holding `(attempt << 3) | phase`. Every
//! change is a compare-and-swap from an expected `(phase, attempt)`, so of two
//! racing parties (a node finishing, the supervisor moving the job after a
//! node failure, a caller cancelling) exactly one wins, and a result from a
//! superseded attempt cannot complete the task.

mod cell;
mod context;
mod core;
mod durable;
mod inner;
mod remote;
mod state;
#[cfg(test)]
mod tests;

pub(crate) use self::core::{after_failure, cancel, fail_now, AfterFailure};
pub(crate) use self::core::{ErasedJob, Host, JobCore, JobRef, Rejection, RunEnv, RunOutcome};
pub use context::TaskContext;
#[cfg_attr(not(feature = "journal"), allow(unused_imports))]
pub(crate) use durable::{DurableOutcome, DurableSink};
#[cfg(feature = "journal")]
pub(crate) use inner::finished_job;
pub(crate) use inner::{FnWork, HandedBack, Rerun, TaskInner, TypedJob, Work};
#[cfg_attr(not(feature = "cluster"), allow(unused_imports))]
pub(crate) use remote::{RemoteCall, RemoteForm, RemoteLink, RemoteReply};
pub(crate) use state::{Phase, COST_SCALE};
