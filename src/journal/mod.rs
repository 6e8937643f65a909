//! The crash-safe journal of named tasks (feature `journal`): submissions
//! are committed before `submit` returns `Ok`, outcomes as tasks end, and a
//! runtime opened on the journal again re-runs what had not finished.
//!
//! One writer thread owns the file. Submitters hand it their batch and
//! wait; it takes everything queued at once (submissions of many threads,
//! outcomes of many tasks) into one transaction, commits it durably, and
//! wakes the submitters it holds: group commit, one fsync for all of them.
//!
//! With a retention limit ([`JournalRetention`]) the writer also keeps an
//! index of the unread results ([`retention::Unread`]); with each group it
//! forgets those past the limit, and wakes on its own when the oldest
//! passes the age limit. At open, what is past the limit is forgotten
//! before anything is given back.
//!
//! Files: [`store`] (the redb file, its tables and records),
//! [`retention`] (which unread results go).

mod retention;
mod store;

pub(crate) use store::{Accepted, Entry};

use crate::job::{DurableOutcome, DurableSink};
use crate::journal_error::JournalError;
use crate::journal_retention::JournalRetention;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use retention::Unread;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::{now_ms, Change, Store};

/// Most changes written in one transaction.
const GROUP_MAX: usize = 65_536;

enum Op {
    /// Submissions, encoded: answered once durable.
    Accept(Vec<(u64, Vec<u8>)>, Sender<Result<(), JournalError>>),
    /// An outcome, encoded: written with the next group, unanswered.
    Finish(u64, Vec<u8>),
    /// A task whose outcome its caller took: its records go.
    Forget(u64),
    /// Write what is queued, close the file, then answer; later changes
    /// are dropped.
    Close(Sender<()>),
}

/// An open journal and its writer thread.
///
/// The writer thread ends once the journal and every journalled job that
/// holds it are gone (its channel closes); it is not joined.
pub(crate) struct Journal {
    tx: Sender<Op>,
    path: PathBuf,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish()
    }
}

impl Journal {
    /// Opens (or creates) the journal at `path` and starts its writer;
    /// returns it with every task in it, less the unread results past
    /// `retention` (forgotten, durably, before this returns).
    pub(crate) fn open(
        path: &Path,
        retention: &JournalRetention,
    ) -> Result<(Arc<Journal>, Vec<Entry>), JournalError> {
        let (store, mut entries) = Store::open(path)?;
        let mut unread = Unread::new(retention);
        if let Some(u) = &mut unread {
            for e in &entries {
                match &e.outcome {
                    Some((_, at)) => u.finished(e.id, *at, e.bytes),
                    None => u.accepted(e.id, e.bytes),
                }
            }
            let gone = u.expire(now_ms());
            if !gone.is_empty() {
                let changes: Vec<Change> = gone.iter().map(|id| Change::Forget(*id)).collect();
                store.write(&changes, true)?;
                tracing::info!(results = gone.len(), "journal.retention_forgot");
                let gone: std::collections::HashSet<u64> = gone.into_iter().collect();
                entries.retain(|e| !gone.contains(&e.id));
            }
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        std::thread::Builder::new()
            .name("allot-journal".into())
            .spawn(move || write_loop(store, &rx, unread))
            .map_err(|e| JournalError::Io {
                path: path.to_owned(),
                reason: format!("cannot start the writer thread: {e}"),
            })?;
        Ok((
            Arc::new(Journal {
                tx,
                path: path.to_owned(),
            }),
            entries,
        ))
    }

    /// Commits `batch`; returns once it is on disk.
    pub(crate) fn accept(&self, batch: &[(u64, Accepted)]) -> Result<(), JournalError> {
        // Encoded here, on the submitter's thread, not the writer's.
        let batch = batch
            .iter()
            .map(|(id, a)| (*id, store::encode_accepted(a)))
            .collect();
        let (tx, rx) = crossbeam_channel::bounded(1);
        let closed = || JournalError::Io {
            path: self.path.clone(),
            reason: "the journal is closed".into(),
        };
        self.tx.send(Op::Accept(batch, tx)).map_err(|_| closed())?;
        rx.recv().map_err(|_| closed())?
    }

    /// Writes everything queued and closes the file (its lock goes with
    /// it); returns once it is closed. What is sent later is dropped.
    pub(crate) fn close(&self) {
        let (tx, rx) = crossbeam_channel::bounded(1);
        if self.tx.send(Op::Close(tx)).is_ok() {
            let _ = rx.recv();
        }
    }
}

impl DurableSink for Journal {
    fn finished(&self, key: u64, outcome: DurableOutcome) {
        let record = store::encode_outcome(now_ms(), &outcome);
        let _ = self.tx.send(Op::Finish(key, record));
    }

