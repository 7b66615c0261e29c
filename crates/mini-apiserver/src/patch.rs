//! JSON merge patch (RFC 7386), JSON patch (RFC 6902) and a strategic merge patch
//! for the built-in types.

use serde_json::{Map, Value};

use crate::fields::builtin_list_type;

/// An error applying a patch: `Decode` is a malformed patch (400), `Apply` a patch
/// that does not apply to the object (422).
#[derive(Debug, PartialEq)]
pub(crate) enum PatchError {
    Decode(String),
    Apply(String),
}

/// RFC 7386.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(pm) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(tm) = target {
        for (k, pv) in pm {
            if pv.is_null() {
                tm.remove(k);
            } else {
                let entry = tm.entry(k.clone()).or_insert(Value::Null);
                merge_patch(entry, pv);
            }
        }
    }
}

fn unescape_token(t: &str) -> String {
    t.replace("~1", "/").replace("~0", "~")
}

fn pointer_tokens(path: &str) -> Result<Vec<String>, PatchError> {
    if path.is_empty() {
        return Ok(vec![]);
    }
    if !path.starts_with('/') {
        return Err(PatchError::Apply(format!(
            "JSON pointer must be empty or start with a \"/\": {path:?}"
        )));
    }
    Ok(path[1..].split('/').map(unescape_token).collect())
}

fn missing(op: &str, path: &str) -> PatchError {
    PatchError::Apply(format!(
        "{op} operation does not apply: doc is missing path: {path:?}: missing value"
    ))
}

/// Parent container and last token of a path.
fn parent_mut<'a>(
    doc: &'a mut Value,
    tokens: &[String],
    op: &str,
    path: &str,
) -> Result<&'a mut Value, PatchError> {
    let mut cur = doc;
    for t in &tokens[..tokens.len() - 1] {
        cur = child_mut(cur, t).ok_or_else(|| missing(op, path))?;
    }
    Ok(cur)
}

fn get<'a>(doc: &'a Value, path: &str, op: &str) -> Result<&'a Value, PatchError> {
    let mut cur = doc;
    for t in &pointer_tokens(path)? {
        cur = child(cur, t).ok_or_else(|| missing(op, path))?;
    }
    Ok(cur)
}

/// The member or element a pointer token names.
fn child<'a>(v: &'a Value, token: &str) -> Option<&'a Value> {
    match v {
        Value::Object(m) => m.get(token),
        Value::Array(a) => a.get(token.parse::<usize>().ok()?),
        _ => None,
    }
}

fn child_mut<'a>(v: &'a mut Value, token: &str) -> Option<&'a mut Value> {
    match v {
        Value::Object(m) => m.get_mut(token),
        Value::Array(a) => a.get_mut(token.parse::<usize>().ok()?),
        _ => None,
    }
}

fn add(doc: &mut Value, path: &str, value: Value, op: &str) -> Result<(), PatchError> {
    let tokens = pointer_tokens(path)?;
    if tokens.is_empty() {
        *doc = value;
        return Ok(());
    }
    let last = tokens[tokens.len() - 1].clone();
    match parent_mut(doc, &tokens, op, path)? {
        Value::Object(m) => {
            m.insert(last, value);
            Ok(())
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
                return Ok(());
            }
            let i: usize = last.parse().map_err(|_| missing(op, path))?;
            if i > a.len() {
                return Err(PatchError::Apply(format!(
                    "{op} operation does not apply: index out of bounds: {i}"
                )));
            }
            a.insert(i, value);
            Ok(())
        }
        _ => Err(missing(op, path)),
    }
}

fn remove(doc: &mut Value, path: &str, op: &str) -> Result<Value, PatchError> {
    let tokens = pointer_tokens(path)?;
    if tokens.is_empty() {
        return Err(missing(op, path));
    }
    let last = tokens[tokens.len() - 1].clone();
    match parent_mut(doc, &tokens, op, path)? {
        Value::Object(m) => m.shift_remove(&last).ok_or_else(|| missing(op, path)),
        Value::Array(a) => {
            let i: usize = last.parse().map_err(|_| missing(op, path))?;
            if i >= a.len() {
                return Err(missing(op, path));
            }
            Ok(a.remove(i))
        }
        _ => Err(missing(op, path)),
    }
}

