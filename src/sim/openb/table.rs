//! The CSV table under both trace files: rows, fields and where each one
//! starts, for errors that name a line and a character column.

use super::error::{TraceError, TraceErrorKind};
use std::collections::HashMap;
use std::path::Path;

/// The range of a whole-number column, as errors state it.
pub(crate) const U64_RANGE: &str = "a whole number from 0 to 18446744073709551615";
/// The range of a GPU count column.
pub(crate) const U32_RANGE: &str = "a whole number from 0 to 4294967295";

/// The range that `column` allows, for [`TraceErrorKind::OutOfRange`].
fn integer_range(column: &str) -> &'static str {
    match column {
        "gpu" | "num_gpu" => U32_RANGE,
        _ => U64_RANGE,
    }
}

/// Whether `s` is written as a whole number (an optional sign and digits),
/// whatever its size: such a field that does not parse is out of range,
/// not "not a number".
pub(crate) fn is_integer(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// One data row of a [`Table`]: its fields (trimmed) and where it starts.
pub(crate) struct Row {
    /// The fields, as many as the header's.
    pub(crate) record: csv::StringRecord,
    /// The line the row starts on, 1-based.
    pub(crate) line: usize,
    /// The byte offset of its start in the text.
    byte: usize,
}

/// A CSV table read with the `csv` crate: RFC 4180 quoting (a quoted field
/// may hold commas, quotes and line breaks), a UTF-8 byte-order mark
/// skipped, blanks around fields trimmed, blank lines ignored. The first
/// non-blank row is the header; every other row must have as many fields.
pub(crate) struct Table<'a> {
    file: &'a str,
    text: &'a str,
    header: csv::StringRecord,
    header_line: usize,
    header_byte: usize,
    pub(crate) rows: Vec<Row>,
}

/// Whether a record is a blank line (one empty field once trimmed).
fn is_blank(r: &csv::StringRecord) -> bool {
    r.len() == 1 && r[0].is_empty()
}

