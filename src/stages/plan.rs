//! Plan: the read-only preflight of a migration. It changes nothing anywhere and reports, all at
//! once, what the migration would do and everything that would stop it, each with what to do.

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use super::Reach;
use super::import::{ImportOptions, prepare};
use crate::convert::cluster_info::LockState;
use crate::error::{Blocker, Error};
use crate::journal::{Step, Stored};
use crate::kdd::manifest::{Manifest, ManifestDatastore};
use crate::kdd::workloads::{self, CALICO_NODE, KUBE_CONTROLLERS};
use crate::kinds::{ApiChoice, CalicoKind, CrdApi, CrdApiRequest};
use crate::permissions;
use crate::session::Session;
use crate::source::etcd::Reading;

/// Objects per second a real API server creates on a small control plane (measured: about
/// 450/s on 2 cores); the estimate of the writes under the lock uses it.
const TYPICAL_CREATE_RATE: f64 = 400.0;
/// The share of objects that usually changes between the pre-copy and the lock (IPAM churn).
const TYPICAL_CHURN: f64 = 0.01;

#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    /// The Kubernetes-datastore manifest `run` would apply.
    pub manifest: Option<PathBuf>,
    /// The node map and the keys per request.
    pub etcd: Reading,
    pub calico_version: Option<String>,
    /// The API group to migrate into (`--crd-api`).
    pub crd_api: CrdApiRequest,
}

