//! Plain text tables for the terminal: no borders, two spaces between
//! columns, the first columns left-aligned and the rest (numbers)
//! right-aligned, every column as wide as its widest cell by display width
//! (comfy-table; a node called `gpu-α` or `推理` lines up too).

use comfy_table::{presets::NOTHING, CellAlignment, ContentArrangement, Table};
use std::io::{self, Write};

/// A table with `header`, whose first `left` columns are left-aligned.
pub(crate) fn new(header: &[&str], left: usize) -> Table {
    let mut t = Table::new();
    t.load_style(NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().copied());
    for (i, column) in t.column_iter_mut().enumerate() {
        let before = u16::from(i > 0);
        column
            .set_padding((before, 1))
            .set_cell_alignment(if i < left {
                CellAlignment::Left
            } else {
                CellAlignment::Right
            });
    }
    t
}

/// Writes `table`, each line indented by `indent` and without trailing
/// blanks.
pub(crate) fn write(out: &mut impl Write, table: &Table, indent: &str) -> io::Result<()> {
    for line in table.lines() {
        writeln!(out, "{indent}{}", line.trim_end())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_by_display_width_names_left_numbers_right() {
        let mut t = new(&["node", "completed"], 1);
        t.add_row(["cpu-0", "7"]);
        t.add_row(["gpu-α", "1234"]);
        let mut out = Vec::new();
        write(&mut out, &t, "").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text, "node   completed\ncpu-0          7\ngpu-α       1234\n",
            "{text}"
        );
    }
}
