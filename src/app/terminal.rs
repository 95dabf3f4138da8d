//! What the terminal on stdout allows: colour and width. Reading the environment and
//! asking the terminal is I/O, so it lives in the shell; renderers get the answers as values.

use std::io::IsTerminal;

/// How stdout wants its tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Terminal {
    /// Colour: stdout is a terminal, `NO_COLOR` is unset and `TERM` is not `dumb`.
    pub color: bool,
    /// Columns to fit tables to: `COLUMNS` when set to a positive number, else the
    /// terminal's width when stdout is one, else unknown.
    pub width: Option<u16>,
}

impl Terminal {
    /// Reads stdout's terminal and the environment.
    pub(crate) fn detect() -> Terminal {
        let tty = std::io::stdout().is_terminal();
        // comfy-table asks the terminal (through crossterm) only when stdout is one.
        let size = || comfy_table::Table::new().width();
        decide(
            tty,
            std::env::var_os("NO_COLOR").is_some(),
            std::env::var("TERM").ok().as_deref(),
            std::env::var("COLUMNS").ok().as_deref(),
            size,
        )
    }
}

/// The rule, apart from where its inputs come from.
fn decide(
    tty: bool,
    no_color: bool,
    term: Option<&str>,
    columns: Option<&str>,
    terminal_width: impl FnOnce() -> Option<u16>,
) -> Terminal {
    let from_env = columns
        .and_then(|c| c.trim().parse::<u16>().ok())
        .filter(|&c| c > 0);
    let width = from_env.or_else(|| {
        if tty {
            terminal_width().filter(|&w| w > 0)
        } else {
            None
        }
    });
    Terminal {
        color: tty && !no_color && term != Some("dumb"),
        width,
    }
}

/// Waits `d`, showing a countdown on stderr when it is a terminal (indicatif draws nothing
/// otherwise), so `--interval 5m` does not look hung. Never on stdout.
pub(super) async fn countdown(d: std::time::Duration, label: &'static str) {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let bar = ProgressBar::with_draw_target(Some(d.as_secs()), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{msg} {eta} [{wide_bar}]") {
        bar.set_style(style);
    }
    bar.set_message(label);
    let tick = std::time::Duration::from_secs(1);
    let deadline = tokio::time::Instant::now() + d;
    loop {
        let now = tokio::time::Instant::now();
        if now >= deadline {
            break;
        }
        tokio::time::sleep((deadline - now).min(tick)).await;
        bar.set_position(
            d.saturating_sub(deadline.saturating_duration_since(tokio::time::Instant::now()))
                .as_secs(),
        );
    }
    bar.finish_and_clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> Option<u16> {
        None
    }

    #[test]
    fn colour_needs_a_terminal_no_no_color_and_a_capable_term() {
        assert!(decide(true, false, Some("xterm-256color"), None, none).color);
        assert!(decide(true, false, None, None, none).color);
        assert!(!decide(false, false, Some("xterm"), None, none).color);
        assert!(!decide(true, true, Some("xterm"), None, none).color);
        assert!(!decide(true, false, Some("dumb"), None, none).color);
    }

    #[test]
    fn width_from_columns_then_the_terminal() {
        assert_eq!(decide(false, false, None, Some("72"), none).width, Some(72));
        assert_eq!(
            decide(true, false, None, Some("72"), || Some(200)).width,
            Some(72)
        );
        assert_eq!(
            decide(true, false, None, None, || Some(200)).width,
            Some(200)
        );
        assert_eq!(
            decide(true, false, None, Some("wide"), || Some(90)).width,
            Some(90)
        );
        assert_eq!(decide(true, false, None, Some("0"), || Some(0)).width, None);
        assert_eq!(decide(false, false, None, None, || Some(200)).width, None);
    }
}
