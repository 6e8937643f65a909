use super::*;

#[test]
fn fragmentation_counts_gpus_too_small_for_a_shape() {
    let shapes = [TypicalShape {
        demand: GpuDemand::shared(1_000, 0, 500),
        weight: 1.0,
    }];
    // 300 free on one GPU cannot take a 500 share; 1000 can.
    assert_eq!(frag(8_000, None, &[300, 1_000], &shapes), 300.0);
    // Without CPU the whole free GPU capacity is stranded.
    assert_eq!(frag(500, None, &[300, 1_000], &shapes), 1_300.0);
}

#[test]
fn fgd_places_a_share_where_it_fills_a_gap() {
    let mut nodes = vec![
        GpuNode::new(32_000, 0, 2, None),
        GpuNode::new(32_000, 0, 2, None),
    ];
    nodes[1].place(&GpuDemand::shared(1_000, 0, 500), &[0]);
    let mut fgd = Fgd::from_workload(&[GpuDemand::whole(1_000, 0, 1)], 1.0);
    let c = fgd
        .choose(&GpuDemand::shared(1_000, 0, 500), &nodes)
        .unwrap();
    assert_eq!((c.node, c.gpus), (1, vec![0]));
}

fn eight_gpu_mix() -> Vec<TypicalShape> {
    vec![
        TypicalShape {
            demand: GpuDemand::whole(4_000, 0, 1),
            weight: 0.99,
        },
        TypicalShape {
            demand: GpuDemand::whole(120_000, 0, 8),
            weight: 0.01,
        },
    ]
}

#[test]
fn a_one_gpu_task_spoils_an_idle_node_that_could_host_the_largest_shape() {
    let search = FragSearch::new(
        eight_gpu_mix(),
        Scoring::QuantisedThen(TieBreak::ReserveThenFill),
    );
    let one = GpuDemand::whole(4_000, 0, 1);
    let g3 = GpuNode::new(128_000, 0, 8, None);
    let g2 = GpuNode::new(96_000, 0, 8, None);
    // Only the 128-CPU node can take the 8-GPU, 120-CPU shape.
    assert_eq!(search.big_lost(&g3, &one, &[0]), 1.0);
    assert_eq!(search.big_lost(&g2, &one, &[0]), 0.0);
    // A task of that size is what the room is kept for.
    let eight = GpuDemand::whole(120_000, 0, 8);
    assert_eq!(search.big_lost(&g3, &eight, &[0, 1, 2, 3, 4, 5, 6, 7]), 0.0);
    // A node already partly used has nothing left to keep.
    let mut used = g3.clone();
    used.place(&one, &[7]);
    assert_eq!(search.big_lost(&used, &one, &[0]), 0.0);
}

#[test]
fn tied_nodes_go_to_the_one_that_keeps_room_for_the_largest_shape() {
    // Three levels: almost every placement scores alike, so the
    // tie-break decides. The 128-CPU node comes first in index order.
    let mut p = FragmentationAware::with_tuning(FragTuning {
        levels: 3.0,
        ..FragTuning::default()
    })
    .with_workload(
        &[GpuDemand::whole(4_000, 0, 1); 99]
            .iter()
            .copied()
            .chain(std::iter::once(GpuDemand::whole(120_000, 0, 8)))
            .collect::<Vec<_>>(),
    );
    let nodes = vec![
        GpuNode::new(128_000, 1 << 20, 8, None),
        GpuNode::new(96_000, 1 << 20, 8, None),
    ];
    let c = p
        .choose(&GpuDemand::whole(4_000, 1_024, 1), &nodes)
        .unwrap();
    assert_eq!(c.node, 1);
    // Plain index ties would have spoilt node 0.
    let mut by_index = FragmentationAware::with_tuning(FragTuning {
        levels: 3.0,
        tie_break: TieBreak::Index,
        ..FragTuning::default()
    })
    .with_workload(&[GpuDemand::whole(4_000, 0, 1)]);
    let c = by_index
        .choose(&GpuDemand::whole(4_000, 1_024, 1), &nodes)
        .unwrap();
    assert_eq!(c.node, 0);
}