impl<'a> Table<'a> {
    pub(crate) fn parse(file: &'a str, text: &'a str) -> Result<Self, TraceError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let mut t = Table {
            file,
            text,
            header: csv::StringRecord::new(),
            header_line: 1,
            header_byte: 0,
            rows: Vec::new(),
        };
        let mut record = csv::StringRecord::new();
        let mut have_header = false;
        loop {
            match reader.read_record(&mut record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    let (line, byte) = e
                        .position()
                        .map_or((1, 0), |p| (p.line() as usize, p.byte() as usize));
                    let at = t.place(byte, 0);
                    return Err(t.error_at(
                        at.unwrap_or((line, 1)),
                        None,
                        TraceErrorKind::Malformed {
                            message: e.to_string(),
                        },
                    ));
                }
            }
            if is_blank(&record) {
                continue;
            }
            // csv-core skips blank lines before a record, but its position
            // is where it started reading: move past them.
            let start = record.position().map_or(0, |p| p.byte() as usize);
            let rest = text.get(start..).unwrap_or("");
            let byte = start + rest.len() - rest.trim_start_matches(['\r', '\n']).len();
            let line = t.line_and_column(byte).0;
            if !have_header {
                have_header = true;
                t.header = record.clone();
                t.header_line = line;
                t.header_byte = byte;
                t.check_header()?;
                continue;
            }
            if record.len() != t.header.len() {
                // A row too long: at its first extra field; too short: past
                // its end.
                let field = if record.len() > t.header.len() {
                    t.header.len()
                } else {
                    usize::MAX
                };
                return Err(t.error_at(
                    t.place(byte, field).unwrap_or((line, 1)),
                    None,
                    TraceErrorKind::FieldCount {
                        expected: t.header.len(),
                        got: record.len(),
                    },
                ));
            }
            t.rows.push(Row {
                record: record.clone(),
                line,
                byte,
            });
        }
        if !have_header {
            return Err(TraceError {
                file: file.to_owned(),
                line: 1,
                char_column: None,
                column: None,
                kind: TraceErrorKind::Empty,
            });
        }
        Ok(t)
    }

    /// Refuses a header that names a column twice.
    fn check_header(&self) -> Result<(), TraceError> {
        for (k, name) in self.header.iter().enumerate() {
            if self.header.iter().take(k).any(|h| h == name) {
                let at = self
                    .place(self.header_byte, k)
                    .unwrap_or((self.header_line, 1));
                return Err(self.error_at(
                    at,
                    Some(name.to_owned()),
                    TraceErrorKind::DuplicateColumn {
                        first_line: self.header_line,
                    },
                ));
            }
        }
        Ok(())
    }

    /// The index of column `name`.
    pub(crate) fn column(&self, name: &str) -> Result<usize, TraceError> {
        self.header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| TraceError {
                file: self.file.to_owned(),
                line: self.header_line,
                char_column: Some(1),
                column: Some(name.to_owned()),
                kind: TraceErrorKind::MissingColumn,
            })
    }

    /// Whether the header has column `name`.
    pub(crate) fn has_column(&self, name: &str) -> bool {
        self.header.iter().any(|h| h == name)
    }

    /// The line and character column where field `field` of the row that
    /// starts at byte `start` begins (past blanks), or just past the row's
    /// end when it has fewer fields; `None` if the text ends first.
    fn place(&self, start: usize, field: usize) -> Option<(usize, usize)> {
        let bytes = self.text.as_bytes();
        let mut reader = csv_core::Reader::new();
        let mut scratch = [0u8; 1024];
        let (mut at, mut field_start, mut k) = (start, start, 0);
        // Each call consumes input or ends the record, so this ends; the
        // bound is a guard.
        for _ in 0..=bytes.len().saturating_sub(start) + 2 {
            let (res, nin, _) = reader.read_field(bytes.get(at..).unwrap_or(&[]), &mut scratch);
            at += nin;
            match res {
                csv_core::ReadFieldResult::InputEmpty | csv_core::ReadFieldResult::OutputFull => {}
                csv_core::ReadFieldResult::Field { record_end } => {
                    if k == field {
                        let raw = &self.text[field_start..at.min(self.text.len())];
                        let blanks = raw.len() - raw.trim_start_matches([' ', '\t']).len();
                        return Some(self.line_and_column(field_start + blanks));
                    }
                    if record_end {
                        let raw = &self.text[field_start..at.min(self.text.len())];
                        let content = raw.trim_end_matches(['\r', '\n']);
                        return Some(self.line_and_column(field_start + content.len()));
                    }
                    k += 1;
                    field_start = at;
                }
                csv_core::ReadFieldResult::End => return None,
            }
        }
        None
    }

    /// The 1-based line and character column of byte `offset` (a
    /// byte-order mark takes no column).
    fn line_and_column(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..]
            .chars()
            .filter(|&c| c != '\u{feff}')
            .count();
        (line, column + 1)
    }

    fn error_at(
        &self,
        (line, column): (usize, usize),
        name: Option<String>,
        kind: TraceErrorKind,
    ) -> TraceError {
        TraceError {
            file: self.file.to_owned(),
            line,
            char_column: Some(column),
            column: name,
            kind,
        }
    }

    /// An error about field `col` of `row`.
    pub(crate) fn error(&self, row: &Row, col: usize, kind: TraceErrorKind) -> TraceError {
        let at = self.place(row.byte, col).unwrap_or((row.line, 1));
        self.error_at(at, self.header.get(col).map(str::to_owned), kind)
    }

    /// Reads `row` into `T` by column name (serde), turning a field that
    /// does not parse into [`TraceErrorKind::BadNumber`] or, for a whole
    /// number too large or negative, [`TraceErrorKind::OutOfRange`].
    pub(crate) fn deserialize<T: serde::de::DeserializeOwned>(
        &self,
        row: &Row,
    ) -> Result<T, TraceError> {
        row.record
            .deserialize::<T>(Some(&self.header))
            .map_err(|e| {
                let (field, message) = match e.kind() {
                    csv::ErrorKind::Deserialize { err, .. } => {
                        (err.field().map(|f| f as usize), err.to_string())
                    }
                    other => (None, format!("{other:?}")),
                };
                let Some(col) = field.filter(|&c| c < row.record.len()) else {
                    let at = self.place(row.byte, 0).unwrap_or((row.line, 1));
                    return self.error_at(at, None, TraceErrorKind::Malformed { message });
                };
                let value = row.record[col].to_owned();
                let kind = if is_integer(&value) {
                    TraceErrorKind::OutOfRange {
                        value,
                        expected: integer_range(&self.header[col]),
                    }
                } else {
                    TraceErrorKind::BadNumber { value }
                };
                self.error(row, col, kind)
            })
    }

    /// Refuses a second row named like an earlier one; `names` maps the
    /// names seen to their lines.
    pub(crate) fn unique(
        &self,
        names: &mut HashMap<String, usize>,
        row: &Row,
        col: usize,
    ) -> Result<(), TraceError> {
        let name = &row.record[col];
        if let Some(&first_line) = names.get(name) {
            return Err(self.error(
                row,
                col,
                TraceErrorKind::DuplicateName {
                    name: name.to_owned(),
                    first_line,
                },
            ));
        }
        names.insert(name.to_owned(), row.line);
        Ok(())
    }
}

/// Reads a trace file, as a [`TraceError`] if it cannot be.
pub(crate) fn read(path: &Path) -> Result<String, TraceError> {
    std::fs::read_to_string(path).map_err(|e| TraceError {
        file: path.display().to_string(),
        line: 0,
        char_column: None,
        column: None,
        kind: TraceErrorKind::Io(e),
    })
}
