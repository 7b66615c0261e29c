//! What kube-apiserver stores for a custom resource, predicted from the CRD's structural schema
//! (docs/design.md §14): unknown fields pruned, non-nullable nulls pruned, defaults applied, and
//! the fractional durations the v3.32.1 FelixConfiguration patterns reject rewritten beforehand;
//! and what it rejects, with its causes worded as the server words them ([`Schema::validate`]).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

use super::cel;
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

/// A CRD version's structural schema.
#[derive(Clone, Debug)]
pub struct Schema {
    root: Value,
    status_subresource: bool,
    /// Every `pattern` of the schema, compiled (Go RE2 syntax translated), or why not.
    patterns: BTreeMap<String, Result<Regex, String>>,
    /// Every CEL rule (`x-kubernetes-validations`) of the schema, parsed, or why it is not
    /// evaluated here.
    rules: BTreeMap<String, Result<cel::Expr, String>>,
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

fn collect_rules(node: &Value, out: &mut BTreeMap<String, Result<cel::Expr, String>>) {
    match node {
        Value::Object(map) => {
            for rule in map
                .get("x-kubernetes-validations")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|r| r.get("rule").and_then(Value::as_str))
            {
                out.entry(rule.to_string())
                    .or_insert_with(|| cel::parse(rule));
            }
            for (k, v) in map {
                if k != "default" && k != "enum" && k != "example" {
                    collect_rules(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_rules(v, out)),
        _ => {}
    }
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
        let mut rules = BTreeMap::new();
        collect_rules(&open_api_v3_schema, &mut rules);
        Schema {
            root: open_api_v3_schema,
            status_subresource,
            patterns,
            rules,
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

    /// CEL rules of the schema that are not evaluated here, with the reason: the API server
    /// checks them when the object is written.
    pub fn unevaluated_rules(&self) -> Vec<(String, String)> {
        self.rules
            .iter()
            .filter_map(|(r, parsed)| parsed.as_ref().err().map(|e| (r.clone(), e.clone())))
            .collect()
    }

    /// How many CEL rules the schema has.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
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

    /// Repairs that lose nothing, for values the API server would refuse:
    /// - string values that fail their schema `pattern` but are Go durations (`1.5s`, `1m30.5s`,
    ///   `0.5m`; Calico's Go code writes them, and the duration patterns of Calico's CRDs refuse
    ///   a fraction) become a whole number of the largest of h, m, s, ms that represents them
    ///   exactly and passes the pattern (`1500ms`, `90500ms`, `30s`); values with no such form
    ///   are left as they are and reported with `to: None`;
    /// - exact repeats in lists the schema declares sets are dropped (the first stays).
    pub fn repair(&self, object: &mut Value) -> Vec<Rewrite> {
        let mut out = Vec::new();
        self.walk_repairs(object, &self.root, &mut Vec::new(), &mut out);
        out
    }

    fn walk_repairs(
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
                    why: RewriteReason::FractionalDuration,
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
                        self.walk_repairs(v, schema, path, out);
                        path.pop();
                    }
                }
            }
            Value::Array(values) => {
                if node.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("set") {
                    drop_set_repeats(values, path, out);
                }
                if let Some(item) = items(node) {
                    for (i, v) in values.iter_mut().enumerate() {
                        path.push(Seg::Index(i));
                        self.walk_repairs(v, item, path, out);
                        path.pop();
                    }
                }
            }
            _ => {}
        }
    }
}

