//! A worker process of cluster mode: it hosts nodes for a coordinator,
//! running the named tasks sent to them on a runtime of its own.
//!
//! Each of its nodes has a durable JetStream pull consumer on its work
//! subject allowing `slots + prefetch` unacknowledged messages; the
//! coordinator never has more than `slots + prefetch` attempts out to a
//! node, so that bounds what the worker holds. Each attempt of a message
//! becomes a task on the local node; when the task ends, its result goes
//! to the result sender, which packs the results that queued up while its
//! earlier messages waited for the server into one message (de-duplicated
//! by message id). A work message is acknowledged only after the results
//! of all of its attempts are held by the server. A message that does not
//! decode is terminated, reported on the error subject, and counted; the
//! worker goes on. A redelivery of an attempt still running here is
//! skipped; a cancel from the coordinator cancels the local task, which
//! its `TaskContext` sees.

use crate::error::SubmitError;
use crate::ids::NodeId;
use crate::named::Registry;
use crate::node::NodeSpec;
use crate::runtime::{Runtime, RuntimeHandle};
use crate::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use crate::sync::Mutex;
use crate::task_handle::CancelHandle;
use crate::transport::wire::{
    self, BadMessageReport, CancelMsg, Heartbeat, NodeReport, ResultBatch, ResultItem, Status,
    Subjects, WorkBatch, WorkItem,
};
use crate::transport::{
    batch_limit, connect, ensure_streams, until_held, ClusterConfig, ClusterError, Packer,
    Published,
};
use crate::{AttemptFailure, BalancerConfig, TaskError};
use async_nats::jetstream::{self, consumer, AckKind};
use futures_util::StreamExt;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// An attempt: the coordinator's session, the task, the attempt number.
type Key = (u64, u64, u32);

/// How long the server waits for a work message's acknowledgement before
/// delivering it again: short, so that a delivery lost with a server
/// restart comes back soon; a running attempt reports progress more often
/// than this.
const ACK_WAIT: Duration = Duration::from_secs(4);
/// How often a running attempt's message is marked in progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// A result waiting for a result message, and where to say that the
/// server holds it (dropped unsent if the sender gave up).
type Outgoing = (ResultItem, tokio::sync::oneshot::Sender<()>);

fn outgoing_size(o: &Outgoing) -> usize {
    o.0.size()
}

/// Cancels remembered for attempts not (yet) seen here.
const CANCELLED_MEMORY: usize = 65_536;

/// What a worker did, counted over its life.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerReport {
    /// Attempts started on the local nodes.
    pub started: u64,
    /// Attempts whose result (value or error) was published.
    pub replied: u64,
    /// Attempts cancelled by the coordinator while here.
    pub cancelled: u64,
    /// Deliveries skipped because the same attempt was running here.
    pub duplicates: u64,
    /// Messages that did not decode (terminated and reported).
    pub bad_messages: u64,
    /// Messages naming a function not in the registry (answered with an
    /// error).
    pub unknown_functions: u64,
}

#[derive(Default)]
struct Counters {
    started: AtomicU64,
    replied: AtomicU64,
    cancelled: AtomicU64,
    duplicates: AtomicU64,
    bad_messages: AtomicU64,
    unknown_functions: AtomicU64,
}

impl Counters {
    fn report(&self) -> WorkerReport {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        WorkerReport {
            started: g(&self.started),
            replied: g(&self.replied),
            cancelled: g(&self.cancelled),
            duplicates: g(&self.duplicates),
            bad_messages: g(&self.bad_messages),
            unknown_functions: g(&self.unknown_functions),
        }
    }
}

