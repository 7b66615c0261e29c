//! A CRD's structural schema read once into a typed tree ([`Node`]): the schema is decoded
//! into k8s-openapi's `JSONSchemaProps`, then the keywords pruning, defaulting and validation
//! use are taken from it, with every `pattern` compiled (Go RE2 syntax) and every CEL rule
//! parsed, so that checking an object never looks a keyword up by name. Reading reports what
//! a CRD's schema gets wrong as kube-apiserver reports it ([`SchemaProblems`]): the JSON is
//! first checked for the decoding errors Go would give, then the typed schema for what the
//! server refuses.

use std::collections::BTreeMap;
use std::sync::Arc;

use go_compat::strconv::go_quote;
use indexmap::IndexMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use regex::Regex;
use serde_json::Value;

use crate::cel;
use crate::errors::FieldError;
use crate::formats;

/// `additionalProperties`.
#[derive(Debug, Clone)]
pub enum Additional {
    Bool(bool),
    Schema(Box<Node>),
}

/// A `pattern`, compiled, or why it does not compile.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub text: String,
    pub regex: Result<Regex, String>,
}

/// A CEL rule (`x-kubernetes-validations`), parsed, or why it is not evaluated here.
#[derive(Debug, Clone)]
pub struct Rule {
    pub text: String,
    pub message: Option<String>,
    pub reason: Option<String>,
    pub expr: Result<Arc<cel::Expr>, String>,
}

/// One node of a structural schema (value validations included).
#[derive(Debug, Clone, Default)]
pub struct Node {
    /// The types the node declares: `type`, or integer and string for
    /// `x-kubernetes-int-or-string`.
    pub types: Vec<String>,
    /// `type` as written.
    pub type_name: Option<String>,
    pub nullable: bool,
    pub int_or_string: bool,
    pub preserve_unknown: bool,
    pub embedded: bool,
    /// The node describes an object: `type: object`, or `properties` or
    /// `additionalProperties` present.
    pub object_like: bool,
    /// `properties`, by name (the order JSONSchemaProps keeps them in, and in which defaults
    /// are added).
    pub properties: IndexMap<String, Node>,
    pub additional: Option<Additional>,
    pub items: Option<Box<Node>>,
    pub required: Vec<String>,
    pub enum_values: Option<Vec<Value>>,
    pub pattern: Option<Pattern>,
    /// `format` as written, when the API server checks it.
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
    pub list_type: Option<String>,
    pub list_map_keys: Vec<String>,
    pub default: Option<Value>,
    pub all_of: Vec<Node>,
    pub any_of: Vec<Node>,
    pub one_of: Vec<Node>,
    pub not: Option<Box<Node>>,
    pub rules: Vec<Rule>,
}

/// Problems found while reading a schema: decoding problems (a wrong JSON type for a
/// keyword, a 400 on the real server) and validation problems (422).
#[derive(Debug, Default)]
pub struct SchemaProblems {
    pub decode: Vec<String>,
    pub invalid: Vec<FieldError>,
}

const TYPES: [&str; 6] = ["array", "boolean", "integer", "number", "object", "string"];

/// The JSON type names of Go's decoding errors.
pub fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// What reading a schema shares between its nodes: each distinct pattern is compiled and
/// each distinct rule parsed once.
#[derive(Default)]
pub(crate) struct Reader {
    pub problems: SchemaProblems,
    pub patterns: BTreeMap<String, Result<Regex, String>>,
    pub rules: BTreeMap<String, Result<Arc<cel::Expr>, String>>,
}

impl Reader {
    fn decode_err(&mut self, path: &str, key: &str, val: &Value, want: &str) {
        self.problems.decode.push(format!(
            "json: cannot unmarshal {} into Go struct field JSONSchemaProps.{path}.{key} of type {want}",
            json_type_name(val)
        ));
    }

    fn pattern(&mut self, p: &str) -> Result<Regex, String> {
        self.patterns
            .entry(p.to_string())
            .or_insert_with(|| go_compat::regexp::compile(p))
            .clone()
    }

    fn rule(&mut self, text: &str) -> Result<Arc<cel::Expr>, String> {
        self.rules
            .entry(text.to_string())
            .or_insert_with(|| cel::parse(text).map(Arc::new))
            .clone()
    }

