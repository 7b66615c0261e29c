//! The one owner of console output.
//!
//! Data (`-o json|yaml` reports, the export file without `-f`, result lines such as
//! `Datastore locked.`) goes to stdout and stays clean. Everything for humans — progress bars,
//! informational messages, warnings, errors — goes to stderr. Quiet mode hides information and
//! progress; `-v` adds detail and, because detail lines would tear bars apart, hides bars too.

use std::fmt::Display;
use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

/// How reports are printed on stdout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
    Yaml,
}

pub struct Console {
    quiet: bool,
    verbosity: u8,
    format: OutputFormat,
    color: bool,
    progress: Progress,
}

impl Console {
    pub fn new(quiet: bool, verbosity: u8, format: OutputFormat) -> Console {
        let stderr_tty = io::stderr().is_terminal();
        let show_bars = stderr_tty && !quiet && verbosity == 0;
        Console {
            quiet,
            verbosity,
            format,
            color: stderr_tty && std::env::var_os("NO_COLOR").is_none(),
            progress: Progress::new(show_bars, verbosity),
        }
    }

    /// The progress display stages draw on.
    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    pub fn format(&self) -> OutputFormat {
        self.format
    }

    pub fn verbosity(&self) -> u8 {
        self.verbosity
    }

    /// A result line on stdout, as calicoctl prints it (`Datastore locked.`). With `-o json|yaml`
    /// the command's data replaces it.
    pub fn result(&self, line: impl Display) -> io::Result<()> {
        if self.format == OutputFormat::Text {
            self.stdout(&format!("{line}\n"))?;
        }
        Ok(())
    }

    /// A command's human-readable report: on stdout in text mode (with `-o json|yaml` the
    /// command prints its data instead). Write errors are the caller's next write's problem.
    pub fn report(&self, text: &str) {
        if self.format == OutputFormat::Text {
            let mut text = text.to_string();
            if !text.ends_with('\n') {
                text.push('\n');
            }
            let _ = self.stdout(&text);
        }
    }

    /// Text for stdout, written as it is.
    pub fn stdout(&self, text: &str) -> io::Result<()> {
        let mut out = io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()
    }

    /// A machine-readable report on stdout in the chosen format. Text callers render their own.
    pub fn data<T: Serialize>(&self, value: &T) -> io::Result<()> {
        let text = match self.format {
            OutputFormat::Json => {
                let mut text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
                text.push('\n');
                text
            }
            OutputFormat::Yaml => {
                let mut text = serde_saphyr::to_string(value).map_err(io::Error::other)?;
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                text
            }
            OutputFormat::Text => return Ok(()),
        };
        self.stdout(&text)
    }

    /// Progress information for humans; hidden by `-q`.
    pub fn info(&self, message: impl Display) {
        if !self.quiet {
            self.stderr_line(&message.to_string());
        }
    }

    /// Always shown, even with `-q`.
    pub fn warn(&self, message: impl Display) {
        let label = self.paint("warning:", "33;1");
        self.stderr_line(&format!("{label} {message}"));
    }

    /// Detail shown with `-v` (level 1) or `-vv` (level 2).
    pub fn detail(&self, level: u8, message: impl Display) {
        if self.verbosity >= level {
            self.stderr_line(&message.to_string());
        }
    }

    /// Reports a failure: the error, each cause, and what to do next.
    pub fn error(&self, message: &str, causes: &[String], hint: Option<&str>) {
        let mut text = format!("{} {message}", self.paint("error:", "31;1"));
        for cause in causes {
            text.push_str(&format!("\n  caused by: {cause}"));
        }
        if let Some(hint) = hint {
            text.push_str(&format!("\n{} {hint}", self.paint("hint:", "36;1")));
        }
        self.stderr_line(&text);
    }

    fn stderr_line(&self, line: &str) {
        self.progress.line(line);
    }

