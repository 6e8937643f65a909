//! Loader for the Alibaba openb GPU cluster trace (cluster-trace-gpu-v2023):
//! a node list and a pod list, both CSV with a header row.

use crate::policy::{GpuDemand, GpuModelSet, GpuNode, MILLI_PER_GPU};
use std::fmt;
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

/// Why a trace file could not be loaded: names the file, the line (1-based,
/// the header is line 1) and, where it applies, the column.
#[derive(Debug)]
#[non_exhaustive]
pub struct TraceError {
    /// The file, as given.
    pub file: String,
    /// The line, 1-based; 0 when the file could not be read at all.
    pub line: usize,
    /// The column at fault, if one is.
    pub column: Option<String>,
    /// What is wrong.
    pub kind: TraceErrorKind,
}

/// What is wrong in a [`TraceError`].
#[derive(Debug)]
#[non_exhaustive]
pub enum TraceErrorKind {
    /// The file could not be read.
    Io(std::io::Error),
    /// The header lacks a required column.
    MissingColumn,
    /// A row has a different number of fields than the header.
    FieldCount {
        /// Fields in the header.
        expected: usize,
        /// Fields in the row.
        got: usize,
    },
    /// A field is not a number of the expected kind.
    BadNumber {
        /// The field's text.
        value: String,
    },
    /// A field is a number out of range for its column.
    OutOfRange {
        /// The field's text.
        value: String,
        /// What the column allows.
        expected: &'static str,
    },
    /// More than 64 distinct GPU models.
    TooManyModels,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(c) = &self.column {
            write!(f, ": column `{c}`")?;
        }
        match &self.kind {
            TraceErrorKind::Io(e) => write!(f, ": cannot read: {e}"),
            TraceErrorKind::MissingColumn => write!(f, ": missing from the header"),
            TraceErrorKind::FieldCount { expected, got } => {
                write!(f, ": {got} fields, expected {expected}")
            }
            TraceErrorKind::BadNumber { value } => write!(f, ": `{value}` is not a number"),
            TraceErrorKind::OutOfRange { value, expected } => {
                write!(f, ": `{value}` is out of range ({expected})")
            }
            TraceErrorKind::TooManyModels => write!(f, ": more than 64 GPU models"),
        }
    }
}

impl std::error::Error for TraceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            TraceErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// A CSV table: header names and rows of fields, with line numbers.
/// Blank lines are ignored; the first other line is the header.
pub(crate) struct Table<'a> {
    file: &'a str,
    header: Vec<&'a str>,
    pub(crate) rows: Vec<(usize, Vec<&'a str>)>,
}

impl<'a> Table<'a> {
    pub(crate) fn parse(file: &'a str, text: &'a str) -> Result<Self, TraceError> {
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let header: Vec<&str> = match lines.next() {
            Some((_, l)) => l.split(',').map(str::trim).collect(),
            None => Vec::new(),
        };
        let mut rows = Vec::new();
        for (k, l) in lines {
            let fields: Vec<&str> = l.split(',').map(str::trim).collect();
            if fields.len() != header.len() {
                return Err(TraceError {
                    file: file.to_owned(),
                    line: k + 1,
                    column: None,
                    kind: TraceErrorKind::FieldCount {
                        expected: header.len(),
                        got: fields.len(),
                    },
                });
            }
            rows.push((k + 1, fields));
        }
        Ok(Table { file, header, rows })
    }

    pub(crate) fn column(&self, name: &str) -> Result<usize, TraceError> {
        self.header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| TraceError {
                file: self.file.to_owned(),
                line: 1,
                column: Some(name.to_owned()),
                kind: TraceErrorKind::MissingColumn,
            })
    }

    fn error(&self, line: usize, col: usize, kind: TraceErrorKind) -> TraceError {
        TraceError {
            file: self.file.to_owned(),
            line,
            column: Some(self.header[col].to_owned()),
            kind,
        }
    }

    fn number(&self, line: usize, fields: &[&str], col: usize) -> Result<u64, TraceError> {
        let v = fields[col];
        v.parse::<u64>().map_err(|_| {
            self.error(
                line,
                col,
                TraceErrorKind::BadNumber {
                    value: v.to_owned(),
                },
            )
        })
    }
}

