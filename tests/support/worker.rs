//! A worker process of the `allot` binary for the cluster tests (shared by
//! `cluster.rs` and `cluster_join.rs`, which need the `cluster` feature).
#![allow(dead_code, unreachable_pub)]

use crate::support::NatsServer;
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_allot");

/// `allot worker` under a name, killed and reaped when dropped.
pub struct WorkerProc {
    pub child: Child,
    pub name: String,
}

impl WorkerProc {
    /// Starts `allot worker` on `nats` under `prefix` as `name`, with
    /// 50 ms heartbeats and `extra` arguments.
    pub fn start(nats: &NatsServer, prefix: &str, name: &str, extra: &[&str]) -> WorkerProc {
        let child = Command::new(BIN)
            .args(["worker", "--nats", &nats.url(), "--name", name])
            .args(["--prefix", prefix, "--heartbeat", "0.05"])
            .args(extra)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the allot binary starts");
        WorkerProc {
            child,
            name: name.to_owned(),
        }
    }

    /// Sends `sig` (`-STOP`, `-CONT`, …) with `kill`.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill {sig} {}", self.name);
    }

    /// SIGKILL, then reaps it.
    pub fn sigkill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for WorkerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
