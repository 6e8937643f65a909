//! Multi-resource placement on per-GPU nodes: best fit, dot product, GPU
//! packing and a random floor.
//!
//! The scores follow the ones the FGD paper's simulator uses (Kubernetes
//! score plugins: an integer, higher is better), so that a run of the FGD
//! method on the openb trace can be checked against the published numbers.
//! Ties go to the lowest node index; the simulator presents nodes in a
//! seeded order, which makes that a fixed seeded tie-break.
//!
//! Each policy also implements [`Policy`] for the runtime, on a per-GPU
//! model derived from each [`NodeView`]: a node with `capacity.gpu_milli =
//! g` has `⌈g / 1000⌉` GPUs, its free milli-GPUs filling whole GPUs first.
//! A task asking for more than 1000 milli-GPUs asks for that many whole
//! GPUs, rounded up. When no node has room now, a task goes to the node
//! that can host it and would finish it soonest (it waits in the queue).

use super::gpu_cluster::GpuCluster;
use super::gpu_node::{GpuChoice, GpuDemand, GpuNode, MILLI_PER_GPU};
use super::{least_finish, NodeView, Policy, TaskView};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::fmt;

/// Multi-resource placement on [`GpuNode`]s.
pub trait GpuPlacement: Send + fmt::Debug {
    /// A short stable name.
    fn name(&self) -> &'static str;

    /// The node and GPUs for `demand`, or `None` when no node has room.
    /// Must only return a node for which [`GpuNode::fits`] holds, and GPUs
    /// on it that each have `demand.gpu_milli` free.
    fn choose(&mut self, demand: &GpuDemand, nodes: &[GpuNode]) -> Option<GpuChoice>;

    /// The same choice as [`choose`](Self::choose) on `cluster.nodes()`,
    /// which a policy whose score depends on a node's state alone finds
    /// faster by scoring one node per state
    /// ([`GpuCluster::fitting_states`]). By default, `choose`.
    fn choose_indexed(&mut self, demand: &GpuDemand, cluster: &GpuCluster) -> Option<GpuChoice> {
        self.choose(demand, cluster.nodes())
    }
}

/// Largest CPU and GPU capacity of any node: the scale scores divide by.
pub(crate) fn scale(nodes: &[GpuNode]) -> (f64, f64) {
    let cpu = nodes
        .iter()
        .map(|n| n.cpu_capacity)
        .max()
        .unwrap_or(1)
        .max(1);
    let gpu = nodes
        .iter()
        .map(GpuNode::gpu_capacity_total)
        .max()
        .unwrap_or(1)
        .max(1);
    (cpu as f64, gpu as f64)
}

/// The fitting node with the highest score (ties to the lowest index), and
/// the tightest GPUs on it.
fn argmax(
    demand: &GpuDemand,
    nodes: &[GpuNode],
    mut score: impl FnMut(&GpuNode) -> i64,
) -> Option<GpuChoice> {
    let mut best: Option<(usize, i64)> = None;
    for (j, n) in nodes.iter().enumerate() {
        if !n.fits(demand) {
            continue;
        }
        let s = score(n);
        if best.is_none_or(|(_, b)| s > b) {
            best = Some((j, s));
        }
    }
    best.map(|(j, _)| GpuChoice {
        node: j,
        gpus: nodes[j].tightest_gpus(demand).expect("fits"),
    })
}

/// Best fit: the node that would have the least CPU and GPU left.
///
/// Score `⌊100 · (1 − ½·(cpu_free − cpu)/cpu_max − ½·(gpu_free − gpu)/gpu_max)⌋`
/// where the maxima are the largest node's capacities; on the chosen node a
/// sharing task takes the tightest GPU.
#[derive(Debug, Default, Clone)]
pub struct BestFit {
    scratch: ViewScratch,
}

impl BestFit {
    /// The policy.
    pub fn new() -> Self {
        BestFit::default()
    }
}

impl GpuPlacement for BestFit {
    fn name(&self) -> &'static str {
        "best-fit"
    }

    fn choose(&mut self, d: &GpuDemand, nodes: &[GpuNode]) -> Option<GpuChoice> {
        let (cmax, gmax) = scale(nodes);
        argmax(d, nodes, |n| {
            let mut s = 0.0;
            s += (n.cpu_free - d.cpu_milli) as f64 / cmax * 0.5;
            s += (n.gpu_free_total() - d.total_gpu_milli()) as f64 / gmax * 0.5;
            ((1.0 - s) * 100.0) as i64
        })
    }
}

/// Dot product (Tetris): the node whose free CPU and GPU, as a vector
/// scaled by the largest node, has the smallest dot product with the
/// task's demand.
///
/// Score `⌊100 · (1 − (free · demand) / 2)⌋`; on the chosen node a sharing
/// task takes the tightest GPU. (This is the variant the FGD paper
/// evaluates: GPU milli-GPUs summed over the node, scaled by the largest
/// capacities.)
#[derive(Debug, Default, Clone)]
pub struct DotProduct {
    scratch: ViewScratch,
}

