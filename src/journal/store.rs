//! The journal's file: a redb database of three tables.
//!
//! - `meta`: `format` (this file's format version) — a journal of a newer
//!   format is refused, never misread; `session` (a random number made
//!   when the file was: a cluster coordinator's identity on the wire,
//!   which a restarted coordinator keeps);
//! - `accepted`: task id → the submission (function name, encoded
//!   arguments, spec), written before `submit` returns `Ok`;
//! - `finished`: task id → when it ended (8 bytes, little-endian
//!   milliseconds since the Unix epoch) and its outcome (encoded value,
//!   error text, or cancelled).
//!
//! Values are postcard-encoded records; a record that does not decode is
//! corruption. Format 1 (before the end time) is upgraded at open: its
//! outcomes count as ended at that open.

use crate::job::DurableOutcome;
use crate::journal_error::JournalError;
use crate::spec::TaskSpec;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");
const ACCEPTED: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("accepted");
const FINISHED: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("finished");

/// The format this build writes and the newest it reads.
pub(crate) const FORMAT: u64 = 2;

/// Bytes of the end time before an outcome.
const AT_LEN: usize = 8;

/// A submission, as journalled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Accepted {
    pub(crate) name: String,
    pub(crate) args: Vec<u8>,
    pub(crate) spec: TaskSpec,
}

/// An outcome, as journalled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Stored {
    Value(Vec<u8>),
    Failed(String),
    Cancelled,
}

impl From<&DurableOutcome> for Stored {
    fn from(o: &DurableOutcome) -> Self {
        match o {
            DurableOutcome::Value(v) => Stored::Value(v.clone()),
            DurableOutcome::Failed(e) => Stored::Failed(e.clone()),
            DurableOutcome::Cancelled => Stored::Cancelled,
        }
    }
}

impl From<Stored> for DurableOutcome {
    fn from(s: Stored) -> Self {
        match s {
            Stored::Value(v) => DurableOutcome::Value(v),
            Stored::Failed(e) => DurableOutcome::Failed(e),
            Stored::Cancelled => DurableOutcome::Cancelled,
        }
    }
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A submission's record.
pub(crate) fn encode_accepted(a: &Accepted) -> Vec<u8> {
    // Plain data into a Vec: encoding cannot fail.
    postcard::to_stdvec(a).unwrap_or_default()
}

/// An outcome's record, ended at `at_ms`.
pub(crate) fn encode_outcome(at_ms: u64, o: &DurableOutcome) -> Vec<u8> {
    let out = at_ms.to_le_bytes().to_vec();
    // Plain data into a Vec: encoding cannot fail.
    postcard::to_extend(&Stored::from(o), out).unwrap_or_default()
}

/// When an outcome's record says its task ended.
pub(crate) fn outcome_at(record: &[u8]) -> u64 {
    record
        .get(..AT_LEN)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// One journalled task, as found at open.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub(crate) id: u64,
    pub(crate) accepted: Accepted,
    /// Its outcome, and when it ended (ms since the epoch).
    pub(crate) outcome: Option<(DurableOutcome, u64)>,
    /// Bytes of its records.
    pub(crate) bytes: u64,
}

/// A change to write: records come encoded (by the threads that make
/// them, not the writer).
#[derive(Debug)]
pub(crate) enum Change {
    Accept(u64, Vec<u8>),
    Finish(u64, Vec<u8>),
    /// The caller took the outcome, or retention forgot it: both records
    /// go.
    Forget(u64),
}

/// The open journal file.
pub(crate) struct Store {
    db: Database,
    path: PathBuf,
    /// The file's session (`meta`).
    pub(crate) session: u64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

fn io(path: &Path, e: impl std::fmt::Display) -> JournalError {
    JournalError::Io {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

fn storage(path: &Path, e: redb::StorageError) -> JournalError {
    match e {
        redb::StorageError::Corrupted(reason) => JournalError::Corrupted {
            path: path.to_owned(),
            reason,
        },
        other => io(path, other),
    }
}

fn corrupted(path: &Path, reason: impl std::fmt::Display) -> JournalError {
    JournalError::Corrupted {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

fn panicked(payload: &(dyn std::any::Any + Send)) -> String {
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned());
    format!("the store failed reading it ({msg})")
}

impl Store {
    /// Opens (or creates) the journal at `path`; returns it with every task
    /// in it, in id order.
    ///
    /// The store can panic on some damaged files (an `unreachable!` deep in
    /// a tree walk): such a panic is caught and reported as corruption.
    pub(crate) fn open(path: &Path) -> Result<(Store, Vec<Entry>), JournalError> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Store::open_inner(path)))
            .unwrap_or_else(|p| Err(corrupted(path, panicked(&*p))))
    }

    fn open_inner(path: &Path) -> Result<(Store, Vec<Entry>), JournalError> {
        let db = Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => JournalError::Locked {
                path: path.to_owned(),
            },
            redb::DatabaseError::Storage(s) => storage(path, s),
            redb::DatabaseError::UpgradeRequired(v) => corrupted(
                path,
                format!("an older store format ({v}) this build does not read"),
            ),
            other => corrupted(path, other),
        })?;
        let mut store = Store {
            db,
            path: path.to_owned(),
            session: 0,
        };
        store.check_format()?;
        store.session = store.session()?;
        let entries = store.scan()?;
        Ok((store, entries))
    }

