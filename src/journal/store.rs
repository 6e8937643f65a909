//! The journal's file: a redb database of four tables.
//!
//! - `meta`: `format` (this file's format version) — a journal of a newer
//!   format is refused, never misread; `session` (a random number made
//!   when the file was: a cluster coordinator's identity on the wire,
//!   which a restarted coordinator keeps);
//! - `accepted`: task id → the submission (function name, encoded
//!   arguments, spec), written before `submit` returns `Ok`;
//! - `finished`: task id → when it ended (8 bytes, little-endian
//!   milliseconds since the Unix epoch) and its outcome (encoded value,
//!   error text, or cancelled);
//! - `dispatched`: task id → its last journalled attempt's start: when
//!   (8 bytes, little-endian milliseconds since the Unix epoch), the
//!   attempt number (4 bytes, little-endian), whether the node is remote
//!   (1 byte) and the node's name (UTF-8, the rest).
//!
//! Submissions and outcomes are postcard-encoded records; a record that
//! does not decode is corruption. Older formats are upgraded at open:
//! format 1 (before the end time) has its outcomes count as ended at that
//! open; formats 1 and 2 (before `dispatched`) get the empty table, so
//! their unfinished tasks start again at attempt 0.

use crate::job::DurableOutcome;
use crate::journal_error::JournalError;
use crate::spec::TaskSpec;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");
const ACCEPTED: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("accepted");
const FINISHED: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("finished");
const DISPATCHED: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("dispatched");

/// The format this build writes and the newest it reads: 3 added
/// `dispatched`.
pub(crate) const FORMAT: u64 = 3;

/// Bytes of the end time before an outcome.
const AT_LEN: usize = 8;

/// Bytes of a dispatch record before the node's name: when, the attempt,
/// remote or not.
const DISPATCH_HEAD: usize = AT_LEN + 5;

/// A task's last journalled attempt: its number, its node, when it
/// started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dispatched {
    pub(crate) attempt: u32,
    /// The node's name (ids are per process; names are what a restarted
    /// application knows).
    pub(crate) node: String,
    /// Whether the node is a worker's (cluster mode): the attempt may
    /// still run there.
    pub(crate) remote: bool,
    /// When it started, in milliseconds since the Unix epoch.
    pub(crate) at_ms: u64,
}

/// A dispatch record: attempt `attempt` of a task started on `node` at
/// `at_ms`, remote or not (fixed layout, no encoder: this is made for
/// every task).
pub(crate) fn encode_dispatched(at_ms: u64, attempt: u32, remote: bool, node: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(DISPATCH_HEAD + node.len());
    out.extend_from_slice(&at_ms.to_le_bytes());
    out.extend_from_slice(&attempt.to_le_bytes());
    out.push(u8::from(remote));
    out.extend_from_slice(node.as_bytes());
    out
}

fn decode_dispatched(record: &[u8]) -> Option<Dispatched> {
    let at_ms = u64::from_le_bytes(record.get(..AT_LEN)?.try_into().ok()?);
    let attempt = u32::from_le_bytes(record.get(AT_LEN..AT_LEN + 4)?.try_into().ok()?);
    let remote = match record.get(AT_LEN + 4)? {
        0 => false,
        1 => true,
        _ => return None,
    };
    let node = std::str::from_utf8(record.get(DISPATCH_HEAD..)?).ok()?;
    Some(Dispatched {
        attempt,
        node: node.to_owned(),
        remote,
        at_ms,
    })
}

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
#[cfg(test)]
pub(crate) fn encode_accepted(a: &Accepted) -> Vec<u8> {
    encode_submission(&a.name, &a.args, &a.spec)
}

/// A submission's record, from borrowed parts: the same bytes as an
/// [`Accepted`]'s (postcard writes a slice and a `Vec` alike), without
/// copying the name and the arguments first.
pub(crate) fn encode_submission(name: &str, args: &[u8], spec: &TaskSpec) -> Vec<u8> {
    #[derive(Serialize)]
    struct Borrowed<'a> {
        name: &'a str,
        args: &'a [u8],
        spec: &'a TaskSpec,
    }
    // Plain data into a Vec: encoding cannot fail.
    postcard::to_stdvec(&Borrowed { name, args, spec }).unwrap_or_default()
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
    /// Its last journalled attempt, if one was.
    pub(crate) dispatched: Option<Dispatched>,
    /// Bytes of its records (submission and outcome).
    pub(crate) bytes: u64,
}

/// A change to write: records come encoded (by the threads that make
/// them, not the writer).
#[derive(Debug)]
pub(crate) enum Change {
    Accept(u64, Vec<u8>),
    /// An attempt started (its dispatch record replaces the last).
    Dispatch(u64, Vec<u8>),
    Finish(u64, Vec<u8>),
    /// The caller took the outcome, or retention forgot it: its records
    /// go.
    Forget(u64),
}

