//! Nodes grouped by state, so that a policy whose score depends on a
//! node's state alone scores each distinct state once.
//!
//! A node's *state* here is its free CPU, its GPU model and the free
//! milli-GPUs of its GPUs as a multiset (GPU order aside). On a cluster
//! built from a few node types most nodes share their state with many
//! others (every idle node of a type, to begin with); a placement or a
//! departure changes one node, which moves from one class to another.
//!
//! [`GpuCluster`] keeps the nodes and their classes up to date together:
//! change a node only through [`GpuCluster::place`],
//! [`GpuCluster::release`] or [`GpuCluster::update`].
//! [`GpuCluster::fitting_states`] lists, for a demand, the lowest-indexed
//! node of each state that fits it, in index order: a policy that scans
//! the nodes in index order, scores each from its state and keeps the
//! first best (ties to the lowest index) makes the same choice scanning
//! only these. A class whose CPU, model or GPUs cannot take the demand is
//! passed over without looking at its nodes; free memory and the task
//! count, which are not part of the state, are checked node by node.

use super::gpu_node::{GpuDemand, GpuNode};
use rustc_hash::FxHashMap;
use std::collections::BTreeSet;

/// What a class shares: free CPU, GPU model, free milli-GPUs sorted
/// ascending.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct StateKey {
    cpu_free: u64,
    model: Option<u8>,
    gpus: Vec<u32>,
}

impl StateKey {
    fn of(n: &GpuNode) -> Self {
        let mut gpus = n.gpu_free.clone();
        gpus.sort_unstable();
        StateKey {
            cpu_free: n.cpu_free,
            model: n.model,
            gpus,
        }
    }

    /// Whether the CPU, model and GPU part of `d` fit a node in this
    /// state (memory and the task count aside).
    fn fits(&self, d: &GpuDemand) -> bool {
        if d.cpu_milli > self.cpu_free {
            return false;
        }
        if d.gpus == 0 {
            return true;
        }
        let k = d.gpus as usize;
        d.models.allows(self.model)
            && self.gpus.len() >= k
            && self.gpus[self.gpus.len() - k] >= d.gpu_milli
    }
}

/// The nodes in one state, by index.
#[derive(Debug)]
struct Class {
    key: StateKey,
    members: BTreeSet<u32>,
}

/// What the scan over classes reads, packed: the state's fit test without
/// a pointer to follow.
#[derive(Clone, Copy, Debug, Default)]
struct Summary {
    /// Unique over the cluster's life; 0 for a free slot.
    serial: u64,
    /// The lowest-indexed node.
    first: u32,
    cpu_free: u64,
    model: Option<u8>,
    /// Number of GPUs, or `u8::MAX` past [`TOP`] (then the key decides).
    gpus: u8,
    /// The free milli-GPUs, largest first.
    top: [u32; TOP],
}

/// GPUs per node the packed fit test covers.
const TOP: usize = 8;

/// Buckets of [`GpuCluster::buckets`].
const BUCKETS: usize = 11;

/// The bucket of a class whose emptiest GPU has `free` milli-GPUs free.
fn bucket_of(free: u32) -> usize {
    (free as usize / 100).min(BUCKETS - 1)
}

impl Summary {
    fn of(key: &StateKey, serial: u64) -> Self {
        let mut top = [0; TOP];
        for (t, g) in top.iter_mut().zip(key.gpus.iter().rev()) {
            *t = *g;
        }
        let gpus = if key.gpus.len() <= TOP {
            key.gpus.len() as u8
        } else {
            u8::MAX
        };
        Summary {
            serial,
            first: u32::MAX,
            cpu_free: key.cpu_free,
            model: key.model,
            gpus,
            top,
        }
    }

    /// [`StateKey::fits`], for a live class of at most [`TOP`] GPUs.
    fn fits(&self, d: &GpuDemand) -> bool {
        if d.cpu_milli > self.cpu_free {
            return false;
        }
        if d.gpus == 0 {
            return true;
        }
        let k = d.gpus as usize;
        k <= self.gpus as usize && self.top[k - 1] >= d.gpu_milli && d.models.allows(self.model)
    }
}

