//! The run's snapshots: every node every `--sample-ms`, how often they
//! came, and the events (restarts, migrations, retirements, speed
//! changes) read from consecutive ones.

use super::NodeState;
use allot::{Metrics, NodeHealth, NodeStatus};
use serde::{Serialize, Serializer};

/// One node in a snapshot.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct NodeSample {
    /// Estimated cost queued and running there (seconds at speed 1.0).
    pub(crate) load_s: f64,
    pub(crate) queued: u64,
    pub(crate) running: u64,
    pub(crate) completed: u64,
    pub(crate) restarts: u64,
    pub(crate) migrations_in: u64,
    pub(crate) migrations_out: u64,
    /// Its speed now (a `slow_node` fault lowers it).
    pub(crate) speed: f64,
    pub(crate) state: NodeState,
}

/// A snapshot of every node (in node order) at `t_s` seconds into the run.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Sample {
    pub(crate) t_s: f64,
    pub(crate) completed: u64,
    pub(crate) failed: u64,
    pub(crate) nodes: Vec<NodeSample>,
}

impl Sample {
    /// A snapshot of `m`; `stopped` for metrics taken after shutdown.
    pub(crate) fn of(t_s: f64, m: &Metrics, stopped: bool) -> Sample {
        Sample {
            t_s,
            completed: m.totals.completed,
            failed: m.totals.failed,
            nodes: m
                .nodes
                .iter()
                .map(|n| NodeSample {
                    load_s: n.load,
                    queued: n.queued,
                    running: n.running,
                    completed: n.completed,
                    restarts: n.restarts,
                    migrations_in: n.migrations_in,
                    migrations_out: n.migrations_out,
                    speed: n.speed,
                    state: NodeState::of(n, stopped),
                })
                .collect(),
        }
    }
}

impl Sample {
    /// A snapshot of a running runtime from its nodes' status (read
    /// without taking any node's lock) and its ended-with-an-error count.
    pub(crate) fn live(t_s: f64, nodes: &[NodeStatus], failed: u64) -> Sample {
        Sample {
            t_s,
            completed: nodes.iter().map(|n| n.completed).sum(),
            failed,
            nodes: nodes
                .iter()
                .map(|n| NodeSample {
                    load_s: n.load,
                    queued: n.queued,
                    running: n.running,
                    completed: n.completed,
                    restarts: n.restarts,
                    migrations_in: n.migrations_in,
                    migrations_out: n.migrations_out,
                    speed: n.speed,
                    state: match n.health {
                        NodeHealth::Down => NodeState::Restarting,
                        NodeHealth::Retired => NodeState::Retired,
                        _ => NodeState::InService,
                    },
                })
                .collect(),
        }
    }
}

/// The snapshots of a run, serialised with each node's name
/// (`{"node": "cpu-0", "load_s": …}`); held by index.
#[derive(Debug, Default)]
pub(crate) struct Samples {
    /// The nodes' names, by index.
    pub(crate) names: Vec<String>,
    /// The snapshots, oldest first.
    pub(crate) list: Vec<Sample>,
}

impl Serialize for Samples {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Named<'a> {
            node: &'a str,
            #[serde(flatten)]
            sample: &'a NodeSample,
        }
        #[derive(Serialize)]
        struct View<'a> {
            t_s: f64,
            completed: u64,
            failed: u64,
            nodes: Vec<Named<'a>>,
        }
        s.collect_seq(self.list.iter().map(|x| {
            View {
                t_s: x.t_s,
                completed: x.completed,
                failed: x.failed,
                nodes: x
                    .nodes
                    .iter()
                    .zip(&self.names)
                    .map(|(sample, node)| Named { node, sample })
                    .collect(),
            }
        }))
    }
}

