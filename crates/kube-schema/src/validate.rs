//! Validation of a custom resource against its schema as apiextensions-apiserver does it:
//! kube-openapi's schema validator, then the list-type invariants, then the CEL rules.

use std::cmp::Ordering;
use std::collections::HashMap;

use go_compat::strconv::{go_number, go_quote, go_syntax};
use serde_json::{Map, Value};

use crate::errors::FieldError;
use crate::node::{Additional, Node, Pattern};
use crate::{Schema, cel, formats};

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

/// How a field error prints its bad value (apimachinery's `ErrorBody`): strings quoted,
/// numbers and booleans bare, `null` as "null", objects and lists in Go syntax.
pub fn bad_value(value: &Value) -> String {
    match value {
        Value::Null => go_quote("null"),
        other => go_syntax(other),
    }
}

/// The JSON type and format kube-openapi infers from a decoded value (`int64` for integers,
/// `double` for other numbers, which is what Go's decoder makes of them).
pub(crate) fn json_type(value: &Value) -> (&'static str, &'static str) {
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

fn type_error(path: &str, wanted: &str, got: &str) -> FieldError {
    FieldError::type_invalid(
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
    types: &[String],
    format: Option<&str>,
    path: &str,
) -> Option<FieldError> {
    let has = |t: &str| types.iter().any(|x| x == t);
    let (json, json_format) = json_type(value);
    let float_int =
        json == "number" && has("integer") && value.as_f64().is_some_and(is_json_integer);
    let int_float = json == "integer" && has("number");
    let fits = has(json) || float_int || int_float;
    let text_or_list = matches!(value, Value::String(_) | Value::Array(_));
    if let Some(format) = format {
        if !(text_or_list || fits || json_format == format) {
            return Some(type_error(path, format, json_format));
        }
        if text_or_list && !has("number") && !has("integer") {
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

fn check_enum(value: &Value, node: &Node, path: &str, out: &mut Vec<FieldError>) {
    let Some(allowed) = &node.enum_values else {
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

fn check_number(n: &serde_json::Number, node: &Node, path: &str, out: &mut Vec<FieldError>) {
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
    if let Some(factor) = node.multiple_of.filter(|f| *f > 0.0) {
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
            node.minimum,
            node.exclusive_minimum,
            Ordering::Less,
            "greater than",
        ),
        (
            node.maximum,
            node.exclusive_maximum,
            Ordering::Greater,
            "less than",
        ),
    ];
    for (limit, exclusive, beyond, relation) in limits {
        let Some(limit) = limit else {
            continue;
        };
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
    /// The causes kube-apiserver gives for rejecting `object` when it is created, in its
    /// words; empty when the object is accepted. The object is first made what the server
    /// validates: [`Schema::apply`]'s pruning, null pruning and defaulting.
    ///
    /// Checked as apiextensions-apiserver checks a custom resource against its structural
    /// schema (kube-openapi's validator, then the list-type invariants): `type` (object,
    /// array, string, integer, number, boolean; integer means a whole number, number accepts
    /// integers), `nullable`, `x-kubernetes-int-or-string`, `required`, `enum`, `pattern`,
    /// `format` for the string formats the server checks (`date-time`, `cidr`, `ipv4`,
    /// `ipv6`, `uuid`, `byte`, `mac`, `hostname`, …; `int32`, `int64` and other unknown
    /// formats are dropped by the server, so ranges are not checked),
    /// `minimum`/`maximum` with their exclusive forms, `multipleOf`, `minLength`/`maxLength`
    /// (counted in characters), `minItems`/`maxItems`, `minProperties`/`maxProperties`,
    /// `items`, `properties`, `additionalProperties` (schema or boolean), `anyOf`, `allOf`,
    /// `oneOf` and `not` (value validations), and duplicates in `x-kubernetes-list-type: set`
    /// and `map` lists. Fields under `x-kubernetes-preserve-unknown-fields` that the schema
    /// does not describe are not checked, as on the server.
    ///
    /// Then, when all that holds (kube-apiserver skips the rules of an object with such errors)
    /// and [`crate::Options::cel_rules`] is set, the CEL rules (`x-kubernetes-validations`)
    /// that [`cel`] evaluates, as a server from Kubernetes 1.25 on does on a create: the
    /// message (or `failed rule: <rule>`) under the rule's reason, or the runtime error
    /// (`no such key: node evaluating rule: ...`). Transition rules (those reading `oldSelf`)
    /// apply to updates only and are skipped.
    ///
    /// Not evaluated: CEL rules outside that subset ([`Schema::unevaluated_rules`]; the server
    /// checks them); keywords structural schemas forbid (`uniqueItems: true`,
    /// `patternProperties`, `dependencies`, `$ref`); and `metadata` beyond what the schema
    /// says of it. Where an anyOf or oneOf has no valid branch, the server adds the errors of
    /// its "best" branch; here that is the branch with the fewest errors (the first on a
    /// tie). The `email` and `uri` formats follow Go's `net/mail` and `net/url` closely but
    /// not in every corner.
    pub fn validate(&self, object: &Value) -> Vec<FieldError> {
        let (applied, _, _) = self.apply_paths(object);
        self.validate_applied(&applied)
    }

    /// The messages of [`Schema::validate`], one per cause, as the server lists them.
    pub fn causes(&self, object: &Value) -> Vec<String> {
        self.validate(object)
            .into_iter()
            .map(|error| error.message)
            .collect()
    }

    /// [`Schema::validate`] of an object already pruned and defaulted.
    pub fn validate_applied(&self, object: &Value) -> Vec<FieldError> {
        let root = self.root();
        let mut out = Vec::new();
        self.check(object, root, "", &mut out);
        check_list_types(object, root, "", &mut out);
        if out.is_empty() && self.options.cel_rules && !self.rules.is_empty() {
            check_rules(object, root, "", &mut out);
        }
        out
    }

    /// kube-openapi's schema validator for one value: type, then anyOf/oneOf/allOf/not,
    /// string, format, number, array, enum, object.
    fn check(&self, value: &Value, node: &Node, path: &str, out: &mut Vec<FieldError>) {
        let format = node.format.as_deref();
        if value.is_null() {
            if !node.types.is_empty() && !node.types.iter().any(|t| t == "null") && !node.nullable {
                out.push(type_error(path, &node.types.join(","), "null"));
            }
            check_enum(value, node, path, out);
            return;
        }
        if (!node.types.is_empty() || format.is_some())
            && let Some(error) = check_type(value, &node.types, format, path)
        {
            out.push(error);
        }
        self.check_alternatives(value, node, path, out);
        match value {
            Value::String(text) => {
                self.check_string(text, node, path, out);
                if let Some(format) = format
                    && !formats::format_holds(&format.replace('-', ""), text)
                {
                    out.push(FieldError::type_invalid(
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
        node: &Node,
        path: &str,
        out: &mut Vec<FieldError>,
    ) {
        if node.any_of.is_empty()
            && node.one_of.is_empty()
            && node.all_of.is_empty()
            && node.not.is_none()
        {
            return;
        }
        let run = |sub: &Node| {
            let mut errors = Vec::new();
            self.check(value, sub, path, &mut errors);
            errors
        };
        let quoted = go_quote(path);
        if !node.any_of.is_empty() {
            let (valid, fewest) = passes(&node.any_of, run, 1);
            if valid == 0 {
                out.push(FieldError::composite(
                    path,
                    format!("{quoted} must validate at least one schema (anyOf)"),
                ));
                out.extend(fewest);
            }
        }
        if !node.one_of.is_empty() {
            let (valid, fewest) = passes(&node.one_of, run, usize::MAX);
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
                out.extend(fewest);
            }
        }
        if !node.all_of.is_empty() {
            let mut valid = 0;
            for sub in &node.all_of {
                let errors = run(sub);
                if errors.is_empty() {
                    valid += 1;
                }
                out.extend(errors);
            }
            if valid != node.all_of.len() {
                let none = if valid == 0 { ". None validated" } else { "" };
                out.push(FieldError::composite(
                    path,
                    format!("{quoted} must validate all the schemas (allOf){none}"),
                ));
            }
        }
        if let Some(not) = &node.not
            && run(not).is_empty()
        {
            out.push(FieldError::composite(
                path,
                format!("{quoted} must not validate the schema (not)"),
            ));
        }
    }

    /// Length, then pattern; the first failure is the only one reported, as on the server.
    fn check_string(&self, text: &str, node: &Node, path: &str, out: &mut Vec<FieldError>) {
        if node.max_length.is_some() || node.min_length.is_some() {
            let length = text.chars().count() as u64;
            if let Some(max) = node.max_length
                && length > max
            {
                let detail = if self.options.too_long_in_bytes {
                    let unit = if max == 1 { "byte" } else { "bytes" };
                    format!("may not be more than {max} {unit}")
                } else {
                    format!("may not be longer than {max}")
                };
                out.push(FieldError::too_long(path, detail));
                return;
            }
            if let Some(min) = node.min_length
                && length < min
            {
                out.push(FieldError::invalid(
                    path,
                    go_quote(text),
                    format!("{path} in body should be at least {min} chars long"),
                ));
                return;
            }
        }
        if let Some(Pattern {
            text: pattern,
            regex: Ok(re),
        }) = &node.pattern
            && !re.is_match(text)
        {
            out.push(FieldError::invalid(
                path,
                go_quote(text),
                format!("{path} in body should match '{pattern}'"),
            ));
        }
    }

    fn check_array(&self, values: &[Value], node: &Node, path: &str, out: &mut Vec<FieldError>) {
        if let Some(item) = &node.items {
            for (i, v) in values.iter().enumerate() {
                self.check(v, item, &index_path(path, i), out);
            }
        }
        let size = values.len();
        if let Some(min) = node.min_items
            && (size as u64) < min
        {
            out.push(FieldError::invalid(
                path,
                size.to_string(),
                format!("{path} in body should have at least {min} items"),
            ));
        }
        if let Some(max) = node.max_items
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
        node: &Node,
        path: &str,
        out: &mut Vec<FieldError>,
    ) {
        let count = map.len() as u64;
        if let Some(min) = node.min_properties
            && count < min
        {
            out.push(FieldError::invalid(
                path,
                min.to_string(),
                format!("{path} in body should have at least {min} properties"),
            ));
            return;
        }
        if let Some(max) = node.max_properties
            && count > max
        {
            out.push(FieldError::too_many(path, map.len(), max));
            return;
        }
        let known = |k: &str| node.properties.contains_key(k);
        match &node.additional {
            Some(Additional::Bool(false)) => {
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
            Some(Additional::Schema(schema)) => {
                for (k, v) in map {
                    if !known(k) {
                        self.check(v, schema, &child_path(path, k), out);
                    }
                }
            }
            _ => {}
        }
        if !node.properties.is_empty() {
            for (k, v) in map {
                if let Some(schema) = node.properties.get(k) {
                    self.check(v, schema, &child_path(path, k), out);
                }
            }
        }
        for field in &node.required {
            if !map.contains_key(field) {
                out.push(FieldError::required(&child_path(path, field)));
            }
        }
    }
}

/// How many of the alternatives (anyOf, oneOf) the value passes, counting up to `enough` (`run`
/// gives its errors under one) and, when it passes none, the errors of the first alternative it
/// fails with the fewest: what the server reports with the composite error.
fn passes(
    alternatives: &[Node],
    run: impl Fn(&Node) -> Vec<FieldError>,
    enough: usize,
) -> (usize, Vec<FieldError>) {
    let mut valid = 0;
    let mut fewest: Option<Vec<FieldError>> = None;
    for sub in alternatives {
        let errors = run(sub);
        if errors.is_empty() {
            valid += 1;
            if valid >= enough {
                break;
            }
        } else if fewest.as_ref().is_none_or(|f| errors.len() < f.len()) {
            fewest = Some(errors);
        }
    }
    if valid > 0 {
        fewest = None;
    }
    (valid, fewest.unwrap_or_default())
}

/// The CEL rules of `node` and of the schemas under it, on `value`.
fn check_rules(value: &Value, node: &Node, path: &str, out: &mut Vec<FieldError>) {
    if value.is_null() {
        return;
    }
    for rule in &node.rules {
        let Ok(expr) = &rule.expr else {
            continue;
        };
        if expr.mentions("oldSelf") {
            continue;
        }
        let text = rule.text.as_str();
        let message = rule
            .message
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty());
        let type_name = go_quote(node.type_name.as_deref().unwrap_or("object"));
        match cel::holds(expr, value) {
            Ok(true) => {}
            Ok(false) => {
                let detail = message
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("failed rule: {}", text.trim()));
                out.push(match rule.reason.as_deref() {
                    Some("FieldValueForbidden") => FieldError::forbidden(path, detail),
                    Some("FieldValueRequired") => {
                        FieldError::new(crate::ErrorType::Required, path, None, detail)
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
                if let Some(schema) = node.property(k) {
                    check_rules(v, schema, &child_path(path, k), out);
                }
            }
        }
        Value::Array(values) => {
            if let Some(item) = &node.items {
                for (i, v) in values.iter().enumerate() {
                    check_rules(v, item, &index_path(path, i), out);
                }
            }
        }
        _ => {}
    }
}

/// apiextensions-apiserver's list-type invariants: no duplicate items in a
/// `x-kubernetes-list-type: set`, no two items with the same keys in a `map`.
fn check_list_types(value: &Value, node: &Node, path: &str, out: &mut Vec<FieldError>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if let Some(sub) = node.property(k)
                    && (v.is_object() || v.is_array())
                {
                    check_list_types(v, sub, &child_path(path, k), out);
                }
            }
        }
        Value::Array(values) => {
            match node.list_type.as_deref() {
                Some("set") => set_duplicates(values, path, out),
                Some("map") => map_duplicates(values, node, path, out),
                _ => {}
            }
            if let Some(item) = &node.items {
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
pub(crate) fn set_key(value: &Value) -> String {
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
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, v) in values.iter().enumerate() {
        let times = seen.entry(set_key(v)).or_insert(0);
        *times += 1;
        if *times == 2 {
            out.push(FieldError::duplicate(&index_path(path, i), bad_value(v)));
        }
    }
}

fn map_duplicates(values: &[Value], node: &Node, path: &str, out: &mut Vec<FieldError>) {
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
    let defaults = node.items.as_deref().map(|i| &i.properties);
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, v) in values.iter().enumerate() {
        let mut key = Map::new();
        for k in &node.list_map_keys {
            let field = v.get(k).or_else(|| {
                defaults
                    .and_then(|d| d.get(k))
                    .and_then(|s| s.default.as_ref())
            });
            if let Some(field) = field {
                key.insert(k.clone(), field.clone());
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
