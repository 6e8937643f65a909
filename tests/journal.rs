//! The journal: named tasks survive a crash of the process that submitted
//! them. The crash test kills a real child process (this test binary, in
//! child mode) with SIGKILL at a seeded moment and reopens its journal.

use allot::{
    AttemptFailure, Builder, JournalError, JournalRetention, NamedFn, NodeSpec, Refusal, Registry,
    Resources, Runtime, RuntimeConfig, SubmitError, Task, TaskError, TaskHandle,
};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

/// The functions both processes know.
fn registry() -> (Registry, NamedFn<u64, u64>, NamedFn<u64, u64>) {
    let mut r = Registry::new();
    // A little work, so that a crash finds some tasks running.
    let work = r
        .register("test.work", |ctx, x: u64| {
            let until = std::time::Instant::now() + Duration::from_micros(200 + x % 300);
            while std::time::Instant::now() < until {
                ctx.heartbeat();
            }
            Ok::<_, String>(2 * x + 1)
        })
        .unwrap();
    // Waits until abandoned (cancelled, or its runtime shut down).
    let park = r
        .register("test.park", |ctx, x: u64| {
            while !ctx.is_abandoned() {
                std::thread::yield_now();
            }
            Ok::<_, String>(x)
        })
        .unwrap();
    (r, work, park)
}

fn journal_path(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "journal-{name}-{}-{:x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let _ = std::fs::remove_file(&p);
    p
}

fn builder(path: &Path) -> Builder {
    let (r, _, _) = registry();
    builder_with(path, r)
}

fn builder_with(path: &Path, r: Registry) -> Builder {
    let mut b = Runtime::builder();
    b.nodes(vec![NodeSpec::new(Resources::cpu(4_000)).slots(2)])
        .journal(path)
        .registry(r);
    b
}

/// `test.fill`: 1 KiB of `x`.
type Fill = NamedFn<u64, Vec<u8>>;
/// `test.len`: how many bytes it was given.
type Len = NamedFn<Vec<u8>, u64>;

/// [`registry`]'s functions, and two of big data: `test.fill` returns
/// 1 KiB, `test.len` takes any bytes.
fn big_registry() -> (Registry, Fill, Len) {
    let (mut r, _, _) = registry();
    let fill = r
        .register("test.fill", |_, x: u64| {
            Ok::<_, String>(vec![x as u8; 1024])
        })
        .unwrap();
    let len = r
        .register("test.len", |_, v: Vec<u8>| Ok::<_, String>(v.len() as u64))
        .unwrap();
    (r, fill, len)
}

/// Waits until every task of `hs` has ended, without reading an outcome
/// (a result read is forgotten).
fn until_finished<T: Send + 'static>(hs: &[TaskHandle<T>]) {
    for t in hs {
        while !t.is_finished() {
            std::thread::yield_now();
        }
    }
}

#[test]
fn a_journalled_runtime_refuses_closures_and_needs_a_registry() {
    let path = journal_path("closures");
    let runtime = builder(&path).build().unwrap();
    let h = runtime.handle();
    match h.submit(Task::new(|_| Ok::<_, String>(1))) {
        Err(SubmitError::Refused {
            reason: Refusal::NotDurable,
            ..
        }) => {}
        other => panic!("expected NotDurable, got {other:?}"),
    }
    let (_, work, _) = registry();
    assert_eq!(
        h.submit(work.task(&20).unwrap()).unwrap().wait().unwrap(),
        41
    );
    runtime.shutdown();
    let no_registry = Runtime::builder().journal(&path).build();
    match no_registry {
        Err(allot::BuildError::InvalidConfig { field, .. }) => assert_eq!(field, "registry"),
        other => panic!("expected the registry to be asked for, got {other:?}"),
    }
    let _ = std::fs::remove_file(&path);
}