/// Keeps the first of each value of a set, reporting each value that was repeated.
fn drop_set_repeats(values: &mut Vec<Value>, path: &[Seg], out: &mut Vec<Rewrite>) {
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut repeated: Vec<String> = Vec::new();
    values.retain(|v| {
        let times = seen.entry(set_key(v)).or_insert(0);
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

// ---------------------------------------------------------------------------- validation

/// One cause of a rejection, worded as kube-apiserver words the causes of its 422 `Status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field: `spec.ports[1].port`. Map keys are joined with a dot, as the API server joins
    /// them: `spec.block.10.0.0.0/30`.
    pub path: String,
    /// The whole cause, field first:
    /// `spec.ports[1].port: Invalid value: "string": spec.ports[1].port in body must be of type integer: "string"`.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl FieldError {
    fn new(path: &str, body: String) -> FieldError {
        let field = if path.is_empty() { "<nil>" } else { path };
        FieldError {
            path: path.to_string(),
            message: format!("{field}: {body}"),
        }
    }

    /// apimachinery's `field.Invalid` and `field.TypeInvalid`, which print alike.
    fn invalid(path: &str, bad: String, detail: impl fmt::Display) -> FieldError {
        FieldError::new(path, format!("Invalid value: {bad}: {detail}"))
    }

    fn required(path: &str) -> FieldError {
        FieldError::new(path, "Required value".to_string())
    }

    fn not_supported(path: &str, bad: String, supported: &[String]) -> FieldError {
        let mut body = format!("Unsupported value: {bad}");
        if !supported.is_empty() {
            let quoted: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
            body.push_str(": supported values: ");
            body.push_str(&quoted.join(", "));
        }
        FieldError::new(path, body)
    }

    fn too_long(path: &str, max: u64) -> FieldError {
        FieldError::new(path, format!("Too long: may not be longer than {max}"))
    }

    fn too_many(path: &str, actual: usize, max: u64) -> FieldError {
        FieldError::new(
            path,
            format!("Too many: {actual}: must have at most {max} items"),
        )
    }

    fn duplicate(path: &str, bad: String) -> FieldError {
        FieldError::new(path, format!("Duplicate value: {bad}"))
    }

    /// The verdicts of anyOf, oneOf, allOf and not, which the API server reports without a
    /// field (`<nil>`) and with the path quoted in the text; `path` still says where.
    fn composite(path: &str, detail: String) -> FieldError {
        FieldError {
            path: path.to_string(),
            message: format!("<nil>: Invalid value: \"\": {detail}"),
        }
    }
}

fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn index_path(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

/// Go's `strconv.Quote`.
fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if go_printable(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x1_0000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Close to Go's `unicode.IsPrint`: no controls, no spaces but U+0020, no format characters,
/// no private use.
fn go_printable(c: char) -> bool {
    let code = c as u32;
    !(c.is_control()
        || (c.is_whitespace() && c != ' ')
        || matches!(code, 0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x180e | 0x200b..=0x200f
            | 0x202a..=0x202e | 0x2060..=0x206f | 0xfeff | 0xfff9..=0xfffb | 0xe000..=0xf8ff
            | 0xf_0000..)
        || (0xfdd0..=0xfdef).contains(&code)
        || (code & 0xfffe) == 0xfffe)
}

/// A JSON number as Go's `%v` prints the `int64` or `float64` it decodes to.
fn go_number(n: &serde_json::Number) -> String {
    match n.as_i64() {
        Some(i) => i.to_string(),
        None => go_compat::json::format_float_g(n.as_f64().unwrap_or(0.0)),
    }
}

/// A decoded JSON value as Go's `%#v` prints it inside an `interface{}`.
fn go_syntax(value: &Value) -> String {
    match value {
        Value::Null => "interface {}(nil)".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => go_quote(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(go_syntax).collect();
            format!("[]interface {{}}{{{}}}", items.join(", "))
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let entries: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}:{}", go_quote(k), go_syntax(v)))
                .collect();
            format!("map[string]interface {{}}{{{}}}", entries.join(", "))
        }
    }
}

/// How a field error prints its bad value (apimachinery's `ErrorBody`): strings quoted,
/// numbers and booleans bare, `null` as "null", objects and lists in Go syntax.
fn bad_value(value: &Value) -> String {
    match value {
        Value::Null => go_quote("null"),
        other => go_syntax(other),
    }
}

/// The JSON type and format kube-openapi infers from a decoded value (`int64` for integers,
/// `double` for other numbers, which is what Go's decoder makes of them).
fn json_type(value: &Value) -> (&'static str, &'static str) {
    match value {
        Value::Null => ("null", ""),
        Value::Bool(_) => ("boolean", ""),
        Value::String(_) => ("string", ""),
        Value::Number(n) if n.as_i64().is_some() => ("integer", "int64"),
        Value::Number(_) => ("number", "double"),
        Value::Array(_) => ("array", ""),
        Value::Object(_) => ("object", ""),
    }
}

/// go-openapi's `IsFloat64AJSONInteger`: a float that counts as an integer.
fn is_json_integer(f: f64) -> bool {
    const MAX: f64 = 9_007_199_254_740_991.0; // 2^53 - 1
    if !f.is_finite() || !(-MAX..=MAX).contains(&f) {
        return false;
    }
    let abs = f.abs();
    let whole = abs.trunc();
    if abs == whole {
        return true;
    }
    abs >= 1.0 && (abs - whole) / abs < 1e-9
}

/// The types a node declares; `x-kubernetes-int-or-string` is integer or string.
fn declared_types(node: &Value) -> Vec<&str> {
    if is_true(node, "x-kubernetes-int-or-string") {
        return vec!["integer", "string"];
    }
    match node.get("type").and_then(Value::as_str) {
        Some(t) if !t.is_empty() => vec![t],
        _ => Vec::new(),
    }
}

/// The string formats kube-apiserver checks (apiextensions-apiserver's supported formats,
/// dashes removed); every other format, `int32` and `int64` included, is dropped from the
/// schema before validation.
const CHECKED_FORMATS: &[&str] = &[
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
    "byte",
    "password",
    "date",
    "duration",
    "datetime",
];

/// The node's format as written, when the API server checks it.
fn checked_format(node: &Value) -> Option<&str> {
    let format = node.get("format").and_then(Value::as_str)?;
    CHECKED_FORMATS
        .contains(&format.replace('-', "").as_str())
        .then_some(format)
}

fn type_error(path: &str, wanted: &str, got: &str) -> FieldError {
    FieldError::invalid(
        path,
        go_quote(got),
        format!("{path} in body must be of type {wanted}: {}", go_quote(got)),
    )
}

/// kube-openapi's type check of a non-null value, quirks included: a value that is neither a
/// string nor a list, under a checked format, is reported against the format; a string or a
/// list under a checked format passes unless the node is numeric.
fn check_type(
    value: &Value,
    types: &[&str],
    format: Option<&str>,
    path: &str,
) -> Option<FieldError> {
    let (json, json_format) = json_type(value);
    let float_int = json == "number"
        && types.contains(&"integer")
        && value.as_f64().is_some_and(is_json_integer);
    let int_float = json == "integer" && types.contains(&"number");
    let fits = types.contains(&json) || float_int || int_float;
    let text_or_list = matches!(value, Value::String(_) | Value::Array(_));
    if let Some(format) = format {
        if !(text_or_list || fits || json_format == format) {
            return Some(type_error(path, format, json_format));
        }
        if text_or_list && !types.contains(&"number") && !types.contains(&"integer") {
            return None;
        }
    }
    (!fits).then(|| type_error(path, &types.join(","), json))
}

/// Enum membership as kube-openapi decides it: Go's value conversions, so an integer matches
/// a number of the same value (and, through Go's integer-to-string conversion, the one-rune
/// string of that code point); `null` never matches.
fn enum_matches(value: &Value, candidate: &Value) -> bool {
    match (value, candidate) {
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Number(a), Value::Number(b)) => match (a.as_i64(), b.as_i64()) {
            (Some(a), Some(b)) => a == b,
            _ => a.as_f64() == b.as_f64(),
        },
        (Value::Number(n), Value::String(s)) => n.as_i64().is_some_and(|i| {
            let c = u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{fffd}');
            s.chars().eq(std::iter::once(c))
        }),
        (a, b) => a == b,
    }
}

fn check_enum(value: &Value, node: &Value, path: &str, out: &mut Vec<FieldError>) {
    let Some(Value::Array(allowed)) = node.get("enum") else {
        return;
    };
    if allowed.is_empty() || allowed.iter().any(|c| enum_matches(value, c)) {
        return;
    }
    let supported: Vec<String> = allowed
        .iter()
        .map(|c| match c {
            Value::String(s) => s.clone(),
            other => go_compat::json::marshal(other),
        })
        .collect();
    out.push(FieldError::not_supported(
        path,
        bad_value(value),
        &supported,
    ));
}

fn check_number(n: &serde_json::Number, node: &Value, path: &str, out: &mut Vec<FieldError>) {
    use std::cmp::Ordering;
    let bound = |key: &str| node.get(key).and_then(Value::as_f64);
    let bad = go_number(n);
    let mut fail = |detail: String| {
        let message = format!("{path} in body should be {detail}");
        out.push(FieldError::invalid(path, bad.clone(), message));
    };
    // Integers are compared with the bounds converted to int64, as kube-openapi does.
    let integer = n.as_i64();
    let x = n.as_f64().unwrap_or(0.0);
    let shown = |limit: f64| match integer {
        Some(_) => (limit as i64).to_string(),
        None => go_compat::json::format_float_g(limit),
    };
    if let Some(factor) = bound("multipleOf").filter(|f| *f > 0.0) {
        let whole = factor as i64;
        let (multiple, factor_shown) = match integer {
            Some(i) if whole != 0 => (i % whole == 0, whole.to_string()),
            Some(i) => (is_json_integer(i as f64 / factor), shown(factor)),
            None if factor < 1.0 => (is_json_integer(1.0 / factor * x), shown(factor)),
            None => (is_json_integer(x / factor), shown(factor)),
        };
        if !multiple {
            fail(format!("a multiple of {factor_shown}"));
        }
    }
    let limits = [
        (
            "minimum",
            "exclusiveMinimum",
            Ordering::Less,
            "greater than",
        ),
        (
            "maximum",
            "exclusiveMaximum",
            Ordering::Greater,
            "less than",
        ),
    ];
    for (key, exclusive_key, beyond, relation) in limits {
        let Some(limit) = bound(key) else {
            continue;
        };
        let exclusive = is_true(node, exclusive_key);
        let ordering = match integer {
            Some(i) => i.cmp(&(limit as i64)),
            None => x.partial_cmp(&limit).unwrap_or(Ordering::Equal),
        };
        if ordering == beyond || (exclusive && ordering == Ordering::Equal) {
            let relation = if exclusive {
                relation.to_string()
            } else {
                format!("{relation} or equal to")
            };
            fail(format!("{relation} {}", shown(limit)));
        }
    }
}

impl Schema {
    /// The causes kube-apiserver (v1.24, docs/design.md §14) gives for rejecting `object` when it
    /// is created, in its words; empty when the object is accepted. The object is first made
    /// what the server validates: [`Schema::apply`]'s pruning, null pruning and defaulting.
    ///
    /// Checked as apiextensions-apiserver checks a custom resource against its structural
    /// schema (kube-openapi's validator, then the list-type invariants): `type` (object,
    /// array, string, integer, number, boolean; integer means a whole number, number accepts
    /// integers), `nullable`, `x-kubernetes-int-or-string`, `required`, `enum`, `pattern`,
    /// `format` for the string formats the server checks (`date-time`, `cidr`, `ipv4`,
    /// `ipv6`, `uuid`, `byte`, `mac`, `hostname`, …; `int32`, `int64` and other unknown
    /// formats are dropped by the server, so ranges are not checked, docs/design.md §14),
    /// `minimum`/`maximum` with their exclusive forms, `multipleOf`, `minLength`/`maxLength`
    /// (counted in characters), `minItems`/`maxItems`, `minProperties`/`maxProperties`,
    /// `items`, `properties`, `additionalProperties` (schema or boolean), `anyOf`, `allOf`,
    /// `oneOf` and `not` (value validations), and duplicates in `x-kubernetes-list-type: set`
    /// and `map` lists. Fields under `x-kubernetes-preserve-unknown-fields` that the schema
    /// does not describe are not checked, as on the server.
    ///
    /// Then, when all that holds (kube-apiserver skips the rules of an object with such errors),
    /// the CEL rules (`x-kubernetes-validations`) that [`cel`] evaluates, as a server from
    /// Kubernetes 1.25 on does on a create: the message (or `failed rule: <rule>`) under the
    /// rule's reason, or the runtime error (`no such key: node evaluating rule: ...`).
    /// Transition rules (those reading `oldSelf`) apply to updates only and are skipped.
    ///
    /// Not evaluated: CEL rules outside that subset ([`Schema::unevaluated_rules`]; the server
    /// checks them); keywords structural schemas forbid (`uniqueItems: true`,
    /// `patternProperties`, `dependencies`, `$ref`); and `metadata` beyond what the schema
    /// says of it (object names are checked by the conversion). Where an anyOf or oneOf has
    /// no valid branch, the server adds the errors of its "best" branch; here that is the
    /// branch with the fewest errors (the first on a tie). The `email` and `uri` formats
    /// follow Go's `net/mail` and `net/url` closely but not in every corner.
    pub fn validate(&self, object: &Value) -> Vec<FieldError> {
        let (applied, _, _) = self.apply_paths(object);
        let mut out = Vec::new();
        self.check(&applied, &self.root, "", &mut out);
        check_list_types(&applied, &self.root, "", &mut out);
        if out.is_empty() {
            self.check_rules(&applied, &self.root, "", &mut out);
        }
        out
    }

    /// The CEL rules of `node` and of the schemas under it, on `value`.
    fn check_rules(&self, value: &Value, node: &Value, path: &str, out: &mut Vec<FieldError>) {
        if value.is_null() {
            return;
        }
        for rule in node
            .get("x-kubernetes-validations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(text) = rule.get("rule").and_then(Value::as_str) else {
                continue;
            };
            let Some(Ok(expr)) = self.rules.get(text) else {
                continue;
            };
            if expr.mentions("oldSelf") {
                continue;
            }
            let message = rule
                .get("message")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|m| !m.is_empty());
            let type_name = go_quote(node.get("type").and_then(Value::as_str).unwrap_or("object"));
            match cel::holds(expr, value) {
                Ok(true) => {}
                Ok(false) => {
                    let detail = message
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("failed rule: {}", text.trim()));
                    out.push(match rule.get("reason").and_then(Value::as_str) {
                        Some("FieldValueForbidden") => {
                            FieldError::new(path, format!("Forbidden: {detail}"))
                        }
                        Some("FieldValueRequired") => {
                            FieldError::new(path, format!("Required value: {detail}"))
                        }
                        Some("FieldValueDuplicate") => FieldError::duplicate(path, type_name),
                        _ => FieldError::invalid(path, type_name, detail),
                    });
                }
                Err(error) => out.push(FieldError::invalid(
                    path,
                    type_name,
                    format!(
                        "{error} evaluating rule: {}",
                        message.unwrap_or(text.trim())
                    ),
                )),
            }
        }
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    if let Child::Schema(schema) = child(node, k) {
                        self.check_rules(v, schema, &child_path(path, k), out);
                    }
                }
            }
            Value::Array(values) => {
                if let Some(item) = items(node) {
                    for (i, v) in values.iter().enumerate() {
                        self.check_rules(v, item, &index_path(path, i), out);
                    }
                }
            }
            _ => {}
        }
    }

    /// kube-openapi's schema validator for one value: type, then anyOf/oneOf/allOf/not,
    /// string, format, number, array, enum, object.
    fn check(&self, value: &Value, node: &Value, path: &str, out: &mut Vec<FieldError>) {
        let types = declared_types(node);
        let format = checked_format(node);
        if value.is_null() {
            if !types.is_empty() && !types.contains(&"null") && !is_true(node, "nullable") {
                out.push(type_error(path, &types.join(","), "null"));
            }
            check_enum(value, node, path, out);
            return;
        }
        if (!types.is_empty() || format.is_some())
            && let Some(error) = check_type(value, &types, format, path)
        {
            out.push(error);
        }
        self.check_alternatives(value, node, path, out);
        match value {
            Value::String(text) => {
                self.check_string(text, node, path, out);
                if let Some(format) = format
                    && !format_holds(&format.replace('-', ""), text)
                {
                    out.push(FieldError::invalid(
                        path,
                        go_quote(text),
                        format!(
                            "{path} in body must be of type {format}: {}",
                            go_quote(text)
                        ),
                    ));
                }
            }
            Value::Number(n) => check_number(n, node, path, out),
            Value::Array(values) => self.check_array(values, node, path, out),
            _ => {}
        }
        check_enum(value, node, path, out);
        if let Value::Object(map) = value {
            self.check_object(map, node, path, out);
        }
    }

    fn check_alternatives(
        &self,
        value: &Value,
        node: &Value,
        path: &str,
        out: &mut Vec<FieldError>,
    ) {
        if !["anyOf", "oneOf", "allOf", "not"]
            .iter()
            .any(|k| node.get(*k).is_some())
        {
            return;
        }
        let schemas = |key: &str| -> Vec<&Value> {
            node.get(key)
                .and_then(Value::as_array)
                .map(|list| list.iter().filter(|s| s.is_object()).collect())
                .unwrap_or_default()
        };
        let run = |sub: &Value| {
            let mut errors = Vec::new();
            self.check(value, sub, path, &mut errors);
            errors
        };
        let quoted = go_quote(path);
        let any_of = schemas("anyOf");
        if !any_of.is_empty() {
            let mut best: Option<Vec<FieldError>> = None;
            let mut passed = false;
            for sub in any_of {
                let errors = run(sub);
                if errors.is_empty() {
                    passed = true;
                    break;
                }
                if best.as_ref().is_none_or(|b| errors.len() < b.len()) {
                    best = Some(errors);
                }
            }
            if !passed {
                out.push(FieldError::composite(
                    path,
                    format!("{quoted} must validate at least one schema (anyOf)"),
                ));
                out.extend(best.unwrap_or_default());
            }
        }
        let one_of = schemas("oneOf");
        if !one_of.is_empty() {
            let mut valid = 0;
            let mut best: Option<Vec<FieldError>> = None;
            for sub in one_of {
                let errors = run(sub);
                if errors.is_empty() {
                    valid += 1;
                    best = None;
                } else if valid == 0 && best.as_ref().is_none_or(|b| errors.len() < b.len()) {
                    best = Some(errors);
                }
            }
            if valid != 1 {
                let found = if valid == 0 {
                    "Found none valid".to_string()
                } else {
                    format!("Found {valid} valid alternatives")
                };
                out.push(FieldError::composite(
                    path,
                    format!("{quoted} must validate one and only one schema (oneOf). {found}"),
                ));
                out.extend(best.unwrap_or_default());
            }
        }
        let all_of = schemas("allOf");
        if !all_of.is_empty() {
            let mut valid = 0;
            for sub in &all_of {
                let errors = run(sub);
                if errors.is_empty() {
                    valid += 1;
                }
                out.extend(errors);
            }
            if valid != all_of.len() {
                let none = if valid == 0 { ". None validated" } else { "" };
                out.push(FieldError::composite(
                    path,
                    format!("{quoted} must validate all the schemas (allOf){none}"),
                ));
            }
        }
        if let Some(not) = node.get("not").filter(|n| n.is_object())
            && run(not).is_empty()
        {
            out.push(FieldError::composite(
                path,
                format!("{quoted} must not validate the schema (not)"),
            ));
        }
    }

    /// Length, then pattern; the first failure is the only one reported, as on the server.
    fn check_string(&self, text: &str, node: &Value, path: &str, out: &mut Vec<FieldError>) {
        let length = text.chars().count() as u64;
        if let Some(max) = node.get("maxLength").and_then(Value::as_u64)
            && length > max
        {
            out.push(FieldError::too_long(path, max));
            return;
        }
        if let Some(min) = node.get("minLength").and_then(Value::as_u64)
            && length < min
        {
            out.push(FieldError::invalid(
                path,
                go_quote(text),
                format!("{path} in body should be at least {min} chars long"),
            ));
            return;
        }
        if let Some(Value::String(pattern)) = node.get("pattern")
            && let Some(Ok(re)) = self.patterns.get(pattern)
            && !re.is_match(text)
        {
            out.push(FieldError::invalid(
                path,
                go_quote(text),
                format!("{path} in body should match '{pattern}'"),
            ));
        }
    }

    fn check_array(&self, values: &[Value], node: &Value, path: &str, out: &mut Vec<FieldError>) {
        if let Some(item) = items(node) {
            for (i, v) in values.iter().enumerate() {
                self.check(v, item, &index_path(path, i), out);
            }
        }
        let size = values.len();
        if let Some(min) = node.get("minItems").and_then(Value::as_u64)
            && (size as u64) < min
        {
            out.push(FieldError::invalid(
                path,
                size.to_string(),
                format!("{path} in body should have at least {min} items"),
            ));
        }
        if let Some(max) = node.get("maxItems").and_then(Value::as_u64)
            && size as u64 > max
        {
            out.push(FieldError::too_many(path, size, max));
        }
    }

    /// Property counts (which end the object's validation when they fail), additional
    /// properties, properties, required.
    fn check_object(
        &self,
        map: &Map<String, Value>,
        node: &Value,
        path: &str,
        out: &mut Vec<FieldError>,
    ) {
        let count = map.len() as u64;
        if let Some(min) = node.get("minProperties").and_then(Value::as_u64)
            && count < min
        {
            out.push(FieldError::invalid(
                path,
                min.to_string(),
                format!("{path} in body should have at least {min} properties"),
            ));
            return;
        }
        if let Some(max) = node.get("maxProperties").and_then(Value::as_u64)
            && count > max
        {
            out.push(FieldError::too_many(path, map.len(), max));
            return;
        }
        let props = properties(node);
        let known = |k: &str| props.is_some_and(|p| p.contains_key(k));
        match node.get("additionalProperties") {
            Some(Value::Bool(false)) => {
                for k in map.keys() {
                    if !known(k) && k != "$schema" && k != "id" {
                        out.push(FieldError::invalid(
                            path,
                            go_quote(k),
                            format!("{path}.{k} in body is a forbidden property"),
                        ));
                    }
                }
            }
            Some(schema @ Value::Object(_)) => {
                for (k, v) in map {
                    if !known(k) {
                        self.check(v, schema, &child_path(path, k), out);
                    }
                }
            }
            _ => {}
        }
        if let Some(props) = props {
            for (k, v) in map {
                if let Some(schema) = props.get(k) {
                    self.check(v, schema, &child_path(path, k), out);
                }
            }
        }
        if let Some(Value::Array(required)) = node.get("required") {
            for field in required.iter().filter_map(Value::as_str) {
                if !map.contains_key(field) {
                    out.push(FieldError::required(&child_path(path, field)));
                }
            }
        }
    }
}

