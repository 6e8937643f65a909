//! The OR-Library GAP instance format (Beasley): whitespace-separated
//! integers — `m n`, the `m × n` cost matrix (row `j` is node `j`), the
//! `m × n` capacity-use matrix, then the `m` capacities.

use crate::policy::{Gap, GapError};
use std::fmt;
use std::path::Path;

/// Why a GAP instance file was refused: names the line (1-based) where the
/// problem was found.
#[derive(Debug)]
#[non_exhaustive]
pub struct GapFileError {
    /// The file, as given (or the label passed to [`parse_gap`]).
    pub file: String,
    /// The line, 1-based; 0 when the file could not be read.
    pub line: usize,
    /// What is wrong.
    pub kind: GapFileErrorKind,
}

/// What is wrong in a [`GapFileError`].
#[derive(Debug)]
#[non_exhaustive]
pub enum GapFileErrorKind {
    /// The file could not be read.
    Io(std::io::Error),
    /// A token is not an integer.
    NotAnInteger {
        /// The token.
        token: String,
    },
    /// The file ended early.
    UnexpectedEnd {
        /// What was being read.
        expected: &'static str,
    },
    /// Numbers follow the capacities.
    TrailingData {
        /// The first extra token.
        token: String,
    },
    /// The header's sizes are zero or too large.
    BadSize {
        /// Agents (nodes).
        agents: i64,
        /// Items (tasks).
        items: i64,
    },
    /// The numbers do not make an instance.
    Invalid(GapError),
}

impl fmt::Display for GapFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        match &self.kind {
            GapFileErrorKind::Io(e) => write!(f, "cannot read: {e}"),
            GapFileErrorKind::NotAnInteger { token } => write!(f, "`{token}` is not an integer"),
            GapFileErrorKind::UnexpectedEnd { expected } => {
                write!(f, "file ends while reading {expected}")
            }
            GapFileErrorKind::TrailingData { token } => {
                write!(f, "unexpected `{token}` after the capacities")
            }
            GapFileErrorKind::BadSize { agents, items } => {
                write!(f, "bad sizes: {agents} agents, {items} items")
            }
            GapFileErrorKind::Invalid(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for GapFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            GapFileErrorKind::Io(e) => Some(e),
            GapFileErrorKind::Invalid(e) => Some(e),
            _ => None,
        }
    }
}

/// Parses an instance; `file` labels errors.
///
/// # Errors
///
/// A [`GapFileError`] naming the line at fault.
///
/// # Examples
///
/// ```
/// use allot::sim::gap_file::parse_gap;
///
/// let g = parse_gap("tiny", "2 2\n1 2\n3 4\n1 1\n1 1\n1 1\n")?;
/// assert_eq!((g.agents(), g.items(), g.cost(1, 0)), (2, 2, 3));
/// let err = parse_gap("bad", "2 2\n1 2\n3 x\n").unwrap_err();
/// assert_eq!(err.line, 3);
/// # Ok::<(), allot::sim::gap_file::GapFileError>(())
/// ```
pub fn parse_gap(file: &str, text: &str) -> Result<Gap, GapFileError> {
    let mut tokens = text
        .lines()
        .enumerate()
        .flat_map(|(k, l)| l.split_whitespace().map(move |t| (k + 1, t)));
    let last_line = text.lines().count().max(1);
    let err = |line: usize, kind: GapFileErrorKind| GapFileError {
        file: file.to_owned(),
        line,
        kind,
    };
    let mut next = |expected: &'static str| -> Result<(usize, i64), GapFileError> {
        match tokens.next() {
            None => Err(err(last_line, GapFileErrorKind::UnexpectedEnd { expected })),
            Some((line, t)) => t.parse::<i64>().map(|v| (line, v)).map_err(|_| {
                err(
                    line,
                    GapFileErrorKind::NotAnInteger {
                        token: t.to_owned(),
                    },
                )
            }),
        }
    };
    let (line, m) = next("the number of agents")?;
    let (_, n) = next("the number of items")?;
    if m <= 0 || n <= 0 || m > 1 << 16 || n > 1 << 20 {
        return Err(err(
            line,
            GapFileErrorKind::BadSize {
                agents: m,
                items: n,
            },
        ));
    }
    let (m, n) = (m as usize, n as usize);
    let mut read = |count: usize, what: &'static str| -> Result<(Vec<i64>, usize), GapFileError> {
        // Grown as numbers are read: a header may promise more than the
        // text holds (`65536 1048576` asks for 2^37 numbers).
        let mut v = Vec::with_capacity(count.min(text.len() / 2 + 1));
        let mut line = 0;
        for _ in 0..count {
            let (l, x) = next(what)?;
            line = l;
            v.push(x);
        }
        Ok((v, line))
    };
    let (cost, _) = read(m * n, "the cost matrix")?;
    let (weight, weight_line) = read(m * n, "the capacity-use matrix")?;
    let (capacity, cap_line) = read(m, "the capacities")?;
    if let Some((l, t)) = tokens.next() {
        return Err(err(
            l,
            GapFileErrorKind::TrailingData {
                token: t.to_owned(),
            },
        ));
    }
    Gap::new(m, n, cost, weight, capacity).map_err(|e| {
        let line = match e {
            GapError::Negative {
                what: "capacity", ..
            } => cap_line,
            _ => weight_line,
        };
        err(line, GapFileErrorKind::Invalid(e))
    })
}

