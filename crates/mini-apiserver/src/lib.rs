//! A small in-memory Kubernetes API server that answers like kube-apiserver.
//!
//! It serves JSON over plain HTTP on `127.0.0.1`, for the test suite, the benchmark and
//! the sandbox of `kubectl calico-migrate`. The aim is faithfulness: the status codes,
//! reasons and messages, the metadata the server assigns, and above all the handling
//! of custom resources by their CRD's structural schema (pruning, defaulting,
//! validation) follow kube-apiserver.
//!
//! # What is served
//! - Discovery: `/version` (v1.32.0), `/api`, `/api/v1`, `/apis`, `/apis/GROUP`,
//!   `/apis/GROUP/VERSION` (legacy discovery documents; aggregated discovery is not
//!   offered, clients fall back). See below for `/openapi`.
//! - Core v1 `namespaces` (with `/status`), `configmaps`, `secrets`, `nodes` (with
//!   `/status`), and `apiextensions.k8s.io/v1` `customresourcedefinitions` (with
//!   `/status`).
//! - The custom resources of every *Established* CRD, in every served version
//!   (conversion strategy None: only `apiVersion` differs), cluster-scoped or
//!   namespaced (plus the all-namespaces list), with a `/status` subresource when
//!   the version declares one. A CRD becomes Established `crd_establish_delay` after
//!   it is created; until then its resources answer 404 like the real server.
//! - Verbs: get, list (`limit`/`continue`, `labelSelector`, `fieldSelector`), watch
//!   (`watch=true`, with `resourceVersion`, `timeoutSeconds`, `sendInitialEvents`),
//!   create (with `generateName`), update, patch (merge, JSON; strategic merge for
//!   built-in kinds only, 415 for custom resources), delete (with DeleteOptions
//!   preconditions), deletecollection, `dryRun=All`, `fieldValidation`
//!   (Ignore/Warn/Strict; Warn is the default and sends `Warning: 299 - "unknown
//!   field \"spec.foo\""` headers), and the `as=Table;v=v1;g=meta.k8s.io` form of
//!   get/list that `kubectl get` asks for.
//!
//! # Behaviour worth knowing
//! - `resourceVersion` is one global counter; a no-op update does not bump it.
//! - Lists are ordered by `namespace/name` (etcd key order). A continued list is a
//!   consistent snapshot: the pages after the first show the collection as it was
//!   when the first page was served (objects created, changed or deleted since are
//!   seen as they were), like etcd's MVCC. Snapshots come from a change log of the
//!   last 100 000 writes; a token older than that gets 410 Expired.
//!   `remainingItemCount` is given only for lists without selectors, as the real
//!   server does.
//! - Custom resources: unknown fields are pruned (except under
//!   `x-kubernetes-preserve-unknown-fields`), non-nullable `null`s without a default
//!   are dropped, `default`s are applied on create, update and patch, and the schema
//!   is validated (types, `x-kubernetes-int-or-string`, `nullable`, `required`,
//!   `enum`, `pattern` with Go RE2 semantics, the formats kube checks, min/max,
//!   lengths, item counts, `uniqueItems`, `x-kubernetes-list-type` set/map,
//!   `additionalProperties`, `allOf`/`anyOf`/`oneOf`/`not`), all causes at once.
//!   **CEL rules (`x-kubernetes-validations`) are not evaluated**, like the v1.24
//!   server the project measured; `int32`/`int64` formats are not range-checked.
//!   Updates of custom resources (and CRDs) must carry `metadata.resourceVersion`.
//! - Deletion is immediate unless the object has `metadata.finalizers` (then it gets
//!   a `deletionTimestamp` and goes when the last finalizer is removed). Deleting a
//!   CRD deletes its custom resources, deleting a namespace deletes its contents, at
//!   once. A delete answers with a `Status` of `Success`, except for namespaces and
//!   CRDs which answer with the object (as the real server does). `default`,
//!   `kube-system` and `kube-public` cannot be deleted (403).
//! - Request bodies are JSON; the protobuf bodies kubectl's imperative commands send
//!   (`kubectl create namespace|configmap|secret`) are understood for those three
//!   kinds. Responses are always JSON.
//! - Not implemented: server-side apply (`application/apply-patch+yaml` gets 415),
//!   YAML bodies and other protobuf bodies (415 / 400),
//!   `managedFields`, garbage collection of owner references, admission webhooks,
//!   authentication and authorization (every request is allowed), aggregated
//!   discovery, OpenAPI schemas, the `pods`, `services` and `apps` resources.
//!
//! # kubectl
//! kubectl 1.32 works against it with a kubeconfig from [`ApiServer::kubeconfig`]:
//! `get` (Table output), `create -f`, `apply -f`, `create namespace|configmap|secret`,
//! `delete`, `patch`, `label`, `edit`; no extra flags are needed. `/openapi/v3` serves a
//! minimal document (one PATCH operation per resource, no schemas): enough for kubectl
//! to see that the server validates fields itself, so its default `--validate=strict`
//! sends `fieldValidation=Strict` and the server answers unknown fields with a 400
//! (`--validate=false` sends `fieldValidation=Ignore`). `/openapi/v2` answers 404:
//! `kubectl explain` does not work, and `kubectl apply` computes strategic merge
//! patches of built-in kinds from its compiled-in types and JSON merge patches for
//! custom resources. Give kubectl its own `--cache-dir` when a server is restarted on
//! a port a previous one used.
//!
//! # Fault injection over HTTP
//! When the server runs as a separate process, the [`Faults`] controls are available
//! over HTTP. These endpoints are not counted in `requests`:
//! - `GET /_mini/stats` → `{"requests": N, "writes": N}`
//! - `POST /_mini/faults` with a JSON object; every key is optional, they are
//!   applied in this order, and the answer is the stats object:
//!   ```json
//!   {
//!     "clear": true,
//!     "latency_ms": 3,
//!     "fail_writes_after": {"n": 10, "status": 503, "retry_after_secs": 2},
//!     "fail_next_writes": {"n": 2, "status": 500},
//!     "delay_writes_after": {"n": 5, "delay_ms": 200}
//!   }
//!   ```
//!   (`fail_next_writes` also accepts `count` for `n`.) An unknown key is a 400.
//!
//! Writes are POST, PUT, PATCH and DELETE on API resources; `writes` counts the
//! successful ones that changed the store (not dry runs, not failures).

