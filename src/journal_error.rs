//! [`JournalError`]: why a journal could not be opened or written (plain
//! data, beside [`BuildError`](crate::BuildError), which carries it).

use std::fmt;
use std::path::PathBuf;

/// Why a journal could not be opened, or a write to it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JournalError {
    /// Another process (or another runtime in this one) has it open.
    Locked {
        /// The journal file.
        path: PathBuf,
    },
    /// The file is not a journal, or is damaged beyond what the store
    /// repairs itself.
    Corrupted {
        /// The journal file.
        path: PathBuf,
        /// What the store said.
        reason: String,
    },
    /// Written by a newer, incompatible allot: refused, never misread.
    NewerVersion {
        /// The journal file.
        path: PathBuf,
        /// Its format version.
        found: u64,
        /// The newest this build reads.
        supported: u64,
    },
    /// A task in it names a function the registry does not have, so it
    /// cannot be run again.
    UnknownFunction {
        /// The journal file.
        path: PathBuf,
        /// The function's name.
        name: String,
    },
    /// The disk refused: full, read-only, gone.
    Io {
        /// The journal file.
        path: PathBuf,
        /// What the system said.
        reason: String,
    },
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalError::Locked { path } => {
                write!(
                    f,
                    "journal {} is open in another runtime or process",
                    path.display()
                )
            }
            JournalError::Corrupted { path, reason } => {
                write!(f, "journal {} is damaged: {reason}", path.display())
            }
            JournalError::NewerVersion {
                path,
                found,
                supported,
            } => write!(
                f,
                "journal {} has format {found}, newer than this build reads ({supported})",
                path.display()
            ),
            JournalError::UnknownFunction { path, name } => write!(
                f,
                "journal {} holds a task of `{name}`, which the registry does not have",
                path.display()
            ),
            JournalError::Io { path, reason } => {
                write!(f, "journal {}: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for JournalError {}
