//! `lock` and `unlock`: set `ClusterInformation/default spec.datastoreReady` (spec section 6).

use serde::Serialize;

use crate::app::App;
use crate::cli::Datastore;
use crate::error::Error;
use crate::etcd::store::ReadyChange;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LockReport {
    datastore: &'static str,
    locked: bool,
    changed: bool,
    /// `datastoreReady` before the command; null when it was unset or the object was missing.
    datastore_ready_before: Option<bool>,
    cluster_information_created: bool,
}

pub async fn run(app: &App<'_>, datastore: Datastore, lock: bool) -> Result<(), Error> {
    let ready = !lock;
    let (name, change, created) = match datastore {
        Datastore::Etcd => {
            let mut connected = app.etcd().await?;
            let change = connected.store.set_datastore_ready(ready).await?;
            ("etcd", change, false)
        }
        Datastore::Kubernetes => {
            let store = app.kdd().await?;
            if !lock && store.cluster_information().await?.is_none() {
                return Err(Error::failed(
                    "the Kubernetes datastore has no ClusterInformation/default: there is nothing to unlock",
                    "lock or import first; Calico creates it when it starts on the Kubernetes datastore",
                ));
            }
            let (change, created) = store.set_datastore_ready(ready).await?;
            ("kubernetes", change, created)
        }
    };
    explain(app, name, lock, &change, created);
    app.console.result(if lock {
        "Datastore locked."
    } else {
        "Datastore unlocked."
    })?;
    app.console.data(&LockReport {
        datastore: name,
        locked: lock,
        changed: change.changed,
        datastore_ready_before: change.before,
        cluster_information_created: created,
    })?;
    Ok(())
}

fn explain(app: &App<'_>, datastore: &str, lock: bool, change: &ReadyChange, created: bool) {
    let console = app.console;
    if created {
        console.info("Created ClusterInformation/default in the Kubernetes datastore.");
    }
    if change.conflicts > 0 {
        console.detail(1, format!("{} concurrent change(s) of ClusterInformation/default; retried on the latest version", change.conflicts));
    }
    if !change.changed {
        console.info(format!(
            "The {datastore} datastore was already {}.",
            if lock { "locked" } else { "unlocked" }
        ));
    } else if lock && datastore == "etcd" {
        console.info(
            "Calico on etcd stops processing changes now: new pods get no networking until the migration ends. \
             To back out: kubectl calico-migrate unlock --datastore etcd",
        );
    }
}