mod apf;
mod apply;
mod auth;
mod controls;
mod cost;
mod errors;
mod faults;
mod fields;
mod kinds;
mod managed;
mod mini;
mod ops;
mod patch;
mod protobuf;
mod regex_go;
mod registry;
mod rollout;
mod schema;
mod selectors;
mod server;
mod store;
mod table;
mod validation;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;

pub use controls::{Apf, Controls, CostStats, Denial, Rollout, Stall, TokenUser, parse_token_file};
pub use faults::Faults;

/// Server options.
#[derive(Debug, Clone)]
pub struct Options {
    /// Added to every write request (POST/PUT/PATCH/DELETE); 0 by default.
    pub latency: Duration,
    /// Time between the creation of a CRD and its Established condition; until then
    /// its custom resources are 404, like on the real server. 50 ms by default.
    pub crd_establish_delay: Duration,
    /// Namespaces created at start.
    pub namespaces: Vec<String>,
    /// How DaemonSet and Deployment rollouts progress.
    pub rollout: Rollout,
    /// Users known by bearer token.
    pub tokens: Vec<TokenUser>,
    /// Refuse requests without a known token (401) instead of treating them as the admin.
    pub require_token: bool,
    /// Requests refused to everybody (403).
    pub denials: Vec<Denial>,
    /// CPU cost factor of requests: 1 costs what a real kube-apiserver spends, 0 is free.
    pub cost: f64,
    /// API Priority and Fairness limits.
    pub apf: Apf,
    /// How long a deleted namespace or CRD stays Terminating before it and its content
    /// go; 0 deletes at once.
    pub deletion_delay: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            latency: Duration::ZERO,
            crd_establish_delay: Duration::from_millis(50),
            namespaces: ["default", "kube-system", "kube-public", "kube-node-lease"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            rollout: Rollout::default(),
            tokens: Vec::new(),
            require_token: false,
            denials: Vec::new(),
            cost: 1.0,
            apf: Apf::default(),
            deletion_delay: Duration::ZERO,
        }
    }
}

/// A kubeconfig for a server URL: one cluster, one user without credentials, one
/// context (named `context_name`, also used for the cluster and the user), set as
/// current, with namespace `default`.
pub fn kubeconfig_for(url: &str, context_name: &str) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {c}\n  cluster:\n    server: {u}\nusers:\n- name: {c}\n  user: {{}}\ncontexts:\n- name: {c}\n  context:\n    cluster: {c}\n    user: {c}\n    namespace: default\ncurrent-context: {c}\npreferences: {{}}\n",
        c = q(context_name),
        u = q(url)
    )
}

