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

use crate::policy::{GpuDemand, GpuModelSet, GpuNode, MILLI_PER_GPU};
use serde::Deserialize;
use std::collections::HashMap;
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
/// the header is line 1), the character column where the field at fault
/// starts and, where it applies, the column's name.
#[derive(Debug)]
#[non_exhaustive]
pub struct TraceError {
    /// The file, as given.
    pub file: String,
    /// The line, 1-based; 0 when the file could not be read at all.
    pub line: usize,
    /// The 1-based character column on `line` where the field at fault
    /// starts (for a row that is too short, just past its end), when the
    /// error is about a place in the file.
    pub char_column: Option<usize>,
    /// The name of the column at fault, if one is.
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
    /// The file has no header row: it is empty or blank.
    Empty,
    /// The header lacks a required column.
    MissingColumn,
    /// The header names a column twice.
    DuplicateColumn {
        /// The line of the header.
        first_line: usize,
    },
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
    /// A field is a number out of range for its column (a negative count, a
    /// number too large for its type, a GPU share above one GPU).
    OutOfRange {
        /// The field's text.
        value: String,
        /// What the column allows.
        expected: &'static str,
    },
    /// Two rows have the same name (nodes by `sn`, pods by `name`): the
    /// trace keys both by name, as Kubernetes does.
    DuplicateName {
        /// The name.
        name: String,
        /// The line of its first row.
        first_line: usize,
    },
    /// More than 64 distinct GPU models.
    TooManyModels,
    /// The CSV reader refused the text.
    Malformed {
        /// The reader's message.
        message: String,
    },
}

impl fmt::Display for TraceErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceErrorKind::Io(e) => write!(f, "cannot read: {e}"),
            TraceErrorKind::Empty => {
                f.write_str("the file is empty: expected a header row naming the columns")
            }
            TraceErrorKind::MissingColumn => f.write_str("missing from the header"),
            TraceErrorKind::DuplicateColumn { first_line } => {
                write!(f, "named twice in the header (line {first_line})")
            }
            TraceErrorKind::FieldCount { expected, got } => {
                write!(f, "{got} fields, expected {expected}")
            }
            TraceErrorKind::BadNumber { value } if value.is_empty() => {
                f.write_str("empty, expected a whole number")
            }
            TraceErrorKind::BadNumber { value } => write!(f, "`{value}` is not a number"),
            TraceErrorKind::OutOfRange { value, expected } => {
                write!(f, "`{value}` is out of range ({expected})")
            }
            TraceErrorKind::DuplicateName { name, first_line } => {
                write!(f, "`{name}` is named twice: first on line {first_line}")
            }
            TraceErrorKind::TooManyModels => f.write_str("more than 64 GPU models"),
            TraceErrorKind::Malformed { message } => write!(f, "malformed CSV: {message}"),
        }
    }
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(c) = self.char_column {
            write!(f, ":{c}")?;
        }
        if let Some(c) = &self.column {
            write!(f, ": column `{c}`")?;
        }
        write!(f, ": {}", self.kind)
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

/// The most GPUs one node of a trace may have (the largest machines of the
/// openb trace have 8).
pub(crate) const MAX_NODE_GPUS: u32 = 1024;

/// The range of a whole-number column, as errors state it.
const U64_RANGE: &str = "a whole number from 0 to 18446744073709551615";
/// The range of a GPU count column.
const U32_RANGE: &str = "a whole number from 0 to 4294967295";

/// The range that `column` allows, for [`TraceErrorKind::OutOfRange`].
fn integer_range(column: &str) -> &'static str {
    match column {
        "gpu" | "num_gpu" => U32_RANGE,
        _ => U64_RANGE,
    }
}

/// Whether `s` is written as a whole number (an optional sign and digits),
/// whatever its size: such a field that does not parse is out of range,
/// not "not a number".
pub(crate) fn is_integer(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// One data row of a [`Table`]: its fields (trimmed) and where it starts.
pub(crate) struct Row {
    /// The fields, as many as the header's.
    pub(crate) record: csv::StringRecord,
    /// The line the row starts on, 1-based.
    pub(crate) line: usize,
    /// The byte offset of its start in the text.
    byte: usize,
}

/// A CSV table read with the `csv` crate: RFC 4180 quoting (a quoted field
/// may hold commas, quotes and line breaks), a UTF-8 byte-order mark
/// skipped, blanks around fields trimmed, blank lines ignored. The first
/// non-blank row is the header; every other row must have as many fields.
pub(crate) struct Table<'a> {
    file: &'a str,
    text: &'a str,
    header: csv::StringRecord,
    header_line: usize,
    header_byte: usize,
    pub(crate) rows: Vec<Row>,
}

