//! Structural OpenAPI v3 schemas as kube-apiserver applies them to custom resources:
//! pruning of unknown fields, pruning of non-nullable nulls, defaulting, and
//! validation with kube-openapi's error texts.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use crate::errors::{BadValue, FieldError, FieldErrorType, go_float, go_number, go_quote};
use crate::regex_go;

/// `additionalProperties`.
#[derive(Debug, Clone)]
pub(crate) enum Additional {
    Bool(bool),
    Schema(Box<Schema>),
}

/// One node of a structural schema (value validations included).
#[derive(Debug, Clone, Default)]
pub(crate) struct Schema {
    /// `type` (several only for `x-kubernetes-int-or-string`: integer,string).
    pub types: Vec<String>,
    pub nullable: bool,
    pub int_or_string: bool,
    pub preserve_unknown: bool,
    pub embedded: bool,
    pub properties: BTreeMap<String, Schema>,
    pub additional: Option<Additional>,
    pub items: Option<Box<Schema>>,
    pub required: Vec<String>,
    pub enum_values: Option<Vec<Value>>,
    pub pattern: Option<(String, Regex)>,
    pub format: Option<String>,
    pub minimum: Option<f64>,
    pub exclusive_minimum: bool,
    pub maximum: Option<f64>,
    pub exclusive_maximum: bool,
    pub multiple_of: Option<f64>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    pub min_properties: Option<u64>,
    pub max_properties: Option<u64>,
    pub unique_items: bool,
    pub list_type: Option<String>,
    pub list_map_keys: Vec<String>,
    pub default: Option<Value>,
    pub all_of: Vec<Schema>,
    pub any_of: Vec<Schema>,
    pub one_of: Vec<Schema>,
    pub not: Option<Box<Schema>>,
}

/// Problems found while reading a schema: decoding problems (a wrong JSON type for a
/// keyword, a 400 on the real server) and validation problems (422).
#[derive(Debug, Default)]
pub(crate) struct SchemaProblems {
    pub decode: Vec<String>,
    pub invalid: Vec<FieldError>,
}

const TYPES: [&str; 6] = ["array", "boolean", "integer", "number", "object", "string"];

fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl Schema {
    /// A schema that keeps anything.
    pub(crate) fn preserve_all() -> Schema {
        Schema {
            preserve_unknown: true,
            ..Schema::default()
        }
    }

    /// Reads a JSONSchemaProps object. `path` is the field path used in messages, e.g.
    /// `spec.versions[0].schema.openAPIV3Schema`.
    pub(crate) fn parse(v: &Value, path: &str, problems: &mut SchemaProblems) -> Schema {
        let mut s = Schema::default();
        let Some(m) = v.as_object() else {
            problems.decode.push(format!(
                "json: cannot unmarshal {} into Go struct field {} of type v1.JSONSchemaProps",
                json_type_name(v),
                path
            ));
            return s;
        };
        let decode_err = |problems: &mut SchemaProblems, key: &str, val: &Value, want: &str| {
            problems.decode.push(format!(
                "json: cannot unmarshal {} into Go struct field JSONSchemaProps.{path}.{key} of type {want}",
                json_type_name(val)
            ));
        };
        for (key, val) in m {
            match key.as_str() {
                "type" => match val.as_str() {
                    Some("") => {}
                    Some(t) => {
                        if !TYPES.contains(&t) {
                            problems.invalid.push(FieldError::not_supported(
                                format!("{path}.type"),
                                BadValue::Str(t.to_string()),
                                &TYPES.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                            ));
                        }
                        s.types = vec![t.to_string()];
                    }
                    None => decode_err(problems, key, val, "string"),
                },
                "format" => match val.as_str() {
                    Some(f) if !f.is_empty() => s.format = Some(f.to_string()),
                    Some(_) => {}
                    None => decode_err(problems, key, val, "string"),
                },
                "pattern" => match val.as_str() {
                    Some(p) if !p.is_empty() => match regex_go::compile(p) {
                        Ok(re) => s.pattern = Some((p.to_string(), re)),
                        Err(e) => problems.invalid.push(FieldError::invalid_str(
                            format!("{path}.pattern"),
                            p,
                            format!("must be a valid regular expression, but isn't: {e}"),
                        )),
                    },
                    Some(_) => {}
                    None => decode_err(problems, key, val, "string"),
                },
                "nullable" => match val.as_bool() {
                    Some(b) => s.nullable = b,
                    None => decode_err(problems, key, val, "bool"),
                },
                "x-kubernetes-int-or-string" => match val.as_bool() {
                    Some(b) => s.int_or_string = b,
                    None => decode_err(problems, key, val, "bool"),
                },
                "x-kubernetes-preserve-unknown-fields" => match val {
                    Value::Bool(b) => s.preserve_unknown = *b,
                    Value::Null => {}
                    _ => decode_err(problems, key, val, "bool"),
                },
                "x-kubernetes-embedded-resource" => match val.as_bool() {
                    Some(b) => s.embedded = b,
                    None => decode_err(problems, key, val, "bool"),
                },
                "uniqueItems" => match val.as_bool() {
                    Some(b) => s.unique_items = b,
                    None => decode_err(problems, key, val, "bool"),
                },
                "exclusiveMinimum" => match val.as_bool() {
                    Some(b) => s.exclusive_minimum = b,
                    None => decode_err(problems, key, val, "bool"),
                },
                "exclusiveMaximum" => match val.as_bool() {
                    Some(b) => s.exclusive_maximum = b,
                    None => decode_err(problems, key, val, "bool"),
                },
                "minimum" | "maximum" | "multipleOf" => match val.as_f64() {
                    Some(f) => match key.as_str() {
                        "minimum" => s.minimum = Some(f),
                        "maximum" => s.maximum = Some(f),
                        _ => s.multiple_of = Some(f),
                    },
                    None => decode_err(problems, key, val, "float64"),
                },
                "minLength" | "maxLength" | "minItems" | "maxItems" | "minProperties"
                | "maxProperties" => match val.as_u64() {
                    Some(n) => {
                        let slot = match key.as_str() {
                            "minLength" => &mut s.min_length,
                            "maxLength" => &mut s.max_length,
                            "minItems" => &mut s.min_items,
                            "maxItems" => &mut s.max_items,
                            "minProperties" => &mut s.min_properties,
                            _ => &mut s.max_properties,
                        };
                        *slot = Some(n);
                    }
                    None => decode_err(problems, key, val, "int64"),
                },
                "required" => match val.as_array() {
                    Some(a) => {
                        for r in a {
                            match r.as_str() {
                                Some(r) => s.required.push(r.to_string()),
                                None => decode_err(problems, key, r, "string"),
                            }
                        }
                    }
                    None => decode_err(problems, key, val, "[]string"),
                },
                "enum" => match val.as_array() {
                    Some(a) => s.enum_values = Some(a.clone()),
                    None => decode_err(problems, key, val, "[]v1.JSON"),
                },
                "default" => s.default = Some(val.clone()),
                "x-kubernetes-list-type" => match val.as_str() {
                    Some(t) => s.list_type = Some(t.to_string()),
                    None => decode_err(problems, key, val, "string"),
                },
                "x-kubernetes-list-map-keys" => match val.as_array() {
                    Some(a) => {
                        s.list_map_keys = a
                            .iter()
                            .filter_map(|k| k.as_str().map(str::to_string))
                            .collect()
                    }
                    None => decode_err(problems, key, val, "[]string"),
                },
                "properties" => match val.as_object() {
                    Some(props) => {
                        for (name, ps) in props {
                            let p =
                                Schema::parse(ps, &format!("{path}.properties[{name}]"), problems);
                            s.properties.insert(name.clone(), p);
                        }
                    }
                    None => decode_err(problems, key, val, "map[string]v1.JSONSchemaProps"),
                },
                "additionalProperties" => match val {
                    Value::Bool(b) => s.additional = Some(Additional::Bool(*b)),
                    Value::Object(_) => {
                        s.additional = Some(Additional::Schema(Box::new(Schema::parse(
                            val,
                            &format!("{path}.additionalProperties"),
                            problems,
                        ))))
                    }
                    _ => decode_err(problems, key, val, "v1.JSONSchemaPropsOrBool"),
                },
                "items" => match val {
                    Value::Object(_) => {
                        s.items = Some(Box::new(Schema::parse(
                            val,
                            &format!("{path}.items"),
                            problems,
                        )))
                    }
                    Value::Array(_) => problems.invalid.push(FieldError::forbidden(
                        format!("{path}.items"),
                        "items must be a schema object and not an array",
                    )),
                    _ => decode_err(problems, key, val, "v1.JSONSchemaPropsOrArray"),
                },
                "allOf" | "anyOf" | "oneOf" => match val.as_array() {
                    Some(a) => {
                        let list: Vec<Schema> = a
                            .iter()
                            .enumerate()
                            .map(|(i, x)| Schema::parse(x, &format!("{path}.{key}[{i}]"), problems))
                            .collect();
                        match key.as_str() {
                            "allOf" => s.all_of = list,
                            "anyOf" => s.any_of = list,
                            _ => s.one_of = list,
                        }
                    }
                    None => decode_err(problems, key, val, "[]v1.JSONSchemaProps"),
                },
                "not" => {
                    s.not = Some(Box::new(Schema::parse(
                        val,
                        &format!("{path}.not"),
                        problems,
                    )))
                }
                // documentation, CEL rules (not evaluated), and keywords that do not
                // change how values are handled here
                _ => {}
            }
        }
        if s.int_or_string {
            s.types = vec!["integer".into(), "string".into()];
        }
        s
    }

    fn property(&self, k: &str) -> Option<&Schema> {
        self.properties.get(k).or(match &self.additional {
            Some(Additional::Schema(a)) => Some(a),
            _ => None,
        })
    }

    // ----------------------------------------------------------------- pruning

    /// Removes fields the schema does not know, returning their paths (sorted).
    /// `root` is true for a whole resource: `apiVersion`, `kind` and `metadata` are
    /// then left alone (metadata is handled as ObjectMeta elsewhere).
    pub(crate) fn prune(&self, v: &mut Value, root: bool) -> Vec<String> {
        let mut unknown = Vec::new();
        let mut path = String::new();
        self.prune_inner(v, &mut path, root, &mut unknown);
        unknown.sort();
        unknown
    }

    fn prune_inner(&self, v: &mut Value, path: &mut String, root: bool, unknown: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                let embedded = root || self.embedded;
                let keys: Vec<String> = map.keys().cloned().collect();
                for k in keys {
                    if embedded {
                        let keep = match k.as_str() {
                            "apiVersion" | "kind" => map.get(&k).is_some_and(Value::is_string),
                            "metadata" => map.get(&k).is_some_and(Value::is_object),
                            _ => false,
                        };
                        if keep {
                            continue;
                        }
                    }
                    let child = self.properties.get(&k).or(match &self.additional {
                        Some(Additional::Schema(a)) => Some(a.as_ref()),
                        _ => None,
                    });
                    let keep_unknown = self.preserve_unknown
                        || matches!(self.additional, Some(Additional::Bool(true)));
                    let old_len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(&k);
                    match child {
                        Some(cs) => {
                            if let Some(cv) = map.get_mut(&k) {
                                cs.prune_inner(cv, path, false, unknown);
                            }
                        }
                        None if keep_unknown => {}
                        None => {
                            let meta = matches!(k.as_str(), "apiVersion" | "kind" | "metadata");
                            if !(root && meta) {
                                unknown.push(path.clone());
                            }
                            map.remove(&k);
                        }
                    }
                    path.truncate(old_len);
                }
            }
            Value::Array(items) => {
                if let Some(is) = &self.items {
                    for (i, it) in items.iter_mut().enumerate() {
                        let old_len = path.len();
                        path.push_str(&format!("[{i}]"));
                        is.prune_inner(it, path, false, unknown);
                        path.truncate(old_len);
                    }
                }
            }
            _ => {}
        }
    }

    /// Drops `null` values of fields that are neither nullable nor defaulted.
    pub(crate) fn prune_nulls(&self, v: &mut Value) {
        match v {
            Value::Object(map) => {
                let keys: Vec<String> = map.keys().cloned().collect();
                for k in keys {
                    let Some(ps) = self.property(&k) else {
                        continue;
                    };
                    let is_null = map.get(&k).is_some_and(Value::is_null);
                    if is_null && !ps.nullable && ps.default.is_none() {
                        map.remove(&k);
                    } else if let Some(cv) = map.get_mut(&k) {
                        ps.prune_nulls(cv);
                    }
                }
            }
            Value::Array(items) => {
                if let Some(is) = &self.items {
                    for it in items {
                        is.prune_nulls(it);
                    }
                }
            }
            _ => {}
        }
    }

    // --------------------------------------------------------------- defaulting

    /// Applies `default` values to absent fields (and to non-nullable nulls).
    pub(crate) fn apply_defaults(&self, v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (k, ps) in &self.properties {
                    let Some(d) = &ps.default else { continue };
                    let missing = match map.get(k) {
                        None => true,
                        Some(Value::Null) => !ps.nullable,
                        Some(_) => false,
                    };
                    if missing {
                        map.insert(k.clone(), d.clone());
                    }
                }
                for (k, cv) in map.iter_mut() {
                    if let Some(ps) = self.properties.get(k) {
                        ps.apply_defaults(cv);
                    } else if let Some(Additional::Schema(a)) = &self.additional {
                        if cv.is_null()
                            && !a.nullable
                            && let Some(d) = &a.default
                        {
                            *cv = d.clone();
                        }
                        a.apply_defaults(cv);
                    }
                }
            }
            Value::Array(items) => {
                if let Some(is) = &self.items {
                    for it in items.iter_mut() {
                        if it.is_null()
                            && !is.nullable
                            && let Some(d) = &is.default
                        {
                            *it = d.clone();
                        }
                        is.apply_defaults(it);
                    }
                }
            }
            _ => {}
        }
    }

    // --------------------------------------------------------------- validation

    /// Validates a value; errors are appended in kube-openapi's order.
    pub(crate) fn validate(&self, v: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        self.validate_at(v, "", &mut errs);
        errs.extend(self.validate_list_types(v, ""));
        errs
    }

    fn validate_at(&self, v: &Value, path: &str, errs: &mut Vec<FieldError>) {
        if v.is_null() {
            self.check_type(v, path, errs);
            self.check_enum(v, path, errs);
            return;
        }
        if !self.types.is_empty() || self.format.is_some() {
            let before = errs.len();
            self.check_type(v, path, errs);
            let _ = before;
        }
        self.check_composition(v, path, errs);
        if let Value::String(s) = v {
            self.check_string(s, path, errs);
            self.check_format(s, path, errs);
        }
        if let Value::Number(n) = v {
            self.check_number(n, path, errs);
        }
        if let Value::Array(items) = v {
            self.check_array(items, path, errs);
        }
        self.check_enum(v, path, errs);
        if let Value::Object(m) = v {
            self.check_object(m, path, errs);
        }
    }

    fn check_type(&self, v: &Value, path: &str, errs: &mut Vec<FieldError>) {
        if self.types.is_empty() && self.format.is_none() {
            return;
        }
        let has = |t: &str| self.types.iter().any(|x| x == t);
        let joined = self.types.join(",");
        if v.is_null() {
            if !self.types.is_empty() && !has("null") && !self.nullable {
                errs.push(type_error(path, &joined, "null"));
            }
            return;
        }
        let (sch_type, format) = schema_info(v);
        let fmt_name = self.format.as_deref().unwrap_or("");
        let is_float_int = sch_type == "number"
            && v.as_f64()
                .is_some_and(|f| f.fract() == 0.0 && f.is_finite())
            && has("integer");
        let is_int_float = sch_type == "integer" && has("number");
        let is_str_or_slice = matches!(v, Value::String(_) | Value::Array(_));
        if !(is_str_or_slice
            || fmt_name.is_empty()
            || has(sch_type)
            || format == fmt_name
            || is_float_int
            || is_int_float)
        {
            errs.push(type_error(path, fmt_name, format));
            return;
        }
        if is_str_or_slice && !(has("number") || has("integer") || fmt_name.is_empty()) {
            return;
        }
        if !(has(sch_type) || is_float_int || is_int_float) {
            errs.push(type_error(path, &joined, sch_type));
        }
    }

    fn check_composition(&self, v: &Value, path: &str, errs: &mut Vec<FieldError>) {
        if !self.any_of.is_empty() {
            let mut best: Option<Vec<FieldError>> = None;
            let mut ok = false;
            for s in &self.any_of {
                let mut e = Vec::new();
                s.validate_at(v, path, &mut e);
                if e.is_empty() {
                    ok = true;
                    best = None;
                    break;
                }
                if best.is_none() {
                    best = Some(e);
                }
            }
            if !ok {
                errs.push(composite_error(format!(
                    "{} must validate at least one schema (anyOf)",
                    go_quote(path)
                )));
            }
            if let Some(b) = best {
                errs.extend(b);
            }
        }
        if !self.one_of.is_empty() {
            let mut valid = 0;
            let mut best: Option<Vec<FieldError>> = None;
            for s in &self.one_of {
                let mut e = Vec::new();
                s.validate_at(v, path, &mut e);
                if e.is_empty() {
                    valid += 1;
                    best = None;
                } else if valid == 0 && best.is_none() {
                    best = Some(e);
                }
            }
            if valid != 1 {
                let extra = if valid == 0 {
                    "Found none valid".to_string()
                } else {
                    format!("Found {valid} valid alternatives")
                };
                errs.push(composite_error(format!(
                    "{} must validate one and only one schema (oneOf). {extra}",
                    go_quote(path)
                )));
                if let Some(b) = best {
                    errs.extend(b);
                }
            }
        }
        if !self.all_of.is_empty() {
            let mut valid = 0;
            for s in &self.all_of {
                let mut e = Vec::new();
                s.validate_at(v, path, &mut e);
                if e.is_empty() {
                    valid += 1;
                }
                errs.extend(e);
            }
            if valid != self.all_of.len() {
                let extra = if valid == 0 { ". None validated" } else { "" };
                errs.push(composite_error(format!(
                    "{} must validate all the schemas (allOf){extra}",
                    go_quote(path)
                )));
            }
        }
        if let Some(not) = &self.not {
            let mut e = Vec::new();
            not.validate_at(v, path, &mut e);
            if e.is_empty() {
                errs.push(composite_error(format!(
                    "{} must not validate the schema (not)",
                    go_quote(path)
                )));
            }
        }
    }

    fn check_string(&self, s: &str, path: &str, errs: &mut Vec<FieldError>) {
        let len = s.chars().count() as u64;
        if let Some(max) = self.max_length
            && len > max
        {
            let bytes = if max == 1 { "byte" } else { "bytes" };
            errs.push(FieldError::new(
                FieldErrorType::TooLong,
                field_of(path),
                BadValue::Str(s.to_string()),
                format!("may not be more than {max} {bytes}"),
            ));
            return;
        }
        if let Some(min) = self.min_length
            && len < min
        {
            errs.push(FieldError::new(
                FieldErrorType::Invalid,
                field_of(path),
                BadValue::Str(s.to_string()),
                format!("{path} in body should be at least {min} chars long"),
            ));
            return;
        }
        if let Some((p, re)) = &self.pattern
            && !re.is_match(s)
        {
            errs.push(FieldError::new(
                FieldErrorType::Invalid,
                field_of(path),
                BadValue::Str(s.to_string()),
                format!("{path} in body should match '{p}'"),
            ));
        }
    }

    fn check_format(&self, s: &str, path: &str, errs: &mut Vec<FieldError>) {
        let Some(f) = &self.format else { return };
        if let Some(false) = check_format(f, s) {
            errs.push(FieldError::new(
                FieldErrorType::TypeInvalid,
                field_of(path),
                BadValue::Str(s.to_string()),
                format!("{path} in body must be of type {f}: {}", go_quote(s)),
            ));
        }
    }

    fn check_number(&self, n: &serde_json::Number, path: &str, errs: &mut Vec<FieldError>) {
        let f = n.as_f64().unwrap_or(0.0);
        let bad = BadValue::Raw(go_number(n));
        if let Some(m) = self.multiple_of
            && m != 0.0
        {
            let q = f / m;
            if (q - q.round()).abs() > 1e-9 {
                errs.push(FieldError::new(
                    FieldErrorType::Invalid,
                    field_of(path),
                    bad.clone(),
                    format!("{path} in body should be a multiple of {}", go_float(m)),
                ));
            }
        }
        if let Some(max) = self.maximum {
            let fail = if self.exclusive_maximum {
                f >= max
            } else {
                f > max
            };
            if fail {
                let rel = if self.exclusive_maximum {
                    "less than"
                } else {
                    "less than or equal to"
                };
                errs.push(FieldError::new(
                    FieldErrorType::Invalid,
                    field_of(path),
                    bad.clone(),
                    format!("{path} in body should be {rel} {}", go_float(max)),
                ));
            }
        }
        if let Some(min) = self.minimum {
            let fail = if self.exclusive_minimum {
                f <= min
            } else {
                f < min
            };
            if fail {
                let rel = if self.exclusive_minimum {
                    "greater than"
                } else {
                    "greater than or equal to"
                };
                errs.push(FieldError::new(
                    FieldErrorType::Invalid,
                    field_of(path),
                    bad,
                    format!("{path} in body should be {rel} {}", go_float(min)),
                ));
            }
        }
    }

    fn check_array(&self, items: &[Value], path: &str, errs: &mut Vec<FieldError>) {
        if let Some(is) = &self.items {
            for (i, it) in items.iter().enumerate() {
                is.validate_at(it, &format!("{path}[{i}]"), errs);
            }
        }
        let size = items.len() as u64;
        if let Some(min) = self.min_items
            && size < min
        {
            errs.push(FieldError::new(
                FieldErrorType::Invalid,
                field_of(path),
                BadValue::Raw(size.to_string()),
                format!("{path} in body should have at least {min} items"),
            ));
        }
        if let Some(max) = self.max_items
            && size > max
        {
            errs.push(FieldError::new(
                FieldErrorType::TooMany,
                field_of(path),
                BadValue::Raw(size.to_string()),
                format!("must have at most {max} items"),
            ));
        }
        if self.unique_items {
            let dup = items
                .iter()
                .enumerate()
                .any(|(i, a)| items[..i].iter().any(|b| json_equal(a, b)));
            if dup {
                errs.push(FieldError::new(
                    FieldErrorType::Invalid,
                    field_of(path),
                    BadValue::Str(String::new()),
                    format!("{path} in body shouldn't contain duplicates"),
                ));
            }
        }
    }

    fn check_enum(&self, v: &Value, path: &str, errs: &mut Vec<FieldError>) {
        let Some(values) = &self.enum_values else {
            return;
        };
        if values.is_empty() || values.iter().any(|e| json_equal(e, v)) {
            return;
        }
        let supported: Vec<String> = values
            .iter()
            .map(|e| match e {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        errs.push(FieldError::not_supported(
            field_of(path),
            BadValue::from_json(v),
            &supported,
        ));
    }

    fn check_object(&self, m: &Map<String, Value>, path: &str, errs: &mut Vec<FieldError>) {
        let n = m.len() as u64;
        if let Some(min) = self.min_properties
            && n < min
        {
            errs.push(FieldError::new(
                FieldErrorType::Invalid,
                field_of(path),
                BadValue::Raw(n.to_string()),
                format!("{path} in body should have at least {min} properties"),
            ));
            return;
        }
        if let Some(max) = self.max_properties
            && n > max
        {
            errs.push(FieldError::new(
                FieldErrorType::TooMany,
                field_of(path),
                BadValue::Raw(n.to_string()),
                format!("must have at most {max} items"),
            ));
            return;
        }
        match &self.additional {
            Some(Additional::Bool(false)) => {
                for k in m.keys() {
                    if !self.properties.contains_key(k) {
                        errs.push(FieldError::new(
                            FieldErrorType::Invalid,
                            field_of(path),
                            BadValue::Str(k.clone()),
                            format!("{path}.{k} in body is a forbidden property"),
                        ));
                    }
                }
            }
            Some(Additional::Schema(a)) => {
                for (k, cv) in m {
                    if !self.properties.contains_key(k) {
                        a.validate_at(cv, &format!("{path}.{k}"), errs);
                    }
                }
            }
            _ => {}
        }
        for (k, ps) in &self.properties {
            if let Some(cv) = m.get(k) {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                ps.validate_at(cv, &child, errs);
            }
        }
        for r in &self.required {
            if !m.contains_key(r) {
                errs.push(FieldError::required(field_of(&format!("{path}.{r}")), ""));
            }
        }
    }

    /// `x-kubernetes-list-type: set|map` uniqueness (ValidateListSetsAndMaps).
    fn validate_list_types(&self, v: &Value, path: &str) -> Vec<FieldError> {
        let mut errs = Vec::new();
        match v {
            Value::Object(m) => {
                for (k, cv) in m {
                    if let Some(ps) = self.property(k) {
                        let child = if path.is_empty() {
                            k.clone()
                        } else {
                            format!("{path}.{k}")
                        };
                        errs.extend(ps.validate_list_types(cv, &child));
                    }
                }
            }
            Value::Array(items) => {
                match self.list_type.as_deref() {
                    Some("set") => {
                        for (i, it) in items.iter().enumerate() {
                            if items[..i].iter().any(|b| json_equal(it, b)) {
                                errs.push(FieldError::new(
                                    FieldErrorType::Duplicate,
                                    format!("{path}[{i}]"),
                                    BadValue::from_json(it),
                                    "",
                                ));
                            }
                        }
                    }
                    Some("map") if !self.list_map_keys.is_empty() => {
                        let key_of = |it: &Value| -> Option<Map<String, Value>> {
                            let o = it.as_object()?;
                            let mut k = Map::new();
                            for mk in &self.list_map_keys {
                                if let Some(x) = o.get(mk) {
                                    k.insert(mk.clone(), x.clone());
                                }
                            }
                            Some(k)
                        };
                        for (i, it) in items.iter().enumerate() {
                            let Some(ki) = key_of(it) else { continue };
                            if items[..i].iter().any(|b| key_of(b).as_ref() == Some(&ki)) {
                                errs.push(FieldError::new(
                                    FieldErrorType::Duplicate,
                                    format!("{path}[{i}]"),
                                    BadValue::from_json(&Value::Object(ki)),
                                    "",
                                ));
                            }
                        }
                    }
                    _ => {}
                }
                if let Some(is) = &self.items {
                    for (i, it) in items.iter().enumerate() {
                        errs.extend(is.validate_list_types(it, &format!("{path}[{i}]")));
                    }
                }
            }
            _ => {}
        }
        errs
    }
}

/// JSON type name and "format" as kube-openapi infers them from a decoded value.
fn schema_info(v: &Value) -> (&'static str, &'static str) {
    match v {
        Value::Bool(_) => ("boolean", ""),
        Value::String(_) => ("string", ""),
        Value::Number(n) if n.is_i64() || n.is_u64() => ("integer", "int64"),
        Value::Number(_) => ("number", "double"),
        Value::Array(_) => ("array", ""),
        Value::Object(_) => ("object", ""),
        Value::Null => ("null", ""),
    }
}

fn field_of(path: &str) -> String {
    path.trim_start_matches('.').to_string()
}

fn type_error(path: &str, want: &str, got: &str) -> FieldError {
    FieldError::new(
        FieldErrorType::TypeInvalid,
        field_of(path),
        BadValue::Str(got.to_string()),
        format!("{path} in body must be of type {want}: {}", go_quote(got)),
    )
}

/// Errors of anyOf/oneOf/allOf/not carry no field path in kube (`<nil>`).
fn composite_error(msg: String) -> FieldError {
    FieldError::new(
        FieldErrorType::Invalid,
        "<nil>",
        BadValue::Str(String::new()),
        msg,
    )
}

/// Equality of JSON values where 1 and 1.0 are the same number.
pub(crate) fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                x == y
            } else {
                x.as_f64() == y.as_f64()
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

// ------------------------------------------------------------------- formats

macro_rules! re {
    ($name:ident, $pat:expr) => {
        static $name: LazyLock<Regex> =
            LazyLock::new(|| Regex::new($pat).expect("built-in pattern compiles"));
    };
}

re!(
    UUID,
    r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$"
);
re!(
    UUID3,
    r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$"
);
re!(
    UUID4,
    r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$"
);
re!(
    UUID5,
    r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$"
);
re!(HEXCOLOR, r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$");
re!(
    RGBCOLOR,
    r"^rgb\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*\)$"
);
re!(SSN, r"^\d{3}[- ]?\d{2}[- ]?\d{4}$");
re!(BSON, r"^[0-9a-fA-F]{24}$");
re!(EMAIL, r"^[^@\s]+@[^@\s]+$");
re!(
    HOSTNAME,
    r"^([a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)*\.?$"
);
re!(
    GODURATION,
    r"^[-+]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$"
);
re!(
    WORDDURATION,
    r"^\d+\s*(ns|nanoseconds?|us|microseconds?|ms|milliseconds?|s|seconds?|m|minutes?|h|hours?|d|days?|w|wk|weeks?)$"
);
re!(
    CREDITCARD,
    r"^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35[0-9]{3})[0-9]{11})$"
);

fn parse_ip(s: &str) -> Option<std::net::IpAddr> {
    s.parse::<std::net::IpAddr>().ok()
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    let Some(addr) = parse_ip(ip) else {
        return false;
    };
    if bits.is_empty() || bits.len() > 3 || !bits.chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let Ok(n) = bits.parse::<u32>() else {
        return false;
    };
    match addr {
        std::net::IpAddr::V4(_) => n <= 32,
        std::net::IpAddr::V6(_) => n <= 128,
    }
}

fn is_mac(s: &str) -> bool {
    let hex2 = |p: &str| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit());
    let hex4 = |p: &str| p.len() == 4 && p.chars().all(|c| c.is_ascii_hexdigit());
    for sep in [':', '-'] {
        let parts: Vec<&str> = s.split(sep).collect();
        if matches!(parts.len(), 6 | 8 | 20) && parts.iter().all(|p| hex2(p)) {
            return true;
        }
    }
    let parts: Vec<&str> = s.split('.').collect();
    matches!(parts.len(), 3 | 4 | 10) && parts.iter().all(|p| hex4(p))
}

fn is_base64(s: &str) -> bool {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).is_ok()
}

