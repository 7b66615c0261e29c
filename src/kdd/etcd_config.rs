//! Reads what the cluster says about etcd: ConfigMap `calico-config` and, when it names TLS
//! files, Secret `calico-etcd-secrets` (docs/design.md §3.6).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;

use super::client::{KubeError, KubeTarget};
use crate::etcd::ClusterConfig;
use crate::etcd::settings::secret_keys_named;

/// Where etcd was when a migration began, and how much to trust it over the ConfigMap.
#[derive(Clone, Copy, Debug)]
pub enum Saved<'a> {
    None,
    Fallback(&'a BTreeMap<String, String>),
    Instead(&'a BTreeMap<String, String>),
}

impl Saved<'_> {
    fn map(&self) -> Option<&BTreeMap<String, String>> {
        match self {
            Saved::None => None,
            Saved::Fallback(map) | Saved::Instead(map) => Some(map),
        }
    }
}

/// Never fails: problems become `ClusterConfig::Missing` or `Unavailable`, and the resolution
/// decides whether they matter (they do not when flags give every setting).
///
/// `saved` is what the ConfigMap held when a migration began (kept in its journal). With
/// [`Saved::Fallback`] it stands in for a ConfigMap that no longer names etcd, because the
/// Kubernetes-datastore manifest replaced it; with [`Saved::Instead`] (a run or rollback, which
/// reach etcd as the migration began) it is used whatever the ConfigMap says now. The Secret is
/// still read from the cluster (that manifest leaves it alone).
pub async fn read(
    target: Result<&KubeTarget, &KubeError>,
    namespace: &str,
    config_map: &str,
    secret_name: &str,
    saved: Saved<'_>,
) -> ClusterConfig {
    let target = match target {
        Ok(target) => target,
        Err(error) => {
            return ClusterConfig::Unavailable {
                reason: error.to_string(),
            };
        }
    };
    let maps: Api<ConfigMap> = Api::namespaced(target.client.clone(), namespace);
    let from_journal = || (saved.map().cloned().unwrap_or_default(), true);
    let (data, saved_used) = match maps.get_opt(config_map).await {
        Ok(Some(found)) => {
            let data: BTreeMap<String, String> =
                found.data.unwrap_or_default().into_iter().collect();
            match saved {
                Saved::Instead(_) => from_journal(),
                Saved::Fallback(_) if !names_etcd(&data) => from_journal(),
                _ => (data, false),
            }
        }
        Ok(None) if saved.map().is_some() => from_journal(),
        Ok(None) => {
            return ClusterConfig::Missing {
                namespace: namespace.to_string(),
                config_map: config_map.to_string(),
            };
        }
        Err(error) => {
            let error = KubeError::from_kube(
                format!("reading ConfigMap {namespace}/{config_map}"),
                &target.server,
                error,
            );
            return ClusterConfig::Unavailable {
                reason: error.to_string(),
            };
        }
    };
    let secret = if secret_keys_named(&data).is_empty() {
        None
    } else {
        Some(read_secret(target, namespace, secret_name).await)
    };
    ClusterConfig::Found {
        namespace: namespace.to_string(),
        config_map: if saved_used {
            format!("{config_map} (as the migration journal saved it)")
        } else {
            config_map.to_string()
        },
        data,
        secret_name: secret_name.to_string(),
        secret,
    }
}

async fn read_secret(
    target: &KubeTarget,
    namespace: &str,
    name: &str,
) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let secrets: Api<Secret> = Api::namespaced(target.client.clone(), namespace);
    match secrets.get_opt(name).await {
        Ok(Some(secret)) => Ok(secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(key, bytes)| (key, bytes.0))
            .collect()),
        Ok(None) => Err(format!("secrets {name:?} not found")),
        Err(error) => Err(KubeError::from_kube("reading it", &target.server, error).to_string()),
    }
}

/// Whether a `calico-config` ConfigMap still says where etcd is.
fn names_etcd(data: &BTreeMap<String, String>) -> bool {
    data.get("etcd_endpoints")
        .is_some_and(|v| !v.trim().is_empty())
}
