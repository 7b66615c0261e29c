//! `rollback`: backs a migration out while the Kubernetes datastore is still locked.

use std::io::IsTerminal;

use crate::cli::RollbackArgs;
use crate::commands::run::Terminal;
use crate::console::Console;
use crate::error::Error;
use crate::session::Session;
use crate::stages::rollback::rollback;

pub async fn run(session: &Session, console: &Console, args: &RollbackArgs) -> Result<(), Error> {
    if !args.yes && !std::io::stdin().is_terminal() {
        return Err(Error::failed(
            "this command asks for confirmation, and there is no terminal to ask on",
            "run it from a terminal, or pass --yes to confirm in advance",
        ));
    }
    let report = rollback(
        session,
        &args.options(),
        &Terminal {
            console,
            yes: args.yes,
        },
    )
    .await?;
    if let Some(stopped) = &report.progress.stopped {
        console.info(format!("Stopped: {stopped}."));
    } else if report.progress.completed {
        console.info(
            "Rolled back: Calico runs on etcd again, unlocked; the Kubernetes datastore holds no copied Calico data.",
        );
    }
    console.data(&report)?;
    Ok(())
}
