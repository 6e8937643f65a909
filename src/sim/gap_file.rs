//! The OR-Library GAP instance formats (Beasley), and tables of known
//! values.
//!
//! - One instance ([`parse_gap`], [`read_gap`]; Yagiura's files and the
//!   split copies in `data/gap/instances/`): whitespace-separated integers
//!   — `m n`, the `m × n` cost matrix (row `j` is node `j`), the `m × n`
//!   capacity-use matrix, then the `m` capacities.
//! - A set ([`parse_gap_set`], [`read_gap_set`]; OR-Library's `gap1` to
//!   `gap12`): the number of instances `P`, then `P` instances as above. A
//!   file whose first line holds two numbers is read as one instance.
//! - The [`Objective`]: OR-Library gives the optima of `gap1`–`gap12` as
//!   maximisation problems (the matrix holds profits), Yagiura's and the
//!   Chu–Beasley types D and E are minimisation problems. A
//!   [`Gap`] always minimises, so a profit matrix is read negated, and
//!   [`Objective::value`] turns a cost back into the file's value.
//! - Known values ([`parse_known_values`]): a CSV with the instance's file
//!   name (`Path`), and its proved optimum (`Optimum`) or, where none is
//!   proved, the best known value (`Best known solution value`), and
//!   optionally its `Objective` (`min`/`max`).

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
        /// What was being read (`the cost matrix`, …).
        field: &'static str,
        /// The token.
        token: String,
    },
    /// The file ended early.
    UnexpectedEnd {
        /// What was being read.
        expected: &'static str,
    },
    /// Numbers follow the end of the data.
    TrailingData {
        /// What they follow (`the capacities`, `the last instance`).
        after: &'static str,
        /// The first extra token.
        token: String,
    },
    /// A set's instance count is below 1 or beyond 65 536.
    BadCount {
        /// The count.
        count: i64,
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
            GapFileErrorKind::NotAnInteger { field, token } => {
                write!(f, "`{token}` in {field} is not an integer")
            }
            GapFileErrorKind::UnexpectedEnd { expected } => {
                write!(f, "file ends while reading {expected}")
            }
            GapFileErrorKind::TrailingData { after, token } => {
                write!(f, "unexpected `{token}` after {after}")
            }
            GapFileErrorKind::BadCount { count } => write!(f, "bad number of instances: {count}"),
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

/// Whether an instance's matrix holds costs to minimise or profits to
/// maximise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Objective {
    /// Costs, to minimise (Yagiura's files, the Chu–Beasley types).
    #[default]
    Minimise,
    /// Profits, to maximise (OR-Library's `gap1`–`gap12` optima): read
    /// negated, so that the [`Gap`] minimises `−profit`.
    Maximise,
}

impl Objective {
    /// The file's value of an assignment of [`Gap`] cost `cost`: the cost,
    /// or the profit (`−cost`) for [`Maximise`](Objective::Maximise).
    pub fn value(self, cost: i64) -> i64 {
        match self {
            Objective::Minimise => cost,
            Objective::Maximise => -cost,
        }
    }

    /// By how much `value` falls short of the best known `best`, in
    /// percent of `|best|` (positive when worse, for either sense).
    pub fn gap_pct(self, value: i64, best: i64) -> f64 {
        let worse_by = match self {
            Objective::Minimise => value - best,
            Objective::Maximise => best - value,
        };
        100.0 * worse_by as f64 / (best.unsigned_abs().max(1)) as f64
    }
}

/// The tokens of a file, with their lines.
struct Tokens<'t> {
    file: &'t str,
    last_line: usize,
    inner: Box<dyn Iterator<Item = (usize, &'t str)> + 't>,
    text_len: usize,
}

impl<'t> Tokens<'t> {
    fn new(file: &'t str, text: &'t str) -> Self {
        Tokens {
            file,
            last_line: text.lines().count().max(1),
            inner: Box::new(
                text.lines()
                    .enumerate()
                    .flat_map(|(k, l)| l.split_whitespace().map(move |t| (k + 1, t))),
            ),
            text_len: text.len(),
        }
    }

