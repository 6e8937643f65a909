//! Loader for the Alibaba openb GPU cluster trace (cluster-trace-gpu-v2023):
//! a node list and a pod list, both CSV with a header row.
//!
//! The files are read with the `csv` crate and serde, by column name:
//! quoted fields (`"p,0"` is one field), a UTF-8 byte-order mark, blanks
//! around fields and blank lines are handled; other columns are ignored.
//! Every refusal is a [`TraceError`] with the file, line and character
//! column: an empty file ([`TraceErrorKind::Empty`]), a missing or repeated
//! column, a row of the wrong length, a field that is not a whole number,
//! a whole number out of its column's range (negative, or past `u64`/`u32`:
//! the error names the value and the range), and a node or pod named twice
//! (the trace keys both by name; the error names both lines).

mod error;
mod table;
#[cfg(test)]
mod tests;

pub use error::{TraceError, TraceErrorKind};
pub(crate) use table::{is_integer, read, Row, Table};

use crate::policy::{GpuDemand, GpuModelSet, GpuNode, MILLI_PER_GPU};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

/// One node of the trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceNode {
    /// Its name (`sn`).
    pub name: String,
    /// CPU in milli-cores.
    pub cpu_milli: u64,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// Number of GPUs.
    pub gpus: u32,
    /// GPU model id in the trace's [`ModelTable`], `None` for CPU-only
    /// nodes.
    pub model: Option<u8>,
}

/// One pod (task) of the trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TracePod {
    /// Its name.
    pub name: String,
    /// What it asks for.
    pub demand: GpuDemand,
}

/// The GPU model names of a trace, by id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelTable {
    names: Vec<String>,
}

impl ModelTable {
    /// The id of `name`, added if new; `None` past 64 models.
    pub fn intern(&mut self, name: &str) -> Option<u8> {
        if let Some(k) = self.names.iter().position(|n| n == name) {
            return Some(k as u8);
        }
        if self.names.len() >= 64 {
            return None;
        }
        self.names.push(name.to_owned());
        Some((self.names.len() - 1) as u8)
    }

    /// The name of model `id`.
    pub fn name(&self, id: u8) -> Option<&str> {
        self.names.get(id as usize).map(String::as_str)
    }

    /// How many models.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// A node list and a pod list, with the GPU models they name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// The nodes, in file order.
    pub nodes: Vec<TraceNode>,
    /// The pods, in file order.
    pub pods: Vec<TracePod>,
    /// GPU model names.
    pub models: ModelTable,
}

/// The most GPUs one node of a trace may have (the largest machines of the
/// openb trace have 8).
pub(crate) const MAX_NODE_GPUS: u32 = 1024;

/// A node row, by column name.
#[derive(Deserialize)]
struct NodeRow {
    sn: String,
    cpu_milli: u64,
    memory_mib: u64,
    gpu: u32,
    #[serde(default)]
    model: String,
}

/// The columns a node list must have (`model` may be left out: GPUs of no
/// known model, which only pods without a `gpu_spec` accept).
pub const NODE_COLUMNS: [&str; 4] = ["sn", "cpu_milli", "memory_mib", "gpu"];

/// Parses a node list (`sn, cpu_milli, memory_mib, gpu`, and optionally
/// `model`; other columns are ignored), interning GPU models into
/// `models`. `file` names the text in errors. Node names must be unique.
///
/// # Errors
///
/// A [`TraceError`] naming the line and column at fault.
pub fn parse_nodes(
    file: &str,
    text: &str,
    models: &mut ModelTable,
) -> Result<Vec<TraceNode>, TraceError> {
    let t = Table::parse(file, text)?;
    for c in NODE_COLUMNS {
        t.column(c)?;
    }
    let sn = t.column("sn")?;
    let model_col = t
        .has_column("model")
        .then(|| t.column("model"))
        .transpose()?;
    let mut names = HashMap::with_capacity(t.rows.len());
    let mut out = Vec::with_capacity(t.rows.len());
    let gpu_col = t.column("gpu")?;
    for row in &t.rows {
        let r: NodeRow = t.deserialize(row)?;
        t.unique(&mut names, row, sn)?;
        if r.gpu > MAX_NODE_GPUS {
            // The simulator keeps an entry per GPU: 4e9 of them is 16 GB.
            return Err(t.error(
                row,
                gpu_col,
                TraceErrorKind::OutOfRange {
                    value: row.record[gpu_col].to_owned(),
                    expected: "0 to 1024 GPUs on one node",
                },
            ));
        }
        let model = if r.model.is_empty() {
            None
        } else {
            Some(models.intern(&r.model).ok_or_else(|| {
                t.error(row, model_col.unwrap_or(sn), TraceErrorKind::TooManyModels)
            })?)
        };
        out.push(TraceNode {
            name: r.sn,
            cpu_milli: r.cpu_milli,
            memory_mib: r.memory_mib,
            gpus: r.gpu,
            model,
        });
    }
    Ok(out)
}

