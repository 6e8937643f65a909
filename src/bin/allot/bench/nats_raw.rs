//! The raw engine baselines of the cluster bench: NATS JetStream and core
//! NATS request/reply through async-nats alone, no allot in the path, for
//! allot's cluster mode to be compared against.
//!
//! Each call connects afresh on a small tokio runtime of its own (two
//! workers, the time and I/O drivers on: async-nats needs both), so that it
//! does not depend on how the caller's runtimes were built. Connecting and
//! creating streams is outside every timed span.

use async_nats::jetstream::{self, consumer, stream};
use async_nats::Subject;
use bytes::Bytes;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long one pull request waits on the server for its batch to fill
/// before it ends with what it has (the consumer then asks again).
const PULL_EXPIRES: Duration = Duration::from_secs(1);

/// Longest a finished run waits for the server to drop the acked messages
/// from the work queue (a check outside the timed spans).
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// Round trips before the measured ones of [`raw_request_reply`]: the
/// first ones pay for subscription set-up and cold caches.
const WARM_UP_REQUESTS: usize = 100;

/// What [`raw_jetstream`] measured: three timed phases on one file-backed
/// work-queue stream, `messages` messages of `payload` bytes each phase.
///
/// Rates are messages per second; times are seconds.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct RawRate {
    /// Messages per phase.
    pub(crate) messages: usize,
    /// Payload bytes per message.
    pub(crate) payload: usize,
    /// Publish acks in flight, and messages per pull request.
    pub(crate) batch: usize,
    /// The pipeline: publish → pull → ack with the publisher and the
    /// consumer running at once, on separate tasks and connections;
    /// `messages / pipeline_s`.
    pub(crate) rate_per_s: f64,
    /// Wall time of the pipeline phase, from the first publish to the last
    /// ack flushed to the server.
    pub(crate) pipeline_s: f64,
    /// Publish alone, nobody pulling: from the first publish to the last
    /// publish ack received.
    pub(crate) publish_s: f64,
    /// `messages / publish_s`.
    pub(crate) publish_rate_per_s: f64,
    /// Consume alone, from the stream the publish phase filled: from the
    /// first pull request to the last ack flushed.
    pub(crate) consume_s: f64,
    /// `messages / consume_s`.
    pub(crate) consume_rate_per_s: f64,
}

/// What [`raw_request_reply`] measured: sequential core-NATS round trips
/// to one echoing responder, on separate connections.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct LatencySummary {
    /// Measured round trips (after the warm-up ones).
    pub(crate) requests: usize,
    /// Payload bytes per request (echoed back).
    pub(crate) payload: usize,
    /// Median round trip, microseconds.
    pub(crate) p50_us: f64,
    /// 90th percentile, microseconds.
    pub(crate) p90_us: f64,
    /// 99th percentile, microseconds.
    pub(crate) p99_us: f64,
    /// Slowest round trip, microseconds.
    pub(crate) max_us: f64,
    /// Round trips per second over the measured ones.
    pub(crate) rate_per_s: f64,
}

impl LatencySummary {
    /// From a histogram of round trips in nanoseconds, `requests` of
    /// `payload` bytes taking `measured` in all.
    fn of(hist: &Histogram<u64>, requests: usize, payload: usize, measured: Duration) -> Self {
        let us = |q: f64| hist.value_at_quantile(q) as f64 / 1e3;
        LatencySummary {
            requests,
            payload,
            p50_us: us(0.5),
            p90_us: us(0.9),
            p99_us: us(0.99),
            max_us: hist.max() as f64 / 1e3,
            rate_per_s: requests as f64 / measured.as_secs_f64(),
        }
    }
}

