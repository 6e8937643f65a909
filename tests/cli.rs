//! The `allot` binary, run for real: every example workload, malformed
//! workloads (each refused with its typed message, file, line and field, a
//! non-zero exit and no panic), the JSON report and SVG plot, `allot bench`,
//! the log formats, and cluster mode (`allot worker`, `allot run --nats`,
//! on a nats-server of the test's own when one is installed).

use std::path::{Path, PathBuf};
#[path = "support/bin.rs"]
mod bin;
#[path = "support/nats.rs"]
#[allow(dead_code, unreachable_pub)]
mod nats;

use allot::cluster::ClusterConfig;
use allot::{AttemptFailure, Runtime, Task};
use bin::{allot, allot_in, scratch, stderr, stdout, BIN, ROOT};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn workload(name: &str) -> String {
    Path::new(ROOT)
        .join("examples/workloads")
        .join(name)
        .display()
        .to_string()
}

/// Runs a malformed workload and checks the refusal: exit code 1, no panic,
/// and an `error:` line naming the file, `line:column` and the field, with
/// `message` in it.
fn refused(file: &str, line_col: &str, field: &str, message: &str) -> String {
    let path = format!("tests/data/cli/{file}");
    let o = allot(&["run", &path]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "exit status for {file}: {err}");
    assert!(!err.contains("panicked"), "{file} panicked: {err}");
    let head = format!("error: {path}:{line_col}: field `{field}`: ");
    assert!(
        err.starts_with(&head),
        "{file}: expected `{head}`, got: {err}"
    );
    assert!(
        err.contains(message),
        "{file}: expected `{message}` in: {err}"
    );
    assert!(stdout(&o).is_empty(), "{file}: no report on stdout");
    err
}

#[test]
fn every_example_workload_runs_to_a_reconciled_ledger_without_panicking() {
    let dir = scratch("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("examples/workloads"))
        .expect("examples/workloads exists")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for required in [
        "mixed.toml",
        "chaos.toml",
        "hetero_gpu.toml",
        "edf_inference.toml",
    ] {
        assert!(names.iter().any(|n| n == required), "missing {required}");
    }
    for file in &files {
        let json = dir.join("report.json");
        let o = allot(&[
            "run",
            &file.display().to_string(),
            "--json",
            &json.display().to_string(),
        ]);
        let err = stderr(&o);
        assert!(o.status.success(), "{}: {err}", file.display());
        // A Rust panic's report, not a node that went down with
        // `reason=panicked` (chaos.toml panics an actor on purpose).
        assert!(!err.contains("panicked at"), "{}: {err}", file.display());
        let table = stdout(&o);
        for heading in ["node", "latency", "kind", "totals", "ledger ok"] {
            assert!(table.contains(heading), "{}: {table}", file.display());
        }
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).expect("report written"))
                .expect("the report is JSON");
        let totals = &report["metrics"]["totals"];
        let submitted = totals["submitted"].as_u64().unwrap();
        let ended = ["completed", "failed", "cancelled"]
            .iter()
            .map(|k| totals[k].as_u64().unwrap())
            .sum::<u64>();
        assert_eq!(submitted, ended, "{}: {totals}", file.display());
        assert_eq!(report["unaccounted"], 0);
        let refused: u64 = report["kinds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["refused"].as_u64().unwrap())
            .sum();
        assert_eq!(
            submitted + refused,
            report["workload"]["tasks"]["count"].as_u64().unwrap(),
            "{}: every planned task was submitted or refused",
            file.display()
        );
    }
}

#[test]
fn a_run_writes_a_json_report_and_an_svg_plot_with_plotted_data() {
    let dir = scratch("report");
    let o = allot_in(
        &dir,
        &[
            "run",
            &workload("mixed.toml"),
            "--json",
            "r.json",
            "--plot",
            "p.svg",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r.json")).unwrap())
            .expect("r.json is JSON");
    assert_eq!(report["workload"]["name"], "mixed");
    assert_eq!(report["config"]["nodes"].as_array().unwrap().len(), 4);
    assert_eq!(report["config"]["nodes"][3]["name"], "cpu-3");
    let nodes = report["metrics"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 4);
    let per_node: u64 = nodes.iter().map(|n| n["completed"].as_u64().unwrap()).sum();
    assert_eq!(
        per_node,
        report["metrics"]["totals"]["completed"].as_u64().unwrap()
    );
    assert!(report["metrics"]["latency"]["p99_s"].as_f64().unwrap() > 0.0);
    assert_eq!(report["kinds"].as_array().unwrap().len(), 4);
    let samples = report["samples"].as_array().unwrap();
    assert!(samples.len() >= 2, "at least a first and a final sample");
    assert!(samples
        .iter()
        .all(|s| s["nodes"].as_array().unwrap().len() == 4));

    let svg = std::fs::read_to_string(dir.join("p.svg")).expect("p.svg written");
    let doc = roxmltree::Document::parse(&svg).expect("p.svg is XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    // One line per node in each of the two panels, with real points.
    let lines: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .filter(|n| {
            n.attribute("points")
                .is_some_and(|p| p.split(' ').count() >= 2)
        })
        .collect();
    assert!(lines.len() >= 8, "{} plotted lines", lines.len());
    let labels: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .collect();
    assert!(
        labels.iter().any(|t| t.contains("cpu-0")),
        "a legend names the nodes"
    );
    assert!(labels.iter().any(|t| t.contains("queue depth")));
}

/// Every field path of `v` under `path` (`metrics.nodes[].name`), leaves
/// only; the echoed input (`config`, `workload.tasks`) and the failure
/// reasons (`failures.<reason>`) are documented as wholes.
fn field_paths(v: &serde_json::Value, path: &str, out: &mut std::collections::BTreeSet<String>) {
    if ["config", "workload.tasks", "failures", "cluster"].contains(&path) {
        out.insert(path.to_owned());
        return;
    }
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                field_paths(x, &p, out);
            }
        }
        serde_json::Value::Array(a) => {
            let p = format!("{path}[]");
            for x in a {
                field_paths(x, &p, out);
            }
            if a.is_empty() {
                out.insert(path.to_owned());
            }
        }
        _ => {
            out.insert(path.to_owned());
        }
    }
}

