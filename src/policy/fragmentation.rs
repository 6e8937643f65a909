//! Fragmentation-aware placement: place each task where the expected
//! amount of unusable GPU capacity grows least (FGD, "Beware of
//! Fragmentation", USENIX ATC'23).
//!
//! A node's *fragmentation* for a typical task shape is the free GPU
//! capacity that shape could not use there: all of it when the shape does
//! not fit at all (too little CPU, wrong GPU model, not enough GPUs with
//! room), and otherwise the free capacity of the GPUs each too small for
//! it. Weighting the shapes by how often they occur gives the node's
//! expected fragmentation; FGD places a task where that grows least.
//!
//! [`FragmentationAware`] changes two things: it measures a node's
//! fragmentation for a shape as what would be left if the node were filled
//! with as many copies of the shape as fit (by GPU room *and* by CPU), not
//! whether one copy fits; and it learns the task mix online.

use super::gpu_cluster::GpuCluster;
use super::gpu_node::{GpuChoice, GpuDemand, GpuModelSet, GpuNode, MILLI_PER_GPU};
use super::multi_resource::{allocate_views, place_view, GpuPlacement, ViewScratch};
use super::{NodeView, Policy, TaskView};
use rustc_hash::{FxHashMap, FxHashSet};

/// One typical task shape and how often it occurs (weights sum to 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TypicalShape {
    /// The shape (memory is not part of it).
    pub demand: GpuDemand,
    /// Its share of the task mix.
    pub weight: f64,
}

type ShapeKey = (u64, u32, u32, GpuModelSet);

fn key_of(d: &GpuDemand) -> ShapeKey {
    (d.cpu_milli, d.gpu_milli, d.gpus, d.models)
}

/// The most common shapes in `counts` that together cover `coverage` of
/// the total weight, most common first (ties: larger shape first), with
/// weights renormalised to sum to 1.
fn typical_from_counts(counts: &FxHashMap<ShapeKey, f64>, coverage: f64) -> Vec<TypicalShape> {
    let total: f64 = counts.values().sum();
    if total <= 0.0 {
        return Vec::new();
    }
    let mut list: Vec<(ShapeKey, f64)> = counts.iter().map(|(k, v)| (*k, *v)).collect();
    list.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then(b.0 .0.cmp(&a.0 .0))
            .then(b.0 .1.cmp(&a.0 .1))
            .then(b.0 .2.cmp(&a.0 .2))
            .then(b.0 .3.cmp(&a.0 .3))
    });
    let mut cum = 0.0;
    let mut out = Vec::new();
    for (k, w) in list {
        if cum >= coverage * total {
            break;
        }
        cum += w;
        out.push(TypicalShape {
            demand: GpuDemand {
                cpu_milli: k.0,
                memory_mib: 0,
                gpus: k.2,
                gpu_milli: k.1,
                models: k.3,
            },
            weight: w,
        });
    }
    for s in &mut out {
        s.weight /= cum;
    }
    out
}

/// Expected fragmentation of a node state for the typical shapes, in
/// milli-GPUs.
fn frag(cpu_free: u64, model: Option<u8>, gpu_free: &[u32], shapes: &[TypicalShape]) -> f64 {
    let total: u64 = gpu_free.iter().map(|&g| g as u64).sum();
    if total == 0 {
        return 0.0;
    }
    let mut f = 0.0;
    for s in shapes {
        let d = &s.demand;
        let amount = if d.gpus == 0 || !d.models.allows(model) {
            // A CPU-only shape uses no GPU; a wrong model none of these.
            total
        } else {
            let mut room = 0u32;
            let mut small = 0u64;
            for &g in gpu_free {
                if g >= d.gpu_milli {
                    room += 1;
                } else {
                    small += g as u64;
                }
            }
            if room >= d.gpus && cpu_free >= d.cpu_milli {
                small
            } else {
                total
            }
        };
        f += s.weight * amount as f64;
    }
    f
}

