//! [`ClusterError`]: why cluster mode could not start (plain data, beside
//! [`BuildError`](crate::BuildError), which carries it).

use std::fmt;

/// Why a coordinator or a worker could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClusterError {
    /// A setting is out of range: the setting (`cluster.*`) and why.
    Config {
        /// The setting at fault.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// No server could be reached.
    Connect {
        /// The servers tried.
        urls: String,
        /// The client's error.
        reason: String,
    },
    /// A JetStream stream or consumer could not be created or read (is
    /// the server started with `-js`?).
    Stream {
        /// The stream or consumer.
        stream: String,
        /// The server's answer.
        reason: String,
    },
    /// Fewer workers than asked for joined within the join timeout.
    JoinTimeout {
        /// Workers asked for.
        expected: usize,
        /// The workers that did join.
        joined: Vec<String>,
    },
    /// The worker's local runtime did not build.
    Runtime(String),
    /// A worker's nodes do not fit in the room the runtime reserved for
    /// remote nodes (`cluster.max_nodes`): the worker is not used.
    TooManyNodes {
        /// The worker refused.
        worker: String,
        /// How many nodes it offers.
        nodes: usize,
        /// Remote nodes the runtime has already taken (retired ones too).
        taken: usize,
        /// The room reserved.
        max_nodes: usize,
    },
    /// A worker's nodes need more executor threads than the process may
    /// start (a remote node has `slots + prefetch` on the coordinator):
    /// the worker is not used.
    TooManyThreads {
        /// The worker refused.
        worker: String,
        /// Threads its nodes need.
        needed: usize,
        /// Threads left under the process's limit.
        left: usize,
    },
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterError::Config { field, reason } => write!(f, "invalid `{field}`: {reason}"),
            ClusterError::Connect { urls, reason } => {
                write!(f, "cannot connect to NATS at {urls}: {reason}")
            }
            ClusterError::Stream { stream, reason } => write!(
                f,
                "JetStream `{stream}`: {reason} (is nats-server running with -js?)"
            ),
            ClusterError::JoinTimeout { expected, joined } => write!(
                f,
                "{} of {expected} workers joined in time ({})",
                joined.len(),
                if joined.is_empty() {
                    "none".to_owned()
                } else {
                    joined.join(", ")
                }
            ),
            ClusterError::Runtime(e) => write!(f, "the worker's runtime: {e}"),
            ClusterError::TooManyNodes {
                worker,
                nodes,
                taken,
                max_nodes,
            } => write!(
                f,
                "worker {worker} offers {nodes} nodes, but {taken} of the room for \
                 {max_nodes} remote nodes are taken (raise `cluster.max_nodes`)"
            ),
            ClusterError::TooManyThreads {
                worker,
                needed,
                left,
            } => write!(
                f,
                "worker {worker}'s nodes need {needed} executor threads here, \
                 and only {left} are left under the process's limit"
            ),
        }
    }
}

impl std::error::Error for ClusterError {}
