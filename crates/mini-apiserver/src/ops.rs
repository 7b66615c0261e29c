//! The verbs (get, list, create, update, patch, delete, deletecollection) on the store,
//! with the decoding, defaulting, validation and strategies of kube-apiserver.

use std::sync::Arc;

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::errors::{ApiError, BadValue, FieldError, FieldErrorType, go_quote};
use crate::fields::Cursor;
use crate::managed::{Managed, Writer};
use crate::patch::{PatchError, json_patch, merge_patch, strategic_merge_patch};
use crate::registry::{Builtin, CrdRuntime, ResourceInfo, builtin_of, compile_crd, default_crd};
use crate::schema::json_equal;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::{State, meta_str, object_key, set_meta};
use crate::validation::{
    coerce_object_meta, config_key, validate_object_meta, validate_object_meta_update,
};

/// The query string of a request.
#[derive(Debug, Default, Clone)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let h = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match h {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Query {
    pub(crate) fn parse(q: Option<&str>) -> Query {
        let pairs = q
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (percent_decode(k), percent_decode(v)),
                None => (percent_decode(p), String::new()),
            })
            .collect();
        Query { pairs }
    }

    pub(crate) fn get(&self, k: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(pk, _)| pk == k)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn all(&self, k: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(pk, _)| pk == k)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub(crate) fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1" | "True" | ""))
    }
}

/// `fieldValidation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

/// Options of a write.
#[derive(Debug, Clone)]
pub(crate) struct WriteOpts {
    pub dry_run: bool,
    pub field_validation: FieldValidation,
    /// Establish new CRDs at once (no establish delay).
    pub establish_now: bool,
    /// Delete namespaces and CRDs at once (no termination phase).
    pub delete_now: bool,
    /// The field manager the write is recorded under.
    pub manager: String,
}

impl WriteOpts {
    /// The options of a write from its query (`dryRun`, `fieldValidation`,
    /// `fieldManager`) and User-Agent. `options_kind` names the options in errors
    /// (`CreateOptions`, `PatchOptions`...).
    pub(crate) fn from_query(
        q: &Query,
        options_kind: &str,
        user_agent: &str,
    ) -> Result<WriteOpts, ApiError> {
        let mut dry_run = false;
        let invalid = |e: FieldError| ApiError::invalid("meta.k8s.io", options_kind, "", &[e]);
        for d in q.all("dryRun") {
            if d == "All" {
                dry_run = true;
            } else {
                return Err(invalid(FieldError::not_supported(
                    "dryRun",
                    BadValue::Raw(format!("[]string{{{}}}", go_quote(d))),
                    &["All".to_string()],
                )));
            }
        }
        let field_validation = match q.get("fieldValidation") {
            None | Some("") | Some("Warn") => FieldValidation::Warn,
            Some("Ignore") => FieldValidation::Ignore,
            Some("Strict") => FieldValidation::Strict,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "fieldValidation: Unsupported value: {}: supported values: \"Ignore\", \"Strict\", \"Warn\"",
                    go_quote(other)
                )));
            }
        };
        let field_manager = q.get("fieldManager").unwrap_or("");
        if field_manager.len() > 128 {
            return Err(invalid(FieldError::new(
                FieldErrorType::TooLong,
                "fieldManager",
                BadValue::Omit,
                "may not be more than 128 bytes",
            )));
        }
        if field_manager.chars().any(char::is_control) {
            return Err(invalid(FieldError::invalid_str(
                "fieldManager",
                field_manager,
                "must only contain printable characters",
            )));
        }
        Ok(WriteOpts {
            dry_run,
            field_validation,
            establish_now: false,
            delete_now: true,
            manager: crate::managed::manager_of(Some(field_manager), user_agent),
        })
    }
}

/// What a request targets.
pub(crate) struct Target {
    pub info: Arc<ResourceInfo>,
    /// The namespace of the URL ("" when none).
    pub namespace: String,
    /// The object name ("" for the collection).
    pub name: String,
    /// The `status` subresource.
    pub status: bool,
    /// The `scale` subresource.
    pub scale: bool,
}

impl Target {
    fn key(&self) -> String {
        object_key(&self.namespace, &self.name)
    }

    /// The subresource, as managedFields name it.
    fn subresource(&self) -> &'static str {
        if self.status {
            "status"
        } else if self.scale {
            "scale"
        } else {
            ""
        }
    }
}

/// A response body.
pub(crate) enum Body {
    Json(Value),
    /// Pre-serialized JSON.
    Raw(Vec<u8>),
}

/// The result of a verb.
pub(crate) struct Outcome {
    pub status: u16,
    pub body: Body,
    pub warnings: Vec<String>,
    /// The store was changed.
    pub wrote: bool,
    /// Work the server does later.
    pub after: Vec<Deferred>,
}

impl Outcome {
    fn ok(status: u16, body: Value, warnings: Vec<String>, wrote: bool) -> Outcome {
        Outcome {
            status,
            body: Body::Json(body),
            warnings,
            wrote,
            after: Vec::new(),
        }
    }
}

/// Work a write leaves for later, as kube's controllers do it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Deferred {
    /// Mark a new CRD Established.
    Establish { name: String, uid: String },
    /// Finish deleting a terminating namespace or CRD (and what it holds).
    Purge {
        builtin: Builtin,
        name: String,
        uid: String,
    },
}

/// How a write updates `metadata.managedFields`.
pub(crate) enum Manage {
    /// Record an `Update` by the write's manager.
    Update,
    /// Store what an apply computed.
    Applied(Managed),
}

pub(crate) fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Sorts object keys recursively, as Go encodes a map[string]interface{}.
pub(crate) fn sort_keys(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.sort_keys();
            for (_, x) in m.iter_mut() {
                sort_keys(x);
            }
        }
        Value::Array(a) => {
            for x in a {
                sort_keys(x);
            }
        }
        _ => {}
    }
}

/// The object as served in the version of `info` (conversion strategy None).
/// An object as a read through `info` serves it: in that version, and for custom resources
/// pruned and defaulted by that version's schema, as kube-apiserver does on read from etcd (a
/// CRD updated since the object was written changes what readers see).
pub(crate) fn for_version(info: &ResourceInfo, obj: &Arc<Value>) -> Arc<Value> {
    let want = info.api_version();
    let same_version = obj.get("apiVersion").and_then(Value::as_str) == Some(want.as_str());
    if same_version && !info.is_custom() {
        return Arc::clone(obj);
    }
    let mut v = (**obj).clone();
    if let Some(m) = v.as_object_mut() {
        m.insert("apiVersion".into(), json!(want));
    }
    if info.is_custom() {
        crate::schema::prune(&info.schema, &mut v);
        info.schema.apply_defaults(&mut v);
        if *obj.as_ref() == v {
            return Arc::clone(obj);
        }
    }
    Arc::new(v)
}

/// Objects are stored in the storage version of their resource.
fn to_storage_version(info: &ResourceInfo, obj: &mut Value) {
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), json!(info.storage_api_version()));
    }
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let bytes = uuid::Uuid::new_v4();
    bytes.as_bytes()[..5]
        .iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect()
}

fn cannot_handle(info: &ResourceInfo, msg: &str) -> ApiError {
    ApiError::bad_request(format!(
        "{} in version {} cannot be handled as a {}: {msg}",
        info.kind,
        go_quote(&info.version),
        info.kind
    ))
}

fn go_json_type(openapi: &str) -> &'static str {
    match openapi {
        "boolean" => "bool",
        "integer" | "number" => "number",
        "object" => "object",
        "array" => "array",
        _ => "string",
    }
}

fn go_field_type(want: &str) -> String {
    match want {
        "boolean" => "bool".into(),
        "integer" => "int64".into(),
        "number" => "float64".into(),
        "object" => "map[string]string".into(),
        "array" => "[]string".into(),
        "integer,string" => "intstr.IntOrString".into(),
        other => other.into(),
    }
}