    fn err(&self, line: usize, kind: GapFileErrorKind) -> GapFileError {
        GapFileError {
            file: self.file.to_owned(),
            line,
            kind,
        }
    }

    /// The next integer, read as `field`.
    fn next(&mut self, field: &'static str) -> Result<(usize, i64), GapFileError> {
        match self.inner.next() {
            None => Err(self.err(
                self.last_line,
                GapFileErrorKind::UnexpectedEnd { expected: field },
            )),
            Some((line, t)) => t.parse::<i64>().map(|v| (line, v)).map_err(|_| {
                self.err(
                    line,
                    GapFileErrorKind::NotAnInteger {
                        field,
                        token: t.to_owned(),
                    },
                )
            }),
        }
    }

    /// `count` integers, read as `field`, and the line of the last.
    fn many(
        &mut self,
        count: usize,
        field: &'static str,
    ) -> Result<(Vec<i64>, usize), GapFileError> {
        // Grown as numbers are read: a header may promise more than the
        // text holds (`65536 1048576` asks for 2^37 numbers).
        let mut v = Vec::with_capacity(count.min(self.text_len / 2 + 1));
        let mut line = 0;
        for _ in 0..count {
            let (l, x) = self.next(field)?;
            line = l;
            v.push(x);
        }
        Ok((v, line))
    }

    /// One instance: sizes, costs (or profits), uses, capacities.
    fn instance(&mut self, objective: Objective) -> Result<Gap, GapFileError> {
        let (line, m) = self.next("the number of agents")?;
        let (_, n) = self.next("the number of items")?;
        if m <= 0 || n <= 0 || m > 1 << 16 || n > 1 << 20 {
            return Err(self.err(
                line,
                GapFileErrorKind::BadSize {
                    agents: m,
                    items: n,
                },
            ));
        }
        let (m, n) = (m as usize, n as usize);
        let (mut cost, _) = self.many(m * n, "the cost matrix")?;
        if objective == Objective::Maximise {
            cost.iter_mut().for_each(|c| *c = c.saturating_neg());
        }
        let (weight, weight_line) = self.many(m * n, "the capacity-use matrix")?;
        let (capacity, cap_line) = self.many(m, "the capacities")?;
        Gap::new(m, n, cost, weight, capacity).map_err(|e| {
            let line = match e {
                GapError::Negative {
                    what: "capacity", ..
                } => cap_line,
                _ => weight_line,
            };
            self.err(line, GapFileErrorKind::Invalid(e))
        })
    }

    /// An error if any token is left.
    fn end(&mut self, after: &'static str) -> Result<(), GapFileError> {
        match self.inner.next() {
            None => Ok(()),
            Some((l, t)) => Err(self.err(
                l,
                GapFileErrorKind::TrailingData {
                    after,
                    token: t.to_owned(),
                },
            )),
        }
    }
}

/// Parses one instance of costs to minimise; `file` labels errors.
///
/// # Errors
///
/// A [`GapFileError`] naming the line at fault and what was being read.
///
/// # Examples
///
/// ```
/// use allot::sim::gap_file::{parse_gap, GapFileErrorKind};
///
/// let g = parse_gap("tiny", "2 2\n1 2\n3 4\n1 1\n1 1\n1 1\n")?;
/// assert_eq!((g.agents(), g.items(), g.cost(1, 0)), (2, 2, 3));
/// let err = parse_gap("bad", "2 2\n1 2\n3 x\n").unwrap_err();
/// assert_eq!(err.line, 3);
/// assert!(matches!(
///     err.kind,
///     GapFileErrorKind::NotAnInteger { field: "the cost matrix", .. }
/// ));
/// # Ok::<(), allot::sim::gap_file::GapFileError>(())
/// ```
pub fn parse_gap(file: &str, text: &str) -> Result<Gap, GapFileError> {
    parse_gap_with(file, text, Objective::Minimise)
}

