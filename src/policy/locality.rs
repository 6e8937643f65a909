//! Locality: a minimum spanning tree over a node communication-cost
//! matrix (Prim), and placement of communicating task groups on nodes close
//! to each other.

use super::{least_finish, NodeView, Policy, TaskView};

/// A minimum spanning tree.
#[derive(Clone, Debug, PartialEq)]
pub struct Mst {
    /// Its edges `(from, to, cost)`, `from` already in the tree when `to`
    /// joined.
    pub edges: Vec<(usize, usize, f64)>,
    /// Sum of the edge costs.
    pub total: f64,
    /// Nodes in the order they joined (starting with node 0).
    pub order: Vec<usize>,
}

/// Prim's algorithm on a dense symmetric cost matrix, from node 0, in
/// `O(V²)`. Ties go to the lowest index.
///
/// # Panics
///
/// If the matrix is not square.
///
/// # Examples
///
/// ```
/// use allot::policy::prim_mst;
///
/// let c = vec![vec![0.0, 1.0, 4.0], vec![1.0, 0.0, 2.0], vec![4.0, 2.0, 0.0]];
/// let mst = prim_mst(&c);
/// assert_eq!(mst.total, 3.0);
/// assert_eq!(mst.order, vec![0, 1, 2]);
/// ```
pub fn prim_mst(cost: &[Vec<f64>]) -> Mst {
    let n = cost.len();
    assert!(
        cost.iter().all(|row| row.len() == n),
        "cost matrix must be square"
    );
    let mut edges = Vec::with_capacity(n.saturating_sub(1));
    let mut order = Vec::with_capacity(n);
    if n == 0 {
        return Mst {
            edges,
            total: 0.0,
            order,
        };
    }
    let mut in_tree = vec![false; n];
    let mut dist = vec![f64::INFINITY; n];
    let mut parent = vec![usize::MAX; n];
    dist[0] = 0.0;
    let mut total = 0.0;
    for _ in 0..n {
        let mut u = usize::MAX;
        for v in 0..n {
            if !in_tree[v] && (u == usize::MAX || dist[v] < dist[u]) {
                u = v;
            }
        }
        in_tree[u] = true;
        order.push(u);
        if parent[u] != usize::MAX {
            edges.push((parent[u], u, cost[parent[u]][u]));
            total += cost[parent[u]][u];
        }
        for v in 0..n {
            if !in_tree[v] && cost[u][v] < dist[v] {
                dist[v] = cost[u][v];
                parent[v] = u;
            }
        }
    }
    Mst {
        edges,
        total,
        order,
    }
}

/// Communication cost of a group placed on `nodes` (one entry per task):
/// the sum over pairs of tasks of the cost between their nodes.
pub fn group_cost(cost: &[Vec<f64>], nodes: &[usize]) -> f64 {
    let mut c = 0.0;
    for a in 0..nodes.len() {
        for b in (a + 1)..nodes.len() {
            c += cost[nodes[a]][nodes[b]];
        }
    }
    c
}

/// [`group_cost`] of a placement given as runs `(node, tasks)`, each node
/// in one run: `O(runs²)` rather than `O(tasks²)`, so a group of thousands
/// of tasks costs no more than its nodes.
fn runs_cost(cost: &[Vec<f64>], runs: &[(usize, usize)]) -> f64 {
    let mut c = 0.0;
    for (a, &(u, ku)) in runs.iter().enumerate() {
        let (ku, pairs_within) = (ku as f64, (ku * ku.saturating_sub(1) / 2) as f64);
        c += pairs_within * cost[u][u];
        for &(v, kv) in &runs[a + 1..] {
            c += ku * kv as f64 * cost[u][v];
        }
    }
    c
}

