//! Durable submissions: allot's journalled `submit` against redb's own
//! batched insert of records of the same size, in the same run.
//!
//! Run with `cargo bench --features journal --bench journal` (options after
//! `--`: `--records N`, `--threads N`, `--rounds N`).
//!
//! Each round measures, in turn:
//! - **raw redb**: one writer inserting `records` records of the journal's
//!   record size, `batch` per durable transaction (the batch is the group
//!   the journal reached in the previous allot case, at least 1);
//! - **allot**: `threads` threads each submitting its share of `records`
//!   no-op named tasks one at a time to a journalled runtime (every
//!   `submit` returns once durable); with the per-`submit` latency.
//!
//! Every task's attempt makes a dispatch record too (measured in; the
//! writer drops it when the task's outcome follows it into the same
//! commit).
//!
//! The first round is a warm-up; it prints the median and the range over
//! the others. The files go to the system's temporary directory
//! (`TMPDIR`): `docs/performance.md` runs it on `tmpfs` with an
//! `LD_PRELOAD` shim that gives `fdatasync` a fixed, disk-like latency,
//! when the machine's own disk is too erratic to compare on.

#![allow(missing_docs)]

use allot::{NodeSpec, Registry, Resources, Runtime};
use redb::{Database, Durability, TableDefinition};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TABLE: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("bench");

fn temp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("allot-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// Raw redb: `n` records of `size` bytes, `batch` per durable commit.
fn raw_redb(n: u64, size: usize, batch: u64) -> f64 {
    let path = temp("redb");
    let db = Database::create(&path).unwrap();
    let value = vec![7u8; size];
    let started = Instant::now();
    let mut k = 0;
    while k < n {
        let mut txn = db.begin_write().unwrap();
        txn.set_durability(Durability::Immediate).unwrap();
        {
            let mut t = txn.open_table(TABLE).unwrap();
            for _ in 0..batch.min(n - k) {
                t.insert(k, value.as_slice()).unwrap();
                k += 1;
            }
        }
        txn.commit().unwrap();
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    drop(db);
    let _ = std::fs::remove_file(&path);
    rate
}

/// allot: `threads` submitters, `n` durable submissions in all; the rate
/// and every submission's latency.
fn allot(n: u64, threads: u64) -> (f64, Vec<Duration>) {
    let path = temp("journal");
    let mut registry = Registry::new();
    let noop = registry
        .register("bench.noop", |_, (): ()| Ok::<_, String>(()))
        .unwrap();
    let rt = Runtime::builder()
        .nodes(vec![NodeSpec::new(Resources::cpu(4_000)).slots(2)])
        .journal(&path)
        .registry(registry)
        .build()
        .unwrap();
    let h = rt.handle().clone();
    let noop = Arc::new(noop);
    let started = Instant::now();
    let per = n / threads;
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let h = h.clone();
            let noop = Arc::clone(&noop);
            std::thread::spawn(move || {
                let mut lat = Vec::with_capacity(per as usize);
                let mut handles = Vec::with_capacity(per as usize);
                for _ in 0..per {
                    let t0 = Instant::now();
                    handles.push(h.submit(noop.task(&()).unwrap()).unwrap());
                    lat.push(t0.elapsed());
                }
                for t in handles {
                    t.wait().unwrap();
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for w in workers {
        lat.extend(w.join().unwrap());
    }
    let rate = (per * threads) as f64 / started.elapsed().as_secs_f64();
    rt.shutdown();
    let _ = std::fs::remove_file(&path);
    (rate, lat)
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median_range(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn main() {
    let records = arg("--records", 20_000);
    let threads = arg("--threads", 16).max(1);
    let rounds = arg("--rounds", 3).max(1);
    // The journal's record for a no-op task: name, empty args, the
    // default spec, postcard-encoded (measured: about 40 bytes).
    let size = 40;
    let (mut raw, mut ours, mut p50, mut p99) = (vec![], vec![], vec![], vec![]);
    for round in 0..=rounds {
        let (rate, mut lat) = allot(records, threads);
        // The group the journal reached: submitters waiting at once.
        let r = raw_redb(records, size, threads);
        lat.sort();
        let at = |q: f64| lat[((lat.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
        if round == 0 {
            continue;
        }
        // Each round too: the disk's fsync latency moves (other writers on
        // the machine), and raw redb, with fewer records per commit than
        // allot reaches when fsyncs slow down, moves most.
        println!(
            "  round {round}: raw redb {r:.0} /s, allot {rate:.0} /s, ratio {:.2}",
            rate / r
        );
        raw.push(r);
        ours.push(rate);
        p50.push(at(0.5));
        p99.push(at(0.99));
    }
    let ratios: Vec<f64> = ours.iter().zip(&raw).map(|(a, r)| a / r).collect();
    let (r, rlo, rhi) = median_range(raw);
    let (o, olo, ohi) = median_range(ours);
    let (q, qlo, qhi) = median_range(ratios);
    let (l50, _, _) = median_range(p50);
    let (l99, _, _) = median_range(p99);
    println!(
        "journal bench: {records} records, {threads} submitters, median of {rounds} rounds [min–max]"
    );
    println!("  raw redb, {threads} per durable commit   {r:>10.0} /s [{rlo:.0}–{rhi:.0}]");
    println!("  allot journalled submit             {o:>10.0} /s [{olo:.0}–{ohi:.0}]");
    println!("  allot ÷ raw redb                    {q:>10.2}    [{qlo:.2}–{qhi:.2}]");
    println!("  durable submit latency              p50 {l50:.0} µs, p99 {l99:.0} µs");
}
