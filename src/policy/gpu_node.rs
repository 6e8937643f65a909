//! A node with several GPUs, each shareable in milli-GPUs, and what a task
//! asks of it: the model multi-resource placement scores.

/// One whole GPU, in milli-GPUs.
pub const MILLI_PER_GPU: u32 = 1000;

/// A set of GPU models (by small integer id, below 64) a task accepts.
/// The empty set accepts every model.
///
/// # Examples
///
/// ```
/// use allot::policy::GpuModelSet;
///
/// let t4_or_a10 = GpuModelSet::ANY.with(2).with(5);
/// assert!(t4_or_a10.allows(Some(5)));
/// assert!(!t4_or_a10.allows(Some(1)));
/// assert!(!t4_or_a10.allows(None));
/// assert!(GpuModelSet::ANY.allows(None));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GpuModelSet(u64);

impl GpuModelSet {
    /// Every model.
    pub const ANY: GpuModelSet = GpuModelSet(0);

    /// This set with model `id` added.
    ///
    /// # Panics
    ///
    /// If `id` is 64 or more.
    pub const fn with(self, id: u8) -> Self {
        assert!(id < 64, "GPU model ids are below 64");
        GpuModelSet(self.0 | (1 << id))
    }

    /// Whether the set puts no constraint.
    pub const fn is_any(self) -> bool {
        self.0 == 0
    }

    /// Whether a node with GPU model `model` (`None`: no GPU model known)
    /// is acceptable.
    pub const fn allows(self, model: Option<u8>) -> bool {
        match model {
            _ if self.0 == 0 => true,
            Some(m) if m < 64 => (self.0 >> m) & 1 == 1,
            _ => false,
        }
    }
}

/// What a task asks of a [`GpuNode`].
///
/// `gpus` GPUs with at least `gpu_milli` free each: a sharing task is
/// `gpus == 1, gpu_milli < 1000`; a k-GPU task is `gpus == k,
/// gpu_milli == 1000`; a CPU-only task has `gpus == 0`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GpuDemand {
    /// CPU in milli-cores.
    pub cpu_milli: u64,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// How many GPUs.
    pub gpus: u32,
    /// Milli-GPUs needed on each of them (1 to 1000).
    pub gpu_milli: u32,
    /// Acceptable GPU models.
    pub models: GpuModelSet,
}

impl GpuDemand {
    /// A CPU-only demand.
    pub const fn cpu_only(cpu_milli: u64, memory_mib: u64) -> Self {
        GpuDemand {
            cpu_milli,
            memory_mib,
            gpus: 0,
            gpu_milli: 0,
            models: GpuModelSet::ANY,
        }
    }

    /// A share of one GPU (`gpu_milli` of 1000).
    pub const fn shared(cpu_milli: u64, memory_mib: u64, gpu_milli: u32) -> Self {
        GpuDemand {
            cpu_milli,
            memory_mib,
            gpus: 1,
            gpu_milli,
            models: GpuModelSet::ANY,
        }
    }

    /// `gpus` whole GPUs.
    pub const fn whole(cpu_milli: u64, memory_mib: u64, gpus: u32) -> Self {
        GpuDemand {
            cpu_milli,
            memory_mib,
            gpus,
            gpu_milli: MILLI_PER_GPU,
            models: GpuModelSet::ANY,
        }
    }

    /// This demand restricted to `models`.
    pub const fn on_models(mut self, models: GpuModelSet) -> Self {
        self.models = models;
        self
    }

    /// Whether it shares one GPU with others.
    pub const fn is_sharing(&self) -> bool {
        self.gpus == 1 && self.gpu_milli < MILLI_PER_GPU
    }

    /// Milli-GPUs in all.
    pub const fn total_gpu_milli(&self) -> u64 {
        self.gpus as u64 * self.gpu_milli as u64
    }
}

/// A node with per-GPU accounting: CPU, memory, a pod count and, for each
/// GPU, how many milli-GPUs are free.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpuNode {
    /// CPU in milli-cores, in all.
    pub cpu_capacity: u64,
    /// Memory in MiB, in all.
    pub memory_capacity: u64,
    /// CPU not held by placed tasks.
    pub cpu_free: u64,
    /// Memory not held by placed tasks.
    pub memory_free: u64,
    /// The GPU model (small integer id), if known.
    pub model: Option<u8>,
    /// Free milli-GPUs of each GPU (1000 = idle).
    pub gpu_free: Vec<u32>,
    /// Tasks placed here.
    pub tasks: u32,
    /// Most tasks the node takes.
    pub max_tasks: u32,
}

/// Where a task goes: a node index and the GPUs on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpuChoice {
    /// Index of the node.
    pub node: usize,
    /// Indices of the GPUs used on it (empty for a CPU-only task).
    pub gpus: Vec<usize>,
}

impl GpuNode {
    /// An empty node with `gpus` idle GPUs of model `model` and no task
    /// limit.
    pub fn new(cpu_milli: u64, memory_mib: u64, gpus: usize, model: Option<u8>) -> Self {
        GpuNode {
            cpu_capacity: cpu_milli,
            memory_capacity: memory_mib,
            cpu_free: cpu_milli,
            memory_free: memory_mib,
            model,
            gpu_free: vec![MILLI_PER_GPU; gpus],
            tasks: 0,
            max_tasks: u32::MAX,
        }
    }

