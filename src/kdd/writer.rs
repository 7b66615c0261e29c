//! Carries out one decided write in the Kubernetes datastore: create, replace, delete, or set a
//! Node's Calico annotations. Each write is conditional on what was read (resourceVersion), so
//! that a change made by someone else in between is noticed and judged again, never overwritten
//! blindly.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::rest::{Rest, RestError};
use super::target::{object_path, written_by_migration};
use crate::convert::compare::{Difference, compare, compare_node};
use crate::convert::kdd::{Desired, NODE_MANAGED_ANNOTATIONS};
use crate::convert::schema::{Rewrite, Schema};
use crate::kinds::{CalicoKind, CrdApi};

/// How many times a write is judged again when the object changes under it.
const ATTEMPTS: u32 = 5;

#[derive(Clone, Debug, PartialEq)]
pub enum WriteOutcome {
    Created,
    Unchanged,
    Updated,
    Deleted,
    /// The target holds different content that the migration may not replace; nothing was
    /// written.
    Conflict(Vec<Difference>),
    Failed(String),
    /// A Calico Node whose Kubernetes Node does not exist.
    NodeNotFound,
}

/// The outcome of one write, with what the server dropped or warned about.
#[derive(Clone, Debug)]
pub struct Written {
    pub outcome: WriteOutcome,
    /// Fields of the object the target's CRD schema does not know (the server prunes them).
    pub dropped: Vec<String>,
    pub warnings: Vec<String>,
    /// The resourceVersion at which the server holds the object as it was to be written (its
    /// answer, or what was found, compared equal); None when that was not seen.
    pub verified_at: Option<String>,
}

impl Written {
    fn of(outcome: WriteOutcome) -> Written {
        Written::with(outcome, Vec::new(), Vec::new())
    }

    fn with(outcome: WriteOutcome, dropped: Vec<String>, warnings: Vec<String>) -> Written {
        Written {
            outcome,
            dropped,
            warnings,
            verified_at: None,
        }
    }

    /// Notes that `stored` (the server's object) was found equal to what was written.
    fn verified(mut self, equal: bool, stored: &Value) -> Written {
        if equal {
            self.verified_at = stored
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        self
    }
}

/// What to do with one object, decided from the source and the target's listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// The target does not have it.
    Create,
    /// The target has other content that the migration may replace, at this resourceVersion.
    Update { resource_version: Option<String> },
    /// The migration wrote it and the source no longer has it.
    Delete { resource_version: Option<String> },
}

pub fn node_path(name: &str) -> String {
    format!("/api/v1/nodes/{name}")
}

pub struct Writer {
    rest: Rest,
    /// The API group the objects are written to.
    api: CrdApi,
    /// The installed CRDs' schemas by plural, to predict defaults and pruning.
    schemas: HashMap<String, Schema>,
    /// Replace any differing object, not only the migration's own.
    overwrite: bool,
}

impl Writer {
    pub fn new(
        rest: Rest,
        api: CrdApi,
        schemas: HashMap<String, Schema>,
        overwrite: bool,
    ) -> Writer {
        Writer {
            rest,
            api,
            schemas,
            overwrite,
        }
    }

    pub fn api(&self) -> CrdApi {
        self.api
    }

    pub fn rest(&self) -> &Rest {
        &self.rest
    }

    pub fn schemas(&self) -> &HashMap<String, Schema> {
        &self.schemas
    }

    /// Whether a differing object may be replaced: with `--overwrite`, or when the migration
    /// wrote it (a pre-copy that the source has changed since).
    pub fn may_replace(&self, ours: bool) -> bool {
        self.overwrite || ours
    }

    /// Repairs `object` so that the target's schema accepts it without losing anything (see
    /// [`Schema::repair`]); what was repaired.
    pub fn prepare(&self, kind: &CalicoKind, object: &mut Value) -> Vec<Rewrite> {
        self.schemas
            .get(kind.plural)
            .map(|schema| schema.repair(object))
            .unwrap_or_default()
    }

    /// Carries out `action` for `desired` (ignored for deletes) at `name` of `kind`.
    pub async fn execute(
        &self,
        kind: &CalicoKind,
        name: &str,
        action: &Action,
        desired: &Desired,
    ) -> Written {
        let path = object_path(self.api, kind, name);
        match desired {
            Desired::Resource { object, .. } => match action {
                Action::Create => {
                    let mut object = object.clone();
                    self.prepare(kind, &mut object);
                    self.create(kind, &path, &object).await
                }
                Action::Update { resource_version } => {
                    let mut object = object.clone();
                    self.prepare(kind, &mut object);
                    self.update(kind, &path, &object, resource_version.clone())
                        .await
                }
                Action::Delete { resource_version } => {
                    self.delete(kind, &path, resource_version.clone()).await
                }
            },
            Desired::NodeAnnotations { .. } => match action {
                Action::Delete { .. } => self.clear_node(&path).await,
                _ => self.put_node(desired, &path).await,
            },
        }
    }

