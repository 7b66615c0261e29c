//! The Kubernetes connection, taken from the kubeconfig exactly as kubectl does: `--kubeconfig`,
//! else `$KUBECONFIG` (several files merged), else `~/.kube/config`; `--context` or the
//! current context.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("no kubeconfig: $KUBECONFIG is not set and ~/.kube/config does not exist")]
    NoKubeconfig,
    #[error("cannot read kubeconfig {path}: {detail}")]
    ReadKubeconfig { path: String, detail: String },
    #[error("the kubeconfig has no current context")]
    NoCurrentContext,
    #[error("context {name:?} is not in the kubeconfig (contexts: {available})")]
    UnknownContext { name: String, available: String },
    #[error("context {context:?} names server {server:?}, which is not an http:// or https:// URL")]
    BadServerUrl { context: String, server: String },
    #[error("cannot use context {context:?}: {detail}")]
    Config { context: String, detail: String },
    #[error("cannot reach the Kubernetes API server at {server}: {detail}")]
    Unreachable { server: String, detail: String },
    #[error("{doing}: {message}")]
    Api {
        doing: String,
        code: u16,
        reason: String,
        message: String,
    },
    #[error("{doing}: {detail}")]
    Other { doing: String, detail: String },
    #[error(
        "the Calico CRDs are not installed in the cluster (crd.projectcalico.org/v1 does not serve clusterinformations)"
    )]
    CrdsMissing,
    #[error(
        "ClusterInformation/default kept changing under us ({attempts} attempts); nothing was written"
    )]
    Conflict { attempts: u32 },
}

impl KubeError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            KubeError::NoKubeconfig => "pass --kubeconfig or set KUBECONFIG".into(),
            KubeError::ReadKubeconfig { .. } => {
                "check the file given by --kubeconfig or KUBECONFIG".into()
            }
            KubeError::NoCurrentContext | KubeError::UnknownContext { .. } => {
                "pick a context with --context (kubectl config get-contexts lists them)".into()
            }
            KubeError::BadServerUrl { .. } => {
                "fix the cluster's server: entry in the kubeconfig".into()
            }
            KubeError::Unreachable { .. } => {
                "check that `kubectl get nodes` works with the same kubeconfig and context".into()
            }
            KubeError::Api { code: 401, .. } => {
                "the kubeconfig's credentials were refused: log in again".into()
            }
            KubeError::Api {
                code: 403, message, ..
            } => super::forbidden::forbidden_hint(message),
            KubeError::CrdsMissing => {
                "install Calico's CRDs first (`kubectl calico-migrate import` installs them)".into()
            }
            KubeError::Conflict { .. } => "run the command again".into(),
            KubeError::Config { .. } | KubeError::Api { .. } | KubeError::Other { .. } => {
                return None;
            }
        })
    }

    /// Wraps a client error with what we were doing, telling transport failures apart.
    pub fn from_kube(doing: impl Into<String>, server: &str, error: kube::Error) -> KubeError {
        let doing = doing.into();
        match error {
            kube::Error::Api(status) => KubeError::Api {
                doing,
                code: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
            },
            kube::Error::HyperError(_) | kube::Error::Service(_) => KubeError::Unreachable {
                server: server.to_string(),
                detail: root_cause(&error),
            },
            other => KubeError::Other {
                doing,
                detail: other.to_string(),
            },
        }
    }

    /// The HTTP status of an API error (404, 409, ...), if this is one.
    pub fn code(&self) -> Option<u16> {
        match self {
            KubeError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// Which kubeconfig context to use, as kubectl's global flags say.
#[derive(Clone, Debug, Default)]
pub struct KubeOptions {
    /// `--kubeconfig`; else `$KUBECONFIG` (merged), else `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`; else the current context.
    pub context: Option<String>,
    /// `--request-timeout`; zero for the client's defaults.
    pub request_timeout: Duration,
}

/// A client for one kubeconfig context. Building it does not contact the server.
#[derive(Clone)]
pub struct KubeTarget {
    pub client: Client,
    pub context: String,
    pub server: String,
    config: Config,
}

impl KubeTarget {
    /// A client without kube-rs's own retry layer, for bulk writes that retry (and count
    /// retries, and honour Retry-After) themselves.
    pub fn bulk_client(&self) -> Result<Client, KubeError> {
        let mut config = self.config.clone();
        config.default_retry = false;
        Client::try_from(config).map_err(|e| KubeError::Config {
            context: self.context.clone(),
            detail: root_cause(&e),
        })
    }
}

impl std::fmt::Debug for KubeTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KubeTarget({} at {})", self.context, self.server)
    }
}

