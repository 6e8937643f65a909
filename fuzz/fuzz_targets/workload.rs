//! The `allot run` workload file reader (TOML and JSON), as the CLI uses
//! it: `workload::file::load` on a file, then what `run` asks of the result
//! before it starts a runtime (its config, the task kinds' specs and cost
//! probes, and errors pointed into the text).
//!
//! The reader lives in the binary, so its module and the two it imports
//! (`error`, `locate`) are compiled in here from the binary's source.
//! The input is written to a file without an extension, so `load` picks
//! the format the way it does for such files: JSON when the text starts
//! with `{`, TOML otherwise.
//!
//! The reproducers in `regressions/workload/` are a bug found here (a
//! `[nodes] count` of 10^8 or `u64::MAX` built every node spec before any
//! limit, using gigabytes or panicking), fixed: the count is at most 2^20.
//! Counts above 4 096 are still not turned into a config here, only to keep
//! the fuzzer fast (a million node specs take a while to build).

#![no_main]

use allot::Builder;
use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

#[allow(dead_code)]
#[path = "../../src/bin/allot/error.rs"]
mod error;
#[allow(dead_code)]
#[path = "../../src/bin/allot/limits.rs"]
mod limits;

#[path = "../../src/bin/allot/locate.rs"]
mod locate;
/// The binary's source directory, so that `workload.rs` finds its
/// submodules in `workload/`.
#[path = "../../src/bin/allot"]
mod allot_bin {
    #[allow(dead_code)]
    pub(crate) mod workload;
}

use allot_bin::workload;

use locate::FieldPath;

/// The fields `run` may point an error at: the runtime's
/// `BuildError::InvalidConfig` names and a task kind's fields.
const RUNTIME_FIELDS: &[&str] = &[
    "nodes",
    "nodes.speed",
    "nodes.slots",
    "queue_capacity",
    "heartbeat_interval",
    "retry_backoff",
    "balancer.high",
    "balancer.low",
    "balancer.interval",
    "supervision.backoff_jitter",
    "supervision.backoff_min",
    "supervision.hang_timeout",
    "supervision.restart_period",
    "fault_plan.faults",
];
const KIND_FIELDS: &[&str] = &["cost", "timeout", "demand", "weight"];

/// Where each input is written: in memory (`/dev/shm`) when there is one,
/// since rewriting a file on a disk file system can wait for the disk
/// (ext4 flushes a truncated file on close), which cut the rate to a few
/// hundred inputs per second.
/// A count whose node list takes long to build (not a bug: at most 2^20).
fn too_many_nodes(w: &workload::model::Workload) -> bool {
    matches!(&w.nodes, Some(workload::model::Nodes::Count(c)) if c.count > 4096)
}

fn input_file() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("allot-fuzz-workload-{}", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let path = input_file();
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(data))
        .expect("cannot write the fuzz input file");
    let loaded = match workload::file::load(path) {
        Ok(loaded) => loaded,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let _ = loaded.name();
    if too_many_nodes(&loaded.workload) {
        return;
    }
    // The machine's limits as the CLI reads them, once; the pending window
    // as `allot run` uses it.
    static LIMITS: OnceLock<limits::MachineLimits> = OnceLock::new();
    let machine = LIMITS.get_or_init(limits::MachineLimits::read);
    let nodes = match loaded.runtime_config(machine, 8_192) {
        Ok(cfg) => {
            let _ = Builder::from_config(&cfg);
            if let Some(plan) = &cfg.fault_plan {
                let _ = plan.validate(cfg.nodes.len());
            }
            cfg.nodes
        }
        Err(e) => {
            let _ = e.to_string();
            Vec::new()
        }
    };
    // Locating a field parses the file again, so each input points one
    // runtime field and one task-kind field, chosen from the input itself
    // (the same input always makes the same calls).
    let pick = data
        .iter()
        .fold(data.len(), |h, &b| h.wrapping_mul(31) ^ usize::from(b));
    let field = RUNTIME_FIELDS[pick % RUNTIME_FIELDS.len()];
    let node = [None, Some(0), Some(usize::MAX)][pick / 16 % 3];
    let at = loaded.runtime_field(field, node);
    let _ = loaded.error_at(&at, "fuzz").to_string();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for (k, kind) in loaded.workload.tasks.kinds.iter().enumerate().take(8) {
        let _ = kind.label();
        let _ = kind.cost.mean();
        for cost in kind.cost.probes() {
            let _ = kind.spec(cost).validate();
        }
        for _ in 0..4 {
            let _ = kind.spec(kind.cost.sample(&mut rng)).validate();
        }
        for node in nodes.iter().take(64) {
            let _ = kind.demand.first_excess(&node.capacity);
        }
        if k == pick / 64 % 4 {
            let field = KIND_FIELDS[pick / 256 % KIND_FIELDS.len()];
            let at = FieldPath::parse("tasks.kinds").index(k).key(field);
            let _ = loaded.error_at(&at, "fuzz").to_string();
        }
    }
});
