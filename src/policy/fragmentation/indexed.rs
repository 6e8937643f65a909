//! [`FragSearch`]'s search through a [`GpuCluster`]'s classes of nodes
//! in the same state: each state scored once, the same choices as the
//! plain search over every node.

use super::{key_of, state_key, CachedScore, Candidate, FragSearch, Scoring};
use crate::policy::gpu_cluster::{GpuCluster, StateClass};
use crate::policy::gpu_node::{GpuChoice, GpuDemand};

impl FragSearch {
    /// [`choose`](Self::choose) on an indexed cluster, with the same
    /// result: every class of nodes in one state that fits `d` is scored
    /// once (the score is cached per class and shape until the typical
    /// shapes change); only the classes of the best score reach the
    /// tie-break, each through its lowest-indexed fitting node, in index
    /// order — the nodes, and the order, in which the plain search meets
    /// the best score (when no node of the best classes has the memory or
    /// a task slot left, the next score down). The exact score (which
    /// scores every node) and the tests' plain search take the plain way.
    pub(super) fn choose_indexed(
        &mut self,
        d: &GpuDemand,
        cluster: &GpuCluster,
    ) -> Option<GpuChoice> {
        if !self.dedup || matches!(self.scoring, Scoring::Exact { .. }) {
            return self.choose(d, cluster.nodes());
        }
        let shape = match self.shape_ids.get(&key_of(d)) {
            Some(&k) => k,
            None => {
                self.shape_ids.insert(key_of(d), self.score_cache.len());
                self.score_cache.push(Vec::new());
                self.score_cache.len() - 1
            }
        };
        let mut cache = std::mem::take(&mut self.score_cache[shape]);
        if cache.len() < cluster.class_slots() {
            cache.resize(cluster.class_slots(), CachedScore::default());
        }
        let version = self.version;
        // The best score, its classes, and whether one of them has a node
        // with the memory and a task slot left.
        let mut top = f64::NEG_INFINITY;
        let mut tops = Vec::new();
        for c in cluster.fitting_classes(d) {
            let e = &mut cache[c.slot()];
            let s = if e.serial == c.serial() && e.version == version {
                e.score
            } else {
                let n = c.node();
                let key = state_key(n.cpu_free, n.model, &n.gpu_free).map(|k| (k, shape));
                let s = match key.and_then(|k| self.state_scores.get(&k)) {
                    Some(&s) => s,
                    None => {
                        let (_, s) = self.node_score(n, d);
                        if let Some(k) = key {
                            if self.state_scores.len() > 1 << 21 {
                                self.state_scores.clear();
                            }
                            self.state_scores.insert(k, s);
                        }
                        s
                    }
                };
                *e = CachedScore {
                    serial: c.serial(),
                    version,
                    score: s,
                };
                s
            };
            if s > top {
                top = s;
                tops.clear();
            }
            if s == top {
                tops.push(c);
            }
        }
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.clear();
        candidates.extend(tops.iter().filter_map(|c| c.first_fitting(d)));
        // No node of the best classes has the memory or a task slot left:
        // the next score down, and so on (rare; from the cache).
        let mut scored: Vec<(f64, StateClass<'_>)> = Vec::new();
        if candidates.is_empty() && !tops.is_empty() {
            scored.extend(cluster.fitting_classes(d).filter_map(|c| {
                let e = &cache[c.slot()];
                (e.score < top).then_some((e.score, c))
            }));
        }
        self.score_cache[shape] = cache;
        while candidates.is_empty() && !scored.is_empty() {
            let top = scored
                .iter()
                .map(|&(s, _)| s)
                .fold(f64::NEG_INFINITY, f64::max);
            scored.retain(|&(s, c)| {
                if s == top {
                    candidates.extend(c.first_fitting(d));
                }
                s != top
            });
        }
        candidates.sort_unstable();
        if self.scoring == Scoring::Quantised {
            // The score alone decides: the first node of the best score.
            candidates.truncate(1);
        }
        let nodes = cluster.nodes();
        let mut best: Option<Candidate> = None;
        for &j in &candidates {
            self.consider(j, &nodes[j], d, &mut best);
        }
        self.candidates = candidates;
        best.map(|c| GpuChoice {
            node: c.node,
            gpus: c.gpus,
        })
    }
}
