//! A custom allocation policy: implement `allot::Policy` and pass it to
//! `Builder::policy_with`. This one keeps GPU nodes free for GPU work.
//!
//! ```sh
//! cargo run --release --example custom_policy
//! ```
//!
//! Look for: the task without a GPU demand runs on the CPU node, the one
//! that needs half a GPU on the GPU node. `docs/guide.md` (section 9) walks
//! through the code.

use allot::policy::{NodeView, TaskView};
use allot::{NodeSpec, Policy, Resources, Runtime, Task};

/// Tasks without a GPU demand go to CPU-only nodes when one can host them;
/// among the candidates, the node that would drain its work soonest.
#[derive(Debug, Default)]
struct KeepGpusFree;

impl KeepGpusFree {
    fn soonest(
        task: &TaskView<'_>,
        nodes: &[NodeView],
        ok: impl Fn(&NodeView) -> bool,
    ) -> Option<usize> {
        nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.can_host(task) && ok(n))
            .min_by(|(_, a), (_, b)| a.drain_time().total_cmp(&b.drain_time()))
            .map(|(j, _)| j)
    }
}

impl Policy for KeepGpusFree {
    fn name(&self) -> &'static str {
        "keep-gpus-free"
    }

    fn place(&mut self, task: &TaskView<'_>, nodes: &[NodeView]) -> Option<usize> {
        if task.demand.gpu_milli == 0 {
            if let Some(j) = Self::soonest(task, nodes, |n| n.capacity.gpu_milli == 0) {
                return Some(j);
            }
        }
        Self::soonest(task, nodes, |_| true)
    }
}

/// A custom allocation policy (`allot::Policy`, passed to
/// `Builder::policy_with`) that keeps GPU nodes free for GPU work.
///
/// It takes no options: the program is the example.
#[derive(Debug, clap::Parser)]
#[command(name = "custom_policy")]
struct Args {}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    <Args as clap::Parser>::parse();
    let runtime = Runtime::builder()
        .nodes([
            NodeSpec::new(Resources::cpu(8_000)).name("cpu"),
            NodeSpec::new(Resources::cpu(8_000).with_gpu_milli(1_000)).name("gpu"),
        ])
        // Called once per runtime, with the runtime's seed (for policies
        // that draw random numbers).
        .policy_with(|_seed| Box::new(KeepGpusFree))
        .build()?;
    let handle = runtime.handle();

    let cpu_task = handle.submit(Task::new(|ctx| Ok::<_, String>(ctx.node())))?;
    let gpu_task = handle.submit(
        Task::new(|ctx| Ok::<_, String>(ctx.node()))
            .demand(Resources::cpu(1_000).with_gpu_milli(500)),
    )?;
    assert_eq!(cpu_task.wait()?.0, 0); // the CPU node
    assert_eq!(gpu_task.wait()?.0, 1); // the only node with a GPU
    println!("no-GPU task ran on the CPU node; GPU task ran on the GPU node");
    runtime.shutdown();
    Ok(())
}