/// RFC 6902.
pub(crate) fn json_patch(doc: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let Value::Array(ops) = patch else {
        return Err(PatchError::Decode(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
            match patch {
                Value::Object(_) => "object",
                Value::String(_) => "string",
                Value::Number(_) => "number",
                Value::Bool(_) => "bool",
                _ => "null",
            }
        )));
    };
    for op in ops {
        let Value::Object(o) = op else {
            return Err(PatchError::Decode(
                "json: cannot unmarshal non-object into Go value of type jsonpatch.Operation"
                    .into(),
            ));
        };
        let kind = o.get("op").and_then(Value::as_str).unwrap_or("");
        let path = o.get("path").and_then(Value::as_str);
        let need_path = || {
            path.ok_or_else(|| PatchError::Apply(format!("{kind} operation missing path field")))
        };
        match kind {
            "add" => {
                let value = o
                    .get("value")
                    .cloned()
                    .ok_or_else(|| PatchError::Apply("add operation missing value".into()))?;
                add(doc, need_path()?, value, "add")?;
            }
            "remove" => {
                remove(doc, need_path()?, "remove")?;
            }
            "replace" => {
                let p = need_path()?;
                let value = o
                    .get("value")
                    .cloned()
                    .ok_or_else(|| PatchError::Apply("replace operation missing value".into()))?;
                get(doc, p, "replace")?;
                if pointer_tokens(p)?.is_empty() {
                    *doc = value;
                } else {
                    remove(doc, p, "replace")?;
                    add(doc, p, value, "replace")?;
                }
            }
            "move" | "copy" => {
                let from = o.get("from").and_then(Value::as_str).ok_or_else(|| {
                    PatchError::Apply(format!("{kind} operation missing from field"))
                })?;
                let p = need_path()?;
                let v = if kind == "move" {
                    remove(doc, from, kind)?
                } else {
                    get(doc, from, kind)?.clone()
                };
                add(doc, p, v, kind)?;
            }
            "test" => {
                let p = need_path()?;
                let want = o.get("value").cloned().unwrap_or(Value::Null);
                let ok = match get(doc, p, "test") {
                    Ok(v) => crate::schema::json_equal(v, &want),
                    Err(_) => want.is_null(),
                };
                if !ok {
                    return Err(PatchError::Apply(format!(
                        "testing value {p} failed: test failed"
                    )));
                }
            }
            other => {
                return Err(PatchError::Apply(format!("Unexpected kind: {other}")));
            }
        }
    }
    Ok(())
}

