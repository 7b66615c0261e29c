//! Custom resources as kube-apiserver handles them against their CRD's structural schema, in
//! one place for the plugin (which predicts what the server stores and rejects) and for the
//! local API server (which answers as the server does):
//!
//! - pruning of unknown fields and of `null`s of non-nullable fields without a default;
//! - defaulting;
//! - validation with kube-openapi's error texts ([`Schema::validate`]), then the CEL rules
//!   ([`cel`]) where they are evaluated;
//! - repairs that lose nothing for values the server would refuse ([`Schema::repair`]).
//!
//! [`meta`] holds the rules of object metadata both apply (ObjectMeta's field order, DNS-1123
//! names).
//!
//! A schema is read once per CRD version, as k8s-openapi's `CustomResourceDefinition` and
//! `JSONSchemaProps`, into a typed tree ([`Node`]): patterns compiled, rules parsed, formats
//! resolved; each object is then walked against that tree.

pub mod cel;
mod errors;
pub mod formats;
pub mod meta;
mod node;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps,
};
use regex::Regex;
use serde::Deserialize;
use serde_json::{Map, Value};

pub use errors::{ErrorType, FieldError};
pub use node::{Additional, Node, Pattern, Rule, SchemaProblems, json_type_name};
pub use validate::bad_value;

/// Top-level fields the schema does not touch.
const UNTOUCHED: &[&str] = &["apiVersion", "kind", "metadata"];

/// One step of a JSON path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// `spec.attributes[0].releasedAt`; keys that are not plain words are quoted:
/// `metadata.annotations["projectcalico.org/metadata"]`.
pub fn render_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
            Seg::Key(k)
                if !k.is_empty()
                    && k.bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-') =>
            {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Key(k) => out.push_str(&format!("[{}]", Value::String(k.clone()))),
        }
    }
    out
}

/// `spec.block.10.0.0.0/30`, `spec.items[0]`: keys joined with a dot whatever they hold, as
/// the API server names fields in its messages and warnings.
pub fn render_field_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
        }
    }
    out
}

fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

/// The value at `path`, if there is one.
pub fn value_at<'v>(value: &'v Value, path: &[Seg]) -> Option<&'v Value> {
    path.iter().try_fold(value, |v, seg| match seg {
        Seg::Key(k) => v.as_object()?.get(k),
        Seg::Index(i) => v.as_array()?.get(*i),
    })
}

/// Sets the value at `path` when its parent exists.
pub fn set_at(value: &mut Value, path: &[Seg], new: Value) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut cur = value;
    for seg in parents {
        let next = match seg {
            Seg::Key(k) => cur.as_object_mut().and_then(|m| m.get_mut(k)),
            Seg::Index(i) => cur.as_array_mut().and_then(|a| a.get_mut(*i)),
        };
        match next {
            Some(v) => cur = v,
            None => return false,
        }
    }
    match (last, cur) {
        (Seg::Key(k), Value::Object(map)) => {
            map.insert(k.clone(), new);
            true
        }
        (Seg::Index(i), Value::Array(items)) if *i < items.len() => {
            items[*i] = new;
            true
        }
        _ => false,
    }
}

/// What the API server stores for an object, as far as the schema decides it.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    pub object: Value,
    /// Fields dropped because the schema does not know them (and `status` of a kind with a
    /// status subresource), as JSON paths like `spec.foo` or `spec.attributes[0].releasedAt`.
    pub pruned: Vec<String>,
    /// Explicit `null`s dropped because their field is not `nullable` and has no default.
    pub pruned_nulls: Vec<String>,
}

/// A value changed so that the target's schema accepts it without losing anything (or, with
/// `to: None`, one that could not be).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rewrite {
    pub path: String,
    pub from: String,
    /// The replacement; None when nothing that loses no information passes the schema (the API
    /// server will reject the object).
    pub to: Option<String>,
    pub why: RewriteReason,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RewriteReason {
    /// A fractional Go duration (`1.5s`) that fails the field's pattern, written in a whole
    /// number of a smaller unit (`1500ms`).
    FractionalDuration,
    /// Exact repeats in a list the schema declares a set (`x-kubernetes-list-type: set`): the
    /// server refuses them, and a set holds each value once anyway.
    DuplicateSetItems,
}

