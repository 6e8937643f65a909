//! What this machine lets one run use, read before anything starts, so
//! that a workload too large for it is refused with a typed error that
//! states the limit, instead of failing half-way ("failed to spawn
//! thread", out of memory).
//!
//! - **Threads.** The runtime starts one executor thread per slot and one
//!   actor thread per node, plus a few of its own ([`RUNTIME_THREADS`]).
//!   The machine's thread limit is the smallest of the kernel's
//!   `threads-max` and `pid_max` (every thread takes a task id), the
//!   process limit `RLIMIT_NPROC` (`Max processes` in `/proc/self/limits`),
//!   half of `vm.max_map_count` (a thread stack and its guard page are two
//!   mappings) and the cgroup's `pids.max`; the threads already running on
//!   the machine (`/proc/loadavg`) are taken off, and a run may use at most
//!   half of what is left ([`SHARE_OF_FREE`]): the others on the machine
//!   need some too. Where none of these can be read (not Linux), the limit
//!   is [`FALLBACK_THREADS`].
//! - **Memory.** A run holds at most [`crate::run::MAX_PENDING`] submitted
//!   tasks not yet tallied (tasks are generated as the run goes, so memory
//!   does not grow with `tasks.count`), each about [`TASK_BYTES`], and
//!   each thread costs about [`THREAD_BYTES`] (kernel stack, the touched
//!   part of its own stack, thread-local state). That estimate must fit in
//!   the memory available (`MemAvailable` in `/proc/meminfo`, or the
//!   cgroup's memory limit less its usage, whichever is smaller).

use std::fmt;

/// Threads the runtime starts besides its nodes' (the actix system, the
/// supervisor and balancer, timers) and the CLI's own (main, sampler),
/// with room to spare.
pub(crate) const RUNTIME_THREADS: u64 = 16;

/// The share of the machine's free threads one run may use: one half.
pub(crate) const SHARE_OF_FREE: u64 = 2;

/// The thread limit where the machine's cannot be read.
pub(crate) const FALLBACK_THREADS: u64 = 4096;

/// Memory one thread costs at least, in bytes: a 16 KiB kernel stack, the
/// pages of its own stack it touches, thread-local state and the runtime's
/// per-executor state.
pub(crate) const THREAD_BYTES: u64 = 64 * 1024;

/// Memory one submitted, not yet tallied task costs, in bytes, estimated
/// from above: its job and handle in the runtime, its closure and its entry
/// in the CLI's window. Measured: a run of 2 000 000 zero-cost tasks with
/// 8 192 pending peaks at 19 MB of resident memory in all (debug build),
/// so well under 2.4 KiB each.
pub(crate) const TASK_BYTES: u64 = 4096;

/// What this machine lets one run use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MachineLimits {
    /// Most threads a run may start.
    pub(crate) threads: u64,
    /// Where `threads` comes from, for the error message.
    pub(crate) threads_from: String,
    /// Memory available to the run, in bytes, when known.
    pub(crate) memory: Option<u64>,
}

/// A workload that does not fit this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LimitError {
    /// It needs more threads than the machine allows a run.
    Threads {
        /// Threads it would start.
        needed: u128,
        /// Threads a run may start.
        limit: u64,
        /// Where the limit comes from.
        from: String,
    },
    /// Its estimated memory exceeds what is available.
    Memory {
        /// Estimated bytes.
        needed: u128,
        /// Available bytes.
        available: u64,
    },
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitError::Threads {
                needed,
                limit,
                from,
            } => write!(
                f,
                "the nodes need {needed} threads (one per slot and one per node, plus \
                 {RUNTIME_THREADS} for the runtime), but this machine allows a run {limit} \
                 ({from}); use fewer nodes or slots"
            ),
            LimitError::Memory { needed, available } => write!(
                f,
                "the run needs about {} MiB, but {} MiB are available",
                needed / (1 << 20),
                available / (1 << 20)
            ),
        }
    }
}

impl std::error::Error for LimitError {}