/// A strategic merge patch for the built-in kinds: merge-patch semantics plus the
/// `$patch`, `$retainKeys`, `$setElementOrder/` and `$deleteFromPrimitiveList/`
/// directives, and merging by key of the lists that have a merge strategy.
pub(crate) fn strategic_merge_patch(
    target: &mut Value,
    patch: &Value,
    path: &str,
) -> Result<(), PatchError> {
    let Value::Object(pm) = patch else {
        return Err(PatchError::Decode(
            "invalid JSON document: a strategic merge patch must be an object".into(),
        ));
    };
    match pm.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut m = pm.clone();
            m.remove("$patch");
            *target = Value::Object(m);
            return Ok(());
        }
        Some("delete") => {
            *target = Value::Null;
            return Ok(());
        }
        Some(other) => {
            return Err(PatchError::Decode(format!(
                "Unknown patch type: {other} in map: {}",
                patch
            )));
        }
        None => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(tm) = target else {
        return Ok(());
    };
    for (k, pv) in pm {
        if k == "$retainKeys" || k.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(cur)), Value::Array(del)) = (tm.get_mut(field), pv) {
                cur.retain(|x| !del.contains(x));
            }
            continue;
        }
        let child_path = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        if pv.is_null() {
            tm.remove(k);
            continue;
        }
        match pv {
            Value::Object(_) => {
                let entry = tm.entry(k.clone()).or_insert(Value::Null);
                strategic_merge_patch(entry, pv, &child_path)?;
                if entry.is_null() {
                    tm.remove(k);
                }
            }
            Value::Array(items) => match (
                builtin_list_type(&child_path).strategic_merge_key(),
                tm.get_mut(k),
            ) {
                (Some(""), Some(Value::Array(cur))) => {
                    for it in items {
                        if !cur.contains(it) {
                            cur.push(it.clone());
                        }
                    }
                }
                (Some(key), Some(Value::Array(cur))) if !key.is_empty() => {
                    for it in items {
                        let delete = it.get("$patch").and_then(Value::as_str) == Some("delete");
                        let kv = it.get(key).cloned();
                        let pos = cur
                            .iter()
                            .position(|c| kv.is_some() && c.get(key) == kv.as_ref());
                        match (pos, delete) {
                            (Some(i), true) => {
                                cur.remove(i);
                            }
                            (None, true) => {}
                            (Some(i), false) => {
                                strategic_merge_patch(&mut cur[i], it, &child_path)?
                            }
                            (None, false) => cur.push(it.clone()),
                        }
                    }
                }
                _ => {
                    tm.insert(k.clone(), pv.clone());
                }
            },
            _ => {
                tm.insert(k.clone(), pv.clone());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge() {
        let mut t = json!({"a":{"b":1,"c":2},"d":[1,2]});
        merge_patch(&mut t, &json!({"a":{"b":null,"e":3},"d":[3]}));
        assert_eq!(t, json!({"a":{"c":2,"e":3},"d":[3]}));
    }

    #[test]
    fn json_patch_ops() {
        let mut t = json!({"a":{"b":[1,2]},"x/y":1});
        json_patch(
            &mut t,
            &json!([
                {"op":"add","path":"/a/b/-","value":3},
                {"op":"replace","path":"/a/b/0","value":0},
                {"op":"remove","path":"/x~1y"},
                {"op":"copy","from":"/a/b","path":"/c"},
                {"op":"move","from":"/c","path":"/d"},
                {"op":"test","path":"/d/2","value":3}
            ]),
        )
        .unwrap();
        assert_eq!(t, json!({"a":{"b":[0,2,3]},"d":[0,2,3]}));
        assert!(matches!(
            json_patch(&mut t, &json!([{"op":"test","path":"/d/0","value":9}])),
            Err(PatchError::Apply(_))
        ));
        assert!(matches!(
            json_patch(&mut t, &json!([{"op":"replace","path":"/nope","value":9}])),
            Err(PatchError::Apply(_))
        ));
        assert!(matches!(
            json_patch(&mut t, &json!({})),
            Err(PatchError::Decode(_))
        ));
    }

    #[test]
    fn strategic() {
        let mut t = json!({"metadata":{"finalizers":["a"],"labels":{"x":"1"}},"status":{"conditions":[{"type":"Ready","status":"False"}]}});
        strategic_merge_patch(
            &mut t,
            &json!({"$setElementOrder/conditions":[{"type":"Ready"}],
                "metadata":{"finalizers":["b"],"labels":{"x":null,"y":"2"}},
                "status":{"conditions":[{"type":"Ready","status":"True"},{"type":"Other","status":"True"}]}}),
            "",
        )
        .unwrap();
        assert_eq!(
            t,
            json!({"metadata":{"finalizers":["a","b"],"labels":{"y":"2"}},"status":{"conditions":[{"type":"Ready","status":"True"},{"type":"Other","status":"True"}]}})
        );
        strategic_merge_patch(
            &mut t,
            &json!({"metadata":{"labels":{"$patch":"replace","z":"3"}}}),
            "",
        )
        .unwrap();
        assert_eq!(t["metadata"]["labels"], json!({"z":"3"}));
    }
}