/// One class of nodes in the same state, as [`GpuCluster::fitting_classes`]
/// lists it.
#[derive(Clone, Copy)]
pub struct StateClass<'a> {
    cluster: &'a GpuCluster,
    slot: u32,
}

impl std::fmt::Debug for StateClass<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateClass")
            .field("slot", &self.slot)
            .field("serial", &self.serial())
            .finish()
    }
}

impl<'a> StateClass<'a> {
    /// Its slot, below [`GpuCluster::class_slots`]; a slot is reused once
    /// its class empties.
    pub fn slot(&self) -> usize {
        self.slot as usize
    }

    /// A number no other class of the cluster has had or will have: what
    /// a cache of per-state scores keys on (with [`slot`](Self::slot)).
    pub fn serial(&self) -> u64 {
        self.cluster.summary[self.slot as usize].serial
    }

    /// Its lowest-indexed node, which is in the class's state.
    pub fn node(&self) -> &'a GpuNode {
        &self.cluster.nodes[self.cluster.summary[self.slot as usize].first as usize]
    }

    /// Its lowest-indexed node that [fits](GpuNode::fits) `d` (its state
    /// fits `d`; memory and the task count are each node's own).
    pub fn first_fitting(&self, d: &GpuDemand) -> Option<usize> {
        let first = self.cluster.summary[self.slot as usize].first as usize;
        let n = &self.cluster.nodes[first];
        if n.tasks < n.max_tasks && d.memory_mib <= n.memory_free {
            return Some(first);
        }
        let c = self.cluster.slots[self.slot as usize]
            .as_ref()
            .expect("live class");
        self.cluster.first_fitting(c, d)
    }
}

/// GPU nodes with an index of their states (see the module docs).
///
/// # Examples
///
/// ```
/// use allot::policy::{GpuCluster, GpuDemand, GpuNode};
///
/// let mut c = GpuCluster::new(vec![GpuNode::new(8_000, 16_384, 2, None); 4]);
/// assert_eq!(c.classes(), 1);
/// let half = GpuDemand::shared(1_000, 1_024, 500);
/// c.place(2, &half, &[1]);
/// assert_eq!(c.classes(), 2);
/// let mut fit = Vec::new();
/// c.fitting_states(&half, &mut fit);
/// assert_eq!(fit, [0, 2]); // node 0 for the idle state, node 2 for its own
/// c.release(2, &half, &[1]);
/// assert_eq!(c.classes(), 1);
/// ```
#[derive(Debug)]
pub struct GpuCluster {
    nodes: Vec<GpuNode>,
    /// Slot of each node's class.
    class_of: Vec<u32>,
    /// Class slots; `None` is free (listed in `free`).
    slots: Vec<Option<Class>>,
    free: Vec<u32>,
    by_key: FxHashMap<StateKey, u32>,
    /// Per slot, packed.
    summary: Vec<Summary>,
    /// Live slots by the free milli-GPUs of their emptiest GPU, in
    /// hundreds (0 to 10): a demand of `m` on each GPU looks only from
    /// bucket `m / 100` up.
    buckets: [Vec<u32>; BUCKETS],
    /// Where each slot is in its bucket.
    in_bucket: Vec<u32>,
    live: usize,
    serial: u64,
}

impl GpuCluster {
    /// Indexes `nodes`.
    pub fn new(nodes: Vec<GpuNode>) -> Self {
        let mut c = GpuCluster {
            class_of: vec![0; nodes.len()],
            nodes,
            slots: Vec::new(),
            free: Vec::new(),
            by_key: FxHashMap::default(),
            summary: Vec::new(),
            buckets: Default::default(),
            in_bucket: Vec::new(),
            live: 0,
            serial: 0,
        };
        for j in 0..c.nodes.len() {
            let slot = c.join(j);
            c.class_of[j] = slot;
        }
        c
    }

    /// The nodes, in index order.
    pub fn nodes(&self) -> &[GpuNode] {
        &self.nodes
    }

    /// The nodes, giving up the index.
    pub fn into_nodes(self) -> Vec<GpuNode> {
        self.nodes
    }

    /// Number of distinct states among the nodes.
    pub fn classes(&self) -> usize {
        self.live
    }