/// Every key anywhere in `v`, with its value.
fn keys<'a>(v: &'a serde_json::Value, out: &mut Vec<(&'a str, &'a serde_json::Value)>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                out.push((k, x));
                keys(x, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| keys(x, out)),
        _ => {}
    }
}

#[test]
fn the_json_report_is_versioned_in_seconds_names_nodes_and_holds_only_documented_fields() {
    let dir = scratch("schema");
    let o = allot_in(
        &dir,
        &[
            "run",
            &workload("chaos.toml"),
            "--tasks",
            "1500",
            "--sample-ms",
            "5",
            "--json",
            "r.json",
            "--quiet",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(dir.join("r.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&text).expect("r.json is JSON");

    // Version, time, machine.
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["allot_version"], env!("CARGO_PKG_VERSION"));
    let at = report["started_at"].as_str().unwrap();
    let shape: String = at
        .chars()
        .map(|c| if c.is_ascii_digit() { '9' } else { c })
        .collect();
    assert_eq!(shape, "9999-99-99T99:99:99Z", "{at}");
    assert!(report["machine"]["cores"].as_u64().unwrap() >= 1);
    assert_eq!(report["machine"]["os"], std::env::consts::OS);
    assert_eq!(report["machine"]["arch"], std::env::consts::ARCH);

    // One unit: seconds, named `_s`; nothing in ms or µs.
    let mut all = Vec::new();
    keys(&report, &mut all);
    for (k, v) in &all {
        assert!(
            !k.ends_with("_ms") && !k.ends_with("_us"),
            "`{k}` is not in seconds"
        );
        if k.ends_with("_s") {
            assert!(v.is_number() || v.is_null(), "`{k}`: {v}");
        }
    }

    // Nodes by name everywhere, in one order; states the table's.
    let names: Vec<&str> = report["metrics"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["worker-0", "worker-1", "worker-2", "worker-3", "worker-4"]
    );
    let samples = report["samples"].as_array().unwrap();
    for s in samples {
        let in_sample: Vec<&str> = s["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["node"].as_str().unwrap())
            .collect();
        assert_eq!(in_sample, names);
        for n in s["nodes"].as_array().unwrap() {
            let state = n["state"].as_str().unwrap();
            assert!(
                ["in_service", "restarting", "retired"].contains(&state),
                "{state}"
            );
        }
    }
    let last = samples.last().unwrap()["nodes"].as_array().unwrap();
    for (n, s) in report["metrics"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .zip(last)
    {
        assert_eq!(
            n["state"], s["state"],
            "the last sample ends as the table does"
        );
        assert!(["in_service", "retired"].contains(&n["state"].as_str().unwrap()));
    }
    // The sampling line agrees with the snapshots: every one but the
    // last (after the shutdown) counted.
    let sampling = &report["sampling"];
    assert_eq!(sampling["interval_s"].as_f64(), Some(0.005));
    assert_eq!(
        sampling["taken"].as_u64(),
        Some(samples.len() as u64 - 1),
        "{sampling}"
    );
    let times: Vec<f64> = samples[..samples.len() - 1]
        .iter()
        .map(|s| s["t_s"].as_f64().unwrap())
        .collect();
    let mut gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_by(f64::total_cmp);
    let close = |field: &str, want: f64| {
        let got = sampling[field].as_f64().unwrap();
        assert!((got - want).abs() < 1e-9, "{field}: {got} against {want}");
    };
    close("max_gap_s", *gaps.last().unwrap());
    close("median_gap_s", gaps[gaps.len() / 2]);
    let events = report["events"].as_array().unwrap();
    assert!(events
        .iter()
        .all(|e| names.contains(&e["node"].as_str().unwrap())));
    // The plan crashes worker-1 at its 150th task: a restart is seen.
    assert!(
        events.iter().any(|e| e["kind"] == "restart"
            && e["node"] == "worker-1"
            && e["count"].as_u64() >= Some(1)),
        "{events:?}"
    );

    // Labelled buckets that tile the latencies and add up to the count.
    let latency = &report["metrics"]["latency"];
    let buckets = latency["buckets"].as_array().unwrap();
    let mut next = 0.0;
    let mut total = 0;
    for b in buckets {
        let (from, to) = (b["from_s"].as_f64().unwrap(), b["to_s"].as_f64().unwrap());
        assert!((from - next).abs() < 1e-9 && to >= from, "{b}");
        next = to + 1e-6;
        total += b["count"].as_u64().unwrap();
    }
    assert_eq!(total, latency["count"].as_u64().unwrap());
    assert!(latency["max_s"].as_f64().unwrap() <= next);

    // Every field is documented.
    let doc = std::fs::read_to_string(Path::new(ROOT).join("docs/report-schema.md")).unwrap();
    let mut paths = std::collections::BTreeSet::new();
    field_paths(&report, "", &mut paths);
    let missing: Vec<&String> = paths
        .iter()
        .filter(|p| !doc.contains(&format!("`{p}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "not in docs/report-schema.md: {missing:?}"
    );
}

#[test]
fn a_json_workload_runs_like_a_toml_one() {
    // Two explicit nodes, a custom kind, a small queue (backpressure).
    let o = allot(&["run", "tests/data/cli/small.json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = stdout(&o);
    assert!(table.contains("small-json"), "{table}");
    assert!(table.contains("submitted 200 · completed 200"), "{table}");
}

#[test]
fn run_with_a_dashboard_serves_it_while_the_run_lasts() {
    let o = allot(&[
        "run",
        "tests/data/cli/small.json",
        "--dashboard",
        "127.0.0.1:0",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("dashboard: http://127.0.0.1:"),
        "{}",
        stderr(&o)
    );
    let o = allot(&["run", "tests/data/cli/small.json", "--dashboard", "nowhere"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--dashboard"), "{}", stderr(&o));

    // A token from a file (not the command line, which `ps` shows).
    let dir = scratch("dashboard-token");
    std::fs::write(dir.join("token"), "s3cret\n").unwrap();
    std::fs::write(dir.join("empty"), "\n").unwrap();
    let small = Path::new(ROOT).join("tests/data/cli/small.json");
    let small = small.to_str().unwrap();
    let with = |file: &str| {
        allot_in(
            &dir,
            &[
                "run",
                small,
                "--dashboard",
                "127.0.0.1:0",
                "--dashboard-token-file",
                file,
                "--quiet",
            ],
        )
    };
    let o = with("token");
    assert!(o.status.success(), "{}", stderr(&o));
    for (file, says) in [("empty", "holds no token"), ("missing", "cannot read")] {
        let o = with(file);
        assert_eq!(o.status.code(), Some(1), "{file}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("--dashboard-token-file") && err.contains(says),
            "{file}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    // Only with a dashboard.
    let o = allot(&["run", small, "--dashboard-token-file", "token"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn json_to_stdout_leaves_the_table_to_stderr() {
    let o = allot(&[
        "run",
        &workload("mixed.toml"),
        "--tasks",
        "100",
        "--json",
        "-",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("stdout is JSON");
    assert_eq!(report["metrics"]["totals"]["submitted"], 100);
    assert!(stderr(&o).contains("totals"));
}

#[test]
fn a_wrong_type_is_refused_naming_file_line_column_and_field() {
    refused(
        "wrong_type.toml",
        "6:9",
        "tasks.count",
        "invalid type: string \"many\", expected u64",
    );
    refused(
        "wrong_type.json",
        "2:60",
        "runtime.balancer.enabled",
        "invalid type: string \"yes\", expected a boolean",
    );
}

#[test]
fn an_unknown_field_is_refused_listing_the_known_ones() {
    let err = refused(
        "unknown_field.toml",
        "3:1",
        "runtime.polcy",
        "unknown field `polcy`, expected one of",
    );
    assert!(err.contains("`policy`"), "{err}");
    refused(
        "unknown_field.json",
        "4:46",
        "tasks.kinds[0].weigth",
        "unknown field `weigth`",
    );
}

#[test]
fn a_negative_cost_is_refused_by_the_runtime_as_an_invalid_task() {
    // The uniform distribution of the second kind starts below zero.
    let err = refused(
        "negative_cost.toml",
        "11:8",
        "tasks.kinds[1].cost",
        "task is invalid: invalid `cost`: must be finite and >= 0, got -0.5",
    );
    // The offending line is quoted under the message.
    assert!(
        err.contains("11 | cost = { dist = \"uniform\", min = -0.5"),
        "{err}"
    );
}

#[test]
fn a_nan_cost_is_refused_by_the_runtime_as_an_invalid_task() {
    refused(
        "nan_cost.toml",
        "7:8",
        "tasks.kinds[0].cost",
        "task is invalid: invalid `cost`: must be finite and >= 0, got NaN",
    );
}

#[test]
fn zero_nodes_are_refused_by_the_runtime_as_an_invalid_config() {
    refused(
        "zero_nodes.toml",
        "3:9",
        "nodes.count",
        "invalid `nodes`: at least one node is required",
    );
}

#[test]
fn a_task_count_beyond_two_to_the_53_is_refused_naming_the_field_and_the_range() {
    for (file, at) in [
        ("huge_task_count.toml", "4:9"),
        ("huge_task_count.json", "3:33"),
    ] {
        let err = refused(
            file,
            at,
            "tasks.count",
            "must be from 1 to 9007199254740992 (2^53), got 18446744073709551615",
        );
        assert!(!err.contains("backtrace"), "{err}");
    }
    let o = allot(&[
        "run",
        &workload("mixed.toml"),
        "--tasks",
        "9007199254740993",
    ]);
    assert_eq!(o.status.code(), Some(2), "a usage error: {}", stderr(&o));
    assert!(stderr(&o).contains("9007199254740993"), "{}", stderr(&o));
}

#[test]
fn nodes_needing_more_threads_than_the_machine_allows_are_refused_before_any_starts() {
    let err = refused(
        "too_many_nodes.toml",
        "4:9",
        "nodes.count",
        "the nodes need 200016 threads (one per slot and one per node, plus 16 for the \
         runtime), but this machine allows a run ",
    );
    assert!(!err.contains("fatal runtime error"), "{err}");
    let err = refused(
        "too_many_slots.toml",
        "2:1",
        "nodes",
        "the nodes need 18446744073709551632 threads",
    );
    assert!(err.contains("use fewer nodes or slots"), "{err}");
}

#[test]
fn numbers_past_their_documented_range_are_refused_naming_the_field_and_the_range() {
    refused(
        "extreme_speed.toml",
        "5:9",
        "nodes[0].speed",
        "must be from 0.001 to 1000, got 1e300",
    );
    refused(
        "extreme_jitter.toml",
        "3:18",
        "runtime.supervision.backoff_jitter",
        "must be from 0 to 100, got 1e300",
    );
    refused(
        "extreme_slow_factor.toml",
        "4:56",
        "runtime.fault_plan.faults[0].factor",
        "must be from 0.001 to 1000, got 1e-9",
    );
    refused(
        "extreme_durations.json",
        "3:37",
        "runtime.supervision.backoff_min",
        "must be at most 1e9 seconds, got 1000000000000000.0",
    );
}

#[test]
fn a_bad_setting_of_one_listed_node_is_refused_at_that_node() {
    refused(
        "zero_speed_node.toml",
        "8:9",
        "nodes[1].speed",
        "invalid `nodes[1].speed`: must be finite and > 0, got 0",
    );
}

#[test]
fn an_infeasible_demand_is_refused_by_the_runtime_naming_the_resource() {
    refused(
        "infeasible_demand.toml",
        "14:42",
        "tasks.kinds[1].demand.gpu_milli",
        "task is infeasible: demand gpu_milli=4000 exceeds every node (largest offers 0)",
    );
}

#[test]
fn a_missing_workload_file_is_an_error_naming_it() {
    let o = allot(&["run", "tests/data/cli/no_such_file.toml"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with("error: tests/data/cli/no_such_file.toml: cannot read the workload file"),
        "{err}"
    );
}

#[test]
fn an_output_in_a_missing_directory_is_refused_before_the_run() {
    let o = allot(&[
        "run",
        &workload("mixed.toml"),
        "--plot",
        "no/such/dir/p.svg",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).is_empty(), "nothing ran");
    assert!(
        stderr(&o)
            .starts_with("error: cannot write no/such/dir/p.svg: no/such/dir is not a directory"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bad_command_line_arguments_are_usage_errors() {
    let o = allot(&["run", &workload("mixed.toml"), "--policy", "no-such-policy"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("unknown policy `no-such-policy`"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let o = allot(&["bench", "--messages", "0"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn bench_sizes_past_the_machine_or_their_caps_are_refused_before_anything_starts() {
    let o = allot(&["bench", "--nodes", "1000000"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("error: --nodes 1000000: the nodes need 6000016 threads"),
        "{err}"
    );
    assert!(err.contains("but this machine allows a run"), "{err}");
    for (flag, value) in [
        ("--messages", "18446744073709551615"),
        ("--requests", "100000001"),
        ("--batch", "65537"),
        ("--runs", "0"),
        ("--busy", "65"),
    ] {
        let o = allot(&["bench", flag, value]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{flag} {value}: {err}");
        assert!(err.contains("expected a whole number from"), "{err}");
        assert!(err.contains(value), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn bench_prints_rates_and_ratios_against_every_baseline_as_json() {
    let o = allot(&[
        "bench",
        "--messages",
        "2000",
        "--runs",
        "1",
        "--requests",
        "20",
        "--busy",
        "1",
        "--idle-ms",
        "100",
        "--json",
        "-",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let b: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("stdout is JSON");
    assert_eq!(b["busy_processes"], 1);
    // Round trips under a flood: allot urgent and normal, actix, tokio.
    for key in ["p50_s", "p99_s"] {
        let cases = b["under_load"][key].as_object().unwrap();
        assert_eq!(cases.len(), 4, "{cases:?}");
        assert!(cases.keys().any(|k| k.contains("urgent")), "{cases:?}");
        assert!(cases.values().all(|v| v["median"].as_f64().unwrap() > 0.0));
    }
    // Idle and trickle: CPU per second of wall time, an idle runtime
    // costing something but far less than a core, the trickles more than
    // the floor of the process without an allot runtime.
    assert_eq!(b["idle"]["window_s"], 0.1);
    let idle = b["idle"]["cpu_s_per_s"].as_object().unwrap();
    assert_eq!(idle.len(), 5, "{idle:?}");
    let cpu = |prefix: &str| {
        idle.iter()
            .find(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v["median"].as_f64().unwrap())
            .unwrap_or_else(|| panic!("no {prefix} in {idle:?}"))
    };
    assert!((0.0..1.0).contains(&cpu("allot runtime, 4 nodes, idle")));
    assert!(cpu("allot, one task") > 0.0 && cpu("allot, one task") < 2.0);
    assert!(stderr(&o).contains("1 spinning process"), "{}", stderr(&o));
    for (section, key) in [
        ("mailbox", "rates_per_s"),
        ("end_to_end", "rates_per_s"),
        ("mailbox", "cpu_s_per_million"),
        ("end_to_end", "cpu_s_per_million"),
        ("request_response", "p50_s"),
        ("request_response", "p99_s"),
    ] {
        let cases = b[section][key].as_object().unwrap();
        for baseline in ["allot", "actix", "crossbeam", "tokio", "rayon"] {
            assert!(
                cases.keys().any(|k| k.contains(baseline)),
                "{section}.{key} lacks {baseline}"
            );
        }
        assert!(cases
            .values()
            .all(|v| v["median"].as_f64().unwrap() > 0.0
                && v["rounds"].as_array().unwrap().len() == 1));
    }
    for ratio in [
        "mailbox_vs_actix",
        "e2e_vs_tokio_spawn",
        "e2e_vs_rayon",
        "e2e_single_vs_tokio_spawn",
        "rr_p50_vs_crossbeam",
        "rr_p99_vs_crossbeam",
        "mailbox_cpu_vs_actix",
        "e2e_single_cpu_vs_actix",
        "loaded_p99_urgent_vs_actix",
        "loaded_p99_normal_vs_tokio_spawn",
    ] {
        assert!(
            b["ratios"][ratio]["median"].as_f64().unwrap() > 0.0,
            "{ratio}"
        );
        assert!(
            b["ratios"][ratio]["divides"]
                .as_str()
                .unwrap()
                .contains(" ÷ "),
            "{ratio}"
        );
    }
    // The table goes to stderr when stdout carries the JSON.
    assert!(stderr(&o).contains("request/response"), "{}", stderr(&o));
    assert!(stderr(&o).contains("under load"), "{}", stderr(&o));
    assert!(stderr(&o).contains("idle and trickle"), "{}", stderr(&o));
}

#[test]
fn bench_with_a_json_file_still_prints_its_table_with_spreads_and_what_each_ratio_divides() {
    let dir = scratch("bench-json");
    let o = allot_in(
        &dir,
        &[
            "bench",
            "--messages",
            "2000",
            "--runs",
            "3",
            "--requests",
            "20",
            "--json",
            "b.json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let table = stdout(&o);
    for text in [
        "median of 3 rounds after a warm-up, with min–max",
        "ratio = allot mailbox (batched) ÷ this row",
        "ratio = allot submit_batch + wait ÷ this row",
        "(reference)",
        "min–max",
        "rr_p99_vs_tokio_spawn",
        "allot submit + wait p99 ÷ tokio::spawn + await p99",
        "allot mailbox (batched) ÷ actix do_send",
    ] {
        assert!(table.contains(text), "`{text}` not in:\n{table}");
    }
    let b: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("b.json")).unwrap()).unwrap();
    let f = &b["end_to_end"]["rates_per_s"]["tokio::spawn + await"];
    let (min, median, max) = (
        f["min"].as_f64().unwrap(),
        f["median"].as_f64().unwrap(),
        f["max"].as_f64().unwrap(),
    );
    assert!(min <= median && median <= max, "{f}");
    assert_eq!(f["rounds"].as_array().unwrap().len(), 3);
}

#[test]
fn logs_are_json_lines_on_stderr_filtered_by_rust_log() {
    let o = Command::new(BIN)
        .args([
            "--log-format",
            "json",
            "run",
            &workload("mixed.toml"),
            "--tasks",
            "50",
            "--quiet",
        ])
        .env("RUST_LOG", "allot=info")
        .output()
        .expect("the allot binary runs");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).is_empty(), "--quiet prints no table");
    let lines: Vec<serde_json::Value> = stderr(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["level"] == "INFO" && l["fields"]["message"] == "runtime.start"),
        "{lines:?}"
    );
    // The default filter is allot=warn: a healthy run logs nothing.
    let o = allot(&["run", &workload("mixed.toml"), "--tasks", "50", "--quiet"]);
    assert!(o.status.success());
    assert_eq!(stderr(&o), "");
}

#[test]
fn log_fields_are_words_and_seconds_not_rust_debug_output() {
    // One node, crashed at its 10th task and hung for 0.05 s at its 20th.
    let o = Command::new(BIN)
        .args(["run", "tests/data/cli/logged_faults.toml", "--quiet"])
        .current_dir(ROOT)
        .env("RUST_LOG", "allot=debug")
        .output()
        .expect("the allot binary runs");
    assert!(o.status.success(), "{}", stderr(&o));
    let log = stderr(&o);
    assert!(
        log.lines()
            .any(|l| l.contains("node.down") && l.contains("reason=crashed")),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("fault.hang") && l.contains("duration_s=0.05")),
        "{log}"
    );
    for debug in [
        "Some(", "None", "Crashed", "ms,", "ms)", "NodeId(", "TaskId(",
    ] {
        let line = log.lines().find(|l| l.contains(debug));
        assert!(line.is_none(), "`{debug}` in a log line: {line:?}");
    }
}

#[test]
fn help_describes_every_command_and_option() {
    let top = stdout(&allot(&["--help"]));
    for word in ["run", "bench", "--log-format", "RUST_LOG"] {
        assert!(top.contains(word), "{word} in {top}");
    }
    let run = stdout(&allot(&["run", "--help"]));
    for option in [
        "--json",
        "--plot",
        "--seed",
        "--tasks",
        "--policy",
        "--discipline",
        "--no-progress",
    ] {
        assert!(run.contains(option), "{option} in {run}");
    }
    let bench = stdout(&allot(&["bench", "--help"]));
    for option in [
        "--messages",
        "--nodes",
        "--batch",
        "--runs",
        "--requests",
        "--json",
    ] {
        assert!(bench.contains(option), "{option} in {bench}");
    }
}

// ---------------------------------------------------------------------------
// Cluster mode: `allot worker` and `allot run --nats`.

/// The built-in named task kinds, the very code the binary serves: the
/// file depends only on allot's public API, serde and std.
#[allow(dead_code)]
#[path = "../src/bin/allot/kinds.rs"]
mod kinds;

/// Runs `allot worker` with `args` and checks a refusal: exit code `code`,
/// no panic, and an `error:` line starting with `head`.
fn worker_refused(args: &[&str], code: i32, head: &str) -> String {
    let mut all = vec!["worker"];
    all.extend_from_slice(args);
    let o = allot(&all);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    assert!(
        err.starts_with(head),
        "{args:?}: expected `{head}`, got: {err}"
    );
    err
}

#[test]
fn a_worker_with_a_bad_url_name_or_slot_count_is_refused_naming_the_flag() {
    worker_refused(
        &["--nats", "http://127.0.0.1:4222", "--name", "w1"],
        1,
        "error: --nats: \"http://127.0.0.1:4222\" is not a NATS URL",
    );
    // The name is checked before any connection is tried.
    worker_refused(
        &["--nats", "nats://127.0.0.1:1", "--name", "no.dots"],
        1,
        "error: --name: worker name \"no.dots\": only ASCII letters, digits, - and _",
    );
    worker_refused(
        &[
            "--nats",
            "nats://127.0.0.1:1",
            "--name",
            "w1",
            "--prefix",
            "a b",
        ],
        1,
        "error: --prefix: ",
    );
    let err = worker_refused(
        &[
            "--nats",
            "nats://127.0.0.1:1",
            "--name",
            "w1",
            "--slots",
            "0",
        ],
        2,
        "error: invalid value '0' for '--slots",
    );
    assert!(
        err.contains("expected a whole number from 1 to 4096"),
        "{err}"
    );
    let err = worker_refused(&["--name", "w1"], 2, "error: ");
    assert!(err.contains("--nats <URL>"), "{err}");
}

#[test]
fn a_worker_that_cannot_reach_nats_says_so_in_one_line_and_exits_non_zero() {
    let started = Instant::now();
    let err = worker_refused(
        &["--nats", "nats://127.0.0.1:1", "--name", "w1"],
        1,
        "error: cannot connect to NATS at nats://127.0.0.1:1: ",
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        started.elapsed() < CONNECT_TIMEOUT,
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_run_against_an_unreachable_nats_fails_cleanly_within_the_connect_timeout() {
    let started = Instant::now();
    let o = allot(&[
        "run",
        &workload("mixed.toml"),
        "--nats",
        "nats://127.0.0.1:1",
    ]);
    let took = started.elapsed();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(stdout(&o).is_empty(), "no report: {}", stdout(&o));
    // The workload's own nodes are ignored, with a note.
    assert!(
        err.contains("the workload's nodes are ignored with --nats"),
        "{err}"
    );
    let last = err.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: cannot connect to NATS at nats://127.0.0.1:1: "),
        "{err}"
    );
    assert!(took < CONNECT_TIMEOUT, "{took:?}");
    // Cluster flags need --nats.
    let o = allot(&["run", &workload("mixed.toml"), "--workers", "2"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// `ClusterConfig::DEFAULT_CONNECT_TIMEOUT`, which nothing here changes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An `allot worker` process, its stderr lines read as they come.
struct WorkerProcess {
    /// `None` once stopped.
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
}

impl WorkerProcess {
    /// Starts `allot worker --name NAME` on `url` and waits (30 s at most)
    /// for the line saying it serves.
    fn start(url: &str, name: &str, prefix: &str) -> WorkerProcess {
        let mut child = Command::new(BIN)
            .args(["worker", "--nats", url, "--name", name, "--prefix", prefix])
            .args(["--slots", "2", "--cpu", "8000"])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("allot worker starts");
        let err = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut w = WorkerProcess {
            child: Some(child),
            lines,
        };
        let serving = w.line_with(": serving ");
        assert_eq!(
            serving,
            format!("allot worker {name}: serving 1 node(s) on {url}")
        );
        w
    }

    /// The next stderr line containing `text` (30 s at most).
    fn line_with(&mut self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(e) => {
                    if let Some(c) = &mut self.child {
                        let _ = c.kill();
                    }
                    panic!("no `{text}` line from the worker: {e}");
                }
            }
        }
    }

    /// SIGTERM (through `kill`): the worker leaves cleanly, prints its
    /// summary and exits 0. Returns the summary line.
    fn stop(mut self) -> String {
        let mut child = self.child.take().expect("a worker is stopped once");
        let pid = child.id().to_string();
        let sent = Command::new("kill").arg(&pid).status().expect("kill runs");
        assert!(sent.success(), "kill {pid}");
        let summary = self.line_with(": left · ");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let status = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the worker exits within 30 s of SIGTERM")
            .expect("wait on the worker");
        assert!(status.success(), "worker exit status {status}: {summary}");
        summary
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        // Only when a test failed before stopping it.
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A count in a worker's summary line (`… replied 12 · …`).
fn count_in(summary: &str, what: &str) -> u64 {
    summary
        .split(" · ")
        .find_map(|part| part.strip_prefix(what)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `{what}` in {summary}"))
}

/// Runs the binary with a deadline (a cluster run that hangs fails).
fn allot_within(args: &[&str], limit: Duration) -> std::process::Output {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(ROOT)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the allot binary runs");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    std::thread::spawn(move || {
        let mut o = Vec::new();
        let _ = out.read_to_end(&mut o);
        let _ = tx.send(o);
    });
    let mut e = Vec::new();
    let reader = std::thread::spawn(move || {
        let _ = err.read_to_end(&mut e);
        e
    });
    let stdout = rx.recv_timeout(limit).unwrap_or_else(|_| {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        panic!("allot {args:?} did not finish in {limit:?}")
    });
    let status = child.wait().expect("wait on allot");
    std::process::Output {
        status,
        stdout,
        stderr: reader.join().expect("stderr reader"),
    }
}

#[test]
fn a_workload_runs_on_two_worker_processes_to_a_reconciled_ledger() {
    let Some(nats) = nats::NatsServer::start() else {
        return;
    };
    let prefix = format!("allot-cli-{}", std::process::id());
    let w1 = WorkerProcess::start(&nats.url(), "w1", &prefix);
    let w2 = WorkerProcess::start(&nats.url(), "w2", &prefix);
    let o = allot_within(
        &[
            "run",
            "tests/data/cli/cluster.toml",
            "--nats",
            &nats.url(),
            "--workers",
            "2",
            "--prefix",
            &prefix,
            "--json",
            "-",
            "--dashboard",
            "127.0.0.1:0",
        ],
        Duration::from_secs(120),
    );
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // The dashboard serves a cluster run as it does a local one.
    assert!(err.contains("dashboard: http://127.0.0.1:"), "{err}");
    assert!(err.contains("the workload's nodes are ignored"), "{err}");
    assert!(err.contains("ledger ok"), "the table goes to stderr: {err}");
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("stdout is JSON");

    // Every task ended, once.
    let totals = &report["metrics"]["totals"];
    let n = |v: &serde_json::Value| v.as_u64().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(n(&totals["submitted"]), 300, "{totals}");
    let ended = n(&totals["completed"]) + n(&totals["failed"]) + n(&totals["cancelled"]);
    assert_eq!(ended, 300, "{totals}");
    assert_eq!(report["unaccounted"], 0);
    // The seeded errors of `flaky-eval` came back from the workers as the
    // tasks' own errors; nothing else failed.
    let failures = report["failures"].as_object().unwrap();
    assert_eq!(
        failures.keys().collect::<Vec<_>>(),
        ["task error"],
        "{failures:?}"
    );
    assert_eq!(n(&failures["task error"]), n(&totals["failed"]));
    assert!(n(&totals["failed"]) > 0, "{totals}");
    let kinds = report["kinds"].as_array().unwrap();
    assert_eq!(
        n(&kinds[0]["failed"]),
        0,
        "inference never fails: {kinds:?}"
    );
    assert!(kinds.iter().all(|k| n(&k["refused"]) == 0), "{kinds:?}");

    // The per-node rows are the workers' nodes, and add up.
    let nodes = report["metrics"]["nodes"].as_array().unwrap();
    let names: Vec<&str> = nodes.iter().map(|m| m["name"].as_str().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["w1/0", "w2/0"], "{names:?}");
    let config_nodes = report["config"]["nodes"].as_array().unwrap();
    assert_eq!(
        config_nodes.len(),
        2,
        "the workers' nodes, not the workload's 3"
    );
    assert_eq!(config_nodes[0]["slots"], 2);
    let per_node: u64 = nodes.iter().map(|m| n(&m["completed"])).sum();
    assert_eq!(per_node, n(&totals["completed"]));
    assert_eq!(report["cluster"]["workers"], 2);
    assert_eq!(report["cluster"]["subject_prefix"], prefix.as_str());
    // The wire's figures, every field documented, durations in seconds.
    let wire = &report["metrics"]["wire"];
    assert!(n(&wire["delivered"]) >= n(&totals["completed"]), "{wire}");
    let workers = wire["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2, "{wire}");
    assert!(workers.iter().all(|w| w["silent_for_s"].is_f64()), "{wire}");
    let doc = std::fs::read_to_string(Path::new(ROOT).join("docs/report-schema.md")).unwrap();
    let mut paths = std::collections::BTreeSet::new();
    field_paths(&report, "", &mut paths);
    let missing: Vec<&String> = paths
        .iter()
        .filter(|p| !doc.contains(&format!("`{p}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "not in docs/report-schema.md: {missing:?}"
    );

    every_builtin_kind_runs_on_the_workers(&nats.url(), &prefix);

    // The workers leave cleanly on SIGTERM, having answered every attempt.
    let replied = count_in(&w1.stop(), "replied") + count_in(&w2.stop(), "replied");
    assert!(replied >= ended, "replied {replied} of {ended}");
    drop(nats);
}

/// Every built-in kind, across the wire, from a coordinator of the test's
/// own (built from the same `kinds.rs` as the workers).
fn every_builtin_kind_runs_on_the_workers(url: &str, prefix: &str) {
    let (_, b) = kinds::builtins();
    let rt = Runtime::builder()
        .nodes(Vec::new())
        .cluster(
            ClusterConfig::new(url)
                .workers(2)
                .subject_prefix(prefix.to_owned()),
        )
        .build()
        .expect("both workers join");
    let h = rt.handle();
    h.submit(b.noop.task(&()).unwrap()).unwrap().wait().unwrap();
    let bytes: Vec<u8> = (0..=255u8).cycle().take(64 * 1024).collect();
    let echoed = h.submit(b.echo.task(&bytes).unwrap()).unwrap().wait();
    assert!(echoed.unwrap() == bytes, "echo returns its bytes");
    let failed = |t: Task<()>| {
        h.submit(t.max_retries(0))
            .unwrap()
            .wait()
            .expect_err("it fails")
    };
    let e = failed(b.fail.task(&"no luck".to_owned()).unwrap());
    assert!(
        matches!(e.last_failure(), Some(AttemptFailure::Error(m)) if m.to_string() == "no luck"),
        "{e:?}"
    );
    let e = failed(b.panic.task(&"on purpose".to_owned()).unwrap());
    assert!(
        matches!(e.last_failure(), Some(AttemptFailure::Panicked(m)) if m.contains("on purpose")),
        "{e:?}"
    );
    // A timeout travels with the attempt, and comes back as a timeout.
    let sleeps: Vec<_> = (0..4)
        .map(|_| {
            let t = b.sleep.task(&kinds::SleepArgs { ms: 120_000 }).unwrap();
            h.submit(t.timeout(Duration::from_millis(300)).max_retries(0))
                .unwrap()
        })
        .collect();
    for s in sleeps {
        let e = s.wait().expect_err("it times out");
        assert!(
            matches!(e.last_failure(), Some(AttemptFailure::TimedOut)),
            "{e:?}"
        );
    }
    let sleep = b.sleep.task(&kinds::SleepArgs { ms: 5 }).unwrap();
    assert_eq!(h.submit(sleep).unwrap().wait().unwrap(), 0);
    let m = rt.shutdown();
    assert_eq!(m.totals.unaccounted(), 0);
}

#[test]
fn help_describes_the_worker_command_and_the_cluster_options_of_run() {
    let top = stdout(&allot(&["--help"]));
    assert!(top.contains("worker"), "{top}");
    let worker = stdout(&allot(&["worker", "--help"]));
    for option in [
        "--nats",
        "--name",
        "--slots",
        "--speed",
        "--cpu",
        "--memory",
        "--gpu",
        "--nodes",
        "--prefix",
        "--prefetch",
        "--config",
    ] {
        assert!(worker.contains(option), "{option} in {worker}");
    }
    let run = stdout(&allot(&["run", "--help"]));
    for option in ["--nats", "--workers", "--prefix"] {
        assert!(run.contains(option), "{option} in {run}");
    }
}

#[test]
fn a_plot_that_is_not_an_svg_file_is_refused_before_the_run() {
    let dir = scratch("plot-ext");
    for (plot, says) in [
        ("-", "the plot is a file"),
        ("load.png", "not .png"),
        ("load", "no extension"),
    ] {
        let out = allot_in(
            &dir,
            &["run", &workload("mixed.toml"), "--plot", plot, "--quiet"],
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{plot}: {err}");
        assert!(
            err.contains("--plot") && err.contains(says),
            "{plot}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert!(!dir.join(plot).exists(), "{plot} was written");
    }
    let ok = allot_in(
        &dir,
        &[
            "run",
            &workload("mixed.toml"),
            "--plot",
            "load.SVG",
            "--quiet",
        ],
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(std::fs::read_to_string(dir.join("load.SVG"))
        .unwrap()
        .starts_with("<svg"));
}

/// `allot run FILE --json -` with `extra` flags, the report parsed.
fn run_json(file: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["run", file, "--json", "-", "--quiet", "--no-progress"];
    args.extend_from_slice(extra);
    let o = allot(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).expect("stdout is JSON")
}

/// The spread docs/guide.md states ("What a seed fixes") for a workload
/// whose placement does not read loads, without balancer, and whose faults
/// all fire at task counts: per-node completions within 15 % of the tasks
/// (measured: within 4 % three runs at a time, 10 % six at a time, on 2
/// CPUs).
const NODE_SPREAD: f64 = 0.15;

#[test]
fn two_runs_of_the_same_workload_and_seed_agree_within_the_stated_spread() {
    let file = "tests/data/cli/reproducible.toml";
    // Pinned, so that no other test's --recalibrate changes the work of
    // one run and not the other's.
    let a = run_json(file, &["--work-rate", "20000"]);
    let b = run_json(file, &["--work-rate", "20000"]);
    let nodes = |r: &serde_json::Value, key: &str| -> Vec<serde_json::Value> {
        r["metrics"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n[key].clone())
            .collect()
    };
    // What the seed fixes exactly: the tasks, which attempts fail, the
    // count-triggered faults, and so restarts and retirements.
    let kinds = |r: &serde_json::Value| -> Vec<(u64, u64)> {
        r["kinds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                (
                    k["submitted"].as_u64().unwrap(),
                    k["failed"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(kinds(&a), kinds(&b));
    assert_eq!(nodes(&a, "restarts"), nodes(&b, "restarts"));
    assert_eq!(nodes(&a, "retired"), nodes(&b, "retired"));
    assert_eq!(
        nodes(&a, "restarts"),
        [0, 1, 1].map(serde_json::Value::from)
    );
    assert_eq!(
        a["metrics"]["totals"]["failed"],
        b["metrics"]["totals"]["failed"]
    );
    // What depends on timing: where the tasks of a crashed node's queue
    // and the retries went.
    let tasks = a["metrics"]["totals"]["submitted"].as_f64().unwrap();
    for (x, y) in nodes(&a, "completed").iter().zip(nodes(&b, "completed")) {
        let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
        assert!(
            (x - y).abs() <= NODE_SPREAD * tasks,
            "per-node completions {x} and {y} differ by more than {NODE_SPREAD} of {tasks}"
        );
    }
}

#[test]
fn the_work_rate_is_cached_pinned_by_a_flag_and_shown_in_the_report() {
    let file = "tests/data/cli/reproducible.toml";
    let cache = scratch("calibration");
    let run = |extra: &[&str]| {
        let mut args = vec!["run", file, "--tasks", "30", "--no-progress"];
        args.extend_from_slice(extra);
        Command::new(BIN)
            .args(&args)
            .current_dir(ROOT)
            .env_remove("RUST_LOG")
            .env("ALLOT_CACHE_DIR", &cache)
            .output()
            .expect("the allot binary runs")
    };
    let json = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["--json", "-", "--quiet"];
        args.extend_from_slice(extra);
        let o = run(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_str(&stdout(&o)).expect("stdout is JSON")
    };
    // Measured once, then read back: the same figure for every later run.
    let first = json(&[]);
    assert_eq!(first["work"]["source"], "measured");
    let second = json(&[]);
    assert_eq!(second["work"]["source"], "cached");
    assert_eq!(
        first["work"]["products_per_cost_second"],
        second["work"]["products_per_cost_second"]
    );
    assert!(
        cache.join("calibration-debug.json").exists()
            || cache.join("calibration-release.json").exists()
    );
    let pinned = json(&["--work-rate", "12345"]);
    assert_eq!(pinned["work"]["products_per_cost_second"], 12345.0);
    assert_eq!(pinned["work"]["source"], "flag");
    let fresh = json(&["--recalibrate"]);
    assert_eq!(fresh["work"]["source"], "measured");
    let o = run(&[]);
    let table = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    let work = table
        .lines()
        .find(|l| l.starts_with("work "))
        .unwrap_or_else(|| panic!("no work line in: {table}"));
    assert!(
        work.contains("products of 16×16 f32 matrices per second of cost"),
        "{work}"
    );
    assert!(
        work.contains("cached") || work.contains("calibrated now"),
        "{work}"
    );
    // Linux: the machine's CPU use during the run.
    if Path::new("/proc/stat").exists() {
        assert!(table.lines().any(|l| l.starts_with("machine ")), "{table}");
    }
    for bad in ["0", "-3", "nan", "1e13"] {
        let flag = format!("--work-rate={bad}");
        let o = allot(&["run", file, &flag]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stderr(&o));
        assert!(stderr(&o).contains("--work-rate"), "{}", stderr(&o));
    }
}

#[test]
fn the_report_says_how_many_migrations_refilled_a_restarted_node() {
    let o = allot(&[
        "run",
        &workload("chaos.toml"),
        "--tasks",
        "1500",
        "--no-progress",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = stdout(&o);
    let number = |line: &str, after: &str| -> u64 {
        let rest = &line[line
            .find(after)
            .unwrap_or_else(|| panic!("{after} in {line}"))
            + after.len()..];
        rest.split_whitespace().next().unwrap().parse().unwrap()
    };
    let totals = table
        .lines()
        .find(|l| l.starts_with("totals "))
        .unwrap_or_else(|| panic!("{table}"));
    let (restarts, migrations) = (number(totals, "restarts "), number(totals, "migrations "));
    // chaos.toml's count-triggered crash, panic and hang restart nodes.
    assert!(restarts >= 3, "{totals}");
    if migrations > 0 {
        let line = table
            .lines()
            .find(|l| l.starts_with("migrated "))
            .unwrap_or_else(|| panic!("no migrated line in:\n{table}"));
        let refilled = number(line, "migrated  ");
        assert!(refilled <= migrations, "{line}");
        assert!(
            line.contains(&format!("of the {migrations} moves")),
            "{line}"
        );
        assert!(line.contains("refilled a node"), "{line}");
    }
}