#[test]
fn finished_tasks_come_back_with_their_outcomes_and_unfinished_ones_run_again() {
    let path = journal_path("recover");
    let (_, work, park) = registry();
    let (ids, parked_id) = {
        let runtime = builder(&path).build().unwrap();
        let h = runtime.handle();
        let hs = h
            .submit_batch((0..50).map(|x| work.task(&x).unwrap()))
            .unwrap();
        let ids: Vec<_> = hs.iter().map(|t| t.id()).collect();
        // Even ones read (their records go), odd ones left unread.
        for (x, t) in hs.into_iter().enumerate() {
            if x % 2 == 0 {
                assert_eq!(t.wait().unwrap(), 2 * x as u64 + 1);
            } else {
                while !t.is_finished() {
                    std::thread::yield_now();
                }
            }
        }
        let parked = h.submit(park.task(&7).unwrap()).unwrap();
        let parked_id = parked.id();
        while parked.status() != allot::TaskStatus::Running {
            std::thread::yield_now();
        }
        // A shutdown's cancel is not the task's end: it runs again.
        let report = runtime.handle().shutdown_now();
        assert_eq!(report.unfinished.len(), 1);
        (ids, parked_id)
    };
    let runtime = builder(&path).build().unwrap();
    let back = runtime.handle().recovered();
    assert_eq!(back.len(), 26, "25 unread results and the parked task");
    assert!(runtime.handle().recovered().is_empty(), "given back once");
    for r in back {
        if r.id == parked_id {
            assert!(!r.finished);
            assert_eq!(r.name, "test.park");
            // It runs again: cancel it (and leave the outcome unread).
            assert!(r.handle.cancel());
        } else {
            let x = ids.iter().position(|i| *i == r.id).expect("one of ours") as u64;
            assert_eq!(x % 2, 1, "a read result came back");
            assert!(r.finished, "{r:?}");
            assert_eq!(work.decode(&r.handle.wait().unwrap()).unwrap(), 2 * x + 1);
        }
    }
    // New ids continue after the journal's.
    let (_, work, _) = registry();
    let t = runtime.handle().submit(work.task(&1).unwrap()).unwrap();
    assert!(t.id() > parked_id);
    assert_eq!(t.wait().unwrap(), 3);
    runtime.shutdown();
    // The cancel was journalled: at the next open the parked task comes
    // back as cancelled, not run again; everything read is gone.
    let runtime = builder(&path).build().unwrap();
    let back = runtime.handle().recovered();
    assert_eq!(back.len(), 1);
    let parked = back.into_iter().next().unwrap();
    assert_eq!(parked.id, parked_id);
    assert!(parked.finished);
    assert!(matches!(parked.handle.wait(), Err(TaskError::Cancelled(_))));
    runtime.shutdown();
    let runtime = builder(&path).build().unwrap();
    assert!(runtime.handle().recovered().is_empty());
    runtime.shutdown();
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_long_run_of_read_results_keeps_the_journal_small() {
    let path = journal_path("bounded");
    let runtime = builder(&path).build().unwrap();
    let (_, work, _) = registry();
    let mut sizes = Vec::new();
    for round in 0..12u64 {
        let hs = runtime
            .handle()
            .submit_batch((0..1_000).map(|x| work.task(&(round * 1_000 + x)).unwrap()))
            .unwrap();
        for t in hs {
            t.wait().unwrap();
        }
        sizes.push(std::fs::metadata(&path).unwrap().len());
    }
    runtime.shutdown();
    // 12 000 tasks submitted and read: the file stops growing once its
    // free pages are reused (measured: docs/performance.md).
    let (early, last) = (sizes[3], sizes[11]);
    assert!(last <= early * 2, "the journal keeps growing: {sizes:?}");
    let runtime = builder(&path).build().unwrap();
    assert!(runtime.handle().recovered().is_empty());
    runtime.shutdown();
    eprintln!("journal file size by round of 1 000 read tasks: {sizes:?}");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_journal_open_in_another_runtime_is_a_typed_error() {
    let path = journal_path("locked");
    let first = builder(&path).build().unwrap();
    match builder(&path).build() {
        Err(allot::BuildError::Journal(allot::JournalError::Locked { .. })) => {}
        other => panic!("expected Locked, got {other:?}"),
    }
    first.shutdown();
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_damaged_journal_file_is_a_typed_error_not_a_panic() {
    let path = journal_path("damaged");
    {
        let runtime = builder(&path).build().unwrap();
        let (_, work, _) = registry();
        let hs = runtime
            .handle()
            .submit_batch((0..100).map(|x| work.task(&x).unwrap()))
            .unwrap();
        for t in hs {
            t.wait().unwrap();
        }
        runtime.shutdown();
    }
    let good = std::fs::read(&path).unwrap();
    // Truncated at several points, and bytes flipped at several places:
    // each open is a typed error or a consistent journal (every task it
    // gives back ends), never a panic.
    let len = good.len();
    let mut cases: Vec<Vec<u8>> = [0, 1, 16, len / 3, len / 2, len - 1]
        .into_iter()
        .map(|cut| good[..cut].to_vec())
        .collect();
    for at in [0, 17, len / 4, len / 2, (3 * len) / 4, len - 2] {
        let mut bad = good.clone();
        bad[at] ^= 0xFF;
        cases.push(bad);
    }
    for (k, bytes) in cases.into_iter().enumerate() {
        std::fs::write(&path, &bytes).unwrap();
        match builder(&path).build() {
            Ok(runtime) => {
                for r in runtime.handle().recovered() {
                    let _ = r.handle.wait();
                }
                runtime.shutdown();
            }
            Err(allot::BuildError::Journal(e)) => {
                assert!(!e.to_string().is_empty(), "case {k}");
            }
            Err(other) => panic!("case {k}: not a journal error: {other:?}"),
        }
    }
    let _ = std::fs::remove_file(&path);
}

/// Child mode: submits `test.work` tasks one at a time, printing `try X`
/// before and `ok ID X` once `submit` returned `Ok`, until killed.
#[test]
fn child_process_submits_until_killed() {
    let Ok(path) = std::env::var("ALLOT_JOURNAL_CHILD") else {
        return;
    };
    let runtime = builder(Path::new(&path)).build().unwrap();
    let h = runtime.handle();
    let (_, work, _) = registry();
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for x in 0u64.. {
        writeln!(out, "try {x}").unwrap();
        out.flush().unwrap();
        let t = h.submit(work.task(&x).unwrap()).unwrap();
        writeln!(out, "ok {} {x}", t.id().0).unwrap();
        out.flush().unwrap();
    }
}

/// Child mode, recovering: opens the journal (running again what had not
/// finished), prints `recovered N`, then `done ID` as each task ends,
/// until killed.
#[test]
fn child_process_recovers_until_killed() {
    let Ok(path) = std::env::var("ALLOT_JOURNAL_RECOVER") else {
        return;
    };
    let runtime = builder(Path::new(&path)).build().unwrap();
    let back = runtime.handle().recovered();
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "recovered {}", back.len()).unwrap();
    out.flush().unwrap();
    for r in back {
        let _ = r.handle.wait();
        writeln!(out, "done {}", r.id.0).unwrap();
        out.flush().unwrap();
    }
    writeln!(out, "all").unwrap();
    out.flush().unwrap();
    // Held open until killed: the kill may come after the last task.
    loop {
        std::thread::park();
    }
}

/// Runs this test binary's `test` in child mode with `env=path`, showing
/// `watch` every line of its output; kills it once `watch` returns true,
/// and goes on reading to the end: a line the child wrote before it died
/// (a submission acknowledged after the decision to kill) counts too.
fn run_child(test: &str, env: &str, path: &Path, mut watch: impl FnMut(&str) -> bool) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture"])
        .env(env, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut killed = false;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let Ok(line) = line else { break };
        if watch(&line) && !killed {
            child.kill().unwrap();
            killed = true;
        }
    }
    if !killed {
        let _ = child.kill();
    }
    child.wait().unwrap();
}

#[test]
fn a_crash_during_recovery_loses_nothing_either() {
    for seed in 0..5u64 {
        let path = journal_path(&format!("recovery{seed}"));
        // A first process crashes with work in flight...
        let mut acked_ids: Vec<u64> = Vec::new();
        let submitting = "child_process_submits_until_killed";
        run_child(submitting, "ALLOT_JOURNAL_CHILD", &path, |l| {
            if let Some(rest) = l.strip_prefix("ok ") {
                acked_ids.push(rest.split_whitespace().next().unwrap().parse().unwrap());
            }
            acked_ids.len() as u64 >= 50 + seed * 37
        });
        // ...and the one that recovers it crashes too, partway through.
        let mut done = 0;
        run_child(
            "child_process_recovers_until_killed",
            "ALLOT_JOURNAL_RECOVER",
            &path,
            |l| {
                done += l.starts_with("done ") as u64;
                // (`all`: it recovered everything before the point came.)
                done >= seed * 7 || l == "all"
            },
        );
        // The third open still has every acknowledged task, once, right.
        let runtime = builder(&path).build().unwrap();
        let (_, work, _) = registry();
        let mut seen = std::collections::HashSet::new();
        for r in runtime.handle().recovered() {
            assert!(seen.insert(r.id.0), "seed {seed}: {} twice", r.id);
            let v = work.decode(&r.handle.wait().unwrap()).unwrap();
            assert_eq!(v % 2, 1, "seed {seed}: {v} is no result of test.work");
        }
        for id in &acked_ids {
            assert!(
                seen.contains(id),
                "seed {seed}: acknowledged task {id} was lost"
            );
        }
        runtime.shutdown();
        let _ = std::fs::remove_file(&path);
    }
}

#[test]
fn a_crash_at_any_moment_loses_no_acknowledged_submission() {
    for seed in 0..20u64 {
        let path = journal_path(&format!("crash{seed}"));
        // Killed after a seeded number of acknowledged submissions.
        let kill_after = 5 + (seed * 7919) % 400;
        let mut acked = std::collections::HashMap::new();
        let mut tried = std::collections::HashSet::new();
        let child = "child_process_submits_until_killed";
        run_child(child, "ALLOT_JOURNAL_CHILD", &path, |line| {
            let mut w = line.split_whitespace();
            match w.next() {
                Some("try") => {
                    tried.insert(w.next().unwrap().parse::<u64>().unwrap());
                }
                Some("ok") => {
                    let id: u64 = w.next().unwrap().parse().unwrap();
                    let x: u64 = w.next().unwrap().parse().unwrap();
                    acked.insert(id, x);
                }
                _ => {}
            }
            acked.len() as u64 >= kill_after
        });
        let runtime = builder(&path).build().unwrap();
        let back = runtime.handle().recovered();
        let (_, work, _) = registry();
        let mut seen = std::collections::HashSet::new();
        for r in back {
            assert!(seen.insert(r.id), "seed {seed}: {} twice", r.id);
            let v = work.decode(&r.handle.wait().unwrap()).unwrap();
            let x = (v - 1) / 2;
            assert_eq!(v, 2 * x + 1, "seed {seed}");
            // Never a task that was not even tried.
            assert!(tried.contains(&x), "seed {seed}: {x} was never submitted");
            if let Some(want) = acked.get(&r.id.0) {
                assert_eq!(*want, x, "seed {seed}: task {} has the wrong result", r.id);
            }
        }
        for id in acked.keys() {
            assert!(
                seen.contains(&allot::TaskId(*id)),
                "seed {seed}: acknowledged task {id} was lost"
            );
        }
        runtime.shutdown();
        let _ = std::fs::remove_file(&path);
    }
}

#[test]
fn detached_tasks_leave_no_records_behind_once_they_end() {
    let path = journal_path("detached");
    let runtime = builder(&path).build().unwrap();
    let (_, work, _) = registry();
    runtime
        .handle()
        .submit_batch_detached((0..200).map(|x| work.task(&x).unwrap()))
        .unwrap();
    // No handles: the ledger says when they have all ended.
    runtime.shutdown();
    let runtime = builder(&path).build().unwrap();
    let back = runtime.handle().recovered();
    assert!(back.is_empty(), "{} records left", back.len());
    runtime.shutdown();
    let _ = std::fs::remove_file(&path);
}

/// Submits `test.fill` of `xs` in `runtime`, waits until they end and
/// leaves their results unread; returns their ids.
fn fill_unread(runtime: &Runtime, xs: std::ops::Range<u64>) -> Vec<u64> {
    let (_, fill, _) = big_registry();
    let hs = runtime
        .handle()
        .submit_batch(xs.map(|x| fill.task(&x).unwrap()))
        .unwrap();
    until_finished(&hs);
    // Dropped unread: kept.
    hs.iter().map(|t| t.id().0).collect()
}

fn recovered_ids(runtime: &Runtime) -> Vec<u64> {
    let mut ids: Vec<u64> = runtime
        .handle()
        .recovered()
        .iter()
        .map(|r| r.id.0)
        .collect();
    ids.sort_unstable();
    ids
}

#[test]
fn unread_results_past_the_age_limit_are_forgotten_for_good() {
    let path = journal_path("age");
    let limit = Duration::from_secs(1);
    let retained = |path: &Path| {
        let mut b = builder_with(path, big_registry().0);
        b.journal_retention(JournalRetention {
            max_age: Some(limit),
            max_bytes: None,
        });
        b
    };
    // Old results, kept by a journal without a limit.
    let runtime = builder_with(&path, big_registry().0).build().unwrap();
    let old = fill_unread(&runtime, 0..20);
    runtime.shutdown();
    let ended = SystemTime::now();
    let runtime = builder_with(&path, big_registry().0).build().unwrap();
    assert_eq!(recovered_ids(&runtime), old, "no limit: all kept");
    runtime.shutdown();
    // Waiting for the clock to pass the limit (the behaviour under test
    // is about age), not for an effect.
    while ended.elapsed().unwrap_or_default() <= limit {
        std::thread::sleep(Duration::from_millis(20));
    }
    // With the limit, the old results are forgotten at open; new ones,
    // younger than the limit, are kept.
    let runtime = retained(&path).build().unwrap();
    assert!(recovered_ids(&runtime).is_empty(), "past the age limit");
    let young = fill_unread(&runtime, 100..110);
    runtime.shutdown();
    // The forgetting was journalled: without the limit, the old ones
    // stay gone.
    let runtime = builder_with(&path, big_registry().0).build().unwrap();
    assert_eq!(recovered_ids(&runtime), young);
    runtime.shutdown();
    let _ = std::fs::remove_file(&path);
}

#[test]
fn over_the_size_limit_the_oldest_unread_results_go_first_and_the_file_stays_bounded() {
    let path = journal_path("retained-size");
    let max_bytes = 256 * 1024;
    let mut b = builder_with(&path, big_registry().0);
    b.journal_retention(JournalRetention {
        max_age: None,
        max_bytes: Some(max_bytes),
    });
    let runtime = b.build().unwrap();
    let mut sizes = Vec::new();
    let mut all = Vec::new();
    // 30 rounds of 200 unread 1 KiB results: ~6 MiB without a limit.
    for round in 0..30u64 {
        all.extend(fill_unread(&runtime, round * 200..(round + 1) * 200));
        sizes.push(std::fs::metadata(&path).unwrap().len());
    }
    runtime.shutdown();
    eprintln!("journal file size by round of 200 unread 1 KiB results: {sizes:?}");
    // Without the limit the file would hold all ~6 MiB; with it, it
    // stops growing at a few times the limit (redb's pages, its free
    // pages not yet reused, its doubling growth, and up to 100 ms of
    // outcomes held back).
    let largest = sizes.iter().copied().max().unwrap();
    assert!(largest < 3 << 20, "the journal keeps growing: {sizes:?}");
    // What is left: the newest results, within the limit (each over
    // 1 KiB of records), not many fewer.
    let runtime = builder_with(&path, big_registry().0).build().unwrap();
    let kept = recovered_ids(&runtime);
    runtime.shutdown();
    let n = kept.len();
    assert!(
        (200..=256).contains(&n),
        "{n} results kept under {max_bytes} bytes"
    );
    // Oldest by end time go first: rounds end one after the other, so the
    // last round is kept whole, and nothing from before the last rounds
    // that fit (within a round, tasks end out of id order).
    let last_round = &all[all.len() - 200..];
    assert!(last_round.iter().all(|id| kept.contains(id)), "{kept:?}");
    let recent = &all[all.len() - n - 200..];
    assert!(kept.iter().all(|id| recent.contains(id)), "{kept:?}");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn retention_is_read_from_config_files_and_needs_a_journal() {
    let cfg: RuntimeConfig = serde_json::from_str(
        r#"{ "journal_retention": { "max_age": 3600, "max_bytes": 1048576 } }"#,
    )
    .unwrap();
    assert_eq!(
        cfg.journal_retention,
        Some(JournalRetention {
            max_age: Some(Duration::from_secs(3_600)),
            max_bytes: Some(1 << 20),
        })
    );
    match Runtime::builder_from(&cfg).build() {
        Err(allot::BuildError::InvalidConfig { field, .. }) => {
            assert_eq!(field, "journal_retention")
        }
        other => panic!("expected a refusal of journal_retention, got {other:?}"),
    }
    let path = journal_path("config");
    let mut cfg = cfg;
    cfg.journal = Some(path.clone());
    let runtime = Runtime::builder_from(&cfg)
        .registry(big_registry().0)
        .build()
        .unwrap();
    runtime.shutdown();
    let _ = std::fs::remove_file(&path);
}

/// Child mode, under a file size limit: submits `test.len` of 4 KiB
/// arguments one at a time, printing `ok ID` for each `Ok`, until refused;
/// then prints `refused typed|untyped ERROR`, tries three more, shuts down
/// and prints `clean`.
#[test]
fn child_process_submits_until_the_disk_is_full() {
    let Ok(path) = std::env::var("ALLOT_JOURNAL_FULL") else {
        return;
    };
    let (r, _, len) = big_registry();
    let runtime = builder_with(Path::new(&path), r).build().unwrap();
    let h = runtime.handle();
    let mut out = std::io::stdout().lock();
    let arg = vec![3u8; 4096];
    for _ in 0..100_000 {
        match h.submit(len.task(&arg).unwrap()) {
            Ok(t) => writeln!(out, "ok {}", t.id().0).unwrap(),
            Err(SubmitError::Refused {
                reason: Refusal::Journal(e @ JournalError::Io { .. }),
                ..
            }) => {
                writeln!(out, "refused typed {e}").unwrap();
                break;
            }
            Err(e) => {
                writeln!(out, "refused untyped {e:?}").unwrap();
                break;
            }
        }
        out.flush().unwrap();
    }
    for _ in 0..3 {
        match h.submit(len.task(&arg).unwrap()) {
            Ok(t) => writeln!(out, "ok {}", t.id().0).unwrap(),
            Err(e) => writeln!(out, "again refused {e}").unwrap(),
        }
    }
    runtime.shutdown();
    writeln!(out, "clean").unwrap();
    out.flush().unwrap();
}

#[test]
fn a_full_disk_refuses_submissions_with_a_typed_error_and_loses_no_acknowledged_one() {
    let path = journal_path("full");
    // The child runs with its files limited to 2 MiB and SIGXFSZ ignored,
    // so a write past the limit fails with EFBIG, as on a full disk.
    let exe = std::env::current_exe().unwrap();
    let output = Command::new("sh")
        .args([
            "-c",
            "trap '' XFSZ; ulimit -f 4096 && exec \"$0\" \"$@\"",
            exe.to_str().unwrap(),
            "--exact",
            "child_process_submits_until_the_disk_is_full",
            "--nocapture",
        ])
        .env("ALLOT_JOURNAL_FULL", &path)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the child failed: {stdout}");
    let refused = stdout
        .lines()
        .find(|l| l.starts_with("refused"))
        .unwrap_or_else(|| panic!("never refused: {stdout}"));
    assert!(
        refused.starts_with("refused typed") && refused.contains("too large"),
        "{refused}"
    );
    assert!(stdout.lines().any(|l| l == "clean"), "{stdout}");
    let acked: Vec<u64> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("ok "))
        .map(|id| id.parse().unwrap())
        .collect();
    assert!(acked.len() > 50, "only {} submissions fit", acked.len());
    // Without the limit, every acknowledged submission is there, once,
    // with its right result.
    let (r, _, len) = big_registry();
    let runtime = builder_with(&path, r).build().unwrap();
    let mut seen = std::collections::HashSet::new();
    for t in runtime.handle().recovered() {
        assert!(seen.insert(t.id.0), "{} twice", t.id);
        assert_eq!(len.decode(&t.handle.wait().unwrap()).unwrap(), 4096);
    }
    for id in &acked {
        assert!(seen.contains(id), "acknowledged task {id} was lost");
    }
    runtime.shutdown();
    let _ = std::fs::remove_file(&path);
}

/// Child mode: holds the journal open, prints `open`, and exits when its
/// standard input closes.
#[test]
fn child_process_holds_the_journal_open() {
    let Ok(path) = std::env::var("ALLOT_JOURNAL_HOLD") else {
        return;
    };
    let runtime = builder(Path::new(&path)).build().unwrap();
    println!("open");
    std::io::stdout().flush().unwrap();
    let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
    runtime.shutdown();
}

#[test]
fn a_journal_open_in_another_process_is_a_typed_error() {
    let path = journal_path("locked-process");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_holds_the_journal_open",
            "--nocapture",
        ])
        .env("ALLOT_JOURNAL_HOLD", &path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.is_ok_and(|l| l == "open")),
        "the child did not open it"
    );
    match builder(&path).build() {
        Err(allot::BuildError::Journal(JournalError::Locked { path: p })) => assert_eq!(p, path),
        other => panic!("expected Locked, got {other:?}"),
    }
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    // Once it is gone, the journal opens.
    builder(&path).build().unwrap().shutdown();
    let _ = std::fs::remove_file(&path);
}

