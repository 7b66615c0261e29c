//! What every command shares: the global flags, the console, and lazily opened connections.

use std::time::Duration;

use crate::cli::GlobalArgs;
use crate::console::Console;
use crate::error::Error;
use crate::etcd::{self, ClusterConfig, Connected, EtcdSettings};
use crate::kdd::{self, KddStore, KubeError, KubeTarget};

pub struct App<'a> {
    pub args: &'a GlobalArgs,
    pub console: &'a Console,
}

impl App<'_> {
    /// The Kubernetes client of the kubeconfig context. Does not contact the server.
    pub async fn kube(&self) -> Result<KubeTarget, KubeError> {
        let target = kdd::connect(self.args).await?;
        self.console.detail(
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

    /// The etcd settings, asking the cluster for what flags and variables do not give.
    pub async fn etcd_settings(&self) -> Result<EtcdSettings, Error> {
        let env = |name: &str| std::env::var(name).ok();
        let flags = &self.args.etcd;
        let cluster = if etcd::settings::needs_cluster(flags, &env) {
            let target = self.kube().await;
            kdd::etcd_config::read(
                target.as_ref(),
                &self.args.namespace,
                &flags.etcd_config_map,
                &flags.etcd_secret,
            )
            .await
        } else {
            ClusterConfig::NotConsulted
        };
        let settings =
            etcd::settings::resolve(flags, &env, &cluster).map_err(etcd::EtcdError::from)?;
        for row in settings.report() {
            self.console.detail(
                1,
                format!("etcd {}: {} (from {})", row.setting, row.value, row.source),
            );
        }
        for note in &settings.notes {
            self.console.detail(1, format!("etcd: {note}"));
        }
        Ok(settings)
    }

    pub fn etcd_timeout(&self) -> Duration {
        if self.args.request_timeout.is_zero() {
            etcd::connect::DEFAULT_TIMEOUT
        } else {
            self.args.request_timeout
        }
    }

    /// Resolves the settings and opens a checked connection.
    pub async fn etcd(&self) -> Result<Connected, Error> {
        let settings = self.etcd_settings().await?;
        let connected = etcd::connect(settings, self.etcd_timeout()).await?;
        self.console.detail(
            1,
            format!(
                "etcd: connected, server version {}",
                connected.server_version
            ),
        );
        Ok(connected)
    }
}
