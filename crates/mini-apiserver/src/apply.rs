//! Server-side apply (`PATCH` with `application/apply-patch+yaml`) and the writes of
//! a Deployment's `scale` subresource.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::errors::{ApiError, BadValue, FieldError, FieldErrorType};
use crate::fields::Cursor;
use crate::managed::{Managed, Writer};
use crate::ops::{
    Decode, FieldValidation, Manage, Outcome, Target, WriteOpts, check_name_and_namespace,
    create_object, decode, for_version, now_rfc3339, reset_fields, update_existing,
    without_managed_fields,
};
use crate::schema::json_equal;
use crate::store::{State, meta_str};

/// Reads an apply body: YAML, of which JSON is a special case. As kube-apiserver reads
/// it, YAML 1.1 style: `0400` is an octal number (256).
fn parse_apply_body(body: &[u8]) -> Result<Value, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    let mut options = serde_saphyr::Options::default();
    options.legacy_octal_numbers = true;
    let v: Value = serde_saphyr::from_str_with_options(text, options)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    if !v.is_object() {
        return Err(ApiError::bad_request(format!(
            "error decoding YAML: the applied configuration must be an object, not {}",
            match v {
                Value::Null => "null",
                Value::Array(_) => "a list",
                _ => "a scalar",
            }
        )));
    }
    Ok(v)
}

/// Server-side apply of a configuration to the object `t` names (created if absent).
pub(crate) fn apply(
    st: &mut State,
    t: &Target,
    body: &[u8],
    opts: WriteOpts,
    force: bool,
) -> Result<Outcome, ApiError> {
    let info = &t.info;
    if t.scale {
        return Err(ApiError::unsupported_media_type(&[
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
        ]));
    }
    let config = parse_apply_body(body)?;
    let raw = config.to_string();
    for (field, label) in [("kind", "Kind"), ("apiVersion", "apiVersion")] {
        if config
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            return Err(ApiError::bad_request(format!(
                "Object '{label}' is missing in '{raw}'"
            )));
        }
    }
    if config
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .is_some_and(|m| !m.is_null())
    {
        return Err(ApiError::bad_request("metadata.managedFields must be nil"));
    }
    let (mut config, warnings) = decode(info, config, opts.field_validation, &raw, Decode::Config)?;
    check_name_and_namespace(t, &config)?;
    reset_fields(t, &mut config);
    let api_version = info.api_version();
    let now = now_rfc3339();
    let w = Writer {
        manager: &opts.manager,
        api_version: &api_version,
        subresource: if t.status { "status" } else { "" },
        now: &now,
    };
    let cur = Cursor::root(info);
    let full = |v: Value| {
        let raw = v.to_string();
        decode(info, v, FieldValidation::Ignore, &raw, Decode::Full).map(|(o, _)| o)
    };
    match st.get(
        &info.collection(),
        &crate::store::object_key(&t.namespace, &t.name),
    ) {
        None => {
            if t.status {
                return Err(ApiError::not_found(&info.group, &info.plural, &t.name));
            }
            let mut managed = Managed::default();
            let obj = managed.apply(&json!({}), &config, &cur, &w, force)?;
            create_object(st, t, full(obj)?, warnings, opts, Manage::Applied(managed))
        }
        Some(existing) => {
            let live = without_managed_fields(&for_version(info, &existing));
            let mut managed = Managed::decode(
                existing
                    .get("metadata")
                    .and_then(|m| m.get("managedFields")),
            )
            .unwrap_or_default();
            if managed.is_empty() {
                let mut owned = live.clone();
                reset_fields(t, &mut owned);
                managed = Managed::before_first_apply(
                    &crate::kinds::zero_object(info.builtin),
                    &owned,
                    &cur,
                    &w,
                );
            }
            let before = managed.clone();
            let merged = full(managed.apply(&live, &config, &cur, &w, force)?)?;
            if json_equal(&without_managed_fields(&merged), &live) {
                // Nothing changes once defaulted: the apply is a no-op, its time too.
                managed.keep_times(&before);
            }
            update_existing(
                st,
                t,
                merged,
                existing,
                opts,
                warnings,
                Manage::Applied(managed),
            )
        }
    }
}

/// PUT of a Deployment's Scale.
pub(crate) fn update_scale(
    st: &mut State,
    t: &Target,
    body: &[u8],
    opts: WriteOpts,
) -> Result<Outcome, ApiError> {
    let scale: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
    })?;
    let info = &t.info;
    let existing = st
        .get(
            &info.collection(),
            &crate::store::object_key(&t.namespace, &t.name),
        )
        .ok_or_else(|| ApiError::not_found(&info.group, &info.plural, &t.name))?;
    scale_to(st, t, &scale, existing, opts)
}

/// Sets a Deployment's replicas from a Scale object (PUT or PATCH of `scale`).
pub(crate) fn scale_to(
    st: &mut State,
    t: &Target,
    scale: &Value,
    existing: Arc<Value>,
    opts: WriteOpts,
) -> Result<Outcome, ApiError> {
    let info = &t.info;
    let s = |k: &str| scale.get(k).and_then(Value::as_str).unwrap_or("");
    if !s("apiVersion").is_empty() && s("apiVersion") != "autoscaling/v1" {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({}) does not match the expected API version (autoscaling/v1)",
            s("apiVersion")
        )));
    }
    if !s("kind").is_empty() && s("kind") != "Scale" {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({}) does not match the expected kind (Scale)",
            s("kind")
        )));
    }
    let name = meta_str(scale, "name");
    if !name.is_empty() && name != t.name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({})",
            t.name
        )));
    }
    let replicas = scale.get("spec").and_then(|s| s.get("replicas"));
    let n = match replicas {
        None | Some(Value::Null) => 0,
        Some(v) => v.as_i64().ok_or_else(|| {
            ApiError::bad_request(format!(
                "Scale in version \"v1\" cannot be handled as a Scale: json: cannot unmarshal {v} into Go struct field ScaleSpec.spec.replicas of type int32"
            ))
        })?,
    };
    if n < 0 {
        return Err(ApiError::invalid(
            "autoscaling",
            "Scale",
            &t.name,
            &[FieldError::new(
                FieldErrorType::Invalid,
                "spec.replicas",
                BadValue::Raw(n.to_string()),
                "must be greater than or equal to 0",
            )],
        ));
    }
    let rv = meta_str(scale, "resourceVersion");
    if !rv.is_empty() && rv != meta_str(&existing, "resourceVersion") {
        return Err(ApiError::modified_conflict(
            &info.group,
            &info.plural,
            &t.name,
        ));
    }
    let mut obj = (*for_version(info, &existing)).clone();
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("replicas".into(), json!(n));
    }
    update_existing(st, t, obj, existing, opts, vec![], Manage::Update)
}