/// apiextensions-apiserver's list-type invariants: no duplicate items in a
/// `x-kubernetes-list-type: set`, no two items with the same keys in a `map`.
fn check_list_types(value: &Value, node: &Value, path: &str, out: &mut Vec<FieldError>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let sub = properties(node)
                    .and_then(|p| p.get(k))
                    .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()));
                if let Some(sub) = sub
                    && (v.is_object() || v.is_array())
                {
                    check_list_types(v, sub, &child_path(path, k), out);
                }
            }
        }
        Value::Array(values) => {
            match node.get("x-kubernetes-list-type").and_then(Value::as_str) {
                Some("set") => set_duplicates(values, path, out),
                Some("map") => map_duplicates(values, node, path, out),
                _ => {}
            }
            if let Some(item) = items(node) {
                for (i, v) in values.iter().enumerate() {
                    if v.is_object() || v.is_array() {
                        check_list_types(v, item, &index_path(path, i), out);
                    }
                }
            }
        }
        _ => {}
    }
}

/// Go's `json.Marshal` of a decoded value, keys sorted: what the server compares compound set
/// items by.
fn canonical_json(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let entries: Vec<String> = entries
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}:{}",
                        go_compat::json::marshal(&Value::String((*k).clone())),
                        canonical_json(v)
                    )
                })
                .collect();
            format!("{{{}}}", entries.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical_json).collect();
            format!("[{}]", items.join(","))
        }
        other => go_compat::json::marshal(other),
    }
}

/// Set items are told apart as the server tells them apart: scalars by Go type and value (an
/// integer 1 is not the float 1.0), lists and objects by their JSON text.
fn set_key(value: &Value) -> String {
    match value {
        Value::Number(n) => match n.as_i64() {
            Some(i) => format!("i{i}"),
            None => format!("f{}", n.as_f64().unwrap_or(0.0).to_bits()),
        },
        Value::String(s) => format!("s{s}"),
        Value::Object(_) | Value::Array(_) => format!("j{}", canonical_json(value)),
        other => format!("o{other}"),
    }
}

/// The second occurrence of each repeated item is reported, as on the server.
fn set_duplicates(values: &[Value], path: &str, out: &mut Vec<FieldError>) {
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, v) in values.iter().enumerate() {
        let times = seen.entry(set_key(v)).or_insert(0);
        *times += 1;
        if *times == 2 {
            out.push(FieldError::duplicate(&index_path(path, i), bad_value(v)));
        }
    }
}

