//! Calico's `crd.projectcalico.org/v1` CRDs, embedded (upstream v3.32.1, see `crds/README.md`),
//! and their installation: created when missing, kept when present, and waited for until the
//! API server reports them `Established`.

use std::time::{Duration, Instant};

use serde_json::Value;

use std::collections::HashMap;

use super::rest::{Rest, RestError};
use crate::convert::schema::Schema;
use crate::format::goyaml;
use crate::kinds::{CRD_VERSION, CalicoKind};

macro_rules! manifests {
    ($($plural:literal),* $(,)?) => {
        /// (plural, manifest YAML) of every embedded CRD.
        pub static MANIFESTS: &[(&str, &str)] = &[
            $(($plural, include_str!(concat!("../../crds/crd.projectcalico.org_", $plural, ".yaml")))),*
        ];
    };
}

manifests!(
    "bgpconfigurations",
    "bgpfilters",
    "bgppeers",
    "blockaffinities",
    "caliconodestatuses",
    "clusterinformations",
    "felixconfigurations",
    "globalnetworkpolicies",
    "globalnetworksets",
    "hostendpoints",
    "ipamblocks",
    "ipamconfigs",
    "ipamhandles",
    "ippools",
    "ipreservations",
    "kubecontrollersconfigurations",
    "networkpolicies",
    "networksets",
    "stagedglobalnetworkpolicies",
    "stagedkubernetesnetworkpolicies",
    "stagednetworkpolicies",
    "tiers",
);

const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

/// The embedded manifest of a CRD as JSON.
pub fn manifest(plural: &str) -> Option<Value> {
    let (_, text) = MANIFESTS.iter().find(|(p, _)| *p == plural)?;
    goyaml::from_yaml(text).ok()
}

/// The schema of an embedded CRD's `v1` version (what this tool installs), or None for a
/// plural that has no embedded CRD. Building one parses the manifest: build each once.
pub fn embedded_schema(plural: &str) -> Option<Schema> {
    Schema::from_crd(&manifest(plural)?, Some(CRD_VERSION)).ok()
}

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
    #[error(
        "the cluster serves Calico's native projectcalico.org/v3 CRDs ({0}); importing into them is not supported yet"
    )]
    NativeV3(String),
    #[error("{doing}: {error}")]
    Request { doing: String, error: RestError },
    #[error("CRD {0} did not become Established within {1:?}")]
    NotEstablished(String, Duration),
}

/// Creates the missing CRDs and waits until every one is Established. `progress` is told about
/// each CRD as it becomes ready.
pub async fn ensure(
    rest: &Rest,
    wait: Duration,
    mut progress: impl FnMut(&str),
) -> Result<Installed, CrdError> {
    let request = |doing: &str| {
        let doing = doing.to_string();
        move |error| CrdError::Request { doing, error }
    };
    let mut existing_names = Vec::new();
    let mut native_v3 = Vec::new();
    rest.list_all(CRDS, |crd| {
        let name = crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        match crd.pointer("/spec/group").and_then(Value::as_str) {
            Some("projectcalico.org") => native_v3.push(name),
            _ => existing_names.push(name),
        }
    })
    .await
    .map_err(request("listing CustomResourceDefinitions"))?;
    if !native_v3.is_empty() {
        return Err(CrdError::NativeV3(native_v3.join(", ")));
    }

    let mut installed = Installed::default();
    for (plural, _) in MANIFESTS {
        let name = format!("{plural}.crd.projectcalico.org");
        if existing_names.contains(&name) {
            installed.existing.push(name);
            continue;
        }
        let crd = manifest(plural).expect("embedded manifests parse");
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
/// installed what is missing: the installed CRD's `v1` schema where the CRD exists (an older
/// Calico's CRDs stay as they are), the embedded one where it does not (that is what will be
/// installed). An installed CRD without a usable `v1` schema has no entry. Only reads.
pub async fn target_schemas(rest: &Rest) -> Result<HashMap<String, Schema>, CrdError> {
    let mut schemas = HashMap::new();
    for kind in CalicoKind::with_crd() {
        let name = kind.crd_name().expect("kinds with a CRD have a CRD name");
        let crd = rest
            .get(&format!("{CRDS}/{name}"))
            .await
            .map_err(|error| CrdError::Request {
                doing: format!("reading CRD {name}"),
                error,
            })?;
        let schema = match crd {
            Some(crd) => Schema::from_crd(&crd, Some(CRD_VERSION)).ok(),
            None => embedded_schema(kind.plural),
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

/// Whether the CRD's status says `Established: True`.
pub fn is_established(crd: &Value) -> bool {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c["type"] == "Established" && c["status"] == "True")
        })
}

/// The `openAPIV3Schema` of a CRD's version.
pub fn schema_of(crd: &Value, version: &str) -> Option<Value> {
    crd.pointer("/spec/versions")?
        .as_array()?
        .iter()
        .find(|v| v["name"] == version)?
        .pointer("/schema/openAPIV3Schema")
        .cloned()
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
    fn every_kind_with_a_crd_has_its_manifest_embedded() {
        for kind in CalicoKind::with_crd() {
            let crd =
                manifest(kind.plural).unwrap_or_else(|| panic!("{} is embedded", kind.plural));
            assert_eq!(crd["spec"]["names"]["kind"], kind.kind);
            assert!(schema_of(&crd, "v1").is_some(), "{}", kind.plural);
        }
        assert_eq!(MANIFESTS.len(), CalicoKind::with_crd().count());
    }

    #[test]
    fn every_embedded_crd_has_a_v1_schema() {
        for (plural, _) in MANIFESTS {
            let schema = embedded_schema(plural).unwrap_or_else(|| panic!("{plural}"));
            assert!(schema.pattern_errors().is_empty(), "{plural}");
        }
        assert!(embedded_schema("nodes").is_none());
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
