//! Allocation policies: plain Rust behind one trait, shared by the runtime,
//! the benches and the simulator.
//!
//! A policy answers two questions:
//!
//! - **online placement** ([`Policy::place`]): where does this one task go,
//!   given a view of every node?
//! - **batch allocation** ([`Policy::allocate`]): where does each of these
//!   many tasks go? The supervisor calls it when its queue holds many tasks.
//!   The default places the tasks one by one, updating the views as it goes.
//!
//! Policies never see actors; they see [`NodeView`]s and [`TaskView`]s, and
//! may learn from [`Feedback`] on completed tasks.
//!
//! Besides the online policies, this module holds the offline solvers the
//! batch policies are built on, each usable on its own:
//!
//! - [`Makespan`] problems (P‖Cmax, and Q‖Cmax with node speeds), solved by
//!   [`Lpt`], [`Exact`] (branch-and-bound with a proof flag) and [`Hybrid`]
//!   (local search plus exact dynamic programming on pairs of nodes);
//! - [`Gap`] problems (the generalized assignment problem: task *i* on node
//!   *j* costs `c(i, j)` and uses `a(i, j)` of node *j*'s capacity), solved
//!   by [`Exact`] and [`Hybrid`];
//! - multi-resource placement on a per-GPU node model ([`GpuNode`],
//!   [`GpuDemand`]) behind [`GpuPlacement`]: [`BestFit`], [`DotProduct`],
//!   [`GpuPacking`], [`Fgd`], [`FragmentationAware`] and [`RandomFit`];
//! - locality: [`prim_mst`] over a communication-cost matrix and
//!   [`place_groups`] for groups of communicating tasks.
//!
//! # Names
//!
//! One rule names every policy:
//!
//! - **A selectable policy is named after its [`PolicyKind`] variant**, and
//!   its name in config files, on the command line and from
//!   [`Policy::name`] is that name in kebab-case: [`PolicyKind::Ucb`] is
//!   the struct [`Ucb`] and `ucb`, [`PolicyKind::LeastLoaded`] is
//!   [`LeastLoaded`] and `least-loaded`. Names are parsed case-blind, with
//!   `_` read as `-`.
//! - **Any other policy names its strategy in full words** ([`RandomFit`],
//!   [`GpuPacking`]), **unless the literature names it by an acronym**:
//!   [`Fgd`] is the FGD paper's policy as published (Weng et al., "Beware of
//!   Fragmentation", ATC '23), kept under the paper's name so that its
//!   results can be compared with the paper's; [`FragmentationAware`] is
//!   this crate's own variant of it, named for what it does, and the one
//!   [`PolicyKind`] selects. [`Lpt`] is in [`PolicyKind`] and keeps the
//!   acronym by the first rule.
//! - **Defaults live on the type they configure**, as associated
//!   constants: [`Ucb::DEFAULT_EXPLORATION`], [`Exact::DEFAULT_BUDGET`],
//!   [`Hybrid::DEFAULT_BUDGET`], [`PowerOfTwo::DEFAULT_CHOICES`],
//!   [`Fgd::DEFAULT_TYPICAL_COVERAGE`].

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

mod budget;
mod exact;
mod fragmentation;
mod gap;
mod gpu_cluster;
mod gpu_node;
mod greedy;
mod hybrid;
mod interface;
mod locality;
mod lpt;
mod makespan;
mod multi_resource;
mod power_of_two;
mod random;
mod ucb;
mod weighted;

pub use budget::Budget;
pub use exact::Exact;
pub use fragmentation::{
    node_fragmentation, Fgd, FragTuning, FragmentationAware, Measure, TieBreak, TypicalShape,
};
pub use gap::{Gap, GapError, GapSolution};
pub use gpu_cluster::{GpuCluster, StateClass};
pub use gpu_node::{GpuChoice, GpuDemand, GpuModelSet, GpuNode, MILLI_PER_GPU};
pub use greedy::{LeastLoaded, RoundRobin};
pub use hybrid::Hybrid;
pub(crate) use interface::{largest_first, least_finish};
pub use interface::{Feedback, NodeView, Policy, TaskView};
pub use locality::{group_cost, place_groups, prim_mst, Locality, Mst};
pub use lpt::{list_schedule, lpt_schedule, Lpt};
pub use makespan::{Makespan, Schedule};
pub use multi_resource::{BestFit, DotProduct, GpuPacking, GpuPlacement, RandomFit};
pub use power_of_two::PowerOfTwo;
pub use random::Random;
pub use ucb::Ucb;
pub use weighted::WeightedGreedy;

