//! `allot worker`: a worker process of cluster mode. It hosts `--nodes`
//! identical nodes for a coordinator (`allot run --nats`, or any program
//! built with `Builder::cluster`) and runs the built-in named tasks
//! ([`crate::kinds`]) sent to them, until SIGINT or SIGTERM; then it
//! leaves cleanly and prints what it did.

use crate::error::CliError;
use crate::kinds;
use crate::limits::MachineLimits;
use crate::nats::{Flags, Settings};
use crate::workload::ranges::SPEED_RANGE;
use allot::cluster::{Worker, WorkerReport};
use allot::{NodeSpec, Resources};
use std::path::PathBuf;

/// Options of `allot worker`.
#[derive(Debug, clap::Args)]
pub(crate) struct WorkerArgs {
    /// NATS server URL(s), comma-separated (`nats://host:4222,…`); the
    /// server must run JetStream (`nats-server -js`). Required unless
    /// `--config` gives `cluster.urls`.
    #[arg(long, value_name = "URL", required_unless_present = "config")]
    pub(crate) nats: Option<String>,
    /// This worker's name, unique in the cluster: ASCII letters, digits,
    /// `-` and `_` (1 to 64). Its nodes are called `NAME/0`, `NAME/1`, …
    #[arg(long)]
    pub(crate) name: String,
    /// Tasks each node runs at once (1 to 4096).
    #[arg(long, default_value_t = 1, value_parser = whole::<4_096>)]
    pub(crate) slots: usize,
    /// Relative speed of each node (0.001 to 1000; 1.0 is nominal).
    #[arg(long, default_value_t = 1.0, value_parser = speed)]
    pub(crate) speed: f64,
    /// CPU capacity of each node, in thousandths of a core.
    #[arg(long, value_name = "MILLI", default_value_t = NodeSpec::default().capacity.cpu_milli)]
    pub(crate) cpu: u64,
    /// Memory capacity of each node, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = NodeSpec::default().capacity.memory_mib)]
    pub(crate) memory: u64,
    /// GPU capacity of each node, in thousandths of a GPU.
    #[arg(long, value_name = "MILLI", default_value_t = NodeSpec::default().capacity.gpu_milli)]
    pub(crate) gpu: u64,
    /// How many identical nodes this worker hosts (1 to 4096).
    #[arg(long, default_value_t = 1, value_parser = whole::<4_096>)]
    pub(crate) nodes: usize,
    /// Subject prefix: workers and coordinator of one cluster share it
    /// (default `allot`).
    #[arg(long, value_name = "P")]
    pub(crate) prefix: Option<String>,
    /// Attempts taken per node beyond its slots (0 to 4096; default 2).
    #[arg(long, value_name = "N")]
    pub(crate) prefetch: Option<usize>,
    /// Seconds between heartbeats (default 0.2); the coordinator declares
    /// a worker silent for its hang timeout down.
    #[arg(long, value_name = "SECONDS", value_parser = heartbeat)]
    pub(crate) heartbeat: Option<std::time::Duration>,
    /// A TOML file with a `[cluster]` table: any setting of
    /// `allot::cluster::ClusterConfig` (urls, user/password, token,
    /// nkey_seed, credentials_file, tls, …). Flags override it.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
}

/// A whole number from 1 to `MAX`.
fn whole<const MAX: usize>(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=MAX).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected a whole number from 1 to {MAX}, got `{s}`"
        )),
    }
}

/// A node speed within [`SPEED_RANGE`].
fn speed(s: &str) -> Result<f64, String> {
    let (lo, hi) = SPEED_RANGE;
    match s.parse::<f64>() {
        Ok(v) if (lo..=hi).contains(&v) => Ok(v),
        _ => Err(format!("expected a speed from {lo} to {hi}, got `{s}`")),
    }
}

