//! The workload's tasks, drawn from its mix as the run goes.

use crate::workload::model::KindSpec;
use rand::distr::weighted::WeightedIndex;
use rand::{Rng, SeedableRng};
use rand_distr::Exp1;
use std::time::Duration;

/// One planned task.
#[derive(Clone, Copy, Debug)]
pub(super) struct Planned {
    pub(super) kind: usize,
    pub(super) cost: f64,
    /// Arrival, from the start of the run (paced workloads only).
    pub(super) at: Duration,
}

/// The workload's tasks, drawn as the run goes: kind by weight, cost from
/// the kind's distribution, and (paced workloads) the arrival time, from
/// one seeded generator, so that a seed gives the same tasks every run and
/// nothing is held per task. The draws are those the run made when it
/// planned every task up front.
pub(super) struct Planner<'a> {
    kinds: &'a [KindSpec],
    /// The kinds by weight; `None` only for weights a workload file cannot
    /// hold (none, or none positive), when the first kind is drawn.
    weights: Option<WeightedIndex<f64>>,
    rng: rand::rngs::StdRng,
    arrival_rate: f64,
    /// Seconds from the start to the last arrival drawn.
    at: f64,
    left: u64,
}

impl<'a> Planner<'a> {
    pub(super) fn new(kinds: &'a [KindSpec], count: u64, arrival_rate: f64, seed: u64) -> Self {
        Planner {
            kinds,
            weights: WeightedIndex::new(kinds.iter().map(|k| k.weight)).ok(),
            rng: rand::rngs::StdRng::seed_from_u64(seed),
            arrival_rate,
            at: 0.0,
            left: count,
        }
    }
}

impl Iterator for Planner<'_> {
    type Item = Planned;

    fn next(&mut self) -> Option<Planned> {
        if self.left == 0 || self.kinds.is_empty() {
            return None;
        }
        self.left -= 1;
        let kind = self.weights.as_ref().map_or(0, |w| self.rng.sample(w));
        let cost = self.kinds[kind].cost.sample(&mut self.rng);
        if self.arrival_rate > 0.0 {
            // Poisson arrivals: exponential gaps of mean 1 / rate.
            self.at += self.rng.sample::<f64, _>(Exp1) / self.arrival_rate;
        }
        Some(Planned {
            kind,
            cost,
            // Past the clock's range (a tiny rate): never, in effect.
            at: Duration::try_from_secs_f64(self.at).unwrap_or(Duration::MAX),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.left).ok();
        (left.unwrap_or(usize::MAX), left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::cost::CostDist;

    fn plan(kinds: &[KindSpec], count: u64, arrival_rate: f64, seed: u64) -> Vec<Planned> {
        Planner::new(kinds, count, arrival_rate, seed).collect()
    }

    fn kind(weight: f64) -> KindSpec {
        serde_json::from_value(serde_json::json!({ "kind": "k", "weight": weight })).unwrap()
    }

    #[test]
    fn the_plan_is_seeded_and_follows_the_weights() {
        let kinds = [kind(1.0), kind(3.0)];
        let a = plan(&kinds, 4000, 0.0, 7);
        let b = plan(&kinds, 4000, 0.0, 7);
        assert!(a
            .iter()
            .zip(&b)
            .all(|(x, y)| x.kind == y.kind && x.cost == y.cost));
        let heavy = a.iter().filter(|p| p.kind == 1).count();
        assert!((2800..3200).contains(&heavy), "{heavy}");
        assert!(a.iter().all(|p| p.at.is_zero()));
        assert_eq!(kinds[0].cost, CostDist::Fixed { value: 0.001 });
    }

    /// The plan as the run drew it before tasks were generated lazily:
    /// every task up front, in one vector.
    fn plan_up_front(kinds: &[KindSpec], count: u64, arrival_rate: f64, seed: u64) -> Vec<Planned> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let weights = WeightedIndex::new(kinds.iter().map(|k| k.weight)).unwrap();
        let mut at = 0.0f64;
        (0..count)
            .map(|_| {
                let kind = rng.sample(&weights);
                let cost = kinds[kind].cost.sample(&mut rng);
                if arrival_rate > 0.0 {
                    at += rng.sample::<f64, _>(Exp1) / arrival_rate;
                }
                Planned {
                    kind,
                    cost,
                    at: Duration::from_secs_f64(at),
                }
            })
            .collect()
    }

    #[test]
    fn the_generator_draws_the_tasks_the_up_front_plan_drew() {
        let mut kinds = [kind(1.0), kind(2.5), kind(0.5)];
        kinds[1].cost = CostDist::Exponential { mean: 0.01 };
        kinds[2].cost = CostDist::Normal {
            mean: 0.02,
            std_dev: 0.01,
        };
        for (rate, seed) in [(0.0, 7), (500.0, 42)] {
            let lazy = plan(&kinds, 3000, rate, seed);
            let eager = plan_up_front(&kinds, 3000, rate, seed);
            assert_eq!(lazy.len(), eager.len());
            for (a, b) in lazy.iter().zip(&eager) {
                assert_eq!((a.kind, a.cost, a.at), (b.kind, b.cost, b.at));
            }
        }
    }

    #[test]
    fn a_generator_of_u64_max_tasks_starts_at_once_and_holds_nothing_per_task() {
        let kinds = [kind(1.0), kind(3.0)];
        let mut g = Planner::new(&kinds, u64::MAX, 0.0, 1);
        assert_eq!(g.size_hint().1, usize::try_from(u64::MAX).ok());
        // The generator is a seeded RNG and counters, whatever the count.
        assert!(std::mem::size_of::<Planner<'_>>() <= 512);
        assert_eq!(g.by_ref().take(100_000).count(), 100_000);
        assert_eq!(g.left, u64::MAX - 100_000);
        let mut few = Planner::new(&kinds, 3, 0.0, 1);
        assert_eq!(few.by_ref().count(), 3);
        assert!(few.next().is_none());
    }

    #[test]
    fn a_tiny_arrival_rate_puts_arrivals_at_the_end_of_time_without_panicking() {
        let p = plan(&[kind(1.0)], 3, 1e-300, 1);
        assert!(p.iter().all(|t| t.at == Duration::MAX), "{p:?}");
        let p = plan(&[kind(1.0)], 3, f64::MIN_POSITIVE, 1);
        assert!(p.iter().all(|t| t.at == Duration::MAX), "{p:?}");
    }

    #[test]
    fn paced_arrivals_average_the_rate() {
        let p = plan(&[kind(1.0)], 5000, 1000.0, 1);
        let last = p.last().unwrap().at.as_secs_f64();
        assert!((4.7..5.3).contains(&last), "{last}");
        assert!(p.windows(2).all(|w| w[0].at <= w[1].at));
    }
}
