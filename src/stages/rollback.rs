//! Rollback: backs a migration out while the Kubernetes datastore is still locked, as Calico's
//! documented procedure does, but from the journal and resumably: lock the Kubernetes
//! datastore, delete the Calico data the migration wrote there (and with `delete_crds` the
//! CRDs), put the etcd manifest back and wait for calico-node, restore calico-kube-controllers,
//! unlock etcd. Calico's data in etcd is never changed, only its lock flag.
//!
//! Once the Kubernetes datastore has been unlocked (by `run` or by hand) Calico has run on it:
//! new IP allocations and policy edits exist only there, and a rollback would lose them, so it
//! is refused.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::lock::{Datastore, set_lock};
use super::run::{Operator, Progress, StepReport};
use crate::convert::cluster_info::datastore_ready;
use crate::convert::kdd::NODE_MANAGED_ANNOTATIONS;
use crate::error::Error;
use crate::journal::{FileRecord, RollbackJournal, RollbackStep, Step, Stored};
use crate::kdd::crds;
use crate::kdd::manifest::ManifestDatastore;
use crate::kdd::rest::{Rest, RestError};
use crate::kdd::workloads::{self, KUBE_CONTROLLERS};
use crate::kinds::{CalicoKind, CrdApi, CrdApiRequest, Role};
use crate::session::Session;

/// How long deleted CRDs may take to go (their objects are deleted first).
const CRD_GONE_WAIT: Duration = Duration::from_secs(300);

#[derive(Clone, Debug)]
pub struct RollbackOptions {
    /// The etcd-datastore manifest to put back (`calico-etcd.yaml`).
    pub manifest: Option<PathBuf>,
    /// Also delete Calico's CRDs, as Calico's documented rollback does.
    pub delete_crds: bool,
    pub rollout_timeout: Duration,
    /// The API group the migration wrote to, when no journal says (`--crd-api`).
    pub crd_api: CrdApiRequest,
}

#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackReport {
    /// Its `crd_api` is the API group whose Calico data is deleted.
    #[serde(flatten)]
    pub progress: Progress<RollbackStep>,
    /// Calico objects deleted from the Kubernetes datastore, per kind.
    pub deleted: BTreeMap<String, u64>,
    pub nodes_cleared: u64,
    pub crds_deleted: u64,
}

const STEPS: &[(RollbackStep, &str, &str)] = &[
    (
        RollbackStep::KubernetesLocked,
        "lock-kubernetes",
        "Locking the Kubernetes datastore",
    ),
    (
        RollbackStep::DataDeleted,
        "delete-copy",
        "Deleting the copied Calico data",
    ),
    (
        RollbackStep::ManifestApplied,
        "apply-manifest",
        "Applying the etcd manifest",
    ),
    (
        RollbackStep::RolledOut,
        "rollout",
        "Waiting for the calico-node rollout",
    ),
    (
        RollbackStep::ControllersRestored,
        "restore-kube-controllers",
        "Restoring calico-kube-controllers",
    ),
    (RollbackStep::EtcdUnlocked, "unlock-etcd", "Unlocking etcd"),
];