/// Parses a duration such as `3ms`, `50ms`, `1.5s`, `2m`, `250us`, `1h` or `0`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("missing unit in duration {s:?}"))?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
    let secs = match unit {
        "ns" => n / 1e9,
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("unknown unit {unit:?} in duration {s:?}")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

/// A running server.
pub struct ApiServer {
    url: String,
    addr: SocketAddr,
    faults: Faults,
    controls: Controls,
    shutdown_tx: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ApiServer {
    /// Starts a server on `127.0.0.1:<free port>`.
    pub async fn start(opts: Options) -> std::io::Result<ApiServer> {
        ApiServer::bind(SocketAddr::from(([127, 0, 0, 1], 0)), opts).await
    }

    /// Starts a server on the given address (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr, opts: Options) -> std::io::Result<ApiServer> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let faults = Faults::new(opts.latency);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let mut state = store::State::new();
        let ns_info = registry::builtin_of(registry::Builtin::Namespace);
        let now = ops::now_rfc3339();
        for ns in &opts.namespaces {
            let obj = json!({
                "kind": "Namespace",
                "apiVersion": "v1",
                "metadata": {
                    "name": ns,
                    "uid": uuid::Uuid::new_v4().to_string(),
                    "resourceVersion": "",
                    "creationTimestamp": now,
                    "labels": {"kubernetes.io/metadata.name": ns}
                },
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"}
            });
            state.put(&ns_info.collection(), ns, obj);
        }
        let controls = Controls::new(controls::Settings {
            rollout: opts.rollout,
            tokens: opts.tokens.clone(),
            require_token: opts.require_token,
            denials: opts.denials.clone(),
            cost: 0.0,
            apf: opts.apf,
            deletion_delay: opts.deletion_delay,
            stats: CostStats::default(),
        });
        controls.set_cost(opts.cost);
        let srv = Arc::new(server::Server {
            state: Mutex::new(state),
            faults: faults.clone(),
            controls: controls.clone(),
            establish_delay: opts.crd_establish_delay,
            shutdown: shutdown_rx.clone(),
            addr,
        });
        tokio::spawn(rollout::run(Arc::clone(&srv)));
        let app = axum::Router::new().fallback(server::handle).with_state(srv);
        let mut stop = shutdown_rx;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|v| *v).await;
                })
                .await;
        });
        Ok(ApiServer {
            url: format!("http://{addr}"),
            addr,
            faults,
            controls,
            shutdown_tx,
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The fault-injection handle.
    pub fn faults(&self) -> Faults {
        self.faults.clone()
    }

    /// The handle on the server's adjustable behaviour.
    pub fn controls(&self) -> Controls {
        self.controls.clone()
    }

    /// A kubeconfig for this server (see [`kubeconfig_for`]).
    pub fn kubeconfig(&self, context_name: &str) -> String {
        kubeconfig_for(&self.url, context_name)
    }

    /// Stops the server: open watches end, then connections close (waiting at most
    /// two seconds for requests in flight).
    pub async fn shutdown(mut self) {
        self.shutdown_tx.send_replace(true);
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(2), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.shutdown_tx.send_replace(true);
    }
}

/// A server on its own thread with its own tokio runtime, for synchronous tests.
/// It stops when dropped.
pub struct BackgroundServer {
    url: String,
    faults: Faults,
    controls: Controls,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BackgroundServer {
    /// Starts a server on `127.0.0.1:<free port>` in a new thread.
    pub fn start(opts: Options) -> std::io::Result<Self> {
        type Ready = std::io::Result<(String, Faults, Controls)>;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Ready>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("mini-apiserver".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    match ApiServer::start(opts).await {
                        Ok(s) => {
                            let _ = ready_tx.send(Ok((s.url(), s.faults(), s.controls())));
                            let _ = stop_rx.await;
                            s.shutdown().await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
            })?;
        let (url, faults, controls) = ready_rx
            .recv()
            .map_err(|_| std::io::Error::other("the server thread stopped before starting"))??;
        Ok(BackgroundServer {
            url,
            faults,
            controls,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The fault-injection handle.
    pub fn faults(&self) -> Faults {
        self.faults.clone()
    }

    /// The handle on the server's adjustable behaviour.
    pub fn controls(&self) -> Controls {
        self.controls.clone()
    }

    /// A kubeconfig for this server (see [`kubeconfig_for`]).
    pub fn kubeconfig(&self, context_name: &str) -> String {
        kubeconfig_for(&self.url, context_name)
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("3ms").unwrap(), Duration::from_millis(3));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5x").is_err());
    }

    #[test]
    fn kubeconfig_text() {
        let k = kubeconfig_for("http://127.0.0.1:1", "mini");
        assert!(k.contains("server: \"http://127.0.0.1:1\""));
        assert!(k.contains("current-context: \"mini\""));
    }
}
