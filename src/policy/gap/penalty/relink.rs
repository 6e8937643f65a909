//! Path relinking for the penalty search (after Yagiura, Ibaraki and
//! Glover): an elite set of good feasible answers, and walks from one of
//! them towards another that restart the search between the two, in place
//! of a random kick from the best.
//!
//! A walk moves, one at a time, tasks whose node differs between the two
//! answers to their node in the target, each time the task whose move
//! costs least on the penalised objective; it stops part of the way (a
//! random fraction of the differing tasks), where the search resumes.
//! Every feasible point the walk meets is a candidate answer, so the best
//! answer afterwards is no worse than the better of the two ends.

use super::PenaltySearch;
use crate::policy::budget::Meter;
use rand::rngs::StdRng;
use rand::Rng;

impl PenaltySearch<'_> {
    /// Walks from the current assignment towards `target`, for at most
    /// `steps` moves (see the module doc); returns the moves made.
    pub(super) fn relink(&mut self, target: &[usize], steps: usize, meter: &mut Meter) -> usize {
        let g = self.g;
        let mut differ: Vec<usize> = (0..g.items())
            .filter(|&i| self.assign[i] != target[i])
            .collect();
        let mut moved = 0;
        while moved < steps && !differ.is_empty() {
            if !meter.work(differ.len() as u64) {
                break;
            }
            let (k, _) = differ
                .iter()
                .enumerate()
                .map(|(k, &i)| {
                    let (a, b) = (self.assign[i], target[i]);
                    let d = (g.cost(b, i) - g.cost(a, i)) as f64
                        + self.pen(a, -g.weight(a, i))
                        + self.pen(b, g.weight(b, i));
                    (k, d)
                })
                .min_by(|x, y| x.1.total_cmp(&y.1).then(x.0.cmp(&y.0)))
                .expect("a differing task");
            let i = differ.swap_remove(k);
            self.shift(i, target[i]);
            self.note_feasible();
            moved += 1;
        }
        moved
    }

    /// Restarts between two elite answers: from one, part of the way
    /// towards the other. `false` (nothing done) while the elite set holds
    /// fewer than two.
    pub(super) fn relink_restart(&mut self, rng: &mut StdRng, meter: &mut Meter) -> bool {
        let Some((from, to)) = self.elite.pick_two(rng) else {
            return false;
        };
        let (from, to) = (from.to_vec(), to.to_vec());
        let differ = from.iter().zip(&to).filter(|(a, b)| a != b).count();
        self.reset_to(Some(&from));
        let steps = ((differ as f64) * rng.random_range(0.3..0.7)).ceil() as usize;
        self.relink(&to, steps, meter);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::gap::Gap;
    use crate::sim::gap_gen::{generate, GapFamily};
    use rand::SeedableRng;

    /// Two feasible answers of `g` of different costs: a greedy one and a
    /// searched one.
    fn two_answers(g: &Gap, rng: &mut StdRng) -> ((Vec<usize>, i64), (Vec<usize>, i64)) {
        let start = crate::policy::gap::construct_gap(g, rng, &mut Meter::unlimited());
        let first = start.best.expect("a feasible construction");
        let lambda = start.lagrangian.expect("multipliers").lambda;
        let mut s = PenaltySearch::new(g, first.0.clone(), &lambda, None, &mut Meter::unlimited());
        s.run(
            i64::MIN,
            rng,
            &mut crate::policy::Budget::steps(400).start(),
        );
        (first, s.best.expect("a feasible answer"))
    }

    #[test]
    fn a_full_walk_ends_at_the_target_and_its_best_is_no_worse_than_either_end() {
        for (k, family) in GapFamily::ALL.into_iter().enumerate() {
            let g = generate(family, 10, 120, 7 + k as u64);
            let mut rng = StdRng::seed_from_u64(3);
            let (a, b) = two_answers(&g, &mut rng);
            for (from, to) in [(&a, &b), (&b, &a)] {
                let mut s =
                    PenaltySearch::new(&g, from.0.clone(), &[], None, &mut Meter::unlimited());
                let differ = from.0.iter().zip(&to.0).filter(|(x, y)| x != y).count();
                let moved = s.relink(&to.0, usize::MAX, &mut Meter::unlimited());
                assert_eq!(moved, differ, "{family}");
                assert_eq!(s.assign, to.0, "{family}: at the target");
                let (best, cost) = s.best.clone().expect("the ends are feasible");
                assert_eq!(g.evaluate(&best), Some(cost), "{family}: feasible");
                assert!(
                    cost <= a.1.min(b.1),
                    "{family}: {cost} above {}",
                    a.1.min(b.1)
                );
            }
        }
    }

    #[test]
    fn a_relinking_restart_starts_between_two_elite_answers() {
        let g = generate(GapFamily::D, 10, 120, 5);
        let mut rng = StdRng::seed_from_u64(9);
        let (a, b) = two_answers(&g, &mut rng);
        // The searched answer is the best known; the elite set holds it
        // alone, then both.
        let mut s = PenaltySearch::new(
            &g,
            a.0.clone(),
            &[],
            Some(b.clone()),
            &mut Meter::unlimited(),
        );
        assert_eq!(s.elite.len(), 1);
        assert!(
            !s.relink_restart(&mut rng, &mut Meter::unlimited()),
            "one elite answer"
        );
        assert!(s.elite.offer(&a.0, a.1));
        assert!(s.relink_restart(&mut rng, &mut Meter::unlimited()));
        let differ = a.0.iter().zip(&b.0).filter(|(x, y)| x != y).count();
        let from_a = s.assign.iter().zip(&a.0).filter(|(x, y)| x != y).count();
        let from_b = s.assign.iter().zip(&b.0).filter(|(x, y)| x != y).count();
        assert_eq!(from_a + from_b, differ, "on the path");
        assert!(
            from_a > 0 && from_b > 0,
            "strictly between: {from_a} + {from_b}"
        );
        let (best, cost) = s.best.clone().expect("feasible");
        assert_eq!(g.evaluate(&best), Some(cost));
        assert!(cost <= a.1.min(b.1));
    }
}