/// JetStream throughput on the server at `url`: a fresh file-storage
/// work-queue stream (unique name and subject) and a durable pull consumer
/// with explicit acks, then three timed phases of `messages` messages of
/// `payload` bytes:
///
/// 1. publish only, up to `batch` publish acks in flight (a batch is sent,
///    then its acks are awaited);
/// 2. consume only: pull requests of up to `batch` messages, each message
///    acked as it comes, until the stream is empty;
/// 3. the pipeline: phases 1 and 2 at once, on two tasks with a connection
///    each, timed until the consumer's last ack is flushed.
///
/// After the phases it checks that the work queue is empty (every message
/// acked once), and deletes the stream, also after a failure.
///
/// # Errors
///
/// When the server cannot be reached or has no JetStream, when a publish
/// ack or a pull fails or times out, when the consumer sees other than
/// `messages` messages, or when the stream cannot be deleted.
///
/// # Panics
///
/// If `messages`, `batch` or the tokio runtime's threads are zero or
/// cannot be had.
pub(crate) fn raw_jetstream(
    url: &str,
    messages: usize,
    payload: usize,
    batch: usize,
) -> Result<RawRate, String> {
    assert!(messages > 0 && batch > 0, "messages and batch must be > 0");
    runtime().block_on(async {
        let producer = connect(url).await?;
        let worker = connect(url).await?;
        let pub_js = jetstream::new(producer);
        let name = unique_name();
        let subject = Subject::from(format!("allot.raw.{name}"));
        pub_js
            .create_stream(stream::Config {
                name: name.clone(),
                subjects: vec![subject.to_string()],
                storage: stream::StorageType::File,
                retention: stream::RetentionPolicy::WorkQueue,
                ..Default::default()
            })
            .await
            .map_err(|e| format!("creating stream {name}: {e}"))?;
        let result = phases(&pub_js, &worker, &name, subject, messages, payload, batch).await;
        let deleted = pub_js
            .delete_stream(&name)
            .await
            .map_err(|e| format!("deleting stream {name}: {e}"));
        let (publish_s, consume_s, pipeline_s) = result?;
        deleted?;
        let per_s = |s: f64| messages as f64 / s;
        Ok(RawRate {
            messages,
            payload,
            batch,
            rate_per_s: per_s(pipeline_s),
            pipeline_s,
            publish_s,
            publish_rate_per_s: per_s(publish_s),
            consume_s,
            consume_rate_per_s: per_s(consume_s),
        })
    })
}

/// The three timed phases of [`raw_jetstream`] on its stream `name`, then
/// the drain check; returns (publish, consume, pipeline) seconds.
///
/// `pub_js` publishes; `worker`, another connection, pulls and acks.
async fn phases(
    pub_js: &jetstream::Context,
    worker: &async_nats::Client,
    name: &str,
    subject: Subject,
    messages: usize,
    payload: usize,
    batch: usize,
) -> Result<(f64, f64, f64), String> {
    let sub_js = jetstream::new(worker.clone());
    let stream = sub_js
        .get_stream(name)
        .await
        .map_err(|e| format!("opening stream {name}: {e}"))?;
    let consumer: consumer::PullConsumer = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some("raw".to_owned()),
            ack_policy: consumer::AckPolicy::Explicit,
            // Acks are sent as messages arrive, so at most about a batch
            // is unacked; the headroom keeps the server from holding back
            // deliveries (its default cap can be below a large batch).
            max_ack_pending: i64::try_from(batch.saturating_mul(4).max(1_024)).unwrap_or(-1),
            ..Default::default()
        })
        .await
        .map_err(|e| format!("creating the pull consumer: {e}"))?;
    let body = Bytes::from(vec![b'x'; payload]);

    let publish = publish_all(pub_js, &subject, &body, messages, batch).await?;
    let consume = consume_all(&consumer, worker, messages, batch).await?;

    let start = Instant::now();
    let publisher = tokio::spawn({
        let (js, subject, body) = (pub_js.clone(), subject.clone(), body.clone());
        async move { publish_all(&js, &subject, &body, messages, batch).await }
    });
    let worker = tokio::spawn({
        let (consumer, client) = (consumer.clone(), worker.clone());
        async move { consume_all(&consumer, &client, messages, batch).await }
    });
    let published = publisher.await;
    let consumed = worker.await;
    let pipeline = start.elapsed();
    published.map_err(|e| format!("publisher task: {e}"))??;
    consumed.map_err(|e| format!("consumer task: {e}"))??;

    drained(&stream, name).await?;
    Ok((
        publish.as_secs_f64(),
        consume.as_secs_f64(),
        pipeline.as_secs_f64(),
    ))
}

