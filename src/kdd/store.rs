//! The Kubernetes datastore: Calico's custom resources in the API group of a [`CrdApi`].

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, PostParams};
use serde_json::json;

use super::client::{KubeError, KubeTarget};
use crate::convert::cluster_info::{
    ReadyChange, datastore_ready, new_kdd_spec, with_datastore_ready,
};
use crate::kinds::{CalicoKind, CrdApi, ServedGroups};

const LOCK_ATTEMPTS: u32 = 5;
const CLUSTER_INFORMATION: &str = "ClusterInformation";

/// What the cluster serves of Calico's APIs.
#[derive(Clone, Debug, Default)]
pub struct CrdState {
    /// The API the plurals are of.
    pub api: CrdApi,
    /// Plurals served under the API's group/version.
    pub served: BTreeSet<String>,
    /// Which of Calico's API groups the server lists.
    pub groups: ServedGroups,
}

impl CrdState {
    pub fn serves(&self, kind: &CalicoKind) -> bool {
        self.served.contains(self.api.plural(kind))
    }

    /// The plurals (in the API) of kinds whose CRD is not served.
    pub fn missing(&self) -> Vec<&'static str> {
        CalicoKind::with_crd()
            .filter(|k| !self.serves(k))
            .map(|k| self.api.plural(k))
            .collect()
    }
}

pub struct KddStore {
    target: KubeTarget,
    api: CrdApi,
}

/// The API resource of a Calico kind in the Kubernetes datastore.
pub fn api_resource(api: CrdApi, kind: &CalicoKind) -> ApiResource {
    ApiResource {
        group: api.group().into(),
        version: api.version().into(),
        api_version: api.api_version().into(),
        kind: api.kind_name(kind).into(),
        plural: api.plural(kind).into(),
    }
}

fn cluster_information_kind() -> &'static CalicoKind {
    CalicoKind::by_kind(CLUSTER_INFORMATION).expect("ClusterInformation is in the kinds table")
}

impl KddStore {
    /// The store of `crd.projectcalico.org/v1` (what discovery needs before an API is chosen).
    pub fn new(target: KubeTarget) -> KddStore {
        KddStore {
            target,
            api: CrdApi::V1,
        }
    }

    /// The same cluster, working on `api`'s objects.
    pub fn with_api(self, api: CrdApi) -> KddStore {
        KddStore { api, ..self }
    }

    pub fn api(&self) -> CrdApi {
        self.api
    }

    pub fn target(&self) -> &KubeTarget {
        &self.target
    }

    fn error(&self, doing: impl Into<String>, error: kube::Error) -> KubeError {
        KubeError::from_kube(doing, &self.target.server, error)
    }

    /// The Kubernetes version (`/version`); the first contact with the server.
    pub async fn server_version(&self) -> Result<String, KubeError> {
        let info = self
            .target
            .client
            .apiserver_version()
            .await
            .map_err(|e| self.error("asking the API server for its version", e))?;
        Ok(info.git_version)
    }

    /// Which of Calico's API groups the server lists (`/apis`, as Calico's discovery reads it).
    pub async fn served_groups(&self) -> Result<ServedGroups, KubeError> {
        let groups = self
            .target
            .client
            .list_api_groups()
            .await
            .map_err(|e| self.error("listing the API groups (/apis)", e))?;
        let listed = |api: CrdApi| groups.groups.iter().any(|g| g.name == api.group());
        Ok(ServedGroups {
            v1: listed(CrdApi::V1),
            v3: listed(CrdApi::V3),
        })
    }

    /// The served groups, and which of Calico's CRDs the store's API serves.
    pub async fn crd_state(&self) -> Result<CrdState, KubeError> {
        let mut state = CrdState {
            api: self.api,
            groups: self.served_groups().await?,
            ..Default::default()
        };
        let served = match self.api {
            CrdApi::V1 => state.groups.v1,
            CrdApi::V3 => state.groups.v3,
        };
        if !served {
            return Ok(state);
        }
        let group_version = self.api.api_version();
        match self
            .target
            .client
            .list_api_group_resources(group_version)
            .await
        {
            Ok(list) => {
                state.served = list
                    .resources
                    .into_iter()
                    .filter(|r| !r.name.contains('/'))
                    .map(|r| r.name)
                    .collect();
            }
            // Not this version of the group, or an aggregated API server that does not answer.
            Err(kube::Error::Api(status)) if status.code == 404 || status.code == 503 => {}
            Err(e) => return Err(self.error(format!("discovering {group_version}"), e)),
        }
        Ok(state)
    }