impl fmt::Display for Rewrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.to, self.why) {
            (Some(to), RewriteReason::FractionalDuration) => {
                write!(f, "{}: {:?} rewritten as {to:?}", self.path, self.from)
            }
            (None, RewriteReason::FractionalDuration) => write!(
                f,
                "{}: {:?} fails the CRD's pattern and has no whole-unit form that passes it",
                self.path, self.from
            ),
            (_, RewriteReason::DuplicateSetItems) => write!(
                f,
                "{}: dropped repeated {} (the list is a set)",
                self.path, self.from
            ),
        }
    }
}

/// How the server being matched behaves where versions of kube-apiserver differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Evaluate the CEL rules (`x-kubernetes-validations`) that [`cel`] understands once the
    /// schema holds, as a server from Kubernetes 1.25 on does on a create.
    pub cel_rules: bool,
    /// Word a `maxLength` failure as apimachinery from Kubernetes 1.32 on does (`may not be
    /// more than 5 bytes`) rather than as earlier versions do (`may not be longer than 5`).
    pub too_long_in_bytes: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            cel_rules: true,
            too_long_in_bytes: false,
        }
    }
}

/// A CRD version's structural schema.
#[derive(Clone, Debug)]
pub struct Schema {
    root: Node,
    status_subresource: bool,
    options: Options,
    /// Every `pattern` of the schema, compiled (Go RE2 syntax translated), or why not.
    patterns: BTreeMap<String, Result<Regex, String>>,
    /// Every CEL rule of the schema, parsed, or why it is not evaluated here.
    rules: BTreeMap<String, Result<Arc<cel::Expr>, String>>,
}

/// Where a field's schema comes from.
enum Child<'s> {
    Schema(&'s Node),
    Keep,
    Prune,
}

impl Node {
    fn child(&self, field: &str) -> Child<'_> {
        if let Some(schema) = self.properties.get(field) {
            return Child::Schema(schema);
        }
        match &self.additional {
            Some(Additional::Schema(schema)) => Child::Schema(schema),
            Some(Additional::Bool(true)) => Child::Keep,
            _ if self.preserve_unknown => Child::Keep,
            _ if self.embedded && UNTOUCHED.contains(&field) => Child::Keep,
            _ if !self.object_like => Child::Keep,
            _ => Child::Prune,
        }
    }
}

impl Schema {
    /// A schema from a CRD version's `schema.openAPIV3Schema`.
    pub fn new(open_api_v3_schema: Value, status_subresource: bool) -> Schema {
        Schema::parse(&open_api_v3_schema, "openAPIV3Schema", status_subresource).0
    }

    /// Reads a schema, with what is wrong with it as kube-apiserver reports it when the CRD is
    /// written. `path` names the schema in those reports, e.g.
    /// `spec.versions[0].schema.openAPIV3Schema`.
    pub fn parse(schema: &Value, path: &str, status_subresource: bool) -> (Schema, SchemaProblems) {
        let mut reader = node::Reader::default();
        reader.check_json(schema, path);
        let root = if reader.problems.decode.is_empty() {
            match JSONSchemaProps::deserialize(schema) {
                Ok(props) => reader.node(&props, path),
                Err(e) => {
                    reader.problems.decode.push(format!("{path}: {e}"));
                    Node::default()
                }
            }
        } else {
            Node::default()
        };
        let problems = std::mem::take(&mut reader.problems);
        (Schema::of(root, reader, status_subresource), problems)
    }

    /// A schema that keeps anything and checks nothing.
    pub fn preserve_all() -> Schema {
        Schema {
            root: Node::preserve_all(),
            status_subresource: false,
            options: Options::default(),
            patterns: BTreeMap::new(),
            rules: BTreeMap::new(),
        }
    }

    /// The same schema, matching a server that behaves as `options` say.
    pub fn with_options(mut self, options: Options) -> Schema {
        self.options = options;
        self
    }

    /// The schema of a typed JSONSchemaProps (a CRD version's `openAPIV3Schema`).
    pub fn from_props(props: &JSONSchemaProps, status_subresource: bool) -> Schema {
        let mut reader = node::Reader::default();
        let root = reader.node(props, "openAPIV3Schema");
        Schema::of(root, reader, status_subresource)
    }

