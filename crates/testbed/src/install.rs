//! An etcd-mode Calico install: a real etcd, the Kubernetes side, and the `calico-config`
//! ConfigMap and `calico-etcd-secrets` Secret of upstream's `calico-etcd.yaml`, filled in to
//! point at that etcd.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use base64::Engine as _;
use serde_json::Value;

use crate::calico::Dataset;
use crate::etcd::{Etcd, EtcdMode};
use crate::kube_side::KubeSide;

/// Upstream's manifests (the Secret and the ConfigMap documents of calico-etcd.yaml).
const UPSTREAM_MANIFEST: &str = include_str!("../fixtures/etcd-mode-config.yaml");
/// Calico's install manifest for the etcd datastore (what a cluster being migrated runs).
pub const ETCD_MANIFEST: &str = include_str!("../../../tests/fixtures/manifests/calico-etcd.yaml");
/// Calico's install manifest for the Kubernetes datastore (what the migration applies).
pub const KDD_MANIFEST: &str = include_str!("../../../tests/fixtures/manifests/calico.yaml");

pub struct CalicoInstall {
    pub etcd: Etcd,
    pub kube: KubeSide,
}

impl CalicoInstall {
    /// Starts etcd and the Kubernetes side, and writes the Calico etcd configuration.
    pub fn start(mode: EtcdMode) -> Result<CalicoInstall> {
        Self::with_kube(mode, KubeSide::start()?)
    }

    /// An install on a given Kubernetes side (e.g. a local server with latency).
    pub fn with_kube(mode: EtcdMode, kube: KubeSide) -> Result<CalicoInstall> {
        let install = CalicoInstall {
            etcd: Etcd::start(mode)?,
            kube,
        };
        install.write_etcd_config()?;
        Ok(install)
    }

    /// The namespace of the install (`-n` for the plugin).
    pub fn namespace(&self) -> &str {
        self.kube.namespace()
    }

    /// Writes ConfigMap `calico-config` and Secret `calico-etcd-secrets` as upstream's manifest
    /// has them, with the endpoint of this etcd and, in TLS mode, the in-pod TLS paths and the
    /// PEM data.
    pub fn write_etcd_config(&self) -> Result<()> {
        let (config_map, secret) = etcd_config(&self.etcd)?;
        let namespace = self.namespace().to_string();
        self.kube
            .put_secret(&namespace, "calico-etcd-secrets", secret)?;
        self.kube
            .put_config_map(&namespace, "calico-config", config_map)?;
        Ok(())
    }

    /// A Calico manifest with its namespace made the install's.
    pub fn manifest(&self, text: &str) -> String {
        text.replace("kube-system", self.namespace())
    }

    /// Calico's etcd manifest filled in as a user fills it in for this install: the install's
    /// namespace, this etcd's endpoint and, in TLS mode, the in-pod TLS paths and the
    /// certificates in the Secret.
    pub fn etcd_manifest(&self) -> Result<String> {
        let (data, secret) = etcd_config(&self.etcd)?;
        let mut text = self.manifest(ETCD_MANIFEST);
        for key in ["etcd_endpoints", "etcd_ca", "etcd_cert", "etcd_key"] {
            let line = text
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{key}:")))
                .with_context(|| format!("the etcd manifest has no {key}"))?
                .to_string();
            let value = data.get(key).cloned().unwrap_or_default();
            text = text.replace(&line, &format!("  {key}: {value:?}"));
        }
        let mut filled = String::new();
        for (key, value) in &secret {
            filled.push_str(&format!(
                "  {key}: {}\n",
                base64::engine::general_purpose::STANDARD.encode(value)
            ));
        }
        Ok(text.replace(
            "  # etcd-key: null\n  # etcd-cert: null\n  # etcd-ca: null\n",
            &filled,
        ))
    }

    /// Puts Calico's etcd-mode workloads into the cluster as `kubectl apply -f
    /// calico-etcd.yaml` does (field manager `kubectl-client-side-apply`), as a cluster about to
    /// be migrated has them.
    pub fn apply_etcd_manifest(&self) -> Result<()> {
        self.kube
            .apply_documents(&self.etcd_manifest()?, "kubectl-client-side-apply")
    }

    /// Puts the dataset's keys into etcd and creates its namespaces and the Kubernetes Nodes
    /// the cluster does not have yet.
    pub fn load(&self, dataset: &Dataset) -> Result<()> {
        self.etcd.put_all(dataset.pairs())?;
        for namespace in &dataset.namespaces {
            self.kube.create_namespace(namespace)?;
        }
        for node in &dataset.k8s_nodes {
            self.kube.ensure_node(node)?;
        }
        Ok(())
    }
}

/// The data of a ConfigMap and of a Secret.
pub type ConfigData = (BTreeMap<String, String>, BTreeMap<String, Vec<u8>>);

/// The data of upstream's ConfigMap and Secret for this etcd.
pub fn etcd_config(etcd: &Etcd) -> Result<ConfigData> {
    let documents: Vec<Value> =
        serde_saphyr::from_multiple(UPSTREAM_MANIFEST).context("parsing the upstream manifest")?;
    let config_map = documents
        .iter()
        .find(|d| d["kind"] == "ConfigMap")
        .context("the manifest has a ConfigMap")?;
    let mut data: BTreeMap<String, String> = serde_json::from_value(config_map["data"].clone())?;
    data.insert("etcd_endpoints".into(), etcd.endpoint().to_string());
    let mut secret = BTreeMap::new();
    if let Some(pki) = etcd.pki() {
        data.insert("etcd_ca".into(), "/calico-secrets/etcd-ca".into());
        data.insert("etcd_cert".into(), "/calico-secrets/etcd-cert".into());
        data.insert("etcd_key".into(), "/calico-secrets/etcd-key".into());
        secret.insert("etcd-ca".into(), pki.ca_cert.clone().into_bytes());
        secret.insert("etcd-cert".into(), pki.client_cert.clone().into_bytes());
        secret.insert("etcd-key".into(), pki.client_key.clone().into_bytes());
    }
    Ok((data, secret))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_upstream_manifest_parses() {
        let documents: Vec<serde_json::Value> =
            serde_saphyr::from_multiple(super::UPSTREAM_MANIFEST).unwrap();
        let kinds: Vec<&str> = documents
            .iter()
            .filter_map(|d| d["kind"].as_str())
            .collect();
        assert_eq!(kinds, ["Secret", "ConfigMap"]);
        assert_eq!(documents[1]["data"]["etcd_ca"], "");
    }
}
