//! `allot replay`: the binary on the in-repo openb trace (limited to a few
//! hundred pods so that a debug build stays fast), its JSON report, its
//! refusal of malformed trace files, and the discrete-event engine on a
//! hand-made trace whose waiting and completion times are known exactly.

use allot::policy::BestFit;
use allot::sim::replay::{PodOutcome, Replay, ReplayConfig};
use serde_json::Value;
#[path = "support/bin.rs"]
mod bin;

use bin::{allot, scratch, stderr, stdout, BIN};
use std::process::Command;

const PODS: &str = "data/openb/openb_pod_list_default.csv";
const NODES: &str = "data/openb/openb_node_list_all_node.csv";
const POLICIES: [&str; 5] = [
    "random",
    "best-fit",
    "dot-product",
    "gpu-packing",
    "fragmentation-aware",
];

/// `allot replay` on the openb trace, the report as JSON on stdout.
fn replay_json(extra: &[&str]) -> Value {
    let mut args = vec!["replay", PODS, "--nodes", NODES, "--json", "-"];
    args.extend_from_slice(extra);
    let o = allot(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).expect("stdout is JSON")
}

const POD_HEADER: &str = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time";

/// One node with one GPU, and a CPU-only node (left out by default).
const TINY_NODES: &str = "sn,cpu_milli,memory_mib,gpu,model\n\
                          gpu-node,8000,65536,1,V100M16\n\
                          cpu-node,32000,65536,0,\n";

/// Arrivals (creation − 100) and run times (deletion − scheduled):
/// a at 0 for 60 s on the whole GPU; b at 10 for 30 s on the whole GPU;
/// c at 20 for 20 s on half the GPU; d asks for 2 GPUs (no node has 2);
/// e is Pending (no scheduled_time); f at 30 for 1 s, CPU only.
fn tiny_pods() -> String {
    format!(
        "{POD_HEADER}\n\
         a,1000,1024,1,1000,,LS,Running,100,160,100\n\
         b,1000,1024,1,1000,,LS,Running,110,230,200\n\
         c,1000,1024,1,500,,LS,Succeeded,120,145,125\n\
         d,1000,1024,2,1000,,LS,Failed,130,150,130\n\
         e,1000,1024,1,1000,,BE,Pending,135,140,\n\
         f,1000,1024,0,0,,BE,Succeeded,130,131,130\n"
    )
}

/// Checks what every report must satisfy, and returns its policies.
fn consistent(report: &Value, pods: u64) -> Vec<Value> {
    let policies = report["policies"].as_array().expect("policies").clone();
    for p in &policies {
        let n = |k: &str| p[k].as_u64().unwrap_or_else(|| panic!("{k} in {p}"));
        assert_eq!(n("pods"), pods, "{p}");
        assert_eq!(
            n("placed") + n("waiting") + n("unplaceable") + n("skipped"),
            n("pods"),
            "{p}"
        );
        assert!(n("finished") <= n("placed"), "{p}");
        assert_eq!(n("skipped"), report["trace"]["skipped"].as_u64().unwrap());
        for key in ["gpu_allocation", "cpu_allocation", "peak_gpu_allocation"] {
            let a = p[key].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&a), "{key} = {a}");
        }
        for key in ["waiting_s", "completion_s"] {
            let s = &p[key];
            let v: Vec<f64> = ["p50", "p90", "p99", "max"]
                .iter()
                .map(|q| s[q].as_f64().unwrap())
                .collect();
            assert!(v.windows(2).all(|w| w[0] <= w[1]), "{key}: {s}");
            assert!(s["mean"].as_f64().unwrap() <= v[3], "{key}: {s}");
        }
        assert_eq!(p["waiting_s"]["count"].as_u64().unwrap(), n("placed"));
        assert_eq!(p["completion_s"]["count"].as_u64().unwrap(), n("finished"));
    }
    policies
}