/// Reads and parses an instance file.
///
/// # Errors
///
/// A [`GapFileError`] naming the file and line at fault.
pub fn read_gap(path: impl AsRef<Path>) -> Result<Gap, GapFileError> {
    let path = path.as_ref();
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| GapFileError {
        file: label.clone(),
        line: 0,
        kind: GapFileErrorKind::Io(e),
    })?;
    parse_gap(&label, &text)
}

/// One row of an OR-Library `optima.csv`: instance file name and optimum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownOptimum {
    /// File name of the instance.
    pub name: String,
    /// Optimal total cost.
    pub optimum: i64,
}

/// Parses an `optima.csv` with columns `Path` and `Optimum` (others are
/// ignored), with the `csv` crate (quoted fields, a byte-order mark, blanks
/// around fields). Rows without an integer optimum are skipped; so is
/// everything when the header lacks either column.
pub fn parse_optima(text: &str) -> Vec<KnownOptimum> {
    #[derive(serde::Deserialize)]
    struct OptimumRow {
        #[serde(rename = "Path")]
        path: String,
        #[serde(rename = "Optimum")]
        optimum: i64,
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = reader.headers().cloned().unwrap_or_default();
    let has = |name: &str| header.iter().any(|c| c == name);
    if !(has("Path") && has("Optimum")) {
        return Vec::new();
    }
    reader
        .deserialize::<OptimumRow>()
        .filter_map(Result::ok)
        .map(|r| KnownOptimum {
            name: r.path,
            optimum: r.optimum,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_promising_more_numbers_than_the_text_holds_is_refused_without_reserving_them() {
        // 65 536 × 1 048 576 costs would be 512 GiB reserved up front.
        let e = parse_gap("big", "65536 1048576").unwrap_err();
        assert!(
            matches!(e.kind, GapFileErrorKind::UnexpectedEnd { .. }),
            "{e}"
        );
    }

    #[test]
    fn values_whose_sums_could_overflow_are_refused_naming_the_entry() {
        for (text, what) in [
            ("1 2\n9223372036854775807 1\n0 0\n0\n", "cost"),
            ("1 2\n0 0\n9223372036854775807 1\n0\n", "weight"),
            ("1 1\n0\n0\n-9223372036854775808\n", "capacity"),
        ] {
            let e = parse_gap("huge", text).unwrap_err();
            assert!(
                matches!(e.kind, GapFileErrorKind::Invalid(GapError::TooLarge { what: w, .. }) if w == what),
                "{e}"
            );
        }
    }

    #[test]
    fn optima_are_read_by_column_name_through_quotes_and_a_byte_order_mark() {
        let text =
            "\u{feff}Path,Note,Optimum\n\"a,1\",\"x, y\",-12\nb,,n/a\n  c , z , 99999999999 \n";
        assert_eq!(
            parse_optima(text),
            [
                KnownOptimum {
                    name: "a,1".into(),
                    optimum: -12
                },
                KnownOptimum {
                    name: "c".into(),
                    optimum: 99_999_999_999
                },
            ]
        );
        assert!(parse_optima("").is_empty());
        assert!(parse_optima("Path,Best\na,1\n").is_empty());
    }
}
