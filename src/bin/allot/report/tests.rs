use super::*;

fn sample(t_s: f64, restarts: u64, migrations_in: u64) -> Sample {
    Sample {
        t_s,
        completed: 0,
        failed: 0,
        nodes: vec![NodeSample {
            load_s: 0.0,
            queued: 0,
            running: 0,
            completed: 0,
            restarts,
            migrations_in,
            migrations_out: 0,
            speed: 1.0,
            state: NodeState::InService,
        }],
    }
}

#[test]
fn sampling_gives_the_median_and_largest_gap_and_warns_past_one_and_a_half_intervals() {
    let every = |ts: &[f64]| -> Vec<Sample> { ts.iter().map(|&t| sample(t, 0, 0)).collect() };
    let ms20 = std::time::Duration::from_millis(20);
    let on_time = Sampling::of(&every(&[0.02, 0.04, 0.06, 0.08]), ms20);
    assert_eq!(on_time.taken, 4);
    assert!((on_time.median_gap_s.unwrap() - 0.02).abs() < 1e-12);
    assert!(!on_time.late());
    // Gaps 0.02, 0.05, 0.05, 0.1: median 0.05 > 1.5 × 0.02.
    let late = Sampling::of(&every(&[0.0, 0.02, 0.07, 0.12, 0.22]), ms20);
    assert!((late.median_gap_s.unwrap() - 0.05).abs() < 1e-12);
    assert!((late.max_gap_s.unwrap() - 0.1).abs() < 1e-12);
    assert!(late.late());
    // One snapshot or none: no gap, no warning.
    let one = Sampling::of(&every(&[0.5]), ms20);
    assert_eq!((one.median_gap_s, one.max_gap_s), (None, None));
    assert!(!one.late());
}

#[test]
fn refills_are_the_migrations_into_a_node_soon_after_its_restart() {
    let ev = |t_s: f64, index: usize, kind: EventKind| Event {
        t_s,
        node: format!("n{index}"),
        index,
        kind,
    };
    let events = [
        ev(0.10, 0, EventKind::Migration { count: 7 }),
        ev(0.20, 1, EventKind::Restart { count: 1 }),
        ev(0.22, 1, EventKind::Migration { count: 100 }),
        ev(0.24, 0, EventKind::Migration { count: 5 }),
        ev(0.60, 1, EventKind::Migration { count: 50 }),
        ev(0.90, 1, EventKind::Migration { count: 3 }),
    ];
    assert_eq!(refills(&events), 150);
    assert_eq!(refills(&[]), 0);
}

#[test]
fn events_are_the_changes_between_snapshots_named_by_node() {
    let mut slow = sample(0.3, 1, 5);
    slow.nodes[0].speed = 0.25;
    let mut retired = slow.clone();
    retired.t_s = 0.4;
    retired.nodes[0].state = NodeState::Retired;
    let samples = Samples {
        names: vec!["cpu-0".into()],
        list: vec![
            sample(0.0, 0, 0),
            sample(0.1, 1, 0),
            sample(0.2, 1, 5),
            slow,
            retired,
        ],
    };
    let ev = events(&samples);
    let kinds: Vec<EventKind> = ev.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Restart { count: 1 },
            EventKind::Migration { count: 5 },
            EventKind::SpeedChange {
                from: 1.0,
                to: 0.25
            },
            EventKind::Retirement,
        ]
    );
    assert_eq!((ev[0].t_s, ev[0].node.as_str()), (0.1, "cpu-0"));
    let json = serde_json::to_value(&ev).unwrap();
    assert_eq!(
        json[2],
        serde_json::json!({"t_s": 0.3, "node": "cpu-0", "kind": "speed_change", "from": 1.0, "to": 0.25})
    );
    let json = serde_json::to_value(&samples).unwrap();
    assert_eq!(json[0]["nodes"][0]["node"], "cpu-0");
    assert_eq!(json[0]["nodes"][0]["state"], "in_service");
}

#[test]
fn node_names_are_unique_and_never_empty() {
    let node = |name: &str| {
        let mut n = NodeMetrics::default();
        n.name = name.into();
        n
    };
    let names = node_names(&[node("a"), node(""), node("b"), node("b")]);
    assert_eq!(names, ["a", "node-1", "b#2", "b#3"]);
}

#[test]
fn a_node_is_in_service_unless_down_or_retired_and_shutdown_is_not_a_state() {
    let mut n = NodeMetrics::default();
    assert_eq!(NodeState::of(&n, false), NodeState::Restarting);
    assert_eq!(NodeState::of(&n, true), NodeState::InService);
    n.available = true;
    assert_eq!(NodeState::of(&n, false), NodeState::InService);
    n.retired = true;
    assert_eq!(NodeState::of(&n, true), NodeState::Retired);
}

#[test]
fn percentiles_pick_nearest_ranks_to_a_thousandth() {
    let mut l = Latencies::default();
    for ms in (1..=100).rev() {
        l.record(Duration::from_millis(ms));
    }
    let p = l.percentiles();
    assert_eq!(p.count, 100);
    assert!((p.mean_s - 0.0505).abs() < 1e-12, "{}", p.mean_s);
    assert_eq!(p.max_s, 0.1);
    for (got, want) in [(p.p50_s, 0.050), (p.p90_s, 0.090), (p.p99_s, 0.099)] {
        assert!((got - want).abs() <= want * 1e-3, "{got} vs {want}");
    }
    assert_eq!(Latencies::default().percentiles().count, 0);
    // Odd values do not panic.
    l.record(Duration::MAX);
    l.record(Duration::ZERO);
    assert_eq!(l.percentiles().count, 102);
}

#[test]
fn a_timestamp_is_rfc_3339_utc_to_the_second() {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_476_486);
    assert_eq!(timestamp(at), "2026-12-05T13:14:46Z");
}