/// Decodes base64 like Go's StdEncoding (which skips CR and LF) and re-encodes it.
fn normalize_base64(s: &str) -> Result<String, String> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let cleaned: String = s.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    match engine.decode(cleaned.as_bytes()) {
        Ok(bytes) => Ok(base64::engine::general_purpose::STANDARD.encode(bytes)),
        Err(e) => {
            let at = match e {
                base64::DecodeError::InvalidByte(off, _)
                | base64::DecodeError::InvalidLastSymbol(off, _) => off,
                base64::DecodeError::InvalidLength(len) => len,
                base64::DecodeError::InvalidPadding => cleaned.len(),
            };
            Err(format!("illegal base64 data at input byte {at}"))
        }
    }
}

/// How much of the decoding to do.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decode {
    /// Everything: an object about to be stored.
    Full,
    /// No defaulting and no normalization of built-in kinds: an applied
    /// configuration, whose fields are exactly what its manager owns.
    Config,
}

/// The request decoder: type meta, ObjectMeta, pruning, null pruning, defaulting, typed
/// decoding of built-in kinds, strict field validation. Returns the object and the
/// warnings to send.
pub(crate) fn decode(
    info: &ResourceInfo,
    v: Value,
    fv: FieldValidation,
    raw: &str,
    mode: Decode,
) -> Result<(Value, Vec<String>), ApiError> {
    let Value::Object(mut m) = v else {
        return Err(ApiError::bad_request(format!(
            "couldn't get version/kind; json parse error: json: cannot unmarshal {} into Go value of type struct {{ APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }}",
            match v {
                Value::Array(_) => "array",
                Value::String(_) => "string",
                Value::Number(_) => "number",
                Value::Bool(_) => "bool",
                _ => "null",
            }
        )));
    };
    let kind = m
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let api_version = m
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let want_av = info.api_version();
    if kind.is_empty() {
        if info.is_custom() {
            return Err(ApiError::bad_request(format!(
                "Object 'Kind' is missing in '{raw}'"
            )));
        }
        m.insert("kind".into(), json!(info.kind));
    }
    if api_version.is_empty() {
        if info.is_custom() {
            return Err(ApiError::bad_request(format!(
                "Object 'apiVersion' is missing in '{raw}'"
            )));
        }
        m.insert("apiVersion".into(), json!(want_av));
    } else if api_version != want_av {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({want_av})"
        )));
    }
    if !kind.is_empty() && kind != info.kind && !info.is_custom() {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            info.kind
        )));
    }
    let (meta, mut unknown) =
        coerce_object_meta(m.get("metadata")).map_err(|e| cannot_handle(info, &e))?;
    // rebuild with apiVersion, kind and metadata first
    let mut out = Map::new();
    if info.is_custom() {
        out.insert(
            "apiVersion".into(),
            m.remove("apiVersion").unwrap_or(json!(want_av)),
        );
        out.insert("kind".into(), m.remove("kind").unwrap_or(json!(info.kind)));
    } else {
        out.insert("kind".into(), m.remove("kind").unwrap_or(json!(info.kind)));
        out.insert(
            "apiVersion".into(),
            m.remove("apiVersion").unwrap_or(json!(want_av)),
        );
    }
    m.remove("metadata");
    out.insert("metadata".into(), Value::Object(meta));
    out.extend(m);
    let mut obj = Value::Object(out);

    unknown.extend(crate::schema::prune(&info.schema, &mut obj));
    info.schema.prune_nulls(&mut obj);
    if mode == Decode::Full {
        info.schema.apply_defaults(&mut obj);
    }

    if !info.is_custom() {
        if let Some(e) = crate::schema::validate(&info.schema, &obj)
            .into_iter()
            .find(|e| e.typ == FieldErrorType::TypeInvalid)
        {
            // the bad value of a type error is the JSON type, quoted
            let got = match &e.value {
                BadValue::Str(s) => s.clone(),
                BadValue::Raw(s) => s.trim_matches('"').to_string(),
                BadValue::Omit => String::new(),
            };
            let want = e
                .detail
                .split(" must be of type ")
                .nth(1)
                .and_then(|r| r.split(':').next())
                .unwrap_or("string");
            return Err(cannot_handle(
                info,
                &format!(
                    "json: cannot unmarshal {} into Go struct field {}.{} of type {}",
                    go_json_type(&got),
                    info.kind,
                    e.field,
                    go_field_type(want)
                ),
            ));
        }
        // omitempty maps of the typed kinds
        if let Some(m) = obj.as_object_mut() {
            for f in ["data", "binaryData", "stringData"] {
                if m.get(f)
                    .is_some_and(|v| v.as_object().is_some_and(Map::is_empty))
                {
                    m.remove(f);
                }
            }
        }
        match info.builtin {
            _ if mode == Decode::Config => {}
            Some(Builtin::Secret) => decode_secret(info, &mut obj)?,
            Some(Builtin::ConfigMap) => {
                if let Some(Value::Object(bd)) = obj.get_mut("binaryData") {
                    for (_, v) in bd.iter_mut() {
                        let s = v.as_str().unwrap_or("");
                        *v = json!(normalize_base64(s).map_err(|e| cannot_handle(info, &e))?);
                    }
                }
            }
            Some(Builtin::Crd) => default_crd(&mut obj),
            Some(b) => crate::kinds::apply_defaults(b, &mut obj),
            None => {}
        }
    }
    if fv == FieldValidation::Strict && !unknown.is_empty() {
        let list: Vec<String> = unknown
            .iter()
            .map(|u| format!("unknown field {}", go_quote(u)))
            .collect();
        return Err(ApiError::bad_request(format!(
            "strict decoding error: {}",
            list.join(", ")
        )));
    }
    let warnings = if fv == FieldValidation::Warn {
        unknown
            .iter()
            .map(|u| format!("unknown field {}", go_quote(u)))
            .collect()
    } else {
        vec![]
    };
    if info.is_custom() {
        sort_keys(&mut obj);
    }
    Ok((obj, warnings))
}

/// Secret: `data` must be base64; `stringData` is merged into `data`; `type` defaults
/// to Opaque.
fn decode_secret(info: &ResourceInfo, obj: &mut Value) -> Result<(), ApiError> {
    let Some(m) = obj.as_object_mut() else {
        return Ok(());
    };
    let mut data = match m.remove("data") {
        Some(Value::Object(d)) => d,
        _ => Map::new(),
    };
    for (_, v) in data.iter_mut() {
        let s = v.as_str().unwrap_or("");
        *v = json!(normalize_base64(s).map_err(|e| cannot_handle(info, &e))?);
    }
    if let Some(Value::Object(sd)) = m.remove("stringData") {
        for (k, v) in sd {
            let s = v.as_str().unwrap_or("");
            data.insert(
                k,
                json!(base64::engine::general_purpose::STANDARD.encode(s.as_bytes())),
            );
        }
    }
    if !data.is_empty() {
        data.sort_keys();
        m.insert("data".into(), Value::Object(data));
    }
    if m.get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        m.insert("type".into(), json!("Opaque"));
    }
    Ok(())
}

pub(crate) fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj.as_object_mut()
            .expect("objects are JSON objects")
            .insert("metadata".into(), json!({}));
    }
    obj.get_mut("metadata")
        .and_then(Value::as_object_mut)
        .expect("metadata was just ensured")
}

