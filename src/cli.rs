//! Command-line interface: what a kubectl user types.

use std::path::PathBuf;
use std::time::Duration;

use std::collections::BTreeMap;

use clap::{Args, Parser, Subcommand, ValueEnum};
use go_compat::time::DurationError;

use crate::console::OutputFormat;
use crate::convert::nodes::{parse_node_map_entry, parse_node_map_file};
use crate::error::Error;
use crate::etcd::EtcdOverrides;
use crate::kdd::KubeOptions;
use crate::kdd::rest::DEFAULT_MAX_CONCURRENCY;
use crate::kinds::{CrdApi, CrdApiRequest};
use crate::source::etcd::{DEFAULT_PAGE_SIZE, Reading};
use crate::stages;
use crate::stages::import::Pace;

const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    the command failed or is blocked (the message says why and what to do next)
  2    usage error (unknown flag, bad value)
  3    verify found differences between the datastores
  130  interrupted (Ctrl-C); running the same command again goes on from there

The etcd connection comes from, in order: the --etcd-* flags; calicoctl's ETCD_ENDPOINTS,
ETCD_CA_CERT_FILE, ETCD_CERT_FILE, ETCD_KEY_FILE, ETCD_USERNAME and ETCD_PASSWORD variables; the
cluster's calico-config ConfigMap and calico-etcd-secrets Secret in the --namespace.";

#[derive(Debug, Parser)]
#[command(
    name = "kubectl-calico_migrate",
    bin_name = "kubectl calico-migrate",
    version = crate::build_info::LONG_VERSION,
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
    /// Check everything a migration needs, changing nothing (exit 1 when something blocks it)
    Plan(PlanArgs),
    /// Migrate: copy, lock etcd, copy the changes, verify, apply the manifest, unlock (resumable)
    Run(RunArgs),
    /// Back a migration out while the Kubernetes datastore is still locked (resumable)
    Rollback(RollbackArgs),
    /// Show both datastores: reachable or not, Calico version, lock state, CRDs, object counts
    Status,
    /// Lock a datastore (ClusterInformation datastoreReady=false): Calico stops processing changes
    Lock(LockArgs),
    /// Unlock a datastore (ClusterInformation datastoreReady=true)
    Unlock(LockArgs),
    /// Export the etcd datastore to a file in calicoctl's migration format
    Export(ExportArgs),
    /// Import an export file into the Kubernetes datastore (resumable)
    Import(ImportArgs),
    /// Prove that the Kubernetes datastore holds what etcd (or an export file) holds
    Verify(VerifyArgs),
    /// Print the version, the git commit and the build date
    Version,
    /// Print a shell completion script for the kubectl-calico_migrate binary
    Completion(CompletionArgs),
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to print a completion script for
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct LockArgs {
    /// Which datastore to lock or unlock
    #[arg(long, value_enum, value_name = "DATASTORE")]
    pub datastore: Datastore,

    #[command(flatten)]
    pub crd_api: CrdApiArgs,
}

/// Which API group of the Kubernetes datastore holds Calico's data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum CrdApiValue {
    /// As Calico decides: CALICO_API_GROUP when set, else v3 when the cluster serves
    /// projectcalico.org and not crd.projectcalico.org, else v1 (a migration under way keeps
    /// its own)
    #[default]
    Auto,
    /// crd.projectcalico.org/v1, the CRDs of Calico's standard manifests
    V1,
    /// projectcalico.org/v3, Calico's native v3 CRDs (Calico v3.32 and later)
    V3,
}

#[derive(Clone, Copy, Debug, Default, Args)]
pub struct CrdApiArgs {
    /// API group of Calico's CRDs in the Kubernetes datastore
    #[arg(long = "crd-api", value_enum, value_name = "API", default_value_t = CrdApiValue::Auto)]
    pub crd_api: CrdApiValue,
}

