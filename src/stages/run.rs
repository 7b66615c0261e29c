//! Run: the whole migration as one resumable command.
//!
//! 1. preflight (the plan; anything that blocks stops here, nothing changed);
//! 2. stop `calico-kube-controllers` (its replicas are remembered);
//! 3. pre-copy: everything copied while etcd is still unlocked, the Kubernetes datastore locked
//!    so that nothing acts on the copy;
//! 4. lock etcd (the lock window starts: no new pod gets networking);
//! 5. export the locked snapshot to a backup file that is kept;
//! 6. copy only what changed since the pre-copy (creates, updates, and deletions of what the
//!    pre-copy wrote that etcd no longer has);
//! 7. verify the Kubernetes datastore against the backup (the lock window ends);
//! 8. apply the Kubernetes-datastore manifest with server-side apply;
//! 9. wait for the calico-node rollout;
//! 10. unlock the Kubernetes datastore (after asking again), and restore kube-controllers.
//!
//! Every finished step is recorded in the journal in the cluster, so `run` again after any
//! interruption resumes after the last finished step; each step is safe to repeat.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::export::{ExportOptions, export};
use super::import::{ImportOptions, ImportReport, Pace, import};
use super::lock::{Datastore, set_lock};
use super::plan::{PlanOptions, plan};
use super::verify::{VerifyOptions, verify, verify_by_ledger};
use crate::error::Error;
use crate::journal::{FileRecord, Journal, SavedEtcd, Step, Stored};
use crate::kdd::KubeTarget;
use crate::kdd::ledger::Ledger;
use crate::kdd::manifest::{self, Applied, Manifest, ManifestDatastore};
use crate::kdd::rest::Rest;
use crate::kdd::workloads::{self, KUBE_CONTROLLERS, Rollout};
use crate::kinds::{ApiChoice, CrdApi, CrdApiRequest};
use crate::session::Session;
use crate::source::etcd::Reading;

/// How often the rollout is looked at.
const ROLLOUT_POLL: Duration = Duration::from_millis(500);
/// Set to a step's name, the process stops (waits to be killed) just before that step: how the
/// tests interrupt a run at each step as a kill or a lost connection would.
pub const PAUSE_BEFORE: &str = "CALICO_MIGRATE_TEST_PAUSE_BEFORE";
/// With `PAUSE_BEFORE`: a file whose creation lets the paused run go on.
pub const RESUME_WHEN: &str = "CALICO_MIGRATE_TEST_RESUME_WHEN";

#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The Kubernetes-datastore manifest (`calico.yaml` of the cluster's Calico version).
    pub manifest: PathBuf,
    /// `--yes` was given: the command that resumes says it again (the operator answers the
    /// questions).
    pub yes: bool,
    /// Where the locked snapshot is kept (default: a timestamped file here).
    pub backup: Option<PathBuf>,
    pub stop_after_pre_copy: bool,
    pub stop_before_unlock: bool,
    /// The node map given (a resumed run keeps its journal's unless another is given) and the
    /// keys per request.
    pub etcd: Reading,
    pub rollout_timeout: Duration,
    pub pace: Pace,
    pub calico_version: Option<String>,
    /// The API group to migrate into (`--crd-api`); a resumed run keeps its journal's.
    pub crd_api: CrdApiRequest,
}

/// The person running the migration: asked before the irreversible steps, told of each step.
pub trait Operator {
    /// A yes/no question; an error when nobody can answer (no terminal).
    fn confirm(&self, question: &str) -> Result<bool, Error>;
    fn step_done(&self, step: &StepReport);
}

/// One step of the run.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepReport {
    pub number: usize,
    /// Steps in all.
    pub of: usize,
    pub name: &'static str,
    pub seconds: f64,
    /// What it did, in one line.
    pub summary: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LockWindow {
    pub seconds: f64,
    pub locked_at: String,
    pub verified_at: String,
}

#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    #[serde(flatten)]
    pub progress: Progress<Step>,
    pub backup: Option<FileRecord>,
    /// From the moment etcd was locked to the end of the verification.
    pub lock_window: Option<LockWindow>,
    pub pre_copy: Option<ImportReport>,
    pub copy: Option<ImportReport>,
    pub differences: Option<u64>,
    /// The command that continues.
    pub next: Option<String>,
}

