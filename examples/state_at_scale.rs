//! The state API at a million tasks: how long a page, a filtered page, a
//! deep page, the counts and one task's detail take with a million tasks
//! queued, and then with a million finished tasks retained, and how many
//! bytes a retained record costs (counted by a counting allocator).
//!
//! ```sh
//! cargo run --release --example state_at_scale              # 1 000 000 tasks
//! cargo run --release --example state_at_scale -- 200000    # fewer
//! ```
//!
//! Look for: page times in milliseconds (each is one pass over the live
//! tasks or the records, a shard at a time), the bytes per record, and
//! `counts` staying exact (`retained + forgotten` is every finished task).

use allot::{NodeId, NodeSpec, Resources, Runtime, Task, TaskQuery, TaskState};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[global_allocator]
static HEAP: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    println!("{what:<44} {:>9.2} ms", start.elapsed().as_secs_f64() * 1e3);
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let runtime = Runtime::builder()
        .nodes(vec![NodeSpec::new(Resources::cpu(4_000)).slots(1); 2])
        .queue_capacity(n + 16)
        .retain_finished(n)
        .build()?;
    let h = runtime.handle();
    // Hold both nodes' only slot so every task stays queued.
    let (tx, rx) = mpsc::channel::<()>();
    let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
    let (started_tx, started) = mpsc::channel::<()>();
    for node in 0..2 {
        let (rx, started_tx) = (rx.clone(), started_tx.clone());
        h.submit_batch_detached_to(
            NodeId(node),
            [Task::new(move |_| {
                started_tx.send(()).map_err(|e| e.to_string())?;
                rx.lock().unwrap().recv().map_err(|e| e.to_string())
            })],
        )?;
    }
    for _ in 0..2 {
        started.recv_timeout(Duration::from_secs(30))?;
    }
    let idle = HEAP.allocated();
    timed(&format!("submit {n} tasks (batches of 10 000)"), || {
        let mut left = n;
        while left > 0 {
            let k = left.min(10_000);
            h.submit_batch_detached((0..k).map(|i| Task::new(move |_| Ok::<_, String>(i))))
                .expect("accepted");
            left -= k;
        }
    });
    println!("-- {n} tasks queued");
    let counts = timed("state_counts", || h.state_counts());
    println!("   {counts:?}");
    let first = timed("first page of 100", || h.tasks(&TaskQuery::default()))?;
    let deep = timed("a page of 1 000 after the middle", || {
        h.tasks(&TaskQuery {
            after: first
                .tasks
                .get(50)
                .map(|t| allot::Cursor(allot::TaskId(t.id.0 + n as u64 / 2))),
            limit: 1_000,
            ..TaskQuery::default()
        })
    })?;
    assert_eq!(deep.tasks.len(), 1_000);
    timed("queued on node 1, page of 100", || {
        h.tasks(&TaskQuery {
            state: Some(TaskState::Queued),
            node: Some(NodeId(1)),
            ..TaskQuery::default()
        })
    })?;
    let last = deep.tasks.last().map(|t| t.id).expect("a task");
    let d = timed("one task's detail (why: its queue place)", || h.task(last));
    println!(
        "   {}",
        d.and_then(|d| d.why)
            .map(|w| w.to_string())
            .unwrap_or_default()
    );

    drop(tx);
    let start = Instant::now();
    while h.state_counts().completed < n as u64 {
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("-- ran them all in {:.2} s", start.elapsed().as_secs_f64());
    let counts = h.state_counts();
    println!("   {counts:?}");
    // The jobs are gone (freed as they settle, but for the few kept for
    // reuse); what grew since before the submission is the records.
    let after = HEAP.allocated();
    let grew = after as f64 - idle as f64;
    println!(
        "retained records: {} · heap grew {:.1} MiB since before the submission · {:.1} bytes per record",
        counts.retained,
        grew / (1 << 20) as f64,
        grew / counts.retained as f64
    );
    timed("first page of 100 (finished, retained)", || {
        h.tasks(&TaskQuery {
            state: Some(TaskState::Completed),
            ..TaskQuery::default()
        })
    })?;
    timed("one finished task's detail", || h.task(last));
    runtime.shutdown();
    Ok(())
}
