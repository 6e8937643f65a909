//! The dashboard in a real browser: a headless Chromium, driven over
//! WebDriver (`fantoccini` and Debian's `chromedriver`), reads the page a
//! person would, while a workload runs.
//!
//! The workload: a steady trickle of tasks on two CPU nodes (so the
//! overview's completed count moves), 1 200 finished tasks to page
//! through, a task pinned behind 1 500 others on a node whose one slot a
//! blocked task holds, and a GPU task no node accepting work can take (the
//! only GPU node is down, its restart a minute away).
//!
//! Each page's screenshot goes to `target/dashboard-screenshots/` (the
//! ones in `docs/img/` are copies). Without Chromium and chromedriver the
//! test says how to install them and returns; under `CI=true` it fails.

mod support;

use allot::{Fault, NodeId, NodeSpec, Resources, SupervisionConfig, Task, TaskId};
use fantoccini::{Client, ClientBuilder, Locator};
use openmetrics_parser::{MetricNumber, OpenMetricsType, OpenMetricsValue};
use serde_json::Value;
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use support::chromedriver::{self, Chromedriver};
use support::{builder, expect, supervisor_events, Blocker};

/// Longest the test waits for the page to show something.
const WATCH: Duration = Duration::from_secs(20);
/// How often it looks again meanwhile.
const LOOK_EVERY: Duration = Duration::from_millis(25);

const CPU_0: NodeId = NodeId(0);
const CPU_1: NodeId = NodeId(1);
const GPU: NodeId = NodeId(2);
const PINNED: NodeId = NodeId(3);
/// Finished tasks before the browser opens: more than a thousand to page
/// through.
const FINISHED: usize = 1_200;
/// Tasks queued ahead of the watched one on the pinned node.
const AHEAD: usize = 1_500;

