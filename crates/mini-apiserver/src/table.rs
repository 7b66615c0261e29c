//! `meta.k8s.io/v1` Table answers (what `kubectl get` asks for).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::registry::{Builtin, ResourceInfo};
use crate::store::meta_str;

fn col(name: &str, typ: &str, format: &str, description: &str, priority: i64) -> Value {
    json!({"name": name, "type": typ, "format": format, "description": description, "priority": priority})
}

const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const CREATED_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const DS_DESIRED: &str = "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod).";
const DS_CURRENT: &str = "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.";
const DS_READY: &str = "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.";
const DS_UP_TO_DATE: &str = "The total number of nodes that are running updated daemon pod";
const DS_AVAILABLE: &str = "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)";
const DS_NODE_SELECTOR: &str = "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node.";
const DEPLOY_UP_TO_DATE: &str = "Total number of non-terminated pods targeted by this deployment that have the desired template spec.";
const DEPLOY_AVAILABLE: &str = "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.";
const AGE_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.";

/// `{big}{big_unit}`, followed by `{small}{small_unit}` unless `small` is 0 (`3m`, `3m20s`).
fn units(big: i64, big_unit: &str, small: i64, small_unit: &str) -> String {
    if small == 0 {
        format!("{big}{big_unit}")
    } else {
        format!("{big}{big_unit}{small}{small_unit}")
    }
}

/// Kubernetes' HumanDuration.
pub(crate) fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    let secs = secs.max(0);
    let minutes = secs / 60;
    let hours = secs / 3600;
    if secs < 120 {
        return format!("{secs}s");
    }
    if minutes < 10 {
        return units(minutes, "m", secs % 60, "s");
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    if hours < 8 {
        return units(hours, "h", minutes % 60, "m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        return units(hours / 24, "d", hours % 24, "h");
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        return units(hours / 24 / 365, "y", (hours / 24) % 365, "d");
    }
    format!("{}y", hours / 24 / 365)
}

fn age(obj: &Value) -> String {
    let ts = meta_str(obj, "creationTimestamp");
    match ts.parse::<jiff::Timestamp>() {
        Ok(t) => human_duration(jiff::Timestamp::now().as_second() - t.as_second()),
        Err(_) => "<unknown>".into(),
    }
}

/// A tiny JSONPath (`.a.b`, `{.a.b}`, `.a[0].b`) for printer columns.
fn json_path(obj: &Value, path: &str) -> Value {
    let p = path.trim().trim_start_matches('{').trim_end_matches('}');
    let mut cur = obj;
    for part in p.split('.').filter(|s| !s.is_empty()) {
        let (name, idx) = match part.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        if !name.is_empty() {
            match cur.get(name) {
                Some(v) => cur = v,
                None => return Value::Null,
            }
        }
        if let Some(i) = idx {
            match cur.get(i) {
                Some(v) => cur = v,
                None => return Value::Null,
            }
        }
    }
    cur.clone()
}

fn node_status(obj: &Value) -> String {
    let ready = obj
        .get("status")
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        })
        .and_then(|c| c.get("status"))
        .and_then(Value::as_str);
    let mut s = match ready {
        Some("True") => "Ready".to_string(),
        Some("False") => "NotReady".to_string(),
        _ => "Unknown".to_string(),
    };
    if obj
        .get("spec")
        .and_then(|s| s.get("unschedulable"))
        .and_then(Value::as_bool)
        == Some(true)
    {
        s.push_str(",SchedulingDisabled");
    }
    s
}

