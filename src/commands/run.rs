//! `run`: the whole migration, with questions asked on the terminal and each step reported as
//! it ends.

use std::io::{BufRead, IsTerminal, Write};

use crate::cli::RunArgs;
use crate::console::Console;
use crate::error::Error;
use crate::session::Session;
use crate::stages::run::{Operator, RunReport, StepReport, run as migrate};

/// Asks on the terminal (unless `--yes` answered every question in advance) and reports steps
/// through the console.
pub struct Terminal<'a> {
    pub console: &'a Console,
    pub yes: bool,
}

impl Operator for Terminal<'_> {
    fn confirm(&self, question: &str) -> Result<bool, Error> {
        if self.yes {
            return Ok(true);
        }
        if !std::io::stdin().is_terminal() {
            return Err(no_terminal());
        }
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "{question} [y/N] ");
        let _ = stderr.flush();
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(Error::io("reading the answer"))?;
        Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES"))
    }

    fn step_done(&self, step: &StepReport) {
        self.console.info(format!(
            "[{}/{}] {}: {} ({:.1}s)",
            step.number, step.of, step.name, step.summary, step.seconds
        ));
    }
}

fn no_terminal() -> Error {
    Error::failed(
        "this command asks for confirmation, and there is no terminal to ask on",
        "run it from a terminal, or pass --yes to confirm in advance",
    )
}

pub async fn run(session: &Session, console: &Console, args: &RunArgs) -> Result<(), Error> {
    if !args.yes && !std::io::stdin().is_terminal() {
        return Err(no_terminal());
    }
    let report = migrate(
        session,
        &args.options()?,
        &Terminal {
            console,
            yes: args.yes,
        },
    )
    .await?;
    render(console, &report);
    console.data(&report)?;
    Ok(())
}

fn render(console: &Console, report: &RunReport) {
    if let Some(choice) = &report.progress.crd_api {
        console.info(format!(
            "The migration writes to {} ({}).",
            choice.api, choice.reason
        ));
    }
    if let Some(step) = report.progress.resumed_after {
        console.info(format!(
            "Resumed a migration after its step {step:?} (the journal is ConfigMap {}/{}).",
            report.progress.namespace,
            crate::journal::JOURNAL_NAME
        ));
    }
    if let Some(window) = &report.lock_window {
        console.info(format!(
            "Lock window: {:.1}s (etcd locked at {}, verified at {}).",
            window.seconds, window.locked_at, window.verified_at
        ));
    }
    if let Some(backup) = &report.backup {
        console.info(format!(
            "Backup of the locked etcd: {} (sha256 {}).",
            backup.path, backup.sha256
        ));
    }
    if let Some(stopped) = &report.progress.stopped {
        console.info(format!("Stopped: {stopped}."));
    }
    if let Some(next) = &report.next {
        console.info(format!("Next: {next}"));
    }
    if report.progress.completed {
        console.info(
            "The migration is complete: Calico runs on the Kubernetes datastore. Keep the backup; etcd stays locked and unused.",
        );
    }
}
