//! The crash-safe journal of named tasks (feature `journal`): submissions
//! are committed before `submit` returns `Ok`, outcomes as tasks end, and a
//! runtime opened on the journal again re-runs what had not finished.
//!
//! One writer thread owns the file. Submitters hand it their batch and
//! wait; it takes everything queued at once (submissions of many threads,
//! outcomes of many tasks) into one transaction, commits it durably, and
//! wakes the submitters it holds: group commit, one fsync for all of them.
//!
//! Files: [`store`] (the redb file, its tables and records).

mod store;

pub(crate) use store::{Accepted, Entry};

use crate::job::{DurableOutcome, DurableSink};
use crate::journal_error::JournalError;
use crossbeam_channel::{Receiver, Sender};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use store::{Change, Store};

/// Most changes written in one transaction.
const GROUP_MAX: usize = 65_536;

enum Op {
    /// Submissions: answered once durable.
    Accept(Vec<(u64, Accepted)>, Sender<Result<(), JournalError>>),
    /// An outcome: written with the next group, unanswered.
    Finish(u64, DurableOutcome),
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
    session: u64,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish()
    }
}

impl Journal {
    /// Opens (or creates) the journal at `path` and starts its writer;
    /// returns it with every task in it.
    pub(crate) fn open(path: &Path) -> Result<(Arc<Journal>, Vec<Entry>), JournalError> {
        let (store, entries) = Store::open(path)?;
        let session = store.session;
        let (tx, rx) = crossbeam_channel::unbounded();
        std::thread::Builder::new()
            .name("allot-journal".into())
            .spawn(move || write_loop(store, &rx))
            .map_err(|e| JournalError::Io {
                path: path.to_owned(),
                reason: format!("cannot start the writer thread: {e}"),
            })?;
        Ok((
            Arc::new(Journal {
                tx,
                path: path.to_owned(),
                session,
            }),
            entries,
        ))
    }

    /// The file's session: a random number made with the file, kept across
    /// restarts (a cluster coordinator's identity on the wire).
    pub(crate) fn session(&self) -> u64 {
        self.session
    }

    /// Commits `batch`; returns once it is on disk.
    pub(crate) fn accept(&self, batch: Vec<(u64, Accepted)>) -> Result<(), JournalError> {
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
        let _ = self.tx.send(Op::Finish(key, outcome));
    }

    fn forget(&self, key: u64) {
        let _ = self.tx.send(Op::Forget(key));
    }
}

fn write_loop(store: Store, rx: &Receiver<Op>) {
    let mut changes: Vec<Change> = Vec::new();
    let mut waiting: Vec<Sender<Result<(), JournalError>>> = Vec::new();
    let mut closing: Option<Sender<()>> = None;
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(op) = next.take() {
            match op {
                Op::Accept(batch, done) => {
                    changes.extend(batch.into_iter().map(|(id, a)| Change::Accept(id, a)));
                    waiting.push(done);
                }
                Op::Finish(id, o) => changes.push(Change::Finish(id, o)),
                Op::Forget(id) => changes.push(Change::Forget(id)),
                Op::Close(done) => closing = Some(done),
            }
            if changes.len() < GROUP_MAX && closing.is_none() {
                next = rx.try_recv().ok();
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
