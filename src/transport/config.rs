//! [`ClusterConfig`]: how to reach NATS and how the cluster behaves; plain
//! serde data, also read from config files (`[cluster]`).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

impl ClusterConfig {
    /// Default for [`ClusterConfig::urls`].
    pub const DEFAULT_URL: &'static str = "nats://127.0.0.1:4222";
    /// Default for [`ClusterConfig::subject_prefix`].
    pub const DEFAULT_PREFIX: &'static str = "allot";
    /// Default for [`ClusterConfig::heartbeat_interval`].
    pub const DEFAULT_HEARTBEAT: Duration = Duration::from_millis(200);
    /// Default for [`ClusterConfig::join_timeout`].
    pub const DEFAULT_JOIN_TIMEOUT: Duration = Duration::from_secs(30);
    /// Default for [`ClusterConfig::prefetch`].
    pub const DEFAULT_PREFETCH: usize = 2;
    /// Default for [`ClusterConfig::connect_timeout`].
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    /// Default for [`ClusterConfig::max_nodes`].
    pub const DEFAULT_MAX_NODES: usize = 256;
    /// The largest [`ClusterConfig::max_nodes`] accepted.
    pub const MAX_MAX_NODES: usize = 65_536;
    /// The longest subject prefix accepted.
    pub const MAX_PREFIX_LEN: usize = 64;
}

/// TLS settings for the connection to NATS.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// Refuse a server that does not offer TLS.
    pub required: bool,
    /// A PEM file of root certificates to trust beside the system's.
    pub ca_file: Option<PathBuf>,
    /// A PEM client certificate (with [`key_file`](Self::key_file)) for
    /// mutual TLS.
    pub cert_file: Option<PathBuf>,
    /// The client certificate's PEM private key.
    pub key_file: Option<PathBuf>,
}

/// How a coordinator or a worker reaches NATS, and how the cluster behaves.
///
/// Authentication: at most one of `user`/`password`, `token`, `nkey_seed`
/// and `credentials_file`. Two clusters share one NATS server when their
/// [`subject_prefix`](Self::subject_prefix)es differ.
///
/// # Default
///
/// One server at [`DEFAULT_URL`](Self::DEFAULT_URL), no authentication, no
/// TLS, prefix `allot`, one worker awaited, the other `DEFAULT_*` values.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// Server URLs (`nats://host:port`, `tls://…`); the client tries them
    /// in turn and reconnects to any of them.
    pub urls: Vec<String>,
    /// User name, with [`password`](Self::password).
    pub user: Option<String>,
    /// Password, with [`user`](Self::user).
    pub password: Option<String>,
    /// An authentication token.
    pub token: Option<String>,
    /// An NKey seed (`SU…`).
    pub nkey_seed: Option<String>,
    /// A `.creds` file (JWT and NKey seed).
    pub credentials_file: Option<PathBuf>,
    /// TLS.
    pub tls: TlsConfig,
    /// The first token of every subject and the stem of the stream names:
    /// letters, digits, `-` and `_`.
    pub subject_prefix: String,
    /// Workers the coordinator waits for when the runtime is built. Every
    /// worker heard by then joins, and so does every worker that comes
    /// later (up to [`max_nodes`](Self::max_nodes)). `0`: build without
    /// waiting (with no local node, tasks wait until a worker joins).
    pub workers: usize,
    /// Room for remote nodes, reserved when the runtime is built: the
    /// nodes of every worker that has joined since the runtime started,
    /// counting those retired. A worker whose nodes would pass it is
    /// refused ([`ClusterError::TooManyNodes`](crate::cluster::ClusterError::TooManyNodes),
    /// logged as `cluster.join_refused` and in
    /// [`ClusterMetrics::refused`](crate::metrics::ClusterMetrics)).
    pub max_nodes: usize,
    /// How long the coordinator waits for them.
    #[serde(with = "crate::durations::secs")]
    pub join_timeout: Duration,
    /// How often a worker reports; a remote node silent for the runtime's
    /// hang timeout is declared down.
    #[serde(with = "crate::durations::secs")]
    pub heartbeat_interval: Duration,
    /// Attempts a coordinator hands each remote node beyond its slots, so
    /// that its slots do not idle through a round trip. The worker's
    /// consumer allows `slots + prefetch` unacknowledged messages.
    pub prefetch: usize,
    /// How long a first connection may take.
    #[serde(with = "crate::durations::secs")]
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets stay out of logs.
        let hidden = |o: &Option<String>| o.as_ref().map(|_| "<hidden>");
        f.debug_struct("ClusterConfig")
            .field("urls", &self.urls)
            .field("user", &self.user)
            .field("password", &hidden(&self.password))
            .field("token", &hidden(&self.token))
            .field("nkey_seed", &hidden(&self.nkey_seed))
            .field("credentials_file", &self.credentials_file)
            .field("tls", &self.tls)
            .field("subject_prefix", &self.subject_prefix)
            .field("workers", &self.workers)
            .field("max_nodes", &self.max_nodes)
            .field("join_timeout", &self.join_timeout)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("prefetch", &self.prefetch)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            urls: vec![ClusterConfig::DEFAULT_URL.to_owned()],
            user: None,
            password: None,
            token: None,
            nkey_seed: None,
            credentials_file: None,
            tls: TlsConfig::default(),
            subject_prefix: ClusterConfig::DEFAULT_PREFIX.to_owned(),
            workers: 1,
            max_nodes: ClusterConfig::DEFAULT_MAX_NODES,
            join_timeout: ClusterConfig::DEFAULT_JOIN_TIMEOUT,
            heartbeat_interval: ClusterConfig::DEFAULT_HEARTBEAT,
            prefetch: ClusterConfig::DEFAULT_PREFETCH,
            connect_timeout: ClusterConfig::DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