    /// This node with a limit on the number of tasks.
    pub fn with_max_tasks(mut self, max: u32) -> Self {
        self.max_tasks = max;
        self
    }

    /// Number of GPUs.
    pub fn gpu_count(&self) -> usize {
        self.gpu_free.len()
    }

    /// Free milli-GPUs over all GPUs.
    pub fn gpu_free_total(&self) -> u64 {
        self.gpu_free.iter().map(|&g| g as u64).sum()
    }

    /// Milli-GPUs over all GPUs.
    pub fn gpu_capacity_total(&self) -> u64 {
        self.gpu_free.len() as u64 * MILLI_PER_GPU as u64
    }

    /// GPUs with nothing placed on them.
    pub fn idle_gpus(&self) -> usize {
        self.gpu_free
            .iter()
            .filter(|&&g| g == MILLI_PER_GPU)
            .count()
    }

    /// Whether the GPU part of `d` (count, share, model) fits now.
    pub fn fits_gpus(&self, d: &GpuDemand) -> bool {
        if d.gpus == 0 {
            return true;
        }
        if !d.models.allows(self.model) {
            return false;
        }
        let enough = self.gpu_free.iter().filter(|&&g| g >= d.gpu_milli).count();
        enough >= d.gpus as usize
    }

    /// Whether `d` fits now: task count, CPU, memory and GPUs.
    pub fn fits(&self, d: &GpuDemand) -> bool {
        self.tasks < self.max_tasks
            && d.cpu_milli <= self.cpu_free
            && d.memory_mib <= self.memory_free
            && self.fits_gpus(d)
    }

    /// Whether `d` could ever fit on this node when it is empty.
    pub fn could_fit(&self, d: &GpuDemand) -> bool {
        d.cpu_milli <= self.cpu_capacity
            && d.memory_mib <= self.memory_capacity
            && (d.gpus == 0
                || (d.models.allows(self.model) && self.gpu_free.len() >= d.gpus as usize))
    }

    /// The tightest GPUs for `d`: the `d.gpus` GPUs with the least free
    /// milli-GPUs that still have `d.gpu_milli` free (ties to the lowest
    /// index). For whole GPUs these are the lowest-indexed idle GPUs. `None`
    /// when the GPU part does not fit.
    pub fn tightest_gpus(&self, d: &GpuDemand) -> Option<Vec<usize>> {
        if d.gpus == 0 {
            return Some(Vec::new());
        }
        if !self.fits_gpus(d) {
            return None;
        }
        let mut idx: Vec<usize> = (0..self.gpu_free.len())
            .filter(|&g| self.gpu_free[g] >= d.gpu_milli)
            .collect();
        idx.sort_by_key(|&g| (self.gpu_free[g], g));
        idx.truncate(d.gpus as usize);
        idx.sort_unstable();
        Some(idx)
    }

    /// Places `d` on the given GPUs.
    ///
    /// # Panics
    ///
    /// If `d` does not fit, or `gpus` does not name `d.gpus` distinct GPUs
    /// each with `d.gpu_milli` free.
    pub fn place(&mut self, d: &GpuDemand, gpus: &[usize]) {
        assert!(self.fits(d), "demand {d:?} does not fit");
        assert_eq!(gpus.len(), d.gpus as usize, "wrong number of GPUs");
        for (k, &g) in gpus.iter().enumerate() {
            assert!(!gpus[..k].contains(&g), "GPU {g} named twice");
            assert!(self.gpu_free[g] >= d.gpu_milli, "GPU {g} lacks room");
            self.gpu_free[g] -= d.gpu_milli;
        }
        self.cpu_free -= d.cpu_milli;
        self.memory_free -= d.memory_mib;
        self.tasks += 1;
    }

    /// Gives back what `d`, placed on `gpus` by [`place`](Self::place),
    /// held.
    ///
    /// # Panics
    ///
    /// If the node has no task placed.
    pub fn release(&mut self, d: &GpuDemand, gpus: &[usize]) {
        assert!(self.tasks > 0, "no task to release");
        for &g in gpus {
            self.gpu_free[g] += d.gpu_milli;
        }
        self.cpu_free += d.cpu_milli;
        self.memory_free += d.memory_mib;
        self.tasks -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharing_tasks_take_the_tightest_gpu_and_whole_gpus_need_idle_ones() {
        let mut n = GpuNode::new(32_000, 65_536, 4, Some(1));
        let share = GpuDemand::shared(1_000, 1_024, 300);
        n.place(&share, &[2]);
        assert_eq!(n.tightest_gpus(&share), Some(vec![2]));
        let big = GpuDemand::shared(1_000, 1_024, 800);
        assert_eq!(n.tightest_gpus(&big), Some(vec![0]));
        let three = GpuDemand::whole(1_000, 1_024, 3);
        assert_eq!(n.tightest_gpus(&three), Some(vec![0, 1, 3]));
        let four = GpuDemand::whole(1_000, 1_024, 4);
        assert!(!n.fits(&four));
        assert!(n.could_fit(&four));
        let wrong_model = share.on_models(GpuModelSet::ANY.with(2));
        assert!(!n.fits(&wrong_model));
        assert_eq!(n.gpu_free_total(), 3_700);
    }
}