/// A pod row, by column name.
#[derive(Deserialize)]
struct PodRow {
    name: String,
    cpu_milli: u64,
    memory_mib: u64,
    num_gpu: u32,
    gpu_milli: u64,
    #[serde(default)]
    gpu_spec: String,
}

/// The columns a pod list must have (`gpu_spec` may be left out: any
/// model; the time columns only the replay reads). A list without one of
/// these is refused with [`TraceErrorKind::MissingColumn`] naming it.
pub const POD_COLUMNS: [&str; 5] = ["name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli"];

/// Parses a pod list (`name, cpu_milli, memory_mib, num_gpu, gpu_milli`,
/// and optionally `gpu_spec`, which the multi-GPU variants of the openb
/// family leave out; other columns are ignored). `gpu_milli` is
/// the share of one GPU for a sharing pod (`num_gpu == 1`); pods with
/// several GPUs use them whole. `gpu_spec` lists acceptable GPU models
/// separated by `|` (empty or absent: any), interned into `models`. Pod
/// names must be unique.
///
/// # Errors
///
/// A [`TraceError`] naming the line and column at fault.
pub fn parse_pods(
    file: &str,
    text: &str,
    models: &mut ModelTable,
) -> Result<Vec<TracePod>, TraceError> {
    let t = Table::parse(file, text)?;
    for c in POD_COLUMNS {
        t.column(c)?;
    }
    let (name, milli) = (t.column("name")?, t.column("gpu_milli")?);
    let spec = t
        .has_column("gpu_spec")
        .then(|| t.column("gpu_spec"))
        .transpose()?;
    let mut names = HashMap::with_capacity(t.rows.len());
    let mut out = Vec::with_capacity(t.rows.len());
    for row in &t.rows {
        let r: PodRow = t.deserialize(row)?;
        t.unique(&mut names, row, name)?;
        let mut set = GpuModelSet::ANY;
        for s in r
            .gpu_spec
            .split('|')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let id = models
                .intern(s)
                .ok_or_else(|| t.error(row, spec.unwrap_or(name), TraceErrorKind::TooManyModels))?;
            set = set.with(id);
        }
        let (c, mm) = (r.cpu_milli, r.memory_mib);
        let demand = match r.num_gpu {
            0 => GpuDemand::cpu_only(c, mm),
            1 => {
                let m = r.gpu_milli;
                if m == 0 || m > MILLI_PER_GPU as u64 {
                    return Err(t.error(
                        row,
                        milli,
                        TraceErrorKind::OutOfRange {
                            value: row.record[milli].to_owned(),
                            expected: "1 to 1000 for a pod with one GPU",
                        },
                    ));
                }
                GpuDemand::shared(c, mm, m as u32)
            }
            k => GpuDemand::whole(c, mm, k),
        }
        .on_models(set);
        out.push(TracePod {
            name: r.name,
            demand,
        });
    }
    Ok(out)
}

impl Trace {
    /// Loads a node list and a pod list from files.
    ///
    /// # Errors
    ///
    /// A [`TraceError`] naming the file, line and column at fault.
    pub fn load(nodes: impl AsRef<Path>, pods: impl AsRef<Path>) -> Result<Self, TraceError> {
        let (np, pp) = (nodes.as_ref(), pods.as_ref());
        let (nt, pt) = (read(np)?, read(pp)?);
        Trace::parse(
            &np.display().to_string(),
            &nt,
            &pp.display().to_string(),
            &pt,
        )
    }

    /// Parses a node list and a pod list; the names label errors.
    ///
    /// # Errors
    ///
    /// A [`TraceError`] naming the file, line and column at fault.
    pub fn parse(
        nodes_file: &str,
        nodes: &str,
        pods_file: &str,
        pods: &str,
    ) -> Result<Self, TraceError> {
        let mut models = ModelTable::default();
        let nodes = parse_nodes(nodes_file, nodes, &mut models)?;
        let pods = parse_pods(pods_file, pods, &mut models)?;
        Ok(Trace {
            nodes,
            pods,
            models,
        })
    }

    /// Total GPUs on the nodes.
    pub fn gpu_count(&self) -> u64 {
        self.nodes.iter().map(|n| n.gpus as u64).sum()
    }
}

impl TraceNode {
    /// An empty [`GpuNode`] for this node.
    pub fn to_gpu_node(&self) -> GpuNode {
        GpuNode::new(
            self.cpu_milli,
            self.memory_mib,
            self.gpus as usize,
            self.model,
        )
    }
}