    async fn create(&self, kind: &CalicoKind, path: &str, object: &Value) -> Written {
        let schema = self.schemas.get(kind.plural);
        match self.rest.create(path_collection(path), object).await {
            Ok(answer) => {
                let comparison = compare(object, &answer.body, schema);
                let equal = comparison.differences.is_empty();
                Written::with(
                    WriteOutcome::Created,
                    comparison.dropped_by_schema,
                    answer.warnings,
                )
                .verified(equal, &answer.body)
            }
            // Created by someone else since the listing: judge it again.
            Err(error) if error.is(409) => self.reconcile(kind, path, object).await,
            Err(error) => Written::of(WriteOutcome::Failed(describe(&error))),
        }
    }

    async fn update(
        &self,
        kind: &CalicoKind,
        path: &str,
        object: &Value,
        resource_version: Option<String>,
    ) -> Written {
        let mut body = object.clone();
        if let Some(metadata) = body.get_mut("metadata").and_then(Value::as_object_mut) {
            metadata.insert("resourceVersion".into(), json!(resource_version));
        }
        match self.rest.replace(path, &body).await {
            Ok(answer) => {
                let comparison = compare(object, &answer.body, self.schemas.get(kind.plural));
                let equal = comparison.differences.is_empty();
                Written::with(
                    WriteOutcome::Updated,
                    comparison.dropped_by_schema,
                    answer.warnings,
                )
                .verified(equal, &answer.body)
            }
            // Changed (or deleted) since the listing: judge it again.
            Err(error) if error.is(409) || error.is(404) => {
                self.reconcile(kind, path, object).await
            }
            Err(error) => Written::of(WriteOutcome::Failed(describe(&error))),
        }
    }

    async fn delete(
        &self,
        kind: &CalicoKind,
        path: &str,
        mut resource_version: Option<String>,
    ) -> Written {
        for _ in 0..ATTEMPTS {
            match self.rest.delete(path, resource_version.as_deref()).await {
                Ok(()) => return Written::of(WriteOutcome::Deleted),
                Err(error) if error.is(409) => {}
                Err(error) => return Written::of(WriteOutcome::Failed(describe(&error))),
            }
            // Changed since the listing: still the migration's alone?
            match self.rest.get(path).await {
                Ok(None) => return Written::of(WriteOutcome::Deleted),
                Ok(Some(current)) if written_by_migration(&current, true) => {
                    resource_version = current
                        .pointer("/metadata/resourceVersion")
                        .and_then(Value::as_str)
                        .map(str::to_string);
                }
                Ok(Some(_)) => {
                    return Written::of(WriteOutcome::Conflict(vec![Difference {
                        path: format!("{} (changed by someone else; left in place)", kind.kind),
                        expected: None,
                        actual: Some(Value::String("present".into())),
                    }]));
                }
                Err(error) => return Written::of(WriteOutcome::Failed(describe(&error))),
            }
        }
        Written::of(WriteOutcome::Failed(format!(
            "{path} kept changing while being deleted"
        )))
    }

    /// The object exists with content the listing did not show: compare again, and replace it
    /// only when the migration may.
    async fn reconcile(&self, kind: &CalicoKind, path: &str, object: &Value) -> Written {
        let schema = self.schemas.get(kind.plural);
        for _ in 0..ATTEMPTS {
            let existing = match self.rest.get(path).await {
                Ok(Some(existing)) => existing,
                Ok(None) => match self.rest.create(path_collection(path), object).await {
                    Ok(answer) => {
                        let comparison = compare(object, &answer.body, schema);
                        let equal = comparison.differences.is_empty();
                        return Written::with(
                            WriteOutcome::Created,
                            comparison.dropped_by_schema,
                            answer.warnings,
                        )
                        .verified(equal, &answer.body);
                    }
                    Err(error) if error.is(409) => continue,
                    Err(error) => return Written::of(WriteOutcome::Failed(describe(&error))),
                },
                Err(error) => return Written::of(WriteOutcome::Failed(describe(&error))),
            };
            let comparison = compare(object, &existing, schema);
            if comparison.differences.is_empty() {
                return Written::with(
                    WriteOutcome::Unchanged,
                    comparison.dropped_by_schema,
                    Vec::new(),
                )
                .verified(true, &existing);
            }
            if !self.may_replace(written_by_migration(&existing, true)) {
                return Written::with(
                    WriteOutcome::Conflict(comparison.differences),
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
                    let equal = compare(object, &answer.body, schema).differences.is_empty();
                    return Written::with(
                        WriteOutcome::Updated,
                        comparison.dropped_by_schema,
                        answer.warnings,
                    )
                    .verified(equal, &answer.body);
                }
                Err(error) if error.is(409) => continue,
                Err(error) => return Written::of(WriteOutcome::Failed(describe(&error))),
            }
        }
        Written::of(WriteOutcome::Failed(format!(
            "{path} kept changing while being written"
        )))
    }

