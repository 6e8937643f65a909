//! The budget promise: a policy or solver with a [`Budget`] returns within
//! `2 × budget + 1 ms` of being called, on any batch size and any number of
//! nodes, once its greedy construction is built (see `docs/policies.md`).
//!
//! These are timing assertions on a small machine shared with compilers, so
//! each one is made robust without being made vacuous:
//!
//! - the budget is 20 ms, large against the scheduler's time slices, so
//!   `2 × 20 + 1 = 41 ms` is a real bound (the code before the fix took
//!   seconds on the same inputs);
//! - each case runs up to five times and passes when one run meets the
//!   bound: an overshoot is a property of the algorithm (a loop that does
//!   not look at the clock), which every run repeats, while a preemption by
//!   another process hits only some runs. So the minimum of five is
//!   checked, and the loop stops at the first run within the bound;
//! - the inputs are sized so that the greedy construction (which always
//!   completes, and is all an O(n·m) policy such as LPT does) stays well
//!   under the budget even in a debug build;
//! - the cases take a lock, so the harness's threads do not time each
//!   other.

use allot::policy::{Budget, Exact, Gap, Hybrid, NodeView, Policy, TaskView};
use allot::sim::gap_gen::{generate, GapFamily};
use allot::{NodeId, NodeSpec, PolicyKind, Resources, Runtime, Task, TaskId, TaskKind};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The budget the timed cases give.
const BUDGET: Duration = Duration::from_millis(20);
/// Runs per case; the fastest must meet the bound.
const RUNS: usize = 5;

/// Held by each timed case.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The promise for a budget.
fn bound(budget: Duration) -> Duration {
    2 * budget + Duration::from_millis(1)
}

/// Runs `f` up to [`RUNS`] times, stopping at the first run that takes no
/// longer than `limit`; returns the fastest run's time.
fn fastest_of_runs(limit: Duration, mut f: impl FnMut()) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..RUNS {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed());
        if best <= limit {
            break;
        }
    }
    best
}

/// A cost in 0.5..3.2 with a fractional part, as runtime estimates have:
/// the case where Hybrid's re-split is scaled to 2^20 units.
fn cost(i: usize) -> f64 {
    0.5 + ((i * 7919) % 101) as f64 / 37.0
}

static KIND: TaskKind = TaskKind::Unspecified;

fn tasks(n: usize) -> Vec<TaskView<'static>> {
    (0..n)
        .map(|i| TaskView {
            id: TaskId(i as u64),
            kind: &KIND,
            cost: cost(i),
            demand: Resources::cpu(1_000),
            priority: 0,
        })
        .collect()
}

/// `m` idle nodes of three speeds, two slots each.
fn views(m: usize) -> Vec<NodeView> {
    (0..m)
        .map(|j| {
            NodeView::idle(
                NodeId(j),
                Resources::cpu(4_000),
                1.0 + (j % 3) as f64 * 0.5,
                2,
            )
        })
        .collect()
}

/// Times `make()`'s `allocate` on every batch size and node count, checks
/// each answer is complete and valid, and asserts the fastest run of each
/// case meets the bound.
fn assert_allocate_within_budget(name: &str, make: impl Fn() -> Box<dyn Policy>) {
    let _serial = serial();
    let limit = bound(BUDGET);
    for n in [1_000, 5_000] {
        for m in [4, 16, 64] {
            let batch = tasks(n);
            let mut out = Vec::new();
            let took = fastest_of_runs(limit, || {
                let mut nodes = views(m);
                make().allocate(&batch, &mut nodes, &mut out);
            });
            assert_eq!(out.len(), n, "{name}: one answer per task");
            assert!(
                out.iter().all(|c| c.is_some_and(|j| j < m)),
                "{name}: every task placed on a node"
            );
            assert!(
                took <= limit,
                "{name}: {n} tasks on {m} nodes took {took:?} at best of {RUNS} runs, \
                 over 2 × {BUDGET:?} + 1 ms"
            );
        }
    }
}