    /// Go's decoding problems of a JSONSchemaProps object written as JSON: keywords whose
    /// value has the wrong JSON type, worded as `encoding/json` words them. `path` is the
    /// field path used in messages, e.g. `spec.versions[0].schema.openAPIV3Schema`.
    pub(crate) fn check_json(&mut self, v: &Value, path: &str) {
        let Some(m) = v.as_object() else {
            self.problems.decode.push(format!(
                "json: cannot unmarshal {} into Go struct field {} of type v1.JSONSchemaProps",
                json_type_name(v),
                path
            ));
            return;
        };
        for (key, val) in m {
            let want = match key.as_str() {
                "type" | "format" | "pattern" | "x-kubernetes-list-type" => {
                    (!val.is_string()).then_some("string")
                }
                "nullable"
                | "x-kubernetes-int-or-string"
                | "x-kubernetes-embedded-resource"
                | "uniqueItems"
                | "exclusiveMinimum"
                | "exclusiveMaximum" => (!val.is_boolean()).then_some("bool"),
                "x-kubernetes-preserve-unknown-fields" => {
                    (!val.is_boolean() && !val.is_null()).then_some("bool")
                }
                "minimum" | "maximum" | "multipleOf" => (!val.is_number()).then_some("float64"),
                "minLength" | "maxLength" | "minItems" | "maxItems" | "minProperties"
                | "maxProperties" => (!val.is_u64()).then_some("int64"),
                "required" => match val.as_array() {
                    Some(a) => {
                        for r in a.iter().filter(|r| !r.is_string()) {
                            self.decode_err(path, key, r, "string");
                        }
                        None
                    }
                    None => Some("[]string"),
                },
                "enum" => (!val.is_array()).then_some("[]v1.JSON"),
                "x-kubernetes-list-map-keys" => (!val.is_array()).then_some("[]string"),
                "x-kubernetes-validations" => (!val.is_array()).then_some("v1.ValidationRules"),
                "properties" => match val.as_object() {
                    Some(props) => {
                        for (name, ps) in props {
                            self.check_json(ps, &format!("{path}.properties[{name}]"));
                        }
                        None
                    }
                    None => Some("map[string]v1.JSONSchemaProps"),
                },
                "additionalProperties" => match val {
                    Value::Bool(_) => None,
                    Value::Object(_) => {
                        self.check_json(val, &format!("{path}.additionalProperties"));
                        None
                    }
                    _ => Some("v1.JSONSchemaPropsOrBool"),
                },
                "items" => match val {
                    Value::Object(_) => {
                        self.check_json(val, &format!("{path}.items"));
                        None
                    }
                    Value::Array(_) => None,
                    _ => Some("v1.JSONSchemaPropsOrArray"),
                },
                "allOf" | "anyOf" | "oneOf" => match val.as_array() {
                    Some(a) => {
                        for (i, x) in a.iter().enumerate() {
                            self.check_json(x, &format!("{path}.{key}[{i}]"));
                        }
                        None
                    }
                    None => Some("[]v1.JSONSchemaProps"),
                },
                "not" => {
                    self.check_json(val, &format!("{path}.not"));
                    None
                }
                _ => None,
            };
            if let Some(want) = want {
                self.decode_err(path, key, val, want);
            }
        }
    }