/// The FGD paper's fragmentation of `node` for the task mix `typical`, in
/// milli-GPUs: for each typical shape, the free GPU capacity that shape
/// could not use there (all of it when the shape does not fit at all: a
/// CPU-only shape, another GPU model, too little CPU or too few GPUs with
/// room; otherwise the free capacity of the GPUs each too small for it),
/// weighted by how often the shape occurs. Summed over the nodes, it is
/// the cluster's fragmentation, what [`Fgd`] places to keep low.
///
/// # Examples
///
/// ```
/// use allot::policy::{node_fragmentation, Fgd, GpuDemand, GpuNode};
///
/// // Every task takes half a GPU: a GPU with 300 milli free is a fragment.
/// let half = GpuDemand::shared(1_000, 1_024, 500);
/// let typical = Fgd::from_workload(&[half], 1.0).typical().to_vec();
/// let mut node = GpuNode::new(8_000, 16_384, 2, None);
/// node.gpu_free = vec![300, 1_000];
/// assert_eq!(node_fragmentation(&node, &typical), 300.0);
/// ```
pub fn node_fragmentation(node: &GpuNode, typical: &[TypicalShape]) -> f64 {
    frag(node.cpu_free, node.model, &node.gpu_free, typical)
}

/// Expected fragmentation of a node state if it were filled with copies of
/// one typical shape: the free GPU capacity that as many copies of the
/// shape as fit (by GPU room and by CPU) would leave unused, weighted over
/// the shapes.
fn fill_frag(cpu_free: u64, model: Option<u8>, gpu_free: &[u32], shapes: &[TypicalShape]) -> f64 {
    let total: u64 = gpu_free.iter().map(|&g| g as u64).sum();
    if total == 0 {
        return 0.0;
    }
    let mut f = 0.0;
    for s in shapes {
        let d = &s.demand;
        let amount = if d.gpus == 0 || !d.models.allows(model) {
            total
        } else {
            let by_gpu: u64 = if d.gpus == 1 {
                gpu_free.iter().map(|&g| (g / d.gpu_milli) as u64).sum()
            } else {
                gpu_free.iter().filter(|&&g| g >= d.gpu_milli).count() as u64 / d.gpus as u64
            };
            let by_cpu = cpu_free.checked_div(d.cpu_milli).unwrap_or(u64::MAX);
            let k = by_gpu.min(by_cpu);
            total - k * d.total_gpu_milli()
        };
        f += s.weight * amount as f64;
    }
    f
}

/// Memoised [`frag`]: nodes in the same state share a value.
#[derive(Debug, Default, Clone)]
struct FragMemo {
    map: FxHashMap<StateKey, f64>,
    fill: bool,
}

/// A node state as far as every score here is concerned: free CPU, GPU
/// model and the free milli-GPUs of its GPUs in any order (`None` past 8
/// GPUs or 2³² milli-cores).
type StateKey = (u32, u8, u8, [u16; 8]);

fn state_key(cpu_free: u64, model: Option<u8>, gpu_free: &[u32]) -> Option<StateKey> {
    if gpu_free.len() > 8 || cpu_free > u32::MAX as u64 {
        return None;
    }
    let mut sorted = [u16::MAX; 8];
    for (k, &g) in gpu_free.iter().enumerate() {
        sorted[k] = g.min(u16::MAX as u32 - 1) as u16;
    }
    sorted[..gpu_free.len()].sort_unstable();
    Some((
        cpu_free as u32,
        model.map_or(u8::MAX, |m| m),
        gpu_free.len() as u8,
        sorted,
    ))
}

impl FragMemo {
    fn get(
        &mut self,
        cpu_free: u64,
        model: Option<u8>,
        gpu_free: &[u32],
        shapes: &[TypicalShape],
    ) -> f64 {
        let measure = if self.fill { fill_frag } else { frag };
        let Some(key) = state_key(cpu_free, model, gpu_free) else {
            return measure(cpu_free, model, gpu_free, shapes);
        };
        if self.map.len() > 1 << 20 {
            self.map.clear();
        }
        *self
            .map
            .entry(key)
            .or_insert_with(|| measure(cpu_free, model, gpu_free, shapes))
    }
}

