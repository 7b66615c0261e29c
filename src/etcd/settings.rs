//! Where the etcd connection settings come from, decided without I/O.
//!
//! Each setting is taken from the first of: a `--etcd-*` flag, calicoctl's `ETCD_*` variable,
//! the cluster (ConfigMap `calico-config` for the endpoints and the in-pod TLS paths, whose
//! basenames are keys of Secret `calico-etcd-secrets`). TLS material from the cluster is used
//! only when the endpoints are `https://`. The result remembers every setting's source so that
//! `status` and `-v` can say where each one came from.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// Where one setting came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Flag(&'static str),
    Env(&'static str),
    ConfigMap {
        namespace: String,
        name: String,
        key: String,
    },
    Secret {
        namespace: String,
        name: String,
        key: String,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(flag) => write!(f, "flag {flag}"),
            Source::Env(var) => write!(f, "environment variable {var}"),
            Source::ConfigMap {
                namespace,
                name,
                key,
            } => {
                write!(f, "ConfigMap {namespace}/{name} key {key}")
            }
            Source::Secret {
                namespace,
                name,
                key,
            } => {
                write!(f, "Secret {namespace}/{name} key {key}")
            }
        }
    }
}

impl Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sourced<T> {
    pub value: T,
    pub source: Source,
}

/// PEM material: a file named by a flag or variable, or data held in the cluster's Secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Pem {
    File(PathBuf),
    Data(Vec<u8>),
}

impl fmt::Debug for Pem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pem::File(path) => write!(f, "File({})", path.display()),
            Pem::Data(data) => write!(f, "Data({} bytes)", data.len()),
        }
    }
}

/// The ConfigMap and the Secret of Calico's etcd manifest.
pub const DEFAULT_CONFIG_MAP: &str = "calico-config";
pub const DEFAULT_SECRET: &str = "calico-etcd-secrets";

/// etcd settings given on the command line; unset ones fall back to the `ETCD_*` variables, then
/// to the cluster.
#[derive(Clone, Debug, Default)]
pub struct EtcdOverrides {
    pub etcd_endpoints: Option<String>,
    pub etcd_ca_file: Option<PathBuf>,
    pub etcd_cert_file: Option<PathBuf>,
    pub etcd_key_file: Option<PathBuf>,
    pub etcd_username: Option<String>,
    pub etcd_password: Option<String>,
    /// The ConfigMap that holds `etcd_endpoints` and the TLS paths.
    pub etcd_config_map: String,
    /// The Secret that holds the TLS material.
    pub etcd_secret: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdSettings {
    pub endpoints: Sourced<Vec<String>>,
    pub ca: Option<Sourced<Pem>>,
    pub cert: Option<Sourced<Pem>>,
    pub key: Option<Sourced<Pem>>,
    pub username: Option<Sourced<String>>,
    pub password: Option<Sourced<String>>,
    /// Things worth saying with `-v` (e.g. why the cluster was not consulted).
    pub notes: Vec<String>,
}

/// What the Kubernetes cluster holds about etcd, fetched beforehand by the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterConfig {
    /// Every setting came from flags or variables; the cluster was not asked.
    NotConsulted,
    /// The ConfigMap was read. `secret` is the Secret's data, or why it could not be read
    /// (None when the ConfigMap names no TLS file, so the Secret was not needed).
    Found {
        namespace: String,
        config_map: String,
        data: BTreeMap<String, String>,
        secret_name: String,
        secret: Option<Result<BTreeMap<String, Vec<u8>>, String>>,
    },
    /// The ConfigMap does not exist.
    Missing {
        namespace: String,
        config_map: String,
    },
    /// The cluster could not be asked (unreachable, forbidden, no kubeconfig): why.
    Unavailable { reason: String },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("no etcd endpoints: ConfigMap {namespace}/{config_map} was not found")]
    NoConfigMap {
        namespace: String,
        config_map: String,
    },
    #[error(
        "no etcd endpoints: ConfigMap {namespace}/{config_map} has no etcd_endpoints key (is this an etcd-mode Calico install?)"
    )]
    NoEndpointsKey {
        namespace: String,
        config_map: String,
    },
    #[error("no etcd endpoints: the cluster could not be asked for them ({reason})")]
    ClusterUnavailable { reason: String },
    #[error("invalid etcd endpoint {endpoint:?} (from {from}): {problem}")]
    BadEndpoint {
        endpoint: String,
        from: Source,
        problem: String,
    },
    #[error(
        "ConfigMap {namespace}/{config_map} sets {field} to {path:?}, but Secret {namespace}/{secret} could not be read: {reason}"
    )]
    SecretUnreadable {
        namespace: String,
        config_map: String,
        field: String,
        path: String,
        secret: String,
        reason: String,
    },
    #[error(
        "ConfigMap {namespace}/{config_map} sets {field} to {path:?}, but Secret {namespace}/{secret} has no key {key:?}"
    )]
    SecretKeyMissing {
        namespace: String,
        config_map: String,
        field: String,
        path: String,
        secret: String,
        key: String,
    },
    #[error(
        "an etcd client certificate needs its key: the certificate comes from {cert}, but no key was given"
    )]
    CertWithoutKey { cert: Source },
    #[error(
        "an etcd client key needs its certificate: the key comes from {key}, but no certificate was given"
    )]
    KeyWithoutCert { key: Source },
    #[error("an etcd password was given ({password}) without a user name")]
    PasswordWithoutUser { password: Source },
}

