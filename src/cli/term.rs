//! What the output goes to: whether to colour it and how wide it may be.
//!
//! Colour: `--color always|never` decides; otherwise (auto) only when
//! standard output is a terminal, `NO_COLOR` is unset or empty and `TERM`
//! is not `dumb` (<https://no-color.org>: a command-line flag overrides
//! `NO_COLOR`). Width: `COLUMNS` when set (as `ls` reads it; tests use
//! it), else the terminal's, else none (a pipe gets every value in full).

use std::io::IsTerminal;

use super::args::ColorChoice;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Term {
    pub color: bool,
    /// Columns available; `None`: unlimited.
    pub width: Option<usize>,
}

pub fn detect(choice: ColorChoice) -> Term {
    let stdout = std::io::stdout();
    let tty = stdout.is_terminal();
    let color = match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
        }
    };
    let columns = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|c| *c > 0);
    let width = columns.or_else(|| {
        if !tty {
            return None;
        }
        rustix::termios::tcgetwinsize(&stdout)
            .ok()
            .map(|w| usize::from(w.ws_col))
            .filter(|c| *c > 0)
    });
    Term { color, width }
}

/// SGR colours used for rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paint {
    Plain,
    Bold,
    Red,
    Yellow,
}

/// `text` in `paint` when colour is on.
pub fn paint(text: &str, paint: Paint, color: bool) -> String {
    let code = match paint {
        Paint::Plain => return text.to_owned(),
        Paint::Bold => "1",
        Paint::Red => "31",
        Paint::Yellow => "33",
    };
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}
