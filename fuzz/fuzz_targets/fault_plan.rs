//! `FaultPlan` (and a one-off `Fault`) read from JSON or TOML text (JSON
//! when it starts with `{`), then validated against runtimes of 0, 1, 4
//! and `usize::MAX` nodes, as `Builder::build` and
//! `RuntimeHandle::inject_plan` do before anything is injected. Nothing
//! may panic, hang or run out of memory.

#![no_main]

use allot::{Fault, FaultPlan};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;

fn read<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| e.to_string())
    } else {
        toml::from_str(text).map_err(|e| e.to_string())
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match read::<FaultPlan>(text) {
        Ok(plan) => {
            for nodes in [0, 1, 4, usize::MAX] {
                if let Err((index, reason)) = plan.validate(nodes) {
                    assert!(
                        index < plan.faults.len(),
                        "validate names entry {index} of {}: {reason}",
                        plan.faults.len()
                    );
                }
            }
            if let Ok(json) = serde_json::to_string(&plan) {
                let _ = serde_json::from_str::<FaultPlan>(&json);
            }
        }
        Err(e) => {
            let _ = e.len();
        }
    }
    if let Ok(fault) = read::<Fault>(text) {
        let _ = format!("{fault:?}");
    }
});