impl SettingsError {
    /// The next step for the user.
    pub fn hint(&self) -> String {
        match self {
            SettingsError::NoConfigMap { .. } | SettingsError::ClusterUnavailable { .. } => {
                "pass --etcd-endpoints (or set ETCD_ENDPOINTS), or point -n/--namespace and --etcd-config-map at the Calico install".into()
            }
            SettingsError::NoEndpointsKey { .. } => {
                "pass --etcd-endpoints (or set ETCD_ENDPOINTS) with the endpoints Calico uses".into()
            }
            SettingsError::BadEndpoint { .. } => {
                "endpoints look like https://10.0.0.1:2379; separate several with commas".into()
            }
            SettingsError::SecretUnreadable { field, .. }
            | SettingsError::SecretKeyMissing { field, .. } => {
                let flag = TlsField::from_config_key(field).map(|f| f.flag()).unwrap_or("--etcd-ca-file");
                format!("check the Secret named by --etcd-secret, or give the file with {flag}")
            }
            SettingsError::CertWithoutKey { .. } => "add --etcd-key-file (or ETCD_KEY_FILE)".into(),
            SettingsError::KeyWithoutCert { .. } => "add --etcd-cert-file (or ETCD_CERT_FILE)".into(),
            SettingsError::PasswordWithoutUser { .. } => {
                "add --etcd-username (or ETCD_USERNAME)".into()
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TlsField {
    Ca,
    Cert,
    Key,
}

impl TlsField {
    const ALL: [TlsField; 3] = [TlsField::Ca, TlsField::Cert, TlsField::Key];

    fn flag(self) -> &'static str {
        match self {
            TlsField::Ca => "--etcd-ca-file",
            TlsField::Cert => "--etcd-cert-file",
            TlsField::Key => "--etcd-key-file",
        }
    }

    fn env(self) -> &'static str {
        match self {
            TlsField::Ca => "ETCD_CA_CERT_FILE",
            TlsField::Cert => "ETCD_CERT_FILE",
            TlsField::Key => "ETCD_KEY_FILE",
        }
    }

    /// The ConfigMap key holding the in-pod path.
    fn config_key(self) -> &'static str {
        match self {
            TlsField::Ca => "etcd_ca",
            TlsField::Cert => "etcd_cert",
            TlsField::Key => "etcd_key",
        }
    }

    fn from_config_key(key: &str) -> Option<TlsField> {
        TlsField::ALL.into_iter().find(|f| f.config_key() == key)
    }

    fn flag_value(self, flags: &EtcdOverrides) -> Option<&PathBuf> {
        match self {
            TlsField::Ca => flags.etcd_ca_file.as_ref(),
            TlsField::Cert => flags.etcd_cert_file.as_ref(),
            TlsField::Key => flags.etcd_key_file.as_ref(),
        }
    }
}

/// The flag-or-variable value of a setting, if either is set (empty values count as unset).
fn local<T>(
    flag: Option<T>,
    flag_name: &'static str,
    env: &dyn Fn(&str) -> Option<String>,
    env_name: &'static str,
    from_env: impl Fn(String) -> T,
) -> Option<Sourced<T>> {
    if let Some(value) = flag {
        return Some(Sourced {
            value,
            source: Source::Flag(flag_name),
        });
    }
    env(env_name).filter(|v| !v.is_empty()).map(|v| Sourced {
        value: from_env(v),
        source: Source::Env(env_name),
    })
}

fn split_endpoints(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .collect()
}

/// Settings given locally (flags or variables), before the cluster is consulted.
struct Local {
    endpoints: Option<Sourced<Vec<String>>>,
    tls: [Option<Sourced<Pem>>; 3],
    username: Option<Sourced<String>>,
    password: Option<Sourced<String>>,
}

fn local_settings(flags: &EtcdOverrides, env: &dyn Fn(&str) -> Option<String>) -> Local {
    let endpoints = local(
        flags.etcd_endpoints.as_deref().map(split_endpoints),
        "--etcd-endpoints",
        env,
        "ETCD_ENDPOINTS",
        |v| split_endpoints(&v),
    );
    let tls = TlsField::ALL.map(|field| {
        local(
            field.flag_value(flags).cloned().map(Pem::File),
            field.flag(),
            env,
            field.env(),
            |v| Pem::File(PathBuf::from(v)),
        )
    });
    Local {
        endpoints,
        tls,
        username: local(
            flags.etcd_username.clone(),
            "--etcd-username",
            env,
            "ETCD_USERNAME",
            |v| v,
        ),
        password: local(
            flags.etcd_password.clone(),
            "--etcd-password",
            env,
            "ETCD_PASSWORD",
            |v| v,
        ),
    }
}

fn uses_https(endpoints: &[String]) -> bool {
    endpoints.iter().any(|e| e.starts_with("https://"))
}

/// Whether the cluster must be asked: for the endpoints, or for TLS material of https endpoints.
pub fn needs_cluster(flags: &EtcdOverrides, env: &dyn Fn(&str) -> Option<String>) -> bool {
    let local = local_settings(flags, env);
    match &local.endpoints {
        None => true,
        Some(endpoints) => uses_https(&endpoints.value) && local.tls.iter().any(Option::is_none),
    }
}

/// Resolves every setting from flags, variables and what the cluster holds.
pub fn resolve(
    flags: &EtcdOverrides,
    env: &dyn Fn(&str) -> Option<String>,
    cluster: &ClusterConfig,
) -> Result<EtcdSettings, SettingsError> {
    let local = local_settings(flags, env);
    let mut notes = Vec::new();

    let endpoints = match local.endpoints {
        Some(endpoints) => endpoints,
        None => endpoints_from_cluster(cluster)?,
    };
    for endpoint in &endpoints.value {
        check_endpoint(endpoint).map_err(|problem| SettingsError::BadEndpoint {
            endpoint: endpoint.clone(),
            from: endpoints.source.clone(),
            problem,
        })?;
    }

    let https = uses_https(&endpoints.value);
    let mut tls = local.tls;
    if https {
        for (field, slot) in TlsField::ALL.into_iter().zip(tls.iter_mut()) {
            if slot.is_none() {
                *slot = tls_from_cluster(field, cluster)?;
            }
        }
    } else if tls.iter().any(Option::is_some) {
        notes.push("TLS files are ignored: every etcd endpoint is http://".to_string());
        tls = [None, None, None];
    }
    match cluster {
        ClusterConfig::Missing {
            namespace,
            config_map,
        } if https => notes.push(format!(
            "ConfigMap {namespace}/{config_map} not found: no TLS settings from the cluster"
        )),
        ClusterConfig::Unavailable { reason } if https => {
            notes.push(format!("TLS settings not read from the cluster: {reason}"))
        }
        _ => {}
    }

    let [ca, cert, key] = tls;
    match (&cert, &key) {
        (Some(cert), None) => {
            return Err(SettingsError::CertWithoutKey {
                cert: cert.source.clone(),
            });
        }
        (None, Some(key)) => {
            return Err(SettingsError::KeyWithoutCert {
                key: key.source.clone(),
            });
        }
        _ => {}
    }
    if let (None, Some(password)) = (&local.username, &local.password) {
        return Err(SettingsError::PasswordWithoutUser {
            password: password.source.clone(),
        });
    }

    Ok(EtcdSettings {
        endpoints,
        ca,
        cert,
        key,
        username: local.username,
        password: local.password,
        notes,
    })
}

fn endpoints_from_cluster(cluster: &ClusterConfig) -> Result<Sourced<Vec<String>>, SettingsError> {
    match cluster {
        ClusterConfig::Found {
            namespace,
            config_map,
            data,
            ..
        } => {
            let endpoints = data
                .get("etcd_endpoints")
                .map(|v| split_endpoints(v))
                .unwrap_or_default();
            if endpoints.is_empty() {
                return Err(SettingsError::NoEndpointsKey {
                    namespace: namespace.clone(),
                    config_map: config_map.clone(),
                });
            }
            Ok(Sourced {
                value: endpoints,
                source: Source::ConfigMap {
                    namespace: namespace.clone(),
                    name: config_map.clone(),
                    key: "etcd_endpoints".into(),
                },
            })
        }
        ClusterConfig::Missing {
            namespace,
            config_map,
        } => Err(SettingsError::NoConfigMap {
            namespace: namespace.clone(),
            config_map: config_map.clone(),
        }),
        ClusterConfig::Unavailable { reason } => Err(SettingsError::ClusterUnavailable {
            reason: reason.clone(),
        }),
        ClusterConfig::NotConsulted => Err(SettingsError::ClusterUnavailable {
            reason: "not consulted".into(),
        }),
    }
}

/// The Secret key for a ConfigMap TLS path: its basename (`/calico-secrets/etcd-ca` → `etcd-ca`).
pub fn secret_key_for_path(path: &str) -> Option<&str> {
    path.trim().rsplit('/').next().filter(|k| !k.is_empty())
}

/// The Secret keys the ConfigMap refers to, so that the caller knows whether to fetch it.
pub fn secret_keys_named(data: &BTreeMap<String, String>) -> Vec<String> {
    TlsField::ALL
        .iter()
        .filter_map(|f| {
            data.get(f.config_key())
                .and_then(|p| secret_key_for_path(p))
        })
        .map(str::to_string)
        .collect()
}

fn tls_from_cluster(
    field: TlsField,
    cluster: &ClusterConfig,
) -> Result<Option<Sourced<Pem>>, SettingsError> {
    let ClusterConfig::Found {
        namespace,
        config_map,
        data,
        secret_name,
        secret,
    } = cluster
    else {
        return Ok(None);
    };
    let Some(path) = data
        .get(field.config_key())
        .filter(|p| !p.trim().is_empty())
    else {
        return Ok(None);
    };
    let Some(key) = secret_key_for_path(path) else {
        return Ok(None);
    };
    let secret_data = match secret {
        Some(Ok(secret_data)) => secret_data,
        Some(Err(reason)) => {
            return Err(SettingsError::SecretUnreadable {
                namespace: namespace.clone(),
                config_map: config_map.clone(),
                field: field.config_key().into(),
                path: path.clone(),
                secret: secret_name.clone(),
                reason: reason.clone(),
            });
        }
        None => {
            return Err(SettingsError::SecretUnreadable {
                namespace: namespace.clone(),
                config_map: config_map.clone(),
                field: field.config_key().into(),
                path: path.clone(),
                secret: secret_name.clone(),
                reason: "it was not fetched".into(),
            });
        }
    };
    match secret_data.get(key) {
        Some(pem) if !pem.is_empty() => Ok(Some(Sourced {
            value: Pem::Data(pem.clone()),
            source: Source::Secret {
                namespace: namespace.clone(),
                name: secret_name.clone(),
                key: key.to_string(),
            },
        })),
        _ => Err(SettingsError::SecretKeyMissing {
            namespace: namespace.clone(),
            config_map: config_map.clone(),
            field: field.config_key().into(),
            path: path.clone(),
            secret: secret_name.clone(),
            key: key.to_string(),
        }),
    }
}

/// Endpoints must be absolute http(s) URLs with a host; etcd-client would misread anything else.
fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let rest = endpoint
        .strip_prefix("https://")
        .or_else(|| endpoint.strip_prefix("http://"))
        .ok_or("it must start with http:// or https://")?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err("it has no host".into());
    }
    let port = if let Some(bracketed) = authority.strip_prefix('[') {
        let (_, after) = bracketed
            .split_once(']')
            .ok_or("unclosed [ in the IPv6 address")?;
        after.strip_prefix(':')
    } else {
        authority.rsplit_once(':').map(|(_, port)| port)
    };
    if let Some(port) = port
        && port.parse::<u16>().is_err()
    {
        return Err(format!("bad port {port:?}"));
    }
    Ok(())
}