fn meta_of(obj: &Value) -> Map<String, Value> {
    obj.get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// Rebuilds `metadata` in Go's field order.
fn order_meta(obj: &mut Value, custom: bool) {
    let m = meta_mut(obj);
    let mut out = Map::new();
    for f in crate::validation::OBJECT_META_FIELDS {
        if let Some(v) = m.remove(f) {
            out.insert(f.to_string(), v);
        }
    }
    out.extend(std::mem::take(m));
    if custom {
        out.sort_keys();
    }
    *m = out;
}

fn namespace_exists(st: &State, ns: &str) -> bool {
    st.get("/namespaces", ns).is_some()
}

/// Validation of the object itself (create rules), per kind.
fn validate_kind(info: &ResourceInfo, obj: &Value) -> Vec<FieldError> {
    let meta = meta_of(obj);
    let mut errs = validate_object_meta(&meta, info.namespaced, info.name_rule());
    match info.builtin {
        None => {
            let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
            if kind != info.kind {
                errs.push(FieldError::invalid_str(
                    "kind",
                    kind,
                    format!("must be {}", info.kind),
                ));
                return errs;
            }
            errs.extend(crate::schema::validate(&info.schema, obj));
        }
        Some(Builtin::ConfigMap) | Some(Builtin::Secret) => {
            let mut size = 0usize;
            let mut keys: Vec<String> = Vec::new();
            for field in ["data", "binaryData"] {
                if let Some(Value::Object(d)) = obj.get(field) {
                    for (k, v) in d {
                        for m in config_key(k) {
                            errs.push(FieldError::invalid_str(format!("{field}[{k}]"), k, m));
                        }
                        if keys.contains(k) {
                            errs.push(FieldError::invalid_str(
                                format!("{field}[{k}]"),
                                k,
                                "duplicate of key present in data",
                            ));
                        }
                        keys.push(k.clone());
                        size += v.as_str().map_or(0, str::len);
                    }
                }
            }
            if size > 1024 * 1024 {
                let field = if info.builtin == Some(Builtin::Secret) {
                    "data"
                } else {
                    ""
                };
                errs.push(FieldError::new(
                    FieldErrorType::TooLong,
                    field,
                    BadValue::Str(String::new()),
                    "may not be more than 1048576 bytes",
                ));
            }
        }
        Some(b) => errs.extend(crate::kinds::validate(b, obj)),
    }
    errs
}

/// Extra rules of an update (immutable fields).
fn validate_kind_update(info: &ResourceInfo, new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(&meta_of(new), &meta_of(old));
    match info.builtin {
        Some(Builtin::ConfigMap) | Some(Builtin::Secret) => {
            if old.get("immutable").and_then(Value::as_bool) == Some(true) {
                let msg = "field is immutable when `immutable` is set";
                if new.get("immutable").and_then(Value::as_bool) != Some(true) {
                    errs.push(FieldError::forbidden("immutable", msg));
                }
                for f in ["data", "binaryData"] {
                    if new.get(f) != old.get(f) {
                        errs.push(FieldError::forbidden(f, msg));
                    }
                }
            }
            if info.builtin == Some(Builtin::Secret) && new.get("type") != old.get("type") {
                errs.push(FieldError::invalid_str(
                    "type",
                    new.get("type").and_then(Value::as_str).unwrap_or(""),
                    "field is immutable",
                ));
            }
        }
        Some(Builtin::Crd) => {
            let scope = |v: &Value| {
                v.get("spec")
                    .and_then(|s| s.get("scope"))
                    .cloned()
                    .unwrap_or(Value::Null)
            };
            if scope(new) != scope(old) {
                errs.push(FieldError::invalid_str(
                    "spec.scope",
                    scope(new).as_str().unwrap_or(""),
                    "field is immutable",
                ));
            }
        }
        Some(b) => errs.extend(crate::kinds::validate_update(b, new, old)),
        None => {}
    }
    errs
}

fn invalid_for(info: &ResourceInfo, name: &str, errs: &[FieldError]) -> ApiError {
    ApiError::invalid(&info.group, &info.kind, name, errs)
}

/// The string at a JSON pointer of an object, or "".
fn text_at(obj: &Value, pointer: &str) -> String {
    obj.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn now_condition(typ: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": typ, "status": status, "lastTransitionTime": now_rfc3339(), "reason": reason, "message": message})
}

/// Puts `condition` in the object's `status.conditions` in place of the one of its type (an
/// object without that list is left alone).
fn set_condition(obj: &mut Value, condition: Value) {
    if let Some(conds) = obj
        .get_mut("status")
        .and_then(|s| s.get_mut("conditions"))
        .and_then(Value::as_array_mut)
    {
        conds.retain(|c| c.get("type") != condition.get("type"));
        conds.push(condition);
    }
}

/// The status of a new CRD: names accepted, and Established when `established`.
fn crd_status(crd: &Value, established: bool, storage: &str) -> Value {
    let names = crd
        .get("spec")
        .and_then(|s| s.get("names"))
        .cloned()
        .unwrap_or(json!({}));
    let est = if established {
        now_condition(
            "Established",
            "True",
            "InitialNamesAccepted",
            "the initial names have been accepted",
        )
    } else {
        now_condition(
            "Established",
            "False",
            "Installing",
            "the initial names have been accepted",
        )
    };
    json!({
        "conditions": [
            now_condition("NamesAccepted", "True", "NoConflicts", "no conflicts found"),
            est
        ],
        "acceptedNames": names,
        "storedVersions": [storage]
    })
}

fn crd_storage_version(crd: &Value) -> String {
    crd.get("spec")
        .and_then(|s| s.get("versions"))
        .and_then(Value::as_array)
        .and_then(|vs| {
            vs.iter()
                .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        })
        .and_then(|v| v.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// Validates a CRD object and compiles it.
fn check_crd(crd: &Value, uid: &str) -> Result<CrdRuntime, (Vec<String>, Vec<FieldError>)> {
    let c = compile_crd(crd, uid);
    match c.runtime {
        Some(rt) if c.invalid.is_empty() && c.decode.is_empty() => Ok(rt),
        _ => Err((c.decode, c.invalid)),
    }
}

fn crd_error(
    info: &ResourceInfo,
    name: &str,
    decode: Vec<String>,
    invalid: Vec<FieldError>,
) -> ApiError {
    if let Some(d) = decode.first() {
        return cannot_handle(info, d);
    }
    invalid_for(info, name, &invalid)
}

/// Marks a CRD Established, if it is still the same CRD.
pub(crate) fn establish_crd(st: &mut State, name: &str, uid: &str) {
    let Some(rt) = st.crds.get_mut(name) else {
        return;
    };
    if rt.uid != uid || rt.established {
        return;
    }
    rt.established = true;
    let coll = builtin_of(Builtin::Crd).collection();
    if let Some(obj) = st.get(&coll, name) {
        let mut obj = (*obj).clone();
        set_condition(
            &mut obj,
            now_condition(
                "Established",
                "True",
                "InitialNamesAccepted",
                "the initial names have been accepted",
            ),
        );
        st.put(&coll, name, obj);
    }
}

// ------------------------------------------------------------------------ get

pub(crate) fn get(st: &State, t: &Target) -> Result<Outcome, ApiError> {
    let obj = st
        .get(&t.info.collection(), &t.key())
        .ok_or_else(|| ApiError::not_found(&t.info.group, &t.info.plural, &t.name))?;
    let body = if t.scale {
        crate::kinds::scale_of(&obj)
    } else {
        (*for_version(&t.info, &obj)).clone()
    };
    Ok(Outcome::ok(200, body, vec![], false))
}

// ------------------------------------------------------------- managed fields

/// The field manager's view of a write through this target.
fn writer<'a>(
    t: &'a Target,
    opts: &'a WriteOpts,
    api_version: &'a str,
    now: &'a str,
) -> Writer<'a> {
    Writer {
        manager: &opts.manager,
        api_version,
        subresource: t.subresource(),
        now,
    }
}

pub(crate) fn without_managed_fields(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    v
}

/// The fields a write through the main endpoint does not own: `status` when the
/// resource has a status subresource (and the reverse through `/status`).
pub(crate) fn reset_fields(t: &Target, obj: &mut Value) {
    let Some(m) = obj.as_object_mut() else { return };
    if t.status {
        m.retain(|k, _| matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status"));
    } else if t.info.status {
        m.remove("status");
    }
}

/// Sets `metadata.managedFields` of an object being written (`old` is the stored
/// object, `None` for a create).
fn manage_fields(
    t: &Target,
    opts: &WriteOpts,
    manage: Manage,
    old: Option<&Value>,
    incoming: Option<Value>,
    obj: &mut Value,
) {
    let info = &t.info;
    let managed = match manage {
        Manage::Applied(m) => Some(m),
        Manage::Update => {
            let api_version = info.api_version();
            let now = now_rfc3339();
            let w = writer(t, opts, &api_version, &now);
            let cur = Cursor::root(info);
            let mut new = without_managed_fields(obj);
            reset_fields(t, &mut new);
            match old {
                None => {
                    let mut m = Managed::default();
                    m.record_update(&crate::kinds::zero_object(info.builtin), &new, &cur, &w);
                    Some(m)
                }
                Some(old) => {
                    // Clients that send managedFields back replace them; others keep them.
                    let base = incoming
                        .as_ref()
                        .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
                        .and_then(|v| Managed::decode(Some(v)).ok())
                        .or_else(|| {
                            Managed::decode(
                                old.get("metadata").and_then(|m| m.get("managedFields")),
                            )
                            .ok()
                        })
                        .unwrap_or_default();
                    if base.is_empty() {
                        // Objects nobody tracked are only tracked from their first apply.
                        None
                    } else {
                        let mut old = without_managed_fields(old);
                        reset_fields(t, &mut old);
                        let mut m = base;
                        m.record_update(&old, &new, &cur, &w);
                        Some(m)
                    }
                }
            }
        }
    };
    let meta = meta_mut(obj);
    meta.remove("managedFields");
    if let Some(m) = managed {
        let enc = m.encode();
        if enc.as_array().is_some_and(|a| !a.is_empty()) {
            meta.insert("managedFields".into(), enc);
        }
    }
}

// --------------------------------------------------------------------- create

pub(crate) fn create(
    st: &mut State,
    t: &Target,
    body: &[u8],
    opts: WriteOpts,
) -> Result<Outcome, ApiError> {
    let (obj, warnings) = decode_body(&t.info, body, opts.field_validation)?;
    create_object(st, t, obj, warnings, opts, Manage::Update)
}

/// Refuses new content in a namespace being deleted, as the NamespaceLifecycle
/// admission plugin does.
fn check_namespace_active(st: &State, t: &Target, name: &str) -> Result<(), ApiError> {
    let ns = st.get("/namespaces", &t.namespace);
    if let Some(ns) = ns
        && ns
            .get("status")
            .and_then(|s| s.get("phase"))
            .and_then(Value::as_str)
            == Some("Terminating")
    {
        let mut e = ApiError::forbidden(
            &t.info.group,
            &t.info.plural,
            name,
            &format!(
                "unable to create new content in namespace {} because it is being terminated",
                t.namespace
            ),
        );
        if let Some(Value::Object(d)) = &mut e.details {
            d.insert(
                "causes".into(),
                json!([{
                    "reason": "NamespaceTerminating",
                    "message": format!("namespace {} is being terminated", t.namespace),
                    "field": "metadata.namespace"
                }]),
            );
        }
        return Err(e);
    }
    Ok(())
}

/// Whether the CRD of a custom resource is being deleted.
fn crd_terminating(st: &State, info: &ResourceInfo) -> bool {
    let coll = builtin_of(Builtin::Crd).collection();
    st.get(&coll, &format!("{}.{}", info.plural, info.group))
        .is_some_and(|crd| !meta_str(&crd, "deletionTimestamp").is_empty())
}

/// Stores a new, decoded object.
pub(crate) fn create_object(
    st: &mut State,
    t: &Target,
    mut obj: Value,
    warnings: Vec<String>,
    opts: WriteOpts,
    manage: Manage,
) -> Result<Outcome, ApiError> {
    let info = &t.info;
    {
        let meta = meta_mut(&mut obj);
        if info.namespaced {
            let ns = meta
                .get("namespace")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if ns.is_empty() {
                meta.insert("namespace".into(), json!(t.namespace));
            } else if ns != t.namespace {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        } else {
            meta.remove("namespace");
        }
    }
    if info.is_custom() && crd_terminating(st, info) {
        let mut e = ApiError::method_not_allowed();
        e.message = "create not allowed while custom resource definition is terminating".into();
        e.details = Some(json!({"group": info.group, "kind": info.plural}));
        return Err(e);
    }
    if info.namespaced && !namespace_exists(st, &t.namespace) {
        return Err(ApiError::not_found("", "namespaces", &t.namespace));
    }
    let now = now_rfc3339();
    let uid = uuid::Uuid::new_v4().to_string();
    let incoming_managed;
    {
        let meta = meta_mut(&mut obj);
        let name = meta.get("name").and_then(Value::as_str).unwrap_or("");
        let generate = meta
            .get("generateName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if name.is_empty() && !generate.is_empty() {
            meta.insert(
                "name".into(),
                json!(format!("{generate}{}", random_suffix())),
            );
        }
        meta.insert("uid".into(), json!(uid));
        meta.insert("creationTimestamp".into(), json!(now));
        meta.remove("deletionTimestamp");
        meta.remove("deletionGracePeriodSeconds");
        meta.remove("selfLink");
        incoming_managed = meta.remove("managedFields");
        if info.tracks_generation() {
            meta.insert("generation".into(), json!(1));
        } else {
            meta.remove("generation");
        }
    }
    let name = meta_str(&obj, "name").to_string();
    if info.namespaced {
        check_namespace_active(st, t, &name)?;
    }
    // PrepareForCreate
    let m = obj
        .as_object_mut()
        .expect("decoded objects are JSON objects");
    match info.builtin {
        None if info.status => {
            m.remove("status");
        }
        Some(Builtin::Namespace) => {
            m.insert("spec".into(), json!({"finalizers": ["kubernetes"]}));
            m.insert("status".into(), json!({"phase": "Active"}));
            let meta = meta_mut(&mut obj);
            let labels = meta.entry("labels").or_insert(json!({}));
            if let Some(l) = labels.as_object_mut() {
                l.insert("kubernetes.io/metadata.name".into(), json!(name));
                l.sort_keys();
            }
        }
        Some(Builtin::Crd) => {
            m.remove("status");
        }
        Some(Builtin::Node) => {}
        Some(b) => {
            if info.status {
                match crate::kinds::initial_status(b) {
                    Some(s) => m.insert("status".into(), s),
                    None => m.remove("status"),
                };
            }
            crate::kinds::prepare_create(b, &mut obj);
        }
        None => {}
    }
    let mut errs = validate_kind(info, &obj);
    let mut crd_rt = None;
    if info.builtin == Some(Builtin::Crd) {
        match check_crd(&obj, &uid) {
            Ok(rt) => crd_rt = Some(rt),
            Err((decode, invalid)) => {
                if !decode.is_empty() && errs.is_empty() {
                    return Err(crd_error(info, &name, decode, invalid));
                }
                errs.extend(invalid);
            }
        }
    }
    if !errs.is_empty() {
        return Err(invalid_for(info, &name, &errs));
    }
    if !opts.dry_run && !meta_str(&obj, "resourceVersion").is_empty() {
        return Err(ApiError::bad_request(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    let key = object_key(if info.namespaced { &t.namespace } else { "" }, &name);
    let coll = info.collection();
    if st.get(&coll, &key).is_some() {
        return Err(ApiError::already_exists(&info.group, &info.plural, &name));
    }
    manage_fields(t, &opts, manage, None, incoming_managed, &mut obj);
    let mut after = Vec::new();
    if let Some(rt) = &crd_rt {
        let storage = crd_storage_version(&obj);
        let status = crd_status(&obj, opts.establish_now, &storage);
        obj.as_object_mut()
            .expect("decoded objects are JSON objects")
            .insert("status".into(), status);
        if !opts.establish_now {
            after.push(Deferred::Establish {
                name: name.clone(),
                uid: rt.uid.clone(),
            });
        }
    }
    meta_mut(&mut obj).insert("resourceVersion".into(), json!(""));
    order_meta(&mut obj, info.is_custom());
    if opts.dry_run {
        meta_mut(&mut obj).remove("resourceVersion");
        return Ok(Outcome::ok(201, obj, warnings, false));
    }
    to_storage_version(info, &mut obj);
    let stored = st.put(&coll, &key, obj);
    if let Some(mut rt) = crd_rt {
        rt.established = opts.establish_now;
        st.crds.insert(name.clone(), rt);
    }
    let mut out = Outcome::ok(201, (*for_version(info, &stored)).clone(), warnings, true);
    out.after = after;
    Ok(out)
}

/// A request body decoded in full as an object of `info`, with the warnings.
fn decode_body(
    info: &ResourceInfo,
    body: &[u8],
    fv: FieldValidation,
) -> Result<(Value, Vec<String>), ApiError> {
    let (v, raw) = parse_body(body)?;
    decode(info, v, fv, &raw, Decode::Full)
}

fn parse_body(body: &[u8]) -> Result<(Value, String), ApiError> {
    let raw = String::from_utf8_lossy(body).into_owned();
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => Ok((v, raw)),
        Err(e) => Err(ApiError::bad_request(format!(
            "couldn't get version/kind; json parse error: {e}"
        ))),
    }
}

// --------------------------------------------------------------------- update

/// PUT of an object or of its status.
pub(crate) fn update(
    st: &mut State,
    t: &Target,
    body: &[u8],
    opts: WriteOpts,
) -> Result<Outcome, ApiError> {
    let info = &t.info;
    let (obj, warnings) = decode_body(info, body, opts.field_validation)?;
    check_name_and_namespace(t, &obj)?;
    let existing = st
        .get(&info.collection(), &t.key())
        .ok_or_else(|| ApiError::not_found(&info.group, &info.plural, &t.name))?;
    update_existing(st, t, obj, existing, opts, warnings, Manage::Update)
}

pub(crate) fn check_name_and_namespace(t: &Target, obj: &Value) -> Result<(), ApiError> {
    let name = meta_str(obj, "name");
    if name != t.name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({})",
            t.name
        )));
    }
    let ns = meta_str(obj, "namespace");
    if t.info.namespaced && !ns.is_empty() && ns != t.namespace {
        return Err(ApiError::bad_request(format!(
            "the namespace of the object ({ns}) does not match the namespace on the request ({})",
            t.namespace
        )));
    }
    Ok(())
}

/// Stores a new version of an existing object (PUT, PATCH, apply, scale).
pub(crate) fn update_existing(
    st: &mut State,
    t: &Target,
    mut obj: Value,
    existing: Arc<Value>,
    opts: WriteOpts,
    warnings: Vec<String>,
    manage: Manage,
) -> Result<Outcome, ApiError> {
    let info = &t.info;
    {
        let meta = meta_mut(&mut obj);
        if info.namespaced {
            meta.insert("namespace".into(), json!(t.namespace));
        } else {
            meta.remove("namespace");
        }
    }
    let existing_rv = meta_str(&existing, "resourceVersion").to_string();
    let new_rv = meta_str(&obj, "resourceVersion").to_string();
    let unconditional_ok = !info.is_custom() && info.builtin != Some(Builtin::Crd);
    if new_rv.is_empty() {
        if !unconditional_ok {
            return Err(ApiError::invalid(
                &info.group,
                &info.plural,
                &t.name,
                &[FieldError::new(
                    FieldErrorType::Invalid,
                    "metadata.resourceVersion",
                    BadValue::Raw("0x0".into()),
                    "must be specified for an update",
                )],
            ));
        }
    } else if new_rv.parse::<u64>().is_err() {
        return Err(ApiError::bad_request(format!(
            "invalid resource version: {}",
            go_quote(&new_rv)
        )));
    } else if new_rv != existing_rv {
        return Err(ApiError::modified_conflict(
            &info.group,
            &info.plural,
            &t.name,
        ));
    }

    // strategies
    let custom = info.is_custom();
    if t.status {
        obj = match info.builtin {
            Some(Builtin::Node) | Some(Builtin::Namespace) => {
                let m = obj.as_object_mut().expect("objects are JSON objects");
                match existing.get("spec") {
                    Some(s) => m.insert("spec".into(), s.clone()),
                    None => m.remove("spec"),
                };
                obj
            }
            _ => {
                let mut n = (*existing).clone();
                let nm = n.as_object_mut().expect("objects are JSON objects");
                match obj.get("status") {
                    Some(s) => nm.insert("status".into(), s.clone()),
                    None => nm.remove("status"),
                };
                if let Some(mf) = obj.get("metadata").and_then(|m| m.get("managedFields")) {
                    meta_mut(&mut n).insert("managedFields".into(), mf.clone());
                } else {
                    meta_mut(&mut n).remove("managedFields");
                }
                n
            }
        };
    } else if info.status {
        let m = obj.as_object_mut().expect("objects are JSON objects");
        match existing.get("status") {
            Some(s) => m.insert("status".into(), s.clone()),
            None => m.remove("status"),
        };
        if info.builtin == Some(Builtin::Namespace) {
            let fins = existing
                .get("spec")
                .and_then(|s| s.get("finalizers"))
                .cloned();
            let spec = m.entry("spec").or_insert(json!({}));
            if let (Some(sm), Some(f)) = (spec.as_object_mut(), fins) {
                sm.insert("finalizers".into(), f);
            }
        }
    }
    if let Some(b) = info.builtin {
        crate::kinds::prepare_update(b, &mut obj, &existing);
    }
    let incoming_managed;
    {
        let old_meta = meta_of(&existing);
        let meta = meta_mut(&mut obj);
        if meta
            .get("uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
            && let Some(u) = old_meta.get("uid")
        {
            meta.insert("uid".into(), u.clone());
        }
        for f in [
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            match old_meta.get(f) {
                Some(v) => meta.insert(f.into(), v.clone()),
                None => meta.remove(f),
            };
        }
        meta.remove("selfLink");
        incoming_managed = meta.remove("managedFields");
        if info.builtin == Some(Builtin::Namespace) {
            let name = t.name.clone();
            let labels = meta.entry("labels").or_insert(json!({}));
            if let Some(l) = labels.as_object_mut() {
                l.insert("kubernetes.io/metadata.name".into(), json!(name));
                l.sort_keys();
            }
        }
    }
    if info.tracks_generation() && crate::kinds::changes_generation(info.builtin, &obj, &existing) {
        let g = existing
            .get("metadata")
            .and_then(|m| m.get("generation"))
            .and_then(Value::as_i64)
            .unwrap_or(0);
        meta_mut(&mut obj).insert("generation".into(), json!(g + 1));
    }
    manage_fields(
        t,
        &opts,
        manage,
        Some(&existing),
        incoming_managed,
        &mut obj,
    );
    let mut errs = validate_kind(info, &obj);
    errs.extend(validate_kind_update(info, &obj, &existing));
    let mut crd_rt = None;
    if info.builtin == Some(Builtin::Crd) {
        match check_crd(&obj, meta_str(&existing, "uid")) {
            Ok(rt) => crd_rt = Some(rt),
            Err((decode, invalid)) => {
                if !decode.is_empty() && errs.is_empty() {
                    return Err(crd_error(info, &t.name, decode, invalid));
                }
                errs.extend(invalid);
            }
        }
    }
    if !errs.is_empty() {
        return Err(invalid_for(info, &t.name, &errs));
    }
    if custom {
        sort_keys(&mut obj);
    }
    meta_mut(&mut obj).insert("resourceVersion".into(), json!(existing_rv));
    order_meta(&mut obj, custom);
    let shown = |o: &Arc<Value>| {
        if t.scale {
            crate::kinds::scale_of(o)
        } else {
            (*for_version(info, o)).clone()
        }
    };
    if json_equal(&obj, &existing) {
        return Ok(Outcome::ok(200, shown(&existing), warnings, false));
    }
    if opts.dry_run {
        return Ok(Outcome::ok(200, shown(&Arc::new(obj)), warnings, false));
    }
    let coll = info.collection();
    let key = t.key();
    let terminating = !meta_str(&obj, "deletionTimestamp").is_empty();
    let no_finalizers = obj
        .get("metadata")
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if terminating && no_finalizers {
        let gone = finalize_delete(st, info, &coll, &key, &t.name).unwrap_or_else(|| Arc::new(obj));
        return Ok(Outcome::ok(200, shown(&gone), warnings, true));
    }
    to_storage_version(info, &mut obj);
    let stored = st.put(&coll, &key, obj);
    if let Some(mut rt) = crd_rt {
        rt.established = st.crds.get(&t.name).is_some_and(|old| old.established);
        st.crds.insert(t.name.clone(), rt);
    }
    Ok(Outcome::ok(200, shown(&stored), warnings, true))
}

// ---------------------------------------------------------------------- patch

/// The patch types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchType {
    Merge,
    Json,
    Strategic,
    /// Server-side apply.
    Apply {
        force: bool,
    },
}

/// Applies a merge, JSON or strategic merge patch to a document.
fn apply_patch(doc: &mut Value, ptype: PatchType, body: &[u8]) -> Result<(), ApiError> {
    let patch: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let to_api = |e: PatchError| match e {
        PatchError::Decode(m) => ApiError::bad_request(m),
        PatchError::Apply(m) => ApiError::unprocessable(&m),
    };
    match ptype {
        PatchType::Merge => {
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "json: cannot unmarshal non-object into Go value of type map[string]interface {}",
                ));
            }
            merge_patch(doc, &patch);
            Ok(())
        }
        PatchType::Json => json_patch(doc, &patch).map_err(to_api),
        PatchType::Strategic => strategic_merge_patch(doc, &patch, "").map_err(to_api),
        PatchType::Apply { .. } => Err(ApiError::bad_request("apply is not a patch document")),
    }
}

