//! The HTTP layer: routing, discovery, fault injection, watches and responses.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::{Body as AxBody, Bytes};
use axum::extract::{Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};
use tokio::sync::{broadcast, mpsc, watch};

use crate::auth::{self, Attributes, Decision, User};
use crate::controls::Controls;
use crate::cost::{self, Work};
use crate::errors::{ApiError, FieldError, go_quote};
use crate::faults::Faults;
use crate::ops::{self, Body, Deferred, Filter, Outcome, PatchType, Query, Target, WriteOpts};
use crate::registry::{BUILTINS, Builtin, ResourceInfo, builtin_by, version_priority_cmp};
use crate::store::{Change, EventType, State};
use crate::table;

/// The largest request body accepted (kube-apiserver's limit).
const MAX_BODY: usize = 3 * 1024 * 1024;

pub(crate) struct Server {
    pub state: Mutex<State>,
    pub faults: Faults,
    pub controls: Controls,
    pub establish_delay: Duration,
    pub shutdown: watch::Receiver<bool>,
    pub addr: SocketAddr,
}

impl Server {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

// ------------------------------------------------------------------ responses

fn header_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c.to_string()
            } else {
                format!("\\u{:04x}", c as u32)
            }
        })
        .collect()
}

fn response(status: u16, body: Vec<u8>, content_type: &str, warnings: &[String]) -> Response {
    let mut r = Response::new(AxBody::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        h.insert("audit-id", v);
    }
    for w in warnings {
        if let Ok(v) = HeaderValue::from_str(&format!("299 - {}", header_safe(&go_quote(w)))) {
            h.append(header::WARNING, v);
        }
    }
    r
}

fn json_response(status: u16, v: &Value) -> Response {
    response(
        status,
        serde_json::to_vec(v).unwrap_or_default(),
        "application/json",
        &[],
    )
}

fn error_response(e: &ApiError) -> Response {
    let mut r = json_response(e.code, &e.to_status());
    if let Some(s) = e.retry_after
        && let Ok(v) = HeaderValue::from_str(&s.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|a| {
            a.split(',').any(|part| {
                let p: Vec<&str> = part.split(';').map(str::trim).collect();
                p.contains(&"as=Table")
                    && !p
                        .iter()
                        .any(|x| x.starts_with("g=") && *x != "g=meta.k8s.io")
            })
        })
}

const TABLE_CT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

// -------------------------------------------------------------------- routing

enum Route {
    Root,
    Health,
    Version,
    Api,
    Apis,
    ApiGroup(String),
    ApiGroupVersion(String, String),
    Mini(String),
    OpenApiRoot,
    OpenApiGroupVersion(String, String),
    Resource(ResourcePath),
    NotFound,
}

/// What the path of a resource request names.
#[derive(Debug)]
struct ResourcePath {
    group: String,
    version: String,
    namespace: Option<String>,
    plural: String,
    name: Option<String>,
    sub: Option<String>,
}

fn decode_segment(s: &str) -> String {
    let q = Query::parse(Some(&format!("x={}", s.replace('+', "%2B"))));
    q.get("x").unwrap_or("").to_string()
}

fn route(path: &str) -> Route {
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode_segment)
        .collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    match s.as_slice() {
        [] => Route::Root,
        ["healthz" | "livez" | "readyz"] => Route::Health,
        ["version"] => Route::Version,
        ["_mini", what] => Route::Mini(what.to_string()),
        ["openapi", "v3"] => Route::OpenApiRoot,
        ["openapi", "v3", "api", "v1"] => Route::OpenApiGroupVersion(String::new(), "v1".into()),
        ["openapi", "v3", "apis", g, v] => Route::OpenApiGroupVersion(g.to_string(), v.to_string()),
        ["api"] => Route::Api,
        ["api", "v1"] => Route::ApiGroupVersion(String::new(), "v1".into()),
        ["api", "v1", rest @ ..] => resource_route("", "v1", rest),
        ["apis"] => Route::Apis,
        ["apis", g] => Route::ApiGroup(g.to_string()),
        ["apis", g, v] => Route::ApiGroupVersion(g.to_string(), v.to_string()),
        ["apis", g, v, rest @ ..] => resource_route(g, v, rest),
        _ => Route::NotFound,
    }
}

