//! Cluster mode with real processes and a real server: a `nats-server -js`
//! of the test's own (free port, temporary store) and worker processes of
//! the `allot` binary (`allot worker`). Every result is compared with the
//! value expected of it.
//!
//! Without `nats-server` these tests print one line saying how to install
//! it and pass; under `CI=true` a missing server fails them.

mod support;
#[path = "support/worker.rs"]
mod worker;
use worker::WorkerProc;

#[path = "../src/bin/allot/kinds.rs"]
#[allow(dead_code)]
mod kinds;

use allot::cluster::ClusterConfig;
use allot::{
    AttemptFailure, BalancerConfig, Builder, DownReason, NodeId, NodeSpec, PolicyKind, Resources,
    Runtime, SupervisionConfig, SupervisorEvent, TaskError,
};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{NatsServer, DEADLINE};

/// Prefixes differ per test, so a test's leftovers never meet another's
/// (each test has its own server anyway).
fn prefix(test: &str) -> String {
    format!("t-{test}")
}

/// A coordinator for `workers` workers, no local nodes unless `tune` adds
/// them; short heartbeats and a one-second hang timeout.
fn coordinator(
    nats: &NatsServer,
    prefix: &str,
    workers: usize,
    tune: impl FnOnce(&mut Builder),
) -> Runtime {
    let mut b = Runtime::builder();
    b.nodes(Vec::new())
        .heartbeat_interval(Duration::from_millis(20))
        .balancer(BalancerConfig {
            enabled: false,
            ..BalancerConfig::default()
        })
        .supervision(SupervisionConfig {
            hang_timeout: Duration::from_secs(1),
            max_restarts: 1_000,
            ..SupervisionConfig::default()
        })
        .cluster(ClusterConfig {
            heartbeat_interval: Duration::from_millis(50),
            join_timeout: DEADLINE,
            ..ClusterConfig::new(&nats.url())
                .workers(workers)
                .subject_prefix(prefix)
        });
    tune(&mut b);
    b.build().expect("the coordinator joins its workers")
}

fn server() -> Option<NatsServer> {
    NatsServer::start()
}

#[test]
fn named_tasks_round_trip_with_values_errors_retries_and_timeouts() {
    let Some(nats) = server() else { return };
    let p = prefix("roundtrip");
    let _w1 = WorkerProc::start(&nats, &p, "w1", &["--slots", "2"]);
    let _w2 = WorkerProc::start(&nats, &p, "w2", &["--slots", "2"]);
    // One local node beside the two remote ones: named tasks run on both.
    let runtime = coordinator(&nats, &p, 2, |b| {
        b.nodes(vec![NodeSpec::new(Resources::cpu(4_000)).name("local")])
            .policy(PolicyKind::RoundRobin);
    });
    let (_, k) = kinds::builtins();
    let h = runtime.handle();
    let m = h.metrics();
    let names: Vec<&str> = m.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["local", "w1/0", "w2/0"]);

    // Values: every echo comes back as sent, from every node.
    let hs = h
        .submit_batch((0..300u32).map(|i| {
            k.echo
                .task(&i.to_le_bytes().repeat(1 + i as usize % 7))
                .unwrap()
        }))
        .unwrap();
    for (i, t) in hs.into_iter().enumerate() {
        let want = (i as u32).to_le_bytes().repeat(1 + i % 7);
        assert_eq!(t.wait().unwrap(), want);
    }
    let m = h.metrics();
    for n in &m.nodes {
        assert!(
            n.completed > 0,
            "round robin reaches {}: {:?}",
            n.name,
            m.nodes
        );
    }

    // Arguments the server would refuse (its max_payload is 1 MiB): a
    // clear error at once, not a publish retried forever.
    let huge = k.echo.task(&vec![7u8; 2 << 20]).unwrap();
    match h
        .submit_to(NodeId(1), huge)
        .unwrap()
        .wait()
        .unwrap_err()
        .last_failure()
    {
        Some(AttemptFailure::Error(e)) => assert!(e.to_string().contains("max_payload"), "{e}"),
        other => panic!("expected a size error, got {other:?}"),
    }

    // Errors: the function's own error, once per allowed attempt, each
    // attempt on some node.
    let failing = k
        .fail
        .task(&"bad shard".to_owned())
        .unwrap()
        .retry_on_error(true)
        .max_retries(2);
    match h.submit(failing).unwrap().wait() {
        Err(TaskError::Failed { attempts }) => {
            assert_eq!(attempts.len(), 3);
            for (i, a) in attempts.iter().enumerate() {
                assert_eq!(a.attempt, i as u32);
                assert!(
                    matches!(&a.failure, AttemptFailure::Error(e) if e.to_string().contains("bad shard")),
                    "{a}"
                );
            }
        }
        other => panic!("expected three failed attempts, got {other:?}"),
    }

    // Panics on a remote node are panics, with their message.
    let panicking = k.panic.task(&"boom".to_owned()).unwrap();
    let pinned = h.submit_to(NodeId(1), panicking).unwrap().wait();
    match pinned.unwrap_err().last_failure() {
        Some(AttemptFailure::Panicked(msg)) => assert!(msg.contains("boom"), "{msg}"),
        other => panic!("expected a panic, got {other:?}"),
    }

    // The remote attempt number is the coordinator's: a task that times
    // out once and then succeeds reports attempt 1.
    let slow = k.sleep.task(&kinds::SleepArgs { ms: 60_000 }).unwrap();
    let slow = slow.timeout(Duration::from_millis(300)).max_retries(1);
    let r = h.submit_to(NodeId(2), slow).unwrap().wait();
    match r {
        Err(TaskError::Failed { attempts }) => {
            assert_eq!(attempts.len(), 2);
            assert!(attempts
                .iter()
                .all(|a| matches!(a.failure, AttemptFailure::TimedOut)));
        }
        other => panic!("expected two timeouts, got {other:?}"),
    }
    let quick = k.sleep.task(&kinds::SleepArgs { ms: 1 }).unwrap();
    assert_eq!(h.submit_to(NodeId(2), quick).unwrap().wait().unwrap(), 0);
    let m = runtime.shutdown();
    assert_eq!(m.totals.unaccounted(), 0);
}