    fn paint(&self, text: &str, code: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// What long stages draw while they work: numbered steps, bars where the total is known and
/// spinners where it is not, all on stderr. Hidden when stderr is not a terminal, with `-q`, and
/// with `-v` (whose detail lines would tear bars apart). Stages get this and nothing else to show
/// things with; what they did comes back in their report, which the console renders.
#[derive(Clone)]
pub struct Progress {
    bars: MultiProgress,
    verbosity: u8,
    /// Every bar and spinner made, drawn or not: what they counted says what a command that
    /// was stopped had done.
    made: Arc<Mutex<Vec<ProgressBar>>>,
}

impl Progress {
    pub fn new(visible: bool, verbosity: u8) -> Progress {
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Progress {
            bars: MultiProgress::with_draw_target(target),
            verbosity,
            made: Arc::default(),
        }
    }

    fn add(&self, bar: ProgressBar) -> ProgressBar {
        let bar = self.bars.add(bar);
        self.made
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(bar.clone());
        bar
    }

    /// What the bars and spinners counted, in the order they were made: `IPPool 3/3` (or
    /// `IPPool 3` where the total was not known), for those that counted anything.
    pub fn counted(&self) -> Vec<String> {
        self.made
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|bar| bar.position() > 0)
            .map(|bar| match bar.length() {
                Some(total) => format!("{} {}/{total}", bar.prefix(), bar.position()),
                None => format!("{} {}", bar.prefix(), bar.position()),
            })
            .collect()
    }

    /// Draws nothing: for stages run inside others whose progress is shown another way.
    pub fn hidden() -> Progress {
        Progress::new(false, 0)
    }

    /// A bar with a known total: `label [####    ] 12/40 30/s ETA 1s`.
    pub fn bar(&self, label: &str, total: u64) -> ProgressBar {
        let style = ProgressStyle::with_template(
            "{prefix:>28.bold} [{bar:30}] {pos}/{len} {rate} ETA {eta} {msg}",
        )
        .expect("valid progress template")
        .with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}/s", state.per_sec());
            },
        )
        .progress_chars("=> ");
        let bar = self.add(ProgressBar::new(total).with_style(style));
        bar.set_prefix(label.to_string());
        bar
    }

    /// A spinner for work whose size is not known in advance.
    pub fn spinner(&self, label: &str) -> ProgressBar {
        let style = ProgressStyle::with_template("{prefix:>28.bold} {spinner} {pos} {msg}")
            .expect("valid spinner template");
        let bar = self.add(ProgressBar::new_spinner().with_style(style));
        bar.set_prefix(label.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    /// The heading of step `number` of `total`: a spinner `[4/9] Importing` that the caller
    /// finishes with what the step did.
    pub fn step(&self, number: usize, total: usize, title: &str) -> ProgressBar {
        let style = ProgressStyle::with_template("{prefix:.bold} {spinner} {msg} {elapsed}")
            .expect("valid step template");
        let bar = self.add(ProgressBar::new_spinner().with_style(style));
        bar.set_prefix(format!("[{number}/{total}]"));
        bar.set_message(title.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    /// Diagnostics shown with `-v` (level 1) or `-vv` (level 2) as they happen.
    pub fn detail(&self, level: u8, message: impl Display) {
        if self.verbosity >= level {
            self.line(&message.to_string());
        }
    }

    /// A line on stderr that leaves live bars intact (when bars are hidden `suspend` just runs
    /// the closure).
    fn line(&self, line: &str) {
        self.bars.suspend(|| {
            let _ = writeln!(io::stderr().lock(), "{line}");
        });
    }
}

/// A word as a POSIX shell reads it back: as it is when it is plain, else single-quoted. For
/// the commands messages tell people to run.
pub fn shell_word(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@,".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_bars_still_say_what_they_counted() {
        let progress = Progress::hidden();
        let bar = progress.bar("IPPool", 3);
        bar.inc(3);
        bar.finish();
        progress.bar("BGPPeer", 2);
        let spinner = progress.spinner("NetworkPolicy");
        spinner.inc(7);
        progress.bar("Tier", 5).inc(2);
        assert_eq!(
            progress.counted(),
            ["IPPool 3/3", "NetworkPolicy 7", "Tier 2/5"]
        );
    }
}
