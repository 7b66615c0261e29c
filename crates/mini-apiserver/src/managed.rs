//! `metadata.managedFields`: who owns which fields, updated by every write as
//! kube-apiserver's field manager does, and server-side apply on top of it.
//!
//! - A write that is not an apply records an `Update` entry for its manager (the
//!   `fieldManager` parameter, else the User-Agent up to its first `/`), owning the
//!   fields it changed; other managers lose the fields it changed or removed.
//! - An apply merges the configuration into the live object, records an `Apply` entry
//!   owning exactly the fields of the configuration, removes the fields the manager
//!   applied last time and no longer applies (unless another manager owns them), and
//!   refuses (409) to change a field another manager owns with a different value,
//!   unless forced (the other manager then loses it).
//! - Entries are sorted as kube sorts them; an entry's `time` changes only when its
//!   manager changed something.

use serde_json::{Map, Value, json};

use crate::errors::{ApiError, go_quote};
use crate::fields::{
    Cursor, FieldSet, compare, field_set, merge, path_string, remove_items, to_prune,
};

/// The manager kube assigns to fields of objects that existed before their first apply.
pub(crate) const BEFORE_FIRST_APPLY: &str = "before-first-apply";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Operation {
    Apply,
    Update,
}

/// One `managedFields` entry.
#[derive(Debug, Clone)]
struct Entry {
    manager: String,
    operation: Operation,
    api_version: String,
    time: Option<String>,
    subresource: String,
    set: FieldSet,
}

impl Entry {
    /// The entry of a writer's first write with `operation`, now.
    fn written(w: &Writer, operation: Operation, set: FieldSet) -> Entry {
        Entry {
            manager: w.manager.to_string(),
            operation,
            api_version: w.api_version.to_string(),
            time: Some(w.now.to_string()),
            subresource: w.subresource.to_string(),
            set,
        }
    }

    /// Appliers are identified without their API version, updaters with it.
    fn same_manager(&self, manager: &str, op: Operation, api_version: &str, sub: &str) -> bool {
        self.manager == manager
            && self.operation == op
            && self.subresource == sub
            && (op == Operation::Apply || self.api_version == api_version)
    }

    /// How conflict messages name the manager.
    fn describe(&self) -> String {
        let mut s = go_quote(&self.manager);
        if !self.subresource.is_empty() {
            s.push_str(&format!(
                " with subresource {}",
                go_quote(&self.subresource)
            ));
        }
        if self.operation == Operation::Update {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        if !self.manager.is_empty() {
            m.insert("manager".into(), json!(self.manager));
        }
        m.insert(
            "operation".into(),
            json!(match self.operation {
                Operation::Apply => "Apply",
                Operation::Update => "Update",
            }),
        );
        m.insert("apiVersion".into(), json!(self.api_version));
        if let Some(t) = &self.time {
            m.insert("time".into(), json!(t));
        }
        m.insert("fieldsType".into(), json!("FieldsV1"));
        m.insert("fieldsV1".into(), self.set.to_fields_v1());
        if !self.subresource.is_empty() {
            m.insert("subresource".into(), json!(self.subresource));
        }
        Value::Object(m)
    }
}

/// The managed fields of one object.
#[derive(Debug, Clone, Default)]
pub(crate) struct Managed {
    entries: Vec<Entry>,
}

/// Who writes, and through which endpoint.
pub(crate) struct Writer<'a> {
    pub manager: &'a str,
    /// The API version of the request (`apps/v1`).
    pub api_version: &'a str,
    /// `""`, `"status"` or `"scale"`.
    pub subresource: &'a str,
    pub now: &'a str,
}

