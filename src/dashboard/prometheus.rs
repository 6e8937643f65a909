//! `/metrics`: the runtime's state in the Prometheus (OpenMetrics) text
//! format, read afresh at each scrape by a `prometheus-client` collector.

use crate::inspect::TaskState;
use crate::runtime::RuntimeHandle;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// Upper bounds of the latency histogram's buckets, in seconds.
const LATENCY_BOUNDS: [f64; 12] = [
    0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0,
];

/// A registry with one collector that reads `handle` at each scrape.
pub(super) fn registry(handle: RuntimeHandle) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(RuntimeCollector { handle }));
    registry
}

#[derive(Debug)]
struct RuntimeCollector {
    handle: RuntimeHandle,
}

fn gauge<'a>(
    encoder: &mut DescriptorEncoder<'a>,
    name: &str,
    help: &str,
    values: impl IntoIterator<Item = (&'a str, String, f64)>,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (label, value, v) in values {
        let labels = [(label, value)];
        ConstGauge::new(v).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn counter<'a>(
    encoder: &mut DescriptorEncoder<'a>,
    name: &str,
    help: &str,
    values: impl IntoIterator<Item = (&'a str, String, u64)>,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (label, value, v) in values {
        let labels = [(label, value)];
        ConstCounter::new(v).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for RuntimeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let h = &self.handle;
        let counts = h.state_counts();
        gauge(
            &mut encoder,
            "allot_tasks",
            "Tasks by state (finished states count every task, retained or not)",
            TaskState::ALL
                .into_iter()
                .map(|s| ("state", s.name().to_owned(), counts.of(s) as f64)),
        )?;
        let m = h.metrics();
        let one = |v: u64| [("runtime", "allot".to_owned(), v)];
        counter(
            &mut encoder,
            "allot_tasks_submitted",
            "Tasks accepted",
            one(m.totals.submitted),
        )?;
        counter(
            &mut encoder,
            "allot_task_retries",
            "Attempts retried",
            one(m.totals.retried),
        )?;
        counter(
            &mut encoder,
            "allot_migrations",
            "Tasks moved between nodes by the balancer",
            one(m.totals.migrations),
        )?;
        let nodes = h.node_status();
        let per_node = |f: fn(&crate::inspect::NodeStatus) -> f64| {
            nodes
                .iter()
                .map(move |n| ("node", n.name.clone(), f(n)))
                .collect::<Vec<_>>()
        };
        gauge(
            &mut encoder,
            "allot_node_load",
            "Estimated cost queued and running (seconds at speed 1.0)",
            per_node(|n| n.load),
        )?;
        gauge(
            &mut encoder,
            "allot_node_queued",
            "Tasks in the node's queue",
            per_node(|n| n.queued as f64),
        )?;
        gauge(
            &mut encoder,
            "allot_node_running",
            "Tasks running on the node",
            per_node(|n| n.running as f64),
        )?;
        gauge(
            &mut encoder,
            "allot_node_up",
            "1 if the node accepts work",
            per_node(|n| f64::from(u8::from(n.health == crate::inspect::NodeHealth::Up))),
        )?;
        let node_counter = |f: fn(&crate::inspect::NodeStatus) -> u64| {
            nodes
                .iter()
                .map(move |n| ("node", n.name.clone(), f(n)))
                .collect::<Vec<_>>()
        };
        counter(
            &mut encoder,
            "allot_node_restarts",
            "Restarts of the node",
            node_counter(|n| n.restarts),
        )?;
        counter(
            &mut encoder,
            "allot_node_completed",
            "Tasks completed on the node",
            node_counter(|n| n.completed),
        )?;
        // Latency from submission to completion, from the nodes'
        // histograms (microseconds) into fixed buckets.
        let hist = h.latency_histogram();
        let mut buckets: Vec<(f64, u64)> = LATENCY_BOUNDS
            .iter()
            .map(|&b| (b, 0))
            .chain([(f64::MAX, 0)])
            .collect();
        for v in hist.iter_recorded() {
            let secs = v.value_iterated_to() as f64 / 1e6;
            let i = LATENCY_BOUNDS
                .iter()
                .position(|&b| secs <= b)
                .unwrap_or(LATENCY_BOUNDS.len());
            buckets[i].1 += v.count_at_value();
        }
        let count = hist.len();
        let sum = hist.mean() * count as f64 / 1e6;
        let mut latency = encoder.encode_descriptor(
            "allot_task_latency_seconds",
            "Time from submission to completion",
            None,
            MetricType::Histogram,
        )?;
        latency.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            sum, count, &buckets, None,
        )?;
        Ok(())
    }
}