/// Submits `n` echoes of their index (up to 10 retries each).
fn submit_echoes(runtime: &Runtime, n: u32) -> Vec<allot::TaskHandle<Vec<u8>>> {
    let (_, k) = kinds::builtins();
    runtime
        .handle()
        .submit_batch((0..n).map(|i| {
            k.echo
                .task(&i.to_le_bytes().to_vec())
                .unwrap()
                .max_retries(10)
        }))
        .unwrap()
}

/// Waits on every handle; returns how many ended with the value expected.
fn wait_all(hs: Vec<allot::TaskHandle<Vec<u8>>>, on_third: impl FnOnce()) -> usize {
    let n = hs.len();
    let mut on_third = Some(on_third);
    let mut ok = 0;
    for (i, t) in hs.into_iter().enumerate() {
        let want = (i as u32).to_le_bytes().to_vec();
        assert_eq!(t.wait().expect("every task ends with its value"), want);
        ok += 1;
        if ok == n / 3 {
            if let Some(f) = on_third.take() {
                f();
            }
        }
    }
    ok
}

#[test]
fn a_worker_killed_mid_run_loses_nothing_and_its_tasks_are_redispatched() {
    let Some(nats) = server() else { return };
    let p = prefix("sigkill");
    let mut w1 = WorkerProc::start(&nats, &p, "w1", &["--slots", "2"]);
    let _w2 = WorkerProc::start(&nats, &p, "w2", &["--slots", "2"]);
    let events = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let seen = Arc::clone(&events);
    let runtime = coordinator(&nats, &p, 2, move |b| {
        b.on_supervisor_event(move |e| seen.lock().push(e.clone()));
    });
    let n = 3_000u32;
    let hs = submit_echoes(&runtime, n);
    let ok = wait_all(hs, || w1.sigkill());
    assert_eq!(ok, n as usize);
    let m = runtime.shutdown();
    assert_eq!(m.totals.completed, u64::from(n), "{:?}", m.totals);
    assert_eq!(m.totals.failed + m.totals.cancelled, 0);
    assert_eq!(m.totals.unaccounted(), 0);
    let events = events.lock();
    assert!(
        events.iter().any(|e| matches!(
            e,
            SupervisorEvent::NodeDown {
                node: NodeId(0),
                reason: DownReason::Unreachable
            }
        )),
        "the killed worker's node is declared down: {events:?}"
    );
    // Its unfinished attempts ran again elsewhere (under their budgets).
    assert!(m.totals.retried > 0, "{:?}", m.totals);
    assert!(m.nodes[1].completed > m.nodes[0].completed, "{:?}", m.nodes);
}