impl ClusterConfig {
    /// A configuration for the server(s) at `urls` (comma-separated, as
    /// NATS tools take them), defaults otherwise.
    pub fn new(urls: &str) -> Self {
        ClusterConfig {
            urls: urls
                .split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned)
                .collect(),
            ..ClusterConfig::default()
        }
    }

    /// Sets how many workers the coordinator waits for.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }

    /// Sets how many remote nodes the runtime has room for.
    pub fn max_nodes(mut self, n: usize) -> Self {
        self.max_nodes = n;
        self
    }

    /// Sets the subject prefix.
    pub fn subject_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.subject_prefix = prefix.into();
        self
    }

    /// Checks every setting: the first bad one's field name (as in config
    /// files, `cluster.*`) and why.
    ///
    /// # Errors
    ///
    /// `(field, reason)` for the first setting out of range.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.urls.is_empty() {
            return Err(("cluster.urls", "at least one server URL is needed".into()));
        }
        for u in &self.urls {
            let ok = ["nats://", "tls://", "ws://", "wss://"]
                .iter()
                .any(|s| u.starts_with(s))
                || !u.contains("://");
            if !ok || u.trim().is_empty() || u.chars().any(char::is_whitespace) {
                return Err((
                    "cluster.urls",
                    format!("{u:?} is not a NATS URL (nats://host:port)"),
                ));
            }
        }
        let p = &self.subject_prefix;
        if p.is_empty() || p.len() > ClusterConfig::MAX_PREFIX_LEN {
            return Err((
                "cluster.subject_prefix",
                format!("must be 1 to {} characters", ClusterConfig::MAX_PREFIX_LEN),
            ));
        }
        if !p
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err((
                "cluster.subject_prefix",
                format!("{p:?}: only ASCII letters, digits, - and _ are allowed"),
            ));
        }
        let auths = [
            self.user.is_some() || self.password.is_some(),
            self.token.is_some(),
            self.nkey_seed.is_some(),
            self.credentials_file.is_some(),
        ];
        if auths.iter().filter(|a| **a).count() > 1 {
            return Err((
                "cluster.user",
                "give at most one of user/password, token, nkey_seed and credentials_file".into(),
            ));
        }
        if self.user.is_some() != self.password.is_some() {
            return Err(("cluster.password", "user and password go together".into()));
        }
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            return Err((
                "cluster.tls.key_file",
                "a client certificate needs its key, and a key its certificate".into(),
            ));
        }
        for (field, d) in [
            ("cluster.heartbeat_interval", self.heartbeat_interval),
            ("cluster.connect_timeout", self.connect_timeout),
        ] {
            if d.is_zero() || d > crate::durations::MAX_INTERVAL {
                return Err((field, format!("{d:?} is out of range (0, 1 h]")));
            }
        }
        if self.join_timeout > Duration::from_secs(24 * 3_600) {
            return Err((
                "cluster.join_timeout",
                format!("{:?} is longer than a day", self.join_timeout),
            ));
        }
        if self.prefetch > 4_096 {
            return Err((
                "cluster.prefetch",
                format!("{} is more than 4096", self.prefetch),
            ));
        }
        if self.max_nodes > ClusterConfig::MAX_MAX_NODES {
            return Err((
                "cluster.max_nodes",
                format!(
                    "{} is more than {}",
                    self.max_nodes,
                    ClusterConfig::MAX_MAX_NODES
                ),
            ));
        }
        if self.workers > 65_536 {
            return Err((
                "cluster.workers",
                format!("{} is more than 65536", self.workers),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_name_their_field() {
        assert_eq!(ClusterConfig::default().validate(), Ok(()));
        let c = ClusterConfig::new("nats://a:4222, nats://b:4222");
        assert_eq!(c.urls, ["nats://a:4222", "nats://b:4222"]);
        let field = |c: ClusterConfig| c.validate().unwrap_err().0;
        assert_eq!(field(ClusterConfig::new("")), "cluster.urls");
        assert_eq!(field(ClusterConfig::new("http://x")), "cluster.urls");
        assert_eq!(
            field(ClusterConfig::default().subject_prefix("a.b")),
            "cluster.subject_prefix"
        );
        assert_eq!(
            field(ClusterConfig::default().subject_prefix("")),
            "cluster.subject_prefix"
        );
        let both = ClusterConfig {
            token: Some("t".into()),
            nkey_seed: Some("SU".into()),
            ..ClusterConfig::default()
        };
        assert_eq!(field(both), "cluster.user");
        let half = ClusterConfig {
            user: Some("u".into()),
            ..ClusterConfig::default()
        };
        assert_eq!(field(half), "cluster.password");
        let zero = ClusterConfig {
            heartbeat_interval: Duration::ZERO,
            ..ClusterConfig::default()
        };
        assert_eq!(field(zero), "cluster.heartbeat_interval");
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let c = ClusterConfig {
            password: Some("hunter2".into()),
            user: Some("u".into()),
            ..ClusterConfig::default()
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn reads_from_toml_like_json() {
        let c: ClusterConfig = serde_json::from_str(
            r#"{"urls":["nats://h:1"],"subject_prefix":"team-a","heartbeat_interval":0.5}"#,
        )
        .unwrap();
        assert_eq!(c.subject_prefix, "team-a");
        assert_eq!(c.heartbeat_interval, Duration::from_millis(500));
        assert!(serde_json::from_str::<ClusterConfig>(r#"{"url":"x"}"#).is_err());
    }
}
