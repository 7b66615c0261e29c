//! The Kubernetes side of a test: the local API server, or a real cluster named by
//! `CALICO_MIGRATE_TEST_KUBECONFIG`. With a real cluster, tests run one at a time (a file lock)
//! and remove what they created when they end.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use mini_apiserver::{BackgroundServer, Controls, Faults, Options};
use tempfile::TempDir;

use crate::block_on;

/// The variable that points the suite at a real (disposable) cluster.
pub const EXTERNAL_KUBECONFIG: &str = "CALICO_MIGRATE_TEST_KUBECONFIG";

enum Backend {
    Local(BackgroundServer),
    /// A real cluster, with the Calico CRDs it had when the test started (left in place).
    External {
        _lock: File,
        calico_crds: Vec<String>,
    },
}

/// API groups of Calico's CRDs (v1, and the native v3 ones).
const CALICO_GROUPS: &[&str] = &["crd.projectcalico.org", "projectcalico.org"];

#[derive(Clone, Debug)]
enum Created {
    Namespace(String),
    Node(String),
    Crd(String),
}

pub struct KubeSide {
    backend: Backend,
    kubeconfig: PathBuf,
    namespace: String,
    created: Mutex<Vec<Created>>,
    _dir: TempDir,
}

impl KubeSide {
    /// A fresh local API server, or the external cluster when the variable is set.
    pub fn start() -> Result<KubeSide> {
        Self::start_with(Options::default())
    }

    pub fn start_with(options: Options) -> Result<KubeSide> {
        match std::env::var_os(EXTERNAL_KUBECONFIG) {
            Some(path) => {
                let lock_path = std::env::temp_dir().join("calico-migrate-external-cluster.lock");
                let lock = File::create(&lock_path)?;
                // Test threads of one process queue here like other processes do; a test that
                // holds one side while starting another would wait for itself.
                lock.lock().context("locking the external test cluster")?;
                let calico_crds = calico_crd_names(&PathBuf::from(&path))?;
                let side = KubeSide {
                    backend: Backend::External {
                        _lock: lock,
                        calico_crds,
                    },
                    kubeconfig: PathBuf::from(path),
                    namespace: format!("calico-migrate-test-{}", random_suffix()),
                    created: Mutex::new(Vec::new()),
                    _dir: tempfile::Builder::new().prefix("kube-side").tempdir()?,
                };
                side.create_namespace(&side.namespace.clone())?;
                Ok(side)
            }
            None => Self::local(options),
        }
    }

    /// Always the local API server, whatever the environment says.
    pub fn local(options: Options) -> Result<KubeSide> {
        let dir = tempfile::Builder::new().prefix("kube-side").tempdir()?;
        let server = BackgroundServer::start(options)?;
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, server.kubeconfig("sandbox"))?;
        Ok(KubeSide {
            backend: Backend::Local(server),
            kubeconfig,
            namespace: "kube-system".into(),
            created: Mutex::new(Vec::new()),
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

    pub async fn client(&self) -> Result<Client> {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)?;
        let config =
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
        Ok(Client::try_from(config)?)
    }

    fn remember(&self, what: Created) {
        self.created.lock().expect("not poisoned").push(what);
    }

    pub fn create_namespace(&self, name: &str) -> Result<()> {
        block_on(async {
            let api: Api<Namespace> = Api::all(self.client().await?);
            let ns = Namespace {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    ..Default::default()
                },
                ..Default::default()
            };
            match api.create(&PostParams::default(), &ns).await {
                Ok(_) => {
                    self.remember(Created::Namespace(name.into()));
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
        block_on(async {
            let api: Api<ConfigMap> = Api::namespaced(self.client().await?, namespace);
            let _ = api.delete(name, &DeleteParams::default()).await;
            let map = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    ..Default::default()
                },
                data: Some(data),
                ..Default::default()
            };
            api.create(&PostParams::default(), &map).await?;
            Ok(())
        })
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
        block_on(async {
            let api: Api<Secret> = Api::namespaced(self.client().await?, namespace);
            let _ = api.delete(name, &DeleteParams::default()).await;
            let secret = Secret {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    ..Default::default()
                },
                type_: Some("Opaque".into()),
                data: Some(data.into_iter().map(|(k, v)| (k, ByteString(v))).collect()),
                ..Default::default()
            };
            api.create(&PostParams::default(), &secret).await?;
            Ok(())
        })
    }

    pub fn create_node(&self, name: &str) -> Result<()> {
        block_on(async {
            let api: Api<Node> = Api::all(self.client().await?);
            let labels: BTreeMap<String, String> = [
                ("kubernetes.io/hostname".to_string(), name.to_string()),
                ("kubernetes.io/os".to_string(), "linux".to_string()),
            ]
            .into();
            let node = Node {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    labels: Some(labels),
                    ..Default::default()
                },
                ..Default::default()
            };
            api.create(&PostParams::default(), &node).await?;
            self.remember(Created::Node(name.into()));
            Ok(())
        })
    }

