//! What `allot worker` and `allot run --nats` share: the NATS settings
//! from flags and an optional TOML file (`[cluster]`, every
//! [`ClusterConfig`] field), and their errors, each naming the flag or the
//! place in the file at fault.

use crate::error::CliError;
use crate::locate::{self, FieldPath};
use allot::cluster::{ClusterConfig, ClusterError};
use allot::BuildError;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A config file for cluster mode: a `[cluster]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClusterFile {
    /// Every [`ClusterConfig`] field, defaults for those left out.
    #[serde(default)]
    cluster: ClusterConfig,
}

/// The NATS settings given on the command line (`None`: not given).
#[derive(Debug, Default)]
pub(crate) struct Flags<'a> {
    /// `--nats`: server URLs, comma-separated.
    pub(crate) nats: Option<&'a str>,
    /// `--prefix`.
    pub(crate) prefix: Option<&'a str>,
    /// `--prefetch`.
    pub(crate) prefetch: Option<usize>,
    /// `--workers`.
    pub(crate) workers: Option<usize>,
    /// `--heartbeat` (seconds).
    pub(crate) heartbeat: Option<std::time::Duration>,
    /// `--config`.
    pub(crate) config: Option<&'a Path>,
}

/// A [`ClusterConfig`] built from a file and flags, with what is needed to
/// point an error at either.
#[derive(Debug)]
pub(crate) struct Settings {
    /// The settings: the file's, then each flag given over it.
    pub(crate) config: ClusterConfig,
    /// The file and its text, when one was given.
    file: Option<(PathBuf, String)>,
    /// The flags given (`--nats`, …), for errors.
    given: Vec<&'static str>,
}

/// The flag that sets a `cluster.*` (or `worker.*`) field.
fn flag_of(field: &str) -> Option<&'static str> {
    Some(match field {
        "cluster.urls" => "--nats",
        "cluster.subject_prefix" => "--prefix",
        "cluster.prefetch" => "--prefetch",
        "cluster.workers" => "--workers",
        "cluster.heartbeat_interval" => "--heartbeat",
        "worker.name" => "--name",
        "worker.nodes" => "--nodes",
        _ => return None,
    })
}

impl Settings {
    /// Reads the file (if any), then applies the flags over it.
    ///
    /// # Errors
    ///
    /// [`CliError::Input`] for an unreadable or invalid file (naming the
    /// line and field); the settings are checked by [`Settings::check`].
    pub(crate) fn new(flags: &Flags<'_>) -> Result<Settings, CliError> {
        let (mut config, file) = match flags.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| CliError::Input {
                    file: path.to_owned(),
                    position: None,
                    field: None,
                    message: format!("cannot read the config file: {e}"),
                    source_line: None,
                })?;
                (parse(path, &text)?, Some((path.to_owned(), text)))
            }
            None => (ClusterConfig::default(), None),
        };
        let mut given = Vec::new();
        if let Some(urls) = flags.nats {
            config.urls = ClusterConfig::new(urls).urls;
            given.push("--nats");
        }
        if let Some(p) = flags.prefix {
            config.subject_prefix = p.to_owned();
            given.push("--prefix");
        }
        if let Some(n) = flags.prefetch {
            config.prefetch = n;
            given.push("--prefetch");
        }
        if let Some(n) = flags.workers {
            config.workers = n;
            given.push("--workers");
        }
        if let Some(d) = flags.heartbeat {
            config.heartbeat_interval = d;
            given.push("--heartbeat");
        }
        Ok(Settings {
            config,
            file,
            given,
        })
    }

    /// The servers, as given.
    pub(crate) fn urls(&self) -> String {
        self.config.urls.join(",")
    }

    /// Checks every setting ([`ClusterConfig::validate`]).
    ///
    /// # Errors
    ///
    /// As [`Settings::error`] for the first bad one.
    pub(crate) fn check(&self) -> Result<(), CliError> {
        self.config
            .validate()
            .map_err(|(field, reason)| self.error(field, reason))
    }

    /// An error about setting `field`: naming its flag when one set it,
    /// else pointing into the file that did.
    pub(crate) fn error(&self, field: &str, reason: impl Into<String>) -> CliError {
        let reason = one_line(&reason.into());
        let flag = flag_of(field);
        // `--name` and `--nodes` are always flags.
        let by_flag = flag.filter(|f| self.given.contains(f) || field.starts_with("worker."));
        if let Some(flag) = by_flag {
            return CliError::Flag {
                flag,
                message: reason,
            };
        }
        match &self.file {
            Some((path, text)) => {
                let at = FieldPath::parse(field);
                let offset = locate::locate(text, false, &at);
                CliError::input_at(path, text, offset, Some(field.to_owned()), reason)
            }
            None => match flag {
                Some(flag) => CliError::Flag {
                    flag,
                    message: reason,
                },
                None => CliError::Other(format!("invalid `{field}`: {reason}")),
            },
        }
    }

    /// A cluster that would not start, as one line naming what to fix.
    pub(crate) fn cluster_error(&self, e: ClusterError) -> CliError {
        match e {
            ClusterError::Config { field, reason } => self.error(field, reason),
            ClusterError::JoinTimeout { .. } => CliError::Other(format!(
                "{e}: start them with `allot worker --nats {} --name NAME`",
                self.urls()
            )),
            other => CliError::Other(one_line(&other.to_string())),
        }
    }

    /// A coordinator runtime that would not build: its cluster's errors
    /// as [`Settings::cluster_error`], `None` for the others.
    pub(crate) fn build_error(&self, e: BuildError) -> Result<CliError, BuildError> {
        match e {
            BuildError::Cluster(c) => Ok(self.cluster_error(c)),
            BuildError::InvalidConfig { field, reason, .. } if field.starts_with("cluster.") => {
                Ok(self.error(field, reason))
            }
            other => Err(other),
        }
    }
}

/// `text` on one line: a client error may span several.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn parse(path: &Path, text: &str) -> Result<ClusterConfig, CliError> {
    crate::workload::file::parse_toml::<ClusterFile>(path, text).map(|f| f.cluster)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(flags: &Flags<'_>) -> Settings {
        Settings::new(flags).unwrap()
    }

    #[test]
    fn flags_override_the_file_and_errors_name_the_flag_that_set_a_value() {
        let dir = std::env::temp_dir().join(format!("allot-nats-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "[cluster]\nurls = [\"nats://a:1\"]\nsubject_prefix = \"bad.prefix\"\ntoken = \"t\"\n",
        )
        .unwrap();
        let from_file = settings(&Flags {
            config: Some(&path),
            ..Flags::default()
        });
        assert_eq!(from_file.config.urls, ["nats://a:1"]);
        assert_eq!(from_file.config.token.as_deref(), Some("t"));
        let e = from_file.check().unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}:3:", path.display())), "{e}");
        assert!(e.contains("field `cluster.subject_prefix`"), "{e}");

        let flagged = settings(&Flags {
            config: Some(&path),
            nats: Some("nats://b:2,nats://c:3"),
            prefix: Some("also bad"),
            ..Flags::default()
        });
        assert_eq!(flagged.config.urls, ["nats://b:2", "nats://c:3"]);
        let e = flagged.check().unwrap_err().to_string();
        assert!(e.starts_with("--prefix: "), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_unknown_key_in_the_file_is_refused_naming_it() {
        let path = Path::new("c.toml");
        let e = parse(path, "[cluster]\nurl = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.toml:2:1: field `cluster.url`"), "{e}");
        assert!(e.contains("unknown field `url`"), "{e}");
    }

    #[test]
    fn worker_settings_always_name_their_flag() {
        let s = settings(&Flags::default());
        let e = s.error("worker.name", "no good").to_string();
        assert_eq!(e, "--name: no good");
        let e = s
            .cluster_error(ClusterError::Connect {
                urls: "nats://h:1".into(),
                reason: "connection\n  refused".into(),
            })
            .to_string();
        assert_eq!(
            e,
            "cannot connect to NATS at nats://h:1: connection refused"
        );
    }
}