    fn of(root: Node, reader: node::Reader, status_subresource: bool) -> Schema {
        Schema {
            root,
            status_subresource,
            options: Options::default(),
            patterns: reader.patterns,
            rules: reader.rules,
        }
    }

    /// The schema of a CRD's version `version`, or of its storage version when None, the CRD
    /// read as a typed `CustomResourceDefinition`.
    pub fn from_crd(crd: &Value, version: Option<&str>) -> Result<Schema, String> {
        let name = crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("CRD");
        if crd.pointer("/spec/versions").is_none_or(|v| !v.is_array()) {
            return Err(format!("{name}: no spec.versions"));
        }
        let typed = CustomResourceDefinition::deserialize(crd)
            .map_err(|e| format!("{name}: not a CustomResourceDefinition: {e}"))?;
        let versions = &typed.spec.versions;
        let chosen = match version {
            Some(wanted) => versions.iter().find(|v| v.name == wanted),
            None => versions
                .iter()
                .find(|v| v.storage)
                .or_else(|| versions.first()),
        }
        .ok_or_else(|| format!("{name}: no version {}", version.unwrap_or("marked storage")))?;
        let status = chosen
            .subresources
            .as_ref()
            .is_some_and(|s| s.status.is_some())
            || crd.pointer("/spec/subresources/status").is_some();
        if let Some(props) = chosen
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
        {
            return Ok(Schema::from_props(props, status));
        }
        // apiextensions/v1beta1 kept one schema for all versions.
        let schema = crd
            .pointer("/spec/validation/openAPIV3Schema")
            .filter(|s| s.is_object())
            .ok_or_else(|| format!("{name}: no openAPIV3Schema"))?;
        Ok(Schema::new(schema.clone(), status))
    }

    /// The root of the typed tree.
    pub fn root(&self) -> &Node {
        &self.root
    }

    pub fn status_subresource(&self) -> bool {
        self.status_subresource
    }

    /// CEL rules of the schema that are not evaluated here, with the reason: the API server
    /// checks them when the object is written.
    pub fn unevaluated_rules(&self) -> Vec<(String, String)> {
        self.rules
            .iter()
            .filter_map(|(r, parsed)| parsed.as_ref().err().map(|e| (r.clone(), e.clone())))
            .collect()
    }

    /// How many distinct CEL rules the schema has.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// How many distinct patterns the schema has.
    pub fn pattern_count(&self) -> usize {
        self.patterns.len()
    }

    /// Patterns of the schema that the regex engine cannot compile, with the reason; values
    /// under them are never rewritten.
    pub fn pattern_errors(&self) -> Vec<(String, String)> {
        self.patterns
            .iter()
            .filter_map(|(p, r)| r.as_ref().err().map(|e| (p.clone(), e.clone())))
            .collect()
    }

    /// What kube-apiserver stores when this object is created: unknown fields pruned
    /// (respecting `x-kubernetes-preserve-unknown-fields` and `x-kubernetes-int-or-string`),
    /// `null`s of non-nullable fields without a default pruned, defaults applied (nested too, for
    /// absent or null fields), `status` dropped for kinds with a status subresource.
    /// `apiVersion`, `kind` and `metadata` are left alone.
    pub fn apply(&self, object: &Value) -> Applied {
        let (object, pruned, nulls) = self.apply_paths(object);
        Applied {
            object,
            pruned: pruned.iter().map(|p| render_path(p)).collect(),
            pruned_nulls: nulls.iter().map(|p| render_path(p)).collect(),
        }
    }

    /// [`Schema::apply`] with the paths as segments.
    pub fn apply_paths(&self, object: &Value) -> (Value, Vec<Vec<Seg>>, Vec<Vec<Seg>>) {
        let mut out = object.clone();
        let mut pruned = self.prune(&mut out);
        let nulls = self.prune_nulls(&mut out);
        self.apply_defaults(&mut out);
        if self.status_subresource
            && let Some(map) = out.as_object_mut()
            && map.shift_remove("status").is_some()
        {
            pruned.push(vec![key("status")]);
        }
        (out, pruned, nulls)
    }

