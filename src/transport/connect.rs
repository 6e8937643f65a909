//! Connecting to NATS from a [`ClusterConfig`], and the two JetStream
//! streams every cluster uses.

use super::config::ClusterConfig;
use super::wire::Subjects;
use crate::cluster_error::ClusterError;
use async_nats::jetstream::{self, stream};
use std::time::Duration;

/// Connects with every setting of `config` (servers, authentication, TLS);
/// the client reconnects by itself after a drop, forever.
pub(crate) async fn connect(
    config: &ClusterConfig,
    name: &str,
) -> Result<async_nats::Client, ClusterError> {
    let mut opts = match &config.credentials_file {
        Some(path) => async_nats::ConnectOptions::with_credentials_file(path.clone())
            .await
            .map_err(|e| ClusterError::Config {
                field: "cluster.credentials_file",
                reason: format!("{}: {e}", path.display()),
            })?,
        None => async_nats::ConnectOptions::new(),
    };
    if let (Some(u), Some(p)) = (&config.user, &config.password) {
        opts = opts.user_and_password(u.clone(), p.clone());
    }
    if let Some(t) = &config.token {
        opts = opts.token(t.clone());
    }
    if let Some(seed) = &config.nkey_seed {
        opts = opts.nkey(seed.clone());
    }
    if config.tls.required {
        opts = opts.require_tls(true);
    }
    if let Some(ca) = &config.tls.ca_file {
        opts = opts.add_root_certificates(ca.clone());
    }
    if let (Some(cert), Some(key)) = (&config.tls.cert_file, &config.tls.key_file) {
        opts = opts.add_client_certificate(cert.clone(), key.clone());
    }
    let who = name.to_owned();
    opts = opts
        .name(name)
        .connection_timeout(config.connect_timeout)
        .ping_interval(Duration::from_secs(2))
        .max_reconnects(None)
        .reconnect_delay_callback(|attempt| {
            // 10 ms, doubling, at most 1 s: a restarted server is found
            // within a second of being back.
            Duration::from_millis(10u64 << attempt.min(7)).min(Duration::from_secs(1))
        })
        .event_callback(move |event| {
            let who = who.clone();
            async move {
                match event {
                    async_nats::Event::Connected => tracing::info!(who, "cluster.connected"),
                    async_nats::Event::Disconnected => tracing::warn!(who, "cluster.disconnected"),
                    other => tracing::debug!(who, event = %other, "cluster.event"),
                }
            }
        });
    opts.connect(config.urls.clone())
        .await
        .map_err(|e| ClusterError::Connect {
            urls: config.urls.join(","),
            reason: e.to_string(),
        })
}

/// Creates the work and result streams if they do not exist (file
/// storage, work-queue retention: a message is gone once acknowledged; a
/// two-minute window for de-duplicating publishes by `Nats-Msg-Id`).
pub(crate) async fn ensure_streams(
    js: &jetstream::Context,
    subjects: &Subjects,
) -> Result<(), ClusterError> {
    for (name, subject) in [
        (subjects.work_stream(), subjects.work_all()),
        (subjects.result_stream(), subjects.result_all()),
    ] {
        js.get_or_create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![subject],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::WorkQueue,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| ClusterError::Stream {
            stream: name,
            reason: e.to_string(),
        })?;
    }
    Ok(())
}