pub(crate) fn patch(
    st: &mut State,
    t: &Target,
    ptype: PatchType,
    body: &[u8],
    opts: WriteOpts,
) -> Result<Outcome, ApiError> {
    let info = &t.info;
    if let PatchType::Apply { force } = ptype {
        return crate::apply::apply(st, t, body, opts, force);
    }
    if ptype == PatchType::Strategic && info.is_custom() {
        return Err(ApiError::unsupported_media_type(&[
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/apply-patch+yaml",
        ]));
    }
    let existing = st
        .get(&info.collection(), &t.key())
        .ok_or_else(|| ApiError::not_found(&info.group, &info.plural, &t.name))?;
    if t.scale {
        let mut scale = crate::kinds::scale_of(&existing);
        apply_patch(&mut scale, ptype, body)?;
        return crate::apply::scale_to(st, t, &scale, existing, opts);
    }
    let mut doc = (*for_version(info, &existing)).clone();
    apply_patch(&mut doc, ptype, body)?;
    let raw = doc.to_string();
    let (obj, warnings) = decode(info, doc, opts.field_validation, &raw, Decode::Full)?;
    check_name_and_namespace(t, &obj)?;
    update_existing(st, t, obj, existing, opts, warnings, Manage::Update)
}

// --------------------------------------------------------------------- delete

