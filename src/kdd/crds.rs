//! Calico's `crd.projectcalico.org/v1` CRDs of every release from v3.26.0 on, embedded
//! (upstream's manifests, see `crds/README.md` and `crds/index.txt`), and their installation:
//! the target release's set, created when missing, kept when present, and waited for until the
//! API server reports them `Established`.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::crd_files::FILES;
use super::rest::{Rest, RestError};
use crate::convert::gotypes::{in_ranges, parse_tag_ranges};
use crate::convert::schema::Schema;
use crate::convert::version::CalicoVersion;
use crate::convert::versions::Release;
use crate::format::goyaml;
use crate::kinds::{CRD_VERSION, CalicoKind};

const INDEX: &str = include_str!("../../crds/index.txt");

const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

/// One manifest of `crds/index.txt`: its plural, its text, and the releases (tag index ranges)
/// that install it.
struct Manifest {
    plural: String,
    text: &'static str,
    releases: Vec<(usize, usize)>,
}

/// `crds/index.txt`.
struct Index {
    tags: Vec<CalicoVersion>,
    files: Vec<Manifest>,
}

fn index() -> &'static Index {
    static INDEX_CELL: OnceLock<Index> = OnceLock::new();
    INDEX_CELL.get_or_init(|| {
        let mut index = Index {
            tags: Vec::new(),
            files: Vec::new(),
        };
        for line in INDEX.lines().filter(|l| !l.starts_with('#')) {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words[..] {
                ["tags", ref tags @ ..] => {
                    index.tags = tags
                        .iter()
                        .filter_map(|t| CalicoVersion::parse(t))
                        .collect();
                }
                [plural, file, releases] => {
                    let text = FILES
                        .iter()
                        .find(|(path, _)| *path == file)
                        .map(|(_, text)| *text)
                        .expect("every indexed CRD file is embedded");
                    let ranges = parse_tag_ranges(&index.tags, releases)
                        .expect("crds/index.txt names known tags");
                    index.files.push(Manifest {
                        plural: plural.to_string(),
                        text,
                        releases: ranges,
                    });
                }
                _ => {}
            }
        }
        index
    })
}

/// (plural, manifest YAML) of every CRD the release installs, in plural order.
pub fn manifests(release: &Release) -> Vec<(&'static str, &'static str)> {
    let index = index();
    let tag = index
        .tags
        .iter()
        .position(|t| *t == release.tag)
        .unwrap_or(index.tags.len() - 1);
    let mut out: Vec<(&'static str, &'static str)> = index
        .files
        .iter()
        .filter(|manifest| in_ranges(&manifest.releases, tag))
        .filter_map(|manifest| {
            CalicoKind::by_plural(&manifest.plural).map(|kind| (kind.plural, manifest.text))
        })
        .collect();
    out.sort();
    out
}

/// A release's manifest of a CRD as JSON.
pub fn manifest(release: &Release, plural: &str) -> Option<Value> {
    let (_, text) = manifests(release).into_iter().find(|(p, _)| *p == plural)?;
    goyaml::from_yaml(text).ok()
}

/// The schema of a release's CRD `v1` version (what this tool installs), or None for a plural
/// the release has no CRD for. Building one parses the manifest: build each once.
pub fn embedded_schema(release: &Release, plural: &str) -> Option<Schema> {
    Schema::from_crd(&manifest(release, plural)?, Some(CRD_VERSION)).ok()
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

/// Creates the release's CRDs that are missing and waits until every one is Established.
/// `progress` is told about each CRD as it becomes ready.
pub async fn ensure(
    rest: &Rest,
    release: &Release,
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
    for (plural, text) in manifests(release) {
        let name = format!("{plural}.crd.projectcalico.org");
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
/// installed what is missing: the installed CRD's `v1` schema where the CRD exists (another
/// Calico's CRDs stay as they are), the target release's where it does not (that is what will
/// be installed). An installed CRD without a usable `v1` schema has no entry. Only reads.
pub async fn target_schemas(
    rest: &Rest,
    release: &Release,
) -> Result<HashMap<String, Schema>, CrdError> {
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
            None => embedded_schema(release, kind.plural),
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

    fn release(version: &str) -> Release {
        Release::of(CalicoVersion::parse(version))
    }

    #[test]
    fn every_release_has_its_own_crd_set() {
        let newest = release("v3.32.1");
        for kind in CalicoKind::with_crd() {
            let crd = manifest(&newest, kind.plural)
                .unwrap_or_else(|| panic!("{} is embedded", kind.plural));
            assert_eq!(crd["spec"]["names"]["kind"], kind.kind);
            assert!(schema_of(&crd, "v1").is_some(), "{}", kind.plural);
        }
        assert_eq!(manifests(&newest).len(), CalicoKind::with_crd().count());
        // v3.28 has no tiers and no staged policies; v3.29 adds tiers, v3.30 staged policies.
        let plurals =
            |v: &str| -> Vec<&str> { manifests(&release(v)).iter().map(|(p, _)| *p).collect() };
        assert_eq!(plurals("v3.28.0").len(), 18);
        assert!(!plurals("v3.28.0").contains(&"tiers"));
        assert!(plurals("v3.29.0").contains(&"tiers"));
        assert!(plurals("v3.30.0").contains(&"stagednetworkpolicies"));
        // A release newer than the table gets the newest set.
        assert_eq!(manifests(&release("v3.40.0")), manifests(&newest));
    }

    #[test]
    fn crd_defaults_differ_by_release() {
        let pool = serde_json::json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
            "metadata": {"name": "p"}, "spec": {"cidr": "10.0.0.0/16"}});
        let defaulted = |v: &str| {
            embedded_schema(&release(v), "ippools")
                .unwrap()
                .apply(&pool)
                .object
        };
        assert!(defaulted("v3.28.0")["spec"].get("assignmentMode").is_none());
        assert_eq!(defaulted("v3.32.1")["spec"]["assignmentMode"], "Automatic");
    }

    #[test]
    fn every_embedded_crd_has_a_v1_schema() {
        for (plural, text) in FILES {
            let crd = goyaml::from_yaml(text).unwrap_or_else(|e| panic!("{plural}: {e}"));
            let schema = Schema::from_crd(&crd, Some(CRD_VERSION))
                .unwrap_or_else(|e| panic!("{plural}: {e}"));
            assert!(schema.pattern_errors().is_empty(), "{plural}");
        }
        assert!(embedded_schema(&release("v3.32.1"), "nodes").is_none());
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
