//! Starting and stopping the dashboard's HTTP server.

use super::api;
use crate::runtime::RuntimeHandle;
use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;

/// Where the dashboard listens and who may cancel.
///
/// # Default
///
/// [`DashboardConfig::DEFAULT_ADDR`] (loopback, a port the system picks),
/// no token (so no cancelling).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DashboardConfig {
    /// The address to listen on. Loopback unless you say otherwise: only
    /// processes on this machine can reach it.
    pub addr: SocketAddr,
    /// A bearer token. Reading needs none; cancelling a task needs this
    /// one (`Authorization: Bearer TOKEN`), and without a token set no one
    /// can cancel.
    pub token: Option<String>,
}

impl DashboardConfig {
    /// Loopback, port 0 (the system picks one: see
    /// [`RuntimeHandle::dashboard_addr`]).
    pub const DEFAULT_ADDR: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            addr: DashboardConfig::DEFAULT_ADDR,
            token: None,
        }
    }
}

/// A running dashboard: its address, its server, its thread.
pub(crate) struct Dashboard {
    addr: SocketAddr,
    server: actix_web::dev::ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dashboard")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl crate::runtime::Attached for Dashboard {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server and waits for its thread.
    fn stop(mut self: Box<Self>) {
        // The command goes out now; its completion is what the join waits
        // for.
        drop(self.server.stop(false));
        if let Some(t) = self.thread.take() {
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
        tracing::info!(addr = %self.addr, "dashboard.stop");
    }
}

/// Binds `config.addr` and serves the dashboard for `handle` on a thread
/// of its own.
///
/// # Errors
///
/// The address cannot be bound, or the thread cannot start.
pub(crate) fn start(handle: RuntimeHandle, config: &DashboardConfig) -> std::io::Result<Dashboard> {
    let listener = TcpListener::bind(config.addr)?;
    let addr = listener.local_addr()?;
    let state = api::State::new(handle, config.token.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("allot-dashboard".into())
        .spawn(move || {
            let system = actix_web::rt::System::new();
            let ready = tx.clone();
            let served = system.block_on(async move {
                let server = actix_web::HttpServer::new(move || api::app(state.clone()))
                    .workers(1)
                    .disable_signals()
                    .shutdown_timeout(1)
                    .listen(listener)?
                    .run();
                let _ = ready.send(Ok(server.handle()));
                server.await
            });
            if let Err(e) = served {
                tracing::error!(error = %e, "dashboard.failed");
                let _ = tx.send(Err(e));
            }
        })?;
    let server = rx
        .recv()
        .map_err(|_| std::io::Error::other("the dashboard's thread ended before it served"))??;
    tracing::info!(%addr, "dashboard.start");
    Ok(Dashboard {
        addr,
        server,
        thread: Some(thread),
    })
}
