//! Writes one desired object into the Kubernetes datastore, resumably: an object the target
//! already holds with the same content counts as done, one with different content is a
//! conflict (replaced only with `--overwrite`).

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

use super::rest::{Rest, RestError};
use crate::convert::compare::{Difference, compare, compare_node};
use crate::convert::kdd::Desired;
use crate::convert::schema::Schema;
use crate::kinds::{CRD_GROUP, CRD_VERSION, CalicoKind};

/// How many times an update is retried when the object changes under it.
const UPDATE_ATTEMPTS: u32 = 5;

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Created,
    Unchanged,
    Updated,
    /// The target holds different content; nothing was written.
    Conflict(Vec<Difference>),
    Failed(String),
    /// A Calico Node whose Kubernetes Node does not exist.
    NodeNotFound,
}

/// The outcome of one write, with what the server dropped or warned about.
#[derive(Clone, Debug)]
pub struct Written {
    pub outcome: Outcome,
    /// Fields of the object the target's CRD schema does not know (the server prunes them).
    pub dropped: Vec<String>,
    pub warnings: Vec<String>,
    /// Values rewritten so that the target's schema accepts them (`path: from → to`).
    pub rewrites: Vec<String>,
}

impl Written {
    fn of(outcome: Outcome) -> Written {
        Written {
            outcome,
            dropped: Vec::new(),
            warnings: Vec::new(),
            rewrites: Vec::new(),
        }
    }

    fn with(outcome: Outcome, dropped: Vec<String>, warnings: Vec<String>) -> Written {
        Written {
            outcome,
            dropped,
            warnings,
            rewrites: Vec::new(),
        }
    }
}

/// The collection path of a Calico kind (namespaced when `namespace` is given).
pub fn collection_path(plural: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("/apis/{CRD_GROUP}/{CRD_VERSION}/namespaces/{ns}/{plural}"),
        None => format!("/apis/{CRD_GROUP}/{CRD_VERSION}/{plural}"),
    }
}

pub fn node_path(name: &str) -> String {
    format!("/api/v1/nodes/{name}")
}

pub struct Writer {
    rest: Rest,
    /// The installed CRDs' schemas by plural, to predict defaults and pruning.
    schemas: HashMap<String, Schema>,
    overwrite: bool,
}

impl Writer {
    pub fn new(rest: Rest, schemas: HashMap<String, Schema>, overwrite: bool) -> Writer {
        Writer {
            rest,
            schemas,
            overwrite,
        }
    }

    pub fn rest(&self) -> &Rest {
        &self.rest
    }

    pub async fn put(&self, desired: &Desired) -> Written {
        match desired {
            Desired::Resource { kind, object } => self.put_resource(kind, object).await,
            Desired::NodeAnnotations { node, set, remove } => {
                self.put_node(desired, node, set, remove).await
            }
        }
    }

