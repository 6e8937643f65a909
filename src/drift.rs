//! Load-drift detection for the balancer: pure logic, no actors.
//!
//! A node's *drain time* is its queued-plus-running estimated cost divided
//! by its rate (speed × slots). The imbalance of a set of nodes is
//! `(max − min) / max` of their drain times. The detector turns active when
//! the imbalance exceeds `high` and stays active until it falls below `low`
//! (hysteresis), so a spread that hovers near one threshold does not make
//! the balancer flap.

/// One node as the detector sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Sample {
    /// Estimated cost queued and running.
    pub(crate) load: f64,
    /// Tasks per unit time the node can do relative to nominal: speed × slots.
    pub(crate) rate: f64,
    /// Tasks in its queue (movable).
    pub(crate) queued: usize,
    /// Whether it accepts work.
    pub(crate) available: bool,
}

impl Sample {
    fn drain(&self) -> f64 {
        self.load / self.rate.max(1e-9)
    }
}

/// A planned migration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Move {
    pub(crate) from: usize,
    pub(crate) to: usize,
    pub(crate) max_tasks: usize,
    /// Cost to move so both would drain at the same time.
    pub(crate) max_cost: f64,
}

#[derive(Clone, Debug)]
pub(crate) struct DriftDetector {
    high: f64,
    low: f64,
    min_gap: f64,
    active: bool,
}

impl DriftDetector {
    /// `high` > `low` in `[0, 1]`; `min_gap` in seconds of drain time below
    /// which nothing is worth moving.
    pub(crate) fn new(high: f64, low: f64, min_gap: f64) -> Self {
        DriftDetector {
            high,
            low,
            min_gap,
            active: false,
        }
    }

    #[cfg(test)]
    pub(crate) fn is_active(&self) -> bool {
        self.active
    }

    /// The imbalance of the available nodes, and whether the gap is big
    /// enough to matter.
    pub(crate) fn imbalance(&self, samples: &[Sample]) -> f64 {
        let drains: Vec<f64> = samples
            .iter()
            .filter(|s| s.available)
            .map(Sample::drain)
            .collect();
        if drains.len() < 2 {
            return 0.0;
        }
        let max = drains.iter().copied().fold(f64::MIN, f64::max);
        let min = drains.iter().copied().fold(f64::MAX, f64::min);
        if max <= 0.0 || max - min < self.min_gap {
            return 0.0;
        }
        (max - min) / max
    }