/// Polls `look` until it gives a value; panics after [`WATCH`] naming
/// `what`.
async fn until<T, F, Fut>(what: &str, mut look: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WATCH;
    loop {
        if let Some(v) = look().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

/// The text of the element with id `id`, if the page has it now.
async fn text_of(c: &Client, id: &str) -> Option<String> {
    let v = c
        .execute(
            "const e = document.getElementById(arguments[0]); return e ? e.textContent : null;",
            vec![Value::String(id.to_owned())],
        )
        .await
        .expect("the script runs");
    v.as_str().map(str::to_owned)
}

/// The task ids in the tasks table, in page order.
async fn listed_ids(c: &Client) -> Vec<u64> {
    let v = c
        .execute(
            "return Array.from(document.querySelectorAll('main table a[href^=\"#task/\"]'), a => a.textContent);",
            vec![],
        )
        .await
        .expect("the script runs");
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str()?.strip_prefix("task-")?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The "why" on the page of task `id`, once that page shows (until then
/// the previous page's content may still be there).
async fn why_of(c: &Client, id: TaskId) -> Option<String> {
    let heading = c
        .execute(
            "const h = document.querySelector('main h2'); return h ? h.textContent : null;",
            vec![],
        )
        .await
        .expect("the script runs");
    if heading.as_str() != Some(id.to_string().as_str()) {
        return None;
    }
    text_of(c, "why").await
}

fn screenshot_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is `target/tmp` (or its like under another
    // target directory).
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("dashboard-screenshots");
    std::fs::create_dir_all(&dir).expect("the screenshot directory");
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    let path = screenshot_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

fn number(n: &MetricNumber) -> f64 {
    n.as_f64()
}

/// `/metrics` parses as OpenMetrics text (a strict parser: any malformed
/// line fails it) and says what the runtime says.
fn check_metrics(base: &str, completed_at_least: usize) {
    let mut r = ureq::get(&format!("{base}/metrics"))
        .call()
        .expect("/metrics answers");
    let text = r.body_mut().read_to_string().expect("a body");
    let parsed = openmetrics_parser::openmetrics::parse_openmetrics(&text)
        .unwrap_or_else(|e| panic!("/metrics does not parse: {e}\n{text}"));
    let family = |name: &str| {
        parsed
            .families
            .get(name)
            .unwrap_or_else(|| panic!("no family {name} in\n{text}"))
    };
    let tasks = family("allot_tasks");
    assert_eq!(tasks.family_type, OpenMetricsType::Gauge);
    assert_eq!(tasks.get_label_names(), ["state".to_owned()]);
    let by_state = |s: &str| match &tasks
        .get_sample_by_label_values(&[s.to_owned()])
        .unwrap_or_else(|| panic!("no allot_tasks{{state=\"{s}\"}}"))
        .value
    {
        OpenMetricsValue::Gauge(n) => number(n),
        other => panic!("allot_tasks is a {other:?}"),
    };
    assert!(by_state("completed") >= completed_at_least as f64);
    assert!(by_state("queued") >= AHEAD as f64, "the pinned queue");
    assert!(by_state("pending") >= 1.0, "the GPU task");
    let latency = family("allot_task_latency_seconds");
    assert_eq!(latency.family_type, OpenMetricsType::Histogram);
    match &latency.iter_samples().next().expect("one histogram").value {
        OpenMetricsValue::Histogram(h) => {
            assert!(h.count.unwrap_or(0) >= completed_at_least as u64);
            assert!(h.buckets.len() >= 12, "{h:?}");
        }
        other => panic!("the latency is a {other:?}"),
    }
    let up = family("allot_node_up");
    let gpu_up = match &up
        .get_sample_by_label_values(&["gpu".to_owned()])
        .expect("the GPU node's sample")
        .value
    {
        OpenMetricsValue::Gauge(n) => number(n),
        other => panic!("allot_node_up is a {other:?}"),
    };
    assert_eq!(gpu_up, 0.0, "the GPU node is down");
    assert_eq!(
        family("allot_node_restarts").family_type,
        OpenMetricsType::Counter
    );
}

#[test]
fn a_real_browser_watches_counts_rise_pages_past_a_thousand_tasks_and_reads_why() {
    let Some(browser) = chromedriver::find() else {
        return;
    };
    let driver = Chromedriver::start(&browser);

    // The runtime: two CPU nodes for the trickle, a GPU node to crash, a
    // one-slot node for the long queue.
    let mut b = builder(0);
    b.nodes([
        NodeSpec::new(Resources::cpu(4_000)).name("cpu-0"),
        NodeSpec::new(Resources::cpu(4_000)).name("cpu-1"),
        NodeSpec::new(Resources::cpu(4_000).with_gpu_milli(1_000)).name("gpu"),
        NodeSpec::new(Resources::cpu(4_000)).name("pinned").slots(1),
    ])
    .supervision(SupervisionConfig {
        backoff_min: Duration::from_secs(60),
        backoff_max: Duration::from_secs(60),
        ..SupervisionConfig::default()
    })
    .dashboard("127.0.0.1:0".parse().unwrap());
    let events = supervisor_events(&mut b);
    let runtime = b.build().unwrap();
    let h = runtime.handle().clone();
    let base = format!("http://{}", h.dashboard_addr().expect("the dashboard"));

    // Finished tasks to page through.
    for node in [CPU_0, CPU_1] {
        for t in h
            .submit_batch_to(
                node,
                (0..FINISHED / 2).map(|i| Task::new(move |_| Ok::<_, String>(i))),
            )
            .unwrap()
        {
            t.wait().unwrap();
        }
    }
    // The long queue: a blocked task holds the pinned node's one slot.
    let blocker = Blocker::new();
    let holder = h.submit_to(PINNED, blocker.task(())).unwrap();
    blocker.expect_started("the pinned node's slot taken");
    h.submit_batch_detached_to(
        PINNED,
        (0..AHEAD).map(|_| Task::new(|_| Ok::<_, String>(()))),
    )
    .unwrap();
    let behind = h
        .submit_to(PINNED, Task::new(|_| Ok::<_, String>(())))
        .unwrap();
    // The unplaceable task: the only GPU node down for a minute.
    h.inject(Fault::CrashNode { node: GPU }).unwrap();
    expect(&events, "the GPU node down");
    let stuck = h
        .submit(
            Task::new(|_| Ok::<_, String>(())).demand(Resources::cpu(1_000).with_gpu_milli(500)),
        )
        .unwrap();

    // The trickle: a few tasks every 10 ms until the test is done.
    let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
    let feeder = {
        let h = h.clone();
        std::thread::spawn(move || {
            let mut node = CPU_0;
            while let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(Duration::from_millis(10))
            {
                h.submit_batch_detached_to(
                    node,
                    (0..5).map(|_| Task::new(|_| Ok::<_, String>(()))),
                )
                .unwrap();
                node = if node == CPU_0 { CPU_1 } else { CPU_0 };
            }
        })
    };

    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tokio.block_on(async {
        let mut cb = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        cb.capabilities(chromedriver::capabilities(&browser, &driver.profile_dir()));
        let c = cb
            .connect(&driver.url())
            .await
            .unwrap_or_else(|e| panic!("no browser session: {e}\n{}", driver.log()));
        browse(&c, &base, behind.id(), stuck.id()).await;
        c.close().await.expect("the session closes");
    });

    check_metrics(&base, FINISHED);
    drop(stop);
    feeder.join().unwrap();
    blocker.open();
    holder.wait().unwrap();
    runtime.shutdown_now();
    drop(driver);
}

async fn browse(c: &Client, base: &str, behind: TaskId, stuck: TaskId) {
    // The overview: its completed count rises while the browser watches
    // (the page polls every second).
    c.goto(&format!("{base}/")).await.expect("the page loads");
    let count = || async { text_of(c, "completed").await?.parse::<u64>().ok() };
    let first = until("the overview's completed count", count).await;
    assert!(first >= FINISHED as u64, "{first}");
    let later = until("the completed count to rise", || async {
        count().await.filter(|&n| n > first)
    })
    .await;
    assert!(later > first);
    let health = text_of(c, "health").await.unwrap_or_default();
    assert!(health.starts_with("health: "), "{health}");
    let main = c
        .execute("return document.getElementById('main').innerText;", vec![])
        .await
        .unwrap();
    assert!(
        main.as_str().is_some_and(|t| t.contains("4 nodes, 3 up")),
        "{main}"
    );
    screenshot(c, "overview").await;

    // Nodes: the GPU node is down.
    c.goto(&format!("{base}/#nodes")).await.unwrap();
    until("the nodes table with the GPU node down", || async {
        let rows = c
            .execute(
                "return Array.from(document.querySelectorAll('main table tr'), r => r.innerText);",
                vec![],
            )
            .await
            .ok()?;
        let rows: Vec<String> = rows
            .as_array()?
            .iter()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect();
        (rows.len() == 5
            && rows
                .iter()
                .any(|r| r.starts_with("gpu") && r.contains("down")))
        .then_some(())
    })
    .await;
    screenshot(c, "nodes").await;

    // Tasks: click "next page" until past the first thousand tasks; the
    // pages follow each other in id order with nothing listed twice.
    c.goto(&format!("{base}/#tasks")).await.unwrap();
    let mut page = until("the first page of tasks", || async {
        let ids = listed_ids(c).await;
        (ids.len() == 100).then_some(ids)
    })
    .await;
    let mut seen = page.len();
    let mut last = *page.last().unwrap();
    let mut clicks = 0;
    while seen <= 1_000 {
        c.find(Locator::Id("next"))
            .await
            .expect("a next-page link")
            .click()
            .await
            .expect("the click");
        clicks += 1;
        page = until("the next page of tasks", || async {
            let ids = listed_ids(c).await;
            ids.first().is_some_and(|&f| f > last).then_some(ids)
        })
        .await;
        assert!(
            page.windows(2).all(|w| w[0] < w[1]),
            "ids in order: {page:?}"
        );
        seen += page.len();
        last = *page.last().unwrap();
    }
    assert!(clicks >= 10, "{clicks} clicks for {seen} tasks");
    let url = c.current_url().await.unwrap();
    assert!(
        url.fragment().is_some_and(|f| f.contains("after=t")),
        "{url}"
    );
    screenshot(c, "tasks").await;

    // The unplaceable task's page says why, in words.
    c.goto(&format!("{base}/#task/{}", stuck.0)).await.unwrap();
    let why = until("the GPU task's reason", || why_of(c, stuck)).await;
    assert!(
        why.contains("no node accepting work can meet its demand")
            && why.contains("gpu_milli=500")
            && why.contains("waiting for node-2 to restart"),
        "{why}"
    );
    screenshot(c, "task-unplaceable").await;

    // The pinned task's page: its place in the long queue.
    c.goto(&format!("{base}/#task/{}", behind.0)).await.unwrap();
    let why = until("the pinned task's reason", || why_of(c, behind)).await;
    assert!(
        why.contains(&format!(
            "queued on node-3 at position {AHEAD} of {}",
            AHEAD + 1
        )),
        "{why}"
    );
    screenshot(c, "task-queued").await;

    // Events: the GPU node's crash.
    c.goto(&format!("{base}/#events")).await.unwrap();
    until("the node_down event", || async {
        let t = c
            .execute("return document.getElementById('main').innerText;", vec![])
            .await
            .ok()?;
        t.as_str()?.contains("node_down").then_some(())
    })
    .await;
    screenshot(c, "events").await;
}