/// How a fragmentation score turns into a choice.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Scoring {
    /// FGD's: `⌊100 · sigmoid(Δ / 1000)⌋`.
    Quantised,
    /// The exact decrease Δ; nodes within `tolerance` milli-GPUs of the
    /// best count as tied and the one left with the least free GPU wins.
    Exact { tolerance: f64 },
    /// FGD's score, ties broken by a second score before the node index.
    QuantisedThen(TieBreak),
}

/// What decides between nodes of equal FGD score in
/// [`FragTuning::tie_break`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TieBreak {
    /// The lowest node index (FGD's fixed seeded order).
    Index,
    /// The node left with the least free GPU, then CPU.
    LeastLeft,
    /// The smallest growth of the fill measure of fragmentation (what
    /// copies of each typical shape would strand), then least left.
    Fill,
    /// A node that keeps room for the typical shape with the most GPUs,
    /// then as [`Fill`](Self::Fill).
    ReserveThenFill,
    /// A node that keeps room for more of the typical shapes of two GPUs or
    /// more (the larger first), then as [`Fill`](Self::Fill).
    ReserveAllThenFill,
}

/// Whether `a` is lexicographically greater than `b` (beyond rounding).
fn lex_greater(a: &[f64; 3], b: &[f64; 3]) -> bool {
    for (x, y) in a.iter().zip(b) {
        if x > &(y + 1e-9) {
            return true;
        }
        if x < &(y - 1e-9) {
            return false;
        }
    }
    false
}

/// How the fragmentation of a node is measured for one typical shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Measure {
    /// FGD's: does one more copy of the shape fit?
    FitsOne,
    /// What copies of the shape, as many as fit by GPU and CPU, would
    /// leave unused.
    Fill,
}

/// The best placement found so far in a search.
#[derive(Debug)]
struct Candidate {
    node: usize,
    gpus: Vec<usize>,
    /// The primary score.
    score: f64,
    /// Free milli-GPUs the node would have left.
    left: u64,
    /// The tie-break key ([`FragSearch::tie_key`]).
    key: [f64; 3],
}

/// The search both fragmentation policies share. Ties go to the lowest
/// node index.
#[derive(Debug, Clone)]
struct FragSearch {
    typical: Vec<TypicalShape>,
    memo: FragMemo,
    /// The fill measure, for [`TieBreak::Fill`].
    fill_memo: FragMemo,
    scoring: Scoring,
    /// Whether the tie-break also chooses between a node's GPUs.
    gpu_ties: bool,
    /// Levels of the integer score of [`Scoring::QuantisedThen`].
    levels: f64,
    /// The node states scored in the current search: a later node in the
    /// same state scores the same and loses the tie to the earlier one.
    seen: FxHashSet<StateKey>,
    /// Whether repeated states are skipped (the tests turn it off to
    /// compare).
    dedup: bool,
    work: Vec<u32>,
    /// The candidates of an indexed search.
    candidates: Vec<usize>,
    /// A small number per shape asked for, indexing `score_cache`.
    shape_ids: FxHashMap<ShapeKey, usize>,
    /// Per shape, per class slot: the class's primary score.
    score_cache: Vec<Vec<CachedScore>>,
    /// Bumped when the typical shapes change, which changes every score.
    version: u32,
    /// The primary score by node state and shape, for a class new to
    /// `score_cache` in a state seen before.
    state_scores: FxHashMap<(StateKey, usize), f64>,
}

/// A class's primary score for one shape, valid while the class's serial
/// and the typical shapes' version are the same.
#[derive(Clone, Copy, Debug, Default)]
struct CachedScore {
    serial: u64,
    version: u32,
    score: f64,
}

impl FragSearch {
    fn new(typical: Vec<TypicalShape>, scoring: Scoring) -> Self {
        FragSearch {
            typical,
            memo: FragMemo::default(),
            fill_memo: FragMemo {
                fill: true,
                ..FragMemo::default()
            },
            scoring,
            gpu_ties: false,
            levels: 100.0,
            seen: FxHashSet::default(),
            dedup: true,
            work: Vec::new(),
            candidates: Vec::new(),
            shape_ids: FxHashMap::default(),
            score_cache: Vec::new(),
            version: 0,
            state_scores: FxHashMap::default(),
        }
    }

