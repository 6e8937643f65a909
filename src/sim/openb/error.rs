//! Why a trace file could not be loaded.

use std::fmt;

/// Why a trace file could not be loaded: names the file, the line (1-based,
/// the header is line 1), the character column where the field at fault
/// starts and, where it applies, the column's name.
#[derive(Debug)]
#[non_exhaustive]
pub struct TraceError {
    /// The file, as given.
    pub file: String,
    /// The line, 1-based; 0 when the file could not be read at all.
    pub line: usize,
    /// The 1-based character column on `line` where the field at fault
    /// starts (for a row that is too short, just past its end), when the
    /// error is about a place in the file.
    pub char_column: Option<usize>,
    /// The name of the column at fault, if one is.
    pub column: Option<String>,
    /// What is wrong.
    pub kind: TraceErrorKind,
}

/// What is wrong in a [`TraceError`].
#[derive(Debug)]
#[non_exhaustive]
pub enum TraceErrorKind {
    /// The file could not be read.
    Io(std::io::Error),
    /// The file has no header row: it is empty or blank.
    Empty,
    /// The header lacks a required column.
    MissingColumn,
    /// The header names a column twice.
    DuplicateColumn {
        /// The line of the header.
        first_line: usize,
    },
    /// A row has a different number of fields than the header.
    FieldCount {
        /// Fields in the header.
        expected: usize,
        /// Fields in the row.
        got: usize,
    },
    /// A field is not a number of the expected kind.
    BadNumber {
        /// The field's text.
        value: String,
    },
    /// A field is a number out of range for its column (a negative count, a
    /// number too large for its type, a GPU share above one GPU).
    OutOfRange {
        /// The field's text.
        value: String,
        /// What the column allows.
        expected: &'static str,
    },
    /// Two rows have the same name (nodes by `sn`, pods by `name`): the
    /// trace keys both by name, as Kubernetes does.
    DuplicateName {
        /// The name.
        name: String,
        /// The line of its first row.
        first_line: usize,
    },
    /// More than 64 distinct GPU models.
    TooManyModels,
    /// The CSV reader refused the text.
    Malformed {
        /// The reader's message.
        message: String,
    },
}

impl fmt::Display for TraceErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceErrorKind::Io(e) => write!(f, "cannot read: {e}"),
            TraceErrorKind::Empty => {
                f.write_str("the file is empty: expected a header row naming the columns")
            }
            TraceErrorKind::MissingColumn => f.write_str("missing from the header"),
            TraceErrorKind::DuplicateColumn { first_line } => {
                write!(f, "named twice in the header (line {first_line})")
            }
            TraceErrorKind::FieldCount { expected, got } => {
                write!(f, "{got} fields, expected {expected}")
            }
            TraceErrorKind::BadNumber { value } if value.is_empty() => {
                f.write_str("empty, expected a whole number")
            }
            TraceErrorKind::BadNumber { value } => write!(f, "`{value}` is not a number"),
            TraceErrorKind::OutOfRange { value, expected } => {
                write!(f, "`{value}` is out of range ({expected})")
            }
            TraceErrorKind::DuplicateName { name, first_line } => {
                write!(f, "`{name}` is named twice: first on line {first_line}")
            }
            TraceErrorKind::TooManyModels => f.write_str("more than 64 GPU models"),
            TraceErrorKind::Malformed { message } => write!(f, "malformed CSV: {message}"),
        }
    }
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(c) = self.char_column {
            write!(f, ":{c}")?;
        }
        if let Some(c) = &self.column {
            write!(f, ": column `{c}`")?;
        }
        write!(f, ": {}", self.kind)
    }
}

impl std::error::Error for TraceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            TraceErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}
