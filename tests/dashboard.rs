//! The dashboard's endpoints, through a real HTTP client: the JSON state
//! API, `/metrics`, cancelling with a token, and clear 4xx JSON errors
//! for bad inputs.

mod support;

use allot::{Fault, NodeId, NodeSpec, Resources, SupervisionConfig, Task, TaskId};
use serde_json::Value;
use std::time::Duration;
use support::{builder, expect, supervisor_events, Blocker};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn base(h: &allot::RuntimeHandle) -> String {
    format!(
        "http://{}",
        h.dashboard_addr().expect("the dashboard serves")
    )
}

/// GET `path`: the status and the body as JSON.
fn get(url: &str) -> (u16, Value) {
    let mut r = agent().get(url).call().expect("a response");
    let status = r.status().as_u16();
    let body = r.body_mut().read_to_string().expect("a body");
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

fn post(url: &str, token: Option<&str>) -> (u16, Value) {
    post_authorized(url, token.map(|t| format!("Bearer {t}")).as_deref())
}

/// POST `url` with this `Authorization` header, if any.
fn post_authorized(url: &str, authorization: Option<&str>) -> (u16, Value) {
    let mut req = agent().post(url);
    if let Some(a) = authorization {
        req = req.header("Authorization", a);
    }
    let mut r = req.send_empty().expect("a response");
    let status = r.status().as_u16();
    let body = r.body_mut().read_to_string().expect("a body");
    (status, serde_json::from_str(&body).expect("a JSON body"))
}

fn error_of(reply: &(u16, Value)) -> &str {
    reply.1["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no JSON error in {reply:?}"))
}

