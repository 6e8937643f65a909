//! The crash-safe journal of named tasks (feature `journal`): submissions
//! are committed before `submit` returns `Ok`, outcomes as tasks end, and a
//! runtime opened on the journal again re-runs what had not finished.
//!
//! # The write protocol
//!
//! One writer thread owns the file; every other thread hands it changes,
//! already encoded (the submitter encodes its submissions, the executor
//! the outcome of its task).
//!
//! 1. **Submit.** A submitter queues its batch with a [`Reply`] and parks
//!    on it (no spinning: 16 waiting submitters would take the two cores
//!    their tasks' executors need).
//! 2. **Gather.** The writer takes the submissions queued at once — of
//!    many threads. When fewer submitters wait than its last commit
//!    answered, it waits for the others, up to a quarter of its last
//!    commit's time (at most [`GATHER_MAX`]): a slow disk makes waiting
//!    pay more. It is woken once for them, by the last to come, not by
//!    each ([`queue`]).
//! 3. **Hold back.** Dispatch records, outcomes and forgettings are not
//!    sent: the executor (or the reader) leaves them in a buffer, and
//!    wakes the writer only when the buffer was empty ([`Op::Held`]). They wait there until
//!    [`OUTCOMES_DELAY`] after the first, or a commit finds
//!    [`OUTCOMES_MAX`] of them, or a close — then they go with that
//!    moment's commit, and the unread results past the retention limit
//!    with them. A commit's cost (the writer's CPU, pages
//!    written, an fsync) grows with the pages it touches, and the
//!    submitters wait on it: their submissions alone touch the fewest.
//!    A submission always comes before its task's other records (the task
//!    runs once its submission is committed), and one buffer keeps the
//!    rest in order, so holding them back never reorders a task's
//!    records. A record made moot by a later one in the same commit is
//!    not written ([`store::coalesce`]): a dispatch followed by its task's
//!    outcome, an outcome followed by its forgetting.
//!    A retried attempt's dispatch record is the exception: its executor
//!    asks for the held-back changes now ([`Op::Flush`]) and waits for
//!    that commit before the attempt runs, so that the journal never
//!    lags a task's attempts by more than its first.
//! 4. **Commit.** One durable transaction (one fsync) for the whole group:
//!    group commit.
//! 5. **Answer.** Every submitter of the group is answered with the
//!    result (a failed write answers each with the error); the writer
//!    wakes two of them, and each woken submitter wakes two more (a tree:
//!    a wake costs its waker microseconds on a VM, and the writer's next
//!    commit waits on them). A close answers last, after the file is
//!    closed (its lock goes with it); what is queued after it is answered
//!    with an error.
//!
//! The writer sleeps in step 2 until a change comes, the held-back
//! changes are due, or the oldest unread result passes the age limit.
//! It ends when the journal is dropped (every journalled job that held it
//! gone), writing what it holds first.
//! At open, the unread results past the retention limit are forgotten
//! before anything is given back.
//!
//! Files: [`store`] (the redb file, its tables and records),
//! [`queue`] (what the threads hand the writer), [`retention`] (which
//! unread results go).

mod queue;
mod retention;
mod store;

pub(crate) use store::{encode_submission, Dispatched, Entry};

use crate::job::{DurableOutcome, DurableSink};
use crate::journal_error::JournalError;
use crate::journal_retention::JournalRetention;
use crate::sync::{Condvar, Mutex};
use crossbeam_channel::Sender;
use queue::{Queue, Taken};
use retention::Unread;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::{coalesce, now_ms, Change, Store};

/// Most outcomes and forgettings held back.
const OUTCOMES_MAX: usize = 4_096;

/// Longest an outcome or forgetting is held back.
const OUTCOMES_DELAY: Duration = Duration::from_millis(100);

/// Longest the writer waits for more submitters before a commit.
const GATHER_MAX: Duration = Duration::from_millis(1);

/// Where the writer answers a submitter: it parks until answered.
struct Reply {
    slot: Mutex<Answer>,
    ready: Condvar,
}

