//! The pure conversion core: data in, data out, no clients. Every conversion rule of
//! docs/design.md (§4 to §14) is a unit test here.

pub use kube_schema::cel;
pub mod cluster_info;
pub mod compare;
mod crd_files;
pub mod crds;
pub mod defaults;
pub mod gotypes;
pub mod ipam;
pub mod kdd;
pub mod keys;
pub mod merge;
pub mod names;
pub mod nodes;
pub mod resources;
pub mod schema;
pub mod version;
pub mod versions;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// `metadata` of an object as a map, created when absent; None when the object or its metadata
/// is not a JSON object.
pub fn metadata_mut(object: &mut Value) -> Option<&mut Map<String, Value>> {
    object
        .as_object_mut()?
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
}

/// `namespace/name` of an object, or `name` for a cluster-scoped one.
pub fn qualified_name(object: &Value) -> String {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
    {
        Some(namespace) => format!("{namespace}/{name}"),
        None => name.to_string(),
    }
}

/// A Value with every object's keys sorted, as Go writes a `map[string]...`.
pub fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let ordered: BTreeMap<&String, Value> =
                map.iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(ordered.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// The string entries of a JSON map (labels, annotations).
pub fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn object_helpers() {
        assert_eq!(
            qualified_name(&json!({"metadata": {"name": "a", "namespace": "ns"}})),
            "ns/a"
        );
        assert_eq!(qualified_name(&json!({"metadata": {"name": "a"}})), "a");
        let mut object = json!({"kind": "X"});
        metadata_mut(&mut object)
            .unwrap()
            .insert("name".into(), json!("n"));
        assert_eq!(object, json!({"kind": "X", "metadata": {"name": "n"}}));
        assert!(metadata_mut(&mut json!([1])).is_none());
        let map = string_map(Some(&json!({"a": "1", "b": 2})));
        assert_eq!(map, BTreeMap::from([("a".to_string(), "1".to_string())]));
    }
}
