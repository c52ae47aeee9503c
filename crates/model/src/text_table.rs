//! The one terminal table every command prints with: columns as wide as their widest cell,
//! text left-aligned and numbers right-aligned, two spaces between columns, no trailing
//! blanks. Lines that are not rows (a note under a phase) keep their place among the rows.
//! And the two number formats the tables use: `3,120` and `1.3 %`.

use std::fmt::Write;

/// How a column's cells sit in its width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    /// Text.
    Left,
    /// Numbers.
    Right,
}

enum Line {
    Row(Vec<String>),
    Note(String),
}

/// A table built row by row and rendered once, when every width is known.
pub struct TextTable {
    indent: String,
    header: Vec<(String, Align)>,
    lines: Vec<Line>,
}

impl TextTable {
    /// A table with these column headers and alignments.
    pub fn new(columns: &[(&str, Align)]) -> Self {
        Self {
            indent: String::new(),
            header: columns.iter().map(|(h, a)| (h.to_string(), *a)).collect(),
            lines: Vec::new(),
        }
    }

    /// Starts every line with `indent`.
    #[must_use]
    pub fn indented(mut self, indent: &str) -> Self {
        self.indent = indent.to_string();
        self
    }

    /// Adds a row; missing cells are empty, extra cells are dropped.
    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut cells: Vec<String> = cells.into_iter().map(Into::into).collect();
        cells.resize(self.header.len(), String::new());
        self.lines.push(Line::Row(cells));
    }

    /// Adds a line printed as it is, after the indent, between the rows.
    pub fn note(&mut self, text: impl Into<String>) {
        self.lines.push(Line::Note(text.into()));
    }

    /// Whether no row or note was added.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The header line and every row, each ending in a newline.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|(h, _)| h.chars().count()).collect();
        for line in &self.lines {
            if let Line::Row(cells) = line {
                for (w, c) in widths.iter_mut().zip(cells) {
                    *w = (*w).max(c.chars().count());
                }
            }
        }
        let mut out = String::new();
        let header: Vec<&str> = self.header.iter().map(|(h, _)| h.as_str()).collect();
        self.write_row(&mut out, &header, &widths);
        for line in &self.lines {
            match line {
                Line::Row(cells) => {
                    let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
                    self.write_row(&mut out, &cells, &widths);
                }
                Line::Note(text) => {
                    let _ = writeln!(out, "{}{text}", self.indent);
                }
            }
        }
        out
    }

    fn write_row(&self, out: &mut String, cells: &[&str], widths: &[usize]) {
        let mut line = self.indent.clone();
        for (i, ((cell, w), (_, align))) in cells.iter().zip(widths).zip(&self.header).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = w.saturating_sub(cell.chars().count());
            match align {
                Align::Left => {
                    line.push_str(cell);
                    line.extend(std::iter::repeat_n(' ', pad));
                }
                Align::Right => {
                    line.extend(std::iter::repeat_n(' ', pad));
                    line.push_str(cell);
                }
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

/// `3120` → `3,120`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// `0.013` → `1.3 %`.
pub fn percent(rate: f64) -> String {
    format!("{:.1} %", rate * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_take_the_widest_cell_and_align_by_kind() {
        let mut t =
            TextTable::new(&[("name", Align::Left), ("count", Align::Right)]).indented("  ");
        t.row(["a-long-endpoint", "7"]);
        t.note("note: between rows");
        t.row(["b", "12345678"]);
        assert_eq!(
            t.render(),
            "  name                count\n  a-long-endpoint         7\n  note: between rows\n  b                12345678\n"
        );
    }

    #[test]
    fn missing_cells_are_empty_and_lines_have_no_trailing_blanks() {
        let mut t = TextTable::new(&[("x", Align::Left), ("y", Align::Left)]);
        t.row(["only"]);
        assert_eq!(t.render(), "x     y\nonly\n");
        assert!(!t.is_empty());
    }
}