/// A submitter's answer, and the others of its commit it wakes.
#[derive(Default)]
struct Answer {
    result: Option<Result<(), JournalError>>,
    /// Its commit's waiters and its place among them: the writer wakes
    /// the first [`WAKE_FANOUT`], and waiter `i` wakes waiters
    /// `FANOUT·(i+1) ..` (a tree). Waking a parked thread costs its waker
    /// microseconds on a VM: the writer wakes a few and gets back to
    /// work, the woken wake the rest in parallel.
    group: Option<(Arc<[Arc<Reply>]>, usize)>,
}

/// How many waiters of a commit each waker wakes.
const WAKE_FANOUT: usize = 2;

impl Reply {
    fn new() -> Arc<Reply> {
        Arc::new(Reply {
            slot: Mutex::new(Answer::default()),
            ready: Condvar::new(),
        })
    }

    /// Answers every waiter of `group` with `result`; wakes the first
    /// few (they wake the others).
    fn answer_all(group: Vec<Arc<Reply>>, result: &Result<(), JournalError>) {
        let group: Arc<[Arc<Reply>]> = group.into();
        for (i, w) in group.iter().enumerate() {
            let mut slot = w.slot.lock();
            slot.result = Some(result.clone());
            slot.group = Some((Arc::clone(&group), i));
        }
        for w in group.iter().take(WAKE_FANOUT) {
            w.ready.notify_one();
        }
    }

    fn wait(&self) -> Result<(), JournalError> {
        let mut slot = self.slot.lock();
        loop {
            if let Some(r) = slot.result.take() {
                // Taken out: the group holds this reply, and this reply
                // the group, until now.
                let group = slot.group.take();
                drop(slot);
                if let Some((group, i)) = group {
                    let first = WAKE_FANOUT * (i + 1);
                    for w in group.iter().skip(first).take(WAKE_FANOUT) {
                        w.ready.notify_one();
                    }
                }
                return r;
            }
            self.ready.wait(&mut slot);
        }
    }
}

enum Op {
    /// Submissions, encoded: answered once durable.
    Accept(Vec<(u64, Vec<u8>)>, Arc<Reply>),
    /// The held-back buffer was empty and is not: it is due in
    /// [`OUTCOMES_DELAY`].
    Held,
    /// Commit the held-back changes now; answered once durable.
    Flush(Arc<Reply>),
    /// Write what is queued, close the file, then answer; later
    /// submissions are refused (the journal is closed), later held-back
    /// changes dropped.
    Close(Sender<()>),
}

/// Outcomes (encoded) and forgettings, in the order they came: the
/// executors leave them here without waking the writer.
type Buffer = Arc<Mutex<Vec<Change>>>;

