//! "Is this the same object?": the desired CR (or Node annotations) against what the cluster
//! holds, for resumable import and for verify. Only what import writes counts: the spec (after
//! the target's schema has pruned and defaulted it), Calico's labels and annotations, and the
//! metadata annotation without its write-time fields.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use super::kdd::{
    Desired, NODE_ANNOTATIONS, NODE_INTERFACES, NODE_LABELS, is_calico_key, truncate,
};
use super::resources::METADATA_ANNOTATION;
use super::schema::{Schema, Seg, render_path, set_at, value_at};

/// Fields of the metadata annotation stamped at write time, not carried from the source.
const WRITE_TIME_FIELDS: &[&str] = &["creationTimestamp", "uid"];
/// Node annotations whose values are JSON.
const JSON_NODE_ANNOTATIONS: &[&str] = &[NODE_INTERFACES, NODE_LABELS, NODE_ANNOTATIONS];

/// One field that differs.
#[derive(Clone, Debug, PartialEq)]
pub struct Difference {
    /// `spec.allocations[5]`, `metadata.labels["projectcalico.org/tier"]`.
    pub path: String,
    /// What import writes there; None when it writes nothing there.
    pub expected: Option<Value>,
    /// What the cluster has; None when it has nothing there.
    pub actual: Option<Value>,
}

/// Longest value shown in a one-line difference.
const SHOWN: usize = 60;

fn show(value: &Value) -> String {
    truncate(&value.to_string(), SHOWN)
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.expected, &self.actual) {
            (Some(e), Some(a)) => {
                write!(f, "{}: expected {}, found {}", self.path, show(e), show(a))
            }
            (Some(e), None) => write!(f, "{}: missing, expected {}", self.path, show(e)),
            (None, Some(a)) => write!(f, "{}: unexpected {}", self.path, show(a)),
            (None, None) => write!(f, "{}: differs", self.path),
        }
    }
}

/// The outcome of [`compare`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Comparison {
    pub differences: Vec<Difference>,
    /// Spec fields import writes but the target's CRD schema drops (not a fault of the import).
    pub dropped_by_schema: Vec<String>,
}

impl Comparison {
    /// Whether the cluster holds what import would write (fields the schema drops aside).
    pub fn is_same(&self) -> bool {
        self.differences.is_empty()
    }
}

/// JSON equality with 1 and 1.0 equal, and absent fields equal to `null` ones.
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(i), Some(j), _, _) => i == j,
                (_, _, Some(i), Some(j)) => i == j,
                _ => x.as_f64() == y.as_f64(),
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            let present =
                |m: &Map<String, Value>, k: &String| m.get(k).is_some_and(|v| !v.is_null());
            x.keys()
                .chain(y.keys())
                .all(|k| match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => json_equal(p, q),
                    _ => !present(x, k) && !present(y, k),
                })
        }
        _ => a == b,
    }
}

/// Records every leaf where `expected` and `actual` differ; arrays element by element.
fn diff(
    expected: Option<&Value>,
    actual: Option<&Value>,
    path: &mut Vec<Seg>,
    out: &mut Vec<Difference>,
) {
    let expected = expected.filter(|v| !v.is_null());
    let actual = actual.filter(|v| !v.is_null());
    match (expected, actual) {
        (None, None) => {}
        (Some(Value::Object(e)), Some(Value::Object(a))) => {
            let keys: Vec<&String> = e
                .keys()
                .chain(a.keys().filter(|k| !e.contains_key(*k)))
                .collect();
            for k in keys {
                path.push(Seg::Key(k.clone()));
                diff(e.get(k), a.get(k), path, out);
                path.pop();
            }
        }
        (Some(Value::Array(e)), Some(Value::Array(a))) => {
            for i in 0..e.len().max(a.len()) {
                path.push(Seg::Index(i));
                diff(e.get(i), a.get(i), path, out);
                path.pop();
            }
        }
        (Some(e), Some(a)) if json_equal(e, a) => {}
        (e, a) => out.push(Difference {
            path: render_path(path),
            expected: e.cloned(),
            actual: a.cloned(),
        }),
    }
}