impl Managed {
    /// Reads `metadata.managedFields` (absent or empty: nothing is managed).
    pub(crate) fn decode(v: Option<&Value>) -> Result<Managed, String> {
        let mut out = Managed::default();
        let Some(list) = v else { return Ok(out) };
        let Some(list) = list.as_array() else {
            return Err("managedFields must be a list".into());
        };
        for e in list {
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let operation = match s("operation").as_str() {
                "Apply" => Operation::Apply,
                "Update" => Operation::Update,
                other => return Err(format!("unknown operation {other:?}")),
            };
            if s("fieldsType") != "FieldsV1" {
                return Err(format!("unknown fieldsType {:?}", s("fieldsType")));
            }
            let set = FieldSet::from_fields_v1(e.get("fieldsV1").unwrap_or(&json!({})))?;
            out.entries.push(Entry {
                manager: s("manager"),
                operation,
                api_version: s("apiVersion"),
                time: e.get("time").and_then(Value::as_str).map(str::to_string),
                subresource: s("subresource"),
                set,
            });
        }
        Ok(out)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The `managedFields` list, sorted as kube sorts it (operation, time, manager,
    /// API version, subresource).
    pub(crate) fn encode(&self) -> Value {
        let mut entries: Vec<&Entry> = self.entries.iter().filter(|e| !e.set.is_empty()).collect();
        entries.sort_by(|a, b| {
            a.operation
                .cmp(&b.operation)
                .then_with(|| a.time.cmp(&b.time))
                .then_with(|| a.manager.cmp(&b.manager))
                .then_with(|| a.api_version.cmp(&b.api_version))
                .then_with(|| a.subresource.cmp(&b.subresource))
        });
        Value::Array(entries.into_iter().map(Entry::to_json).collect())
    }

    /// Ownership of every field of an object that has none recorded, as kube gives it
    /// before an object's first apply.
    pub(crate) fn before_first_apply(
        zero: &Value,
        live: &Value,
        cur: &Cursor,
        w: &Writer,
    ) -> Managed {
        let mut m = Managed::default();
        m.record_update(
            zero,
            live,
            cur,
            &Writer {
                manager: BEFORE_FIRST_APPLY,
                ..*w
            },
        );
        m
    }

    /// Gives the entries the times they had in `before` (for a write that changed
    /// nothing).
    pub(crate) fn keep_times(&mut self, before: &Managed) {
        for e in &mut self.entries {
            if let Some(b) = before
                .entries
                .iter()
                .find(|b| b.same_manager(&e.manager, e.operation, &e.api_version, &e.subresource))
            {
                e.time = b.time.clone();
            }
        }
    }

    /// Records a write that is not an apply: `old` → `new`.
    pub(crate) fn record_update(&mut self, old: &Value, new: &Value, cur: &Cursor, w: &Writer) {
        let c = compare(old, new, cur);
        let changed = c.modified.union(&c.added).strip_server_fields();
        let removed = c.removed.strip_server_fields();
        for e in &mut self.entries {
            e.set = e.set.difference(&changed).difference(&removed);
        }
        if !changed.is_empty() {
            match self.entries.iter_mut().find(|e| {
                e.same_manager(w.manager, Operation::Update, w.api_version, w.subresource)
            }) {
                Some(e) => {
                    e.set = e.set.union(&changed);
                    e.time = Some(w.now.to_string());
                }
                None => self
                    .entries
                    .push(Entry::written(w, Operation::Update, changed)),
            }
        }
        self.entries.retain(|e| !e.set.is_empty());
    }

    /// Server-side apply of `config` on `live`: the new object (before defaulting and
    /// validation), with this set of managed fields updated. `Err` is the 409 of a
    /// conflict with another manager.
    pub(crate) fn apply(
        &mut self,
        live: &Value,
        config: &Value,
        cur: &Cursor,
        w: &Writer,
        force: bool,
    ) -> Result<Value, ApiError> {
        let me =
            |e: &Entry| e.same_manager(w.manager, Operation::Apply, w.api_version, w.subresource);
        let last = self
            .entries
            .iter()
            .find(|e| me(e))
            .map(|e| e.set.clone())
            .unwrap_or_default();
        let config_full = field_set(config, cur);
        let config_set = config_full.strip_server_fields();
        let mut merged = merge(live, config, cur);
        if !last.is_empty() {
            let owned = self
                .entries
                .iter()
                .filter(|e| !me(e))
                .fold(config_full.clone(), |acc, e| acc.union(&e.set));
            let prune = to_prune(&merged, &last, &owned, cur);
            remove_items(&mut merged, &prune, cur);
        }
        let c = compare(live, &merged, cur);
        let changed = c.modified.union(&c.added).strip_server_fields();
        let removed = c.removed.strip_server_fields();
        let conflicts: Vec<(String, Vec<String>)> = self
            .entries
            .iter()
            .filter(|e| !me(e))
            .filter_map(|e| {
                let x = e.set.intersection(&changed);
                (!x.is_empty()).then(|| {
                    let paths = x.paths().iter().map(|p| path_string(p)).collect();
                    (e.describe(), paths)
                })
            })
            .collect();
        if !conflicts.is_empty() && !force {
            return Err(conflict_error(conflicts));
        }
        for e in self.entries.iter_mut().filter(|e| !me(e)) {
            e.set = e.set.difference(&changed).difference(&removed);
        }
        let object_changed = !c.modified.is_empty() || !c.added.is_empty() || !c.removed.is_empty();
        match self.entries.iter_mut().find(|e| me(e)) {
            Some(e) => {
                e.set = config_set;
                e.api_version = w.api_version.to_string();
                if object_changed {
                    e.time = Some(w.now.to_string());
                }
            }
            None => self
                .entries
                .push(Entry::written(w, Operation::Apply, config_set)),
        }
        self.entries.retain(|e| !e.set.is_empty());
        Ok(merged)
    }
}

/// The 409 of an apply that would change fields other managers own.
fn conflict_error(mut conflicts: Vec<(String, Vec<String>)>) -> ApiError {
    conflicts.sort();
    let total: usize = conflicts.iter().map(|(_, p)| p.len()).sum();
    let causes: Vec<Value> = conflicts
        .iter()
        .flat_map(|(who, paths)| {
            paths.iter().map(move |p| {
                json!({"reason": "FieldManagerConflict", "message": format!("conflict with {who}"), "field": p})
            })
        })
        .collect();
    let message = if total == 1 {
        let (who, paths) = &conflicts[0];
        format!(
            "Apply failed with 1 conflict: conflict with {who}: {}",
            paths[0]
        )
    } else {
        let mut lines = Vec::new();
        for (who, paths) in &conflicts {
            lines.push(format!("conflicts with {who}:"));
            for p in paths {
                lines.push(format!("- {p}"));
            }
        }
        format!("Apply failed with {total} conflicts: {}", lines.join("\n"))
    };
    ApiError::new(409, "Conflict", message).with_details(json!({"causes": causes}))
}

/// The manager of a write that is not an apply: `fieldManager`, else the User-Agent up
/// to its first `/` (printable characters, at most 128 bytes).
pub(crate) fn manager_of(field_manager: Option<&str>, user_agent: &str) -> String {
    if let Some(m) = field_manager.filter(|m| !m.is_empty()) {
        return m.to_string();
    }
    let mut out = String::new();
    for c in user_agent.split('/').next().unwrap_or("").chars() {
        if c.is_control() {
            continue;
        }
        if out.len() + c.len_utf8() > 128 {
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Builtin, builtin_of};

    fn writer<'a>(manager: &'a str) -> Writer<'a> {
        Writer {
            manager,
            api_version: "apps/v1",
            subresource: "",
            now: "2025-01-01T00:00:00Z",
        }
    }

    #[test]
    fn apply_owns_prunes_and_conflicts() {
        let info = builtin_of(Builtin::Deployment);
        let cur = Cursor::root(&info);
        let mut m = Managed::default();
        let live = json!({"metadata":{"name":"d"},"spec":{"replicas":1}});
        let config =
            json!({"metadata":{"name":"d","labels":{"a":"1"}},"spec":{"replicas":2,"paused":true}});
        let out = m.apply(&live, &config, &cur, &writer("a"), false).unwrap();
        assert_eq!(out["spec"], json!({"replicas":2,"paused":true}));
        let enc = m.encode();
        assert_eq!(enc[0]["manager"], "a");
        assert_eq!(enc[0]["operation"], "Apply");
        assert_eq!(
            enc[0]["fieldsV1"],
            json!({"f:metadata":{"f:labels":{"f:a":{}}},"f:spec":{"f:paused":{},"f:replicas":{}}})
        );

        // another manager updates replicas: it takes the field over
        let mut scaled = out.clone();
        scaled["spec"]["replicas"] = json!(5);
        m.record_update(&out, &scaled, &cur, &writer("kubectl"));
        let enc = m.encode();
        assert_eq!(enc[1]["manager"], "kubectl");
        assert_eq!(enc[1]["fieldsV1"], json!({"f:spec":{"f:replicas":{}}}));

        // re-applying replicas 2 now conflicts
        let err = m
            .clone()
            .apply(&scaled, &config, &cur, &writer("a"), false)
            .unwrap_err();
        assert_eq!(err.code, 409);
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"kubectl\" using apps/v1: .spec.replicas"
        );
        // applying without paused and labels prunes them, and forcing takes replicas back
        let config2 = json!({"metadata":{"name":"d"},"spec":{"replicas":2}});
        let out2 = m
            .apply(&scaled, &config2, &cur, &writer("a"), true)
            .unwrap();
        assert_eq!(out2["spec"], json!({"replicas":2}));
        assert!(
            out2["metadata"]
                .get("labels")
                .is_none_or(|l| l == &json!({}))
        );
        let enc = m.encode();
        assert_eq!(enc.as_array().unwrap().len(), 1, "{enc}");
    }

    #[test]
    fn managers_from_user_agents() {
        assert_eq!(
            manager_of(None, "kubectl/v1.32.0 (linux/amd64) kubernetes/abc"),
            "kubectl"
        );
        assert_eq!(manager_of(Some("x"), "kubectl/v1"), "x");
        assert_eq!(manager_of(Some(""), ""), "");
    }
}
