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

/// Where Calico's manifests install it.
pub const DEFAULT_NAMESPACE: &str = "kube-system";

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
    /// `kubectl calico-migrate`, the flags that reach the same cluster and etcd as this session
    /// (never the etcd password: a hint is printed), then `rest`: the command a hint tells the
    /// user to run.
    pub fn command(&self, rest: &str) -> String {
        let mut flags: Vec<(&str, String)> = Vec::new();
        if let Some(path) = &self.kube.kubeconfig {
            flags.push(("--kubeconfig", path.display().to_string()));
        }
        if let Some(context) = &self.kube.context {
            flags.push(("--context", context.clone()));
        }
        if self.namespace != DEFAULT_NAMESPACE {
            flags.push(("-n", self.namespace.clone()));
        }
        let etcd = &self.etcd;
        if let Some(endpoints) = &etcd.etcd_endpoints {
            flags.push(("--etcd-endpoints", endpoints.clone()));
        }
        for (flag, path) in [
            ("--etcd-ca-file", &etcd.etcd_ca_file),
            ("--etcd-cert-file", &etcd.etcd_cert_file),
            ("--etcd-key-file", &etcd.etcd_key_file),
        ] {
            if let Some(path) = path {
                flags.push((flag, path.display().to_string()));
            }
        }
        if let Some(user) = &etcd.etcd_username {
            flags.push(("--etcd-username", user.clone()));
        }
        if etcd.etcd_config_map != etcd::DEFAULT_CONFIG_MAP {
            flags.push(("--etcd-config-map", etcd.etcd_config_map.clone()));
        }
        if etcd.etcd_secret != etcd::DEFAULT_SECRET {
            flags.push(("--etcd-secret", etcd.etcd_secret.clone()));
        }
        let mut line = String::from("kubectl calico-migrate");
        for (flag, value) in flags {
            line.push_str(&format!(" {flag} {}", crate::console::shell_word(&value)));
        }
        format!("{line} {rest}")
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn session(namespace: &str, etcd: EtcdOverrides) -> Session {
        Session {
            kube: KubeOptions {
                kubeconfig: None,
                context: None,
                request_timeout: Duration::ZERO,
            },
            namespace: namespace.into(),
            etcd,
            saved_etcd_config: None,
            progress: Progress::hidden(),
        }
    }

    #[test]
    fn hinted_commands_keep_the_defaults_out() {
        let defaults = EtcdOverrides {
            etcd_config_map: etcd::DEFAULT_CONFIG_MAP.into(),
            etcd_secret: etcd::DEFAULT_SECRET.into(),
            ..Default::default()
        };
        assert_eq!(
            session(DEFAULT_NAMESPACE, defaults).command("plan"),
            "kubectl calico-migrate plan"
        );
    }

    #[test]
    fn hinted_commands_reach_the_same_cluster_and_etcd_but_never_print_the_password() {
        let mut session = session(
            "calico system",
            EtcdOverrides {
                etcd_endpoints: Some("https://10.0.0.1:2379".into()),
                etcd_ca_file: Some("/etc/etcd/ca.pem".into()),
                etcd_username: Some("calico".into()),
                etcd_password: Some("s3cret".into()),
                etcd_config_map: "my-config".into(),
                etcd_secret: etcd::DEFAULT_SECRET.into(),
                ..Default::default()
            },
        );
        session.kube.kubeconfig = Some("/home/me/.kube/prod".into());
        session.kube.context = Some("prod".into());
        let command = session.command("run --manifest calico.yaml");
        assert_eq!(
            command,
            "kubectl calico-migrate --kubeconfig /home/me/.kube/prod --context prod -n 'calico system' \
             --etcd-endpoints https://10.0.0.1:2379 --etcd-ca-file /etc/etcd/ca.pem --etcd-username calico \
             --etcd-config-map my-config run --manifest calico.yaml"
        );
        assert!(!command.contains("s3cret"));
    }
}