pub async fn rollback(
    session: &Session,
    options: &RollbackOptions,
    operator: &dyn Operator,
) -> Result<RollbackReport, Error> {
    let target = session.kube().await?;
    let rest = session.rest(None).await?;
    let store = session.kdd().await?;
    let mut report = RollbackReport {
        progress: Progress::new(session, &target),
        ..Default::default()
    };
    let stored = Stored::load(&rest, &session.namespace).await?;
    let mut stored = match stored {
        Some(stored) => stored,
        None => Stored::fresh(
            &session.namespace,
            crate::journal::Journal::new(jiff::Timestamp::now().to_string()),
        ),
    };
    if stored.journal.rolled_back() {
        report.progress.resumed_after = Some(RollbackStep::EtcdUnlocked);
        report.progress.completed = true;
        return Ok(report);
    }

    // Refusals: nothing is changed.
    if stored.journal.unlocked() {
        return Err(Error::failed(
            format!(
                "the migration finished at {}: the Kubernetes datastore was unlocked and Calico has run on it since, so new IP allocations and policy edits exist only there; a rollback would lose them. Nothing was changed",
                stored
                    .journal
                    .times
                    .unlocked_at
                    .as_deref()
                    .unwrap_or("an earlier time")
            ),
            "there is no rollback after unlocking; fix forward on the Kubernetes datastore",
        ));
    }
    let choice = super::choose_api(session, &store, options.crd_api).await?;
    let api = choice.api;
    report.progress.crd_api = Some(choice);
    let store = store.with_api(api);
    let crd_state = store.crd_state().await?;
    let has_cluster_information =
        crd_state.serves(CalicoKind::by_kind("ClusterInformation").expect("in the table"));
    if has_cluster_information
        && stored
            .journal
            .rollback
            .as_ref()
            .is_none_or(|r| r.step < RollbackStep::KubernetesLocked)
        && let Some(info) = store.cluster_information().await?
        && datastore_ready(&info.data) != Some(false)
    {
        return Err(Error::failed(
            "the Kubernetes datastore is unlocked (ClusterInformation/default datastoreReady is not false): Calico may run on it, and its data may exist only there; a rollback would lose it. Nothing was changed",
            "if Calico never ran on the Kubernetes datastore, lock it first (kubectl calico-migrate lock --datastore kubernetes) and roll back again",
        ));
    }
    let manifest = match &options.manifest {
        Some(path) => Some(super::read_manifest(path, ManifestDatastore::Etcd)?),
        None => None,
    };
    if manifest.is_none() && stored.journal.step >= Step::ManifestApplied {
        return Err(Error::failed(
            "this migration applied the Kubernetes-datastore manifest: calico-node runs on the Kubernetes datastore now, and without the etcd manifest it would stay there with its data deleted. Nothing was changed",
            "give the etcd manifest of your Calico version: kubectl calico-migrate rollback --manifest calico-etcd.yaml",
        ));
    }
    report.progress.resumed_after = stored.journal.rollback.as_ref().map(|r| r.step);
    if !operator.confirm(&format!(
            "Roll back the migration of context {:?}: delete the Calico data copied into the Kubernetes datastore{} and unlock etcd?",
            target.context,
            if manifest.is_some() {
                ", re-apply the etcd manifest"
            } else {
                ""
            }
        ))?
    {
        report.progress.stopped = Some("the operator declined; nothing was changed".into());
        return Ok(report);
    }
    let rollback_journal = stored
        .journal
        .rollback
        .get_or_insert_with(|| RollbackJournal {
            started: jiff::Timestamp::now().to_string(),
            ..Default::default()
        });
    if let Some(manifest) = &manifest {
        rollback_journal.manifest = Some(FileRecord {
            path: manifest.path.clone(),
            sha256: manifest.sha256.clone(),
        });
    }
    stored.save(&rest).await?;
    let session = session.with_saved_etcd(stored.journal.etcd.as_ref());

    for (index, (step, name, title)) in STEPS.iter().enumerate() {
        let done = stored
            .journal
            .rollback
            .as_ref()
            .map(|r| r.step)
            .unwrap_or_default();
        if done >= *step {
            continue;
        }
        super::run::pause_if_asked(name);
        let number = index + 1;
        let bar = session.progress.step(number, STEPS.len(), title);
        let started = Instant::now();
        let summary = match step {
            RollbackStep::Started => String::new(),
            RollbackStep::KubernetesLocked => {
                if has_cluster_information {
                    set_lock(
                        &session,
                        Datastore::Kubernetes,
                        true,
                        CrdApiRequest::Given(api),
                    )
                    .await?;
                    "the Kubernetes datastore is locked: nothing acts on its Calico data".into()
                } else {
                    "no Calico CRDs in the Kubernetes datastore: nothing to lock".into()
                }
            }
            RollbackStep::DataDeleted => {
                delete_copy(&rest, api, options.delete_crds, &mut report, &bar).await?
            }
            RollbackStep::ManifestApplied => match &manifest {
                Some(manifest) => {
                    (report.progress)
                        .apply_manifest(&rest, manifest, &session.namespace, &bar)
                        .await?
                }
                None => "no manifest given: calico-node was not switched by the migration".into(),
            },
            RollbackStep::RolledOut => match &manifest {
                Some(manifest) => {
                    (report.progress)
                        .roll_out(
                            &rest,
                            manifest,
                            &session.namespace,
                            options.rollout_timeout,
                            &bar,
                        )
                        .await?
                }
                None => "no manifest given: nothing rolls out".into(),
            },
            RollbackStep::ControllersRestored => match stored.journal.kube_controllers_replicas {
                Some(replicas) => {
                    workloads::scale(&rest, &session.namespace, KUBE_CONTROLLERS, replicas)
                        .await
                        .map_err(|e| failure("restoring calico-kube-controllers", e))?;
                    report.progress.kube_controllers_replicas = Some(replicas);
                    format!("{KUBE_CONTROLLERS} back at {replicas} replicas")
                }
                None => "the migration did not stop calico-kube-controllers".into(),
            },
            RollbackStep::EtcdUnlocked => {
                set_lock(&session, Datastore::Etcd, false, CrdApiRequest::Auto).await?;
                "etcd is unlocked: Calico runs on it again".into()
            }
        };
        bar.finish_and_clear();
        let seconds = started.elapsed().as_secs_f64();
        if let Some(journal) = stored.journal.rollback.as_mut() {
            journal.step = *step;
            if *step == RollbackStep::EtcdUnlocked {
                journal.finished = Some(jiff::Timestamp::now().to_string());
            }
        }
        if *step == RollbackStep::EtcdUnlocked
            && let Some(record) = stored.journal.pre_copy_ledger.take()
        {
            // The pre-copy's ledger is of no use to a new migration, which copies afresh.
            let _ = std::fs::remove_file(&record.path);
        }
        stored.save(&rest).await?;
        let step_report = StepReport {
            number,
            of: STEPS.len(),
            name,
            seconds,
            summary,
        };
        operator.step_done(&step_report);
        report.progress.stages.push(step_report);
    }
    report.progress.completed = true;
    Ok(report)
}

