//! Locking and unlocking a datastore: `ClusterInformation/default spec.datastoreReady`, which
//! Calico's components read before they act.

use serde::Serialize;

use crate::error::Error;
use crate::kinds::{ApiChoice, CrdApiRequest};
use crate::session::Session;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Datastore {
    Etcd,
    Kubernetes,
}

impl Datastore {
    pub fn name(self) -> &'static str {
        match self {
            Datastore::Etcd => "etcd",
            Datastore::Kubernetes => "kubernetes",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LockReport {
    pub datastore: Datastore,
    pub locked: bool,
    pub changed: bool,
    /// `datastoreReady` before the command; null when it was unset or the object was missing.
    pub datastore_ready_before: Option<bool>,
    pub cluster_information_created: bool,
    /// Writes lost to concurrent changes of the object before ours went through.
    #[serde(skip)]
    pub conflicts: u32,
    /// The Kubernetes datastore's API group whose ClusterInformation was changed, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crd_api: Option<ApiChoice>,
}

/// Locks (`lock == true`) or unlocks a datastore. Idempotent. `crd_api` says which API group's
/// ClusterInformation the Kubernetes datastore's lock is (ignored for etcd).
pub async fn set_lock(
    session: &Session,
    datastore: Datastore,
    lock: bool,
    crd_api: CrdApiRequest,
) -> Result<LockReport, Error> {
    let ready = !lock;
    let mut choice = None;
    let (change, created) = match datastore {
        Datastore::Etcd => {
            let mut connected = session.etcd().await?;
            (connected.store.set_datastore_ready(ready).await?, false)
        }
        Datastore::Kubernetes => {
            let store = session.kdd().await?;
            let chosen = super::choose_api(session, &store, crd_api).await?;
            let store = store.with_api(chosen.api);
            choice = Some(chosen);
            if !lock && store.cluster_information().await?.is_none() {
                return Err(Error::failed(
                    "the Kubernetes datastore has no ClusterInformation/default: there is nothing to unlock",
                    "lock or import first; Calico creates it when it starts on the Kubernetes datastore",
                ));
            }
            store.set_datastore_ready(ready).await?
        }
    };
    Ok(LockReport {
        datastore,
        locked: lock,
        changed: change.changed,
        datastore_ready_before: change.before,
        cluster_information_created: created,
        conflicts: change.conflicts,
        crd_api: choice,
    })
}