/// Publishes `n` copies of `body` to `subject`, `batch` at a time: a batch
/// is sent, then its publish acks are awaited. Returns the time to the
/// last ack.
async fn publish_all(
    js: &jetstream::Context,
    subject: &Subject,
    body: &Bytes,
    n: usize,
    batch: usize,
) -> Result<Duration, String> {
    let start = Instant::now();
    let mut acks = Vec::with_capacity(batch);
    let mut left = n;
    while left > 0 {
        let k = batch.min(left);
        left -= k;
        for _ in 0..k {
            let ack = js
                .publish(subject.clone(), body.clone())
                .await
                .map_err(|e| format!("publishing: {e}"))?;
            acks.push(ack);
        }
        // All of the batch is in flight; awaiting in order ends with the
        // last of them.
        for ack in acks.drain(..) {
            ack.await.map_err(|e| format!("publish ack: {e}"))?;
        }
    }
    Ok(start.elapsed())
}

/// Pulls and acks `n` messages (`client` being the consumer's
/// connection) in pull requests of up to `batch`, each
/// waiting up to [`PULL_EXPIRES`] for its messages; returns the time until
/// the last ack is flushed to the server.
///
/// A request asks for no more than are still due, so the last one ends on
/// its last message and not at its expiry.
async fn consume_all(
    consumer: &consumer::PullConsumer,
    client: &async_nats::Client,
    n: usize,
    batch: usize,
) -> Result<Duration, String> {
    let start = Instant::now();
    let mut left = n;
    while left > 0 {
        let mut pulled = consumer
            .batch()
            .max_messages(batch.min(left))
            .expires(PULL_EXPIRES)
            .messages()
            .await
            .map_err(|e| format!("pull request: {e}"))?;
        while let Some(m) = pulled.next().await {
            let m = m.map_err(|e| format!("pulled message: {e}"))?;
            m.ack().await.map_err(|e| format!("ack: {e}"))?;
            left = left
                .checked_sub(1)
                .ok_or_else(|| format!("more than the {n} messages published came"))?;
        }
    }
    // Acks are plain publishes: the round trip of a flush puts them all on
    // the server.
    client
        .flush()
        .await
        .map_err(|e| format!("flushing acks: {e}"))?;
    Ok(start.elapsed())
}

