//! Custom resources against their CRD's structural schema, through the `kube-schema` crate
//! (which the plugin uses too), set to answer as this server's Kubernetes version does: CEL
//! rules not evaluated, `maxLength` failures worded in bytes. Here the engine's answers
//! become this server's field errors and warnings.

use serde_json::Value;

pub(crate) use kube_schema::{Additional, Node, Schema};

use crate::errors::{BadValue, FieldError};

/// Problems found while reading a schema: decoding problems (a wrong JSON type for a
/// keyword, a 400 on the real server) and validation problems (422).
#[derive(Debug, Default)]
pub(crate) struct SchemaProblems {
    pub decode: Vec<String>,
    pub invalid: Vec<FieldError>,
}

/// How this server's version behaves where versions differ.
const OPTIONS: kube_schema::Options = kube_schema::Options {
    cel_rules: false,
    too_long_in_bytes: true,
};

/// Reads a JSONSchemaProps object. `path` is the field path used in messages, e.g.
/// `spec.versions[0].schema.openAPIV3Schema`.
pub(crate) fn parse(v: &Value, path: &str, problems: &mut SchemaProblems) -> Schema {
    let (schema, found) = Schema::parse(v, path, false);
    problems.decode.extend(found.decode);
    problems
        .invalid
        .extend(found.invalid.into_iter().map(field_error));
    schema.with_options(OPTIONS)
}

/// A schema that keeps anything.
pub(crate) fn preserve_all() -> Schema {
    Schema::preserve_all().with_options(OPTIONS)
}

/// Removes fields the schema does not know (not `apiVersion`, `kind` and `metadata` at the
/// top, which are handled as ObjectMeta elsewhere), returning their paths, sorted.
pub(crate) fn prune(schema: &Schema, v: &mut Value) -> Vec<String> {
    let mut unknown: Vec<String> = schema
        .prune(v)
        .iter()
        .map(|p| kube_schema::render_field_path(p))
        .collect();
    unknown.sort();
    unknown
}

/// Validates a pruned and defaulted object; errors in kube-openapi's order.
pub(crate) fn validate(schema: &Schema, v: &Value) -> Vec<FieldError> {
    schema
        .validate_applied(v)
        .into_iter()
        .map(field_error)
        .collect()
}

/// The engine's error as this server's field error.
fn field_error(e: kube_schema::FieldError) -> FieldError {
    let value = match e.bad {
        Some(bad) => BadValue::Raw(bad),
        None => BadValue::Omit,
    };
    FieldError::new(e.kind, e.field, value, e.detail)
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
