//! The Kubernetes side of a test: the local API server, or a real cluster named by
//! `CALICO_MIGRATE_TEST_KUBECONFIG`. With a real cluster, tests run one at a time (a file lock).
//!
//! A test leaves the cluster as it found it, on either side: when its [`KubeSide`] is dropped,
//! what the test created is deleted (its namespaces and Nodes, the Calico CRDs that appeared
//! with their objects, the objects of manifests it took ownership of), and Nodes that were
//! there before get their Calico annotations back. A real server deletes asynchronously (a
//! CRD stays until its objects are gone, a namespace is Terminating for five seconds or more),
//! so the side waits until what it deleted is gone before the next test may create it again.
//! Only the test's own namespaces are not waited for: tests never share a namespace
//! ([`KubeSide::test_namespace`] gives each test its own name for a dataset's), so no test
//! relies on one being gone. Then the cluster-scoped objects are compared with what the
//! cluster had at the start, and a leftover fails the test. The local server of tests deletes
//! namespaces and CRDs after [`LOCAL_DELETION_DELAY`], so that a test relying on a deletion
//! being finished fails without a real cluster too.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use mini_apiserver::{BackgroundServer, Controls, Faults, Options};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::block_on;
use crate::calico::is_builtin_namespace;
use crate::kubelet::Kubelet;

/// The variable that points the suite at a real (disposable) cluster.
pub const EXTERNAL_KUBECONFIG: &str = "CALICO_MIGRATE_TEST_KUBECONFIG";

/// How long the local server of tests takes to delete a namespace or a CRD.
pub const LOCAL_DELETION_DELAY: Duration = Duration::from_millis(300);

/// Object metadata with only a name.
pub fn named(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        ..Default::default()
    }
}

/// A Namespace object.
pub fn namespace(name: &str) -> Namespace {
    Namespace {
        metadata: named(name),
        ..Default::default()
    }
}

/// A Node as a Linux kubelet registers it, with its hostname and OS labels.
pub fn k8s_node(name: &str) -> Node {
    let labels = BTreeMap::from([
        ("kubernetes.io/hostname".to_string(), name.to_string()),
        ("kubernetes.io/os".to_string(), "linux".to_string()),
    ]);
    Node {
        metadata: ObjectMeta {
            labels: Some(labels),
            ..named(name)
        },
        ..Default::default()
    }
}

/// How long cleanup waits for what it deleted to be gone.
const GONE_TIMEOUT: Duration = Duration::from_secs(180);

/// API groups of Calico's CRDs (v1, and the native v3 ones).
const CALICO_GROUPS: &[&str] = &["crd.projectcalico.org", "projectcalico.org"];

/// Annotations of Kubernetes Nodes that Calico (and so the migration) writes.
const CALICO_ANNOTATION_PREFIX: &str = "projectcalico.org/";

/// The cluster-scoped collections a test must leave as it found them.
const LEAK_CHECKED: &[&str] = &[
    "/api/v1/namespaces",
    "/api/v1/nodes",
    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
    "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
];

const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

enum Backend {
    Local(BackgroundServer),
    /// A real cluster, held for this test alone.
    External {
        _lock: File,
    },
}

/// What the cluster held when the test started.
#[derive(Default)]
struct Before {
    /// Calico CRDs by name (kept at the end).
    calico_crds: BTreeSet<String>,
    /// uids of the objects in them (kept at the end).
    calico_objects: BTreeSet<String>,
    /// Paths of the objects of the [`LEAK_CHECKED`] collections.
    cluster_objects: BTreeSet<String>,
}

/// What the test made that the end of the test undoes.
#[derive(Clone, Debug)]
enum Owned {
    /// An object the test created, by path: deleted at the end.
    Object(String),
    /// A Node that was there before: its Calico annotations are put back as they were.
    NodeAnnotations {
        node: String,
        before: BTreeMap<String, String>,
    },
}

pub struct KubeSide {
    backend: Backend,
    kubeconfig: PathBuf,
    namespace: String,
    /// Appended to the namespaces this test creates, so that no two tests share one.
    suffix: String,
    /// None: nothing is cleaned up (the sandbox, the benchmark).
    before: Option<Before>,
    owned: Mutex<Vec<Owned>>,
    _dir: TempDir,
}

impl KubeSide {
    /// The side of one test: a fresh local API server, or the external cluster when the
    /// variable is set. What the test leaves is removed when it is dropped (see the module).
    pub fn start() -> Result<KubeSide> {
        Self::start_with(Options {
            deletion_delay: LOCAL_DELETION_DELAY,
            ..Options::default()
        })
    }