/// What `run` and `rollback` report alike: where they worked, the steps they took, the
/// manifest they applied and its rollout, and how they ended.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress<S> {
    pub context: String,
    pub namespace: String,
    /// The API group worked on, and why.
    pub crd_api: Option<ApiChoice>,
    /// The journal's step when this began, if it resumed an earlier attempt.
    pub resumed_after: Option<S>,
    pub stages: Vec<StepReport>,
    pub manifest: Option<Applied>,
    pub rollout: Option<Rollout>,
    /// `calico-kube-controllers` replicas before the migration stopped it.
    pub kube_controllers_replicas: Option<i64>,
    pub completed: bool,
    /// Why it ended before the end (a stop flag, or the operator said no).
    pub stopped: Option<String>,
}

impl<S: Default> Progress<S> {
    pub fn new(session: &Session, target: &KubeTarget) -> Progress<S> {
        Progress {
            context: target.context.clone(),
            namespace: session.namespace.clone(),
            ..Default::default()
        }
    }
}

impl<S> Progress<S> {
    /// Applies the manifest (server-side apply) and notes it; the step's summary.
    pub async fn apply_manifest(
        &mut self,
        rest: &Rest,
        manifest: &Manifest,
        namespace: &str,
        bar: &indicatif::ProgressBar,
    ) -> Result<String, Error> {
        let applied = manifest::apply(rest, manifest, namespace, |document| {
            bar.set_message(format!("applied {}", document.describe()))
        })
        .await
        .map_err(|e| {
            Error::failed(
                e.to_string(),
                "check the manifest and the permissions to apply it (deploy/rbac.yaml)",
            )
        })?;
        let summary = format!(
            "applied {} objects of {} ({} changed), field manager {}",
            applied.objects,
            applied.manifest,
            applied.changed,
            crate::kdd::rest::FIELD_MANAGER
        );
        self.manifest = Some(applied);
        Ok(summary)
    }

    /// Waits until every DaemonSet of the manifest has rolled out, as `kubectl rollout status`
    /// does, and notes it; the step's summary.
    pub async fn roll_out(
        &mut self,
        rest: &Rest,
        manifest: &Manifest,
        namespace: &str,
        timeout: Duration,
        bar: &indicatif::ProgressBar,
    ) -> Result<String, Error> {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        for daemonset in manifest.daemonsets() {
            let namespace = daemonset.namespace.as_deref().unwrap_or(namespace);
            let path = workloads::daemonset_path(namespace, &daemonset.name);
            loop {
                let found = rest.get(&path).await.map_err(|e| {
                    rest_failure(&format!("reading DaemonSet {}", daemonset.name), e)
                })?;
                let rollout = match &found {
                    Some(object) => workloads::daemonset_rollout(object).map_err(|e| {
                        Error::failed(e, "wait for the pods yourself, then run the command again")
                    })?,
                    None => Rollout {
                        done: false,
                        desired: 0,
                        updated: 0,
                        available: 0,
                        message: format!(
                            "DaemonSet {namespace}/{} does not exist yet",
                            daemonset.name
                        ),
                    },
                };
                bar.set_message(rollout.message.clone());
                if rollout.done {
                    last = Some(rollout);
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(Error::failed(
                        format!(
                            "the rollout of DaemonSet {namespace}/{} did not finish within {}s: {}",
                            daemonset.name,
                            timeout.as_secs(),
                            rollout.message
                        ),
                        format!(
                            "etcd and the Kubernetes datastore stay locked; see why with `kubectl -n {namespace} rollout status daemonset {}` and `kubectl -n {namespace} get pods`",
                            daemonset.name
                        ),
                    ));
                }
                tokio::time::sleep(ROLLOUT_POLL).await;
            }
        }
        let rollout = last.unwrap_or(Rollout {
            done: true,
            desired: 0,
            updated: 0,
            available: 0,
            message: "the manifest has no DaemonSet to wait for".into(),
        });
        let summary = rollout.message.clone();
        self.rollout = Some(rollout);
        Ok(summary)
    }
}