/// Whether a record is a blank line (one empty field once trimmed).
fn is_blank(r: &csv::StringRecord) -> bool {
    r.len() == 1 && r[0].is_empty()
}

impl<'a> Table<'a> {
    pub(crate) fn parse(file: &'a str, text: &'a str) -> Result<Self, TraceError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let mut t = Table {
            file,
            text,
            header: csv::StringRecord::new(),
            header_line: 1,
            header_byte: 0,
            rows: Vec::new(),
        };
        let mut record = csv::StringRecord::new();
        let mut have_header = false;
        loop {
            match reader.read_record(&mut record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    let (line, byte) = e
                        .position()
                        .map_or((1, 0), |p| (p.line() as usize, p.byte() as usize));
                    let at = t.place(byte, 0);
                    return Err(t.error_at(
                        at.unwrap_or((line, 1)),
                        None,
                        TraceErrorKind::Malformed {
                            message: e.to_string(),
                        },
                    ));
                }
            }
            if is_blank(&record) {
                continue;
            }
            // csv-core skips blank lines before a record, but its position
            // is where it started reading: move past them.
            let start = record.position().map_or(0, |p| p.byte() as usize);
            let rest = text.get(start..).unwrap_or("");
            let byte = start + rest.len() - rest.trim_start_matches(['\r', '\n']).len();
            let line = t.line_and_column(byte).0;
            if !have_header {
                have_header = true;
                t.header = record.clone();
                t.header_line = line;
                t.header_byte = byte;
                t.check_header()?;
                continue;
            }
            if record.len() != t.header.len() {
                // A row too long: at its first extra field; too short: past
                // its end.
                let field = if record.len() > t.header.len() {
                    t.header.len()
                } else {
                    usize::MAX
                };
                return Err(t.error_at(
                    t.place(byte, field).unwrap_or((line, 1)),
                    None,
                    TraceErrorKind::FieldCount {
                        expected: t.header.len(),
                        got: record.len(),
                    },
                ));
            }
            t.rows.push(Row {
                record: record.clone(),
                line,
                byte,
            });
        }
        if !have_header {
            return Err(TraceError {
                file: file.to_owned(),
                line: 1,
                char_column: None,
                column: None,
                kind: TraceErrorKind::Empty,
            });
        }
        Ok(t)
    }

    /// Refuses a header that names a column twice.
    fn check_header(&self) -> Result<(), TraceError> {
        for (k, name) in self.header.iter().enumerate() {
            if self.header.iter().take(k).any(|h| h == name) {
                let at = self
                    .place(self.header_byte, k)
                    .unwrap_or((self.header_line, 1));
                return Err(self.error_at(
                    at,
                    Some(name.to_owned()),
                    TraceErrorKind::DuplicateColumn {
                        first_line: self.header_line,
                    },
                ));
            }
        }
        Ok(())
    }

    /// The index of column `name`.
    pub(crate) fn column(&self, name: &str) -> Result<usize, TraceError> {
        self.header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| TraceError {
                file: self.file.to_owned(),
                line: self.header_line,
                char_column: Some(1),
                column: Some(name.to_owned()),
                kind: TraceErrorKind::MissingColumn,
            })
    }

    /// Whether the header has column `name`.
    pub(crate) fn has_column(&self, name: &str) -> bool {
        self.header.iter().any(|h| h == name)
    }

    /// The line and character column where field `field` of the row that
    /// starts at byte `start` begins (past blanks), or just past the row's
    /// end when it has fewer fields; `None` if the text ends first.
    fn place(&self, start: usize, field: usize) -> Option<(usize, usize)> {
        let bytes = self.text.as_bytes();
        let mut reader = csv_core::Reader::new();
        let mut scratch = [0u8; 1024];
        let (mut at, mut field_start, mut k) = (start, start, 0);
        // Each call consumes input or ends the record, so this ends; the
        // bound is a guard.
        for _ in 0..=bytes.len().saturating_sub(start) + 2 {
            let (res, nin, _) = reader.read_field(bytes.get(at..).unwrap_or(&[]), &mut scratch);
            at += nin;
            match res {
                csv_core::ReadFieldResult::InputEmpty | csv_core::ReadFieldResult::OutputFull => {}
                csv_core::ReadFieldResult::Field { record_end } => {
                    if k == field {
                        let raw = &self.text[field_start..at.min(self.text.len())];
                        let blanks = raw.len() - raw.trim_start_matches([' ', '\t']).len();
                        return Some(self.line_and_column(field_start + blanks));
                    }
                    if record_end {
                        let raw = &self.text[field_start..at.min(self.text.len())];
                        let content = raw.trim_end_matches(['\r', '\n']);
                        return Some(self.line_and_column(field_start + content.len()));
                    }
                    k += 1;
                    field_start = at;
                }
                csv_core::ReadFieldResult::End => return None,
            }
        }
        None
    }

    /// The 1-based line and character column of byte `offset` (a
    /// byte-order mark takes no column).
    fn line_and_column(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..]
            .chars()
            .filter(|&c| c != '\u{feff}')
            .count();
        (line, column + 1)
    }

    fn error_at(
        &self,
        (line, column): (usize, usize),
        name: Option<String>,
        kind: TraceErrorKind,
    ) -> TraceError {
        TraceError {
            file: self.file.to_owned(),
            line,
            char_column: Some(column),
            column: name,
            kind,
        }
    }

    /// An error about field `col` of `row`.
    pub(crate) fn error(&self, row: &Row, col: usize, kind: TraceErrorKind) -> TraceError {
        let at = self.place(row.byte, col).unwrap_or((row.line, 1));
        self.error_at(at, self.header.get(col).map(str::to_owned), kind)
    }

    /// Reads `row` into `T` by column name (serde), turning a field that
    /// does not parse into [`TraceErrorKind::BadNumber`] or, for a whole
    /// number too large or negative, [`TraceErrorKind::OutOfRange`].
    pub(crate) fn deserialize<T: serde::de::DeserializeOwned>(
        &self,
        row: &Row,
    ) -> Result<T, TraceError> {
        row.record
            .deserialize::<T>(Some(&self.header))
            .map_err(|e| {
                let (field, message) = match e.kind() {
                    csv::ErrorKind::Deserialize { err, .. } => {
                        (err.field().map(|f| f as usize), err.to_string())
                    }
                    other => (None, format!("{other:?}")),
                };
                let Some(col) = field.filter(|&c| c < row.record.len()) else {
                    let at = self.place(row.byte, 0).unwrap_or((row.line, 1));
                    return self.error_at(at, None, TraceErrorKind::Malformed { message });
                };
                let value = row.record[col].to_owned();
                let kind = if is_integer(&value) {
                    TraceErrorKind::OutOfRange {
                        value,
                        expected: integer_range(&self.header[col]),
                    }
                } else {
                    TraceErrorKind::BadNumber { value }
                };
                self.error(row, col, kind)
            })
    }

    /// Refuses a second row named like an earlier one; `names` maps the
    /// names seen to their lines.
    fn unique(
        &self,
        names: &mut HashMap<String, usize>,
        row: &Row,
        col: usize,
    ) -> Result<(), TraceError> {
        let name = &row.record[col];
        if let Some(&first_line) = names.get(name) {
            return Err(self.error(
                row,
                col,
                TraceErrorKind::DuplicateName {
                    name: name.to_owned(),
                    first_line,
                },
            ));
        }
        names.insert(name.to_owned(), row.line);
        Ok(())
    }
}