    fn set_typical(&mut self, typical: Vec<TypicalShape>) {
        self.typical = typical;
        self.version = self.version.wrapping_add(1);
        self.state_scores.clear();
        self.memo.map.clear();
        self.fill_memo.map.clear();
    }

    /// The fill measure's decrease when `d` goes on `gpus` of `n`.
    fn fill_delta(&mut self, n: &GpuNode, d: &GpuDemand, gpus: &[usize]) -> f64 {
        let before = self
            .fill_memo
            .get(n.cpu_free, n.model, &n.gpu_free, &self.typical);
        self.work.clear();
        self.work.extend_from_slice(&n.gpu_free);
        for &g in gpus {
            self.work[g] -= d.gpu_milli;
        }
        let work = std::mem::take(&mut self.work);
        let after = self
            .fill_memo
            .get(n.cpu_free - d.cpu_milli, n.model, &work, &self.typical);
        self.work = work;
        before - after
    }

    /// Fragmentation after placing `d` on `n` using `gpus`.
    fn frag_after(&mut self, n: &GpuNode, d: &GpuDemand, gpus: &[usize]) -> f64 {
        self.work.clear();
        self.work.extend_from_slice(&n.gpu_free);
        for &g in gpus {
            self.work[g] -= d.gpu_milli;
        }
        let work = std::mem::take(&mut self.work);
        let f = self
            .memo
            .get(n.cpu_free - d.cpu_milli, n.model, &work, &self.typical);
        self.work = work;
        f
    }

    fn choose(&mut self, d: &GpuDemand, nodes: &[GpuNode]) -> Option<GpuChoice> {
        let mut best: Option<Candidate> = None;
        self.seen.clear();
        // Skipping repeated states is exact for the integer scores, whose
        // order is total; the exact score's tolerance is not transitive, so
        // it scores every node.
        let dedup = self.dedup && !matches!(self.scoring, Scoring::Exact { .. });
        for (j, n) in nodes.iter().enumerate() {
            if !n.fits(d) {
                continue;
            }
            if let Some(k) = state_key(n.cpu_free, n.model, &n.gpu_free).filter(|_| dedup) {
                if !self.seen.insert(k) {
                    continue;
                }
            }
            self.consider(j, n, d, &mut best);
        }
        best.map(|c| GpuChoice {
            node: c.node,
            gpus: c.gpus,
        })
    }

    /// The primary score of placing `d` on `n` (which fits it), with the
    /// GPUs it would take: for a sharing task the first GPU of the best
    /// score (with `gpu_ties`, the best by the tie-break), otherwise the
    /// tightest. The score
    /// depends on the node's state alone, not on the order of its GPUs.
    fn node_score(&mut self, n: &GpuNode, d: &GpuDemand) -> (Vec<usize>, f64) {
        let before = self
            .memo
            .get(n.cpu_free, n.model, &n.gpu_free, &self.typical);
        let mut node_best: Option<(Vec<usize>, f64)> = None;
        if d.is_sharing() {
            // GPUs with the same free amount give the same score: try
            // the first of each.
            let mut seen: Vec<u32> = Vec::with_capacity(n.gpu_free.len());
            for g in 0..n.gpu_free.len() {
                let free = n.gpu_free[g];
                if free < d.gpu_milli || seen.contains(&free) {
                    continue;
                }
                seen.push(free);
                let after = self.frag_after(n, d, &[g]);
                let s = self.primary(before, after);
                let better = match (&node_best, self.scoring) {
                    (None, _) => true,
                    (Some((_, b)), Scoring::QuantisedThen(tb)) if self.gpu_ties && s == *b => {
                        let key = self.tie_key(tb, n, d, &[g]);
                        let (bg, _) = node_best.as_ref().expect("some");
                        let bkey = self.tie_key(tb, n, d, &bg.clone());
                        lex_greater(&key, &bkey)
                    }
                    (Some((_, b)), _) => s > *b,
                };
                if better {
                    node_best = Some((vec![g], s));
                }
            }
        } else {
            let gpus = n.tightest_gpus(d).expect("fits");
            let after = self.frag_after(n, d, &gpus);
            node_best = Some((gpus, self.primary(before, after)));
        }
        node_best.expect("a fitting node has a GPU choice")
    }