    /// Updates the hysteresis state and plans up to `max_per_round` moves.
    ///
    /// Moves go towards the mean drain time of the available nodes: a node
    /// above it gives at most its excess, a node below it takes at most its
    /// deficit, the hottest matched with the coldest first. A node never
    /// both gives and takes in one round, and no work moves between two
    /// nodes on the same side of the mean, so work is moved once, not
    /// passed along (pairing hottest with coldest and equalising each
    /// pair, as this did before, left the giver below the mean and made it
    /// a taker next round: in the chaos workload a third of the moved tasks
    /// moved again).
    pub(crate) fn plan(&mut self, samples: &[Sample], max_per_round: usize) -> Vec<Move> {
        let imbalance = self.imbalance(samples);
        if self.active {
            if imbalance < self.low {
                self.active = false;
            }
        } else if imbalance > self.high {
            self.active = true;
        }
        if !self.active || max_per_round == 0 {
            return Vec::new();
        }
        let avail: Vec<usize> = (0..samples.len())
            .filter(|&i| samples[i].available)
            .collect();
        if avail.len() < 2 {
            return Vec::new();
        }
        // The drain time at which the nodes would all finish together.
        let total_load: f64 = avail.iter().map(|&i| samples[i].load).sum();
        let total_rate: f64 = avail.iter().map(|&i| samples[i].rate.max(1e-9)).sum();
        let mean = total_load / total_rate;
        let gap = self.min_gap.max(f64::MIN_POSITIVE);
        // Givers: hottest first, with their excess cost; takers: coldest
        // first, with their deficit.
        let mut givers: Vec<(usize, f64)> = avail
            .iter()
            .filter(|&&i| samples[i].queued > 1 && samples[i].drain() > mean)
            .map(|&i| (i, (samples[i].drain() - mean) * samples[i].rate.max(1e-9)))
            .collect();
        givers.sort_by(|a, b| samples[b.0].drain().total_cmp(&samples[a.0].drain()));
        let mut takers: Vec<(usize, f64)> = avail
            .iter()
            .filter(|&&i| samples[i].drain() < mean)
            .map(|&i| (i, (mean - samples[i].drain()) * samples[i].rate.max(1e-9)))
            .collect();
        takers.sort_by(|a, b| samples[a.0].drain().total_cmp(&samples[b.0].drain()));

        let mut moves = Vec::new();
        let mut budget = max_per_round;
        let mut t = 0;
        for &(g, mut excess) in &givers {
            // Leave the most urgent task for the giver's next free slot.
            let mut movable = samples[g].queued - 1;
            while excess > 0.0 && movable > 0 && budget > 0 && t < takers.len() {
                let (c, deficit) = &mut takers[t];
                if samples[g].drain() - samples[*c].drain() < gap {
                    // Every taker left is closer still: nothing worth moving.
                    t = takers.len();
                    break;
                }
                let x = excess.min(*deficit);
                // About the tasks that make up `x`, at the giver's mean cost
                // per task (one more, as the node takes whole tasks), so
                // that the round's task limit is shared among the moves.
                let per_task = samples[g].load / samples[g].queued as f64;
                let wanted = if per_task > 0.0 {
                    (x / per_task).ceil().min(usize::MAX as f64) as usize + 1
                } else {
                    movable
                };
                let n = budget.min(movable).min(wanted);
                moves.push(Move {
                    from: g,
                    to: *c,
                    max_tasks: n,
                    max_cost: x,
                });
                budget -= n;
                movable -= n;
                excess -= x;
                *deficit -= x;
                if *deficit <= 0.0 {
                    t += 1;
                }
            }
        }
        moves
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(load: f64, rate: f64, queued: usize) -> Sample {
        Sample {
            load,
            rate,
            queued,
            available: true,
        }
    }

    #[test]
    fn balanced_nodes_plan_nothing() {
        let mut d = DriftDetector::new(0.5, 0.2, 0.0);
        assert!(d.plan(&[s(10.0, 1.0, 10), s(9.0, 1.0, 9)], 8).is_empty());
        assert!(!d.is_active());
    }

    #[test]
    fn a_slow_node_sheds_cost_to_equalise_drain_times() {
        let mut d = DriftDetector::new(0.5, 0.2, 0.0);
        // Same load, but node 0 runs at a tenth of the speed.
        let moves = d.plan(&[s(10.0, 0.1, 10), s(10.0, 1.0, 10)], 4);
        assert_eq!(moves.len(), 1);
        let m = moves[0];
        assert_eq!((m.from, m.to, m.max_tasks), (0, 1, 4));
        // (10 - x)/0.1 == (10 + x)/1  =>  x = 90/11.
        assert!((m.max_cost - 90.0 / 11.0).abs() < 1e-9);
    }

    #[test]
    fn hysteresis_keeps_moving_between_the_thresholds_and_not_before() {
        let mut d = DriftDetector::new(0.5, 0.2, 0.0);
        // Imbalance 0.3: between the thresholds, not yet active.
        assert!(d.plan(&[s(10.0, 1.0, 5), s(7.0, 1.0, 5)], 4).is_empty());
        // 0.6 activates.
        assert!(!d.plan(&[s(10.0, 1.0, 5), s(4.0, 1.0, 5)], 4).is_empty());
        // Back to 0.3: still active, keeps moving.
        assert!(!d.plan(&[s(10.0, 1.0, 5), s(7.0, 1.0, 5)], 4).is_empty());
        // 0.1 deactivates.
        assert!(d.plan(&[s(10.0, 1.0, 5), s(9.0, 1.0, 5)], 4).is_empty());
        assert!(!d.is_active());
    }

    #[test]
    fn the_round_limit_and_the_last_queued_task_are_respected() {
        let mut d = DriftDetector::new(0.1, 0.05, 0.0);
        let moves = d.plan(
            &[
                s(100.0, 1.0, 3),
                s(0.0, 1.0, 0),
                s(100.0, 1.0, 50),
                s(0.0, 1.0, 0),
            ],
            5,
        );
        let total: usize = moves.iter().map(|m| m.max_tasks).sum();
        assert!(total <= 5);
        assert!(moves.iter().all(|m| m.max_tasks < 50));
        let from_small = moves.iter().find(|m| m.from == 0).map(|m| m.max_tasks);
        assert!(from_small.is_none_or(|n| n <= 2));
    }

    #[test]
    fn a_node_emptied_by_a_restart_is_refilled_once_to_the_mean() {
        let mut d = DriftDetector::new(0.5, 0.2, 0.0);
        let mut nodes = vec![
            s(10.0, 1.0, 10),
            s(10.0, 1.0, 10),
            s(10.0, 1.0, 10),
            s(10.0, 1.0, 10),
            s(0.0, 1.0, 0),
        ];
        let moves = d.plan(&nodes, 256);
        // Each full node gives its excess over the mean (2) to the empty
        // one, and nothing moves between the full ones.
        assert_eq!(moves.len(), 4, "{moves:?}");
        let mut moved = 0.0;
        for m in &moves {
            assert_eq!(m.to, 4);
            assert!((m.max_cost - 2.0).abs() < 1e-9, "{m:?}");
            assert!(m.max_tasks >= 2 && m.max_tasks <= 3, "{m:?}");
            nodes[m.from].load -= m.max_cost;
            nodes[m.to].load += m.max_cost;
            moved += m.max_cost;
        }
        // The least that equalises them: 8, where pairing the hottest with
        // the coldest and equalising each pair moved 5 + 2.5 + 2.5 + 1.25
        // over three rounds, the first giver taking work back.
        assert!((moved - 8.0).abs() < 1e-9);
        assert!(nodes.iter().all(|n| (n.load - 8.0).abs() < 1e-9));
        assert!(d.plan(&nodes, 256).is_empty());
    }

    #[test]
    fn no_node_gives_and_takes_in_one_round() {
        let mut d = DriftDetector::new(0.1, 0.05, 0.0);
        let nodes = [
            s(40.0, 1.0, 40),
            s(30.0, 1.0, 30),
            s(12.0, 1.0, 12),
            s(5.0, 1.0, 5),
            s(0.0, 2.0, 0),
        ];
        let moves = d.plan(&nodes, 1000);
        assert!(!moves.is_empty());
        for m in &moves {
            assert!(moves.iter().all(|o| o.to != m.from), "{moves:?}");
            assert!(nodes[m.from].drain() > nodes[m.to].drain());
        }
    }

    #[test]
    fn tiny_gaps_are_ignored() {
        let mut d = DriftDetector::new(0.5, 0.2, 0.01);
        assert!(d.plan(&[s(0.001, 1.0, 2), s(0.0, 1.0, 0)], 4).is_empty());
    }
}
