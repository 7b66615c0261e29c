//! A Calico install manifest (`calico.yaml` for the Kubernetes datastore, `calico-etcd.yaml` for
//! etcd), read and applied with server-side apply, every document in order, as
//! `kubectl apply --server-side --force-conflicts` would.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::rest::{Rest, RestError};
use go_compat::yaml as goyaml;

/// Which datastore a manifest runs Calico on, from `DATASTORE_TYPE` of its calico-node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ManifestDatastore {
    Kubernetes,
    Etcd,
}

/// One object of a manifest.
#[derive(Clone, Debug)]
pub struct Document {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    pub object: Value,
}

impl Document {
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }

    fn group_version(&self) -> (&str, &str) {
        match self.api_version.split_once('/') {
            Some((group, version)) => (group, version),
            None => ("", self.api_version.as_str()),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Manifest {
    pub path: String,
    pub documents: Vec<Document>,
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read manifest {path}: {detail}")]
    Read { path: String, detail: String },
    #[error("manifest {path}, document {index}: {detail}")]
    Document {
        path: String,
        index: usize,
        detail: String,
    },
    #[error("manifest {0} holds no Kubernetes objects")]
    Empty(String),
}

impl Manifest {
    pub fn read(path: &Path) -> Result<Manifest, ManifestError> {
        let shown = path.display().to_string();
        let bytes = crate::input::read(path).map_err(|e| ManifestError::Read {
            path: shown.clone(),
            detail: e.to_string(),
        })?;
        let text = String::from_utf8(bytes).map_err(|_| ManifestError::Read {
            path: shown.clone(),
            detail: "it is not UTF-8 text".into(),
        })?;
        let values = goyaml::from_yaml_documents(&text).map_err(|e| ManifestError::Read {
            path: shown.clone(),
            detail: e.to_string(),
        })?;
        let mut documents = Vec::new();
        for (index, object) in values.into_iter().enumerate() {
            if object.is_null() {
                continue;
            }
            let field = |pointer: &str| {
                object
                    .pointer(pointer)
                    .and_then(Value::as_str)
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
            };
            let fail = |detail: &str| ManifestError::Document {
                path: shown.clone(),
                index: index + 1,
                detail: detail.to_string(),
            };
            let api_version = field("/apiVersion").ok_or_else(|| fail("has no apiVersion"))?;
            let kind = field("/kind").ok_or_else(|| fail("has no kind"))?;
            let name = field("/metadata/name").ok_or_else(|| fail("has no metadata.name"))?;
            let namespace = field("/metadata/namespace");
            documents.push(Document {
                api_version,
                kind,
                name,
                namespace,
                object,
            });
        }
        if documents.is_empty() {
            return Err(ManifestError::Empty(shown));
        }
        Ok(Manifest {
            path: shown,
            documents,
            sha256: crate::digest::sha256_hex(text.as_bytes()),
        })
    }

    /// The DaemonSets whose rollout shows that the manifest took effect.
    pub fn daemonsets(&self) -> impl Iterator<Item = &Document> {
        self.documents
            .iter()
            .filter(|d| d.kind == "DaemonSet" && d.api_version == "apps/v1")
    }

    /// The datastore the manifest's calico-node is configured for, when it says.
    pub fn datastore(&self) -> Option<ManifestDatastore> {
        match self.calico_node_env("DATASTORE_TYPE") {
            Some(variable) => match variable.get("value").and_then(Value::as_str) {
                Some("kubernetes") => Some(ManifestDatastore::Kubernetes),
                Some("etcdv3") => Some(ManifestDatastore::Etcd),
                _ => None,
            },
            // calico-node without DATASTORE_TYPE but with ETCD_ENDPOINTS runs on etcd.
            None => self
                .calico_node_env("ETCD_ENDPOINTS")
                .map(|_| ManifestDatastore::Etcd),
        }
    }

    /// The entry (`name`, `value` or `valueFrom`) of an environment variable that the
    /// manifest's calico-node containers set, the first that does.
    pub fn calico_node_env(&self, name: &str) -> Option<&Value> {
        let node = self
            .daemonsets()
            .find(|d| d.name == super::workloads::CALICO_NODE)?;
        node.object
            .pointer("/spec/template/spec/containers")?
            .as_array()?
            .iter()
            .filter_map(|container| container.get("env").and_then(Value::as_array))
            .flatten()
            .find(|var| var.get("name").and_then(Value::as_str) == Some(name))
    }

    /// The API groups of the CustomResourceDefinitions the manifest installs.
    pub fn crd_groups(&self) -> Vec<&str> {
        let mut groups: Vec<&str> = self
            .documents
            .iter()
            .filter(|d| d.kind == "CustomResourceDefinition")
            .filter_map(|d| d.object.pointer("/spec/group").and_then(Value::as_str))
            .collect();
        groups.sort();
        groups.dedup();
        groups
    }
}

/// What applying a manifest did.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    pub manifest: String,
    pub sha256: String,
    pub objects: u64,
    /// Objects whose resourceVersion changed (created or changed).
    pub changed: u64,
}

/// The REST path of each kind, learnt from the API server's discovery documents.
#[derive(Default)]
pub struct Discovery {
    /// `group/version` → kind → (plural, namespaced).
    groups: HashMap<String, HashMap<String, (String, bool)>>,
}

impl Discovery {
    async fn resource(
        &mut self,
        rest: &Rest,
        group: &str,
        version: &str,
        kind: &str,
        refresh: bool,
    ) -> Result<Option<(String, bool)>, RestError> {
        let key = format!("{group}/{version}");
        if refresh || !self.groups.contains_key(&key) {
            let path = if group.is_empty() {
                format!("/api/{version}")
            } else {
                format!("/apis/{group}/{version}")
            };
            let mut kinds = HashMap::new();
            if let Some(list) = rest.get(&path).await? {
                for resource in list
                    .get("resources")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let name = resource.get("name").and_then(Value::as_str).unwrap_or("");
                    if name.contains('/') {
                        continue;
                    }
                    if let Some(kind) = resource.get("kind").and_then(Value::as_str) {
                        let namespaced = resource
                            .get("namespaced")
                            .and_then(Value::as_bool)
                            .unwrap_or(false);
                        kinds.insert(kind.to_string(), (name.to_string(), namespaced));
                    }
                }
            }
            self.groups.insert(key.clone(), kinds);
        }
        Ok(self.groups.get(&key).and_then(|k| k.get(kind)).cloned())
    }

    /// The path of a document's object; namespaced objects without a namespace go to
    /// `default_namespace`.
    pub async fn path(
        &mut self,
        rest: &Rest,
        document: &Document,
        default_namespace: &str,
    ) -> Result<Option<String>, RestError> {
        let (group, version) = document.group_version();
        let mut found = self
            .resource(rest, group, version, &document.kind, false)
            .await?;
        if found.is_none() {
            // A kind defined by a CRD that this manifest just applied.
            found = self
                .resource(rest, group, version, &document.kind, true)
                .await?;
        }
        let Some((plural, namespaced)) = found else {
            return Ok(None);
        };
        let base = if group.is_empty() {
            format!("/api/{version}")
        } else {
            format!("/apis/{group}/{version}")
        };
        Ok(Some(if namespaced {
            let namespace = document.namespace.as_deref().unwrap_or(default_namespace);
            format!("{base}/namespaces/{namespace}/{plural}/{}", document.name)
        } else {
            format!("{base}/{plural}/{}", document.name)
        }))
    }
}

