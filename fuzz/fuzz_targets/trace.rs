//! The openb trace CSV readers: `parse_nodes`, `parse_pods` (in
//! `allot::sim::openb`) and `parse_pod_times` (in `allot::sim::replay`),
//! then what `allot replay` does with the two files: `Replay::parse`, the
//! cluster's capacities, and a replay under best-fit placement.
//!
//! The input is the node list and the pod list separated by the first NUL
//! byte; without one, the whole input is given to every reader. Nothing
//! may panic, hang or run out of memory.
//!
//! The reproducers in `regressions/trace/` are two bugs found here (a node
//! of 4e9 GPUs allocating 16 GB; CPU capacities summing past `u64`), both
//! fixed: `run.sh` replays them first.

#![no_main]

use allot::policy::BestFit;
use allot::sim::openb::{parse_nodes, parse_pods, ModelTable};
use allot::sim::replay::{parse_pod_times, Replay, ReplayConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (nodes, pods) = text.split_once('\0').unwrap_or((text, text));
    let mut models = ModelTable::default();
    match parse_nodes("nodes.csv", nodes, &mut models) {
        Ok(list) => {
            for n in &list {
                let _ = n.model.map(|m| models.name(m));
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    if let Err(e) = parse_pods("pods.csv", pods, &mut models) {
        let _ = e.to_string();
    }
    if let Err(e) = parse_pod_times("pods.csv", pods) {
        let _ = e.to_string();
    }
    let config = ReplayConfig {
        all_nodes: true,
        ..ReplayConfig::default()
    };
    match Replay::parse("nodes.csv", nodes, "pods.csv", pods, &config) {
        Ok(replay) => {
            let _ = (replay.gpu_capacity_milli(), replay.cpu_capacity_milli());
            let _ = replay.run(&mut BestFit::new());
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