/// How to delete: DeleteOptions from the body and the query, and whether terminating
/// objects go at once.
pub(crate) struct DeleteOpts {
    dry_run: bool,
    uid: Option<String>,
    resource_version: Option<String>,
    delete_now: bool,
}

pub(crate) fn delete_opts(
    body: &[u8],
    q: &Query,
    delete_now: bool,
) -> Result<DeleteOpts, ApiError> {
    let write = WriteOpts::from_query(q, "DeleteOptions", "")?;
    let mut o = DeleteOpts {
        dry_run: write.dry_run,
        uid: None,
        resource_version: None,
        delete_now,
    };
    let text = String::from_utf8_lossy(body);
    if text.trim().is_empty() {
        return Ok(o);
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
    })?;
    let Value::Object(m) = v else {
        return Err(ApiError::bad_request(
            "json: cannot unmarshal non-object into Go value of type v1.DeleteOptions",
        ));
    };
    if let Some(p) = m.get("preconditions").filter(|p| !p.is_null()) {
        let Some(p) = p.as_object() else {
            return Err(ApiError::bad_request(
                "json: cannot unmarshal non-object into Go struct field DeleteOptions.preconditions of type v1.Preconditions",
            ));
        };
        o.uid = p.get("uid").and_then(Value::as_str).map(str::to_string);
        o.resource_version = p
            .get("resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    match m.get("dryRun") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) => {
            for d in a {
                if d.as_str() == Some("All") {
                    o.dry_run = true;
                } else {
                    return Err(ApiError::invalid(
                        "meta.k8s.io",
                        "DeleteOptions",
                        "",
                        &[FieldError::not_supported(
                            "dryRun",
                            BadValue::from_json(d),
                            &["All".to_string()],
                        )],
                    ));
                }
            }
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "json: cannot unmarshal into Go struct field DeleteOptions.dryRun of type []string",
            ));
        }
    }
    if let Some(p) = m.get("propagationPolicy").and_then(Value::as_str)
        && !matches!(p, "Orphan" | "Background" | "Foreground")
    {
        return Err(ApiError::invalid(
            "meta.k8s.io",
            "DeleteOptions",
            "",
            &[FieldError::not_supported(
                "propagationPolicy",
                BadValue::Str(p.into()),
                &["Foreground".into(), "Background".into(), "Orphan".into()],
            )],
        ));
    }
    Ok(o)
}

