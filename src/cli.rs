//! Command-line interface: what a kubectl user types.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::console::OutputFormat;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the command failed (the message says why and what to do next)
  2  usage error (unknown flag, bad value)
  3  verify found differences between the datastores

The etcd connection comes from, in order: the --etcd-* flags; calicoctl's ETCD_ENDPOINTS,
ETCD_CA_CERT_FILE, ETCD_CERT_FILE, ETCD_KEY_FILE, ETCD_USERNAME and ETCD_PASSWORD variables; the
cluster's calico-config ConfigMap and calico-etcd-secrets Secret in the --namespace.";

#[derive(Debug, Parser)]
#[command(
    name = "kubectl-calico_migrate",
    bin_name = "kubectl calico-migrate",
    version = crate::commands::version::LONG_VERSION,
    about = "Migrate Calico from the etcd datastore to the Kubernetes datastore",
    long_about = "Migrate Calico from the etcd datastore to the Kubernetes datastore.\n\n\
        Both datastores are reached from one kubeconfig context: the Kubernetes side as kubectl \
        does, the etcd side from the Calico install's calico-config ConfigMap and \
        calico-etcd-secrets Secret (flags and ETCD_* variables override them).",
    after_help = EXIT_CODES,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show both datastores: reachable or not, Calico version, lock state, CRDs, object counts
    Status,
    /// Lock a datastore (ClusterInformation datastoreReady=false): Calico stops processing changes
    Lock(LockArgs),
    /// Unlock a datastore (ClusterInformation datastoreReady=true)
    Unlock(LockArgs),
    /// Export the etcd datastore to a file in calicoctl's migration format
    Export(crate::commands::export::ExportArgs),
    /// Import an export file into the Kubernetes datastore (resumable)
    Import(crate::commands::import::ImportArgs),
    /// Prove that the Kubernetes datastore holds what etcd (or an export file) holds
    Verify(crate::commands::verify::VerifyArgs),
    /// Print the version, the git commit and the build date
    Version,
    /// Print a shell completion script for the kubectl-calico_migrate binary
    Completion(crate::commands::completion::CompletionArgs),
}

#[derive(Debug, Args)]
pub struct LockArgs {
    /// Which datastore to lock or unlock
    #[arg(long, value_enum, value_name = "DATASTORE")]
    pub datastore: Datastore,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Datastore {
    /// The etcdv3 datastore Calico runs on now
    Etcd,
    /// The Kubernetes datastore (Calico CRDs in the API server)
    Kubernetes,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, merged, or ~/.kube/config)
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,

    /// Namespace of the Calico install (its calico-config ConfigMap and etcd Secret)
    #[arg(
        short = 'n',
        long,
        global = true,
        value_name = "NAME",
        default_value = "kube-system"
    )]
    pub namespace: String,

    /// Time to wait for each request to an API server or etcd (e.g. 30s, 1m; 0 = default)
    #[arg(long, global = true, value_name = "DURATION", default_value = "0", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Output format of reports
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// Print only results, warnings and errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Print more detail (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(flatten)]
    pub etcd: EtcdFlags,
}

/// etcd connection overrides. Unset flags fall back to the ETCD_* variables, then the cluster.
#[derive(Clone, Debug, Default, Args)]
#[command(next_help_heading = "etcd connection (overrides)")]
pub struct EtcdFlags {
    /// Comma-separated etcd endpoints, e.g. https://10.0.0.1:2379 [env: ETCD_ENDPOINTS]
    #[arg(long, global = true, value_name = "URLS")]
    pub etcd_endpoints: Option<String>,

    /// CA certificate file that signed etcd's certificate [env: ETCD_CA_CERT_FILE]
    #[arg(long, global = true, value_name = "PATH")]
    pub etcd_ca_file: Option<PathBuf>,

    /// Client certificate file [env: ETCD_CERT_FILE]
    #[arg(long, global = true, value_name = "PATH")]
    pub etcd_cert_file: Option<PathBuf>,

    /// Client key file [env: ETCD_KEY_FILE]
    #[arg(long, global = true, value_name = "PATH")]
    pub etcd_key_file: Option<PathBuf>,

    /// etcd user name [env: ETCD_USERNAME]
    #[arg(long, global = true, value_name = "NAME")]
    pub etcd_username: Option<String>,

    /// etcd password (prefer ETCD_PASSWORD: flags show up in process lists) [env: ETCD_PASSWORD]
    #[arg(long, global = true, value_name = "PASSWORD")]
    pub etcd_password: Option<String>,

    /// ConfigMap that holds etcd_endpoints and the TLS paths
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        default_value = "calico-config"
    )]
    pub etcd_config_map: String,

    /// Secret that holds the etcd TLS material
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        default_value = "calico-etcd-secrets"
    )]
    pub etcd_secret: String,
}

/// Parses durations the way kubectl's --request-timeout does: a bare number of seconds, or Go
/// duration units (`500ms`, `30s`, `2m`, `1h30m`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let invalid = || {
        format!("invalid duration {text:?}: use e.g. 30s, 2m, 1h30m, 500ms or a number of seconds")
    };
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let number: f64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(invalid()),
        };
        total += Duration::from_secs_f64(number * scale);
        rest = &rest[unit_len..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_parse_like_kubectl() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("s").is_err());
    }
}