/// The steps after the preflight, with the name reports and `PAUSE_BEFORE` use and a title.
const STEPS: &[(Step, &str, &str)] = &[
    (
        Step::ControllersStopped,
        "stop-kube-controllers",
        "Stopping calico-kube-controllers",
    ),
    (
        Step::PreCopied,
        "pre-copy",
        "Copying while etcd is still unlocked",
    ),
    (Step::EtcdLocked, "lock-etcd", "Locking etcd"),
    (Step::BackedUp, "backup", "Exporting the locked snapshot"),
    (
        Step::Copied,
        "copy-changes",
        "Copying what changed since the pre-copy",
    ),
    (Step::Verified, "verify", "Verifying"),
    (
        Step::ManifestApplied,
        "apply-manifest",
        "Applying the Kubernetes-datastore manifest",
    ),
    (
        Step::RolledOut,
        "rollout",
        "Waiting for the calico-node rollout",
    ),
    (
        Step::Unlocked,
        "unlock",
        "Unlocking the Kubernetes datastore",
    ),
];

/// All steps, the preflight included.
const TOTAL: usize = 10;

pub async fn run(
    session: &Session,
    options: &RunOptions,
    operator: &dyn Operator,
) -> Result<RunReport, Error> {
    let target = session.kube().await?;
    let rest = session.rest(options.pace.qps).await?;
    let mut report = RunReport {
        progress: Progress::new(session, &target),
        ..Default::default()
    };
    let manifest = super::read_manifest(&options.manifest, ManifestDatastore::Kubernetes)?;
    let resume_command = resume_command(session, options);
    let rollback_command = session.command("rollback --manifest calico-etcd.yaml");

    // A journal of a migration that was rolled back is started afresh (in the same ConfigMap).
    let loaded = Stored::load(&rest, &session.namespace).await?;
    let (existing, previous) = match loaded {
        Some(stored) if stored.journal.rolled_back() => (None, Some(stored)),
        other => (other, None),
    };
    let mut stored = match existing {
        Some(stored) if stored.journal.unlocked() => {
            report.progress.resumed_after = Some(stored.journal.step);
            report.progress.completed = true;
            report.lock_window = lock_window(&stored.journal);
            report.backup = stored.journal.backup.clone();
            return Ok(report);
        }
        Some(mut stored) => {
            report.progress.resumed_after = Some(stored.journal.step);
            adopt_node_map(&mut stored.journal, &options.etcd.node_map)?;
            if !operator.confirm(&format!(
                "Resume the migration of context {:?} after step {:?}?",
                target.context, stored.journal.step
            ))? {
                report.progress.stopped = Some("the operator declined to resume".into());
                report.next = Some(resume_command);
                return Ok(report);
            }
            stored
        }
        None => {
            // 1. Preflight: everything that would stop the migration, before anything changes.
            let started = Instant::now();
            let bar = session
                .progress
                .step(1, TOTAL, "Checking both datastores (plan)");
            let planned = plan(
                session,
                &PlanOptions {
                    manifest: Some(options.manifest.clone()),
                    etcd: options.etcd.clone(),
                    calico_version: options.calico_version.clone(),
                    crd_api: options.crd_api,
                },
            )
            .await?;
            bar.finish_and_clear();
            if !planned.ready {
                return Err(Error::blocked(
                    "the migration cannot start; nothing was changed",
                    planned.blockers,
                ));
            }
            let objects: u64 = planned.objects.iter().map(|k| k.total).sum();
            let step = StepReport {
                number: 1,
                of: TOTAL,
                name: "preflight",
                seconds: started.elapsed().as_secs_f64(),
                summary: format!(
                    "{objects} objects to migrate; estimated lock window {:.0}s",
                    planned.lock_window.seconds
                ),
            };
            operator.step_done(&step);
            report.progress.stages.push(step);
            if !operator.confirm(&format!(
                    "Migrate Calico of context {:?} from etcd to the Kubernetes datastore? etcd will be locked for about {:.0}s (no new pod gets networking meanwhile)",
                    target.context, planned.lock_window.seconds
                ))?
            {
                report.progress.stopped = Some("the operator declined; nothing was changed".into());
                return Ok(report);
            }
            let mut journal = Journal::new(now());
            journal.node_map = options.etcd.node_map.clone();
            journal.crd_api = planned.crd_api.as_ref().map(|choice| choice.api);
            report.progress.crd_api = planned.crd_api.clone();
            journal.etcd = Some(saved_etcd(session, &rest).await?);
            let mut stored = match previous {
                Some(mut previous) => {
                    previous.journal = journal;
                    previous
                }
                None => Stored::fresh(&session.namespace, journal),
            };
            stored.save(&rest).await?;
            stored
        }
    };
    stored.journal.manifest = Some(FileRecord {
        path: absolute(&options.manifest),
        sha256: manifest.sha256.clone(),
    });
    let api = match &report.progress.crd_api {
        Some(choice) => choice.api,
        None => {
            // Resumed: the journal's API (v1 for journals from before the choice existed).
            let store = session.kdd().await?;
            let choice = super::choose_api(session, &store, options.crd_api).await?;
            let api = stored.journal.crd_api.unwrap_or(choice.api);
            stored.journal.crd_api = Some(api);
            report.progress.crd_api = Some(choice);
            api
        }
    };
    let session = session.with_saved_etcd(stored.journal.etcd.as_ref());
    let mut context = Context {
        session: &session,
        options,
        api,
        rest: &rest,
        manifest: &manifest,
        stored: &mut stored,
        report: &mut report,
        ledger: None,
        backup_checked: None,
    };
    for (index, (step, name, title)) in STEPS.iter().enumerate() {
        if context.stored.journal.step >= *step {
            continue;
        }
        if *step == Step::Unlocked {
            if options.stop_before_unlock {
                context.report.progress.stopped = Some(
                    "--stop-before-unlock: etcd and the Kubernetes datastore stay locked".into(),
                );
                context.report.next = Some(resume_command.clone());
                break;
            }
            if !operator.confirm(
                    "Unlock the Kubernetes datastore? Calico then runs on it, and the migration can no longer be rolled back",
                )?
            {
                context.report.progress.stopped = Some("the operator declined to unlock".into());
                context.report.next = Some(resume_command.clone());
                break;
            }
        }
        pause_if_asked(name);
        let number = index + 2;
        let bar = session.progress.step(number, TOTAL, title);
        let started = Instant::now();
        let result = context.step(*step, &bar).await;
        bar.finish_and_clear();
        let summary = match result {
            Ok(summary) => summary,
            Err(error) => {
                context.stored.journal.failure = Some(format!("{name}: {error}"));
                let _ = context.stored.save(context.rest).await;
                return Err(with_resume_hint(error, &resume_command, &rollback_command));
            }
        };
        let seconds = started.elapsed().as_secs_f64();
        context
            .stored
            .journal
            .record_step(*step, name, seconds, &now());
        context.stored.save(context.rest).await?;
        let step_report = StepReport {
            number,
            of: TOTAL,
            name,
            seconds,
            summary,
        };
        operator.step_done(&step_report);
        context.report.progress.stages.push(step_report);
        if *step == Step::PreCopied && options.stop_after_pre_copy {
            context.report.progress.stopped = Some(
                "--stop-after-pre-copy: etcd is still unlocked; the Kubernetes datastore holds a copy and stays locked".into(),
            );
            context.report.next = Some(resume_command.clone());
            break;
        }
    }
    let journal = &context.stored.journal;
    context.report.progress.completed = journal.unlocked();
    context.report.lock_window = lock_window(journal);
    context.report.backup = journal.backup.clone();
    context.report.progress.kube_controllers_replicas = journal.kube_controllers_replicas;
    Ok(report)
}

