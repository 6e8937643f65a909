//! A workload file read and parsed, kept with its text so that errors
//! found later can point into it.

use super::model::{node_threads, Nodes, Workload};
use super::ranges::check_ranges;
use crate::error::{CliError, Position};
use crate::limits::MachineLimits;
use crate::locate::{self, FieldPath};
use allot::RuntimeConfig;
use std::path::{Path, PathBuf};

/// A workload file and its parsed contents, kept together so that later
/// errors can point into the text.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) path: PathBuf,
    pub(crate) text: String,
    pub(crate) is_json: bool,
    pub(crate) workload: Workload,
}

/// Reads and parses a workload file.
///
/// # Errors
///
/// [`CliError::Input`] naming the file, the position and the field.
pub(crate) fn load(path: &Path) -> Result<Loaded, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::Input {
        file: path.to_owned(),
        position: None,
        field: None,
        message: format!("cannot read the workload file: {e}"),
        source_line: None,
    })?;
    from_text(path, text)
}

/// Parses the text of workload file `path` and checks its ranges
/// ([`check_ranges`]).
///
/// # Errors
///
/// [`CliError::Input`] naming the file, the position and the field.
pub(crate) fn from_text(path: &Path, text: String) -> Result<Loaded, CliError> {
    let is_json = match path.extension().and_then(|e| e.to_str()) {
        Some("json") => true,
        Some("toml") => false,
        _ => text.trim_start().starts_with('{'),
    };
    let workload = if is_json {
        parse_json(path, &text)?
    } else {
        parse_toml(path, &text)?
    };
    let loaded = Loaded {
        path: path.to_owned(),
        text,
        is_json,
        workload,
    };
    check_ranges(&loaded.workload).map_err(|(field, why)| loaded.error_at(&field, why))?;
    Ok(loaded)
}

fn field_of(path: &serde_path_to_error::Path) -> Option<String> {
    let p = path.to_string();
    (p != ".").then_some(p)
}

/// A TOML file as `T`, an error pointing at the file, line, column and
/// field (workload files, `allot worker --config`).
pub(crate) fn parse_toml<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<T, CliError> {
    let to_cli = |field, e: toml::de::Error| {
        CliError::input_at(
            path,
            text,
            e.span().map(|s| s.start),
            field,
            e.message().trim_end(),
        )
    };
    let de = toml::Deserializer::parse(text).map_err(|e| to_cli(None, e))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = field_of(e.path());
        to_cli(field, e.into_inner())
    })
}

pub(super) fn parse_json(path: &Path, text: &str) -> Result<Workload, CliError> {
    let to_cli = |field, e: serde_json::Error| {
        let shown = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = shown.strip_suffix(&suffix).unwrap_or(&shown).to_owned();
        if e.line() == 0 {
            return CliError::input_at(path, text, None, field, message);
        }
        let position = Position {
            line: e.line(),
            column: e.column().max(1),
        };
        CliError::input_at_line(path, text, position, field, message)
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let workload = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = field_of(e.path());
        to_cli(field, e.into_inner())
    })?;
    de.end().map_err(|e| to_cli(None, e))?;
    Ok(workload)
}

impl Loaded {
    /// The workload's name: its own, or the file stem.
    pub(crate) fn name(&self) -> String {
        self.workload.name.clone().unwrap_or_else(|| {
            self.path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "workload".into())
        })
    }

    /// An error about `field`, pointing at where the file sets it.
    pub(crate) fn error_at(&self, field: &FieldPath, message: impl Into<String>) -> CliError {
        let offset = locate::locate(&self.text, self.is_json, field);
        CliError::input_at(
            &self.path,
            &self.text,
            offset,
            Some(field.to_string()),
            message,
        )
    }

    /// The runtime settings with the workload's nodes in place, once the
    /// nodes are known to fit this machine (`limits`), with at most
    /// `pending` tasks submitted and not yet tallied at a time.
    ///
    /// # Errors
    ///
    /// When nodes are given both as `nodes` and as `runtime.nodes`, or
    /// need more threads or memory than the machine allows (checked before
    /// the node list is built: a `count` of 10^9 allocates nothing).
    pub(crate) fn runtime_config(
        &self,
        limits: &MachineLimits,
        pending: u64,
    ) -> Result<RuntimeConfig, CliError> {
        let mut cfg = self.workload.runtime.clone();
        let (threads, field) = match &self.workload.nodes {
            Some(nodes) => {
                if cfg.nodes != RuntimeConfig::default().nodes {
                    return Err(self.error_at(
                        &FieldPath::parse("nodes"),
                        "nodes are given twice, as `nodes` and as `runtime.nodes`: keep one",
                    ));
                }
                let field = match nodes {
                    Nodes::Count(_) => "nodes.count",
                    Nodes::List(_) => "nodes",
                };
                (nodes.threads(), field)
            }
            None => (node_threads(&cfg.nodes), "runtime.nodes"),
        };
        limits
            .check(threads, pending)
            .map_err(|e| self.error_at(&FieldPath::parse(field), e.to_string()))?;
        if let Some(nodes) = &self.workload.nodes {
            cfg.nodes = nodes.specs();
        }
        Ok(cfg)
    }

    /// Where the file sets the runtime setting `field` (as named by
    /// `BuildError::InvalidConfig`, e.g. `balancer.high`).
    pub(crate) fn runtime_field(&self, field: &str, node: Option<usize>) -> FieldPath {
        let nodes_setting = field == "nodes" || field.starts_with("nodes.");
        // `nodes.speed` of node `i` is `nodes[i].speed` in a list.
        let in_list = |list: &str| match (node, field.strip_prefix("nodes.")) {
            (Some(i), Some(rest)) => FieldPath::parse(list).index(i).key(rest),
            _ => FieldPath::parse(&format!("{}{}", list, &field["nodes".len()..])),
        };
        match &self.workload.nodes {
            Some(Nodes::Count(_)) if field == "nodes" => FieldPath::parse("nodes.count"),
            Some(Nodes::Count(_)) if nodes_setting => {
                FieldPath::parse(&format!("nodes.template.{}", &field["nodes.".len()..]))
            }
            Some(Nodes::List(_)) if nodes_setting => in_list("nodes"),
            _ if nodes_setting => in_list("runtime.nodes"),
            _ => FieldPath::parse(&format!("runtime.{field}")),
        }
    }
}