/// Parses one instance whose matrix holds costs or profits, as
/// `objective` says.
///
/// # Errors
///
/// As [`parse_gap`].
pub fn parse_gap_with(file: &str, text: &str, objective: Objective) -> Result<Gap, GapFileError> {
    let mut t = Tokens::new(file, text);
    let g = t.instance(objective)?;
    t.end("the capacities")?;
    Ok(g)
}

/// Parses a set of instances: OR-Library's `P` and `P` instances, or (when
/// the first line holds two numbers) one instance.
///
/// # Errors
///
/// A [`GapFileError`] naming the line at fault and what was being read.
///
/// # Examples
///
/// ```
/// use allot::sim::gap_file::{parse_gap_set, Objective};
///
/// // Two instances of profits, as in OR-Library's gap1.
/// let text = "2\n1 2\n5 6\n1 1\n2\n1 1\n7\n1\n1\n";
/// let set = parse_gap_set("gapx", text, Objective::Maximise)?;
/// assert_eq!(set.len(), 2);
/// assert_eq!(set[0].cost(0, 1), -6); // profits are negated
/// assert_eq!(Objective::Maximise.value(set[1].cost(0, 0)), 7);
/// # Ok::<(), allot::sim::gap_file::GapFileError>(())
/// ```
pub fn parse_gap_set(
    file: &str,
    text: &str,
    objective: Objective,
) -> Result<Vec<Gap>, GapFileError> {
    let first_line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if first_line.split_whitespace().count() >= 2 {
        return parse_gap_with(file, text, objective).map(|g| vec![g]);
    }
    let mut t = Tokens::new(file, text);
    let (line, count) = t.next("the number of instances")?;
    if !(1..=1 << 16).contains(&count) {
        return Err(t.err(line, GapFileErrorKind::BadCount { count }));
    }
    let set = (0..count)
        .map(|_| t.instance(objective))
        .collect::<Result<Vec<_>, _>>()?;
    t.end("the last instance")?;
    Ok(set)
}

/// Reads a file as [`parse_gap`] does.
///
/// # Errors
///
/// A [`GapFileError`] naming the file and line at fault.
pub fn read_gap(path: impl AsRef<Path>) -> Result<Gap, GapFileError> {
    let (label, text) = read_text(path.as_ref())?;
    parse_gap(&label, &text)
}

/// Reads a file as [`parse_gap_set`] does.
///
/// # Errors
///
/// A [`GapFileError`] naming the file and line at fault.
pub fn read_gap_set(
    path: impl AsRef<Path>,
    objective: Objective,
) -> Result<Vec<Gap>, GapFileError> {
    let (label, text) = read_text(path.as_ref())?;
    parse_gap_set(&label, &text, objective)
}

fn read_text(path: &Path) -> Result<(String, String), GapFileError> {
    let label = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((label, text)),
        Err(e) => Err(GapFileError {
            file: label,
            line: 0,
            kind: GapFileErrorKind::Io(e),
        }),
    }
}

/// One row of a table of known values (an `optima.csv`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownValue {
    /// File name of the instance.
    pub name: String,
    /// The proved optimum, or the best known value when none is proved.
    pub value: i64,
    /// Whether `value` is a proved optimum.
    pub proved: bool,
    /// Whether the instance's values are costs or profits.
    pub objective: Objective,
}

/// Why [`parse_known_values`] refused a table: the line (1-based) and
/// column at fault.
#[derive(Debug)]
#[non_exhaustive]
pub struct KnownValuesError {
    /// The line, 1-based (1 is the header).
    pub line: usize,
    /// The column at fault.
    pub column: String,
    /// What is wrong.
    pub kind: KnownValuesErrorKind,
}

