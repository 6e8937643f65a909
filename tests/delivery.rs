//! Every task ends exactly once and its outcome is delivered exactly once.

mod support;

use allot::{RuntimeHandle, Task, TaskError, TaskHandle};
use std::collections::HashSet;
use support::{builder, expect_each};

#[test]
fn handle_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<allot::Runtime>();
    assert_send_sync::<RuntimeHandle>();
    assert_send_sync::<TaskHandle<u64>>();
    assert_send_sync::<TaskHandle<Vec<String>>>();
    assert_send_sync::<allot::UnfinishedTask>();
    assert_send_sync::<allot::Metrics>();
    fn assert_send<T: Send>() {}
    assert_send::<allot::SubmitError<u64>>();
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Outcomes {
    completed: u64,
    failed: u64,
    cancelled: u64,
}

fn run_mixed(
    handle: &RuntimeHandle,
    thread: u64,
    per_thread: u64,
) -> (Outcomes, Vec<allot::TaskId>) {
    let mut handles = Vec::new();
    let mut batch = Vec::new();
    for i in 0..per_thread {
        let task = Task::new(move |_ctx| {
            if i % 17 == 3 {
                Err(format!("task {thread}/{i} fails on purpose"))
            } else {
                Ok(thread * 1_000_000 + i)
            }
        })
        .cost(0.0001);
        if i % 3 == 0 {
            handles.push((i, handle.submit(task).expect("accepted")));
        } else {
            batch.push(task);
            if batch.len() == 64 {
                let first = i + 1 - 64;
                for (k, h) in handle
                    .submit_batch(std::mem::take(&mut batch))
                    .unwrap()
                    .into_iter()
                    .enumerate()
                {
                    let _ = first + k as u64;
                    handles.push((u64::MAX, h));
                }
            }
        }
    }
    if !batch.is_empty() {
        for h in handle.submit_batch(batch).unwrap() {
            handles.push((u64::MAX, h));
        }
    }
    // Cancel every 11th handle: it may or may not win against completion.
    for (k, (_, h)) in handles.iter().enumerate() {
        if k % 11 == 5 {
            h.cancel();
        }
    }
    let mut out = Outcomes::default();
    let mut ids = Vec::new();
    for (_, h) in handles {
        ids.push(h.id());
        match h.wait() {
            Ok(v) => {
                assert_eq!(v / 1_000_000, thread);
                out.completed += 1;
            }
            Err(TaskError::Failed { attempts }) => {
                assert_eq!(attempts.len(), 1, "own errors are not retried by default");
                out.failed += 1;
            }
            Err(TaskError::Cancelled(_)) => out.cancelled += 1,
            Err(other) => panic!("unexpected outcome {other}"),
        }
    }
    (out, ids)
}

#[test]
fn every_task_ends_exactly_once_under_concurrent_submission_from_8_threads() {
    for round in 0..5 {
        let runtime = builder(4).build().unwrap();
        let handle = runtime.handle().clone();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let h = handle.clone();
                std::thread::spawn(move || run_mixed(&h, t, 1_500))
            })
            .collect();
        let mut total = Outcomes::default();
        let mut ids = HashSet::new();
        for t in threads {
            let (o, t_ids) = t.join().unwrap();
            total.completed += o.completed;
            total.failed += o.failed;
            total.cancelled += o.cancelled;
            for id in t_ids {
                assert!(ids.insert(id), "task id {id} handed out twice");
            }
        }
        let m = runtime.shutdown();
        let t = &m.totals;
        assert_eq!(t.submitted, 8 * 1_500, "round {round}");
        assert_eq!(ids.len() as u64, t.submitted);
        // The handles' outcomes and the ledger agree one by one.
        assert_eq!(t.completed, total.completed, "round {round}: {t:?}");
        assert_eq!(t.failed, total.failed, "round {round}: {t:?}");
        assert_eq!(t.cancelled, total.cancelled, "round {round}: {t:?}");
        assert_eq!(t.in_flight, 0);
        assert_eq!(t.unaccounted(), 0);
        assert!(total.failed > 0 && total.completed > 0);
    }
}