    /// Removes the fields the schema does not know (not `apiVersion`, `kind` and `metadata`
    /// at the top), returning their paths in the object's order.
    pub fn prune(&self, object: &mut Value) -> Vec<Vec<Seg>> {
        let mut out = Vec::new();
        prune(object, &self.root, &mut Vec::new(), &mut out);
        out
    }

    /// Removes the `null`s of fields that are neither nullable nor defaulted, returning their
    /// paths.
    pub fn prune_nulls(&self, object: &mut Value) -> Vec<Vec<Seg>> {
        let mut out = Vec::new();
        prune_nulls(object, &self.root, &mut Vec::new(), &mut out);
        out
    }

    /// Applies `default`s to absent fields (and to non-nullable nulls), nested too.
    pub fn apply_defaults(&self, object: &mut Value) {
        apply_defaults(object, &self.root, true);
    }

    /// Repairs that lose nothing, for values the API server would refuse:
    /// - string values that fail their schema `pattern` but are Go durations (`1.5s`, `1m30.5s`,
    ///   `0.5m`; Calico's Go code writes them, and the duration patterns of Calico's CRDs refuse
    ///   a fraction) become a whole number of the largest of h, m, s, ms that represents them
    ///   exactly and passes the pattern (`1500ms`, `90500ms`, `30s`); values with no such form
    ///   are left as they are and reported with `to: None`;
    /// - exact repeats in lists the schema declares sets are dropped (the first stays).
    pub fn repair(&self, object: &mut Value) -> Vec<Rewrite> {
        let mut out = Vec::new();
        walk_repairs(object, &self.root, &mut Vec::new(), &mut out);
        out
    }
}

fn walk_repairs(value: &mut Value, node: &Node, path: &mut Vec<Seg>, out: &mut Vec<Rewrite>) {
    match value {
        Value::String(text) => repair_duration(text, node, path, out),
        Value::Array(values) if node.list_type.as_deref() == Some("set") => {
            drop_set_repeats(values, path, out)
        }
        _ => {}
    }
    walk_children(value, node, path, &mut |v, schema, path| {
        walk_repairs(v, schema, path, out)
    });
}

/// Rewrites a string that fails its `pattern` but is a Go duration into a whole number of
/// the largest unit that passes the pattern; reports it either way.
fn repair_duration(text: &mut String, node: &Node, path: &[Seg], out: &mut Vec<Rewrite>) {
    let Some(Pattern { regex: Ok(re), .. }) = &node.pattern else {
        return;
    };
    if re.is_match(text) {
        return;
    }
    let Some(nanos) = go_compat::time::parse_go_duration(text) else {
        return;
    };
    let replacement = DURATION_UNITS
        .iter()
        .filter(|(_, unit)| nanos % unit == 0)
        .map(|(suffix, unit)| format!("{}{suffix}", nanos / unit))
        .find(|candidate| re.is_match(candidate));
    out.push(Rewrite {
        path: render_path(path),
        from: text.clone(),
        to: replacement.clone(),
        why: RewriteReason::FractionalDuration,
    });
    if let Some(replacement) = replacement {
        *text = replacement;
    }
}

/// Calls `walk` on each part of `value` that has a schema of its own, with the part's segment
/// pushed on `path`: the fields of an object (at the root not `apiVersion`, `kind` and
/// `metadata`) and the items of an array.
fn walk_children(
    value: &mut Value,
    node: &Node,
    path: &mut Vec<Seg>,
    walk: &mut impl FnMut(&mut Value, &Node, &mut Vec<Seg>),
) {
    match value {
        Value::Object(map) => {
            let root = path.is_empty();
            for (k, v) in map.iter_mut() {
                if root && UNTOUCHED.contains(&k.as_str()) {
                    continue;
                }
                if let Child::Schema(schema) = node.child(k) {
                    path.push(key(k));
                    walk(v, schema, path);
                    path.pop();
                }
            }
        }
        Value::Array(values) => {
            if let Some(item) = &node.items {
                for (i, v) in values.iter_mut().enumerate() {
                    path.push(Seg::Index(i));
                    walk(v, item, path);
                    path.pop();
                }
            }
        }
        _ => {}
    }
}