fn map_duplicates(values: &[Value], node: &Value, path: &str, out: &mut Vec<FieldError>) {
    for (i, v) in values.iter().enumerate() {
        if !v.is_null() && !v.is_object() {
            out.push(FieldError::invalid(
                &index_path(path, i),
                bad_value(v),
                "must be an object for an array of list-type map",
            ));
            return;
        }
    }
    let keys: Vec<&str> = node
        .get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array)
        .map(|k| k.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let defaults = items(node).and_then(properties);
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, v) in values.iter().enumerate() {
        let mut key = Map::new();
        for k in &keys {
            let field = v.get(*k).or_else(|| {
                defaults
                    .and_then(|d| d.get(*k))
                    .and_then(|s| s.get("default"))
            });
            if let Some(field) = field {
                key.insert((*k).to_string(), field.clone());
            }
        }
        let key = Value::Object(key);
        let times = seen.entry(canonical_json(&key)).or_insert(0);
        *times += 1;
        if *times == 2 {
            out.push(FieldError::duplicate(&index_path(path, i), go_syntax(&key)));
        }
    }
}

// --------------------------------------------------------------------------------- formats

/// A built-in pattern; None only if it failed to compile, in which case the format passes.
fn built_in(pattern: &str) -> Option<Regex> {
    Regex::new(pattern).ok()
}

fn re_holds(re: &LazyLock<Option<Regex>>, text: &str) -> bool {
    re.as_ref().is_none_or(|re| re.is_match(text))
}

