//! What the Kubernetes datastore holds of one kind, read with paged LISTs and kept in memory for
//! comparison: import, its resume and its delta, and verify decide from this what to write,
//! instead of asking object by object.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::rest::{FIELD_MANAGER, Rest, RestError};
use super::writer::node_path;
use crate::convert::{qualified_name, string_map};
use crate::kinds::{CalicoKind, CrdApi, Role};

/// One object of the target.
#[derive(Clone, Debug)]
pub struct Listed {
    /// The object without `metadata.managedFields`, as JSON text.
    json: Box<[u8]>,
    pub resource_version: Option<String>,
    /// Whether the migration wrote it: its managed fields name only the migration's field
    /// manager (for Nodes: name it at all, since the kubelet manages Nodes too).
    pub ours: bool,
}

impl Listed {
    pub fn object(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }

    pub fn annotations(&self) -> BTreeMap<String, String> {
        string_map(self.object().pointer("/metadata/annotations"))
    }
}

/// The target's objects of one kind by `namespace/name` (or name).
#[derive(Debug, Default)]
pub struct TargetIndex {
    pub objects: HashMap<String, Listed>,
}

impl TargetIndex {
    /// Lists the target's objects of `kind` in `api`; a kind whose CRD is not installed holds
    /// nothing.
    pub async fn list(
        rest: &Rest,
        api: CrdApi,
        kind: &CalicoKind,
    ) -> Result<TargetIndex, RestError> {
        let (path, sole_manager) = match kind.role {
            Role::Node => ("/api/v1/nodes".to_string(), false),
            _ => (api.collection_path(kind, None), true),
        };
        let mut index = TargetIndex::default();
        let listed = rest
            .list_all(&path, |mut object| {
                let ours = written_by_migration(&object, sole_manager);
                if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                    metadata.remove("managedFields");
                }
                let resource_version = object
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let name = qualified_name(&object);
                let json = serde_json::to_vec(&object)
                    .expect("JSON values serialize")
                    .into_boxed_slice();
                index.objects.insert(
                    name,
                    Listed {
                        json,
                        resource_version,
                        ours,
                    },
                );
            })
            .await;
        match listed {
            Ok(()) => Ok(index),
            Err(e) if e.is(404) => Ok(index),
            Err(e) => Err(e),
        }
    }

    pub fn take(&mut self, name: &str) -> Option<Listed> {
        self.objects.remove(name)
    }
}

/// The path of a target object of `kind` in `api`.
pub fn object_path(api: CrdApi, kind: &CalicoKind, name: &str) -> String {
    match kind.role {
        Role::Node => node_path(name),
        _ => match name.split_once('/') {
            Some((namespace, name)) => {
                format!("{}/{name}", api.collection_path(kind, Some(namespace)))
            }
            None => format!("{}/{name}", api.collection_path(kind, None)),
        },
    }
}

/// Whether `metadata.managedFields` says the migration wrote the object: every entry is the
/// migration's (`sole`), or one of them is.
pub fn written_by_migration(object: &Value, sole: bool) -> bool {
    let entries = object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    managed_by_migration(
        entries
            .iter()
            .map(|entry| entry.get("manager").and_then(Value::as_str)),
        sole,
    )
}

/// [`written_by_migration`] from the managers of `metadata.managedFields`.
pub fn managed_by_migration<'a>(
    managers: impl ExactSizeIterator<Item = Option<&'a str>>,
    sole: bool,
) -> bool {
    if managers.len() == 0 {
        return false;
    }
    let mut managers = managers;
    let ours = |manager: Option<&str>| manager == Some(FIELD_MANAGER);
    if sole {
        managers.all(ours)
    } else {
        managers.any(ours)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ownership_comes_from_managed_fields() {
        let managed = |managers: &[&str]| {
            json!({"metadata": {"managedFields": managers.iter()
                .map(|m| json!({"manager": m, "operation": "Update"}))
                .collect::<Vec<_>>()}})
        };
        assert!(written_by_migration(&managed(&[FIELD_MANAGER]), true));
        assert!(!written_by_migration(
            &managed(&[FIELD_MANAGER, "calicoctl"]),
            true
        ));
        assert!(written_by_migration(
            &managed(&["kubelet", FIELD_MANAGER]),
            false
        ));
        assert!(!written_by_migration(&managed(&["calicoctl"]), false));
        assert!(!written_by_migration(&json!({"metadata": {}}), true));
    }

    #[test]
    fn object_paths() {
        let policy = CalicoKind::by_kind("NetworkPolicy").unwrap();
        assert_eq!(
            object_path(CrdApi::V1, policy, "ns/p"),
            "/apis/crd.projectcalico.org/v1/namespaces/ns/networkpolicies/p"
        );
        assert_eq!(
            object_path(CrdApi::V3, policy, "ns/p"),
            "/apis/projectcalico.org/v3/namespaces/ns/networkpolicies/p"
        );
        let config = CalicoKind::by_kind("IPAMConfig").unwrap();
        assert_eq!(
            object_path(CrdApi::V3, config, "default"),
            "/apis/projectcalico.org/v3/ipamconfigurations/default"
        );
        let node = CalicoKind::by_kind("Node").unwrap();
        assert_eq!(object_path(CrdApi::V3, node, "n1"), "/api/v1/nodes/n1");
    }
}
