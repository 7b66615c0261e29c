//! Installing Calico's CRDs (the embedded manifests of `convert::crds`): the target release's
//! set of the chosen API, created when missing, kept when present, and waited for until the
//! API server reports them `Established`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinitionStatus;
use serde::Deserialize;
use serde_json::Value;

use super::rest::{Rest, RestError};

use crate::convert::schema::Schema;
use crate::convert::versions::Release;
use crate::kinds::{CalicoKind, CrdApi};
use go_compat::yaml as goyaml;

const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

pub use crate::convert::crds::{embedded_schema, manifest, manifests};

/// What the cluster has in place of Calico's CRDs.
#[derive(Debug, Default)]
pub struct Installed {
    /// CRDs this run created.
    pub created: Vec<String>,
    /// CRDs that were there already (kept as they are).
    pub existing: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    #[error("{doing}: {error}")]
    Request { doing: String, error: RestError },
    #[error("CRD {0} did not become Established within {1:?}")]
    NotEstablished(String, Duration),
}

/// Creates the release's CRDs of `api` that are missing and waits until every one is
/// Established. `progress` is told about each CRD as it becomes ready.
pub async fn ensure(
    rest: &Rest,
    api: CrdApi,
    release: &Release,
    wait: Duration,
    mut progress: impl FnMut(&str),
) -> Result<Installed, CrdError> {
    let request = |doing: &str| {
        let doing = doing.to_string();
        move |error| CrdError::Request { doing, error }
    };
    let mut existing_names = Vec::new();
    rest.list_all(CRDS, |crd| {
        if let Some(name) = crd.pointer("/metadata/name").and_then(Value::as_str) {
            existing_names.push(name.to_string());
        }
    })
    .await
    .map_err(request("listing CustomResourceDefinitions"))?;

    let mut installed = Installed::default();
    for (kind, text) in manifests(api, release) {
        let name = api
            .crd_name(kind)
            .expect("kinds with a manifest have a CRD");
        if existing_names.contains(&name) {
            installed.existing.push(name);
            continue;
        }
        let crd = goyaml::from_yaml(text).expect("embedded manifests parse");
        match rest.create(CRDS, &crd).await {
            Ok(_) => installed.created.push(name),
            // Created concurrently by someone else: keep theirs.
            Err(e) if e.is(409) => installed.existing.push(name),
            Err(e) => return Err(request(&format!("creating CRD {name}"))(e)),
        }
    }

    let deadline = Instant::now() + wait;
    for name in installed.created.iter().chain(&installed.existing) {
        loop {
            let crd = rest
                .get(&format!("{CRDS}/{name}"))
                .await
                .map_err(request(&format!("reading CRD {name}")))?;
            if crd.as_ref().is_some_and(is_established) {
                progress(name);
                break;
            }
            if Instant::now() > deadline {
                return Err(CrdError::NotEstablished(name.clone(), wait));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(installed)
}

/// The schema the API server will check each kind's objects against once the import has
/// installed what is missing, by the table's plural: the installed CRD's schema of the API's
/// version where the CRD exists (another Calico's CRDs stay as they are), the target release's
/// where it does not (that is what will be installed). An installed CRD without a usable
/// schema has no entry. Only reads.
pub async fn target_schemas(
    rest: &Rest,
    api: CrdApi,
    release: &Release,
) -> Result<HashMap<String, Schema>, CrdError> {
    let mut schemas = HashMap::new();
    for kind in CalicoKind::with_crd() {
        let name = api
            .crd_name(kind)
            .expect("kinds with a CRD have a CRD name");
        let crd = rest
            .get(&format!("{CRDS}/{name}"))
            .await
            .map_err(|error| CrdError::Request {
                doing: format!("reading CRD {name}"),
                error,
            })?;
        let schema = match crd {
            Some(crd) => Schema::from_crd(&crd, Some(api.version())).ok(),
            None => embedded_schema(api, release, kind),
        };
        if let Some(schema) = schema {
            schemas.insert(kind.plural.to_string(), schema);
        }
    }
    Ok(schemas)
}

/// Objects Calico creates by itself in every Kubernetes datastore (the default tiers), which
/// are not "extra" when the source lacks them.
pub fn is_builtin(kind: &CalicoKind, name: &str) -> bool {
    kind.kind == "Tier"
        && [
            "default",
            "kube-admin",
            "kube-baseline",
            "adminnetworkpolicy",
            "baselineadminnetworkpolicy",
        ]
        .contains(&name)
}

/// Whether the CRD's status says `Established: True` (only the status is decoded: it is
/// polled).
pub fn is_established(crd: &Value) -> bool {
    crd.get("status")
        .and_then(|status| CustomResourceDefinitionStatus::deserialize(status).ok())
        .and_then(|status| status.conditions)
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_tiers_are_not_extras() {
        let tier = CalicoKind::by_kind("Tier").unwrap();
        assert!(is_builtin(tier, "default"));
        assert!(!is_builtin(tier, "security"));
        assert!(!is_builtin(
            CalicoKind::by_kind("IPPool").unwrap(),
            "default"
        ));
    }

    #[test]
    fn established_condition() {
        let crd = serde_json::json!({"status": {"conditions": [
            {"type": "NamesAccepted", "status": "True"}, {"type": "Established", "status": "True"}]}});
        assert!(is_established(&crd));
        assert!(!is_established(
            &serde_json::json!({"status": {"conditions": [{"type": "Established", "status": "False"}]}})
        ));
        assert!(!is_established(&serde_json::json!({})));
    }
}