/// Deletes every Calico object of the Kubernetes datastore's `api` except the (locked)
/// ClusterInformation and the tiers Calico creates itself (Calico's admission policy forbids
/// deleting the native v3 ones), the Calico annotations of every Node, and with `delete_crds`
/// the CRDs.
async fn delete_copy(
    rest: &Rest,
    api: CrdApi,
    delete_crds: bool,
    report: &mut RollbackReport,
    bar: &indicatif::ProgressBar,
) -> Result<String, Error> {
    for kind in CalicoKind::with_crd() {
        if kind.role == Role::ClusterInformation {
            continue;
        }
        let plural = api.plural(kind);
        bar.set_message(format!("deleting {plural}"));
        // (namespace, name) of every object but the tiers Calico creates itself.
        let mut objects: Vec<(Option<String>, String)> = Vec::new();
        let mut builtin = false;
        let listed = rest
            .list_all(&api.collection_path(kind, None), |object| {
                let field = |pointer: &str| {
                    object
                        .pointer(pointer)
                        .and_then(Value::as_str)
                        .map(str::to_string)
                };
                let name = field("/metadata/name").unwrap_or_default();
                if crds::is_builtin(kind, &name) {
                    builtin = true;
                } else {
                    objects.push((field("/metadata/namespace"), name));
                }
            })
            .await;
        match listed {
            Ok(()) => {}
            Err(e) if e.is(404) => continue,
            Err(e) => return Err(failure(&format!("listing {plural}"), e)),
        }
        if objects.is_empty() {
            continue;
        }
        *report.deleted.entry(kind.kind.to_string()).or_default() += objects.len() as u64;
        if builtin {
            // One by one, so that the built-in tiers stay.
            for (namespace, name) in &objects {
                let path = format!("{}/{name}", api.collection_path(kind, namespace.as_deref()));
                match rest.delete(&path, None).await {
                    Ok(()) => {}
                    Err(e) if e.is(404) => {}
                    Err(e) => return Err(failure(&format!("deleting {plural} {name}"), e)),
                }
            }
            continue;
        }
        let namespaces: std::collections::BTreeSet<Option<String>> = objects
            .into_iter()
            .map(|(namespace, _)| namespace)
            .collect();
        for namespace in namespaces {
            rest.delete_collection(&api.collection_path(kind, namespace.as_deref()))
                .await
                .map_err(|e| failure(&format!("deleting {plural}"), e))?;
        }
    }
    bar.set_message("removing Calico's Node annotations");
    let mut nodes = Vec::new();
    rest.list_all("/api/v1/nodes", |node| {
        let annotations = crate::convert::string_map(node.pointer("/metadata/annotations"));
        if NODE_MANAGED_ANNOTATIONS
            .iter()
            .any(|k| annotations.contains_key(*k))
            && let Some(name) = node.pointer("/metadata/name").and_then(Value::as_str)
        {
            nodes.push(name.to_string());
        }
    })
    .await
    .map_err(|e| failure("listing nodes", e))?;
    let clear: serde_json::Map<String, Value> = NODE_MANAGED_ANNOTATIONS
        .iter()
        .map(|k| (k.to_string(), Value::Null))
        .collect();
    for node in &nodes {
        rest.merge_patch(
            &format!("/api/v1/nodes/{node}"),
            &serde_json::json!({"metadata": {"annotations": clear}}),
        )
        .await
        .map_err(|e| {
            failure(
                &format!("removing the Calico annotations of Node {node}"),
                e,
            )
        })?;
    }
    report.nodes_cleared = nodes.len() as u64;
    if delete_crds {
        bar.set_message("deleting Calico's CRDs");
        report.crds_deleted = delete_calico_crds(rest, api).await?;
    }
    let objects: u64 = report.deleted.values().sum();
    Ok(format!(
        "deleted {objects} Calico objects, cleared {} Nodes{}",
        nodes.len(),
        if delete_crds {
            format!(", deleted {} CRDs", report.crds_deleted)
        } else {
            String::new()
        }
    ))
}