#[test]
fn a_limited_replay_writes_a_json_report_whose_counts_add_up() {
    let report = replay_json(&["--limit", "300", "--policy", "best-fit"]);
    let policies = consistent(&report, 300);
    assert_eq!(policies.len(), 1);
    assert_eq!(policies[0]["policy"], "best-fit");
    assert!(policies[0]["placed"].as_u64().unwrap() > 0);
    assert!(policies[0]["gpu_allocation"].as_f64().unwrap() > 0.0);
    assert_eq!(report["cluster"]["nodes"], 1213, "GPU nodes only");
    assert_eq!(report["cluster"]["gpus"], 6212);
    assert_eq!(report["trace"]["pods"], 300);
    assert_eq!(report["queue"], "fifo");
    assert_eq!(policies[0]["queue"], "fifo");
}

#[test]
fn policy_all_replays_every_policy_on_the_same_trace_side_by_side() {
    let dir = scratch("all");
    let json = dir.join("r.json");
    let o = allot(&[
        "replay",
        PODS,
        "--nodes",
        NODES,
        "--policy",
        "all",
        "--limit",
        "200",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).expect("r.json is JSON");
    let names: Vec<String> = consistent(&report, 200)
        .iter()
        .map(|p| p["policy"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, POLICIES);
    let table = stdout(&o);
    for name in POLICIES {
        assert_eq!(
            table.lines().filter(|l| l.starts_with(name)).count(),
            3,
            "{name}: one row for allocation, one for counts, one for times, in:\n{table}"
        );
    }
    for column in [
        "GPU all",
        "GPU busy",
        "GPU peak",
        "CPU all",
        "frag busy",
        "unplaceable",
        "wait p99",
        "done mean",
    ] {
        assert!(table.contains(column), "{column} in:\n{table}");
    }
}

#[test]
fn every_policy_can_be_chosen_by_name_and_all_nodes_adds_the_cpu_nodes() {
    for name in POLICIES {
        let report = replay_json(&["--limit", "50", "--policy", name, "--all-nodes"]);
        let policies = consistent(&report, 50);
        assert_eq!(policies[0]["policy"], name);
        assert_eq!(report["cluster"]["nodes"], 1523);
        assert_eq!(report["cluster"]["gpu_nodes"], 1213);
    }
}

#[test]
fn the_replay_is_deterministic_under_its_seed_and_unchanged_by_pacing() {
    let strip = |mut v: Value| {
        for p in v["policies"].as_array_mut().unwrap() {
            p.as_object_mut().unwrap().remove("elapsed_s");
        }
        v["compress"] = Value::Null;
        v
    };
    let args = ["--limit", "300", "--policy", "random", "--seed", "7"];
    let a = strip(replay_json(&args));
    let b = strip(replay_json(&args));
    assert_eq!(a, b);
    // A huge compression factor takes the pacing path without waiting.
    let mut paced = args.to_vec();
    paced.extend(["--compress", "1e15"]);
    assert_eq!(strip(replay_json(&paced)), a);
}

#[test]
fn the_binary_reports_the_exact_times_of_a_tiny_trace() {
    let dir = scratch("tiny");
    std::fs::write(dir.join("nodes.csv"), TINY_NODES).unwrap();
    std::fs::write(dir.join("pods.csv"), tiny_pods()).unwrap();
    let o = Command::new(BIN)
        .args([
            "replay",
            "pods.csv",
            "--nodes",
            "nodes.csv",
            "--policy",
            "best-fit",
            "--json",
            "-",
        ])
        .current_dir(&dir)
        .env_remove("RUST_LOG")
        .output()
        .expect("the allot binary runs");
    assert!(o.status.success(), "{}", stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o)).expect("stdout is JSON");
    let p = &consistent(&report, 6)[0];
    assert_eq!(
        ["placed", "finished", "waiting", "unplaceable", "skipped"].map(|k| p[k].as_u64()),
        [4, 4, 0, 1, 1].map(Some)
    );
    assert_eq!(p["waiting_s"]["max"], 70.0);
    assert_eq!(p["completion_s"]["max"], 90.0);
    assert_eq!(p["end_s"], 130);
    assert_eq!(report["trace"]["skipped_by_reason"]["no scheduled_time"], 1);
}

#[test]
fn the_engine_gives_exact_waiting_and_completion_times_on_a_tiny_trace() {
    let replay = Replay::parse(
        "nodes.csv",
        TINY_NODES,
        "pods.csv",
        &tiny_pods(),
        &ReplayConfig::default(),
    )
    .expect("the tiny trace parses");
    assert_eq!(replay.node_names, ["gpu-node"]);
    assert_eq!(replay.trace_end, 130, "b left at 230 in the trace");
    let run = replay.run(&mut BestFit::new()).expect("best fit is valid");
    let by_name = |name: &str| {
        let i = replay.pods.iter().position(|p| p.name == name).unwrap();
        run.outcomes[i]
    };
    let done = |start, finish| PodOutcome::Finished {
        node: 0,
        start,
        finish,
    };
    // a runs at once; b waits for a to leave at 60; c (half a GPU) waits
    // for b; f needs no GPU but arrived after c, so it waits behind it
    // (head-of-line) and starts with it at 90.
    assert_eq!(by_name("a"), done(0, 60));
    assert_eq!(by_name("b"), done(60, 90));
    assert_eq!(by_name("c"), done(90, 110));
    assert_eq!(by_name("f"), done(90, 91));
    assert_eq!(by_name("d"), PodOutcome::Unplaceable);
    assert_eq!(replay.skipped.len(), 1);
    assert_eq!(replay.skipped[0].name, "e");

    let r = &run.report;
    assert_eq!(
        (
            r.pods,
            r.placed,
            r.finished,
            r.waiting,
            r.unplaceable,
            r.skipped
        ),
        (6, 4, 4, 0, 1, 1)
    );
    // Waits 0, 50, 70, 60; completions 60, 80, 90, 61.
    assert_eq!(r.waiting_s.count, 4);
    assert_eq!(r.waiting_s.mean, 45.0);
    assert_eq!((r.waiting_s.p50, r.waiting_s.max), (60.0, 70.0));
    assert_eq!(r.completion_s.mean, 72.75);
    assert_eq!(r.completion_s.max, 90.0);
    assert_eq!(r.max_queue, 3, "b, c and f");
    // The GPU is full for 90 s and half full for 20 s, out of 130 s.
    assert_eq!(r.end_s, 130);
    assert!((r.gpu_allocation - 100_000.0 / 130_000.0).abs() < 1e-12);
    assert_eq!(r.peak_gpu_allocation, 1.0);
    assert!((r.cpu_allocation - 111_000.0 / (8_000.0 * 130.0)).abs() < 1e-12);
}

#[test]
fn a_malformed_pod_list_is_refused_naming_file_line_column_and_field() {
    let dir = scratch("malformed");
    std::fs::write(dir.join("nodes.csv"), TINY_NODES).unwrap();
    std::fs::write(
        dir.join("pods.csv"),
        format!(
            "{POD_HEADER}\n\
             p0,1000,2048,1,500,,LS,Running,0,10,0\n\
             p1,1000,2048,1,x,,LS,Running,0,10,0\n"
        ),
    )
    .unwrap();
    let pods = dir.join("pods.csv").display().to_string();
    let nodes = dir.join("nodes.csv").display().to_string();
    let o = allot(&["replay", &pods, "--nodes", &nodes]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let head = format!("error: {pods}:3:16: field `gpu_milli`: `x` is not a number");
    assert!(err.starts_with(&head), "expected `{head}`, got: {err}");
    assert!(
        err.contains("3 | p1,1000,2048,1,x,"),
        "quotes the line: {err}"
    );
    assert!(stdout(&o).is_empty(), "no report");
}

#[test]
fn a_malformed_node_list_is_refused_naming_file_and_line() {
    let dir = scratch("malformed-nodes");
    std::fs::write(
        dir.join("nodes.csv"),
        "sn,cpu_milli,memory_mib,gpu,model\nn0,32000,65536,2\n",
    )
    .unwrap();
    let nodes = dir.join("nodes.csv").display().to_string();
    let o = allot(&["replay", PODS, "--nodes", &nodes]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.starts_with(&format!("error: {nodes}:2:17: 4 fields, expected 5")),
        "{err}"
    );
}

/// Runs `allot replay` on these node and pod lists (written to a scratch
/// directory) and returns the output and the two paths.
fn replay_files(name: &str, nodes: &str, pods: &str) -> (std::process::Output, String, String) {
    let dir = scratch(name);
    std::fs::write(dir.join("nodes.csv"), nodes).unwrap();
    std::fs::write(dir.join("pods.csv"), pods).unwrap();
    let pods = dir.join("pods.csv").display().to_string();
    let nodes = dir.join("nodes.csv").display().to_string();
    let o = allot(&[
        "replay", &pods, "--nodes", &nodes, "--policy", "best-fit", "--json", "-",
    ]);
    (o, nodes, pods)
}

/// Checks a refused trace: exit code 1, no panic, no report, and an
/// `error:` line starting with `head`.
fn refused_trace(o: &std::process::Output, head: &str) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.starts_with(head), "expected `{head}`, got: {err}");
    assert!(stdout(o).is_empty(), "no report");
    err
}