/// What is wrong in a [`KnownValuesError`].
#[derive(Debug)]
#[non_exhaustive]
pub enum KnownValuesErrorKind {
    /// The header lacks a column the table needs (`Path`, and `Optimum`
    /// or `Best known solution value`).
    MissingColumn,
    /// A value is neither empty nor an integer (or, for `Objective`, not
    /// `min`/`max`).
    BadValue {
        /// The value.
        value: String,
    },
    /// The CSV itself is malformed.
    Csv(csv::Error),
}

impl fmt::Display for KnownValuesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column `{}`: ", self.line, self.column)?;
        match &self.kind {
            KnownValuesErrorKind::MissingColumn => f.write_str("no such column in the header"),
            KnownValuesErrorKind::BadValue { value } => write!(f, "bad value `{value}`"),
            KnownValuesErrorKind::Csv(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for KnownValuesError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            KnownValuesErrorKind::Csv(e) => Some(e),
            _ => None,
        }
    }
}

/// Parses a table of known values by column name, with the `csv` crate
/// (quoted fields, a byte-order mark, blanks around fields): `Path`, and
/// `Optimum` (a proved optimum) and/or `Best known solution value` (used
/// where `Optimum` is empty), and optionally `Objective` (`min`, `max`,
/// `minimise`, `maximise`; default `min`). Other columns are ignored, and
/// so are rows with neither value.
///
/// # Errors
///
/// A [`KnownValuesError`] naming the line and column: a missing column, a
/// value that is not an integer, an unknown objective.
///
/// # Examples
///
/// ```
/// use allot::sim::gap_file::{parse_known_values, Objective};
///
/// let t = "Path,Optimum,Best known solution value\na,10,10\nb,,97\nc,,\n";
/// let v = parse_known_values(t)?;
/// assert_eq!(v.len(), 2);
/// assert!(v[0].proved && !v[1].proved);
/// assert_eq!((v[1].value, v[1].objective), (97, Objective::Minimise));
/// # Ok::<(), allot::sim::gap_file::KnownValuesError>(())
/// ```
pub fn parse_known_values(text: &str) -> Result<Vec<KnownValue>, KnownValuesError> {
    const BEST: &str = "Best known solution value";
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let fail = |line: usize, column: &str, kind| KnownValuesError {
        line,
        column: column.to_owned(),
        kind,
    };
    let header = reader
        .headers()
        .map_err(|e| fail(1, "", KnownValuesErrorKind::Csv(e)))?
        .clone();
    let col = |name: &str| header.iter().position(|c| c == name);
    let path = col("Path").ok_or_else(|| fail(1, "Path", KnownValuesErrorKind::MissingColumn))?;
    let (optimum, best) = (col("Optimum"), col(BEST));
    if optimum.is_none() && best.is_none() {
        return Err(fail(1, "Optimum", KnownValuesErrorKind::MissingColumn));
    }
    let objective = col("Objective");
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line() as usize);
            fail(line, "", KnownValuesErrorKind::Csv(e))
        })?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let field = |k: Option<usize>| k.and_then(|k| record.get(k)).unwrap_or("");
        let int = |k: Option<usize>, name: &str| -> Result<Option<i64>, KnownValuesError> {
            let v = field(k);
            if v.is_empty() {
                return Ok(None);
            }
            v.parse().map(Some).map_err(|_| {
                fail(
                    line,
                    name,
                    KnownValuesErrorKind::BadValue {
                        value: v.to_owned(),
                    },
                )
            })
        };
        let proved = int(optimum, "Optimum")?;
        let known = int(best, BEST)?;
        let sense = match field(objective).to_ascii_lowercase().as_str() {
            "" | "min" | "minimise" | "minimize" => Objective::Minimise,
            "max" | "maximise" | "maximize" => Objective::Maximise,
            other => {
                return Err(fail(
                    line,
                    "Objective",
                    KnownValuesErrorKind::BadValue {
                        value: other.to_owned(),
                    },
                ))
            }
        };
        let (value, is_proved) = match (proved, known) {
            (Some(v), _) => (v, true),
            (None, Some(v)) => (v, false),
            (None, None) => continue,
        };
        out.push(KnownValue {
            name: field(Some(path)).to_owned(),
            value,
            proved: is_proved,
            objective: sense,
        });
    }
    Ok(out)
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
    fn known_values_are_read_by_column_name_through_quotes_and_a_byte_order_mark() {
        let text = "\u{feff}Path,Note,Optimum\n\"a,1\",\"x, y\",-12\nb,,\n  c , z , 99999999999 \n";
        let v = parse_known_values(text).unwrap();
        let names: Vec<(&str, i64, bool)> = v
            .iter()
            .map(|k| (k.name.as_str(), k.value, k.proved))
            .collect();
        assert_eq!(names, [("a,1", -12, true), ("c", 99_999_999_999, true)]);
    }

    #[test]
    fn the_best_known_value_stands_in_where_no_optimum_is_proved() {
        let text = "Path,Best known bound,Optimum,Best known solution value,Objective\n\
                    d801600,97760,,97824,min\ngap1-0,336,336,336,max\n";
        let v = parse_known_values(text).unwrap();
        assert_eq!(
            (v[0].value, v[0].proved, v[0].objective),
            (97_824, false, Objective::Minimise)
        );
        assert_eq!(
            (v[1].value, v[1].proved, v[1].objective),
            (336, true, Objective::Maximise)
        );
    }

    #[test]
    fn a_bad_known_value_names_its_line_and_column() {
        let e = parse_known_values("Path,Optimum\na,1\nb,n/a\n").unwrap_err();
        assert_eq!((e.line, e.column.as_str()), (3, "Optimum"));
        assert!(matches!(e.kind, KnownValuesErrorKind::BadValue { ref value } if value == "n/a"));
        let e = parse_known_values("Path,Best\na,1\n").unwrap_err();
        assert!(matches!(e.kind, KnownValuesErrorKind::MissingColumn), "{e}");
        let e = parse_known_values("Name,Optimum\na,1\n").unwrap_err();
        assert_eq!(e.column, "Path");
        let e = parse_known_values("Path,Optimum,Objective\na,1,most\n").unwrap_err();
        assert_eq!((e.line, e.column.as_str()), (2, "Objective"));
    }

    #[test]
    fn a_set_file_reads_every_instance_and_names_the_field_at_fault() {
        let text = "2\n1 2\n5 6\n1 1\n2\n1 1\n7\n1\n1\n";
        let set = parse_gap_set("s", text, Objective::Minimise).unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(set[1].cost(0, 0), 7);
        // A single instance reads as a set of one.
        let one = parse_gap_set("s", "1 1\n4\n1\n1\n", Objective::Maximise).unwrap();
        assert_eq!(one[0].cost(0, 0), -4);
        let e = parse_gap_set("s", "2\n1 1\n4\n1\n1\n", Objective::Minimise).unwrap_err();
        assert!(
            matches!(
                e.kind,
                GapFileErrorKind::UnexpectedEnd {
                    expected: "the number of agents"
                }
            ),
            "{e}"
        );
        let e = parse_gap_set("s", "0\n", Objective::Minimise).unwrap_err();
        assert!(
            matches!(e.kind, GapFileErrorKind::BadCount { count: 0 }),
            "{e}"
        );
        let e = parse_gap_set("s", "1\n1 1\n4\n1\nz\n", Objective::Minimise).unwrap_err();
        assert_eq!(
            e.to_string(),
            "s:5: `z` in the capacities is not an integer"
        );
        let e = parse_gap_set("s", "1\n1 1\n4\n1\n1\n8\n", Objective::Minimise).unwrap_err();
        assert!(
            matches!(
                e.kind,
                GapFileErrorKind::TrailingData {
                    after: "the last instance",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn a_profit_gap_is_measured_the_right_way_round() {
        assert_eq!(Objective::Maximise.gap_pct(90, 100), 10.0);
        assert_eq!(Objective::Minimise.gap_pct(110, 100), 10.0);
        assert_eq!(Objective::Maximise.value(-336), 336);
    }
}