    fn resource(&self, kind: &CalicoKind) -> Api<DynamicObject> {
        Api::all_with(self.target.client.clone(), &api_resource(self.api, kind))
    }

    /// A new ClusterInformation/default: in `crd.projectcalico.org/v1` with the metadata
    /// annotation Calico's v1 backend writes, in `projectcalico.org/v3` as the object itself.
    fn new_cluster_information(&self, spec: serde_json::Value) -> DynamicObject {
        let ar = api_resource(self.api, cluster_information_kind());
        let mut object = DynamicObject::new("default", &ar);
        if self.api == CrdApi::V1 {
            object.metadata.annotations = Some(
                [(
                    crate::convert::resources::METADATA_ANNOTATION.to_string(),
                    json!({"creationTimestamp": now_rfc3339()}).to_string(),
                )]
                .into(),
            );
        }
        object.data = json!({ "spec": spec });
        object
    }

    /// ClusterInformation/default as JSON, or None.
    pub async fn cluster_information(&self) -> Result<Option<DynamicObject>, KubeError> {
        self.resource(cluster_information_kind())
            .get_opt("default")
            .await
            .map_err(|e| self.error("reading ClusterInformation/default", e))
    }

    /// How many objects of a kind the datastore holds. Uses the server's `remainingItemCount`
    /// when it gives one, and pages through the list otherwise.
    pub async fn count(&self, kind: &CalicoKind) -> Result<u64, KubeError> {
        let api = self.resource(kind);
        let mut params = ListParams::default().limit(1);
        let mut total = 0;
        loop {
            let page = api
                .list(&params)
                .await
                .map_err(|e| self.error(format!("listing {}", kind.plural), e))?;
            total += page.items.len() as u64;
            if let Some(remaining) = page.metadata.remaining_item_count {
                return Ok(total + remaining.max(0) as u64);
            }
            match page.metadata.continue_ {
                Some(token) if !token.is_empty() => {
                    params = ListParams::default().limit(500).continue_token(&token)
                }
                _ => return Ok(total),
            }
        }
    }

    /// Kubernetes Nodes that carry Calico's annotations (Calico Nodes of the Kubernetes datastore).
    pub async fn count_calico_nodes(&self) -> Result<u64, KubeError> {
        let nodes: Api<Node> = Api::all(self.target.client.clone());
        let mut params = ListParams::default().limit(500);
        let mut total = 0;
        loop {
            let page = nodes
                .list(&params)
                .await
                .map_err(|e| self.error("listing nodes", e))?;
            total += page
                .items
                .iter()
                .filter(|n| {
                    n.metadata
                        .annotations
                        .as_ref()
                        .is_some_and(|a| a.keys().any(|k| k.starts_with("projectcalico.org/")))
                })
                .count() as u64;
            match page.metadata.continue_ {
                Some(token) if !token.is_empty() => params = params.continue_token(&token),
                _ => return Ok(total),
            }
        }
    }

    /// Creates ClusterInformation/default as Calico's EnsureInitialized does, if it is missing.
    /// Returns the object and whether it was created.
    pub async fn ensure_cluster_information(&self) -> Result<(DynamicObject, bool), KubeError> {
        if let Some(existing) = self.cluster_information().await? {
            return Ok((existing, false));
        }
        let object = self.new_cluster_information(new_kdd_spec(&new_cluster_guid(), true));
        match self
            .resource(cluster_information_kind())
            .create(&PostParams::default(), &object)
            .await
        {
            Ok(created) => Ok((created, true)),
            // Someone else created it in between: use theirs.
            Err(kube::Error::Api(status)) if status.code == 409 => {
                let existing =
                    self.cluster_information()
                        .await?
                        .ok_or_else(|| KubeError::Other {
                            doing: "reading ClusterInformation/default".into(),
                            detail: "it was created and deleted concurrently".into(),
                        })?;
                Ok((existing, false))
            }
            Err(e) => Err(self.error("creating ClusterInformation/default", e)),
        }
    }

