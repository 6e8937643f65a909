//! Running the `allot` binary from integration tests (shared by `cli.rs`
//! and `replay.rs`, which need the `cli` feature).
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_allot");
pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Runs the binary from the crate root, without the caller's `RUST_LOG`.
pub fn allot(args: &[&str]) -> Output {
    allot_in(Path::new(ROOT), args)
}

/// Runs the binary from `dir`, without the caller's `RUST_LOG`, with the
/// work calibration cached under cargo's scratch space (not the user's
/// cache directory).
pub fn allot_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env("ALLOT_CACHE_DIR", cache_dir())
        .output()
        .expect("the allot binary runs")
}

/// Where the binary run by tests caches its work calibration.
pub fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("allot-cache")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A fresh directory under cargo's scratch space for integration tests
/// (one per test process, so test binaries running at once do not meet).
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("bin")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}
