//! The plain data of a task: its spec, its kind, its status, and the context
//! its closure sees.

use crate::resources::Resources;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A boxed error returned by task code.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl TaskSpec {
    /// Default for [`TaskSpec::max_retries`]: 3, as in Ray.
    pub const DEFAULT_MAX_RETRIES: u32 = 3;
}

/// What a task does; policies may learn per kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TaskKind {
    /// A training shard or step.
    Training,
    /// An inference batch.
    Inference,
    /// Data preprocessing.
    Preprocessing,
    /// Model evaluation or a hyper-parameter trial.
    Evaluation,
    /// Anything else, named by the application.
    Custom(String),
    /// Not said.
    #[default]
    Unspecified,
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskKind::Training => f.write_str("training"),
            TaskKind::Inference => f.write_str("inference"),
            TaskKind::Preprocessing => f.write_str("preprocessing"),
            TaskKind::Evaluation => f.write_str("evaluation"),
            TaskKind::Custom(name) => write!(f, "custom:{name}"),
            TaskKind::Unspecified => f.write_str("unspecified"),
        }
    }
}

/// The plain-data part of a task: everything but its closure.
///
/// Serialisable, so workloads and logs can carry it.
///
/// # Default
///
/// Kind unspecified, cost 1.0, no resource demand, priority 0, no deadline,
/// [`TaskSpec::DEFAULT_MAX_RETRIES`] retries after node loss, own errors not retried,
/// no timeout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskSpec {
    /// What the task does.
    pub kind: TaskKind,
    /// Estimated cost, in seconds on a node of speed 1.0. Must be finite and
    /// not negative. Used by SJF ordering, load counters and policies.
    pub cost: f64,
    /// Resources the task needs while it runs.
    pub demand: Resources,
    /// Larger runs first under the priority discipline.
    pub priority: i32,
    /// Deadline relative to submission; orders the EDF discipline.
    #[serde(with = "crate::durations::opt_secs")]
    pub deadline: Option<Duration>,
    /// How many times the task is run again after a failed attempt.
    pub max_retries: u32,
    /// Whether the task's own errors (and panics) are retried; node loss and
    /// timeouts always are.
    pub retry_on_error: bool,
    /// Longest one attempt may run before it fails with a timeout.
    #[serde(with = "crate::durations::opt_secs")]
    pub timeout: Option<Duration>,
}

impl Default for TaskSpec {
    fn default() -> Self {
        PackedSpec::default_spec().unpack()
    }
}

/// Why a [`TaskSpec`] is not acceptable: names the field and the value.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SpecError {
    /// The field at fault.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid `{}`: {}", self.field, self.reason)
    }
}

impl std::error::Error for SpecError {}

impl TaskSpec {
    /// The default [`cost`](TaskSpec::cost): 1.0.
    pub const DEFAULT_COST: f64 = 1.0;

    /// Checks the fields a caller can get wrong.
    ///
    /// # Errors
    ///
    /// A [`SpecError`] naming the first bad field: a negative, NaN or
    /// infinite `cost`, or a zero `timeout`.
    pub fn validate(&self) -> Result<(), SpecError> {
        check_cost(self.cost)?;
        check_timeout(self.timeout)
    }
}

/// The fields of a [`TaskSpec`] that most tasks leave at their defaults,
/// kept out of line by [`PackedSpec`].
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SpecExtra {
    pub(crate) kind: TaskKind,
    pub(crate) demand: Resources,
    pub(crate) priority: i32,
    pub(crate) deadline: Option<Duration>,
    pub(crate) max_retries: u32,
    pub(crate) retry_on_error: bool,
    pub(crate) timeout: Option<Duration>,
    /// The task's name ([`Task::name`](crate::Task::name)): not part of
    /// [`TaskSpec`], so specs, workloads and the journal's format are as
    /// they were.
    pub(crate) name: Option<Arc<str>>,
}

impl Default for SpecExtra {
    fn default() -> Self {
        DEFAULT_EXTRA.clone()
    }
}

/// [`TaskKind::Unspecified`], to lend.
pub(crate) static UNSPECIFIED: TaskKind = TaskKind::Unspecified;

static DEFAULT_EXTRA: SpecExtra = SpecExtra {
    kind: TaskKind::Unspecified,
    demand: Resources::ZERO,
    priority: 0,
    deadline: None,
    max_retries: TaskSpec::DEFAULT_MAX_RETRIES,
    retry_on_error: false,
    timeout: None,
    name: None,
};

/// A [`TaskSpec`] as a job stores it: the cost inline and the rest boxed
/// only when it differs from the defaults. Sixteen bytes instead of a
/// hundred and twelve, so that a typical job fits the allocator's small,
/// lock-free size classes (see `docs/performance.md`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PackedSpec {
    cost: f64,
    extra: Option<Box<SpecExtra>>,
}

impl PackedSpec {
    pub(crate) fn new(spec: TaskSpec) -> Self {
        let extra = SpecExtra {
            kind: spec.kind,
            demand: spec.demand,
            priority: spec.priority,
            deadline: spec.deadline,
            max_retries: spec.max_retries,
            retry_on_error: spec.retry_on_error,
            timeout: spec.timeout,
            name: None,
        };
        PackedSpec {
            cost: spec.cost,
            extra: (extra != DEFAULT_EXTRA).then(|| Box::new(extra)),
        }
    }

    /// The default spec: cost 1.0, nothing boxed.
    pub(crate) fn default_spec() -> Self {
        PackedSpec {
            cost: TaskSpec::DEFAULT_COST,
            extra: None,
        }
    }