    fn check_format(&self) -> Result<(), JournalError> {
        let p = &self.path;
        let txn = self.db.begin_write().map_err(|e| io(p, e))?;
        {
            let mut meta = txn.open_table(META).map_err(|e| corrupted(p, e))?;
            let found = meta
                .get("format")
                .map_err(|e| storage(p, e))?
                .map(|g| g.value());
            match found {
                Some(f) if f > FORMAT => {
                    return Err(JournalError::NewerVersion {
                        path: p.clone(),
                        found: f,
                        supported: FORMAT,
                    })
                }
                Some(FORMAT) => {}
                Some(_) | None => {
                    meta.insert("format", FORMAT).map_err(|e| storage(p, e))?;
                }
            }
            txn.open_table(ACCEPTED).map_err(|e| corrupted(p, e))?;
            let mut finished = txn.open_table(FINISHED).map_err(|e| corrupted(p, e))?;
            if found == Some(1) {
                // Format 1 outcomes have no end time: they count as ended now.
                let now = now_ms().to_le_bytes();
                let old: Vec<(u64, Vec<u8>)> = finished
                    .iter()
                    .map_err(|e| storage(p, e))?
                    .map(|row| row.map(|(k, v)| (k.value(), v.value().to_vec())))
                    .collect::<Result<_, _>>()
                    .map_err(|e| storage(p, e))?;
                for (id, v) in old {
                    let record = [now.as_slice(), &v].concat();
                    finished
                        .insert(id, record.as_slice())
                        .map_err(|e| storage(p, e))?;
                }
            }
        }
        txn.commit().map_err(|e| io(p, e))
    }

    /// The file's session, made (and committed) at its first open.
    fn session(&self) -> Result<u64, JournalError> {
        let p = &self.path;
        let txn = self.db.begin_write().map_err(|e| io(p, e))?;
        let session = {
            let mut meta = txn.open_table(META).map_err(|e| corrupted(p, e))?;
            let found = meta
                .get("session")
                .map_err(|e| storage(p, e))?
                .map(|g| g.value());
            match found {
                Some(s) => s,
                None => {
                    let s = (rand::random::<u64>() >> 1).max(1);
                    meta.insert("session", s).map_err(|e| storage(p, e))?;
                    s
                }
            }
        };
        txn.commit().map_err(|e| io(p, e))?;
        Ok(session)
    }

    fn scan(&self) -> Result<Vec<Entry>, JournalError> {
        let p = &self.path;
        let txn = self.db.begin_read().map_err(|e| io(p, e))?;
        let accepted = txn.open_table(ACCEPTED).map_err(|e| corrupted(p, e))?;
        let finished = txn.open_table(FINISHED).map_err(|e| corrupted(p, e))?;
        let mut out = Vec::new();
        for row in accepted.iter().map_err(|e| storage(p, e))? {
            let (k, v) = row.map_err(|e| storage(p, e))?;
            let id = k.value();
            let accepted: Accepted = postcard::from_bytes(v.value())
                .map_err(|e| corrupted(p, format!("task {id}'s submission: {e}")))?;
            let mut bytes = v.value().len() as u64;
            let outcome = match finished.get(id).map_err(|e| storage(p, e))? {
                Some(g) => {
                    let record = g.value();
                    let stored = record
                        .get(AT_LEN..)
                        .ok_or_else(|| "too short".to_owned())
                        .and_then(|r| postcard::from_bytes::<Stored>(r).map_err(|e| e.to_string()))
                        .map_err(|e| corrupted(p, format!("task {id}'s outcome: {e}")))?;
                    bytes += record.len() as u64;
                    Some((stored.into(), outcome_at(record)))
                }
                None => None,
            };
            out.push(Entry {
                id,
                accepted,
                outcome,
                bytes,
            });
        }
        Ok(out)
    }

