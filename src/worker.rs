//! A worker process of cluster mode: it hosts nodes for a coordinator,
//! running the named tasks sent to them on a runtime of its own.
//!
//! Each of its nodes has a durable JetStream pull consumer on its work
//! subject allowing `slots + prefetch` unacknowledged messages (so the
//! worker never holds more than that). A message becomes a task on the
//! local node; when the task ends, its result is published to the result
//! stream (de-duplicated by message id) and only then is the work message
//! acknowledged. A message that does not decode is terminated, reported on
//! the error subject, and counted; the worker goes on. A redelivery of an
//! attempt still running here is skipped; a cancel from the coordinator
//! cancels the local task, which its `TaskContext` sees.

use crate::error::SubmitError;
use crate::ids::NodeId;
use crate::named::Registry;
use crate::node::NodeSpec;
use crate::runtime::{Runtime, RuntimeHandle};
use crate::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use crate::sync::Mutex;
use crate::task_handle::CancelHandle;
use crate::transport::wire::{
    self, BadMessageReport, CancelMsg, Heartbeat, NodeReport, ResultHeader, Status, Subjects,
    WorkHeader,
};
use crate::transport::{connect, ensure_streams, ClusterConfig, ClusterError, HEADROOM};
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
    seq: AtomicU64,
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

/// One work message: decode it, then start its task or answer it.
async fn take(inner: &Arc<Inner>, k: usize, msg: jetstream::Message) {
    let header = match WorkHeader::parse(msg.headers.as_ref()) {
        Ok(h) => h,
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
    let key = (header.session, header.task, header.attempt);
    if inner.cancelled.lock().0.contains(&key) {
        inner.counters.cancelled.fetch_add(1, Ordering::Relaxed);
        let _ = msg.ack_with(AckKind::Term).await;
        return;
    }
    if inner.inflight.lock().contains_key(&key) {
        // Redelivered while it runs here (a slow attempt outlived the ack
        // wait): the running one answers.
        inner.counters.duplicates.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let task = match inner
        .registry
        .task_by_name(&header.name, msg.payload.to_vec())
    {
        Ok(t) => t,
        Err(e) => {
            inner
                .counters
                .unknown_functions
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(worker = %inner.name, name = %header.name, "worker.unknown_function");
            let text = format!("worker {}: {e}", inner.name);
            reply(inner, &header, Status::Error, text.into_bytes(), msg).await;
            return;
        }
    };
    let mut task = task.max_retries(0).first_attempt(header.attempt);
    if let Some(t) = header.timeout {
        task = task.timeout(t);
    }
    match inner.local.submit_to(NodeId(k), task) {
        Ok(handle) => {
            inner.counters.started.fetch_add(1, Ordering::Relaxed);
            inner.inflight.lock().insert(key, handle.cancel_handle());
            let inner = Arc::clone(inner);
            tokio::spawn(async move {
                // While it runs, tell the server now and then that the
                // message is being worked on: it is not delivered again
                // after the (short) ack wait.
                let mut handle = std::pin::pin!(handle);
                let out = loop {
                    match tokio::time::timeout(PROGRESS_EVERY, &mut handle).await {
                        Ok(out) => break out,
                        Err(_) => {
                            let _ = msg.ack_with(AckKind::Progress).await;
                        }
                    }
                };
                inner.inflight.lock().remove(&key);
                let (status, body) = match out {
                    Ok(bytes) => (Status::Ok, bytes),
                    Err(e) if e.is_cancelled() => {
                        inner.counters.cancelled.fetch_add(1, Ordering::Relaxed);
                        let _ = msg.ack_with(AckKind::Term).await;
                        return;
                    }
                    Err(e) => failure_reply(&e),
                };
                reply(&inner, &header, status, body, msg).await;
            });
        }
        Err(SubmitError::Full(_)) => {
            let _ = msg
                .ack_with(AckKind::Nak(Some(Duration::from_millis(100))))
                .await;
        }
        Err(e) => {
            let text = format!("worker {}: {e}", inner.name);
            reply(inner, &header, Status::Error, text.into_bytes(), msg).await;
        }
    }
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

/// Publishes an attempt's result (until the server holds it), then
/// acknowledges its work message: a crash between the two leaves the work
/// to be delivered again and the duplicate result to be dropped.
async fn reply(
    inner: &Inner,
    h: &WorkHeader,
    status: Status,
    body: Vec<u8>,
    msg: jetstream::Message,
) {
    let subject = inner.subjects.result(&inner.name);
    let max = inner.client.server_info().max_payload;
    let (status, body) = if max > 0 && body.len() + HEADROOM > max {
        // A result the server would refuse however often it is sent.
        let text = format!(
            "the result of `{}` is {} bytes: more than the NATS server's max_payload \
             ({max} bytes, less {HEADROOM} for headers)",
            h.name,
            body.len()
        );
        (Status::Error, text.into_bytes())
    } else {
        (status, body)
    };
    // Built per send (a send again rebuilds them).
    let header = ResultHeader {
        session: h.session,
        task: h.task,
        attempt: h.attempt,
        status,
    };
    let body = bytes::Bytes::from(body);
    let mut backoff = Duration::from_millis(10);
    loop {
        let sent = tokio::time::timeout(Duration::from_secs(2), async {
            inner
                .js
                .publish_with_headers(subject.clone(), header.to_headers(), body.clone())
                .await?
                .await
        })
        .await;
        match sent {
            Ok(Ok(_)) => break,
            Ok(Err(e)) => tracing::debug!(error = %e, "worker.result_retry"),
            Err(_) => tracing::debug!("worker.result_timeout"),
        }
        if inner.stopping.load(Ordering::Acquire) && backoff >= Duration::from_secs(1) {
            // Leaving and the server is away: the work message stays
            // unacknowledged and is delivered again.
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
    inner.counters.replied.fetch_add(1, Ordering::Relaxed);
    if let Err(e) = msg.ack().await {
        tracing::debug!(error = %e, "worker.ack_failed");
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
