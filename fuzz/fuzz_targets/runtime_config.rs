//! `RuntimeConfig` read from a config file's text: JSON when the text
//! starts with `{` (as the CLI decides for a file without an extension),
//! TOML otherwise. A config that reads is handed to
//! `Builder::from_config` (not built: starting a runtime per input would
//! be far too slow), its fault plan is validated, and it is written back
//! to JSON and TOML and read again. Errors are formatted. Nothing may
//! panic, hang or run out of memory.

#![no_main]

use allot::{Builder, RuntimeConfig};
use libfuzzer_sys::fuzz_target;

fn read(text: &str) -> Option<RuntimeConfig> {
    let parsed = if text.trim_start().starts_with('{') {
        serde_json::from_str::<RuntimeConfig>(text).map_err(|e| e.to_string())
    } else {
        toml::from_str::<RuntimeConfig>(text).map_err(|e| e.to_string())
    };
    parsed.ok()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(cfg) = read(text) else {
        return;
    };
    let _ = Builder::from_config(&cfg);
    if let Some(plan) = &cfg.fault_plan {
        if let Err((_, reason)) = plan.validate(cfg.nodes.len()) {
            let _ = reason.len();
        }
    }
    if let Ok(json) = serde_json::to_string(&cfg) {
        let _ = serde_json::from_str::<RuntimeConfig>(&json);
    }
    if let Ok(toml_text) = toml::to_string(&cfg) {
        let _ = toml::from_str::<RuntimeConfig>(&toml_text);
    }
});