fn read(path: &Path) -> Result<String, TraceError> {
    std::fs::read_to_string(path).map_err(|e| TraceError {
        file: path.display().to_string(),
        line: 0,
        column: None,
        kind: TraceErrorKind::Io(e),
    })
}

/// Parses a node list (`sn, cpu_milli, memory_mib, gpu, model`; other
/// columns are ignored), interning GPU models into `models`. `file` names
/// the text in errors.
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
    let (sn, cpu, mem, gpu, model) = (
        t.column("sn")?,
        t.column("cpu_milli")?,
        t.column("memory_mib")?,
        t.column("gpu")?,
        t.column("model")?,
    );
    let mut out = Vec::with_capacity(t.rows.len());
    for (line, f) in &t.rows {
        let gpus = t.number(*line, f, gpu)?;
        let gpus = u32::try_from(gpus).map_err(|_| {
            t.error(
                *line,
                gpu,
                TraceErrorKind::OutOfRange {
                    value: f[gpu].to_owned(),
                    expected: "a GPU count below 2^32",
                },
            )
        })?;
        let model = if f[model].is_empty() {
            None
        } else {
            Some(
                models
                    .intern(f[model])
                    .ok_or_else(|| t.error(*line, model, TraceErrorKind::TooManyModels))?,
            )
        };
        out.push(TraceNode {
            name: f[sn].to_owned(),
            cpu_milli: t.number(*line, f, cpu)?,
            memory_mib: t.number(*line, f, mem)?,
            gpus,
            model,
        });
    }
    Ok(out)
}

/// Parses a pod list (`name, cpu_milli, memory_mib, num_gpu, gpu_milli,
/// gpu_spec`; other columns are ignored). `gpu_milli` is the share of one
/// GPU for a sharing pod (`num_gpu == 1`); pods with several GPUs use them
/// whole. `gpu_spec` lists acceptable GPU models separated by `|` (empty:
/// any), interned into `models`.
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
    let (name, cpu, mem, num, milli, spec) = (
        t.column("name")?,
        t.column("cpu_milli")?,
        t.column("memory_mib")?,
        t.column("num_gpu")?,
        t.column("gpu_milli")?,
        t.column("gpu_spec")?,
    );
    let mut out = Vec::with_capacity(t.rows.len());
    for (line, f) in &t.rows {
        let range = |col: usize, expected: &'static str| {
            t.error(
                *line,
                col,
                TraceErrorKind::OutOfRange {
                    value: f[col].to_owned(),
                    expected,
                },
            )
        };
        let n = t.number(*line, f, num)?;
        let n = u32::try_from(n).map_err(|_| range(num, "a GPU count below 2^32"))?;
        let m = t.number(*line, f, milli)?;
        let mut set = GpuModelSet::ANY;
        for s in f[spec].split('|').map(str::trim).filter(|s| !s.is_empty()) {
            let id = models
                .intern(s)
                .ok_or_else(|| t.error(*line, spec, TraceErrorKind::TooManyModels))?;
            set = set.with(id);
        }
        let c = t.number(*line, f, cpu)?;
        let mm = t.number(*line, f, mem)?;
        let demand = match n {
            0 => GpuDemand::cpu_only(c, mm),
            1 => {
                if m == 0 || m > MILLI_PER_GPU as u64 {
                    return Err(range(milli, "1 to 1000 for a pod with one GPU"));
                }
                GpuDemand::shared(c, mm, m as u32)
            }
            k => GpuDemand::whole(c, mm, k),
        }
        .on_models(set);
        out.push(TracePod {
            name: f[name].to_owned(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file_line_and_column() {
        let mut m = ModelTable::default();
        let e = parse_pods(
            "pods.csv",
            "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\np,1,2,1,x,\n",
            &mut m,
        )
        .unwrap_err();
        assert_eq!((e.line, e.column.as_deref()), (2, Some("gpu_milli")));
        assert!(e.to_string().starts_with("pods.csv:2: column `gpu_milli`"));
        let e = parse_nodes("n.csv", "sn,cpu_milli,memory_mib,gpu\n", &mut m).unwrap_err();
        assert!(matches!(e.kind, TraceErrorKind::MissingColumn));
        assert_eq!(e.column.as_deref(), Some("model"));
    }
}