/// Removes an object for good, with what it owns (a CRD's custom resources, a
/// namespace's contents).
fn finalize_delete(
    st: &mut State,
    info: &ResourceInfo,
    coll: &str,
    key: &str,
    name: &str,
) -> Option<Arc<Value>> {
    match info.builtin {
        Some(Builtin::Crd) => {
            if let Some(rt) = st.crds.remove(name) {
                let crs = format!("{}/{}", rt.group, rt.plural);
                let keys: Vec<String> = st.collection(&crs).keys().cloned().collect();
                for k in keys {
                    st.remove(&crs, &k);
                }
            }
        }
        Some(Builtin::Namespace) => {
            let mut colls: Vec<String> = crate::registry::BUILTINS
                .iter()
                .filter(|b| b.namespaced)
                .map(|b| b.collection())
                .collect();
            for rt in st.crds.values() {
                if rt.versions.first().is_some_and(|v| v.namespaced) {
                    colls.push(format!("{}/{}", rt.group, rt.plural));
                }
            }
            let prefix = format!("{name}/");
            for c in colls {
                let keys: Vec<String> = st
                    .collection(&c)
                    .keys()
                    .filter(|k| k.starts_with(&prefix))
                    .cloned()
                    .collect();
                for k in keys {
                    st.remove(&c, &k);
                }
            }
        }
        _ => {}
    }
    st.remove(coll, key)
}