/// How often snapshots were asked for and how often they came: on a
/// machine with more runnable threads than CPUs the sampler waits its turn
/// for a CPU like every other thread, and the gaps grow.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub(crate) struct Sampling {
    /// The interval in force at the end (`--sample-ms`, doubled once per
    /// 4 096 snapshots on a long run).
    pub(crate) interval_s: f64,
    /// Snapshots taken while the run ran (the one after the shutdown not
    /// counted).
    pub(crate) taken: usize,
    /// The median and largest time between consecutive snapshots; `null`
    /// with fewer than two.
    pub(crate) median_gap_s: Option<f64>,
    pub(crate) max_gap_s: Option<f64>,
}

impl Sampling {
    /// The gaps between `live` snapshots (oldest first) taken every
    /// `interval`.
    pub(crate) fn of(live: &[Sample], interval: std::time::Duration) -> Sampling {
        let mut gaps: Vec<f64> = live.windows(2).map(|w| w[1].t_s - w[0].t_s).collect();
        gaps.sort_by(f64::total_cmp);
        Sampling {
            interval_s: interval.as_secs_f64(),
            taken: live.len(),
            median_gap_s: gaps.get(gaps.len() / 2).copied(),
            max_gap_s: gaps.last().copied(),
        }
    }

    /// Whether the snapshots came markedly less often than asked (the
    /// median gap over one and a half intervals).
    pub(crate) fn late(&self) -> bool {
        self.median_gap_s.is_some_and(|g| g > 1.5 * self.interval_s)
    }
}

/// What happened to a node between two snapshots.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum EventKind {
    /// The node was restarted `count` times.
    Restart { count: u64 },
    /// `count` tasks migrated to the node.
    Migration { count: u64 },
    /// The node was retired.
    Retirement,
    /// The node's speed went `from` one factor `to` another (a `slow_node`
    /// fault and its recovery).
    SpeedChange { from: f64, to: f64 },
}

/// A node's event, seen at the first snapshot after it (`t_s`).
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Event {
    pub(crate) t_s: f64,
    /// The node's name.
    pub(crate) node: String,
    /// The node's index.
    #[serde(skip)]
    pub(crate) index: usize,
    #[serde(flatten)]
    pub(crate) kind: EventKind,
}

/// How long after a node's restart the tasks moved into it count as
/// refilling it ([`refills`]).
pub(crate) const REFILL_WINDOW_S: f64 = 0.5;

/// Of the migrations in `events`, those into a node within
/// [`REFILL_WINDOW_S`] after one of its restarts: a restarted node comes
/// back with an empty queue (its queued tasks went to the other nodes), and
/// the balancer moves work back into it.
pub(crate) fn refills(events: &[Event]) -> u64 {
    events
        .iter()
        .filter_map(|m| match m.kind {
            EventKind::Migration { count } => Some((m, count)),
            _ => None,
        })
        .filter(|(m, _)| {
            events.iter().any(|r| {
                matches!(r.kind, EventKind::Restart { .. })
                    && r.index == m.index
                    && m.t_s >= r.t_s
                    && m.t_s - r.t_s <= REFILL_WINDOW_S
            })
        })
        .map(|(_, count)| count)
        .sum()
}

/// The events between consecutive snapshots.
pub(crate) fn events(samples: &Samples) -> Vec<Event> {
    let mut out = Vec::new();
    for w in samples.list.windows(2) {
        for (index, (a, b)) in w[0].nodes.iter().zip(&w[1].nodes).enumerate() {
            let mut push = |kind| {
                out.push(Event {
                    t_s: w[1].t_s,
                    node: samples
                        .names
                        .get(index)
                        .cloned()
                        .unwrap_or_else(|| format!("node-{index}")),
                    index,
                    kind,
                });
            };
            let count = b.restarts.saturating_sub(a.restarts);
            if count > 0 {
                push(EventKind::Restart { count });
            }
            let count = b.migrations_in.saturating_sub(a.migrations_in);
            if count > 0 {
                push(EventKind::Migration { count });
            }
            if b.state == NodeState::Retired && a.state != NodeState::Retired {
                push(EventKind::Retirement);
            }
            if a.speed != b.speed {
                push(EventKind::SpeedChange {
                    from: a.speed,
                    to: b.speed,
                });
            }
        }
    }
    out
}