/// A worker process's part in a cluster: a name, its nodes and the
/// functions it can run.
///
/// # Examples
///
/// ```no_run
/// use allot::cluster::{ClusterConfig, Worker};
/// use allot::{NodeSpec, Registry, Resources};
///
/// let mut registry = Registry::new();
/// registry.register("double", |_ctx, x: u64| Ok::<_, std::io::Error>(2 * x))?;
/// let worker = Worker::new(
///     ClusterConfig::new("nats://127.0.0.1:4222"),
///     "gpu-box-1",
///     vec![NodeSpec::new(Resources::cpu(8_000)).slots(4)],
///     registry,
/// );
/// // Serves until SIGINT or SIGTERM, then leaves cleanly.
/// let report = worker.run()?;
/// println!("{report:?}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Worker {
    config: ClusterConfig,
    name: String,
    nodes: Vec<NodeSpec>,
    registry: Registry,
}

/// A running worker: stop it to leave the cluster cleanly.
#[derive(Debug)]
pub struct WorkerHandle {
    inner: Arc<Inner>,
    rt: Option<tokio::runtime::Runtime>,
    local: Option<Runtime>,
}

struct Inner {
    name: String,
    incarnation: u64,
    config: ClusterConfig,
    subjects: Subjects,
    client: async_nats::Client,
    js: jetstream::Context,
    registry: Registry,
    local: RuntimeHandle,
    specs: Vec<NodeSpec>,
    inflight: Mutex<FxHashMap<Key, CancelHandle>>,
    cancelled: Mutex<(FxHashSet<Key>, VecDeque<Key>)>,
    counters: Counters,
    stopping: AtomicBool,
    stop: tokio::sync::Notify,
    /// Numbers heartbeats.
    seq: AtomicU64,
    /// Numbers result messages (their message ids).
    result_seq: AtomicU64,
    /// Results waiting for a result message.
    results: Packer<Outgoing>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// A worker called `name` (letters, digits, `-`, `_`; unique in the
    /// cluster) hosting `nodes`, running functions of `registry`.
    pub fn new(
        config: ClusterConfig,
        name: impl Into<String>,
        nodes: Vec<NodeSpec>,
        registry: Registry,
    ) -> Self {
        Worker {
            config,
            name: name.into(),
            nodes,
            registry,
        }
    }

    /// Connects, starts its nodes and serves in the background.
    ///
    /// # Errors
    ///
    /// [`ClusterError::Config`] for a bad setting, name or node;
    /// [`ClusterError::Connect`] / [`ClusterError::Stream`] if NATS cannot
    /// be reached or has no JetStream; [`ClusterError::Runtime`] if the
    /// local nodes do not start.
    pub fn start(self) -> Result<WorkerHandle, ClusterError> {
        let bad = |field, reason| ClusterError::Config { field, reason };
        self.config.validate().map_err(|(f, r)| bad(f, r))?;
        wire::check_worker_name(&self.name).map_err(|r| bad("worker.name", r))?;
        if self.nodes.is_empty() {
            return Err(bad(
                "worker.nodes",
                "a worker needs at least one node".into(),
            ));
        }
        let local = Runtime::builder()
            .nodes(self.nodes.clone())
            .balancer(BalancerConfig {
                enabled: false,
                ..BalancerConfig::default()
            })
            .build()
            .map_err(|e| ClusterError::Runtime(e.to_string()))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("allot-worker-nats")
            .enable_all()
            .build()
            .map_err(|e| ClusterError::Runtime(e.to_string()))?;
        let subjects = Subjects::new(&self.config.subject_prefix);
        let (client, js) = rt.block_on(async {
            let client = connect(&self.config, &format!("allot-worker-{}", self.name)).await?;
            let js = jetstream::new(client.clone());
            ensure_streams(&js, &subjects).await?;
            Ok::<_, ClusterError>((client, js))
        })?;
        let inner = Arc::new(Inner {
            name: self.name,
            incarnation: rand::random::<u64>() >> 1,
            config: self.config,
            subjects,
            client,
            js,
            registry: self.registry,
            local: local.handle().clone(),
            specs: self.nodes,
            inflight: Mutex::new(FxHashMap::default()),
            cancelled: Mutex::new((FxHashSet::default(), VecDeque::new())),
            counters: Counters::default(),
            stopping: AtomicBool::new(false),
            stop: tokio::sync::Notify::new(),
            seq: AtomicU64::new(0),
            result_seq: AtomicU64::new(0),
            results: Packer::new(wire::MAX_ITEMS),
        });
        let consumers = rt.block_on(async {
            let mut out = Vec::new();
            for k in 0..inner.specs.len() {
                out.push(work_consumer(&inner, k).await?);
            }
            Ok::<_, ClusterError>(out)
        })?;
        let cancels = rt
            .block_on(inner.client.subscribe(inner.subjects.cancel(&inner.name)))
            .map_err(|e| ClusterError::Connect {
                urls: inner.config.urls.join(","),
                reason: e.to_string(),
            })?;
        rt.spawn(listen_cancels(Arc::clone(&inner), cancels));
        rt.spawn(heartbeats(Arc::clone(&inner)));
        for (k, c) in consumers.into_iter().enumerate() {
            rt.spawn(serve_node(Arc::clone(&inner), k, c));
        }
        tracing::info!(worker = %inner.name, nodes = inner.specs.len(), "worker.started");
        Ok(WorkerHandle {
            inner,
            rt: Some(rt),
            local: Some(local),
        })
    }