    /// Sets `spec.datastoreReady`, creating the ClusterInformation first when it is missing.
    /// Optimistic concurrency: the update carries the resourceVersion that was read.
    pub async fn set_datastore_ready(&self, ready: bool) -> Result<(ReadyChange, bool), KubeError> {
        let state = self.crd_state().await?;
        if !state.serves(cluster_information_kind()) {
            return Err(KubeError::CrdsMissing);
        }
        let (mut current, created) = self.ensure_cluster_information().await?;
        let mut conflicts = 0;
        while conflicts < LOCK_ATTEMPTS {
            let before = datastore_ready(&current.data);
            if before == Some(ready) {
                return Ok((
                    ReadyChange {
                        before,
                        changed: false,
                        conflicts,
                    },
                    created,
                ));
            }
            let mut updated = current.clone();
            updated.data = with_datastore_ready(&current.data, ready);
            match self
                .resource(cluster_information_kind())
                .replace("default", &PostParams::default(), &updated)
                .await
            {
                Ok(_) => {
                    return Ok((
                        ReadyChange {
                            before,
                            changed: true,
                            conflicts,
                        },
                        created,
                    ));
                }
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    conflicts += 1;
                    current =
                        self.cluster_information()
                            .await?
                            .ok_or_else(|| KubeError::Other {
                                doing: "reading ClusterInformation/default".into(),
                                detail: "it was deleted while we were updating it".into(),
                            })?;
                }
                Err(e) => return Err(self.error("updating ClusterInformation/default", e)),
            }
        }
        Err(KubeError::Conflict {
            attempts: LOCK_ATTEMPTS,
        })
    }
}

/// What preparing the Kubernetes datastore for an import did.
#[derive(Clone, Debug, Default)]
pub struct ImportLock {
    pub created: bool,
    /// `datastoreReady` before: Some(false) when it was locked already.
    pub ready_before: Option<bool>,
}

impl KddStore {
    /// Locks the Kubernetes datastore for an import and copies the source's cluster GUID and Calico
    /// version (docs/design.md §10; `run` relies on it in its pre-copy and copy steps), creating
    /// the ClusterInformation when it is missing. Optimistic concurrency, retried on conflict.
    pub async fn lock_for_import(
        &self,
        guid: Option<&str>,
        version: Option<&str>,
    ) -> Result<ImportLock, KubeError> {
        let kind = cluster_information_kind();
        if self.cluster_information().await?.is_none() {
            let mut spec = new_kdd_spec(
                &guid.map(str::to_string).unwrap_or_else(new_cluster_guid),
                false,
            );
            spec["calicoVersion"] = json!(version.unwrap_or_default());
            let object = self.new_cluster_information(spec);
            match self
                .resource(kind)
                .create(&PostParams::default(), &object)
                .await
            {
                Ok(_) => {
                    return Ok(ImportLock {
                        created: true,
                        ready_before: None,
                    });
                }
                Err(kube::Error::Api(status)) if status.code == 409 => {}
                Err(e) => return Err(self.error("creating ClusterInformation/default", e)),
            }
        }
        for _ in 0..LOCK_ATTEMPTS {
            let current = self
                .cluster_information()
                .await?
                .ok_or_else(|| KubeError::Other {
                    doing: "reading ClusterInformation/default".into(),
                    detail: "it was deleted while the import was preparing".into(),
                })?;
            let ready_before = datastore_ready(&current.data);
            let mut updated = current.clone();
            updated.data = with_datastore_ready(&current.data, false);
            if let Some(spec) = updated.data.get_mut("spec").and_then(|s| s.as_object_mut()) {
                if let Some(guid) = guid {
                    spec.insert("clusterGUID".into(), json!(guid));
                }
                if let Some(version) = version {
                    spec.insert("calicoVersion".into(), json!(version));
                }
            }
            if updated.data == current.data {
                return Ok(ImportLock {
                    created: false,
                    ready_before,
                });
            }
            match self
                .resource(kind)
                .replace("default", &PostParams::default(), &updated)
                .await
            {
                Ok(_) => {
                    return Ok(ImportLock {
                        created: false,
                        ready_before,
                    });
                }
                Err(kube::Error::Api(status)) if status.code == 409 => continue,
                Err(e) => return Err(self.error("updating ClusterInformation/default", e)),
            }
        }
        Err(KubeError::Conflict {
            attempts: LOCK_ATTEMPTS,
        })
    }
}

/// 32 hex characters from 16 random bytes, as Calico formats a new cluster GUID.
fn new_cluster_guid() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the system random number generator works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The current time as Kubernetes writes timestamps (seconds, UTC).
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or(jiff::Timestamp::now())
        .to_string()
}