/// Places groups of communicating tasks on nodes with free slots, each
/// group on a set of nodes close to each other: from each possible first
/// node, the group grows Prim-style (the node nearest to the set so far
/// joins next) until its tasks fit; the cheapest set by [`group_cost`]
/// wins (ties to the lowest first node). Larger groups are placed first.
///
/// Returns, per group, the node of each of its tasks; `None` when the free
/// slots cannot hold every group.
///
/// # Panics
///
/// If the matrix is not square or `free` does not have one entry per node.
pub fn place_groups(
    cost: &[Vec<f64>],
    free: &[usize],
    groups: &[usize],
) -> Option<Vec<Vec<usize>>> {
    let n = cost.len();
    assert!(
        cost.iter().all(|row| row.len() == n),
        "cost matrix must be square"
    );
    assert_eq!(free.len(), n, "one free-slot count per node");
    let mut free = free.to_vec();
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by(|&a, &b| groups[b].cmp(&groups[a]).then(a.cmp(&b)));
    let mut out = vec![Vec::new(); groups.len()];
    for g in order {
        let size = groups[g];
        if size == 0 {
            continue;
        }
        let mut best: Option<(f64, Vec<(usize, usize)>)> = None;
        for start in (0..n).filter(|&s| free[s] > 0) {
            // The set grows node by node; each node takes as many of the
            // group's tasks as it has room for, in one run.
            let mut runs: Vec<(usize, usize)> = Vec::new();
            let mut count = 0;
            let mut in_set = vec![false; n];
            let mut dist: Vec<f64> = cost[start].clone();
            let mut u = start;
            loop {
                in_set[u] = true;
                let take = free[u].min(size - count);
                if take > 0 {
                    runs.push((u, take));
                    count += take;
                }
                if count == size {
                    break;
                }
                let next = (0..n)
                    .filter(|&v| !in_set[v] && free[v] > 0)
                    .min_by(|&a, &b| dist[a].total_cmp(&dist[b]).then(a.cmp(&b)));
                let Some(v) = next else { break };
                for w in 0..n {
                    dist[w] = dist[w].min(cost[v][w]);
                }
                u = v;
            }
            if count < size {
                continue;
            }
            let c = runs_cost(cost, &runs);
            if best.as_ref().is_none_or(|(bc, _)| c < *bc) {
                best = Some((c, runs));
            }
        }
        let (_, runs) = best?;
        let placed: Vec<usize> = runs
            .iter()
            .flat_map(|&(u, k)| std::iter::repeat_n(u, k))
            .collect();
        for &j in &placed {
            free[j] -= 1;
        }
        out[g] = placed;
    }
    Some(out)
}

/// [`place_groups`] for one group of `size` tasks when every pair of
/// nodes is equally far apart (cost 0 on a node, 1 across nodes), in
/// `O(nodes × nodes used)` rather than `O(nodes² × nodes used)`: from each
/// first node the set grows in index order (all other nodes are equally
/// near), and the cost of a set is the number of pairs of tasks on
/// different nodes, `(size² − Σ k²) / 2` for `k` tasks per node.
fn place_uniform(free: &[usize], size: usize) -> Option<Vec<usize>> {
    if size == 0 {
        return Some(Vec::new());
    }
    let open: Vec<usize> = (0..free.len()).filter(|&j| free[j] > 0).collect();
    let mut best: Option<(u128, usize)> = None; // pairs across nodes, first node
    for &start in &open {
        let mut count = free[start].min(size);
        let mut squares = (count as u128).pow(2);
        for &v in open.iter().filter(|&&v| v != start) {
            if count == size {
                break;
            }
            let take = free[v].min(size - count);
            count += take;
            squares += (take as u128).pow(2);
        }
        if count < size {
            continue;
        }
        let across = ((size as u128).pow(2) - squares) / 2;
        if best.is_none_or(|(c, _)| across < c) {
            best = Some((across, start));
        }
    }
    let (_, start) = best?;
    let mut placed = Vec::with_capacity(size);
    for &u in std::iter::once(&start).chain(open.iter().filter(|&&v| v != start)) {
        let take = free[u].min(size - placed.len());
        placed.extend(std::iter::repeat_n(u, take));
        if placed.len() == size {
            break;
        }
    }
    Some(placed)
}

/// Places communicating groups close together.
///
/// In a batch, each maximal run of consecutive tasks of the same kind is a
/// group; a group goes to nodes close to each other under the policy's
/// communication-cost matrix ([`place_groups`]), using each node's free
/// slots (or, when the group needs more, several rounds of its slots). A
/// single task goes to the node that would finish it soonest. Without a
/// matrix ([`Locality::uniform`]) every pair of nodes is equally far, and
/// groups simply fill the fewest nodes.
#[derive(Debug, Clone, Default)]
pub struct Locality {
    cost: Option<Vec<Vec<f64>>>,
}

impl Locality {
    /// Every pair of nodes equally far apart.
    pub fn uniform() -> Self {
        Locality { cost: None }
    }

    /// With a communication-cost matrix indexed by node position.
    pub fn with_costs(cost: Vec<Vec<f64>>) -> Self {
        Locality { cost: Some(cost) }
    }
}

