//! What a journalled job reports as it ends ([`DurableSink`]), in this
//! layer's terms: the journal, a layer up, implements it.

/// How a journalled task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DurableOutcome {
    /// Its encoded value.
    Value(Vec<u8>),
    /// Its error, as text.
    Failed(String),
    /// It was cancelled.
    Cancelled,
}

/// Where a journalled job reports its end.
pub(crate) trait DurableSink: Send + Sync + 'static {
    /// Attempt `attempt` of task `key` starts on the node named `node`,
    /// a worker's if `remote` (written later, in a group). With `wait`,
    /// returns once it is written.
    fn dispatched(&self, key: u64, attempt: u32, node: &str, remote: bool, wait: bool);

    /// Task `key` ended with `outcome` (written later, in a group).
    fn finished(&self, key: u64, outcome: DurableOutcome);

    /// Task `key`'s caller took its outcome: its record can go.
    fn forget(&self, key: u64);
}
