//! [`JournalRetention`]: how long a journal keeps finished results nobody
//! has read (plain data, for the builder and config files).

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long a journal keeps the outcomes of finished tasks that no caller
/// has read yet; a result read is forgotten at once whatever this says.
///
/// Past either limit the oldest unread results (by the time their outcome
/// was journalled) are forgotten first: their records are removed in a
/// journalled change, and a runtime built on the journal later no longer
/// gives them back ([`RuntimeHandle::recovered`](crate::RuntimeHandle)).
/// A handle held in the running process still gives its outcome; only
/// the journal forgets. Unfinished tasks are never forgotten.
///
/// In config files, `[journal_retention]` with `max_age` in seconds and
/// `max_bytes`.
///
/// # Examples
///
/// ```
/// use allot::JournalRetention;
/// use std::time::Duration;
///
/// let keep_a_day = JournalRetention {
///     max_age: Some(Duration::from_secs(86_400)),
///     max_bytes: Some(64 << 20),
/// };
/// assert!(JournalRetention::default().is_unlimited());
/// assert!(!keep_a_day.is_unlimited());
/// ```
///
/// # Default
///
/// No limit: an unread result is kept until read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JournalRetention {
    /// The longest an unread result is kept after its task ended.
    #[serde(with = "crate::durations::opt_secs")]
    pub max_age: Option<Duration>,
    /// The most bytes of unread results kept: a task's submission record
    /// and its outcome record (encoded arguments, encoded value or error
    /// text), not the store's own overhead.
    pub max_bytes: Option<u64>,
}

impl JournalRetention {
    /// Whether this keeps every unread result until read (no limit set).
    pub fn is_unlimited(&self) -> bool {
        self.max_age.is_none() && self.max_bytes.is_none()
    }
}
