//! How many more threads this process may start, read from the machine.
//!
//! A runtime starts one thread per executor slot and one per node; asking
//! for more than the kernel allows makes thread creation fail midway (and
//! some of it, in actix, aborts the process). `Builder::build` checks the
//! count against this limit first.

/// Threads this process may still start: the smallest of the kernel's
/// `threads-max`, the soft "Max processes" limit and half the kernel's
/// `max_map_count` (a thread's stack takes two mappings), less the threads
/// the process runs now. `None` where the machine does not say (not Linux).
pub(crate) fn available() -> Option<usize> {
    let kernel = read_number("/proc/sys/kernel/threads-max")?;
    let process = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| soft_limit(&text, "Max processes"));
    let running = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|text| status_field(&text, "Threads"))
        .unwrap_or(0);
    // Each thread's stack takes two memory mappings (the stack and its
    // guard page), and the kernel caps a process's mappings.
    let maps = read_number("/proc/sys/vm/max_map_count").map_or(usize::MAX, |m| m / 2);
    let limit = process.map_or(kernel, |p| p.min(kernel)).min(maps);
    Some(limit.saturating_sub(running))
}

fn read_number(path: &str) -> Option<usize> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The soft limit on the line of `/proc/self/limits` that starts with
/// `name`; `None` when unlimited or absent.
fn soft_limit(limits: &str, name: &str) -> Option<usize> {
    let line = limits.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

/// A numeric field of `/proc/self/status`, such as `Threads`.
fn status_field(status: &str, name: &str) -> Option<usize> {
    let line = status.lines().find(|l| l.starts_with(name))?;
    line[name.len()..]
        .trim_start_matches(':')
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_limit_is_read_from_its_line_and_unlimited_is_none() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max cpu time              unlimited            unlimited            seconds   \n\
                      Max processes             95538                95538                processes \n";
        assert_eq!(soft_limit(limits, "Max processes"), Some(95_538));
        assert_eq!(soft_limit(limits, "Max cpu time"), None);
        assert_eq!(status_field("Name:\tx\nThreads:\t7\n", "Threads"), Some(7));
    }

    #[test]
    fn this_machine_allows_some_threads() {
        if cfg!(target_os = "linux") {
            assert!(available().is_some_and(|n| n > 0));
        }
    }
}