fn load_kubeconfig(explicit: Option<&PathBuf>) -> Result<Kubeconfig, KubeError> {
    let too_large = |path: &Path| {
        crate::input::check_size(path).map_err(|e| KubeError::ReadKubeconfig {
            path: path.display().to_string(),
            detail: e.to_string(),
        })
    };
    let read = |path: &PathBuf| {
        too_large(path)?;
        Kubeconfig::read_from(path).map_err(|e| KubeError::ReadKubeconfig {
            path: path.display().to_string(),
            detail: root_cause(&e),
        })
    };
    if let Some(path) = explicit {
        return read(path);
    }
    for path in std::env::split_paths(&std::env::var_os("KUBECONFIG").unwrap_or_default()) {
        if path.exists() {
            too_large(&path)?;
        }
    }
    match Kubeconfig::from_env() {
        Ok(Some(merged)) => return Ok(merged),
        Ok(None) => {}
        Err(e) => {
            return Err(KubeError::ReadKubeconfig {
                path: std::env::var("KUBECONFIG").unwrap_or_default(),
                detail: root_cause(&e),
            });
        }
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .ok_or(KubeError::NoKubeconfig)?;
    let default = home.join(".kube").join("config");
    if !default.exists() {
        return Err(KubeError::NoKubeconfig);
    }
    read(&default)
}

pub async fn connect(args: &KubeOptions) -> Result<KubeTarget, KubeError> {
    let kubeconfig = load_kubeconfig(args.kubeconfig.as_ref())?;
    let context = match &args.context {
        Some(name) => name.clone(),
        None => kubeconfig
            .current_context
            .clone()
            .ok_or(KubeError::NoCurrentContext)?,
    };
    let Some(named) = kubeconfig.contexts.iter().find(|c| c.name == context) else {
        let available: Vec<_> = kubeconfig
            .contexts
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        return Err(KubeError::UnknownContext {
            name: context,
            available: if available.is_empty() {
                "none".into()
            } else {
                available.join(", ")
            },
        });
    };
    let cluster_name = named
        .context
        .as_ref()
        .map(|c| c.cluster.clone())
        .unwrap_or_default();
    let server = kubeconfig
        .clusters
        .iter()
        .find(|c| c.name == cluster_name)
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone())
        .unwrap_or_default();
    // kube-client panics on the first request to a server URL without a scheme.
    if !(server.starts_with("https://") || server.starts_with("http://")) {
        return Err(KubeError::BadServerUrl { context, server });
    }
    let options = KubeConfigOptions {
        context: Some(context.clone()),
        ..Default::default()
    };
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| KubeError::Config {
            context: context.clone(),
            detail: root_cause(&e),
        })?;
    if args.request_timeout > Duration::ZERO {
        config.read_timeout = Some(args.request_timeout);
        config.write_timeout = Some(args.request_timeout);
        config.connect_timeout = Some(args.request_timeout);
    }
    let client = Client::try_from(config.clone()).map_err(|e| KubeError::Config {
        context: context.clone(),
        detail: root_cause(&e),
    })?;
    Ok(KubeTarget {
        client,
        context,
        server,
        config,
    })
}