    /// Starts, serves until the process gets SIGINT or SIGTERM, then
    /// leaves cleanly ([`WorkerHandle::stop`]).
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start).
    pub fn run(self) -> Result<WorkerReport, ClusterError> {
        let handle = self.start()?;
        if let Some(rt) = &handle.rt {
            rt.block_on(async {
                #[cfg(unix)]
                {
                    use tokio::signal::unix::{signal, SignalKind};
                    match signal(SignalKind::terminate()) {
                        Ok(mut term) => {
                            tokio::select! {
                                _ = tokio::signal::ctrl_c() => {}
                                _ = term.recv() => {}
                            }
                        }
                        Err(_) => {
                            let _ = tokio::signal::ctrl_c().await;
                        }
                    }
                }
                #[cfg(not(unix))]
                {
                    let _ = tokio::signal::ctrl_c().await;
                }
            });
        }
        Ok(handle.stop())
    }
}

impl WorkerHandle {
    /// What the worker has done so far.
    pub fn report(&self) -> WorkerReport {
        self.inner.counters.report()
    }

    /// Leaves the cluster cleanly: stops taking work, lets the attempts
    /// running here finish and publishes their results (for up to 10 s),
    /// tells the coordinator it is leaving, and stops its nodes.
    pub fn stop(mut self) -> WorkerReport {
        self.leave();
        self.inner.counters.report()
    }

