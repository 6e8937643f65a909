//! The coordinator's side of cluster mode: one connection ([`Cluster`])
//! shared by every remote node, and one [`NodeLink`] per remote node, the
//! [`RemoteLink`] its proxy executors call.
//!
//! A proxy executor offers its attempt to its node's sender and waits for
//! the reply. With no work message out, the executor sends the attempt
//! itself at once; otherwise it waits in the sender's queue, and when the
//! message out is acknowledged by the server (on disk), everything that
//! queued up meanwhile goes in the next one: a lone attempt travels at
//! once, a flood shares messages. A message is sent again (same id) until
//! the server holds it.
//! Another task routes each result of the result stream's messages to the
//! attempt waiting for it, by `(task, attempt)`; a result no one waits for
//! (superseded, cancelled, from another session) is dropped, and the
//! message is acknowledged after all of its results are handed over: the
//! ledger, not the broker, decides what is done.

use super::config::ClusterConfig;
use super::connect::{connect, ensure_streams};
use super::packer::Packer;
use super::publish::{until_held, Published, PUBLISH_TIMEOUT};
use super::shared::{Adoption, ReplySlot, Shared, WireCounters};
pub(crate) use super::shared::{JoinHook, Recovery, WorkerSeen, HEADROOM};
use super::wire::{
    self, CancelMsg, Heartbeat, ResultBatch, ResultItem, Status, Subjects, WorkBatch, WorkItem,
};
use crate::cluster_error::ClusterError;
use crate::job::{RemoteCall, RemoteLink, RemoteReply};
use crate::metrics::{ClusterMetrics, WorkerMetrics};
use crate::node::{NodeSpec, Reported};
use crate::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use crate::sync::{Condvar, Mutex};
use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::{self, consumer};
use futures_util::StreamExt;
use rustc_hash::FxHashMap;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One coordinator's connection to a cluster.
pub(crate) struct Cluster {
    rt: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    shared: Arc<Shared>,
    prefetch: usize,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("prefix", &self.shared.subjects.prefix)
            .field("session", &self.shared.session)
            .finish_non_exhaustive()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Possibly inside another async runtime (actix's): let its threads
        // go without blocking here.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn config_err((field, reason): (&'static str, String)) -> ClusterError {
    ClusterError::Config { field, reason }
}

impl Cluster {
    /// Connects, creates the streams, and starts routing replies and
    /// heartbeats. `poll`: how often a waiting attempt looks whether it was
    /// abandoned (the runtime's heartbeat interval).
    ///
    /// `recovery`: a coordinator restarted on its journal keeps its session,
    /// and its recovered tasks take their results from before the restart.
    pub(crate) fn start(
        config: &ClusterConfig,
        poll: Duration,
        recovery: Option<Recovery>,
    ) -> Result<Cluster, ClusterError> {
        config.validate().map_err(config_err)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("allot-nats")
            .enable_all()
            .build()
            .map_err(|e| ClusterError::Runtime(e.to_string()))?;
        let subjects = Subjects::new(&config.subject_prefix);
        let recovery = recovery.unwrap_or_else(|| Recovery {
            session: rand::random::<u64>() >> 1,
            unfinished: Vec::new(),
        });
        let session = recovery.session;
        let adopt = Adoption {
            tasks: recovery.unfinished.iter().copied().collect(),
            ..Adoption::default()
        };
        let shared = rt.block_on(async {
            let client = connect(config, "allot-coordinator").await?;
            let js = jetstream::new(client.clone());
            ensure_streams(&js, &subjects).await?;
            Ok::<_, ClusterError>(Arc::new(Shared {
                client,
                js,
                subjects,
                session,
                poll,
                waiters: Mutex::new(FxHashMap::default()),
                incarnation: rand::random::<u64>() >> 1,
                batch_seq: AtomicU64::new(0),
                adopting: AtomicBool::new(!adopt.tasks.is_empty()),
                adopt: Mutex::new(adopt),
                workers: Mutex::new(HashMap::new()),
                joined: Condvar::new(),
                reports: Mutex::new(HashMap::new()),
                on_join: std::sync::OnceLock::new(),
                refused: Mutex::new(HashMap::new()),
                // Three heartbeats: one lost or late is not staleness.
                report_age: config.heartbeat_interval.saturating_mul(3),
                counters: WireCounters::default(),
            }))
        })?;
        let consumer = rt.block_on(result_consumer(&shared))?;
        let hb = rt
            .block_on(shared.client.subscribe(shared.subjects.heartbeat_all()))
            .map_err(|e| ClusterError::Connect {
                urls: config.urls.join(","),
                reason: e.to_string(),
            })?;
        rt.spawn(route_results(Arc::clone(&shared), consumer));
        rt.spawn(listen_heartbeats(Arc::clone(&shared), hb));
        tracing::info!(prefix = %shared.subjects.prefix, session, "cluster.coordinator_started");
        Ok(Cluster {
            handle: rt.handle().clone(),
            rt: Some(rt),
            shared,
            prefetch: config.prefetch,
        })
    }

