//! Every number of a workload file at its extremes (0, subnormals, 1e300,
//! NaN, ±inf, `u64::MAX`, huge durations, and arbitrary values), in TOML
//! and JSON, through everything `allot run` does before the first task:
//! parse, range checks, machine limits, the runtime's build and the
//! admission probes. Nothing may panic; a value refused must be refused
//! by an error naming its field; a value accepted must lie in the range
//! the guide documents for it.

use crate::error::CliError;
use crate::limits::MachineLimits;
use crate::run::{build_error, check_admission, MAX_PENDING};
use crate::workload::cost::MAX_COST;
use crate::workload::file;
use crate::workload::model::{MAX_BATCH, MAX_TASKS};
use crate::workload::ranges::{MAX_FLOOD, MAX_JITTER, MAX_SECONDS};
use allot::Runtime;
use proptest::prelude::*;
use std::path::Path;

/// What an accepted value must satisfy.
#[derive(Clone, Copy, Debug)]
enum Range {
    /// Any value of the field's type is safe.
    Any,
    /// A closed interval.
    Within(f64, f64),
    /// At least `lo`, below `hi`.
    HalfOpen(f64, f64),
    /// Above `lo`, at most `hi`.
    AboveUpTo(f64, f64),
}

impl Range {
    fn holds(self, v: f64) -> bool {
        match self {
            Range::Any => true,
            Range::Within(lo, hi) => (lo..=hi).contains(&v),
            Range::HalfOpen(lo, hi) => v >= lo && v < hi,
            Range::AboveUpTo(lo, hi) => v > lo && v <= hi,
        }
    }
}

/// One number of the workload file.
struct Field {
    /// Its placeholder in [`DOC`].
    key: &'static str,
    /// A valid value.
    default: &'static str,
    /// The most general fields an error about it may name.
    named: &'static [&'static str],
    /// What an accepted value lies in.
    range: Range,
}

const SECONDS: Range = Range::Within(0.0, MAX_SECONDS);
const SPEED: Range = Range::Within(1e-3, 1e3);
const COST: Range = Range::Within(0.0, MAX_COST);
const PROBABILITY: Range = Range::Within(0.0, 1.0);
/// Nodes and slots a run may start under [`limits`].
const THREADS: Range = Range::Within(1.0, 24.0);