    /// Scores placing `d` on node `j` (which fits it) and makes it `best`
    /// if it beats it.
    fn consider(&mut self, j: usize, n: &GpuNode, d: &GpuDemand, best: &mut Option<Candidate>) {
        let (gpus, s) = self.node_score(n, d);
        let left = n.gpu_free_total() - d.total_gpu_milli();
        // The key only matters on a tie or for a new best: computed
        // lazily.
        let mut key = None;
        let better = match (&*best, self.scoring) {
            (None, _) => true,
            (Some(b), Scoring::Quantised) => s > b.score,
            (Some(b), Scoring::Exact { tolerance }) => {
                s > b.score + tolerance || (s >= b.score - tolerance && left < b.left)
            }
            (Some(b), Scoring::QuantisedThen(tb)) => {
                if s == b.score {
                    let k = self.tie_key(tb, n, d, &gpus);
                    key = Some(k);
                    lex_greater(&k, &b.key)
                } else {
                    s > b.score
                }
            }
        };
        if better {
            let key = match (key, self.scoring) {
                (Some(k), _) => k,
                (None, Scoring::QuantisedThen(tb)) => self.tie_key(tb, n, d, &gpus),
                (None, _) => [0.0; 3],
            };
            *best = Some(Candidate {
                node: j,
                gpus,
                score: s,
                left,
                key,
            });
        }
    }

    /// The secondary key of a placement for tie-break `tb`: higher wins.
    fn tie_key(&mut self, tb: TieBreak, n: &GpuNode, d: &GpuDemand, gpus: &[usize]) -> [f64; 3] {
        let left = (n.gpu_free_total() - d.total_gpu_milli()) as f64;
        let cpu_left = (n.cpu_free - d.cpu_milli) as f64;
        match tb {
            TieBreak::Index => [0.0; 3],
            TieBreak::LeastLeft => [-left, -cpu_left, 0.0],
            TieBreak::Fill => [self.fill_delta(n, d, gpus), -left, 0.0],
            TieBreak::ReserveThenFill => {
                let lost = self.big_lost(n, d, gpus);
                [-lost, self.fill_delta(n, d, gpus), -left]
            }
            TieBreak::ReserveAllThenFill => {
                let lost = self.multi_lost(n, d, gpus);
                [-lost, self.fill_delta(n, d, gpus), -left]
            }
        }
    }

    /// 1 when placing `d` on `gpus` of `n` leaves it unable to host the
    /// typical shape with the most GPUs, which it could host before; 0
    /// otherwise (and for a task of that size itself).
    fn big_lost(&self, n: &GpuNode, d: &GpuDemand, gpus: &[usize]) -> f64 {
        let Some(big) = self
            .typical
            .iter()
            .map(|t| t.demand)
            .filter(|t| t.gpus >= 2)
            .max_by_key(|t| (t.gpus, t.cpu_milli))
        else {
            return 0.0;
        };
        if d.gpus >= big.gpus || !n.fits_gpus(&big) || n.cpu_free < big.cpu_milli {
            return 0.0;
        }
        let room_after = gpus_left_for(n, d, gpus, &big);
        let fits_after =
            room_after >= big.gpus as usize && n.cpu_free - d.cpu_milli >= big.cpu_milli;
        if fits_after {
            0.0
        } else {
            1.0
        }
    }

    /// Σ 2^k over the typical shapes of k ≥ 2 GPUs that `n` could host
    /// before `d` goes on `gpus` and not after (larger shapes first, as
    /// near lexicographic order).
    fn multi_lost(&self, n: &GpuNode, d: &GpuDemand, gpus: &[usize]) -> f64 {
        let mut lost = 0.0;
        for t in &self.typical {
            let big = t.demand;
            if big.gpus < 2 || d.gpus >= big.gpus {
                continue;
            }
            if !n.fits_gpus(&big) || n.cpu_free < big.cpu_milli {
                continue;
            }
            let room_after = gpus_left_for(n, d, gpus, &big);
            if room_after < big.gpus as usize || n.cpu_free - d.cpu_milli < big.cpu_milli {
                lost += 2f64.powi(big.gpus as i32);
            }
        }
        lost
    }

