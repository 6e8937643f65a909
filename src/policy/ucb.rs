//! UCB1 placement over nodes whose speeds are unknown, learned per task
//! kind from completion times, with discounting to follow changes.

use super::{Feedback, NodeView, Policy, TaskView};
use crate::spec::TaskKind;
use rustc_hash::FxHashMap;

#[derive(Debug, Clone, Copy, Default)]
struct Arm {
    /// Discounted number of observations.
    n: f64,
    /// Discounted sum of observed speeds.
    sum: f64,
}

#[derive(Debug, Clone, Default)]
struct KindStats {
    arms: Vec<Arm>,
    total: f64,
}

/// UCB1 over nodes, per task kind, from observed speeds.
///
/// Each completion ([`Policy::observe`]) gives an observed speed
/// `cost / elapsed` for its node and kind. A node's optimistic speed is
/// `mean + c · scale · √(ln N / n)` (`n` its observations, `N` all of the
/// kind's, `scale` the best mean so far); nodes never tried count as
/// infinitely fast. A task goes to the node that would finish it soonest
/// at its optimistic speed, counting queued work: `(load + cost) /
/// (optimistic speed · slots)`. On idle nodes that is plain UCB1; on busy
/// nodes it is least-loaded with learned speeds. Observations are
/// discounted by `γ` per new observation of the kind, so estimates follow a
/// node that slows down.
///
/// It ignores [`NodeView::speed`]: speeds are what it learns.
#[derive(Debug, Clone)]
pub struct Ucb {
    exploration: f64,
    discount: f64,
    kinds: FxHashMap<TaskKind, KindStats>,
}

impl Default for Ucb {
    fn default() -> Self {
        Ucb::new()
    }
}

impl Ucb {
    /// Default exploration weight (the `c` in
    /// `mean + c · scale · √(ln N / n)`).
    pub const DEFAULT_EXPLORATION: f64 = 0.2;

    /// Default discount per observation of a kind: old observations fade
    /// with a half-life of about 1 400 observations, so a node that slows
    /// down is noticed.
    pub const DEFAULT_DISCOUNT: f64 = 0.9995;

    /// With [`DEFAULT_EXPLORATION`](Self::DEFAULT_EXPLORATION) and
    /// [`DEFAULT_DISCOUNT`](Self::DEFAULT_DISCOUNT).
    pub fn new() -> Self {
        Ucb::with_params(Self::DEFAULT_EXPLORATION, Self::DEFAULT_DISCOUNT)
    }

    /// With exploration weight `c` (≥ 0) and discount `γ` in (0, 1]; `γ = 1`
    /// is plain UCB1.
    pub fn with_params(exploration: f64, discount: f64) -> Self {
        Ucb {
            exploration: exploration.max(0.0),
            discount: discount.clamp(1e-6, 1.0),
            kinds: FxHashMap::default(),
        }
    }

    /// The estimated speed of node `node` for `kind`, if it was observed.
    pub fn estimate(&self, kind: &TaskKind, node: usize) -> Option<f64> {
        let arm = self.kinds.get(kind)?.arms.get(node)?;
        (arm.n > 0.0).then(|| arm.sum / arm.n)
    }
}

impl Policy for Ucb {
    fn name(&self) -> &'static str {
        "ucb"
    }

    fn place(&mut self, task: &TaskView<'_>, nodes: &[NodeView]) -> Option<usize> {
        let stats = self.kinds.get(task.kind);
        let scale = stats
            .map(|s| {
                s.arms
                    .iter()
                    .filter(|a| a.n > 0.0)
                    .map(|a| a.sum / a.n)
                    .fold(0.0, f64::max)
            })
            .unwrap_or(0.0);
        let log_total = stats.map_or(0.0, |s| s.total.max(1.0).ln());
        let mut best: Option<(usize, f64)> = None;
        for (j, node) in nodes.iter().enumerate() {
            if !node.can_host(task) {
                continue;
            }
            let arm = stats
                .and_then(|s| s.arms.get(node.id.0))
                .copied()
                .unwrap_or_default();
            let optimistic = if arm.n <= 1e-9 {
                1e12
            } else {
                arm.sum / arm.n + self.exploration * scale * (log_total / arm.n).sqrt()
            };
            let finish =
                (node.load + task.cost) / (optimistic.max(1e-12) * node.slots.max(1) as f64);
            if best.is_none_or(|(_, b)| finish < b) {
                best = Some((j, finish));
            }
        }
        best.map(|(j, _)| j)
    }

    fn wants_feedback(&self) -> bool {
        true
    }

    fn observe(&mut self, fb: &Feedback) {
        let secs = fb.elapsed.as_secs_f64();
        if !(secs > 0.0 && fb.cost > 0.0 && fb.cost.is_finite()) {
            return;
        }
        let stats = self.kinds.entry(fb.kind.clone()).or_default();
        if stats.arms.len() <= fb.node.0 {
            stats.arms.resize(fb.node.0 + 1, Arm::default());
        }
        if self.discount < 1.0 {
            for a in &mut stats.arms {
                a.n *= self.discount;
                a.sum *= self.discount;
            }
            stats.total *= self.discount;
        }
        let arm = &mut stats.arms[fb.node.0];
        arm.n += 1.0;
        arm.sum += fb.cost / secs;
        stats.total += 1.0;
    }
}