/// `--heartbeat`: seconds, from 1 ms to 60 s.
fn heartbeat(s: &str) -> Result<std::time::Duration, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.001..=60.0).contains(&v) => Ok(std::time::Duration::from_secs_f64(v)),
        _ => Err(format!("expected seconds from 0.001 to 60, got `{s}`")),
    }
}

/// The worker's one-line summary when it leaves.
fn summary(name: &str, r: &WorkerReport) -> String {
    format!(
        "allot worker {name}: left · started {} · replied {} · cancelled {} · duplicates {} \
         · bad messages {} · unknown functions {}",
        r.started, r.replied, r.cancelled, r.duplicates, r.bad_messages, r.unknown_functions
    )
}

/// Waits for SIGINT or SIGTERM, on signal handlers installed before the
/// worker starts (a signal during start-up is not lost).
struct Signals {
    rt: tokio::runtime::Runtime,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Signals, CliError> {
        let fail = |e: std::io::Error| CliError::Other(format!("cannot watch for signals: {e}"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(fail)?;
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let entered = rt.enter();
            let interrupt = signal(SignalKind::interrupt()).map_err(fail)?;
            let terminate = signal(SignalKind::terminate()).map_err(fail)?;
            drop(entered);
            Ok(Signals {
                rt,
                interrupt,
                terminate,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals { rt })
    }

    fn wait(self) {
        #[cfg(unix)]
        {
            let Signals {
                rt,
                mut interrupt,
                mut terminate,
            } = self;
            rt.block_on(async {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            });
        }
        #[cfg(not(unix))]
        self.rt.block_on(async {
            let _ = tokio::signal::ctrl_c().await;
        });
    }
}

/// Runs `allot worker`: serves until SIGINT or SIGTERM, then leaves
/// cleanly.
///
/// # Errors
///
/// [`CliError::Flag`] for a bad name or setting, naming its flag (or the
/// config file's line); a one-line [`CliError::Other`] when NATS cannot
/// be reached or has no JetStream.
pub(crate) fn run(args: &WorkerArgs) -> Result<(), CliError> {
    let settings = Settings::new(&Flags {
        nats: args.nats.as_deref(),
        prefix: args.prefix.as_deref(),
        prefetch: args.prefetch,
        workers: None,
        heartbeat: args.heartbeat,
        config: args.config.as_deref(),
    })?;
    settings.check()?;
    let threads = args.nodes as u128 * (args.slots as u128 + 1);
    MachineLimits::read()
        .check(threads, 0)
        .map_err(|e| CliError::Flag {
            flag: "--nodes",
            message: format!("{} with --slots {}: {e}", args.nodes, args.slots),
        })?;
    let node = NodeSpec::new(Resources::new(
        args.cpu,
        args.memory,
        args.gpu,
        NodeSpec::default().capacity.bandwidth_mbps,
    ))
    .slots(args.slots)
    .speed(args.speed);
    let (registry, _) = kinds::builtins();
    let signals = Signals::install()?;
    let worker = Worker::new(
        settings.config.clone(),
        args.name.clone(),
        vec![node; args.nodes],
        registry,
    );
    let handle = worker.start().map_err(|e| settings.cluster_error(e))?;
    eprintln!(
        "allot worker {}: serving {} node(s) on {}",
        args.name,
        args.nodes,
        settings.urls()
    );
    signals.wait();
    let report = handle.stop();
    eprintln!("{}", summary(&args.name, &report));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_speeds_are_checked_against_their_ranges() {
        assert_eq!(whole::<4>("4"), Ok(4));
        for bad in ["0", "5", "-1", "x", ""] {
            assert!(whole::<4>(bad).is_err(), "{bad}");
        }
        assert_eq!(speed("0.5"), Ok(0.5));
        for bad in ["0", "-1", "NaN", "inf", "1e9"] {
            assert!(speed(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_summary_is_one_line_with_every_count() {
        let r = WorkerReport::default();
        let line = summary("w1", &r);
        assert!(!line.contains('\n'));
        assert!(line.starts_with("allot worker w1: left · started 0 · replied 0"));
    }
}
