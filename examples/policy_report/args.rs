//! The command line.

use std::path::{Path, PathBuf};

pub(crate) struct Args {
    pub(crate) json: bool,
    pub(crate) quick: bool,
    pub(crate) out: PathBuf,
    pub(crate) data: PathBuf,
    pub(crate) gaps: Vec<PathBuf>,
    pub(crate) pods: Vec<PathBuf>,
    pub(crate) nodes: Option<PathBuf>,
}

pub(crate) fn parse_args() -> Result<Args, String> {
    let default_data = if Path::new("../shared/data/gap/optima.csv").exists() {
        PathBuf::from("../shared/data")
    } else {
        PathBuf::from("data")
    };
    let mut a = Args {
        json: false,
        quick: false,
        out: PathBuf::from("docs/policies.md"),
        data: default_data,
        gaps: Vec::new(),
        pods: Vec::new(),
        nodes: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--json" => a.json = true,
            "--quick" => a.quick = true,
            "--out" => a.out = value("--out")?.into(),
            "--data" => a.data = value("--data")?.into(),
            "--gap" => a.gaps.push(value("--gap")?.into()),
            "--pods" => a.pods.push(value("--pods")?.into()),
            "--nodes" => a.nodes = Some(value("--nodes")?.into()),
            "-h" | "--help" => {
                return Err(
                    "usage: policy_report [--json] [--quick] [--out PATH] [--data DIR] \
                            [--gap FILE]... [--pods FILE]... [--nodes FILE]"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument `{other}` (try --help)")),
        }
    }
    Ok(a)
}