/// A one-line, secret-free description of each setting and its source, for `status` and `-v`.
#[derive(Clone, Debug, Serialize)]
pub struct SettingReport {
    pub setting: &'static str,
    pub value: String,
    pub source: Source,
}

impl EtcdSettings {
    pub fn report(&self) -> Vec<SettingReport> {
        let mut rows = vec![SettingReport {
            setting: "endpoints",
            value: self.endpoints.value.join(","),
            source: self.endpoints.source.clone(),
        }];
        let pem_rows = [("ca", &self.ca), ("cert", &self.cert), ("key", &self.key)];
        for (setting, pem) in pem_rows {
            if let Some(pem) = pem {
                let value = match &pem.value {
                    Pem::File(path) => path.display().to_string(),
                    Pem::Data(data) => format!("PEM data, {} bytes", data.len()),
                };
                rows.push(SettingReport {
                    setting,
                    value,
                    source: pem.source.clone(),
                });
            }
        }
        if let Some(user) = &self.username {
            rows.push(SettingReport {
                setting: "username",
                value: user.value.clone(),
                source: user.source.clone(),
            });
        }
        if let Some(password) = &self.password {
            rows.push(SettingReport {
                setting: "password",
                value: "(hidden)".into(),
                source: password.source.clone(),
            });
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn cluster(
        data: &[(&str, &str)],
        secret: Option<Result<&[(&str, &str)], &str>>,
    ) -> ClusterConfig {
        ClusterConfig::Found {
            namespace: "kube-system".into(),
            config_map: "calico-config".into(),
            data: data
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            secret_name: "calico-etcd-secrets".into(),
            secret: secret.map(|s| {
                s.map(|pairs| {
                    pairs
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                        .collect()
                })
                .map_err(str::to_string)
            }),
        }
    }

    const TLS_CONFIG: &[(&str, &str)] = &[
        (
            "etcd_endpoints",
            "https://10.0.0.1:2379,https://10.0.0.2:2379",
        ),
        ("etcd_ca", "/calico-secrets/etcd-ca"),
        ("etcd_cert", "/calico-secrets/etcd-cert"),
        ("etcd_key", "/calico-secrets/etcd-key"),
    ];
    const TLS_SECRET: &[(&str, &str)] = &[
        ("etcd-ca", "CA PEM"),
        ("etcd-cert", "CERT PEM"),
        ("etcd-key", "KEY PEM"),
    ];

    #[test]
    fn everything_from_the_cluster() {
        let settings = resolve(
            &EtcdOverrides::default(),
            &no_env,
            &cluster(TLS_CONFIG, Some(Ok(TLS_SECRET))),
        )
        .unwrap();
        assert_eq!(
            settings.endpoints.value,
            ["https://10.0.0.1:2379", "https://10.0.0.2:2379"]
        );
        assert_eq!(
            settings.endpoints.source.to_string(),
            "ConfigMap kube-system/calico-config key etcd_endpoints"
        );
        assert_eq!(
            settings.ca.as_ref().unwrap().value,
            Pem::Data(b"CA PEM".to_vec())
        );
        assert_eq!(
            settings.key.as_ref().unwrap().source.to_string(),
            "Secret kube-system/calico-etcd-secrets key etcd-key"
        );
        assert!(settings.username.is_none());
    }

    #[test]
    fn flags_beat_variables_beat_the_cluster() {
        let flags = EtcdOverrides {
            etcd_ca_file: Some("/flag/ca.pem".into()),
            ..Default::default()
        };
        let env = env_of(&[
            ("ETCD_ENDPOINTS", "https://1.2.3.4:2379"),
            ("ETCD_CA_CERT_FILE", "/env/ca.pem"),
            ("ETCD_CERT_FILE", "/env/cert.pem"),
        ]);
        let settings = resolve(&flags, &env, &cluster(TLS_CONFIG, Some(Ok(TLS_SECRET)))).unwrap();
        assert_eq!(settings.endpoints.value, ["https://1.2.3.4:2379"]);
        assert_eq!(settings.endpoints.source, Source::Env("ETCD_ENDPOINTS"));
        assert_eq!(
            settings.ca.as_ref().unwrap().value,
            Pem::File("/flag/ca.pem".into())
        );
        assert_eq!(
            settings.ca.as_ref().unwrap().source,
            Source::Flag("--etcd-ca-file")
        );
        assert_eq!(
            settings.cert.as_ref().unwrap().source,
            Source::Env("ETCD_CERT_FILE")
        );
        assert!(matches!(
            settings.key.as_ref().unwrap().source,
            Source::Secret { .. }
        ));
    }

    #[test]
    fn plain_endpoints_ignore_cluster_tls_and_need_no_cluster() {
        let flags = EtcdOverrides {
            etcd_endpoints: Some("http://127.0.0.1:2379".into()),
            ..Default::default()
        };
        assert!(!needs_cluster(&flags, &no_env));
        let settings = resolve(&flags, &no_env, &ClusterConfig::NotConsulted).unwrap();
        assert!(settings.ca.is_none() && settings.cert.is_none());
        let https = EtcdOverrides {
            etcd_endpoints: Some("https://127.0.0.1:2379".into()),
            ..Default::default()
        };
        assert!(needs_cluster(&https, &no_env));
        assert!(needs_cluster(&EtcdOverrides::default(), &no_env));
    }

    #[test]
    fn empty_tls_paths_mean_no_tls() {
        let data = &[
            ("etcd_endpoints", "https://10.0.0.1:2379"),
            ("etcd_ca", ""),
            ("etcd_cert", ""),
            ("etcd_key", ""),
        ];
        let settings = resolve(&EtcdOverrides::default(), &no_env, &cluster(data, None)).unwrap();
        assert!(settings.ca.is_none() && settings.cert.is_none() && settings.key.is_none());
    }

    #[test]
    fn user_and_password() {
        let flags = EtcdOverrides {
            etcd_username: Some("calico".into()),
            ..Default::default()
        };
        let env = env_of(&[
            ("ETCD_ENDPOINTS", "http://e:2379"),
            ("ETCD_PASSWORD", "s3cret"),
        ]);
        let settings = resolve(&flags, &env, &ClusterConfig::NotConsulted).unwrap();
        assert_eq!(settings.username.as_ref().unwrap().value, "calico");
        assert_eq!(
            settings.password.as_ref().unwrap().source,
            Source::Env("ETCD_PASSWORD")
        );
        let report = settings.report();
        assert!(
            report
                .iter()
                .any(|r| r.setting == "password" && r.value == "(hidden)")
        );
        assert!(!format!("{report:?}").contains("s3cret"));
        let alone = env_of(&[("ETCD_ENDPOINTS", "http://e:2379"), ("ETCD_PASSWORD", "x")]);
        assert!(matches!(
            resolve(
                &EtcdOverrides::default(),
                &alone,
                &ClusterConfig::NotConsulted
            ),
            Err(SettingsError::PasswordWithoutUser { .. })
        ));
    }

    #[test]
    fn missing_pieces_say_what_was_tried() {
        let missing = ClusterConfig::Missing {
            namespace: "kube-system".into(),
            config_map: "calico-config".into(),
        };
        let err = resolve(&EtcdOverrides::default(), &no_env, &missing).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no etcd endpoints: ConfigMap kube-system/calico-config was not found"
        );
        assert!(err.hint().contains("--etcd-endpoints"));

        let err = resolve(
            &EtcdOverrides::default(),
            &no_env,
            &cluster(&[("calico_backend", "bird")], None),
        )
        .unwrap_err();
        assert!(matches!(err, SettingsError::NoEndpointsKey { .. }), "{err}");

        let err = resolve(
            &EtcdOverrides::default(),
            &no_env,
            &cluster(
                TLS_CONFIG,
                Some(Err("secrets \"calico-etcd-secrets\" not found")),
            ),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "ConfigMap kube-system/calico-config sets etcd_ca to \"/calico-secrets/etcd-ca\", but Secret kube-system/calico-etcd-secrets could not be read: secrets \"calico-etcd-secrets\" not found"
        );

        let partial: &[(&str, &str)] = &[("etcd-ca", "CA"), ("etcd-cert", "CERT")];
        let err = resolve(
            &EtcdOverrides::default(),
            &no_env,
            &cluster(TLS_CONFIG, Some(Ok(partial))),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "ConfigMap kube-system/calico-config sets etcd_key to \"/calico-secrets/etcd-key\", but Secret kube-system/calico-etcd-secrets has no key \"etcd-key\""
        );
        assert!(err.hint().contains("--etcd-key-file"));

        let unavailable = ClusterConfig::Unavailable {
            reason: "no kubeconfig".into(),
        };
        let err = resolve(&EtcdOverrides::default(), &no_env, &unavailable).unwrap_err();
        assert!(err.to_string().contains("no kubeconfig"));
    }

    #[test]
    fn a_flag_fills_in_for_a_missing_secret_key() {
        let partial: &[(&str, &str)] = &[("etcd-ca", "CA"), ("etcd-cert", "CERT")];
        let flags = EtcdOverrides {
            etcd_key_file: Some("/k.pem".into()),
            ..Default::default()
        };
        let settings = resolve(&flags, &no_env, &cluster(TLS_CONFIG, Some(Ok(partial)))).unwrap();
        assert_eq!(settings.key.unwrap().value, Pem::File("/k.pem".into()));
    }

    #[test]
    fn cert_and_key_come_in_pairs() {
        let cert_only = env_of(&[
            ("ETCD_ENDPOINTS", "https://e:2379"),
            ("ETCD_CERT_FILE", "/c.pem"),
        ]);
        let key_only = env_of(&[
            ("ETCD_ENDPOINTS", "https://e:2379"),
            ("ETCD_KEY_FILE", "/k.pem"),
        ]);
        let refused = |env: &dyn Fn(&str) -> Option<String>| {
            resolve(&EtcdOverrides::default(), env, &ClusterConfig::NotConsulted).unwrap_err()
        };
        assert!(matches!(
            refused(&cert_only),
            SettingsError::CertWithoutKey { .. }
        ));
        assert!(matches!(
            refused(&key_only),
            SettingsError::KeyWithoutCert { .. }
        ));
    }

    #[test]
    fn endpoints_are_checked() {
        for bad in [
            "127.0.0.1:2379",
            "http://",
            "http://host:port",
            "ftp://x:1",
            "https://[::1:2379",
        ] {
            let flags = EtcdOverrides {
                etcd_endpoints: Some(bad.into()),
                ..Default::default()
            };
            let err = resolve(&flags, &no_env, &ClusterConfig::NotConsulted).unwrap_err();
            assert!(
                matches!(err, SettingsError::BadEndpoint { .. }),
                "{bad}: {err}"
            );
        }
        for good in [
            "http://127.0.0.1:2379",
            "https://etcd.example.com",
            "https://[::1]:2379",
            " http://a:1 , http://b:2 ",
        ] {
            let flags = EtcdOverrides {
                etcd_endpoints: Some(good.into()),
                ..Default::default()
            };
            resolve(&flags, &no_env, &ClusterConfig::NotConsulted).unwrap();
        }
    }

    #[test]
    fn secret_keys_are_path_basenames() {
        assert_eq!(
            secret_key_for_path("/calico-secrets/etcd-ca"),
            Some("etcd-ca")
        );
        assert_eq!(secret_key_for_path("etcd-ca"), Some("etcd-ca"));
        assert_eq!(secret_key_for_path("/calico-secrets/"), None);
        let data: BTreeMap<String, String> = TLS_CONFIG
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(
            secret_keys_named(&data),
            ["etcd-ca", "etcd-cert", "etcd-key"]
        );
    }
}
