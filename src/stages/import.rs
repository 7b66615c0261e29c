//! Import: writes an export file (ours or calicoctl's) into the Kubernetes datastore, validated
//! whole before anything is touched, written with bounded concurrency, and resumable: running it
//! again after any failure finishes the job.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::task::JoinSet;

use crate::console::Progress;
use crate::convert::cluster_info::datastore_ready;
use crate::convert::kdd::{ConvertError, Desired, Target, cluster_information_fields};
use crate::convert::schema::{FieldError, Schema};
use crate::error::Error;
use crate::format::export_reader::{self, Event, ReadError};
use crate::kdd::KubeError;
use crate::kdd::crds;
use crate::kdd::rest::Rest;
use crate::kdd::writer::{Outcome, Writer, Written, collection_path};
use crate::kinds::{CalicoKind, Role};
use crate::pipeline::{self, Item};
use crate::session::Session;

/// How long new CRDs may take to become Established.
const CRD_WAIT: Duration = Duration::from_secs(60);
/// Conflicts and failures listed in full; the rest are counted.
const LISTED: usize = 100;

#[derive(Clone, Debug)]
pub struct ImportOptions {
    pub file: PathBuf,
    /// Writes in flight at once.
    pub concurrency: usize,
    /// Client-side limit on requests per second.
    pub qps: Option<f64>,
    /// Replace objects whose content differs instead of stopping on them.
    pub overwrite: bool,
    /// The Calico version the cluster runs after the migration (default: the file's).
    pub calico_version: Option<String>,
    /// Validate and look, but write nothing.
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
    /// With `dry_run`: the Calico CRDs the import would install.
    pub crds_missing: Vec<String>,
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
    /// Objects the target holds that the file does not, per kind (reported, never deleted).
    pub only_in_target: Vec<Extra>,
    /// Whether this import locked the Kubernetes datastore (it was not locked before).
    pub locked_datastore: bool,
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

pub async fn import(session: &Session, options: &ImportOptions) -> Result<ImportReport, Error> {
    let progress = &session.progress;
    let started = Instant::now();
    let path = &options.file;
    let source_info = pipeline::peek_cluster_information(path);
    let target = Target {
        version: super::target_version(options.calico_version.as_deref(), source_info.as_ref())?,
        now: crate::kdd::store::now_rfc3339(),
    };

    // 1. The whole file, before the cluster is changed: every object converted and checked
    //    against the schema the API server will check it by.
    let store = session.kdd().await?;
    let rest = session.rest(options.qps).await?;
    let schemas = super::target_schemas(&rest).await?;
    let validated = validate(path, &target, &schemas, progress)?;
    let (guid, version) = cluster_information_fields(&validated.cluster_information);

    // 2. The cluster: CRDs, lock.
    let mut report = ImportReport {
        file: path.display().to_string(),
        target_calico_version: target.version.map(|v| v.to_string()),
        dry_run: options.dry_run,
        kinds: validated
            .totals
            .iter()
            .map(|(k, n)| KindResult {
                kind: k,
                total: *n,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    if datastore_ready(&validated.cluster_information) == Some(true) {
        report.warnings.push("the export was taken from an unlocked etcd datastore: objects changed since then are not in it".into());
    }
    if options.dry_run {
        let state = store.crd_state().await?;
        report.crds_missing = state.missing().iter().map(|s| s.to_string()).collect();
        return Ok(report);
    }
    check_namespaces(&rest, &validated.namespaces).await?;
    refuse_unlocked_target(&store).await?;
    let installed = install_crds(&rest, progress).await?;
    report.crds_created = installed.created.clone();
    let lock = store
        .lock_for_import(guid.as_deref(), version.as_deref())
        .await?;
    report.locked_datastore = lock.ready_before != Some(false);

    // 3. The objects, kind by kind in file order, IPAM last (as the file has it).
    let writer = Arc::new(Writer::new(rest.clone(), schemas, options.overwrite));
    let written = write_all(
        path.clone(),
        &target,
        &validated,
        writer,
        options.concurrency,
        progress,
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
    Ok(report)
}

/// Reads and converts every object, and checks each custom resource against the schema of its
/// kind in `schemas` (after the writer's duration rewrites) as the API server will; reports
/// every invalid object at once, with every cause.
fn validate(
    path: &Path,
    target: &Target,
    schemas: &HashMap<String, Schema>,
    progress: &Progress,
) -> Result<Validated, Error> {
    let spinner = progress.spinner("Validating");
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

async fn install_crds(rest: &Rest, progress: &Progress) -> Result<crds::Installed, Error> {
    let bar = progress.bar("Calico CRDs", crds::MANIFESTS.len() as u64);
    let installed = crds::ensure(rest, CRD_WAIT, |_| bar.inc(1)).await.map_err(|e| match e {
        crds::CrdError::NativeV3(_) => Error::failed(
            e.to_string(),
            "this tool writes crd.projectcalico.org/v1; import into a cluster that runs Calico with those CRDs",
        ),
        other => Error::failed(other.to_string(), "check that you may create CustomResourceDefinitions (cluster-admin)"),
    })?;
    bar.finish();
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
    progress: &Progress,
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
                progress.bar(group, totals.get(group).copied().unwrap_or_default()),
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
        Ok(_) => report.completed = !stopped,
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
        let warning = format!("API server: {warning}");
        if !report.warnings.contains(&warning) && !warning.contains(": unknown field") {
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

impl ImportReport {
    /// Objects written or found already there.
    pub fn handled(&self) -> u64 {
        self.kinds
            .iter()
            .map(|k| k.created + k.unchanged + k.updated)
            .sum()
    }

    /// Why the import did not finish, with what to do next; None when it did.
    pub fn failure(&self) -> Option<Error> {
        let conflicts: u64 = self.kinds.iter().map(|k| k.conflicts).sum();
        let failed: u64 = self.kinds.iter().map(|k| k.failed).sum();
        let rerun = format!("kubectl calico-migrate import -f {}", self.file);
        if conflicts > 0 {
            return Some(Error::failed(
                format!(
                    "{conflicts} object(s) already exist in the Kubernetes datastore with different content; the import stopped before the next kind"
                ),
                format!(
                    "compare them above; to replace them with the file's content run `{rerun} --overwrite`"
                ),
            ));
        }
        if failed > 0 {
            return Some(Error::failed(
                format!(
                    "{failed} object(s) could not be written; the import stopped before the next kind"
                ),
                format!(
                    "fix the cause shown above, then run `{rerun}` again: what was written is kept and counted as done"
                ),
            ));
        }
        if !self.completed && !self.dry_run {
            return Some(Error::failed(
                "the import did not finish",
                format!("run `{rerun}` again to finish it"),
            ));
        }
        None
    }
}
