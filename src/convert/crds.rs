//! Calico's CRDs of every release from v3.26.0 on, embedded (upstream's manifests, see
//! `crds/README.md`): the `crd.projectcalico.org/v1` set of `crds/index.txt` and the native
//! `projectcalico.org/v3` set of `crds/v3/index.txt`. Pure data: which manifests a release
//! installs, and their schemas; `kdd::crds` installs them.

use std::sync::OnceLock;

use serde_json::Value;

use super::crd_files::FILES;
use super::gotypes::{in_ranges, parse_tag_ranges};
use super::schema::Schema;
use super::version::CalicoVersion;
use super::versions::Release;
use crate::kinds::{CalicoKind, CrdApi};
use go_compat::yaml as goyaml;

const INDEX: &str = include_str!("../../crds/index.txt");
const INDEX_V3: &str = include_str!("../../crds/v3/index.txt");

/// One manifest of an index: its kind, its text, and the releases (tag index ranges) that
/// install it.
struct Manifest {
    kind: &'static CalicoKind,
    text: &'static str,
    releases: Vec<(usize, usize)>,
}

/// `crds/index.txt` or `crds/v3/index.txt`.
struct Index {
    tags: Vec<CalicoVersion>,
    files: Vec<Manifest>,
}

fn index(api: CrdApi) -> &'static Index {
    static V1: OnceLock<Index> = OnceLock::new();
    static V3: OnceLock<Index> = OnceLock::new();
    match api {
        CrdApi::V1 => V1.get_or_init(|| parse_index(api, INDEX, "")),
        CrdApi::V3 => V3.get_or_init(|| parse_index(api, INDEX_V3, "v3/")),
    }
}

/// An index whose file names are relative to `folder` under `crds/`.
fn parse_index(api: CrdApi, text: &str, folder: &str) -> Index {
    let mut index = Index {
        tags: Vec::new(),
        files: Vec::new(),
    };
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words[..] {
            ["tags", ref tags @ ..] => {
                index.tags = tags
                    .iter()
                    .filter_map(|t| CalicoVersion::parse(t))
                    .collect();
            }
            [plural, file, releases] => {
                let path = format!("{folder}{file}");
                let text = FILES
                    .iter()
                    .find(|(embedded, _)| *embedded == path)
                    .map(|(_, text)| *text)
                    .expect("every indexed CRD file is embedded");
                let ranges = parse_tag_ranges(&index.tags, releases)
                    .expect("the CRD indexes name known tags");
                let kind = api
                    .kind_by_plural(plural)
                    .expect("every indexed CRD is a kind of the table");
                index.files.push(Manifest {
                    kind,
                    text,
                    releases: ranges,
                });
            }
            _ => {}
        }
    }
    index
}

/// (kind, manifest YAML) of every CRD of `api` the release installs, in plural order; none for
/// a release before the API existed (native v3 CRDs came with v3.32).
pub fn manifests(api: CrdApi, release: &Release) -> Vec<(&'static CalicoKind, &'static str)> {
    let index = index(api);
    let tag = index
        .tags
        .iter()
        .position(|t| *t == release.tag)
        .unwrap_or(index.tags.len() - 1);
    let mut out: Vec<(&'static CalicoKind, &'static str)> = index
        .files
        .iter()
        .filter(|manifest| in_ranges(&manifest.releases, tag))
        .map(|manifest| (manifest.kind, manifest.text))
        .collect();
    out.sort_by_key(|(kind, _)| api.plural(kind));
    out
}

/// A release's manifest of a kind's CRD as JSON.
pub fn manifest(api: CrdApi, release: &Release, kind: &CalicoKind) -> Option<Value> {
    let (_, text) = manifests(api, release)
        .into_iter()
        .find(|(k, _)| *k == kind)?;
    goyaml::from_yaml(text).ok()
}

/// The schema of a release's CRD of `api` (the version this tool writes), or None for a kind
/// the release has no CRD for. Building one parses the manifest: build each once.
pub fn embedded_schema(api: CrdApi, release: &Release, kind: &CalicoKind) -> Option<Schema> {
    Schema::from_crd(&manifest(api, release, kind)?, Some(api.version())).ok()
}

