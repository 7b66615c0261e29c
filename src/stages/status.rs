//! Both datastores side by side: reachable or not and why, Calico version, lock state, CRDs,
//! and how many Calico objects each holds per kind.

use serde::Serialize;

use crate::convert::cluster_info::{LockState, calico_version};
use crate::error::Error;
use crate::etcd::settings::SettingReport;
use crate::kdd::KddStore;
use crate::kinds::{ApiChoice, CalicoKind, CrdApiRequest, KINDS, Role, ServedGroups};
use crate::session::Session;
use crate::stages::Reach;

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub kubernetes: KubernetesStatus,
    pub etcd: EtcdStatus,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesStatus {
    pub context: Option<String>,
    pub server: Option<String>,
    #[serde(flatten)]
    pub found: Found,
    /// The API group Calico would use now (and the migration by default), and why.
    pub crd_api: Option<ApiChoice>,
    pub calico_crds: Option<CrdReport>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrdReport {
    pub group_version: String,
    pub installed: usize,
    pub expected: usize,
    pub missing: Vec<&'static str>,
    /// Which of Calico's API groups the server lists.
    pub served_groups: ServedGroups,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EtcdStatus {
    pub settings: Vec<SettingReport>,
    #[serde(flatten)]
    pub found: Found,
    pub revision: Option<i64>,
}

/// What status reports alike of both datastores.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Found {
    #[serde(flatten)]
    pub reach: Reach,
    /// The Calico version its ClusterInformation names.
    pub calico_version: Option<String>,
    pub objects: Vec<KindCount>,
}

#[derive(Clone, Debug, Serialize)]
pub struct KindCount {
    pub kind: &'static str,
    pub count: u64,
}

/// Both datastores, each as far as it could be reached. Never fails: what could not be read is
/// in the report with why.
pub async fn status(session: &Session) -> StatusReport {
    let (kubernetes, etcd) = tokio::join!(kubernetes_status(session), etcd_status(session));
    StatusReport { kubernetes, etcd }
}

async fn kubernetes_status(session: &Session) -> KubernetesStatus {
    let mut status = KubernetesStatus::default();
    let store = match session.kube().await {
        Ok(target) => {
            status.context = Some(target.context.clone());
            status.server = Some(target.server.clone());
            KddStore::new(target)
        }
        Err(error) => {
            status.found.reach.failed(&error.into());
            return status;
        }
    };
    if let Err(error) = fill_kubernetes(session, &store, &mut status).await {
        status.found.reach.failed(&error);
    }
    status
}

async fn fill_kubernetes(
    session: &Session,
    store: &KddStore,
    status: &mut KubernetesStatus,
) -> Result<(), Error> {
    status.found.reach.answered(store.server_version().await?);
    let choice = crate::stages::choose_api(session, store, CrdApiRequest::Auto).await?;
    let api = choice.api;
    status.crd_api = Some(choice);
    let store = &KddStore::new(store.target().clone()).with_api(api);
    let crds = store.crd_state().await?;
    let expected = CalicoKind::with_crd().count();
    status.calico_crds = Some(CrdReport {
        group_version: api.api_version().into(),
        installed: expected - crds.missing().len(),
        expected,
        missing: crds.missing(),
        served_groups: crds.groups,
    });
    let cluster_kind = CalicoKind::by_kind("ClusterInformation").expect("in the table");
    if crds.serves(cluster_kind) {
        let info = store.cluster_information().await?;
        status.found.reach.lock = Some(LockState::of(info.as_ref().map(|o| &o.data)));
        status.found.calico_version = info
            .as_ref()
            .and_then(|o| calico_version(&o.data))
            .map(str::to_string);
    }
    for kind in KINDS {
        let count = match kind.role {
            Role::Node => store.count_calico_nodes().await?,
            _ if crds.serves(kind) => store.count(kind).await?,
            _ => continue,
        };
        status.found.objects.push(KindCount {
            kind: kind.kind,
            count,
        });
    }
    Ok(())
}

async fn etcd_status(session: &Session) -> EtcdStatus {
    let mut status = EtcdStatus::default();
    let settings = match session.etcd_settings().await {
        Ok(settings) => settings,
        Err(error) => {
            status.found.reach.failed(&error);
            return status;
        }
    };
    status.settings = settings.report();
    let mut connected = match crate::etcd::connect(settings, session.etcd_timeout()).await {
        Ok(connected) => connected,
        Err(error) => {
            status.found.reach.failed(&error.into());
            return status;
        }
    };
    status
        .found
        .reach
        .answered(connected.server_version.clone());
    let store = &mut connected.store;
    let result: Result<(), Error> = async {
        let revision = store.revision().await?;
        status.revision = Some(revision);
        let info = store.cluster_information().await?;
        status.found.reach.lock = Some(LockState::of(info.as_ref().map(|(v, _)| v)));
        status.found.calico_version = info
            .as_ref()
            .and_then(|(v, _)| calico_version(v))
            .map(str::to_string);
        for kind in KINDS {
            let prefix = kind.etcd_prefix();
            let count = store.count_prefix(&prefix, revision).await?;
            status.found.objects.push(KindCount {
                kind: kind.kind,
                count,
            });
        }
        Ok(())
    }
    .await;
    if let Err(error) = result {
        status.found.reach.failed(&error);
    }
    status
}
