//! Helpers shared by the integration tests: a small blocking HTTP/1.1 client and the
//! Calico CRD fixtures.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v1::Scale;
use mini_apiserver::{BackgroundServer, Controls, Options};
use serde_json::{Value, json};

/// One HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn all_headers(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Asserts a Kubernetes Status failure and returns its message.
    pub fn message_of(&self, code: u16, reason: &str) -> String {
        self.status_of(code, reason)["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Asserts a Kubernetes Status failure and returns it.
    #[track_caller]
    pub fn status_of(&self, code: u16, reason: &str) -> Value {
        let v = self.json();
        assert_eq!(self.status, code, "unexpected status: {v}");
        assert_eq!(v["kind"], "Status", "{v}");
        assert_eq!(v["apiVersion"], "v1", "{v}");
        assert_eq!(v["status"], "Failure", "{v}");
        assert_eq!(v["reason"], reason, "{v}");
        assert_eq!(v["code"], code, "{v}");
        v
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = body.windows(2).position(|w| w == b"\r\n") {
        let size_line = String::from_utf8_lossy(&body[..pos]).to_string();
        let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        body = &body[pos + 2..];
        if size == 0 || body.len() < size {
            break;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[(size + 2).min(body.len())..];
    }
    out
}

/// A client for one server.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    /// Sent as `Authorization: Bearer TOKEN`.
    pub token: Option<String>,
}

impl Client {
    pub fn new(base: &str) -> Client {
        Client {
            base: base.to_string(),
            token: None,
        }
    }

    /// The same client, authenticating with a bearer token.
    pub fn with_token(&self, token: &str) -> Client {
        Client {
            base: self.base.clone(),
            token: Some(token.to_string()),
        }
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Resp {
        let host = self.base.trim_start_matches("http://").to_string();
        let mut s = TcpStream::connect(&host).expect("connect to the server");
        s.set_read_timeout(Some(Duration::from_secs(20))).ok();
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
        if let Some(t) = &self.token {
            req.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        let body = body.unwrap_or(b"");
        if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).expect("write request");
        s.write_all(body).expect("write body");
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).expect("read response");
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("response has headers");
        let head = String::from_utf8_lossy(&raw[..split]).to_string();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("status code");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let mut body = raw[split + 4..].to_vec();
        if headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
        {
            body = dechunk(&body);
        }
        Resp {
            status,
            headers,
            body,
        }
    }

    pub fn get(&self, path: &str) -> Resp {
        self.request("GET", path, &[], None)
    }

    pub fn get_json(&self, path: &str) -> Value {
        let r = self.get(path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        r.json()
    }

    /// A request with a body of content type `content_type`.
    pub fn send(&self, method: &str, path: &str, content_type: &str, body: &[u8]) -> Resp {
        self.request(method, path, &[("Content-Type", content_type)], Some(body))
    }

    /// A request with `body` as JSON, of content type `content_type`.
    pub fn send_json(&self, method: &str, path: &str, content_type: &str, body: &Value) -> Resp {
        self.send(
            method,
            path,
            content_type,
            &serde_json::to_vec(body).unwrap(),
        )
    }

    pub fn post(&self, path: &str, body: &Value) -> Resp {
        self.send_json("POST", path, "application/json", body)
    }

    /// POST that must succeed with 201; returns the object.
    pub fn create(&self, path: &str, body: &Value) -> Value {
        let r = self.post(path, body);
        assert_eq!(r.status, 201, "POST {path}: {}", r.text());
        r.json()
    }

    pub fn put(&self, path: &str, body: &Value) -> Resp {
        self.send_json("PUT", path, "application/json", body)
    }

    pub fn patch(&self, path: &str, content_type: &str, body: &Value) -> Resp {
        self.send_json("PATCH", path, content_type, body)
    }

    pub fn merge_patch(&self, path: &str, body: &Value) -> Resp {
        self.patch(path, "application/merge-patch+json", body)
    }

    /// Server-side apply of a YAML or JSON text; `query` is appended as is
    /// (`fieldManager=x&force=true`).
    pub fn apply_text(&self, path: &str, query: &str, text: &str) -> Resp {
        self.request(
            "PATCH",
            &format!("{path}?{query}"),
            &[("Content-Type", "application/apply-patch+yaml")],
            Some(text.as_bytes()),
        )
    }

    /// Server-side apply of an object by a field manager.
    pub fn apply(&self, path: &str, manager: &str, body: &Value) -> Resp {
        self.apply_text(
            path,
            &format!("fieldManager={manager}"),
            &serde_json::to_string(body).unwrap(),
        )
    }

    pub fn delete(&self, path: &str) -> Resp {
        self.request("DELETE", path, &[], None)
    }

    pub fn delete_with(&self, path: &str, body: &Value) -> Resp {
        let b = serde_json::to_vec(body).unwrap();
        self.request(
            "DELETE",
            path,
            &[("Content-Type", "application/json")],
            Some(&b),
        )
    }
}

/// A kube-rs client for a server, from the kubeconfig the server writes.
pub async fn kube_client(s: &mini_apiserver::ApiServer) -> kube::Client {
    let kc = kube::config::Kubeconfig::from_yaml(&s.kubeconfig("mini")).expect("kubeconfig parses");
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .expect("config");
    kube::Client::try_from(cfg).expect("client")
}

/// Patches the object `name` with kube-rs's default PatchParams.
pub async fn patch<K>(
    api: &kube::Api<K>,
    name: &str,
    patch: kube::api::Patch<Value>,
) -> kube::Result<K>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch(name, &kube::api::PatchParams::default(), &patch)
        .await
}

/// Scales the Deployment `name` to `replicas` through its scale subresource.
pub async fn scale_deployment(
    api: &kube::Api<Deployment>,
    name: &str,
    replicas: i32,
) -> kube::Result<Scale> {
    let patch = kube::api::Patch::Merge(json!({"spec": {"replicas": replicas}}));
    api.patch_scale(name, &kube::api::PatchParams::default(), &patch)
        .await
}

/// Starts a server with a short CRD establish delay.
pub fn server() -> (BackgroundServer, Client) {
    server_with_options(Options {
        crd_establish_delay: Duration::from_millis(5),
        ..Options::default()
    })
}

/// Starts a server with `options`, and a client for it.
pub fn server_with_options(options: Options) -> (BackgroundServer, Client) {
    let s = BackgroundServer::start(options).expect("server starts");
    let c = Client::new(&s.url());
    (s, c)
}

pub fn fixtures_dir() -> PathBuf {
    // The repository vendors upstream Calico's CRDs once, at the top level.
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../crds")
}

/// All 22 CRD manifests as JSON.
pub fn calico_crds() -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).expect("read fixture");
            serde_saphyr::from_str::<Value>(&text).expect("fixture is YAML")
        })
        .collect()
}