fn resource_route(group: &str, version: &str, rest: &[&str]) -> Route {
    let namespaced = rest.len() >= 3
        && rest[0] == "namespaces"
        && !(rest.len() == 3 && matches!(rest[2], "status" | "finalize"));
    let (namespace, tail) = if namespaced {
        (Some(rest[1].to_string()), &rest[2..])
    } else {
        (None, rest)
    };
    if tail.is_empty() || tail.len() > 3 {
        return Route::NotFound;
    }
    Route::Resource(ResourcePath {
        group: group.into(),
        version: version.into(),
        namespace,
        plural: tail[0].into(),
        name: tail.get(1).map(|s| s.to_string()),
        sub: tail.get(2).map(|s| s.to_string()),
    })
}

fn resolve(st: &State, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceInfo>> {
    if let Some(b) = builtin_by(group, version, plural) {
        return Some(b);
    }
    let rt = st.crds.get(&format!("{plural}.{group}"))?;
    if !rt.established || rt.group != group || rt.plural != plural {
        return None;
    }
    rt.version(version)
}

// ------------------------------------------------------------------ discovery

fn resource_entries(r: &ResourceInfo) -> Vec<Value> {
    let mut e = Map::new();
    e.insert("name".into(), json!(r.plural));
    e.insert("singularName".into(), json!(r.singular));
    e.insert("namespaced".into(), json!(r.namespaced));
    e.insert("kind".into(), json!(r.kind));
    e.insert("verbs".into(), json!(r.verbs()));
    if !r.short_names.is_empty() {
        e.insert("shortNames".into(), json!(r.short_names));
    }
    if !r.categories.is_empty() {
        e.insert("categories".into(), json!(r.categories));
    }
    let mut out = vec![Value::Object(e)];
    if r.scale {
        out.push(json!({
            "name": format!("{}/scale", r.plural),
            "singularName": "",
            "namespaced": r.namespaced,
            "group": "autoscaling",
            "version": "v1",
            "kind": "Scale",
            "verbs": ["get", "patch", "update"]
        }));
    }
    if r.status {
        out.push(json!({
            "name": format!("{}/status", r.plural),
            "singularName": "",
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": ["get", "patch", "update"]
        }));
    }
    out
}

/// group → version → resources (established CRDs and built-ins).
fn served_groups(st: &State) -> BTreeMap<String, BTreeMap<String, Vec<Arc<ResourceInfo>>>> {
    let mut groups: BTreeMap<String, BTreeMap<String, Vec<Arc<ResourceInfo>>>> = BTreeMap::new();
    let crd_versions = st
        .crds
        .values()
        .filter(|rt| rt.established)
        .flat_map(|rt| &rt.versions);
    for info in BUILTINS.iter().chain(crd_versions) {
        groups
            .entry(info.group.clone())
            .or_default()
            .entry(info.version.clone())
            .or_default()
            .push(Arc::clone(info));
    }
    groups
}

fn group_json(name: &str, versions: &BTreeMap<String, Vec<Arc<ResourceInfo>>>) -> Value {
    let mut vs: Vec<&String> = versions.keys().collect();
    vs.sort_by(|a, b| version_priority_cmp(a, b));
    let list: Vec<Value> = vs
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({
        "name": name,
        "versions": list,
        "preferredVersion": list.first().cloned().unwrap_or(json!({}))
    })
}

fn discovery(srv: &Server, r: &Route) -> Option<Value> {
    let st = srv.lock();
    let groups = served_groups(&st);
    match r {
        Route::Version => Some(json!({
            "major": "1",
            "minor": "32",
            "emulationMajor": "1",
            "emulationMinor": "32",
            "minCompatibilityMajor": "1",
            "minCompatibilityMinor": "31",
            "gitVersion": "v1.32.0",
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": "2024-12-11T00:00:00Z",
            "goVersion": "go1.23.3",
            "compiler": "gc",
            "platform": "linux/amd64"
        })),
        Route::Api => Some(json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": srv.addr.to_string()}]
        })),
        Route::Apis => {
            let list: Vec<Value> = groups
                .iter()
                .filter(|(g, _)| !g.is_empty())
                .map(|(g, vs)| group_json(g, vs))
                .collect();
            Some(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": list}))
        }
        Route::ApiGroup(g) if !g.is_empty() => groups.get(g).map(|vs| {
            let mut v = group_json(g, vs);
            if let Some(m) = v.as_object_mut() {
                let mut out = Map::new();
                out.insert("kind".into(), json!("APIGroup"));
                out.insert("apiVersion".into(), json!("v1"));
                out.extend(std::mem::take(m));
                *m = out;
            }
            v
        }),
        Route::ApiGroupVersion(g, v) => {
            let resources = groups.get(g)?.get(v)?;
            let mut list = Vec::new();
            for r in resources {
                list.extend(resource_entries(r));
            }
            if g.is_empty() {
                Some(json!({"kind": "APIResourceList", "groupVersion": v, "resources": list}))
            } else {
                Some(json!({
                    "kind": "APIResourceList",
                    "apiVersion": "v1",
                    "groupVersion": format!("{g}/{v}"),
                    "resources": list
                }))
            }
        }
        Route::Root => {
            let mut paths = vec![
                "/api".to_string(),
                "/api/v1".to_string(),
                "/apis".to_string(),
            ];
            for (g, vs) in &groups {
                if g.is_empty() {
                    continue;
                }
                paths.push(format!("/apis/{g}"));
                for v in vs.keys() {
                    paths.push(format!("/apis/{g}/{v}"));
                }
            }
            paths.extend(["/healthz", "/livez", "/readyz", "/version"].map(String::from));
            Some(json!({"paths": paths}))
        }
        _ => None,
    }
}

