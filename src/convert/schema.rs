//! What kube-apiserver stores for a custom resource, predicted from the CRD's structural schema
//! (spec 15): unknown fields pruned, non-nullable nulls pruned, defaults applied, and the
//! fractional durations the v3.32.1 FelixConfiguration patterns reject rewritten beforehand.

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;
use serde_json::{Map, Value};

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

/// A fractional duration rewritten (or, with `to: None`, one that could not be).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rewrite {
    pub path: String,
    pub from: String,
    /// The replacement; None when no whole number of h, m, s or ms represents the value and
    /// passes the pattern (the API server will reject the object).
    pub to: Option<String>,
}

impl fmt::Display for Rewrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.to {
            Some(to) => write!(f, "{}: {:?} rewritten as {to:?}", self.path, self.from),
            None => write!(
                f,
                "{}: {:?} fails the CRD's pattern and has no whole-unit form that passes it",
                self.path, self.from
            ),
        }
    }
}

/// A CRD version's structural schema.
#[derive(Clone, Debug)]
pub struct Schema {
    root: Value,
    status_subresource: bool,
    /// Every `pattern` of the schema, compiled (Go RE2 syntax translated), or why not.
    patterns: BTreeMap<String, Result<Regex, String>>,
}

/// Where a field's schema comes from.
enum Child<'s> {
    Schema(&'s Value),
    Keep,
    Prune,
}

fn is_true(node: &Value, field: &str) -> bool {
    node.get(field).and_then(Value::as_bool) == Some(true)
}

fn properties(node: &Value) -> Option<&Map<String, Value>> {
    node.get("properties").and_then(Value::as_object)
}

fn is_object_schema(node: &Value) -> bool {
    node.get("type").and_then(Value::as_str) == Some("object")
        || node.get("properties").is_some()
        || node.get("additionalProperties").is_some()
}

fn child<'s>(node: &'s Value, field: &str) -> Child<'s> {
    if let Some(schema) = properties(node).and_then(|p| p.get(field)) {
        return Child::Schema(schema);
    }
    match node.get("additionalProperties") {
        Some(schema @ Value::Object(_)) => Child::Schema(schema),
        Some(Value::Bool(true)) => Child::Keep,
        _ if is_true(node, "x-kubernetes-preserve-unknown-fields") => Child::Keep,
        _ if is_true(node, "x-kubernetes-embedded-resource") && UNTOUCHED.contains(&field) => {
            Child::Keep
        }
        _ if !is_object_schema(node) => Child::Keep,
        _ => Child::Prune,
    }
}

fn items(node: &Value) -> Option<&Value> {
    node.get("items").filter(|i| i.is_object())
}