/// The finalizer kube puts on a CRD while it deletes its custom resources.
const CRD_CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// Finishes the deletion of a terminating namespace or CRD (the work of kube's
/// namespace and CRD finalizer controllers), if it is still the same object.
pub(crate) fn purge(st: &mut State, b: Builtin, name: &str, uid: &str) {
    let info = builtin_of(b);
    let coll = info.collection();
    let Some(obj) = st.get(&coll, name) else {
        return;
    };
    if meta_str(&obj, "uid") != uid || meta_str(&obj, "deletionTimestamp").is_empty() {
        return;
    }
    let others: Vec<Value> = obj
        .get("metadata")
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|f| {
            f.iter()
                .filter(|x| x.as_str() != Some(CRD_CLEANUP_FINALIZER))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    if others.is_empty() {
        finalize_delete(st, &info, &coll, name, name);
        return;
    }
    // Finalizers of others remain: delete the content, keep the object until they go.
    if b == Builtin::Crd
        && let Some(rt) = st.crds.get(name)
    {
        let crs = format!("{}/{}", rt.group, rt.plural);
        let keys: Vec<String> = st.collection(&crs).keys().cloned().collect();
        for k in keys {
            st.remove(&crs, &k);
        }
    }
    let mut obj = (*obj).clone();
    set_meta(&mut obj, "finalizers", Value::Array(others));
    st.put(&coll, name, obj);
}

fn success_status(info: &ResourceInfo, obj: &Value) -> Value {
    let mut d = Map::new();
    d.insert("name".into(), json!(meta_str(obj, "name")));
    if !info.group.is_empty() {
        d.insert("group".into(), json!(info.group));
    }
    d.insert("kind".into(), json!(info.plural));
    d.insert("uid".into(), json!(meta_str(obj, "uid")));
    json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","details":d})
}

/// Marks a namespace or CRD Terminating: its content goes later, then the object.
fn start_termination(info: &ResourceInfo, existing: &Value) -> Value {
    let mut obj = existing.clone();
    set_meta(&mut obj, "deletionTimestamp", json!(now_rfc3339()));
    match info.builtin {
        Some(Builtin::Namespace) => {
            if let Some(s) = obj.get_mut("status").and_then(Value::as_object_mut) {
                s.insert("phase".into(), json!("Terminating"));
            }
            set_meta(&mut obj, "deletionGracePeriodSeconds", json!(0));
        }
        _ => {
            let meta = meta_mut(&mut obj);
            let fins = meta.entry("finalizers").or_insert(json!([]));
            if let Some(f) = fins.as_array_mut()
                && !f.iter().any(|x| x.as_str() == Some(CRD_CLEANUP_FINALIZER))
            {
                f.push(json!(CRD_CLEANUP_FINALIZER));
            }
            set_condition(
                &mut obj,
                now_condition(
                    "Terminating",
                    "True",
                    "InstanceDeletionPending",
                    "CustomResourceDefinition marked for deletion; instance deletion pending",
                ),
            );
        }
    }
    order_meta(&mut obj, false);
    obj
}

/// Deletes one stored object; returns (body, wrote, deferred work).
fn delete_one(
    st: &mut State,
    info: &ResourceInfo,
    key: &str,
    existing: Arc<Value>,
    dry_run: bool,
    delete_now: bool,
) -> (Value, bool, Option<Deferred>) {
    let coll = info.collection();
    let name = meta_str(&existing, "name").to_string();
    let has_finalizers = existing
        .get("metadata")
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    let returns_object = matches!(info.builtin, Some(Builtin::Namespace) | Some(Builtin::Crd));
    let already_terminating = !meta_str(&existing, "deletionTimestamp").is_empty();
    if has_finalizers || (returns_object && already_terminating) {
        if already_terminating {
            return ((*for_version(info, &existing)).clone(), false, None);
        }
        let mut obj = (*existing).clone();
        set_meta(&mut obj, "deletionTimestamp", json!(now_rfc3339()));
        set_meta(&mut obj, "deletionGracePeriodSeconds", json!(0));
        order_meta(&mut obj, info.is_custom());
        if dry_run {
            return ((*for_version(info, &Arc::new(obj))).clone(), false, None);
        }
        let stored = st.put(&coll, key, obj);
        return ((*for_version(info, &stored)).clone(), true, None);
    }
    if returns_object && !delete_now {
        let obj = start_termination(info, &existing);
        if dry_run {
            return ((*for_version(info, &Arc::new(obj))).clone(), false, None);
        }
        let stored = st.put(&coll, key, obj);
        let purge = info.builtin.map(|b| Deferred::Purge {
            builtin: b,
            name: name.clone(),
            uid: meta_str(&stored, "uid").to_string(),
        });
        return ((*for_version(info, &stored)).clone(), true, purge);
    }
    let mut shown = (*existing).clone();
    if returns_object {
        set_meta(&mut shown, "deletionTimestamp", json!(now_rfc3339()));
        if info.builtin == Some(Builtin::Namespace)
            && let Some(s) = shown.get_mut("status").and_then(Value::as_object_mut)
        {
            s.insert("phase".into(), json!("Terminating"));
        }
        order_meta(&mut shown, info.is_custom());
    }
    if !dry_run && let Some(last) = finalize_delete(st, info, &coll, key, &name) {
        set_meta(
            &mut shown,
            "resourceVersion",
            json!(meta_str(&last, "resourceVersion")),
        );
    }
    let body = if returns_object {
        (*for_version(info, &Arc::new(shown))).clone()
    } else {
        success_status(info, &existing)
    };
    (body, !dry_run, None)
}

pub(crate) fn delete(st: &mut State, t: &Target, o: DeleteOpts) -> Result<Outcome, ApiError> {
    let info = &t.info;
    if info.builtin == Some(Builtin::Namespace)
        && matches!(t.name.as_str(), "default" | "kube-system" | "kube-public")
    {
        return Err(ApiError::forbidden(
            "",
            "namespaces",
            &t.name,
            "this namespace may not be deleted",
        ));
    }
    let key = t.key();
    let existing = st
        .get(&info.collection(), &key)
        .ok_or_else(|| ApiError::not_found(&info.group, &info.plural, &t.name))?;
    for (precondition, field, what) in [
        (&o.uid, "uid", "UID"),
        (&o.resource_version, "resourceVersion", "ResourceVersion"),
    ] {
        let actual = meta_str(&existing, field);
        if let Some(wanted) = precondition
            && wanted != actual
        {
            return Err(ApiError::conflict(
                &info.group,
                &info.plural,
                &t.name,
                &format!(
                    "Precondition failed: {what} in precondition: {wanted}, {what} in object meta: {actual}"
                ),
            ));
        }
    }
    let (body, wrote, after) = delete_one(st, info, &key, existing, o.dry_run, o.delete_now);
    let mut out = Outcome::ok(200, body, vec![], wrote);
    out.after.extend(after);
    Ok(out)
}

// ----------------------------------------------------------------------- list

/// The selectors of a list, watch or deletecollection.
pub(crate) struct Filter {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    /// Only objects under this key prefix ("ns/" or "").
    pub prefix: String,
}

impl Filter {
    pub(crate) fn from_query(t: &Target, q: &Query) -> Result<Filter, ApiError> {
        let labels = LabelSelector::parse(q.get("labelSelector").unwrap_or(""))
            .map_err(ApiError::bad_request)?;
        let fields = FieldSelector::parse(q.get("fieldSelector").unwrap_or(""))
            .map_err(ApiError::bad_request)?;
        for f in fields.fields() {
            if !matches!(f, "metadata.name" | "metadata.namespace") && !t.info.extra_field(f) {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {f}"
                )));
            }
        }
        let prefix = if t.info.namespaced && !t.namespace.is_empty() {
            format!("{}/", t.namespace)
        } else {
            String::new()
        };
        Ok(Filter {
            labels,
            fields,
            prefix,
        })
    }

    pub(crate) fn is_selective(&self) -> bool {
        !self.labels.is_empty() || !self.fields.is_empty()
    }

    pub(crate) fn matches(&self, key: &str, obj: &Value) -> bool {
        if !key.starts_with(&self.prefix) {
            return false;
        }
        if !self
            .labels
            .matches(obj.get("metadata").and_then(|m| m.get("labels")))
        {
            return false;
        }
        self.fields.matches(|f| match f {
            "metadata.name" => meta_str(obj, "name").to_string(),
            "metadata.namespace" => meta_str(obj, "namespace").to_string(),
            "type" => text_at(obj, "/type"),
            "status.phase" => text_at(obj, "/status/phase"),
            "spec.unschedulable" => {
                let value = obj.pointer("/spec/unschedulable").and_then(Value::as_bool);
                value.unwrap_or(false).to_string()
            }
            _ => String::new(),
        })
    }
}

fn encode_continue(rv: u64, start: &str) -> String {
    let j = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": format!("{start}\u{0}")});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(j.to_string())
}

fn decode_continue(token: &str) -> Result<(u64, String), ApiError> {
    let bad = |m: String| ApiError::bad_request(format!("continue key is not valid: {m}"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|e| bad(e.to_string()))?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    let ver = v.get("v").and_then(Value::as_str).unwrap_or("");
    if ver != "meta.k8s.io/v1" {
        return Err(bad(format!(
            "server does not recognize this encoded version {}",
            go_quote(ver)
        )));
    }
    let rv = v.get("rv").and_then(Value::as_u64).unwrap_or(0);
    if rv == 0 {
        return Err(bad(
            "incorrect encoded start resourceVersion (version meta.k8s.io/v1)".into(),
        ));
    }
    let start = v.get("start").and_then(Value::as_str).unwrap_or("");
    if start.is_empty() {
        return Err(bad("encoded start key empty".into()));
    }
    if start.contains("..") {
        return Err(bad("key provided is not in the requested key prefix".into()));
    }
    Ok((rv, start.trim_end_matches('\u{0}').to_string()))
}

/// The state a list without a continue token reads, from `resourceVersion` and
/// `resourceVersionMatch` as kube-apiserver reads them: the latest state unless `Exact` asks
/// for an older one; `NotOlderThan` a version the server has not reached yet is a 504 (a real
/// server waits about 3 s for its watch cache first).
fn list_version(st: &State, q: &Query) -> Result<u64, ApiError> {
    let version = q.get("resourceVersion").unwrap_or("");
    let invalid = |e: FieldError| ApiError::invalid("meta.k8s.io", "ListOptions", "", &[e]);
    let parsed = || {
        version.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!("invalid resource version: {}", go_quote(version)))
        })
    };
    match q.get("resourceVersionMatch").unwrap_or("") {
        "" => Ok(st.rv),
        _ if version.is_empty() => Err(invalid(FieldError::forbidden(
            "resourceVersionMatch",
            "resourceVersionMatch is forbidden unless resourceVersion is provided",
        ))),
        "NotOlderThan" => {
            let wanted = parsed()?;
            if wanted > st.rv {
                return Err(ApiError::new(
                    504,
                    "Timeout",
                    format!("Too large resource version: {wanted}, current: {}", st.rv),
                ));
            }
            Ok(st.rv)
        }
        "Exact" => parsed(),
        other => Err(invalid(FieldError::not_supported(
            "resourceVersionMatch",
            BadValue::Str(other.to_string()),
            &["Exact".to_string(), "NotOlderThan".to_string()],
        ))),
    }
}