#[test]
fn hybrid_allocate_returns_within_twice_its_budget_plus_1_ms_on_large_batches() {
    assert_allocate_within_budget("hybrid", || {
        Box::new(Hybrid::with_budget(Budget::time(BUDGET), 1))
    });
}

#[test]
fn exact_without_a_batch_limit_returns_within_twice_its_budget_plus_1_ms() {
    assert_allocate_within_budget("exact", || {
        Box::new(Exact::with_budget(Budget::time(BUDGET)).batch_limit(usize::MAX))
    });
}

/// A tight GAP instance of `items` tasks on `agents` nodes (weights 5..=25,
/// costs 10..=49, capacities an even share of the weight, and some).
fn gap_instance(agents: usize, items: usize, seed: u64) -> Gap {
    let mut x = seed;
    let mut next = |k: u64| {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((x >> 33) % k) as i64
    };
    let weight: Vec<i64> = (0..agents * items).map(|_| 5 + next(21)).collect();
    let cost: Vec<i64> = (0..agents * items).map(|_| 10 + next(40)).collect();
    let share = weight.iter().sum::<i64>() / (agents * agents) as i64;
    let capacity = vec![share + 25; agents];
    Gap::new(agents, items, cost, weight, capacity).expect("well-formed")
}

#[test]
fn the_gap_solvers_return_within_twice_their_budget_plus_1_ms() {
    let _serial = serial();
    let limit = bound(BUDGET);
    // Every family at 900 × 15, and the largest size of the report
    // (1 600 × 80) of each.
    let generated = GapFamily::ALL.into_iter().flat_map(|family| {
        [(15, 900), (80, 1_600)]
            .map(|(agents, items)| (format!("type {family}"), generate(family, agents, items, 5)))
    });
    let tight = [(10, 200), (20, 200), (40, 400)]
        .into_iter()
        .map(|(agents, items)| (String::from("tight"), gap_instance(agents, items, 7)));
    for (what, g) in tight.chain(generated) {
        let (agents, items) = (g.agents(), g.items());
        let mut answers = Vec::new();
        let took = fastest_of_runs(limit, || {
            answers.push(Hybrid::with_budget(Budget::time(BUDGET), 1).solve_gap(&g));
        });
        assert!(
            took <= limit,
            "hybrid gap {what} {items} × {agents}: {took:?} at best of {RUNS} runs"
        );
        let took = fastest_of_runs(limit, || {
            answers.push(Exact::with_budget(Budget::time(BUDGET)).solve_gap(&g));
        });
        assert!(
            took <= limit,
            "exact gap {what} {items} × {agents}: {took:?} at best of {RUNS} runs"
        );
        for s in answers {
            let s = s.expect("a loose enough instance has a feasible answer");
            assert_eq!(
                g.evaluate(&s.assignment),
                Some(s.cost),
                "complete and feasible"
            );
        }
    }
}

/// A construction cut short still completes: with no time at all, each
/// solver answers with a feasible assignment on the tight generated
/// families (where the plain-cost regret greedy gets stuck, and the
/// solver falls back on filling by relative weight).
#[test]
fn the_gap_solvers_answer_feasibly_with_no_time_at_all() {
    let _serial = serial(); // not timed, but it would load the timed cases
    let none = Budget::time(Duration::ZERO);
    for family in GapFamily::ALL {
        for (agents, items) in [(5, 200), (20, 200), (40, 400)] {
            let g = generate(family, agents, items, 11);
            for s in [
                Hybrid::with_budget(none, 1).solve_gap(&g),
                Exact::with_budget(none).solve_gap(&g),
            ] {
                let s = s.unwrap_or_else(|| panic!("type {family} {items} × {agents}: no answer"));
                assert_eq!(g.evaluate(&s.assignment), Some(s.cost));
                assert!(s.cost as f64 >= s.lower_bound - 1e-6);
            }
        }
    }
}