#[rustfmt::skip]
const FIELDS: &[Field] = &[
    Field { key: "queue_capacity", default: "1024", named: &["runtime.queue_capacity"], range: Range::Within(1.0, u64::MAX as f64) },
    Field { key: "heartbeat_interval", default: "0.05", named: &["runtime.heartbeat_interval"], range: SECONDS },
    Field { key: "retry_backoff_min", default: "0.001", named: &["runtime.retry_backoff"], range: SECONDS },
    Field { key: "retry_backoff_max", default: "1.0", named: &["runtime.retry_backoff"], range: SECONDS },
    Field { key: "rng_seed", default: "7", named: &["runtime.rng_seed"], range: Range::Any },
    Field { key: "balancer_interval", default: "0.02", named: &["runtime.balancer.interval"], range: SECONDS },
    // `low` must stay below `high`: an error about one may name the other.
    Field { key: "high", default: "0.5", named: &["runtime.balancer."], range: Range::AboveUpTo(0.2, 1.0) },
    Field { key: "low", default: "0.2", named: &["runtime.balancer."], range: Range::HalfOpen(0.0, 0.5) },
    Field { key: "max_per_round", default: "256", named: &["runtime.balancer.max_per_round"], range: Range::Any },
    Field { key: "min_gap", default: "0.005", named: &["runtime.balancer.min_gap"], range: SECONDS },
    Field { key: "max_restarts", default: "3", named: &["runtime.supervision.max_restarts"], range: Range::Any },
    Field { key: "restart_period", default: "5.0", named: &["runtime.supervision.restart_period"], range: SECONDS },
    Field { key: "sup_backoff_min", default: "0.01", named: &["runtime.supervision.backoff_m"], range: SECONDS },
    Field { key: "sup_backoff_max", default: "1.0", named: &["runtime.supervision.backoff_m"], range: SECONDS },
    Field { key: "jitter", default: "0.2", named: &["runtime.supervision.backoff_jitter"], range: Range::Within(0.0, MAX_JITTER) },
    Field { key: "hang_timeout", default: "10.0", named: &["runtime.supervision.hang_timeout"], range: SECONDS },
    Field { key: "fault_seed", default: "3", named: &["runtime.fault_plan.seed"], range: Range::Any },
    Field { key: "crash_node", default: "0", named: &["runtime.fault_plan.faults"], range: Range::Within(0.0, 1.0) },
    Field { key: "crash_after", default: "100", named: &["runtime.fault_plan.faults"], range: Range::Any },
    Field { key: "hang_after", default: "50", named: &["runtime.fault_plan.faults"], range: Range::Any },
    Field { key: "hang_duration", default: "0.5", named: &["runtime.fault_plan.faults"], range: SECONDS },
    Field { key: "crash_p", default: "0.001", named: &["runtime.fault_plan.faults"], range: PROBABILITY },
    Field { key: "panic_p", default: "0.01", named: &["runtime.fault_plan.faults"], range: PROBABILITY },
    Field { key: "factor", default: "0.25", named: &["runtime.fault_plan.faults"], range: SPEED },
    Field { key: "slow_at", default: "0.3", named: &["runtime.fault_plan.faults"], range: SECONDS },
    Field { key: "recover_after", default: "0.6", named: &["runtime.fault_plan.faults"], range: SECONDS },
    Field { key: "flood_after", default: "10", named: &["runtime.fault_plan.faults"], range: Range::Any },
    Field { key: "messages", default: "100", named: &["runtime.fault_plan.faults"], range: Range::Within(0.0, MAX_FLOOD as f64) },
    Field { key: "node_count", default: "2", named: &["nodes.count"], range: THREADS },
    Field { key: "speed", default: "1.5", named: &["nodes.template.speed"], range: SPEED },
    Field { key: "slots", default: "2", named: &["nodes."], range: THREADS },
    Field { key: "cpu", default: "8000", named: &["nodes.template.capacity.cpu_milli", "tasks.kinds[0].demand.cpu_milli"], range: Range::Any },
    Field { key: "mem", default: "32768", named: &["nodes.template.capacity.memory_mib"], range: Range::Any },
    Field { key: "gpu", default: "1000", named: &["nodes.template.capacity.gpu_milli", "tasks.kinds[0].demand.gpu_milli"], range: Range::Any },
    Field { key: "bw", default: "10000", named: &["nodes.template.capacity.bandwidth_mbps"], range: Range::Any },
    Field { key: "count", default: "100", named: &["tasks.count"], range: Range::Within(1.0, MAX_TASKS as f64) },
    Field { key: "arrival_rate", default: "1000", named: &["tasks.arrival_rate"], range: Range::Within(0.0, f64::MAX) },
    Field { key: "batch", default: "64", named: &["tasks.batch"], range: Range::Within(1.0, MAX_BATCH as f64) },
    Field { key: "weight", default: "2", named: &["tasks.kinds[0].weight"], range: Range::AboveUpTo(0.0, 1e12) },
    Field { key: "mean", default: "0.004", named: &["tasks.kinds[0].cost"], range: COST },
    Field { key: "std_dev", default: "0.001", named: &["tasks.kinds[0].cost"], range: COST },
    Field { key: "d_cpu", default: "1000", named: &["tasks.kinds[0].demand.cpu_milli"], range: Range::Within(0.0, 8000.0) },
    Field { key: "d_gpu", default: "250", named: &["tasks.kinds[0].demand.gpu_milli"], range: Range::Within(0.0, 1000.0) },
    Field { key: "priority", default: "1", named: &["tasks.kinds[0].priority"], range: Range::Any },
    Field { key: "deadline", default: "0.5", named: &["tasks.kinds[0].deadline"], range: SECONDS },
    Field { key: "timeout", default: "2.0", named: &["tasks.kinds[0].timeout"], range: Range::AboveUpTo(0.0, MAX_SECONDS) },
    Field { key: "max_retries", default: "3", named: &["tasks.kinds[0].max_retries"], range: Range::Any },
    Field { key: "error_rate", default: "0.1", named: &["tasks.kinds[0].error_rate"], range: PROBABILITY },
    Field { key: "u_min", default: "0.001", named: &["tasks.kinds[1].cost"], range: COST },
    Field { key: "u_max", default: "0.003", named: &["tasks.kinds[1].cost"], range: COST },
    Field { key: "fixed", default: "0.002", named: &["tasks.kinds[2].cost"], range: COST },
    Field { key: "exp_mean", default: "0.002", named: &["tasks.kinds[3].cost"], range: COST },
];

/// A workload that sets every number, each as `{key}`.
const DOC: &str = r#"
[runtime]
queue_capacity = {queue_capacity}
heartbeat_interval = {heartbeat_interval}
retry_backoff_min = {retry_backoff_min}
retry_backoff_max = {retry_backoff_max}
rng_seed = {rng_seed}

[runtime.balancer]
interval = {balancer_interval}
high = {high}
low = {low}
max_per_round = {max_per_round}
min_gap = {min_gap}

[runtime.supervision]
max_restarts = {max_restarts}
restart_period = {restart_period}
backoff_min = {sup_backoff_min}
backoff_max = {sup_backoff_max}
backoff_jitter = {jitter}
hang_timeout = {hang_timeout}

[runtime.fault_plan]
seed = {fault_seed}
faults = [
  { kind = "crash_node", node = {crash_node}, after_tasks = {crash_after} },
  { kind = "hang_node", node = 0, after_tasks = {hang_after}, duration = {hang_duration} },
  { kind = "crash_probability", p = {crash_p} },
  { kind = "panic_task", p = {panic_p} },
  { kind = "slow_node", node = 0, factor = {factor}, at = {slow_at}, recover_after = {recover_after} },
  { kind = "flood_mailbox", node = 0, after_tasks = {flood_after}, messages = {messages} },
]