impl CrdApiArgs {
    pub fn request(self) -> CrdApiRequest {
        match self.crd_api {
            CrdApiValue::Auto => CrdApiRequest::Auto,
            CrdApiValue::V1 => CrdApiRequest::Given(CrdApi::V1),
            CrdApiValue::V3 => CrdApiRequest::Given(CrdApi::V3),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Datastore {
    /// The etcdv3 datastore Calico runs on now
    Etcd,
    /// The Kubernetes datastore (Calico CRDs in the API server)
    Kubernetes,
}

impl From<Datastore> for stages::lock::Datastore {
    fn from(datastore: Datastore) -> Self {
        match datastore {
            Datastore::Etcd => stages::lock::Datastore::Etcd,
            Datastore::Kubernetes => stages::lock::Datastore::Kubernetes,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    #[default]
    Text,
    Json,
    Yaml,
}

impl From<Output> for OutputFormat {
    fn from(output: Output) -> Self {
        match output {
            Output::Text => OutputFormat::Text,
            Output::Json => OutputFormat::Json,
            Output::Yaml => OutputFormat::Yaml,
        }
    }
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
        default_value = crate::session::DEFAULT_NAMESPACE
    )]
    pub namespace: String,

    /// Time to wait for each request to an API server or etcd (e.g. 30s, 1m; 0 = default)
    #[arg(long, global = true, value_name = "DURATION", default_value = "0", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Output format of reports
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,

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
        default_value = crate::etcd::DEFAULT_CONFIG_MAP
    )]
    pub etcd_config_map: String,

    /// Secret that holds the etcd TLS material
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        default_value = crate::etcd::DEFAULT_SECRET
    )]
    pub etcd_secret: String,
}

impl GlobalArgs {
    pub fn kube_options(&self) -> KubeOptions {
        KubeOptions {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            request_timeout: self.request_timeout,
        }
    }
}

impl From<&EtcdFlags> for EtcdOverrides {
    fn from(flags: &EtcdFlags) -> Self {
        EtcdOverrides {
            etcd_endpoints: flags.etcd_endpoints.clone(),
            etcd_ca_file: flags.etcd_ca_file.clone(),
            etcd_cert_file: flags.etcd_cert_file.clone(),
            etcd_key_file: flags.etcd_key_file.clone(),
            etcd_username: flags.etcd_username.clone(),
            etcd_password: flags.etcd_password.clone(),
            etcd_config_map: flags.etcd_config_map.clone(),
            etcd_secret: flags.etcd_secret.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write the export to FILE (atomically, mode 0600) instead of stdout
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Export although the etcd datastore is not locked (a backup or a rehearsal: the snapshot
    /// may go stale as Calico keeps changing)
    #[arg(long)]
    pub allow_unlocked: bool,

    /// Keep what the source's calicoctl would leave out (fields and kinds its release does not
    /// know, staged policies outside namespace default) and rename node references in host
    /// endpoints, BGP peers and IPv6 tunnel handles: the file is then for this tool's import only
    #[arg(long)]
    pub full: bool,

    #[command(flatten)]
    pub etcd: EtcdReadArgs,
}

impl ExportArgs {
    pub fn options(&self) -> Result<stages::export::ExportOptions, Error> {
        Ok(stages::export::ExportOptions {
            file: self.file.clone(),
            allow_unlocked: self.allow_unlocked,
            etcd: self.etcd.reading()?,
            full: self.full,
        })
    }
}

/// Where the migration goes: the Calico release and the API group of the Kubernetes datastore.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The Calico version the cluster runs after the migration: objects are written and
    /// compared as that release's calicoctl writes them (its types, defaults, policy names and
    /// CRDs) (default: the source's, from etcd or the file)
    #[arg(long, value_name = "VERSION")]
    pub calico_version: Option<String>,

    #[command(flatten)]
    pub crd_api: CrdApiArgs,
}

/// How hard the commands that write to the API server may push it.
#[derive(Debug, Args)]
pub struct PaceArgs {
    /// Writes in flight at most; below it the number follows the API server's latency and 429s
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CONCURRENCY as u16, value_parser = clap::value_parser!(u16).range(1..=512))]
    pub concurrency: u16,

    /// Client-side limit on requests per second (0: none; calicoctl uses 50)
    #[arg(long, value_name = "QPS", default_value_t = 0.0, value_parser = parse_qps)]
    pub qps: f64,
}

impl PaceArgs {
    pub fn pace(&self) -> Pace {
        Pace {
            concurrency: usize::from(self.concurrency),
            qps: (self.qps > 0.0).then_some(self.qps),
        }
    }
}

