//! A CRD's structural schema read once into a typed tree ([`Node`]): the keywords pruning,
//! defaulting and validation use, with every `pattern` compiled (Go RE2 syntax) and every CEL
//! rule parsed, so that checking an object never looks a keyword up by name. Reading reports
//! what a CRD's schema gets wrong as kube-apiserver reports it ([`SchemaProblems`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use go_compat::strconv::go_quote;
use indexmap::IndexMap;
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
    /// `properties`, in the schema's order (defaults are added in that order).
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

    fn bool_of(&mut self, path: &str, key: &str, val: &Value) -> bool {
        match val.as_bool() {
            Some(b) => b,
            None => {
                self.decode_err(path, key, val, "bool");
                false
            }
        }
    }

    fn rules_of(&mut self, path: &str, key: &str, val: &Value) -> Vec<Rule> {
        let Some(list) = val.as_array() else {
            self.decode_err(path, key, val, "v1.ValidationRules");
            return Vec::new();
        };
        let mut out = Vec::new();
        for rule in list {
            let Some(text) = rule.get("rule").and_then(Value::as_str) else {
                continue;
            };
            let text_of = |k: &str| rule.get(k).and_then(Value::as_str).map(str::to_string);
            out.push(Rule {
                text: text.to_string(),
                message: text_of("message"),
                reason: text_of("reason"),
                expr: self.rule(text),
            });
        }
        out
    }

    /// Reads a JSONSchemaProps object. `path` is the field path used in messages, e.g.
    /// `spec.versions[0].schema.openAPIV3Schema`.
    pub(crate) fn node(&mut self, v: &Value, path: &str) -> Node {
        let mut s = Node::default();
        let Some(m) = v.as_object() else {
            self.problems.decode.push(format!(
                "json: cannot unmarshal {} into Go struct field {} of type v1.JSONSchemaProps",
                json_type_name(v),
                path
            ));
            return s;
        };
        for (key, val) in m {
            match key.as_str() {
                "type" => match val.as_str() {
                    Some("") => {}
                    Some(t) => {
                        if !TYPES.contains(&t) {
                            self.problems.invalid.push(FieldError::not_supported(
                                &format!("{path}.type"),
                                go_quote(t),
                                &TYPES.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                            ));
                        }
                        s.types = vec![t.to_string()];
                        s.type_name = Some(t.to_string());
                        s.object_like |= t == "object";
                    }
                    None => self.decode_err(path, key, val, "string"),
                },
                "format" => match val.as_str() {
                    Some(f) if formats::is_checked(f) => s.format = Some(f.to_string()),
                    Some(_) => {}
                    None => self.decode_err(path, key, val, "string"),
                },
                "pattern" => match val.as_str() {
                    Some(p) => {
                        let regex = self.pattern(p);
                        if let Err(e) = &regex {
                            self.problems.invalid.push(FieldError::invalid(
                                &format!("{path}.pattern"),
                                go_quote(p),
                                format!("must be a valid regular expression, but isn't: {e}"),
                            ));
                        }
                        s.pattern = Some(Pattern {
                            text: p.to_string(),
                            regex,
                        });
                    }
                    None => self.decode_err(path, key, val, "string"),
                },
                "nullable" => s.nullable = self.bool_of(path, key, val),
                "x-kubernetes-int-or-string" => s.int_or_string = self.bool_of(path, key, val),
                "x-kubernetes-preserve-unknown-fields" => match val {
                    Value::Bool(b) => s.preserve_unknown = *b,
                    Value::Null => {}
                    _ => self.decode_err(path, key, val, "bool"),
                },
                "x-kubernetes-embedded-resource" => s.embedded = self.bool_of(path, key, val),
                "uniqueItems" => {
                    if self.bool_of(path, key, val) {
                        self.problems.invalid.push(FieldError::forbidden(
                            &format!("{path}.uniqueItems"),
                            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
                        ));
                    }
                }
                "exclusiveMinimum" => s.exclusive_minimum = self.bool_of(path, key, val),
                "exclusiveMaximum" => s.exclusive_maximum = self.bool_of(path, key, val),
                "minimum" | "maximum" | "multipleOf" => match val.as_f64() {
                    Some(f) => match key.as_str() {
                        "minimum" => s.minimum = Some(f),
                        "maximum" => s.maximum = Some(f),
                        _ => s.multiple_of = Some(f),
                    },
                    None => self.decode_err(path, key, val, "float64"),
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
                    None => self.decode_err(path, key, val, "int64"),
                },
                "required" => match val.as_array() {
                    Some(a) => {
                        for r in a {
                            match r.as_str() {
                                Some(r) => s.required.push(r.to_string()),
                                None => self.decode_err(path, key, r, "string"),
                            }
                        }
                    }
                    None => self.decode_err(path, key, val, "[]string"),
                },
                "enum" => match val.as_array() {
                    Some(a) => s.enum_values = Some(a.clone()),
                    None => self.decode_err(path, key, val, "[]v1.JSON"),
                },
                "default" => s.default = Some(val.clone()),
                "x-kubernetes-list-type" => match val.as_str() {
                    Some(t) => s.list_type = Some(t.to_string()),
                    None => self.decode_err(path, key, val, "string"),
                },
                "x-kubernetes-list-map-keys" => match val.as_array() {
                    Some(a) => {
                        s.list_map_keys = a
                            .iter()
                            .filter_map(|k| k.as_str().map(str::to_string))
                            .collect()
                    }
                    None => self.decode_err(path, key, val, "[]string"),
                },
                "x-kubernetes-validations" => s.rules = self.rules_of(path, key, val),
                "properties" => match val.as_object() {
                    Some(props) => {
                        s.object_like = true;
                        for (name, ps) in props {
                            let p = self.node(ps, &format!("{path}.properties[{name}]"));
                            s.properties.insert(name.clone(), p);
                        }
                    }
                    None => self.decode_err(path, key, val, "map[string]v1.JSONSchemaProps"),
                },
                "additionalProperties" => {
                    s.object_like = true;
                    match val {
                        Value::Bool(b) => s.additional = Some(Additional::Bool(*b)),
                        Value::Object(_) => {
                            let a = self.node(val, &format!("{path}.additionalProperties"));
                            s.additional = Some(Additional::Schema(Box::new(a)));
                        }
                        _ => self.decode_err(path, key, val, "v1.JSONSchemaPropsOrBool"),
                    }
                }
                "items" => match val {
                    Value::Object(_) => {
                        s.items = Some(Box::new(self.node(val, &format!("{path}.items"))))
                    }
                    Value::Array(_) => self.problems.invalid.push(FieldError::forbidden(
                        &format!("{path}.items"),
                        "items must be a schema object and not an array",
                    )),
                    _ => self.decode_err(path, key, val, "v1.JSONSchemaPropsOrArray"),
                },
                "allOf" | "anyOf" | "oneOf" => match val.as_array() {
                    Some(a) => {
                        let list: Vec<Node> = a
                            .iter()
                            .enumerate()
                            .map(|(i, x)| self.node(x, &format!("{path}.{key}[{i}]")))
                            .collect();
                        match key.as_str() {
                            "allOf" => s.all_of = list,
                            "anyOf" => s.any_of = list,
                            _ => s.one_of = list,
                        }
                    }
                    None => self.decode_err(path, key, val, "[]v1.JSONSchemaProps"),
                },
                "not" => s.not = Some(Box::new(self.node(val, &format!("{path}.not")))),
                // documentation, and keywords that do not change how values are handled
                _ => {}
            }
        }
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
