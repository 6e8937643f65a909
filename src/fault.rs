//! Fault injection: one-off [`Fault`]s and seeded [`FaultPlan`]s.
//!
//! A plan is public, serialisable data. Count-triggered faults fire when a
//! node starts its N-th task (counted across restarts); probabilistic faults
//! decide each case by hashing the plan's seed with the fault's index and the
//! node's task count (or, for task panics, the task id and attempt). So the
//! same seed gives the same faults at the same task counts, whatever the
//! thread interleaving, and a failing run can be replayed.

use crate::ids::NodeId;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How the message of every panic that fault injection raises begins.
pub(crate) const INJECTED_PANIC: &str = "injected panic";

/// Whether a panic's payload is one that fault injection raised on purpose
/// ([`Fault::PanicNode`], [`FaultSpec::PanicNode`], [`FaultSpec::PanicTask`]),
/// not a panic of the program's own.
///
/// For panic hooks that report injected panics briefly (or count them) and
/// other panics in full. An injected panic's message begins "injected
/// panic", so a panic of the program's own whose message
/// begins the same way counts as injected too.
///
/// # Examples
///
/// ```
/// let default_hook = std::panic::take_hook();
/// std::panic::set_hook(Box::new(move |info| {
///     if allot::is_injected_panic(info.payload()) {
///         eprintln!("(expected) {info}");
///     } else {
///         default_hook(info);
///     }
/// }));
/// # let _ = std::panic::take_hook();
/// ```
pub fn is_injected_panic(payload: &(dyn std::any::Any + Send)) -> bool {
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&'static str>().copied());
    message.is_some_and(|m| m.starts_with(INJECTED_PANIC))
}

/// One fault to inject now, through
/// [`RuntimeHandle::inject`](crate::RuntimeHandle::inject).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Fault {
    /// A real `panic!` inside the node actor's message handler.
    PanicNode {
        /// The node.
        node: NodeId,
    },
    /// The node actor stops on its own, without an error (a normal exit in
    /// OTP terms: `Transient` nodes are not restarted after it).
    StopNode {
        /// The node.
        node: NodeId,
    },
    /// The node crashes (an abnormal exit without a panic).
    CrashNode {
        /// The node.
        node: NodeId,
    },
    /// Sets the node's speed to `factor` × its nominal speed (`1.0`
    /// restores it).
    SlowNode {
        /// The node.
        node: NodeId,
        /// Multiplier of the nominal speed, `> 0`.
        factor: f64,
    },
}

impl std::fmt::Display for Fault {
    /// What the fault does, in words (`crash node-1`, `slow node-0 to
    /// 0.25× its speed`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::PanicNode { node } => write!(f, "panic {node}"),
            Fault::StopNode { node } => write!(f, "stop {node}"),
            Fault::CrashNode { node } => write!(f, "crash {node}"),
            Fault::SlowNode { node, factor } => {
                write!(f, "slow {node} to {factor}× its speed")
            }
        }
    }
}

impl FaultSpec {
    /// The most messages one [`FaultSpec::FloodMailbox`] may send: an
    /// executor sends them one by one before it runs its task.
    pub const MAX_FLOOD: u64 = 10_000_000;
}