    /// Waits until `n` workers have been heard, or `timeout`; returns
    /// every worker heard by then (at least `n`), by name (sorted), with
    /// their nodes.
    pub(crate) fn await_workers(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<(String, Vec<NodeSpec>)>, ClusterError> {
        let deadline = Instant::now() + timeout;
        let mut workers = self.shared.workers.lock();
        while workers.values().filter(|w| !w.leaving).count() < n {
            if self
                .shared
                .joined
                .wait_until(&mut workers, deadline)
                .timed_out()
            {
                let mut joined: Vec<String> = workers.keys().cloned().collect();
                joined.sort();
                return Err(ClusterError::JoinTimeout {
                    expected: n,
                    joined,
                });
            }
        }
        let mut out: Vec<(String, Vec<NodeSpec>)> = workers
            .iter()
            .filter(|(_, w)| !w.leaving)
            .map(|(k, w)| (k.clone(), w.nodes.clone()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Hands every worker that joins from now on, or comes back in a new
    /// process, to `hook`; then, so that none is missed, every worker
    /// heard so far (the hook tells those it already has apart).
    pub(crate) fn on_join(&self, hook: JoinHook) {
        if self.shared.on_join.set(hook).is_err() {
            return;
        }
        let heard: Vec<(String, Vec<NodeSpec>)> = self
            .shared
            .workers
            .lock()
            .iter()
            .filter(|(_, w)| !w.leaving)
            .map(|(k, w)| (k.clone(), w.nodes.clone()))
            .collect();
        if let Some(hook) = self.shared.on_join.get() {
            for (worker, nodes) in heard {
                hook(&worker, nodes);
            }
        }
    }

    /// Notes that the runtime refused `worker`'s nodes, and why.
    pub(crate) fn refuse(&self, worker: &str, why: String) {
        self.shared.refused.lock().insert(worker.to_owned(), why);
    }

    /// The link for node `index` of `worker`, and the figures its
    /// worker's heartbeats report of it (they replace those of an earlier
    /// link to the same node).
    pub(crate) fn link(
        self: &Arc<Self>,
        worker: &str,
        index: usize,
    ) -> (Arc<NodeLink>, Arc<Reported>) {
        let reported = Arc::new(Reported::new(self.shared.report_age));
        {
            let mut reports = self.shared.reports.lock();
            let slots = reports.entry(worker.to_owned()).or_default();
            if slots.len() <= index {
                slots.resize_with(index + 1, || {
                    Arc::new(Reported::new(self.shared.report_age))
                });
            }
            slots[index] = Arc::clone(&reported);
        }
        let sender = Arc::new(NodeSender {
            shared: Arc::clone(&self.shared),
            subject: self.shared.subjects.work(worker, index),
            packer: Packer::new(wire::MAX_ITEMS),
        });
        let link = Arc::new(NodeLink {
            cluster: Arc::clone(self),
            worker: worker.to_owned(),
            sender,
            since: Mutex::new(Instant::now()),
        });
        (link, reported)
    }

    /// Attempts handed to each remote node beyond its slots.
    pub(crate) fn prefetch(&self) -> usize {
        self.prefetch
    }

    /// What the coordinator saw on the wire, and its workers.
    pub(crate) fn metrics(&self) -> ClusterMetrics {
        let c = &self.shared.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let refused = self.shared.refused.lock().clone();
        let mut workers: Vec<WorkerMetrics> = self
            .shared
            .workers
            .lock()
            .iter()
            .map(|(name, w)| WorkerMetrics {
                name: name.clone(),
                silent_for: w.last.elapsed(),
                leaving: w.leaving,
                bad_messages: w.bad_messages,
                nodes: w.nodes.len(),
                refused: refused.get(name).cloned(),
            })
            .collect();
        workers.sort_by(|a, b| a.name.cmp(&b.name));
        ClusterMetrics {
            published: g(&c.published),
            adopted: g(&c.adopted),
            work_messages: g(&c.messages),
            result_messages: g(&c.result_messages),
            republished: g(&c.republished),
            delivered: g(&c.delivered),
            ignored: g(&c.ignored),
            bad_results: g(&c.bad),
            consumer_restarts: g(&c.stalls),
            workers,
        }
    }
}

/// The coordinator's durable consumer of the result stream.
async fn result_consumer(
    shared: &Shared,
) -> Result<consumer::Consumer<consumer::pull::Config>, ClusterError> {
    let name = shared.subjects.result_consumer();
    let stream = shared
        .js
        .get_stream(shared.subjects.result_stream())
        .await
        .map_err(|e| ClusterError::Stream {
            stream: shared.subjects.result_stream(),
            reason: e.to_string(),
        })?;
    stream
        .get_or_create_consumer(
            &name,
            consumer::pull::Config {
                durable_name: Some(name.clone()),
                ack_policy: consumer::AckPolicy::Explicit,
                // Short: a result delivered into a server restart comes
                // back soon (routing one takes microseconds).
                ack_wait: Duration::from_secs(2),
                max_ack_pending: 65_536,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| ClusterError::Stream {
            stream: name,
            reason: e.to_string(),
        })
}

/// Routes every reply on the result stream to the attempt waiting for it,
/// then acknowledges it. Restarts its pull after an error or a stall.
async fn route_results(shared: Arc<Shared>, consumer: consumer::Consumer<consumer::pull::Config>) {
    loop {
        let messages = consumer
            .stream()
            .max_messages_per_batch(256)
            .heartbeat(Duration::from_secs(2))
            .expires(Duration::from_secs(10))
            .messages()
            .await;
        let mut messages = match messages {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "cluster.results_pull_failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        while let Some(next) = messages.next().await {
            match next {
                Ok(msg) => route_one(&shared, msg).await,
                Err(e) => {
                    // A missed idle heartbeat is how a silently stalled
                    // pull shows: start a new one.
                    shared.counters.stalls.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "cluster.results_consumer_restart");
                    break;
                }
            }
        }
    }
}

async fn route_one(shared: &Shared, msg: jetstream::Message) {
    let batch = match ResultBatch::decode(msg.headers.as_ref(), &msg.payload) {
        Ok(b) => b,
        Err(e) => {
            shared.counters.bad.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(subject = %msg.subject, error = %e, "cluster.bad_result");
            let _ = msg.ack_with(jetstream::AckKind::Term).await;
            return;
        }
    };
    shared
        .counters
        .result_messages
        .fetch_add(1, Ordering::Relaxed);
    let mut routed = Vec::with_capacity(batch.items.len());
    {
        let mut waiters = shared.waiters.lock();
        let adopting = shared.adopting.load(Ordering::Acquire);
        for item in batch.items {
            let ours = item.session == shared.session;
            let route = if ours && item.incarnation != shared.incarnation {
                // Sent before this coordinator restarted: for the recovered
                // task's attempt now waiting, or the next to ask.
                if adopting {
                    adopt(shared, &mut waiters, item)
                } else {
                    Route::Ignored
                }
            } else if ours {
                match waiters.remove(&(item.task, item.attempt)) {
                    Some(slot) => {
                        if adopting {
                            shared.adopt.lock().done(item.task, &shared.adopting);
                        }
                        Route::To(slot, item)
                    }
                    None => Route::Ignored,
                }
            } else {
                Route::Ignored
            };
            match route {
                Route::To(slot, item) => routed.push((slot, item)),
                Route::Parked => {}
                Route::Ignored => {
                    shared.counters.ignored.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!("cluster.result_ignored");
                }
            }
        }
    }
    let delivered = routed.len() as u64;
    for (slot, item) in routed {
        slot.put(reply_of(item));
    }
    shared
        .counters
        .delivered
        .fetch_add(delivered, Ordering::Relaxed);
    // Acknowledged after every result is handed over: a crash before this
    // line has the server deliver them again.
    if let Err(e) = msg.ack().await {
        tracing::debug!(error = %e, "cluster.result_ack_failed");
    }
}

/// Where the router sends one result.
enum Route {
    /// To the attempt waiting for it.
    To(Arc<ReplySlot>, ResultItem),
    /// Kept for a recovered task's next attempt.
    Parked,
    /// Nobody's (superseded, abandoned, another session's).
    Ignored,
}

/// A result from before a restart: handed to its recovered task's waiting
/// attempt, or kept for the next one to ask; ignored if its task is not a
/// recovered one still unanswered.
fn adopt(
    shared: &Shared,
    waiters: &mut FxHashMap<(u64, u32), Arc<ReplySlot>>,
    item: ResultItem,
) -> Route {
    let mut adopt = shared.adopt.lock();
    if !adopt.tasks.contains(&item.task) {
        return Route::Ignored;
    }
    let attempt = adopt.waiting.get(&item.task).copied();
    match attempt.and_then(|a| waiters.remove(&(item.task, a))) {
        Some(slot) => {
            adopt.done(item.task, &shared.adopting);
            shared.counters.adopted.fetch_add(1, Ordering::Relaxed);
            Route::To(slot, item)
        }
        None => {
            adopt.parked.insert(item.task, reply_of(item));
            Route::Parked
        }
    }
}

/// The reply a result makes.
fn reply_of(item: ResultItem) -> RemoteReply {
    let text = || String::from_utf8_lossy(&item.body).into_owned();
    match item.status {
        Status::Error => RemoteReply::Error(text()),
        Status::Panic => RemoteReply::Panicked(text()),
        Status::Timeout => RemoteReply::TimedOut,
        Status::Lost => RemoteReply::Lost,
        Status::Ok => RemoteReply::Value(item.body),
    }
}

/// One attempt waiting for its node's sender.
struct Outgoing {
    item: WorkItem,
    /// Raised when the attempt is abandoned: a message whose attempts are
    /// all abandoned is not sent again.
    gave_up: Arc<AtomicBool>,
}

impl Outgoing {
    fn size(&self) -> usize {
        self.item.size()
    }
}

/// The largest work or result message's payload: the server's
/// `max_payload` less room for headers.
pub(crate) fn batch_limit(client: &async_nats::Client) -> usize {
    let max = client.server_info().max_payload;
    if max == 0 {
        // Not yet told (no connection so far): NATS's default.
        1_048_576 - HEADROOM
    } else {
        max.saturating_sub(HEADROOM)
    }
}

/// One remote node's sender: the attempts waiting for a work message, and
/// where the messages go.
struct NodeSender {
    shared: Arc<Shared>,
    subject: String,
    packer: Packer<Outgoing>,
}

/// A work message ready to send: its attempts' abandonment flags go with
/// it (a message whose attempts are all abandoned is not sent again).
struct Packed {
    headers: async_nats::HeaderMap,
    body: bytes::Bytes,
    gave_up: Vec<Arc<AtomicBool>>,
}

impl NodeSender {
    /// Encodes `batch` without its abandoned attempts; `None` if that
    /// leaves none.
    fn pack(&self, mut batch: Vec<Outgoing>) -> Option<Packed> {
        batch.retain(|o| !o.gave_up.load(Ordering::Acquire));
        if batch.is_empty() {
            return None;
        }
        let (gave_up, items): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|o| (o.gave_up, o.item)).unzip();
        let seq = self.shared.batch_seq.fetch_add(1, Ordering::Relaxed);
        let (headers, body) = WorkBatch {
            session: self.shared.session,
            incarnation: self.shared.incarnation,
            items,
        }
        .encode(seq);
        Some(Packed {
            headers,
            body: body.into(),
            gave_up,
        })
    }

    /// Sends `batch` from a proxy executor's thread: the first send only
    /// queues the message on the connection (bounded: with the connection
    /// down and its queue full, the runtime sends it instead); waiting for
    /// the server, any send again and the batches that queue up behind it
    /// are on the connection's runtime.
    fn send(self: &Arc<Self>, handle: &tokio::runtime::Handle, batch: Vec<Outgoing>) {
        let packed = self.pack(batch);
        let first = packed.as_ref().and_then(|p| {
            let send = self.shared.js.publish_with_headers(
                self.subject.clone(),
                p.headers.clone(),
                p.body.clone(),
            );
            handle
                .block_on(async { tokio::time::timeout(Duration::from_millis(50), send).await })
                .ok()
                .and_then(Result::ok)
        });
        handle.spawn(Arc::clone(self).drain(packed, first));
    }

    /// Publishes `packed` until the server holds it, then every batch
    /// that queued up meanwhile, until none waits.
    async fn drain(
        self: Arc<Self>,
        mut packed: Option<Packed>,
        mut first: Option<PublishAckFuture>,
    ) {
        loop {
            if let Some(p) = packed.take() {
                self.publish(p, first.take()).await;
            }
            let limit = batch_limit(&self.shared.client);
            match self.packer.next(limit, Outgoing::size) {
                Some(batch) => packed = self.pack(batch),
                None => return,
            }
        }
    }

    /// Waits for the first send's acknowledgement, if there was one; sends
    /// again (same message id) until the server holds the message or all
    /// its attempts are abandoned.
    async fn publish(&self, p: Packed, first: Option<PublishAckFuture>) {
        let c = &self.shared.counters;
        let n = p.gave_up.len() as u64;
        let held = |resends: u64| {
            c.published.fetch_add(n, Ordering::Relaxed);
            c.messages.fetch_add(1, Ordering::Relaxed);
            c.republished.fetch_add(resends, Ordering::Relaxed);
        };
        if let Some(ack) = first {
            if let Ok(Ok(_)) = tokio::time::timeout(PUBLISH_TIMEOUT, ack).await {
                held(0);
                return;
            }
            c.republished.fetch_add(1, Ordering::Relaxed);
        }
        let all_gave_up = |_| p.gave_up.iter().all(|g| g.load(Ordering::Acquire));
        match until_held(
            &self.shared.js,
            &self.subject,
            p.headers,
            p.body,
            all_gave_up,
        )
        .await
        {
            Published::Held { resends } => held(resends),
            Published::GaveUp { resends } => {
                c.republished.fetch_add(resends, Ordering::Relaxed);
            }
        }
    }
}

/// Keeps what each worker last said.
async fn listen_heartbeats(shared: Arc<Shared>, mut sub: async_nats::Subscriber) {
    while let Some(msg) = sub.next().await {
        let hb: Heartbeat = match serde_json::from_slice(&msg.payload) {
            Ok(hb) => hb,
            Err(e) => {
                tracing::warn!(subject = %msg.subject, error = %e, "cluster.bad_heartbeat");
                continue;
            }
        };
        if hb.v != 1 || wire::check_worker_name(&hb.worker).is_err() {
            tracing::warn!(worker = %hb.worker, v = hb.v, "cluster.bad_heartbeat");
            continue;
        }
        refresh_reports(&shared, &hb);
        let specs: Vec<NodeSpec> = hb.nodes.iter().map(|n| n.spec.clone()).collect();
        let seen = WorkerSeen {
            last: Instant::now(),
            incarnation: hb.incarnation,
            leaving: hb.leaving,
            nodes: specs.clone(),
            bad_messages: hb.bad_messages,
        };
        let old = shared.workers.lock().insert(hb.worker.clone(), seen);
        let joins = match old {
            None => {
                tracing::info!(worker = %hb.worker, nodes = hb.nodes.len(), "cluster.worker_joined");
                shared.joined.notify_all();
                !hb.leaving
            }
            Some(old) if old.incarnation != hb.incarnation => {
                tracing::info!(worker = %hb.worker, "cluster.worker_restarted");
                !hb.leaving
            }
            Some(old) if hb.leaving && !old.leaving => {
                tracing::info!(worker = %hb.worker, "cluster.worker_leaving");
                false
            }
            Some(_) => false,
        };
        // Outside the lock: the runtime takes its own.
        if joins {
            if let Some(hook) = shared.on_join.get() {
                hook(&hb.worker, specs);
            }
        }
    }
}

/// Hands a heartbeat's figures to the views of the worker's nodes.
fn refresh_reports(shared: &Shared, hb: &Heartbeat) {
    let reports = shared.reports.lock();
    let Some(slots) = reports.get(&hb.worker) else {
        return;
    };
    for (slot, node) in slots.iter().zip(&hb.nodes) {
        slot.set(node.running, node.queued);
    }
}

/// One remote node as its proxy executors see it.
pub(crate) struct NodeLink {
    cluster: Arc<Cluster>,
    worker: String,
    /// This node's sender.
    sender: Arc<NodeSender>,
    /// When the proxy node's current incarnation started.
    since: Mutex<Instant>,
}

impl fmt::Debug for NodeLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeLink")
            .field("worker", &self.worker)
            .finish_non_exhaustive()
    }
}

fn abandoned(call: &RemoteCall<'_>) -> bool {
    (call.abandoned)()
}

impl NodeLink {
    fn shared(&self) -> &Shared {
        &self.cluster.shared
    }

