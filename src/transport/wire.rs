//! The wire: subjects, stream names, message headers, and the typed
//! errors of a message that does not decode.
//!
//! A work message carries a batch of attempts for one remote node
//! ([`WorkBatch`]): the coordinator's session and, per attempt, the task,
//! the attempt number, the function's name, its timeout and the encoded
//! arguments. A result message carries a batch of results
//! ([`ResultBatch`]): per result the same identity, a status and the
//! encoded value (or the error's text). A sender packs into one message
//! what queued up while its earlier messages waited for the server, so a
//! lone attempt travels alone and a flood shares messages. Payloads are
//! postcard; the headers (plain text) carry the version, the number of
//! items and the message id. Every message is versioned ([`VERSION`]); a
//! message of another version, without headers or whose payload does not
//! decode is a [`WireError`], never guessed at.

use crate::node::NodeSpec;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// The wire format's version; a message of another is refused.
pub(crate) const VERSION: &str = "2";

pub(crate) const H_VERSION: &str = "Allot-Version";
/// How many attempts or results the message carries (for a person
/// reading the stream; the payload is what counts).
pub(crate) const H_ITEMS: &str = "Allot-Items";
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

/// Upper bound on the attempts (or results) packed into one message.
pub(crate) const MAX_ITEMS: usize = 256;
/// Bytes one item adds to a batch beyond its payload (ids, status, name
/// length prefixes: postcard varints), counted generously when a batch is
/// packed under the server's `max_payload`.
pub(crate) const ITEM_OVERHEAD: usize = 48;

/// The headers of a batch message: the version, the sender's session (or
/// worker incarnation), the number of items, and the message id the
/// server keeps one copy of (`kind` `w` for work, `r` for results).
fn batch_headers(kind: char, origin: &str, seq: u64, items: usize) -> async_nats::HeaderMap {
    let mut h = async_nats::HeaderMap::new();
    h.insert(H_VERSION, VERSION);
    h.insert(H_ITEMS, items.to_string().as_str());
    h.insert(H_MSG_ID, format!("{kind}.{origin}.{seq}").as_str());
    h
}

/// One attempt of a named task inside a work message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WorkItem {
    pub(crate) task: u64,
    pub(crate) attempt: u32,
    /// The registered function's name.
    pub(crate) name: String,
    /// The attempt's timeout, in milliseconds (at least 1).
    pub(crate) timeout_ms: Option<u64>,
    /// The encoded arguments.
    pub(crate) args: Vec<u8>,
}

impl WorkItem {
    pub(crate) fn timeout(&self) -> Option<Duration> {
        self.timeout_ms.map(Duration::from_millis)
    }

    /// Bytes this item takes in a batch, at most.
    pub(crate) fn size(&self) -> usize {
        self.args.len() + self.name.len() + ITEM_OVERHEAD
    }
}

/// A work message: attempts for one remote node from one coordinator
/// session, packed while earlier messages waited for the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WorkBatch {
    pub(crate) session: u64,
    /// The coordinator process within its session (a restarted
    /// coordinator keeps its session): results name it back.
    pub(crate) incarnation: u64,
    pub(crate) items: Vec<WorkItem>,
}

impl WorkBatch {
    /// The message: its headers (message id `w.SESSION-INCARNATION.SEQ`)
    /// and payload.
    pub(crate) fn encode(&self, seq: u64) -> (async_nats::HeaderMap, Vec<u8>) {
        let origin = format!("{}-{}", self.session, self.incarnation);
        let h = batch_headers('w', &origin, seq, self.items.len());
        // A `Vec` of plain fields: encoding it cannot fail.
        let body = postcard::to_stdvec(self).unwrap_or_default();
        (h, body)
    }

    /// Reads a work message; a name no function can have is refused here,
    /// before any registry is asked.
    pub(crate) fn decode(
        h: Option<&async_nats::HeaderMap>,
        payload: &[u8],
    ) -> Result<Self, WireError> {
        check_version(h)?;
        let batch: WorkBatch = decode_payload(payload)?;
        for (i, item) in batch.items.iter().enumerate() {
            if item.name.is_empty() || item.name.len() > crate::named::MAX_NAME_LEN {
                return Err(wire_err(
                    "payload",
                    format!("item {i}: the function name is empty or too long"),
                ));
            }
        }
        Ok(batch)
    }
}

/// How a remote attempt ended, on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Status {
    Ok,
    Error,
    Panic,
    Timeout,
    Lost,
}

