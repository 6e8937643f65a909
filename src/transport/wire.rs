//! The wire: subjects, stream names, message headers, and the typed
//! errors of a message that does not decode.
//!
//! A work message carries one attempt of a named task: its headers name
//! the coordinator's session, the task, the attempt and the function, and
//! its payload is the encoded arguments. A result message carries the same
//! identity, a status and the encoded value (or the error's text). Every
//! message is versioned ([`VERSION`]); a message of another version or
//! with a missing or malformed header is a [`WireError`], never guessed at.

use crate::node::NodeSpec;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// The wire format's version; a message of another is refused.
pub(crate) const VERSION: &str = "1";

pub(crate) const H_VERSION: &str = "Allot-Version";
pub(crate) const H_SESSION: &str = "Allot-Session";
pub(crate) const H_TASK: &str = "Allot-Task";
pub(crate) const H_ATTEMPT: &str = "Allot-Attempt";
pub(crate) const H_FN: &str = "Allot-Fn";
pub(crate) const H_TIMEOUT_MS: &str = "Allot-Timeout-Ms";
pub(crate) const H_STATUS: &str = "Allot-Status";
pub(crate) const H_MSG_ID: &str = "Nats-Msg-Id";

/// The subjects and stream names of one cluster (one subject prefix).
#[derive(Clone, Debug)]
pub(crate) struct Subjects {
    pub(crate) prefix: String,
}

impl Subjects {
    pub(crate) fn new(prefix: &str) -> Self {
        Subjects {
            prefix: prefix.to_owned(),
        }
    }
    /// Work for node `index` of `worker`.
    pub(crate) fn work(&self, worker: &str, index: usize) -> String {
        format!("{}.work.{worker}.{index}", self.prefix)
    }
    pub(crate) fn work_all(&self) -> String {
        format!("{}.work.>", self.prefix)
    }
    pub(crate) fn result(&self, worker: &str) -> String {
        format!("{}.result.{worker}", self.prefix)
    }
    pub(crate) fn result_all(&self) -> String {
        format!("{}.result.>", self.prefix)
    }
    pub(crate) fn heartbeat(&self, worker: &str) -> String {
        format!("{}.hb.{worker}", self.prefix)
    }
    pub(crate) fn heartbeat_all(&self) -> String {
        format!("{}.hb.*", self.prefix)
    }
    pub(crate) fn cancel(&self, worker: &str) -> String {
        format!("{}.cancel.{worker}", self.prefix)
    }
    pub(crate) fn errors(&self, worker: &str) -> String {
        format!("{}.error.{worker}", self.prefix)
    }
    pub(crate) fn work_stream(&self) -> String {
        format!("{}_work", self.prefix)
    }
    pub(crate) fn result_stream(&self) -> String {
        format!("{}_results", self.prefix)
    }
    /// The durable consumer of node `index` of `worker`.
    pub(crate) fn work_consumer(&self, worker: &str, index: usize) -> String {
        format!("{}_w_{worker}_{index}", self.prefix)
    }
    pub(crate) fn result_consumer(&self) -> String {
        format!("{}_coordinator", self.prefix)
    }
}

/// Checks a worker's name: it is a subject token and part of consumer
/// names.
pub(crate) fn check_worker_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err(format!("worker name {name:?} must be 1 to 64 characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!(
            "worker name {name:?}: only ASCII letters, digits, - and _ are allowed"
        ));
    }
    Ok(())
}

/// A message that does not decode: which header or part, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    /// The header (or `payload`) at fault.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad message: {}: {}", self.field, self.reason)
    }
}

impl std::error::Error for WireError {}

fn wire_err(field: &'static str, reason: impl Into<String>) -> WireError {
    WireError {
        field,
        reason: reason.into(),
    }
}

/// Reads the headers every allot message has.
fn header<'a>(
    h: Option<&'a async_nats::HeaderMap>,
    name: &'static str,
) -> Result<&'a str, WireError> {
    let h = h.ok_or_else(|| wire_err("headers", "the message has none"))?;
    h.get(name)
        .map(|v| v.as_str())
        .ok_or_else(|| wire_err(name, "missing"))
}

fn number<T: std::str::FromStr>(
    h: Option<&async_nats::HeaderMap>,
    name: &'static str,
) -> Result<T, WireError> {
    let v = header(h, name)?;
    v.parse()
        .map_err(|_| wire_err(name, format!("{v:?} is not a number")))
}

fn check_version(h: Option<&async_nats::HeaderMap>) -> Result<(), WireError> {
    let v = header(h, H_VERSION)?;
    if v != VERSION {
        return Err(wire_err(
            H_VERSION,
            format!("version {v:?}; this build speaks {VERSION:?}"),
        ));
    }
    Ok(())
}

/// The headers naming one attempt, with its message id (`kind` `w` for
/// work, `r` for a result): the server keeps one copy of each id.
fn identity(kind: char, session: u64, task: u64, attempt: u32) -> async_nats::HeaderMap {
    let mut h = async_nats::HeaderMap::new();
    h.insert(H_VERSION, VERSION);
    h.insert(H_SESSION, session.to_string().as_str());
    h.insert(H_TASK, task.to_string().as_str());
    h.insert(H_ATTEMPT, attempt.to_string().as_str());
    h.insert(
        H_MSG_ID,
        format!("{kind}.{session}.{task}.{attempt}").as_str(),
    );
    h
}

