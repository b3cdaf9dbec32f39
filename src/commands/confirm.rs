//! Asking before a destructive command: only on a terminal, never without an answer.

use std::io::{BufRead, IsTerminal, Write};

/// Whether a question can be asked: stdin and stderr (where it is shown) are terminals.
pub fn can_ask() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks on stderr, reads the answer from stdin.
pub fn confirm(question: &str) -> anyhow::Result<bool> {
    Ok(ask(
        question,
        &mut std::io::stdin().lock(),
        &mut std::io::stderr(),
    )?)
}

/// Asks a yes/no question on `out` and reads the answer from `input`: only `y` or `yes` (any
/// case) is a yes; anything else, an empty line or the end of input is a no.
fn ask(question: &str, input: &mut impl BufRead, out: &mut impl Write) -> std::io::Result<bool> {
    write!(out, "{question} [y/N] ")?;
    out.flush()?;
    let mut answer = String::new();
    if input.read_line(&mut answer)? == 0 {
        // End of input: say so on its own line, and do nothing.
        writeln!(out)?;
        return Ok(false);
    }
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

#[cfg(test)]
mod tests {
    use super::ask;

    fn answer(typed: &str) -> (bool, String) {
        let mut out = Vec::new();
        let yes = ask("Delete them?", &mut typed.as_bytes(), &mut out).expect("in memory");
        (yes, String::from_utf8(out).expect("utf-8"))
    }

    #[test]
    fn only_yes_is_yes() {
        for typed in ["y\n", "Y\n", "yes\n", " YES \n", "y"] {
            assert!(answer(typed).0, "{typed:?}");
        }
        for typed in ["\n", "n\n", "no\n", "yess\n", "sure\n", ""] {
            assert!(!answer(typed).0, "{typed:?}");
        }
        assert_eq!(answer("y\n").1, "Delete them? [y/N] ");
        assert_eq!(answer("").1, "Delete them? [y/N] \n");
    }
}