/// Go RE2 syntax → Rust regex: Perl classes are ASCII in Go, Unicode in Rust.
fn translate_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    let mut class_start = false;
    while let Some(c) = chars.next() {
        let at_class_start = std::mem::take(&mut class_start);
        match c {
            '\\' => {
                let Some(next) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let ascii = match next {
                    'd' => Some(("0-9", false)),
                    'D' => Some(("0-9", true)),
                    'w' => Some(("0-9A-Za-z_", false)),
                    'W' => Some(("0-9A-Za-z_", true)),
                    's' => Some(("\\t\\n\\f\\r ", false)),
                    'S' => Some(("\\t\\n\\f\\r ", true)),
                    _ => None,
                };
                match ascii {
                    Some((set, false)) if in_class => out.push_str(set),
                    Some((set, negated)) if !in_class => {
                        out.push_str(if negated { "[^" } else { "[" });
                        out.push_str(set);
                        out.push(']');
                    }
                    // A negated class inside a class has no ASCII spelling; keep it.
                    _ => {
                        out.push('\\');
                        out.push(next);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                class_start = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
            }
            '[' if chars.peek() == Some(&':') => {
                // A POSIX class such as [:alpha:] inside a class.
                out.push('[');
                for d in chars.by_ref() {
                    out.push(d);
                    if d == ']' {
                        break;
                    }
                }
            }
            '[' => out.push_str("\\["),
            ']' if in_class && at_class_start => out.push_str("\\]"),
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            other => out.push(other),
        }
    }
    out
}

fn collect_patterns(node: &Value, out: &mut BTreeMap<String, Result<Regex, String>>) {
    match node {
        Value::Object(map) => {
            if let Some(Value::String(p)) = map.get("pattern") {
                out.entry(p.clone()).or_insert_with(|| {
                    Regex::new(&translate_pattern(p)).map_err(|e| e.to_string())
                });
            }
            for (k, v) in map {
                // `default` and `enum` hold data, not schemas.
                if k != "default" && k != "enum" && k != "example" {
                    collect_patterns(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_patterns(v, out)),
        _ => {}
    }
}

impl Schema {
    /// A schema from a CRD version's `schema.openAPIV3Schema`.
    pub fn new(open_api_v3_schema: Value, status_subresource: bool) -> Schema {
        let mut patterns = BTreeMap::new();
        collect_patterns(&open_api_v3_schema, &mut patterns);
        Schema {
            root: open_api_v3_schema,
            status_subresource,
            patterns,
        }
    }

    /// The schema of a CRD's version `version`, or of its storage version when None.
    pub fn from_crd(crd: &Value, version: Option<&str>) -> Result<Schema, String> {
        let name = crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("CRD");
        let versions = crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{name}: no spec.versions"))?;
        let chosen = match version {
            Some(wanted) => versions.iter().find(|v| v["name"] == wanted),
            None => versions
                .iter()
                .find(|v| v["storage"] == true)
                .or_else(|| versions.first()),
        }
        .ok_or_else(|| format!("{name}: no version {}", version.unwrap_or("marked storage")))?;
        let schema = chosen
            .pointer("/schema/openAPIV3Schema")
            .or_else(|| crd.pointer("/spec/validation/openAPIV3Schema"))
            .filter(|s| s.is_object())
            .ok_or_else(|| format!("{name}: no openAPIV3Schema"))?;
        let status = chosen.pointer("/subresources/status").is_some()
            || crd.pointer("/spec/subresources/status").is_some();
        Ok(Schema::new(schema.clone(), status))
    }

    pub fn status_subresource(&self) -> bool {
        self.status_subresource
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
    pub(crate) fn apply_paths(&self, object: &Value) -> (Value, Vec<Vec<Seg>>, Vec<Vec<Seg>>) {
        let mut out = object.clone();
        let mut pruned = Vec::new();
        let mut nulls = Vec::new();
        prune(&mut out, &self.root, &mut Vec::new(), &mut pruned);
        prune_nulls(&mut out, &self.root, &mut Vec::new(), &mut nulls);
        apply_defaults(&mut out, &self.root, true);
        if self.status_subresource
            && let Some(map) = out.as_object_mut()
            && map.shift_remove("status").is_some()
        {
            pruned.push(vec![key("status")]);
        }
        (out, pruned, nulls)
    }

    /// Spec 15.1: rewrites string values that fail their schema `pattern` but are Go durations
    /// (`1.5s`, `1m30.5s`, `0.5m`) to a whole number of the largest of h, m, s, ms that
    /// represents them exactly and passes the pattern (`1500ms`, `90500ms`, `30s`). Values with
    /// no such form are left as they are and reported with `to: None`.
    pub fn rewrite_durations(&self, object: &mut Value) -> Vec<Rewrite> {
        let mut out = Vec::new();
        self.walk_durations(object, &self.root, &mut Vec::new(), &mut out);
        out
    }

    fn walk_durations(
        &self,
        value: &mut Value,
        node: &Value,
        path: &mut Vec<Seg>,
        out: &mut Vec<Rewrite>,
    ) {
        match value {
            Value::String(text) => {
                let Some(Value::String(pattern)) = node.get("pattern") else {
                    return;
                };
                let Some(Ok(re)) = self.patterns.get(pattern) else {
                    return;
                };
                if re.is_match(text) {
                    return;
                }
                let Some(nanos) = parse_go_duration(text) else {
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
                });
                if let Some(replacement) = replacement {
                    *text = replacement;
                }
            }
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if path.is_empty() && UNTOUCHED.contains(&k.as_str()) {
                        continue;
                    }
                    if let Child::Schema(schema) = child(node, k) {
                        path.push(key(k));
                        self.walk_durations(v, schema, path, out);
                        path.pop();
                    }
                }
            }
            Value::Array(values) => {
                if let Some(item) = items(node) {
                    for (i, v) in values.iter_mut().enumerate() {
                        path.push(Seg::Index(i));
                        self.walk_durations(v, item, path, out);
                        path.pop();
                    }
                }
            }
            _ => {}
        }
    }
}

const DURATION_UNITS: &[(&str, i128)] = &[
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
];

fn prune(value: &mut Value, node: &Value, path: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    if is_true(node, "x-kubernetes-int-or-string") {
        return;
    }
    match value {
        Value::Object(map) => {
            let fields: Vec<String> = map.keys().cloned().collect();
            for field in fields {
                if path.is_empty() && UNTOUCHED.contains(&field.as_str()) {
                    continue;
                }
                match child(node, &field) {
                    Child::Keep => {}
                    Child::Prune => {
                        map.shift_remove(&field);
                        let mut p = path.clone();
                        p.push(key(&field));
                        out.push(p);
                    }
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
        Value::Array(values) => {
            if let Some(item) = items(node) {
                for (i, v) in values.iter_mut().enumerate() {
                    path.push(Seg::Index(i));
                    prune(v, item, path, out);
                    path.pop();
                }
            }
        }
        _ => {}
    }
}

fn is_null_to_prune(value: &Value, schema: &Value) -> bool {
    value.is_null() && !is_true(schema, "nullable") && schema.get("default").is_none()
}

fn prune_nulls(value: &mut Value, node: &Value, path: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    match value {
        Value::Object(map) => {
            let root = path.is_empty();
            let doomed: Vec<String> = map
                .iter()
                .filter(|(k, v)| {
                    !(root && UNTOUCHED.contains(&k.as_str()))
                        && matches!(child(node, k), Child::Schema(s) if is_null_to_prune(v, s))
                })
                .map(|(k, _)| k.clone())
                .collect();
            for field in doomed {
                map.shift_remove(&field);
                let mut p = path.clone();
                p.push(key(&field));
                out.push(p);
            }
            for (k, v) in map.iter_mut() {
                if root && UNTOUCHED.contains(&k.as_str()) {
                    continue;
                }
                if let Child::Schema(schema) = child(node, k) {
                    path.push(key(k));
                    prune_nulls(v, schema, path, out);
                    path.pop();
                }
            }
        }
        Value::Array(values) => {
            if let Some(item) = items(node) {
                for (i, v) in values.iter_mut().enumerate() {
                    path.push(Seg::Index(i));
                    prune_nulls(v, item, path, out);
                    path.pop();
                }
            }
        }
        _ => {}
    }
}

fn needs_default(value: Option<&Value>, schema: &Value) -> bool {
    match value {
        None => true,
        Some(Value::Null) => !is_true(schema, "nullable"),
        Some(_) => false,
    }
}

fn apply_defaults(value: &mut Value, node: &Value, root: bool) {
    match value {
        Value::Object(map) => {
            if let Some(props) = properties(node) {
                for (field, schema) in props {
                    if root && UNTOUCHED.contains(&field.as_str()) {
                        continue;
                    }
                    if let Some(default) = schema.get("default")
                        && needs_default(map.get(field), schema)
                    {
                        map.insert(field.clone(), default.clone());
                    }
                }
            }
            for (k, v) in map.iter_mut() {
                if root && UNTOUCHED.contains(&k.as_str()) {
                    continue;
                }
                if let Child::Schema(schema) = child(node, k) {
                    // Properties were defaulted above; map values get theirs here.
                    if let Some(default) = schema.get("default")
                        && needs_default(Some(v), schema)
                    {
                        *v = default.clone();
                    }
                    apply_defaults(v, schema, false);
                }
            }
        }
        Value::Array(values) => {
            if let Some(item) = items(node) {
                for v in values.iter_mut() {
                    if let Some(default) = item.get("default")
                        && needs_default(Some(v), item)
                    {
                        *v = default.clone();
                    }
                    apply_defaults(v, item, false);
                }
            }
        }
        _ => {}
    }
}

/// Go's `time.ParseDuration`, in nanoseconds (fractions computed in float64 as Go does).
pub fn parse_go_duration(text: &str) -> Option<i128> {
    const LIMIT: u64 = 1 << 63;
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let bytes = rest.as_bytes();
        if !(bytes[0] == b'.' || bytes[0].is_ascii_digit()) {
            return None;
        }
        // Leading integer.
        let int_len = bytes.iter().take_while(|c| c.is_ascii_digit()).count();
        let mut v: u64 = 0;
        for &c in &bytes[..int_len] {
            if v > LIMIT / 10 {
                return None;
            }
            v = v * 10 + u64::from(c - b'0');
            if v > LIMIT {
                return None;
            }
        }
        rest = &rest[int_len..];
        let pre = int_len > 0;
        // Fraction.
        let mut fraction: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut post = false;
        if let Some(after) = rest.strip_prefix('.') {
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            post = digits > 0;
            let mut overflow = false;
            for c in after.bytes().take(digits) {
                if overflow {
                    continue;
                }
                if fraction > (LIMIT - 1) / 10 {
                    overflow = true;
                    continue;
                }
                let next = fraction * 10 + u64::from(c - b'0');
                if next > LIMIT {
                    overflow = true;
                    continue;
                }
                fraction = next;
                scale *= 10.0;
            }
            rest = &after[digits..];
        }
        if !pre && !post {
            return None;
        }
        // Unit.
        let unit_len = rest
            .bytes()
            .take_while(|c| *c != b'.' && !c.is_ascii_digit())
            .count();
        if unit_len == 0 {
            return None;
        }
        let unit: u64 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        if v > LIMIT / unit {
            return None;
        }
        v *= unit;
        if fraction > 0 {
            v += (fraction as f64 * (unit as f64 / scale)) as u64;
            if v > LIMIT {
                return None;
            }
        }
        total = total.checked_add(v)?;
        if total > LIMIT {
            return None;
        }
    }
    if negative {
        return Some(-i128::from(total));
    }
    if total > LIMIT - 1 {
        return None;
    }
    Some(i128::from(total))
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::json;

    use super::*;
    use crate::format::goyaml;

    /// The schema of a vendored v3.32.1 CRD.
    pub(crate) fn crd_schema(plural: &str) -> Schema {
        let path = format!(
            "{}/crds/crd.projectcalico.org_{plural}.yaml",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(path).unwrap();
        Schema::from_crd(&goyaml::from_yaml(&text).unwrap(), None).unwrap()
    }

    #[test]
    fn every_pattern_of_the_vendored_crds_compiles() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/crds");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let Some(plural) = name
                .strip_prefix("crd.projectcalico.org_")
                .and_then(|n| n.strip_suffix(".yaml"))
            else {
                continue;
            };
            let schema = crd_schema(plural);
            assert_eq!(
                schema.pattern_errors(),
                Vec::<(String, String)>::new(),
                "{plural}"
            );
            checked += schema.patterns.len();
        }
        assert!(checked > 10);
    }

    #[test]
    fn go_perl_classes_become_ascii() {
        assert_eq!(
            translate_pattern(r"^[1-9]\d{0,3}/x$"),
            "^[1-9][0-9]{0,3}/x$"
        );
        assert_eq!(translate_pattern(r"[\d.]\S"), r"[0-9.][^\t\n\f\r ]");
        assert_eq!(translate_pattern(r"[]a]"), r"[\]a]");
        assert_eq!(translate_pattern(r"[[:alpha:]-]"), r"[[:alpha:]-]");
        let re = Regex::new(&translate_pattern(r"^\d+$")).unwrap();
        assert!(re.is_match("123") && !re.is_match("١٢٣"));
    }

    #[test]
    fn unknown_fields_are_pruned_with_their_paths() {
        let schema = crd_schema("ipamblocks");
        let block = json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPAMBlock",
            "metadata": {"name": "10-0-0-0-30", "anything": 1},
            "spec": {"cidr": "10.0.0.0/30", "allocations": [0, null], "unallocated": [1],
                     "attributes": [{"handle_id": "h", "secondary": {"node": "n"}},
                                    {"handle_id": "g", "releasedAt": "2026-01-01T00:00:00Z"}],
                     "deleted": false, "strictAffinity": false, "futureField": {"x": 1}},
            "status": {"x": 1}});
        let applied = schema.apply(&block);
        assert_eq!(
            applied.pruned,
            [
                "spec.attributes[1].releasedAt",
                "spec.futureField",
                "status"
            ]
        );
        assert_eq!(
            applied.object["metadata"], block["metadata"],
            "metadata untouched"
        );
        assert_eq!(
            applied.object["spec"]["attributes"][1],
            json!({"handle_id": "g"})
        );
        assert_eq!(
            applied.object["spec"]["allocations"],
            json!([0, null]),
            "nullable items kept"
        );
        assert_eq!(
            applied.object["spec"]["sequenceNumber"], 0,
            "default applied"
        );
    }

    #[test]
    fn ipam_config_ip_cooldown_seconds_is_pruned_by_the_3_32_1_crd() {
        let schema = crd_schema("ipamconfigs");
        let config = json!({"spec": {"strictAffinity": false, "autoAllocateBlocks": true, "ipCooldownSeconds": 30}});
        assert_eq!(schema.apply(&config).pruned, ["spec.ipCooldownSeconds"]);
    }

    #[test]
    fn explicit_nulls_of_non_nullable_fields_are_pruned() {
        let schema = crd_schema("ipamblocks");
        let block = json!({"spec": {"cidr": "10.0.0.0/30", "affinity": null, "allocations": [null, 0],
            "unallocated": [], "attributes": [{"handle_id": null, "secondary": null}], "sequenceNumber": null,
            "sequenceNumberForAllocation": null, "deleted": false, "strictAffinity": false}});
        let applied = schema.apply(&block);
        assert_eq!(
            applied.pruned_nulls,
            [
                "spec.affinity",
                "spec.sequenceNumberForAllocation",
                "spec.attributes[0].handle_id",
                "spec.attributes[0].secondary"
            ]
        );
        assert!(applied.pruned.is_empty());
        assert_eq!(
            applied.object["spec"]["sequenceNumber"], 0,
            "a null with a default gets the default"
        );
        assert_eq!(applied.object["spec"]["attributes"], json!([{}]));
        assert_eq!(applied.object["spec"]["allocations"], json!([null, 0]));
        // Map values (additionalProperties) too.
        let handle = crd_schema("ipamhandles").apply(
            &json!({"spec": {"handleID": "h", "block": {"10.0.0.0/30": null, "10.0.0.4/30": 1}}}),
        );
        assert_eq!(handle.pruned_nulls, [r#"spec.block["10.0.0.0/30"]"#]);
        assert_eq!(handle.object["spec"]["block"], json!({"10.0.0.4/30": 1}));
    }

    #[test]
    fn defaults_are_applied_to_absent_fields_also_nested() {
        let pool = crd_schema("ippools").apply(&json!({"spec": {"cidr": "10.0.0.0/16"}}));
        assert_eq!(pool.object["spec"]["assignmentMode"], "Automatic");
        let felix = crd_schema("felixconfigurations").apply(&json!({"spec": {}}));
        assert_eq!(felix.object["spec"]["nftablesMode"], "Auto");
        let kcc = crd_schema("kubecontrollersconfigurations")
            .apply(&json!({"spec": {"controllers": {"loadBalancer": {}, "policyMigration": {}}}}));
        assert_eq!(
            kcc.object["spec"]["controllers"]["loadBalancer"]["assignIPs"],
            "AllServices"
        );
        assert_eq!(
            kcc.object["spec"]["controllers"]["policyMigration"]["enabled"],
            "Enabled"
        );
        assert_eq!(kcc.object["spec"]["healthChecks"], "Enabled");
        // Absent parents get no nested defaults.
        assert!(kcc.object["spec"]["controllers"].get("node").is_none());
    }

    #[test]
    fn status_of_a_kind_with_a_status_subresource_is_dropped() {
        let schema = crd_schema("kubecontrollersconfigurations");
        assert!(schema.status_subresource());
        let applied = schema.apply(&json!({"spec": {}, "status": {"environmentVars": {"a": "b"}}}));
        assert!(applied.object.get("status").is_none());
        assert_eq!(applied.pruned, ["status"]);
        assert!(!crd_schema("ippools").status_subresource());
    }

    #[test]
    fn int_or_string_and_preserved_fields_are_kept() {
        let gnp = crd_schema("globalnetworkpolicies");
        let policy = json!({"spec": {"ingress": [{"action": "Allow", "destination": {"ports": [80, "http", "8000:8080"]}}]}});
        let applied = gnp.apply(&policy);
        assert!(applied.pruned.is_empty(), "{:?}", applied.pruned);
        assert_eq!(
            applied.object["spec"]["ingress"][0]["destination"]["ports"],
            json!([80, "http", "8000:8080"])
        );
        let schema = Schema::new(
            json!({"type": "object", "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                "properties": {"inner": {"type": "object", "properties": {"a": {"type": "string"}}}}}}}),
            false,
        );
        let applied =
            schema.apply(&json!({"spec": {"free": {"x": 1}, "inner": {"a": "x", "b": 2}}}));
        assert_eq!(applied.object["spec"]["free"], json!({"x": 1}));
        assert_eq!(applied.pruned, ["spec.inner.b"]);
    }

    #[test]
    fn fractional_durations_are_rewritten_to_whole_units() {
        let schema = crd_schema("felixconfigurations");
        let mut felix = json!({"spec": {"iptablesRefreshInterval": "1.5s", "routeRefreshInterval": "1m30.5s",
            "reportingInterval": "0.5m", "ipsetsRefreshInterval": "90s", "netlinkTimeout": "1.5h",
            "interfaceRefreshInterval": "0.0005s", "xdpRefreshInterval": "0"}});
        let rewrites = schema.rewrite_durations(&mut felix);
        let summary: Vec<(String, Option<String>)> = rewrites
            .iter()
            .map(|r| (r.path.clone(), r.to.clone()))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "spec.iptablesRefreshInterval".to_string(),
                    Some("1500ms".to_string())
                ),
                (
                    "spec.routeRefreshInterval".to_string(),
                    Some("90500ms".to_string())
                ),
                (
                    "spec.reportingInterval".to_string(),
                    Some("30s".to_string())
                ),
                ("spec.netlinkTimeout".to_string(), Some("90m".to_string())),
                ("spec.interfaceRefreshInterval".to_string(), None),
                (
                    "spec.xdpRefreshInterval".to_string(),
                    Some("0h".to_string())
                ),
            ]
        );
        assert_eq!(felix["spec"]["iptablesRefreshInterval"], "1500ms");
        assert_eq!(
            felix["spec"]["ipsetsRefreshInterval"], "90s",
            "values that pass are left alone"
        );
        assert_eq!(
            felix["spec"]["interfaceRefreshInterval"], "0.0005s",
            "no whole unit: left and reported"
        );
        assert!(rewrites[4].to_string().contains("fails the CRD's pattern"));
        // Fields whose pattern accepts fractions are left alone.
        let mut ok = json!({"spec": {"bpfConntrackTimeouts": {"tcpFinsSeen": "1.5s", "udpTimeout": "Auto"},
            "liveMigrationRouteConvergenceTime": "1.5s"}});
        let before = ok.clone();
        assert_eq!(schema.rewrite_durations(&mut ok), []);
        assert_eq!(ok, before);
    }

    #[test]
    fn go_durations_parse_as_go_does() {
        let s = 1_000_000_000i128;
        assert_eq!(parse_go_duration("1.5s"), Some(s * 3 / 2));
        assert_eq!(parse_go_duration("1m30.5s"), Some(90 * s + s / 2));
        assert_eq!(parse_go_duration("-0.5m"), Some(-30 * s));
        assert_eq!(parse_go_duration("+2h"), Some(7200 * s));
        assert_eq!(parse_go_duration(".5s"), Some(s / 2));
        assert_eq!(parse_go_duration("1.s"), Some(s));
        assert_eq!(parse_go_duration("1µs"), Some(1000));
        assert_eq!(parse_go_duration("1μs2ns"), Some(1002));
        assert_eq!(parse_go_duration("0"), Some(0));
        for bad in ["", "1", "s", ".s", "1x", "1.5", "-", "2562048h", "1s-1s"] {
            assert_eq!(parse_go_duration(bad), None, "{bad}");
        }
        assert_eq!(parse_go_duration("2562047h"), Some(2_562_047 * 3600 * s));
    }

    #[test]
    fn paths_render_with_indexes_and_quoted_keys() {
        let path = [
            key("metadata"),
            key("annotations"),
            key("projectcalico.org/metadata"),
        ];
        assert_eq!(
            render_path(&path),
            r#"metadata.annotations["projectcalico.org/metadata"]"#
        );
        assert_eq!(
            render_path(&[key("spec"), key("allocations"), Seg::Index(5)]),
            "spec.allocations[5]"
        );
        let mut v = json!({"a": [{"b": 1}]});
        assert_eq!(
            value_at(&v, &[key("a"), Seg::Index(0), key("b")]),
            Some(&json!(1))
        );
        assert!(set_at(
            &mut v,
            &[key("a"), Seg::Index(0), key("c")],
            json!(2)
        ));
        assert!(!set_at(&mut v, &[key("x"), key("y")], json!(2)));
        assert_eq!(v, json!({"a": [{"b": 1, "c": 2}]}));
    }
}