static HOSTNAME: LazyLock<Option<Regex>> = LazyLock::new(|| {
    let label = r"[a-zA-Z0-9\p{S}\p{L}]";
    built_in(&format!(
        r"^({label}((-?{label}{{0,62}})?)|({label}(([a-zA-Z0-9\-\p{{S}}\p{{L}}]{{0,61}}{label})?)(\.)){{1,}}([a-zA-Z\p{{L}}]){{2,63}})$"
    ))
});
static UUID: LazyLock<Option<Regex>> = LazyLock::new(|| {
    built_in(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
});
static UUID3: LazyLock<Option<Regex>> = LazyLock::new(|| {
    built_in(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
});
static UUID4: LazyLock<Option<Regex>> = LazyLock::new(|| {
    built_in(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$")
});
static UUID5: LazyLock<Option<Regex>> = LazyLock::new(|| {
    built_in(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$")
});
static SSN: LazyLock<Option<Regex>> =
    LazyLock::new(|| built_in(r"^[0-9]{3}[- ]?[0-9]{2}[- ]?[0-9]{4}$"));
static HEX_COLOR: LazyLock<Option<Regex>> =
    LazyLock::new(|| built_in(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"));
static RGB_COLOR: LazyLock<Option<Regex>> = LazyLock::new(|| {
    let byte = r"(0|[1-9][0-9]?|1[0-9][0-9]?|2[0-4][0-9]|25[0-5])";
    let s = r"[\t\n\f\r ]*";
    built_in(&format!(r"^rgb\({s}{byte}{s},{s}{byte}{s},{s}{byte}{s}\)$"))
});
static BASE64: LazyLock<Option<Regex>> = LazyLock::new(|| {
    built_in(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$")
});
static CREDIT_CARD: LazyLock<Option<Regex>> = LazyLock::new(|| {
    built_in(
        r"^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35[0-9]{3})[0-9]{11})$",
    )
});
static TIME_OF_DAY: LazyLock<Option<Regex>> = LazyLock::new(|| {
    built_in(r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$")
});
static SCALA_DURATION: LazyLock<Option<Regex>> =
    LazyLock::new(|| built_in(r"^[\t\n\f\r ]*(?:[0-9]+[\t\n\f\r ]*[A-Za-zµ]+[\t\n\f\r ]*)+$"));
static DURATION_PART: LazyLock<Option<Regex>> =
    LazyLock::new(|| built_in(r"([0-9]+)[\t\n\f\r ]*([A-Za-zµ]+)"));

/// Whether `text` has the string format `format` (dashes removed), as kube-openapi's default
/// format registry decides.
fn format_holds(format: &str, text: &str) -> bool {
    match format {
        "bsonobjectid" => text.len() == 24 && text.bytes().all(|b| b.is_ascii_hexdigit()),
        "uri" => is_request_uri(text),
        "email" => is_email(text),
        "hostname" => {
            re_holds(&HOSTNAME, text)
                && text.len() <= 255
                && text.split('.').all(|label| label.len() <= 63)
        }
        "ipv4" => parse_ip(text, true) && text.contains('.'),
        "ipv6" => parse_ip(text, false) && text.contains(':'),
        "cidr" => is_cidr(text),
        "mac" => is_mac(text),
        "uuid" => re_holds(&UUID, text),
        "uuid3" => re_holds(&UUID3, text),
        "uuid4" => re_holds(&UUID4, text),
        "uuid5" => re_holds(&UUID5, text),
        "isbn" => is_isbn10(text) || is_isbn13(text),
        "isbn10" => is_isbn10(text),
        "isbn13" => is_isbn13(text),
        "creditcard" => is_credit_card(text),
        "ssn" => text.len() == 11 && re_holds(&SSN, text),
        "hexcolor" => re_holds(&HEX_COLOR, text),
        "rgbcolor" => re_holds(&RGB_COLOR, text),
        "byte" => re_holds(&BASE64, text),
        "date" => is_date(text),
        "datetime" => is_date_time(text),
        "duration" => parse_go_duration(text).is_some() || is_scala_duration(text),
        _ => true,
    }
}

fn days_in(month: u32, year: u32) -> u32 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Go's `time.Parse("2006-01-02", text)` succeeds.
fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let number = |from: usize, to: usize| {
        text.get(from..to)
            .filter(|t| t.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|t| t.parse::<u32>().ok())
    };
    let (Some(year), Some(month), Some(day)) = (number(0, 4), number(5, 7), number(8, 10)) else {
        return false;
    };
    (1..=12).contains(&month) && day >= 1 && day <= days_in(month, year)
}

/// go-openapi's date-time check: a date, a `t` (any case), a time of day with an optional
/// fraction and a `z` or `±hh:mm` zone.
fn is_date_time(text: &str) -> bool {
    if text.len() < 4 {
        return false;
    }
    let lower = text.to_lowercase();
    let mut parts = lower.split('t');
    let (Some(date), Some(time)) = (parts.next(), parts.next()) else {
        return false;
    };
    if !is_date(date) {
        return false;
    }
    let Some(Some(caps)) = TIME_OF_DAY.as_ref().map(|re| re.captures(time)) else {
        return TIME_OF_DAY.is_none();
    };
    let field = |i: usize| caps.get(i).map(|m| m.as_str()).unwrap_or("99");
    field(1) <= "23" && field(2) <= "59" && field(3) <= "59"
}

/// The Scala-style durations go-openapi accepts besides Go's: `3 days`, `1w`, `10 min`.
fn is_scala_duration(text: &str) -> bool {
    const UNITS: &[&[&str]] = &[
        &["ns", "nano"],
        &["us", "µs", "micro"],
        &["ms", "milli"],
        &["s", "sec"],
        &["m", "min"],
        &["h", "hr", "hour"],
        &["d", "day"],
        &["w", "wk", "week"],
    ];
    let (Some(shape), Some(part)) = (SCALA_DURATION.as_ref(), DURATION_PART.as_ref()) else {
        return true;
    };
    if !shape.is_match(text) {
        return false;
    }
    let mut known = false;
    for caps in part.captures_iter(text) {
        let (Some(count), Some(unit)) = (caps.get(1), caps.get(2)) else {
            continue;
        };
        if count.as_str().parse::<i64>().is_err() {
            return false;
        }
        let unit = unit.as_str().trim().to_lowercase();
        for variants in UNITS {
            let last = variants.len() - 1;
            for (i, variant) in variants.iter().enumerate() {
                if (i == last && unit.starts_with(variant)) || unit == variant.to_lowercase() {
                    known = true;
                }
            }
        }
    }
    known
}

/// Dotted-decimal IPv4 as Go parses it; `sloppy` (Kubernetes' `ParseIPSloppy`) allows
/// leading zeros.
fn parse_ipv4(text: &str, sloppy: bool) -> bool {
    let mut parts = text.split('.');
    for _ in 0..4 {
        let Some(part) = parts.next() else {
            return false;
        };
        if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
        if !sloppy && part.len() > 1 && part.starts_with('0') {
            return false;
        }
        let mut n: u32 = 0;
        for c in part.bytes() {
            n = n * 10 + u32::from(c - b'0');
            if n > 0xff {
                return false;
            }
        }
    }
    parts.next().is_none()
}

/// IPv6 as Go's `net.ParseIP` reads it (groups, one `::`, a trailing IPv4, no zone).
fn parse_ipv6(text: &str, sloppy: bool) -> bool {
    let mut rest = text;
    let mut ellipsis = false;
    if let Some(after) = rest.strip_prefix("::") {
        ellipsis = true;
        rest = after;
        if rest.is_empty() {
            return true;
        }
    }
    let mut filled = 0;
    while filled < 16 {
        let digits = rest.bytes().take_while(u8::is_ascii_hexdigit).count();
        if digits == 0 || (!sloppy && digits > 4) {
            return false;
        }
        let mut n: u32 = 0;
        for c in rest[..digits].bytes() {
            n = n * 16 + (c as char).to_digit(16).unwrap_or(0);
            if n > 0xff_ffff {
                return false;
            }
        }
        if rest[digits..].starts_with('.') {
            if (!ellipsis && filled != 12) || filled + 4 > 16 || !parse_ipv4(rest, sloppy) {
                return false;
            }
            rest = "";
            filled += 4;
            break;
        }
        if n > 0xffff {
            return false;
        }
        filled += 2;
        rest = &rest[digits..];
        if rest.is_empty() {
            break;
        }
        if !rest.starts_with(':') || rest.len() == 1 {
            return false;
        }
        rest = &rest[1..];
        if let Some(after) = rest.strip_prefix(':') {
            if ellipsis {
                return false;
            }
            ellipsis = true;
            rest = after;
            if rest.is_empty() {
                break;
            }
        }
    }
    rest.is_empty() && (filled == 16) != ellipsis
}

/// Go's `net.ParseIP` (or Kubernetes' sloppy form) accepts `text`.
fn parse_ip(text: &str, sloppy: bool) -> bool {
    match text.bytes().find(|b| *b == b'.' || *b == b':') {
        Some(b'.') => parse_ipv4(text, sloppy),
        Some(_) => parse_ipv6(text, sloppy),
        None => false,
    }
}

/// Kubernetes' `ParseCIDRSloppy`: an address, `/`, a prefix length within its family.
fn is_cidr(text: &str) -> bool {
    let Some((address, mask)) = text.split_once('/') else {
        return false;
    };
    let bits = if parse_ipv4(address, true) {
        32
    } else if parse_ipv6(address, true) {
        128
    } else {
        return false;
    };
    !mask.is_empty()
        && mask.bytes().all(|c| c.is_ascii_digit())
        && mask
            .bytes()
            .try_fold(0u64, |n, c| {
                let n = n * 10 + u64::from(c - b'0');
                (n < 0xff_ffff).then_some(n)
            })
            .is_some_and(|n| n <= bits)
}

/// Go's `net.ParseMAC`: 6, 8 or 20 octets as `xx:xx…`, `xx-xx…` or `xxxx.xxxx…`.
fn is_mac(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() < 14 {
        return false;
    }
    let hex = |part: &[u8]| part.iter().all(u8::is_ascii_hexdigit);
    if b[2] == b':' || b[2] == b'-' {
        let separator = b[2];
        (b.len() + 1).is_multiple_of(3)
            && [6, 8, 20].contains(&((b.len() + 1) / 3))
            && b.chunks(3)
                .all(|c| hex(&c[..2]) && (c.len() == 2 || c[2] == separator))
    } else if b[4] == b'.' {
        (b.len() + 1).is_multiple_of(5)
            && [6, 8, 20].contains(&(2 * (b.len() + 1) / 5))
            && b.chunks(5)
                .all(|c| c.len() >= 4 && hex(&c[..4]) && (c.len() == 4 || c[4] == b'.'))
    } else {
        false
    }
}

fn isbn_digits(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\u{c}' | '\r' | ' ' | '-'))
        .collect()
}

fn is_isbn10(text: &str) -> bool {
    let s = isbn_digits(text);
    let b = s.as_bytes();
    if b.len() != 10
        || !b[..9].iter().all(u8::is_ascii_digit)
        || !(b[9].is_ascii_digit() || b[9] == b'X')
    {
        return false;
    }
    let mut sum: u32 = b[..9]
        .iter()
        .enumerate()
        .map(|(i, c)| (i as u32 + 1) * u32::from(c - b'0'))
        .sum();
    sum += 10
        * if b[9] == b'X' {
            10
        } else {
            u32::from(b[9] - b'0')
        };
    sum.is_multiple_of(11)
}

fn is_isbn13(text: &str) -> bool {
    let s = isbn_digits(text);
    let b = s.as_bytes();
    if b.len() != 13 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = b[..12]
        .iter()
        .enumerate()
        .map(|(i, c)| if i % 2 == 0 { 1 } else { 3 } * u32::from(c - b'0'))
        .sum();
    u32::from(b[12] - b'0') == (10 - sum % 10) % 10
}

/// govalidator's credit card check: the digits (anything else removed) match a card number
/// pattern and pass the Luhn checksum.
fn is_credit_card(text: &str) -> bool {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    if !re_holds(&CREDIT_CARD, &digits) {
        return false;
    }
    let mut sum = 0;
    for (i, c) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(c - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d >= 10 {
                d = d % 10 + 1;
            }
        }
        sum += d;
    }
    sum % 10 == 0
}

/// Close to Go's `url.ParseRequestURI`: `*`, an absolute path, or a scheme with an opaque
/// part or a `//` authority (port digits, host characters, `%` escapes checked).
fn is_request_uri(text: &str) -> bool {
    if text.is_empty() || text.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return false;
    }
    if text == "*" {
        return true;
    }
    let mut scheme = "";
    let mut rest = text;
    for (i, c) in text.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return false,
            b':' => {
                scheme = &text[..i];
                rest = &text[i + 1..];
                break;
            }
            _ => break,
        }
    }
    let rest = match rest.split_once('?') {
        Some((before, _)) => before,
        None => rest,
    };
    if !rest.starts_with('/') {
        return !scheme.is_empty();
    }
    let mut path = rest;
    if !scheme.is_empty()
        && let Some(after) = rest.strip_prefix("//")
    {
        let end = after.find('/').unwrap_or(after.len());
        if !valid_authority(&after[..end]) {
            return false;
        }
        path = &after[end..];
    }
    valid_escapes(path)
}

fn valid_escapes(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if i + 2 >= b.len() || !(b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit()) {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

fn valid_authority(authority: &str) -> bool {
    let host = match authority.rfind('@') {
        Some(at) => {
            let user = &authority[..at];
            let allowed = |c: char| c.is_ascii_alphanumeric() || "-._:~!$&'()*+,;=%@".contains(c);
            if !user.chars().all(allowed) || !valid_escapes(user) {
                return false;
            }
            &authority[at + 1..]
        }
        None => authority,
    };
    let port_ok = |port: &str| {
        port.is_empty() || (port.starts_with(':') && port[1..].bytes().all(|c| c.is_ascii_digit()))
    };
    let name = if let Some(inner) = host.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return false;
        };
        if !port_ok(&inner[close + 1..]) {
            return false;
        }
        &inner[..close]
    } else {
        if let Some(colon) = host.rfind(':')
            && !port_ok(&host[colon..])
        {
            return false;
        }
        host
    };
    name.chars().all(|c| {
        !c.is_ascii() || c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:[]<>\"%".contains(c)
    }) && valid_escapes(name)
}

/// Close to Go's `mail.ParseAddress`: an addr-spec, or a display name and `<addr-spec>`.
fn is_email(text: &str) -> bool {
    let text = text.trim_matches(|c| c == ' ' || c == '\t');
    let spec = match (text.rfind('<'), text.strip_suffix('>')) {
        (Some(open), Some(inner)) => &inner[open + 1..],
        _ => text,
    };
    let Some(at) = spec.rfind('@') else {
        return false;
    };
    let (local, domain) = (&spec[..at], &spec[at + 1..]);
    let atext = |c: char| !c.is_ascii() || (c.is_ascii_graphic() && !"()<>[]:;@\\,\".".contains(c));
    let local_ok = if let Some(quoted) = local.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
        !quoted.is_empty() || local.len() == 2
    } else {
        !local.is_empty()
            && local.chars().all(|c| c == '.' || atext(c))
            && local.chars().any(|c| c != '.')
    };
    let domain_ok = if domain.starts_with('[') {
        domain.ends_with(']') && domain.len() > 2
    } else {
        !domain.is_empty()
            && domain
                .split('.')
                .all(|label| !label.is_empty() && label.chars().all(atext))
    };
    local_ok && domain_ok
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::json;

    use super::*;

    /// The schema of the newest release's `crd.projectcalico.org/v1` CRD of a plural.
    pub(crate) fn crd_schema(plural: &str) -> Schema {
        api_schema(crate::kinds::CrdApi::V1, plural)
    }

    /// The schema of the newest release's CRD of `api` for a kind of the table's plural.
    pub(crate) fn api_schema(api: crate::kinds::CrdApi, plural: &str) -> Schema {
        let newest = crate::convert::versions::Release::of(None);
        let kind = crate::kinds::CalicoKind::by_plural(plural).expect("a kind of the table");
        let crd = crate::kdd::crds::manifest(api, &newest, kind).expect("embedded");
        Schema::from_crd(&crd, None).unwrap()
    }

    #[test]
    fn every_pattern_of_the_newest_crds_compiles() {
        let mut checked = 0;
        for kind in crate::kinds::CalicoKind::with_crd() {
            let plural = kind.plural;
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
        let rewrites = schema.repair(&mut felix);
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
        assert_eq!(schema.repair(&mut ok), []);
        assert_eq!(ok, before);
    }

    #[test]
    fn repeats_in_sets_are_dropped_and_reported() {
        let schema = crd_schema("globalnetworksets");
        let mut set =
            json!({"spec": {"nets": ["10.0.0.0/8", "192.168.0.0/16", "10.0.0.0/8", "10.0.0.0/8"]}});
        let repairs = schema.repair(&mut set);
        assert_eq!(set["spec"]["nets"], json!(["10.0.0.0/8", "192.168.0.0/16"]));
        assert_eq!(repairs.len(), 1);
        assert_eq!(repairs[0].why, RewriteReason::DuplicateSetItems);
        assert_eq!(
            repairs[0].to_string(),
            "spec.nets: dropped repeated \"10.0.0.0/8\" (the list is a set)"
        );
        assert!(
            schema.validate(&set).is_empty(),
            "the repaired object passes"
        );
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

    // ------------------------------------------------------------------------ validation

    /// The schema of an embedded CRD manifest, as import builds it.
    fn embedded(plural: &str) -> Schema {
        crd_schema(plural)
    }

    /// A schema whose `spec` is `spec`.
    fn spec_schema(spec: Value) -> Schema {
        Schema::new(
            json!({"type": "object", "properties": {"spec": spec}}),
            false,
        )
    }

    fn causes(schema: &Schema, object: &Value) -> Vec<String> {
        schema
            .validate(object)
            .iter()
            .map(|e| e.message.clone())
            .collect()
    }

    /// The causes for `spec.x: value` under `x`'s schema `field`.
    fn field_causes(field: Value, value: Value) -> Vec<String> {
        let schema = spec_schema(json!({"type": "object", "properties": {"x": field}}));
        causes(&schema, &json!({"spec": {"x": value}}))
    }

    fn type_cause(wanted: &str, got: &str) -> String {
        format!(
            "spec.x: Invalid value: \"{got}\": spec.x in body must be of type {wanted}: \"{got}\""
        )
    }

    #[test]
    fn types_are_checked_as_the_api_server_checks_them() {
        let cases = [
            ("object", json!({"a": 1}), json!([1])),
            ("array", json!([1]), json!({"a": 1})),
            ("string", json!("x"), json!(1)),
            ("integer", json!(3), json!("3")),
            ("number", json!(1.5), json!(true)),
            ("boolean", json!(false), json!("false")),
        ];
        for (wanted, good, bad) in cases {
            assert_eq!(
                field_causes(json!({"type": wanted}), good),
                Vec::<String>::new(),
                "{wanted}"
            );
            let got = json_type(&bad).0;
            assert_eq!(
                field_causes(json!({"type": wanted}), bad),
                [type_cause(wanted, got)],
                "{wanted}"
            );
        }
        // Integer means a whole number (2.0 is one); number accepts integers.
        assert!(field_causes(json!({"type": "integer"}), json!(2.0)).is_empty());
        assert_eq!(
            field_causes(json!({"type": "integer"}), json!(1.5)),
            [type_cause("integer", "number")]
        );
        assert!(field_causes(json!({"type": "number"}), json!(7)).is_empty());
        // A whole number beyond int64 decodes as a float, as in Go.
        assert!(field_causes(json!({"type": "number"}), json!(u64::MAX)).is_empty());
    }

    #[test]
    fn nulls_pass_only_where_nullable() {
        // A null field is pruned before validation; a null list item is not.
        let list = |nullable: bool| json!({"type": "array", "items": {"type": "integer", "nullable": nullable}});
        assert!(field_causes(list(true), json!([1, null])).is_empty());
        assert_eq!(
            field_causes(list(false), json!([1, null])),
            [
                "spec.x[1]: Invalid value: \"null\": spec.x[1] in body must be of type integer: \"null\""
            ]
        );
        assert!(field_causes(json!({"type": "string"}), json!(null)).is_empty());
        assert!(field_causes(json!({"type": "string", "nullable": true}), json!(null)).is_empty());
    }

    #[test]
    fn int_or_string_takes_both_and_reports_other_types_like_the_server() {
        let field = json!({"anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": true, "pattern": "^.*"});
        assert!(field_causes(field.clone(), json!(80)).is_empty());
        assert!(field_causes(field.clone(), json!("8000:8080")).is_empty());
        assert_eq!(
            field_causes(field, json!(true)),
            [
                type_cause("integer,string", "boolean"),
                "<nil>: Invalid value: \"\": \"spec.x\" must validate at least one schema (anyOf)"
                    .to_string(),
                type_cause("integer", "boolean"),
            ]
        );
    }

    #[test]
    fn preserved_unknown_fields_are_not_validated_but_described_ones_are() {
        let field = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true,
            "properties": {"n": {"type": "integer"}}});
        assert!(
            field_causes(
                field.clone(),
                json!({"free": [true, {"any": "thing"}], "n": 1})
            )
            .is_empty()
        );
        assert_eq!(
            field_causes(field, json!({"free": 1, "n": "one"})),
            [
                "spec.x.n: Invalid value: \"string\": spec.x.n in body must be of type integer: \"string\""
            ]
        );
    }

    #[test]
    fn required_fields_are_reported_after_defaults_are_applied() {
        let schema = spec_schema(json!({"type": "object", "required": ["a", "b", "c"],
            "properties": {"a": {"type": "string"}, "b": {"type": "string", "default": "x"},
                           "c": {"type": "string"}}}));
        assert_eq!(
            causes(&schema, &json!({"spec": {"c": "here"}})),
            ["spec.a: Required value"]
        );
        // A non-nullable null is pruned, so it is missing.
        assert_eq!(
            causes(&schema, &json!({"spec": {"a": "x", "c": null}})),
            ["spec.c: Required value"]
        );
    }

    #[test]
    fn enum_failures_list_the_supported_values() {
        let field = json!({"type": "string", "enum": ["A", "B"]});
        assert!(field_causes(field.clone(), json!("A")).is_empty());
        assert_eq!(
            field_causes(field, json!("Foo")),
            ["spec.x: Unsupported value: \"Foo\": supported values: \"A\", \"B\""]
        );
        let numbers = json!({"type": "number", "enum": [1, 2.5, true, null]});
        assert!(field_causes(numbers.clone(), json!(1.0)).is_empty());
        assert!(field_causes(numbers.clone(), json!(2.5)).is_empty());
        assert_eq!(
            field_causes(numbers, json!(3)),
            ["spec.x: Unsupported value: 3: supported values: \"1\", \"2.5\", \"true\", \"null\""]
        );
        // A null never matches an enum.
        assert_eq!(
            field_causes(
                json!({"type": "string", "nullable": true, "enum": ["A"]}),
                json!(null)
            ),
            ["spec.x: Unsupported value: \"null\": supported values: \"A\""]
        );
    }

    #[test]
    fn patterns_are_go_regular_expressions() {
        let field = json!({"type": "string", "pattern": r"^\d+(ms|s)$"});
        assert!(field_causes(field.clone(), json!("15ms")).is_empty());
        assert_eq!(
            field_causes(field.clone(), json!("1.5s")),
            [r#"spec.x: Invalid value: "1.5s": spec.x in body should match '^\d+(ms|s)$'"#]
        );
        // \d is ASCII in Go.
        assert_eq!(field_causes(field, json!("١٥s")).len(), 1);
    }

    #[test]
    fn string_formats_are_checked_where_the_api_server_checks_them() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            (
                "date-time",
                &["2025-06-18T14:05:01Z", "2025-06-18t14:05:01.5+02:00"],
                &[
                    "2025-06-18 14:05:01",
                    "2025-02-30T00:00:00Z",
                    "2025-06-18T24:00:00Z",
                    "yesterday",
                ],
            ),
            (
                "date",
                &["2024-02-29"],
                &["2023-02-29", "2024-2-1", "2024-13-01"],
            ),
            (
                "cidr",
                &[
                    "10.0.0.0/8",
                    "fd00::/64",
                    "010.0.0.0/8",
                    "::ffff:1.2.3.4/120",
                ],
                &[
                    "10.0.0.0",
                    "10.0.0.0/33",
                    "fd00::/129",
                    "10.0.0.0/x",
                    "nope",
                ],
            ),
            (
                "ipv4",
                &["10.1.2.3", "010.1.2.3", "::ffff:1.2.3.4"],
                &["10.1.2", "256.1.1.1", "fd00::1"],
            ),
            (
                "ipv6",
                &["fd00::1", "::", "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8"],
                &[
                    "10.1.2.3",
                    "fd00::1%eth0",
                    "1:2:3:4:5:6:7:8:9",
                    "1::2::3",
                    "12345::",
                ],
            ),
            (
                "uuid",
                &[
                    "0b9d7e36-3e2e-4d7a-9f0a-3f8c2b1e4a5d",
                    "0B9D7E363E2E4D7A9F0A3F8C2B1E4A5D",
                ],
                &["0b9d7e36-3e2e-4d7a-9f0a"],
            ),
            (
                "uuid4",
                &["0b9d7e36-3e2e-4d7a-9f0a-3f8c2b1e4a5d"],
                &["0b9d7e36-3e2e-3d7a-9f0a-3f8c2b1e4a5d"],
            ),
            (
                "byte",
                &["aGVsbG8=", "aGk="],
                &["", "not base64!", "aGVsbG8"],
            ),
            (
                "mac",
                &["00:1a:2b:3c:4d:5e", "00-1A-2B-3C-4D-5E", "001a.2b3c.4d5e"],
                &["00:1a:2b:3c:4d", "00:1a-2b:3c:4d:5e"],
            ),
            (
                "hostname",
                &["node-1.example.com", "localhost"],
                &["-bad.example.com", "a..b"],
            ),
            (
                "email",
                &["ops@example.com", "Ops <ops@example.com>"],
                &["ops", "ops@", "@example.com"],
            ),
            (
                "uri",
                &[
                    "https://example.com:8443/x?y",
                    "/absolute/path",
                    "urn:isbn:123",
                ],
                &["relative/path", "", "http://host:port/", "/bad%zz"],
            ),
            ("duration", &["1h30m", "3 days", "10min"], &["soon", "1.5"]),
            (
                "bsonobjectid",
                &["507f1f77bcf86cd799439011"],
                &["507f1f77bcf86cd79943901"],
            ),
            ("hexcolor", &["#fff", "a0b1c2"], &["#ffff"]),
            ("rgbcolor", &["rgb(255, 0, 10)"], &["rgb(256,0,0)"]),
            ("ssn", &["123-45-6789"], &["123456789"]),
            ("isbn10", &["0-321-75104-3"], &["0321751044"]),
            ("isbn13", &["978-0321751041"], &["9780321751042"]),
            ("isbn", &["0321751043", "9780321751041"], &["1234"]),
            (
                "creditcard",
                &["4111 1111 1111 1111"],
                &["4111 1111 1111 1112"],
            ),
            ("password", &["anything"], &[]),
        ];
        for (format, good, bad) in cases {
            let field = json!({"type": "string", "format": format});
            for value in *good {
                assert_eq!(
                    field_causes(field.clone(), json!(value)),
                    Vec::<String>::new(),
                    "{format} {value:?}"
                );
            }
            for value in *bad {
                assert_eq!(
                    field_causes(field.clone(), json!(value)),
                    [format!(
                        "spec.x: Invalid value: {q}: spec.x in body must be of type {format}: {q}",
                        q = go_quote(value)
                    )],
                    "{format} {value:?}"
                );
            }
        }
        // int32 and int64 are dropped by the server: no range check (docs/design.md §14); so are
        // formats it does not know.
        assert!(
            field_causes(
                json!({"type": "integer", "format": "int32"}),
                json!(0xffff_0000u64)
            )
            .is_empty()
        );
        assert!(
            field_causes(json!({"type": "string", "format": "color"}), json!("blue")).is_empty()
        );
    }

    #[test]
    fn the_type_check_has_kube_openapis_format_quirks() {
        let cidr = json!({"type": "string", "format": "cidr"});
        assert_eq!(
            field_causes(cidr.clone(), json!(10)),
            [type_cause("cidr", "int64")]
        );
        assert_eq!(
            field_causes(cidr.clone(), json!(1.5)),
            [type_cause("cidr", "double")]
        );
        assert_eq!(
            field_causes(cidr.clone(), json!(true)),
            [type_cause("cidr", "")]
        );
        // A list under a string format passes the type check.
        assert!(field_causes(cidr, json!(["10.0.0.0/8"])).is_empty());
        // And a string under a list with a format (IPReservation's reservedCIDRs) is checked
        // against the format only.
        let list = json!({"type": "array", "format": "cidr", "items": {"type": "string"}});
        assert!(field_causes(list.clone(), json!(["10.0.0.0/8"])).is_empty());
        assert!(field_causes(list.clone(), json!("10.0.0.0/8")).is_empty());
        assert_eq!(field_causes(list, json!("x")).len(), 1);
    }

    #[test]
    fn numeric_bounds_are_checked() {
        let port = json!({"type": "integer", "minimum": 1, "maximum": 65535});
        assert!(field_causes(port.clone(), json!(1)).is_empty());
        assert!(field_causes(port.clone(), json!(65535)).is_empty());
        assert_eq!(
            field_causes(port.clone(), json!(0)),
            ["spec.x: Invalid value: 0: spec.x in body should be greater than or equal to 1"]
        );
        assert_eq!(
            field_causes(port, json!(70000)),
            ["spec.x: Invalid value: 70000: spec.x in body should be less than or equal to 65535"]
        );
        let open = json!({"type": "number", "minimum": 0, "exclusiveMinimum": true,
            "maximum": 1.5, "exclusiveMaximum": true});
        assert!(field_causes(open.clone(), json!(0.5)).is_empty());
        assert_eq!(
            field_causes(open.clone(), json!(0)),
            ["spec.x: Invalid value: 0: spec.x in body should be greater than 0"]
        );
        assert_eq!(
            field_causes(open, json!(1.5)),
            ["spec.x: Invalid value: 1.5: spec.x in body should be less than 1.5"]
        );
        let multiple = json!({"type": "number", "multipleOf": 5});
        assert!(field_causes(multiple.clone(), json!(15)).is_empty());
        assert_eq!(
            field_causes(multiple.clone(), json!(7)),
            ["spec.x: Invalid value: 7: spec.x in body should be a multiple of 5"]
        );
        assert_eq!(
            field_causes(multiple, json!(7.5)),
            ["spec.x: Invalid value: 7.5: spec.x in body should be a multiple of 5"]
        );
        assert_eq!(
            field_causes(json!({"type": "number", "maximum": 1000000}), json!(1e7)),
            ["spec.x: Invalid value: 1e+07: spec.x in body should be less than or equal to 1e+06"]
        );
    }

    #[test]
    fn string_lengths_count_characters() {
        let field = json!({"type": "string", "minLength": 2, "maxLength": 4, "pattern": "^a"});
        assert!(field_causes(field.clone(), json!("aéé")).is_empty());
        assert_eq!(
            field_causes(field.clone(), json!("abcde")),
            ["spec.x: Too long: may not be longer than 4"],
            "length first, pattern not reported"
        );
        assert_eq!(
            field_causes(field, json!("a")),
            ["spec.x: Invalid value: \"a\": spec.x in body should be at least 2 chars long"]
        );
    }

    #[test]
    fn item_and_property_counts_are_checked() {
        let list =
            json!({"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}});
        assert!(field_causes(list.clone(), json!(["a"])).is_empty());
        assert_eq!(
            field_causes(list.clone(), json!([])),
            ["spec.x: Invalid value: 0: spec.x in body should have at least 1 items"]
        );
        assert_eq!(
            field_causes(list, json!(["a", "b", "c"])),
            ["spec.x: Too many: 3: must have at most 2 items"]
        );
        let map = json!({"type": "object", "minProperties": 1, "maxProperties": 2,
            "additionalProperties": {"type": "integer"}});
        assert!(field_causes(map.clone(), json!({"a": 1})).is_empty());
        assert_eq!(
            field_causes(map.clone(), json!({})),
            ["spec.x: Invalid value: 1: spec.x in body should have at least 1 properties"]
        );
        // A count failure ends the object's validation, as on the server.
        assert_eq!(
            field_causes(map, json!({"a": "1", "b": 2, "c": 3})),
            ["spec.x: Too many: 3: must have at most 2 items"]
        );
    }

    #[test]
    fn items_properties_and_additional_properties_are_walked_with_paths() {
        let field = json!({"type": "array", "items": {"type": "object", "properties": {
            "port": {"type": "integer"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}}}}});
        assert_eq!(
            field_causes(
                field,
                json!([{"port": 1}, {"port": "2", "labels": {"a": "b", "c/d": 3}}])
            ),
            [
                "spec.x[1].port: Invalid value: \"string\": spec.x[1].port in body must be of type integer: \"string\"",
                "spec.x[1].labels.c/d: Invalid value: \"integer\": spec.x[1].labels.c/d in body must be of type string: \"integer\"",
            ]
        );
        // additionalProperties: false forbids what properties do not name (when not pruned).
        let closed = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true,
            "additionalProperties": false, "properties": {"a": {"type": "string"}}});
        assert_eq!(
            field_causes(closed, json!({"a": "x", "b": 1})),
            ["spec.x: Invalid value: \"b\": spec.x.b in body is a forbidden property"]
        );
        let open = json!({"type": "object", "additionalProperties": true});
        assert!(field_causes(open, json!({"anything": [1]})).is_empty());
    }

    #[test]
    fn value_validations_any_all_one_of_and_not() {
        let all_of = json!({"type": "string", "allOf": [{"enum": ["Allow", "Deny", "Pass"]}, {"enum": ["Pass", "Deny"]}]});
        assert!(field_causes(all_of.clone(), json!("Deny")).is_empty());
        assert_eq!(
            field_causes(all_of.clone(), json!("Allow")),
            [
                "spec.x: Unsupported value: \"Allow\": supported values: \"Pass\", \"Deny\"",
                "<nil>: Invalid value: \"\": \"spec.x\" must validate all the schemas (allOf)",
            ]
        );
        assert_eq!(field_causes(all_of, json!("Log")).len(), 3);
        let one_of = json!({"type": "integer", "oneOf": [{"minimum": 10}, {"maximum": 20}]});
        assert!(field_causes(one_of.clone(), json!(5)).is_empty());
        assert_eq!(
            field_causes(one_of, json!(15)),
            [
                "<nil>: Invalid value: \"\": \"spec.x\" must validate one and only one schema (oneOf). Found 2 valid alternatives"
            ]
        );
        let any_of = json!({"type": "string", "anyOf": [{"pattern": "^a"}, {"pattern": "^b"}]});
        assert!(field_causes(any_of.clone(), json!("bee")).is_empty());
        assert_eq!(field_causes(any_of, json!("cat")).len(), 2);
        let not = json!({"type": "string", "not": {"enum": ["forbidden"]}});
        assert!(field_causes(not.clone(), json!("fine")).is_empty());
        assert_eq!(
            field_causes(not, json!("forbidden")),
            ["<nil>: Invalid value: \"\": \"spec.x\" must not validate the schema (not)"]
        );
    }

    #[test]
    fn list_type_sets_and_maps_reject_duplicates() {
        let set =
            json!({"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"});
        assert!(field_causes(set.clone(), json!(["a", "b"])).is_empty());
        assert_eq!(
            field_causes(set, json!(["a", "b", "a", "a", "b"])),
            [
                "spec.x[2]: Duplicate value: \"a\"",
                "spec.x[4]: Duplicate value: \"b\""
            ]
        );
        let map = json!({"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
            "items": {"type": "object", "properties": {"name": {"type": "string"}, "v": {"type": "integer"}}}});
        assert!(
            field_causes(
                map.clone(),
                json!([{"name": "a", "v": 1}, {"name": "b", "v": 1}])
            )
            .is_empty()
        );
        assert_eq!(
            field_causes(map, json!([{"name": "a", "v": 1}, {"name": "a", "v": 2}])),
            ["spec.x[1]: Duplicate value: map[string]interface {}{\"name\":\"a\"}"]
        );
        // A GlobalNetworkSet copied from etcd with a repeated net.
        let set = embedded("globalnetworksets").validate(
            &json!({"apiVersion": "crd.projectcalico.org/v1",
            "kind": "GlobalNetworkSet", "metadata": {"name": "feed"},
            "spec": {"nets": ["198.51.100.0/24", "203.0.113.7/32", "198.51.100.0/24"]}}),
        );
        assert_eq!(
            set.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(),
            ["spec.nets[2]"]
        );
    }

    #[test]
    fn validation_sees_the_object_as_the_server_stores_it() {
        let schema = spec_schema(json!({"type": "object", "required": ["mode"],
            "properties": {"mode": {"type": "string", "enum": ["A", "B"], "default": "A"}}}));
        // Unknown fields are pruned, not rejected; the default fills the required field.
        assert!(causes(&schema, &json!({"spec": {"unknown": 1}})).is_empty());
        assert!(
            schema
                .validate(&json!({"metadata": {"name": "x", "anything": [1]}}))
                .is_empty()
        );
    }

    #[test]
    fn values_print_as_go_prints_them() {
        assert_eq!(
            go_quote("a\"b\\c\n\u{1}é\u{200b}"),
            r#""a\"b\\c\n\x01é\u200b""#
        );
        assert_eq!(bad_value(&json!(null)), "\"null\"");
        assert_eq!(bad_value(&json!(1.5)), "1.5");
        assert_eq!(bad_value(&json!(-3)), "-3");
        assert_eq!(
            bad_value(&json!({"b": [1, "x", null], "a": true})),
            r#"map[string]interface {}{"a":true, "b":[]interface {}{1, "x", interface {}(nil)}}"#
        );
        let error = field_causes(json!({"type": "string"}), json!({"k": 1}));
        assert_eq!(error, [type_cause("string", "object")]);
        assert_eq!(
            FieldError::required("spec.a").to_string(),
            "spec.a: Required value"
        );
    }

    fn ipam_block(spec: Value) -> Value {
        json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPAMBlock",
            "metadata": {"name": "10-0-0-0-30"}, "spec": spec})
    }

    #[test]
    fn the_rejections_kube_apiserver_made_happen_with_the_real_crds() {
        // IPAMBlock without strictAffinity.
        let blocks = embedded("ipamblocks");
        let spec = json!({"cidr": "10.0.0.0/30", "allocations": [0, null], "unallocated": [1],
            "attributes": [{"handle_id": "h"}], "deleted": false});
        assert_eq!(
            causes(&blocks, &ipam_block(spec.clone())),
            ["spec.strictAffinity: Required value"]
        );
        let mut complete = spec;
        complete["strictAffinity"] = json!(false);
        assert!(causes(&blocks, &ipam_block(complete)).is_empty());

        // BlockAffinity with deleted as a boolean.
        let affinities = embedded("blockaffinities");
        let affinity = |deleted: Value| {
            json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "BlockAffinity",
                "metadata": {"name": "node-1-10-0-0-0-30"},
                "spec": {"state": "confirmed", "node": "node-1", "type": "host", "cidr": "10.0.0.0/30", "deleted": deleted}})
        };
        assert!(causes(&affinities, &affinity(json!("false"))).is_empty());
        assert_eq!(
            causes(&affinities, &affinity(json!(false))),
            [
                "spec.deleted: Invalid value: \"boolean\": spec.deleted in body must be of type string: \"boolean\""
            ]
        );

        // FelixConfiguration: 1.5s fails the doubly escaped pattern, 1500ms passes.
        let felix = embedded("felixconfigurations");
        let config = |interval: &str| {
            json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "FelixConfiguration",
                "metadata": {"name": "default"}, "spec": {"iptablesRefreshInterval": interval}})
        };
        assert_eq!(
            causes(&felix, &config("1.5s")),
            [
                r#"spec.iptablesRefreshInterval: Invalid value: "1.5s": spec.iptablesRefreshInterval in body should match '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))*$'"#
            ]
        );
        assert!(causes(&felix, &config("1500ms")).is_empty());
        let mut rewritten = config("1.5s");
        felix.repair(&mut rewritten);
        assert!(causes(&felix, &rewritten).is_empty());

        // HostEndpoint: a port range is no port.
        let hep = json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "HostEndpoint",
            "metadata": {"name": "node-1-eth0"},
            "spec": {"node": "node-1", "interfaceName": "eth0",
                "ports": [{"name": "ssh", "port": 22, "protocol": "TCP"},
                          {"name": "ftp", "port": "20:21", "protocol": "TCP"}]}});
        let errors = embedded("hostendpoints").validate(&hep);
        assert_eq!(
            errors,
            [FieldError {
                path: "spec.ports[1].port".into(),
                message: r#"spec.ports[1].port: Invalid value: "string": spec.ports[1].port in body must be of type integer: "string""#.into(),
            }]
        );
        // IPPool: a CIDR that is none, a block size out of range.
        let pool = json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
            "metadata": {"name": "p"}, "spec": {"cidr": "10.0.0.0/33", "blockSize": 200}});
        assert_eq!(
            causes(&embedded("ippools"), &pool),
            [
                r#"spec.cidr: Invalid value: "10.0.0.0/33": spec.cidr in body must be of type cidr: "10.0.0.0/33""#,
                "spec.blockSize: Invalid value: 200: spec.blockSize in body should be less than or equal to 128",
            ]
        );
    }

    /// Every object of a calicoctl export fixture, converted as import converts it.
    fn fixture_objects(name: &str) -> Vec<(&'static str, Value)> {
        use crate::convert::kdd::{
            Desired, Target, cluster_information_fields, ipam_to_kdd, to_kdd,
        };
        use crate::convert::version::CalicoVersion;
        let path = format!(
            "{}/tests/fixtures/handmade/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let file = crate::format::export_reader::read_to_end(std::path::Path::new(&path)).unwrap();
        let target = Target::new(
            cluster_information_fields(&file.cluster_information)
                .1
                .and_then(|v| CalicoVersion::parse(&v)),
            "2026-08-01T12:00:00Z".into(),
        );
        let mut out = Vec::new();
        for (_, items) in &file.lists {
            for item in items {
                match to_kdd(item, &target).unwrap() {
                    Desired::Resource { kind, object } => out.push((kind.plural, object)),
                    Desired::NodeAnnotations { .. } => {}
                }
            }
        }
        for entry in &file.ipam {
            // Virtual (LoadBalancer) affinities are not imported.
            if let Ok(object) = ipam_to_kdd(entry, &target) {
                out.push((entry.kind.calico_kind().plural, object));
            }
        }
        out
    }

    #[test]
    fn every_object_of_the_calicoctl_fixtures_passes_the_real_crds() {
        let mut schemas: BTreeMap<&str, Schema> = BTreeMap::new();
        for fixture in ["calicoctl-v3.28-export.txt", "calicoctl-v3.32-export.txt"] {
            let objects = fixture_objects(fixture);
            assert!(objects.len() > 25, "{fixture}: {}", objects.len());
            for (plural, mut object) in objects {
                let schema = schemas.entry(plural).or_insert_with(|| embedded(plural));
                schema.repair(&mut object);
                assert_eq!(
                    causes(schema, &object),
                    Vec::<String>::new(),
                    "{fixture}: {plural} {}",
                    object["metadata"]["name"]
                );
            }
        }
        assert!(schemas.len() >= 18, "{:?}", schemas.keys());
    }

    #[test]
    fn ip_addresses_parse_as_go_parses_them() {
        assert!(
            parse_ip("1.2.3.4", false)
                && !parse_ip("01.2.3.4", false)
                && parse_ip("01.2.3.4", true)
        );
        assert!(
            parse_ip("::1", false)
                && parse_ip("1::", false)
                && parse_ip("1:2:3:4:5:6:1.2.3.4", false)
        );
        assert!(!parse_ip("1:2:3:4:5:6:7:1.2.3.4", false) && !parse_ip("1:2:3:4:5:6:7:8::", false));
        assert!(!parse_ip(":1", false) && !parse_ip("1:", false) && !parse_ip("", false));
        assert!(is_cidr("0.0.0.0/0") && is_cidr("10.0.0.1/024") && !is_cidr("/8"));
    }

    #[test]
    fn cel_rules_refuse_what_the_server_would_in_its_words() {
        use crate::kinds::CrdApi;
        let messages = |plural: &str, object: Value| -> Vec<String> {
            api_schema(CrdApi::V3, plural)
                .validate(&object)
                .into_iter()
                .map(|e| e.message)
                .collect()
        };
        let hep = json!({"apiVersion": "projectcalico.org/v3", "kind": "HostEndpoint",
            "metadata": {"name": "h"}, "spec": {"interfaceName": "eth0"}});
        assert_eq!(
            messages("hostendpoints", hep),
            [r#"spec: Invalid value: "object": node must be specified"#]
        );
        let pool = json!({"apiVersion": "projectcalico.org/v3", "kind": "IPPool",
            "metadata": {"name": "v6"}, "spec": {"cidr": "fd00::/64", "ipipMode": "Always"}});
        assert_eq!(
            messages("ippools", pool),
            ["spec: Forbidden: IPIP is not supported on IPv6 pools"]
        );
        // Rules on list items name the item; a root rule has no field.
        let gnp = json!({"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy",
            "metadata": {"name": "p"}, "spec": {"ingress": [{"action": "Allow"}, {"action": "Deny", "http": {"methods": ["GET"]}}]}});
        assert_eq!(
            messages("globalnetworkpolicies", gnp),
            ["spec.ingress[1]: Forbidden: HTTP match is only valid on Allow rules"]
        );
        let tier = json!({"apiVersion": "projectcalico.org/v3", "kind": "Tier",
            "metadata": {"name": "kube-admin"}, "spec": {"defaultAction": "Deny", "order": 1000}});
        assert_eq!(
            messages("tiers", tier),
            [
                r#"<nil>: Invalid value: "object": The 'kube-admin' tier must have default action 'Pass'"#
            ]
        );
        // Transition rules (immutable CIDR) do not apply to a create; objects with schema
        // errors are not given to the rules, as on the server.
        let bad = json!({"apiVersion": "projectcalico.org/v3", "kind": "HostEndpoint",
            "metadata": {"name": "h"}, "spec": {"interfaceName": 7}});
        let messages = api_schema(CrdApi::V3, "hostendpoints").validate(&bad);
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(messages[0].message.contains("must be of type string"));
    }
}