impl DotProduct {
    /// The policy.
    pub fn new() -> Self {
        DotProduct::default()
    }
}

impl GpuPlacement for DotProduct {
    fn name(&self) -> &'static str {
        "dot-product"
    }

    fn choose(&mut self, d: &GpuDemand, nodes: &[GpuNode]) -> Option<GpuChoice> {
        let (cmax, gmax) = scale(nodes);
        let p = [d.cpu_milli as f64 / cmax, d.total_gpu_milli() as f64 / gmax];
        argmax(d, nodes, |n| {
            let f = [n.cpu_free as f64 / cmax, n.gpu_free_total() as f64 / gmax];
            let mut dot = 0.0;
            dot += f[0] * p[0];
            dot += f[1] * p[1];
            let s = 1.0 - dot / 2.0;
            (100.0 * s) as i64
        })
    }
}

/// GPU packing: prefer GPUs already in use, then idle GPUs on nodes
/// already in use, then idle nodes (fewest GPUs first).
///
/// Scores: a sharing task that fits on partly used GPUs gets
/// `max(100 − Σ free%/10, 50)`; a task that needs idle GPUs on a node in use
/// gets `max(50 − idle GPUs used, 33)`; a task on an idle node gets
/// `max(33 − GPUs, GPUs)`; CPU-only tasks score 0 everywhere (first fitting
/// node in order).
#[derive(Debug, Default, Clone)]
pub struct GpuPacking {
    scratch: ViewScratch,
}

impl GpuPacking {
    /// The policy.
    pub fn new() -> Self {
        GpuPacking::default()
    }
}

fn packing_score(n: &GpuNode, d: &GpuDemand) -> i64 {
    if d.gpus == 0 {
        return 0;
    }
    let idle = n.idle_gpus() as i64;
    if idle == n.gpu_count() as i64 {
        return (33 - idle).max(idle);
    }
    let gpus = n.tightest_gpus(d).expect("fits");
    let idle_used = gpus
        .iter()
        .filter(|&&g| n.gpu_free[g] == MILLI_PER_GPU)
        .count() as i64;
    if idle_used > 0 {
        return (50 - idle_used).max(33);
    }
    let free_pct: i64 = gpus
        .iter()
        .map(|&g| n.gpu_free[g] as i64 * 100 / MILLI_PER_GPU as i64)
        .sum();
    (100 - free_pct / 10).max(50)
}

impl GpuPlacement for GpuPacking {
    fn name(&self) -> &'static str {
        "gpu-packing"
    }

    fn choose(&mut self, d: &GpuDemand, nodes: &[GpuNode]) -> Option<GpuChoice> {
        argmax(d, nodes, |n| packing_score(n, d))
    }
}

/// Uniformly random: a node among those with room, and for a sharing task
/// a random GPU among those with room on it. The floor to beat.
#[derive(Debug, Clone)]
pub struct RandomFit {
    rng: StdRng,
}

impl RandomFit {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        RandomFit {
            rng: StdRng::seed_from_u64(seed),
        }
    }
}

impl GpuPlacement for RandomFit {
    fn name(&self) -> &'static str {
        "random-fit"
    }

    fn choose(&mut self, d: &GpuDemand, nodes: &[GpuNode]) -> Option<GpuChoice> {
        let mut seen = 0u32;
        let mut pick = None;
        for (j, n) in nodes.iter().enumerate() {
            if n.fits(d) {
                seen += 1;
                if self.rng.random_range(0..seen) == 0 {
                    pick = Some(j);
                }
            }
        }
        let j = pick?;
        let n = &nodes[j];
        let gpus = if d.is_sharing() {
            let mut seen = 0u32;
            let mut g = 0;
            for (k, &free) in n.gpu_free.iter().enumerate() {
                if free >= d.gpu_milli {
                    seen += 1;
                    if self.rng.random_range(0..seen) == 0 {
                        g = k;
                    }
                }
            }
            vec![g]
        } else {
            n.tightest_gpus(d).expect("fits")
        };
        Some(GpuChoice { node: j, gpus })
    }
}

/// The per-GPU model of a runtime node view, and back.
#[derive(Debug, Default, Clone)]
pub(crate) struct ViewScratch {
    nodes: Vec<GpuNode>,
    map: Vec<usize>,
}

