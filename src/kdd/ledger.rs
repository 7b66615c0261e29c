//! What a copy found equal to its file in the Kubernetes datastore, or made equal, object by
//! object: the resourceVersion at which each object was compared (or answered by the server
//! after a write) equal to the file. Kubernetes gives an object a new resourceVersion on every
//! change, so listing the target again and finding the same resourceVersions proves the target
//! still equals the file, without reading and converting the file a second time. `run`
//! verifies its copy this way under the lock (docs/design.md §16.3); anything the
//! ledger cannot vouch for sends it back to the full comparison.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::rest::{Rest, RestError};
use super::target::managed_by_migration;
use crate::kinds::{CalicoKind, CrdApi, Role};

/// What the copy saw of one object.
#[derive(Clone, Debug, PartialEq)]
pub enum Seen {
    /// Equal to the file at this resourceVersion.
    At(String),
    /// Deleted: the migration wrote it earlier and the file no longer has it.
    Gone,
    /// A Kubernetes Node's Calico annotations: the values it must have and the keys it must
    /// not (the kubelet changes Nodes all the time, so their resourceVersion proves nothing).
    Node {
        set: BTreeMap<String, String>,
        remove: Vec<String>,
    },
}

/// Per kind, what the copy saw of every object of the file.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    kinds: BTreeMap<&'static str, (&'static CalicoKind, HashMap<String, Seen>)>,
}

/// One object the ledger cannot vouch for.
#[derive(Clone, Debug, PartialEq)]
pub struct Unproven {
    pub name: String,
    pub why: String,
    pub class: Class,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Changed since the copy compared it.
    Different,
    /// The file has it; the target no longer does.
    Missing,
    /// The migration wrote it, the file does not have it, and it is still there.
    OnlyInTarget,
}

/// The check of one kind against the ledger.
#[derive(Clone, Debug, Default)]
pub struct KindProof {
    pub kind: &'static str,
    /// Objects of the file (deleted ones left out).
    pub source: u64,
    /// Objects listed as the copy left them.
    pub matching: u64,
    pub unproven: Vec<Unproven>,
    /// Objects the migration never wrote (someone else's; left alone).
    pub foreign: Vec<String>,
}

impl Ledger {
    pub fn note(&mut self, kind: &'static CalicoKind, name: String, seen: Seen) {
        self.kinds
            .entry(kind.kind)
            .or_insert_with(|| (kind, HashMap::new()))
            .1
            .insert(name, seen);
    }

