//! `ClusterInformation/default`: the lock flag and the fields import copies (docs/design.md §10).

use serde::Serialize;
use serde_json::{Map, Value, json};

/// Field order of Calico's ClusterInformationSpec, as Go writes it.
const SPEC_ORDER: &[&str] = &[
    "clusterGUID",
    "clusterType",
    "calicoVersion",
    "datastoreReady",
    "variant",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockState {
    /// `datastoreReady: false`.
    Locked,
    /// `datastoreReady: true`.
    Unlocked,
    /// `datastoreReady` unset, which Calico treats as ready (calicoctl would panic on it).
    UnlockedUnset,
    /// No ClusterInformation at all.
    Uninitialized,
}

impl LockState {
    pub fn of(cluster_information: Option<&Value>) -> LockState {
        match cluster_information.map(datastore_ready) {
            None => LockState::Uninitialized,
            Some(Some(false)) => LockState::Locked,
            Some(Some(true)) => LockState::Unlocked,
            Some(None) => LockState::UnlockedUnset,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            LockState::Locked => "locked (datastoreReady: false)",
            LockState::Unlocked => "unlocked (datastoreReady: true)",
            LockState::UnlockedUnset => "unlocked (datastoreReady not set)",
            LockState::Uninitialized => "not initialized (no ClusterInformation)",
        }
    }
}

/// What a lock or unlock did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadyChange {
    /// `datastoreReady` before; None when it was unset or the object was missing.
    pub before: Option<bool>,
    pub changed: bool,
    /// Writes lost to concurrent changes before ours went through.
    pub conflicts: u32,
}

/// `spec.datastoreReady`; None when absent or not a boolean.
pub fn datastore_ready(cluster_information: &Value) -> Option<bool> {
    cluster_information
        .pointer("/spec/datastoreReady")
        .and_then(Value::as_bool)
}

/// `spec.calicoVersion`, when set.
pub fn calico_version(cluster_information: &Value) -> Option<&str> {
    cluster_information
        .pointer("/spec/calicoVersion")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
}

/// The same object with `spec.datastoreReady` set, everything else untouched. A field that
/// was absent is inserted where Go's encoder would put it, so the etcd value stays in Go form.
pub fn with_datastore_ready(cluster_information: &Value, ready: bool) -> Value {
    let mut object = cluster_information.clone();
    let Some(root) = object.as_object_mut() else {
        return object;
    };
    let spec = root
        .entry("spec")
        .or_insert_with(|| Value::Object(Map::new()));
    if !spec.is_object() {
        *spec = Value::Object(Map::new());
    }
    let spec = spec.as_object_mut().expect("spec is an object");
    if let Some(value) = spec.get_mut("datastoreReady") {
        *value = Value::Bool(ready);
    } else {
        let index = insertion_index(spec, "datastoreReady");
        spec.shift_insert(index, "datastoreReady".into(), Value::Bool(ready));
    }
    object
}

/// Where a new field goes so that known fields keep Go's order.
fn insertion_index(spec: &Map<String, Value>, field: &str) -> usize {
    let rank = |name: &str| SPEC_ORDER.iter().position(|f| *f == name);
    let Some(own) = rank(field) else {
        return spec.len();
    };
    spec.keys()
        .position(|k| rank(k).is_some_and(|r| r > own))
        .unwrap_or(spec.len())
}

/// Sets `metadata.resourceVersion` (the etcd backend drops it before writing and restores it
/// from the key's revision on read), where Go's encoder puts it.
pub fn set_resource_version(object: &mut Value, mod_revision: i64) {
    let Some(metadata) = super::metadata_mut(object) else {
        return;
    };
    let value = Value::String(mod_revision.to_string());
    if let Some(existing) = metadata.get_mut("resourceVersion") {
        *existing = value;
        return;
    }
    let rank = |name: &str| {
        kube_schema::meta::OBJECT_META_FIELDS
            .iter()
            .position(|f| *f == name)
    };
    let own = rank("resourceVersion");
    let index = metadata
        .keys()
        .position(|k| rank(k) > own)
        .unwrap_or(metadata.len());
    metadata.shift_insert(index, "resourceVersion".into(), value);
}

/// A new ClusterInformation for the Kubernetes datastore, as Calico's EnsureInitialized makes it.
pub fn new_kdd_spec(cluster_guid: &str, datastore_ready: bool) -> Value {
    json!({
        "clusterGUID": cluster_guid,
        "clusterType": "kdd",
        "calicoVersion": "",
        "datastoreReady": datastore_ready,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_state_follows_datastore_ready() {
        assert_eq!(LockState::of(None), LockState::Uninitialized);
        let locked = json!({"spec": {"datastoreReady": false}});
        assert_eq!(LockState::of(Some(&locked)), LockState::Locked);
        let unlocked = json!({"spec": {"datastoreReady": true}});
        assert_eq!(LockState::of(Some(&unlocked)), LockState::Unlocked);
        let unset = json!({"spec": {"clusterGUID": "x"}});
        assert_eq!(LockState::of(Some(&unset)), LockState::UnlockedUnset);
    }

    #[test]
    fn setting_the_flag_changes_only_the_flag() {
        let text = r#"{"kind":"ClusterInformation","apiVersion":"projectcalico.org/v3","metadata":{"name":"default","uid":"u","creationTimestamp":"2024-05-01T10:00:00Z"},"spec":{"clusterGUID":"g","clusterType":"k8s,bgp","calicoVersion":"v3.28.0","datastoreReady":true,"variant":"Calico"}}"#;
        let value: Value = serde_json::from_str(text).unwrap();
        let locked = with_datastore_ready(&value, false);
        assert_eq!(
            serde_json::to_string(&locked).unwrap(),
            text.replace("\"datastoreReady\":true", "\"datastoreReady\":false")
        );
    }

    #[test]
    fn a_missing_flag_goes_where_go_puts_it() {
        let value: Value = serde_json::from_str(
            r#"{"spec":{"clusterGUID":"g","clusterType":"k8s","calicoVersion":"v3.20.0","variant":"Calico"}}"#,
        )
        .unwrap();
        let locked = with_datastore_ready(&value, false);
        assert_eq!(
            serde_json::to_string(&locked).unwrap(),
            r#"{"spec":{"clusterGUID":"g","clusterType":"k8s","calicoVersion":"v3.20.0","datastoreReady":false,"variant":"Calico"}}"#
        );
        let bare = with_datastore_ready(&json!({"kind": "ClusterInformation"}), true);
        assert_eq!(
            bare,
            json!({"kind": "ClusterInformation", "spec": {"datastoreReady": true}})
        );
    }

    #[test]
    fn resource_version_goes_after_uid() {
        let mut value: Value = serde_json::from_str(
            r#"{"kind":"ClusterInformation","metadata":{"name":"default","uid":"u","creationTimestamp":"t"},"spec":{}}"#,
        )
        .unwrap();
        set_resource_version(&mut value, 1234);
        assert_eq!(
            serde_json::to_string(&value).unwrap(),
            r#"{"kind":"ClusterInformation","metadata":{"name":"default","uid":"u","resourceVersion":"1234","creationTimestamp":"t"},"spec":{}}"#
        );
    }

    #[test]
    fn calico_version_ignores_empty() {
        assert_eq!(
            calico_version(&json!({"spec": {"calicoVersion": "v3.28.1"}})),
            Some("v3.28.1")
        );
        assert_eq!(
            calico_version(&json!({"spec": {"calicoVersion": ""}})),
            None
        );
    }
}