// -------------------------------------------------------------------- openapi

fn gv_path(g: &str, v: &str) -> String {
    if g.is_empty() {
        format!("api/{v}")
    } else {
        format!("apis/{g}/{v}")
    }
}

/// A minimal OpenAPI v3 document for one group/version: the PATCH operation of every
/// resource with its parameters, which is what kubectl reads to find out whether the
/// server validates fields itself. No schemas.
fn openapi_gv(g: &str, v: &str, resources: &[Arc<ResourceInfo>]) -> Value {
    let mut paths = Map::new();
    for r in resources {
        let base = if r.namespaced {
            format!(
                "/{}/namespaces/{{namespace}}/{}/{{name}}",
                gv_path(g, v),
                r.plural
            )
        } else {
            format!("/{}/{}/{{name}}", gv_path(g, v), r.plural)
        };
        let op = |suffix: &str| {
            json!({"patch": {
                "operationId": format!("patch{}{}", r.kind, suffix),
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": {"group": g, "version": v, "kind": r.kind},
                "parameters": [
                    {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                    {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                    {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}}
                ],
                "requestBody": {"content": {
                    "application/apply-patch+yaml": {"schema": {"type": "object"}},
                    "application/json-patch+json": {"schema": {"type": "object"}},
                    "application/merge-patch+json": {"schema": {"type": "object"}}
                }, "required": true},
                "responses": {"200": {"description": "OK"}}
            }})
        };
        paths.insert(base.clone(), op(""));
        if r.status {
            paths.insert(format!("{base}/status"), op("Status"));
        }
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": {}}
    })
}

fn doc_hash(v: &Value) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.to_string().hash(&mut h);
    format!("{:016X}", h.finish())
}