    /// [`KubeSide::start`] with settings for the local server (ignored for a real cluster).
    pub fn start_with(options: Options) -> Result<KubeSide> {
        let suffix = random_suffix();
        let dir = tempfile::Builder::new().prefix("kube-side").tempdir()?;
        let (backend, kubeconfig, namespace) = match std::env::var_os(EXTERNAL_KUBECONFIG) {
            Some(path) => {
                let lock_path = std::env::temp_dir().join("calico-migrate-external-cluster.lock");
                let lock = File::create(&lock_path)?;
                // Test threads of one process queue here like other processes do; a test that
                // holds one side while starting another would wait for itself.
                lock.lock().context("locking the external test cluster")?;
                (
                    Backend::External { _lock: lock },
                    PathBuf::from(path),
                    format!("calico-migrate-test-{suffix}"),
                )
            }
            None => {
                let (backend, kubeconfig) = start_local(options, &dir)?;
                (backend, kubeconfig, "kube-system".into())
            }
        };
        let mut side = KubeSide {
            backend,
            kubeconfig,
            namespace,
            suffix,
            before: None,
            owned: Mutex::new(Vec::new()),
            _dir: dir,
        };
        side.before = Some(block_on(async { snapshot(&side.client().await?).await })?);
        if side.is_external() {
            side.create_namespace(&side.namespace.clone())?;
        }
        Ok(side)
    }

    /// Always the local API server, whatever the environment says, for the sandbox and the
    /// benchmark: nothing is cleaned up, the server goes with it.
    pub fn local(options: Options) -> Result<KubeSide> {
        let dir = tempfile::Builder::new().prefix("kube-side").tempdir()?;
        let (backend, kubeconfig) = start_local(options, &dir)?;
        Ok(KubeSide {
            backend,
            kubeconfig,
            namespace: "kube-system".into(),
            suffix: random_suffix(),
            before: None,
            owned: Mutex::new(Vec::new()),
            _dir: dir,
        })
    }

