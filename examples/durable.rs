//! The journal end to end: a process submits named tasks to a journalled
//! runtime and crashes (`abort`) partway; the restarted application reopens
//! the journal, takes back what was recovered, submits the rest, and checks
//! every result.
//!
//! ```sh
//! cargo run --release --features journal --example durable
//! cargo run --release --features journal --example durable -- --tasks 20000 --crash-after 5000
//! ```
//!
//! It prints one line: `journal: accepted=… recovered=… completed=… lost=0
//! duplicated=0`, where `accepted` counts the submissions the crashed
//! process had seen return `Ok`, `recovered` what the journal gave back,
//! and `completed` the tasks with the right result at the end (all of
//! them). Every figure is checked, not assumed.

use allot::{NamedFn, NodeSpec, Registry, Resources, Runtime, TaskHandle};
use clap::Parser;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The application's functions: the same code before and after the crash.
fn registry() -> (Registry, NamedFn<u64, u64>) {
    let mut r = Registry::new();
    let f = r
        .register("example.square_plus_one", |_ctx, x: u64| {
            Ok::<_, String>(x.wrapping_mul(x).wrapping_add(1))
        })
        .expect("a fresh registry takes the name");
    (r, f)
}

fn expected(x: u64) -> u64 {
    x.wrapping_mul(x).wrapping_add(1)
}

fn runtime(journal: &Path) -> Result<Runtime, String> {
    let (r, _) = registry();
    Runtime::builder()
        .nodes(vec![NodeSpec::new(Resources::cpu(4_000)).slots(2); 2])
        .journal(journal)
        .registry(r)
        .build()
        .map_err(|e| e.to_string())
}

/// The journal end to end: a process submits named tasks to a journalled
/// runtime and crashes partway; the restarted application reopens the
/// journal, takes back what was recovered, submits the rest, and checks
/// every result.
#[derive(Debug, Parser)]
#[command(name = "durable")]
struct Args {
    /// Tasks in all (at least 1).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    tasks: u64,
    /// Submissions the first process sees accepted before it aborts (at
    /// most --tasks).
    #[arg(long, default_value_t = 3_000)]
    crash_after: u64,
    /// The journal file.
    #[arg(long, value_name = "PATH", default_value_os_t = default_journal())]
    journal: PathBuf,
    /// Be the process that crashes (the application starts it so).
    #[arg(long, hide = true)]
    child: bool,
}

/// A fresh journal in the temporary directory, named after this process.
fn default_journal() -> PathBuf {
    std::env::temp_dir().join(format!("allot-durable-{}.journal", std::process::id()))
}

/// The process that crashes: submits, prints `ok ID X` for each `Ok`, and
/// aborts after `crash_after` of them (no shutdown, no flush).
fn child(a: &Args) -> Result<(), String> {
    let rt = runtime(&a.journal)?;
    let (_, f) = registry();
    let mut out = std::io::stdout().lock();
    for x in 0..a.tasks {
        writeln!(out, "try {x}").map_err(|e| e.to_string())?;
        let h = rt
            .handle()
            .submit(f.task(&x).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        writeln!(out, "ok {} {x}", h.id().0).map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())?;
        if x + 1 >= a.crash_after {
            std::process::abort();
        }
    }
    Ok(())
}

fn application(a: &Args) -> Result<(), String> {
    let _ = std::fs::remove_file(&a.journal);
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut crashing = Command::new(exe)
        .args(["--child", "--journal"])
        .arg(&a.journal)
        .args(["--tasks", &a.tasks.to_string()])
        .args(["--crash-after", &a.crash_after.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut acked: HashMap<u64, u64> = HashMap::new();
    let mut tried = 0u64;
    let lines = BufReader::new(crashing.stdout.take().ok_or("no stdout")?).lines();
    for line in lines.map_while(Result::ok) {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["try", x] => tried = tried.max(x.parse::<u64>().map_err(|e| e.to_string())? + 1),
            ["ok", id, x] => {
                acked.insert(
                    id.parse()
                        .map_err(|e: std::num::ParseIntError| e.to_string())?,
                    x.parse()
                        .map_err(|e: std::num::ParseIntError| e.to_string())?,
                );
            }
            _ => {}
        }
    }
    let _ = crashing.wait();

    // The restart.
    let rt = runtime(&a.journal)?;
    let (_, f) = registry();
    let back = rt.handle().recovered();
    let recovered = back.len() as u64;
    let mut done: HashSet<u64> = HashSet::new();
    let (mut duplicated, mut wrong) = (0u64, 0u64);
    let mut ids = HashSet::new();
    for r in back {
        if !ids.insert(r.id) {
            duplicated += 1;
        }
        let v = f
            .decode(&r.handle.wait().map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        // The journal keeps the arguments; the result names them here.
        let x = match acked.get(&r.id.0) {
            Some(&x) => x,
            None => (0..tried)
                .find(|&x| expected(x) == v)
                .ok_or("a result of no task")?,
        };
        if v != expected(x) {
            wrong += 1;
        }
        if !done.insert(x) {
            duplicated += 1;
        }
    }
    let lost = acked.values().filter(|x| !done.contains(x)).count() as u64;
    // What is left: never tried, or tried and not journalled.
    let rest: Vec<u64> = (0..a.tasks).filter(|x| !done.contains(x)).collect();
    let handles: Vec<TaskHandle<u64>> = rt
        .handle()
        .submit_batch(rest.iter().map(|&x| f.task(&x).expect("a u64 encodes")))
        .map_err(|e| e.to_string())?;
    for (x, h) in rest.into_iter().zip(handles) {
        if h.wait().map_err(|e| e.to_string())? != expected(x) {
            wrong += 1;
        }
        done.insert(x);
    }
    rt.shutdown();
    let _ = std::fs::remove_file(&a.journal);
    println!(
        "journal: accepted={} recovered={recovered} completed={} lost={lost} duplicated={duplicated}",
        acked.len(),
        done.len()
    );
    if lost > 0 || duplicated > 0 || wrong > 0 || done.len() as u64 != a.tasks {
        return Err(format!(
            "{lost} lost, {duplicated} duplicated, {wrong} wrong"
        ));
    }
    Ok(())
}

fn main() {
    let mut a = Args::parse();
    a.crash_after = a.crash_after.min(a.tasks);
    let result = if a.child { child(&a) } else { application(&a) };
    if let Err(e) = result {
        eprintln!("durable: {e}");
        std::process::exit(1);
    }
}
