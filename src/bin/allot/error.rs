//! The one error type of the command line: what went wrong, and for input
//! files where (file, line, column, field), with the offending line quoted,
//! or for a flag's value which flag.

use std::fmt;
use std::path::{Path, PathBuf};

/// A place in an input file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Position {
    /// 1-based line.
    pub(crate) line: usize,
    /// 1-based column, in characters.
    pub(crate) column: usize,
}

impl Position {
    /// The position of byte `offset` in `text` (clamped to its length).
    pub(crate) fn of_offset(text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Position { line, column }
    }
}

/// Why a command failed.
#[derive(Debug)]
pub(crate) enum CliError {
    /// A workload or config file is unreadable or invalid.
    Input {
        /// The file.
        file: PathBuf,
        /// Where in it, when known.
        position: Option<Position>,
        /// The field at fault, as a path (`tasks.kinds[0].cost`), when known.
        field: Option<String>,
        /// What is wrong.
        message: String,
        /// The line at `position`, quoted under the message.
        source_line: Option<String>,
    },
    /// A command-line value that is out of range or refused, naming the
    /// flag (`--name`, `--nats`, …).
    Flag {
        /// The flag at fault.
        flag: &'static str,
        /// What is wrong with its value.
        message: String,
    },
    /// Anything else: writing an output, starting the runtime.
    Other(String),
}

impl CliError {
    /// An input error at byte `offset` of `text` (the contents of `file`).
    pub(crate) fn input_at(
        file: &Path,
        text: &str,
        offset: Option<usize>,
        field: Option<String>,
        message: impl Into<String>,
    ) -> CliError {
        let position = offset.map(|o| Position::of_offset(text, o));
        let source_line = position
            .as_ref()
            .and_then(|p| text.lines().nth(p.line - 1))
            .map(str::to_owned);
        CliError::Input {
            file: file.to_owned(),
            position,
            field,
            message: message.into(),
            source_line,
        }
    }

    /// An input error at a known line and column of `text`.
    pub(crate) fn input_at_line(
        file: &Path,
        text: &str,
        position: Position,
        field: Option<String>,
        message: impl Into<String>,
    ) -> CliError {
        let source_line = text.lines().nth(position.line - 1).map(str::to_owned);
        CliError::Input {
            file: file.to_owned(),
            position: Some(position),
            field,
            message: message.into(),
            source_line,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Input {
                file,
                position,
                field,
                message,
                source_line,
            } => {
                write!(f, "{}", file.display())?;
                if let Some(p) = position {
                    write!(f, ":{}:{}", p.line, p.column)?;
                }
                if let Some(field) = field {
                    write!(f, ": field `{field}`")?;
                }
                write!(f, ": {message}")?;
                if let (Some(p), Some(line)) = (position, source_line) {
                    let gutter = p.line.to_string().len();
                    let caret_pad: String = line
                        .chars()
                        .take(p.column.saturating_sub(1))
                        .map(|c| if c == '\t' { '\t' } else { ' ' })
                        .collect();
                    write!(
                        f,
                        "\n{:gutter$} |\n{} | {}\n{:gutter$} | {}^",
                        "", p.line, line, "", caret_pad
                    )?;
                }
                Ok(())
            }
            CliError::Flag { flag, message } => write!(f, "{flag}: {message}"),
            CliError::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for CliError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_one_based_lines_and_character_columns() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(
            Position::of_offset(text, 0),
            Position { line: 1, column: 1 }
        );
        // `=` on line 2 comes after a two-byte character.
        let eq = text.rfind('=').unwrap();
        assert_eq!(
            Position::of_offset(text, eq),
            Position { line: 2, column: 4 }
        );
    }

    #[test]
    fn an_input_error_names_file_line_column_and_field_and_quotes_the_line() {
        let text = "[tasks]\ncount = \"many\"\n";
        let e = CliError::input_at(
            Path::new("w.toml"),
            text,
            text.find('"'),
            Some("tasks.count".into()),
            "invalid type: string \"many\", expected u64",
        );
        let shown = e.to_string();
        assert!(shown.starts_with("w.toml:2:9: field `tasks.count`: invalid type"));
        assert!(shown.contains("2 | count = \"many\""), "{shown}");
        assert!(shown.ends_with("|         ^"), "{shown}");
    }
}