/// Reads a trace file, as a [`TraceError`] if it cannot be.
pub(crate) fn read(path: &Path) -> Result<String, TraceError> {
    std::fs::read_to_string(path).map_err(|e| TraceError {
        file: path.display().to_string(),
        line: 0,
        char_column: None,
        column: None,
        kind: TraceErrorKind::Io(e),
    })
}

/// A node row, by column name.
#[derive(Deserialize)]
struct NodeRow {
    sn: String,
    cpu_milli: u64,
    memory_mib: u64,
    gpu: u32,
    model: String,
}

/// The columns a node list must have.
const NODE_COLUMNS: [&str; 5] = ["sn", "cpu_milli", "memory_mib", "gpu", "model"];

/// Parses a node list (`sn, cpu_milli, memory_mib, gpu, model`; other
/// columns are ignored), interning GPU models into `models`. `file` names
/// the text in errors. Node names must be unique.
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
    let (sn, model_col) = (t.column("sn")?, t.column("model")?);
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
            Some(
                models
                    .intern(&r.model)
                    .ok_or_else(|| t.error(row, model_col, TraceErrorKind::TooManyModels))?,
            )
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
/// model).
const POD_COLUMNS: [&str; 5] = ["name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli"];

/// Parses a pod list (`name, cpu_milli, memory_mib, num_gpu, gpu_milli`,
/// and optionally `gpu_spec`; other columns are ignored). `gpu_milli` is
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_with_more_gpus_than_any_machine_is_refused_naming_the_column() {
        let mut m = ModelTable::default();
        let text = "sn,cpu_milli,memory_mib,gpu,model\nn0,1,1,4000000000,A\n";
        let e = parse_nodes("n.csv", text, &mut m).unwrap_err();
        assert!(
            matches!(&e.kind, TraceErrorKind::OutOfRange { value, .. } if value == "4000000000"),
            "{e}"
        );
    }

    const NODES: &str = "sn,cpu_milli,memory_mib,gpu,model\n";
    const PODS: &str = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\n";

    fn nodes(rows: &str) -> Result<Vec<TraceNode>, TraceError> {
        parse_nodes(
            "n.csv",
            &format!("{NODES}{rows}"),
            &mut ModelTable::default(),
        )
    }

    fn pods(rows: &str) -> Result<Vec<TracePod>, TraceError> {
        parse_pods(
            "p.csv",
            &format!("{PODS}{rows}"),
            &mut ModelTable::default(),
        )
    }

    #[test]
    fn errors_name_the_file_line_and_column() {
        let mut m = ModelTable::default();
        let e = pods("p,1,2,1,x,\n").unwrap_err();
        assert_eq!(
            (e.line, e.char_column, e.column.as_deref()),
            (2, Some(9), Some("gpu_milli"))
        );
        assert!(
            e.to_string().starts_with("p.csv:2:9: column `gpu_milli`"),
            "{e}"
        );
        let e = parse_nodes("n.csv", "sn,cpu_milli,memory_mib,gpu\n", &mut m).unwrap_err();
        assert!(matches!(e.kind, TraceErrorKind::MissingColumn));
        assert_eq!(e.column.as_deref(), Some("model"));
    }

    #[test]
    fn a_quoted_field_with_a_comma_is_one_field() {
        let p = pods("\"p,0\",1000,2048,1,500,\"A10|T4\"\n").unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].name, "p,0");
        assert_eq!(
            p[0].demand,
            GpuDemand::shared(1000, 2048, 500).on_models(GpuModelSet::ANY.with(0).with(1))
        );
    }

    #[test]
    fn the_column_of_an_error_counts_the_raw_text_of_quoted_fields_before_it() {
        // `"p,""0"""` is 10 characters on the line but one field.
        let e = pods("\"p,\"\"0\"\"\",1000, -5,1,500,\n").unwrap_err();
        assert_eq!((e.line, e.char_column), (2, Some(17)), "{e}");
        // A quoted field spanning two lines: the error is on the second.
        let e = pods("\"p\n0\",1000,x,1,500,\n").unwrap_err();
        assert_eq!((e.line, e.char_column), (3, Some(9)), "{e}");
    }

    #[test]
    fn a_byte_order_mark_does_not_hide_the_first_column() {
        let text = format!("\u{feff}{NODES}n0,32000,65536,2,T4\n");
        let n = parse_nodes("n.csv", &text, &mut ModelTable::default()).unwrap();
        assert_eq!(n[0].name, "n0");
        let e = parse_nodes(
            "n.csv",
            &format!("{text}n1,x,1,1,\n"),
            &mut ModelTable::default(),
        )
        .unwrap_err();
        assert_eq!((e.line, e.char_column), (3, Some(4)));
    }

    #[test]
    fn negative_and_overlong_numbers_are_out_of_range_naming_the_value_and_the_range() {
        let e = nodes("n0,-1000,65536,2,T4\n").unwrap_err();
        assert_eq!(e.column.as_deref(), Some("cpu_milli"));
        assert!(
            matches!(&e.kind, TraceErrorKind::OutOfRange { value, expected }
                if value == "-1000" && *expected == U64_RANGE),
            "{e}"
        );
        assert!(e
            .to_string()
            .ends_with("`-1000` is out of range (a whole number from 0 to 18446744073709551615)"));
        let huge = "123456789012345678901234567890";
        let e = nodes(&format!("n0,1,{huge},2,T4\n")).unwrap_err();
        assert!(matches!(&e.kind, TraceErrorKind::OutOfRange { value, .. } if value == huge));
        let e = nodes("n0,1,1,4294967296,T4\n").unwrap_err();
        assert!(
            matches!(&e.kind, TraceErrorKind::OutOfRange { expected, .. } if *expected == U32_RANGE)
        );
        // The largest values of each column are read.
        let n = nodes("n0,18446744073709551615,+7,1024,\n").unwrap();
        assert_eq!(
            (n[0].cpu_milli, n[0].memory_mib, n[0].gpus),
            (u64::MAX, 7, MAX_NODE_GPUS)
        );
        let e = nodes("n0,1e3,1,1,\n").unwrap_err();
        assert!(matches!(&e.kind, TraceErrorKind::BadNumber { value } if value == "1e3"));
        let e = nodes("n0,,1,1,\n").unwrap_err();
        assert!(
            e.to_string().ends_with("empty, expected a whole number"),
            "{e}"
        );
    }

    #[test]
    fn an_empty_file_has_its_own_error() {
        for text in ["", "\n\n", "  \n\r\n"] {
            let e = parse_nodes("n.csv", text, &mut ModelTable::default()).unwrap_err();
            assert!(matches!(e.kind, TraceErrorKind::Empty), "{text:?}: {e}");
            assert_eq!(
                e.to_string(),
                "n.csv:1: the file is empty: expected a header row naming the columns"
            );
        }
        // A header and no rows is a valid, empty list.
        assert!(nodes("").unwrap().is_empty());
    }

    #[test]
    fn duplicate_node_names_are_refused_naming_both_lines() {
        let e = nodes("n0,1,1,1,T4\nn1,1,1,1,T4\n\n n0 ,2,2,2,T4\n").unwrap_err();
        assert_eq!(
            (e.line, e.char_column, e.column.as_deref()),
            (5, Some(2), Some("sn"))
        );
        assert!(
            matches!(&e.kind, TraceErrorKind::DuplicateName { name, first_line: 2 } if name == "n0")
        );
        assert!(
            e.to_string()
                .ends_with("`n0` is named twice: first on line 2"),
            "{e}"
        );
    }

    #[test]
    fn duplicate_pod_names_are_refused_naming_both_lines() {
        let e = pods("p0,1,1,0,0,\np0,1,1,0,0,\n").unwrap_err();
        assert_eq!((e.line, e.column.as_deref()), (3, Some("name")));
        assert!(matches!(
            &e.kind,
            TraceErrorKind::DuplicateName { first_line: 2, .. }
        ));
    }

    #[test]
    fn a_header_naming_a_column_twice_is_refused() {
        let e = parse_nodes(
            "n.csv",
            "sn,cpu_milli,memory_mib,gpu,model,gpu\n",
            &mut ModelTable::default(),
        )
        .unwrap_err();
        assert_eq!(
            (e.line, e.char_column, e.column.as_deref()),
            (1, Some(35), Some("gpu"))
        );
        assert!(matches!(e.kind, TraceErrorKind::DuplicateColumn { .. }));
    }

    #[test]
    fn rows_of_the_wrong_length_point_at_the_extra_field_or_past_the_end() {
        let e = nodes("n0,1,2,3\n").unwrap_err();
        assert_eq!((e.line, e.char_column), (2, Some(9)));
        assert!(matches!(
            e.kind,
            TraceErrorKind::FieldCount {
                expected: 5,
                got: 4
            }
        ));
        let e = nodes("n0,1,2,3,T4,\"x,y\"\r\n").unwrap_err();
        assert_eq!((e.line, e.char_column), (2, Some(13)));
        assert!(matches!(
            e.kind,
            TraceErrorKind::FieldCount {
                expected: 5,
                got: 6
            }
        ));
    }

    #[test]
    fn a_pod_list_without_gpu_spec_allows_any_model() {
        let text = "name,cpu_milli,memory_mib,num_gpu,gpu_milli\np0,1000,1024,2,1000\n";
        let p = parse_pods("p.csv", text, &mut ModelTable::default()).unwrap();
        assert_eq!(p[0].demand, GpuDemand::whole(1000, 1024, 2));
    }
}