/// Applies every document in order with server-side apply (taking over fields that other
/// field managers own, as the manifest is the intended state). `each` is told of every object.
pub async fn apply(
    rest: &Rest,
    manifest: &Manifest,
    default_namespace: &str,
    mut each: impl FnMut(&Document),
) -> Result<Applied, ApplyError> {
    let mut discovery = Discovery::default();
    let mut applied = Applied {
        manifest: manifest.path.clone(),
        sha256: manifest.sha256.clone(),
        ..Default::default()
    };
    for document in &manifest.documents {
        let mut path = None;
        // A CRD applied just before may take a moment to be served.
        for attempt in 0..50 {
            path = discovery
                .path(rest, document, default_namespace)
                .await
                .map_err(|e| ApplyError::new(document, e.to_string()))?;
            if path.is_some() || attempt == 49 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        let Some(path) = path else {
            return Err(ApplyError::new(
                document,
                format!(
                    "the API server does not serve {} in {}",
                    document.kind, document.api_version
                ),
            ));
        };
        let existing = rest
            .get(&path)
            .await
            .map_err(|e| ApplyError::new(document, e.to_string()))?;
        let before = existing.as_ref().and_then(resource_version);
        if let Some(existing) = &existing
            && let Some(patch) = adoption(existing, &document.api_version, &now())
        {
            rest.json_patch(&path, &patch).await.map_err(|e| {
                ApplyError::new(
                    document,
                    format!("taking over the fields of kubectl's client-side apply: {e}"),
                )
            })?;
        }
        let answer = rest
            .apply(&path, &document.object)
            .await
            .map_err(|e| ApplyError::new(document, e.to_string()))?;
        applied.objects += 1;
        if resource_version(&answer.body) != before {
            applied.changed += 1;
        }
        each(document);
    }
    Ok(applied)
}

/// Field managers of `kubectl apply` without `--server-side` (and of older kubectl writes).
const CLIENT_SIDE_APPLY: &[&str] = &["kubectl-client-side-apply", "kubectl"];

/// A JSON patch that hands the fields `kubectl apply` (client side) set on `existing` over to
/// the migration's field manager, as `kubectl apply --server-side` does when it upgrades an
/// object from client-side apply; None when no such fields exist. Server-side apply then
/// removes the fields the previous manifest set and the new one leaves out (the etcd settings
/// of calico-node, say), as a client-side `kubectl apply` of the new manifest would; without
/// this they would stay, owned by a manager that no longer applies anything.
pub fn adoption(existing: &Value, api_version: &str, now: &str) -> Option<Value> {
    let entries = existing
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)?;
    let is_adopted = |entry: &Value| {
        entry
            .get("manager")
            .and_then(Value::as_str)
            .is_some_and(|m| CLIENT_SIDE_APPLY.contains(&m))
            && entry.get("operation").and_then(Value::as_str) == Some("Update")
            && entry
                .get("subresource")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
    };
    let is_ours = |entry: &Value| {
        entry.get("manager").and_then(Value::as_str) == Some(super::rest::FIELD_MANAGER)
            && entry.get("operation").and_then(Value::as_str) == Some("Apply")
    };
    if !entries.iter().any(is_adopted) {
        return None;
    }
    let mut fields = Value::Object(serde_json::Map::new());
    let mut kept = Vec::new();
    for entry in entries {
        if is_adopted(entry) || is_ours(entry) {
            if let Some(set) = entry.get("fieldsV1") {
                merge_field_sets(&mut fields, set);
            }
        } else {
            kept.push(entry.clone());
        }
    }
    kept.push(serde_json::json!({
        "manager": super::rest::FIELD_MANAGER,
        "operation": "Apply",
        "apiVersion": api_version,
        "time": now,
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }));
    Some(serde_json::json!([
        {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version(existing)},
        {"op": "replace", "path": "/metadata/managedFields", "value": kept},
    ]))
}