fn node_roles(obj: &Value) -> String {
    let mut roles: Vec<String> = obj
        .get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .map(|l| {
            l.keys()
                .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                .filter(|r| !r.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    if roles.is_empty() {
        "<none>".into()
    } else {
        roles.join(",")
    }
}

fn status_int(obj: &Value, field: &str) -> i64 {
    obj.get("status")
        .and_then(|s| s.get(field))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// A DaemonSet's node selector as kubectl prints it (`kubernetes.io/os=linux`).
fn node_selector(obj: &Value) -> String {
    let sel = obj
        .pointer("/spec/template/spec/nodeSelector")
        .and_then(Value::as_object);
    match sel {
        Some(m) if !m.is_empty() => m
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect::<Vec<_>>()
            .join(","),
        _ => "<none>".into(),
    }
}

fn count(obj: &Value, fields: &[&str]) -> i64 {
    fields
        .iter()
        .map(|f| obj.get(*f).and_then(Value::as_object).map_or(0, Map::len) as i64)
        .sum()
}

/// Computes the cells of one row after the name.
type CellFn = Box<dyn Fn(&Value) -> Vec<Value>>;

/// A column of a built-in kind's table: no format, priority 0.
fn column(name: &str, typ: &str, description: &str) -> Value {
    col(name, typ, "", description, 0)
}

fn age_column() -> Value {
    column("Age", "string", AGE_DESC)
}

/// The columns after Name, and their cells: those of a built-in kind as kube-apiserver
/// prints it, a CRD's additionalPrinterColumns, or the creation time.
fn columns_after_name(info: &ResourceInfo) -> (Vec<Value>, CellFn) {
    match info.builtin {
        Some(Builtin::Namespace) => (
            vec![
                column("Status", "string", "The status of the namespace"),
                age_column(),
            ],
            Box::new(|o: &Value| {
                let phase = o.get("status").and_then(|s| s.get("phase"));
                vec![phase.cloned().unwrap_or(json!("")), json!(age(o))]
            }),
        ),
        Some(Builtin::ConfigMap) => (
            vec![
                column("Data", "string", "Data contains the configuration data."),
                age_column(),
            ],
            Box::new(|o: &Value| vec![json!(count(o, &["data", "binaryData"])), json!(age(o))]),
        ),
        Some(Builtin::Secret) => (
            vec![
                column("Type", "string", "The type of the secret"),
                column("Data", "string", "The number of entries in the secret"),
                age_column(),
            ],
            Box::new(|o: &Value| {
                let typ = o.get("type").and_then(Value::as_str).unwrap_or("");
                vec![json!(typ), json!(count(o, &["data"])), json!(age(o))]
            }),
        ),
        Some(Builtin::Node) => (
            vec![
                column("Status", "string", "The status of the node"),
                column("Roles", "string", "The roles of the node"),
                age_column(),
                column("Version", "string", "Kubelet Version reported by the node."),
            ],
            Box::new(|o: &Value| {
                let version = o.pointer("/status/nodeInfo/kubeletVersion");
                vec![
                    json!(node_status(o)),
                    json!(node_roles(o)),
                    json!(age(o)),
                    json!(version.and_then(Value::as_str).unwrap_or("")),
                ]
            }),
        ),
        Some(Builtin::DaemonSet) => (
            vec![
                column("Desired", "integer", DS_DESIRED),
                column("Current", "integer", DS_CURRENT),
                column("Ready", "integer", DS_READY),
                column("Up-to-date", "integer", DS_UP_TO_DATE),
                column("Available", "integer", DS_AVAILABLE),
                column("Node Selector", "string", DS_NODE_SELECTOR),
                age_column(),
            ],
            Box::new(|o: &Value| {
                vec![
                    json!(status_int(o, "desiredNumberScheduled")),
                    json!(status_int(o, "currentNumberScheduled")),
                    json!(status_int(o, "numberReady")),
                    json!(status_int(o, "updatedNumberScheduled")),
                    json!(status_int(o, "numberAvailable")),
                    json!(node_selector(o)),
                    json!(age(o)),
                ]
            }),
        ),
        Some(Builtin::Deployment) => (
            vec![
                column("Ready", "string", "Number of the pod with ready state"),
                column("Up-to-date", "string", DEPLOY_UP_TO_DATE),
                column("Available", "string", DEPLOY_AVAILABLE),
                age_column(),
            ],
            Box::new(|o: &Value| {
                let want = o
                    .pointer("/spec/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                vec![
                    json!(format!("{}/{want}", status_int(o, "readyReplicas"))),
                    json!(status_int(o, "updatedReplicas")),
                    json!(status_int(o, "availableReplicas")),
                    json!(age(o)),
                ]
            }),
        ),
        _ if !info.printer_columns.is_empty() => {
            let cols = info
                .printer_columns
                .iter()
                .map(|c| col(&c.name, &c.typ, &c.format, &c.description, c.priority))
                .collect();
            let pcs = info.printer_columns.clone();
            (
                cols,
                Box::new(move |o: &Value| {
                    let mut v = Vec::new();
                    for c in &pcs {
                        let x = json_path(o, &c.json_path);
                        v.push(if c.typ == "date" {
                            match x.as_str().and_then(|s| s.parse::<jiff::Timestamp>().ok()) {
                                Some(t) => json!(human_duration(
                                    jiff::Timestamp::now().as_second() - t.as_second()
                                )),
                                None => x,
                            }
                        } else {
                            x
                        });
                    }
                    v
                }),
            )
        }
        _ => (
            vec![col("Created At", "date", "", CREATED_DESC, 0)],
            Box::new(|o: &Value| vec![json!(meta_str(o, "creationTimestamp"))]),
        ),
    }
}

/// Renders objects as a Table. `include` is the includeObject parameter.
pub(crate) fn table(
    info: &ResourceInfo,
    items: &[Arc<Value>],
    meta: Value,
    include: &str,
) -> Value {
    let (after_name, cells) = columns_after_name(info);
    let mut columns = vec![col("Name", "string", "name", NAME_DESC, 0)];
    columns.extend(after_name);
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut row = Map::new();
            let mut row_cells = vec![json!(meta_str(o, "name"))];
            row_cells.extend(cells(o));
            row.insert("cells".into(), Value::Array(row_cells));
            match include {
                "None" => {}
                "Object" => {
                    row.insert("object".into(), (**o).clone());
                }
                _ => {
                    row.insert(
                        "object".into(),
                        json!({
                            "kind": "PartialObjectMetadata",
                            "apiVersion": "meta.k8s.io/v1",
                            "metadata": o.get("metadata").cloned().unwrap_or(json!({}))
                        }),
                    );
                }
            }
            Value::Object(row)
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": columns,
        "rows": rows
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(125), "2m5s");
        assert_eq!(human_duration(900), "15m");
        assert_eq!(human_duration(4 * 3600 + 60), "4h1m");
        assert_eq!(human_duration(30 * 3600), "30h");
        assert_eq!(human_duration(3 * 86400 + 3600), "3d1h");
        assert_eq!(human_duration(100 * 86400), "100d");
    }

    #[test]
    fn paths() {
        let o = json!({"spec":{"a":[{"b":1}]}});
        assert_eq!(json_path(&o, ".spec.a[0].b"), json!(1));
        assert_eq!(json_path(&o, "{.spec.x}"), Value::Null);
    }
}