    fn leave(&mut self) {
        let Some(rt) = self.rt.take() else {
            return;
        };
        let inner = Arc::clone(&self.inner);
        inner.stopping.store(true, Ordering::Release);
        inner.stop.notify_waiters();
        rt.block_on(async {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while !inner.inflight.lock().is_empty() && tokio::time::Instant::now() < deadline {
                // Polling a map the task-ending futures empty, while they
                // run on this runtime: a bounded wait at shutdown.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let _ = publish_heartbeat(&inner, true).await;
            let _ = inner.client.flush().await;
        });
        rt.shutdown_background();
        if let Some(local) = self.local.take() {
            local.shutdown_now();
        }
        tracing::info!(worker = %inner.name, "worker.left");
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.leave();
    }
}

/// Node `k`'s durable consumer: its subject only, at most `slots +
/// prefetch` messages unacknowledged.
async fn work_consumer(
    inner: &Inner,
    k: usize,
) -> Result<consumer::Consumer<consumer::pull::Config>, ClusterError> {
    let name = inner.subjects.work_consumer(&inner.name, k);
    let stream_err = |e: String| ClusterError::Stream {
        stream: name.clone(),
        reason: e,
    };
    let stream = inner
        .js
        .get_stream(inner.subjects.work_stream())
        .await
        .map_err(|e| stream_err(e.to_string()))?;
    let window = inner.specs[k].slots.max(1) + inner.config.prefetch;
    let config = consumer::pull::Config {
        durable_name: Some(name.clone()),
        filter_subject: inner.subjects.work(&inner.name, k),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: ACK_WAIT,
        max_ack_pending: i64::try_from(window).unwrap_or(i64::MAX),
        ..Default::default()
    };
    // A consumer left by an earlier run with other limits is replaced.
    match stream.get_consumer::<consumer::pull::Config>(&name).await {
        Ok(c)
            if c.cached_info().config.max_ack_pending == config.max_ack_pending
                && c.cached_info().config.ack_wait == config.ack_wait =>
        {
            Ok(c)
        }
        Ok(_) => {
            let _ = stream.delete_consumer(&name).await;
            stream
                .create_consumer(config)
                .await
                .map_err(|e| stream_err(e.to_string()))
        }
        Err(_) => stream
            .create_consumer(config)
            .await
            .map_err(|e| stream_err(e.to_string())),
    }
}

/// Pulls node `k`'s work until the worker stops; restarts its pull after
/// an error or a stall (a missed idle heartbeat).
async fn serve_node(
    inner: Arc<Inner>,
    k: usize,
    consumer: consumer::Consumer<consumer::pull::Config>,
) {
    let window = inner.specs[k].slots.max(1) + inner.config.prefetch;
    while !inner.stopping.load(Ordering::Acquire) {
        let messages = consumer
            .stream()
            .max_messages_per_batch(window)
            .heartbeat(Duration::from_secs(2))
            .expires(Duration::from_secs(10))
            .messages()
            .await;
        let mut messages = match messages {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(worker = %inner.name, node = k, error = %e, "worker.pull_failed");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(200)) => continue,
                    _ = inner.stop.notified() => return,
                }
            }
        };
        loop {
            let next = tokio::select! {
                next = messages.next() => next,
                _ = inner.stop.notified() => return,
            };
            match next {
                Some(Ok(msg)) if inner.stopping.load(Ordering::Acquire) => {
                    // Leaving (a stop between two messages, which the
                    // notification above did not catch): give it back.
                    let _ = msg.ack_with(AckKind::Nak(None)).await;
                    return;
                }
                Some(Ok(msg)) => take(&inner, k, msg).await,
                Some(Err(e)) => {
                    tracing::warn!(worker = %inner.name, node = k, error = %e, "worker.consumer_restart");
                    break;
                }
                None => break,
            }
        }
    }
}

/// One work message: decode it, then run its attempts; acknowledge it
/// when the results of all of them are held by the server.
async fn take(inner: &Arc<Inner>, k: usize, msg: jetstream::Message) {
    let batch = match WorkBatch::decode(msg.headers.as_ref(), &msg.payload) {
        Ok(b) => b,
        Err(e) => {
            inner.counters.bad_messages.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(worker = %inner.name, subject = %msg.subject, error = %e, "worker.bad_message");
            let report = BadMessageReport {
                worker: inner.name.clone(),
                subject: msg.subject.to_string(),
                field: e.field.to_owned(),
                reason: e.reason.clone(),
            };
            if let Ok(body) = serde_json::to_vec(&report) {
                let _ = inner
                    .client
                    .publish(inner.subjects.errors(&inner.name), body.into())
                    .await;
            }
            let _ = msg.ack_with(AckKind::Term).await;
            return;
        }
    };
    let mut runs = tokio::task::JoinSet::new();
    for item in batch.items {
        let origin = (batch.session, batch.incarnation);
        runs.spawn(run(Arc::clone(inner), k, origin, item));
    }
    tokio::spawn(async move {
        let mut settled = true;
        loop {
            // While attempts run, tell the server now and then that the
            // message is being worked on: it is not delivered again after
            // the (short) ack wait.
            match tokio::time::timeout(PROGRESS_EVERY, runs.join_next()).await {
                Ok(None) => break,
                Ok(Some(done)) => settled &= done.unwrap_or(false),
                Err(_) => {
                    let _ = msg.ack_with(AckKind::Progress).await;
                }
            }
        }
        // Not settled (leaving with the server away, or a redelivery of
        // an attempt running here): left unacknowledged, for the server
        // to deliver again or the running attempt's message to settle.
        if settled {
            if let Err(e) = msg.ack().await {
                tracing::debug!(error = %e, "worker.ack_failed");
            }
        }
    });
}

