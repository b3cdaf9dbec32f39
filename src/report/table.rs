//! Tables: aligned columns for people, tab-separated values for pipes.

use std::io::{self, Write};

use super::inert;

pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Table {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Aligned with a header on a terminal; headerless TSV otherwise (stable for `cut`/`awk`).
    /// Cells are made inert ([`inert::cell`]): control characters, escape sequences and
    /// bidirectional overrides in data show as `\u{1b}`-style escapes, and a tab or newline
    /// cannot break the layout (`\t`, `\n`).
    pub fn write(&self, out: &mut impl Write, aligned: bool) -> io::Result<()> {
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|row| row.iter().map(|c| inert::cell(c).into_owned()).collect())
            .collect();
        if !aligned {
            for cells in &rows {
                writeln!(out, "{}", cells.join("\t"))?;
            }
            return Ok(());
        }
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(cell.chars().count());
                }
            }
        }
        let last = widths.len().saturating_sub(1);
        let line = |cells: Vec<String>, out: &mut dyn Write| -> io::Result<()> {
            let mut text = String::new();
            for (i, cell) in cells.iter().enumerate() {
                text.push_str(cell);
                if i < last {
                    let pad = widths[i].saturating_sub(cell.chars().count()) + 2;
                    text.extend(std::iter::repeat_n(' ', pad));
                }
            }
            writeln!(out, "{}", text.trim_end())
        };
        line(self.headers.iter().map(|h| (*h).to_owned()).collect(), out)?;
        for row in rows {
            line(row, out)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(aligned: bool) -> String {
        let mut t = Table::new(&["ID", "NAME"]);
        t.row(vec!["1".into(), "short".into()]);
        t.row(vec!["100".into(), "tab\there".into()]);
        let mut out = Vec::new();
        t.write(&mut out, aligned).expect("writes");
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn aligned_on_terminals() {
        assert_eq!(render(true), "ID   NAME\n1    short\n100  tab\\there\n");
    }

    #[test]
    fn tab_separated_when_piped() {
        assert_eq!(render(false), "1\tshort\n100\ttab\\there\n");
    }

    #[test]
    fn hostile_cells_stay_in_their_column() {
        let mut t = Table::new(&["ID", "WORKFLOW", "ACTOR"]);
        t.row(vec![
            "1".into(),
            "deploy\u{1b}[2J\u{1b}]0;owned\u{7}".into(),
            "\u{202e}eve\nforged\trow".into(),
        ]);
        t.row(vec!["2".into(), "ok".into(), "bob".into()]);
        for aligned in [true, false] {
            let mut out = Vec::new();
            t.write(&mut out, aligned).expect("writes");
            let text = String::from_utf8(out).expect("utf8");
            assert!(
                !text.contains(['\u{1b}', '\u{7}', '\u{202e}', '\r']),
                "{text:?}"
            );
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), if aligned { 3 } else { 2 }, "{text}");
            assert!(
                text.contains("deploy\\u{1b}[2J\\u{1b}]0;owned\\u{7}"),
                "{text}"
            );
            assert!(text.contains("\\u{202e}eve\\nforged\\trow"), "{text}");
            if !aligned {
                assert!(lines.iter().all(|l| l.matches('\t').count() == 2), "{text}");
            }
        }
        // Columns are aligned on what is shown, escapes included.
        let mut out = Vec::new();
        t.write(&mut out, true).expect("writes");
        let text = String::from_utf8(out).expect("utf8");
        let starts: Vec<usize> = text
            .lines()
            .map(|l| l.rfind(' ').map_or(0, |i| i + 1))
            .collect();
        assert!(starts.windows(2).all(|w| w[0] == w[1]), "{text}");
    }
}