#[test]
fn a_server_restart_mid_run_loses_nothing_and_delivers_nothing_twice() {
    let Some(mut nats) = server() else { return };
    let p = prefix("restart");
    let _w1 = WorkerProc::start(&nats, &p, "w1", &["--slots", "2"]);
    let _w2 = WorkerProc::start(&nats, &p, "w2", &["--slots", "2"]);
    let runtime = coordinator(&nats, &p, 2, |_| {});
    let n = 3_000u32;
    let hs = submit_echoes(&runtime, n);
    let ok = wait_all(hs, || nats.restart());
    assert_eq!(ok, n as usize, "server log:\n{}", nats.log());
    let m = runtime.shutdown();
    assert_eq!(m.totals.completed, u64::from(n));
    assert_eq!(m.totals.failed + m.totals.cancelled, 0);
    assert_eq!(m.totals.unaccounted(), 0);
}

#[test]
fn a_frozen_worker_is_declared_down_and_its_late_results_are_ignored() {
    let Some(nats) = server() else { return };
    let p = prefix("sigstop");
    let w1 = WorkerProc::start(&nats, &p, "w1", &["--slots", "2"]);
    let _w2 = WorkerProc::start(&nats, &p, "w2", &["--slots", "2"]);
    let (tx, rx) = crossbeam_channel::unbounded();
    let runtime = coordinator(&nats, &p, 2, move |b| {
        b.on_supervisor_event(move |e| drop(tx.send(e.clone())));
    });
    let (_, k) = kinds::builtins();
    let h = runtime.handle();
    // Tasks that take a while, so that the freeze catches some running.
    let hs = h
        .submit_batch((0..200).map(|_| {
            k.sleep
                .task(&kinds::SleepArgs { ms: 20 })
                .unwrap()
                .max_retries(10)
        }))
        .unwrap();
    // Freeze w1 once it has finished something (it is surely working).
    let deadline = Instant::now() + DEADLINE;
    while h.metrics().nodes[0].completed == 0 {
        assert!(Instant::now() < deadline, "w1 never completed a task");
        std::thread::yield_now();
    }
    w1.signal("-STOP");
    let frozen = Instant::now();
    let down = loop {
        match rx.recv_deadline(deadline) {
            Ok(SupervisorEvent::NodeDown {
                node: NodeId(0),
                reason,
            }) => break reason,
            Ok(_) => {}
            Err(e) => panic!("w1 was never declared down: {e}"),
        }
    };
    assert_eq!(down, DownReason::Unreachable);
    assert!(
        frozen.elapsed() >= Duration::from_millis(900),
        "declared down after the hang timeout"
    );
    for t in hs {
        t.wait().expect("its tasks finish elsewhere");
    }
    let stale_before = h.metrics().nodes[0].stale_results;
    assert!(stale_before > 0, "w1's running attempts were abandoned");
    // Thawed, w1 is heard again; whatever it held is superseded (its
    // results dropped, or its attempts cancelled) and changes nothing.
    w1.signal("-CONT");
    let deadline = Instant::now() + DEADLINE;
    loop {
        let m = h.metrics();
        let c = m.cluster.expect("a coordinator has cluster metrics");
        let w = c.workers.iter().find(|w| w.name == "w1").unwrap();
        if w.silent_for < Duration::from_millis(500) {
            break;
        }
        assert!(Instant::now() < deadline, "w1 is never heard again");
        std::thread::yield_now();
    }
    let m = runtime.shutdown();
    assert_eq!(m.totals.completed, 200);
    assert_eq!(m.totals.unaccounted(), 0);
}

