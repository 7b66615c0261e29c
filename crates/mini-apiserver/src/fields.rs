//! Field paths and field sets as server-side apply sees them (structured-merge-diff):
//! how each field of an object merges, the `FieldsV1` encoding of `managedFields`, and
//! the walks over objects that apply needs (field set of an object, comparison of two
//! objects, merge of an applied configuration into a live object, removal of fields).
//!
//! How lists and maps merge:
//! - Custom resources follow their CRD schema: `x-kubernetes-list-type: map` lists merge
//!   item by item on their `x-kubernetes-list-map-keys`, `set` lists by value, every
//!   other list is atomic (replaced as a whole); objects merge field by field;
//!   `x-kubernetes-preserve-unknown-fields` content merges objects field by field and
//!   replaces lists.
//! - Built-in kinds follow [`builtin_list_type`] and [`builtin_atomic_map`], keyed by
//!   field path: the list types and merge keys the Kubernetes API declares for the
//!   fields the Calico manifests use (containers and env by name, ports by port and
//!   protocol, volumeMounts by mountPath, tolerations atomic, and so on). Lists not in
//!   the table are atomic, as untyped lists are for structured-merge-diff.
//! - `metadata` is the same for every kind: labels and annotations merge key by key,
//!   finalizers are a set, ownerReferences merge by uid.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::registry::ResourceInfo;
use crate::schema::{Additional, Node, json_equal};

/// How the items of a list merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListType {
    /// Replaced as a whole.
    Atomic,
    /// Items are scalars, merged by value.
    Set,
    /// Items are objects, merged by these keys; a key with a default value counts as
    /// present with that value (ports without `protocol` are TCP ports).
    Map(Vec<(String, Option<Value>)>),
}

impl ListType {
    fn map(keys: &[&str]) -> ListType {
        ListType::Map(
            keys.iter()
                .map(|k| {
                    let default = (*k == "protocol").then(|| json!("TCP"));
                    (k.to_string(), default)
                })
                .collect(),
        )
    }

    /// The merge key a strategic merge patch uses for this list: `Some("")` merges
    /// primitive values, `None` replaces the list.
    pub(crate) fn strategic_merge_key(&self) -> Option<&str> {
        match self {
            ListType::Atomic => None,
            ListType::Set => Some(""),
            ListType::Map(keys) => keys.first().map(|(k, _)| k.as_str()),
        }
    }
}

const POD_SPEC: &str = "spec.template.spec.";

/// The list type of a field of a built-in kind (or of any object's `metadata`), by
/// dotted path (list items do not add a path segment).
pub(crate) fn builtin_list_type(path: &str) -> ListType {
    let map = ListType::map;
    let in_pod = path.strip_prefix(POD_SPEC).map(|p| {
        // The three container lists share their item structure.
        for c in ["initContainers.", "ephemeralContainers."] {
            if let Some(rest) = p.strip_prefix(c) {
                return format!("containers.{rest}");
            }
        }
        p.to_string()
    });
    if let Some(p) = in_pod {
        return match p.as_str() {
            "containers"
            | "initContainers"
            | "ephemeralContainers"
            | "volumes"
            | "imagePullSecrets"
            | "containers.env"
            | "resourceClaims" => map(&["name"]),
            "containers.ports" => map(&["containerPort", "protocol"]),
            "containers.volumeMounts" => map(&["mountPath"]),
            "containers.volumeDevices" => map(&["devicePath"]),
            "hostAliases" => map(&["ip"]),
            "topologySpreadConstraints" => map(&["topologyKey", "whenUnsatisfiable"]),
            _ => ListType::Atomic,
        };
    }
    match path {
        "metadata.ownerReferences" => map(&["uid"]),
        "metadata.finalizers" | "spec.podCIDRs" | "spec.finalizers" => ListType::Set,
        "status.conditions" | "status.addresses" => map(&["type"]),
        "spec.ports" => map(&["port", "protocol"]),
        "webhooks" => map(&["name"]),
        _ => ListType::Atomic,
    }
}

/// Objects of built-in kinds that are replaced as a whole (`+structType=atomic`).
pub(crate) fn builtin_atomic_map(path: &str) -> bool {
    if matches!(
        path,
        "metadata.ownerReferences" | "roleRef" | "spec.selector"
    ) {
        return true;
    }
    path.strip_prefix(POD_SPEC).is_some_and(|p| {
        p.ends_with(".valueFrom.fieldRef")
            || p.ends_with(".valueFrom.configMapKeyRef")
            || p.ends_with(".valueFrom.secretKeyRef")
            || p.ends_with(".valueFrom.resourceFieldRef")
    })
}