/// Deletes the CRDs of `api`'s group and waits until they are gone (a real API server deletes
/// their objects first).
async fn delete_calico_crds(rest: &Rest, api: CrdApi) -> Result<u64, Error> {
    const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
    let mut names = Vec::new();
    rest.list_all(CRDS, |crd| {
        if crd.pointer("/spec/group").and_then(Value::as_str) == Some(api.group())
            && let Some(name) = crd.pointer("/metadata/name").and_then(Value::as_str)
        {
            names.push(name.to_string());
        }
    })
    .await
    .map_err(|e| failure("listing CustomResourceDefinitions", e))?;
    for name in &names {
        rest.delete(&format!("{CRDS}/{name}"), None)
            .await
            .map_err(|e| failure(&format!("deleting CRD {name}"), e))?;
    }
    let deadline = Instant::now() + CRD_GONE_WAIT;
    for name in &names {
        while rest
            .get(&format!("{CRDS}/{name}"))
            .await
            .map_err(|e| failure(&format!("reading CRD {name}"), e))?
            .is_some()
        {
            if Instant::now() > deadline {
                return Err(Error::failed(
                    format!(
                        "CRD {name} is still being deleted after {}s",
                        CRD_GONE_WAIT.as_secs()
                    ),
                    "see `kubectl get crd NAME -o yaml` for what holds it, then run the rollback again",
                ));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    Ok(names.len() as u64)
}

fn failure(doing: &str, error: RestError) -> Error {
    Error::failed(
        format!("{doing}: {error}"),
        "check the connection and the permissions (deploy/rbac.yaml), then run the rollback again: it resumes",
    )
}
