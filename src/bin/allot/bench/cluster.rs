//! `allot bench --nats URL`: cluster mode end to end against the engine's
//! own ceiling, in the same run.
//!
//! Two worker processes of this binary (`allot worker`) serve a coordinator
//! with no local nodes. Each round measures, in turn:
//!
//! - **allot cluster, batched**: `messages` no-op named tasks
//!   (`allot.noop`) submitted in batches of `batch`, every result received;
//! - **raw JetStream**: the same number of messages published to a file
//!   stream and pulled and acked by one consumer at once, `batch` publish
//!   acks in flight and `batch` messages per pull (`nats_raw`);
//! - **allot cluster, one at a time**: `requests` no-op tasks, each
//!   submitted and waited for before the next;
//! - **raw request/reply**: `requests` core-NATS round trips;
//! - **raw JetStream round trip**: `requests` round trips through two
//!   file-backed streams (publish → pull → publish → pull), the engine's
//!   own floor for a cluster-mode round trip.
//!
//! The first round is a warm-up; figures are medians over the others.
//!
//! It depends only on allot's public API, `nats_raw` and `kinds`, so that
//! the throughput example includes it too (`#[path]`); the caller says how
//! to start a worker process.

use super::nats_raw;
use crate::kinds;
use allot::cluster::ClusterConfig;
use allot::{Runtime, SupervisionConfig};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What one `allot bench --nats` run measured (medians).
#[derive(Debug)]
pub(crate) struct ClusterResults {
    cluster_rate: f64,
    raw_rate: f64,
    cluster_p50_us: f64,
    cluster_p99_us: f64,
    raw_p50_us: f64,
    raw_p99_us: f64,
    js_rt_p50_us: f64,
    js_rt_p99_us: f64,
    /// Per round: (cluster rate, raw rate), for the spread.
    rounds: Vec<(f64, f64)>,
    /// Over the whole run: attempts per work message and results per
    /// result message (how much the senders packed).
    packing: (f64, f64),
}

/// Two `allot worker` processes; stopped with SIGTERM (they leave
/// cleanly) when dropped.
struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
        }
        for c in &mut self.0 {
            let _ = c.wait();
        }
    }
}

/// How to start one worker process: given its name, the URL, the subject
/// prefix and the prefetch, a command serving one one-slot node with the
/// built-in kinds.
pub(crate) type WorkerCommand<'a> = &'a dyn Fn(&str, &str, &str, usize) -> Command;

fn spawn_workers(
    worker: WorkerCommand<'_>,
    url: &str,
    prefix: &str,
    prefetch: usize,
) -> Result<Workers, String> {
    let mut out = Workers(Vec::new());
    for name in ["bench-w1", "bench-w2"] {
        let child = worker(name, url, prefix, prefetch)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start a worker: {e}"))?;
        out.0.push(child);
    }
    Ok(out)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// What to measure.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan<'a> {
    pub(crate) url: &'a str,
    pub(crate) messages: usize,
    pub(crate) batch: usize,
    pub(crate) requests: usize,
    pub(crate) runs: usize,
    pub(crate) prefetch: usize,
}