#[test]
fn quoted_fields_and_a_byte_order_mark_are_read_as_a_csv_reader_reads_them() {
    let nodes = format!("\u{feff}{TINY_NODES}");
    let pods = tiny_pods().replacen("\na,", "\n\"a,1\",", 1).replacen(
        ",,BE,Pending",
        ",\"V100M16|A10\",BE,Pending",
        1,
    );
    let (o, _, _) = replay_files("quoted", &nodes, &pods);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o)).expect("stdout is JSON");
    let p = &consistent(&report, 6)[0];
    assert_eq!(p["placed"], 4, "the same replay as the unquoted trace");
    assert_eq!(report["cluster"]["nodes"], 1);

    // An error after a quoted field points at the right column.
    let bad = pods.replacen("\"a,1\",1000,1024,1,1000", "\"a,1\",1000,1024,1,x", 1);
    let (o, _, pods) = replay_files("quoted-bad", &nodes, &bad);
    let err = refused_trace(
        &o,
        &format!("error: {pods}:2:19: field `gpu_milli`: `x` is not a number"),
    );
    assert!(err.contains("2 | \"a,1\",1000,1024,1,x,"), "{err}");
}

#[test]
fn an_empty_trace_file_is_refused_as_empty_not_as_missing_a_column() {
    let (o, nodes, _) = replay_files("empty", "", &tiny_pods());
    refused_trace(
        &o,
        &format!("error: {nodes}:1:1: the file is empty: expected a header row naming the columns"),
    );
}