/// One attempt's result inside a result message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ResultItem {
    /// The session of the coordinator that sent the attempt.
    pub(crate) session: u64,
    /// The coordinator process that sent it, within its session.
    pub(crate) incarnation: u64,
    pub(crate) task: u64,
    pub(crate) attempt: u32,
    pub(crate) status: Status,
    /// The encoded value, or the error's text.
    pub(crate) body: Vec<u8>,
}

impl ResultItem {
    /// Bytes this item takes in a batch, at most.
    pub(crate) fn size(&self) -> usize {
        self.body.len() + ITEM_OVERHEAD
    }
}

/// A result message: results a worker gathered while its earlier result
/// messages waited for the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ResultBatch {
    pub(crate) items: Vec<ResultItem>,
}

impl ResultBatch {
    /// The message of worker `worker` (incarnation `incarnation`): its
    /// headers (message id `r.WORKER-INCARNATION.SEQ`) and payload.
    pub(crate) fn encode(
        &self,
        worker: &str,
        incarnation: u64,
        seq: u64,
    ) -> (async_nats::HeaderMap, Vec<u8>) {
        let origin = format!("{worker}-{incarnation}");
        let h = batch_headers('r', &origin, seq, self.items.len());
        let body = postcard::to_stdvec(self).unwrap_or_default();
        (h, body)
    }

    pub(crate) fn decode(
        h: Option<&async_nats::HeaderMap>,
        payload: &[u8],
    ) -> Result<Self, WireError> {
        check_version(h)?;
        decode_payload(payload)
    }
}

fn decode_payload<'a, T: Deserialize<'a>>(payload: &'a [u8]) -> Result<T, WireError> {
    match postcard::take_from_bytes::<T>(payload) {
        Ok((v, [])) => Ok(v),
        Ok((_, rest)) => Err(wire_err(
            "payload",
            format!("{} bytes after the end of the batch", rest.len()),
        )),
        Err(e) => Err(wire_err("payload", e.to_string())),
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
    fn batches_round_trip_and_bad_ones_are_typed() {
        let w = WorkBatch {
            session: 7,
            incarnation: 3,
            items: vec![WorkItem {
                task: 42,
                attempt: 1,
                name: "train/shard".into(),
                timeout_ms: Some(1500),
                args: vec![1, 2, 3],
            }],
        };
        let (h, body) = w.encode(9);
        assert_eq!(h.get(H_MSG_ID).map(|v| v.as_str()), Some("w.7-3.9"));
        assert_eq!(WorkBatch::decode(Some(&h), &body), Ok(w.clone()));
        assert_eq!(w.items[0].timeout(), Some(Duration::from_millis(1500)));
        assert_eq!(WorkBatch::decode(None, &body).unwrap_err().field, "headers");
        let mut h2 = h.clone();
        h2.insert(H_VERSION, "9");
        assert_eq!(
            WorkBatch::decode(Some(&h2), &body).unwrap_err().field,
            H_VERSION
        );
        let e = WorkBatch::decode(Some(&h), &body[..body.len() - 1]).unwrap_err();
        assert_eq!(e.field, "payload");
        let mut long = body.clone();
        long.push(0);
        assert!(WorkBatch::decode(Some(&h), &long)
            .unwrap_err()
            .reason
            .contains("after the end"));
        let mut unnamed = w.clone();
        unnamed.items[0].name.clear();
        let (h3, b3) = unnamed.encode(1);
        assert!(WorkBatch::decode(Some(&h3), &b3)
            .unwrap_err()
            .reason
            .contains("item 0"));
        let r = ResultBatch {
            items: vec![ResultItem {
                session: 7,
                incarnation: 3,
                task: 42,
                attempt: 1,
                status: Status::Panic,
                body: b"boom".to_vec(),
            }],
        };
        let (h4, b4) = r.encode("w1", 5, 3);
        assert_eq!(h4.get(H_MSG_ID).map(|v| v.as_str()), Some("r.w1-5.3"));
        assert_eq!(h4.get(H_ITEMS).map(|v| v.as_str()), Some("1"));
        assert_eq!(ResultBatch::decode(Some(&h4), &b4), Ok(r));
        assert_eq!(
            ResultBatch::decode(Some(&h4), b"garbage")
                .unwrap_err()
                .field,
            "payload"
        );
    }

    #[test]
    fn worker_names_are_subject_tokens() {
        assert!(check_worker_name("gpu-box_1").is_ok());
        for bad in ["", "a.b", "a b", "a*", "a>", &"x".repeat(65)] {
            assert!(check_worker_name(bad).is_err(), "{bad:?}");
        }
    }
}
