//! The `NatsServer` harness: a real nats-server that a test starts, kills
//! and restarts, its JetStream file store kept across the restart.
//!
//! Skipped (one line on stderr) where nats-server is not installed, unless
//! `CI=true`.

mod support;

use async_nats::jetstream::{self, stream};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;
use support::{eventually, NatsServer};

const STREAM: &str = "HARNESS";
const MESSAGES: u64 = 100;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime starts")
}

/// The payload of message `k`: which message came back is checked too.
fn payload(k: u64) -> bytes::Bytes {
    format!("message {k}").into()
}

async fn connect(server: &NatsServer) -> jetstream::Context {
    let client = async_nats::connect(server.url())
        .await
        .unwrap_or_else(|e| panic!("connecting to {}: {e}\n{}", server.url(), server.log()));
    jetstream::new(client)
}

/// The stream's message count and last sequence, as the server tells them.
async fn counts(js: &jetstream::Context) -> (u64, u64) {
    let info = js
        .get_stream(STREAM)
        .await
        .expect("stream exists")
        .get_info()
        .await
        .expect("stream info");
    (info.state.messages, info.state.last_sequence)
}

#[test]
fn jetstream_file_store_survives_a_kill_and_restart() {
    let Some(mut server) = NatsServer::start() else {
        return;
    };
    let rt = runtime();
    rt.block_on(async {
        let js = connect(&server).await;
        js.create_stream(stream::Config {
            name: STREAM.to_string(),
            subjects: vec!["harness.>".to_string()],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .expect("stream created");
        for k in 1..=MESSAGES {
            js.publish(format!("harness.{k}"), payload(k))
                .await
                .expect("published")
                .await
                .expect("stored");
        }
        assert_eq!(counts(&js).await, (MESSAGES, MESSAGES));
    });

    // SIGKILL: no clean shutdown, only what reached the store's files.
    server.kill();
    assert!(!server.is_running());
    server.restart();
    assert!(server.is_running());

    rt.block_on(async {
        let js = connect(&server).await;
        assert_eq!(
            counts(&js).await,
            (MESSAGES, MESSAGES),
            "stream after restart\n{}",
            server.log()
        );
        let stream = js.get_stream(STREAM).await.expect("stream exists");
        for k in [1, MESSAGES] {
            let m = stream.get_raw_message(k).await.expect("message kept");
            assert_eq!(m.payload, payload(k), "message {k}");
            assert_eq!(m.subject.as_str(), format!("harness.{k}"));
        }
    });
    let log = server.log();
    assert_eq!(
        log.matches("Server is ready").count(),
        2,
        "one start and one restart in the log\n{log}"
    );
}

#[test]
fn restart_of_a_running_server_keeps_its_port() {
    let Some(mut server) = NatsServer::start() else {
        return;
    };
    let port = server.port();
    server.restart();
    assert_eq!(server.port(), port);
    assert_eq!(server.url(), format!("nats://127.0.0.1:{port}"));
    let rt = runtime();
    rt.block_on(async {
        let client = async_nats::connect(server.url()).await.expect("connects");
        client.flush().await.expect("server answers");
    });
}

#[test]
fn restart_waits_out_a_taken_port() {
    let Some(mut server) = NatsServer::start() else {
        return;
    };
    server.kill();
    let holder = TcpListener::bind((Ipv4Addr::LOCALHOST, server.port())).expect("port free");
    let log = server.log_path().to_path_buf();
    std::thread::scope(|s| {
        let restart = s.spawn(|| server.restart());
        eventually("a start to fail on the taken port", || {
            std::fs::read_to_string(&log).is_ok_and(|l| l.contains("address already in use"))
        });
        drop(holder);
        restart
            .join()
            .expect("restart succeeds once the port is free");
    });
    assert!(server.is_running());
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, server.port()));
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).expect("server accepts");
}

#[test]
fn drop_kills_the_server_and_removes_its_directory() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let store = server.store_dir().to_path_buf();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, server.port()));
    assert!(store.is_dir(), "JetStream made its store at {store:?}");
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).expect("server accepts");
    drop(server);
    assert!(!store.exists(), "{store:?} removed");
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "nothing listens on {addr} any more"
    );
}