#[test]
fn duplicate_node_names_are_refused_naming_both_lines() {
    let nodes = format!("{TINY_NODES}gpu-node,8000,65536,1,V100M16\n");
    let (o, nodes, _) = replay_files("duplicate", &nodes, &tiny_pods());
    refused_trace(
        &o,
        &format!("error: {nodes}:4:1: field `sn`: `gpu-node` is named twice: first on line 2"),
    );
}

#[test]
fn negative_and_overlong_numbers_are_refused_naming_the_value_and_the_range() {
    let pods = tiny_pods().replacen("a,1000,1024", "a,-1000,1024", 1);
    let (o, _, pods) = replay_files("negative", TINY_NODES, &pods);
    refused_trace(
        &o,
        &format!(
            "error: {pods}:2:3: field `cpu_milli`: `-1000` is out of range \
             (a whole number from 0 to 18446744073709551615)"
        ),
    );
    let nodes = TINY_NODES.replacen("1,V100M16", "99999999999999999999,V100M16", 1);
    let (o, nodes, _) = replay_files("overlong", &nodes, &tiny_pods());
    refused_trace(
        &o,
        &format!(
            "error: {nodes}:2:21: field `gpu`: `99999999999999999999` is out of range \
             (a whole number from 0 to 4294967295)"
        ),
    );
}

