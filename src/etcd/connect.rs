//! Opening the etcd connection eagerly, so that every problem surfaces at once with a message
//! that says what was tried and what to do.

use std::time::Duration;

use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};

use super::settings::{EtcdSettings, Pem, SettingsError, Source, Sourced};
use super::store::EtcdStore;
use crate::kinds::CLUSTER_INFORMATION_KEY;

/// How long to wait for etcd when `--request-timeout` is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("cannot read the etcd {what} file {path} (from {from}): {error}")]
    ReadPem {
        what: &'static str,
        path: String,
        from: Source,
        error: std::io::Error,
    },
    #[error("the etcd {what} from {from} is not PEM data")]
    NotPem { what: &'static str, from: Source },
    #[error("etcd at {endpoints} (from {from}) did not answer within {}s", timeout.as_secs_f64())]
    Timeout {
        endpoints: String,
        from: Source,
        timeout: Duration,
    },
    #[error("cannot connect to etcd at {endpoints} (from {from}): {detail}")]
    Unreachable {
        endpoints: String,
        from: Source,
        detail: String,
    },
    #[error("TLS handshake with etcd at {endpoints} failed: {detail}")]
    Certificate {
        endpoints: String,
        detail: String,
        ca: Option<Source>,
    },
    #[error("etcd at {endpoints} closed the connection while it was being set up")]
    ConnectionClosed {
        endpoints: String,
        https: bool,
        client_cert: bool,
    },
    #[error("etcd rejected the user name or password of user {user:?} (from {from})")]
    AuthFailed { user: String, from: Source },
    #[error("etcd requires a user name and password")]
    AuthRequired,
    #[error("etcd refused access: {detail}")]
    PermissionDenied { detail: String },
    #[error("etcd has no ClusterInformation at {CLUSTER_INFORMATION_KEY}")]
    NoClusterInformation,
    #[error("the ClusterInformation in etcd is not valid JSON: {0}")]
    BadClusterInformation(String),
    #[error(
        "the ClusterInformation in etcd kept changing under us ({attempts} attempts); nothing was written"
    )]
    Conflict { attempts: u32 },
    #[error("etcd compacted revision {revision} while it was being read")]
    Compacted { revision: i64 },
    #[error("etcd request failed while {doing}: {detail}")]
    Request { doing: String, detail: String },
    #[error("lost the connection to etcd while {doing}: {detail}")]
    ConnectionLost { doing: String, detail: String },
}

impl EtcdError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            EtcdError::Settings(e) => e.hint(),
            EtcdError::ReadPem { what, .. } | EtcdError::NotPem { what, .. } => {
                format!("check the {what} file, or give another with the matching --etcd-* flag")
            }
            EtcdError::Timeout { .. } | EtcdError::Unreachable { .. } => {
                "check that the endpoint is reachable from this machine (endpoints that pods use may not be), or give another with --etcd-endpoints".into()
            }
            EtcdError::Certificate { ca: Some(ca), .. } => {
                format!("the CA from {ca} did not sign etcd's certificate: give the right one with --etcd-ca-file")
            }
            EtcdError::Certificate { ca: None, .. } => {
                "give the CA that signed etcd's certificate with --etcd-ca-file".into()
            }
            EtcdError::ConnectionClosed { https: false, .. } => {
                "the endpoint may expect TLS: try https:// with --etcd-endpoints, plus --etcd-ca-file, --etcd-cert-file and --etcd-key-file".into()
            }
            EtcdError::ConnectionClosed { client_cert: false, .. } => {
                "etcd probably requires a client certificate: give one with --etcd-cert-file and --etcd-key-file".into()
            }
            EtcdError::ConnectionClosed { .. } => {
                "etcd did not accept the client certificate: check that its CA is trusted by etcd (--trusted-ca-file)".into()
            }
            EtcdError::AuthFailed { .. } => "check --etcd-username and ETCD_PASSWORD".into(),
            EtcdError::AuthRequired => {
                "give --etcd-username and set ETCD_PASSWORD (or --etcd-password)".into()
            }
            EtcdError::PermissionDenied { .. } => {
                "the etcd user needs read access to /calico/ (and write access to the ClusterInformation key to lock)".into()
            }
            EtcdError::NoClusterInformation => {
                "is this Calico's etcd? calico-node creates the ClusterInformation when it starts".into()
            }
            EtcdError::Conflict { .. } => "run the command again".into(),
            EtcdError::Compacted { .. } => {
                "run the command again; calico-kube-controllers compacts etcd periodically, so scale it to 0 for the migration (kubectl -n kube-system scale deployment calico-kube-controllers --replicas=0)".into()
            }
            EtcdError::ConnectionLost { .. } => {
                "check that etcd is running and reachable (`kubectl calico-migrate status` shows both datastores), then run the same command again".into()
            }
            EtcdError::BadClusterInformation(_) | EtcdError::Request { .. } => return None,
        })
    }
}

/// A live, checked connection.
pub struct Connected {
    pub store: EtcdStore,
    pub settings: EtcdSettings,
    pub server_version: String,
}

/// Connects and proves the connection works: a status call and a read of the lock key, within
/// `timeout`, so that TLS, authentication and permission problems show up now.
pub async fn connect(settings: EtcdSettings, timeout: Duration) -> Result<Connected, EtcdError> {
    let options = connect_options(&settings, timeout)?;
    let endpoints = settings.endpoints.value.join(",");
    let from = settings.endpoints.source.clone();
    let attempt = async {
        let mut client = Client::connect(settings.endpoints.value.clone(), Some(options)).await?;
        let status = client.status().await?;
        client.get(CLUSTER_INFORMATION_KEY, None).await?;
        Ok::<_, etcd_client::Error>((client, status.version().to_string()))
    };
    let (client, server_version) = match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(connected)) => connected,
        Ok(Err(error)) => return Err(classify(&settings, error)),
        Err(_) => {
            return Err(EtcdError::Timeout {
                endpoints,
                from,
                timeout,
            });
        }
    };
    Ok(Connected {
        store: EtcdStore::new(client),
        settings,
        server_version,
    })
}