impl ViewScratch {
    /// Rebuilds the model of every available node.
    fn load(&mut self, views: &[NodeView]) {
        self.map.clear();
        self.map
            .extend((0..views.len()).filter(|&j| views[j].available));
        self.nodes
            .resize_with(self.map.len(), || GpuNode::new(0, 0, 0, None));
        for (k, &j) in self.map.iter().enumerate() {
            let v = &views[j];
            let n = &mut self.nodes[k];
            n.cpu_capacity = v.capacity.cpu_milli;
            n.memory_capacity = v.capacity.memory_mib;
            n.cpu_free = v.free.cpu_milli.min(v.capacity.cpu_milli);
            n.memory_free = v.free.memory_mib.min(v.capacity.memory_mib);
            n.model = None;
            n.tasks = 0;
            n.max_tasks = u32::MAX;
            let gpus = v.capacity.gpu_milli.div_ceil(MILLI_PER_GPU as u64) as usize;
            let mut free = v.free.gpu_milli.min(v.capacity.gpu_milli);
            n.gpu_free.clear();
            for _ in 0..gpus {
                let g = free.min(MILLI_PER_GPU as u64);
                n.gpu_free.push(g as u32);
                free -= g;
            }
        }
    }
}

/// The per-GPU demand of a runtime task.
pub(crate) fn demand_of(task: &TaskView<'_>) -> GpuDemand {
    let d = task.demand;
    let g = d.gpu_milli;
    if g == 0 {
        GpuDemand::cpu_only(d.cpu_milli, d.memory_mib)
    } else if g <= MILLI_PER_GPU as u64 {
        GpuDemand::shared(d.cpu_milli, d.memory_mib, g as u32)
    } else {
        GpuDemand::whole(
            d.cpu_milli,
            d.memory_mib,
            g.div_ceil(MILLI_PER_GPU as u64) as u32,
        )
    }
}

/// Online placement of a runtime task through a [`GpuPlacement`].
pub(crate) fn place_view<P: GpuPlacement + ?Sized>(
    policy: &mut P,
    scratch: &mut ViewScratch,
    task: &TaskView<'_>,
    views: &[NodeView],
) -> Option<usize> {
    scratch.load(views);
    let d = demand_of(task);
    policy
        .choose(&d, &scratch.nodes)
        .map(|c| scratch.map[c.node])
        .filter(|&j| views[j].can_host(task))
        .or_else(|| least_finish(task, views))
}

/// Batch allocation of runtime tasks through a [`GpuPlacement`], keeping
/// track of what the batch takes from each node.
pub(crate) fn allocate_views<P: GpuPlacement + ?Sized>(
    policy: &mut P,
    scratch: &mut ViewScratch,
    tasks: &[TaskView<'_>],
    views: &mut [NodeView],
    out: &mut Vec<Option<usize>>,
) {
    out.clear();
    scratch.load(views);
    for task in tasks {
        let d = demand_of(task);
        let pick = match policy.choose(&d, &scratch.nodes) {
            Some(c) if views[scratch.map[c.node]].can_host(task) => {
                scratch.nodes[c.node].place(&d, &c.gpus);
                Some(scratch.map[c.node])
            }
            _ => least_finish(task, views),
        };
        if let Some(j) = pick {
            views[j].assign(task);
        }
        out.push(pick);
    }
}

macro_rules! runtime_policy {
    ($ty:ty) => {
        impl Policy for $ty {
            fn name(&self) -> &'static str {
                GpuPlacement::name(self)
            }

            fn place(&mut self, task: &TaskView<'_>, nodes: &[NodeView]) -> Option<usize> {
                let mut scratch = std::mem::take(&mut self.scratch);
                let pick = place_view(self, &mut scratch, task, nodes);
                self.scratch = scratch;
                pick
            }

            fn allocate(
                &mut self,
                tasks: &[TaskView<'_>],
                nodes: &mut [NodeView],
                out: &mut Vec<Option<usize>>,
            ) {
                let mut scratch = std::mem::take(&mut self.scratch);
                allocate_views(self, &mut scratch, tasks, nodes, out);
                self.scratch = scratch;
            }
        }
    };
}

/// `Policy` for a [`GpuPlacement`] with a `scratch` field, shared by the
/// multi-resource policies here and the fragmentation-aware one.
pub(crate) use runtime_policy;

runtime_policy!(BestFit);
runtime_policy!(DotProduct);
runtime_policy!(GpuPacking);

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> Vec<GpuNode> {
        vec![
            GpuNode::new(96_000, 393_216, 8, Some(0)),
            GpuNode::new(32_000, 131_072, 2, Some(1)),
        ]
    }

    #[test]
    fn best_fit_prefers_the_node_left_fullest() {
        let nodes = cluster();
        let d = GpuDemand::shared(4_000, 8_192, 500);
        assert_eq!(BestFit::new().choose(&d, &nodes).unwrap().node, 1);
    }

    #[test]
    fn packing_prefers_partly_used_gpus() {
        let mut nodes = cluster();
        nodes[0].place(&GpuDemand::shared(1_000, 1_024, 300), &[5]);
        let c = GpuPacking::new()
            .choose(&GpuDemand::shared(1_000, 1_024, 500), &nodes)
            .unwrap();
        assert_eq!((c.node, c.gpus), (0, vec![5]));
    }
}