/// Skipping nodes in a state already scored makes the same choices as
/// scoring every node, placement after placement, on a cluster of few
/// node types (where most states repeat).
#[test]
fn skipping_repeated_node_states_changes_no_choice() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    let kinds = [
        GpuNode::new(96_000, 1 << 20, 8, Some(0)),
        GpuNode::new(128_000, 1 << 20, 8, Some(1)),
        GpuNode::new(32_000, 1 << 20, 2, Some(2)),
    ];
    let mut rng = StdRng::seed_from_u64(7);
    let shapes = [
        GpuDemand::shared(4_000, 0, 300),
        GpuDemand::shared(8_000, 0, 810),
        GpuDemand::whole(6_000, 0, 1),
        GpuDemand::whole(16_000, 0, 2),
        GpuDemand::whole(88_000, 0, 8),
        GpuDemand::whole(120_000, 0, 8),
        GpuDemand::shared(2_000, 0, 500).on_models(GpuModelSet::ANY.with(2)),
    ];
    let workload: Vec<GpuDemand> = (0..500)
        .map(|_| shapes[rng.random_range(0..shapes.len())])
        .collect();
    let tunings = [
        FragTuning::default(),
        FragTuning {
            tie_break: TieBreak::Index,
            levels: 100.0,
            ..FragTuning::default()
        },
    ];
    for tuning in tunings {
        let mut fast = FragmentationAware::with_tuning(tuning).with_prior(&workload);
        let mut plain = fast.clone();
        plain.search.dedup = false;
        let mut fgd_fast = Fgd::from_workload(&workload, 0.95);
        let mut fgd_plain = fgd_fast.clone();
        fgd_plain.search.dedup = false;
        for (fa, pl) in [
            (
                &mut fast as &mut dyn GpuPlacement,
                &mut plain as &mut dyn GpuPlacement,
            ),
            (&mut fgd_fast, &mut fgd_plain),
        ] {
            let mut nodes: Vec<GpuNode> = (0..60).map(|k| kinds[k % kinds.len()].clone()).collect();
            let mut placed = 0;
            for d in &workload {
                let c = fa.choose(d, &nodes);
                assert_eq!(c, pl.choose(d, &nodes), "after {placed} placements");
                if let Some(c) = c {
                    nodes[c.node].place(d, &c.gpus);
                    placed += 1;
                }
            }
            assert!(placed > 100, "{placed}");
        }
    }
}

/// The indexed search (one node per class of nodes in the same state)
/// makes the same choices as the plain scan, placement after placement
/// and departure after departure, for both policies and several tunings.
#[test]
fn the_indexed_search_changes_no_choice() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    let kinds = [
        GpuNode::new(96_000, 1 << 20, 8, Some(0)),
        GpuNode::new(128_000, 1 << 20, 8, Some(1)),
        GpuNode::new(32_000, 1 << 20, 2, Some(2)),
        GpuNode::new(64_000, 40_000, 4, Some(2)),
    ];
    let mut rng = StdRng::seed_from_u64(11);
    let shapes = [
        GpuDemand::shared(4_000, 1_000, 300),
        GpuDemand::shared(8_000, 8_000, 810),
        GpuDemand::whole(6_000, 0, 1),
        GpuDemand::whole(16_000, 30_000, 2),
        GpuDemand::whole(88_000, 0, 8),
        GpuDemand::whole(120_000, 0, 8),
        GpuDemand::cpu_only(2_000, 0),
        GpuDemand::shared(2_000, 0, 500).on_models(GpuModelSet::ANY.with(2)),
    ];
    let workload: Vec<GpuDemand> = (0..1_500)
        .map(|_| shapes[rng.random_range(0..shapes.len())])
        .collect();
    let tunings = [
        FragTuning::default(),
        FragTuning {
            tie_break: TieBreak::Index,
            levels: 100.0,
            ..FragTuning::default()
        },
        FragTuning {
            gpu_ties: true,
            tie_break: TieBreak::ReserveAllThenFill,
            ..FragTuning::default()
        },
        FragTuning {
            quantised: false,
            ..FragTuning::default()
        },
    ];
    let mut pairs: Vec<(Box<dyn GpuPlacement>, Box<dyn GpuPlacement>)> = vec![(
        Box::new(Fgd::from_workload(&workload, 0.95)),
        Box::new(Fgd::from_workload(&workload, 0.95)),
    )];
    for t in tunings {
        pairs.push((
            Box::new(FragmentationAware::with_tuning(t)),
            Box::new(FragmentationAware::with_tuning(t)),
        ));
    }
    for (mut fast, mut plain) in pairs {
        let mut cluster =
            GpuCluster::new((0..80).map(|k| kinds[k % kinds.len()].clone()).collect());
        let mut running: Vec<(usize, GpuDemand, Vec<usize>)> = Vec::new();
        let mut placed = 0;
        for (k, d) in workload.iter().enumerate() {
            let c = fast.choose_indexed(d, &cluster);
            assert_eq!(
                c,
                plain.choose(d, cluster.nodes()),
                "{}: task {k}",
                fast.name()
            );
            if let Some(c) = c {
                cluster.place(c.node, d, &c.gpus);
                running.push((c.node, *d, c.gpus));
                placed += 1;
            }
            // Departures, so that states diverge and come back.
            if k % 3 == 0 && !running.is_empty() {
                let (j, d, gpus) = running.swap_remove(rng.random_range(0..running.len()));
                cluster.release(j, &d, &gpus);
            }
        }
        assert!(placed > 500, "{}: {placed}", fast.name());
    }
}
