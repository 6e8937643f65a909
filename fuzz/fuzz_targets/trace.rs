//! The openb trace CSV readers: `parse_nodes`, `parse_pods` (in
//! `allot::sim::openb`) and `parse_pod_times` (in `allot::sim::replay`),
//! then what `allot replay` does with the two files: `Replay::parse`, the
//! cluster's capacities, and a replay under best-fit placement.
//!
//! The input is the node list and the pod list separated by the first NUL
//! byte; without one, the whole input is given to every reader. Nothing
//! may panic, hang or run out of memory.
//!
//! Two known bugs are stepped around so that the fuzzer can look past
//! them (reproducers in `regressions/trace/`); set
//! `ALLOT_FUZZ_KNOWN_BUGS=1` to step into them, and delete the checks once
//! they are fixed.

#![no_main]

use allot::policy::BestFit;
use allot::sim::openb::{parse_nodes, parse_pods, ModelTable, TraceNode};
use allot::sim::replay::{parse_pod_times, Replay, ReplayConfig};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn step_around_known_bugs() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("ALLOT_FUZZ_KNOWN_BUGS").is_none())
}

/// Known bug 1: the replay gives each node a vector with one entry per
/// GPU, so a node list row with `gpu` = 4000000000 (which the reader
/// accepts: it is below 2^32) makes `Replay::parse` allocate 16 GB.
fn has_huge_gpu_count(nodes: &[TraceNode]) -> bool {
    nodes.iter().any(|n| n.gpus > 1 << 16)
}

/// Known bug 2: `Replay::cpu_capacity_milli` adds the nodes' `cpu_milli`
/// unchecked, so two nodes whose CPUs sum past `u64::MAX` panic ("attempt
/// to add with overflow"; with overflow checks off the sum wraps).
fn cpu_sum_overflows(nodes: &[TraceNode]) -> bool {
    nodes
        .iter()
        .try_fold(0u64, |sum, n| sum.checked_add(n.cpu_milli))
        .is_none()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (nodes, pods) = text.split_once('\0').unwrap_or((text, text));
    let mut models = ModelTable::default();
    let node_list = match parse_nodes("nodes.csv", nodes, &mut models) {
        Ok(list) => {
            for n in &list {
                let _ = n.model.map(|m| models.name(m));
            }
            list
        }
        Err(e) => {
            let _ = e.to_string();
            Vec::new()
        }
    };
    if let Err(e) = parse_pods("pods.csv", pods, &mut models) {
        let _ = e.to_string();
    }
    if let Err(e) = parse_pod_times("pods.csv", pods) {
        let _ = e.to_string();
    }
    if step_around_known_bugs() && has_huge_gpu_count(&node_list) {
        return;
    }
    let config = ReplayConfig {
        all_nodes: true,
        ..ReplayConfig::default()
    };
    match Replay::parse("nodes.csv", nodes, "pods.csv", pods, &config) {
        Ok(replay) => {
            if step_around_known_bugs() && cpu_sum_overflows(&node_list) {
                return;
            }
            let _ = (replay.gpu_capacity_milli(), replay.cpu_capacity_milli());
            let _ = replay.run(&mut BestFit::new());
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
