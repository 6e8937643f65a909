//! How busy the machine was during a run: CPU time the whole machine spent
//! against what this process spent (Linux `/proc`), so that the report can
//! warn when other work competed with the run.

use serde::Serialize;

/// Cumulative CPU times, in clock ticks (the same unit in both files).
#[derive(Clone, Copy, Debug)]
pub(crate) struct CpuTimes {
    /// Every CPU's ticks in all states.
    total: u64,
    /// Idle and waiting for I/O.
    idle: u64,
    /// Stolen by the hypervisor.
    steal: u64,
    /// This process's user and system ticks.
    own: u64,
}

impl CpuTimes {
    /// Reads `/proc/stat` and `/proc/self/stat`; `None` where they do not
    /// exist (not Linux) or do not parse.
    pub(crate) fn read() -> Option<CpuTimes> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let own = std::fs::read_to_string("/proc/self/stat").ok()?;
        CpuTimes::parse(&stat, &own)
    }

    fn parse(stat: &str, own: &str) -> Option<CpuTimes> {
        let line = stat.lines().find(|l| l.starts_with("cpu "))?;
        let f: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(|v| v.parse().ok())
            .collect::<Option<_>>()?;
        // user nice system idle iowait irq softirq steal (guest time is
        // counted in user already).
        let total = f.iter().take(8).sum();
        let idle = f.get(3)? + f.get(4).copied().unwrap_or(0);
        let steal = f.get(7).copied().unwrap_or(0);
        // After the command name in parentheses: state is field 3, utime
        // and stime fields 14 and 15.
        let rest = &own[own.rfind(')')? + 1..];
        let g: Vec<&str> = rest.split_whitespace().collect();
        let own = g.get(11)?.parse::<u64>().ok()? + g.get(12)?.parse::<u64>().ok()?;
        Some(CpuTimes {
            total,
            idle,
            steal,
            own,
        })
    }
}

/// The machine's CPU use over a run.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct MachineLoad {
    /// CPUs of the machine.
    pub(crate) cpus: usize,
    /// CPUs this process kept busy on average.
    pub(crate) own_cpus: f64,
    /// CPUs other processes kept busy on average.
    pub(crate) other_cpus: f64,
    /// Share of CPU time the hypervisor stole (0 to 1).
    pub(crate) steal: f64,
    /// Whether the report warns: other processes took at least a quarter
    /// of the machine, or the hypervisor stole at least 5 %.
    pub(crate) busy: bool,
}

/// Share of the machine that others may use before a run is called busy.
const BUSY_SHARE: f64 = 0.25;
/// Share of stolen time above which a run is called busy.
const BUSY_STEAL: f64 = 0.05;

impl MachineLoad {
    /// From the times before and after; `None` if either is missing or no
    /// tick passed.
    pub(crate) fn between(a: Option<CpuTimes>, b: Option<CpuTimes>) -> Option<MachineLoad> {
        let (a, b) = (a?, b?);
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let total = b.total.checked_sub(a.total).filter(|&t| t > 0)? as f64;
        let idle = b.idle.saturating_sub(a.idle) as f64;
        let steal = b.steal.saturating_sub(a.steal) as f64;
        let own = b.own.saturating_sub(a.own) as f64;
        let busy_all = (total - idle - steal).max(0.0);
        let other = (busy_all - own).max(0.0);
        let per_cpu = total / cpus as f64;
        let other_cpus = other / per_cpu;
        let steal_share = steal / total;
        Some(MachineLoad {
            cpus,
            own_cpus: own / per_cpu,
            other_cpus,
            steal: steal_share,
            busy: other_cpus >= BUSY_SHARE * cpus as f64 || steal_share >= BUSY_STEAL,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_times_parse_from_proc_files() {
        let stat = "cpu  100 0 50 800 10 0 0 40 0 0\ncpu0 1 2 3\n";
        let own = "123 (allot (x) y) R 1 2 3 4 5 6 7 8 9 10 30 20 0 0";
        let t = CpuTimes::parse(stat, own).unwrap();
        assert_eq!((t.total, t.idle, t.steal, t.own), (1000, 810, 40, 50));
        assert!(CpuTimes::parse("intr 1", own).is_none());
    }

    #[test]
    fn other_processes_time_is_the_busy_time_not_ours() {
        let a = CpuTimes {
            total: 0,
            idle: 0,
            steal: 0,
            own: 0,
        };
        let b = CpuTimes {
            total: 1000,
            idle: 200,
            steal: 0,
            own: 300,
        };
        let m = MachineLoad::between(Some(a), Some(b)).unwrap();
        let share = m.other_cpus / m.cpus as f64;
        assert!((share - 0.5).abs() < 1e-9, "{m:?}");
        assert!(m.busy);
        assert!(MachineLoad::between(None, Some(b)).is_none());
    }
}
