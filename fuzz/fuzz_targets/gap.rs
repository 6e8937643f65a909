//! The OR-Library GAP instance reader (`allot::sim::gap_file::parse_gap`). An
//! instance that reads is then evaluated under two assignments (every task
//! on node 0, and task `i` on node `i mod agents`), as the policy report
//! and tests evaluate solutions of instances read from files. Nothing may
//! panic, hang or run out of memory.
//!
//! The reproducers in `regressions/gap/` are two bugs this target found
//! (a header reserving 512 GiB; sums of costs or weights overflowing), both
//! fixed: `run.sh` replays them first.

#![no_main]

use allot::sim::gap_file::parse_gap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_gap("fuzz.txt", text) {
        Ok(g) => {
            let (m, n) = (g.agents(), g.items());
            assert!(m > 0 && n > 0);
            let _ = (
                g.cost(m - 1, n - 1),
                g.weight(m - 1, n - 1),
                g.capacity(m - 1),
            );
            let _ = g.evaluate(&vec![0; n]);
            let spread: Vec<usize> = (0..n).map(|i| i % m).collect();
            let _ = g.evaluate(&spread);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