/// A change as the writer writes it, after [`coalesce`]: records of a
/// task that a later change in the same commit makes moot are not
/// written.
#[derive(Debug)]
pub(crate) enum Write {
    Accept(u64, Vec<u8>),
    Dispatch(u64, Vec<u8>),
    Finish(u64, Vec<u8>),
    /// Removes the submission, and the outcome and dispatch records
    /// where they may be on disk.
    Forget {
        id: u64,
        finished: bool,
        dispatched: bool,
    },
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

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
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
            txn.open_table(DISPATCHED).map_err(|e| corrupted(p, e))?;
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
        let dispatched = txn.open_table(DISPATCHED).map_err(|e| corrupted(p, e))?;
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
            let dispatched = match dispatched.get(id).map_err(|e| storage(p, e))? {
                Some(g) => Some(decode_dispatched(g.value()).ok_or_else(|| {
                    corrupted(p, format!("task {id}'s dispatch record does not decode"))
                })?),
                None => None,
            };
            out.push(Entry {
                id,
                accepted,
                outcome,
                dispatched,
                bytes,
            });
        }
        Ok(out)
    }

    /// Writes `changes` in one transaction, durable when this returns; a
    /// panic of the store on a damaged file is reported as corruption.
    pub(crate) fn write(&self, changes: &[Write]) -> Result<(), JournalError> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.write_inner(changes)))
            .unwrap_or_else(|p| Err(corrupted(&self.path, panicked(&*p))))
    }

    fn write_inner(&self, changes: &[Write]) -> Result<(), JournalError> {
        let p = &self.path;
        let txn = self.db.begin_write().map_err(|e| io(p, e))?;
        {
            let mut accepted = txn.open_table(ACCEPTED).map_err(|e| corrupted(p, e))?;
            // Only the tables this commit touches are opened: each open
            // table is a tree whose root a commit writes.
            let mut finished = None;
            let mut dispatched = None;
            for c in changes {
                match c {
                    Write::Accept(id, record) => {
                        accepted
                            .insert(*id, record.as_slice())
                            .map_err(|e| storage(p, e))?;
                    }
                    Write::Dispatch(id, record) => {
                        open(&txn, &mut dispatched, DISPATCHED, p)?
                            .insert(*id, record.as_slice())
                            .map_err(|e| storage(p, e))?;
                    }
                    Write::Finish(id, record) => {
                        open(&txn, &mut finished, FINISHED, p)?
                            .insert(*id, record.as_slice())
                            .map_err(|e| storage(p, e))?;
                    }
                    Write::Forget {
                        id,
                        finished: f,
                        dispatched: d,
                    } => {
                        accepted.remove(*id).map_err(|e| storage(p, e))?;
                        if *f {
                            open(&txn, &mut finished, FINISHED, p)?
                                .remove(*id)
                                .map_err(|e| storage(p, e))?;
                        }
                        if *d {
                            open(&txn, &mut dispatched, DISPATCHED, p)?
                                .remove(*id)
                                .map_err(|e| storage(p, e))?;
                        }
                    }
                }
            }
        }
        txn.commit().map_err(|e| io(p, e))
    }
}

/// `table` of `txn`, opened the first time it is asked for.
fn open<'s, 't>(
    txn: &'t redb::WriteTransaction,
    slot: &'s mut Option<redb::Table<'t, u64, &'static [u8]>>,
    def: TableDefinition<'_, u64, &'static [u8]>,
    p: &Path,
) -> Result<&'s mut redb::Table<'t, u64, &'static [u8]>, JournalError> {
    if slot.is_none() {
        *slot = Some(txn.open_table(def).map_err(|e| corrupted(p, e))?);
    }
    Ok(slot.as_mut().expect("opened above"))
}