/// The reproduction: `submit_batch` of 1 000 tasks under `hybrid`
/// blocked the caller for 2.1 s against a 2 ms budget. The submitter
/// places a batch itself when nothing waits at the supervisor, so the time
/// `submit_batch` blocks is the policy's time plus the submission's own,
/// which a `least-loaded` runtime measures alone.
#[test]
fn submit_batch_of_1000_tasks_under_hybrid_blocks_no_longer_than_its_budget_allows() {
    let _serial = serial();
    fn blocked(make: impl Fn(u64) -> Box<dyn allot::Policy> + Send + Sync + 'static) -> Duration {
        let mut b = Runtime::builder();
        b.nodes(vec![NodeSpec::new(Resources::cpu(4_000)).slots(2); 4])
            .policy_with(make);
        let runtime = b.build().expect("runtime");
        let handle = runtime.handle();
        let mut best = Duration::MAX;
        for _ in 0..RUNS {
            let batch: Vec<_> = (0..1_000)
                .map(|i| Task::new(|_| Ok::<_, String>(())).cost(cost(i)))
                .collect();
            let t = Instant::now();
            let handles = handle.submit_batch(batch).expect("submitted");
            best = best.min(t.elapsed());
            // Idle nodes again before the next run, so each run sees the
            // same views.
            for mut h in handles {
                h.wait_timeout(Duration::from_secs(30))
                    .expect("finished")
                    .expect("ok");
            }
        }
        runtime.shutdown();
        best
    }
    let plain = blocked(|_| PolicyKind::LeastLoaded.build(0));
    // With the runtime's own budget (2 ms), as in the issue.
    let default = blocked(|seed| PolicyKind::Hybrid.build(seed));
    let limit = plain + bound(allot::policy::Hybrid::DEFAULT_BUDGET.time);
    assert!(
        default <= limit,
        "hybrid blocked submit_batch for {default:?} at best of {RUNS} runs; \
         least-loaded for {plain:?}, so the bound is {limit:?}"
    );
    // And with the 20 ms the other cases give.
    let long = blocked(|seed| Box::new(Hybrid::with_budget(Budget::time(BUDGET), seed)));
    let limit = plain + bound(BUDGET);
    assert!(
        long <= limit,
        "hybrid (20 ms) blocked submit_batch for {long:?} at best of {RUNS} runs; bound {limit:?}"
    );
}

/// Branch-and-bound dives one level per task: on a batch of thousands of
/// tasks that was thousands of nested calls, past a test thread's 2 MiB
/// stack for makespan (the process aborted). Both searches keep their own
/// stack now, and run here on a thread of 256 KiB. (The GAP search had
/// the same shape, but its bound cuts early on this instance: that half
/// guards the rewrite, it did not fail before.)
#[test]
fn exact_searches_thousands_of_tasks_deep_without_overflowing_the_stack() {
    let _serial = serial(); // not timed, but it would load the timed cases
    let small_stack = |f: fn()| {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(f)
            .expect("thread")
            .join()
            .expect("no panic");
    };
    small_stack(|| {
        let batch = tasks(5_000);
        let mut nodes = views(64);
        let mut out = Vec::new();
        // A step limit, not the clock, so the dive is as deep on any machine.
        Exact::with_budget(Budget::steps(12_000))
            .batch_limit(usize::MAX)
            .allocate(&batch, &mut nodes, &mut out);
        assert!(out.len() == 5_000 && out.iter().all(|c| c.is_some_and(|j| j < 64)));
    });
    small_stack(|| {
        let g = gap_instance(2, 2_000, 3);
        let s = Exact::with_budget(Budget::steps(5_000))
            .solve_gap(&g)
            .expect("feasible");
        assert_eq!(g.evaluate(&s.assignment), Some(s.cost));
    });
}