    /// Reads a JSONSchemaProps into the tree, reporting what kube-apiserver refuses in a
    /// CRD's schema (422). `path` as for [`Reader::check_json`].
    pub(crate) fn node(&mut self, p: &JSONSchemaProps, path: &str) -> Node {
        let mut s = Node::default();
        if let Some(t) = p.type_.as_deref().filter(|t| !t.is_empty()) {
            if !TYPES.contains(&t) {
                self.problems.invalid.push(FieldError::not_supported(
                    &format!("{path}.type"),
                    go_quote(t),
                    &TYPES.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                ));
            }
            s.types = vec![t.to_string()];
            s.type_name = Some(t.to_string());
            s.object_like = t == "object";
        }
        s.format = p.format.clone().filter(|f| formats::is_checked(f));
        if let Some(pattern) = &p.pattern {
            let regex = self.pattern(pattern);
            if let Err(e) = &regex {
                self.problems.invalid.push(FieldError::invalid(
                    &format!("{path}.pattern"),
                    go_quote(pattern),
                    format!("must be a valid regular expression, but isn't: {e}"),
                ));
            }
            s.pattern = Some(Pattern {
                text: pattern.clone(),
                regex,
            });
        }
        s.nullable = p.nullable == Some(true);
        s.int_or_string = p.x_kubernetes_int_or_string == Some(true);
        s.preserve_unknown = p.x_kubernetes_preserve_unknown_fields == Some(true);
        s.embedded = p.x_kubernetes_embedded_resource == Some(true);
        if p.unique_items == Some(true) {
            self.problems.invalid.push(FieldError::forbidden(
                &format!("{path}.uniqueItems"),
                "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
            ));
        }
        s.exclusive_minimum = p.exclusive_minimum == Some(true);
        s.exclusive_maximum = p.exclusive_maximum == Some(true);
        s.minimum = p.minimum;
        s.maximum = p.maximum;
        s.multiple_of = p.multiple_of;
        let count = |n: Option<i64>| n.and_then(|n| u64::try_from(n).ok());
        s.min_length = count(p.min_length);
        s.max_length = count(p.max_length);
        s.min_items = count(p.min_items);
        s.max_items = count(p.max_items);
        s.min_properties = count(p.min_properties);
        s.max_properties = count(p.max_properties);
        s.required = p.required.clone().unwrap_or_default();
        s.enum_values = p
            .enum_
            .as_ref()
            .map(|values| values.iter().map(|v| v.0.clone()).collect());
        s.default = p.default.as_ref().map(|d| d.0.clone());
        s.list_type = p.x_kubernetes_list_type.clone();
        s.list_map_keys = p.x_kubernetes_list_map_keys.clone().unwrap_or_default();
        for rule in p.x_kubernetes_validations.iter().flatten() {
            s.rules.push(Rule {
                text: rule.rule.clone(),
                message: rule.message.clone(),
                reason: rule.reason.clone(),
                expr: self.rule(&rule.rule),
            });
        }
        if let Some(props) = &p.properties {
            s.object_like = true;
            for (name, ps) in props {
                let child = self.node(ps, &format!("{path}.properties[{name}]"));
                s.properties.insert(name.clone(), child);
            }
        }
        match &p.additional_properties {
            Some(JSONSchemaPropsOrBool::Bool(b)) => {
                s.object_like = true;
                s.additional = Some(Additional::Bool(*b));
            }
            Some(JSONSchemaPropsOrBool::Schema(a)) => {
                s.object_like = true;
                let a = self.node(a, &format!("{path}.additionalProperties"));
                s.additional = Some(Additional::Schema(Box::new(a)));
            }
            None => {}
        }
        match &p.items {
            Some(JSONSchemaPropsOrArray::Schema(i)) => {
                s.items = Some(Box::new(self.node(i, &format!("{path}.items"))))
            }
            Some(JSONSchemaPropsOrArray::Schemas(_)) => {
                self.problems.invalid.push(FieldError::forbidden(
                    &format!("{path}.items"),
                    "items must be a schema object and not an array",
                ))
            }
            None => {}
        }
        let mut list = |key: &str, schemas: &Option<Vec<JSONSchemaProps>>| -> Vec<Node> {
            schemas
                .iter()
                .flatten()
                .enumerate()
                .map(|(i, x)| self.node(x, &format!("{path}.{key}[{i}]")))
                .collect()
        };
        s.all_of = list("allOf", &p.all_of);
        s.any_of = list("anyOf", &p.any_of);
        s.one_of = list("oneOf", &p.one_of);
        s.not = p
            .not
            .as_ref()
            .map(|n| Box::new(self.node(n, &format!("{path}.not"))));
        if s.int_or_string {
            s.types = vec!["integer".into(), "string".into()];
        }
        s
    }
}

impl Node {
    /// A schema that keeps anything.
    pub fn preserve_all() -> Node {
        Node {
            preserve_unknown: true,
            ..Node::default()
        }
    }

    /// The schema of a field of an object: a property's, else `additionalProperties`'.
    pub fn property(&self, k: &str) -> Option<&Node> {
        self.properties.get(k).or(match &self.additional {
            Some(Additional::Schema(a)) => Some(a),
            _ => None,
        })
    }
}
