//! The survey article's MST example, and group placement by communication
//! cost.

use crate::report::Goal;
use allot::policy::{group_cost, place_groups, prim_mst};
use serde_json::{json, Value};
use std::fmt::Write as _;

/// The survey article's printed total for its 5-node MST example.
const ARTICLE_MST_TOTAL: f64 = 17.0;
/// The article's symmetric cost matrix, nodes 1–5.
const ARTICLE_MATRIX: [[f64; 5]; 5] = [
    [0.0, 2.0, 3.0, 6.0, 5.0],
    [2.0, 0.0, 4.0, 7.0, 1.0],
    [3.0, 4.0, 0.0, 5.0, 8.0],
    [6.0, 7.0, 5.0, 0.0, 9.0],
    [5.0, 1.0, 8.0, 9.0, 0.0],
];

pub(crate) fn locality_section(
    md: &mut String,
    groups_md: &mut String,
    js: &mut Value,
    goals: &mut Vec<Goal>,
) {
    let m: Vec<Vec<f64>> = ARTICLE_MATRIX.iter().map(|r| r.to_vec()).collect();
    let mst = prim_mst(&m);
    let edges: Vec<String> = mst
        .edges
        .iter()
        .map(|&(a, b, c)| format!("{}–{} ({c})", a + 1, b + 1))
        .collect();
    let _ = writeln!(
        md,
        "The article's 5-node matrix: Prim gives the edges {} with total **{}**; the article prints {}.\n",
        edges.join(", "),
        mst.total,
        ARTICLE_MST_TOTAL
    );
    goals.push(Goal::new(
        "The article's MST example is checked",
        format!("total {} (article: {ARTICLE_MST_TOTAL})", mst.total),
        mst.total == 11.0,
    ));
    // Group placement on 4 racks of 4 nodes (cost 1 in a rack, 10 across).
    let n = 16;
    let cost: Vec<Vec<f64>> = (0..n)
        .map(|a| {
            (0..n)
                .map(|b| {
                    if a == b {
                        0.0
                    } else if a / 4 == b / 4 {
                        1.0
                    } else {
                        10.0
                    }
                })
                .collect()
        })
        .collect();
    let groups = [6, 5, 4, 4, 3, 3, 2, 2, 2, 1];
    let placed = place_groups(&cost, &[2; 16], &groups).expect("32 slots hold 32 tasks");
    let ours: f64 = placed.iter().map(|p| group_cost(&cost, p)).sum();
    // Round-robin over the nodes, group after group.
    let mut next = 0;
    let mut rr = 0.0;
    for &g in &groups {
        let p: Vec<usize> = (0..g).map(|k| (next + k) % n).collect();
        next += g;
        rr += group_cost(&cost, &p);
    }
    let _ = writeln!(
        groups_md,
        "Group placement on 16 nodes in 4 racks (cost 1 within a rack, 10 across; 2 slots each), groups of \
         {groups:?} tasks: total pairwise communication cost {ours} with MST-close placement against {rr} \
         for round-robin placement."
    );
    js["locality"] = json!({"article_mst_total_printed": ARTICLE_MST_TOTAL, "mst_total": mst.total,
                            "mst_edges": mst.edges.iter().map(|&(a, b, c)| json!([a + 1, b + 1, c])).collect::<Vec<_>>(),
                            "groups_cost_mst_close": ours, "groups_cost_round_robin": rr});
}