/// One attempt of a named task, as a worker reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorkHeader {
    pub(crate) session: u64,
    pub(crate) task: u64,
    pub(crate) attempt: u32,
    pub(crate) name: String,
    pub(crate) timeout: Option<Duration>,
}

impl WorkHeader {
    pub(crate) fn to_headers(&self) -> async_nats::HeaderMap {
        let mut h = identity('w', self.session, self.task, self.attempt);
        h.insert(H_FN, self.name.as_str());
        if let Some(t) = self.timeout {
            let ms = u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1);
            h.insert(H_TIMEOUT_MS, ms.to_string().as_str());
        }
        h
    }

    pub(crate) fn parse(h: Option<&async_nats::HeaderMap>) -> Result<Self, WireError> {
        check_version(h)?;
        let name = header(h, H_FN)?;
        if name.is_empty() || name.len() > crate::named::MAX_NAME_LEN {
            return Err(wire_err(H_FN, "empty or too long"));
        }
        let timeout = match h.and_then(|h| h.get(H_TIMEOUT_MS)) {
            None => None,
            Some(_) => Some(Duration::from_millis(number(h, H_TIMEOUT_MS)?)),
        };
        Ok(WorkHeader {
            session: number(h, H_SESSION)?,
            task: number(h, H_TASK)?,
            attempt: number(h, H_ATTEMPT)?,
            name: name.to_owned(),
            timeout,
        })
    }
}

/// How a remote attempt ended, on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Ok,
    Error,
    Panic,
    Timeout,
    Lost,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Error => "error",
            Status::Panic => "panic",
            Status::Timeout => "timeout",
            Status::Lost => "lost",
        }
    }

    fn parse(s: &str) -> Result<Self, WireError> {
        Ok(match s {
            "ok" => Status::Ok,
            "error" => Status::Error,
            "panic" => Status::Panic,
            "timeout" => Status::Timeout,
            "lost" => Status::Lost,
            other => return Err(wire_err(H_STATUS, format!("unknown status {other:?}"))),
        })
    }
}

/// A result message's identity and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResultHeader {
    pub(crate) session: u64,
    pub(crate) task: u64,
    pub(crate) attempt: u32,
    pub(crate) status: Status,
}

impl ResultHeader {
    pub(crate) fn to_headers(&self) -> async_nats::HeaderMap {
        let mut h = identity('r', self.session, self.task, self.attempt);
        h.insert(H_STATUS, self.status.as_str());
        h
    }

    pub(crate) fn parse(h: Option<&async_nats::HeaderMap>) -> Result<Self, WireError> {
        check_version(h)?;
        Ok(ResultHeader {
            session: number(h, H_SESSION)?,
            task: number(h, H_TASK)?,
            attempt: number(h, H_ATTEMPT)?,
            status: Status::parse(header(h, H_STATUS)?)?,
        })
    }
}

/// What a worker reports of one of its nodes in a heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct NodeReport {
    pub(crate) spec: NodeSpec,
    pub(crate) running: usize,
    pub(crate) queued: usize,
    pub(crate) completed: u64,
}

/// A worker's heartbeat (JSON on a core NATS subject): who it is, its
/// nodes, and whether it is leaving.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Heartbeat {
    pub(crate) v: u32,
    pub(crate) worker: String,
    /// A random number per worker process: a restarted worker is told
    /// apart from the one before it.
    pub(crate) incarnation: u64,
    pub(crate) seq: u64,
    pub(crate) leaving: bool,
    pub(crate) nodes: Vec<NodeReport>,
    /// Messages this worker could not decode, since it started.
    pub(crate) bad_messages: u64,
}

/// A cancel of one attempt (JSON on a core NATS subject).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CancelMsg {
    pub(crate) session: u64,
    pub(crate) task: u64,
    pub(crate) attempt: u32,
}

/// A worker's report of a message it could not decode (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BadMessageReport {
    pub(crate) worker: String,
    pub(crate) subject: String,
    pub(crate) field: String,
    pub(crate) reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_bad_ones_are_typed() {
        let w = WorkHeader {
            session: 7,
            task: 42,
            attempt: 1,
            name: "train/shard".into(),
            timeout: Some(Duration::from_millis(1500)),
        };
        let h = w.to_headers();
        assert_eq!(WorkHeader::parse(Some(&h)), Ok(w.clone()));
        assert_eq!(WorkHeader::parse(None).unwrap_err().field, "headers");
        let mut h2 = h.clone();
        h2.insert(H_VERSION, "9");
        assert_eq!(WorkHeader::parse(Some(&h2)).unwrap_err().field, H_VERSION);
        let mut h3 = h.clone();
        h3.insert(H_TASK, "x");
        assert_eq!(WorkHeader::parse(Some(&h3)).unwrap_err().field, H_TASK);
        let r = ResultHeader {
            session: 7,
            task: 42,
            attempt: 1,
            status: Status::Panic,
        };
        let mut h4 = r.to_headers();
        assert_eq!(ResultHeader::parse(Some(&h4)), Ok(r));
        h4.insert(H_STATUS, "maybe");
        assert_eq!(ResultHeader::parse(Some(&h4)).unwrap_err().field, H_STATUS);
    }

    #[test]
    fn worker_names_are_subject_tokens() {
        assert!(check_worker_name("gpu-box_1").is_ok());
        for bad in ["", "a.b", "a b", "a*", "a>", &"x".repeat(65)] {
            assert!(check_worker_name(bad).is_err(), "{bad:?}");
        }
    }
}
