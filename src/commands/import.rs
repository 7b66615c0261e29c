//! `import`: writes an export (ours or calicoctl's) into the Kubernetes datastore — validated
//! whole before anything is touched, written with bounded concurrency, and resumable: running
//! it again after any failure finishes the job.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;
use tokio::task::JoinSet;

use crate::app::App;
use crate::console::Console;
use crate::convert::cluster_info::datastore_ready;
use crate::convert::kdd::{ConvertError, Desired, Target, cluster_information_fields};
use crate::convert::schema::{FieldError, Schema};
use crate::convert::version::CalicoVersion;
use crate::error::Error;
use crate::format::export_reader::{self, Event, ReadError};
use crate::kdd::KubeError;
use crate::kdd::crds;
use crate::kdd::rest::{Rest, RestOptions};
use crate::kdd::writer::{Outcome, Writer, Written, collection_path};
use crate::kinds::{CalicoKind, Role};
use crate::pipeline::{self, Item};

/// How long new CRDs may take to become Established.
const CRD_WAIT: Duration = Duration::from_secs(60);
/// Conflicts and failures listed in full; the rest are counted.
const LISTED: usize = 100;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The export file (written by kubectl calico-migrate export or calicoctl datastore migrate export)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: PathBuf,

    /// Writes in flight at once
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=512))]
    pub concurrency: u16,

    /// Client-side limit on requests per second (0: none; calicoctl uses 50)
    #[arg(long, value_name = "QPS", default_value_t = 0.0)]
    pub qps: f64,

    /// Replace objects whose content differs from the file instead of stopping on them
    #[arg(long)]
    pub overwrite: bool,

    /// The Calico version the cluster will run after the migration: import writes what that
    /// release's calicoctl writes (its types, defaults, policy names and CRDs) (default: the
    /// version in the file)
    #[arg(long, value_name = "VERSION")]
    pub calico_version: Option<String>,

    /// Validate the file and look at the cluster, but write nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// Per kind, what happened.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KindResult {
    pub kind: &'static str,
    pub total: u64,
    pub created: u64,
    pub unchanged: u64,
    pub updated: u64,
    pub conflicts: u64,
    pub failed: u64,
    pub nodes_not_found: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    pub object: String,
    pub details: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    pub file: String,
    pub target_calico_version: Option<String>,
    pub dry_run: bool,
    pub crds_created: Vec<String>,
    pub kinds: Vec<KindResult>,
    pub conflicts: Vec<Problem>,
    pub failures: Vec<Problem>,
    pub nodes_not_found: Vec<String>,
    /// Fields of the file the target's CRDs do not know (the API server drops them), per kind
    /// and field, with how many objects had them.
    pub dropped_fields: BTreeMap<String, u64>,
    /// Values rewritten so that the target's schema accepts them (fractional durations).
    pub rewritten: Vec<String>,
    pub warnings: Vec<String>,
    /// Objects the file has several entries for (merged Nodes): the last entry was written.
    pub merged: Vec<crate::convert::merge::Merge>,
    /// Objects the target holds that the file does not, per kind (reported, never deleted).
    pub only_in_target: Vec<Extra>,
    pub retries: u64,
    pub seconds: f64,
    pub objects_per_second: f64,
    pub completed: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Extra {
    pub kind: &'static str,
    pub count: u64,
    pub examples: Vec<String>,
}

impl ImportReport {
    fn result(&mut self, group: &'static str) -> &mut KindResult {
        if let Some(index) = self.kinds.iter().position(|k| k.kind == group) {
            return &mut self.kinds[index];
        }
        self.kinds.push(KindResult {
            kind: group,
            ..Default::default()
        });
        self.kinds.last_mut().expect("just pushed")
    }
}

