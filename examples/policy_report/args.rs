//! The command line.

use std::path::{Path, PathBuf};

/// Measures every allocation policy against optima, lower bounds and
/// published results, and writes the tables into docs/policies.md.
#[derive(Debug, clap::Parser)]
#[command(name = "policy_report")]
pub(crate) struct Args {
    /// Print one JSON object instead of writing the report.
    #[arg(long)]
    pub(crate) json: bool,
    /// A fast subset of every section.
    #[arg(long)]
    pub(crate) quick: bool,
    /// Where to write the report.
    #[arg(long, value_name = "PATH", default_value = "docs/policies.md")]
    pub(crate) out: PathBuf,
    /// The data directory (GAP instances, the openb trace).
    #[arg(long, value_name = "DIR", default_value_os_t = default_data())]
    pub(crate) data: PathBuf,
    /// An extra GAP instance (OR-Library format); repeatable.
    #[arg(long = "gap", value_name = "FILE")]
    pub(crate) gaps: Vec<PathBuf>,
    /// An extra openb pod list; repeatable.
    #[arg(long = "pods", value_name = "FILE")]
    pub(crate) pods: Vec<PathBuf>,
    /// Offer every pod of an openb list even when it alone offers more
    /// than 130 % of capacity (the FGD artifact trims such a list).
    #[arg(long)]
    pub(crate) no_trim: bool,
    /// The openb node list for --pods.
    #[arg(long, value_name = "FILE")]
    pub(crate) nodes: Option<PathBuf>,
    /// Regenerate only this section of the report at --out, in place
    /// (`scale`).
    #[arg(long, value_name = "NAME", value_parser = ["scale"])]
    pub(crate) section: Option<String>,
}

/// `../shared/data` when it holds the GAP optima, `data` otherwise.
fn default_data() -> PathBuf {
    if Path::new("../shared/data/gap/optima.csv").exists() {
        PathBuf::from("../shared/data")
    } else {
        PathBuf::from("data")
    }
}