    /// Places `d` on `gpus` of node `node` ([`GpuNode::place`]).
    ///
    /// # Panics
    ///
    /// As [`GpuNode::place`], or if `node` is out of range.
    pub fn place(&mut self, node: usize, d: &GpuDemand, gpus: &[usize]) {
        self.update(node, |n| n.place(d, gpus));
    }

    /// Gives back what `d` held on `gpus` of node `node`
    /// ([`GpuNode::release`]).
    ///
    /// # Panics
    ///
    /// As [`GpuNode::release`], or if `node` is out of range.
    pub fn release(&mut self, node: usize, d: &GpuDemand, gpus: &[usize]) {
        self.update(node, |n| n.release(d, gpus));
    }

    /// Changes node `node` with `f` and moves it to the class of its new
    /// state.
    ///
    /// # Panics
    ///
    /// If `node` is out of range, or when `f` does.
    pub fn update(&mut self, node: usize, f: impl FnOnce(&mut GpuNode)) {
        f(&mut self.nodes[node]);
        let old = self.class_of[node];
        let class = self.slots[old as usize].as_ref().expect("live class");
        if class.key == StateKey::of(&self.nodes[node]) {
            return;
        }
        self.leave(node, old);
        let slot = self.join(node);
        self.class_of[node] = slot;
    }

    /// Number of class slots: every [`StateClass::slot`] is below it.
    pub fn class_slots(&self) -> usize {
        self.slots.len()
    }

