//! How much of the real work a workload task does
//! ([`matrix_products`](crate::kinds::matrix_products): small dense matrix
//! products, the inner loop of a linear layer) its cost asks for.
//!
//! A task's cost is in seconds on a node of speed 1.0. [`Work::calibrate`]
//! measures how many products this machine does per second on one thread, in
//! this build, so that a task of cost `c` computes for about `c` seconds
//! whatever the optimisation level.
//!
//! So that runs can be compared, the measure is taken once per build
//! profile and kept in a cache file ([`Calibration::resolve`]); every later
//! run sizes its tasks from the same figure, and `--work-rate` pins it.

use crate::kinds::matrix_products;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How much compute one unit of cost is.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Work {
    /// Matrix products per second of cost.
    pub(crate) products_per_second: f64,
}

impl Work {
    /// Measures this machine: the fastest of `windows` measures of about
    /// `budget` each (the least disturbed by other work on the machine).
    pub(crate) fn calibrate_best(budget: Duration, windows: usize) -> Work {
        let best = (0..windows.max(1))
            .map(|_| Work::calibrate(budget).products_per_second)
            .fold(1.0, f64::max);
        Work {
            products_per_second: best,
        }
    }

    /// Measures this machine for about `budget`.
    pub(crate) fn calibrate(budget: Duration) -> Work {
        // Warm up, then double the batch until it takes a measurable time.
        matrix_products(8, 1, || {});
        let mut products = 8u64;
        let start = Instant::now();
        let mut done = 0u64;
        while start.elapsed() < budget {
            matrix_products(products, 2, || {});
            done += products;
            products = (products * 2).min(1 << 16);
        }
        let secs = start.elapsed().as_secs_f64().max(1e-6);
        Work {
            products_per_second: (done as f64 / secs).max(1.0),
        }
    }

    /// Products for a task of cost `cost` (seconds on a speed-1.0 node).
    /// The runtime runs its fastest node, of speed `fastest`, at this
    /// machine's pace and holds slower nodes' slots idle in proportion, so
    /// the work is sized for the fastest node: `cost / fastest` seconds
    /// here.
    pub(crate) fn products(&self, cost: f64, fastest: f64) -> u64 {
        (cost * self.products_per_second / fastest.max(1e-9)).round() as u64
    }
}

/// The build profile a calibration holds for (a debug build computes
/// tens of times slower).
pub(crate) const PROFILE: &str = if cfg!(debug_assertions) {
    "debug"
} else {
    "release"
};

/// Where the work figure of a run came from.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WorkSource {
    /// `--work-rate`.
    Flag,
    /// Read from the cache file, measured earlier.
    Cached,
    /// Measured for this run (and written to the cache file, if any).
    Measured,
}

impl WorkSource {
    /// The word the report and the logs use.
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            WorkSource::Flag => "flag",
            WorkSource::Cached => "cached",
            WorkSource::Measured => "measured",
        }
    }
}

/// The work figure of a run, where it came from, and the cache file.
#[derive(Clone, Debug)]
pub(crate) struct Calibration {
    pub(crate) work: Work,
    pub(crate) source: WorkSource,
    /// The cache file read or written (none without a cache directory, or
    /// with `--work-rate`).
    pub(crate) file: Option<PathBuf>,
    /// When the figure was measured, in seconds since the Unix epoch.
    pub(crate) measured_unix_s: Option<u64>,
}

/// What the cache file holds.
#[derive(Debug, Serialize, Deserialize)]
struct Cached {
    products_per_cost_second: f64,
    profile: String,
    measured_unix_s: u64,
}

/// The calibration cache directory: `$ALLOT_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/allot`, else `$HOME/.cache/allot`.
pub(crate) fn cache_dir() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("ALLOT_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("allot")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("allot")))
}

/// Windows measured by a fresh calibration, and the length of each.
const CALIBRATION_WINDOWS: usize = 5;
const CALIBRATION_WINDOW: Duration = Duration::from_millis(40);

