//! Name, label, annotation and ObjectMeta rules of apimachinery.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

pub(crate) use kube_schema::meta::{OBJECT_META_FIELDS, dns1123_label, dns1123_subdomain};
use kube_schema::meta::{max_len_error, regex_error};

use crate::errors::{BadValue, FieldError, FieldErrorType};

const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const CONFIG_KEY_FMT: &str = "[-._a-zA-Z0-9]+";

static QUALIFIED_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!("^{QUALIFIED_NAME_FMT}$")).expect("static regex"));
static LABEL_VALUE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!("^{LABEL_VALUE_FMT}$")).expect("static regex"));
static CONFIG_KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!("^{CONFIG_KEY_FMT}$")).expect("static regex"));

const QUALIFIED_NAME_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

pub(crate) fn qualified_name(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = v.split('/').collect();
    let name = match parts.as_slice() {
        [n] => *n,
        [prefix, n] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                for m in dns1123_subdomain(prefix) {
                    errs.push(format!("prefix part {m}"));
                }
            }
            *n
        }
        _ => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push(format!("name part {}", max_len_error(63)));
    }
    if !QUALIFIED_NAME.is_match(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_MSG,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// A format of apimachinery's validation: a longest length, a regular expression and
/// the words of its error.
struct Format {
    max_len: usize,
    regex: &'static LazyLock<Regex>,
    fmt: &'static str,
    msg: &'static str,
    examples: &'static [&'static str],
}

impl Format {
    /// What is wrong with `v`, in apimachinery's words; empty when nothing is.
    fn errors(&self, v: &str) -> Vec<String> {
        let mut errs = Vec::new();
        if v.len() > self.max_len {
            errs.push(max_len_error(self.max_len));
        }
        if !self.regex.is_match(v) {
            errs.push(regex_error(self.msg, self.fmt, self.examples));
        }
        errs
    }
}

pub(crate) fn label_value(v: &str) -> Vec<String> {
    Format {
        max_len: 63,
        regex: &LABEL_VALUE,
        fmt: LABEL_VALUE_FMT,
        msg: "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        examples: &["MyValue", "my_value", "12345"],
    }
    .errors(v)
}

/// Keys of ConfigMap and Secret data.
pub(crate) fn config_key(v: &str) -> Vec<String> {
    let mut errs = Format {
        max_len: 253,
        regex: &CONFIG_KEY,
        fmt: CONFIG_KEY_FMT,
        msg: "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
        examples: &["key.name", "KEY_NAME", "key-name"],
    }
    .errors(v);
    if v == "." {
        errs.push("must not be '.'".to_string());
    } else if v == ".." {
        errs.push("must not be '..'".to_string());
    } else if v.starts_with("..") {
        errs.push("must not start with '..'".to_string());
    }
    errs
}

/// How a name is checked: label (Namespaces), path segment (RBAC objects, whose
/// names may hold `:`) or subdomain (everything else here).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameRule {
    Label,
    Subdomain,
    PathSegment,
}

fn path_segment(name: &str) -> Vec<String> {
    if name == "." || name == ".." {
        return vec![format!("may not be '{name}'")];
    }
    ["/", "%"]
        .iter()
        .filter(|c| name.contains(**c))
        .map(|c| format!("may not contain '{c}'"))
        .collect()
}

impl NameRule {
    pub(crate) fn check(self, name: &str, prefix: bool) -> Vec<String> {
        let masked;
        let name = if prefix && name.ends_with('-') {
            masked = format!("{}a", &name[..name.len() - 1]);
            masked.as_str()
        } else {
            name
        };
        match self {
            NameRule::Label => dns1123_label(name),
            NameRule::Subdomain => dns1123_subdomain(name),
            NameRule::PathSegment => path_segment(name),
        }
    }
}

fn meta_str<'a>(meta: &'a Map<String, Value>, k: &str) -> &'a str {
    meta.get(k).and_then(Value::as_str).unwrap_or("")
}