    async fn put_resource(&self, kind: &CalicoKind, object: &Value) -> Written {
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let namespace = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str);
        let collection = collection_path(kind.plural, namespace);
        let path = format!("{collection}/{name}");
        let schema = self.schemas.get(kind.plural);
        let mut object = object.clone();
        let rewrites: Vec<String> = schema
            .map(|s| s.rewrite_durations(&mut object))
            .unwrap_or_default()
            .iter()
            .map(|r| r.to_string())
            .collect();
        let mut written = match self.rest.create(&collection, &object).await {
            Ok(answer) => {
                let comparison = compare(&object, &answer.body, schema);
                Written::with(
                    Outcome::Created,
                    comparison.dropped_by_schema,
                    answer.warnings,
                )
            }
            Err(error) if error.is(409) => self.reconcile(&object, &path, schema).await,
            Err(error) => Written::of(Outcome::Failed(describe(&error))),
        };
        written.rewrites = rewrites;
        written
    }

    /// The object exists: compare, and replace it only when asked to.
    async fn reconcile(&self, object: &Value, path: &str, schema: Option<&Schema>) -> Written {
        for _ in 0..UPDATE_ATTEMPTS {
            let existing = match self.rest.get(path).await {
                Ok(Some(existing)) => existing,
                Ok(None) => {
                    return Written::of(Outcome::Failed(format!(
                        "{path} was deleted while being imported"
                    )));
                }
                Err(error) => return Written::of(Outcome::Failed(describe(&error))),
            };
            let comparison = compare(object, &existing, schema);
            if comparison.differences.is_empty() {
                return Written::with(Outcome::Unchanged, comparison.dropped_by_schema, Vec::new());
            }
            if !self.overwrite {
                return Written::with(
                    Outcome::Conflict(comparison.differences),
                    comparison.dropped_by_schema,
                    Vec::new(),
                );
            }
            match self
                .rest
                .replace(path, &replacement(object, &existing))
                .await
            {
                Ok(answer) => {
                    return Written::with(
                        Outcome::Updated,
                        comparison.dropped_by_schema,
                        answer.warnings,
                    );
                }
                // Changed under us: read it again.
                Err(error) if error.is(409) => continue,
                Err(error) => return Written::of(Outcome::Failed(describe(&error))),
            }
        }
        Written::of(Outcome::Failed(format!(
            "{path} kept changing while being updated"
        )))
    }

    async fn put_node(
        &self,
        desired: &Desired,
        node: &str,
        set: &BTreeMap<String, String>,
        remove: &[String],
    ) -> Written {
        let path = node_path(node);
        for _ in 0..UPDATE_ATTEMPTS {
            let existing = match self.rest.get(&path).await {
                Ok(Some(existing)) => existing,
                Ok(None) => return Written::of(Outcome::NodeNotFound),
                Err(error) => return Written::of(Outcome::Failed(describe(&error))),
            };
            let current = crate::convert::string_map(existing.pointer("/metadata/annotations"));
            let differences = compare_node(desired, &current);
            if differences.is_empty() {
                return Written::of(Outcome::Unchanged);
            }
            // Annotations that are there with other values are someone else's data.
            let clashes: Vec<Difference> = differences
                .iter()
                .filter(|d| d.actual.is_some())
                .cloned()
                .collect();
            if !clashes.is_empty() && !self.overwrite {
                return Written::of(Outcome::Conflict(clashes));
            }
            let mut annotations = Map::new();
            for (key, value) in set {
                annotations.insert(key.clone(), Value::String(value.clone()));
            }
            for key in remove.iter().filter(|k| current.contains_key(*k)) {
                annotations.insert(key.clone(), Value::Null);
            }
            // The resourceVersion read makes the patch conditional: two writes to one node
            // (etcd nodes merged onto one Kubernetes name) cannot both think they came first.
            let resource_version = existing
                .pointer("/metadata/resourceVersion")
                .cloned()
                .unwrap_or(Value::Null);
            let patch = json!({"metadata": {"annotations": annotations, "resourceVersion": resource_version}});
            match self.rest.merge_patch(&path, &patch).await {
                Ok(answer) => {
                    let outcome = if clashes.is_empty() {
                        Outcome::Created
                    } else {
                        Outcome::Updated
                    };
                    return Written::with(outcome, Vec::new(), answer.warnings);
                }
                Err(error) if error.is(409) => continue,
                Err(error) if error.is(404) => return Written::of(Outcome::NodeNotFound),
                Err(error) => return Written::of(Outcome::Failed(describe(&error))),
            }
        }
        Written::of(Outcome::Failed(format!(
            "Node {node} kept changing while its annotations were written"
        )))
    }
}

/// The existing object with the file's labels, annotations and spec (calicoctl's update keeps
/// the rest of the existing metadata, including the resourceVersion it read).
fn replacement(desired: &Value, existing: &Value) -> Value {
    let mut updated = existing.clone();
    for field in ["labels", "annotations"] {
        let value = desired.pointer(&format!("/metadata/{field}")).cloned();
        if let Some(metadata) = updated.get_mut("metadata").and_then(Value::as_object_mut) {
            match value {
                Some(value) => {
                    metadata.insert(field.to_string(), value);
                }
                None => {
                    metadata.remove(field);
                }
            }
        }
    }
    if let Some(spec) = desired.get("spec") {
        updated["spec"] = spec.clone();
    }
    updated
}

fn describe(error: &RestError) -> String {
    match error {
        RestError::Api {
            code,
            reason,
            message,
        } if !reason.is_empty() => format!("{message} ({code} {reason})"),
        other => other.to_string(),
    }
}
