//! Supervision settings and the pure logic behind them: restart strategies
//! and policies with Erlang/OTP meaning, restart intensity, Akka-style
//! backoff. The supervisor actor only calls into this module.

use crate::ids::NodeId;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

/// Why a node went down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DownReason {
    /// Code in the node actor panicked.
    Panicked,
    /// The node actor stopped without being asked to.
    Stopped,
    /// The node crashed (an injected abnormal exit without a panic).
    Crashed,
    /// Its executors made no progress, or its actor did not answer a
    /// heartbeat, within the hang timeout.
    Hung,
    /// A remote node (cluster mode) whose worker sent no heartbeat within
    /// the hang timeout: the process died, froze, or lost its connection.
    Unreachable,
    /// A remote node whose worker left cleanly (a normal exit).
    Left,
}

impl fmt::Display for DownReason {
    /// Lowercase words, as logs and reports print them (`crashed`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DownReason::Panicked => "panicked",
            DownReason::Stopped => "stopped",
            DownReason::Crashed => "crashed",
            DownReason::Hung => "hung",
            DownReason::Unreachable => "unreachable",
            DownReason::Left => "left",
        })
    }
}

impl DownReason {
    /// Whether this is an abnormal exit (OTP: anything but `normal`).
    /// Only [`Stopped`](DownReason::Stopped) and [`Left`](DownReason::Left)
    /// are normal.
    pub fn is_abnormal(self) -> bool {
        !matches!(self, DownReason::Stopped | DownReason::Left)
    }
}

/// What the supervisor did or saw, as reported to
/// [`Builder::on_supervisor_event`](crate::Builder::on_supervisor_event)
/// (OTP's supervisor reports).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SupervisorEvent {
    /// `node` failed. Its queued tasks go elsewhere and its running ones
    /// are retried (see `docs/semantics.md`); a restart or a retirement
    /// follows.
    NodeDown {
        /// The node.
        node: NodeId,
        /// Why.
        reason: DownReason,
    },
    /// `node` was started again: after its own failure, or with a failed
    /// sibling under [`RestartStrategy::OneForAll`] or
    /// [`RestartStrategy::RestForOne`].
    NodeRestarted {
        /// The node.
        node: NodeId,
        /// Its restarts so far, this one included.
        restarts: u64,
    },
    /// `node` will never run anything again: its [`RestartPolicy`] does not
    /// restart it, it went past its restart intensity, or the runtime was
    /// stopped by escalation.
    NodeRetired {
        /// The node.
        node: NodeId,
    },
    /// `node` joined the running runtime and accepts work: a node of a
    /// cluster worker that joined after build (or came back in a new
    /// process after its earlier nodes were retired). Its id is the next
    /// free one; ids are never reused.
    NodeJoined {
        /// The node.
        node: NodeId,
    },
}

/// Which nodes restart when one fails (OTP's restart strategies).
///
/// Nodes are "started" in id order, which is what `RestForOne` refers to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RestartStrategy {
    /// Restart only the failed node.
    #[default]
    OneForOne,
    /// Restart every node. The others' queued tasks go back to the
    /// supervisor and their running tasks count a lost attempt, as when OTP
    /// terminates the siblings.
    OneForAll,
    /// Restart the failed node and every node started after it (higher id).
    RestForOne,
}

/// Whether a node is restarted after it exits (OTP's child restart types).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RestartPolicy {
    /// Always restarted.
    #[default]
    Permanent,
    /// Restarted only after an abnormal exit (panic, crash, hang); a node
    /// that stops normally is retired.
    Transient,
    /// Never restarted; retired on any exit.
    Temporary,
}

impl fmt::Display for RestartPolicy {
    /// As a configuration file spells it (`permanent`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RestartPolicy::Permanent => "permanent",
            RestartPolicy::Transient => "transient",
            RestartPolicy::Temporary => "temporary",
        })
    }
}

/// What the supervisor does when a node exceeds the restart intensity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Escalation {
    /// Retire that node for good; the runtime reports
    /// [`Health::Degraded`] and goes on with the other nodes.
    #[default]
    RetireNode,
    /// Stop the whole runtime, as an OTP supervisor terminates itself: every
    /// unfinished task fails with [`TaskError::Unschedulable`](crate::TaskError::Unschedulable)
    /// and the runtime reports [`Health::Stopped`].
    StopRuntime,
}

/// The runtime's health, visible in [`Metrics::health`](crate::Metrics::health).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Health {
    /// Every node is in service or being restarted.
    #[default]
    Healthy,
    /// At least one node was retired; the rest carry on.
    Degraded,
    /// Escalation stopped the runtime, or every node was retired; it
    /// accepts no more work.
    Stopped,
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Health::Healthy => "healthy",
            Health::Degraded => "degraded",
            Health::Stopped => "stopped",
        })
    }
}

impl SupervisionConfig {
    /// Default for [`SupervisionConfig::max_restarts`].
    pub const DEFAULT_MAX_RESTARTS: u32 = 3;