/// What the steps share.
struct Context<'a> {
    session: &'a Session,
    options: &'a RunOptions,
    /// The API group the migration writes to.
    api: CrdApi,
    rest: &'a Rest,
    manifest: &'a Manifest,
    stored: &'a mut Stored,
    report: &'a mut RunReport,
    /// What the copy of the changes saw, for the verify that follows it in this process.
    ledger: Option<Ledger>,
    /// The backup file, checked against the journal in this process.
    backup_checked: Option<PathBuf>,
}

impl Context<'_> {
    async fn step(&mut self, step: Step, bar: &indicatif::ProgressBar) -> Result<String, Error> {
        let namespace = self.session.namespace.clone();
        let journal = &mut self.stored.journal;
        match step {
            Step::Started => Ok(String::new()),
            Step::ControllersStopped => {
                let replicas = workloads::replicas(self.rest, &namespace, KUBE_CONTROLLERS)
                    .await
                    .map_err(|e| rest_failure("reading calico-kube-controllers", e))?;
                let Some(replicas) = replicas else {
                    return Ok(format!(
                        "no Deployment {namespace}/{KUBE_CONTROLLERS}: nothing to stop"
                    ));
                };
                let remembered = *journal.kube_controllers_replicas.get_or_insert(replicas);
                if replicas > 0 {
                    workloads::scale(self.rest, &namespace, KUBE_CONTROLLERS, 0)
                        .await
                        .map_err(|e| rest_failure("scaling calico-kube-controllers to 0", e))?;
                }
                Ok(format!(
                    "scaled {KUBE_CONTROLLERS} from {remembered} to 0 replicas (restored at the end)"
                ))
            }
            Step::PreCopied => {
                let dir = tempfile::Builder::new()
                    .prefix("calico-migrate-precopy")
                    .tempdir()
                    .map_err(Error::io("creating a temporary directory"))?;
                let snapshot = dir.path().join("etcd-snapshot");
                export(
                    self.session,
                    &full_export(snapshot.clone(), true, journal, self.options),
                )
                .await?;
                let mut copied = self.copy(&snapshot, None).await?;
                let mut summary = copy_summary(&copied);
                // Kept for the copy under the lock; without it, that copy lists the target.
                if let Some(ledger) = copied.ledger.take() {
                    let journal = &mut self.stored.journal;
                    let path = pre_copy_ledger_path(&journal.times.started);
                    match ledger.save(&path) {
                        Ok(sha256) => {
                            journal.pre_copy_ledger = Some(FileRecord {
                                path: absolute(&path),
                                sha256,
                            })
                        }
                        Err(e) => summary.push_str(&format!(
                            "; its ledger could not be kept ({}: {e}), so the copy under the lock compares with a listing of the target",
                            path.display()
                        )),
                    }
                }
                self.report.pre_copy = Some(copied);
                Ok(summary)
            }
            Step::EtcdLocked => {
                let lock =
                    set_lock(self.session, Datastore::Etcd, true, CrdApiRequest::Auto).await?;
                journal.times.etcd_locked_at.get_or_insert_with(now);
                Ok(if lock.changed {
                    "etcd locked: Calico on etcd processes no changes now".into()
                } else {
                    "etcd was locked already".into()
                })
            }
            Step::BackedUp => {
                let path = match (&self.options.backup, &journal.backup) {
                    (Some(path), _) => path.clone(),
                    (None, Some(record)) => PathBuf::from(&record.path),
                    (None, None) => default_backup_path(),
                };
                if let Some(record) = &journal.backup
                    && record.path == absolute(&path)
                    && crate::digest::sha256_file(&path).ok().as_deref() == Some(&record.sha256)
                {
                    return Ok(format!("kept {} (taken under the lock)", record.path));
                }
                let exported = export(
                    self.session,
                    &full_export(path.clone(), false, journal, self.options),
                )
                .await?;
                let sha256 = crate::digest::sha256_file(&path)
                    .map_err(Error::io(format!("reading {}", path.display())))?;
                let record = FileRecord {
                    path: absolute(&path),
                    sha256,
                };
                let summary = format!(
                    "wrote {} (etcd revision {}, sha256 {})",
                    record.path, exported.revision, record.sha256
                );
                journal.backup = Some(record);
                self.backup_checked = Some(PathBuf::from(absolute(&path)));
                Ok(summary)
            }
            Step::Copied => {
                let backup = self.backup()?;
                let baseline = match &self.stored.journal.pre_copy_ledger {
                    Some(record) => Ledger::load(Path::new(&record.path), &record.sha256),
                    None => Err("the pre-copy kept no ledger".into()),
                };
                let unread = baseline.as_ref().err().cloned();
                let mut copied = self.copy(&backup, baseline.ok().map(Arc::new)).await?;
                self.ledger = copied.ledger.take();
                let mut summary = copy_summary(&copied);
                if let Some(why) = unread {
                    summary.push_str(&format!(" (compared with a listing of the target: {why})"));
                }
                self.report.copy = Some(copied);
                Ok(summary)
            }
            Step::Verified => {
                let backup = self.backup()?;
                // The copy just compared every object (or took the pre-copy's word for those
                // whose digest did not change); listing the target again proves nothing
                // changed since. A resumed run, or anything the ledger cannot vouch for, gets
                // the full comparison with the backup.
                let by_ledger = match self.ledger.take() {
                    Some(ledger) => {
                        Some(verify_by_ledger(self.session, &backup, self.api, &ledger).await?)
                    }
                    None => None,
                };
                let (verified, how) = match by_ledger.filter(|v| v.equal) {
                    Some(verified) => {
                        let listed = verified.listed.clone().unwrap_or_default();
                        let how = format!(
                            "listed again {listed}, at the resourceVersions the copy compared them at"
                        );
                        (verified, how)
                    }
                    None => (
                        verify(
                            self.session,
                            &VerifyOptions {
                                file: Some(backup.clone()),
                                etcd: reading(&self.stored.journal, self.options),
                                calico_version: self.options.calico_version.clone(),
                                tolerate_foreign: true,
                                crd_api: CrdApiRequest::Given(self.api),
                            },
                        )
                        .await?,
                        "compared with the backup object by object".to_string(),
                    ),
                };
                let differences = verified.count_differences();
                self.report.differences = Some(differences);
                if let Some(failure) = verified.failure() {
                    let mut message = failure.to_string();
                    let findings = verified
                        .different
                        .iter()
                        .chain(&verified.missing)
                        .chain(&verified.only_in_target);
                    for finding in findings.take(5) {
                        message.push_str(&format!("\n  {} {}", finding.kind, finding.name));
                        for detail in finding.details.iter().take(3) {
                            message.push_str(&format!(": {detail}"));
                        }
                    }
                    return Err(Error::failed(
                        message,
                        format!(
                            "see them all with `{}`; everything stays locked",
                            self.session.command(&format!(
                                "verify -f {}",
                                crate::console::shell_word(&backup.display().to_string())
                            ))
                        ),
                    ));
                }
                self.stored.journal.times.verified_at = Some(now());
                if let Some(record) = self.stored.journal.pre_copy_ledger.take() {
                    // Served its purpose; it names the cluster's objects, so it is not left behind.
                    let _ = std::fs::remove_file(&record.path);
                }
                let matching: u64 = verified.kinds.iter().map(|k| k.matching).sum();
                Ok(format!(
                    "{matching} objects match the locked snapshot ({how})"
                ))
            }
            Step::ManifestApplied => {
                (self.report.progress)
                    .apply_manifest(self.rest, self.manifest, &namespace, bar)
                    .await
            }
            Step::RolledOut => {
                (self.report.progress)
                    .roll_out(
                        self.rest,
                        self.manifest,
                        &namespace,
                        self.options.rollout_timeout,
                        bar,
                    )
                    .await
            }
            Step::Unlocked => {
                set_lock(
                    self.session,
                    Datastore::Kubernetes,
                    false,
                    CrdApiRequest::Given(self.api),
                )
                .await?;
                journal.times.unlocked_at = Some(now());
                let mut summary =
                    "the Kubernetes datastore is unlocked: Calico runs on it".to_string();
                if let Some(replicas) = journal.kube_controllers_replicas.filter(|r| *r > 0) {
                    let current = workloads::replicas(self.rest, &namespace, KUBE_CONTROLLERS)
                        .await
                        .map_err(|e| rest_failure("reading calico-kube-controllers", e))?;
                    if current.is_some_and(|c| c != replicas) {
                        workloads::scale(self.rest, &namespace, KUBE_CONTROLLERS, replicas)
                            .await
                            .map_err(|e| {
                                rest_failure("restoring calico-kube-controllers replicas", e)
                            })?;
                    }
                    summary.push_str(&format!("; {KUBE_CONTROLLERS} back at {replicas} replicas"));
                }
                Ok(summary)
            }
        }
    }

    /// Makes the Kubernetes datastore follow `file`: an import that also updates and deletes
    /// what the migration wrote before, comparing with `baseline` (an earlier copy's ledger)
    /// when given, else with a listing of the target. It keeps a ledger of what it saw.
    async fn copy(
        &self,
        file: &Path,
        baseline: Option<Arc<Ledger>>,
    ) -> Result<ImportReport, Error> {
        let mut options = ImportOptions::new(file.to_path_buf());
        options.sync = true;
        options.source_may_be_unlocked = true;
        options.pace = self.options.pace;
        options.calico_version = self.options.calico_version.clone();
        options.crd_api = CrdApiRequest::Given(self.api);
        options.ledger = true;
        options.baseline = baseline;
        let copied = import(self.session, &options).await?;
        match copied.failure() {
            // The report is not shown within a run: the message names what stopped it.
            Some(failure) => {
                let mut message = failure.to_string();
                let problems = copied.conflicts.iter().chain(&copied.failures);
                for problem in problems.take(5) {
                    let details = problem.details.iter().take(3).cloned();
                    message.push_str(&format!(
                        "\n  {}: {}",
                        problem.object,
                        details.collect::<Vec<_>>().join("; ")
                    ));
                }
                Err(Error::failed(message, failure.hint().unwrap_or_default()))
            }
            None => Ok(copied),
        }
    }

    /// The backup file, once checked to be the one the journal records (the check reads
    /// the whole file, so it is made once per process).
    fn backup(&mut self) -> Result<PathBuf, Error> {
        if let Some(checked) = &self.backup_checked {
            return Ok(checked.clone());
        }
        let record = self.stored.journal.backup.as_ref().ok_or_else(|| {
            Error::failed(
                "the journal names no backup file",
                "run the command again: it takes the backup first",
            )
        })?;
        let path = PathBuf::from(&record.path);
        let sha256 = crate::digest::sha256_file(&path)
            .map_err(Error::io(format!("reading the backup {}", record.path)))?;
        if sha256 != record.sha256 {
            return Err(Error::failed(
                format!(
                    "the backup {} changed since it was taken (sha256 {sha256}, the journal says {})",
                    record.path, record.sha256
                ),
                "restore the file, or delete it and run again: a new one is taken (etcd is still locked)",
            ));
        }
        self.backup_checked = Some(path.clone());
        Ok(path)
    }
}

