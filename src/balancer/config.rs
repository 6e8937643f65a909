//! [`BalancerConfig`]: plain settings, apart from the actor that uses them,
//! and their validation.

use serde::{Deserialize, Serialize};
use std::time::Duration;

impl BalancerConfig {
    /// Default for [`BalancerConfig::interval`].
    pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(20);

    /// Default for [`BalancerConfig::high`].
    pub const DEFAULT_HIGH: f64 = 0.5;

    /// Default for [`BalancerConfig::low`].
    pub const DEFAULT_LOW: f64 = 0.2;

    /// Default for [`BalancerConfig::max_per_round`].
    pub const DEFAULT_MAX_PER_ROUND: usize = 256;

    /// Default for [`BalancerConfig::min_gap`].
    pub const DEFAULT_MIN_GAP: Duration = Duration::from_millis(5);
}

/// Balancer settings.
///
/// The imbalance of the nodes is `(max − min) / max` of their drain times
/// (load ÷ (speed × slots)). Migration starts when it exceeds `high` and
/// continues, round after round, until it falls below `low`.
///
/// # Default
///
/// Enabled, every 20 ms, `high` 0.5, `low` 0.2, at most 256 tasks per round,
/// ignoring gaps under 5 ms of drain time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BalancerConfig {
    /// Whether the balancer runs at all.
    pub enabled: bool,
    /// Time between rounds.
    #[serde(with = "crate::durations::secs")]
    pub interval: Duration,
    /// Imbalance above which migration starts.
    pub high: f64,
    /// Imbalance below which migration stops.
    pub low: f64,
    /// Most tasks moved in one round.
    pub max_per_round: usize,
    /// Smallest drain-time gap worth acting on.
    #[serde(with = "crate::durations::secs")]
    pub min_gap: Duration,
}

impl Default for BalancerConfig {
    fn default() -> Self {
        BalancerConfig {
            enabled: true,
            interval: BalancerConfig::DEFAULT_INTERVAL,
            high: BalancerConfig::DEFAULT_HIGH,
            low: BalancerConfig::DEFAULT_LOW,
            max_per_round: BalancerConfig::DEFAULT_MAX_PER_ROUND,
            min_gap: BalancerConfig::DEFAULT_MIN_GAP,
        }
    }
}

impl BalancerConfig {
    /// Checks every setting: the first bad one's field name (as in config
    /// files) and why.
    ///
    /// # Errors
    ///
    /// `(field, reason)` for the first setting out of range.
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(self.high.is_finite() && self.high > 0.0 && self.high <= 1.0) {
            return Err((
                "balancer.high",
                format!("must be in (0, 1], got {}", self.high),
            ));
        }
        if !(self.low.is_finite() && self.low >= 0.0 && self.low < self.high) {
            return Err((
                "balancer.low",
                format!("must be in [0, high), got {}", self.low),
            ));
        }
        let max = crate::durations::MAX_INTERVAL;
        if self.enabled && (self.interval.is_zero() || self.interval > max) {
            return Err((
                "balancer.interval",
                format!("must be in (0, {max:?}], got {:?}", self.interval),
            ));
        }
        Ok(())
    }
}