/// ValidateObjectMetaAccessor (create side).
pub(crate) fn validate_object_meta(
    meta: &Map<String, Value>,
    namespaced: bool,
    rule: NameRule,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let generate = meta_str(meta, "generateName");
    if !generate.is_empty() {
        for m in rule.check(generate, true) {
            errs.push(FieldError::invalid_str(
                "metadata.generateName",
                generate,
                m,
            ));
        }
    }
    let name = meta_str(meta, "name");
    if name.is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        for m in rule.check(name, false) {
            errs.push(FieldError::invalid_str("metadata.name", name, m));
        }
    }
    let ns = meta_str(meta, "namespace");
    if namespaced {
        if ns.is_empty() {
            errs.push(FieldError::required("metadata.namespace", ""));
        } else {
            for m in dns1123_label(ns) {
                errs.push(FieldError::invalid_str("metadata.namespace", ns, m));
            }
        }
    } else if !ns.is_empty() {
        errs.push(FieldError::forbidden(
            "metadata.namespace",
            "not allowed on this type",
        ));
    }
    if let Some(g) = meta.get("generation").and_then(Value::as_i64)
        && g < 0
    {
        errs.push(FieldError::new(
            FieldErrorType::Invalid,
            "metadata.generation",
            BadValue::Raw(g.to_string()),
            "must be greater than or equal to 0",
        ));
    }
    if let Some(Value::Object(labels)) = meta.get("labels") {
        for (k, v) in labels {
            for m in qualified_name(k) {
                errs.push(FieldError::invalid_str("metadata.labels", k, m));
            }
            let v = v.as_str().unwrap_or("");
            for m in label_value(v) {
                errs.push(FieldError::invalid_str("metadata.labels", v, m));
            }
        }
    }
    if let Some(Value::Object(ann)) = meta.get("annotations") {
        let mut size = 0usize;
        for (k, v) in ann {
            for m in qualified_name(&k.to_lowercase()) {
                errs.push(FieldError::invalid_str("metadata.annotations", k, m));
            }
            size += k.len() + v.as_str().map_or(0, str::len);
        }
        if size > 256 * 1024 {
            errs.push(FieldError::new(
                FieldErrorType::TooLong,
                "metadata.annotations",
                BadValue::Str(String::new()),
                "may not be more than 262144 bytes",
            ));
        }
    }
    if let Some(Value::Array(refs)) = meta.get("ownerReferences") {
        for r in refs {
            let required = [
                ("apiVersion", "version"),
                ("kind", "kind"),
                ("name", "name"),
                ("uid", "uid"),
            ];
            for (key, what) in required {
                if r.get(key).and_then(Value::as_str).unwrap_or("").is_empty() {
                    errs.push(FieldError::invalid_str(
                        format!("metadata.ownerReferences.{key}"),
                        "",
                        format!("{what} must not be empty"),
                    ));
                }
            }
        }
    }
    if let Some(Value::Array(fins)) = meta.get("finalizers") {
        for f in fins {
            let f = f.as_str().unwrap_or("");
            for m in qualified_name(f) {
                errs.push(FieldError::invalid_str("metadata.finalizers", f, m));
            }
        }
    }
    errs
}

/// ValidateObjectMetaAccessorUpdate: the fields that must not change.
pub(crate) fn validate_object_meta_update(
    new: &Map<String, Value>,
    old: &Map<String, Value>,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for k in ["name", "namespace", "uid"] {
        let n = meta_str(new, k);
        let o = meta_str(old, k);
        if n != o {
            errs.push(FieldError::invalid_str(
                format!("metadata.{k}"),
                n,
                "field is immutable",
            ));
        }
    }
    errs
}

fn go_type(field: &str) -> &'static str {
    match field {
        "generation" | "deletionGracePeriodSeconds" => "int64",
        "labels" | "annotations" => "map[string]string",
        "finalizers" => "[]string",
        "ownerReferences" => "[]v1.OwnerReference",
        "managedFields" => "[]v1.ManagedFieldsEntry",
        "creationTimestamp" | "deletionTimestamp" => "v1.Time",
        _ => "string",
    }
}

