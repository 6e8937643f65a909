//! Where reports go: a file, or stdout for `-`.

use crate::error::CliError;
use std::io::Write;
use std::path::Path;

/// Writes `text` to `path`, or to stdout for `-`.
pub(crate) fn write(path: &Path, text: &str) -> Result<(), CliError> {
    let result = if path == Path::new("-") {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.write_all(b"\n"))
    } else {
        std::fs::write(path, text)
    };
    result.map_err(|e| CliError::Other(format!("cannot write {}: {e}", path.display())))
}

/// Fails early, before a run, when an output could not be written later.
/// The plot is SVG: refuse `-` (stdout carries the table) and any other
/// extension, rather than write SVG into a `.png`.
pub(crate) fn check_svg(path: &Path) -> Result<(), CliError> {
    let flag = "--plot";
    if path == Path::new("-") {
        return Err(CliError::Flag {
            flag,
            message: "the plot is a file: give a path ending in .svg (stdout carries the report)"
                .into(),
        });
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("svg") => Ok(()),
        other => Err(CliError::Flag {
            flag,
            message: format!(
                "{}: the plot is written as SVG; give a path ending in .svg (not {})",
                path.display(),
                other.map_or("no extension".to_owned(), |e| format!(".{e}"))
            ),
        }),
    }
}

pub(crate) fn check_dir(path: &Path) -> Result<(), CliError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => Err(CliError::Other(format!(
            "cannot write {}: {} is not a directory",
            path.display(),
            dir.display()
        ))),
        _ => Ok(()),
    }
}
