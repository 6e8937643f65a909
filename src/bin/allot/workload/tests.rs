//! Parsing workload files: defaults, distributions, node lists and
//! errors that name line, column and field.

use super::cost::CostDist;
use super::file::{parse_json, parse_toml};
use super::model::{Nodes, Workload, MAX_NODES};
use crate::error::CliError;
use allot::{RuntimeConfig, TaskKind, TaskSpec};
use rand::SeedableRng;
use std::path::Path;

fn toml_workload(text: &str) -> Result<Workload, CliError> {
    parse_toml(Path::new("w.toml"), text)
}

const MINIMAL: &str = "[tasks]\ncount = 10\n[[tasks.kinds]]\nkind = \"inference\"\n";

#[test]
fn a_minimal_workload_takes_every_default() {
    let w = toml_workload(MINIMAL).unwrap();
    assert_eq!(w.runtime, RuntimeConfig::default());
    assert_eq!(w.tasks.batch, 64);
    let k = &w.tasks.kinds[0];
    assert_eq!(k.cost, CostDist::Fixed { value: 0.001 });
    assert_eq!(k.weight, 1.0);
    assert_eq!(k.max_retries, TaskSpec::DEFAULT_MAX_RETRIES);
    assert_eq!(k.task_kind(), TaskKind::Inference);
}

#[test]
fn costs_are_a_number_or_a_distribution_table() {
    let w = toml_workload(
        "[tasks]\ncount = 1\nkinds = [\n { kind = \"a\", cost = 2 },\n { kind = \"b\", cost = { dist = \"uniform\", min = 0.5, max = 1.5 } },\n { kind = \"c\", cost = { dist = \"normal\", mean = 1, std_dev = 0.1 } },\n]\n",
    )
    .unwrap();
    let costs: Vec<_> = w.tasks.kinds.iter().map(|k| k.cost.clone()).collect();
    assert_eq!(
        costs,
        vec![
            CostDist::Fixed { value: 2.0 },
            CostDist::Uniform { min: 0.5, max: 1.5 },
            CostDist::Normal {
                mean: 1.0,
                std_dev: 0.1
            },
        ]
    );
    assert_eq!(w.tasks.kinds[0].task_kind(), TaskKind::Custom("a".into()));
}

#[test]
fn a_distribution_with_a_missing_or_foreign_parameter_is_refused_where_it_is_written() {
    let e = toml_workload(
        "[tasks]\ncount = 1\n[[tasks.kinds]]\nkind = \"a\"\ncost = { dist = \"exponential\", min = 1 }\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("w.toml:5:8: field `tasks.kinds[0].cost`"),
        "{e}"
    );
    assert!(e.contains("missing field `mean`"), "{e}");
}

#[test]
fn nodes_are_a_list_or_a_count_and_a_template() {
    let w = toml_workload(&format!(
        "[nodes]\ncount = 3\ntemplate = {{ name = \"gpu\", slots = 2 }}\n{MINIMAL}"
    ))
    .unwrap();
    let specs = w.nodes.unwrap().specs();
    assert_eq!(specs.len(), 3);
    assert_eq!(specs[2].name, "gpu-2");
    assert_eq!(specs[2].slots, 2);
    let w = toml_workload(&format!(
        "{MINIMAL}[[nodes]]\nname = \"a\"\n[[nodes]]\nspeed = 2.0\n"
    ))
    .unwrap();
    let specs = w.nodes.unwrap().specs();
    assert_eq!((specs[0].name.as_str(), specs[1].speed), ("a", 2.0));
}

#[test]
fn a_node_count_past_2_to_the_20_is_refused_before_any_node_is_built() {
    for count in ["100000000", "18446744073709551615"] {
        let e = toml_workload(&format!("[nodes]\ncount = {count}\n{MINIMAL}"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("nodes.count") && e.contains(count), "{e}");
    }
    let w = toml_workload(&format!("[nodes]\ncount = 1048576\n{MINIMAL}")).unwrap();
    assert!(matches!(w.nodes, Some(Nodes::Count(ref c)) if c.count == MAX_NODES));
}

#[test]
fn json_errors_carry_line_column_and_field() {
    let text = "{\n  \"tasks\": {\n    \"count\": \"ten\",\n    \"kinds\": []\n  }\n}\n";
    let e = parse_json(Path::new("w.json"), text)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("w.json:3:18: field `tasks.count`: invalid type"),
        "{e}"
    );
}

#[test]
fn samples_follow_their_distribution_and_stay_non_negative() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let exp = CostDist::Exponential { mean: 2.0 };
    let n = 20_000;
    let mean = (0..n).map(|_| exp.sample(&mut rng)).sum::<f64>() / n as f64;
    assert!((mean - 2.0).abs() < 0.1, "{mean}");
    let normal = CostDist::Normal {
        mean: 0.0,
        std_dev: 1.0,
    };
    assert!((0..1000).all(|_| normal.sample(&mut rng) >= 0.0));
    let uni = CostDist::Uniform { min: 1.0, max: 2.0 };
    assert!((0..1000).all(|_| (1.0..2.0).contains(&uni.sample(&mut rng))));
}
