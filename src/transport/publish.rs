//! Publishing one message to JetStream until the server holds it: sent
//! again under the same message id (so the server keeps one copy) after
//! an error or no acknowledgement, with a growing pause, until the caller
//! gives up.

use std::time::Duration;

/// Longest wait for the server to acknowledge one publish before it is
/// sent again.
pub(crate) const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);

/// How [`until_held`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Published {
    /// The server acknowledged the message (it is on disk) after `resends`
    /// sends beyond the first.
    Held { resends: u64 },
    /// `give_up` said to stop first, after `resends` sends again.
    GaveUp { resends: u64 },
}

/// Publishes `body` with `headers` to `subject` until the server
/// acknowledges it. Before each send again, `give_up(pause)` is asked,
/// with the pause that would come before it (10 ms, doubling, at most
/// 1 s); `true` stops.
pub(crate) async fn until_held(
    js: &async_nats::jetstream::Context,
    subject: &str,
    headers: async_nats::HeaderMap,
    body: bytes::Bytes,
    give_up: impl Fn(Duration) -> bool,
) -> Published {
    let mut pause = Duration::from_millis(10);
    let mut resends = 0;
    loop {
        let sent = tokio::time::timeout(PUBLISH_TIMEOUT, async {
            js.publish_with_headers(subject.to_owned(), headers.clone(), body.clone())
                .await?
                .await
        })
        .await;
        match sent {
            Ok(Ok(_)) => return Published::Held { resends },
            Ok(Err(e)) => tracing::debug!(%subject, error = %e, "cluster.publish_retry"),
            Err(_) => tracing::debug!(%subject, "cluster.publish_timeout"),
        }
        if give_up(pause) {
            return Published::GaveUp { resends };
        }
        resends += 1;
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}