    /// Creates the Node unless the cluster has it (a real cluster's Nodes are never touched);
    /// true when it was created (and will be deleted at the end).
    pub fn ensure_node(&self, name: &str) -> Result<bool> {
        let exists = block_on(async {
            let api: Api<Node> = Api::all(self.client().await?);
            anyhow::Ok(api.get_opt(name).await?.is_some())
        })?;
        if exists {
            return Ok(false);
        }
        self.create_node(name)?;
        Ok(true)
    }

    /// Makes sure a namespace exists and is not being deleted: a namespace an earlier test
    /// deleted is waited for (a real cluster deletes them asynchronously) and created again.
    pub fn ensure_namespace(&self, name: &str) -> Result<()> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
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
                Some(true) if std::time::Instant::now() > deadline => {
                    anyhow::bail!("namespace {name} is still being deleted")
                }
                Some(true) => std::thread::sleep(std::time::Duration::from_millis(500)),
            }
        }
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
    /// Established.
    pub fn install_crds(&self) -> Result<()> {
        block_on(async {
            let api: Api<CustomResourceDefinition> = Api::all(self.client().await?);
            for (name, crd) in calico_crds()? {
                match api.create(&PostParams::default(), &crd).await {
                    Ok(_) => self.remember(Created::Crd(name.clone())),
                    Err(kube::Error::Api(s)) if s.code == 409 => {}
                    Err(e) => return Err(e).with_context(|| format!("creating CRD {name}")),
                }
            }
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
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
                        std::time::Instant::now() < deadline,
                        "CRD {name} never became Established"
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
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
    ) -> Result<Option<serde_json::Value>> {
        let path = match namespace {
            Some(ns) => format!("/apis/crd.projectcalico.org/v1/namespaces/{ns}/{plural}/{name}"),
            None => format!("/apis/crd.projectcalico.org/v1/{plural}/{name}"),
        };
        self.get_json(&path)
    }

    /// Any object of the API as JSON, or None.
    pub fn get_json(&self, path: &str) -> Result<Option<serde_json::Value>> {
        block_on(async {
            let client = self.client().await?;
            let request = http::Request::get(path).body(Vec::new())?;
            match client.request::<serde_json::Value>(request).await {
                Ok(value) => Ok(Some(value)),
                Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
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
    pub fn list_calico(&self, plural: &str) -> Result<Vec<serde_json::Value>> {
        block_on(async {
            let client = self.client().await?;
            let request = http::Request::get(format!("/apis/crd.projectcalico.org/v1/{plural}"))
                .body(Vec::new())?;
            let list: serde_json::Value = client.request(request).await?;
            Ok(list["items"].as_array().cloned().unwrap_or_default())
        })
    }

    /// POSTs any object to a collection path.
    pub fn create_raw(
        &self,
        collection: &str,
        object: &serde_json::Value,
    ) -> Result<serde_json::Value> {
        block_on(async {
            let client = self.client().await?;
            let request = http::Request::post(collection)
                .header("content-type", "application/json")
                .body(serde_json::to_vec(object)?)?;
            Ok(client.request(request).await?)
        })
    }

    /// PUTs any object to its path (the object carries its resourceVersion).
    pub fn replace_raw(&self, path: &str, object: &serde_json::Value) -> Result<serde_json::Value> {
        block_on(async {
            let client = self.client().await?;
            let request = http::Request::put(path)
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

    fn calico_path(plural: &str, object: &serde_json::Value) -> String {
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        match object["metadata"]["namespace"].as_str() {
            Some(ns) => format!("/apis/crd.projectcalico.org/v1/namespaces/{ns}/{plural}/{name}"),
            None => format!("/apis/crd.projectcalico.org/v1/{plural}/{name}"),
        }
    }

    /// Replaces a Calico custom resource (the object carries its resourceVersion).
    pub fn replace_calico(
        &self,
        plural: &str,
        object: &serde_json::Value,
    ) -> Result<serde_json::Value> {
        let path = Self::calico_path(plural, object);
        block_on(async {
            let client = self.client().await?;
            let request = http::Request::put(path)
                .header("content-type", "application/json")
                .body(serde_json::to_vec(object)?)?;
            Ok(client.request(request).await?)
        })
    }

    pub fn delete_calico(&self, plural: &str, namespace: Option<&str>, name: &str) -> Result<()> {
        let object = serde_json::json!({"metadata": {"name": name, "namespace": namespace}});
        let path = Self::calico_path(plural, &object);
        block_on(async {
            let client = self.client().await?;
            client
                .request_text(http::Request::delete(path).body(Vec::new())?)
                .await?;
            Ok(())
        })
    }

    /// Sets one annotation of a Kubernetes Node.
    pub fn annotate_node(&self, node: &str, key: &str, value: &str) -> Result<()> {
        block_on(async {
            let api: Api<Node> = Api::all(self.client().await?);
            let patch = serde_json::json!({"metadata": {"annotations": {key: value}}});
            api.patch(
                node,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&patch),
            )
            .await?;
            Ok(())
        })
    }

    /// Writes a Calico custom resource as given (create).
    pub fn create_calico(
        &self,
        plural: &str,
        object: &serde_json::Value,
    ) -> Result<serde_json::Value> {
        let path = match object["metadata"]["namespace"].as_str() {
            Some(ns) => format!("/apis/crd.projectcalico.org/v1/namespaces/{ns}/{plural}"),
            None => format!("/apis/crd.projectcalico.org/v1/{plural}"),
        };
        block_on(async {
            let client = self.client().await?;
            let request = http::Request::post(path)
                .header("content-type", "application/json")
                .body(serde_json::to_vec(object)?)?;
            Ok(client.request(request).await?)
        })
    }

    fn cleanup(&self) -> Result<()> {
        let created = std::mem::take(&mut *self.created.lock().expect("not poisoned"));
        block_on(async {
            let client = self.client().await?;
            for what in created.into_iter().rev() {
                let result = match &what {
                    Created::Namespace(name) => Api::<Namespace>::all(client.clone())
                        .delete(name, &DeleteParams::default())
                        .await
                        .map(|_| ()),
                    Created::Node(name) => Api::<Node>::all(client.clone())
                        .delete(name, &DeleteParams::default())
                        .await
                        .map(|_| ()),
                    Created::Crd(name) => Api::<CustomResourceDefinition>::all(client.clone())
                        .delete(name, &DeleteParams::default())
                        .await
                        .map(|_| ()),
                };
                if let Err(e) = result {
                    eprintln!("cleanup of {what:?} failed: {e}");
                }
            }
            // Calico CRDs someone installed during the test (the plugin's import does) go, with
            // their objects; in CRDs that were there before, the test's objects go.
            let before = match &self.backend {
                Backend::External { calico_crds, .. } => calico_crds.clone(),
                Backend::Local(_) => Vec::new(),
            };
            let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
            if let Ok(list) = crds.list(&ListParams::default()).await {
                for crd in list
                    .items
                    .iter()
                    .filter(|c| CALICO_GROUPS.contains(&c.spec.group.as_str()))
                {
                    let name = crd.metadata.name.clone().unwrap_or_default();
                    if !before.contains(&name) {
                        let _ = crds.delete(&name, &DeleteParams::default()).await;
                        continue;
                    }
                    let plural = &crd.spec.names.plural;
                    let request =
                        http::Request::delete(format!("/apis/crd.projectcalico.org/v1/{plural}"))
                            .body(Vec::new())?;
                    let _ = client.request_text(request).await;
                }
            }
            anyhow::Ok(())
        })
    }
}

impl Drop for KubeSide {
    fn drop(&mut self) {
        if self.is_external()
            && let Err(e) = self.cleanup()
        {
            eprintln!("cleaning up the external test cluster failed: {e}");
        }
    }
}

/// The Calico CRDs a cluster has now.
fn calico_crd_names(kubeconfig: &Path) -> Result<Vec<String>> {
    block_on(async {
        let kubeconfig = Kubeconfig::read_from(kubeconfig)?;
        let config =
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
        let crds: Api<CustomResourceDefinition> = Api::all(Client::try_from(config)?);
        Ok(crds
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|c| CALICO_GROUPS.contains(&c.spec.group.as_str()))
            .filter_map(|c| c.metadata.name)
            .collect())
    })
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

pub fn random_suffix() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{:x}{:x}", std::process::id(), nanos)
}

/// The current context of a kubeconfig's text.
pub fn context_name(kubeconfig: &str) -> String {
    Kubeconfig::from_yaml(kubeconfig)
        .ok()
        .and_then(|k| k.current_context)
        .unwrap_or_default()
}
