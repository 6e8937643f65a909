//! Serde helpers: durations as (fractional) seconds in config files; the
//! longest timer interval accepted.
//!
//! Kept by hand rather than `humantime-serde`: configuration and workload
//! files write durations as numbers of seconds (`heartbeat_interval =
//! 0.05`), which humantime-serde does not read (it takes strings such as
//! `"50ms"`), and reports written as JSON want numbers a reader can
//! compute with. Switching would break every existing file for a format
//! no reader asked for; the helpers are a dozen lines and refuse negative,
//! NaN and infinite values by name.

/// The longest heartbeat or balancer interval accepted: timers past it
/// would, in effect, never fire.
pub(crate) const MAX_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3_600);

/// `Duration` as seconds.
pub(crate) mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        super::from_secs(v).map_err(serde::de::Error::custom)
    }
}

/// `Option<Duration>` as seconds.
pub(crate) mod opt_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<f64>::deserialize(d)?
            .map(|v| super::from_secs(v).map_err(serde::de::Error::custom))
            .transpose()
    }
}

fn from_secs(v: f64) -> Result<std::time::Duration, String> {
    std::time::Duration::try_from_secs_f64(v)
        .map_err(|_| format!("duration must be finite and >= 0 seconds, got {v}"))
}
