//! The elite set of the penalty search: the cheapest distinct feasible
//! answers met, which path relinking walks between.

use rand::rngs::StdRng;
use rand::Rng;

/// How many answers the elite set keeps.
pub(super) const ELITE: usize = 10;

/// The cheapest distinct feasible answers met, cheapest first.
#[derive(Debug, Default)]
pub(super) struct Elite {
    members: Vec<(Vec<usize>, i64)>,
}

impl Elite {
    /// Keeps `assign` (feasible, of cost `cost`) if it is new and among
    /// the [`ELITE`] cheapest; whether it was kept.
    pub(super) fn offer(&mut self, assign: &[usize], cost: i64) -> bool {
        if self.members.len() >= ELITE && self.members.last().is_some_and(|(_, c)| cost >= *c) {
            return false;
        }
        if self
            .members
            .iter()
            .any(|(a, c)| *c == cost && a.as_slice() == assign)
        {
            return false;
        }
        let at = self.members.partition_point(|(_, c)| *c <= cost);
        self.members.insert(at, (assign.to_vec(), cost));
        self.members.truncate(ELITE);
        true
    }

    /// How many answers it holds.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.members.len()
    }

    /// Two different members, at random: (start, target).
    pub(super) fn pick_two(&self, rng: &mut StdRng) -> Option<(&[usize], &[usize])> {
        let n = self.members.len();
        if n < 2 {
            return None;
        }
        let a = rng.random_range(0..n);
        let mut b = rng.random_range(0..n - 1);
        if b >= a {
            b += 1;
        }
        Some((&self.members[a].0, &self.members[b].0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_elite_set_keeps_the_cheapest_distinct_answers_in_order() {
        let mut e = Elite::default();
        for c in (0..30).rev() {
            assert!(e.offer(&[c as usize], c));
        }
        assert!(!e.offer(&[3], 3), "a duplicate");
        assert!(!e.offer(&[99], 50), "worse than all kept");
        assert_eq!(e.len(), ELITE);
        let costs: Vec<i64> = e.members.iter().map(|m| m.1).collect();
        assert_eq!(costs, (0..ELITE as i64).collect::<Vec<_>>());
    }
}
