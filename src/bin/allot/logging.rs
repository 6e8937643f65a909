//! Logging to stderr through tracing-subscriber: `RUST_LOG` filtering
//! (default `allot=warn`), text or JSON lines. While a progress bar is shown,
//! log lines are written above it instead of through it.

use indicatif::ProgressBar;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tracing_subscriber::EnvFilter;

/// The filter when `RUST_LOG` is unset.
pub(crate) const DEFAULT_FILTER: &str = "allot=warn";

/// The format of log lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The progress bar on screen, if any.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Sets (or clears) the progress bar that log lines must not break.
pub(crate) fn show_bar(bar: Option<ProgressBar>) {
    if let Ok(mut slot) = BAR.lock() {
        *slot = bar;
    }
}

/// Stderr, suspending the progress bar around each write.
struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let bar = BAR.lock().ok().and_then(|b| b.clone());
        match bar {
            Some(bar) => bar.suspend(|| io::stderr().write_all(buf))?,
            None => io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// Installs the global subscriber. A `RUST_LOG` that does not parse is
/// reported and replaced by the default.
pub(crate) fn init(format: LogFormat) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::try_new(&spec).unwrap_or_else(|e| {
            eprintln!("warning: ignoring RUST_LOG={spec:?} ({e}); using {DEFAULT_FILTER}");
            EnvFilter::new(DEFAULT_FILTER)
        }),
        _ => EnvFilter::new(DEFAULT_FILTER),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| Stderr);
    let installed = match format {
        LogFormat::Text => builder
            .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
            .try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    if let Err(e) = installed {
        eprintln!("warning: logging not installed: {e}");
    }
}

/// Counts the panics that fault injection causes on purpose
/// ([`allot::is_injected_panic`]) instead of printing each; other panics print as
/// usual. Returns the counter.
pub(crate) fn count_injected_panics() -> Arc<AtomicU64> {
    let injected = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&injected);
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if allot::is_injected_panic(info.payload()) {
            seen.fetch_add(1, Ordering::Relaxed);
            // The payload and where it was raised, on one line (the
            // hook's own `Display` spans two).
            let payload = info.payload();
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&'static str>().copied())
                .unwrap_or("");
            let location = info.location().map(|l| l.to_string()).unwrap_or_default();
            tracing::debug!(panic = message, %location, "fault.injected_panic");
        } else {
            default_hook(info);
        }
    }));
    injected
}