fn calico_entries(object: &Value, field: &str) -> Map<String, Value> {
    object
        .pointer(&format!("/metadata/{field}"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(k, _)| is_calico_key(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// `object` as the comparison sees it: the metadata annotation parsed, without its write-time
/// fields. Two objects that differ only in those compare equal, so a digest of this form says
/// when an object needs no write. A view to serialize: only the metadata is copied.
pub fn comparable(object: &Value) -> Comparable<'_> {
    let metadata = object.get("metadata").and_then(|metadata| {
        let annotations = metadata.get("annotations")?.as_object()?;
        let parsed = parsed_metadata(annotations.get(METADATA_ANNOTATION))?;
        let mut metadata = metadata.clone();
        if let Some(annotations) = metadata
            .get_mut("annotations")
            .and_then(Value::as_object_mut)
        {
            annotations.insert(METADATA_ANNOTATION.into(), parsed);
        }
        Some(metadata)
    });
    Comparable { object, metadata }
}

/// See [`comparable`]: serializes as the object with `metadata` replaced.
pub struct Comparable<'a> {
    object: &'a Value,
    metadata: Option<Value>,
}

impl serde::Serialize for Comparable<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match (self.object.as_object(), &self.metadata) {
            (Some(fields), Some(metadata)) => {
                let mut map = serializer.serialize_map(Some(fields.len()))?;
                for (key, value) in fields {
                    match key.as_str() {
                        "metadata" => map.serialize_entry(key, metadata)?,
                        _ => map.serialize_entry(key, value)?,
                    }
                }
                map.end()
            }
            _ => self.object.serialize(serializer),
        }
    }
}

/// The metadata annotation parsed, without write-time fields; the raw text if it is not JSON.
fn parsed_metadata(value: Option<&Value>) -> Option<Value> {
    let text = value?.as_str()?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(mut map)) => {
            for field in WRITE_TIME_FIELDS {
                map.shift_remove(*field);
            }
            Some(Value::Object(map))
        }
        _ => Some(Value::String(text.to_string())),
    }
}

/// Compares the CR import would write (`desired`, from [`super::kdd`]) with the object in the
/// cluster. `schema` is the target CRD's; with it, the desired spec is first pruned and
/// defaulted as the API server would, and fields the schema drops are reported in
/// `dropped_by_schema` (unless the cluster holds them anyway). Everything the server or other
/// components own (uid, resourceVersion, creationTimestamp, generation, managedFields, status,
/// non-Calico labels and annotations) is ignored.
pub fn compare(desired: &Value, actual: &Value, schema: Option<&Schema>) -> Comparison {
    let mut comparison = Comparison::default();
    let spec_only = |v: &Value| {
        let mut m = Map::new();
        if let Some(spec) = v.get("spec") {
            m.insert("spec".into(), spec.clone());
        }
        Value::Object(m)
    };
    let mut expected = spec_only(desired);
    if let Some(schema) = schema {
        let (applied, pruned, _nulls) = schema.apply_paths(&expected);
        expected = applied;
        for path in pruned {
            if path.first() != Some(&Seg::Key("spec".into())) {
                continue;
            }
            let original = value_at(desired, &path);
            match (original, value_at(actual, &path)) {
                // The target kept it after all (a newer CRD than the schema given).
                (Some(o), Some(a)) if json_equal(o, a) => {
                    set_at(&mut expected, &path, o.clone());
                }
                _ => comparison.dropped_by_schema.push(render_path(&path)),
            }
        }
    }
    let mut path = vec![Seg::Key("spec".into())];
    diff(
        expected.get("spec"),
        actual.get("spec"),
        &mut path,
        &mut comparison.differences,
    );

    let mut path = vec![Seg::Key("metadata".into()), Seg::Key("labels".into())];
    let (want, have) = (
        calico_entries(desired, "labels"),
        calico_entries(actual, "labels"),
    );
    diff(
        Some(&Value::Object(want)),
        Some(&Value::Object(have)),
        &mut path,
        &mut comparison.differences,
    );

    let mut want = calico_entries(desired, "annotations");
    let mut have = calico_entries(actual, "annotations");
    let want_meta = parsed_metadata(want.shift_remove(METADATA_ANNOTATION).as_ref());
    let have_meta = parsed_metadata(have.shift_remove(METADATA_ANNOTATION).as_ref());
    let mut path = vec![Seg::Key("metadata".into()), Seg::Key("annotations".into())];
    diff(
        Some(&Value::Object(want)),
        Some(&Value::Object(have)),
        &mut path,
        &mut comparison.differences,
    );
    path.push(Seg::Key(METADATA_ANNOTATION.into()));
    diff(
        want_meta.as_ref(),
        have_meta.as_ref(),
        &mut path,
        &mut comparison.differences,
    );
    comparison
}

