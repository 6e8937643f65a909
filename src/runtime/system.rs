//! Starting the actors: one thread runs an actix `System` with the
//! supervisor and the balancer on its arbiter and an arbiter (thread) per
//! node; `start` returns once every node accepts work.

use crate::balancer::{Balancer, BalancerConfig};
use crate::error::BuildError;
use crate::fault::SpeedChange;
use crate::hooks::Hooks;
use crate::plane::Plane;
use crate::queue::Discipline;
use crate::supervisor::{Drain, Inbound, Supervisor, SupervisorConfig, SupervisorParts};
use actix::prelude::*;
use crossbeam_channel::Receiver;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

/// What the actors are made of.
pub(super) struct Parts {
    pub(super) plane: Arc<Plane>,
    pub(super) inbox: Receiver<Inbound>,
    pub(super) discipline: Discipline,
    pub(super) config: SupervisorConfig,
    pub(super) balancer: BalancerConfig,
    pub(super) speed_changes: Vec<SpeedChange>,
    pub(super) hooks: Hooks,
}

/// The running actors and the thread of their system.
pub(super) struct Started {
    pub(super) supervisor: Addr<Supervisor>,
    pub(super) balancer: Addr<Balancer>,
    pub(super) system: System,
    pub(super) thread: JoinHandle<()>,
}

/// Starts the system thread, its arbiters, the supervisor (which starts
/// the nodes) and the balancer.
///
/// # Errors
///
/// [`BuildError::Spawn`] when a thread cannot start.
pub(super) fn start(parts: Parts) -> Result<Started, BuildError> {
    let (started_tx, started_rx) = crossbeam_channel::bounded(1);
    let epoch = Instant::now();
    let thread = std::thread::Builder::new()
        .name("allot-system".into())
        .spawn(move || {
            let system = System::new();
            // `Arbiter::new` panics when its thread cannot start: that is a
            // build error, not a crash.
            let count = parts.plane.nodes.len();
            let arbiters = std::panic::catch_unwind(|| {
                (0..count).map(|_| Arbiter::new()).collect::<Vec<Arbiter>>()
            });
            let Ok(arbiters) = arbiters else {
                return;
            };
            let handles = arbiters.iter().map(Arbiter::handle).collect();
            let plane = Arc::clone(&parts.plane);
            let late_arbiters = Arc::new(crate::sync::Mutex::new(Vec::new()));
            let supervisor_parts = SupervisorParts {
                plane: parts.plane,
                arbiters: handles,
                late_arbiters: Arc::clone(&late_arbiters),
                discipline: parts.discipline,
                inbox: parts.inbox,
                config: parts.config,
                epoch,
                speed_changes: parts.speed_changes,
                hooks: parts.hooks,
            };
            let balancer_config = parts.balancer;
            let (supervisor, balancer) = system.block_on(async move {
                let supervisor = Supervisor::new(supervisor_parts).start();
                let balancer =
                    Balancer::new(plane, supervisor.clone().recipient(), balancer_config).start();
                // Nodes start in the supervisor's `started`, which runs
                // before it handles any message: once this is answered,
                // every node accepts work, and `start` can return.
                let _ = supervisor.send(Drain).await;
                (supervisor, balancer)
            });
            let _ = started_tx.send((supervisor, balancer, System::current()));
            if let Err(e) = system.run() {
                tracing::error!(error = %e, "runtime.system_error");
            }
            let late = std::mem::take(&mut *late_arbiters.lock());
            for arbiter in arbiters.into_iter().chain(late) {
                arbiter.stop();
                let _ = arbiter.join();
            }
        })
        .map_err(BuildError::Spawn)?;
    let (supervisor, balancer, system) = started_rx.recv().map_err(|_| {
        BuildError::Spawn(std::io::Error::other("runtime thread exited during start"))
    })?;
    Ok(Started {
        supervisor,
        balancer,
        system,
        thread,
    })
}