#[test]
fn a_message_that_does_not_decode_is_reported_and_the_worker_goes_on() {
    let Some(nats) = server() else { return };
    let p = prefix("badmsg");
    let _w1 = WorkerProc::start(&nats, &p, "w1", &["--slots", "1"]);
    let runtime = coordinator(&nats, &p, 1, |_| {});
    let rt = tokio::runtime::Runtime::new().unwrap();
    let report = rt.block_on(async {
        let client = async_nats::connect(nats.url()).await.unwrap();
        let mut errors = client.subscribe(format!("{p}.error.w1")).await.unwrap();
        client.flush().await.unwrap();
        let js = async_nats::jetstream::new(client.clone());
        use futures_util::StreamExt;
        let mut reports = Vec::new();
        // No headers at all: garbage.
        js.publish(format!("{p}.work.w1.0"), "garbage".into())
            .await
            .unwrap()
            .await
            .unwrap();
        // A version this build does not speak.
        let mut h = async_nats::HeaderMap::new();
        h.insert("Allot-Version", "99");
        js.publish_with_headers(format!("{p}.work.w1.0"), h, "x".into())
            .await
            .unwrap()
            .await
            .unwrap();
        for _ in 0..2 {
            let msg = tokio::time::timeout(DEADLINE, errors.next())
                .await
                .expect("the worker reports each bad message")
                .unwrap();
            reports.push(String::from_utf8_lossy(&msg.payload).into_owned());
        }
        reports
    });
    assert!(report[0].contains("\"field\":\"headers\""), "{report:?}");
    assert!(
        report[1].contains("\"field\":\"Allot-Version\""),
        "{report:?}"
    );
    // A function the worker does not have: refused by name, never run.
    let mut ours = allot::Registry::new();
    let stranger = ours
        .register("not.on.the.worker", |_, x: u32| Ok::<_, String>(x))
        .unwrap();
    let r = runtime
        .handle()
        .submit(stranger.task(&7).unwrap())
        .unwrap()
        .wait();
    match r.unwrap_err().last_failure() {
        Some(AttemptFailure::Error(e)) => {
            let e = e.to_string();
            assert!(e.contains("not.on.the.worker") && e.contains("w1"), "{e}");
        }
        other => panic!("expected the worker's refusal, got {other:?}"),
    }
    // Its heartbeats count them too.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let m = runtime.handle().metrics();
        let w = &m.cluster.as_ref().unwrap().workers[0];
        if w.bad_messages == 2 {
            break;
        }
        assert!(w.bad_messages < 2 && Instant::now() < deadline, "{w:?}");
        std::thread::yield_now();
    }
    // The worker is alive and serving.
    let (_, k) = kinds::builtins();
    let t = k.echo.task(&vec![1, 2, 3]).unwrap();
    assert_eq!(
        runtime.handle().submit(t).unwrap().wait().unwrap(),
        [1, 2, 3]
    );
    runtime.shutdown();
}

#[test]
fn a_cancel_reaches_a_running_remote_task() {
    let Some(nats) = server() else { return };
    let p = prefix("cancel");
    // One slot and no prefetch: the cancelled task must give its slot back
    // for the next one to run.
    let _w1 = WorkerProc::start(&nats, &p, "w1", &["--slots", "1", "--prefetch", "0"]);
    let runtime = coordinator(&nats, &p, 1, |_| {});
    let (_, k) = kinds::builtins();
    let h = runtime.handle();
    let long = h
        .submit(k.sleep.task(&kinds::SleepArgs { ms: 600_000 }).unwrap())
        .unwrap();
    let deadline = Instant::now() + DEADLINE;
    while long.status() != allot::TaskStatus::Running {
        assert!(Instant::now() < deadline, "the task never started");
        std::thread::yield_now();
    }
    assert!(long.cancel());
    assert!(long.wait().unwrap_err().is_cancelled());
    // Had the worker not seen the cancel, its only slot would stay busy
    // for ten minutes.
    let started = Instant::now();
    let next = h
        .submit(k.sleep.task(&kinds::SleepArgs { ms: 1 }).unwrap())
        .unwrap();
    assert_eq!(next.wait().unwrap(), 0);
    assert!(started.elapsed() < DEADLINE);
    runtime.shutdown();
}

#[test]
fn the_balancer_moves_queued_tasks_off_a_slow_remote_node() {
    let Some(nats) = server() else { return };
    let p = prefix("balance");
    let _slow = WorkerProc::start(
        &nats,
        &p,
        "slow",
        &["--slots", "1", "--speed", "0.05", "--prefetch", "0"],
    );
    let _fast = WorkerProc::start(&nats, &p, "fast", &["--slots", "1", "--prefetch", "0"]);
    let runtime = coordinator(&nats, &p, 2, |b| {
        b.balancer(BalancerConfig {
            enabled: true,
            interval: Duration::from_millis(10),
            ..BalancerConfig::default()
        });
    });
    let (_, k) = kinds::builtins();
    let h = runtime.handle();
    let names: Vec<String> = h.metrics().nodes.iter().map(|n| n.name.clone()).collect();
    let slow = NodeId(names.iter().position(|n| n == "slow/0").unwrap());
    let fast = NodeId(names.iter().position(|n| n == "fast/0").unwrap());
    // Everything pinned to the slow node at first.
    let hs = h
        .submit_batch_to(
            slow,
            (0..100).map(|_| k.sleep.task(&kinds::SleepArgs { ms: 5 }).unwrap()),
        )
        .unwrap();
    let done = AtomicU64::new(0);
    for t in hs {
        t.wait().unwrap();
        done.fetch_add(1, Ordering::Relaxed);
    }
    let m = runtime.shutdown();
    assert_eq!(done.load(Ordering::Relaxed), 100);
    assert!(m.nodes[slow.0].migrations_out > 0, "{:?}", m.nodes);
    assert!(m.nodes[fast.0].completed > 0, "{:?}", m.nodes);
    assert_eq!(
        m.nodes[slow.0].migrations_out,
        m.nodes[fast.0].migrations_in
    );
}