/// One entry of a [`FaultPlan`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum FaultSpec {
    /// Crash `node` when it starts its `after_tasks`-th task.
    CrashNode {
        /// The node.
        node: NodeId,
        /// Its task count at which to crash (1 = the first task).
        after_tasks: u64,
    },
    /// Crash a node with probability `p` each time it starts a task.
    CrashProbability {
        /// Only this node, or every node when absent.
        #[serde(default)]
        node: Option<NodeId>,
        /// Probability per task, in `[0, 1]`.
        p: f64,
    },
    /// A real `panic!` in `node`'s actor code when it starts its
    /// `after_tasks`-th task.
    PanicNode {
        /// The node.
        node: NodeId,
        /// Its task count at which to panic.
        after_tasks: u64,
    },
    /// A panic in task code: each attempt panics with probability `p`.
    PanicTask {
        /// Probability per attempt, in `[0, 1]`.
        p: f64,
    },
    /// `node`'s executor hangs when it starts its `after_tasks`-th task,
    /// for `duration`, or until the node is replaced when absent.
    HangNode {
        /// The node.
        node: NodeId,
        /// Its task count at which to hang.
        after_tasks: u64,
        /// How long; forever (until replaced) when absent.
        #[serde(default, with = "crate::durations::opt_secs")]
        duration: Option<Duration>,
    },
    /// From `at` after the runtime starts, `node` runs at `factor` × its
    /// nominal speed; back to nominal `recover_after` later, if given.
    SlowNode {
        /// The node.
        node: NodeId,
        /// Multiplier of the nominal speed, `> 0`.
        factor: f64,
        /// When, after start.
        #[serde(with = "crate::durations::secs")]
        at: Duration,
        /// How long until it recovers; never when absent.
        #[serde(default, with = "crate::durations::opt_secs")]
        recover_after: Option<Duration>,
    },
    /// When `node` starts its `after_tasks`-th task, it runs at `factor` ×
    /// its nominal speed; back to nominal when it starts its
    /// `after_tasks + recover_after_tasks`-th, if given. The count-triggered
    /// twin of [`SlowNode`](Self::SlowNode): the same seed slows the node at
    /// the same point of its work, whatever the machine's pace.
    SlowNodeAfterTasks {
        /// The node.
        node: NodeId,
        /// Multiplier of the nominal speed, `> 0`.
        factor: f64,
        /// Its task count at which to slow down.
        after_tasks: u64,
        /// Tasks it starts slowed before it recovers; never when absent.
        #[serde(default)]
        recover_after_tasks: Option<u64>,
    },
    /// Floods `node`'s actor mailbox with `messages` control messages when
    /// it starts its `after_tasks`-th task.
    FloodMailbox {
        /// The node.
        node: NodeId,
        /// Its task count at which to flood.
        after_tasks: u64,
        /// How many messages.
        messages: u64,
    },
}

/// A seeded, serialisable plan of faults, given at build time
/// ([`Builder::fault_plan`](crate::Builder::fault_plan)) or injected while
/// running ([`RuntimeHandle::inject_plan`](crate::RuntimeHandle::inject_plan)).
///
/// # Examples
///
/// ```
/// use allot::{FaultPlan, FaultSpec, NodeId};
///
/// let plan = FaultPlan::new(42)
///     .with(FaultSpec::CrashNode { node: NodeId(1), after_tasks: 500 })
///     .with(FaultSpec::PanicTask { p: 0.001 });
/// let json = serde_json::to_string(&plan).unwrap();
/// let back: FaultPlan = serde_json::from_str(&json).unwrap();
/// assert_eq!(back, plan);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultPlan {
    /// The seed of every random decision; the runtime's seed when absent.
    pub seed: Option<u64>,
    /// The faults.
    pub faults: Vec<FaultSpec>,
}

impl FaultPlan {
    /// An empty plan with this seed.
    pub fn new(seed: u64) -> Self {
        FaultPlan {
            seed: Some(seed),
            faults: Vec::new(),
        }
    }

    /// This plan with one more fault.
    pub fn with(mut self, fault: FaultSpec) -> Self {
        self.faults.push(fault);
        self
    }

    /// Checks every entry against a runtime of `nodes` nodes.
    ///
    /// # Errors
    ///
    /// The index of the first bad entry, and what is wrong with it.
    pub fn validate(&self, nodes: usize) -> Result<(), (usize, String)> {
        for (i, f) in self.faults.iter().enumerate() {
            let node_ok = |n: &NodeId| {
                if n.0 < nodes {
                    Ok(())
                } else {
                    Err((i, format!("no node {n} (the runtime has {nodes})")))
                }
            };
            let prob_ok = |p: f64| {
                if (0.0..=1.0).contains(&p) {
                    Ok(())
                } else {
                    Err((i, format!("probability `p` must be in [0, 1], got {p}")))
                }
            };
            match f {
                FaultSpec::CrashNode { node, .. }
                | FaultSpec::PanicNode { node, .. }
                | FaultSpec::HangNode { node, .. } => node_ok(node)?,
                FaultSpec::FloodMailbox { node, messages, .. } => {
                    node_ok(node)?;
                    if *messages > FaultSpec::MAX_FLOOD {
                        return Err((
                            i,
                            format!(
                                "`messages` must be at most {}, got {messages}",
                                FaultSpec::MAX_FLOOD
                            ),
                        ));
                    }
                }
                FaultSpec::CrashProbability { node, p } => {
                    if let Some(n) = node {
                        node_ok(n)?;
                    }
                    prob_ok(*p)?;
                }
                FaultSpec::PanicTask { p } => prob_ok(*p)?,
                FaultSpec::SlowNode { node, factor, .. }
                | FaultSpec::SlowNodeAfterTasks { node, factor, .. } => {
                    node_ok(node)?;
                    if !(factor.is_finite() && *factor > 0.0) {
                        return Err((i, format!("`factor` must be finite and > 0, got {factor}")));
                    }
                }
            }
        }
        Ok(())
    }
}