impl Calibration {
    /// The run's work figure: `rate` when given (`--work-rate`); else the
    /// cached one for this build profile, unless `fresh` (`--recalibrate`)
    /// or there is none, in which case it is measured (the best of five
    /// 40 ms windows) and cached.
    pub(crate) fn resolve(rate: Option<f64>, fresh: bool) -> Calibration {
        if let Some(r) = rate {
            return Calibration {
                work: Work {
                    products_per_second: r,
                },
                source: WorkSource::Flag,
                file: None,
                measured_unix_s: None,
            };
        }
        let file = cache_dir().map(|d| d.join(format!("calibration-{PROFILE}.json")));
        if !fresh {
            if let Some(c) = file.as_deref().and_then(read_cache) {
                return Calibration {
                    work: Work {
                        products_per_second: c.products_per_cost_second,
                    },
                    source: WorkSource::Cached,
                    file,
                    measured_unix_s: Some(c.measured_unix_s),
                };
            }
        }
        let work = Work::calibrate_best(CALIBRATION_WINDOW, CALIBRATION_WINDOWS);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let written = file.as_deref().is_some_and(|f| {
            let c = Cached {
                products_per_cost_second: work.products_per_second,
                profile: PROFILE.to_owned(),
                measured_unix_s: now,
            };
            write_cache(f, &c)
                .map_err(|e| tracing::warn!(file = %f.display(), error = %e, "run.calibration_not_cached"))
                .is_ok()
        });
        Calibration {
            work,
            source: WorkSource::Measured,
            file: file.filter(|_| written),
            measured_unix_s: Some(now),
        }
    }
}

fn read_cache(file: &Path) -> Option<Cached> {
    let text = std::fs::read_to_string(file).ok()?;
    let c: Cached = serde_json::from_str(&text)
        .map_err(
            |e| tracing::warn!(file = %file.display(), error = %e, "run.calibration_unreadable"),
        )
        .ok()?;
    (c.profile == PROFILE
        && c.products_per_cost_second.is_finite()
        && c.products_per_cost_second >= 1.0)
        .then_some(c)
}

fn write_cache(file: &Path, c: &Cached) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(c).map_err(std::io::Error::other)?;
    // Written aside and renamed, so that a concurrent run reads the old
    // figure or the new one, never half of one.
    let tmp = file.with_extension(format!("json.{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, file)
}

/// `--work-rate`: a positive, finite number of products per cost-second.
pub(crate) fn work_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && (1.0..=1e12).contains(&r) => Ok(r),
        _ => Err(format!(
            "expected a number of products per cost-second from 1 to 1e12, got `{s}`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_calibration_is_cached_and_reused_and_a_flag_pins_it() {
        let dir = std::env::temp_dir().join(format!("allot-cal-{}", std::process::id()));
        let file = dir.join("c.json");
        let c = Cached {
            products_per_cost_second: 1234.0,
            profile: PROFILE.to_owned(),
            measured_unix_s: 5,
        };
        write_cache(&file, &c).unwrap();
        let back = read_cache(&file).unwrap();
        assert_eq!(back.products_per_cost_second, 1234.0);
        // Another profile's figure is not used.
        let other = Cached {
            profile: "other".to_owned(),
            ..c
        };
        write_cache(&file, &other).unwrap();
        assert!(read_cache(&file).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
        let pinned = Calibration::resolve(Some(99.0), false);
        assert_eq!(pinned.work.products_per_second, 99.0);
        assert_eq!(pinned.source, WorkSource::Flag);
        assert!(work_rate("0").is_err() && work_rate("nan").is_err());
        assert_eq!(work_rate("5e4"), Ok(5e4));
    }

    #[test]
    fn work_is_proportional_to_cost_and_sized_for_the_fastest_node() {
        let w = Work {
            products_per_second: 1000.0,
        };
        assert_eq!(w.products(0.5, 1.0), 500);
        // All nodes at half speed: the fastest runs at this machine's pace,
        // so a cost of 0.5 s at speed 1.0 is 1 s of work here.
        assert_eq!(w.products(0.5, 0.5), 1000);
        assert_eq!(w.products(0.5, 2.0), 250);
        assert_eq!(w.products(0.0, 1.0), 0);
    }
}