/// `test.fail`: appends `attempt N NODE` to the file it is given, prints
/// the same line, and fails (its own error: retried under
/// `retry_on_error`).
fn fail_registry() -> (Registry, NamedFn<String, u64>) {
    let (mut r, _, _) = registry();
    let fail = r
        .register("test.fail", |ctx, log: String| {
            let line = format!("attempt {} {}\n", ctx.attempt(), ctx.node_name());
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&log)
                .map_err(|e| e.to_string())?;
            // One write of a short line to a file opened for appending: a
            // whole line per attempt, whichever process writes it.
            f.write_all(line.as_bytes()).map_err(|e| e.to_string())?;
            print!("{line}");
            std::io::stdout().flush().map_err(|e| e.to_string())?;
            Err::<u64, _>(format!("always ({})", ctx.attempt()))
        })
        .unwrap();
    (r, fail)
}

/// Retries of `test.fail`: `max_retries` 5, so six attempts in all.
const FAIL_RETRIES: u32 = 5;

fn fail_builder(path: &Path, backoff: Duration) -> Builder {
    let mut b = Runtime::builder();
    b.nodes(vec![NodeSpec::new(Resources::cpu(4_000))
        .name("gpu-a")
        .slots(1)])
        .journal(path)
        .registry(fail_registry().0)
        .retry_backoff(backoff, backoff);
    b
}