/// Runs one attempt on local node `k` and hands its result to the result
/// sender; `true` once nothing is left to publish for it (its result is
/// held by the server, or it was cancelled).
async fn run(inner: Arc<Inner>, k: usize, origin: (u64, u64), item: WorkItem) -> bool {
    let (session, incarnation) = origin;
    let key = (session, item.task, item.attempt);
    if inner.cancelled.lock().0.contains(&key) {
        inner.counters.cancelled.fetch_add(1, Ordering::Relaxed);
        return true;
    }
    if inner.inflight.lock().contains_key(&key) {
        // Redelivered while it runs here (a slow attempt outlived the ack
        // wait): the running one answers.
        inner.counters.duplicates.fetch_add(1, Ordering::Relaxed);
        return false;
    }
    let answer = |status, body| ResultItem {
        session,
        incarnation,
        task: item.task,
        attempt: item.attempt,
        status,
        body,
    };
    let timeout = item.timeout();
    let mut task = match inner.registry.task_by_name(&item.name, item.args.clone()) {
        Ok(t) => t.max_retries(0).first_attempt(item.attempt),
        Err(e) => {
            inner
                .counters
                .unknown_functions
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(worker = %inner.name, name = %item.name, "worker.unknown_function");
            let text = format!("worker {}: {e}", inner.name);
            return publish(&inner, answer(Status::Error, text.into_bytes())).await;
        }
    };
    if let Some(t) = timeout {
        task = task.timeout(t);
    }
    let handle = loop {
        match inner.local.submit_to(NodeId(k), task) {
            Ok(h) => break h,
            Err(SubmitError::Full(back)) => {
                // The local queue is at its bound: wait for room.
                if inner.stopping.load(Ordering::Acquire) {
                    return false;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                task = back;
            }
            Err(e) => {
                let text = format!("worker {}: {e}", inner.name);
                return publish(&inner, answer(Status::Error, text.into_bytes())).await;
            }
        }
    };
    inner.counters.started.fetch_add(1, Ordering::Relaxed);
    inner.inflight.lock().insert(key, handle.cancel_handle());
    let (status, body) = match handle.await {
        Ok(bytes) => (Status::Ok, bytes),
        Err(e) if e.is_cancelled() => {
            inner.counters.cancelled.fetch_add(1, Ordering::Relaxed);
            inner.inflight.lock().remove(&key);
            return true;
        }
        Err(e) => failure_reply(&e),
    };
    let done = publish(&inner, answer(status, body)).await;
    inner.inflight.lock().remove(&key);
    done
}

/// The wire form of a local task's failure.
fn failure_reply(e: &TaskError) -> (Status, Vec<u8>) {
    match e.last_failure() {
        Some(AttemptFailure::Error(err)) => (Status::Error, err.to_string().into_bytes()),
        Some(AttemptFailure::Panicked(m)) => (Status::Panic, m.clone().into_bytes()),
        Some(AttemptFailure::TimedOut) => (Status::Timeout, Vec::new()),
        Some(AttemptFailure::NodeLost) => (Status::Lost, Vec::new()),
        _ => (Status::Error, e.to_string().into_bytes()),
    }
}

/// Hands a result to the result sender and waits until the server holds
/// it; `false` if the sender gave up (leaving with the server away). With
/// no result message out, this task sends it itself; results that queue
/// up meanwhile go together in the next message.
async fn publish(inner: &Arc<Inner>, mut item: ResultItem) -> bool {
    let limit = batch_limit(&inner.client);
    if item.size() > limit {
        // A result the server would refuse however often it is sent.
        let text = format!(
            "the result of task {} is {} bytes: more than the NATS server's max_payload \
             allows ({limit} bytes with framing, less room for headers)",
            item.task,
            item.body.len()
        );
        item.status = Status::Error;
        item.body = text.into_bytes();
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    if let Some(batch) = inner.results.offer((item, tx), limit, outgoing_size) {
        send_results(inner, batch).await;
        if let Some(next) = inner.results.next(limit, outgoing_size) {
            // The results that queued up meanwhile, on a task of their
            // own: this attempt's message need not wait for them.
            let inner = Arc::clone(inner);
            tokio::spawn(async move {
                let mut batch = next;
                loop {
                    send_results(&inner, batch).await;
                    let limit = batch_limit(&inner.client);
                    match inner.results.next(limit, outgoing_size) {
                        Some(b) => batch = b,
                        None => return,
                    }
                }
            });
        }
    }
    let held = rx.await.is_ok();
    if held {
        inner.counters.replied.fetch_add(1, Ordering::Relaxed);
    }
    held
}

/// Publishes one result message until the server holds it, then tells
/// each of its results; leaving with the server away, it gives up (the
/// work messages stay unacknowledged and are delivered again).
async fn send_results(inner: &Inner, batch: Vec<Outgoing>) {
    let (items, held): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
    let seq = inner.result_seq.fetch_add(1, Ordering::Relaxed);
    let (headers, body) = ResultBatch { items }.encode(&inner.name, inner.incarnation, seq);
    let subject = inner.subjects.result(&inner.name);
    let give_up =
        |pause: Duration| inner.stopping.load(Ordering::Acquire) && pause >= Duration::from_secs(1);
    if let Published::Held { .. } =
        until_held(&inner.js, &subject, headers, body.into(), give_up).await
    {
        for tx in held {
            let _ = tx.send(());
        }
    }
}

/// Cancels attempts the coordinator abandoned.
async fn listen_cancels(inner: Arc<Inner>, mut sub: async_nats::Subscriber) {
    while let Some(msg) = sub.next().await {
        let Ok(c) = serde_json::from_slice::<CancelMsg>(&msg.payload) else {
            tracing::warn!(worker = %inner.name, "worker.bad_cancel");
            continue;
        };
        let key = (c.session, c.task, c.attempt);
        let running = inner.inflight.lock().get(&key).cloned();
        match running {
            Some(handle) => {
                handle.cancel();
            }
            None => {
                let mut memory = inner.cancelled.lock();
                let (set, order) = &mut *memory;
                if set.insert(key) {
                    order.push_back(key);
                    if order.len() > CANCELLED_MEMORY {
                        if let Some(old) = order.pop_front() {
                            set.remove(&old);
                        }
                    }
                }
            }
        }
    }
}

async fn publish_heartbeat(inner: &Inner, leaving: bool) -> Result<(), String> {
    let metrics = inner.local.metrics();
    let nodes = inner
        .specs
        .iter()
        .enumerate()
        .map(|(k, spec)| {
            let m = metrics.nodes.get(k);
            NodeReport {
                spec: spec.clone(),
                running: m.map_or(0, |m| m.running as usize),
                queued: m.map_or(0, |m| m.queued as usize),
                completed: m.map_or(0, |m| m.completed),
            }
        })
        .collect();
    let hb = Heartbeat {
        v: 1,
        worker: inner.name.clone(),
        incarnation: inner.incarnation,
        seq: inner.seq.fetch_add(1, Ordering::Relaxed),
        leaving,
        nodes,
        bad_messages: inner.counters.bad_messages.load(Ordering::Relaxed),
    };
    let body = serde_json::to_vec(&hb).map_err(|e| e.to_string())?;
    inner
        .client
        .publish(inner.subjects.heartbeat(&inner.name), body.into())
        .await
        .map_err(|e| e.to_string())
}

async fn heartbeats(inner: Arc<Inner>) {
    let mut tick = tokio::time::interval(inner.config.heartbeat_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = inner.stop.notified() => return,
        }
        if inner.stopping.load(Ordering::Acquire) {
            return;
        }
        if let Err(e) = publish_heartbeat(&inner, false).await {
            tracing::debug!(worker = %inner.name, error = %e, "worker.heartbeat_failed");
        }
    }
}