fn openapi(srv: &Server, r: &Route) -> Option<Value> {
    let st = srv.lock();
    let groups = served_groups(&st);
    match r {
        Route::OpenApiRoot => {
            let mut paths = Map::new();
            for (g, vs) in &groups {
                for (v, res) in vs {
                    let doc = openapi_gv(g, v, res);
                    paths.insert(
                        gv_path(g, v),
                        json!({"serverRelativeURL": format!("/openapi/v3/{}?hash={}", gv_path(g, v), doc_hash(&doc))}),
                    );
                }
            }
            Some(json!({"paths": paths}))
        }
        Route::OpenApiGroupVersion(g, v) => {
            let res = groups.get(g)?.get(v)?;
            Some(openapi_gv(g, v, res))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------- watch

struct WatchFilter {
    info: Arc<ResourceInfo>,
    collection: String,
    filter: Filter,
    /// Send objects as one-row Tables (`includeObject` value).
    table: Option<String>,
    /// Column definitions go with the first Table only.
    columns_sent: std::sync::atomic::AtomicBool,
}

fn event_line(typ: &str, obj: &Value) -> Bytes {
    let mut v = serde_json::to_vec(&json!({"type": typ, "object": obj})).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

impl WatchFilter {
    /// One event, with the object as a Table when asked.
    fn line(&self, typ: &str, obj: &Arc<Value>) -> Bytes {
        let Some(include) = &self.table else {
            return event_line(typ, obj);
        };
        let rv = crate::store::meta_str(obj, "resourceVersion").to_string();
        let mut t = table::table(
            &self.info,
            &[Arc::clone(obj)],
            json!({"resourceVersion": rv}),
            include,
        );
        if self
            .columns_sent
            .swap(true, std::sync::atomic::Ordering::SeqCst)
            && let Some(m) = t.as_object_mut()
        {
            m.insert("columnDefinitions".into(), Value::Null);
        }
        event_line(typ, &t)
    }

    fn event(&self, c: &Change) -> Option<Bytes> {
        if c.collection != self.collection {
            return None;
        }
        let now = self.filter.matches(&c.key, &c.object);
        let before = c
            .prev
            .as_ref()
            .is_some_and(|p| self.filter.matches(&c.key, p));
        let typ = match c.typ {
            EventType::Added if now => "ADDED",
            EventType::Modified => match (before, now) {
                (true, true) => "MODIFIED",
                (false, true) => "ADDED",
                (true, false) => "DELETED",
                (false, false) => return None,
            },
            EventType::Deleted if before => "DELETED",
            _ => return None,
        };
        Some(self.line(typ, &ops::for_version(&self.info, &c.object)))
    }
}

fn expired_event(rv: &str, oldest: u64) -> Bytes {
    let e = ApiError::expired(format!("too old resource version: {rv} ({oldest})"));
    event_line("ERROR", &e.to_status())
}

/// Starts a watch; also returns the number of initial events.
fn start_watch(
    srv: &Server,
    t: &Target,
    q: &Query,
    headers: &HeaderMap,
) -> Result<(Response, usize), ApiError> {
    let mut filter = Filter::from_query(t, q)?;
    if !t.name.is_empty() {
        let mut fs = format!("metadata.name={}", t.name.replace(',', "\\,"));
        if let Some(f) = q.get("fieldSelector").filter(|f| !f.is_empty()) {
            fs.push(',');
            fs.push_str(f);
        }
        filter.fields =
            crate::selectors::FieldSelector::parse(&fs).map_err(ApiError::bad_request)?;
    }
    let wf = WatchFilter {
        info: Arc::clone(&t.info),
        collection: t.info.collection(),
        filter,
        table: wants_table(headers)
            .then(|| q.get("includeObject").unwrap_or("Metadata").to_string()),
        columns_sent: std::sync::atomic::AtomicBool::new(false),
    };
    let rv_param = q.get("resourceVersion").unwrap_or("").to_string();
    let send_initial = q.get("sendInitialEvents") == Some("true");
    let bookmarks = q.flag("allowWatchBookmarks") && q.get("allowWatchBookmarks").is_some();
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map(|s| Duration::from_secs(s.min(365 * 24 * 3600)));
    let mut initial: Vec<Bytes> = Vec::new();
    let mut fail = false;
    let rx: broadcast::Receiver<Arc<Change>>;
    {
        let st = srv.lock();
        rx = st.events.subscribe();
        if send_initial || rv_param.is_empty() || rv_param == "0" {
            for (k, v) in st.collection(&wf.collection) {
                if wf.filter.matches(k, v) {
                    initial.push(wf.line("ADDED", &ops::for_version(&t.info, v)));
                }
            }
            if send_initial && bookmarks {
                initial.push(event_line(
                    "BOOKMARK",
                    &json!({
                        "kind": t.info.kind,
                        "apiVersion": t.info.api_version(),
                        "metadata": {
                            "resourceVersion": st.rv.to_string(),
                            "annotations": {"k8s.io/initial-events-end": "true"}
                        }
                    }),
                ));
            }
        } else {
            let rv = rv_param.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!("invalid resource version: {}", go_quote(&rv_param)))
            })?;
            match st.changes_since(rv) {
                Some(changes) => {
                    initial.extend(changes.iter().filter_map(|c| wf.event(c)));
                }
                None => {
                    initial.push(expired_event(&rv_param, st.compacted_rv + 1));
                    fail = true;
                }
            }
        }
    }
    let initial_count = initial.len();
    let (tx, body_rx) = mpsc::channel::<Result<Bytes, Infallible>>(1024);
    let mut shutdown = srv.shutdown.clone();
    tokio::spawn(async move {
        let mut rx = rx;
        for line in initial {
            if tx.send(Ok(line)).await.is_err() {
                return;
            }
        }
        if fail {
            return;
        }
        let sleep = tokio::time::sleep(timeout.unwrap_or(Duration::from_secs(365 * 24 * 3600)));
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => break,
                _ = shutdown.changed() => break,
                _ = tx.closed() => break,
                r = rx.recv() => match r {
                    Ok(c) => {
                        if let Some(line) = wf.event(&c)
                            && tx.send(Ok(line)).await.is_err()
                        {
                            break;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let _ = tx.send(Ok(expired_event("0", 0))).await;
                        break;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
            }
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(body_rx);
    let mut r = Response::new(AxBody::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    Ok((r, initial_count))
}

// --------------------------------------------------------------------- verbs

fn outcome_response(o: Outcome) -> Response {
    let body = match o.body {
        Body::Json(v) => serde_json::to_vec(&v).unwrap_or_default(),
        Body::Raw(b) => b,
    };
    response(o.status, body, "application/json", &o.warnings)
}

fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn patch_media_types(info: &ResourceInfo) -> Vec<&'static str> {
    let mut v = vec![
        "application/json-patch+json",
        "application/merge-patch+json",
    ];
    if !info.is_custom() {
        v.push("application/strategic-merge-patch+json");
    }
    v.push("application/apply-patch+yaml");
    v
}

fn table_response(t: &Target, q: &Query, items: &[Arc<Value>], meta: Value) -> Response {
    let include = q.get("includeObject").unwrap_or("Metadata");
    let tbl = table::table(&t.info, items, meta, include);
    response(
        200,
        serde_json::to_vec(&tbl).unwrap_or_default(),
        TABLE_CT,
        &[],
    )
}

/// What handling a request on a resource produced.
struct Handled {
    resp: Response,
    /// The store was written.
    wrote: bool,
    after: Vec<Deferred>,
}

impl Handled {
    fn read(resp: Response) -> Handled {
        Handled {
            resp,
            wrote: false,
            after: Vec::new(),
        }
    }

    fn from(o: Outcome) -> Handled {
        let wrote = o.wrote;
        let after = o.after.clone();
        Handled {
            resp: outcome_response(o),
            wrote,
            after,
        }
    }
}

/// Whether kube-apiserver 1.28 reads a list from etcd rather than its watch cache
/// (`shouldDelegateList`): no resourceVersion, a continue token, a limit unless the version is
/// "0", or an exact version.
fn read_from_etcd(q: &Query) -> bool {
    let version = q.get("resourceVersion").unwrap_or("");
    let limited = q
        .get("limit")
        .is_some_and(|l| l.parse::<i64>().is_ok_and(|l| l > 0));
    version.is_empty()
        || q.get("continue").is_some_and(|c| !c.is_empty())
        || limited && version != "0"
        || !matches!(
            q.get("resourceVersionMatch").unwrap_or(""),
            "" | "NotOlderThan"
        )
}

/// The kind of work a request on a resource is, for the cost model.
fn work_of(method: &Method, t: &Target, q: &Query, headers: &HeaderMap, items: usize) -> Work {
    match *method {
        Method::GET if q.flag("watch") && q.get("watch").is_some() => Work::List(items),
        Method::GET if t.name.is_empty() && read_from_etcd(q) => Work::StorageList(items),
        Method::GET if t.name.is_empty() => Work::List(items),
        Method::GET => Work::Get,
        Method::POST => Work::Create,
        Method::PUT => Work::Update,
        Method::PATCH if media_type(headers) == "application/apply-patch+yaml" => Work::Apply,
        Method::PATCH => Work::Patch,
        Method::DELETE if t.name.is_empty() => Work::List(items),
        Method::DELETE => Work::Delete,
        _ => Work::Light,
    }
}

/// The `force` parameter of a patch: only for apply (a 422 otherwise, as kube).
fn patch_type(headers: &HeaderMap, q: &Query, info: &ResourceInfo) -> Result<PatchType, ApiError> {
    let mt = media_type(headers);
    let force = match q.get("force") {
        None => None,
        Some("true" | "1" | "True") => Some(true),
        Some(_) => Some(false),
    };
    let invalid = |e: FieldError| ApiError::invalid("meta.k8s.io", "PatchOptions", "", &[e]);
    if mt != "application/apply-patch+yaml" && force.is_some() {
        return Err(invalid(FieldError::forbidden(
            "force",
            "may not be specified for non-apply patch",
        )));
    }
    Ok(match mt.as_str() {
        "application/merge-patch+json" => PatchType::Merge,
        "application/json-patch+json" => PatchType::Json,
        "application/strategic-merge-patch+json" if !info.is_custom() => PatchType::Strategic,
        "application/apply-patch+yaml" => {
            if q.get("fieldManager").unwrap_or("").is_empty() {
                return Err(invalid(FieldError::required(
                    "fieldManager",
                    "is required for apply patch",
                )));
            }
            PatchType::Apply {
                force: force.unwrap_or(false),
            }
        }
        _ => return Err(ApiError::unsupported_media_type(&patch_media_types(info))),
    })
}

/// Runs a verb on a resource route; the number of objects listed goes to `items`.
fn resource_verb(
    srv: &Server,
    req: &RequestParts,
    t: &Target,
    body: &[u8],
    items: &mut usize,
) -> Result<Handled, ApiError> {
    let (method, headers, q) = (&req.method, &req.headers, &req.query);
    let info = &t.info;
    let collection = t.name.is_empty();
    let all_namespaces = info.namespaced && t.namespace.is_empty();
    let delete_now = srv.controls.deletion_delay().is_zero();
    let write_opts = |kind: &str| -> Result<WriteOpts, ApiError> {
        let mut o = WriteOpts::from_query(q, kind, &req.user_agent)?;
        o.establish_now = srv.establish_delay.is_zero();
        o.delete_now = delete_now;
        Ok(o)
    };
    let watching = q.flag("watch") && q.get("watch").is_some();
    match (method, collection) {
        (&Method::GET, _) if watching => {
            let (resp, n) = start_watch(srv, t, q, headers)?;
            *items = n;
            Ok(Handled::read(resp))
        }
        (&Method::GET, true) => {
            let st = srv.lock();
            let page = ops::list_page(&st, t, q)?;
            *items = page.items.len();
            let meta = ops::list_meta(&page);
            if wants_table(headers) {
                return Ok(Handled::read(table_response(t, q, &page.items, meta)));
            }
            Ok(Handled::read(outcome_response(ops::list_outcome(
                t, &page, meta,
            ))))
        }
        (&Method::GET, false) => {
            let st = srv.lock();
            if wants_table(headers) && !t.scale {
                let obj = st
                    .get(&info.collection(), &ops_key(t))
                    .ok_or_else(|| ApiError::not_found(&info.group, &info.plural, &t.name))?;
                let meta =
                    json!({"resourceVersion": crate::store::meta_str(&obj, "resourceVersion")});
                let obj = ops::for_version(info, &obj);
                return Ok(Handled::read(table_response(t, q, &[obj], meta)));
            }
            Ok(Handled::from(ops::get(&st, t)?))
        }
        (&Method::POST, true) if !all_namespaces && !t.status && !t.scale => {
            let body = json_body(headers, body)?;
            let opts = write_opts("CreateOptions")?;
            let mut st = srv.lock();
            Ok(Handled::from(ops::create(&mut st, t, &body, opts)?))
        }
        (&Method::PUT, false) => {
            let body = json_body(headers, body)?;
            let opts = write_opts("UpdateOptions")?;
            let mut st = srv.lock();
            if t.scale {
                return Ok(Handled::from(crate::apply::update_scale(
                    &mut st, t, &body, opts,
                )?));
            }
            Ok(Handled::from(ops::update(&mut st, t, &body, opts)?))
        }
        (&Method::PATCH, false) => {
            let ptype = patch_type(headers, q, info)?;
            let opts = write_opts("PatchOptions")?;
            let mut st = srv.lock();
            Ok(Handled::from(ops::patch(&mut st, t, ptype, body, opts)?))
        }
        (&Method::DELETE, false) if !t.status && !t.scale => {
            let o = ops::delete_opts(body, q, delete_now)?;
            let mut st = srv.lock();
            Ok(Handled::from(ops::delete(&mut st, t, o)?))
        }
        (&Method::DELETE, true)
            if !all_namespaces && !t.status && info.verbs().contains(&"deletecollection") =>
        {
            let o = ops::delete_opts(body, q, delete_now)?;
            let mut st = srv.lock();
            Ok(Handled::from(ops::delete_collection(&mut st, t, q, o)?))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn ops_key(t: &Target) -> String {
    crate::store::object_key(&t.namespace, &t.name)
}

/// The JSON body of a create or update (protobuf bodies of Namespaces, ConfigMaps
/// and Secrets, as kubectl's imperative commands send them, are converted).
fn json_body<'a>(
    headers: &HeaderMap,
    body: &'a [u8],
) -> Result<std::borrow::Cow<'a, [u8]>, ApiError> {
    let mt = media_type(headers);
    if mt.is_empty() || mt == "application/json" || mt == "*/*" {
        Ok(std::borrow::Cow::Borrowed(body))
    } else if mt == "application/vnd.kubernetes.protobuf" {
        let v = crate::protobuf::decode(body).map_err(ApiError::bad_request)?;
        Ok(std::borrow::Cow::Owned(
            serde_json::to_vec(&v).unwrap_or_default(),
        ))
    } else {
        Err(ApiError::unsupported_media_type(&[
            "application/json",
            "application/vnd.kubernetes.protobuf",
        ]))
    }
}

// ------------------------------------------------------------------- requests

/// What the handler needs of a request besides its body.
struct RequestParts {
    method: Method,
    path: String,
    query: Query,
    headers: HeaderMap,
    user_agent: String,
}

/// The answer of API Priority and Fairness to a request it cannot take: plain text,
/// as kube-apiserver sends it.
fn too_many_requests(retry_after: u64) -> Response {
    let mut r = response(
        429,
        b"Too many requests, please try again later.\n".to_vec(),
        "text/plain; charset=utf-8",
        &[],
    );
    if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// The authorization attributes of a request.
fn attributes(r: &Route, req: &RequestParts) -> Attributes {
    let Route::Resource(p) = r else {
        return Attributes {
            verb: req.method.as_str().to_ascii_lowercase(),
            path: req.path.clone(),
            ..Attributes::default()
        };
    };
    let watching = req.query.flag("watch") && req.query.get("watch").is_some();
    let verb = match (&req.method, p.name.is_some()) {
        (&Method::GET, _) if watching => "watch",
        (&Method::GET, true) => "get",
        (&Method::GET, false) => "list",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, true) => "delete",
        (&Method::DELETE, false) => "deletecollection",
        (m, _) => {
            return Attributes {
                verb: m.as_str().to_ascii_lowercase(),
                resource_request: true,
                ..Attributes::default()
            };
        }
    };
    // A namespace is in its own namespace, as kube's request info puts it.
    let namespace = match &p.namespace {
        Some(ns) => ns.clone(),
        None if p.group.is_empty() && p.plural == "namespaces" => {
            p.name.clone().unwrap_or_default()
        }
        None => String::new(),
    };
    Attributes {
        verb: verb.into(),
        group: p.group.clone(),
        resource: p.plural.clone(),
        subresource: p.sub.clone().unwrap_or_default(),
        name: p.name.clone().unwrap_or_default(),
        namespace,
        path: req.path.clone(),
        resource_request: true,
    }
}

/// The axum handler for everything.
pub(crate) async fn handle(AxState(srv): AxState<Arc<Server>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let r = route(&path);
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let rp = RequestParts {
        method: parts.method.clone(),
        path,
        query: Query::parse(parts.uri.query()),
        headers: parts.headers.clone(),
        user_agent,
    };
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return error_response(&ApiError::too_large(MAX_BODY)),
    };
    match &r {
        Route::Mini(_) if !matches!(rp.method, Method::GET | Method::POST) => {
            return error_response(&ApiError::method_not_allowed());
        }
        Route::Mini(what) => {
            return match crate::mini::handle(
                &srv.faults,
                &srv.controls,
                what,
                rp.method == Method::POST,
                &body,
            ) {
                Ok(v) => json_response(200, &v),
                Err(e) => error_response(&e),
            };
        }
        Route::Health => {
            srv.faults.count_request();
            return response(200, b"ok".to_vec(), "text/plain; charset=utf-8", &[]);
        }
        _ => srv.faults.count_request(),
    }
    let authorization = rp
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let user = match auth::authenticate(authorization, &srv.controls.lock().options) {
        Ok(u) => u,
        Err(e) => return error_response(&e),
    };
    if let Some(retry) = srv.faults.take_throttle() {
        return too_many_requests(retry);
    }
    let attrs = attributes(&r, &rp);
    let decision = {
        let st = srv.lock();
        auth::authorize(&st, &srv.controls.lock().options, &user, &attrs)
    };
    match decision {
        Decision::Allow(_) => {}
        Decision::Deny(reason) => return error_response(&auth::forbidden(&user, &attrs, &reason)),
        Decision::NoOpinion => return error_response(&auth::forbidden(&user, &attrs, "")),
    }
    let watching = rp.query.flag("watch") && rp.query.get("watch").is_some();
    let _seat = if watching {
        None
    } else {
        match srv.controls.limiter().acquire(&user.name).await {
            Some(seat) => Some(seat),
            None => return too_many_requests(1),
        }
    };
    let is_write = matches!(
        rp.method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if is_write && matches!(r, Route::Resource(_)) {
        let plan = srv.faults.plan_write();
        if !plan.sleep.is_zero() {
            let mut stop = srv.shutdown.clone();
            tokio::select! {
                _ = tokio::time::sleep(plan.sleep) => {}
                _ = stop.wait_for(|v| *v) => {
                    return error_response(&ApiError::injected(503, None));
                }
            }
        }
        if let Some((code, retry)) = plan.fail {
            return error_response(&ApiError::injected(code, retry));
        }
    }
    let cpu_start = cost::thread_cpu_time();
    let (resp, work) = handle_api(&srv, &r, &rp, &user, &body);
    charge(
        &srv,
        work,
        cost::thread_cpu_time().saturating_sub(cpu_start),
    )
    .await;
    resp
}

/// Adds the busy work a request still owes to the cost model, on a blocking thread
/// (where it takes a core, as a real server's request handling does).
async fn charge(srv: &Server, work: Work, spent: Duration) {
    let factor = srv.controls.cost();
    let owed = cost::owed(work, factor, spent);
    if factor > 0.0 {
        srv.controls.record_cost(work.verb(), spent + owed);
    }
    if !owed.is_zero() {
        let _ = tokio::task::spawn_blocking(move || cost::burn(owed)).await;
    }
}

/// Answers an authorized API request (not a control endpoint, not a health probe).
fn handle_api(
    srv: &Arc<Server>,
    r: &Route,
    rp: &RequestParts,
    user: &User,
    body: &[u8],
) -> (Response, Work) {
    let Route::Resource(p) = r else {
        if rp.method != Method::GET {
            return (error_response(&ApiError::method_not_allowed()), Work::Light);
        }
        let doc = if matches!(r, Route::OpenApiRoot | Route::OpenApiGroupVersion(..)) {
            openapi(srv, r)
        } else {
            discovery(srv, r)
        };
        let resp = match doc {
            Some(v) => json_response(200, &v),
            None => error_response(&ApiError::path_not_found()),
        };
        return (resp, Work::Light);
    };
    let target = {
        let st = srv.lock();
        let Some(info) = resolve(&st, &p.group, &p.version, &p.plural) else {
            return (error_response(&ApiError::path_not_found()), Work::Light);
        };
        if p.namespace.is_some() && !info.namespaced
            || info.namespaced && p.namespace.is_none() && p.name.is_some()
        {
            return (error_response(&ApiError::path_not_found()), Work::Light);
        }
        let (status, scale) = match p.sub.as_deref() {
            None => (false, false),
            Some("status") if info.status => (true, false),
            Some("scale") if info.scale => (false, true),
            Some(_) => return (error_response(&ApiError::path_not_found()), Work::Light),
        };
        Target {
            info,
            namespace: p.namespace.clone().unwrap_or_default(),
            name: p.name.clone().unwrap_or_default(),
            status,
            scale,
        }
    };
    if target.info.builtin == Some(Builtin::SelfSubjectAccessReview) {
        let resp = if rp.method == Method::POST && target.name.is_empty() {
            let review = json_body(&rp.headers, body).and_then(|b| {
                let st = srv.lock();
                auth::self_subject_access_review(&st, &srv.controls.lock().options, user, &b)
            });
            match review {
                Ok(v) => json_response(201, &v),
                Err(e) => error_response(&e),
            }
        } else {
            error_response(&ApiError::method_not_allowed())
        };
        return (resp, Work::Light);
    }
    let mut items = 0;
    let result = resource_verb(srv, rp, &target, body, &mut items);
    let work = work_of(&rp.method, &target, &rp.query, &rp.headers, items);
    match result {
        Ok(h) => {
            if h.wrote {
                srv.faults.count_write();
            }
            for d in h.after {
                schedule(srv, d);
            }
            (h.resp, work)
        }
        Err(e) => (error_response(&e), work),
    }
}

/// Runs deferred work after its delay: a CRD becomes Established, a terminating
/// namespace or CRD goes away.
fn schedule(srv: &Arc<Server>, d: Deferred) {
    let srv = Arc::clone(srv);
    tokio::spawn(async move {
        let delay = match &d {
            Deferred::Establish { .. } => srv.establish_delay,
            Deferred::Purge { .. } => srv.controls.deletion_delay(),
        };
        tokio::time::sleep(delay).await;
        let mut st = srv.lock();
        match d {
            Deferred::Establish { name, uid } => ops::establish_crd(&mut st, &name, &uid),
            Deferred::Purge { builtin, name, uid } => ops::purge(&mut st, builtin, &name, &uid),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert!(
            matches!(route("/api/v1/namespaces/x/configmaps/y"), Route::Resource(ref p) if p.namespace.as_deref() == Some("x") && p.name.as_deref() == Some("y"))
        );
        assert!(
            matches!(route("/api/v1/namespaces/x"), Route::Resource(ref p) if p.namespace.is_none() && p.plural == "namespaces" && p.name.as_deref() == Some("x"))
        );
        assert!(
            matches!(route("/api/v1/namespaces/x/status"), Route::Resource(ref p) if p.sub.as_deref() == Some("status"))
        );
        assert!(
            matches!(route("/apis/g.io/v1/namespaces/ns/foos/a/status"), Route::Resource(ref p) if p.sub.as_deref() == Some("status"))
        );
        assert!(matches!(route("/apis/g.io/v1/foos/a/b/c"), Route::NotFound));
        assert!(matches!(route("/openapi/v2"), Route::NotFound));
        assert!(matches!(
            route("/openapi/v3/apis/g.io/v1"),
            Route::OpenApiGroupVersion(..)
        ));
    }

    #[test]
    fn table_accept() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static(
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
            ),
        );
        assert!(wants_table(&h));
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert!(!wants_table(&h));
    }
}