    /// Writes `changes` in one transaction, durable when this returns; a
    /// panic of the store on a damaged file is reported as corruption.
    pub(crate) fn write(&self, changes: &[Change]) -> Result<(), JournalError> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.write_inner(changes)))
            .unwrap_or_else(|p| Err(corrupted(&self.path, panicked(&*p))))
    }

    fn write_inner(&self, changes: &[Change]) -> Result<(), JournalError> {
        let p = &self.path;
        let txn = self.db.begin_write().map_err(|e| io(p, e))?;
        {
            let mut accepted = txn.open_table(ACCEPTED).map_err(|e| corrupted(p, e))?;
            let mut finished = txn.open_table(FINISHED).map_err(|e| corrupted(p, e))?;
            for c in changes {
                match c {
                    Change::Accept(id, record) => {
                        accepted
                            .insert(*id, record.as_slice())
                            .map_err(|e| storage(p, e))?;
                    }
                    Change::Forget(id) => {
                        accepted.remove(*id).map_err(|e| storage(p, e))?;
                        finished.remove(*id).map_err(|e| storage(p, e))?;
                    }
                    Change::Finish(id, record) => {
                        finished
                            .insert(*id, record.as_slice())
                            .map_err(|e| storage(p, e))?;
                    }
                }
            }
        }
        txn.commit().map_err(|e| io(p, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!(
            "allot-journal-{name}-{}-{:x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let _ = std::fs::remove_file(&p);
        p
    }

    fn accepted(name: &str) -> Accepted {
        Accepted {
            name: name.into(),
            args: vec![1, 2, 3],
            spec: TaskSpec::default(),
        }
    }

    #[test]
    fn what_is_written_is_found_at_the_next_open() {
        let p = temp("roundtrip");
        {
            let (s, entries) = Store::open(&p).unwrap();
            assert!(entries.is_empty());
            s.write(&[
                Change::Accept(3, encode_accepted(&accepted("a"))),
                Change::Accept(7, encode_accepted(&accepted("b"))),
                Change::Finish(3, encode_outcome(1_234, &DurableOutcome::Value(vec![9]))),
            ])
            .unwrap();
        }
        let (_s, entries) = Store::open(&p).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].id, 3);
        assert_eq!(
            entries[0].outcome,
            Some((DurableOutcome::Value(vec![9]), 1_234))
        );
        assert_eq!(entries[1].accepted, accepted("b"));
        assert_eq!(entries[1].outcome, None);
        let _ = std::fs::remove_file(&p);
    }

    #[test]
    fn a_journal_open_elsewhere_is_locked() {
        let p = temp("locked");
        let (_s, _) = Store::open(&p).unwrap();
        assert_eq!(
            Store::open(&p).unwrap_err(),
            JournalError::Locked { path: p.clone() }
        );
        let _ = std::fs::remove_file(&p);
    }

    #[test]
    fn a_newer_format_is_refused() {
        let p = temp("newer");
        {
            let (s, _) = Store::open(&p).unwrap();
            let txn = s.db.begin_write().unwrap();
            txn.open_table(META)
                .unwrap()
                .insert("format", FORMAT + 1)
                .unwrap();
            txn.commit().unwrap();
        }
        assert!(matches!(
            Store::open(&p).unwrap_err(),
            JournalError::NewerVersion { found, supported: FORMAT, .. } if found == FORMAT + 1
        ));
        let _ = std::fs::remove_file(&p);
    }

    #[test]
    fn a_format_1_journal_is_upgraded_its_outcomes_ended_at_that_open() {
        let p = temp("format1");
        {
            let (s, _) = Store::open(&p).unwrap();
            let txn = s.db.begin_write().unwrap();
            txn.open_table(META).unwrap().insert("format", 1).unwrap();
            let record = encode_accepted(&accepted("a"));
            txn.open_table(ACCEPTED)
                .unwrap()
                .insert(4, record.as_slice())
                .unwrap();
            let old = postcard::to_stdvec(&Stored::Value(vec![5])).unwrap();
            txn.open_table(FINISHED)
                .unwrap()
                .insert(4, old.as_slice())
                .unwrap();
            txn.commit().unwrap();
        }
        let before = now_ms();
        let (s, entries) = Store::open(&p).unwrap();
        let (outcome, at) = entries[0].outcome.clone().unwrap();
        assert_eq!(outcome, DurableOutcome::Value(vec![5]));
        assert!(at >= before && at <= now_ms(), "{at}");
        let txn = s.db.begin_read().unwrap();
        let meta = txn.open_table(META).unwrap();
        let format = meta.get("format").unwrap().map(|g| g.value());
        assert_eq!(format, Some(FORMAT));
        drop(meta);
        drop(txn);
        drop(s);
        let _ = std::fs::remove_file(&p);
    }

    #[test]
    fn a_file_that_is_not_a_journal_is_a_typed_error() {
        let p = temp("garbage");
        std::fs::write(&p, vec![0xA5u8; 64 * 1024]).unwrap();
        let e = Store::open(&p).unwrap_err();
        assert!(
            matches!(e, JournalError::Corrupted { .. } | JournalError::Io { .. }),
            "{e:?}"
        );
        let _ = std::fs::remove_file(&p);
    }
}