/// The writes for `changes` (in the order they came): a dispatch record
/// followed by its task's outcome, or an outcome followed by its task's
/// forgetting, in the same commit, is not written. `on_disk` holds the
/// tasks with a dispatch record on disk (committed before), and is kept
/// up to date (as if these writes were committed).
pub(crate) fn coalesce(
    changes: Vec<Change>,
    on_disk: &mut std::collections::HashSet<u64>,
) -> Vec<Write> {
    use std::collections::HashMap;
    // The index of each task's last outcome and forgetting among `changes`.
    let mut last: HashMap<u64, (Option<usize>, Option<usize>)> = HashMap::new();
    for (k, c) in changes.iter().enumerate() {
        match c {
            Change::Finish(id, _) => last.entry(*id).or_default().0 = Some(k),
            Change::Forget(id) => last.entry(*id).or_default().1 = Some(k),
            Change::Accept(..) | Change::Dispatch(..) => {}
        }
    }
    let mut out = Vec::with_capacity(changes.len());
    for (k, c) in changes.into_iter().enumerate() {
        let (finish, forget) = match &c {
            Change::Accept(..) => (None, None),
            Change::Dispatch(id, _) | Change::Finish(id, _) | Change::Forget(id) => {
                last.get(id).copied().unwrap_or_default()
            }
        };
        match c {
            Change::Accept(id, r) => out.push(Write::Accept(id, r)),
            Change::Dispatch(id, r) => {
                // Moot once its task's outcome is written: a finished
                // task is not run again.
                if finish.is_none_or(|f| f < k) && forget.is_none_or(|f| f < k) {
                    on_disk.insert(id);
                    out.push(Write::Dispatch(id, r));
                }
            }
            Change::Finish(id, r) => {
                if forget.is_none_or(|f| f < k) {
                    out.push(Write::Finish(id, r));
                }
            }
            Change::Forget(id) => {
                // An outcome in this commit (before it) was not written.
                let finished = finish.is_none_or(|f| f > k);
                let dispatched = on_disk.remove(&id);
                out.push(Write::Forget {
                    id,
                    finished,
                    dispatched,
                });
            }
        }
    }
    out
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
                Write::Accept(3, encode_accepted(&accepted("a"))),
                Write::Accept(7, encode_accepted(&accepted("b"))),
                Write::Finish(3, encode_outcome(1_234, &DurableOutcome::Value(vec![9]))),
                Write::Dispatch(7, encode_dispatched(5_678, 2, false, "gpu-1")),
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
        assert_eq!(entries[0].dispatched, None);
        assert_eq!(entries[1].accepted, accepted("b"));
        assert_eq!(entries[1].outcome, None);
        assert_eq!(
            entries[1].dispatched,
            Some(Dispatched {
                attempt: 2,
                node: "gpu-1".into(),
                remote: false,
                at_ms: 5_678
            })
        );
        let _ = std::fs::remove_file(&p);
    }

    #[test]
    fn records_made_moot_in_the_same_commit_are_not_written() {
        let d = |id| Change::Dispatch(id, encode_dispatched(1, 0, true, "n"));
        let f = |id| Change::Finish(id, encode_outcome(1, &DurableOutcome::Cancelled));
        // Task 1 was dispatched before (on disk); 2 runs and ends; 3 runs,
        // ends and is read; 4 only starts.
        let mut on_disk: std::collections::HashSet<u64> = [1].into();
        let out = coalesce(
            vec![
                d(2),
                d(3),
                d(4),
                f(2),
                f(3),
                Change::Forget(3),
                Change::Forget(1),
            ],
            &mut on_disk,
        );
        let kinds: Vec<String> = out
            .iter()
            .map(|w| match w {
                Write::Accept(id, _) => format!("accept {id}"),
                Write::Dispatch(id, _) => format!("dispatch {id}"),
                Write::Finish(id, _) => format!("finish {id}"),
                Write::Forget {
                    id,
                    finished,
                    dispatched,
                } => format!("forget {id} {finished} {dispatched}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "dispatch 4",
                "finish 2",
                "forget 3 false false",
                "forget 1 true true"
            ]
        );
        assert_eq!(on_disk, [4].into());
    }

    #[test]
    fn a_forgotten_task_leaves_no_dispatch_record() {
        let p = temp("forget-dispatch");
        {
            let (s, _) = Store::open(&p).unwrap();
            let mut on_disk = std::collections::HashSet::new();
            let first = vec![
                Change::Accept(1, encode_accepted(&accepted("a"))),
                Change::Dispatch(1, encode_dispatched(1, 0, false, "n0")),
            ];
            s.write(&coalesce(first, &mut on_disk)).unwrap();
            let then = vec![
                Change::Finish(1, encode_outcome(2, &DurableOutcome::Cancelled)),
                Change::Forget(1),
            ];
            s.write(&coalesce(then, &mut on_disk)).unwrap();
            let txn = s.db.begin_read().unwrap();
            assert!(txn
                .open_table(DISPATCHED)
                .unwrap()
                .get(1)
                .unwrap()
                .is_none());
        }
        let (_s, entries) = Store::open(&p).unwrap();
        assert!(entries.is_empty());
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
    fn a_format_2_journal_is_upgraded_its_tasks_with_no_attempt_journalled() {
        let p = temp("format2");
        {
            let db = Database::create(&p).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(META).unwrap().insert("format", 2).unwrap();
            let record = encode_accepted(&accepted("a"));
            txn.open_table(ACCEPTED)
                .unwrap()
                .insert(4, record.as_slice())
                .unwrap();
            txn.open_table(FINISHED).unwrap();
            txn.commit().unwrap();
        }
        let (s, entries) = Store::open(&p).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].accepted, accepted("a"));
        assert_eq!(entries[0].dispatched, None);
        let txn = s.db.begin_read().unwrap();
        let meta = txn.open_table(META).unwrap();
        assert_eq!(meta.get("format").unwrap().map(|g| g.value()), Some(FORMAT));
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