/// Checks a string format kube validates. `None` for formats it does not check.
pub(crate) fn check_format(format: &str, s: &str) -> Option<bool> {
    let normalized = format.replace('-', "");
    Some(match normalized.as_str() {
        "ipv4" => parse_ip(s).is_some() && s.contains('.'),
        "ipv6" => parse_ip(s).is_some() && s.contains(':'),
        "cidr" => is_cidr(s),
        "mac" => is_mac(s),
        "uuid" => UUID.is_match(s),
        "uuid3" => UUID3.is_match(s),
        "uuid4" => UUID4.is_match(s),
        "uuid5" => UUID5.is_match(s),
        "byte" => is_base64(s),
        "password" => true,
        "date" => s.len() == 10 && s.parse::<jiff::civil::Date>().is_ok(),
        "datetime" => s.parse::<jiff::Timestamp>().is_ok(),
        "duration" => GODURATION.is_match(s) || WORDDURATION.is_match(s),
        "hostname" => s.len() <= 255 && HOSTNAME.is_match(s),
        "email" => EMAIL.is_match(s),
        "uri" => {
            s.starts_with('/')
                || s.split_once(':').is_some_and(|(scheme, _)| {
                    !scheme.is_empty()
                        && scheme
                            .chars()
                            .next()
                            .is_some_and(|c| c.is_ascii_alphabetic())
                        && scheme
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                })
        }
        "bsonobjectid" => BSON.is_match(s),
        "hexcolor" => HEXCOLOR.is_match(s),
        "rgbcolor" => RGBCOLOR.is_match(s),
        "ssn" => SSN.is_match(s),
        "creditcard" => {
            let digits: String = s.chars().filter(char::is_ascii_digit).collect();
            CREDITCARD.is_match(&digits)
        }
        "isbn" | "isbn10" | "isbn13" => {
            let d: String = s.chars().filter(|c| !matches!(c, '-' | ' ')).collect();
            let ten = d.len() == 10
                && d[..9].chars().all(|c| c.is_ascii_digit())
                && d[9..].chars().all(|c| c.is_ascii_digit() || c == 'X');
            let thirteen = d.len() == 13 && d.chars().all(|c| c.is_ascii_digit());
            match normalized.as_str() {
                "isbn10" => ten,
                "isbn13" => thirteen,
                _ => ten || thirteen,
            }
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(v: Value) -> Schema {
        let mut p = SchemaProblems::default();
        let s = Schema::parse(&v, "schema", &mut p);
        assert!(p.decode.is_empty() && p.invalid.is_empty(), "{p:?}");
        s
    }

    #[test]
    fn prune_reports_sorted_paths() {
        let s = schema(json!({"type":"object","properties":{
        "spec":{"type":"object","properties":{
            "a":{"type":"string"},
            "list":{"type":"array","items":{"type":"object","properties":{"x":{"type":"string"}}}},
            "free":{"type":"object","x-kubernetes-preserve-unknown-fields":true},
            "map":{"type":"object","additionalProperties":{"type":"string"}}
        }}}}));
        let mut v = json!({"apiVersion":"a/v1","kind":"K","metadata":{"name":"x"},
            "spec":{"a":"1","z":1,"list":[{"x":"1","y":2}],"free":{"q":{"r":1}},"map":{"k":"v"}},
            "top":true});
        let unknown = s.prune(&mut v, true);
        assert_eq!(unknown, vec!["spec.list[0].y", "spec.z", "top"]);
        assert_eq!(
            v,
            json!({"apiVersion":"a/v1","kind":"K","metadata":{"name":"x"},
            "spec":{"a":"1","list":[{"x":"1"}],"free":{"q":{"r":1}},"map":{"k":"v"}}})
        );
    }

    #[test]
    fn nulls_and_defaults() {
        let s = schema(json!({"type":"object","properties":{
            "a":{"type":"string"},
            "b":{"type":"string","nullable":true},
            "c":{"type":"string","default":"C"},
            "n":{"type":"object","properties":{"d":{"type":"integer","default":0}}},
            "arr":{"type":"array","items":{"type":"integer","nullable":true}}
        }}));
        let mut v = json!({"a":null,"b":null,"c":null,"n":{},"arr":[1,null]});
        s.prune_nulls(&mut v);
        s.apply_defaults(&mut v);
        assert_eq!(v, json!({"b":null,"c":"C","n":{"d":0},"arr":[1,null]}));
        assert!(s.validate(&v).is_empty());
    }

    #[test]
    fn type_messages() {
        let s = schema(
            json!({"type":"object","properties":{"spec":{"type":"object","properties":{
                "deleted":{"type":"string"},
                "n":{"type":"integer"},
                "p":{"x-kubernetes-int-or-string":true,"anyOf":[{"type":"integer"},{"type":"string"}]},
                "cidr":{"type":"string","format":"cidr"}
            }}}}),
        );
        let errs =
            s.validate(&json!({"spec":{"deleted":true,"n":1.5,"p":"x","cidr":"10.0.0.0/8"}}));
        let msgs: Vec<String> = errs.iter().map(FieldError::message).collect();
        assert_eq!(
            msgs,
            vec![
                "spec.deleted: Invalid value: \"boolean\": spec.deleted in body must be of type string: \"boolean\"",
                "spec.n: Invalid value: \"number\": spec.n in body must be of type integer: \"number\"",
            ]
        );
        assert!(s.validate(&json!({"spec":{"n":2.0,"p":5}})).is_empty());
        let errs = s.validate(&json!({"spec":{"p":true,"cidr":"nope"}}));
        let msgs: Vec<String> = errs.iter().map(FieldError::message).collect();
        assert_eq!(
            msgs[0],
            "spec.cidr: Invalid value: \"nope\": spec.cidr in body must be of type cidr: \"nope\""
        );
        assert!(msgs.contains(
            &"spec.p: Invalid value: \"boolean\": spec.p in body must be of type integer,string: \"boolean\"".to_string()
        ));
        assert!(
            msgs.contains(
                &"<nil>: Invalid value: \"\": \"spec.p\" must validate at least one schema (anyOf)"
                    .to_string()
            )
        );
    }

    #[test]
    fn value_validations() {
        let s = schema(json!({"type":"object","required":["r"],"properties":{
            "e":{"type":"string","enum":["A","B"]},
            "min":{"type":"integer","minimum":0,"maximum":128},
            "len":{"type":"string","maxLength":3,"minLength":2},
            "items":{"type":"array","maxItems":1,"minItems":1,"items":{"type":"string"}},
            "set":{"type":"array","x-kubernetes-list-type":"set","items":{"type":"string"}},
            "pat":{"type":"string","pattern":"^a+$"}
        }}));
        let errs = s.validate(
            &json!({"e":"Foo","min":129,"len":"abcd","items":[],"set":["a","a"],"pat":"b"}),
        );
        let msgs: Vec<String> = errs.iter().map(FieldError::message).collect();
        assert!(
            msgs.contains(
                &"e: Unsupported value: \"Foo\": supported values: \"A\", \"B\"".to_string()
            ),
            "{msgs:?}"
        );
        assert!(msgs.contains(
            &"min: Invalid value: 129: min in body should be less than or equal to 128".to_string()
        ));
        assert!(msgs.contains(&"len: Too long: may not be more than 3 bytes".to_string()));
        assert!(msgs.contains(
            &"items: Invalid value: 0: items in body should have at least 1 items".to_string()
        ));
        assert!(
            msgs.contains(
                &"pat: Invalid value: \"b\": pat in body should match '^a+$'".to_string()
            )
        );
        assert!(msgs.contains(&"r: Required value".to_string()));
        assert!(msgs.contains(&"set[1]: Duplicate value: \"a\"".to_string()));
        let errs = s.validate(&json!({"r":1,"items":["a","b"]}));
        assert_eq!(
            errs[0].message(),
            "items: Too many: 2: must have at most 1 items"
        );
    }

    #[test]
    fn formats() {
        assert_eq!(check_format("cidr", "fd00::/122"), Some(true));
        assert_eq!(check_format("cidr", "10.0.0.1"), Some(false));
        assert_eq!(
            check_format("date-time", "2024-01-02T03:04:05Z"),
            Some(true)
        );
        assert_eq!(check_format("date-time", "yesterday"), Some(false));
        assert_eq!(check_format("int32", "x"), None);
        assert_eq!(check_format("ipv4", "1.2.3.4"), Some(true));
        assert_eq!(check_format("ipv6", "1.2.3.4"), Some(false));
        assert_eq!(check_format("mac", "aa:bb:cc:dd:ee:ff"), Some(true));
        assert_eq!(check_format("byte", "aGk="), Some(true));
        assert_eq!(check_format("byte", "!!"), Some(false));
    }

    #[test]
    fn bad_schema() {
        let mut p = SchemaProblems::default();
        Schema::parse(
            &json!({"type":"object","properties":{"a":{"type":"strin","pattern":"("}}}),
            "s",
            &mut p,
        );
        assert_eq!(p.invalid.len(), 2, "{:?}", p.invalid);
        assert_eq!(p.invalid[0].field, "s.properties[a].type");
        Schema::parse(&json!({"type":5}), "s", &mut p);
        assert_eq!(p.decode.len(), 1);
    }
}