fn copy_summary(copied: &ImportReport) -> String {
    let sum = |f: fn(&super::import::KindResult) -> u64| copied.kinds.iter().map(f).sum::<u64>();
    let against = if copied.baseline {
        " (compared with the pre-copy's ledger)"
    } else {
        ""
    };
    format!(
        "{} created, {} updated, {} deleted, {} unchanged in {:.1}s{against}",
        sum(|k| k.created),
        sum(|k| k.updated),
        sum(|k| k.deleted),
        sum(|k| k.unchanged),
        copied.seconds
    )
}

/// The migration's copy of etcd into `file`: everything, with its node map; `unlocked` for the
/// pre-copy, taken before the lock.
fn full_export(
    file: PathBuf,
    unlocked: bool,
    journal: &Journal,
    options: &RunOptions,
) -> ExportOptions {
    ExportOptions {
        full: true,
        file: Some(file),
        allow_unlocked: unlocked,
        etcd: reading(journal, options),
    }
}

/// How the migration reads etcd: with the node map its journal recorded.
fn reading(journal: &Journal, options: &RunOptions) -> Reading {
    Reading {
        node_map: journal.node_map.clone(),
        page_size: options.etcd.page_size,
    }
}

/// What `calico-config` says of etcd now, before the manifest replaces it.
async fn saved_etcd(session: &Session, rest: &Rest) -> Result<SavedEtcd, Error> {
    let name = &session.etcd.etcd_config_map;
    let found = rest
        .get(&format!(
            "/api/v1/namespaces/{}/configmaps/{name}",
            session.namespace
        ))
        .await
        .map_err(|e| rest_failure(&format!("reading ConfigMap {name}"), e))?;
    let data = found
        .as_ref()
        .map(|c| crate::convert::string_map(c.get("data")))
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| {
            ["etcd_endpoints", "etcd_ca", "etcd_cert", "etcd_key"].contains(&k.as_str())
        })
        .collect();
    Ok(SavedEtcd {
        config_map: name.clone(),
        secret: session.etcd.etcd_secret.clone(),
        data,
    })
}