#[test]
fn credentials_pass_through_and_wrong_ones_are_a_typed_error() {
    for (auth, good, bad) in [
        (
            vec!["--user", "alice", "--pass", "s3cret"],
            "[cluster]\nuser = \"alice\"\npassword = \"s3cret\"\n",
            ClusterConfig {
                user: Some("alice".into()),
                password: Some("wrong".into()),
                ..ClusterConfig::default()
            },
        ),
        (
            vec!["--auth", "t0ken"],
            "[cluster]\ntoken = \"t0ken\"\n",
            ClusterConfig {
                token: Some("nope".into()),
                ..ClusterConfig::default()
            },
        ),
    ] {
        let Some(nats) = NatsServer::start_with(&auth) else {
            return;
        };
        let p = prefix("auth");
        // Wrong credentials: a typed error at build, no panic.
        let refused = Runtime::builder()
            .nodes(Vec::new())
            .cluster(ClusterConfig {
                urls: vec![nats.url()],
                connect_timeout: Duration::from_secs(2),
                subject_prefix: p.clone(),
                ..bad
            })
            .build();
        match refused {
            Err(allot::BuildError::Cluster(allot::cluster::ClusterError::Connect { .. })) => {}
            other => panic!("expected a connect error, got {other:?}"),
        }
        // The right ones, from a config file for the worker and in the
        // coordinator's config: a round trip.
        round_trip_with(&nats, &p, good, &nats.url());
    }
}

/// A worker given `text` as its `--config`, a coordinator configured by
/// the same `[cluster]` table (at `url`): one echo there and back.
fn round_trip_with(nats: &NatsServer, p: &str, text: &str, url: &str) {
    let file = std::env::temp_dir().join(format!(
        "allot-config-{}-{:x}.toml",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::write(&file, text).unwrap();
    let _w = WorkerProc::start(nats, p, "w1", &["--config", file.to_str().unwrap()]);
    let mut config = toml_cluster(text);
    config.urls = vec![url.to_owned()];
    config.subject_prefix = p.to_owned();
    config.join_timeout = DEADLINE;
    let runtime = Runtime::builder()
        .nodes(Vec::new())
        .cluster(config)
        .build()
        .expect("the configured connection works");
    let (_, k) = kinds::builtins();
    let t = k.echo.task(&vec![4, 2]).unwrap();
    assert_eq!(runtime.handle().submit(t).unwrap().wait().unwrap(), [4, 2]);
    runtime.shutdown();
    let _ = std::fs::remove_file(&file);
}

/// The `[cluster]` table of a TOML text, as `allot worker --config` reads it.
fn toml_cluster(text: &str) -> ClusterConfig {
    #[derive(serde::Deserialize)]
    struct File {
        cluster: ClusterConfig,
    }
    toml::from_str::<File>(text).unwrap().cluster
}

#[test]
fn tls_passes_through_and_an_untrusted_server_is_a_typed_error() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tls");
    let (ca, cert, key) = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server-key.pem"),
    );
    let Some(nats) = NatsServer::start_with(&[
        "--tls",
        "--tlscert",
        cert.to_str().unwrap(),
        "--tlskey",
        key.to_str().unwrap(),
    ]) else {
        return;
    };
    let p = prefix("tls");
    let tls_url = nats.url().replace("nats://", "tls://");
    // Without the test CA, the server's certificate is not trusted.
    let refused = Runtime::builder()
        .nodes(Vec::new())
        .cluster(ClusterConfig {
            urls: vec![tls_url.clone()],
            connect_timeout: Duration::from_secs(2),
            subject_prefix: p.clone(),
            ..ClusterConfig::default()
        })
        .build();
    match refused {
        Err(allot::BuildError::Cluster(allot::cluster::ClusterError::Connect { .. })) => {}
        other => panic!("expected a connect error, got {other:?}"),
    }
    // With it, on both sides: a round trip.
    let text = format!(
        "[cluster]\ntls = {{ required = true, ca_file = {:?} }}\n",
        ca.to_str().unwrap()
    );
    round_trip_with(&nats, &p, &text, &tls_url);
}