    /// Tells the worker to stop an attempt that was abandoned here.
    fn cancel(&self, call: &RemoteCall<'_>) {
        let shared = self.shared();
        let msg = CancelMsg {
            session: shared.session,
            task: call.task.0,
            attempt: call.attempt,
        };
        let Ok(body) = serde_json::to_vec(&msg) else {
            return;
        };
        let client = shared.client.clone();
        let subject = shared.subjects.cancel(&self.worker);
        self.cluster.handle.spawn(async move {
            if let Err(e) = client.publish(subject, body.into()).await {
                tracing::debug!(error = %e, "cluster.cancel_failed");
            }
        });
    }
}

impl RemoteLink for NodeLink {
    fn call(&self, call: RemoteCall<'_>) -> RemoteReply {
        let shared = self.shared();
        let item = WorkItem {
            task: call.task.0,
            attempt: call.attempt,
            name: call.name.to_owned(),
            timeout_ms: call
                .timeout
                .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1)),
            args: call.args.to_vec(),
        };
        // A message the server would refuse however often it is sent.
        let limit = batch_limit(&shared.client);
        if item.size() > limit {
            return RemoteReply::Error(format!(
                "the arguments of `{}` are {} bytes: more than the NATS server's \
                 max_payload allows ({limit} bytes with the name and framing, \
                 {HEADROOM} more for headers)",
                call.name,
                call.args.len()
            ));
        }
        let key = (call.task.0, call.attempt);
        let slot = Arc::new(ReplySlot::default());
        shared.waiters.lock().insert(key, Arc::clone(&slot));
        if shared.adopting.load(Ordering::Acquire) {
            let mut adopt = shared.adopt.lock();
            if adopt.tasks.contains(&key.0) {
                if let Some(reply) = adopt.parked.remove(&key.0) {
                    // Its result from before the restart came first.
                    adopt.done(key.0, &shared.adopting);
                    drop(adopt);
                    shared.waiters.lock().remove(&key);
                    shared.counters.adopted.fetch_add(1, Ordering::Relaxed);
                    return reply;
                }
                adopt.waiting.insert(key.0, key.1);
            }
        }
        let gave_up = Arc::new(AtomicBool::new(false));
        let out = Outgoing {
            item,
            gave_up: Arc::clone(&gave_up),
        };
        if let Some(batch) = self.sender.packer.offer(out, limit, Outgoing::size) {
            self.sender.send(&self.cluster.handle, batch);
        }
        loop {
            if let Some(reply) = slot.take(shared.poll) {
                return reply;
            }
            if abandoned(&call) {
                gave_up.store(true, Ordering::Release);
                shared.waiters.lock().remove(&key);
                self.cancel(&call);
                // A reply may have come in between.
                return slot.take(Duration::ZERO).unwrap_or(RemoteReply::Abandoned);
            }
        }
    }

    fn silent_for(&self) -> Duration {
        let since = *self.since.lock();
        let heard = self
            .shared()
            .workers
            .lock()
            .get(&self.worker)
            .map(|w| w.last);
        let last = heard.map_or(since, |h| h.max(since));
        last.elapsed()
    }

    fn restarted(&self) {
        *self.since.lock() = Instant::now();
    }

    fn departed(&self) -> bool {
        let since = *self.since.lock();
        self.shared()
            .workers
            .lock()
            .get(&self.worker)
            .is_some_and(|w| w.leaving && w.last > since)
    }
}
