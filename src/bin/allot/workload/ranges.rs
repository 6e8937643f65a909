//! The documented range of every number a workload gives, checked before
//! any of them reaches arithmetic.

use super::cost::{CostDist, MAX_COST};
use super::model::{Nodes, Workload};
use crate::locate::FieldPath;
use allot::{FaultSpec, NodeSpec};

/// Longest duration a workload file may give (any of them: intervals,
/// backoffs, timeouts, deadlines, fault times), in seconds: 10^9 s, about
/// 31.7 years. Longer ones would reach the clock's range in arithmetic.
pub(crate) const MAX_SECONDS: f64 = 1e9;

/// Range of a node's `speed` and of a `slow_node` fault's `factor`: so the
/// fastest node is at most 10^6 times the slowest (10^12 with a slowdown),
/// a ratio the runtime's speed throttle multiplies durations by.
pub(crate) const SPEED_RANGE: (f64, f64) = (1e-3, 1e3);

/// Largest `supervision.backoff_jitter` (a restart waits up to
/// `1 + jitter` times its backoff).
pub(crate) const MAX_JITTER: f64 = 100.0;

/// Largest `weight` of a kind of task.
pub(crate) const MAX_WEIGHT: f64 = 1e12;

/// Most messages one `flood_mailbox` fault sends.
pub(crate) const MAX_FLOOD: u64 = 1_000_000;

/// A value outside its documented range: the field and why.
type RangeError = (FieldPath, String);

fn at_most_seconds(field: &str, d: std::time::Duration) -> Result<(), RangeError> {
    if d.as_secs_f64() > MAX_SECONDS {
        return Err((
            FieldPath::parse(field),
            format!(
                "must be at most {MAX_SECONDS:e} seconds, got {:?}",
                d.as_secs_f64()
            ),
        ));
    }
    Ok(())
}

/// A speed or speed factor: NaN, zero and negatives are the runtime's to
/// refuse (it does, by name); positive values outside [`SPEED_RANGE`] and
/// infinity are refused here.
fn speed(field: FieldPath, v: f64) -> Result<(), RangeError> {
    let (lo, hi) = SPEED_RANGE;
    if v == f64::INFINITY || (v > 0.0 && !(lo..=hi).contains(&v)) {
        return Err((field, format!("must be from {lo} to {hi}, got {v:?}")));
    }
    Ok(())
}

/// A cost parameter: NaN and negatives are the runtime's to refuse (it
/// does, as an invalid task); above [`MAX_COST`] is refused here.
fn cost(field: FieldPath, v: f64) -> Result<(), RangeError> {
    if v > MAX_COST {
        return Err((
            field,
            format!("must be at most {MAX_COST:e} seconds, got {v:?}"),
        ));
    }
    Ok(())
}

fn node(field: FieldPath, n: &NodeSpec) -> Result<(), RangeError> {
    speed(field.key("speed"), n.speed)
}

/// Checks every number of the workload against the ranges the guide
/// documents, so that none reaches arithmetic that overflows or panics:
/// durations, speeds, jitter, costs, weights, fault settings. Settings the
/// runtime itself refuses by a typed error (no nodes, zero slots, a
/// negative or NaN cost or speed, a probability outside [0, 1], a zero
/// interval) are left to it, so its messages name them.
///
/// # Errors
///
/// The first field out of range, and why.
pub(crate) fn check_ranges(w: &Workload) -> Result<(), RangeError> {
    let r = &w.runtime;
    for (field, d) in [
        ("runtime.heartbeat_interval", r.heartbeat_interval),
        ("runtime.retry_backoff_min", r.retry_backoff_min),
        ("runtime.retry_backoff_max", r.retry_backoff_max),
        ("runtime.balancer.interval", r.balancer.interval),
        ("runtime.balancer.min_gap", r.balancer.min_gap),
        (
            "runtime.supervision.restart_period",
            r.supervision.restart_period,
        ),
        ("runtime.supervision.backoff_min", r.supervision.backoff_min),
        ("runtime.supervision.backoff_max", r.supervision.backoff_max),
        (
            "runtime.supervision.hang_timeout",
            r.supervision.hang_timeout,
        ),
    ] {
        at_most_seconds(field, d)?;
    }
    let jitter = r.supervision.backoff_jitter;
    if jitter > MAX_JITTER {
        return Err((
            FieldPath::parse("runtime.supervision.backoff_jitter"),
            format!("must be from 0 to {MAX_JITTER}, got {jitter:?}"),
        ));
    }
    for (i, n) in r.nodes.iter().enumerate() {
        node(FieldPath::parse("runtime.nodes").index(i), n)?;
    }
    match &w.nodes {
        Some(Nodes::List(v)) => {
            for (i, n) in v.iter().enumerate() {
                node(FieldPath::parse("nodes").index(i), n)?;
            }
        }
        Some(Nodes::Count(c)) => node(FieldPath::parse("nodes.template"), &c.template)?,
        None => {}
    }
    if let Some(plan) = &r.fault_plan {
        for (i, f) in plan.faults.iter().enumerate() {
            let at = |key: &str| {
                FieldPath::parse("runtime.fault_plan.faults")
                    .index(i)
                    .key(key)
                    .to_string()
            };
            match f {
                FaultSpec::HangNode {
                    duration: Some(d), ..
                } => at_most_seconds(&at("duration"), *d)?,
                FaultSpec::SlowNode {
                    factor,
                    at: start,
                    recover_after,
                    ..
                } => {
                    speed(FieldPath::parse(&at("factor")), *factor)?;
                    at_most_seconds(&at("at"), *start)?;
                    if let Some(d) = recover_after {
                        at_most_seconds(&at("recover_after"), *d)?;
                    }
                }
                FaultSpec::SlowNodeAfterTasks { factor, .. } => {
                    speed(FieldPath::parse(&at("factor")), *factor)?;
                }
                FaultSpec::FloodMailbox { messages, .. } if *messages > MAX_FLOOD => {
                    return Err((
                        FieldPath::parse(&at("messages")),
                        format!("must be at most {MAX_FLOOD}, got {messages}"),
                    ));
                }
                _ => {}
            }
        }
    }
    for (i, k) in w.tasks.kinds.iter().enumerate() {
        let kind = FieldPath::parse("tasks.kinds").index(i);
        if k.weight > MAX_WEIGHT {
            return Err((
                kind.key("weight"),
                format!("must be at most {MAX_WEIGHT:e}, got {:?}", k.weight),
            ));
        }
        let c = kind.clone().key("cost");
        match k.cost {
            CostDist::Fixed { value } => cost(c, value)?,
            CostDist::Uniform { min, max } => {
                cost(c.clone().key("min"), min)?;
                cost(c.key("max"), max)?;
            }
            CostDist::Exponential { mean } => cost(c.key("mean"), mean)?,
            CostDist::Normal { mean, std_dev } => {
                cost(c.clone().key("mean"), mean)?;
                cost(c.key("std_dev"), std_dev)?;
            }
        }
        for (key, d) in [("deadline", k.deadline), ("timeout", k.timeout)] {
            if let Some(d) = d {
                at_most_seconds(&kind.clone().key(key).to_string(), d)?;
            }
        }
    }
    Ok(())
}
