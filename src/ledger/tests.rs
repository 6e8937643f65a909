//! The ledger's unit tests.

use super::*;
use crate::ids::TaskId;
use crate::job::{FnWork, TaskContext, TaskInner};
use crate::spec::{BoxError, PackedSpec};
use std::sync::Arc;

fn jobs(n: usize) -> Vec<JobRef> {
    (0..n)
        .map(|i| {
            let mut core = crate::job::JobCore::unsubmitted(PackedSpec::default_spec());
            core.submit(TaskId(i as u64), 0, false);
            let work = FnWork::new(|_: &TaskContext<'_>| Ok::<_, BoxError>(()));
            Arc::new(TaskInner::new(core, work)) as JobRef
        })
        .collect()
}

#[test]
fn a_job_is_settled_once_and_its_cohort_leaves_with_its_last_job() {
    let ledger = Ledger::new();
    let batch = jobs(3);
    ledger.admit(batch.iter().cloned());
    assert_eq!(ledger.live(), 3);
    assert!(ledger.settle(batch[0].core(), Settled::Failed));
    assert!(!ledger.settle(batch[0].core(), Settled::Failed), "twice");
    assert!(!ledger.settle_completed(batch[0].core()), "twice");
    let mut slots: Vec<u64> = batch[1..]
        .iter()
        .filter_map(|j| ledger.claim(j.core()))
        .collect();
    assert_eq!(slots.len(), 2);
    assert_eq!(ledger.live(), 2, "claimed, not yet released");
    ledger.release_all(&mut slots, &mut Vec::new());
    assert_eq!(ledger.live(), 0);
    assert_eq!(ledger.totals().failed, 1);
    // The cohort let go of its jobs: ours are the only references.
    assert!(batch.iter().all(|j| Arc::strong_count(j) == 1));
}

#[test]
fn a_settled_job_leaves_its_cohort_at_once_and_the_cohort_with_its_last() {
    let ledger = Ledger::new();
    let batch = jobs(200);
    ledger.admit(batch.iter().cloned());
    // Settled out of order, some one at a time and some in runs.
    for j in batch.iter().skip(1).step_by(2) {
        assert!(ledger.settle_completed(j.core()));
    }
    let mut slots: Vec<u64> = batch
        .iter()
        .step_by(2)
        .skip(1)
        .filter_map(|j| ledger.claim(j.core()))
        .collect();
    ledger.release_all(&mut slots, &mut Vec::new());
    assert_eq!(ledger.live(), 1);
    assert_eq!(Arc::strong_count(&batch[0]), 2, "still held");
    assert!(batch[1..].iter().all(|j| Arc::strong_count(j) == 1));
    assert!(ledger.settle_completed(batch[0].core()));
    assert_eq!(ledger.live(), 0);
    assert_eq!(Arc::strong_count(&batch[0]), 1);
}

#[test]
fn a_job_is_found_by_its_slot_until_it_is_released() {
    let ledger = Ledger::new();
    let batch = jobs(130);
    ledger.admit(batch.iter().cloned());
    let single = jobs(1);
    ledger.admit(single.iter().cloned());
    for j in batch.iter().chain(&single) {
        let slot = j.core().ledger_slot.load(Ordering::Acquire);
        let found = ledger.get(slot).expect("admitted");
        assert!(Arc::ptr_eq(&found, j));
    }
    let slot = batch[70].core().ledger_slot.load(Ordering::Acquire);
    let claimed = ledger.claim(batch[70].core()).expect("first claim");
    assert!(ledger.get(slot).is_some(), "claimed, not yet released");
    ledger.release(claimed);
    assert!(ledger.get(slot).is_none(), "released");
    assert!(ledger.get(SETTLED).is_none());
    let slot = single[0].core().ledger_slot.load(Ordering::Acquire);
    assert!(ledger.settle_completed(single[0].core()));
    assert!(ledger.get(slot).is_none(), "a single job, settled");
}

#[test]
fn slots_keep_shard_index_generation_and_place_apart() {
    for (shard, index, generation, place) in [
        (0, 0, 0, 0),
        (
            SHARDS - 1,
            (1 << INDEX_BITS) - 1,
            GENERATION_MASK,
            COHORT_MAX - 1,
        ),
        (3, 12_345, 77, 61),
    ] {
        let slot = pack_slot(shard, index, generation, place);
        assert_ne!(slot, SETTLED);
        assert_eq!(
            unpack_slot(slot),
            (shard, index as usize, generation, place)
        );
        assert_eq!(
            slot & COHORT_MASK,
            pack_slot(shard, index, generation, 0),
            "the cohort part leaves the place out"
        );
    }
}

#[test]
fn a_drain_claims_only_unsettled_jobs_and_late_releases_are_harmless() {
    let ledger = Ledger::new();
    let a = jobs(4);
    ledger.admit(a.iter().cloned());
    let early = ledger.claim(a[0].core()).expect("first claim");
    assert!(ledger.settle(a[1].core(), Settled::Cancelled));
    let drained = ledger.drain_live();
    assert_eq!(drained.len(), 2);
    assert_eq!(ledger.live(), 0);
    // New cohorts, one per shard, so one reuses the drained slot under
    // a new generation; the stale release must not touch it.
    let b: Vec<Vec<JobRef>> = (0..SHARDS).map(|_| jobs(2)).collect();
    for c in &b {
        ledger.admit(c.iter().cloned());
    }
    ledger.release(early);
    assert_eq!(ledger.live(), 2 * SHARDS);
}

#[test]
fn only_jobs_the_ledger_alone_holds_wait_for_a_submitter_and_no_more_than_the_cap() {
    let ledger = Ledger::new();
    let shared = jobs(3);
    let mut dead: Vec<JobRef> = shared.to_vec();
    dead.extend(jobs(DEAD_CAP + 5));
    ledger.bury(&mut dead);
    assert!(dead.is_empty());
    // The shared ones were let go (ours are the only references left);
    // of the others, the cap.
    assert!(shared.iter().all(|j| Arc::strong_count(j) == 1));
    assert!(ledger.has_dead());
    let mut got = Vec::new();
    ledger.exhume(10, &mut got);
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|j| Arc::strong_count(j) == 1));
    ledger.exhume(usize::MAX, &mut got);
    assert_eq!(got.len(), DEAD_CAP);
    assert!(!ledger.has_dead());
    ledger.exhume(1, &mut got);
    assert_eq!(got.len(), DEAD_CAP);
}