/// Runs the cluster bench against the server at `plan.url`.
///
/// # Errors
///
/// When a worker cannot start, the coordinator cannot join them, or a
/// task or a raw case fails.
pub(crate) fn measure(plan: Plan<'_>, worker: WorkerCommand<'_>) -> Result<ClusterResults, String> {
    let Plan {
        url,
        messages,
        batch,
        requests,
        runs,
        prefetch,
    } = plan;
    let prefix = format!("allot-bench-{}", std::process::id());
    let workers = spawn_workers(worker, url, &prefix, prefetch)?;
    let runtime = Runtime::builder()
        .nodes(Vec::new())
        .supervision(SupervisionConfig {
            hang_timeout: Duration::from_secs(5),
            ..SupervisionConfig::default()
        })
        .cluster(ClusterConfig {
            prefetch,
            ..ClusterConfig::new(url)
                .workers(2)
                .subject_prefix(prefix.clone())
        })
        .build()
        .map_err(|e| format!("the coordinator: {e}"))?;
    let h = runtime.handle().clone();
    let (_, k) = kinds::builtins();
    let failed = |e: &dyn std::fmt::Display| format!("cluster bench: {e}");
    let (mut rates, mut raws, mut p50s, mut p99s, mut raw50, mut raw99) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut js50, mut js99) = (vec![], vec![]);
    let mut rounds = Vec::new();
    for round in 0..=runs {
        // allot cluster, batched.
        let started = Instant::now();
        let mut handles = Vec::with_capacity(messages);
        let mut left = messages;
        while left > 0 {
            let n = left.min(batch);
            let tasks = (0..n)
                .map(|_| k.noop.task(&()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| failed(&e))?;
            handles.extend(h.submit_batch(tasks).map_err(|e| failed(&e))?);
            left -= n;
        }
        for t in handles {
            t.wait().map_err(|e| failed(&e))?;
        }
        let rate = messages as f64 / started.elapsed().as_secs_f64();
        // Raw JetStream, the same number of messages.
        let raw = nats_raw::raw_jetstream(url, messages, 64, batch).map_err(|e| failed(&e))?;
        // One at a time.
        let mut trips = Vec::with_capacity(requests);
        for _ in 0..requests {
            let t0 = Instant::now();
            let task = k.noop.task(&()).map_err(|e| failed(&e))?;
            h.submit(task)
                .map_err(|e| failed(&e))?
                .wait()
                .map_err(|e| failed(&e))?;
            trips.push(t0.elapsed().as_secs_f64() * 1e6);
        }
        trips.sort_by(f64::total_cmp);
        let at = |q: f64| trips[((trips.len() - 1) as f64 * q).round() as usize];
        let rr = nats_raw::raw_request_reply(url, requests, 64).map_err(|e| failed(&e))?;
        let jrt = nats_raw::raw_jetstream_round_trip(url, requests, 64).map_err(|e| failed(&e))?;
        tracing::debug!(round, rate, raw = raw.rate_per_s, "bench.cluster_round");
        if round == 0 {
            continue;
        }
        rounds.push((rate, raw.rate_per_s));
        rates.push(rate);
        raws.push(raw.rate_per_s);
        p50s.push(at(0.5));
        p99s.push(at(0.99));
        raw50.push(rr.p50_us);
        raw99.push(rr.p99_us);
        js50.push(jrt.p50_us);
        js99.push(jrt.p99_us);
    }
    let wire = h.metrics().cluster.unwrap_or_default();
    let per = |n: u64, m: u64| n as f64 / m.max(1) as f64;
    let packing = (
        per(wire.published, wire.work_messages),
        per(wire.delivered + wire.ignored, wire.result_messages),
    );
    runtime.shutdown();
    drop(workers);
    // The run's streams (and the workers' consumers with them).
    let streams = [format!("{prefix}_work"), format!("{prefix}_results")];
    if let Err(e) = nats_raw::delete_streams(url, &streams) {
        tracing::warn!(error = %e, "bench.cluster_cleanup_failed");
    }
    Ok(ClusterResults {
        packing,
        cluster_rate: median(&mut rates),
        raw_rate: median(&mut raws),
        cluster_p50_us: median(&mut p50s),
        cluster_p99_us: median(&mut p99s),
        raw_p50_us: median(&mut raw50),
        raw_p99_us: median(&mut raw99),
        js_rt_p50_us: median(&mut js50),
        js_rt_p99_us: median(&mut js99),
        rounds,
    })
}

impl ClusterResults {
    /// The results as JSON.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "cluster_batched_rate_per_s": self.cluster_rate,
            "raw_jetstream_rate_per_s": self.raw_rate,
            "cluster_single_p50_us": self.cluster_p50_us,
            "cluster_single_p99_us": self.cluster_p99_us,
            "raw_request_reply_p50_us": self.raw_p50_us,
            "raw_request_reply_p99_us": self.raw_p99_us,
            "raw_jetstream_round_trip_p50_us": self.js_rt_p50_us,
            "raw_jetstream_round_trip_p99_us": self.js_rt_p99_us,
            "ratios": {
                "cluster_vs_raw_jetstream": self.cluster_rate / self.raw_rate,
                "single_p50_vs_raw_request_reply": self.cluster_p50_us / self.raw_p50_us,
                "single_p50_vs_raw_jetstream_round_trip": self.cluster_p50_us / self.js_rt_p50_us,
            },
            "rounds": self.rounds.iter().map(|(c, r)| json!({"cluster": c, "raw": r})).collect::<Vec<_>>(),
            "attempts_per_work_message": self.packing.0,
            "results_per_result_message": self.packing.1,
        })
    }

    /// The results as a table.
    pub(crate) fn print(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        writeln!(out, "cluster mode (2 worker processes, no-op named tasks)")?;
        writeln!(
            out,
            "  {:<48} {:>12.0} /s",
            "allot cluster, batched", self.cluster_rate
        )?;
        writeln!(
            out,
            "  {:<48} {:>12.0} /s",
            "raw JetStream publish → pull → ack", self.raw_rate
        )?;
        writeln!(
            out,
            "  {:<48} {:>12.1} µs p50 {:>10.1} µs p99",
            "allot cluster, one at a time", self.cluster_p50_us, self.cluster_p99_us
        )?;
        writeln!(
            out,
            "  {:<48} {:>12.1} µs p50 {:>10.1} µs p99",
            "raw request/reply", self.raw_p50_us, self.raw_p99_us
        )?;
        writeln!(
            out,
            "  {:<48} {:>12.1} µs p50 {:>10.1} µs p99",
            "raw JetStream round trip (2 streams)", self.js_rt_p50_us, self.js_rt_p99_us
        )?;
        let spread: Vec<String> = self
            .rounds
            .iter()
            .map(|(c, r)| format!("{:.2}", c / r))
            .collect();
        writeln!(
            out,
            "  cluster_vs_raw_jetstream        = {:.2}  (per round: {})",
            self.cluster_rate / self.raw_rate,
            spread.join(" ")
        )?;
        writeln!(
            out,
            "  single_p50_vs_raw_request_reply = {:.2}",
            self.cluster_p50_us / self.raw_p50_us
        )?;
        writeln!(
            out,
            "  single_p50_vs_raw_jetstream_rt  = {:.2}",
            self.cluster_p50_us / self.js_rt_p50_us
        )?;
        writeln!(
            out,
            "  packing: {:.1} attempts per work message, {:.1} results per result message",
            self.packing.0, self.packing.1
        )
    }
}
