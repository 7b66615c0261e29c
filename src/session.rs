//! What every stage shares: where the two datastores are, and the one place that opens
//! connections to them. Building a session contacts nothing; each connection is opened when a
//! stage asks for it.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::console::Progress;
use crate::error::Error;
use crate::etcd::{self, ClusterConfig, Connected, EtcdOverrides, EtcdSettings};
use crate::kdd::etcd_config::Saved;
use crate::kdd::rest::{Rest, RestOptions};
use crate::kdd::{self, KddStore, KubeError, KubeOptions, KubeTarget};

/// How long one request may take when `--request-timeout` does not say.
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Session {
    pub kube: KubeOptions,
    /// Namespace of the Calico install: its `calico-config` ConfigMap, etcd Secret, workloads
    /// and the migration's journal.
    pub namespace: String,
    pub etcd: EtcdOverrides,
    /// Where etcd was when the migration under way began (its journal's copy of
    /// `calico-config`): run and rollback reach etcd there whatever the ConfigMap says now.
    pub saved_etcd_config: Option<BTreeMap<String, String>>,
    pub progress: Progress,
}

impl Session {
    /// The same session, reaching etcd through `saved` where `calico-config` no longer says.
    pub fn with_saved_etcd(&self, saved: Option<&crate::journal::SavedEtcd>) -> Session {
        Session {
            kube: self.kube.clone(),
            namespace: self.namespace.clone(),
            etcd: self.etcd.clone(),
            saved_etcd_config: saved
                .map(|s| s.data.clone())
                .or_else(|| self.saved_etcd_config.clone()),
            progress: self.progress.clone(),
        }
    }

    /// The Kubernetes client of the kubeconfig context. Does not contact the server.
    pub async fn kube(&self) -> Result<KubeTarget, KubeError> {
        let target = kdd::connect(&self.kube).await?;
        self.progress.detail(
            1,
            format!(
                "Kubernetes: context {:?}, server {}",
                target.context, target.server
            ),
        );
        Ok(target)
    }

    pub async fn kdd(&self) -> Result<KddStore, Error> {
        Ok(KddStore::new(self.kube().await?))
    }

    /// A client for bulk requests (paced, retried, with the server's warnings kept). `qps` limits
    /// the requests per second when given.
    pub async fn rest(&self, qps: Option<f64>) -> Result<Rest, Error> {
        let target = self.kube().await?;
        Ok(Rest::new(
            target.bulk_client()?,
            RestOptions {
                qps,
                timeout: self.request_timeout(),
                ..Default::default()
            },
        ))
    }

    /// Time allowed for one request to the API server or etcd.
    pub fn request_timeout(&self) -> Duration {
        if self.kube.request_timeout.is_zero() {
            DEFAULT_REQUEST_TIMEOUT
        } else {
            self.kube.request_timeout
        }
    }

    /// The etcd settings, asking the cluster for what flags and variables do not give.
    pub async fn etcd_settings(&self) -> Result<EtcdSettings, Error> {
        let env = |name: &str| std::env::var(name).ok();
        let flags = &self.etcd;
        let cluster = if etcd::settings::needs_cluster(flags, &env) {
            let target = self.kube().await;
            let journal = match (&self.saved_etcd_config, &target) {
                (None, Ok(_)) => self.journal_etcd_config().await,
                _ => None,
            };
            let saved = match (&self.saved_etcd_config, &journal) {
                (Some(saved), _) => Saved::Instead(saved),
                (None, Some(journal)) => Saved::Fallback(journal),
                (None, None) => Saved::None,
            };
            kdd::etcd_config::read(
                target.as_ref(),
                &self.namespace,
                &flags.etcd_config_map,
                &flags.etcd_secret,
                saved,
            )
            .await
        } else {
            ClusterConfig::NotConsulted
        };
        let settings =
            etcd::settings::resolve(flags, &env, &cluster).map_err(etcd::EtcdError::from)?;
        for row in settings.report() {
            self.progress.detail(
                1,
                format!("etcd {}: {} (from {})", row.setting, row.value, row.source),
            );
        }
        for note in &settings.notes {
            self.progress.detail(1, format!("etcd: {note}"));
        }
        Ok(settings)
    }

    /// Where etcd was when a migration of this install began, from its journal: `calico-config`
    /// no longer says once the Kubernetes-datastore manifest replaced it.
    async fn journal_etcd_config(&self) -> Option<BTreeMap<String, String>> {
        let rest = self.rest(None).await.ok()?;
        let stored = crate::journal::Stored::load(&rest, &self.namespace)
            .await
            .ok()??;
        stored.journal.etcd.map(|etcd| etcd.data)
    }

    pub fn etcd_timeout(&self) -> Duration {
        if self.kube.request_timeout.is_zero() {
            etcd::connect::DEFAULT_TIMEOUT
        } else {
            self.kube.request_timeout
        }
    }

    /// Resolves the settings and opens a checked connection.
    pub async fn etcd(&self) -> Result<Connected, Error> {
        let settings = self.etcd_settings().await?;
        let connected = etcd::connect(settings, self.etcd_timeout()).await?;
        self.progress.detail(
            1,
            format!(
                "etcd: connected, server version {}",
                connected.server_version
            ),
        );
        Ok(connected)
    }
}