/// The union of two FieldsV1 sets (trees of `f:`/`k:`/`v:` keys).
fn merge_field_sets(into: &mut Value, from: &Value) {
    let (Some(into), Some(from)) = (into.as_object_mut(), from.as_object()) else {
        return;
    };
    for (key, value) in from {
        match into.get_mut(key) {
            Some(existing) => merge_field_sets(existing, value),
            None => {
                into.insert(key.clone(), value.clone());
            }
        }
    }
}

fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or(jiff::Timestamp::now())
        .to_string()
}

fn resource_version(object: &Value) -> Option<String> {
    object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .map(str::to_string)
}

#[derive(Debug, thiserror::Error)]
#[error("applying {object}: {detail}")]
pub struct ApplyError {
    pub object: String,
    pub detail: String,
}

impl ApplyError {
    fn new(document: &Document, detail: String) -> ApplyError {
        ApplyError {
            object: document.describe(),
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(text: &str) -> Result<Manifest, ManifestError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.yaml");
        std::fs::write(&path, text).unwrap();
        Manifest::read(&path)
    }

    #[test]
    fn documents_and_datastore() {
        let m = manifest(
            "# comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: calico-config\n  namespace: kube-system\n---\n\
             apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: calico-node\nspec:\n  template:\n    spec:\n      containers:\n      - name: calico-node\n        env:\n        - name: DATASTORE_TYPE\n          value: kubernetes\n---\n",
        )
        .unwrap();
        assert_eq!(m.documents.len(), 2);
        assert_eq!(
            m.documents[0].describe(),
            "ConfigMap kube-system/calico-config"
        );
        assert_eq!(m.datastore(), Some(ManifestDatastore::Kubernetes));
        assert_eq!(m.sha256.len(), 64);
    }

    #[test]
    fn bad_manifests_say_where() {
        let err = manifest("apiVersion: v1\nmetadata:\n  name: x\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("manifest {}, document 1: has no kind", err_path(&err))
        );
        assert!(matches!(manifest("---\n"), Err(ManifestError::Empty(_))));
        assert!(matches!(
            manifest("a: [\n"),
            Err(ManifestError::Read { .. })
        ));
    }

    fn err_path(err: &ManifestError) -> String {
        match err {
            ManifestError::Document { path, .. } => path.clone(),
            _ => String::new(),
        }
    }

    #[test]
    fn client_side_apply_fields_are_taken_over() {
        let existing = serde_json::json!({"metadata": {"resourceVersion": "7", "managedFields": [
            {"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "apps/v1",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"calico-node\"}": {"f:env": {"k:{\"name\":\"ETCD_ENDPOINTS\"}": {}}}}}}}}},
            {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {}}},
            {"manager": "kubectl-calico-migrate", "operation": "Apply", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:spec": {"f:replicas": {}}}}
        ]}});
        let patch = adoption(&existing, "apps/v1", "2026-12-02T10:00:00Z").unwrap();
        assert_eq!(patch[0]["value"], "7", "conditional on the version read");
        let entries = patch[1]["value"].as_array().unwrap();
        assert_eq!(
            entries.len(),
            2,
            "the status manager stays, ours absorbs the rest"
        );
        assert_eq!(entries[0]["manager"], "kube-controller-manager");
        let ours = &entries[1]["fieldsV1"]["f:spec"];
        assert!(ours["f:replicas"].is_object());
        assert!(ours["f:template"]["f:spec"]["f:containers"].is_object());
        let none = serde_json::json!({"metadata": {"managedFields": [
            {"manager": "kubectl-calico-migrate", "operation": "Apply"}]}});
        assert!(adoption(&none, "apps/v1", "t").is_none());
    }

    #[test]
    fn calicos_own_manifests_parse() {
        // The repository carries the two manifests the sandbox and the tests use.
        for (file, datastore) in [
            ("calico.yaml", ManifestDatastore::Kubernetes),
            ("calico-etcd.yaml", ManifestDatastore::Etcd),
        ] {
            let path = format!(
                "{}/tests/fixtures/manifests/{file}",
                env!("CARGO_MANIFEST_DIR")
            );
            let m = Manifest::read(Path::new(&path)).unwrap();
            assert_eq!(m.datastore(), Some(datastore), "{file}");
            assert_eq!(m.daemonsets().count(), 1, "{file}");
        }
    }
}