    /// Objects noted (deleted ones included).
    pub fn len(&self) -> usize {
        self.kinds.values().map(|(_, seen)| seen.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lists every kind of the ledger in `api` again and compares with what the copy saw.
    pub async fn check(&self, rest: &Rest, api: CrdApi) -> Result<Vec<KindProof>, RestError> {
        let mut proofs = Vec::new();
        for (kind, seen) in self.kinds.values() {
            proofs.push(check_kind(rest, api, kind, seen).await?);
        }
        Ok(proofs)
    }
}

async fn check_kind(
    rest: &Rest,
    api: CrdApi,
    kind: &'static CalicoKind,
    seen: &HashMap<String, Seen>,
) -> Result<KindProof, RestError> {
    let is_node = kind.role == Role::Node;
    let path = match kind.role {
        Role::Node => "/api/v1/nodes".to_string(),
        _ => api.collection_path(kind, None),
    };
    let mut proof = KindProof {
        kind: kind.kind,
        source: seen.values().filter(|s| **s != Seen::Gone).count() as u64,
        ..Default::default()
    };
    let mut listed = HashSet::new();
    let result = rest
        .list_all_as(&path, |object: Lean| {
            let metadata = &object.metadata;
            let name = match &metadata.namespace {
                Some(namespace) => format!("{namespace}/{}", metadata.name),
                None => metadata.name.clone(),
            };
            let managers = metadata
                .managed_fields
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(|m| m.manager.as_deref());
            match seen.get(&name) {
                Some(expected) => match judge(expected, metadata) {
                    None => proof.matching += 1,
                    Some(why) => proof.unproven.push(Unproven {
                        name: name.clone(),
                        why,
                        class: Class::Different,
                    }),
                },
                // Nodes without Calico data are none of the migration's business.
                None if is_node => {}
                None if managed_by_migration(managers, true) => proof.unproven.push(Unproven {
                    name: name.clone(),
                    why: "written by the migration, not in the file".into(),
                    class: Class::OnlyInTarget,
                }),
                None => proof.foreign.push(name.clone()),
            }
            listed.insert(name);
        })
        .await;
    match result {
        Ok(()) => {}
        // The CRD is gone: every object of the kind is missing.
        Err(e) if e.is(404) => {}
        Err(e) => return Err(e),
    }
    let mut missing: Vec<&String> = seen
        .iter()
        .filter(|(name, s)| **s != Seen::Gone && !listed.contains(*name))
        .map(|(name, _)| name)
        .collect();
    missing.sort();
    for name in missing {
        proof.unproven.push(Unproven {
            name: name.clone(),
            why: "not in the target".into(),
            class: Class::Missing,
        });
    }
    Ok(proof)
}

/// What the check reads of a listed object.
#[derive(serde::Deserialize)]
struct Lean {
    metadata: LeanMetadata,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct LeanMetadata {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    resource_version: Option<String>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    managed_fields: Option<Vec<LeanManager>>,
}

#[derive(serde::Deserialize)]
struct LeanManager {
    #[serde(default)]
    manager: Option<String>,
}

/// Why an object with `metadata` is not as the copy saw it; None when it is.
fn judge(expected: &Seen, metadata: &LeanMetadata) -> Option<String> {
    match expected {
        Seen::At(version) => {
            let now = metadata.resource_version.as_deref().unwrap_or_default();
            (now != version).then(|| {
                format!("changed after the copy compared it (resourceVersion {version}, now {now})")
            })
        }
        Seen::Gone => Some("deleted by the copy, and there again".into()),
        Seen::Node { set, remove } => {
            let none = BTreeMap::new();
            let annotations = metadata.annotations.as_ref().unwrap_or(&none);
            let wrong: Vec<String> = set
                .iter()
                .filter(|(key, value)| annotations.get(*key) != Some(value))
                .map(|(key, value)| {
                    format!(
                        "annotation {key}: expected {value:?}, found {:?}",
                        annotations.get(key)
                    )
                })
                .chain(
                    remove
                        .iter()
                        .filter(|key| annotations.contains_key(*key))
                        .map(|key| format!("annotation {key}: expected none")),
                )
                .collect();
            (!wrong.is_empty()).then(|| wrong.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn metadata(object: serde_json::Value) -> LeanMetadata {
        serde_json::from_value::<Lean>(object).unwrap().metadata
    }

    #[test]
    fn a_resource_is_proven_by_its_resource_version_alone() {
        let object = metadata(json!({"metadata": {"name": "a", "resourceVersion": "42"}}));
        assert_eq!(judge(&Seen::At("42".into()), &object), None);
        let why = judge(&Seen::At("41".into()), &object).unwrap();
        assert!(why.contains("resourceVersion 41, now 42"), "{why}");
        assert!(judge(&Seen::Gone, &object).is_some());
    }

    #[test]
    fn a_node_is_proven_by_its_calico_annotations() {
        let node = metadata(
            json!({"metadata": {"name": "n", "resourceVersion": "7", "annotations": {
            "projectcalico.org/IPv4Address": "10.0.0.1/24", "kubelet": "x"}}}),
        );
        let expected = |value: &str, remove: &[&str]| Seen::Node {
            set: [(
                "projectcalico.org/IPv4Address".to_string(),
                value.to_string(),
            )]
            .into(),
            remove: remove.iter().map(|r| r.to_string()).collect(),
        };
        assert_eq!(judge(&expected("10.0.0.1/24", &[]), &node), None);
        assert!(judge(&expected("10.0.0.2/24", &[]), &node).is_some());
        assert!(judge(&expected("10.0.0.1/24", &["kubelet"]), &node).is_some());
    }
}