/// A policy chosen by name, for builders and config files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum PolicyKind {
    /// [`RoundRobin`].
    RoundRobin,
    /// [`LeastLoaded`].
    #[default]
    LeastLoaded,
    /// [`PowerOfTwo`] with [`PowerOfTwo::DEFAULT_CHOICES`] choices.
    PowerOfTwo,
    /// [`Random`].
    Random,
    /// [`Lpt`]: longest processing time first.
    Lpt,
    /// [`WeightedGreedy`]: heaviest task to the strongest node.
    WeightedGreedy,
    /// [`Exact`] with [`Exact::DEFAULT_BUDGET`].
    Exact,
    /// [`Hybrid`] with [`Hybrid::DEFAULT_BUDGET`].
    Hybrid,
    /// [`Ucb`] with its defaults.
    Ucb,
    /// [`BestFit`].
    BestFit,
    /// [`DotProduct`].
    DotProduct,
    /// [`GpuPacking`].
    GpuPacking,
    /// [`FragmentationAware`], learning the task mix online.
    FragmentationAware,
    /// [`Locality`] with every pair of nodes equally far apart.
    Locality,
}

impl PolicyKind {
    /// Every selectable policy.
    pub const ALL: &'static [PolicyKind] = &[
        PolicyKind::RoundRobin,
        PolicyKind::LeastLoaded,
        PolicyKind::PowerOfTwo,
        PolicyKind::Random,
        PolicyKind::Lpt,
        PolicyKind::WeightedGreedy,
        PolicyKind::Exact,
        PolicyKind::Hybrid,
        PolicyKind::Ucb,
        PolicyKind::BestFit,
        PolicyKind::DotProduct,
        PolicyKind::GpuPacking,
        PolicyKind::FragmentationAware,
        PolicyKind::Locality,
    ];

    /// Its name, as accepted by `from_str`.
    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::RoundRobin => "round-robin",
            PolicyKind::LeastLoaded => "least-loaded",
            PolicyKind::PowerOfTwo => "power-of-two",
            PolicyKind::Random => "random",
            PolicyKind::Lpt => "lpt",
            PolicyKind::WeightedGreedy => "weighted-greedy",
            PolicyKind::Exact => "exact",
            PolicyKind::Hybrid => "hybrid",
            PolicyKind::Ucb => "ucb",
            PolicyKind::BestFit => "best-fit",
            PolicyKind::DotProduct => "dot-product",
            PolicyKind::GpuPacking => "gpu-packing",
            PolicyKind::FragmentationAware => "fragmentation-aware",
            PolicyKind::Locality => "locality",
        }
    }

    /// A fresh instance, seeded with `seed` where the policy is random.
    pub fn build(self, seed: u64) -> Box<dyn Policy> {
        match self {
            PolicyKind::RoundRobin => Box::new(RoundRobin::new()),
            PolicyKind::LeastLoaded => Box::new(LeastLoaded::new()),
            PolicyKind::PowerOfTwo => Box::new(PowerOfTwo::new(seed)),
            PolicyKind::Random => Box::new(Random::new(seed)),
            PolicyKind::Lpt => Box::new(Lpt::new()),
            PolicyKind::WeightedGreedy => Box::new(WeightedGreedy::new()),
            PolicyKind::Exact => Box::new(Exact::new()),
            PolicyKind::Hybrid => Box::new(Hybrid::new(seed)),
            PolicyKind::Ucb => Box::new(Ucb::new()),
            PolicyKind::BestFit => Box::new(BestFit::new()),
            PolicyKind::DotProduct => Box::new(DotProduct::new()),
            PolicyKind::GpuPacking => Box::new(GpuPacking::new()),
            PolicyKind::FragmentationAware => Box::new(FragmentationAware::new()),
            PolicyKind::Locality => Box::new(Locality::uniform()),
        }
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown policy name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownPolicy(pub String);

impl fmt::Display for UnknownPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = PolicyKind::ALL.iter().map(|p| p.name()).collect();
        write!(
            f,
            "unknown policy `{}` (expected one of: {})",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownPolicy {}

impl FromStr for PolicyKind {
    type Err = UnknownPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.to_ascii_lowercase().replace('_', "-");
        PolicyKind::ALL
            .iter()
            .copied()
            .find(|p| p.name() == norm)
            .ok_or_else(|| UnknownPolicy(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_name_and_builds() {
        for &kind in PolicyKind::ALL {
            assert_eq!(kind.name().parse::<PolicyKind>(), Ok(kind));
            assert_eq!(kind.build(1).name(), kind.name());
        }
        assert!("no-such".parse::<PolicyKind>().is_err());
        assert_eq!("Best_Fit".parse::<PolicyKind>(), Ok(PolicyKind::BestFit));
    }

    /// The naming rule of the module docs: struct name = variant name, and
    /// the name users type is its kebab-case.
    #[test]
    fn every_kind_builds_the_struct_of_its_own_name_and_is_typed_in_kebab_case() {
        for &kind in PolicyKind::ALL {
            let variant = format!("{kind:?}");
            let built = format!("{:?}", kind.build(1));
            assert!(
                built.starts_with(&format!("{variant} ")) || built == variant,
                "{kind:?} builds {built}"
            );
            let mut kebab = String::new();
            for (i, c) in variant.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    kebab.push('-');
                }
                kebab.push(c.to_ascii_lowercase());
            }
            assert_eq!(kind.name(), kebab);
        }
    }
}