/// Keeps the first of each value of a set, reporting each value that was repeated.
fn drop_set_repeats(values: &mut Vec<Value>, path: &[Seg], out: &mut Vec<Rewrite>) {
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut repeated: Vec<String> = Vec::new();
    values.retain(|v| {
        let times = seen.entry(validate::set_key(v)).or_insert(0);
        *times += 1;
        if *times == 2 {
            repeated.push(go_compat::json::marshal(v));
        }
        *times == 1
    });
    for value in repeated {
        out.push(Rewrite {
            path: render_path(path),
            from: value,
            to: None,
            why: RewriteReason::DuplicateSetItems,
        });
    }
}

const DURATION_UNITS: &[(&str, i128)] = &[
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
];

fn prune(value: &mut Value, node: &Node, path: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    if node.int_or_string {
        return;
    }
    let Value::Object(map) = value else {
        walk_children(value, node, path, &mut |v, item, path| {
            prune(v, item, path, out)
        });
        return;
    };
    // One pass, so that the paths come out in the object's order.
    let fields: Vec<String> = map.keys().cloned().collect();
    for field in fields {
        if path.is_empty() && UNTOUCHED.contains(&field.as_str()) {
            continue;
        }
        match node.child(&field) {
            Child::Keep => {}
            Child::Prune => remove_field(map, &field, path, out),
            Child::Schema(schema) => {
                if let Some(v) = map.get_mut(&field) {
                    path.push(key(&field));
                    prune(v, schema, path, out);
                    path.pop();
                }
            }
        }
    }
}

/// Removes `field` from the object at `path`, recording the field's path.
fn remove_field(map: &mut Map<String, Value>, field: &str, path: &[Seg], out: &mut Vec<Vec<Seg>>) {
    map.shift_remove(field);
    let mut p = path.to_vec();
    p.push(key(field));
    out.push(p);
}

fn is_null_to_prune(value: &Value, schema: &Node) -> bool {
    value.is_null() && !schema.nullable && schema.default.is_none()
}

fn prune_nulls(value: &mut Value, node: &Node, path: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    if let Value::Object(map) = value {
        let root = path.is_empty();
        let doomed: Vec<String> = map
            .iter()
            .filter(|(k, v)| {
                !(root && UNTOUCHED.contains(&k.as_str()))
                    && matches!(node.child(k), Child::Schema(s) if is_null_to_prune(v, s))
            })
            .map(|(k, _)| k.clone())
            .collect();
        for field in doomed {
            remove_field(map, &field, path, out);
        }
    }
    walk_children(value, node, path, &mut |v, schema, path| {
        prune_nulls(v, schema, path, out)
    });
}

fn needs_default(value: Option<&Value>, schema: &Node) -> bool {
    match value {
        None => true,
        Some(Value::Null) => !schema.nullable,
        Some(_) => false,
    }
}

fn apply_defaults(value: &mut Value, node: &Node, root: bool) {
    match value {
        Value::Object(map) => {
            for (field, schema) in &node.properties {
                if root && UNTOUCHED.contains(&field.as_str()) {
                    continue;
                }
                if let Some(default) = &schema.default
                    && needs_default(map.get(field), schema)
                {
                    map.insert(field.clone(), default.clone());
                }
            }
            // Properties were defaulted above; map values get theirs here.
            for (k, v) in map.iter_mut() {
                if root && UNTOUCHED.contains(&k.as_str()) {
                    continue;
                }
                if let Child::Schema(schema) = node.child(k) {
                    default_and_descend(v, schema);
                }
            }
        }
        Value::Array(values) => {
            if let Some(item) = &node.items {
                values.iter_mut().for_each(|v| default_and_descend(v, item));
            }
        }
        _ => {}
    }
}

/// A value under its schema: its default when it needs one, then the defaults inside it. Paths
/// are not built: defaulting reports nothing, and runs on every object the server stores.
fn default_and_descend(value: &mut Value, schema: &Node) {
    if let Some(default) = &schema.default
        && needs_default(Some(value), schema)
    {
        *value = default.clone();
    }
    apply_defaults(value, schema, false);
}

#[cfg(test)]
mod tests;