#[test]
fn a_pace_that_puts_the_trace_past_the_clocks_range_is_refused_before_the_run() {
    let dir = scratch("tiny-pace");
    std::fs::write(dir.join("nodes.csv"), TINY_NODES).unwrap();
    std::fs::write(dir.join("pods.csv"), tiny_pods()).unwrap();
    let pods = dir.join("pods.csv").display().to_string();
    let nodes = dir.join("nodes.csv").display().to_string();
    let o = allot(&["replay", &pods, "--nodes", &nodes, "--compress", "1e-300"]);
    refused_trace(
        &o,
        "error: --compress 1e-300: the trace's end (130 s) would be past the clock's range",
    );
}

#[test]
fn a_missing_trace_file_is_an_error_naming_it() {
    let o = allot(&["replay", "no/such/pods.csv", "--nodes", NODES]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with("error: no/such/pods.csv: cannot read the trace file"),
        "{err}"
    );
}

#[test]
fn an_unknown_policy_is_a_usage_error_listing_the_valid_ones() {
    let o = allot(&["replay", PODS, "--nodes", NODES, "--policy", "fifo"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains(
            "unknown policy `fifo` (expected one of: random, best-fit, dot-product, \
             gpu-packing, fragmentation-aware, all)"
        ),
        "{err}"
    );
}

#[test]
fn help_describes_the_replay_command_its_options_and_semantics() {
    let top = stdout(&allot(&["--help"]));
    assert!(top.contains("replay"), "{top}");
    let help = stdout(&allot(&["replay", "--help"]));
    for word in [
        "--nodes",
        "--policy",
        "--compress",
        "--limit",
        "--seed",
        "--all-nodes",
        "--drain",
        "--json",
        "head-of-line",
        "unplaceable",
        "max(1, deletion_time - scheduled_time)",
    ] {
        assert!(help.contains(word), "{word} in {help}");
    }
}

/// `allot replay` on the tiny trace with best-fit and `extra` flags, the
/// report as JSON (and the directory it ran in).
fn tiny_json(name: &str, extra: &[&str]) -> (Value, std::path::PathBuf) {
    let dir = scratch(name);
    std::fs::write(dir.join("nodes.csv"), TINY_NODES).unwrap();
    std::fs::write(dir.join("pods.csv"), tiny_pods()).unwrap();
    let mut args = vec![
        "replay",
        "pods.csv",
        "--nodes",
        "nodes.csv",
        "--policy",
        "best-fit",
        "--json",
        "-",
    ];
    args.extend_from_slice(extra);
    let o = Command::new(BIN)
        .args(&args)
        .current_dir(&dir)
        .env_remove("RUST_LOG")
        .output()
        .expect("the allot binary runs");
    assert!(o.status.success(), "{}", stderr(&o));
    let table = stderr(&o);
    let report: Value = serde_json::from_str(&stdout(&o)).expect("stdout is JSON");
    // With --json -, the table goes to stderr: it names the queue.
    let queue = report["queue"].as_str().unwrap().to_owned();
    assert!(
        table.contains(&format!("queue     {queue}")),
        "{queue}: {table}"
    );
    (report, dir)
}

#[test]
fn backfill_lets_a_small_pod_pass_a_blocked_one_and_the_report_says_which_queue() {
    // f (CPU only, at 30) waits behind b and c under FIFO until 90; with
    // backfill it starts on arrival.
    let (fifo, _) = tiny_json("fifo", &[]);
    let (backfill, _) = tiny_json("backfill", &["--queue", "backfill"]);
    assert_eq!(fifo["queue"], "fifo");
    assert_eq!(backfill["queue"], "backfill");
    let p = |r: &Value| consistent(r, 6)[0].clone();
    let (f, b) = (p(&fifo), p(&backfill));
    assert_eq!(f["placed"], b["placed"]);
    assert_eq!(f["queue"], "fifo");
    let mean = |r: &Value| r["waiting_s"]["mean"].as_f64().unwrap();
    // Waits under FIFO: a 0, b 50, c 70, f 60; under backfill f waits 0.
    assert_eq!(mean(&f), 45.0);
    assert_eq!(mean(&b), 30.0);
    let o = allot(&["replay", PODS, "--nodes", NODES, "--queue", "lifo"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("expected fifo or backfill"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn pods_that_failed_in_the_trace_are_said_and_skipped_on_request() {
    // d failed in the trace (and asks for two GPUs: unplaceable here).
    let (kept, _) = tiny_json("failed-kept", &[]);
    assert_eq!(kept["trace"]["failed_in_trace"], 1);
    assert_eq!(consistent(&kept, 6)[0]["unplaceable"], 1);
    let (skipped, _) = tiny_json("failed-skipped", &["--skip-failed"]);
    assert_eq!(skipped["skip_failed"], true);
    assert_eq!(skipped["trace"]["failed_in_trace"], 0);
    assert_eq!(
        skipped["trace"]["skipped_by_reason"]["failed in the trace"],
        1
    );
    let p = &consistent(&skipped, 6)[0];
    assert_eq!(
        (p["unplaceable"].as_u64(), p["skipped"].as_u64()),
        (Some(0), Some(2))
    );
    // The openb trace's failed pods are counted in the table.
    let o = allot(&[
        "replay", PODS, "--nodes", NODES, "--policy", "best-fit", "--limit", "300",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o)
            .contains("failed in the trace: replayed like the rest (--skip-failed skips them)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn the_report_gives_allocation_and_fragmentation_over_the_busy_window() {
    let (r, _) = tiny_json("busy", &[]);
    // Recorded (each pod from its arrival, room or not), in GPUs: 1 from
    // 0, 2 from 10, 2.5 from 20, 4.5 from 30 (the peak: d asks for 2),
    // 3 from 40, 1 from 50, none from 60: at least half the peak from 20
    // to 50.
    assert_eq!(r["trace"]["busy_window_s"], serde_json::json!([20, 50]));
    let p = &consistent(&r, 6)[0];
    let w = &p["busy_window"];
    assert_eq!(
        (w["start_s"].as_u64(), w["end_s"].as_u64()),
        (Some(20), Some(50))
    );
    // a holds the one GPU from 0 to 60.
    assert_eq!(w["gpu_allocation"], 1.0);
    for share in [
        &p["fragmentation"],
        &w["fragmentation"],
        &p["gpu_allocation"],
    ] {
        let x = share.as_f64().unwrap();
        assert!((0.0..=1.0).contains(&x), "{share}");
    }
    assert!(p["timeline"].as_array().is_some_and(|t| !t.is_empty()));
    let (fixed, _) = tiny_json("busy-fixed", &["--busy-window", "20"]);
    // The 20 s holding the most: 30 to 50 (45 + 30 GPU-seconds).
    assert_eq!(fixed["trace"]["busy_window_s"], serde_json::json!([30, 50]));
}

#[test]
fn plot_draws_allocation_fragmentation_and_queue_per_policy_as_svg() {
    let (_, dir) = tiny_json("plot", &["--plot", "replay.svg"]);
    let svg = std::fs::read_to_string(dir.join("replay.svg")).expect("plot written");
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
    for label in [
        "GPU allocated",
        "CPU allocated",
        "fragmentation",
        "queue length",
        "best-fit",
        "<polyline",
    ] {
        assert!(svg.contains(label), "no {label} in the plot");
    }
    for (plot, says) in [("-", "the plot is a file"), ("replay.png", "not .png")] {
        let o = allot(&[
            "replay", PODS, "--nodes", NODES, "--limit", "10", "--plot", plot,
        ]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(stderr(&o).contains(says), "{}", stderr(&o));
    }
}