/// Fields of built-in kinds whose keys are free-form (Go maps, not structs).
fn builtin_map_field(path: &str) -> bool {
    let last = path.rsplit('.').next().unwrap_or("");
    matches!(
        last,
        "labels"
            | "annotations"
            | "data"
            | "binaryData"
            | "stringData"
            | "nodeSelector"
            | "matchLabels"
            | "limits"
            | "requests"
            | "capacity"
            | "allocatable"
    )
}

/// Where a walk is in an object: the field path and, for custom resources, the schema.
#[derive(Clone)]
pub(crate) struct Cursor<'a> {
    path: String,
    /// The schema of a custom resource's field; `None` for built-in rules.
    schema: Option<&'a Node>,
    custom: bool,
    /// The node is a key of a map (not a named field of a struct).
    map_key: bool,
}

impl<'a> Cursor<'a> {
    /// The root of an object of this resource.
    pub(crate) fn root(info: &'a ResourceInfo) -> Cursor<'a> {
        Cursor {
            path: String::new(),
            schema: info.is_custom().then_some(info.schema.root()),
            custom: info.is_custom(),
            map_key: false,
        }
    }

    fn field(&self, name: &str) -> Cursor<'a> {
        let path = if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        };
        let custom = self.custom && path != "metadata";
        let (schema, map_key) = if custom {
            match self.schema {
                Some(s) => match s.properties.get(name) {
                    Some(p) => (Some(p), false),
                    None => match &s.additional {
                        Some(Additional::Schema(a)) => (Some(a.as_ref()), true),
                        _ => (None, true),
                    },
                },
                None => (None, true),
            }
        } else {
            (None, builtin_map_field(&self.path))
        };
        Cursor {
            path,
            schema,
            custom,
            map_key,
        }
    }

    fn item(&self) -> Cursor<'a> {
        Cursor {
            path: self.path.clone(),
            schema: self.schema.and_then(|s| s.items.as_deref()),
            custom: self.custom,
            map_key: false,
        }
    }

    fn list_type(&self) -> ListType {
        if !self.custom {
            return builtin_list_type(&self.path);
        }
        match self.schema.and_then(|s| s.list_type.as_deref()) {
            Some("map") => ListType::Map(
                self.schema
                    .map(|s| {
                        s.list_map_keys
                            .iter()
                            .map(|k| {
                                let default = s
                                    .items
                                    .as_ref()
                                    .and_then(|i| i.properties.get(k))
                                    .and_then(|p| p.default.clone());
                                (k.clone(), default)
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            Some("set") => ListType::Set,
            _ => ListType::Atomic,
        }
    }

    fn atomic_map(&self) -> bool {
        !self.custom && builtin_atomic_map(&self.path)
    }
}

/// How a value at a cursor takes part in field sets.
enum Shape {
    Leaf,
    Object,
    List(ListType),
}

fn shape(v: &Value, cur: &Cursor) -> Shape {
    match v {
        Value::Object(_) if !cur.atomic_map() => Shape::Object,
        Value::Array(_) => match cur.list_type() {
            ListType::Atomic => Shape::Leaf,
            lt => Shape::List(lt),
        },
        _ => Shape::Leaf,
    }
}

/// The path element of a list item: `k:{...}` for map lists, `v:...` for sets, `i:N`
/// for items that carry no key.
fn item_element(item: &Value, lt: &ListType, index: usize) -> String {
    match lt {
        ListType::Set => format!("v:{item}"),
        ListType::Map(keys) => {
            let Some(obj) = item.as_object() else {
                return format!("i:{index}");
            };
            let mut sorted: Vec<&(String, Option<Value>)> = keys.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            let mut key = Map::new();
            for (k, default) in sorted {
                match obj.get(k).or(default.as_ref()) {
                    Some(v) if !v.is_null() => {
                        key.insert(k.clone(), v.clone());
                    }
                    _ => {}
                }
            }
            if key.is_empty() {
                format!("i:{index}")
            } else {
                format!("k:{}", Value::Object(key))
            }
        }
        ListType::Atomic => format!("i:{index}"),
    }
}

// ------------------------------------------------------------------- field sets

/// A set of field paths, as a tree of path elements (`f:name`, `k:{...}`, `v:...`).
/// A node is a *member* when its own path is in the set.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FieldSet {
    member: bool,
    children: BTreeMap<String, FieldSet>,
}

impl FieldSet {
    pub(crate) fn is_empty(&self) -> bool {
        !self.member && self.children.is_empty()
    }

    fn insert(&mut self, path: &[String]) {
        match path.split_first() {
            None => self.member = true,
            Some((first, rest)) => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    /// Adds a path given as elements (`["f:spec", "f:replicas"]`).
    pub(crate) fn with(mut self, path: &[&str]) -> FieldSet {
        let p: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        self.insert(&p);
        self
    }

    pub(crate) fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.member |= other.member;
        for (k, c) in &other.children {
            let merged = match out.children.get(k) {
                Some(mine) => mine.union(c),
                None => c.clone(),
            };
            out.children.insert(k.clone(), merged);
        }
        out
    }

    pub(crate) fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && !other.member,
            children: BTreeMap::new(),
        };
        for (k, c) in &self.children {
            let d = match other.children.get(k) {
                Some(o) => c.difference(o),
                None => c.clone(),
            };
            if !d.is_empty() {
                out.children.insert(k.clone(), d);
            }
        }
        out
    }

    pub(crate) fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && other.member,
            children: BTreeMap::new(),
        };
        for (k, c) in &self.children {
            if let Some(o) = other.children.get(k) {
                let i = c.intersection(o);
                if !i.is_empty() {
                    out.children.insert(k.clone(), i);
                }
            }
        }
        out
    }

    /// The member paths, members of a node before the content of its children (the
    /// order structured-merge-diff lists them in).
    pub(crate) fn paths(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        for (k, c) in &self.children {
            if c.member {
                let mut p = prefix.clone();
                p.push(k.clone());
                out.push(p);
            }
        }
        for (k, c) in &self.children {
            prefix.push(k.clone());
            c.collect(prefix, out);
            prefix.pop();
        }
    }

    /// Removes the paths kube-apiserver never tracks (identity and server-set
    /// metadata, `apiVersion`, `kind`).
    pub(crate) fn strip_server_fields(&self) -> FieldSet {
        let mut strip = FieldSet::default()
            .with(&["f:apiVersion"])
            .with(&["f:kind"])
            .with(&["f:metadata"]);
        for f in [
            "name",
            "namespace",
            "generateName",
            "creationTimestamp",
            "selfLink",
            "uid",
            "generation",
            "managedFields",
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            strip = strip.with(&["f:metadata", &format!("f:{f}")]);
        }
        self.difference(&strip)
    }

    /// Makes the named fields (struct fields) that have members below them members
    /// too, so that removing such a field removes the whole field.
    fn ensure_named_fields(&self, cur: &Cursor) -> FieldSet {
        let mut out = FieldSet {
            member: self.member,
            children: BTreeMap::new(),
        };
        for (k, c) in &self.children {
            let (child_cur, named) = match k.strip_prefix("f:") {
                Some(name) => {
                    let cc = cur.field(name);
                    let named = !cc.map_key;
                    (cc, named)
                }
                None => (cur.item(), false),
            };
            let mut e = c.ensure_named_fields(&child_cur);
            if named && !e.children.is_empty() {
                e.member = true;
            }
            out.children.insert(k.clone(), e);
        }
        out
    }

    // -------------------------------------------------------------- FieldsV1

    /// The `fieldsV1` JSON of the set.
    pub(crate) fn to_fields_v1(&self) -> Value {
        let mut m = Map::new();
        if self.member && !self.children.is_empty() {
            m.insert(".".into(), json!({}));
        }
        for (k, c) in &self.children {
            m.insert(k.clone(), c.to_fields_v1());
        }
        Value::Object(m)
    }

    /// Reads a `fieldsV1` JSON object.
    pub(crate) fn from_fields_v1(v: &Value) -> Result<FieldSet, String> {
        let Some(m) = v.as_object() else {
            return Err("fieldsV1 must be an object".into());
        };
        let mut out = FieldSet::default();
        for (k, c) in m {
            if k == "." {
                out.member = true;
                continue;
            }
            if !["f:", "k:", "v:", "i:"].iter().any(|p| k.starts_with(p)) {
                return Err(format!("unknown path element {k:?}"));
            }
            let mut child = FieldSet::from_fields_v1(c)?;
            if child.children.is_empty() {
                child.member = true;
            }
            out.children.insert(k.clone(), child);
        }
        Ok(out)
    }
}