/// Decodes `metadata` like ObjectMeta: checks types, drops unknown fields (returned
/// as `metadata.x` paths), drops nulls, and writes the fields in Go's order. An `Err`
/// is a decoding error message.
pub(crate) fn coerce_object_meta(
    meta: Option<&Value>,
) -> Result<(Map<String, Value>, Vec<String>), String> {
    let mut out = Map::new();
    let mut unknown = Vec::new();
    let m = match meta {
        None | Some(Value::Null) => return Ok((out, unknown)),
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(format!(
                "json: cannot unmarshal {} into Go struct field .metadata of type v1.ObjectMeta",
                kube_schema::json_type_name(other)
            ));
        }
    };
    let type_err = |field: &str, v: &Value| {
        format!(
            "json: cannot unmarshal {} into Go struct field ObjectMeta.metadata.{field} of type {}",
            kube_schema::json_type_name(v),
            go_type(field)
        )
    };
    for k in m.keys() {
        if !OBJECT_META_FIELDS.contains(&k.as_str()) {
            unknown.push(format!("metadata.{k}"));
        }
    }
    for field in OBJECT_META_FIELDS {
        let Some(v) = m.get(field) else { continue };
        if v.is_null() {
            continue;
        }
        let ok = match field {
            "generation" | "deletionGracePeriodSeconds" => v.is_i64() || v.is_u64(),
            "labels" | "annotations" => match v {
                Value::Object(map) => {
                    for (key, val) in map {
                        if !(val.is_string() || val.is_null()) {
                            return Err(type_err(&format!("{field}.{key}"), val)
                                .replace("map[string]string", "string"));
                        }
                    }
                    true
                }
                _ => false,
            },
            "finalizers" => match v {
                Value::Array(a) => {
                    if let Some(bad) = a.iter().find(|x| !x.is_string()) {
                        return Err(type_err(field, bad).replace("[]string", "string"));
                    }
                    true
                }
                _ => false,
            },
            "ownerReferences" | "managedFields" => match v {
                Value::Array(a) => a.iter().all(Value::is_object),
                _ => false,
            },
            _ => v.is_string(),
        };
        if !ok {
            return Err(type_err(field, v));
        }
        // omitempty: empty maps and lists are not kept
        let empty = match v {
            Value::Object(m) => m.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::String(s) => s.is_empty(),
            _ => false,
        };
        if empty {
            continue;
        }
        let v = match (field, v) {
            ("labels" | "annotations", Value::Object(map)) => {
                let mut sorted: Vec<(&String, &Value)> = map.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(b.0));
                let mut o = Map::new();
                for (key, val) in sorted {
                    o.insert(
                        key.clone(),
                        Value::String(val.as_str().unwrap_or("").to_string()),
                    );
                }
                Value::Object(o)
            }
            _ => v.clone(),
        };
        out.insert(field.to_string(), v);
    }
    Ok((out, unknown))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subdomain_message() {
        assert!(dns1123_subdomain("a.b-c").is_empty());
        let e = dns1123_subdomain("Upper");
        assert_eq!(
            e,
            vec![
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            ]
        );
        assert_eq!(dns1123_subdomain(&"a".repeat(254)).len(), 1);
        assert_eq!(dns1123_subdomain("a\r\nb").len(), 1);
        assert_eq!(
            dns1123_label("a.b")[0],
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
        );
    }

    #[test]
    fn labels_and_generate_name() {
        let meta = json!({"generateName":"web-","labels":{"projectcalico.org/ip-version":"4","bad key":"v","k":"-x"}});
        let errs = validate_object_meta(meta.as_object().unwrap(), false, NameRule::Subdomain);
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        // generateName "web-" is fine (trailing dash masked), name missing
        assert_eq!(
            fields,
            vec!["metadata.name", "metadata.labels", "metadata.labels"]
        );
        assert!(qualified_name("a/b/c")[0].starts_with("a qualified name must consist"));
        assert!(label_value(&"x".repeat(64))[0].contains("no more than 63"));
    }

    #[test]
    fn coerce_meta() {
        let (m, unknown) = coerce_object_meta(Some(
            &json!({"labels":{"b":"1","a":null},"name":"x","bogus":1}),
        ))
        .unwrap();
        assert_eq!(unknown, vec!["metadata.bogus"]);
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"name":"x","labels":{"a":"","b":"1"}}"#
        );
        assert!(coerce_object_meta(Some(&json!({"labels":"x"}))).is_err());
        assert!(config_key("a b").len() == 1);
    }
}
