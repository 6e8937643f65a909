//! A real `chromedriver` for the browser test: a free port on 127.0.0.1,
//! killed on drop, and the headless Chromium settings that work on a
//! machine without a network.
//!
//! The standard library and serde_json (every test crate compiles this
//! file): the WebDriver client is the test's own.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Longest a start waits for chromedriver to say it listens.
pub const START_DEADLINE: Duration = Duration::from_secs(10);

/// How many fresh ports a start tries when the one it picked was taken
/// before chromedriver could bind it.
const START_TRIES: usize = 3;

/// What to install when the browser is missing.
pub const INSTALL_HINT: &str = "apt-get install chromium chromium-driver";

/// Chromium's flags: headless, and none of the background fetches that
/// stall it where there is no network. A fresh profile directory is added
/// per session.
pub const CHROMIUM_ARGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
];

/// The browser and its driver, as found.
#[derive(Clone, Debug)]
pub struct Browser {
    /// The Chromium binary.
    pub chromium: PathBuf,
    /// The chromedriver binary.
    pub driver: PathBuf,
}

/// Finds Chromium and chromedriver: env `CHROMIUM` and `CHROMEDRIVER`,
/// else `PATH`, else `/usr/bin` (Debian's `chromium` and
/// `chromium-driver`).
///
/// Returns `None` when either is missing, after one line on stderr saying
/// how to install them: the calling test should then return early.
///
/// # Panics
///
/// If either is missing and env `CI` is `true`.
pub fn find() -> Option<Browser> {
    let chromium = locate("CHROMIUM", &["chromium", "chromium-browser"]);
    let driver = locate("CHROMEDRIVER", &["chromedriver"]);
    match (chromium, driver) {
        (Some(chromium), Some(driver)) => Some(Browser { chromium, driver }),
        (chromium, driver) => {
            let missing = match (chromium, driver) {
                (None, None) => "chromium and chromedriver",
                (None, Some(_)) => "chromium",
                _ => "chromedriver",
            };
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{missing} not found; CI=true requires them ({INSTALL_HINT})");
            }
            // Past libtest's capture, so that a plain `cargo test` shows it.
            let _ = writeln!(
                std::io::stderr(),
                "skipping the browser test: {missing} not installed ({INSTALL_HINT})"
            );
            None
        }
    }
}

fn locate(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var) {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "{var}={} names no file", p.display());
        return Some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .collect();
    names
        .iter()
        .flat_map(|n| dirs.iter().map(move |d| d.join(n)))
        .find(|p| p.is_file())
}

/// A `chromedriver` child process on 127.0.0.1, and a fresh directory for
/// Chromium's profile and the driver's log.
///
/// Dropping it kills the driver (and so the browsers it started) and
/// removes the directory.
#[derive(Debug)]
pub struct Chromedriver {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Chromedriver {
    /// Starts chromedriver on a free port and waits until it says it
    /// listens.
    ///
    /// # Panics
    ///
    /// If it does not start within [`START_DEADLINE`] (the message holds
    /// its output).
    pub fn start(browser: &Browser) -> Chromedriver {
        let dir = fresh_dir();
        let deadline = Instant::now() + START_DEADLINE;
        let mut last = String::new();
        for _ in 0..START_TRIES {
            let port = free_port();
            let mut child = Command::new(&browser.driver)
                .arg(format!("--port={port}"))
                .arg(format!(
                    "--log-path={}",
                    dir.join("chromedriver.log").display()
                ))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("spawning {}: {e}", browser.driver.display()));
            // A thread reads its stdout and says, on a channel, when the
            // ready line comes or the stream ends (it exited): no polling.
            let stdout = child.stdout.take().expect("stdout is piped");
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let mut said = String::new();
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    said.push_str(&line);
                    said.push('\n');
                    if line.contains("started successfully") {
                        let _ = tx.send(Ok(()));
                    }
                }
                let _ = tx.send(Err(said));
            });
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(Ok(())) => return Chromedriver { child, port, dir },
                Ok(Err(said)) => last = said,
                Err(_) => last = "(no ready line before the deadline)".into(),
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "chromedriver did not start: {last}\n{}",
            std::fs::read_to_string(dir.join("chromedriver.log")).unwrap_or_default()
        );
    }

    /// `http://127.0.0.1:PORT`, the WebDriver endpoint.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A fresh directory for one browser's profile.
    pub fn profile_dir(&self) -> PathBuf {
        let p = self.dir.join("profile");
        std::fs::create_dir_all(&p).expect("profile directory");
        p
    }

    /// The driver's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("chromedriver.log")).unwrap_or_default()
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // An error only says it had exited already; wait reaps it.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The capabilities of a headless Chromium session with its profile in
/// `profile`, as WebDriver wants them.
pub fn capabilities(
    browser: &Browser,
    profile: &Path,
) -> serde_json::Map<String, serde_json::Value> {
    let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|s| (*s).to_owned()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    let caps = serde_json::json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": browser.chromium, "args": args },
    });
    match caps {
        serde_json::Value::Object(m) => m,
        _ => unreachable!("an object literal"),
    }
}

fn free_port() -> u16 {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

fn fresh_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "allot-browser-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}