    fn forget(&self, key: u64) {
        let _ = self.tx.send(Op::Forget(key));
    }
}

/// The next change, or `None` once the age limit's next expiry passed
/// with nothing to write; `Err` once every sender is gone.
fn next_op(rx: &Receiver<Op>, unread: Option<&Unread>) -> Result<Option<Op>, ()> {
    let Some(expiry) = unread.and_then(Unread::next_expiry_ms) else {
        return rx.recv().map(Some).map_err(|_| ());
    };
    let wait = Duration::from_millis(expiry.saturating_sub(now_ms()));
    match rx.recv_deadline(Instant::now() + wait) {
        Ok(op) => Ok(Some(op)),
        Err(RecvTimeoutError::Timeout) => Ok(None),
        Err(RecvTimeoutError::Disconnected) => Err(()),
    }
}

fn write_loop(store: Store, rx: &Receiver<Op>, mut unread: Option<Unread>) {
    let mut changes: Vec<Change> = Vec::new();
    let mut waiting: Vec<Sender<Result<(), JournalError>>> = Vec::new();
    let mut closing: Option<Sender<()>> = None;
    while let Ok(first) = next_op(rx, unread.as_ref()) {
        let mut next = first;
        while let Some(op) = next.take() {
            match op {
                Op::Accept(batch, done) => {
                    for (id, record) in batch {
                        if let Some(u) = &mut unread {
                            u.accepted(id, record.len() as u64);
                        }
                        changes.push(Change::Accept(id, record));
                    }
                    waiting.push(done);
                }
                Op::Finish(id, record) => {
                    if let Some(u) = &mut unread {
                        u.finished(id, store::outcome_at(&record), record.len() as u64);
                    }
                    changes.push(Change::Finish(id, record));
                }
                Op::Forget(id) => {
                    if let Some(u) = &mut unread {
                        u.forgotten(id);
                    }
                    changes.push(Change::Forget(id));
                }
                Op::Close(done) => closing = Some(done),
            }
            if changes.len() < GROUP_MAX && closing.is_none() {
                next = rx.try_recv().ok();
            }
        }
        if let Some(u) = &mut unread {
            let gone = u.expire(now_ms());
            if !gone.is_empty() {
                tracing::debug!(results = gone.len(), "journal.retention_forgot");
                changes.extend(gone.into_iter().map(Change::Forget));
            }
        }
        // Outcomes alone need no fsync of their own: they become durable
        // with the next group that holds a submission (or the close). A
        // crash before that runs those tasks again.
        let durable = !waiting.is_empty() || closing.is_some();
        let result = if changes.is_empty() {
            Ok(())
        } else {
            store.write(&changes, durable)
        };
        if let Err(e) = &result {
            tracing::error!(error = %e, changes = changes.len(), "journal.write_failed");
        }
        changes.clear();
        for w in waiting.drain(..) {
            let _ = w.send(result.clone());
        }
        if let Some(done) = closing.take() {
            drop(store);
            let _ = done.send(());
            return;
        }
    }
}