#[test]
fn a_task_can_be_awaited_from_async_code() {
    let runtime = builder(2).build().unwrap();
    let handle = runtime.handle().clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let sum = rt.block_on(async move {
        let hs = handle
            .submit_batch((0..100u64).map(|i| Task::new(move |_| Ok::<_, String>(i))))
            .unwrap();
        let mut sum = 0;
        for h in hs {
            sum += h.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, 4950);
    assert_eq!(runtime.shutdown().totals.completed, 100);
}

#[test]
fn a_panic_in_task_code_fails_that_attempt_and_not_the_node() {
    let runtime = builder(1).build().unwrap();
    let h = runtime.handle();
    let bad = h
        .submit(Task::new(|_| -> Result<u32, String> {
            panic!("model diverged")
        }))
        .unwrap();
    match bad.wait() {
        Err(TaskError::Failed { attempts }) => {
            assert_eq!(attempts.len(), 1);
            assert!(attempts[0].to_string().contains("model diverged"));
        }
        other => panic!("unexpected {other:?}"),
    }
    let good = h.submit(Task::new(|_| Ok::<_, String>(7))).unwrap();
    assert_eq!(good.wait().unwrap(), 7);
    let m = runtime.shutdown();
    assert_eq!(m.totals.restarts, 0);
    assert_eq!(m.nodes[0].failed, 1);
}

#[test]
fn own_errors_are_retried_only_when_the_task_opts_in() {
    let runtime = builder(2).build().unwrap();
    let h = runtime.handle();
    let flaky = |ctx: &allot::TaskContext<'_>| {
        if ctx.attempt() < 2 {
            Err(format!("transient failure on attempt {}", ctx.attempt()))
        } else {
            Ok(ctx.attempt())
        }
    };
    let plain = h.submit(Task::new(flaky)).unwrap();
    let opted = h.submit(Task::new(flaky).retry_on_error(true)).unwrap();
    assert!(matches!(plain.wait(), Err(TaskError::Failed { ref attempts }) if attempts.len() == 1));
    assert_eq!(opted.wait().unwrap(), 2);
    let m = runtime.shutdown();
    assert_eq!(m.totals.retried, 2);
}

#[test]
fn a_task_that_exhausts_its_retries_reports_every_attempt() {
    let runtime = builder(2).build().unwrap();
    let h = runtime.handle();
    let t = h
        .submit(
            Task::new(|ctx| Err::<(), _>(format!("bad attempt {}", ctx.attempt())))
                .retry_on_error(true)
                .max_retries(2),
        )
        .unwrap();
    match t.wait() {
        Err(TaskError::Failed { attempts }) => {
            let nums: Vec<u32> = attempts.iter().map(|a| a.attempt).collect();
            assert_eq!(nums, vec![0, 1, 2]);
            assert!(attempts[2].to_string().contains("bad attempt 2"));
        }
        other => panic!("unexpected {other:?}"),
    }
    runtime.shutdown();
}

#[test]
fn detached_tasks_each_run_once_and_are_counted_without_handles() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    let runtime = builder(2).build().unwrap();
    let h = runtime.handle();
    let runs = Arc::new(AtomicU64::new(0));
    for round in 0..20u64 {
        let tasks = (0..500u64).map(|i| {
            let runs = Arc::clone(&runs);
            Task::new(move |_| {
                runs.fetch_add(1, Ordering::Relaxed);
                if (round * 500 + i) % 97 == 0 {
                    Err("every 97th fails".to_owned())
                } else {
                    Ok(i)
                }
            })
        });
        if round % 2 == 0 {
            h.submit_batch_detached(tasks).unwrap();
        } else {
            h.submit_batch_detached_to(allot::NodeId(1), tasks).unwrap();
        }
    }
    let m = runtime.shutdown();
    let failed = (0..10_000u64).filter(|k| k % 97 == 0).count() as u64;
    assert_eq!(m.totals.submitted, 10_000);
    assert_eq!(m.totals.failed, failed);
    assert_eq!(m.totals.completed, 10_000 - failed);
    assert_eq!(m.totals.unaccounted(), 0);
    assert_eq!(runs.load(Ordering::Relaxed), 10_000, "each ran once");
}