/// One CRD manifest by plural (e.g. "ippools").
pub fn calico_crd(plural: &str) -> Value {
    calico_crds()
        .into_iter()
        .find(|c| c["spec"]["names"]["plural"] == plural)
        .unwrap_or_else(|| panic!("no CRD for {plural}"))
}

pub const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
pub const CALICO: &str = "/apis/crd.projectcalico.org/v1";

/// Polls until `path` answers 200 (the CRD behind it is Established).
pub fn wait_served(c: &Client, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if c.get(path).status == 200 {
            return;
        }
        assert!(Instant::now() < deadline, "{path} never served");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Creates the given CRD manifests and waits until they are served.
pub fn install(c: &Client, crds: &[Value]) {
    for crd in crds {
        c.create(CRDS, crd);
    }
    for crd in crds {
        let plural = crd["spec"]["names"]["plural"].as_str().unwrap();
        let group = crd["spec"]["group"].as_str().unwrap();
        let version = crd["spec"]["versions"][0]["name"].as_str().unwrap();
        wait_served(c, &format!("/apis/{group}/{version}/{plural}"));
    }
}

/// Installs the CRDs of these Calico plurals.
pub fn install_calico(c: &Client, plurals: &[&str]) {
    let crds: Vec<Value> = plurals.iter().map(|p| calico_crd(p)).collect();
    install(c, &crds);
}

/// Calico's install manifests, kept with the repository's test fixtures.
pub fn manifests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/manifests")
}

/// The documents of one of the vendored Calico manifests (`calico.yaml`...), read as
/// kubectl reads YAML: `defaultMode: 0400` is octal.
pub fn manifest(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(manifests_dir().join(file)).expect("read manifest");
    let mut options = serde_saphyr::Options::default();
    options.legacy_octal_numbers = true;
    let docs: Vec<Value> =
        serde_saphyr::from_str_multiple_with_options(&text, options).expect("manifest is YAML");
    docs.into_iter().filter(|d| d.is_object()).collect()
}

/// The URL path of an object: `/apis/apps/v1/namespaces/kube-system/daemonsets/calico-node`.
pub fn object_path(obj: &Value) -> String {
    let av = obj["apiVersion"].as_str().unwrap();
    let kind = obj["kind"].as_str().unwrap();
    let plural = match kind {
        "PodDisruptionBudget" => "poddisruptionbudgets".to_string(),
        "ValidatingAdmissionPolicy" => "validatingadmissionpolicies".to_string(),
        "MutatingAdmissionPolicy" => "mutatingadmissionpolicies".to_string(),
        k => format!("{}s", k.to_lowercase()),
    };
    let prefix = if av.contains('/') {
        format!("/apis/{av}")
    } else {
        format!("/api/{av}")
    };
    let name = obj["metadata"]["name"].as_str().unwrap();
    match obj["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{prefix}/namespaces/{ns}/{plural}/{name}"),
        None => format!("{prefix}/{plural}/{name}"),
    }
}

/// Polls `f` until it is true (5 s at most).
pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The resource names of a discovery document (`APIResourceList`).
pub fn resource_names(doc: &Value) -> Vec<String> {
    doc["resources"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter_map(|r| r["name"].as_str())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// One resource of a discovery document, by name.
pub fn resource_entry<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["resources"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["name"] == name))
        .unwrap_or_else(|| panic!("no {name} in {doc}"))
}