    fn primary(&self, before: f64, after: f64) -> f64 {
        match self.scoring {
            Scoring::Quantised => {
                let x = (before - after) / 1000.0;
                ((1.0 / (1.0 + (-x).exp())) * 100.0).trunc()
            }
            Scoring::Exact { .. } => before - after,
            Scoring::QuantisedThen(_) => {
                let x = (before - after) / 1000.0;
                ((1.0 / (1.0 + (-x).exp())) * self.levels).trunc()
            }
        }
    }
}

/// FGD as published: the typical shapes are fixed in advance (the most
/// common shapes of a workload covering
/// [`DEFAULT_TYPICAL_COVERAGE`](Self::DEFAULT_TYPICAL_COVERAGE) of its
/// tasks), and the score is `⌊100 · sigmoid(Δ / 1000)⌋` for a decrease Δ
/// of expected fragmentation, ties to the lowest node index.
///
/// Its integer score ties often; ties going to a fixed order of nodes is
/// part of what makes it pack well.
#[derive(Debug, Clone)]
pub struct Fgd {
    search: FragSearch,
}

impl Fgd {
    /// Default share of tasks the typical shapes cover: 95 %, as in FGD.
    pub const DEFAULT_TYPICAL_COVERAGE: f64 = 0.95;

    /// FGD with typical shapes taken from `workload`, covering `coverage`
    /// (0 to 1) of its tasks.
    pub fn from_workload(workload: &[GpuDemand], coverage: f64) -> Self {
        let mut counts: FxHashMap<ShapeKey, f64> = FxHashMap::default();
        for d in workload {
            *counts.entry(key_of(d)).or_insert(0.0) += 1.0;
        }
        Fgd::with_typical(typical_from_counts(&counts, coverage))
    }

    /// FGD with the given typical shapes.
    pub fn with_typical(typical: Vec<TypicalShape>) -> Self {
        Fgd {
            search: FragSearch::new(typical, Scoring::Quantised),
        }
    }

    /// The typical shapes in use.
    pub fn typical(&self) -> &[TypicalShape] {
        &self.search.typical
    }
}

impl GpuPlacement for Fgd {
    fn name(&self) -> &'static str {
        "fgd"
    }

    fn choose(&mut self, d: &GpuDemand, nodes: &[GpuNode]) -> Option<GpuChoice> {
        self.search.choose(d, nodes)
    }

    fn choose_indexed(&mut self, d: &GpuDemand, cluster: &GpuCluster) -> Option<GpuChoice> {
        self.search.choose_indexed(d, cluster)
    }
}

/// Decreases of expected fragmentation within this many milli-GPUs of the
/// best count as a tie in [`FragmentationAware`].
const NEAR_TIE_MILLI: f64 = 20.0;

