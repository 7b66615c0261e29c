//! A small in-memory Kubernetes API server that answers like kube-apiserver.
//!
//! It serves JSON over plain HTTP on `127.0.0.1`, for the test suite, the benchmark and
//! the sandbox of `kubectl calico-migrate`. The aim is faithfulness: the status codes,
//! reasons and messages, the metadata the server assigns, the handling of custom
//! resources by their CRD's structural schema (pruning, defaulting, validation),
//! server-side apply, permissions, and what requests cost follow kube-apiserver.
//!
//! # What is served
//! - Discovery: `/version` (v1.32.0), `/api`, `/api/v1`, `/apis`, `/apis/GROUP`,
//!   `/apis/GROUP/VERSION` (legacy discovery documents; aggregated discovery is not
//!   offered, clients fall back). See below for `/openapi`.
//! - Built-in resources, from one table: core v1 `namespaces` (with `/status`),
//!   `configmaps`, `secrets`, `nodes` (with `/status`), `serviceaccounts`, `services`
//!   (with `/status`); `apps/v1` `daemonsets` and `deployments` (with `/status`, and
//!   `deployments/{name}/scale` as an `autoscaling/v1` Scale: GET, PUT, PATCH);
//!   `rbac.authorization.k8s.io/v1` `clusterroles`, `clusterrolebindings`, `roles`,
//!   `rolebindings`; `policy/v1` `poddisruptionbudgets` (with `/status`);
//!   `admissionregistration.k8s.io/v1` `validatingwebhookconfigurations`,
//!   `validatingadmissionpolicies` (with `/status`), `validatingadmissionpolicybindings`,
//!   and `admissionregistration.k8s.io/v1beta1` `mutatingadmissionpolicies` and
//!   `mutatingadmissionpolicybindings` (the version Calico's v3 manifest uses);
//!   `apiextensions.k8s.io/v1` `customresourcedefinitions` (with `/status`);
//!   `authorization.k8s.io/v1` `selfsubjectaccessreviews` (create only). Pods do not
//!   exist.
//! - The custom resources of every *Established* CRD, in every served version
//!   (conversion strategy None: only `apiVersion` differs), cluster-scoped or
//!   namespaced (plus the all-namespaces list), with a `/status` subresource when
//!   the version declares one. A CRD becomes Established `crd_establish_delay` after
//!   it is created; until then its resources answer 404 like the real server.
//! - Verbs: get, list (`limit`/`continue`, `labelSelector`, `fieldSelector`), watch
//!   (`watch=true`, with `resourceVersion`, `timeoutSeconds`, `sendInitialEvents`),
//!   create (with `generateName`), update, patch (merge, JSON, server-side apply;
//!   strategic merge for built-in kinds only, 415 for custom resources), delete (with
//!   DeleteOptions preconditions), deletecollection, `dryRun=All`, `fieldValidation`
//!   (Ignore/Warn/Strict; Warn is the default and sends `Warning: 299 - "unknown
//!   field \"spec.foo\""` headers), `fieldManager`, and the
//!   `as=Table;v=v1;g=meta.k8s.io` form of get/list that `kubectl get` asks for.
//!
//! # Behaviour worth knowing
//! - `resourceVersion` is one global counter; a no-op write does not bump it.
//!   `metadata.generation` is kept for custom resources, CRDs, DaemonSets,
//!   Deployments (also bumped by annotation changes, as kube does), PDBs and the
//!   admission kinds: it changes with anything outside `metadata` and `status`.
//! - Lists are ordered by `namespace/name` (etcd key order). A continued list is a
//!   consistent snapshot: the pages after the first show the collection as it was
//!   when the first page was served (objects created, changed or deleted since are
//!   seen as they were), like etcd's MVCC. Snapshots come from a change log of the
//!   last 100 000 writes; a token older than that gets 410 Expired.
//!   `remainingItemCount` is given only for lists without selectors, as the real
//!   server does.
//! - Custom resources: unknown fields are pruned (except under
//!   `x-kubernetes-preserve-unknown-fields`), non-nullable `null`s without a default
//!   are dropped, `default`s are applied on create, update and patch and again on
//!   every read (as the real server defaults on read from etcd), and the schema
//!   is validated (types, `x-kubernetes-int-or-string`, `nullable`, `required`,
//!   `enum`, `pattern` with Go RE2 semantics, the formats kube checks, min/max,
//!   lengths, item counts, `x-kubernetes-list-type` set/map,
//!   `additionalProperties`, `allOf`/`anyOf`/`oneOf`/`not`), all causes at once, by
//!   the `kube-schema` engine the plugin predicts the server with. A CRD with
//!   `uniqueItems: true` is refused, as structural schemas forbid it.
//!   **CEL rules (`x-kubernetes-validations`) are not evaluated**, like the v1.24
//!   server the project measured; `int32`/`int64` formats are not range-checked.
//!   Updates of custom resources (and CRDs) must carry `metadata.resourceVersion`.
//! - Built-in workload kinds get kube's defaults where the Calico manifests rely on
//!   them (rollout strategies, replicas, pod template and container defaults, a
//!   Service's type, ports and cluster IP) and kube's checks of selectors, replicas
//!   and `roleRef`. Their `spec` is otherwise stored as sent: unknown fields inside it
//!   are kept, not pruned.
//! - Server-side apply (`PATCH` with `application/apply-patch+yaml`, a YAML or JSON
//!   body read as kube reads it: `0400` is octal): `fieldManager` is required (422 as
//!   kube), `force` only with apply; the object is created when absent (201).
//!   `metadata.managedFields` is kept by every write (`Apply` and `Update` entries
//!   with `fieldsV1`; other writes are recorded under `fieldManager` or the
//!   User-Agent's product); re-applying the same configuration changes nothing;
//!   fields a manager stops applying go unless another manager owns them; a change
//!   to another manager's field is a 409 `Conflict` with `FieldManagerConflict`
//!   causes unless forced. Lists merge as described in the `fields` module: by the
//!   CRD's `x-kubernetes-list-type`/`x-kubernetes-list-map-keys` for custom
//!   resources, by a table of list keys for built-ins (containers, env, volumes by
//!   name; ports by port and protocol; volumeMounts by mountPath; tolerations and
//!   other lists atomic). Objects that never had managed fields get a
//!   `before-first-apply` owner at their first apply, as on the real server.
//! - Rollouts are simulated: when a DaemonSet or Deployment changes (or Nodes come and
//!   go), its `status` catches up after [`Rollout::delay`], all at once or
//!   [`Rollout::pods_per_step`] at a time, so that `kubectl rollout status` sees it
//!   progress. A DaemonSet wants one pod per Node its `nodeSelector` selects; Nodes
//!   without the well-known `kubernetes.io/os`/`arch` labels count as matching
//!   them. [`Stall`] makes rollouts never finish (status stuck at the old generation,
//!   or one pod never available).
//! - Authentication and authorization are off unless configured: requests without a
//!   token are the admin (`system:admin` in `system:masters`). With
//!   [`Options::tokens`], bearer tokens name users and groups; unknown tokens get 401,
//!   as do requests without a token under [`Options::require_token`]. Other users are
//!   authorized by RBAC from the stored roles and bindings (subresources, resource
//!   names, `*`, User/Group/ServiceAccount subjects, `system:authenticated`;
//!   aggregated ClusterRoles are not aggregated); refusals are kube's 403 texts
//!   (`nodes "n1" is forbidden: User "alice" cannot patch resource "nodes" in API
//!   group "" at the cluster scope`). Discovery, `/version` and
//!   SelfSubjectAccessReview are open to everyone authenticated. [`Denial`]s refuse
//!   requests to everybody, the admin included, and SelfSubjectAccessReview reports
//!   them (`denied: true`).
//! - Cost: every request costs CPU like on a real kube-apiserver (2.5 ms per create
//!   at [`Options::cost`] 1, the default; other verbs scaled from it, lists per item —
//!   see the `cost` module), spent as busy work on a blocking thread so that
//!   throughput is bounded by the machine's cores. `latency` adds wall time to writes.
//! - API Priority and Fairness: one priority level for everybody (kube would put the
//!   admin in the exempt level and users in `global-default` or `workload-low`):
//!   [`Apf::max_inflight`] requests execute at once (49 by default, the seats of
//!   `global-default`), [`Apf::queue_length`] more wait (50) and are served in turn per
//!   user, the rest get kube's plain-text 429 `Too many requests, please try again
//!   later.` with `Retry-After: 1`. Watches and health probes take no seat.
//! - Deletion is immediate unless the object has `metadata.finalizers` (then it gets
//!   a `deletionTimestamp` and goes when the last finalizer is removed), except for
//!   namespaces and CRDs, which take [`Options::deletion_delay`] (50 ms by default):
//!   a deleted namespace is `Terminating` (creates in it get kube's 403 `unable to
//!   create new content in namespace X because it is being terminated`) and a deleted
//!   CRD gets the cleanup finalizer and a `Terminating` condition (creates of its
//!   resources get 405); they go with their content after the delay. With a delay of
//!   0 they and their content go at once. A delete answers with a `Status` of
//!   `Success`, except for namespaces and CRDs which answer with the object.
//!   `default`, `kube-system` and `kube-public` cannot be deleted (403).
//! - Request bodies are JSON (YAML for apply); the protobuf bodies kubectl sends
//!   (`kubectl create namespace|configmap|secret`, `kubectl auth can-i`) are
//!   understood for those kinds. Responses are always JSON.
//! - Not implemented: other protobuf bodies (400), garbage collection of owner
//!   references, admission webhooks and policies (stored, not run), aggregated
//!   discovery, OpenAPI schemas, pods.
//!
//! # kubectl
//! kubectl 1.32 works against it with a kubeconfig from [`Endpoint::kubeconfig`]:
//! `get` (Table output), `create -f`, `apply -f`, `apply --server-side`
//! (`--force-conflicts`), `create namespace|configmap|secret`, `delete`, `patch`,
//! `label`, `edit`, `scale`, `rollout status`, `auth can-i`; no extra flags are
//! needed (`--token` for a token user). `/openapi/v3` serves a minimal document (one
//! PATCH operation per resource, no schemas): enough for kubectl to see that the
//! server validates fields itself, so its default `--validate=strict` sends
//! `fieldValidation=Strict` and the server answers unknown fields with a 400
//! (`--validate=false` sends `fieldValidation=Ignore`). `/openapi/v2` answers 404:
//! `kubectl explain` does not work, and `kubectl apply` computes strategic merge
//! patches of built-in kinds from its compiled-in types and JSON merge patches for
//! custom resources. Give kubectl its own `--cache-dir` when a server is restarted on
//! a port a previous one used.
//!
//! # Control over HTTP
//! When the server runs as a separate process, what [`Faults`] and [`Controls`] offer
//! is available over HTTP. These endpoints are not counted in `requests`, need no
//! token, and answer `GET` with the current settings. Every `POST` takes a JSON object
//! whose keys are all optional (an unknown key is a 400), applied in the order shown:
//! - `GET /_mini/stats` → `{"requests": N, "writes": N, "cpu": {"create": {"requests":
//!   N, "cpu_ms": X}, ...}, "apf": {"executing": N, "waiting": N}}`
//! - `POST /_mini/faults`, answered with the stats:
//!   ```json
//!   {
//!     "clear": true,
//!     "latency_ms": 3,
//!     "fail_writes_after": {"n": 10, "status": 503, "retry_after_secs": 2},
//!     "fail_next_writes": {"n": 2, "status": 500},
//!     "delay_writes_after": {"n": 5, "delay_ms": 200},
//!     "throttle_next_requests": {"n": 3, "retry_after_secs": 1}
//!   }
//!   ```
//!   (`count` is accepted for `n`.) `throttle_next_requests` refuses the next API
//!   requests, reads included, with API Priority and Fairness's 429.
//! - `POST /_mini/rollout`: `{"delay_ms": 100, "pods_per_step": 1, "stall":
//!   "none" | "unobserved" | "unavailable"}`
//! - `POST /_mini/auth`: `{"clear_tokens": true, "tokens": [{"token": "t", "user":
//!   "alice", "groups": ["g"]}], "require_token": false}` (answered with the users,
//!   never the tokens)
//! - `POST /_mini/denials`: `{"clear": true, "add": [{"verb": "patch", "group": "",
//!   "resource": "nodes", "namespace": null}]}`
//! - `POST /_mini/cost`: `{"factor": 1.0}`
//! - `POST /_mini/apf`: `{"max_inflight": 49, "queue_length": 50}`
//! - `POST /_mini/deletion`: `{"delay_ms": 50}`
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
    /// go; 0 deletes at once. 50 ms by default: clients see deletion take time, as on
    /// a real cluster, without waiting long.
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
            deletion_delay: Duration::from_millis(50),
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

