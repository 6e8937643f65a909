//! `allot`: run workload files on the allot runtime, and benchmark it.
//!
//! ```sh
//! allot run examples/workloads/mixed.toml --json report.json --plot load.svg
//! allot bench --messages 200000 --nodes 2 --runs 5
//! allot worker --nats nats://127.0.0.1:4222 --name w1 --slots 4
//! allot run examples/workloads/mixed.toml --nats nats://127.0.0.1:4222 --workers 1
//! ```
//!
//! The workload file format is described in `docs/guide.md`. Logs go to
//! stderr, filtered by `RUST_LOG` (default `allot=warn`).

mod bench;
mod compute;
#[cfg(test)]
mod edge_values;
mod error;
mod kinds;
mod limits;
mod locate;
mod logging;
mod machine;
mod nats;
mod output;
mod plot;
mod replay;
mod report;
mod run;
mod table;
mod worker;
mod workload;

use clap::{Parser, Subcommand};
use error::CliError;
use std::path::Path;
use std::process::ExitCode;

/// Run AI workloads on the allot runtime and report what happened, or
/// benchmark its message paths.
#[derive(Debug, Parser)]
#[command(name = "allot", version, propagate_version = true)]
#[command(after_help = "Logs go to stderr; filter them with RUST_LOG (default: allot=warn).")]
struct Cli {
    /// Format of log lines on stderr.
    #[arg(long, value_enum, default_value_t = logging::LogFormat::Text, global = true)]
    log_format: logging::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a workload file (nodes, policy, faults, task mix) and print a
    /// report: per node, totals, latency percentiles, restarts, migrations.
    Run(run::RunArgs),
    /// Measure the node mailbox, end-to-end tasks and request/response
    /// latency against raw actix, crossbeam-channel, tokio::spawn and rayon.
    Bench(bench::BenchArgs),
    /// Replay a GPU cluster trace (Alibaba openb format) through placement
    /// policies in simulated time, and compare allocation ratio, waiting and
    /// completion times.
    #[command(after_long_help = replay::SEMANTICS)]
    Replay(replay::ReplayArgs),
    /// Serve nodes for a cluster coordinator (`allot run --nats`) over
    /// NATS JetStream, running the built-in named tasks (allot.noop,
    /// allot.sleep, allot.compute, allot.fail, allot.panic, allot.echo),
    /// until SIGINT or SIGTERM.
    Worker(worker::WorkerArgs),
}

fn run_command(args: &run::RunArgs) -> Result<(), CliError> {
    for path in args.json.iter().chain(&args.plot) {
        output::check_dir(path)?;
    }
    if let Some(path) = &args.plot {
        output::check_svg(path)?;
    }
    let injected = logging::count_injected_panics();
    let report = run::run(args, &injected)?;
    let to_stdout = args.json.as_deref() == Some(Path::new("-"));
    if !args.quiet {
        // With `--json -` stdout carries the JSON; the table goes to stderr.
        let shown = if to_stdout {
            report.print_table(&mut std::io::stderr().lock())
        } else {
            report.print_table(&mut std::io::stdout().lock())
        };
        shown.map_err(|e| CliError::Other(format!("cannot print the report: {e}")))?;
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| CliError::Other(format!("cannot encode the report: {e}")))?;
        output::write(path, &text)?;
    }
    if let Some(path) = &args.plot {
        plot::write(&report, path).map_err(CliError::Other)?;
    }
    if report.unaccounted != 0 {
        return Err(CliError::Other(format!(
            "the ledger does not reconcile: {} submitted tasks are unaccounted for",
            report.unaccounted
        )));
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let result = match &cli.command {
        Command::Run(args) => run_command(args),
        Command::Bench(args) => bench::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Worker(args) => worker::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::debug!(error = %e, "cli.failed");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