#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanReport {
    /// Nothing blocks the migration.
    pub ready: bool,
    pub kubernetes: Reach,
    pub etcd: Reach,
    /// Which Calico API groups the cluster serves: `crd.projectcalico.org/v1`,
    /// `projectcalico.org/v3`, both, or none.
    pub calico_api: String,
    /// The API group the migration writes to, and why.
    pub crd_api: Option<ApiChoice>,
    /// The CRDs of that API installed, of those the migration uses.
    pub crds: String,
    pub calico_version: Option<String>,
    pub objects: Vec<KindPlan>,
    pub calico_node: Option<Workload>,
    pub kube_controllers: Option<Workload>,
    pub manifest: Option<ManifestSummary>,
    pub permissions_checked: usize,
    pub denied: Vec<permissions::Denied>,
    pub lock_window: Estimate,
    /// A migration already under way (what `run` would resume from).
    pub journal_step: Option<Step>,
    pub blockers: Vec<Blocker>,
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KindPlan {
    pub kind: &'static str,
    pub total: u64,
    /// Already in the Kubernetes datastore as the migration would write them.
    pub unchanged: u64,
    pub to_write: u64,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Workload {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    pub found: bool,
    /// DaemonSet: nodes it runs on; Deployment: replicas.
    pub desired: i64,
    pub ready: i64,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestSummary {
    pub path: String,
    pub sha256: String,
    pub objects: usize,
    pub datastore: Option<ManifestDatastore>,
}

/// How long etcd will stay locked, estimated from what this plan measured.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Estimate {
    pub seconds: f64,
    pub basis: String,
}

pub async fn plan(session: &Session, options: &PlanOptions) -> Result<PlanReport, Error> {
    let mut report = PlanReport::default();

    // The Kubernetes side.
    let store = session.kdd().await?;
    match store.server_version().await {
        Ok(version) => report.kubernetes.answered(version),
        Err(error) => {
            let blocker = Blocker::from(Error::from(error));
            report.kubernetes.error = Some(blocker.problem.clone());
            report.blockers.push(blocker);
            return Ok(finish(report));
        }
    }
    let rest = session.rest(None).await?;
    let choice = super::choose_api(session, &store, options.crd_api).await;
    let choice = match choice {
        Ok(choice) => choice,
        Err(error) => {
            report.blockers.push(Blocker::from(error));
            return Ok(finish(report));
        }
    };
    let api = choice.api;
    report.crd_api = Some(choice);
    let store = store.with_api(api);
    let crds = store.crd_state().await?;
    let installed = CalicoKind::with_crd().filter(|k| crds.serves(k)).count();
    report.crds = format!("{installed}/{}", CalicoKind::with_crd().count());
    report.calico_api = match (crds.groups.v1, crds.groups.v3) {
        (true, true) => "crd.projectcalico.org/v1 and projectcalico.org/v3",
        (true, false) => "crd.projectcalico.org/v1",
        (false, true) => "projectcalico.org/v3",
        (false, false) => "none",
    }
    .into();
    if crds.serves(CalicoKind::by_kind("ClusterInformation").expect("in the table")) {
        let info = store.cluster_information().await?;
        report.kubernetes.lock = Some(LockState::of(info.as_ref().map(|o| &o.data)));
    } else {
        report.kubernetes.lock = Some(LockState::Uninitialized);
    }

    // A migration under way.
    if let Some(stored) = Stored::load(&rest, &session.namespace).await? {
        let journal = stored.journal;
        if !journal.rolled_back() {
            report.journal_step = Some(journal.step);
            if journal.unlocked() {
                report.blockers.push(Blocker::new(
                    format!(
                        "this cluster's migration finished at {}: the Kubernetes datastore is unlocked and live",
                        journal.times.unlocked_at.as_deref().unwrap_or("an earlier time")
                    ),
                    "nothing to do; `kubectl calico-migrate status` shows both datastores",
                ));
            }
        }
    }

    // Permissions, each verb asked of the API server.
    let wanted = permissions::migration(api);
    report.permissions_checked = wanted.iter().map(|p| p.verbs.len()).sum();
    match permissions::denied(&rest, &wanted, &session.namespace).await {
        Ok(denied) => {
            report
                .blockers
                .extend(denied.iter().map(permissions::blocker));
            report.denied = denied;
        }
        Err(error) => report.warnings.push(format!(
            "could not check permissions (SelfSubjectAccessReview): {error}"
        )),
    }

    // Calico's workloads.
    report.calico_node = Some(
        workload(
            &rest,
            "DaemonSet",
            &session.namespace,
            CALICO_NODE,
            ("/status/desiredNumberScheduled", "/status/numberReady"),
        )
        .await?,
    );
    report.kube_controllers = Some(
        workload(
            &rest,
            "Deployment",
            &session.namespace,
            KUBE_CONTROLLERS,
            ("/spec/replicas", "/status/readyReplicas"),
        )
        .await?,
    );

    // The manifest run would apply.
    if let Some(path) = &options.manifest {
        match Manifest::read(path) {
            Ok(manifest) => {
                let datastore = manifest.datastore();
                if datastore != Some(ManifestDatastore::Kubernetes) {
                    report.blockers.push(Blocker::new(
                        format!(
                            "manifest {} does not run calico-node on the Kubernetes datastore (its DATASTORE_TYPE is {})",
                            manifest.path,
                            match datastore {
                                Some(ManifestDatastore::Etcd) => "etcdv3",
                                _ => "not set",
                            }
                        ),
                        "give the Kubernetes-datastore manifest of your Calico version (calico.yaml)",
                    ));
                }
                if let Some(problem) = manifest_api_mismatch(&manifest, api, crds.groups) {
                    report.blockers.push(problem);
                } else if api == CrdApi::V1 && manifest.crd_groups().contains(&CrdApi::V3.group()) {
                    report.warnings.push(format!(
                        "manifest {} installs native projectcalico.org/v3 CRDs, but with crd.projectcalico.org served too Calico runs on crd.projectcalico.org/v1, which this migration writes; to migrate into the native v3 CRDs instead, pass --crd-api v3",
                        manifest.path
                    ));
                }
                report.manifest = Some(ManifestSummary {
                    path: manifest.path.clone(),
                    sha256: manifest.sha256.clone(),
                    objects: manifest.documents.len(),
                    datastore,
                });
            }
            Err(error) => report.blockers.push(Blocker::new(
                error.to_string(),
                "give the Kubernetes-datastore manifest of your Calico version (calico.yaml)",
            )),
        }
    }

    // The etcd side and the data: a snapshot, converted and compared with the target.
    let read_at = Instant::now();
    let mut connected = match session.etcd().await {
        Ok(connected) => connected,
        Err(error) => {
            let blocker = Blocker::from(error);
            report.etcd.error = Some(blocker.problem.clone());
            report.blockers.push(blocker);
            return Ok(finish(report));
        }
    };
    report.etcd.answered(connected.server_version.clone());
    let header = crate::source::etcd::open(&mut connected.store, &options.etcd).await?;
    report.etcd.lock = Some(header.lock);
    report.calico_version = header.version.map(|v| v.to_string());
    drop(connected);
    if let Some(problem) = header.node_problem {
        report.blockers.push(Blocker::from(problem));
        return Ok(finish(report));
    }
    let dir = tempfile::Builder::new()
        .prefix("calico-migrate-plan")
        .tempdir()
        .map_err(Error::io("creating a temporary directory"))?;
    let snapshot = dir.path().join("etcd-snapshot");
    super::export::export(
        session,
        &super::export::ExportOptions {
            full: true,
            file: Some(snapshot.clone()),
            allow_unlocked: true,
            etcd: options.etcd.clone(),
        },
    )
    .await?;
    let read_seconds = read_at.elapsed().as_secs_f64();
    let mut import = ImportOptions::new(snapshot);
    import.dry_run = true;
    import.sync = true;
    import.source_may_be_unlocked = true;
    import.calico_version = options.calico_version.clone();
    import.crd_api = CrdApiRequest::Given(api);
    let prepared = prepare(session, &import).await?;
    let imported = &prepared.report;
    let mut total_objects = 0;
    for kind in &imported.kinds {
        total_objects += kind.total;
        report.objects.push(KindPlan {
            kind: kind.kind,
            total: kind.total,
            unchanged: kind.unchanged,
            to_write: kind.total
                - kind.unchanged
                - kind.invalid
                - kind.conflicts
                - kind.nodes_not_found,
        });
    }
    report.blockers.extend(prepared.blockers.iter().cloned());
    if !imported.conflicts.is_empty() {
        let mut problem = format!(
            "the Kubernetes datastore already holds {} Calico object(s) with other content that the migration did not write:",
            imported.kinds.iter().map(|k| k.conflicts).sum::<u64>()
        );
        for conflict in imported.conflicts.iter().take(10) {
            problem.push_str(&format!(
                "\n       {}: {}",
                conflict.object,
                conflict.details.join("; ")
            ));
        }
        report.blockers.push(Blocker::new(
            problem,
            "if they are leftovers of an earlier attempt, delete them (or pass --overwrite to import); if the cluster runs Calico on the Kubernetes datastore already, it is not a migration target",
        ));
    }
    if !imported.nodes_not_found.is_empty() {
        report.blockers.push(Blocker::new(
            format!(
                "{} Calico Node(s) have no Kubernetes Node: {}",
                imported.nodes_not_found.len(),
                imported.nodes_not_found.join(", ")
            ),
            format!(
                "map each to its Kubernetes node with --node-map ETCD=K8S, or leave it out with --node-map {}= (non-Kubernetes hosts cannot be Calico Nodes in the Kubernetes datastore)",
                imported.nodes_not_found[0]
            ),
        ));
    }
    report.warnings.extend(imported.warnings.iter().cloned());
    let plan_seconds = imported.plan_seconds;
    // Under the lock: a fresh snapshot (as long as this read); the delta, which converts every
    // object and compares its digest with the pre-copy's ledger, and the verification, a list
    // of the whole target (together about what this comparison did: convert, list and
    // compare); and the writes of what changed since the pre-copy.
    let writes = total_objects as f64 * TYPICAL_CHURN / TYPICAL_CREATE_RATE;
    report.lock_window = Estimate {
        seconds: read_seconds + plan_seconds + writes,
        basis: format!(
            "reading etcd took {read_seconds:.1}s and comparing with the target {plan_seconds:.1}s for {total_objects} objects; under the lock run reads etcd once, converts every object and finds the changes by digest (the copy), lists the target (the verify) and writes what changed since the pre-copy (estimated at 1% of the objects at {TYPICAL_CREATE_RATE:.0} writes/s)"
        ),
    };
    drop(dir);
    Ok(finish(report))
}

/// Whether Calico, once the manifest is applied, would run on another API group than the one
/// the migration writes: the manifest's calico-node names a group (`CALICO_API_GROUP`), or the
/// groups served then (today's, the migration's, the manifest's CRDs') make Calico's discovery
/// choose the other one.
fn manifest_api_mismatch(
    manifest: &Manifest,
    api: CrdApi,
    served: crate::kinds::ServedGroups,
) -> Option<Blocker> {
    let mut after = served;
    for group in manifest.crd_groups().into_iter().chain([api.group()]) {
        after.v1 |= group == CrdApi::V1.group();
        after.v3 |= group == CrdApi::V3.group();
    }
    let setting = manifest
        .calico_node_env(crate::kinds::API_GROUP_VARIABLE)
        .and_then(|variable| variable.get("value"))
        .and_then(Value::as_str);
    let calico = crate::kinds::choose_api(CrdApiRequest::Auto, setting, after);
    (calico.api != api).then(|| {
        Blocker::new(
            format!(
                "after manifest {} is applied, Calico would run on {} ({}), but the migration writes {api}",
                manifest.path, calico.api, calico.reason
            ),
            match api {
                CrdApi::V3 => "give the manifest for native v3 CRDs (calico-v3-crds.yaml), or migrate into crd.projectcalico.org/v1 with --crd-api v1",
                CrdApi::V1 => "give the manifest with crd.projectcalico.org/v1 CRDs (calico.yaml), or migrate into native v3 CRDs with --crd-api v3",
            },
        )
    })
}

fn finish(mut report: PlanReport) -> PlanReport {
    report.ready = report.blockers.is_empty();
    report
}

/// A DaemonSet or Deployment of Calico's, with the fields (`desired`, `ready`) that say how
/// many pods it wants and has.
async fn workload(
    rest: &crate::kdd::rest::Rest,
    kind: &'static str,
    namespace: &str,
    name: &str,
    (desired, ready): (&str, &str),
) -> Result<Workload, Error> {
    let path = match kind {
        "DaemonSet" => workloads::daemonset_path(namespace, name),
        _ => workloads::deployment_path(namespace, name),
    };
    let found = rest.get(&path).await.map_err(|e| {
        Error::failed(
            format!("reading {kind} {namespace}/{name}: {e}"),
            "check RBAC access to DaemonSets and Deployments (deploy/rbac.yaml)",
        )
    })?;
    let int = |pointer: &str| {
        found
            .as_ref()
            .and_then(|o| o.pointer(pointer))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    };
    Ok(Workload {
        kind,
        namespace: namespace.to_string(),
        name: name.to_string(),
        found: found.is_some(),
        desired: int(desired),
        ready: int(ready),
    })
}