    /// The classes whose state fits the CPU, model and GPU part of `d`
    /// (a class none of whose nodes has the memory or a task slot left is
    /// listed too: see [`StateClass::first_fitting`]), in no particular
    /// order.
    pub fn fitting_classes<'a>(
        &'a self,
        d: &'a GpuDemand,
    ) -> impl Iterator<Item = StateClass<'a>> + 'a {
        let from = if d.gpus == 0 {
            0
        } else {
            bucket_of(d.gpu_milli)
        };
        self.buckets[from..]
            .iter()
            .flatten()
            .filter(move |&&slot| {
                let s = &self.summary[slot as usize];
                if s.gpus == u8::MAX {
                    self.slots[slot as usize]
                        .as_ref()
                        .is_some_and(|c| c.key.fits(d))
                } else {
                    s.fits(d)
                }
            })
            .map(move |&slot| StateClass {
                cluster: self,
                slot,
            })
    }

    /// Whether some node fits `d` now ([`GpuNode::fits`]).
    pub fn any_fits(&self, d: &GpuDemand) -> bool {
        self.fitting_classes(d)
            .any(|c| c.first_fitting(d).is_some())
    }

    /// Into `out` (cleared first), in index order: for each state whose
    /// nodes could take `d`, its lowest-indexed node that
    /// [fits](GpuNode::fits) `d` now. A node left out fits not, or is in
    /// the state of a node listed before it.
    pub fn fitting_states(&self, d: &GpuDemand, out: &mut Vec<usize>) {
        out.clear();
        out.extend(self.fitting_classes(d).filter_map(|c| c.first_fitting(d)));
        out.sort_unstable();
    }

    /// The lowest-indexed node of `c` that fits `d`.
    fn first_fitting(&self, c: &Class, d: &GpuDemand) -> Option<usize> {
        if !c.key.fits(d) {
            return None;
        }
        c.members.iter().map(|&m| m as usize).find(|&m| {
            let n = &self.nodes[m];
            n.tasks < n.max_tasks && d.memory_mib <= n.memory_free
        })
    }

    /// Adds node `j` to the class of its state, returning the class's slot.
    fn join(&mut self, j: usize) -> u32 {
        let key = StateKey::of(&self.nodes[j]);
        let slot = match self.by_key.get(&key) {
            Some(&s) => s,
            None => {
                self.serial += 1;
                let summary = Summary::of(&key, self.serial);
                let class = Class {
                    key: key.clone(),
                    members: BTreeSet::new(),
                };
                let s = match self.free.pop() {
                    Some(s) => {
                        self.slots[s as usize] = Some(class);
                        self.summary[s as usize] = summary;
                        s
                    }
                    None => {
                        self.slots.push(Some(class));
                        self.summary.push(summary);
                        self.in_bucket.push(0);
                        (self.slots.len() - 1) as u32
                    }
                };
                let b = &mut self.buckets[bucket_of(summary.top[0])];
                self.in_bucket[s as usize] = b.len() as u32;
                b.push(s);
                self.by_key.insert(key, s);
                self.live += 1;
                s
            }
        };
        let class = self.slots[slot as usize].as_mut().expect("live class");
        class.members.insert(j as u32);
        let s = &mut self.summary[slot as usize];
        s.first = s.first.min(j as u32);
        slot
    }

    /// Takes node `j` out of class `slot`, freeing the slot when empty.
    fn leave(&mut self, j: usize, slot: u32) {
        let class = self.slots[slot as usize].as_mut().expect("live class");
        class.members.remove(&(j as u32));
        if let Some(&first) = class.members.first() {
            self.summary[slot as usize].first = first;
        } else {
            let class = self.slots[slot as usize].take().expect("live class");
            self.by_key.remove(&class.key);
            let b = &mut self.buckets[bucket_of(self.summary[slot as usize].top[0])];
            let at = self.in_bucket[slot as usize] as usize;
            b.swap_remove(at);
            if let Some(&moved) = b.get(at) {
                self.in_bucket[moved as usize] = at as u32;
            }
            self.summary[slot as usize].serial = 0;
            self.free.push(slot);
            self.live -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::GpuModelSet;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// What `fitting_states` must list: for each state (CPU, model, GPUs
    /// as a multiset), the lowest-indexed node that fits, in index order.
    fn brute_force(nodes: &[GpuNode], d: &GpuDemand) -> Vec<usize> {
        let mut seen = Vec::new();
        let mut out = Vec::new();
        for (j, n) in nodes.iter().enumerate() {
            if !n.fits(d) {
                continue;
            }
            let k = StateKey::of(n);
            if !seen.contains(&k) {
                seen.push(k);
                out.push(j);
            }
        }
        out
    }

    #[test]
    fn the_classes_follow_placements_and_departures() {
        let mut rng = StdRng::seed_from_u64(3);
        let kinds = [
            GpuNode::new(96_000, 65_536, 8, Some(0)),
            GpuNode::new(32_000, 16_384, 2, Some(1)),
            GpuNode::new(16_000, 8_192, 0, None),
            GpuNode::new(64_000, 65_536, 10, Some(0)).with_max_tasks(3),
        ];
        let shapes = [
            GpuDemand::shared(4_000, 4_096, 300),
            GpuDemand::shared(2_000, 12_000, 810),
            GpuDemand::whole(6_000, 2_048, 1),
            GpuDemand::whole(16_000, 8_192, 2),
            GpuDemand::whole(8_000, 1_024, 9),
            GpuDemand::cpu_only(4_000, 4_096),
            GpuDemand::shared(1_000, 0, 500).on_models(GpuModelSet::ANY.with(1)),
        ];
        let mut c = GpuCluster::new((0..40).map(|k| kinds[k % kinds.len()].clone()).collect());
        let mut running: Vec<(usize, GpuDemand, Vec<usize>)> = Vec::new();
        let mut out = Vec::new();
        for step in 0..3_000 {
            let d = shapes[rng.random_range(0..shapes.len())];
            c.fitting_states(&d, &mut out);
            assert_eq!(out, brute_force(c.nodes(), &d), "step {step}, {d:?}");
            assert_eq!(c.any_fits(&d), c.nodes().iter().any(|n| n.fits(&d)));
            if rng.random_bool(0.55) && !out.is_empty() {
                let j = out[rng.random_range(0..out.len())];
                let gpus = c.nodes()[j].tightest_gpus(&d).expect("fits");
                c.place(j, &d, &gpus);
                running.push((j, d, gpus));
            } else if !running.is_empty() {
                let (j, d, gpus) = running.swap_remove(rng.random_range(0..running.len()));
                c.release(j, &d, &gpus);
            }
            let mut states: Vec<StateKey> = c.nodes().iter().map(StateKey::of).collect();
            states.sort_by(|a, b| {
                (a.cpu_free, a.model, &a.gpus).cmp(&(b.cpu_free, b.model, &b.gpus))
            });
            states.dedup();
            assert_eq!(c.classes(), states.len(), "step {step}");
        }
        for (j, d, gpus) in running {
            c.release(j, &d, &gpus);
        }
        assert_eq!(c.classes(), 4);
    }
}