/// Fragmentation-aware placement: FGD's score, with ties broken to keep
/// room for the largest tasks and to strand the least, on a task mix it
/// learns as it goes.
///
/// - **Mix**: a decaying count of the shapes of the tasks it is asked to
///   place (half-life
///   [`DEFAULT_MIX_HALF_LIFE`](Self::DEFAULT_MIX_HALF_LIFE) tasks),
///   re-read every 256 tasks; every shape seen counts, by its share (see
///   [`coverage`](Self::coverage)). [`with_prior`](Self::with_prior)
///   starts from a known mix (what FGD is given) and keeps learning;
///   [`with_workload`](Self::with_workload) fixes the mix.
/// - **Score**: FGD's, coarser: `⌊40 · sigmoid(Δ / 1000)⌋` for the
///   decrease Δ of the node's expected fragmentation (for each typical
///   shape, the free GPU capacity it could not use there); FGD uses 100
///   levels. The integer score ties often, and how ties are broken decides
///   much of the result.
/// - **Ties**, in order: a node that keeps room for the typical shape with
///   the most GPUs (an idle 8-GPU node with the CPU an 8-GPU task needs:
///   few nodes have it, and a task of one GPU spoils it); then the node
///   where a second measure of fragmentation grows least — the free GPU
///   capacity that as many copies of each typical shape as fit, by GPU room
///   *and* CPU, would leave unused ("how much would this shape strand?"
///   rather than "does one more copy fit?"); then the node left with the
///   least free GPU; then the lowest index.
///
/// [`FragTuning`] selects other measures, scores and tie-breaks (the policy
/// of allot 0.1 was `measure: Fill, quantised: false`), for experiments.
#[derive(Debug, Clone)]
pub struct FragmentationAware {
    search: FragSearch,
    counts: FxHashMap<ShapeKey, f64>,
    decay: f64,
    seen: u64,
    coverage: f64,
    learning: bool,
    tuning: FragTuning,
    scratch: ViewScratch,
}

/// The choices [`FragmentationAware`] makes, for experiments: how it
/// measures, scores, breaks ties and weighs the task mix.
///
/// # Default
///
/// FGD's measure, an integer score of
/// [`FragmentationAware::DEFAULT_SCORE_LEVELS`] levels, ties broken by
/// [`TieBreak::ReserveThenFill`], shapes weighed by how often they occur, a
/// half-life of [`FragmentationAware::DEFAULT_MIX_HALF_LIFE`] tasks, ties
/// between the GPUs of one node to the first.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct FragTuning {
    /// How a node's fragmentation for one shape is measured.
    pub measure: Measure,
    /// FGD's integer score (`true`), ties broken by
    /// [`tie_break`](Self::tie_break), or the exact decrease with near
    /// ties to the node left fullest (`false`).
    pub quantised: bool,
    /// What breaks ties of the integer score.
    pub tie_break: TieBreak,
    /// Each shape weighs `count · gpus^weight_power` (0: by count, as FGD;
    /// 1: by GPU demand, so that rare large shapes weigh what they ask).
    pub weight_power: f64,
    /// Half-life of the learned mix, in tasks.
    pub half_life: f64,
    /// Whether the tie-break also chooses between the GPUs of a node for a
    /// sharing task (otherwise the first GPU with the best score).
    pub gpu_ties: bool,
    /// Levels of the integer score, `⌊levels · sigmoid(Δ / 1000)⌋` (FGD:
    /// 100); fewer levels, more ties for the tie-break to decide.
    pub levels: f64,
}

impl Default for FragTuning {
    fn default() -> Self {
        FragTuning {
            measure: Measure::FitsOne,
            quantised: true,
            tie_break: TieBreak::ReserveThenFill,
            weight_power: 0.0,
            half_life: FragmentationAware::DEFAULT_MIX_HALF_LIFE,
            gpu_ties: false,
            levels: FragmentationAware::DEFAULT_SCORE_LEVELS,
        }
    }
}

impl Default for FragmentationAware {
    fn default() -> Self {
        FragmentationAware::new()
    }
}

impl FragmentationAware {
    /// Default half-life of its memory of the task mix, in tasks.
    pub const DEFAULT_MIX_HALF_LIFE: f64 = 4096.0;

    /// Default levels of its integer score, `⌊40 · sigmoid(Δ / 1000)⌋`:
    /// near Δ = 0 one level is 100 milli-GPUs of expected fragmentation
    /// (FGD's 100 levels: 40), so that more placements tie and the
    /// tie-break decides them.
    pub const DEFAULT_SCORE_LEVELS: f64 = 40.0;

    /// Learns the mix online, with the defaults.
    pub fn new() -> Self {
        FragmentationAware::with_tuning(FragTuning::default())
    }