/// How the commands that read Calico's data from etcd read it.
#[derive(Debug, Args)]
pub struct EtcdReadArgs {
    #[command(flatten)]
    pub nodes: NodeMapArgs,

    /// Keys read per etcd request
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PAGE_SIZE, hide = true)]
    pub page_size: i64,
}

impl EtcdReadArgs {
    pub fn reading(&self) -> Result<Reading, Error> {
        Ok(Reading {
            node_map: self.nodes.explicit()?,
            page_size: self.page_size,
        })
    }
}

/// How etcd node names map to Kubernetes node names where orchRefs do not say.
#[derive(Debug, Default, Args)]
pub struct NodeMapArgs {
    /// Map an etcd node to a Kubernetes node (repeatable); ETCD= leaves the node out
    #[arg(long = "node-map", value_name = "ETCD=K8S")]
    pub node_map: Vec<String>,

    /// A file of ETCD=K8S lines (# starts a comment)
    #[arg(long = "node-map-file", value_name = "FILE")]
    pub node_map_file: Option<PathBuf>,
}

impl NodeMapArgs {
    /// The entries of `--node-map-file` and then `--node-map` (later entries win).
    pub fn explicit(&self) -> Result<BTreeMap<String, String>, Error> {
        let mut map = BTreeMap::new();
        if let Some(path) = &self.node_map_file {
            let text = crate::input::read_to_string(path).map_err(Error::io(format!(
                "reading node map file {}",
                path.display()
            )))?;
            let entries = parse_node_map_file(&text).map_err(|e| {
                Error::failed(
                    format!("node map file {}: {e}", path.display()),
                    "write one etcd-name=k8s-name per line",
                )
            })?;
            map.extend(entries);
        }
        for entry in &self.node_map {
            let (from, to) = parse_node_map_entry(entry).map_err(|e| {
                Error::failed(
                    format!("--node-map {e}"),
                    "use --node-map etcd-name=k8s-name",
                )
            })?;
            map.insert(from, to);
        }
        Ok(map)
    }
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The export file (written by kubectl calico-migrate export or calicoctl datastore migrate export)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: PathBuf,

    #[command(flatten)]
    pub pace: PaceArgs,

    /// Also update and delete what an earlier import of this migration wrote and the file no
    /// longer holds that way (objects written by anyone else are never deleted)
    #[arg(long)]
    pub sync: bool,

    /// Leave out objects the Kubernetes datastore's CRD schemas refuse (listed, and kept in
    /// FILE.skipped.yaml) instead of stopping
    #[arg(long)]
    pub skip_invalid: bool,

    /// Replace objects whose content differs from the file instead of stopping on them
    #[arg(long)]
    pub overwrite: bool,

    /// Validate the file and look at the cluster, but write nothing
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub target: TargetArgs,
}

impl ImportArgs {
    pub fn options(&self) -> stages::import::ImportOptions {
        stages::import::ImportOptions {
            file: self.file.clone(),
            pace: self.pace.pace(),
            overwrite: self.overwrite,
            calico_version: self.target.calico_version.clone(),
            dry_run: self.dry_run,
            sync: self.sync,
            skip_invalid: self.skip_invalid,
            source_may_be_unlocked: false,
            crd_api: self.target.crd_api.request(),
            ledger: false,
            baseline: None,
        }
    }
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Compare with this export file instead of the live etcd datastore
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,

    #[command(flatten)]
    pub etcd: EtcdReadArgs,

    #[command(flatten)]
    pub target: TargetArgs,
}

impl VerifyArgs {
    pub fn options(&self) -> Result<stages::verify::VerifyOptions, Error> {
        Ok(stages::verify::VerifyOptions {
            file: self.file.clone(),
            etcd: self.etcd.reading()?,
            calico_version: self.target.calico_version.clone(),
            tolerate_foreign: false,
            crd_api: self.target.crd_api.request(),
        })
    }
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The Kubernetes-datastore manifest `run` would apply (calico.yaml of your Calico version)
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,

    #[command(flatten)]
    pub etcd: EtcdReadArgs,

    #[command(flatten)]
    pub target: TargetArgs,
}