fn connect_options(
    settings: &EtcdSettings,
    timeout: Duration,
) -> Result<ConnectOptions, EtcdError> {
    let mut options = ConnectOptions::new()
        .with_connect_timeout(timeout)
        .with_timeout(timeout.max(Duration::from_secs(30)));
    if settings
        .endpoints
        .value
        .iter()
        .any(|e| e.starts_with("https://"))
    {
        let mut tls = TlsOptions::new();
        if let Some(ca) = &settings.ca {
            tls = tls.ca_certificate(Certificate::from_pem(read_pem("CA", ca)?));
        } else {
            tls = tls.with_native_roots();
        }
        if let (Some(cert), Some(key)) = (&settings.cert, &settings.key) {
            tls = tls.identity(Identity::from_pem(
                read_pem("client certificate", cert)?,
                read_pem("client key", key)?,
            ));
        }
        options = options.with_tls(tls);
    }
    // Credentials only when given: an etcd without auth refuses a login attempt.
    if let Some(user) = &settings.username {
        let password = settings
            .password
            .as_ref()
            .map(|p| p.value.clone())
            .unwrap_or_default();
        options = options.with_user(user.value.clone(), password);
    }
    Ok(options)
}

fn read_pem(what: &'static str, pem: &Sourced<Pem>) -> Result<Vec<u8>, EtcdError> {
    let data = match &pem.value {
        Pem::Data(data) => data.clone(),
        Pem::File(path) => crate::input::read(path).map_err(|error| EtcdError::ReadPem {
            what,
            path: path.display().to_string(),
            from: pem.source.clone(),
            error,
        })?,
    };
    if !String::from_utf8_lossy(&data).contains("-----BEGIN ") {
        return Err(EtcdError::NotPem {
            what,
            from: pem.source.clone(),
        });
    }
    Ok(data)
}

/// The innermost cause's text, which names the real problem (`Connection refused`, ...).
fn root_cause(error: &etcd_client::Error) -> String {
    let mut current: &(dyn std::error::Error + 'static) = match error {
        etcd_client::Error::GRpcStatus(status) => status,
        etcd_client::Error::TransportError(transport) => transport,
        etcd_client::Error::IoError(io) => io,
        other => return other.to_string(),
    };
    while let Some(next) = current.source() {
        current = next;
    }
    match error {
        etcd_client::Error::GRpcStatus(status) if current.to_string() == status.to_string() => {
            status.message().to_string()
        }
        _ => current.to_string(),
    }
}

fn classify(settings: &EtcdSettings, error: etcd_client::Error) -> EtcdError {
    let endpoints = settings.endpoints.value.join(",");
    let from = settings.endpoints.source.clone();
    let https = endpoints.contains("https://");
    let (code, message) = match &error {
        etcd_client::Error::GRpcStatus(status) => {
            (Some(status.code()), status.message().to_string())
        }
        other => (None, other.to_string()),
    };
    let detail = root_cause(&error);
    use tonic::Code;
    match code {
        _ if message.contains("invalid peer certificate")
            || detail.contains("invalid peer certificate") =>
        {
            EtcdError::Certificate {
                endpoints,
                detail: describe_certificate_problem(&message),
                ca: settings.ca.as_ref().map(|ca| ca.source.clone()),
            }
        }
        _ if message.contains("authentication failed") => EtcdError::AuthFailed {
            user: settings
                .username
                .as_ref()
                .map(|u| u.value.clone())
                .unwrap_or_default(),
            from: settings
                .username
                .as_ref()
                .map(|u| u.source.clone())
                .unwrap_or(Source::Flag("--etcd-username")),
        },
        _ if message.contains("user name is empty") || message.contains("invalid auth token") => {
            EtcdError::AuthRequired
        }
        Some(Code::PermissionDenied) => EtcdError::PermissionDenied { detail: message },
        Some(Code::DeadlineExceeded) => EtcdError::Timeout {
            endpoints,
            from,
            timeout: DEFAULT_TIMEOUT,
        },
        _ if closed_during_setup(&detail) || message.contains("operation was canceled") => {
            EtcdError::ConnectionClosed {
                endpoints,
                https,
                client_cert: settings.cert.is_some(),
            }
        }
        Some(Code::Unavailable) | None => EtcdError::Unreachable {
            endpoints,
            from,
            detail,
        },
        _ if detail == message => EtcdError::Request {
            doing: "connecting".into(),
            detail,
        },
        _ => EtcdError::Request {
            doing: "connecting".into(),
            detail: format!("{message}: {detail}"),
        },
    }
}

/// The peer hung up before answering: TLS or protocol mismatch, or a refused client certificate.
fn closed_during_setup(detail: &str) -> bool {
    let detail = detail.to_ascii_lowercase();
    [
        "connection closed",
        "broken pipe",
        "connection reset",
        "unexpected eof",
        "received fatal alert",
    ]
    .iter()
    .any(|s| detail.contains(s))
}

fn describe_certificate_problem(message: &str) -> String {
    if message.contains("UnknownIssuer") {
        "etcd's certificate is not signed by a trusted CA".into()
    } else if message.contains("NotValidForName") {
        "etcd's certificate is not valid for the endpoint's host name".into()
    } else if message.contains("Expired") {
        "etcd's certificate has expired".into()
    } else {
        message.to_string()
    }
}