/// Parses a duration such as `3ms`, `50ms`, `1.5s`, `2m`, `250us`, `1h` or `0` (Go's syntax).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    go_compat::time::std_duration(s.trim())
        .map_err(|_| format!("invalid duration {s:?}: use e.g. 3ms, 1.5s, 2m or 0"))
}

/// Where a running server listens, and the handles on its behaviour: what its users
/// need, whether it runs in their runtime ([`ApiServer`]) or on a thread of its own
/// ([`BackgroundServer`]). Both dereference to it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    url: String,
    addr: SocketAddr,
    faults: Faults,
    controls: Controls,
}

impl Endpoint {
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
}

/// A running server.
pub struct ApiServer {
    endpoint: Endpoint,
    shutdown_tx: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::ops::Deref for ApiServer {
    type Target = Endpoint;

    fn deref(&self) -> &Endpoint {
        &self.endpoint
    }
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
        let establish_delay = opts.crd_establish_delay;
        let controls = Controls::new(opts);
        let srv = Arc::new(server::Server {
            state: Mutex::new(state),
            faults: faults.clone(),
            controls: controls.clone(),
            establish_delay,
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
            endpoint: Endpoint {
                url: format!("http://{addr}"),
                addr,
                faults,
                controls,
            },
            shutdown_tx,
            task: Some(task),
        })
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
    endpoint: Endpoint,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BackgroundServer {
    /// Starts a server on `127.0.0.1:<free port>` in a new thread.
    pub fn start(opts: Options) -> std::io::Result<Self> {
        type Ready = std::io::Result<Endpoint>;
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
                            let _ = ready_tx.send(Ok(s.endpoint.clone()));
                            let _ = stop_rx.await;
                            s.shutdown().await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
            })?;
        let endpoint = ready_rx
            .recv()
            .map_err(|_| std::io::Error::other("the server thread stopped before starting"))??;
        Ok(BackgroundServer {
            endpoint,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

impl std::ops::Deref for BackgroundServer {
    type Target = Endpoint;

    fn deref(&self) -> &Endpoint {
        &self.endpoint
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
