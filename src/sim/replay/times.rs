//! The pod list's time columns: when each pod arrives, starts and leaves in
//! the trace, or why it cannot be replayed.

use crate::sim::openb::{is_integer, Row, Table, TraceError};
use serde::Serialize;
use std::fmt;

/// The trace's time columns, in the pod list.
pub(crate) const TIME_COLUMNS: [&str; 3] = ["creation_time", "scheduled_time", "deletion_time"];

/// The times of one pod in the trace, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PodTimes {
    /// When it was created (its arrival).
    pub creation: u64,
    /// When it was scheduled in the trace.
    pub scheduled: u64,
    /// When it was deleted.
    pub deletion: u64,
}

impl PodTimes {
    /// How long it runs once placed: `max(1, deletion − scheduled)`.
    pub fn duration(&self) -> u64 {
        self.deletion.saturating_sub(self.scheduled).max(1)
    }
}

/// Why a pod of the trace is not replayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum SkipReason {
    /// A time column is empty (the trace's Pending pods have no
    /// `scheduled_time`).
    MissingTime(&'static str),
    /// A time column is not a whole number of seconds.
    InvalidTime(&'static str),
    /// A time column is a whole number, but negative or above
    /// `u64::MAX` seconds.
    TimeOutOfRange(&'static str),
    /// `deletion_time` comes before `scheduled_time`.
    EndsBeforeStart,
    /// Its `pod_phase` in the trace is `Failed`, and the replay skips such
    /// pods ([`ReplayConfig::skip_failed`](super::ReplayConfig::skip_failed)).
    FailedInTrace,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::MissingTime(c) => write!(f, "no {c}"),
            SkipReason::InvalidTime(c) => write!(f, "{c} is not a whole number of seconds"),
            SkipReason::TimeOutOfRange(c) => {
                write!(f, "{c} is out of range (0 to 18446744073709551615 s)")
            }
            SkipReason::EndsBeforeStart => f.write_str("deletion_time before scheduled_time"),
            SkipReason::FailedInTrace => f.write_str("failed in the trace"),
        }
    }
}

/// A pod that is not replayed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedPod {
    /// Its name.
    pub name: String,
    /// Why.
    pub reason: SkipReason,
}

/// Reads the time columns of a pod list (`creation_time`, `scheduled_time`,
/// `deletion_time`), one entry per pod in file order, as
/// [`crate::sim::openb::parse_pods`] reads the rest. A pod whose times are
/// missing or invalid gets the reason instead: that is not an error.
///
/// # Errors
///
/// A [`TraceError`] naming the file and line when a time column is missing
/// from the header or a row has the wrong number of fields.
pub fn parse_pod_times(
    file: &str,
    text: &str,
) -> Result<Vec<Result<PodTimes, SkipReason>>, TraceError> {
    let table = Table::parse(file, text)?;
    let mut cols = [0usize; 3];
    for (c, name) in cols.iter_mut().zip(TIME_COLUMNS) {
        *c = table.column(name)?;
    }
    let time = |row: &Row, i: usize| {
        let v = &row.record[cols[i]];
        if v.is_empty() {
            Err(SkipReason::MissingTime(TIME_COLUMNS[i]))
        } else if let Ok(t) = v.parse::<u64>() {
            Ok(t)
        } else if is_integer(v) {
            Err(SkipReason::TimeOutOfRange(TIME_COLUMNS[i]))
        } else {
            Err(SkipReason::InvalidTime(TIME_COLUMNS[i]))
        }
    };
    Ok(table
        .rows
        .iter()
        .map(|row| {
            let t = PodTimes {
                creation: time(row, 0)?,
                scheduled: time(row, 1)?,
                deletion: time(row, 2)?,
            };
            if t.deletion < t.scheduled {
                return Err(SkipReason::EndsBeforeStart);
            }
            Ok(t)
        })
        .collect())
}

/// Reads the `pod_phase` column of a pod list (`Running`, `Succeeded`,
/// `Failed`, `Pending`, …), one entry per pod in file order; empty when the
/// file has no such column (some variants of the openb trace do not).
///
/// # Errors
///
/// A [`TraceError`] naming the file and line when a row has the wrong
/// number of fields.
pub fn parse_pod_phases(file: &str, text: &str) -> Result<Vec<String>, TraceError> {
    let table = Table::parse(file, text)?;
    let Ok(col) = table.column("pod_phase") else {
        return Ok(Vec::new());
    };
    Ok(table
        .rows
        .iter()
        .map(|row| row.record[col].to_owned())
        .collect())
}