/// A number in a `/proc` or `/sys` file (its first word).
fn read_number(path: &str) -> Option<u64> {
    std::fs::read_to_string(path)
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The soft `Max processes` limit in `/proc/self/limits`.
fn nproc_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max processes"))?;
    line["Max processes".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Threads running on the machine now: the denominator of the fourth
/// field of `/proc/loadavg` (`running/total`).
fn threads_in_use() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace()
        .nth(3)?
        .split('/')
        .nth(1)?
        .parse()
        .ok()
}

/// A `key value` line of `/proc/meminfo`, in bytes.
fn meminfo(key: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line[key.len()..]
        .trim_start_matches(':')
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

/// The cgroup's memory limit less its usage (v2, then v1), when limited.
fn cgroup_memory() -> Option<u64> {
    let (limit, usage) = match read_number("/sys/fs/cgroup/memory.max") {
        Some(limit) => (limit, read_number("/sys/fs/cgroup/memory.current")?),
        None => (
            read_number("/sys/fs/cgroup/memory/memory.limit_in_bytes")?,
            read_number("/sys/fs/cgroup/memory/memory.usage_in_bytes")?,
        ),
    };
    // v1 writes "no limit" as a number near i64::MAX.
    (limit < 1 << 60).then(|| limit.saturating_sub(usage))
}

impl MachineLimits {
    /// Reads this machine's limits.
    pub(crate) fn read() -> MachineLimits {
        let sources = [
            (
                "kernel.threads-max",
                read_number("/proc/sys/kernel/threads-max"),
            ),
            ("kernel.pid_max", read_number("/proc/sys/kernel/pid_max")),
            ("RLIMIT_NPROC", nproc_limit()),
            (
                "vm.max_map_count / 2",
                read_number("/proc/sys/vm/max_map_count").map(|m| m / 2),
            ),
            ("cgroup pids.max", read_number("/sys/fs/cgroup/pids.max")),
            (
                "cgroup pids.max",
                read_number("/sys/fs/cgroup/pids/pids.max"),
            ),
        ];
        let (name, max) = sources
            .iter()
            .filter_map(|&(name, v)| v.map(|v| (name, v)))
            .min_by_key(|&(_, v)| v)
            .unwrap_or(("no limit readable", FALLBACK_THREADS));
        let (threads, threads_from) = if name == "no limit readable" {
            (
                FALLBACK_THREADS,
                "the default cap; no system limit could be read".to_owned(),
            )
        } else {
            let used = threads_in_use().unwrap_or(0);
            let free = max.saturating_sub(used);
            (
                free / SHARE_OF_FREE,
                format!("half of the {free} left by {name} = {max} less {used} threads running"),
            )
        };
        let memory = match (meminfo("MemAvailable"), cgroup_memory()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        MachineLimits {
            threads,
            threads_from,
            memory,
        }
    }

    /// Checks a run with `node_threads` threads for its nodes and at most
    /// `pending` submitted tasks not yet tallied.
    ///
    /// # Errors
    ///
    /// [`LimitError`] stating the limit that the run exceeds.
    pub(crate) fn check(&self, node_threads: u128, pending: u64) -> Result<(), LimitError> {
        let needed = node_threads.saturating_add(u128::from(RUNTIME_THREADS));
        if needed > u128::from(self.threads) {
            return Err(LimitError::Threads {
                needed,
                limit: self.threads,
                from: self.threads_from.clone(),
            });
        }
        if let Some(available) = self.memory {
            let bytes =
                needed * u128::from(THREAD_BYTES) + u128::from(pending) * u128::from(TASK_BYTES);
            if bytes > u128::from(available) {
                return Err(LimitError::Memory {
                    needed: bytes,
                    available,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_has_a_positive_thread_limit_that_names_its_source() {
        let m = MachineLimits::read();
        assert!(m.threads > RUNTIME_THREADS, "{m:?}");
        assert!(!m.threads_from.is_empty());
    }

    #[test]
    fn a_run_over_the_thread_limit_is_refused_stating_the_limit() {
        let m = MachineLimits {
            threads: 1000,
            threads_from: "a test".into(),
            memory: None,
        };
        assert!(m.check(984, 0).is_ok());
        let e = m.check(985, 0).unwrap_err();
        assert_eq!(
            e,
            LimitError::Threads {
                needed: 1001,
                limit: 1000,
                from: "a test".into()
            }
        );
        assert!(e.to_string().contains("allows a run 1000 (a test)"), "{e}");
        // Counts that overflow u64 are still compared, not wrapped.
        assert!(m.check(u128::from(u64::MAX) * 3, 0).is_err());
    }

    #[test]
    fn a_run_over_the_available_memory_is_refused_stating_it() {
        let m = MachineLimits {
            threads: 1 << 20,
            threads_from: "a test".into(),
            memory: Some(100 << 20),
        };
        assert!(m.check(100, 10_000).is_ok());
        let e = m.check(100, 1 << 20).unwrap_err();
        assert!(matches!(e, LimitError::Memory { available, .. } if available == 100 << 20));
        assert!(e.to_string().ends_with("but 100 MiB are available"), "{e}");
    }
}