impl Policy for Locality {
    fn name(&self) -> &'static str {
        "locality"
    }

    fn place(&mut self, task: &TaskView<'_>, nodes: &[NodeView]) -> Option<usize> {
        least_finish(task, nodes)
    }

    fn allocate(
        &mut self,
        tasks: &[TaskView<'_>],
        nodes: &mut [NodeView],
        out: &mut Vec<Option<usize>>,
    ) {
        out.clear();
        let n = nodes.len();
        // Without a matrix of the right size every pair of nodes is equally
        // far apart, and the groups are placed without one.
        let cost = match &self.cost {
            Some(c) if c.len() == n && c.iter().all(|r| r.len() == n) => Some(c),
            _ => None,
        };
        let mut start = 0;
        while start < tasks.len() {
            let mut end = start + 1;
            while end < tasks.len() && tasks[end].kind == tasks[start].kind {
                end += 1;
            }
            let group = &tasks[start..end];
            let hosts: Vec<bool> = nodes.iter().map(|v| v.can_host(&group[0])).collect();
            let mut free: Vec<usize> = nodes
                .iter()
                .zip(&hosts)
                .map(|(v, &h)| {
                    if h {
                        v.slots.saturating_sub(v.queued + v.running)
                    } else {
                        0
                    }
                })
                .collect();
            let room: usize = free.iter().sum();
            if room < group.len() {
                let slots: usize = nodes
                    .iter()
                    .zip(&hosts)
                    .map(|(v, &h)| if h { v.slots.max(1) } else { 0 })
                    .sum();
                let rounds = if slots == 0 {
                    0
                } else {
                    group.len().div_ceil(slots)
                };
                for (j, f) in free.iter_mut().enumerate() {
                    *f = if hosts[j] {
                        nodes[j].slots.max(1) * rounds
                    } else {
                        0
                    };
                }
            }
            let placed = match cost {
                Some(cost) => place_groups(cost, &free, &[group.len()]).map(|mut v| v.remove(0)),
                None => place_uniform(&free, group.len()),
            };
            for (k, task) in group.iter().enumerate() {
                let pick = placed
                    .as_ref()
                    .map(|p| p[k])
                    .filter(|&j| nodes[j].can_host(task))
                    .or_else(|| least_finish(task, nodes));
                if let Some(j) = pick {
                    nodes[j].assign(task);
                }
                out.push(pick);
            }
            start = end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placing_on_equally_far_nodes_matches_place_groups_with_a_uniform_matrix() {
        let mut x = 9u64;
        let mut next = |k: u64| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) % k
        };
        let mut placed_some = 0;
        for _ in 0..500 {
            let n = 1 + next(7) as usize;
            let free: Vec<usize> = (0..n).map(|_| next(5) as usize).collect();
            let size = next(12) as usize;
            let uniform: Vec<Vec<f64>> = (0..n)
                .map(|a| (0..n).map(|b| if a == b { 0.0 } else { 1.0 }).collect())
                .collect();
            let by_matrix = place_groups(&uniform, &free, &[size]).map(|mut v| v.remove(0));
            let fast = place_uniform(&free, size);
            assert_eq!(fast, by_matrix, "free {free:?}, size {size}");
            placed_some += usize::from(fast.is_some_and(|p| !p.is_empty()));
        }
        assert!(placed_some > 100);
    }

    #[test]
    fn the_cost_of_runs_is_the_cost_of_every_pair_of_their_tasks() {
        let mut x = 3u64;
        let mut next = |k: u64| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) % k
        };
        for _ in 0..200 {
            let n = 1 + next(6) as usize;
            // Integer costs, so both sums are exact; not symmetric, so the
            // order of the runs counts.
            let cost: Vec<Vec<f64>> = (0..n)
                .map(|_| (0..n).map(|_| next(10) as f64).collect())
                .collect();
            let mut nodes: Vec<usize> = (0..n).collect();
            nodes.rotate_left(next(n as u64) as usize);
            let runs: Vec<(usize, usize)> = nodes.iter().map(|&u| (u, next(5) as usize)).collect();
            let tasks: Vec<usize> = runs
                .iter()
                .flat_map(|&(u, k)| std::iter::repeat_n(u, k))
                .collect();
            assert_eq!(
                runs_cost(&cost, &runs),
                group_cost(&cost, &tasks),
                "{runs:?}"
            );
        }
    }
}