[nodes]
count = {node_count}
template = { speed = {speed}, slots = {slots}, capacity = { cpu_milli = {cpu}, memory_mib = {mem}, gpu_milli = {gpu}, bandwidth_mbps = {bw} } }

[tasks]
count = {count}
arrival_rate = {arrival_rate}
batch = {batch}

[[tasks.kinds]]
kind = "inference"
weight = {weight}
cost = { dist = "normal", mean = {mean}, std_dev = {std_dev} }
demand = { cpu_milli = {d_cpu}, gpu_milli = {d_gpu} }
priority = {priority}
deadline = {deadline}
timeout = {timeout}
max_retries = {max_retries}
error_rate = {error_rate}

[[tasks.kinds]]
kind = "training"
cost = { dist = "uniform", min = {u_min}, max = {u_max} }

[[tasks.kinds]]
kind = "evaluation"
cost = {fixed}

[[tasks.kinds]]
kind = "preprocessing"
cost = { dist = "exponential", mean = {exp_mean} }
"#;

/// The extremes every field is tried at, as TOML literals.
const EXTREMES: &[&str] = &[
    "0",
    "0.0",
    "-0.0",
    "5e-324",
    "2.2250738585072014e-308",
    "1e-300",
    "1e300",
    "-1e300",
    "nan",
    "inf",
    "-inf",
    "18446744073709551615",
    "9223372036854775807",
    "-9223372036854775808",
    "-1",
    "1.8446744073709552e19",
    "1e9",
    "1000000001",
    "4294967296",
    "1",
    "0.5",
];

/// A machine that lets a run start 40 threads: 24 for nodes and slots,
/// 16 for the runtime.
fn limits() -> MachineLimits {
    MachineLimits {
        threads: 40,
        threads_from: "the test's machine".into(),
        memory: None,
    }
}

/// [`DOC`] with `field` set to `value` and every other to its default.
fn doc(field: &Field, value: &str) -> String {
    let mut text = DOC.to_owned();
    for f in FIELDS {
        let v = if f.key == field.key { value } else { f.default };
        text = text.replace(&format!("{{{}}}", f.key), v);
    }
    text
}

/// Everything `allot run` does with a workload before its first task.
fn admit(path: &str, text: String) -> Result<(), CliError> {
    let loaded = file::from_text(Path::new(path), text)?;
    let config = loaded.runtime_config(&limits(), MAX_PENDING)?;
    let runtime = Runtime::builder_from(&config)
        .build()
        .map_err(|e| build_error(&loaded, e))?;
    let admitted = check_admission(&loaded, runtime.handle());
    runtime.shutdown();
    admitted
}

/// The value of a TOML literal, as a number.
fn number(value: &str) -> f64 {
    value.parse::<f64>().unwrap_or(match value {
        "nan" => f64::NAN,
        "inf" => f64::INFINITY,
        _ => f64::NEG_INFINITY,
    })
}

/// Admits `field = value` in TOML, and in JSON when JSON can write it, and
/// checks the outcome.
fn check(field: &Field, value: &str) {
    let text = doc(field, value);
    let mut runs = vec![("w.toml", text.clone())];
    if let Ok(json) = toml::from_str::<serde_json::Value>(&text) {
        if !json.to_string().contains("null") {
            runs.push(("w.json", json.to_string()));
        }
    }
    for (path, text) in runs {
        match admit(path, text) {
            Ok(()) => assert!(
                field.range.holds(number(value)),
                "{path}: `{}` = {value} was accepted, outside its range {:?}",
                field.key,
                field.range
            ),
            Err(CliError::Input {
                field: Some(named), ..
            }) if field.named.iter().any(|n| named.starts_with(n)) => {}
            Err(e) => panic!(
                "{path}: `{}` = {value}: an error not naming {:?}: {e}",
                field.key, field.named
            ),
        }
    }
}

#[test]
fn the_document_with_every_default_is_admitted() {
    for path in ["w.toml", "w.json"] {
        let text = doc(&FIELDS[0], FIELDS[0].default);
        let text = if path == "w.json" {
            toml::from_str::<serde_json::Value>(&text)
                .unwrap()
                .to_string()
        } else {
            text
        };
        admit(path, text).unwrap();
    }
}

#[test]
fn every_number_at_every_extreme_is_refused_by_name_or_within_its_range() {
    for field in FIELDS {
        for value in EXTREMES {
            check(field, value);
        }
    }
}

/// A TOML literal for `v`.
fn float_literal(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{v:?}")
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_float_in_any_field_is_refused_by_name_or_within_its_range(
        k in 0..FIELDS.len(),
        v in proptest::num::f64::ANY,
    ) {
        check(&FIELDS[k], &float_literal(v));
    }

    #[test]
    fn any_integer_in_any_field_is_refused_by_name_or_within_its_range(
        k in 0..FIELDS.len(),
        v in any::<u64>(),
        negative in any::<bool>(),
    ) {
        let literal = if negative { format!("-{}", v / 2) } else { v.to_string() };
        check(&FIELDS[k], &literal);
    }
}