    pub fn is_external(&self) -> bool {
        matches!(self.backend, Backend::External { .. })
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The namespace tests install Calico's ConfigMap and Secret in.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// This test's name for a namespace of a dataset or a file: `shop` becomes `shop-<suffix>`,
    /// unique to the test; `default` and the `kube-*` namespaces, which every cluster has, stay.
    pub fn test_namespace(&self, name: &str) -> String {
        if is_builtin_namespace(name) {
            name.to_string()
        } else {
            format!("{name}-{}", self.suffix)
        }
    }

    /// Fault injection of the local server (None against a real cluster).
    pub fn faults(&self) -> Option<Faults> {
        match &self.backend {
            Backend::Local(server) => Some(server.faults()),
            Backend::External { .. } => None,
        }
    }

    /// The adjustable behaviour of the local server: rollouts, tokens, denials, cost,
    /// API Priority and Fairness, deletion delay (None against a real cluster).
    pub fn controls(&self) -> Option<Controls> {
        match &self.backend {
            Backend::Local(server) => Some(server.controls()),
            Backend::External { .. } => None,
        }
    }

    pub fn local_url(&self) -> Option<String> {
        match &self.backend {
            Backend::Local(server) => Some(server.url()),
            Backend::External { .. } => None,
        }
    }

    /// A kubelet (and scheduler) for the pods of `namespace` on a real cluster, which has none:
    /// without it no DaemonSet rollout ever finishes there. None for the local server, which
    /// simulates rollouts itself.
    pub fn simulated_kubelet(&self, namespace: &str) -> Option<Kubelet> {
        self.is_external()
            .then(|| Kubelet::start(self.kubeconfig.clone(), namespace.to_string()))
    }

    /// The address of the API server the kubeconfig's current context names.
    pub fn server_addr(&self) -> Result<SocketAddr> {
        let (_, server) = self.current_server()?;
        let uri: http::Uri = server.parse().with_context(|| format!("server {server}"))?;
        let host = uri.host().context("the server URL has no host")?;
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("http") => 80,
            _ => 443,
        });
        (host, port)
            .to_socket_addrs()?
            .next()
            .with_context(|| format!("resolving {server}"))
    }

    /// A kubeconfig like this side's whose server is `addr` (a proxy in front of the API
    /// server), with the same scheme, certificates and credentials. The proxy listens on
    /// 127.0.0.1, which a real test cluster's serving certificate names too.
    pub fn kubeconfig_via(&self, addr: SocketAddr) -> Result<PathBuf> {
        let (mut kubeconfig, server) = self.current_server()?;
        let scheme = server.split_once("://").map_or("https", |(s, _)| s);
        for cluster in &mut kubeconfig.clusters {
            if let Some(cluster) = cluster.cluster.as_mut()
                && cluster.server.as_deref() == Some(server.as_str())
            {
                cluster.server = Some(format!("{scheme}://{addr}"));
            }
        }
        let path = self
            ._dir
            .path()
            .join(format!("kubeconfig-via-{}", addr.port()));
        let text = serde_saphyr::to_string(&kubeconfig)?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(text.as_bytes())?;
        Ok(path)
    }

    /// The kubeconfig and the server of its current context.
    fn current_server(&self) -> Result<(Kubeconfig, String)> {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)?;
        let context = kubeconfig
            .current_context
            .as_deref()
            .and_then(|name| kubeconfig.contexts.iter().find(|c| c.name == name))
            .and_then(|c| c.context.as_ref())
            .context("the kubeconfig has no current context")?;
        let server = kubeconfig
            .clusters
            .iter()
            .find(|c| c.name == context.cluster)
            .and_then(|c| c.cluster.as_ref())
            .and_then(|c| c.server.clone())
            .context("the current context's cluster has no server")?;
        Ok((kubeconfig, server))
    }

    pub async fn client(&self) -> Result<Client> {
        client_for(&self.kubeconfig).await
    }

    fn remember(&self, what: Owned) {
        self.owned.lock().expect("not poisoned").push(what);
    }

    /// Creates a namespace (deleted at the end); one that exists already is left alone.
    pub fn create_namespace(&self, name: &str) -> Result<()> {
        block_on(async {
            let api: Api<Namespace> = Api::all(self.client().await?);
            match api.create(&PostParams::default(), &namespace(name)).await {
                Ok(_) => {
                    self.remember(Owned::Object(format!("/api/v1/namespaces/{name}")));
                    Ok(())
                }
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
                Err(e) => Err(e.into()),
            }
        })
    }

    /// Creates or replaces a ConfigMap.
    pub fn put_config_map(
        &self,
        namespace: &str,
        name: &str,
        data: BTreeMap<String, String>,
    ) -> Result<()> {
        let map = ConfigMap {
            metadata: named(name),
            data: Some(data),
            ..Default::default()
        };
        self.replace_in(namespace, map)
    }

    pub fn delete_config_map(&self, namespace: &str, name: &str) -> Result<()> {
        block_on(async {
            let api: Api<ConfigMap> = Api::namespaced(self.client().await?, namespace);
            api.delete(name, &DeleteParams::default()).await?;
            Ok(())
        })
    }

    /// Creates or replaces an Opaque Secret.
    pub fn put_secret(
        &self,
        namespace: &str,
        name: &str,
        data: BTreeMap<String, Vec<u8>>,
    ) -> Result<()> {
        let secret = Secret {
            metadata: named(name),
            type_: Some("Opaque".into()),
            data: Some(data.into_iter().map(|(k, v)| (k, ByteString(v))).collect()),
            ..Default::default()
        };
        self.replace_in(namespace, secret)
    }

    /// Creates a namespaced object, deleting one of its name first.
    fn replace_in<K>(&self, namespace: &str, object: K) -> Result<()>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        block_on(async {
            let api: Api<K> = Api::namespaced(self.client().await?, namespace);
            let name = object.meta().name.clone().unwrap_or_default();
            let _ = api.delete(&name, &DeleteParams::default()).await;
            api.create(&PostParams::default(), &object).await?;
            Ok(())
        })
    }

    /// Makes sure the cluster has a Node: creates it (deleted at the end) unless it exists. A
    /// Node that was there is never deleted; its Calico annotations are put back at the end.
    /// True when it was created.
    pub fn ensure_node(&self, name: &str) -> Result<bool> {
        block_on(async {
            let api: Api<Node> = Api::all(self.client().await?);
            if let Some(node) = api.get_opt(name).await? {
                self.remember(Owned::NodeAnnotations {
                    node: name.to_string(),
                    before: calico_annotations(&node.metadata),
                });
                return Ok(false);
            }
            api.create(&PostParams::default(), &k8s_node(name)).await?;
            self.remember(Owned::Object(format!("/api/v1/nodes/{name}")));
            Ok(true)
        })
    }

    /// Makes sure a namespace exists and is not being deleted: one being deleted (a real
    /// cluster deletes them asynchronously) is waited for and created again.
    pub fn ensure_namespace(&self, name: &str) -> Result<()> {
        let deadline = Instant::now() + GONE_TIMEOUT;
        loop {
            let state = block_on(async {
                let api: Api<Namespace> = Api::all(self.client().await?);
                anyhow::Ok(
                    api.get_opt(name)
                        .await?
                        .map(|ns| ns.metadata.deletion_timestamp.is_some()),
                )
            })?;
            match state {
                None => return self.create_namespace(name),
                Some(false) => return Ok(()),
                Some(true) if Instant::now() > deadline => {
                    anyhow::bail!("namespace {name} is still being deleted")
                }
                Some(true) => std::thread::sleep(Duration::from_millis(500)),
            }
        }
    }

    /// The cluster-scoped objects of a manifest (CRDs, ClusterRoles, ClusterRoleBindings, ...)
    /// that the cluster does not have yet become the test's: whoever applies the manifest
    /// later, they are deleted at the end. Objects the cluster has are left alone. Namespaced
    /// objects go with the test's namespace.
    pub fn own_cluster_objects_of(&self, manifest: &str) -> Result<()> {
        block_on(async {
            let client = self.client().await?;
            let mut discovery = Discovery::default();
            for document in manifest_documents(manifest)? {
                let Some(path) = discovery.cluster_path(&client, &document.object).await? else {
                    continue;
                };
                if get_path(&client, &path).await?.is_none() {
                    self.remember(Owned::Object(path));
                }
            }
            Ok(())
        })
    }

    /// The manifest without the CustomResourceDefinitions this server refuses (a dry-run
    /// create answers 422: a newer Kubernetes' CEL functions, say), and what was left out and
    /// why. Any other document, and every CRD of a server that takes them, is kept as written.
    pub fn servable_manifest(&self, manifest: &str) -> Result<(String, Vec<String>)> {
        block_on(async {
            let client = self.client().await?;
            let mut kept = String::new();
            let mut dropped = Vec::new();
            for document in manifest_documents(manifest)? {
                if document.object["kind"] == "CustomResourceDefinition" {
                    let request = http::Request::post(format!("{CRDS}?dryRun=All"))
                        .header("content-type", "application/json")
                        .body(serde_json::to_vec(&document.object)?)?;
                    match client.request::<Value>(request).await {
                        Err(kube::Error::Api(s)) if s.code == 422 => {
                            let name = document.object["metadata"]["name"].as_str();
                            let reason = s.message.lines().next().unwrap_or_default();
                            dropped.push(format!(
                                "CustomResourceDefinition {}: {reason}",
                                name.unwrap_or_default()
                            ));
                            continue;
                        }
                        Ok(_) | Err(kube::Error::Api(_)) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                kept.push_str("---\n");
                kept.push_str(document.text);
                kept.push('\n');
            }
            Ok((kept, dropped))
        })
    }

    pub fn node_annotations(&self, name: &str) -> Result<BTreeMap<String, String>> {
        block_on(async {
            let api: Api<Node> = Api::all(self.client().await?);
            Ok(api
                .get(name)
                .await?
                .metadata
                .annotations
                .unwrap_or_default())
        })
    }

    /// Installs Calico's CRDs from the repository's `crds/` directory and waits until each is
    /// Established. Those the cluster did not have go at the end, as every Calico CRD that
    /// appears during a test does.
    pub fn install_crds(&self) -> Result<()> {
        block_on(async {
            let api: Api<CustomResourceDefinition> = Api::all(self.client().await?);
            for (name, crd) in calico_crds()? {
                match api.create(&PostParams::default(), &crd).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 409 => {}
                    Err(e) => return Err(e).with_context(|| format!("creating CRD {name}")),
                }
            }
            let deadline = Instant::now() + Duration::from_secs(30);
            for (name, _) in calico_crds()? {
                loop {
                    let crd = api.get(&name).await?;
                    let established = crd
                        .status
                        .and_then(|s| s.conditions)
                        .unwrap_or_default()
                        .iter()
                        .any(|c| c.type_ == "Established" && c.status == "True");
                    if established {
                        break;
                    }
                    anyhow::ensure!(
                        Instant::now() < deadline,
                        "CRD {name} never became Established"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            Ok(())
        })
    }

    /// A custom resource of `crd.projectcalico.org/v1` as JSON, or None.
    pub fn get_calico(
        &self,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>> {
        let object = json!({"metadata": {"name": name, "namespace": namespace}});
        self.get_json(&Self::calico_path(plural, &object))
    }

    /// Any object of the API as JSON, or None.
    pub fn get_json(&self, path: &str) -> Result<Option<Value>> {
        block_on(async { get_path(&self.client().await?, path).await })
    }

    /// Creates (or replaces) every document of a YAML manifest with `field_manager` as the
    /// writer, as `kubectl apply` without `--server-side` does (its manager is
    /// `kubectl-client-side-apply`). Resources are found by discovery.
    pub fn apply_documents(&self, manifest: &str, field_manager: &str) -> Result<()> {
        let mut options = serde_saphyr::Options::default();
        // As kubectl reads manifests: `defaultMode: 0400` is octal.
        options.legacy_octal_numbers = true;
        let documents: Vec<serde_json::Value> = manifest
            .split("\n---")
            .map(|text| serde_saphyr::from_str_with_options(text, options.clone()))
            .collect::<Result<Vec<Option<serde_json::Value>>, _>>()?
            .into_iter()
            .flatten()
            .filter(|d| d.is_object())
            .collect();
        block_on(async {
            let client = self.client().await?;
            for document in documents {
                let api_version = document["apiVersion"].as_str().unwrap_or_default();
                let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
                let gvk = kube::api::GroupVersionKind::gvk(
                    group,
                    version,
                    document["kind"].as_str().unwrap_or_default(),
                );
                let (resource, capabilities) = kube::discovery::pinned_kind(&client, &gvk).await?;
                let api: Api<kube::api::DynamicObject> = match capabilities.scope {
                    kube::discovery::Scope::Namespaced => Api::namespaced_with(
                        client.clone(),
                        document["metadata"]["namespace"]
                            .as_str()
                            .unwrap_or(&self.namespace),
                        &resource,
                    ),
                    kube::discovery::Scope::Cluster => Api::all_with(client.clone(), &resource),
                };
                let object: kube::api::DynamicObject = serde_json::from_value(document)?;
                let name = object.metadata.name.clone().unwrap_or_default();
                let params = PostParams {
                    field_manager: Some(field_manager.to_string()),
                    ..Default::default()
                };
                match api.create(&params, &object).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 409 => {
                        let mut object = object;
                        object.metadata.resource_version =
                            api.get(&name).await?.metadata.resource_version;
                        api.replace(&name, &params, &object).await?;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(())
        })
    }

    /// Lists a Calico kind (all namespaces) as JSON objects.
    pub fn list_calico(&self, plural: &str) -> Result<Vec<Value>> {
        block_on(async {
            let client = self.client().await?;
            list_items(&client, &format!("/apis/crd.projectcalico.org/v1/{plural}")).await
        })
    }

    /// POSTs any object to a collection path.
    pub fn create_raw(&self, collection: &str, object: &Value) -> Result<Value> {
        self.send_json(http::Method::POST, collection, object)
    }

    /// PUTs any object to its path (the object carries its resourceVersion).
    pub fn replace_raw(&self, path: &str, object: &Value) -> Result<Value> {
        self.send_json(http::Method::PUT, path, object)
    }

    /// Sends `object` as JSON to `path`; the object the server answers with.
    fn send_json(&self, method: http::Method, path: &str, object: &Value) -> Result<Value> {
        block_on(async {
            let client = self.client().await?;
            let request = http::Request::builder()
                .method(method)
                .uri(path)
                .header("content-type", "application/json")
                .body(serde_json::to_vec(object)?)?;
            Ok(client.request(request).await?)
        })
    }

    /// DELETEs any object by its path.
    pub fn delete_raw(&self, path: &str) -> Result<()> {
        block_on(async {
            let client = self.client().await?;
            client
                .request_text(http::Request::delete(path).body(Vec::new())?)
                .await?;
            Ok(())
        })
    }

    fn calico_path(plural: &str, object: &Value) -> String {
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        format!("{}/{name}", Self::calico_collection(plural, object))
    }

    fn calico_collection(plural: &str, object: &Value) -> String {
        match object["metadata"]["namespace"].as_str() {
            Some(ns) => format!("/apis/crd.projectcalico.org/v1/namespaces/{ns}/{plural}"),
            None => format!("/apis/crd.projectcalico.org/v1/{plural}"),
        }
    }

    /// Replaces a Calico custom resource (the object carries its resourceVersion).
    pub fn replace_calico(&self, plural: &str, object: &Value) -> Result<Value> {
        self.replace_raw(&Self::calico_path(plural, object), object)
    }

    pub fn delete_calico(&self, plural: &str, namespace: Option<&str>, name: &str) -> Result<()> {
        let object = json!({"metadata": {"name": name, "namespace": namespace}});
        self.delete_raw(&Self::calico_path(plural, &object))
    }

    /// Sets one annotation of a Kubernetes Node.
    pub fn annotate_node(&self, node: &str, key: &str, value: &str) -> Result<()> {
        block_on(async {
            let annotations = json!({ key: value });
            patch_annotations(&self.client().await?, node, &annotations).await
        })
    }

    /// Writes a Calico custom resource as given (create).
    pub fn create_calico(&self, plural: &str, object: &Value) -> Result<Value> {
        self.create_raw(&Self::calico_collection(plural, object), object)
    }

    /// Whether a path is that of a namespace named for this test alone (with its suffix).
    fn is_own_namespace(&self, path: &str) -> bool {
        path.strip_prefix("/api/v1/namespaces/")
            .is_some_and(|name| !name.contains('/') && name.ends_with(&format!("-{}", self.suffix)))
    }

    /// Undoes what the test did (see the module) and says what could not be undone.
    fn clean_up(&self, before: &Before) -> Vec<String> {
        if let Backend::Local(server) = &self.backend {
            // Whatever the test told the local server to refuse, cleanup must get through.
            server.faults().clear();
            let controls = server.controls();
            controls.clear_denials();
            controls.require_token(false);
        }
        let owned = std::mem::take(&mut *self.owned.lock().expect("not poisoned"));
        let result = block_on(async {
            let client = self.client().await?;
            let mut problems = Vec::new();
            let mut deleted = Vec::new();
            for path in calico_leftovers(&client, before).await? {
                match delete_path(&client, &path).await {
                    Ok(()) => deleted.push(path),
                    Err(e) => problems.push(format!("deleting {path}: {e:#}")),
                }
            }
            for what in owned.into_iter().rev() {
                let outcome = match &what {
                    Owned::Object(path) => delete_path(&client, path).await.map(|()| {
                        deleted.push(path.clone());
                    }),
                    Owned::NodeAnnotations { node, before } => {
                        restore_annotations(&client, node, before).await
                    }
                };
                if let Err(e) = outcome {
                    problems.push(format!("undoing {what:?}: {e:#}"));
                }
            }
            // The test's own namespaces, whose names no other test uses, are left to
            // terminate (a real server takes five seconds or more per namespace); the rest,
            // which the next test may create again, are waited for.
            let (terminating, to_wait): (Vec<String>, Vec<String>) = deleted
                .into_iter()
                .partition(|path| self.is_own_namespace(path));
            for path in wait_until_gone(&client, to_wait).await? {
                problems.push(format!(
                    "{path} was deleted but is still there after {}s",
                    GONE_TIMEOUT.as_secs()
                ));
            }
            let after = cluster_objects(&client).await?;
            for path in after.difference(&before.cluster_objects) {
                if !terminating.contains(path) {
                    problems.push(format!("{path} was left behind"));
                }
            }
            anyhow::Ok(problems)
        });
        result.unwrap_or_else(|e| vec![format!("cleanup failed: {e:#}")])
    }
}

impl Drop for KubeSide {
    fn drop(&mut self) {
        let Some(before) = self.before.take() else {
            return;
        };
        let problems = self.clean_up(&before);
        if problems.is_empty() {
            return;
        }
        let text = format!(
            "the test did not leave the cluster as it found it:\n  {}",
            problems.join("\n  ")
        );
        if std::thread::panicking() {
            eprintln!("{text}");
        } else {
            panic!("{text}");
        }
    }
}

/// A local server, and its kubeconfig written in `dir`.
fn start_local(options: Options, dir: &TempDir) -> Result<(Backend, PathBuf)> {
    let server = BackgroundServer::start(options)?;
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, server.kubeconfig("sandbox"))?;
    Ok((Backend::Local(server), kubeconfig))
}

pub(crate) async fn client_for(kubeconfig: &Path) -> Result<Client> {
    let kubeconfig = Kubeconfig::read_from(kubeconfig)?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(config)?)
}

/// An object as JSON, or None when it does not exist.
async fn get_path(client: &Client, path: &str) -> Result<Option<Value>> {
    let request = http::Request::get(path).body(Vec::new())?;
    match client.request::<Value>(request).await {
        Ok(value) => Ok(Some(value)),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The items of a list (one page: test clusters are small); none when it is not served (the
/// objects of a CRD that is being deleted).
async fn list_items(client: &Client, collection: &str) -> Result<Vec<Value>> {
    let list = get_path(client, collection).await?.unwrap_or_default();
    Ok(list["items"].as_array().cloned().unwrap_or_default())
}

/// Deletes an object; one that is gone already counts as deleted.
async fn delete_path(client: &Client, path: &str) -> Result<()> {
    let request = http::Request::delete(path).body(Vec::new())?;
    match client.request_text(request).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Polls until every path answers 404; the ones still there at the deadline.
async fn wait_until_gone(client: &Client, mut paths: Vec<String>) -> Result<Vec<String>> {
    let deadline = Instant::now() + GONE_TIMEOUT;
    loop {
        let mut remaining = Vec::new();
        for path in paths {
            if get_path(client, &path).await?.is_some() {
                remaining.push(path);
            }
        }
        if remaining.is_empty() || Instant::now() > deadline {
            return Ok(remaining);
        }
        paths = remaining;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The cluster's state that cleanup restores and checks.
async fn snapshot(client: &Client) -> Result<Before> {
    let mut before = Before {
        cluster_objects: cluster_objects(client).await?,
        ..Before::default()
    };
    for crd in calico_crds_served(client).await? {
        for object in list_items(client, &crd.collection).await? {
            if let Some(uid) = object["metadata"]["uid"].as_str() {
                before.calico_objects.insert(uid.to_string());
            }
        }
        before.calico_crds.insert(crd.name);
    }
    Ok(before)
}

/// Paths of every object of the [`LEAK_CHECKED`] collections.
async fn cluster_objects(client: &Client) -> Result<BTreeSet<String>> {
    let mut objects = BTreeSet::new();
    for collection in LEAK_CHECKED {
        for item in list_items(client, collection).await? {
            if let Some(name) = item["metadata"]["name"].as_str() {
                objects.insert(format!("{collection}/{name}"));
            }
        }
    }
    Ok(objects)
}

/// A Calico CRD of the cluster, with the collection of its objects (all namespaces).
struct CalicoCrd {
    name: String,
    collection: String,
    namespaced: bool,
}

async fn calico_crds_served(client: &Client) -> Result<Vec<CalicoCrd>> {
    let mut crds = Vec::new();
    for crd in list_items(client, CRDS).await? {
        let spec = &crd["spec"];
        let group = spec["group"].as_str().unwrap_or_default();
        if !CALICO_GROUPS.contains(&group) {
            continue;
        }
        let version = spec["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["served"] == true)
            .and_then(|v| v["name"].as_str());
        let (Some(name), Some(version)) = (crd["metadata"]["name"].as_str(), version) else {
            continue;
        };
        let plural = spec["names"]["plural"].as_str().unwrap_or_default();
        crds.push(CalicoCrd {
            name: name.to_string(),
            collection: format!("/apis/{group}/{version}/{plural}"),
            namespaced: spec["scope"] == "Namespaced",
        });
    }
    Ok(crds)
}

/// What the test added to Calico's CRDs: the CRDs that appeared (their objects go with them),
/// and the new objects of those that were there. Objects are deleted one by one: a real
/// server does not serve deletecollection across namespaces.
async fn calico_leftovers(client: &Client, before: &Before) -> Result<Vec<String>> {
    let mut paths = Vec::new();
    for crd in calico_crds_served(client).await? {
        if !before.calico_crds.contains(&crd.name) {
            paths.push(format!("{CRDS}/{}", crd.name));
            continue;
        }
        for object in list_items(client, &crd.collection).await? {
            let metadata = &object["metadata"];
            let uid = metadata["uid"].as_str().unwrap_or_default();
            if before.calico_objects.contains(uid) {
                continue;
            }
            let name = metadata["name"].as_str().unwrap_or_default();
            let (base, plural) = crd.collection.rsplit_once('/').unwrap_or_default();
            paths.push(match metadata["namespace"].as_str() {
                Some(ns) if crd.namespaced => format!("{base}/namespaces/{ns}/{plural}/{name}"),
                _ => format!("{}/{name}", crd.collection),
            });
        }
    }
    Ok(paths)
}

/// The Calico annotations of an object's metadata.
fn calico_annotations(metadata: &ObjectMeta) -> BTreeMap<String, String> {
    metadata
        .annotations
        .iter()
        .flatten()
        .filter(|(k, _)| k.starts_with(CALICO_ANNOTATION_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Puts a Node's Calico annotations back as they were; others are not touched.
async fn restore_annotations(
    client: &Client,
    node: &str,
    before: &BTreeMap<String, String>,
) -> Result<()> {
    let api: Api<Node> = Api::all(client.clone());
    let Some(now) = api.get_opt(node).await? else {
        return Ok(());
    };
    let patch = annotation_patch(&calico_annotations(&now.metadata), before);
    if patch.is_empty() {
        return Ok(());
    }
    patch_annotations(client, node, &Value::Object(patch)).await
}

/// Merges `annotations` into a Node's (a null value removes one).
async fn patch_annotations(client: &Client, node: &str, annotations: &Value) -> Result<()> {
    let patch = json!({"metadata": {"annotations": annotations}});
    Api::<Node>::all(client.clone())
        .patch(
            node,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await?;
    Ok(())
}

/// The merge patch of annotations that turns `now` into `before`.
fn annotation_patch(
    now: &BTreeMap<String, String>,
    before: &BTreeMap<String, String>,
) -> serde_json::Map<String, Value> {
    let mut patch = serde_json::Map::new();
    for (key, value) in now {
        match before.get(key) {
            Some(old) if old == value => {}
            Some(old) => {
                patch.insert(key.clone(), json!(old));
            }
            None => {
                patch.insert(key.clone(), Value::Null);
            }
        }
    }
    for (key, old) in before {
        if !now.contains_key(key) {
            patch.insert(key.clone(), json!(old));
        }
    }
    patch
}

/// One document of a multi-document YAML manifest: its text and its object.
struct ManifestDocument<'a> {
    text: &'a str,
    object: Value,
}

/// The documents of a manifest, split at `---` lines; empty ones (comments only) are left out.
fn manifest_documents(manifest: &str) -> Result<Vec<ManifestDocument<'_>>> {
    let mut documents = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    let mut ends = Vec::new();
    for line in manifest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            ends.push((start, offset));
            start = offset + line.len();
        }
        offset += line.len();
    }
    ends.push((start, manifest.len()));
    for (index, (from, to)) in ends.into_iter().enumerate() {
        let text = manifest[from..to].trim_end_matches('\n');
        let object: Value = serde_saphyr::from_str(text)
            .with_context(|| format!("document {} of the manifest", index + 1))?;
        if object.is_object() {
            documents.push(ManifestDocument { text, object });
        }
    }
    Ok(documents)
}

/// The REST paths of kinds, from the API server's discovery documents.
#[derive(Default)]
struct Discovery {
    /// `apiVersion` → kind → (plural, namespaced).
    versions: HashMap<String, HashMap<String, (String, bool)>>,
}

impl Discovery {
    /// The path of a cluster-scoped object; None for a namespaced one or a kind the server
    /// does not serve.
    async fn cluster_path(&mut self, client: &Client, object: &Value) -> Result<Option<String>> {
        let (Some(api_version), Some(kind), Some(name)) = (
            object["apiVersion"].as_str(),
            object["kind"].as_str(),
            object["metadata"]["name"].as_str(),
        ) else {
            return Ok(None);
        };
        let base = if api_version.contains('/') {
            format!("/apis/{api_version}")
        } else {
            format!("/api/{api_version}")
        };
        if !self.versions.contains_key(api_version) {
            let mut kinds = HashMap::new();
            if let Some(list) = get_path(client, &base).await? {
                for resource in list["resources"].as_array().into_iter().flatten() {
                    let plural = resource["name"].as_str().unwrap_or_default();
                    if let (false, Some(kind)) = (plural.contains('/'), resource["kind"].as_str()) {
                        let namespaced = resource["namespaced"] == true;
                        kinds.insert(kind.to_string(), (plural.to_string(), namespaced));
                    }
                }
            }
            self.versions.insert(api_version.to_string(), kinds);
        }
        Ok(match self.versions[api_version].get(kind) {
            Some((plural, false)) => Some(format!("{base}/{plural}/{name}")),
            _ => None,
        })
    }
}

/// The repository's vendored Calico CRDs of the newest release (the top of `crds/`), by name.
pub fn calico_crds() -> Result<Vec<(String, CustomResourceDefinition)>> {
    let dir = crds_dir();
    let mut crds = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path)?;
        let crd: CustomResourceDefinition =
            serde_saphyr::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        crds.push((crd.metadata.name.clone().unwrap_or_default(), crd));
    }
    Ok(crds)
}

pub fn crds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crds")
}

/// Eight hex digits, different for every call in a process and, very likely, across processes.
pub fn random_suffix() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut hash: u64 = 0xcbf29ce484222325;
    for part in [
        nanos,
        u64::from(std::process::id()),
        CALLS.fetch_add(1, Ordering::Relaxed),
    ] {
        for byte in part.to_le_bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x100000001b3);
        }
    }
    format!("{:08x}", hash >> 32)
}

/// The current context of a kubeconfig's text.
pub fn context_name(kubeconfig: &str) -> String {
    Kubeconfig::from_yaml(kubeconfig)
        .ok()
        .and_then(|k| k.current_context)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_split_at_document_markers() {
        let manifest = "---\n# Source: a\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: a\n---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\ndata:\n  x: \"---\"\n";
        let documents = manifest_documents(manifest).unwrap();
        let names: Vec<&str> = documents
            .iter()
            .map(|d| d.object["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert!(documents[0].text.starts_with("# Source: a\n"));
        assert!(documents[1].text.ends_with("x: \"---\""));
    }

    #[test]
    fn annotations_are_put_back_as_they_were() {
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let before = map(&[("a", "1"), ("b", "2"), ("c", "3")]);
        let now = map(&[("a", "1"), ("b", "changed"), ("d", "added")]);
        let patch = annotation_patch(&now, &before);
        assert_eq!(Value::Object(patch), json!({"b": "2", "d": null, "c": "3"}));
        assert!(annotation_patch(&before, &before).is_empty());
    }

    #[test]
    fn suffixes_differ_from_call_to_call() {
        let suffix = random_suffix();
        assert_eq!(suffix.len(), 8);
        assert_ne!(suffix, random_suffix());
    }
}