    /// Learns the mix online, with the given choices.
    pub fn with_tuning(tuning: FragTuning) -> Self {
        let scoring = if tuning.quantised {
            Scoring::QuantisedThen(tuning.tie_break)
        } else {
            Scoring::Exact {
                tolerance: NEAR_TIE_MILLI,
            }
        };
        let mut search = FragSearch::new(Vec::new(), scoring);
        search.memo.fill = tuning.measure == Measure::Fill;
        search.gpu_ties = tuning.gpu_ties;
        search.levels = tuning.levels;
        FragmentationAware {
            search,
            counts: FxHashMap::default(),
            decay: 0.5f64.powf(1.0 / tuning.half_life),
            seen: 0,
            coverage: 1.0,
            learning: true,
            tuning,
            scratch: ViewScratch::default(),
        }
    }

    /// Uses the mix of `workload` instead of learning one.
    pub fn with_workload(mut self, workload: &[GpuDemand]) -> Self {
        self.learning = false;
        self.counts.clear();
        for d in workload {
            *self.counts.entry(key_of(d)).or_insert(0.0) += 1.0;
        }
        self.refresh();
        self
    }

    /// Starts from the mix of `workload` as a prior, which the tasks it
    /// places then update (and, with the half-life, replace).
    pub fn with_prior(mut self, workload: &[GpuDemand]) -> Self {
        self.counts.clear();
        let w = 1.0 / workload.len().max(1) as f64 * self.tuning.half_life;
        for d in workload {
            *self.counts.entry(key_of(d)).or_insert(0.0) += w;
        }
        self.refresh();
        self
    }

    /// Share of the mix (0 to 1) the typical shapes cover, most common
    /// first; the default, 1, keeps every shape.
    pub fn coverage(mut self, coverage: f64) -> Self {
        self.coverage = coverage;
        self.refresh();
        self
    }

    /// The typical shapes it currently plans for.
    pub fn typical(&self) -> &[TypicalShape] {
        &self.search.typical
    }

    fn refresh(&mut self) {
        let mut typical = typical_from_counts(&self.counts, self.coverage);
        let p = self.tuning.weight_power;
        if p != 0.0 {
            let mut sum = 0.0;
            for t in &mut typical {
                t.weight *= (t.demand.total_gpu_milli() as f64 / MILLI_PER_GPU as f64).powf(p);
                sum += t.weight;
            }
            if sum > 0.0 {
                typical.iter_mut().for_each(|t| t.weight /= sum);
            }
        }
        self.search.set_typical(typical);
    }

    fn learn(&mut self, d: &GpuDemand) {
        if !self.learning {
            return;
        }
        // Decay lazily: weigh the new observation up instead of every count
        // down, and renormalise when the weights grow large.
        let w = self.decay.powf(-(self.seen as f64));
        *self.counts.entry(key_of(d)).or_insert(0.0) += w;
        self.seen += 1;
        if self.seen.is_multiple_of(256) || self.seen <= 64 && self.seen.is_power_of_two() {
            if w > 1e100 {
                let scale = 1.0 / w;
                self.counts.values_mut().for_each(|v| *v *= scale);
                self.counts.retain(|_, v| *v > 1e-12);
                self.seen = 0;
            }
            self.refresh();
        }
    }
}

impl GpuPlacement for FragmentationAware {
    fn name(&self) -> &'static str {
        "fragmentation-aware"
    }

    fn choose(&mut self, d: &GpuDemand, nodes: &[GpuNode]) -> Option<GpuChoice> {
        self.learn(d);
        self.search.choose(d, nodes)
    }

    fn choose_indexed(&mut self, d: &GpuDemand, cluster: &GpuCluster) -> Option<GpuChoice> {
        self.learn(d);
        self.search.choose_indexed(d, cluster)
    }
}

super::multi_resource::runtime_policy!(FragmentationAware);

/// The GPUs of `n` that could each take `big`'s share once `d` is on
/// `gpus`.
fn gpus_left_for(n: &GpuNode, d: &GpuDemand, gpus: &[usize], big: &GpuDemand) -> usize {
    n.gpu_free
        .iter()
        .enumerate()
        .filter(|&(g, &f)| {
            let f = if gpus.contains(&g) {
                f - d.gpu_milli
            } else {
                f
            };
            f >= big.gpu_milli
        })
        .count()
}

mod indexed;

#[cfg(test)]
mod tests;