    async fn put_node(&self, desired: &Desired, path: &str) -> Written {
        let Desired::NodeAnnotations { node, set, remove } = desired else {
            return Written::of(WriteOutcome::Failed("not Node annotations".into()));
        };
        for _ in 0..ATTEMPTS {
            let existing = match self.rest.get(path).await {
                Ok(Some(existing)) => existing,
                Ok(None) => return Written::of(WriteOutcome::NodeNotFound),
                Err(error) => return Written::of(WriteOutcome::Failed(describe(&error))),
            };
            let current = crate::convert::string_map(existing.pointer("/metadata/annotations"));
            let differences = compare_node(desired, &current);
            if differences.is_empty() {
                return Written::of(WriteOutcome::Unchanged);
            }
            // Annotations that are there with other values are someone else's data, unless
            // the migration wrote them.
            let clashes: Vec<Difference> = differences
                .iter()
                .filter(|d| d.actual.is_some())
                .cloned()
                .collect();
            if !clashes.is_empty() && !self.may_replace(written_by_migration(&existing, false)) {
                return Written::of(WriteOutcome::Conflict(clashes));
            }
            let mut annotations = Map::new();
            for (key, value) in set {
                annotations.insert(key.clone(), Value::String(value.clone()));
            }
            for key in remove.iter().filter(|k| current.contains_key(*k)) {
                annotations.insert(key.clone(), Value::Null);
            }
            match self.patch_node(path, &existing, annotations).await {
                Ok(warnings) => {
                    let outcome = if clashes.is_empty() {
                        WriteOutcome::Created
                    } else {
                        WriteOutcome::Updated
                    };
                    return Written::with(outcome, Vec::new(), warnings);
                }
                Err(error) if error.is(409) => continue,
                Err(error) if error.is(404) => return Written::of(WriteOutcome::NodeNotFound),
                Err(error) => return Written::of(WriteOutcome::Failed(describe(&error))),
            }
        }
        Written::of(WriteOutcome::Failed(format!(
            "Node {node} kept changing while its annotations were written"
        )))
    }

    /// Removes the Calico annotations the migration wrote on a Node whose Calico Node is gone
    /// from the source.
    async fn clear_node(&self, path: &str) -> Written {
        for _ in 0..ATTEMPTS {
            let existing = match self.rest.get(path).await {
                Ok(Some(existing)) => existing,
                Ok(None) => return Written::of(WriteOutcome::Deleted),
                Err(error) => return Written::of(WriteOutcome::Failed(describe(&error))),
            };
            let current = crate::convert::string_map(existing.pointer("/metadata/annotations"));
            let annotations: Map<String, Value> = NODE_MANAGED_ANNOTATIONS
                .iter()
                .filter(|k| current.contains_key(**k))
                .map(|k| (k.to_string(), Value::Null))
                .collect();
            if annotations.is_empty() {
                return Written::of(WriteOutcome::Unchanged);
            }
            match self.patch_node(path, &existing, annotations).await {
                Ok(_) => return Written::of(WriteOutcome::Deleted),
                Err(error) if error.is(409) => continue,
                Err(error) if error.is(404) => return Written::of(WriteOutcome::Deleted),
                Err(error) => return Written::of(WriteOutcome::Failed(describe(&error))),
            }
        }
        Written::of(WriteOutcome::Failed(format!(
            "{path} kept changing while its Calico annotations were removed"
        )))
    }

    /// A merge patch of annotations, conditional on the resourceVersion that was read: two
    /// writes to one Node cannot both think they came first.
    async fn patch_node(
        &self,
        path: &str,
        existing: &Value,
        annotations: Map<String, Value>,
    ) -> Result<Vec<String>, RestError> {
        let resource_version = existing
            .pointer("/metadata/resourceVersion")
            .cloned()
            .unwrap_or(Value::Null);
        let patch =
            json!({"metadata": {"annotations": annotations, "resourceVersion": resource_version}});
        self.rest
            .merge_patch(path, &patch)
            .await
            .map(|answer| answer.warnings)
    }
}

fn path_collection(path: &str) -> &str {
    path.rsplit_once('/').map(|(c, _)| c).unwrap_or(path)
}

/// The existing object with the file's labels, annotations and spec (calicoctl's update keeps
/// the rest of the existing metadata, including the resourceVersion it read).
fn replacement(desired: &Value, existing: &Value) -> Value {
    let mut updated = existing.clone();
    for field in ["labels", "annotations"] {
        let value = desired.pointer(&format!("/metadata/{field}")).cloned();
        if let Some(metadata) = updated.get_mut("metadata").and_then(Value::as_object_mut) {
            metadata.remove("managedFields");
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