    /// Default for [`SupervisionConfig::restart_period`].
    pub const DEFAULT_RESTART_PERIOD: Duration = Duration::from_secs(5);

    /// Default for [`SupervisionConfig::backoff_min`].
    pub const DEFAULT_BACKOFF_MIN: Duration = Duration::from_millis(10);

    /// Default for [`SupervisionConfig::backoff_max`].
    pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(1);

    /// Default for [`SupervisionConfig::backoff_jitter`].
    pub const DEFAULT_BACKOFF_JITTER: f64 = 0.2;

    /// The longest [`SupervisionConfig::backoff_max`] (and
    /// [`Builder::retry_backoff`](crate::Builder::retry_backoff)'s max) accepted:
    /// a node waiting longer than this to restart is, in effect, retired
    /// without saying so.
    pub const MAX_BACKOFF: Duration = Duration::from_secs(3_600);

    /// The largest [`SupervisionConfig::backoff_jitter`] accepted (a delay
    /// up to 11 × its base).
    pub const MAX_BACKOFF_JITTER: f64 = 10.0;

    /// Default for [`SupervisionConfig::hang_timeout`].
    pub const DEFAULT_HANG_TIMEOUT: Duration = Duration::from_secs(10);
}

/// How the supervisor restarts nodes.
///
/// # Default
///
/// `OneForOne`, every node `Permanent`, at most 3 restarts of one node
/// within 5 s, then `RetireNode`; backoff from 10 ms to 1 s with 20 %
/// jitter; a node is hung after 10 s without progress.
///
/// OTP's default intensity is 1 restart in 5 s, counted for the whole
/// supervisor. allot counts per node, and allows 3: a node restart here
/// costs milliseconds, a crash and a hang of one node often come together
/// (the hang's replacement is its second restart), and one flapping node
/// should be retired without charging the healthy ones. A node failing more
/// often than every ~1.7 s for 5 s is retired rather than restarted forever.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SupervisionConfig {
    /// Which nodes restart together.
    pub strategy: RestartStrategy,
    /// The policy of nodes not listed in `policies`.
    pub policy: RestartPolicy,
    /// Per-node policies by node index; shorter than the node list is fine.
    pub policies: Vec<RestartPolicy>,
    /// At most this many restarts of one node ...
    pub max_restarts: u32,
    /// ... within this period; past it, `escalation` applies.
    #[serde(with = "crate::durations::secs")]
    pub restart_period: Duration,
    /// What happens past the intensity limit.
    pub escalation: Escalation,
    /// Smallest delay before a restart.
    #[serde(with = "crate::durations::secs")]
    pub backoff_min: Duration,
    /// Largest delay before a restart (before jitter).
    #[serde(with = "crate::durations::secs")]
    pub backoff_max: Duration,
    /// Random extra delay, as a fraction: the delay is multiplied by
    /// `1 + U(0,1) · jitter`.
    pub backoff_jitter: f64,
    /// A node whose executors make no progress for this long while running
    /// work, or whose actor does not answer a heartbeat for this long, is
    /// declared hung and replaced. Long tasks report progress with
    /// [`TaskContext::heartbeat`](crate::TaskContext::heartbeat).
    #[serde(with = "crate::durations::secs")]
    pub hang_timeout: Duration,
}

impl Default for SupervisionConfig {
    fn default() -> Self {
        SupervisionConfig {
            strategy: RestartStrategy::default(),
            policy: RestartPolicy::default(),
            policies: Vec::new(),
            max_restarts: SupervisionConfig::DEFAULT_MAX_RESTARTS,
            restart_period: SupervisionConfig::DEFAULT_RESTART_PERIOD,
            escalation: Escalation::default(),
            backoff_min: SupervisionConfig::DEFAULT_BACKOFF_MIN,
            backoff_max: SupervisionConfig::DEFAULT_BACKOFF_MAX,
            backoff_jitter: SupervisionConfig::DEFAULT_BACKOFF_JITTER,
            hang_timeout: SupervisionConfig::DEFAULT_HANG_TIMEOUT,
        }
    }
}

impl SupervisionConfig {
    /// The restart policy of node `index`.
    pub fn policy_of(&self, index: usize) -> RestartPolicy {
        self.policies.get(index).copied().unwrap_or(self.policy)
    }

