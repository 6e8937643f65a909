//! [`RuntimeConfig`]: the plain-data part of a [`Builder`](crate::Builder),
//! for config files.

use crate::balancer::BalancerConfig;
use crate::fault::FaultPlan;
use crate::node::NodeSpec;
use crate::policy::PolicyKind;
use crate::queue::Discipline;
use crate::supervision::SupervisionConfig;
use serde::{Deserialize, Serialize};
use std::time::Duration;

impl RuntimeConfig {
    /// Default number of nodes: 4, each [`NodeSpec::default`](crate::NodeSpec::default).
    pub const DEFAULT_NODE_COUNT: usize = 4;

    /// Default [`Builder::rng_seed`](crate::Builder::rng_seed): runs are reproducible unless asked not to be.
    pub const DEFAULT_RNG_SEED: u64 = 0x5eed;

    /// Default [`Builder::queue_capacity`](crate::Builder::queue_capacity): tasks in flight (accepted, not finished).
    pub const DEFAULT_QUEUE_CAPACITY: usize = 1 << 20;

    /// Default [`Builder::heartbeat_interval`](crate::Builder::heartbeat_interval).
    pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_millis(50);

    /// Default lower bound of [`Builder::retry_backoff`](crate::Builder::retry_backoff).
    pub const DEFAULT_RETRY_BACKOFF_MIN: Duration = Duration::from_millis(1);

    /// Default upper bound of [`Builder::retry_backoff`](crate::Builder::retry_backoff).
    pub const DEFAULT_RETRY_BACKOFF_MAX: Duration = Duration::from_secs(1);
}

/// Everything a [`Builder`](crate::Builder) takes that is plain data,
/// (de)serialisable with serde: read it from TOML or JSON and pass it to
/// [`Builder::from_config`](crate::Builder::from_config).
///
/// Durations are in seconds. Unknown fields are errors.
///
/// # Examples
///
/// ```
/// use allot::{Runtime, RuntimeConfig};
///
/// let cfg: RuntimeConfig = serde_json::from_str(
///     r#"{ "policy": "round-robin", "discipline": "edf", "rng_seed": 9,
///          "nodes": [ { "name": "a", "speed": 2.0 }, { "name": "b" } ] }"#,
/// ).unwrap();
/// let runtime = Runtime::builder_from(&cfg).build().unwrap();
/// assert_eq!(runtime.handle().nodes().len(), 2);
/// runtime.shutdown();
/// ```
///
/// # Default
///
/// The same defaults as [`Builder`](crate::Builder).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// The nodes, in id order.
    pub nodes: Vec<NodeSpec>,
    /// The allocation policy.
    pub policy: PolicyKind,
    /// The queue discipline.
    pub discipline: Discipline,
    /// The seed of every random choice.
    pub rng_seed: u64,
    /// Most tasks in flight.
    pub queue_capacity: usize,
    /// How often the supervisor checks nodes and timeouts.
    #[serde(with = "crate::durations::secs")]
    pub heartbeat_interval: Duration,
    /// Smallest delay before a task's retry.
    #[serde(with = "crate::durations::secs")]
    pub retry_backoff_min: Duration,
    /// Largest delay before a task's retry.
    #[serde(with = "crate::durations::secs")]
    pub retry_backoff_max: Duration,
    /// Balancer settings.
    pub balancer: BalancerConfig,
    /// Supervision settings.
    pub supervision: SupervisionConfig,
    /// Faults to inject, if any.
    pub fault_plan: Option<FaultPlan>,
    /// Cluster mode: remote nodes in worker processes (`docs/cluster.md`;
    /// needs the `cluster` feature).
    pub cluster: Option<crate::transport::ClusterConfig>,
    /// A journal file: named tasks survive a crash (`docs/semantics.md`;
    /// needs the `journal` feature and, in code, `Builder::registry`).
    pub journal: Option<std::path::PathBuf>,
    /// How long the journal keeps unread results (`[journal_retention]`,
    /// `max_age` in seconds, `max_bytes`); none: until read.
    pub journal_retention: Option<crate::journal_retention::JournalRetention>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            nodes: vec![NodeSpec::default(); RuntimeConfig::DEFAULT_NODE_COUNT],
            policy: PolicyKind::default(),
            discipline: Discipline::default(),
            rng_seed: RuntimeConfig::DEFAULT_RNG_SEED,
            queue_capacity: RuntimeConfig::DEFAULT_QUEUE_CAPACITY,
            heartbeat_interval: RuntimeConfig::DEFAULT_HEARTBEAT_INTERVAL,
            retry_backoff_min: RuntimeConfig::DEFAULT_RETRY_BACKOFF_MIN,
            retry_backoff_max: RuntimeConfig::DEFAULT_RETRY_BACKOFF_MAX,
            balancer: BalancerConfig::default(),
            supervision: SupervisionConfig::default(),
            fault_plan: None,
            cluster: None,
            journal: None,
            journal_retention: None,
        }
    }
}
