//! Text from elsewhere (a server's answer, an input file, the environment) made inert before it
//! reaches a terminal.
//!
//! Anyone who can store a run can choose its workflow name; printed raw, `\e[2J` would clear
//! the reader's screen, `\e]0;…\a` retitle the window, an OSC 8 sequence hide a link behind
//! innocent text, and U+202E reverse what follows. So every character a terminal acts on
//! instead of showing is written out visibly, in Rust's escape notation: `\u{1b}` for ESC,
//! `\u{7}` for BEL, `\u{9b}` for a C1 CSI, `\u{202e}` for a bidirectional override; and, where
//! the text must stay on one line, `\n`, `\r` and `\t`. The rest of an escape sequence is then
//! harmless printable text. A backslash itself is left alone: the point is safety, not a
//! reversible encoding (`-o json` carries the exact value).
//!
//! [`super::Printer`] applies [`text`] to everything it prints and [`super::Table`] applies
//! [`cell`] to every cell, so commands need not remember to; commands use [`cell`] themselves
//! where a foreign value sits inside a sentence or after a label and must not break the line.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Multi-line text (notes, warnings, errors, a request body): newlines and tabs are kept,
/// every other control or bidirectional character is escaped.
pub fn text(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// One line (a table cell, a value after a label): newlines, carriage returns and tabs are
/// escaped too, so a value cannot start a line or a column of its own.
pub fn cell(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

fn escape(s: &str, one_line: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| needs_escape(c) && (one_line || (c != '\n' && c != '\t'));
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if !unsafe_char(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
    Cow::Owned(out)
}

/// Characters a terminal acts on, or that change how the text around them is shown.
fn needs_escape(c: char) -> bool {
    matches!(c,
        // C0 controls (ESC, BEL, BS, CR, …), DEL, C1 controls (CSI U+009B, OSC U+009D, …).
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        // Bidirectional marks, embeddings, overrides and isolates.
        | '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        // Line and paragraph separators: a new line to some terminals and viewers.
        | '\u{2028}' | '\u{2029}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        for s in [
            "deploy",
            "café ✓ 日本",
            "C:\\path",
            "emoji 👩‍💻 with a joiner",
            "",
        ] {
            assert!(matches!(text(s), Cow::Borrowed(b) if b == s), "{s}");
            assert!(matches!(cell(s), Cow::Borrowed(b) if b == s), "{s}");
        }
        assert_eq!(text("two\nlines\tand a tab"), "two\nlines\tand a tab");
    }

    #[test]
    fn escape_sequences_become_visible() {
        assert_eq!(
            text("deploy\u{1b}[2J\u{1b}]0;owned\u{7}"),
            "deploy\\u{1b}[2J\\u{1b}]0;owned\\u{7}"
        );
        assert_eq!(
            cell("\u{1b}]8;;https://evil.example/\u{1b}\\click\u{1b}]8;;\u{1b}\\"),
            "\\u{1b}]8;;https://evil.example/\\u{1b}\\click\\u{1b}]8;;\\u{1b}\\"
        );
        assert_eq!(
            text("\u{9b}31mred\u{9d}0;t\u{9c}"),
            "\\u{9b}31mred\\u{9d}0;t\\u{9c}"
        );
        assert_eq!(text("a\u{7f}b\u{0}c\rd\u{8}"), "a\\u{7f}b\\u{0}c\\rd\\u{8}");
    }

    #[test]
    fn bidirectional_controls_are_escaped() {
        assert_eq!(text("abc\u{202e}fed"), "abc\\u{202e}fed");
        for c in [
            '\u{61c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}',
            '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{2028}', '\u{2029}',
        ] {
            let shown = text(&c.to_string()).into_owned();
            assert_eq!(shown, format!("\\u{{{:x}}}", u32::from(c)));
        }
    }

    #[test]
    fn cells_stay_on_one_line() {
        assert_eq!(cell("a\nb\tc\r\nd"), "a\\nb\\tc\\r\\nd");
        assert_eq!(text("a\nb\tc\r\nd"), "a\nb\tc\\r\nd");
    }

    #[test]
    fn escaping_twice_changes_nothing_more() {
        let once = cell("x\u{1b}[1m\n\u{202e}").into_owned();
        assert_eq!(cell(&once), once);
        assert_eq!(text(&once), once);
    }

    #[test]
    fn nothing_a_terminal_acts_on_survives() {
        // Every char up to U+3000, one at a time and in company.
        for code in 0..0x3000u32 {
            let Some(c) = char::from_u32(code) else {
                continue;
            };
            let input = format!("a{c}b");
            let out = cell(&input);
            assert!(
                out.chars().all(|o| !needs_escape(o)),
                "U+{code:04X} came through: {out:?}"
            );
        }
    }
}