    /// Checks ranges; names the bad field.
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.restart_period.is_zero() {
            return Err((
                "supervision.restart_period",
                "must be greater than zero".into(),
            ));
        }
        if self.backoff_min > self.backoff_max {
            return Err((
                "supervision.backoff_min",
                format!(
                    "{:?} exceeds backoff_max {:?}",
                    self.backoff_min, self.backoff_max
                ),
            ));
        }
        if self.backoff_max > SupervisionConfig::MAX_BACKOFF {
            return Err((
                "supervision.backoff_max",
                format!(
                    "must be at most {:?}, got {:?}",
                    SupervisionConfig::MAX_BACKOFF,
                    self.backoff_max
                ),
            ));
        }
        if !(self.backoff_jitter.is_finite()
            && (0.0..=SupervisionConfig::MAX_BACKOFF_JITTER).contains(&self.backoff_jitter))
        {
            return Err((
                "supervision.backoff_jitter",
                format!(
                    "must be in [0, {}], got {}",
                    SupervisionConfig::MAX_BACKOFF_JITTER,
                    self.backoff_jitter
                ),
            ));
        }
        if self.hang_timeout.is_zero() {
            return Err((
                "supervision.hang_timeout",
                "must be greater than zero".into(),
            ));
        }
        Ok(())
    }

    /// Akka's backoff: `min(max, min · 2^n) · (1 + U(0,1) · jitter)` before
    /// the `n`-th consecutive restart (n from 0).
    pub fn backoff(&self, n: u32, rng: &mut impl Rng) -> Duration {
        let base = self
            .backoff_min
            .checked_mul(1u32.checked_shl(n.min(31)).unwrap_or(u32::MAX))
            .unwrap_or(self.backoff_max)
            .min(self.backoff_max);
        let jitter = if self.backoff_jitter > 0.0 {
            rng.random::<f64>() * self.backoff_jitter
        } else {
            0.0
        };
        // `base · (1 + jitter)` saturates: a jitter of 1e300 or a base of
        // `Duration::MAX` must not overflow.
        Duration::try_from_secs_f64(base.as_secs_f64() * (1.0 + jitter)).unwrap_or(Duration::MAX)
    }
}

/// Restart times of one node within the intensity period.
#[derive(Debug, Default, Clone)]
pub(crate) struct RestartWindow {
    times: VecDeque<Instant>,
    /// Restarts in a row without a quiet period; drives the backoff.
    pub(crate) consecutive: u32,
}

impl RestartWindow {
    /// Records a restart at `now`; returns whether it stays within
    /// `max` restarts per `period`.
    pub(crate) fn admit(&mut self, now: Instant, max: u32, period: Duration) -> bool {
        while self
            .times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > period)
        {
            self.times.pop_front();
        }
        if self.times.is_empty() {
            self.consecutive = 0;
        } else {
            self.consecutive += 1;
        }
        self.times.push_back(now);
        self.times.len() as u32 <= max
    }
}

/// Which node indices restart when node `failed` of `n` fails.
pub(crate) fn restart_set(strategy: RestartStrategy, failed: usize, n: usize) -> Vec<usize> {
    match strategy {
        RestartStrategy::OneForOne => vec![failed],
        RestartStrategy::OneForAll => (0..n).collect(),
        RestartStrategy::RestForOne => (failed..n).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_doubles_until_the_cap_and_jitter_only_adds() {
        let cfg = SupervisionConfig {
            backoff_min: Duration::from_millis(10),
            backoff_max: Duration::from_millis(100),
            backoff_jitter: 0.0,
            ..SupervisionConfig::default()
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let ms: Vec<u128> = (0..6)
            .map(|n| cfg.backoff(n, &mut rng).as_millis())
            .collect();
        assert_eq!(ms, vec![10, 20, 40, 80, 100, 100]);
        let jittery = SupervisionConfig {
            backoff_jitter: 0.5,
            ..cfg.clone()
        };
        for n in 0..8 {
            let d = jittery.backoff(n, &mut rng);
            let base = cfg.backoff(n, &mut rng);
            assert!(d >= base && d <= base.mul_f64(1.5), "{d:?} vs {base:?}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_backoff() {
        let cfg = SupervisionConfig::default();
        let a: Vec<_> = {
            let mut r = rand::rngs::StdRng::seed_from_u64(9);
            (0..5).map(|n| cfg.backoff(n, &mut r)).collect()
        };
        let b: Vec<_> = {
            let mut r = rand::rngs::StdRng::seed_from_u64(9);
            (0..5).map(|n| cfg.backoff(n, &mut r)).collect()
        };
        assert_eq!(a, b);
    }

    #[test]
    fn the_window_allows_max_restarts_per_period() {
        let mut w = RestartWindow::default();
        let t0 = Instant::now();
        let p = Duration::from_secs(5);
        assert!(w.admit(t0, 2, p));
        assert!(w.admit(t0 + Duration::from_secs(1), 2, p));
        assert!(!w.admit(t0 + Duration::from_secs(2), 2, p));
        // After a quiet period the count starts over.
        let mut w = RestartWindow::default();
        assert!(w.admit(t0, 1, p));
        assert!(w.admit(t0 + Duration::from_secs(6), 1, p));
        assert_eq!(w.consecutive, 0);
    }

    #[test]
    fn strategies_choose_the_otp_sets() {
        assert_eq!(restart_set(RestartStrategy::OneForOne, 2, 5), vec![2]);
        assert_eq!(
            restart_set(RestartStrategy::OneForAll, 2, 4),
            vec![0, 1, 2, 3]
        );
        assert_eq!(
            restart_set(RestartStrategy::RestForOne, 2, 5),
            vec![2, 3, 4]
        );
    }
}