/// The schema of the newest release's CRD of `api` for a kind of the table's plural (tests check
/// the conversion's output against it).
pub fn newest_schema(api: CrdApi, plural: &str) -> Schema {
    let kind = CalicoKind::by_plural(plural).expect("a kind of the table");
    embedded_schema(api, &Release::of(None), kind).expect("the embedded CRDs have schemas")
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
        CustomResourceDefinition, JSONSchemaProps,
    };
    use serde::Deserialize;

    use super::*;

    /// A CRD read as k8s-openapi's typed `CustomResourceDefinition`, if it is one.
    fn typed(crd: &Value) -> Option<CustomResourceDefinition> {
        CustomResourceDefinition::deserialize(crd).ok()
    }

    /// The `openAPIV3Schema` of a CRD's version.
    fn schema_of(crd: &Value, version: &str) -> Option<JSONSchemaProps> {
        typed(crd)?
            .spec
            .versions
            .into_iter()
            .find(|v| v.name == version)?
            .schema?
            .open_api_v3_schema
    }

    #[test]
    fn scopes_and_names_match_the_vendored_crds() {
        let newest = Release::of(None);
        for api in CrdApi::ALL {
            for kind in CalicoKind::with_crd() {
                let crd = manifest(api, &newest, kind).unwrap();
                let namespaced = crd["spec"]["scope"] == "Namespaced";
                assert_eq!(namespaced, kind.namespaced, "{}", kind.kind);
                assert_eq!(crd["spec"]["names"]["kind"], api.kind_name(kind));
                assert_eq!(crd["spec"]["group"], api.group());
                assert_eq!(
                    crd["metadata"]["name"].as_str(),
                    api.crd_name(kind).as_deref()
                );
            }
        }
    }

    fn release(version: &str) -> Release {
        Release::of(CalicoVersion::parse(version))
    }

    #[test]
    fn every_release_has_its_own_crd_set() {
        let newest = release("v3.32.1");
        for api in CrdApi::ALL {
            for kind in CalicoKind::with_crd() {
                let crd = manifest(api, &newest, kind)
                    .unwrap_or_else(|| panic!("{} is embedded", kind.plural));
                assert_eq!(crd["spec"]["names"]["kind"], api.kind_name(kind));
                assert!(schema_of(&crd, api.version()).is_some(), "{}", kind.plural);
            }
            assert_eq!(
                manifests(api, &newest).len(),
                CalicoKind::with_crd().count()
            );
        }
        // v3.28 has no tiers and no staged policies; v3.29 adds tiers, v3.30 staged policies.
        let plurals = |v: &str| -> Vec<&str> {
            manifests(CrdApi::V1, &release(v))
                .iter()
                .map(|(k, _)| k.plural)
                .collect()
        };
        assert_eq!(plurals("v3.28.0").len(), 18);
        assert!(!plurals("v3.28.0").contains(&"tiers"));
        assert!(plurals("v3.29.0").contains(&"tiers"));
        assert!(plurals("v3.30.0").contains(&"stagednetworkpolicies"));
        // A release newer than the table gets the newest set.
        assert_eq!(
            manifests(CrdApi::V1, &release("v3.40.0")),
            manifests(CrdApi::V1, &newest)
        );
        // Native v3 CRDs exist from v3.32.0 on, with a v3.32.1 change to BGPConfiguration.
        assert!(manifests(CrdApi::V3, &release("v3.31.5")).is_empty());
        assert_eq!(manifests(CrdApi::V3, &release("v3.32.0")).len(), 22);
        let bgp = CalicoKind::by_kind("BGPConfiguration").unwrap();
        assert_ne!(
            manifest(CrdApi::V3, &release("v3.32.0"), bgp),
            manifest(CrdApi::V3, &newest, bgp)
        );
    }

    #[test]
    fn crd_defaults_differ_by_release() {
        let pool = serde_json::json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
            "metadata": {"name": "p"}, "spec": {"cidr": "10.0.0.0/16"}});
        let ippools = CalicoKind::by_kind("IPPool").unwrap();
        let defaulted = |v: &str| {
            embedded_schema(CrdApi::V1, &release(v), ippools)
                .unwrap()
                .apply(&pool)
                .object
        };
        assert!(defaulted("v3.28.0")["spec"].get("assignmentMode").is_none());
        assert_eq!(defaulted("v3.32.1")["spec"]["assignmentMode"], "Automatic");
    }

    #[test]
    fn every_embedded_crd_has_a_schema_of_its_version() {
        for (path, text) in FILES {
            let crd = goyaml::from_yaml(text).unwrap_or_else(|e| panic!("{path}: {e}"));
            let version = if path.starts_with("v3/") { "v3" } else { "v1" };
            let schema =
                Schema::from_crd(&crd, Some(version)).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert!(schema.pattern_errors().is_empty(), "{path}");
        }
        let nodes = CalicoKind::by_kind("Node").unwrap();
        assert!(embedded_schema(CrdApi::V1, &release("v3.32.1"), nodes).is_none());
    }

    #[test]
    fn every_cel_rule_of_the_embedded_crds_is_evaluated_here() {
        let mut rules = 0;
        for (path, text) in FILES {
            let crd = goyaml::from_yaml(text).unwrap();
            let version = if path.starts_with("v3/") { "v3" } else { "v1" };
            let schema = Schema::from_crd(&crd, Some(version)).unwrap();
            assert!(
                schema.unevaluated_rules().is_empty(),
                "{path}: {:?}",
                schema.unevaluated_rules()
            );
            rules += schema.rule_count();
        }
        assert!(rules > 30, "{rules} rules");
    }
}