/// A page of a list.
pub(crate) struct Page {
    pub items: Vec<Arc<Value>>,
    pub rv: u64,
    pub continue_token: Option<String>,
    pub remaining: Option<usize>,
}

pub(crate) fn list_page(st: &State, t: &Target, q: &Query) -> Result<Page, ApiError> {
    let filter = Filter::from_query(t, q)?;
    let limit = match q.get("limit") {
        None | Some("") => 0usize,
        Some(l) => l
            .parse::<i64>()
            .map_err(|_| {
                ApiError::bad_request(format!(
                    "strconv.ParseInt: parsing {}: invalid syntax",
                    go_quote(l)
                ))
            })?
            .max(0) as usize,
    };
    let token = match q.get("continue") {
        None | Some("") => None,
        Some(c) => {
            if !q.get("resourceVersion").unwrap_or("").is_empty() {
                return Err(ApiError::bad_request(
                    "specifying resource version is not allowed when using continue",
                ));
            }
            Some(decode_continue(c)?)
        }
    };
    let rv = match token {
        Some((rv, _)) => rv.min(st.rv),
        None => list_version(st, q)?,
    };
    let coll = t.info.collection();
    let snap = st.snapshot(&coll, rv).ok_or_else(|| {
        ApiError::expired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.")
    })?;
    let after = token
        .as_ref()
        .map(|(_, start)| format!("{}{start}", filter.prefix));
    let lower = after.clone().or_else(|| {
        if filter.prefix.is_empty() {
            None
        } else {
            // everything in the namespace sorts after "ns/" minus its last byte
            Some(filter.prefix[..filter.prefix.len() - 1].to_string())
        }
    });
    let mut items = Vec::new();
    let mut last_key = None;
    let mut remaining = 0usize;
    for (k, v) in snap.iter_from(lower.as_deref()) {
        if !k.starts_with(&filter.prefix) {
            if k.as_str() > filter.prefix.as_str() && !filter.prefix.is_empty() {
                break;
            }
            continue;
        }
        if !filter.matches(&k, &v) {
            continue;
        }
        if limit > 0 && items.len() >= limit {
            remaining += 1;
            continue;
        }
        last_key = Some(k.clone());
        items.push(for_version(&t.info, &v));
    }
    let (continue_token, remaining) = if remaining > 0 {
        let last = last_key.unwrap_or_default();
        let rel = last
            .strip_prefix(&filter.prefix)
            .unwrap_or(&last)
            .to_string();
        (
            Some(encode_continue(rv, &rel)),
            if filter.is_selective() {
                None
            } else {
                Some(remaining)
            },
        )
    } else {
        (None, None)
    };
    Ok(Page {
        items,
        rv,
        continue_token,
        remaining,
    })
}

pub(crate) fn list_meta(page: &Page) -> Value {
    let mut m = Map::new();
    m.insert("resourceVersion".into(), json!(page.rv.to_string()));
    if let Some(c) = &page.continue_token {
        m.insert("continue".into(), json!(c));
    }
    if let Some(r) = page.remaining {
        m.insert("remainingItemCount".into(), json!(r));
    }
    Value::Object(m)
}

/// Writes a JSON object, leaving out `kind` and `apiVersion` when asked.
fn write_item(out: &mut Vec<u8>, v: &Value, strip_type: bool) {
    match (strip_type, v) {
        (true, Value::Object(m)) => {
            out.push(b'{');
            let mut first = true;
            for (k, x) in m {
                if k == "kind" || k == "apiVersion" {
                    continue;
                }
                if !first {
                    out.push(b',');
                }
                first = false;
                let _ = serde_json::to_writer(&mut *out, k);
                out.push(b':');
                let _ = serde_json::to_writer(&mut *out, x);
            }
            out.push(b'}');
        }
        _ => {
            let _ = serde_json::to_writer(&mut *out, v);
        }
    }
}

/// Serializes a list response.
pub(crate) fn list_body(info: &ResourceInfo, meta: &Value, items: &[Arc<Value>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + items.len() * 512);
    let custom = info.is_custom();
    let write_items = |out: &mut Vec<u8>| {
        out.extend_from_slice(b"\"items\":[");
        for (i, it) in items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_item(out, it, !custom);
        }
        out.push(b']');
    };
    if custom {
        // an unstructured list: keys in sorted order
        out.extend_from_slice(b"{\"apiVersion\":");
        let _ = serde_json::to_writer(&mut out, &info.api_version());
        out.push(b',');
        write_items(&mut out);
        out.extend_from_slice(b",\"kind\":");
        let _ = serde_json::to_writer(&mut out, &info.list_kind);
        out.extend_from_slice(b",\"metadata\":");
        let _ = serde_json::to_writer(&mut out, meta);
    } else {
        out.extend_from_slice(b"{\"kind\":");
        let _ = serde_json::to_writer(&mut out, &info.list_kind);
        out.extend_from_slice(b",\"apiVersion\":");
        let _ = serde_json::to_writer(&mut out, &info.api_version());
        out.extend_from_slice(b",\"metadata\":");
        let _ = serde_json::to_writer(&mut out, meta);
        out.push(b',');
        write_items(&mut out);
    }
    out.push(b'}');
    out
}

/// The answer to a list, for a page and its list metadata.
pub(crate) fn list_outcome(t: &Target, page: &Page, meta: Value) -> Outcome {
    Outcome {
        status: 200,
        body: Body::Raw(list_body(&t.info, &meta, &page.items)),
        warnings: vec![],
        wrote: false,
        after: Vec::new(),
    }
}

/// DELETE on a collection.
pub(crate) fn delete_collection(
    st: &mut State,
    t: &Target,
    q: &Query,
    o: DeleteOpts,
) -> Result<Outcome, ApiError> {
    let filter = Filter::from_query(t, q)?;
    let coll = t.info.collection();
    let targets: Vec<(String, Arc<Value>)> = st
        .collection(&coll)
        .iter()
        .filter(|(k, v)| filter.matches(k, v))
        .map(|(k, v)| (k.clone(), Arc::clone(v)))
        .collect();
    let mut deleted = Vec::new();
    let mut wrote = false;
    let mut after = Vec::new();
    for (k, v) in targets {
        let shown = for_version(&t.info, &v);
        let (_, w, a) = delete_one(st, &t.info, &k, v, o.dry_run, o.delete_now);
        wrote |= w;
        after.extend(a);
        deleted.push(shown);
    }
    let meta = json!({"resourceVersion": st.rv.to_string()});
    Ok(Outcome {
        status: 200,
        body: Body::Raw(list_body(&t.info, &meta, &deleted)),
        warnings: vec![],
        wrote,
        after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() {
        let q = Query::parse(Some("labelSelector=a%3Db%2Cc+in+(x)&limit=5&watch"));
        assert_eq!(q.get("labelSelector"), Some("a=b,c in (x)"));
        assert_eq!(q.get("limit"), Some("5"));
        assert!(q.flag("watch"));
        assert!(!q.flag("other"));
    }

    #[test]
    fn continue_tokens() {
        let t = encode_continue(12, "default/x");
        assert_eq!(decode_continue(&t).unwrap(), (12, "default/x".to_string()));
        assert_eq!(decode_continue("!!!").unwrap_err().code, 400);
        let other = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"v":"x","rv":1,"start":"a"}"#);
        assert!(
            decode_continue(&other)
                .unwrap_err()
                .message
                .contains("does not recognize")
        );
    }

    #[test]
    fn base64_like_go() {
        assert_eq!(normalize_base64("aGk=").unwrap(), "aGk=");
        assert_eq!(normalize_base64("aG\nk=").unwrap(), "aGk=");
        assert_eq!(
            normalize_base64("aGk*").unwrap_err(),
            "illegal base64 data at input byte 3"
        );
    }

    #[test]
    fn suffix_alphabet() {
        let s = random_suffix();
        assert_eq!(s.len(), 5);
        assert!(s.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
    }
}