/// What a node's executor must do as it starts a task.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Actions {
    pub(crate) crash: bool,
    pub(crate) panic_actor: bool,
    /// `Some(None)`: hang until replaced.
    pub(crate) hang: Option<Option<Duration>>,
    pub(crate) flood: u64,
    pub(crate) panic_task: bool,
    /// Set the node's speed to this factor of its nominal speed.
    pub(crate) speed: Option<f64>,
}

/// The part of a plan that concerns one node, ready for the hot path.
#[derive(Debug, Clone, Default)]
pub(crate) struct NodeFaults {
    seed: u64,
    /// `(fault index, task count, action)`.
    at_count: Vec<(u64, u64, CountAction)>,
    /// `(fault index, probability)`.
    crash_p: Vec<(u64, f64)>,
    panic_task_p: Vec<(u64, f64)>,
}

#[derive(Debug, Clone, Copy)]
enum CountAction {
    Crash,
    PanicActor,
    Hang(Option<Duration>),
    Flood(u64),
    Speed(f64),
}

/// A time-triggered speed change.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SpeedChange {
    pub(crate) node: NodeId,
    pub(crate) at: Duration,
    pub(crate) factor: f64,
}

/// splitmix64's finaliser over a combination of the inputs: a fixed,
/// well-mixed hash, so decisions depend only on their inputs.
fn mix(seed: u64, a: u64, b: u64, c: u64) -> u64 {
    let mut z = seed
        ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
        ^ c.wrapping_mul(0x1656_67B1_9E37_79F9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn chance(seed: u64, a: u64, b: u64, c: u64, p: f64) -> bool {
    // 53 random bits as a uniform in [0, 1).
    let u = (mix(seed, a, b, c) >> 11) as f64 / (1u64 << 53) as f64;
    u < p
}

impl NodeFaults {
    pub(crate) fn is_empty(&self) -> bool {
        self.at_count.is_empty() && self.crash_p.is_empty() && self.panic_task_p.is_empty()
    }

    /// What to do as this node starts its `count`-th task (task `task_id`,
    /// attempt `attempt`).
    pub(crate) fn actions(&self, node: NodeId, count: u64, task_id: u64, attempt: u32) -> Actions {
        let mut a = Actions::default();
        for &(_, at, action) in &self.at_count {
            if at == count {
                match action {
                    CountAction::Crash => a.crash = true,
                    CountAction::PanicActor => a.panic_actor = true,
                    CountAction::Hang(d) => a.hang = Some(d),
                    CountAction::Flood(n) => a.flood = a.flood.saturating_add(n),
                    CountAction::Speed(f) => a.speed = Some(f),
                }
            }
        }
        for &(idx, p) in &self.crash_p {
            if chance(self.seed, idx, node.0 as u64, count, p) {
                a.crash = true;
            }
        }
        for &(idx, p) in &self.panic_task_p {
            if chance(self.seed, idx | (1 << 63), task_id, u64::from(attempt), p) {
                a.panic_task = true;
            }
        }
        a
    }
}

/// Splits a plan into per-node parts and time-triggered speed changes.
/// `index_base` keeps fault indices distinct across plans injected at
/// different times.
pub(crate) fn compile(
    plan: &FaultPlan,
    runtime_seed: u64,
    nodes: usize,
    index_base: u64,
) -> (Vec<NodeFaults>, Vec<SpeedChange>) {
    let seed = plan.seed.unwrap_or(runtime_seed);
    let mut per_node = vec![
        NodeFaults {
            seed,
            ..NodeFaults::default()
        };
        nodes
    ];
    let mut speed = Vec::new();
    for (i, f) in plan.faults.iter().enumerate() {
        let idx = index_base + i as u64;
        let mut at = |node: NodeId, count: u64, action: CountAction| {
            if let Some(nf) = per_node.get_mut(node.0) {
                nf.at_count.push((idx, count, action));
            }
        };
        match *f {
            FaultSpec::CrashNode { node, after_tasks } => at(node, after_tasks, CountAction::Crash),
            FaultSpec::PanicNode { node, after_tasks } => {
                at(node, after_tasks, CountAction::PanicActor)
            }
            FaultSpec::HangNode {
                node,
                after_tasks,
                duration,
            } => at(node, after_tasks, CountAction::Hang(duration)),
            FaultSpec::FloodMailbox {
                node,
                after_tasks,
                messages,
            } => at(node, after_tasks, CountAction::Flood(messages)),
            FaultSpec::CrashProbability { node, p } => {
                for (j, nf) in per_node.iter_mut().enumerate() {
                    if node.is_none_or(|n| n.0 == j) {
                        nf.crash_p.push((idx, p));
                    }
                }
            }
            FaultSpec::PanicTask { p } => {
                for nf in per_node.iter_mut() {
                    nf.panic_task_p.push((idx, p));
                }
            }
            FaultSpec::SlowNodeAfterTasks {
                node,
                factor,
                after_tasks,
                recover_after_tasks,
            } => {
                at(node, after_tasks, CountAction::Speed(factor));
                if let Some(r) = recover_after_tasks {
                    at(node, after_tasks.saturating_add(r), CountAction::Speed(1.0));
                }
            }
            FaultSpec::SlowNode {
                node,
                factor,
                at,
                recover_after,
            } => {
                speed.push(SpeedChange { node, at, factor });
                if let Some(r) = recover_after {
                    speed.push(SpeedChange {
                        node,
                        at: at.saturating_add(r),
                        factor: 1.0,
                    });
                }
            }
        }
    }
    (per_node, speed)
}

/// Appends `more` to `base` (plans injected later add to earlier ones).
///
/// Count triggers at or before `started` (the node's task count now) can
/// never fire again (a trigger fires when the count equals it): they are
/// dropped, so that a runtime injected into for hours keeps a short list
/// (it is scanned at every task start).
pub(crate) fn merge(base: &NodeFaults, more: &NodeFaults, started: u64) -> NodeFaults {
    let mut out = base.clone();
    if out.is_empty() {
        out.seed = more.seed;
    }
    out.at_count.retain(|&(_, at, _)| at > started);
    out.at_count.extend_from_slice(&more.at_count);
    out.crash_p.extend_from_slice(&more.crash_p);
    out.panic_task_p.extend_from_slice(&more.panic_task_p);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decisions(plan: &FaultPlan, node: usize, counts: u64) -> Vec<Actions> {
        let (per_node, _) = compile(plan, 0, 4, 0);
        (1..=counts)
            .map(|c| per_node[node].actions(NodeId(node), c, c * 7, 0))
            .collect()
    }

    #[test]
    fn merging_drops_count_triggers_that_can_no_longer_fire() {
        let plan = |at| {
            FaultPlan::new(1).with(FaultSpec::CrashNode {
                node: NodeId(0),
                after_tasks: at,
            })
        };
        let mut faults = NodeFaults::default();
        for at in 1..=1_000 {
            let (more, _) = compile(&plan(at), 0, 1, at);
            // Injected as the node starts its `at`-th task: every earlier
            // trigger has had its count.
            faults = merge(&faults, &more[0], at - 1);
        }
        assert_eq!(
            faults.at_count.len(),
            1,
            "only the trigger still ahead is kept"
        );
        let (more, _) = compile(&plan(5_000), 0, 1, 0);
        let kept = merge(&faults, &more[0], 10);
        assert_eq!(kept.at_count.len(), 2);
        assert!(kept.actions(NodeId(0), 5_000, 0, 0).crash);
    }

    #[test]
    fn the_same_seed_gives_the_same_faults_at_the_same_counts() {
        let plan = FaultPlan::new(7)
            .with(FaultSpec::CrashProbability {
                node: None,
                p: 0.05,
            })
            .with(FaultSpec::PanicTask { p: 0.1 });
        assert_eq!(decisions(&plan, 1, 2_000), decisions(&plan, 1, 2_000));
        let other = FaultPlan {
            seed: Some(8),
            ..plan.clone()
        };
        assert_ne!(decisions(&plan, 1, 2_000), decisions(&other, 1, 2_000));
    }

    #[test]
    fn probabilities_are_close_to_their_rate() {
        let plan = FaultPlan::new(3).with(FaultSpec::CrashProbability {
            node: Some(NodeId(2)),
            p: 0.1,
        });
        let crashes = decisions(&plan, 2, 20_000)
            .iter()
            .filter(|a| a.crash)
            .count();
        assert!((1_700..2_300).contains(&crashes), "{crashes}");
        assert!(decisions(&plan, 0, 1_000).iter().all(|a| !a.crash));
    }

    #[test]
    fn count_triggers_fire_once_on_their_node() {
        let plan = FaultPlan::new(1)
            .with(FaultSpec::CrashNode {
                node: NodeId(1),
                after_tasks: 10,
            })
            .with(FaultSpec::HangNode {
                node: NodeId(1),
                after_tasks: 12,
                duration: None,
            })
            .with(FaultSpec::FloodMailbox {
                node: NodeId(0),
                after_tasks: 3,
                messages: 100,
            });
        let d = decisions(&plan, 1, 20);
        let crash_at: Vec<usize> = d
            .iter()
            .enumerate()
            .filter(|(_, a)| a.crash)
            .map(|(i, _)| i + 1)
            .collect();
        assert_eq!(crash_at, vec![10]);
        assert_eq!(d[11].hang, Some(None));
        assert_eq!(decisions(&plan, 0, 5)[2].flood, 100);
    }

    #[test]
    fn bad_entries_are_named_by_index() {
        let plan = FaultPlan::new(1)
            .with(FaultSpec::PanicTask { p: 0.5 })
            .with(FaultSpec::CrashNode {
                node: NodeId(9),
                after_tasks: 1,
            });
        assert_eq!(plan.validate(4).unwrap_err().0, 1);
        let plan = FaultPlan::new(1).with(FaultSpec::PanicTask { p: 1.5 });
        assert!(plan.validate(4).unwrap_err().1.contains("`p`"));
    }

    #[test]
    fn a_count_triggered_slow_down_fires_at_its_counts_and_recovers() {
        let plan = FaultPlan::new(1).with(FaultSpec::SlowNodeAfterTasks {
            node: NodeId(2),
            factor: 0.25,
            after_tasks: 10,
            recover_after_tasks: Some(5),
        });
        let d = decisions(&plan, 2, 20);
        let speeds: Vec<(u64, f64)> = d
            .iter()
            .enumerate()
            .filter_map(|(k, a)| a.speed.map(|s| (k as u64 + 1, s)))
            .collect();
        assert_eq!(speeds, [(10, 0.25), (15, 1.0)]);
        assert!(decisions(&plan, 1, 20).iter().all(|a| a.speed.is_none()));
        let json = r#"{"kind":"slow_node_after_tasks","node":0,"factor":0.5,"after_tasks":3}"#;
        let f: FaultSpec = serde_json::from_str(json).unwrap();
        assert!(matches!(
            f,
            FaultSpec::SlowNodeAfterTasks {
                recover_after_tasks: None,
                ..
            }
        ));
    }

    #[test]
    fn a_plan_round_trips_through_serde() {
        let plan = FaultPlan::new(5).with(FaultSpec::SlowNode {
            node: NodeId(0),
            factor: 0.25,
            at: Duration::from_millis(500),
            recover_after: Some(Duration::from_secs(2)),
        });
        let text = serde_json::to_string(&plan).unwrap();
        assert_eq!(serde_json::from_str::<FaultPlan>(&text).unwrap(), plan);
    }
}