/// Child mode: submits one `test.fail` (its attempts logged to
/// `ALLOT_ATTEMPT_LOG`) and prints `ok ID`; its attempts print
/// `attempt N NODE`; held open until killed.
#[test]
fn child_process_retries_until_killed() {
    let (Ok(path), Ok(log)) = (
        std::env::var("ALLOT_JOURNAL_RETRY"),
        std::env::var("ALLOT_ATTEMPT_LOG"),
    ) else {
        return;
    };
    let runtime = fail_builder(Path::new(&path), Duration::from_millis(20))
        .build()
        .unwrap();
    let (_, fail) = fail_registry();
    let task = fail
        .task(&log)
        .unwrap()
        .max_retries(FAIL_RETRIES)
        .retry_on_error(true);
    let t = runtime.handle().submit(task).unwrap();
    println!("ok {}", t.id().0);
    std::io::stdout().flush().unwrap();
    loop {
        std::thread::park();
    }
}

#[test]
fn a_crash_between_retries_keeps_the_retry_budget_and_names_the_node() {
    let budget = FAIL_RETRIES + 1;
    for seed in 0..6u32 {
        let path = journal_path(&format!("retry{seed}"));
        let log = journal_path(&format!("retry{seed}-attempts"));
        // Killed once it has printed a seeded number of attempts (1 to
        // 6: the last, all of them).
        let kill_at = 1 + seed % budget;
        let mut seen = 0;
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_process_retries_until_killed",
                "--nocapture",
            ])
            .env("ALLOT_JOURNAL_RETRY", &path)
            .env("ALLOT_ATTEMPT_LOG", &log)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            let Ok(line) = line else { break };
            seen += line.starts_with("attempt ") as u32;
            if seen >= kill_at {
                child.kill().unwrap();
                break;
            }
        }
        child.wait().unwrap();
        let attempts_before = std::fs::read_to_string(&log).unwrap().lines().count() as u32;
        assert!(attempts_before >= kill_at, "seed {seed}");
        // Recovered with a long backoff, so that the state API finds it
        // between attempts (150 ms, even on a loaded machine).
        let runtime = fail_builder(&path, Duration::from_millis(150))
            .build()
            .unwrap();
        let back = runtime.handle().recovered();
        assert_eq!(back.len(), 1, "seed {seed}");
        let r = back.into_iter().next().unwrap();
        assert_eq!(r.name, "test.fail");
        // A retried attempt's record is durable before it runs: every
        // attempt but a first one is journalled.
        if attempts_before >= 2 {
            assert!(
                r.attempts >= attempts_before - 1,
                "seed {seed}: {} journalled of {attempts_before}",
                r.attempts
            );
        }
        // (One more if the kill came between a retried attempt's durable
        // record and its code: counted as used, it never ran.)
        assert!(r.attempts <= attempts_before + 1, "seed {seed}");
        let unrun = r.attempts.saturating_sub(attempts_before);
        if r.attempts > 0 {
            assert_eq!(r.node.as_deref(), Some("gpu-a"), "seed {seed}");
        }
        // (With two attempts or more left: it is between them, live.)
        if !r.finished && r.attempts > 0 && r.attempts + 2 <= budget {
            // The state API lists the attempt lost with the process.
            let detail = runtime.handle().task(r.handle.id()).expect("live");
            let lost = &detail.attempts[0];
            assert_eq!(lost.number, r.attempts - 1, "seed {seed}");
            assert_eq!(lost.outcome, allot::AttemptOutcome::NodeLost);
            assert!(
                lost.error.as_deref().is_some_and(|e| e.contains("gpu-a")),
                "seed {seed}: {lost:?}"
            );
        }
        match r.handle.wait() {
            // Its failure was journalled before the kill: the recorded
            // outcome (one error, untimed).
            Err(TaskError::Failed { attempts })
                if r.finished && matches!(attempts[0].failure, AttemptFailure::Error(_)) => {}
            Err(TaskError::Failed { attempts }) => {
                let numbers: Vec<u32> = attempts.iter().map(|a| a.attempt).collect();
                assert_eq!(*numbers.last().unwrap(), FAIL_RETRIES, "seed {seed}");
                if r.attempts > 0 {
                    assert_eq!(numbers[0], r.attempts - 1, "seed {seed}");
                    assert_eq!(attempts[0].node_name.as_deref(), Some("gpu-a"));
                }
            }
            other => panic!("seed {seed}: expected the budget spent, got {other:?}"),
        }
        runtime.shutdown();
        // Across both processes: the budget, and at most the one attempt
        // in flight (or not yet journalled) at the crash on top; an attempt
        // journalled whose code never ran counts too.
        let total = std::fs::read_to_string(&log).unwrap().lines().count() as u32;
        assert!(total <= budget + 1, "seed {seed}: {total} attempts");
        eprintln!(
            "seed {seed}: killed after {attempts_before} attempts, {} journalled, {total} in all",
            r.attempts
        );
        assert!(
            (budget..=budget + 1).contains(&(total + unrun)),
            "seed {seed}: {total} attempts run ({unrun} more journalled) for a budget of {budget}"
        );
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(&log);
    }
}