#[test]
fn finished_detached_closures_are_dropped_without_further_submissions() {
    use crossbeam_channel::Sender;
    /// Says when the closure that owns it is dropped.
    struct DropSignal(Sender<()>);
    impl Drop for DropSignal {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }
    for _ in 0..3 {
        let runtime = builder(2).build().unwrap();
        let h = runtime.handle();
        let (tx, rx) = crossbeam_channel::unbounded();
        for _ in 0..10 {
            h.submit_batch_detached((0..500).map(|_| {
                let signal = DropSignal(tx.clone());
                Task::new(move |_| {
                    let _keep = &signal;
                    Ok::<_, String>(())
                })
            }))
            .unwrap();
        }
        drop(tx);
        // No more submissions: the idle executors free what the ledger kept
        // for a submitter.
        expect_each(&rx, 5_000, "dropped closure");
        let m = h.metrics();
        assert_eq!(m.totals.completed, 5_000);
        runtime.shutdown();
        assert!(rx.try_recv().is_err(), "each closure dropped once");
    }
}

#[test]
fn the_value_of_a_detached_task_is_dropped_once() {
    use crossbeam_channel::Sender;
    /// Says when the value that owns it is dropped.
    struct DropSignal(Sender<u32>, u32);
    impl Drop for DropSignal {
        fn drop(&mut self) {
            let _ = self.0.send(self.1);
        }
    }
    for _ in 0..3 {
        let runtime = builder(2).build().unwrap();
        let h = runtime.handle();
        let (tx, rx) = crossbeam_channel::unbounded();
        h.submit_batch_detached((0..2_000u32).map(|i| {
            let tx = tx.clone();
            // The closure keeps no signal: only the value it makes does.
            Task::new(move |_| Ok::<_, String>(DropSignal(tx.clone(), i)))
        }))
        .unwrap();
        drop(tx);
        let mut seen = vec![false; 2_000];
        for i in expect_each(&rx, 2_000, "dropped value") {
            assert!(!seen[i as usize], "value of task {i} dropped twice");
            seen[i as usize] = true;
        }
        runtime.shutdown();
        assert!(rx.try_recv().is_err(), "each value dropped once");
    }
}

#[test]
fn a_task_pushed_to_an_idle_node_is_always_picked_up() {
    use allot::NodeId;
    use std::time::{Duration, Instant};
    // Between submissions the node's executor watches for a while and then
    // waits: a push must wake it whichever it is doing when the push lands.
    let runtime = builder(2).build().unwrap();
    let h = runtime.handle();
    for i in 0..3_000u64 {
        let idle_until = Instant::now() + Duration::from_micros(i % 60);
        while Instant::now() < idle_until {
            std::hint::spin_loop();
        }
        let node = NodeId((i % 2) as usize);
        let mut handle = if i % 3 == 0 {
            h.submit_batch_to(node, [Task::new(move |_| Ok::<_, String>(i))])
                .unwrap()
                .pop()
                .unwrap()
        } else {
            h.submit_to(node, Task::new(move |_| Ok::<_, String>(i)))
                .unwrap()
        };
        let got = handle
            .wait_timeout(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("task {i} on an idle node never ran"));
        assert_eq!(got.unwrap(), i);
    }
    runtime.shutdown();
}

#[test]
#[should_panic(expected = "task outcome already taken")]
fn asking_a_handle_for_its_outcome_again_after_it_gave_it_panics() {
    let runtime = builder(1).build().unwrap();
    let mut h = runtime
        .handle()
        .submit(Task::new(|_| Ok::<_, String>(7)))
        .unwrap();
    let first = h
        .wait_timeout(std::time::Duration::from_secs(30))
        .expect("it ends");
    assert_eq!(first.unwrap(), 7);
    let _ = h.wait_timeout(std::time::Duration::from_secs(1));
}