/// Compares the Node annotations import would set and remove with a Kubernetes Node's
/// annotations. JSON-valued annotations are compared parsed.
pub fn compare_node(
    desired: &Desired,
    actual_annotations: &BTreeMap<String, String>,
) -> Vec<Difference> {
    let Desired::NodeAnnotations { set, remove, .. } = desired else {
        return vec![Difference {
            path: "kind".into(),
            expected: Some(Value::String("Node annotations".into())),
            actual: Some(Value::String(desired.describe())),
        }];
    };
    let path = |key: &str| {
        render_path(&[
            Seg::Key("metadata".into()),
            Seg::Key("annotations".into()),
            Seg::Key(key.into()),
        ])
    };
    let mut out = Vec::new();
    for (key, want) in set {
        let same = match actual_annotations.get(key) {
            None => false,
            Some(have) if JSON_NODE_ANNOTATIONS.contains(&key.as_str()) => {
                match (
                    serde_json::from_str::<Value>(want),
                    serde_json::from_str::<Value>(have),
                ) {
                    (Ok(w), Ok(h)) => json_equal(&w, &h),
                    _ => want == have,
                }
            }
            Some(have) => want == have,
        };
        if !same {
            out.push(Difference {
                path: path(key),
                expected: Some(Value::String(want.clone())),
                actual: actual_annotations
                    .get(key)
                    .map(|v| Value::String(v.clone())),
            });
        }
    }
    for key in remove {
        if let Some(have) = actual_annotations.get(key) {
            out.push(Difference {
                path: path(key),
                expected: None,
                actual: Some(Value::String(have.clone())),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::convert::crds::newest_schema;
    use crate::convert::ipam::IpamEntry;
    use crate::convert::kdd::{TargetRelease, ipam_to_kdd, to_kdd};
    use crate::kinds::CrdApi;

    fn crd_schema(plural: &str) -> crate::convert::schema::Schema {
        newest_schema(CrdApi::V1, plural)
    }
    use crate::convert::version::CalicoVersion;
    use crate::kinds::IpamKind;

    fn target() -> TargetRelease {
        TargetRelease::new(
            CalicoVersion::parse("v3.32.1"),
            "2026-08-01T12:00:00Z".into(),
        )
    }

    fn cr(object: Value) -> Value {
        match to_kdd(&object, &target()).unwrap() {
            Desired::Resource { object, .. } => object,
            other => panic!("{other:?}"),
        }
    }

    /// A CRD's schema, an object the migration writes under it, and what the server stores.
    fn written(plural: &str, desired: Value) -> (Schema, Value, Value) {
        let schema = crd_schema(plural);
        let actual = stored(&desired, &schema);
        (schema, desired, actual)
    }

    /// The comparison of `desired` with what the server stores for it, asserting they are the
    /// same: for the fields dropped by the schema.
    fn same(desired: &Value, actual: &Value, schema: &Schema) -> Comparison {
        let comparison = compare(desired, actual, Some(schema));
        assert!(comparison.is_same(), "{:?}", comparison.differences);
        comparison
    }

    /// The one difference between `desired` and `actual`, as the reports print it.
    fn only_difference(desired: &Value, actual: &Value, schema: Option<&Schema>) -> String {
        let comparison = compare(desired, actual, schema);
        assert_eq!(
            comparison.differences.len(),
            1,
            "{:?}",
            comparison.differences
        );
        comparison.differences[0].to_string()
    }

    /// What a server returns: the desired object with server fields, a later timestamp and
    /// the schema applied.
    fn stored(desired: &Value, schema: &Schema) -> Value {
        let mut object = schema.apply(desired).object;
        let meta = object["metadata"].as_object_mut().unwrap();
        meta.insert("uid".into(), json!("0c5e..."));
        meta.insert("resourceVersion".into(), json!("12345"));
        meta.insert("creationTimestamp".into(), json!("2026-08-01T12:00:05Z"));
        meta.insert("generation".into(), json!(1));
        meta.insert(
            "managedFields".into(),
            json!([{"manager": "kubectl-calico-migrate"}]),
        );
        let annotations = meta["annotations"].as_object_mut().unwrap();
        let text = annotations[METADATA_ANNOTATION]
            .as_str()
            .unwrap()
            .replace("2026-08-01T12:00:00Z", "2026-08-01T12:30:00Z");
        annotations.insert(METADATA_ANNOTATION.into(), json!(text));
        annotations.insert(
            "kubectl.kubernetes.io/last-applied-configuration".into(),
            json!("{}"),
        );
        object
    }

    #[test]
    fn the_comparable_form_drops_write_time_fields_of_the_metadata_annotation_only() {
        let stamped = |uid: &str| {
            json!({
                "apiVersion": "crd.projectcalico.org/v1",
                "kind": "IPPool",
                "metadata": {"name": "p", "annotations": {
                    "a": "b",
                    METADATA_ANNOTATION: format!(r#"{{"uid":"{uid}","creationTimestamp":"2026-01-0{uid}T00:00:00Z","labels":{{"x":"y"}}}}"#),
                    "z": "w"
                }},
                "spec": {"cidr": "10.0.0.0/16"}
            })
        };
        let text = |object: &Value| serde_json::to_string(&comparable(object)).unwrap();
        assert_eq!(text(&stamped("1")), text(&stamped("2")));
        assert_eq!(
            text(&stamped("1")),
            r#"{"apiVersion":"crd.projectcalico.org/v1","kind":"IPPool","metadata":{"name":"p","annotations":{"a":"b","projectcalico.org/metadata":{"labels":{"x":"y"}},"z":"w"}},"spec":{"cidr":"10.0.0.0/16"}}"#
        );
        // Without the annotation (or with text that is not JSON) the object is as it is.
        let plain = json!({"kind": "IPPool", "metadata": {"name": "p"}, "spec": {}});
        assert_eq!(text(&plain), serde_json::to_string(&plain).unwrap());
        let mut odd = stamped("1");
        odd["metadata"]["annotations"][METADATA_ANNOTATION] = json!("not json");
        assert_eq!(text(&odd), serde_json::to_string(&odd).unwrap());
        assert_ne!(text(&odd), text(&stamped("1")));
    }

    #[test]
    fn a_policy_defaulted_by_the_server_is_the_same() {
        // The v3.32.1 client leaves spec.tier unset; the v3.32.1 CRD defaults it.
        let (schema, desired, mut actual) = written(
            "globalnetworkpolicies",
            cr(
                json!({"kind": "GlobalNetworkPolicy", "metadata": {"name": "p"}, "spec": {"selector": "all()", "order": 10}}),
            ),
        );
        assert_eq!(actual["spec"]["tier"], "default");
        let comparison = same(&desired, &actual, &schema);
        assert!(comparison.dropped_by_schema.is_empty());
        // Without the schema the default shows up as a difference.
        assert_eq!(
            only_difference(&desired, &actual, None),
            "spec.tier: unexpected \"default\""
        );
        // A real change is reported.
        actual["spec"]["order"] = json!(20);
        assert_eq!(
            only_difference(&desired, &actual, Some(&schema)),
            "spec.order: expected 10, found 20"
        );
    }

    #[test]
    fn felix_configuration_defaults_count_as_equal() {
        let (schema, desired, actual) = written(
            "felixconfigurations",
            cr(
                json!({"kind": "FelixConfiguration", "metadata": {"name": "default"}, "spec": {"logSeverityScreen": "Info"}}),
            ),
        );
        assert_eq!(actual["spec"]["nftablesMode"], "Auto");
        same(&desired, &actual, &schema);
    }

    #[test]
    fn ip_cooldown_seconds_is_dropped_by_the_3_32_1_schema_not_a_difference() {
        let entry = IpamEntry::new(
            IpamKind::Config,
            "/calico/ipam/v2/config",
            json!({"strict_affinity": true, "auto_allocate_blocks": true, "ipCooldownSeconds": 30}),
        );
        let (schema, desired, actual) =
            written("ipamconfigs", ipam_to_kdd(&entry, &target()).unwrap());
        let comparison = same(&desired, &actual, &schema);
        assert_eq!(comparison.dropped_by_schema, ["spec.ipCooldownSeconds"]);
        // A target whose CRD knows the field keeps it: neither dropped nor different.
        let mut newer = actual.clone();
        newer["spec"]["ipCooldownSeconds"] = json!(30);
        let comparison = compare(&desired, &newer, Some(&schema));
        assert!(comparison.is_same() && comparison.dropped_by_schema.is_empty());
    }

    #[test]
    fn blocks_compare_allocation_by_allocation_and_report_released_at_as_dropped() {
        let entry = IpamEntry::new(
            IpamKind::Block,
            "/calico/ipam/v2/assignment/ipv4/block/10.65.79.0-26",
            json!({"cidr": "10.65.79.0/26", "affinity": "host:worker-1", "allocations": [0, 1, null, null, null, null],
                "unallocated": [2, 3, 4, 5], "attributes": [{"handle_id": "a", "secondary": {"node": "worker-1"}},
                {"handle_id": "b", "releasedAt": "2026-01-01T00:00:00Z"}],
                "sequenceNumber": 3, "sequenceNumberForAllocation": {"0": 1, "1": 2}, "deleted": false}),
        );
        let (schema, desired, mut actual) =
            written("ipamblocks", ipam_to_kdd(&entry, &target()).unwrap());
        let comparison = same(&desired, &actual, &schema);
        assert_eq!(
            comparison.dropped_by_schema,
            ["spec.attributes[1].releasedAt"]
        );
        actual["spec"]["allocations"][5] = json!(1);
        assert_eq!(
            only_difference(&desired, &actual, Some(&schema)),
            "spec.allocations[5]: unexpected 1"
        );
    }

    #[test]
    fn kube_controllers_configuration_status_is_ignored() {
        let (schema, desired, mut actual) = written(
            "kubecontrollersconfigurations",
            cr(
                json!({"kind": "KubeControllersConfiguration", "metadata": {"name": "default"},
            "spec": {"controllers": {"node": {"reconcilerPeriod": "5m"}}}, "status": {"runningConfig": {}}}),
            ),
        );
        actual["status"] = json!({"environmentVars": {"DATASTORE_TYPE": "kubernetes"}});
        let comparison = same(&desired, &actual, &schema);
        assert!(comparison.dropped_by_schema.is_empty());
    }

    #[test]
    fn calico_labels_and_the_metadata_annotation_are_compared_the_rest_ignored() {
        let desired = cr(
            json!({"kind": "GlobalNetworkPolicy", "metadata": {"name": "allow-dns",
            "labels": {"projectcalico.org/tier": "default", "team": "a"}}, "spec": {"tier": "default", "selector": "all()"}}),
        );
        let schema = crd_schema("globalnetworkpolicies");
        let mut actual = stored(&desired, &schema);
        actual["metadata"]["labels"]["app.kubernetes.io/managed-by"] = json!("argo");
        same(&desired, &actual, &schema);

        actual["metadata"]["labels"]["projectcalico.org/tier"] = json!("other");
        let text = r#"{"name":"allow-dns","creationTimestamp":"2020-01-01T00:00:00Z","labels":{"projectcalico.org/tier":"default","team":"b"}}"#;
        actual["metadata"]["annotations"][METADATA_ANNOTATION] = json!(text);
        let paths: Vec<String> = compare(&desired, &actual, Some(&schema))
            .differences
            .iter()
            .map(|d| d.path.clone())
            .collect();
        assert_eq!(
            paths,
            [
                r#"metadata.labels["projectcalico.org/tier"]"#,
                r#"metadata.annotations["projectcalico.org/metadata"].labels.team"#
            ]
        );

        actual["metadata"]["annotations"]
            .as_object_mut()
            .unwrap()
            .remove(METADATA_ANNOTATION);
        actual["metadata"]["labels"]["projectcalico.org/tier"] = json!("default");
        assert!(
            only_difference(&desired, &actual, Some(&schema)).starts_with(
                r#"metadata.annotations["projectcalico.org/metadata"]: missing, expected {"#
            )
        );
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(json_equal(&json!(1), &json!(1.0)));
        assert!(json_equal(
            &json!({"a": [1, 2.5]}),
            &json!({"a": [1.0, 2.5]})
        ));
        assert!(!json_equal(&json!(1), &json!("1")));
        assert!(json_equal(&json!({"a": null}), &json!({})));
        assert!(!json_equal(&json!([1]), &json!([1, 2])));
        let desired = json!({"spec": {"x": 1}});
        assert!(compare(&desired, &json!({"spec": {"x": 1.0}}), None).is_same());
    }

    #[test]
    fn long_values_are_truncated_in_the_rendering() {
        let d = Difference {
            path: "spec.x".into(),
            expected: Some(json!("a".repeat(200))),
            actual: None,
        };
        let line = d.to_string();
        assert!(line.len() < 100 && line.ends_with('…'), "{line}");
    }

    #[test]
    fn node_annotations_are_compared_set_and_removed() {
        let node = json!({"kind": "Node", "metadata": {"name": "worker-1", "labels": {"b": "2", "a": "1"}},
            "spec": {"bgp": {"ipv4Address": "10.0.0.11/24"}, "interfaces": [{"name": "eth0", "addresses": ["10.0.0.11"]}]}});
        let desired = to_kdd(&node, &target()).unwrap();
        let Desired::NodeAnnotations { set, .. } = &desired else {
            panic!()
        };
        let mut actual = set.clone();
        actual.insert("node.alpha.kubernetes.io/ttl".into(), "0".into());
        assert!(compare_node(&desired, &actual).is_empty());
        // JSON annotations compare parsed.
        actual.insert(NODE_LABELS.into(), r#"{ "b": "2", "a": "1" }"#.into());
        assert!(compare_node(&desired, &actual).is_empty());
        actual.insert(
            "projectcalico.org/IPv4Address".into(),
            "10.0.0.99/24".into(),
        );
        actual.insert("projectcalico.org/IPv6Address".into(), "fd00::1/64".into());
        actual.remove(NODE_INTERFACES);
        let lines: Vec<String> = compare_node(&desired, &actual)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            [
                r#"metadata.annotations["projectcalico.org/IPv4Address"]: expected "10.0.0.11/24", found "10.0.0.99/24""#,
                r#"metadata.annotations["projectcalico.org/Interfaces"]: missing, expected "[{\"name\":\"eth0\",\"addresses\":[\"10.0.0.11\"]}]""#,
                r#"metadata.annotations["projectcalico.org/IPv6Address"]: unexpected "fd00::1/64""#,
            ]
        );
        let pool = to_kdd(
            &json!({"kind": "IPPool", "metadata": {"name": "p"}, "spec": {"cidr": "10.0.0.0/16"}}),
            &target(),
        )
        .unwrap();
        assert_eq!(compare_node(&pool, &BTreeMap::new()).len(), 1);
    }
}
