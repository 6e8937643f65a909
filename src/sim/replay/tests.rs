//! Replays of small traces: queueing, skipping, ends and allocation ratios.

use super::*;
use crate::policy::{BestFit, GpuDemand, GpuNode, RandomFit};

const HEADER: &str = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time";

fn one_gpu_node() -> Vec<GpuNode> {
    vec![GpuNode::new(8_000, 16_384, 1, None)]
}

#[test]
fn capacities_that_add_up_past_u64_saturate_instead_of_panicking() {
    let nodes = vec![
        GpuNode::new(u64::MAX, 1, 1, None),
        GpuNode::new(1, 1, 1, None),
    ];
    let pods = vec![ReplayPod::new("a", GpuDemand::cpu_only(1, 0), 0, 10)];
    let replay = Replay::new(nodes, pods);
    assert_eq!(replay.cpu_capacity_milli(), u64::MAX);
    let run = replay.run(&mut BestFit::new()).unwrap();
    assert_eq!(run.outcomes.len(), 1);
}

#[test]
fn a_blocked_head_holds_back_later_pods_that_would_fit() {
    // Two GPUs: a takes one; b needs both and waits; c needs a share
    // that would fit beside a but must wait behind b.
    let nodes = vec![GpuNode::new(8_000, 16_384, 2, None)];
    let pods = vec![
        ReplayPod::new("a", GpuDemand::whole(1_000, 0, 1), 0, 10),
        ReplayPod::new("b", GpuDemand::whole(1_000, 0, 2), 1, 5),
        ReplayPod::new("c", GpuDemand::shared(1_000, 0, 500), 2, 5),
    ];
    let run = Replay::new(nodes, pods).run(&mut BestFit::new()).unwrap();
    let starts: Vec<u64> = run
        .outcomes
        .iter()
        .map(|o| match o {
            PodOutcome::Finished { start, .. } => *start,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(starts, [0, 10, 15]);
    assert_eq!(run.report.max_queue, 2);
    assert_eq!(run.report.end_s, 20);
}

#[test]
fn departures_free_room_for_arrivals_at_the_same_instant() {
    let gpu = GpuDemand::whole(1_000, 0, 1);
    let pods = vec![
        ReplayPod::new("a", gpu, 0, 4),
        ReplayPod::new("b", gpu, 4, 4),
    ];
    let run = Replay::new(one_gpu_node(), pods)
        .run(&mut BestFit::new())
        .unwrap();
    assert_eq!(run.report.waiting_s.max, 0.0);
    // Busy the whole time.
    assert_eq!(run.report.gpu_allocation, 1.0);
    assert_eq!(run.report.cpu_allocation, 1_000.0 / 8_000.0);
}

#[test]
fn stopping_at_the_trace_end_leaves_pods_waiting_and_running() {
    let gpu = GpuDemand::whole(1_000, 0, 1);
    let mut replay = Replay::new(
        one_gpu_node(),
        vec![
            ReplayPod::new("a", gpu, 0, 10),
            ReplayPod::new("b", gpu, 1, 10),
            ReplayPod::new("c", GpuDemand::whole(1_000, 0, 3), 2, 1),
        ],
    );
    replay.drain = false;
    replay.trace_end = 5;
    let r = replay.run(&mut BestFit::new()).unwrap().report;
    assert_eq!(
        (r.placed, r.finished, r.waiting, r.unplaceable, r.end_s),
        (1, 0, 1, 1, 5)
    );
    assert_eq!(r.gpu_allocation, 1.0);
    assert_eq!(r.peak_gpu_allocation, 1.0);
    assert_eq!(r.completion_s.count, 0);
}

#[test]
fn pod_times_skip_bad_rows_and_refuse_a_missing_column() {
    let text = format!(
        "{HEADER}\n\
         p0,1000,0,1,500,,LS,Running,10,40,20\n\
         p1,1000,0,1,500,,BE,Pending,10,40,\n\
         p2,1000,0,1,500,,BE,Failed,10,x,20\n\
         p3,1000,0,1,500,,BE,Failed,10,15,20\n\
         p4,1000,0,1,500,,BE,Failed,10,20,20\n"
    );
    let t = parse_pod_times("pods.csv", &text).unwrap();
    assert_eq!(
        t,
        [
            Ok(PodTimes {
                creation: 10,
                scheduled: 20,
                deletion: 40
            }),
            Err(SkipReason::MissingTime("scheduled_time")),
            Err(SkipReason::InvalidTime("deletion_time")),
            Err(SkipReason::EndsBeforeStart),
            Ok(PodTimes {
                creation: 10,
                scheduled: 20,
                deletion: 20
            }),
        ]
    );
    assert_eq!(t[4].unwrap().duration(), 1);
    let e = parse_pod_times("pods.csv", "name,creation_time,deletion_time\n").unwrap_err();
    assert_eq!((e.line, e.column.as_deref()), (1, Some("scheduled_time")));
}

#[test]
fn times_are_read_through_quoted_fields_and_out_of_range_ones_skip_the_pod() {
    let text = format!(
        "{HEADER}\n\
         \"p,0\",1000,0,1,500,\"A10|T4\",LS,Running,10,40,20\n\
         p1,1000,0,1,500,,BE,Failed,-10,40,20\n\
         p2,1000,0,1,500,,BE,Failed,10,99999999999999999999999,20\n\
         p3,1000,0,1,500,,BE,Failed,10,4e1,20\n"
    );
    let t = parse_pod_times("pods.csv", &text).unwrap();
    assert_eq!(
        t,
        [
            Ok(PodTimes {
                creation: 10,
                scheduled: 20,
                deletion: 40
            }),
            Err(SkipReason::TimeOutOfRange("creation_time")),
            Err(SkipReason::TimeOutOfRange("deletion_time")),
            Err(SkipReason::InvalidTime("deletion_time")),
        ]
    );
}

#[test]
fn sped_up_arrivals_keep_running_times_and_queue_pods() {
    let nodes = "sn,cpu_milli,memory_mib,gpu,model\n\
                 n1,32000,65536,1,V100\n";
    // Two one-GPU pods, 1 000 s apart, each running 500 s.
    let pods = format!(
        "{HEADER}\n\
         p0,1000,0,1,1000,,LS,Running,0,500,0\n\
         p1,1000,0,1,1000,,LS,Running,1000,1500,1000\n"
    );
    let at = |speedup: f64| {
        let config = ReplayConfig {
            arrival_speedup: speedup,
            ..ReplayConfig::default()
        };
        let r = Replay::parse("nodes.csv", nodes, "pods.csv", &pods, &config).unwrap();
        let arrivals: Vec<(u64, u64)> = r.pods.iter().map(|p| (p.arrival, p.duration)).collect();
        (arrivals, r.run(&mut BestFit::new()).unwrap().report)
    };
    let (arrivals, report) = at(1.0);
    assert_eq!(arrivals, [(0, 500), (1_000, 500)]);
    assert_eq!(report.waiting_s.max, 0.0);
    // Ten times faster: the second pod arrives at 100 s and waits 400 s.
    let (arrivals, report) = at(10.0);
    assert_eq!(arrivals, [(0, 500), (100, 500)]);
    assert_eq!(report.waiting_s.max, 400.0);
    assert_eq!(report.placed, 2);
}

#[test]
fn a_parsed_trace_is_shifted_limited_and_seeded() {
    let nodes = "sn,cpu_milli,memory_mib,gpu,model\n\
                 n0,32000,65536,0,\n\
                 n1,32000,65536,2,V100\n\
                 n2,32000,65536,4,A10\n";
    let pods = format!(
        "{HEADER}\n\
         p0,1000,0,1,500,,LS,Running,100,400,150\n\
         p1,1000,0,0,0,,BE,Pending,120,400,\n\
         p2,1000,0,2,1000,,LS,Running,130,900,130\n\
         p3,1000,0,0,0,,BE,Failed,200,50,40\n"
    );
    let config = ReplayConfig {
        limit: Some(2),
        ..ReplayConfig::default()
    };
    let r = Replay::parse("nodes.csv", nodes, "pods.csv", &pods, &config).unwrap();
    assert_eq!(r.nodes.len(), 2, "GPU nodes only");
    assert_eq!(r.pods.len(), 1);
    assert_eq!((r.pods[0].arrival, r.pods[0].duration), (0, 250));
    assert_eq!(r.trace_end, 300);
    assert_eq!(r.skipped.len(), 1);
    let all = ReplayConfig {
        all_nodes: true,
        ..ReplayConfig::default()
    };
    let r = Replay::parse("nodes.csv", nodes, "pods.csv", &pods, &all).unwrap();
    assert_eq!(r.nodes.len(), 3);
    assert_eq!(r.pods[1].arrival, 30);
    // Deleted before it was created: odd, but it arrives and runs.
    assert_eq!((r.pods[2].arrival, r.pods[2].duration), (100, 10));
    let again = Replay::parse("nodes.csv", nodes, "pods.csv", &pods, &all).unwrap();
    assert_eq!(r.node_names, again.node_names);
}

#[test]
fn the_random_policy_is_deterministic_under_its_seed() {
    let nodes: Vec<GpuNode> = (0..8)
        .map(|_| GpuNode::new(32_000, 65_536, 4, None))
        .collect();
    let pods: Vec<ReplayPod> = (0..200)
        .map(|k| {
            ReplayPod::new(
                format!("p{k}"),
                GpuDemand::shared(1_000, 0, 250 + (k % 3) as u32 * 250),
                k / 4,
                7 + k % 11,
            )
        })
        .collect();
    let replay = Replay::new(nodes, pods);
    let a = replay.run(&mut RandomFit::new(3)).unwrap();
    let b = replay.run(&mut RandomFit::new(3)).unwrap();
    assert_eq!(a, b);
    let r = &a.report;
    assert_eq!(r.placed + r.waiting + r.unplaceable + r.skipped, r.pods);
    assert!((0.0..=1.0).contains(&r.gpu_allocation));
}

fn starts(run: &ReplayRun) -> Vec<u64> {
    run.outcomes
        .iter()
        .map(|o| match o {
            PodOutcome::Finished { start, .. } | PodOutcome::Running { start, .. } => *start,
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn backfill_places_a_later_pod_that_fits_past_a_blocked_head() {
    // As in the FIFO case above: b needs both GPUs and waits for a; c fits
    // beside a and, with backfill, starts at once instead of after b.
    let nodes = vec![GpuNode::new(8_000, 16_384, 2, None)];
    let pods = vec![
        ReplayPod::new("a", GpuDemand::whole(1_000, 0, 1), 0, 10),
        ReplayPod::new("b", GpuDemand::whole(1_000, 0, 2), 1, 5),
        ReplayPod::new("c", GpuDemand::shared(1_000, 0, 500), 2, 5),
        ReplayPod::new("d", GpuDemand::shared(1_000, 0, 500), 3, 20),
    ];
    let mut replay = Replay::new(nodes, pods);
    replay.queue = QueueOrder::GreedyBackfill;
    let run = replay.run(&mut BestFit::new()).unwrap();
    // c and d share the second GPU from their arrivals; b, blocked by d
    // until 23, starts then: greedy backfill can starve the large pod.
    assert_eq!(starts(&run), [0, 23, 2, 3]);
    assert_eq!(run.report.queue, QueueOrder::GreedyBackfill);
    assert_eq!(run.report.max_queue, 1);
    // With the reservation, b holds the node from 10, when a leaves: c
    // (done by 7) still passes it, d (until 23) waits for b.
    replay.queue = QueueOrder::Backfill;
    let run = replay.run(&mut BestFit::new()).unwrap();
    assert_eq!(starts(&run), [0, 10, 2, 15]);
    assert_eq!(run.report.queue, QueueOrder::Backfill);
}

#[test]
fn backfill_never_delays_the_reserved_head() {
    // One 2-GPU node, x on one GPU until 10 and y on the other until 20.
    // b needs both: the head of the queue, its reservation is the node at
    // 20. l (one GPU for 100 s) arrives next. Greedy backfill puts l on
    // the GPU x frees at 10, and b waits for l to leave at 110; with the
    // reservation l may not run past 20 there, so it waits, b starts at
    // 20 (as under FIFO), and s, done by 16, still passes b at 11.
    let one = GpuDemand::whole(1_000, 0, 1);
    let pods = vec![
        ReplayPod::new("x", one, 0, 10),
        ReplayPod::new("y", one, 0, 20),
        ReplayPod::new("b", GpuDemand::whole(1_000, 0, 2), 1, 5),
        ReplayPod::new("l", one, 2, 100),
        ReplayPod::new("s", one, 11, 5),
    ];
    let mut replay = Replay::new(vec![GpuNode::new(8_000, 16_384, 2, None)], pods);
    replay.drain = true;
    let mut run = |q| {
        replay.queue = q;
        starts(&replay.run(&mut BestFit::new()).unwrap())
    };
    assert_eq!(run(QueueOrder::Fifo), [0, 0, 20, 25, 25]);
    assert_eq!(run(QueueOrder::GreedyBackfill), [0, 0, 110, 10, 20]);
    assert_eq!(run(QueueOrder::Backfill), [0, 0, 20, 25, 11]);
}

#[test]
fn pods_failed_in_the_trace_are_counted_and_skipped_when_asked() {
    let nodes = "sn,cpu_milli,memory_mib,gpu,model\n\
                 n1,32000,65536,2,V100\n";
    let pods = format!(
        "{HEADER}\n\
         p0,1000,0,1,500,,LS,Running,100,400,150\n\
         p1,1000,0,1,1000,,LS,Failed,120,400,130\n\
         p2,1000,0,0,0,,BE,failed,130,140,130\n"
    );
    let r = Replay::parse("n.csv", nodes, "p.csv", &pods, &ReplayConfig::default()).unwrap();
    assert_eq!(
        (r.pods.len(), r.failed_in_trace, r.skipped.len()),
        (3, 2, 0)
    );
    let skip = ReplayConfig {
        skip_failed: true,
        ..ReplayConfig::default()
    };
    let r = Replay::parse("n.csv", nodes, "p.csv", &pods, &skip).unwrap();
    assert_eq!((r.pods.len(), r.failed_in_trace), (1, 0));
    assert!(r
        .skipped
        .iter()
        .all(|s| s.reason == SkipReason::FailedInTrace));
    assert_eq!(r.skipped.len(), 2);
    // A pod list without the column: nothing is known to have failed.
    let bare =
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,creation_time,deletion_time,scheduled_time\n\
                p0,1000,0,1,500,100,400,150\n";
    let r = Replay::parse("n.csv", nodes, "p.csv", bare, &skip).unwrap();
    assert_eq!((r.pods.len(), r.failed_in_trace), (1, 0));
}

#[test]
fn the_timeline_follows_allocation_queue_and_fgd_fragmentation() {
    // Every pod takes 600 milli of a GPU: once one runs, its GPU's 400
    // free milli are a fragment no typical pod can use.
    let nodes = vec![GpuNode::new(8_000, 16_384, 1, None)];
    let share = GpuDemand::shared(1_000, 0, 600);
    let pods = vec![
        ReplayPod::new("a", share, 0, 10),
        ReplayPod::new("b", share, 5, 10),
    ];
    let run = Replay::new(nodes, pods).run(&mut BestFit::new()).unwrap();
    let at = |t: u64| *run.timeline.iter().find(|p| p.time == t).unwrap();
    assert_eq!((at(0).gpu_milli, at(0).queued), (600, 0));
    assert_eq!(at(0).fragmentation_milli, 400.0);
    assert_eq!((at(5).gpu_milli, at(5).queued), (600, 1));
    assert_eq!((at(10).gpu_milli, at(10).queued), (600, 0));
    assert_eq!(at(20).gpu_milli, 0);
    // Empty, the one GPU is whole: no fragment.
    assert_eq!(at(20).fragmentation_milli, 0.0);
    // Over the replay (0 to 20), a fragment of 400 on a 1 000 GPU.
    assert!((run.report.fragmentation - 0.4).abs() < 1e-9);
    assert!((run.report.gpu_allocation - 0.6).abs() < 1e-9);
}

#[test]
fn the_busy_window_is_where_the_recorded_trace_holds_at_least_half_its_peak() {
    let gpu = GpuDemand::whole(1_000, 0, 1);
    let nodes = vec![GpuNode::new(8_000, 16_384, 1, None)];
    let pods = vec![
        ReplayPod::new("a", gpu, 0, 100),
        ReplayPod::new("b", gpu, 50, 10),
        ReplayPod::new("c", gpu, 200, 10),
    ];
    let mut replay = Replay::new(nodes, pods);
    // Recorded: 1 GPU from 0, 2 from 50 to 60 (the peak), 1 until 100,
    // none, then 1 from 200 to 210.
    assert_eq!(replay.busy_span(), (0, 100));
    // One GPU: b waits for a, so over the window the node is always full.
    let run = replay.run(&mut BestFit::new()).unwrap();
    assert_eq!(run.report.busy_window.gpu_allocation, 1.0);
    assert!((run.report.busy_window.mean_queue - 50.0 / 100.0).abs() < 1e-9);
    replay.busy_window = Some(20);
    // Every 20 s stretch holding b holds 30 GPU-seconds: the earliest.
    assert_eq!(replay.busy_span(), (40, 20));
}