#[test]
fn the_endpoints_serve_the_state_api_as_json_and_metrics_as_prometheus_text() {
    let mut b = builder(2);
    b.dashboard("127.0.0.1:0".parse().unwrap());
    let runtime = b.build().unwrap();
    let h = runtime.handle();
    let ids: Vec<TaskId> = h
        .submit_batch((0..50u64).map(|i| Task::new(move |_| Ok::<_, String>(i))))
        .unwrap()
        .into_iter()
        .map(|t| {
            let id = t.id();
            t.wait().unwrap();
            id
        })
        .collect();
    support::eventually("every record kept", || h.state_counts().retained == 50);
    let url = base(h);
    assert!(h.dashboard_addr().unwrap().ip().is_loopback());

    let mut page = agent().get(&url).call().unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page
        .body_mut()
        .read_to_string()
        .unwrap()
        .contains("<title>allot</title>"));

    let (s, o) = get(&format!("{url}/api/overview"));
    assert_eq!(s, 200);
    assert_eq!(o["counts"]["completed"], 50);
    assert_eq!(o["nodes"], 2);
    assert_eq!(o["nodes_up"], 2);
    assert_eq!(o["health"], "healthy");

    let (s, nodes) = get(&format!("{url}/api/nodes"));
    assert_eq!(s, 200);
    assert_eq!(nodes.as_array().unwrap().len(), 2);
    assert_eq!(nodes[0]["health"], "up");

    let (s, first) = get(&format!("{url}/api/tasks?state=completed&limit=20"));
    assert_eq!(s, 200);
    let listed: Vec<u64> = first["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, ids[..20].iter().map(|i| i.0).collect::<Vec<_>>());
    let next = first["next"].as_str().unwrap();
    let (_, second) = get(&format!(
        "{url}/api/tasks?state=completed&limit=20&after={next}"
    ));
    assert_eq!(second["tasks"][0]["id"].as_u64(), Some(ids[20].0));
    let (_, by_node) = get(&format!("{url}/api/tasks?node=node-1&limit=100"));
    assert!(by_node["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["node"] == 1));

    let (s, detail) = get(&format!("{url}/api/tasks/{}", ids[3].0));
    assert_eq!(s, 200);
    assert_eq!(detail["state"], "completed");
    assert_eq!(detail["attempts"][0]["outcome"], "completed");
    assert!(detail["spec"]["cost"].is_number());
    let (s, _) = get(&format!("{url}/api/tasks/task-{}", ids[3].0));
    assert_eq!(s, 200, "the id as the page writes it");

    let (s, events) = get(&format!("{url}/api/events"));
    assert_eq!((s, events.as_array().map(Vec::len)), (200, Some(0)));

    let mut m = agent().get(&format!("{url}/metrics")).call().unwrap();
    assert_eq!(m.status().as_u16(), 200);
    let text = m.body_mut().read_to_string().unwrap();
    assert!(
        text.contains("allot_tasks{state=\"completed\"} 50"),
        "{text}"
    );
    assert!(
        text.contains("allot_task_latency_seconds_count 50"),
        "{text}"
    );
    assert!(
        text.contains("allot_node_completed_total{node=\"node-0\"}"),
        "{text}"
    );
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    runtime.shutdown();
}

#[test]
fn bad_inputs_get_a_clear_4xx_with_a_json_error() {
    let mut b = builder(1);
    b.dashboard("127.0.0.1:0".parse().unwrap())
        .dashboard_token("s3cret");
    let runtime = b.build().unwrap();
    let h = runtime.handle();
    let url = base(h);
    for (path, status, says) in [
        ("/api/tasks/987654", 404, "no task task-987654"),
        ("/api/tasks/abc", 400, "malformed task id"),
        ("/api/tasks?after=xyz", 400, "malformed cursor"),
        (
            "/api/tasks?limit=100000000",
            400,
            "page size 100000000 is out of range",
        ),
        ("/api/tasks?limit=0", 400, "out of range"),
        ("/api/tasks?limit=lots", 400, "is not a number"),
        ("/api/tasks?state=sleeping", 400, "unknown task state"),
        ("/api/tasks?kind=dreaming", 400, "unknown kind"),
        ("/api/tasks?node=nowhere", 400, "no node"),
        ("/api/tasks?colour=red", 400, "unknown parameter"),
        ("/api/nothing", 404, "no such endpoint"),
        (
            "/api/tasks/99999999999999999999999",
            400,
            "malformed task id",
        ),
        ("/api/tasks/task-", 400, "malformed task id"),
        (
            "/api/tasks?after=t18446744073709551616",
            400,
            "malformed cursor",
        ),
        ("/api/tasks?after=t-1", 400, "malformed cursor"),
        ("/api/tasks?limit=-1", 400, "is not a number"),
        ("/api/tasks?limit=10001", 400, "out of range (1 to 10000)"),
        (
            "/api/tasks?limit=99999999999999999999999",
            400,
            "is not a number",
        ),
        ("/api/tasks?state=%ZZ", 400, "unknown task state"),
        ("/api/tasks?kind=custom%3A", 200, ""),
        ("/api/tasks/1/cancel", 404, "no such endpoint: GET"),
    ] {
        let reply = get(&format!("{url}{path}"));
        assert_eq!(reply.0, status, "{path}: {reply:?}");
        if status != 200 {
            assert!(error_of(&reply).contains(says), "{path}: {reply:?}");
        }
    }
    // The largest page is served.
    let (s, page) = get(&format!("{url}/api/tasks?limit=10000"));
    assert_eq!(s, 200, "{page:?}");
    let blocker = Blocker::new();
    let task = h.submit(blocker.task(1u32)).unwrap();
    let cancel = format!("{url}/api/tasks/{}/cancel", task.id().0);
    let reply = post(&cancel, None);
    assert_eq!(reply.0, 401, "{reply:?}");
    assert!(error_of(&reply).contains("Bearer"));
    let reply = post(&cancel, Some("guess"));
    assert_eq!(reply.0, 403, "{reply:?}");
    assert_eq!(error_of(&reply), "wrong token");
    for malformed in ["Basic czNjcmV0", "Bearer", "bearer s3cret", "s3cret", ""] {
        let reply = post_authorized(&cancel, Some(malformed));
        assert_eq!(reply.0, 401, "{malformed:?}: {reply:?}");
        assert!(error_of(&reply).contains("Bearer TOKEN"), "{reply:?}");
    }
    let reply = post(&format!("{url}/api/tasks/abc/cancel"), Some("s3cret"));
    assert_eq!(reply.0, 400, "{reply:?}");
    assert!(error_of(&reply).contains("malformed task id"), "{reply:?}");
    let reply = post(&format!("{url}/api/tasks/55555/cancel"), Some("s3cret"));
    assert_eq!(reply.0, 404, "{reply:?}");
    let reply = post(&cancel, Some("s3cret"));
    assert_eq!(reply, (200, serde_json::json!({ "cancelled": true })));
    assert!(task.wait().is_err(), "cancelled");
    let reply = post(&cancel, Some("s3cret"));
    assert!(matches!(reply.0, 404 | 409), "{reply:?}");
    blocker.open();
    runtime.shutdown();
}

#[test]
fn without_a_token_no_one_can_cancel() {
    let mut b = builder(1);
    b.dashboard("127.0.0.1:0".parse().unwrap());
    let runtime = b.build().unwrap();
    let h = runtime.handle();
    let blocker = Blocker::new();
    let task = h.submit(blocker.task(1u32)).unwrap();
    let reply = post(
        &format!("{}/api/tasks/{}/cancel", base(h), task.id().0),
        Some("anything"),
    );
    assert_eq!(reply.0, 403, "{reply:?}");
    assert!(error_of(&reply).contains("without a token"));
    blocker.open();
    assert_eq!(task.wait().unwrap(), 1);
    runtime.shutdown();
}

#[test]
fn an_unplaceable_tasks_page_says_why() {
    let mut b = builder(0);
    b.nodes([
        NodeSpec::new(Resources::cpu(4_000)).name("cpu"),
        NodeSpec::new(Resources::cpu(4_000).with_gpu_milli(1_000)).name("gpu"),
    ])
    .supervision(SupervisionConfig {
        backoff_min: Duration::from_secs(60),
        backoff_max: Duration::from_secs(60),
        ..SupervisionConfig::default()
    })
    .dashboard("127.0.0.1:0".parse().unwrap());
    let events = supervisor_events(&mut b);
    let runtime = b.build().unwrap();
    let h = runtime.handle();
    h.inject(Fault::CrashNode { node: NodeId(1) }).unwrap();
    expect(&events, "the GPU node down");
    let task = h
        .submit(
            Task::new(|_| Ok::<_, String>(())).demand(Resources::cpu(1_000).with_gpu_milli(500)),
        )
        .unwrap();
    let (s, d) = get(&format!("{}/api/tasks/{}", base(h), task.id().0));
    assert_eq!(s, 200);
    assert_eq!(d["why"]["reason"], "unplaceable");
    assert_eq!(d["why"]["best"]["name"], "cpu");
    let text = d["why_text"].as_str().unwrap();
    assert!(text.contains("waiting for node-1 to restart"), "{text}");
    let (_, e) = get(&format!("{}/api/events", base(h)));
    assert_eq!(e[0]["event"]["event"], "node_down");
    assert!(e[0]["at"].as_u64().unwrap() > 0);
    runtime.shutdown_now();
}

#[test]
fn an_address_already_taken_is_a_build_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let mut b = builder(1);
    b.dashboard(addr);
    let err = b.build().unwrap_err();
    assert!(
        matches!(err, allot::BuildError::Dashboard { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[test]
fn the_tasks_endpoint_filters_by_a_closures_name() {
    let mut b = builder(1);
    b.dashboard("127.0.0.1:0".parse().unwrap());
    let runtime = b.build().unwrap();
    let h = runtime.handle();
    for t in h
        .submit_batch((0..30u64).map(|i| {
            let t = Task::new(move |_| Ok::<_, String>(i));
            if i % 3 == 0 {
                t.name("embed batch")
            } else {
                t
            }
        }))
        .unwrap()
    {
        t.wait().unwrap();
    }
    support::eventually("every record kept", || h.state_counts().retained == 30);
    let (s, page) = get(&format!("{}/api/tasks?name=embed%20batch", base(h)));
    assert_eq!(s, 200, "{page:?}");
    let tasks = page["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 10);
    assert!(tasks.iter().all(|t| t["name"] == "embed batch"), "{page}");
    let id = tasks[0]["id"].as_u64().unwrap();
    let (_, detail) = get(&format!("{}/api/tasks/{id}", base(h)));
    assert_eq!(detail["name"], "embed batch");
    runtime.shutdown();
}
