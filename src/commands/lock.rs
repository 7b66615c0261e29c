//! `lock` and `unlock`: prints calicoctl's result line (`Datastore locked.`) and what happened.

use crate::cli::LockArgs;
use crate::console::Console;
use crate::error::Error;
use crate::session::Session;
use crate::stages::lock::{Datastore, LockReport, set_lock};

pub async fn run(
    session: &Session,
    console: &Console,
    args: &LockArgs,
    lock: bool,
) -> Result<(), Error> {
    let report = set_lock(session, args.datastore.into(), lock, args.crd_api.request()).await?;
    explain(session, console, &report);
    console.result(if lock {
        "Datastore locked."
    } else {
        "Datastore unlocked."
    })?;
    console.data(&report)?;
    Ok(())
}

/// The lines for people around the result line.
fn explain(session: &Session, console: &Console, report: &LockReport) {
    if let Some(choice) = &report.crd_api {
        console.detail(
            1,
            format!("Kubernetes datastore: {} ({})", choice.api, choice.reason),
        );
    }
    if report.cluster_information_created {
        console.info("Created ClusterInformation/default in the Kubernetes datastore.");
    }
    if report.conflicts > 0 {
        console.detail(
            1,
            format!(
                "{} concurrent change(s) of ClusterInformation/default; retried on the latest version",
                report.conflicts
            ),
        );
    }
    if !report.changed {
        console.info(format!(
            "The {} datastore was already {}.",
            report.datastore.name(),
            if report.locked { "locked" } else { "unlocked" }
        ));
    } else if report.locked && report.datastore == Datastore::Etcd {
        console.info(format!(
            "Calico on etcd stops processing changes now: new pods get no networking until the migration ends. \
             To back out: {}",
            session.command("unlock --datastore etcd")
        ));
    }
}