    /// The full spec, rebuilt.
    pub(crate) fn unpack(&self) -> TaskSpec {
        PackedSpec::unpack_parts(self.cost, self.extra.as_deref())
    }

    /// The spec's two parts, for a store that keeps them apart: the cost,
    /// and the boxed fields when any differs from the defaults.
    pub(crate) fn into_parts(self) -> (f64, Option<Box<SpecExtra>>) {
        (self.cost, self.extra)
    }

    /// The full spec from the parts [`into_parts`](Self::into_parts) gave.
    pub(crate) fn unpack_parts(cost: f64, extra: Option<&SpecExtra>) -> TaskSpec {
        let e = extra.unwrap_or(&DEFAULT_EXTRA);
        TaskSpec {
            kind: e.kind.clone(),
            cost,
            demand: e.demand,
            priority: e.priority,
            deadline: e.deadline,
            max_retries: e.max_retries,
            retry_on_error: e.retry_on_error,
            timeout: e.timeout,
        }
    }

    fn extra(&self) -> &SpecExtra {
        self.extra.as_deref().unwrap_or(&DEFAULT_EXTRA)
    }

    /// Changes the boxed fields, boxing them only if they end up differing
    /// from the defaults.
    pub(crate) fn edit(&mut self, f: impl FnOnce(&mut SpecExtra)) {
        let mut extra = self.extra.take().unwrap_or_default();
        f(&mut extra);
        if *extra != DEFAULT_EXTRA {
            self.extra = Some(extra);
        }
    }

    pub(crate) fn set_cost(&mut self, cost: f64) {
        self.cost = cost;
    }

    pub(crate) fn cost(&self) -> f64 {
        self.cost
    }

    pub(crate) fn kind(&self) -> &TaskKind {
        &self.extra().kind
    }

    pub(crate) fn demand(&self) -> Resources {
        self.extra().demand
    }

    pub(crate) fn priority(&self) -> i32 {
        self.extra().priority
    }

    pub(crate) fn deadline(&self) -> Option<Duration> {
        self.extra().deadline
    }

    pub(crate) fn max_retries(&self) -> u32 {
        self.extra().max_retries
    }

    pub(crate) fn retry_on_error(&self) -> bool {
        self.extra().retry_on_error
    }

    pub(crate) fn timeout(&self) -> Option<Duration> {
        self.extra().timeout
    }

    /// Whether any boxed field differs from the defaults (a kind, a name,
    /// resources, …).
    #[inline]
    pub(crate) fn has_extra(&self) -> bool {
        self.extra.is_some()
    }

    /// The name given with [`Task::name`](crate::Task::name), if any.
    pub(crate) fn name(&self) -> Option<&Arc<str>> {
        self.extra.as_ref()?.name.as_ref()
    }

    /// [`TaskSpec::validate`] without rebuilding the spec.
    #[inline]
    pub(crate) fn validate(&self) -> Result<(), SpecError> {
        // The common case in two comparisons.
        if self.extra.is_none() && self.cost >= 0.0 && self.cost.is_finite() {
            return Ok(());
        }
        self.validate_slow()
    }

    #[cold]
    fn validate_slow(&self) -> Result<(), SpecError> {
        check_cost(self.cost)?;
        check_timeout(self.timeout())
    }

    /// Whether the task asks for no resources (the common case).
    #[inline]
    pub(crate) fn has_no_demand(&self) -> bool {
        self.extra
            .as_ref()
            .is_none_or(|e| e.demand == Resources::ZERO)
    }
}

fn check_cost(cost: f64) -> Result<(), SpecError> {
    if !cost.is_finite() || cost < 0.0 {
        return Err(SpecError {
            field: "cost",
            reason: format!("must be finite and >= 0, got {cost}"),
        });
    }
    Ok(())
}

fn check_timeout(timeout: Option<Duration>) -> Result<(), SpecError> {
    if timeout == Some(Duration::ZERO) {
        return Err(SpecError {
            field: "timeout",
            reason: "must be greater than zero".to_owned(),
        });
    }
    Ok(())
}

/// Where a task is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TaskStatus {
    /// Accepted, waiting at the supervisor (for a node, or for a retry's backoff).
    Pending,
    /// In a node's queue, not started; may still migrate.
    Queued,
    /// Running on a node.
    Running,
    /// Finished with a value. Terminal.
    Completed,
    /// Failed for good. Terminal.
    Failed,
    /// Cancelled, by the caller or by `shutdown_now`. Terminal.
    Cancelled,
}

impl TaskStatus {
    /// Whether this status is final.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Cancelled
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_names_the_bad_field() {
        let mut spec = TaskSpec {
            cost: f64::NAN,
            ..TaskSpec::default()
        };
        assert_eq!(spec.validate().unwrap_err().field, "cost");
        spec.cost = -1.0;
        assert_eq!(spec.validate().unwrap_err().field, "cost");
        spec.cost = 1.0;
        spec.timeout = Some(Duration::ZERO);
        assert_eq!(spec.validate().unwrap_err().field, "timeout");
        spec.timeout = None;
        assert!(spec.validate().is_ok());
    }

    #[test]
    fn spec_round_trips_through_json_like_serde() {
        let spec = TaskSpec {
            kind: TaskKind::Custom("embed".into()),
            deadline: Some(Duration::from_millis(1500)),
            ..TaskSpec::default()
        };
        let text = serde_json::to_string(&spec).unwrap();
        let back: TaskSpec = serde_json::from_str(&text).unwrap();
        assert_eq!(back, spec);
    }
}
