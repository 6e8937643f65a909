//! The balancer actor: moves not-yet-started tasks from hot to cold nodes.
//!
//! Every `interval` it samples each node's load counter (no messages), asks
//! the [`DriftDetector`](crate::drift) for a plan, then for each planned move
//! sends a `TakeQueued` request to the hot node's actor and pushes what comes
//! back into the cold node. Jobs the cold node cannot take go back to the
//! supervisor.

mod config;

pub use config::BalancerConfig;

use crate::drift::{DriftDetector, Sample};
use crate::job::JobRef;
use crate::node::{NodeEvent, TakeQueued};
use crate::plane::Plane;
use actix::prelude::*;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub(crate) struct Balancer {
    plane: Arc<Plane>,
    supervisor: Recipient<NodeEvent>,
    detector: DriftDetector,
    config: BalancerConfig,
    in_progress: usize,
}

impl std::fmt::Debug for Balancer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Balancer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Balancer {
    pub(crate) fn new(
        plane: Arc<Plane>,
        supervisor: Recipient<NodeEvent>,
        config: BalancerConfig,
    ) -> Self {
        let detector = DriftDetector::new(config.high, config.low, config.min_gap.as_secs_f64());
        Balancer {
            plane,
            supervisor,
            detector,
            config,
            in_progress: 0,
        }
    }

    fn round(&mut self, ctx: &mut Context<Self>) {
        if self.in_progress > 0 {
            return;
        }
        let samples: Vec<Sample> = self
            .plane
            .nodes
            .iter()
            .map(|n| {
                let v = n.view();
                Sample {
                    load: v.load,
                    rate: v.speed * v.slots as f64,
                    queued: v.queued,
                    available: v.available,
                }
            })
            .collect();
        let moves = self.detector.plan(&samples, self.config.max_per_round);
        if moves.is_empty() {
            return;
        }
        self.plane.rounds.fetch_add(1, Ordering::Relaxed);
        for m in moves {
            let Some(addr) = self.plane.directory.lock()[m.from].clone() else {
                continue;
            };
            self.in_progress += 1;
            let (from, to) = (m.from, m.to);
            addr.send(TakeQueued {
                max_tasks: m.max_tasks,
                max_cost: m.max_cost,
            })
            .into_actor(self)
            .map(move |res, act, _ctx| {
                act.in_progress -= 1;
                if let Ok(jobs) = res {
                    act.deliver(from, to, jobs);
                }
            })
            .spawn(ctx);
        }
    }

    fn deliver(&mut self, from: usize, to: usize, jobs: Vec<JobRef>) {
        if jobs.is_empty() {
            return;
        }
        let n = jobs.len() as u64;
        let _span = tracing::debug_span!("balancer.migrate", from, to, tasks = n).entered();
        match self.plane.nodes[to].push_batch(jobs) {
            Ok(()) => {
                self.plane.nodes[from].count_migrations(0, n);
                self.plane.nodes[to].count_migrations(n, 0);
            }
            Err(back) => self.supervisor.do_send(NodeEvent::Redispatch(back)),
        }
    }
}

impl Actor for Balancer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if self.config.enabled {
            ctx.run_interval(self.config.interval, |act, ctx| act.round(ctx));
        }
    }
}

/// Stop the balancer.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct StopBalancer;

impl Handler<StopBalancer> for Balancer {
    type Result = ();

    fn handle(&mut self, _msg: StopBalancer, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