#[test]
fn a_threads_single_submissions_share_an_open_cohort_that_settles_and_drains_like_any() {
    let ledger = Ledger::new();
    let a = jobs(3);
    for j in &a {
        ledger.admit(std::iter::once(JobRef::clone(j)));
    }
    assert_eq!(ledger.live(), 3);
    assert!(a.iter().all(|j| Arc::strong_count(j) == 2));
    let slots: Vec<u64> = a
        .iter()
        .map(|j| j.core().ledger_slot.load(Ordering::Acquire))
        .collect();
    assert!(
        slots
            .iter()
            .all(|s| s & COHORT_MASK == slots[0] & COHORT_MASK),
        "one cohort"
    );
    let places: Vec<usize> = slots.iter().map(|&s| unpack_slot(s).3).collect();
    assert_eq!(places, [0, 1, 2], "consecutive places");
    assert!(ledger.settle_completed(a[0].core()));
    assert_eq!(ledger.live(), 2);
    assert_eq!(Arc::strong_count(&a[0]), 1, "let go when it settled");
    let drained = ledger.drain_live();
    assert_eq!(drained.len(), 2);
    assert!(Arc::ptr_eq(&drained[0], &a[1]) && Arc::ptr_eq(&drained[1], &a[2]));
    assert_eq!(ledger.live(), 0);
    // After a drain a new cohort opens; the drained slots find nothing.
    let b = jobs(1);
    ledger.admit(std::iter::once(JobRef::clone(&b[0])));
    assert!(slots.iter().all(|&s| ledger.get(s).is_none()));
    assert_eq!(ledger.live(), 1);
}

#[test]
fn an_open_cohort_closes_when_full_or_caught_up_with() {
    let ledger = Ledger::new();
    let a = jobs(OPEN_MAX + 1);
    for j in &a {
        ledger.admit(std::iter::once(JobRef::clone(j)));
    }
    let cohort = |j: &JobRef| j.core().ledger_slot.load(Ordering::Acquire) & COHORT_MASK;
    assert_eq!(cohort(&a[0]), cohort(&a[OPEN_MAX - 1]));
    assert_ne!(cohort(&a[OPEN_MAX - 1]), cohort(&a[OPEN_MAX]), "full");
    // Released in one run of the cohort.
    let mut slots: Vec<u64> = a[..OPEN_MAX]
        .iter()
        .filter_map(|j| ledger.claim(j.core()))
        .collect();
    ledger.release_all(&mut slots, &mut Vec::new());
    assert_eq!(ledger.live(), 1);
    assert!(a[..OPEN_MAX].iter().all(|j| Arc::strong_count(j) == 1));
    // Every job of the second cohort settled: the next opens a third.
    assert!(ledger.settle_completed(a[OPEN_MAX].core()));
    let b = jobs(1);
    ledger.admit(std::iter::once(JobRef::clone(&b[0])));
    assert_ne!(cohort(&b[0]), cohort(&a[OPEN_MAX]), "caught up with");
    assert_eq!(
        unpack_slot(b[0].core().ledger_slot.load(Ordering::Acquire)).3,
        0
    );
    assert_eq!(ledger.live(), 1);
}