impl PlanArgs {
    pub fn options(&self) -> Result<stages::plan::PlanOptions, Error> {
        Ok(stages::plan::PlanOptions {
            manifest: self.manifest.clone(),
            etcd: self.etcd.reading()?,
            calico_version: self.target.calico_version.clone(),
            crd_api: self.target.crd_api.request(),
        })
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The Kubernetes-datastore manifest to apply (calico.yaml of your Calico version)
    #[arg(long, value_name = "FILE")]
    pub manifest: PathBuf,

    /// Do not ask for confirmation (needed without a terminal)
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Where to keep the export taken under the lock (default: calico-etcd-backup-TIME.export
    /// in the current directory; mode 0600)
    #[arg(long, value_name = "FILE")]
    pub backup: Option<PathBuf>,

    /// End after the copy taken while etcd is unlocked (ahead of a maintenance window); a
    /// later run continues from there
    #[arg(long)]
    pub stop_after_pre_copy: bool,

    /// End before unlocking the Kubernetes datastore, the point of no return; a later run
    /// finishes
    #[arg(long)]
    pub stop_before_unlock: bool,

    #[command(flatten)]
    pub etcd: EtcdReadArgs,

    /// How long to wait for the calico-node rollout (e.g. 10m, 30m)
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub rollout_timeout: Duration,

    #[command(flatten)]
    pub pace: PaceArgs,

    #[command(flatten)]
    pub target: TargetArgs,
}

impl RunArgs {
    pub fn options(&self) -> Result<stages::run::RunOptions, Error> {
        Ok(stages::run::RunOptions {
            manifest: self.manifest.clone(),
            yes: self.yes,
            backup: self.backup.clone(),
            stop_after_pre_copy: self.stop_after_pre_copy,
            stop_before_unlock: self.stop_before_unlock,
            etcd: self.etcd.reading()?,
            rollout_timeout: self.rollout_timeout,
            pace: self.pace.pace(),
            calico_version: self.target.calico_version.clone(),
            crd_api: self.target.crd_api.request(),
        })
    }
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The etcd-datastore manifest to put back (calico-etcd.yaml of your Calico version);
    /// required once run has applied the Kubernetes-datastore manifest
    #[arg(long, value_name = "ETCD-FILE")]
    pub manifest: Option<PathBuf>,

    /// Do not ask for confirmation (needed without a terminal)
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Also delete Calico's CRDs from the cluster, as Calico's documented rollback does
    #[arg(long)]
    pub delete_crds: bool,

    /// How long to wait for the calico-node rollout after the etcd manifest is applied
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub rollout_timeout: Duration,

    #[command(flatten)]
    pub crd_api: CrdApiArgs,
}

impl RollbackArgs {
    pub fn options(&self) -> stages::rollback::RollbackOptions {
        stages::rollback::RollbackOptions {
            manifest: self.manifest.clone(),
            delete_crds: self.delete_crds,
            rollout_timeout: self.rollout_timeout,
            crd_api: self.crd_api.request(),
        }
    }
}

/// The command line as the user would type it again: `kubectl calico-migrate` and the
/// arguments, quoted for a POSIX shell.
pub fn command_line() -> String {
    let mut line = String::from("kubectl calico-migrate");
    for arg in std::env::args().skip(1) {
        line.push(' ');
        line.push_str(&crate::console::shell_word(&arg));
    }
    line
}

/// A request rate: 0 (no limit), or between one request a minute and a million a second.
fn parse_qps(text: &str) -> Result<f64, String> {
    let qps: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if qps == 0.0 || (1.0 / 60.0..=1e6).contains(&qps) {
        Ok(qps)
    } else {
        Err(format!(
            "{text:?} is out of range: use 0 for no limit, or a rate between 0.017 (one a minute) and 1000000"
        ))
    }
}

/// Parses durations the way kubectl's --request-timeout does: a bare number of seconds, or Go
/// duration units (`500ms`, `30s`, `2m`, `1h30m`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    go_compat::time::std_duration(text).map_err(|error| match error {
        DurationError::Overflow => format!("duration {text:?} is too long"),
        DurationError::Syntax => format!(
            "invalid duration {text:?}: use e.g. 30s, 2m, 1h30m, 500ms or a number of seconds"
        ),
    })
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
        // Values no Duration can hold are refused, not a panic.
        assert!(parse_duration("99999999999999999999h").is_err());
        assert!(parse_duration("1e400s").is_err());
        assert!(parse_duration("18446744073709551615s1s").is_err());
    }
}