/// A minimal object.
pub fn obj(api_version: &str, kind: &str, name: &str, rest: Value) -> Value {
    let mut v = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}});
    if let (Some(m), Value::Object(r)) = (v.as_object_mut(), rest) {
        m.extend(r);
    }
    v
}

/// The `causes[].message` of a Status, prefixed with the field as in the message.
pub fn causes(status: &Value) -> Vec<String> {
    status["details"]["causes"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    format!(
                        "{}: {}",
                        c["field"].as_str().unwrap_or(""),
                        c["message"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `n` IPPools named `<prefix>-<i>`, created one by one.
pub fn create_pools(c: &Client, prefix: &str, n: u32) {
    for i in 0..n {
        let pool = json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
            "metadata": {"name": format!("{prefix}-{i}")},
            "spec": {"cidr": format!("10.{}.{}.0/24", i / 256, i % 256), "ipipMode": "Always", "natOutgoing": true}});
        c.create(&format!("{CALICO}/ippools"), &pool);
    }
}

/// A server serving IPPools, with the cost model off (0) until the test turns it on.
pub fn ippool_server_without_cost() -> (BackgroundServer, Client) {
    let (s, c) = server();
    install_calico(&c, &["ippools"]);
    s.controls().set_cost(0.0);
    (s, c)
}

/// The requests of `verb` the server handled during `f`, and the CPU accounted to them.
pub fn verb_cost(controls: &Controls, verb: &str, f: impl FnOnce()) -> (u64, Duration) {
    let (n0, cpu0) = controls
        .cost_stats()
        .by_verb
        .get(verb)
        .copied()
        .unwrap_or_default();
    f();
    let (n1, cpu1) = controls.cost_stats().by_verb[verb];
    (n1 - n0, cpu1 - cpu0)
}

/// The `name` of each element of an array (containers, env entries, columns…).
pub fn names(array: &Value) -> Vec<String> {
    array
        .as_array()
        .expect("an array")
        .iter()
        .map(|e| e["name"].as_str().expect("a name").to_string())
        .collect()
}

/// The `metadata.name` of each item of a list.
pub fn item_names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|i| i["metadata"]["name"].as_str().expect("a name").to_string())
        .collect()
}

/// The `message` of a Status contains `part`.
#[track_caller]
pub fn assert_message_contains(status: &Value, part: &str) {
    let message = status["message"].as_str().expect("a message");
    assert!(message.contains(part), "{part:?} not in {message:?}");
}

/// The `message` of a Status starts with `prefix`.
#[track_caller]
pub fn assert_message_starts_with(status: &Value, prefix: &str) {
    let message = status["message"].as_str().expect("a message");
    assert!(
        message.starts_with(prefix),
        "{message:?} does not start with {prefix:?}"
    );
}

/// `response` is a Kubernetes Status failure with `message`; returns the Status.
#[track_caller]
pub fn failure(response: &Resp, code: u16, reason: &str, message: impl AsRef<str>) -> Value {
    let status = response.status_of(code, reason);
    assert_eq!(status["message"], message.as_ref(), "{status}");
    status
}

/// The response is a failure Status holding `expected`: its code, reason and message, and of
/// any other field given only what is given (`"details": {"causes": [...]}` checks the causes).
#[track_caller]
pub fn assert_status(response: &Resp, expected: Value) {
    let code = expected["code"].as_u64().expect("the expected code") as u16;
    let reason = expected["reason"].as_str().expect("the expected reason");
    let status = response.status_of(code, reason);
    assert_holds(&status, &expected, "");
}

/// Every field of `expected` is in `actual` with the same value; objects are compared field by
/// field, anything else as a whole.
#[track_caller]
fn assert_holds(actual: &Value, expected: &Value, path: &str) {
    match expected.as_object() {
        Some(fields) => {
            for (name, value) in fields {
                assert_holds(&actual[name], value, &format!("{path}.{name}"));
            }
        }
        None => assert_eq!(actual, expected, "{path}"),
    }
}

/// The discovery document lists each of `names` among its resources.
#[track_caller]
pub fn assert_lists_resources(doc: &Value, names: &[&str]) {
    let listed = resource_names(doc);
    for name in names {
        assert!(
            listed.iter().any(|l| l == name),
            "{name} missing from {listed:?}"
        );
    }
}

/// `list` holds `item`.
#[track_caller]
pub fn assert_listed(list: &[String], item: &str) {
    assert!(list.iter().any(|l| l == item), "{item:?} not in {list:#?}");
}

/// The object's status has a condition of type `kind` whose `field` is `value`.
pub fn has_condition(obj: &Value, kind: &str, field: &str, value: &str) -> bool {
    obj["status"]["conditions"]
        .as_array()
        .is_some_and(|conds| conds.iter().any(|c| c["type"] == kind && c[field] == value))
}