/// The node map of a resumed run: the journal's, unless nothing depends on it yet.
fn adopt_node_map(journal: &mut Journal, given: &BTreeMap<String, String>) -> Result<(), Error> {
    if given.is_empty() || *given == journal.node_map {
        return Ok(());
    }
    if journal.step < Step::PreCopied {
        journal.node_map = given.clone();
        return Ok(());
    }
    Err(Error::failed(
        "--node-map differs from the node map this migration was started with",
        "run again without --node-map (the journal keeps the first one), or roll back and start over",
    ))
}

fn lock_window(journal: &Journal) -> Option<LockWindow> {
    let locked_at = journal.times.etcd_locked_at.clone()?;
    let verified_at = journal.times.verified_at.clone()?;
    let parse = |t: &str| t.parse::<jiff::Timestamp>().ok();
    let seconds = match (parse(&locked_at), parse(&verified_at)) {
        (Some(a), Some(b)) => (b - a).total(jiff::Unit::Second).unwrap_or(0.0),
        _ => 0.0,
    };
    Some(LockWindow {
        seconds,
        locked_at,
        verified_at,
    })
}

/// The time now, with the sub-second precision the lock window needs.
fn now() -> String {
    jiff::Timestamp::now().to_string()
}

/// Where the pre-copy's ledger is kept: a file of the machine's temporary directory named
/// after the migration's start and this process (it holds object names, resourceVersions and
/// digests, no Calico data).
fn pre_copy_ledger_path(started: &str) -> PathBuf {
    let stamp: String = started
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let process = std::process::id();
    std::env::temp_dir().join(format!("calico-migrate-precopy-{stamp}-{process}.ledger"))
}

