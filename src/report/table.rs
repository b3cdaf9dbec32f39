//! Tables: aligned columns for people, tab-separated values for pipes.

use std::io::{self, Write};

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
    /// Cells are sanitised: a tab or newline inside user data cannot break the layout.
    pub fn write(&self, out: &mut impl Write, aligned: bool) -> io::Result<()> {
        let clean = |cell: &str| cell.replace(['\t', '\n', '\r'], " ");
        if !aligned {
            for row in &self.rows {
                let cells: Vec<String> = row.iter().map(|c| clean(c)).collect();
                writeln!(out, "{}", cells.join("\t"))?;
            }
            return Ok(());
        }
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(clean(cell).chars().count());
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
        for row in &self.rows {
            line(row.iter().map(|c| clean(c)).collect(), out)?;
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
        assert_eq!(render(true), "ID   NAME\n1    short\n100  tab here\n");
    }

    #[test]
    fn tab_separated_when_piped() {
        assert_eq!(render(false), "1\tshort\n100\ttab here\n");
    }
}
