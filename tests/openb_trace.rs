//! The openb trace loader on the head of every variant of the family (the
//! FGD paper's pod lists): each one loads, a missing optional column takes
//! its default, a missing required column is refused naming it; and the
//! FGD method's trimming of an offered list above its target.
//!
//! The fixtures in `tests/data/openb/` are the header and a few rows of
//! each pod list in `../shared/data/openb/` (provenance in
//! `tests/data/openb/README.md`).

use allot::policy::{GpuDemand, GpuModelSet};
use allot::sim::cluster::{FgdConfig, Scenario};
use allot::sim::openb::{
    parse_pods, ModelTable, Trace, TraceErrorKind, TracePod, NODE_COLUMNS, POD_COLUMNS,
};
use std::path::PathBuf;

fn path(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn variant(name: &str) -> Trace {
    Trace::load(
        path("data/openb/openb_node_list_all_node.csv"),
        path(&format!("tests/data/openb/{name}_head.csv")),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"))
}

const VARIANTS: [&str; 5] = ["default", "gpushare40", "multigpu30", "gpuspec10", "cpu050"];

#[test]
fn every_variant_of_the_family_loads_with_its_own_header() {
    for v in VARIANTS {
        let t = variant(v);
        assert_eq!(t.pods.len(), 20, "{v}");
        assert_eq!(t.nodes.len(), 1523, "{v}");
        assert_eq!(t.pods[0].name, "openb-pod-0000", "{v}");
    }
}

#[test]
fn the_multi_gpu_list_has_no_gpu_spec_column_and_its_pods_take_any_model() {
    let text = std::fs::read_to_string(path("tests/data/openb/multigpu30_head.csv")).unwrap();
    assert_eq!(
        text.lines().next().unwrap(),
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli"
    );
    let t = variant("multigpu30");
    assert!(t.pods.iter().all(|p| p.demand.models.is_any()));
    let eight: Vec<&TracePod> = t.pods.iter().filter(|p| p.demand.gpus == 8).collect();
    assert_eq!(eight.len(), 4);
    assert_eq!(eight[0].demand, GpuDemand::whole(88_000, 327_680, 8));
}

#[test]
fn the_model_restricted_list_names_the_models_its_pods_accept() {
    let t = variant("gpuspec10");
    let restricted: Vec<&TracePod> = t
        .pods
        .iter()
        .filter(|p| !p.demand.models.is_any())
        .collect();
    assert_eq!(restricted.len(), 6);
    let id = |name: &str| {
        (0..t.models.len() as u8)
            .find(|&k| t.models.name(k) == Some(name))
            .unwrap_or_else(|| panic!("model {name} not interned"))
    };
    // `V100M16|V100M32|V100M32` names a model twice: one set of two.
    let v100 = restricted
        .iter()
        .find(|p| p.name == "openb-pod-0031")
        .unwrap();
    assert_eq!(
        v100.demand.models,
        GpuModelSet::ANY.with(id("V100M16")).with(id("V100M32"))
    );
    assert!(v100.demand.models.allows(Some(id("V100M32"))));
    assert!(!v100.demand.models.allows(Some(id("T4"))));
}

#[test]
fn a_pod_list_missing_any_required_column_is_refused_naming_that_column() {
    let header = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec";
    for missing in POD_COLUMNS {
        let cols: Vec<&str> = header.split(',').filter(|c| *c != missing).collect();
        let row: Vec<&str> = cols.iter().map(|_| "1").collect();
        let text = format!("{}\n{}\n", cols.join(","), row.join(","));
        let e = parse_pods("p.csv", &text, &mut ModelTable::default()).unwrap_err();
        assert!(matches!(e.kind, TraceErrorKind::MissingColumn), "{e}");
        assert_eq!(e.column.as_deref(), Some(missing));
        assert_eq!(e.line, 1);
        assert!(e.to_string().contains(&format!("`{missing}`")), "{e}");
    }
}

#[test]
fn a_node_list_missing_a_required_column_is_refused_and_one_without_model_loads() {
    let pods = path("tests/data/openb/multigpu30_head.csv");
    let dir = std::env::temp_dir().join(format!("allot-openb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for missing in NODE_COLUMNS {
        let cols: Vec<&str> = ["sn", "cpu_milli", "memory_mib", "gpu", "model"]
            .into_iter()
            .filter(|c| *c != missing)
            .collect();
        let f = dir.join(format!("nodes-{missing}.csv"));
        std::fs::write(&f, format!("{}\n", cols.join(","))).unwrap();
        let e = Trace::load(&f, &pods).unwrap_err();
        assert!(matches!(e.kind, TraceErrorKind::MissingColumn), "{e}");
        assert_eq!(e.column.as_deref(), Some(missing));
    }
    let f = dir.join("nodes-no-model.csv");
    std::fs::write(
        &f,
        "sn,cpu_milli,memory_mib,gpu\nn0,96000,786432,8\nn1,32000,131072,0\n",
    )
    .unwrap();
    let t = Trace::load(&f, &pods).unwrap();
    assert_eq!(t.gpu_count(), 8);
    assert!(t.nodes.iter().all(|n| n.model.is_none()));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Two 8-GPU nodes (16 000 milli-GPUs) and 30 one-GPU pods (187.5 %).
fn over_offered() -> Trace {
    let nodes = "sn,cpu_milli,memory_mib,gpu,model\na,96000,786432,8,V100\nb,96000,786432,8,V100\n";
    let mut pods = String::from("name,cpu_milli,memory_mib,num_gpu,gpu_milli\n");
    for k in 0..30 {
        pods.push_str(&format!("p{k:02},{},1024,1,1000\n", 1000 + k));
    }
    Trace::parse("n.csv", nodes, "p.csv", &pods).unwrap()
}

fn offered(sc: &Scenario) -> u64 {
    sc.pods.iter().map(GpuDemand::total_gpu_milli).sum()
}

#[test]
fn a_list_offering_more_than_the_target_is_trimmed_to_it_by_seeded_random_removal() {
    let t = over_offered();
    let config = FgdConfig::default();
    assert!(
        config.trim,
        "trimming is the default, as in the FGD artifact"
    );
    let sc = Scenario::new(&t, &config).unwrap();
    // 130 % of 16 GPUs is 20.8: 20 pods stay, 10 go.
    assert_eq!((sc.pods.len(), sc.trimmed), (20, 10));
    assert!(offered(&sc) as f64 <= 1.3 * sc.capacity_milli as f64);
    // The same seed removes the same pods; another seed others.
    let again = Scenario::new(&t, &config).unwrap();
    assert_eq!(again.pods, sc.pods);
    let other = Scenario::new(
        &t,
        &FgdConfig {
            seed: 7,
            ..FgdConfig::default()
        },
    )
    .unwrap();
    assert_eq!(other.trimmed, 10);
    assert_ne!(other.pods, sc.pods);
}

#[test]
fn without_trimming_every_pod_of_an_over_offered_list_is_offered_and_the_excess_dropped() {
    let t = over_offered();
    let config = FgdConfig {
        trim: false,
        ..FgdConfig::default()
    };
    let sc = Scenario::new(&t, &config).unwrap();
    assert_eq!((sc.pods.len(), sc.trimmed), (30, 0));
    let run = sc
        .run(&mut allot::policy::BestFit::new(), config.seed)
        .unwrap();
    assert_eq!(run.placed, 16);
    assert_eq!(run.dropped.len(), 14);
    assert!(run.dropped.iter().all(|d| d.demand.gpus == 1));
    // The first drop comes once the 16 GPUs are taken: 17 of 16 offered.
    assert!((run.dropped[0].offered_pct - 106.25).abs() < 1e-9);
    assert_eq!(run.first_failure, Some(run.dropped[0].offered_pct));
}