/// What the validation pass learnt.
struct Validated {
    /// Objects per group, in file order.
    totals: Vec<(&'static str, u64)>,
    cluster_information: serde_json::Value,
    /// Namespaces that namespaced objects of the file live in.
    namespaces: std::collections::BTreeSet<String>,
}

pub async fn run(app: &App<'_>, args: &ImportArgs) -> Result<(), Error> {
    let console = app.console;
    let started = Instant::now();
    let path = &args.file;
    let source_info = pipeline::peek_cluster_information(path);
    let target = Target::new(
        target_version(args, source_info.as_ref())?,
        crate::kdd::store::now_rfc3339(),
    );
    if let Some(caveat) = target.release.caveat() {
        console.warn(caveat);
    }

    // 1. The whole file, before the cluster is changed: every object converted and checked
    //    against the schema the API server will check it by.
    let store = app.kdd().await?;
    let rest = Rest::new(
        store.target().bulk_client()?,
        RestOptions {
            qps: (args.qps > 0.0).then_some(args.qps),
            timeout: if app.args.request_timeout.is_zero() {
                Duration::from_secs(30)
            } else {
                app.args.request_timeout
            },
            ..Default::default()
        },
    );
    let schemas = super::target_schemas(&rest, &target.release).await?;
    let validated = validate(path, &target, &schemas, console)?;
    let total: u64 = validated.totals.iter().map(|(_, n)| n).sum();
    console.info(format!(
        "{} is valid: {total} objects to write for Calico {}.",
        path.display(),
        target
            .version
            .map(|v| v.to_string())
            .unwrap_or_else(|| "(version unknown: newest naming)".into())
    ));
    if datastore_ready(&validated.cluster_information) == Some(true) {
        console.warn("the export was taken from an unlocked etcd datastore: objects changed since then are not in it");
    }
    let (guid, version) = cluster_information_fields(&validated.cluster_information);

    // 2. The cluster: CRDs, lock.
    let mut report = ImportReport {
        file: path.display().to_string(),
        target_calico_version: target.version.map(|v| v.to_string()),
        dry_run: args.dry_run,
        ..Default::default()
    };
    if args.dry_run {
        let state = store.crd_state().await?;
        let missing: Vec<&str> = crds::manifests(&target.release)
            .into_iter()
            .map(|(plural, _)| plural)
            .filter(|plural| state.missing().contains(plural))
            .collect();
        if missing.is_empty() {
            console.info("The cluster has every Calico CRD.");
        } else {
            console.info(format!(
                "Would install {} Calico CRDs: {}.",
                missing.len(),
                missing.join(", ")
            ));
        }
        for (group, count) in &validated.totals {
            console.info(format!("  would write {count} {group}"));
        }
        report.kinds = validated
            .totals
            .iter()
            .map(|(k, n)| KindResult {
                kind: k,
                total: *n,
                ..Default::default()
            })
            .collect();
        console.data(&report)?;
        console.info("Dry run: nothing was written.");
        return Ok(());
    }
    check_namespaces(&rest, &validated.namespaces).await?;
    refuse_unlocked_target(&store).await?;
    let installed = install_crds(&rest, &target.release, console).await?;
    report.crds_created = installed.created.clone();
    let lock = store
        .lock_for_import(guid.as_deref(), version.as_deref())
        .await?;
    if lock.ready_before != Some(false) {
        console.info("Datastore locked.");
    }

    // 3. The objects, kind by kind in file order, IPAM last (as the file has it).
    let writer = Arc::new(Writer::new(rest.clone(), schemas, args.overwrite));
    let written = write_all(
        path.clone(),
        &target,
        &validated,
        writer,
        usize::from(args.concurrency),
        console,
        &mut report,
    )
    .await?;

    // 4. What the target has beyond the file.
    if report.completed {
        report.only_in_target = only_in_target(&rest, &written).await?;
    }
    report.retries = rest.retries();
    report.seconds = started.elapsed().as_secs_f64();
    let handled: u64 = report
        .kinds
        .iter()
        .map(|k| k.created + k.unchanged + k.updated)
        .sum();
    report.objects_per_second = if report.seconds > 0.0 {
        handled as f64 / report.seconds
    } else {
        0.0
    };
    print_report(console, &report);
    console.data(&report)?;
    finish(console, &report, args)
}

fn target_version(
    args: &ImportArgs,
    source: Option<&serde_json::Value>,
) -> Result<Option<CalicoVersion>, Error> {
    if let Some(text) = &args.calico_version {
        return CalicoVersion::parse(text).map(Some).ok_or_else(|| {
            Error::Usage(format!(
                "--calico-version {text:?} is not a Calico version such as v3.28.1"
            ))
        });
    }
    Ok(source
        .and_then(|info| cluster_information_fields(info).1)
        .and_then(|v| CalicoVersion::parse(&v)))
}

/// Reads and converts every object, and checks each custom resource against the schema of its
/// kind in `schemas` (after the writer's duration rewrites) as the API server will; reports
/// every invalid object at once, with every cause.
fn validate(
    path: &Path,
    target: &Target,
    schemas: &HashMap<String, Schema>,
    console: &Console,
) -> Result<Validated, Error> {
    let spinner = console.spinner("Validating");
    let mut totals: Vec<(&'static str, u64)> = Vec::new();
    let mut invalid: Vec<ConvertError> = Vec::new();
    let mut invalid_count = 0u64;
    let mut listed_count = 0u64;
    let mut cluster_information = None;
    let mut namespaces = std::collections::BTreeSet::new();
    let result = export_reader::read_file(
        path,
        |event: Event| -> Result<(), std::convert::Infallible> {
            if let Event::ClusterInformation(value) = &event {
                cluster_information = Some(value.clone());
            }
            if let Some(Item { group, desired }) = pipeline::convert(event, target) {
                spinner.inc(1);
                if let Ok(Desired::Resource { object, .. }) = &desired
                    && let Some(namespace) = object
                        .pointer("/metadata/namespace")
                        .and_then(serde_json::Value::as_str)
                    && !namespaces.contains(namespace)
                {
                    namespaces.insert(namespace.to_string());
                }
                let problems = match &desired {
                    Ok(resource @ Desired::Resource { kind, object }) => {
                        schema_causes(schemas.get(kind.plural), object)
                            .into_iter()
                            .map(|cause| ConvertError {
                                object: resource.describe(),
                                reason: cause.message,
                            })
                            .collect()
                    }
                    // Calico Nodes become annotations of Kubernetes Nodes, not CRs.
                    Ok(Desired::NodeAnnotations { .. }) => Vec::new(),
                    Err(error) => vec![error.clone()],
                };
                if problems.is_empty() {
                    match totals.last_mut() {
                        Some((last, count)) if *last == group => *count += 1,
                        _ => totals.push((group, 1)),
                    }
                } else {
                    invalid_count += 1;
                    if invalid.len() < LISTED {
                        listed_count += 1;
                        invalid.extend(problems);
                    }
                }
            }
            Ok(())
        },
    );
    spinner.finish_and_clear();
    match result {
        Ok(_) => {}
        Err(ReadError::Io { error, .. }) => {
            return Err(Error::io(format!("reading {}", path.display()))(error));
        }
        Err(ReadError::Format(error)) => {
            return Err(Error::failed(
                format!("{error}"),
                "nothing was changed in the cluster; recreate the file with kubectl calico-migrate export",
            ));
        }
        Err(ReadError::Callback(never)) => match never {},
    }
    if invalid_count > 0 {
        let mut message = format!(
            "{} has {invalid_count} invalid object(s); nothing was changed in the cluster:",
            path.display()
        );
        for error in &invalid {
            message.push_str(&format!("\n  {error}"));
        }
        if invalid_count > listed_count {
            message.push_str(&format!(
                "\n  ... and {} more",
                invalid_count - listed_count
            ));
        }
        return Err(Error::failed(
            message,
            "fix these objects in etcd (or in the file) and export again",
        ));
    }
    let cluster_information = cluster_information.unwrap_or(serde_json::Value::Null);
    Ok(Validated {
        totals,
        cluster_information,
        namespaces,
    })
}

/// What the API server would reject in `object` under `schema`, once the writer has
/// rewritten the values the schema rejects but takes in another form (fractional durations).
fn schema_causes(schema: Option<&Schema>, object: &serde_json::Value) -> Vec<FieldError> {
    let Some(schema) = schema else {
        return Vec::new();
    };
    let mut object = object.clone();
    schema.rewrite_durations(&mut object);
    schema.validate(&object)
}

/// A Kubernetes datastore that is unlocked may be live: Calico may run on it already (a
/// migration that finished, or the wrong context), and writing into it would change live data
/// and lock it. Only a datastore without Calico data or one locked on purpose is written.
async fn refuse_unlocked_target(store: &crate::kdd::KddStore) -> Result<(), Error> {
    let served = store.crd_state().await?;
    let cluster_information = CalicoKind::by_kind("ClusterInformation").expect("in the table");
    if !served.serves(cluster_information) {
        return Ok(());
    }
    let Some(info) = store.cluster_information().await? else {
        return Ok(());
    };
    if datastore_ready(&info.data) == Some(false) {
        return Ok(());
    }
    Err(Error::failed(
        format!(
            "the Kubernetes datastore of context {:?} is unlocked (ClusterInformation/default datastoreReady is not false): Calico may be running on it, and an import would change live data; nothing was changed",
            store.target().context
        ),
        "if this cluster is the migration's target, lock it first (kubectl calico-migrate lock --datastore kubernetes) and run the import again",
    ))
}

/// Namespaced objects need their namespace: say at once which are missing, before any write.
async fn check_namespaces(
    rest: &Rest,
    namespaces: &std::collections::BTreeSet<String>,
) -> Result<(), Error> {
    let mut missing = Vec::new();
    for namespace in namespaces {
        let found = rest
            .get(&format!("/api/v1/namespaces/{namespace}"))
            .await
            .map_err(|e| {
                Error::failed(
                    format!("reading namespace {namespace}: {e}"),
                    "check RBAC access to namespaces",
                )
            })?;
        if found.is_none() {
            missing.push(namespace.as_str());
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::failed(
        format!(
            "the file has namespaced Calico objects in namespace(s) the cluster does not have: {}; nothing was changed",
            missing.join(", ")
        ),
        format!(
            "create them first (kubectl create namespace {}), or check that the kubeconfig points at the right cluster",
            missing.join(" ")
        ),
    ))
}

async fn install_crds(
    rest: &Rest,
    release: &crate::convert::versions::Release,
    console: &Console,
) -> Result<crds::Installed, Error> {
    let bar = console.bar("Calico CRDs", crds::manifests(release).len() as u64);
    let installed = crds::ensure(rest, release, CRD_WAIT, |_| bar.inc(1)).await.map_err(|e| match e {
        crds::CrdError::NativeV3(_) => Error::failed(
            e.to_string(),
            "this tool writes crd.projectcalico.org/v1; import into a cluster that runs Calico with those CRDs",
        ),
        other => Error::failed(other.to_string(), "check that you may create CustomResourceDefinitions (cluster-admin)"),
    })?;
    bar.finish();
    if !installed.created.is_empty() {
        console.info(format!(
            "Installed {} Calico CRDs.",
            installed.created.len()
        ));
    }
    Ok(installed)
}

/// Names written per group, to find what the target has beyond the file.
type WrittenNames = Vec<(&'static str, HashSet<String>)>;

async fn write_all(
    path: PathBuf,
    target: &Target,
    validated: &Validated,
    writer: Arc<Writer>,
    concurrency: usize,
    console: &Console,
    report: &mut ImportReport,
) -> Result<WrittenNames, Error> {
    let totals: HashMap<&str, u64> = validated.totals.iter().copied().collect();
    let (mut items, reader) = pipeline::spawn(path, target.clone(), concurrency * 4);
    let mut names: WrittenNames = Vec::new();
    let mut inflight: JoinSet<(&'static str, String, Written)> = JoinSet::new();
    let mut current: Option<(&'static str, indicatif::ProgressBar)> = None;
    let mut stopped = false;
    loop {
        let item = items.recv().await;
        let group = item.as_ref().map(|i| i.group);
        if current.as_ref().map(|(g, _)| *g) != group {
            while let Some(done) = inflight.join_next().await {
                record(done, report, current.as_ref().map(|(_, b)| b));
            }
            if let Some((finished, bar)) = current.take() {
                bar.finish();
                let result = report.result(finished);
                if result.conflicts > 0 || result.failed > 0 {
                    stopped = true;
                    break;
                }
            }
            let Some(group) = group else { break };
            report.result(group).total = totals.get(group).copied().unwrap_or_default();
            names.push((group, HashSet::new()));
            current = Some((
                group,
                console.bar(group, totals.get(group).copied().unwrap_or_default()),
            ));
        }
        let Some(Item { group, desired }) = item else {
            break;
        };
        let desired = match desired {
            Ok(desired) => desired,
            Err(error) => {
                report.result(group).failed += 1;
                report.failures.push(Problem {
                    object: error.object.clone(),
                    details: vec![error.reason],
                });
                continue;
            }
        };
        if let Some((_, set)) = names.last_mut() {
            set.insert(written_name(&desired));
        }
        while inflight.len() >= concurrency {
            if let Some(done) = inflight.join_next().await {
                record(done, report, current.as_ref().map(|(_, b)| b));
            }
        }
        let writer = Arc::clone(&writer);
        inflight.spawn(async move {
            let label = desired.describe();
            let written = writer.put(&desired).await;
            (group, label, written)
        });
    }
    drop(items);
    let read = reader.join().map_err(|_| {
        Error::failed(
            "the file reader stopped unexpectedly",
            "run the import again",
        )
    })?;
    match read {
        Ok(read) => {
            report.completed = !stopped;
            for merge in read.merges {
                let kind = merge.object.split(' ').next().unwrap_or_default();
                if let Some(result) = report.kinds.iter_mut().find(|k| k.kind == kind) {
                    result.total -= u64::from(merge.entries - 1);
                }
                report.merged.push(merge);
            }
        }
        Err(ReadError::Callback(_)) => report.completed = false,
        Err(ReadError::Io { error, .. }) => {
            return Err(Error::io(format!("reading {}", report.file))(error));
        }
        Err(ReadError::Format(e)) => {
            return Err(Error::failed(
                e.to_string(),
                "the file changed during the import; export again",
            ));
        }
    }
    Ok(names)
}

/// The name an object has in the target (`ns/name` when namespaced).
fn written_name(desired: &Desired) -> String {
    match desired {
        Desired::Resource { object, .. } => crate::convert::qualified_name(object),
        Desired::NodeAnnotations { node, .. } => node.clone(),
    }
}

fn record(
    done: Result<(&'static str, String, Written), tokio::task::JoinError>,
    report: &mut ImportReport,
    bar: Option<&indicatif::ProgressBar>,
) {
    let Ok((group, label, written)) = done else {
        report
            .warnings
            .push("a write task stopped unexpectedly".into());
        return;
    };
    if let Some(bar) = bar {
        bar.inc(1);
    }
    for field in &written.dropped {
        *report
            .dropped_fields
            .entry(format!("{group} {field}"))
            .or_default() += 1;
    }
    for warning in written.warnings {
        if !report.warnings.contains(&warning) && !warning.starts_with("unknown field") {
            report.warnings.push(warning);
        }
    }
    for rewrite in written.rewrites {
        report.rewritten.push(format!("{label}: {rewrite}"));
    }
    let result = report.result(group);
    match written.outcome {
        Outcome::Created => result.created += 1,
        Outcome::Unchanged => result.unchanged += 1,
        Outcome::Updated => result.updated += 1,
        Outcome::Conflict(differences) => {
            result.conflicts += 1;
            if report.conflicts.len() < LISTED {
                let details = differences.iter().take(10).map(|d| d.to_string()).collect();
                report.conflicts.push(Problem {
                    object: label,
                    details,
                });
            }
        }
        Outcome::Failed(error) => {
            result.failed += 1;
            if report.failures.len() < LISTED {
                report.failures.push(Problem {
                    object: label,
                    details: vec![error],
                });
            }
        }
        Outcome::NodeNotFound => {
            result.nodes_not_found += 1;
            report
                .nodes_not_found
                .push(label.trim_start_matches("Node ").to_string());
        }
    }
}

/// Objects of the written kinds that the target holds but the file does not.
async fn only_in_target(rest: &Rest, written: &WrittenNames) -> Result<Vec<Extra>, Error> {
    let mut extras = Vec::new();
    for (group, names) in written {
        let Some(kind) = CalicoKind::by_kind(group) else {
            continue;
        };
        if !kind.has_crd || matches!(kind.role, Role::ClusterInformation) {
            continue;
        }
        let mut extra = Extra {
            kind: kind.kind,
            count: 0,
            examples: Vec::new(),
        };
        rest.list_all(&collection_path(kind.plural, None), |object| {
            let name = object
                .pointer("/metadata/name")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default();
            let label = match object
                .pointer("/metadata/namespace")
                .and_then(serde_json::Value::as_str)
            {
                Some(ns) => format!("{ns}/{name}"),
                None => name.to_string(),
            };
            if !names.contains(&label) && !crds::is_builtin(kind, &label) {
                extra.count += 1;
                if extra.examples.len() < 5 {
                    extra.examples.push(label);
                }
            }
        })
        .await
        .map_err(|e| {
            Error::Kube(KubeError::Other {
                doing: format!("listing {}", kind.plural),
                detail: e.to_string(),
            })
        })?;
        if extra.count > 0 {
            extras.push(extra);
        }
    }
    Ok(extras)
}

fn print_report(console: &Console, report: &ImportReport) {
    let mut text = format!(
        "\n{:<32}{:>8}{:>9}{:>11}{:>9}{:>11}{:>8}{:>11}\n",
        "Kind", "total", "created", "unchanged", "updated", "conflicts", "failed", "no node"
    );
    for k in &report.kinds {
        text.push_str(&format!(
            "  {:<30}{:>8}{:>9}{:>11}{:>9}{:>11}{:>8}{:>11}\n",
            k.kind,
            k.total,
            k.created,
            k.unchanged,
            k.updated,
            k.conflicts,
            k.failed,
            k.nodes_not_found
        ));
    }
    console.info(text.trim_end());
    for rewrite in &report.rewritten {
        console.info(format!(
            "Rewrote {rewrite} (the target's schema rejects fractional durations)"
        ));
    }
    for (field, count) in &report.dropped_fields {
        console.warn(format!("{field}: the target's CRD schema does not know this field; the API server dropped it from {count} object(s)"));
    }
    for merge in &report.merged {
        console.info(merge.to_string());
    }
    for warning in &report.warnings {
        console.warn(format!("API server: {warning}"));
    }
    if !report.nodes_not_found.is_empty() {
        console.warn(format!(
            "{} Calico Node(s) have no Kubernetes Node and were not imported: {} (non-Kubernetes nodes cannot be Calico Nodes in the Kubernetes datastore)",
            report.nodes_not_found.len(),
            report.nodes_not_found.join(", ")
        ));
    }
    for extra in &report.only_in_target {
        console.info(format!(
            "The target has {} {} object(s) that are not in the file (left alone), e.g. {}",
            extra.count,
            extra.kind,
            extra.examples.join(", ")
        ));
    }
    for conflict in &report.conflicts {
        console.warn(format!(
            "conflict: {} differs in the target:\n    {}",
            conflict.object,
            conflict.details.join("\n    ")
        ));
    }
    for failure in &report.failures {
        console.warn(format!(
            "failed: {}: {}",
            failure.object,
            failure.details.join("; ")
        ));
    }
    console.detail(
        1,
        format!(
            "{:.1}s, {:.0} objects/s, {} retried request(s)",
            report.seconds, report.objects_per_second, report.retries
        ),
    );
}

fn finish(console: &Console, report: &ImportReport, args: &ImportArgs) -> Result<(), Error> {
    let conflicts: u64 = report.kinds.iter().map(|k| k.conflicts).sum();
    let failed: u64 = report.kinds.iter().map(|k| k.failed).sum();
    let rerun = format!("kubectl calico-migrate import -f {}", args.file.display());
    if conflicts > 0 {
        return Err(Error::failed(
            format!(
                "{conflicts} object(s) already exist in the Kubernetes datastore with different content; the import stopped before the next kind"
            ),
            format!(
                "compare them above; to replace them with the file's content run `{rerun} --overwrite`"
            ),
        ));
    }
    if failed > 0 {
        return Err(Error::failed(
            format!(
                "{failed} object(s) could not be written; the import stopped before the next kind"
            ),
            format!(
                "fix the cause shown above, then run `{rerun}` again: what was written is kept and counted as done"
            ),
        ));
    }
    if !report.completed {
        return Err(Error::failed(
            "the import did not finish",
            format!("run `{rerun}` again to finish it"),
        ));
    }
    console.info(
        "Datastore information successfully imported. The Kubernetes datastore stays locked until you unlock it. Next:\n  \
         1. kubectl calico-migrate verify      (compares etcd with the Kubernetes datastore)\n  \
         2. apply the Kubernetes-datastore Calico manifest and wait for calico-node to roll out\n  \
         3. kubectl calico-migrate unlock --datastore kubernetes",
    );
    Ok(())
}
