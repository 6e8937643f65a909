//! The `allot` binary, run for real: every example workload, malformed
//! workloads (each refused with its typed message, file, line and field, a
//! non-zero exit and no panic), the JSON report and SVG plot, `allot bench`
//! and the log formats.

use std::path::{Path, PathBuf};
#[path = "support/bin.rs"]
mod bin;

use bin::{allot, allot_in, scratch, stderr, stdout, BIN, ROOT};
use std::process::Command;

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
        assert!(!err.contains("panicked"), "{}: {err}", file.display());
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
    assert!(report["metrics"]["latency"]["p99_us"].as_u64().unwrap() > 0);
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
    ] {
        let o = allot(&["bench", flag, value]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{flag} {value}: {err}");
        assert!(err.contains("expected a whole number from 1 to"), "{err}");
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
        "--json",
        "-",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let b: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("stdout is JSON");
    for (section, key) in [
        ("mailbox", "rates_per_s"),
        ("end_to_end", "rates_per_s"),
        ("request_response", "p50_us"),
        ("request_response", "p99_us"),
    ] {
        let cases = b[section][key].as_object().unwrap();
        for baseline in ["allot", "actix", "crossbeam", "tokio", "rayon"] {
            assert!(
                cases.keys().any(|k| k.contains(baseline)),
                "{section}.{key} lacks {baseline}"
            );
        }
        assert!(cases.values().all(|v| v.as_f64().unwrap() > 0.0));
    }
    for ratio in [
        "mailbox_vs_actix",
        "e2e_vs_tokio_spawn",
        "e2e_vs_rayon",
        "e2e_single_vs_tokio_spawn",
        "rr_p50_vs_crossbeam",
    ] {
        assert!(b["ratios"][ratio].as_f64().unwrap() > 0.0, "{ratio}");
    }
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