/// An open journal and its writer thread.
///
/// The writer thread ends once the journal and every journalled job that
/// holds it are gone (the drop closes its queue); it is not joined.
pub(crate) struct Journal {
    queue: Arc<Queue<Op>>,
    held: Buffer,
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
    /// returns it with every task in it, less the unread results past
    /// `retention` (forgotten, durably, before this returns).
    pub(crate) fn open(
        path: &Path,
        retention: &JournalRetention,
    ) -> Result<(Arc<Journal>, Vec<Entry>), JournalError> {
        let (store, mut entries) = Store::open(path)?;
        let session = store.session;
        let mut on_disk: HashSet<u64> = entries
            .iter()
            .filter(|e| e.dispatched.is_some())
            .map(|e| e.id)
            .collect();
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
                store.write(&coalesce(changes, &mut on_disk))?;
                tracing::info!(results = gone.len(), "journal.retention_forgot");
                let gone: std::collections::HashSet<u64> = gone.into_iter().collect();
                entries.retain(|e| !gone.contains(&e.id));
            }
        }
        let queue = Arc::new(Queue::new());
        let held = Buffer::default();
        let writer = Writer {
            store,
            queue: Arc::clone(&queue),
            ops: Vec::new(),
            held: Arc::clone(&held),
            unread,
            on_disk,
        };
        std::thread::Builder::new()
            .name("allot-journal".into())
            .spawn(move || writer.run())
            .map_err(|e| JournalError::Io {
                path: path.to_owned(),
                reason: format!("cannot start the writer thread: {e}"),
            })?;
        Ok((
            Arc::new(Journal {
                queue,
                held,
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

    /// Commits `batch` (task ids and their submissions, encoded with
    /// [`encode_submission`]); returns once it is on disk.
    pub(crate) fn accept(&self, batch: Vec<(u64, Vec<u8>)>) -> Result<(), JournalError> {
        let reply = Reply::new();
        if self
            .queue
            .push(Op::Accept(batch, Arc::clone(&reply)), true)
            .is_err()
        {
            return Err(JournalError::Io {
                path: self.path.clone(),
                reason: "the journal is closed".into(),
            });
        }
        reply.wait()
    }

    /// Writes everything queued and closes the file (its lock goes with
    /// it); returns once it is closed. A submission after it is refused
    /// (`JournalError::Io`, the journal is closed); an outcome after it is
    /// not written.
    pub(crate) fn close(&self) {
        let (tx, rx) = crossbeam_channel::bounded(1);
        if self.queue.push(Op::Close(tx), false).is_ok() {
            let _ = rx.recv();
        }
    }
}

impl Drop for Journal {
    /// The last sender is gone: the writer writes what it holds and ends.
    fn drop(&mut self) {
        self.queue.hang_up();
    }
}

impl DurableSink for Journal {
    fn dispatched(&self, key: u64, attempt: u32, node: &str, remote: bool, wait: bool) {
        self.hold(Change::Dispatch(
            key,
            store::encode_dispatched(now_ms(), attempt, remote, node),
        ));
        if wait {
            let reply = Reply::new();
            if self.queue.push(Op::Flush(Arc::clone(&reply)), true).is_ok() {
                // A failed write was logged by the writer; the attempt
                // runs anyway (its outcome's write will fail the same way).
                let _ = reply.wait();
            }
        }
    }

    fn finished(&self, key: u64, outcome: DurableOutcome) {
        let record = store::encode_outcome(now_ms(), &outcome);
        self.hold(Change::Finish(key, record));
    }

    fn forget(&self, key: u64) {
        self.hold(Change::Forget(key));
    }
}

impl Journal {
    /// Leaves `change` for the writer's next held-back commit; wakes it
    /// only when the buffer was empty (step 3).
    fn hold(&self, change: Change) {
        let first = {
            let mut held = self.held.lock();
            held.push(change);
            held.len() == 1
        };
        if first {
            let _ = self.queue.push(Op::Held, false);
        }
    }
}

/// What the writer holds between commits.
#[derive(Default)]
struct Group {
    /// Submissions, written with the next commit.
    accepts: Vec<Change>,
    waiting: Vec<Arc<Reply>>,
    /// A waiter asked for the held-back changes now.
    flush: bool,
    closing: Option<Sender<()>>,
    /// When the held-back changes are due.
    due: Option<Instant>,
}

impl Group {
    /// Takes `op` in (step 2).
    fn take(&mut self, op: Op, unread: &mut Option<Unread>) {
        match op {
            Op::Accept(batch, reply) => {
                for (id, record) in batch {
                    if let Some(u) = unread {
                        u.accepted(id, record.len() as u64);
                    }
                    self.accepts.push(Change::Accept(id, record));
                }
                self.waiting.push(reply);
            }
            Op::Held => {
                self.due.get_or_insert(Instant::now() + OUTCOMES_DELAY);
            }
            Op::Flush(reply) => {
                self.flush = true;
                self.waiting.push(reply);
            }
            Op::Close(done) => self.closing = Some(done),
        }
    }
}

/// The writer thread's state.
struct Writer {
    store: Store,
    queue: Arc<Queue<Op>>,
    /// Ops taken from the queue (kept for its capacity).
    ops: Vec<Op>,
    held: Buffer,
    unread: Option<Unread>,
    /// The tasks with a dispatch record on disk (their forgetting removes
    /// it).
    on_disk: HashSet<u64>,
}

impl Writer {
    /// When to wake with nothing sent: the held-back changes are due, or
    /// the oldest unread result passes the age limit.
    fn wake_at(&self, group: &Group) -> Option<Instant> {
        let expiry = self
            .expiry()
            .map(|at| Instant::now() + Duration::from_millis(at.saturating_sub(now_ms())));
        match (group.due, expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn expiry(&self) -> Option<u64> {
        self.unread.as_ref().and_then(Unread::next_expiry_ms)
    }

    /// Step 2: sleeps until a change comes or something is due, then
    /// takes everything queued; false once every sender is gone.
    fn gather(&mut self, group: &mut Group, last: (usize, Duration)) -> bool {
        let (last_waiting, last_commit) = last;
        let wake_at = self.wake_at(group);
        match self.queue.take(&mut self.ops, 0, wake_at) {
            Taken::Items => self.take_ops(group),
            Taken::Timeout => return true,
            Taken::Closed => return false,
        }
        // Fewer submitters wait than the last commit answered: the others
        // are likely on their way back with their next submission. Wait
        // a moment for them, so that they share this commit — woken once,
        // by the last of them, not by each.
        let waiting = group.waiting.len();
        if waiting > 0 && waiting * 2 <= last_waiting && group.closing.is_none() {
            let until = Instant::now() + (last_commit / 4).min(GATHER_MAX);
            if self
                .queue
                .take(&mut self.ops, last_waiting - waiting, Some(until))
                == Taken::Items
            {
                self.take_ops(group);
            }
        }
        true
    }

    fn take_ops(&mut self, group: &mut Group) {
        for op in self.ops.drain(..) {
            group.take(op, &mut self.unread);
        }
    }

    /// Closes the queue and answers what was left in it: the journal is
    /// closed.
    fn hang_up(&self) {
        let mut waiting = Vec::new();
        for op in self.queue.close() {
            match op {
                Op::Accept(_, reply) | Op::Flush(reply) => waiting.push(reply),
                Op::Close(done) => {
                    let _ = done.send(());
                }
                Op::Held => {}
            }
        }
        let closed = Err(JournalError::Io {
            path: self.store.path().to_owned(),
            reason: "the journal is closed".into(),
        });
        Reply::answer_all(waiting, &closed);
    }

    /// Step 3: the changes to commit now, if any — the submissions when
    /// a submitter waits, with the held-back changes (and the unread
    /// results past the retention limit) when they are many or due;
    /// everything at a close or the end.
    fn take_due(&mut self, group: &mut Group, end: bool) -> Option<Vec<Change>> {
        let now = Instant::now();
        let held_due = end
            || group.flush
            || group.closing.is_some()
            || group.due.is_some_and(|d| d <= now)
            || self.expiry().is_some_and(|at| at <= now_ms())
            || self.held.lock().len() >= OUTCOMES_MAX;
        if group.waiting.is_empty() && !held_due {
            return None;
        }
        let mut out = std::mem::take(&mut group.accepts);
        if held_due {
            group.due = None;
            group.flush = false;
            let held = std::mem::take(&mut *self.held.lock());
            if let Some(u) = &mut self.unread {
                for c in &held {
                    match c {
                        Change::Finish(id, record) => {
                            u.finished(*id, store::outcome_at(record), record.len() as u64);
                        }
                        Change::Forget(id) => u.forgotten(*id),
                        Change::Accept(..) | Change::Dispatch(..) => {}
                    }
                }
            }
            out.extend(held);
            if let Some(u) = &mut self.unread {
                let expired = u.expire(now_ms());
                if !expired.is_empty() {
                    tracing::debug!(results = expired.len(), "journal.retention_forgot");
                    out.extend(expired.into_iter().map(Change::Forget));
                }
            }
        }
        Some(out)
    }

    fn run(mut self) {
        let mut group = Group::default();
        let mut last = (0, Duration::ZERO);
        loop {
            let end = !self.gather(&mut group, last);
            let Some(changes) = self.take_due(&mut group, end) else {
                continue;
            };
            // Step 4: one durable commit.
            let started = Instant::now();
            let n = changes.len();
            let result = if changes.is_empty() {
                Ok(())
            } else {
                self.store.write(&coalesce(changes, &mut self.on_disk))
            };
            let took = started.elapsed();
            if let Err(e) = &result {
                tracing::error!(error = %e, changes = n, "journal.write_failed");
            }
            // Step 5: answer.
            last = (group.waiting.len(), took);
            Reply::answer_all(std::mem::take(&mut group.waiting), &result);
            if let Some(done) = group.closing.take() {
                self.hang_up();
                drop(self.store);
                let _ = done.send(());
                return;
            }
            if end {
                self.hang_up();
                return;
            }
        }
    }
}