/// Building a coordinator with `config`'s authentication (on `nats`,
/// prefix `p`) is refused with a typed error, no panic.
fn assert_refused(nats: &NatsServer, p: &str, config: ClusterConfig) {
    let refused = Runtime::builder()
        .nodes(Vec::new())
        .cluster(ClusterConfig {
            urls: vec![nats.url()],
            connect_timeout: Duration::from_secs(2),
            subject_prefix: p.to_owned(),
            ..config
        })
        .build();
    assert!(
        matches!(
            refused,
            Err(allot::BuildError::Cluster(
                allot::cluster::ClusterError::Connect { .. }
                    | allot::cluster::ClusterError::Config { .. }
            ))
        ),
        "{refused:?}"
    );
}

/// A JWT signed by `signer`: header, claims (with `iss` and `iat` added),
/// signature, as NATS's decentralised authentication reads them.
fn jwt(signer: &nkeys::KeyPair, mut claims: serde_json::Value) -> String {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    claims["iss"] = signer.public_key().into();
    claims["iat"] = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .into();
    claims["jti"] = format!("{:032X}", rand::random::<u128>()).into();
    let head = b64(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let body = b64(claims.to_string().as_bytes());
    let signed = format!("{head}.{body}");
    let sig = signer.sign(signed.as_bytes()).unwrap();
    format!("{signed}.{}", b64(&sig))
}

#[test]
fn a_credentials_file_passes_through() {
    // An operator, an account with JetStream and a user in it; the server
    // trusts the operator and knows the account (memory resolver).
    let operator = nkeys::KeyPair::new_operator();
    let account = nkeys::KeyPair::new_account();
    let system = nkeys::KeyPair::new_account();
    let user = nkeys::KeyPair::new_user();
    let op_jwt = jwt(
        &operator,
        serde_json::json!({
            "sub": operator.public_key(), "name": "allot-test-operator",
            "nats": {"type": "operator", "version": 2, "system_account": system.public_key()}
        }),
    );
    let mut limits = serde_json::json!({
        "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
        "wildcards": true, "conn": -1, "leaf": -1
    });
    let account_jwt = |kp: &nkeys::KeyPair, name: &str, limits: &serde_json::Value| {
        jwt(
            &operator,
            serde_json::json!({
                "sub": kp.public_key(), "name": name,
                "nats": {"type": "account", "version": 2, "limits": limits}
            }),
        )
    };
    // The system account may not have JetStream; the user's does.
    let sys_jwt = account_jwt(&system, "SYS", &limits);
    for k in ["mem_storage", "disk_storage", "streams", "consumer"] {
        limits[k] = (-1).into();
    }
    let acc_jwt = account_jwt(&account, "allot-test-account", &limits);
    let user_jwt = jwt(
        &account,
        serde_json::json!({
            "sub": user.public_key(), "name": "allot-test-user",
            "nats": {"type": "user", "version": 2, "subs": -1, "data": -1, "payload": -1}
        }),
    );
    let dir = std::env::temp_dir().join(format!(
        "allot-jwt-{}-{:x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("server.conf");
    std::fs::write(
        &conf,
        format!(
            "operator: {op_jwt}\nsystem_account: {sys}\nresolver: MEMORY\n\
             resolver_preload: {{\n  {acc}: {acc_jwt}\n  {sys}: {sys_jwt}\n}}\n",
            sys = system.public_key(),
            acc = account.public_key(),
        ),
    )
    .unwrap();
    let creds = dir.join("user.creds");
    std::fs::write(
        &creds,
        format!(
            "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n\
             -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
            user.seed().unwrap()
        ),
    )
    .unwrap();
    let Some(nats) = NatsServer::start_with(&["-c", conf.to_str().unwrap()]) else {
        return;
    };
    let p = prefix("jwt");
    // No credentials, or a file that is not there: refused, typed.
    for bad in [None, Some(dir.join("missing.creds"))] {
        assert_refused(
            &nats,
            &p,
            ClusterConfig {
                credentials_file: bad,
                ..ClusterConfig::default()
            },
        );
    }
    let text = format!(
        "[cluster]\ncredentials_file = {:?}\n",
        creds.to_str().unwrap()
    );
    round_trip_with(&nats, &p, &text, &nats.url());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_nkey_passes_through() {
    let user = nkeys::KeyPair::new_user();
    let seed = user.seed().unwrap();
    let conf = std::env::temp_dir().join(format!("allot-nkey-{}.conf", std::process::id()));
    std::fs::write(
        &conf,
        format!(
            "authorization {{ users = [ {{ nkey: {} }} ] }}\n",
            user.public_key()
        ),
    )
    .unwrap();
    let Some(nats) = NatsServer::start_with(&["-c", conf.to_str().unwrap()]) else {
        return;
    };
    let p = prefix("nkey");
    let text = format!("[cluster]\nnkey_seed = {seed:?}\n");
    // Without the key: refused.
    assert_refused(&nats, &p, ClusterConfig::default());
    round_trip_with(&nats, &p, &text, &nats.url());
    let _ = std::fs::remove_file(&conf);
}

/// Child mode of the coordinator-restart test: a coordinator with a
/// journal (`ALLOT_COORD_JOURNAL`) on the cluster at `ALLOT_COORD_URL`,
/// prefix `ALLOT_COORD_PREFIX`. Prints (each line after `@@ `, as the
/// test harness may write before it on the same line) `recovered N` and `done ID NAME
/// VALUE` for every recovered task as it ends; then, if `ALLOT_COORD_SUBMIT`
/// is set, `ok ID` for each of 300 submissions (echoes of their index,
/// and 30 ms sleeps), `submitted`, and `done …` as each ends; finally
/// `adopted N` and `finished`.
#[cfg(feature = "journal")]
#[test]
fn child_coordinator() {
    let Ok(path) = std::env::var("ALLOT_COORD_JOURNAL") else {
        return;
    };
    use std::io::Write;
    let url = std::env::var("ALLOT_COORD_URL").unwrap();
    let p = std::env::var("ALLOT_COORD_PREFIX").unwrap();
    let (registry, k) = kinds::builtins();
    let runtime = Runtime::builder()
        .nodes(Vec::new())
        .cluster(ClusterConfig {
            urls: vec![url],
            subject_prefix: p,
            join_timeout: DEADLINE,
            ..ClusterConfig::default().workers(2)
        })
        .journal(path)
        .registry(registry)
        .build()
        .unwrap();
    let h = runtime.handle().clone();
    let mut out = std::io::stdout().lock();
    let back = h.recovered();
    writeln!(out, "@@ recovered {}", back.len()).unwrap();
    out.flush().unwrap();
    for r in back {
        let bytes = r.handle.wait().unwrap();
        let value = if r.name == kinds::ECHO {
            format!("{:?}", k.echo.decode(&bytes).unwrap())
        } else {
            k.sleep.decode(&bytes).unwrap().to_string()
        };
        writeln!(out, "@@ done {} {} {value}", r.id.0, r.name).unwrap();
        out.flush().unwrap();
    }
    if std::env::var_os("ALLOT_COORD_SUBMIT").is_some() {
        let (mut echoes, mut sleeps) = (Vec::new(), Vec::new());
        for i in 0..300u64 {
            if i % 2 == 0 {
                let t = h
                    .submit(k.echo.task(&i.to_le_bytes().to_vec()).unwrap())
                    .unwrap();
                writeln!(out, "@@ ok {}", t.id().0).unwrap();
                echoes.push(t);
            } else {
                let t = h
                    .submit(k.sleep.task(&kinds::SleepArgs { ms: 30 }).unwrap())
                    .unwrap();
                writeln!(out, "@@ ok {}", t.id().0).unwrap();
                sleeps.push(t);
            }
        }
        writeln!(out, "@@ submitted").unwrap();
        out.flush().unwrap();
        // Alternately, as they were submitted.
        let mut sleeps = sleeps.into_iter();
        for e in echoes {
            let id = e.id().0;
            let v = e.wait().unwrap();
            writeln!(out, "@@ done {id} {} {v:?}", kinds::ECHO).unwrap();
            if let Some(s) = sleeps.next() {
                let id = s.id().0;
                let v = s.wait().unwrap();
                writeln!(out, "@@ done {id} {} {v}", kinds::SLEEP).unwrap();
            }
            out.flush().unwrap();
        }
    }
    let adopted = h.metrics().cluster.map_or(0, |c| c.adopted);
    writeln!(out, "@@ adopted {adopted}").unwrap();
    writeln!(out, "@@ finished").unwrap();
    out.flush().unwrap();
    runtime.shutdown();
}

/// Runs [`child_coordinator`] and reads its lines; `kill_when` says when
/// to SIGKILL it (never: it runs to its end).
#[cfg(feature = "journal")]
fn coordinator_process(
    nats: &NatsServer,
    p: &str,
    journal: &std::path::Path,
    submit: bool,
    mut kill_when: impl FnMut(&str) -> bool,
) -> Vec<String> {
    use std::io::BufRead;
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "child_coordinator",
        "--nocapture",
        "--test-threads",
        "1",
    ])
    .env("ALLOT_COORD_JOURNAL", journal)
    .env("ALLOT_COORD_URL", nats.url())
    .env("ALLOT_COORD_PREFIX", p)
    .env_remove("RUST_LOG")
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    if submit {
        cmd.env("ALLOT_COORD_SUBMIT", "1");
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = Vec::new();
    let mut killed = false;
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let Ok(line) = line else { break };
        let Some((_, line)) = line.split_once("@@ ") else {
            continue;
        };
        lines.push(line.to_owned());
        if !killed && kill_when(lines.last().unwrap()) {
            child.kill().unwrap();
            killed = true;
        }
    }
    child.wait().unwrap();
    lines
}

#[cfg(feature = "journal")]
#[test]
fn a_coordinator_restarted_on_its_journal_takes_what_workers_did_meanwhile() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let p = prefix("restart");
    let _w1 = WorkerProc::start(&nats, &p, "w1", &[]);
    let _w2 = WorkerProc::start(&nats, &p, "w2", &[]);
    let journal = std::env::temp_dir().join(format!(
        "allot-coord-{}-{:x}.redb",
        std::process::id(),
        rand::random::<u32>()
    ));
    // A first coordinator submits 300 tasks and is killed with SIGKILL
    // after 40 have ended, with attempts out on the workers.
    let mut done = 0;
    let first = coordinator_process(&nats, &p, &journal, true, |l| {
        done += usize::from(l.starts_with("done "));
        done >= 40
    });
    assert!(first.iter().any(|l| l == "submitted"), "{first:?}");
    assert!(
        !first.iter().any(|l| l == "finished"),
        "killed before the end"
    );
    let submitted: Vec<u64> = first
        .iter()
        .filter_map(|l| l.strip_prefix("ok ")?.parse().ok())
        .collect();
    assert_eq!(submitted.len(), 300);
    // A second one, on the same journal, recovers the rest and ends.
    let second = coordinator_process(&nats, &p, &journal, false, |_| false);
    assert_eq!(
        second.last().map(String::as_str),
        Some("finished"),
        "{second:?}"
    );
    // Every submission ended, in one run or the other, with its value:
    // an echo of its index, or a sleep's attempt number. (A result
    // read just before the kill may be read again after it: reads become
    // durable with the next commit.)
    let mut ended = std::collections::BTreeMap::new();
    for l in first.iter().chain(&second) {
        let Some(rest) = l.strip_prefix("done ") else {
            continue;
        };
        let mut f = rest.splitn(3, ' ');
        let (id, name, value) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        let id: u64 = id.parse().unwrap();
        let index = submitted
            .iter()
            .position(|&s| s == id)
            .expect("a submitted id");
        if name == kinds::ECHO {
            let want = format!("{:?}", (index as u64).to_le_bytes().to_vec());
            assert_eq!(value, want, "task {id}");
        } else {
            assert_eq!(name, kinds::SLEEP);
            assert!(value.parse::<u32>().is_ok(), "task {id}: {value}");
        }
        ended.insert(id, ());
    }
    assert_eq!(ended.len(), 300, "every submission ended");
    // What the workers finished while no coordinator was up was taken, not
    // run again.
    let adopted: u64 = second
        .iter()
        .find_map(|l| l.strip_prefix("adopted ")?.parse().ok())
        .unwrap();
    assert!(
        adopted >= 1,
        "results sent while the coordinator was down: {second:?}"
    );
    let _ = std::fs::remove_file(&journal);
}
