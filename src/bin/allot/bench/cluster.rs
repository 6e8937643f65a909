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

/// What one `allot bench --nats` run measured: each figure's value in every
/// measured round.
#[derive(Debug)]
pub(crate) struct ClusterResults {
    cluster_rate: Vec<f64>,
    raw_rate: Vec<f64>,
    cluster_p50_us: Vec<f64>,
    cluster_p99_us: Vec<f64>,
    raw_p50_us: Vec<f64>,
    raw_p99_us: Vec<f64>,
    js_rt_p50_us: Vec<f64>,
    js_rt_p99_us: Vec<f64>,
    /// Over the whole run: attempts per work message and results per
    /// result message (how much the senders packed).
    packing: (f64, f64),
}

/// The median, min and max of `rounds`.
fn spread(rounds: &[f64]) -> (f64, f64, f64) {
    let mut v = rounds.to_vec();
    v.sort_by(f64::total_cmp);
    let at = |i: usize| v.get(i).copied().unwrap_or(f64::NAN);
    (at(v.len() / 2), at(0), at(v.len().saturating_sub(1)))
}

/// `a ÷ b` round by round.
fn ratio(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x / y).collect()
}

/// A ratio as JSON: what it divides, what above 1 means, and its figure.
fn ratio_json(divides: &str, above_1_means: &str, rounds: &[f64]) -> Value {
    let mut v = figure(rounds, 1.0);
    v["divides"] = json!(divides);
    v["above_1_means"] = json!(above_1_means);
    v
}

/// A figure as JSON, scaled by `scale`: median, min, max and the rounds.
fn figure(rounds: &[f64], scale: f64) -> Value {
    let (median, min, max) = spread(rounds);
    json!({
        "median": median * scale,
        "min": min * scale,
        "max": max * scale,
        "rounds": rounds.iter().map(|v| v * scale).collect::<Vec<_>>(),
    })
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
        // Exact nearest-rank percentiles over every trip (a few thousand,
        // all in memory).
        trips.sort_by(f64::total_cmp);
        let at = |q: f64| trips[((trips.len() - 1) as f64 * q).round() as usize];
        let rr = nats_raw::raw_request_reply(url, requests, 64).map_err(|e| failed(&e))?;
        let jrt = nats_raw::raw_jetstream_round_trip(url, requests, 64).map_err(|e| failed(&e))?;
        tracing::debug!(round, rate, raw = raw.rate_per_s, "bench.cluster_round");
        if round == 0 {
            continue;
        }
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
        cluster_rate: rates,
        raw_rate: raws,
        cluster_p50_us: p50s,
        cluster_p99_us: p99s,
        raw_p50_us: raw50,
        raw_p99_us: raw99,
        js_rt_p50_us: js50,
        js_rt_p99_us: js99,
    })
}

impl ClusterResults {
    /// The results as JSON: rates per second, round trips in seconds, each
    /// a median with min, max and every round; ratios taken round by round.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "cluster_batched_rate_per_s": figure(&self.cluster_rate, 1.0),
            "raw_jetstream_rate_per_s": figure(&self.raw_rate, 1.0),
            "cluster_single_p50_s": figure(&self.cluster_p50_us, 1e-6),
            "cluster_single_p99_s": figure(&self.cluster_p99_us, 1e-6),
            "raw_request_reply_p50_s": figure(&self.raw_p50_us, 1e-6),
            "raw_request_reply_p99_s": figure(&self.raw_p99_us, 1e-6),
            "raw_jetstream_round_trip_p50_s": figure(&self.js_rt_p50_us, 1e-6),
            "raw_jetstream_round_trip_p99_s": figure(&self.js_rt_p99_us, 1e-6),
            "attempts_per_work_message": self.packing.0,
            "results_per_result_message": self.packing.1,
            "ratios": {
                "cluster_vs_raw_jetstream": ratio_json(
                    "allot cluster, batched ÷ raw JetStream publish → pull → ack",
                    "allot is faster",
                    &ratio(&self.cluster_rate, &self.raw_rate),
                ),
                "single_p50_vs_raw_request_reply": ratio_json(
                    "allot cluster, one at a time p50 ÷ raw request/reply p50",
                    "allot is slower",
                    &ratio(&self.cluster_p50_us, &self.raw_p50_us),
                ),
                "single_p50_vs_raw_jetstream_round_trip": ratio_json(
                    "allot cluster, one at a time p50 ÷ raw JetStream round trip p50",
                    "allot is slower",
                    &ratio(&self.cluster_p50_us, &self.js_rt_p50_us),
                ),
                "single_p99_vs_raw_request_reply": ratio_json(
                    "allot cluster, one at a time p99 ÷ raw request/reply p99",
                    "allot is slower",
                    &ratio(&self.cluster_p99_us, &self.raw_p99_us),
                ),
            },
        })
    }

    /// The results as a table: medians with min–max over the rounds.
    pub(crate) fn print(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        writeln!(
            out,
            "cluster mode (2 worker processes, no-op named tasks); median [min–max] of {} rounds",
            self.cluster_rate.len()
        )?;
        let rows: [(&str, Vec<f64>, &str); 12] = [
            ("allot cluster, batched", self.cluster_rate.clone(), "/s"),
            (
                "raw JetStream publish → pull → ack",
                self.raw_rate.clone(),
                "/s",
            ),
            (
                "allot cluster, one at a time p50",
                self.cluster_p50_us.clone(),
                "µs",
            ),
            (
                "allot cluster, one at a time p99",
                self.cluster_p99_us.clone(),
                "µs",
            ),
            ("raw request/reply p50", self.raw_p50_us.clone(), "µs"),
            ("raw request/reply p99", self.raw_p99_us.clone(), "µs"),
            (
                "raw JetStream round trip (2 streams) p50",
                self.js_rt_p50_us.clone(),
                "µs",
            ),
            (
                "raw JetStream round trip (2 streams) p99",
                self.js_rt_p99_us.clone(),
                "µs",
            ),
            (
                "cluster_vs_raw_jetstream: batched ÷ raw JetStream (above 1: allot faster)",
                ratio(&self.cluster_rate, &self.raw_rate),
                "",
            ),
            (
                "single_p50_vs_raw_request_reply: p50 ÷ raw p50 (above 1: allot slower)",
                ratio(&self.cluster_p50_us, &self.raw_p50_us),
                "",
            ),
            (
                "single_p99_vs_raw_request_reply: p99 ÷ raw p99 (above 1: allot slower)",
                ratio(&self.cluster_p99_us, &self.raw_p99_us),
                "",
            ),
            (
                "single_p50_vs_raw_jetstream_rt: p50 ÷ raw JetStream round trip p50",
                ratio(&self.cluster_p50_us, &self.js_rt_p50_us),
                "",
            ),
        ];
        let w = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
        for (i, (name, rounds, unit)) in rows.iter().enumerate() {
            if i == 8 {
                writeln!(out, "ratios (round by round)")?;
            }
            let (m, lo, hi) = spread(rounds);
            let d = match *unit {
                "/s" => 0,
                _ => 2,
            };
            writeln!(out, "  {name:<w$} {m:>12.d$} {unit:<2} [{lo:.d$}–{hi:.d$}]")?;
        }
        writeln!(
            out,
            "packing (whole run): {:.1} attempts per work message, {:.1} results per result message",
            self.packing.0, self.packing.1
        )
    }
}