/// A path as structured-merge-diff prints it: `.spec.containers[name="x"].image`.
pub(crate) fn path_string(path: &[String]) -> String {
    let mut out = String::new();
    for e in path {
        if let Some(f) = e.strip_prefix("f:") {
            out.push('.');
            out.push_str(f);
        } else if let Some(k) = e.strip_prefix("k:") {
            let parts: Vec<String> = serde_json::from_str::<Map<String, Value>>(k)
                .map(|m| m.iter().map(|(n, v)| format!("{n}={v}")).collect())
                .unwrap_or_default();
            out.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(v) = e.strip_prefix("v:") {
            out.push_str(&format!("[={v}]"));
        } else if let Some(i) = e.strip_prefix("i:") {
            out.push_str(&format!("[{i}]"));
        }
    }
    out
}

// ------------------------------------------------------------------- walks

/// The fields an applied configuration sets: its leaves, its atomic lists and maps,
/// and the items of its map and set lists.
pub(crate) fn field_set(v: &Value, cur: &Cursor) -> FieldSet {
    let mut set = FieldSet::default();
    walk_set(v, cur, &mut Vec::new(), &mut set);
    set
}

fn walk_set(v: &Value, cur: &Cursor, prefix: &mut Vec<String>, set: &mut FieldSet) {
    match (shape(v, cur), v) {
        (Shape::Object, Value::Object(m)) => {
            for (k, cv) in m {
                prefix.push(format!("f:{k}"));
                walk_set(cv, &cur.field(k), prefix, set);
                prefix.pop();
            }
        }
        (Shape::List(lt), Value::Array(items)) => {
            let ic = cur.item();
            for (i, it) in items.iter().enumerate() {
                prefix.push(item_element(it, &lt, i));
                set.insert(prefix);
                walk_set(it, &ic, prefix, set);
                prefix.pop();
            }
        }
        _ => {
            if !prefix.is_empty() {
                set.insert(prefix);
            }
        }
    }
}

/// What changed between two versions of an object.
#[derive(Debug, Default)]
pub(crate) struct Comparison {
    pub added: FieldSet,
    pub removed: FieldSet,
    pub modified: FieldSet,
}

/// Compares two objects field by field (an object field that appears or disappears
/// as a whole is itself added or removed, as are list items).
pub(crate) fn compare(old: &Value, new: &Value, cur: &Cursor) -> Comparison {
    let mut c = Comparison::default();
    walk_compare(Some(old), Some(new), cur, &mut Vec::new(), &mut c);
    c
}

fn walk_compare(
    lhs: Option<&Value>,
    rhs: Option<&Value>,
    cur: &Cursor,
    prefix: &mut Vec<String>,
    c: &mut Comparison,
) {
    let Some(sample) = rhs.or(lhs) else { return };
    let same_kind = match (lhs, rhs) {
        (Some(a), Some(b)) => {
            matches!(
                (a, b),
                (Value::Object(_), Value::Object(_)) | (Value::Array(_), Value::Array(_))
            ) || !(a.is_object() || a.is_array() || b.is_object() || b.is_array())
        }
        _ => true,
    };
    let record_presence = |c: &mut Comparison, prefix: &Vec<String>| {
        if prefix.is_empty() {
            return;
        }
        match (lhs, rhs) {
            (None, Some(_)) => c.added.insert(prefix),
            (Some(_), None) => c.removed.insert(prefix),
            _ => {}
        }
    };
    match shape(sample, cur) {
        Shape::Object if same_kind => {
            record_presence(c, prefix);
            let empty = Map::new();
            let l = lhs.and_then(Value::as_object).unwrap_or(&empty);
            let r = rhs.and_then(Value::as_object).unwrap_or(&empty);
            let mut keys: Vec<&String> = l.keys().chain(r.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                prefix.push(format!("f:{k}"));
                walk_compare(l.get(k), r.get(k), &cur.field(k), prefix, c);
                prefix.pop();
            }
        }
        Shape::List(lt) if same_kind => {
            let ic = cur.item();
            let keyed = |v: Option<&Value>| -> Vec<(String, Value)> {
                v.and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .enumerate()
                            .map(|(i, it)| (item_element(it, &lt, i), it.clone()))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let l = keyed(lhs);
            let r = keyed(rhs);
            let mut keys: Vec<&String> = l.iter().chain(r.iter()).map(|(k, _)| k).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let lv = l.iter().find(|(x, _)| x == k).map(|(_, v)| v);
                let rv = r.iter().find(|(x, _)| x == k).map(|(_, v)| v);
                prefix.push(k.clone());
                match (lv, rv) {
                    (None, Some(_)) => c.added.insert(prefix),
                    (Some(_), None) => c.removed.insert(prefix),
                    _ => {}
                }
                walk_compare(lv, rv, &ic, prefix, c);
                prefix.pop();
            }
        }
        _ => {
            if prefix.is_empty() {
                return;
            }
            match (lhs, rhs) {
                (None, Some(_)) => c.added.insert(prefix),
                (Some(_), None) => c.removed.insert(prefix),
                (Some(a), Some(b)) if !json_equal(a, b) => c.modified.insert(prefix),
                _ => {}
            }
        }
    }
}

/// Merges an applied configuration into a live object: the configuration's values
/// win, objects merge field by field, map and set lists item by item (live items keep
/// their place, new items come after them), other lists are replaced.
pub(crate) fn merge(live: &Value, config: &Value, cur: &Cursor) -> Value {
    match (shape(config, cur), live, config) {
        (Shape::Object, Value::Object(l), Value::Object(c)) => {
            let mut out = l.clone();
            for (k, cv) in c {
                let merged = match l.get(k) {
                    Some(lv) => merge(lv, cv, &cur.field(k)),
                    None => cv.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Shape::List(lt), Value::Array(l), Value::Array(c)) => {
            let ic = cur.item();
            let mut out: Vec<Value> = l.clone();
            let mut keys: Vec<String> = out
                .iter()
                .enumerate()
                .map(|(i, it)| item_element(it, &lt, i))
                .collect();
            for (i, it) in c.iter().enumerate() {
                let k = item_element(it, &lt, i);
                match keys.iter().position(|x| *x == k && !k.starts_with("i:")) {
                    Some(pos) => out[pos] = merge(&out[pos], it, &ic),
                    None => {
                        keys.push(k);
                        out.push(it.clone());
                    }
                }
            }
            Value::Array(out)
        }
        _ => config.clone(),
    }
}

/// Removes the member paths of `set` from an object (a removed object field or list
/// item goes with everything under it).
pub(crate) fn remove_items(v: &mut Value, set: &FieldSet, cur: &Cursor) {
    match v {
        Value::Object(m) if !cur.atomic_map() => {
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                let Some(s) = set.children.get(&format!("f:{k}")) else {
                    continue;
                };
                if s.member {
                    m.remove(&k);
                } else if let Some(cv) = m.get_mut(&k) {
                    remove_items(cv, s, &cur.field(&k));
                }
            }
        }
        Value::Array(items) => {
            let lt = cur.list_type();
            if lt == ListType::Atomic {
                return;
            }
            let ic = cur.item();
            let mut kept = Vec::with_capacity(items.len());
            for (i, mut it) in std::mem::take(items).into_iter().enumerate() {
                match set.children.get(&item_element(&it, &lt, i)) {
                    Some(s) if s.member => {}
                    Some(s) => {
                        remove_items(&mut it, s, &ic);
                        kept.push(it);
                    }
                    None => kept.push(it),
                }
            }
            *items = kept;
        }
        _ => {}
    }
}

/// The fields of `merged` that must go after an apply: those the applier set before
/// (`last`) that no manager owns now (`owned`, which includes the applier's new
/// configuration with its identity fields).
pub(crate) fn to_prune(
    merged: &Value,
    last: &FieldSet,
    owned: &FieldSet,
    cur: &Cursor,
) -> FieldSet {
    let merged_set = field_set(merged, cur).ensure_named_fields(cur);
    let last = last.ensure_named_fields(cur);
    let owned = owned.ensure_named_fields(cur);
    merged_set.intersection(&last).difference(&owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Builtin, builtin_of};

    fn cm_cursor() -> Cursor<'static> {
        Cursor {
            path: String::new(),
            schema: None,
            custom: false,
            map_key: false,
        }
    }

    #[test]
    fn list_types_by_path() {
        assert_eq!(
            builtin_list_type("spec.template.spec.initContainers.env"),
            ListType::map(&["name"])
        );
        assert_eq!(
            builtin_list_type("spec.template.spec.tolerations"),
            ListType::Atomic
        );
        assert_eq!(
            builtin_list_type("metadata.finalizers").strategic_merge_key(),
            Some("")
        );
        assert_eq!(
            builtin_list_type("spec.template.spec.containers.ports").strategic_merge_key(),
            Some("containerPort")
        );
        let _ = builtin_of(Builtin::ConfigMap);
    }

    #[test]
    fn field_sets_of_a_deployment() {
        let cur = cm_cursor();
        let d = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x","labels":{"a":"1"}},
            "spec":{"replicas":1,"selector":{"matchLabels":{"a":"1"}},"template":{"spec":{
                "containers":[{"name":"c","image":"i","ports":[{"containerPort":80}]}],
                "tolerations":[{"key":"k"}]}}}});
        let set = field_set(&d, &cur).strip_server_fields();
        assert_eq!(
            set.to_fields_v1(),
            json!({"f:metadata":{"f:labels":{"f:a":{}}},"f:spec":{"f:replicas":{},"f:selector":{},
                "f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{".":{},"f:image":{},"f:name":{},
                    "f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}},
                "f:tolerations":{}}}}})
        );
        assert_eq!(FieldSet::from_fields_v1(&set.to_fields_v1()).unwrap(), set);
        let paths: Vec<String> = set.paths().iter().map(|p| path_string(p)).collect();
        assert!(paths.contains(&".spec.template.spec.containers[name=\"c\"].image".to_string()));
        assert!(paths.contains(&".spec.template.spec.containers[name=\"c\"].ports[containerPort=80,protocol=\"TCP\"]".to_string()));
    }

    #[test]
    fn compare_merge_and_remove() {
        let cur = cm_cursor();
        let live = json!({"metadata":{"labels":{"a":"1","b":"2"}},"spec":{"template":{"spec":{
            "containers":[{"name":"c","image":"i1","env":[{"name":"E","value":"1"}]},{"name":"d","image":"x"}]}}}});
        let config = json!({"metadata":{"labels":{"a":"9"}},"spec":{"template":{"spec":{
            "containers":[{"name":"c","image":"i2","env":[{"name":"F","value":"2"}]},{"name":"e","image":"y"}]}}}});
        let merged = merge(&live, &config, &cur);
        let names: Vec<&str> = merged["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["c", "d", "e"]);
        assert_eq!(
            merged["spec"]["template"]["spec"]["containers"][0]["env"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(merged["metadata"]["labels"], json!({"a":"9","b":"2"}));

        let c = compare(&live, &merged, &cur);
        let modified: Vec<String> = c.modified.paths().iter().map(|p| path_string(p)).collect();
        assert_eq!(
            modified,
            [
                ".metadata.labels.a",
                ".spec.template.spec.containers[name=\"c\"].image"
            ]
        );
        assert!(c.removed.is_empty());
        let added: Vec<String> = c.added.paths().iter().map(|p| path_string(p)).collect();
        assert!(added.contains(&".spec.template.spec.containers[name=\"e\"]".to_string()));

        let mut v = merged.clone();
        let rm = FieldSet::default()
            .with(&["f:metadata", "f:labels", "f:b"])
            .with(&[
                "f:spec",
                "f:template",
                "f:spec",
                "f:containers",
                "k:{\"name\":\"d\"}",
            ]);
        remove_items(&mut v, &rm, &cur);
        assert_eq!(v["metadata"]["labels"], json!({"a":"9"}));
        assert_eq!(
            v["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn pruning_keeps_what_others_own() {
        let cur = cm_cursor();
        let merged =
            json!({"metadata":{"name":"x","labels":{"a":"1","b":"2"}},"spec":{"x":1,"y":2}});
        let last = FieldSet::default()
            .with(&["f:metadata", "f:labels", "f:a"])
            .with(&["f:metadata", "f:labels", "f:b"])
            .with(&["f:spec", "f:x"]);
        let owned = FieldSet::default()
            .with(&["f:metadata", "f:name"])
            .with(&["f:metadata", "f:labels", "f:a"])
            .with(&["f:spec", "f:y"]);
        let p = to_prune(&merged, &last, &owned, &cur);
        let mut v = merged.clone();
        remove_items(&mut v, &p, &cur);
        assert_eq!(
            v,
            json!({"metadata":{"name":"x","labels":{"a":"1"}},"spec":{"y":2}})
        );
    }
}