/// Waits (up to [`DRAIN_DEADLINE`]) until the work-queue stream is empty:
/// every message published was acked.
async fn drained(stream: &jetstream::stream::Stream, name: &str) -> Result<(), String> {
    let deadline = Instant::now() + DRAIN_DEADLINE;
    loop {
        let left = stream
            .get_info()
            .await
            .map_err(|e| format!("stream {name} info: {e}"))?
            .state
            .messages;
        if left == 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "stream {name} still holds {left} messages {DRAIN_DEADLINE:?} after the last ack"
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Core NATS request/reply latency on the server at `url`: one responder
/// subscription echoing every request, one requester sending `requests`
/// requests of `payload` bytes one after another with `Client::request`
/// (after [`WARM_UP_REQUESTS`] unmeasured ones), each on its own
/// connection.
///
/// # Errors
///
/// When the server cannot be reached, or a request fails or times out
/// (async-nats's default request timeout, 10 s).
///
/// # Panics
///
/// If `requests` is zero, or the tokio runtime cannot be had.
pub(crate) fn raw_request_reply(
    url: &str,
    requests: usize,
    payload: usize,
) -> Result<LatencySummary, String> {
    assert!(requests > 0, "requests must be > 0");
    runtime().block_on(async {
        let responder = connect(url).await?;
        let requester = connect(url).await?;
        let subject = Subject::from(format!("allot.raw.echo.{}", unique_name()));
        let mut sub = responder
            .subscribe(subject.clone())
            .await
            .map_err(|e| format!("subscribing: {e}"))?;
        // Until the server has the subscription, a request finds no
        // responders: the flush's round trip comes after it.
        responder
            .flush()
            .await
            .map_err(|e| format!("flushing the subscription: {e}"))?;
        let echo = tokio::spawn({
            let client = responder.clone();
            async move {
                while let Some(m) = sub.next().await {
                    if let Some(reply) = m.reply {
                        if client.publish(reply, m.payload).await.is_err() {
                            break;
                        }
                    }
                }
            }
        });

        let body = Bytes::from(vec![b'x'; payload]);
        // The flush above does not wait for the server to have processed
        // the subscription before another connection's request: until a
        // first request is answered, "no responders" means "not yet".
        let mut tries = 0;
        while let Err(e) = requester.request(subject.clone(), body.clone()).await {
            tries += 1;
            if tries >= 200 {
                return Err(format!("the responder never answered: {e}"));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
            .expect("valid histogram bounds");
        let mut measured = Duration::ZERO;
        for k in 0..WARM_UP_REQUESTS + requests {
            let start = Instant::now();
            let reply = requester
                .request(subject.clone(), body.clone())
                .await
                .map_err(|e| format!("request {k}: {e}"))?;
            let took = start.elapsed();
            if reply.payload.len() != payload {
                return Err(format!(
                    "request {k}: {} bytes back for {payload}",
                    reply.payload.len()
                ));
            }
            if k >= WARM_UP_REQUESTS {
                measured += took;
                hist.saturating_record(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
            }
        }
        echo.abort();
        Ok(LatencySummary::of(&hist, requests, payload, measured))
    })
}

/// JetStream round-trip latency on the server at `url`, the engine's own
/// floor for a cluster-mode round trip: a requester publishes to one
/// file-backed work-queue stream; a responder, on another connection,
/// pulls it, publishes the same payload to a second stream, waits for that
/// publish's acknowledgement, then acks the request; the requester pulls
/// the reply (timed from its publish to the reply's arrival), acks it and
/// waits for its own publish's acknowledgement before the next request.
/// `requests` measured round trips after [`WARM_UP_REQUESTS`].
///
/// # Errors
///
/// When the server cannot be reached, has no JetStream, or a publish or a
/// pull fails.
///
/// # Panics
///
/// If `requests` is zero, or the tokio runtime cannot be had.
pub(crate) fn raw_jetstream_round_trip(
    url: &str,
    requests: usize,
    payload: usize,
) -> Result<LatencySummary, String> {
    assert!(requests > 0, "requests must be > 0");
    runtime().block_on(async {
        let js_a = jetstream::new(connect(url).await?);
        let js_b = jetstream::new(connect(url).await?);
        let name = unique_name();
        let names = [format!("{name}_REQ"), format!("{name}_REP")];
        let subjects = [
            format!("allot.raw.{name}.req"),
            format!("allot.raw.{name}.rep"),
        ];
        for (n, s) in names.iter().zip(&subjects) {
            js_a.create_stream(stream::Config {
                name: n.clone(),
                subjects: vec![s.clone()],
                storage: stream::StorageType::File,
                retention: stream::RetentionPolicy::WorkQueue,
                ..Default::default()
            })
            .await
            .map_err(|e| format!("creating stream {n}: {e}"))?;
        }
        let result = round_trips(&js_a, &js_b, &names, &subjects, requests, payload).await;
        for n in &names {
            let _ = js_a.delete_stream(n).await;
        }
        result
    })
}

async fn pull_consumer(
    js: &jetstream::Context,
    stream: &str,
) -> Result<consumer::PullConsumer, String> {
    js.get_stream(stream)
        .await
        .map_err(|e| format!("opening stream {stream}: {e}"))?
        .create_consumer(consumer::pull::Config {
            durable_name: Some("rt".to_owned()),
            ack_policy: consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .map_err(|e| format!("creating a consumer on {stream}: {e}"))
}

/// The timed part of [`raw_jetstream_round_trip`].
async fn round_trips(
    js_a: &jetstream::Context,
    js_b: &jetstream::Context,
    names: &[String; 2],
    subjects: &[String; 2],
    requests: usize,
    payload: usize,
) -> Result<LatencySummary, String> {
    let requests_in = pull_consumer(js_b, &names[0]).await?;
    let replies_in = pull_consumer(js_a, &names[1]).await?;
    let responder = tokio::spawn({
        let (js, subject) = (js_b.clone(), subjects[1].clone());
        async move {
            let mut msgs = requests_in
                .stream()
                .max_messages_per_batch(64)
                .messages()
                .await
                .map_err(|e| format!("pulling requests: {e}"))?;
            while let Some(m) = msgs.next().await {
                let m = m.map_err(|e| format!("pulled request: {e}"))?;
                js.publish(subject.clone(), m.payload.clone())
                    .await
                    .map_err(|e| format!("publishing a reply: {e}"))?
                    .await
                    .map_err(|e| format!("reply's publish ack: {e}"))?;
                m.ack().await.map_err(|e| format!("ack: {e}"))?;
            }
            Ok::<(), String>(())
        }
    });
    let mut replies = replies_in
        .stream()
        .max_messages_per_batch(64)
        .messages()
        .await
        .map_err(|e| format!("pulling replies: {e}"))?;
    let body = Bytes::from(vec![b'x'; payload]);
    let mut hist =
        Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds");
    let mut measured = Duration::ZERO;
    for k in 0..WARM_UP_REQUESTS + requests {
        let start = Instant::now();
        let ack = js_a
            .publish(subjects[0].clone(), body.clone())
            .await
            .map_err(|e| format!("request {k}: {e}"))?;
        let reply = match replies.next().await {
            Some(Ok(m)) => m,
            Some(Err(e)) => return Err(format!("reply {k}: {e}")),
            None => return Err(format!("reply {k}: the pull ended")),
        };
        let took = start.elapsed();
        reply.ack().await.map_err(|e| format!("ack: {e}"))?;
        ack.await
            .map_err(|e| format!("request {k}'s publish ack: {e}"))?;
        if k >= WARM_UP_REQUESTS {
            measured += took;
            hist.saturating_record(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
        }
    }
    responder.abort();
    Ok(LatencySummary::of(&hist, requests, payload, measured))
}

/// A two-worker tokio runtime with the I/O and time drivers.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime starts")
}

/// Deletes the streams `names` on the server at `url` (what a bench run
/// leaves behind); a stream that is not there is no error.
///
/// # Errors
///
/// When the server cannot be reached or refuses a deletion.
pub(crate) fn delete_streams(url: &str, names: &[String]) -> Result<(), String> {
    runtime().block_on(async {
        let js = jetstream::new(connect(url).await?);
        for name in names {
            if js.get_stream(name).await.is_ok() {
                js.delete_stream(name)
                    .await
                    .map_err(|e| format!("deleting stream {name}: {e}"))?;
            }
        }
        Ok(())
    })
}

async fn connect(url: &str) -> Result<async_nats::Client, String> {
    async_nats::connect(url)
        .await
        .map_err(|e| format!("connecting to {url}: {e}"))
}

/// A stream name no other run uses: process id and time.
fn unique_name() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("ALLOT_RAW_{}_{nanos}", std::process::id())
}