fn default_backup_path() -> PathBuf {
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    PathBuf::from(format!("calico-etcd-backup-{stamp}.export"))
}

fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// The command that resumes this run (the journal remembers the rest).
fn resume_command(session: &Session, options: &RunOptions) -> String {
    let mut command = format!(
        "run --manifest {}",
        crate::console::shell_word(&options.manifest.display().to_string())
    );
    if let Some(backup) = &options.backup {
        command.push_str(&format!(
            " --backup {}",
            crate::console::shell_word(&backup.display().to_string())
        ));
    }
    if options.yes {
        command.push_str(" --yes");
    }
    session.command(&command)
}

fn with_resume_hint(error: Error, resume: &str, rollback: &str) -> Error {
    let hint = error.hint().unwrap_or_default();
    let message = error.to_string();
    Error::failed(
        message,
        format!(
            "{}{}fix the cause, then `{resume}` resumes from this step; `{rollback}` (with your etcd manifest) backs out while the Kubernetes datastore is locked",
            hint,
            if hint.is_empty() { "" } else { "; then " }
        ),
    )
}

fn rest_failure(doing: &str, error: crate::kdd::rest::RestError) -> Error {
    Error::failed(
        format!("{doing}: {error}"),
        "check the connection and the permissions (deploy/rbac.yaml)",
    )
}

/// The tests' way to interrupt a run just before a step.
pub(crate) fn pause_if_asked(step: &str) {
    if std::env::var(PAUSE_BEFORE).is_ok_and(|v| v == step) {
        eprintln!("paused before {step}");
        // With `RESUME_WHEN`, going on once that file exists; else until killed.
        if let Some(file) = std::env::var_os(RESUME_WHEN) {
            while !Path::new(&file).exists() {
                std::thread::sleep(Duration::from_millis(20));
            }
            return;
        }
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}
