//! Import: writes an export file (ours or calicoctl's) into the Kubernetes datastore.
//!
//! It works in two passes over the file, so that nothing is written before everything is known:
//!
//! 1. **Plan.** Every object is converted and, kind by kind, compared with what the target holds
//!    (read with paged LISTs, not object by object). Each gets a decision: create, update,
//!    unchanged, or conflict (the target holds other content the migration may not replace).
//!    Objects the target's CRD schema would refuse are found here, after the repairs that lose
//!    nothing (fractional durations, repeats in sets). With `sync`, objects the migration wrote
//!    earlier that the file no longer has are planned for deletion (and only those: the
//!    migration's field manager must be their only one). Any problem stops the import here,
//!    all problems listed, with nothing changed.
//! 2. **Write.** CRDs installed, the target locked, then only the planned writes, kind by kind
//!    in file order (IPAM last), deletions at the end in reverse order. Writes are admitted by
//!    an adaptive concurrency limit that follows the server's latency and 429s.
//!
//! Running it again after any interruption finishes the job: what is there already counts as
//! done, and the re-run costs about as much as a verify.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;
use tokio::task::JoinSet;

use crate::atomic_file::AtomicFile;
use crate::console::Progress;
use crate::convert::cluster_info::datastore_ready;
use crate::convert::compare::{compare, compare_node};
use crate::convert::kdd::{Desired, TargetRelease, cluster_information_fields};
use crate::convert::merge::Merge;
use crate::convert::schema::Schema;
use crate::error::{Blocker, Error};
use crate::format::export_reader::ReadError;
use crate::kdd::KddStore;
use crate::kdd::crds;
use crate::kdd::ledger::{self, Ledger, Recorded, Seen};
use crate::kdd::rest::Rest;
use crate::kdd::target::{Listed, TargetIndex};
use crate::kdd::writer::{Action, WriteOutcome, Writer, Written};
use crate::kinds::{ApiChoice, CalicoKind, CrdApi, CrdApiRequest, Role};
use crate::permissions;
use crate::sample::Sample;
use crate::session::Session;
use crate::source;
use crate::source::file::{Compact, Group, Groups};

/// How long new CRDs may take to become Established.
const CRD_WAIT: std::time::Duration = std::time::Duration::from_secs(60);
/// Problems listed in full; the rest are counted.
const LISTED: usize = 100;
/// Write tasks started ahead of the concurrency limit (they wait for a place).
const QUEUED_WRITES: usize = 256;
/// Namespace lookups in flight at once (API Priority and Fairness gives a priority level a few
/// dozen seats and queues of 50).
const LOOKUPS_AT_ONCE: usize = 16;

#[derive(Clone, Debug)]
pub struct ImportOptions {
    pub file: PathBuf,
    /// How hard the writes may push the API server.
    pub pace: Pace,
    /// Replace objects whose content differs, whoever wrote them.
    pub overwrite: bool,
    /// The Calico version the cluster runs after the migration (default: the file's).
    pub calico_version: Option<String>,
    /// Plan and report, but write nothing.
    pub dry_run: bool,
    /// Make the target follow the file: also update and delete what the migration wrote
    /// earlier (a pre-copy) and the file no longer holds that way.
    pub sync: bool,
    /// Leave out objects the target's schema refuses (kept in a side file) instead of stopping.
    pub skip_invalid: bool,
    /// The file is a copy taken while etcd was unlocked on purpose (a pre-copy or a plan): do
    /// not warn that it may be stale.
    pub source_may_be_unlocked: bool,
    /// The API group to write to (`--crd-api`).
    pub crd_api: CrdApiRequest,
    /// Keep a ledger of the resourceVersion at which each object was found or written equal
    /// to the file, for a verify that lists the target again instead of reading the file.
    pub ledger: bool,
    /// Compare with what an earlier copy recorded (its ledger) instead of listing the target:
    /// an object whose digest the ledger has is taken as equal at the resourceVersion it
    /// records; the rest is written. Only a verify by ledger afterwards proves the result.
    pub baseline: Option<Arc<Ledger>>,
}

/// How hard a stage's writes may push the API server.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// Writes in flight at most (the limit adapts below it).
    pub concurrency: usize,
    /// Client-side limit on requests per second.
    pub qps: Option<f64>,
}

impl Default for Pace {
    fn default() -> Self {
        Pace {
            concurrency: crate::kdd::rest::DEFAULT_MAX_CONCURRENCY,
            qps: None,
        }
    }
}

impl ImportOptions {
    /// The arguments of the `import` command that does this again.
    pub fn command(&self) -> String {
        let mut command = format!(
            "import -f {}",
            crate::console::shell_word(&self.file.display().to_string())
        );
        if let Some(version) = &self.calico_version {
            command.push_str(&format!(" --calico-version {version}"));
        }
        if let CrdApiRequest::Given(api) = self.crd_api {
            command.push_str(&format!(" --crd-api {}", api.version()));
        }
        if self.skip_invalid {
            command.push_str(" --skip-invalid");
        }
        command
    }

    pub fn new(file: PathBuf) -> ImportOptions {
        ImportOptions {
            file,
            pace: Pace::default(),
            overwrite: false,
            calico_version: None,
            dry_run: false,
            sync: false,
            skip_invalid: false,
            source_may_be_unlocked: false,
            crd_api: CrdApiRequest::Auto,
            ledger: false,
            baseline: None,
        }
    }
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
    pub deleted: u64,
    pub conflicts: u64,
    pub failed: u64,
    pub invalid: u64,
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
    /// The command that runs this import again, as the user started it.
    #[serde(skip)]
    pub rerun: String,
    pub target_calico_version: Option<String>,
    /// The API group written to, and why.
    pub crd_api: Option<ApiChoice>,
    pub dry_run: bool,
    pub sync: bool,
    /// Compared with an earlier copy's ledger instead of listing the target.
    pub baseline: bool,
    pub crds_created: Vec<String>,
    /// With `dry_run`: the Calico CRDs the import would install.
    pub crds_missing: Vec<String>,
    pub kinds: Vec<KindResult>,
    pub conflicts: Vec<Problem>,
    pub failures: Vec<Problem>,
    /// Objects the target's schema refuses (left out with `skip_invalid`).
    pub invalid: Vec<Problem>,
    /// Where the objects left out were kept.
    pub skipped_file: Option<String>,
    pub nodes_not_found: Vec<String>,
    /// Objects the file has several entries for: the last entry was written.
    pub merged: Vec<Merge>,
    /// Fields of the file the target's CRDs do not know (the API server drops them), per kind
    /// and field, with how many objects had them.
    pub dropped_fields: BTreeMap<String, u64>,
    /// Values repaired so that the target's schema accepts them.
    pub rewritten: Vec<String>,
    pub warnings: Vec<String>,
    /// Objects the target holds that the file does not, per kind (reported, never deleted).
    pub only_in_target: Vec<Extra>,
    /// Whether this import locked the Kubernetes datastore (it was not locked before).
    pub locked_datastore: bool,
    /// Requests sent to write (creates, updates, deletes, Node patches).
    pub writes: u64,
    pub retries: u64,
    /// 429 answers (the server's API Priority and Fairness asked the client to slow down).
    pub throttled: u64,
    /// The adaptive write concurrency at the end.
    pub concurrency: usize,
    pub plan_seconds: f64,
    pub write_seconds: f64,
    pub seconds: f64,
    pub objects_per_second: f64,
    pub completed: bool,
    /// With `ImportOptions::ledger`: what the import saw of every object.
    #[serde(skip)]
    pub ledger: Option<Ledger>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Extra {
    pub kind: &'static str,
    #[serde(flatten)]
    pub objects: Sample,
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
        let rerun = &self.rerun;
        if conflicts > 0 && !self.completed {
            return Some(Error::failed(
                format!(
                    "{conflicts} object(s) already exist in the Kubernetes datastore with different content; nothing was written"
                ),
                format!(
                    "compare them above; to replace them with the file's content run `{rerun} --overwrite`"
                ),
            ));
        }
        if conflicts > 0 {
            return Some(Error::failed(
                format!(
                    "{conflicts} object(s) changed in the Kubernetes datastore while the import ran and were left as they are"
                ),
                format!(
                    "compare them above, then run `{rerun}` again (with --overwrite to replace them)"
                ),
            ));
        }
        if failed > 0 {
            let forbidden = self
                .failures
                .iter()
                .flat_map(|f| &f.details)
                .find(|detail| detail.contains("(403 Forbidden)"));
            let cause = match forbidden {
                Some(detail) => permissions::forbidden_hint(detail),
                None => "fix the cause shown above".to_string(),
            };
            return Some(Error::failed(
                format!(
                    "{failed} object(s) could not be written; the import stopped before the next kind"
                ),
                format!(
                    "{cause}; then run `{rerun}` again: what was written is kept and counted as done"
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

/// What the plan decided for one kind.
struct KindPlan {
    kind: &'static CalicoKind,
    writes: HashMap<String, Action>,
    /// The objects to write, in file order, while the plan keeps them (`Plan::kept_bytes`).
    kept: Vec<(String, Compact)>,
    deletes: Vec<(String, Action)>,
}

/// What the first pass learnt.
struct Plan {
    kinds: Vec<KindPlan>,
    cluster_information: Value,
    namespaces: BTreeSet<String>,
    /// Objects left out, as the objects that would have been written.
    skipped: Vec<Value>,
    /// The size of the objects kept for the writes; None once they would pass `KEEP_BYTES`
    /// (the write pass then reads the file again instead).
    kept_bytes: Option<usize>,
}

/// The objects a plan keeps for its writes at most: a delta's few, not a first copy's all.
const KEEP_BYTES: usize = 16 << 20;

/// An import planned and checked, nothing written yet.
pub struct Prepared {
    pub report: ImportReport,
    /// What stops it; it writes only when there is nothing.
    pub blockers: Vec<Blocker>,
    plan: Plan,
    options: ImportOptions,
    target: TargetRelease,
    writer: Arc<Writer>,
    store: KddStore,
    started: Instant,
}

pub async fn import(session: &Session, options: &ImportOptions) -> Result<ImportReport, Error> {
    let mut prepared = prepare(session, options).await?;
    // What the user may not do stops the import before anything is written, too. When the
    // server cannot say (SelfSubjectAccessReview refused), the writes find out, and say so.
    let rest = session.rest(None).await?;
    let denied = permissions::denied(
        &rest,
        &permissions::import(prepared.target.api, options.sync),
        &session.namespace,
    )
    .await
    .unwrap_or_default();
    prepared
        .blockers
        .splice(0..0, denied.iter().map(permissions::blocker));
    if !prepared.blockers.is_empty() {
        return Err(Error::blocked(
            format!(
                "cannot import {}; nothing was changed",
                options.file.display()
            ),
            prepared.blockers,
        ));
    }
    prepared.write(&session.progress).await
}

/// The first pass: reads the file and the target and decides every write; changes nothing.
pub async fn prepare(session: &Session, options: &ImportOptions) -> Result<Prepared, Error> {
    let progress = &session.progress;
    let started = Instant::now();
    let path = &options.file;
    let source_info = source::file::peek_cluster_information(path);
    let to = super::destination(session, options, source_info.as_ref()).await?;
    let (store, choice, target, note) = (to.store, to.choice, to.target, to.note);
    let mut rest = session.rest(options.pace.qps).await?;
    rest.set_max_concurrency(options.pace.concurrency);
    let schemas = super::target_schemas(&rest, &target).await?;
    let writer = Arc::new(Writer::new(
        rest.clone(),
        target.api,
        schemas,
        options.overwrite,
    ));
    let mut report = ImportReport {
        file: path.display().to_string(),
        rerun: session.command(&options.command()),
        target_calico_version: target.version.map(|v| v.to_string()),
        crd_api: Some(choice),
        dry_run: options.dry_run,
        sync: options.sync,
        baseline: options.baseline.is_some(),
        ledger: options.ledger.then(Ledger::default),
        ..Default::default()
    };
    report.warnings.extend(note);
    if let Some(caveat) = target.release.caveat() {
        report.warnings.push(caveat);
    }
    let plan = plan(path, &target, &writer, options, progress, &mut report).await?;
    report.plan_seconds = started.elapsed().as_secs_f64();
    if datastore_ready(&plan.cluster_information) == Some(true) && !options.source_may_be_unlocked {
        report.warnings.push(
            "the export was taken from an unlocked etcd datastore: objects changed since then are not in it".into(),
        );
    }
    let mut blockers = Vec::new();
    if !report.invalid.is_empty() && !options.skip_invalid {
        blockers.push(invalid_blocker(&report));
    }
    blockers.extend(missing_namespaces(&rest, &plan.namespaces).await?);
    blockers.extend(unlocked_target(&store).await?);
    let served = store.crd_state().await?;
    if target.api == CrdApi::V3 && served.groups.v1 {
        report.warnings.push(format!(
            "the cluster also serves {}: while it does, Calico's components use it and not the native v3 CRDs this import writes, unless they run with CALICO_API_GROUP={}",
            CrdApi::V1.group(),
            CrdApi::V3.api_version()
        ));
    }
    let missing = served.missing();
    report.crds_missing = crds::manifests(target.api, &target.release)
        .into_iter()
        .map(|(kind, _)| target.api.plural(kind))
        .filter(|plural| missing.contains(plural))
        .map(str::to_string)
        .collect();
    Ok(Prepared {
        report,
        blockers,
        plan,
        options: options.clone(),
        target,
        writer,
        store,
        started,
    })
}

impl Prepared {
    /// The second pass: installs the CRDs, locks the target and writes what was planned.
    /// Writes nothing on a dry run or when the plan found conflicts.
    pub async fn write(self, progress: &Progress) -> Result<ImportReport, Error> {
        let Prepared {
            mut report,
            blockers,
            plan,
            options,
            target,
            writer,
            store,
            started,
        } = self;
        if !blockers.is_empty() {
            return Err(Error::blocked(
                format!(
                    "cannot import {}; nothing was changed",
                    options.file.display()
                ),
                blockers,
            ));
        }
        let path = &options.file;
        let rest = writer.rest().clone();
        if options.skip_invalid && !plan.skipped.is_empty() {
            report.skipped_file = Some(keep_skipped(path, &plan.skipped)?);
        }
        let conflicts: u64 = report.kinds.iter().map(|k| k.conflicts).sum();
        if options.dry_run || conflicts > 0 {
            report.seconds = started.elapsed().as_secs_f64();
            return Ok(report);
        }
        let written_at = Instant::now();
        let installed = install_crds(&rest, &target, progress).await?;
        report.crds_created = installed.created.clone();
        report.crds_missing.clear();
        let (guid, version) = cluster_information_fields(&plan.cluster_information);
        let lock = store
            .lock_for_import(guid.as_deref(), version.as_deref())
            .await?;
        report.locked_datastore = lock.ready_before != Some(false);
        write(path, &target, &plan, &writer, progress, &mut report).await?;
        report.write_seconds = written_at.elapsed().as_secs_f64();
        report.retries = rest.retries();
        report.throttled = rest.throttled();
        report.concurrency = rest.concurrency();
        report.seconds = started.elapsed().as_secs_f64();
        report.objects_per_second = if report.seconds > 0.0 {
            report.handled() as f64 / report.seconds
        } else {
            0.0
        };
        Ok(report)
    }
}

/// The first pass: every object converted, repaired, checked, and compared with the target.
async fn plan(
    path: &Path,
    target: &TargetRelease,
    writer: &Writer,
    options: &ImportOptions,
    progress: &Progress,
    report: &mut ImportReport,
) -> Result<Plan, Error> {
    let rest = writer.rest();
    let schemas = writer.schemas();
    let mut plan = Plan {
        kinds: Vec::new(),
        cluster_information: source::file::peek_cluster_information(path).unwrap_or(Value::Null),
        namespaces: BTreeSet::new(),
        skipped: Vec::new(),
        kept_bytes: Some(0),
    };
    let mut groups = Groups::open(path.to_path_buf(), target.clone());
    while let Some(group) = groups.next().await {
        let spinner = progress.spinner(&format!("Comparing {}", group.name));
        let result = report.result(group.name);
        result.total = group.objects.len() as u64 + group.errors.len() as u64;
        result.invalid += group.errors.len() as u64;
        for error in &group.errors {
            if report.invalid.len() < LISTED {
                report.invalid.push(Problem {
                    object: error.object.clone(),
                    details: vec![error.reason.clone()],
                });
            }
        }
        report.merged.extend(group.merges());
        let Some(kind) = group.kind else {
            continue;
        };
        let baseline = match &options.baseline {
            Some(ledger) => Baseline::Recorded(ledger.recorded(kind)),
            None => Baseline::Listed(TargetIndex::list(rest, writer.api(), kind).await.map_err(
                |e| {
                    Error::failed(
                        format!(
                            "listing {} in the Kubernetes datastore: {e}",
                            writer.api().plural(kind)
                        ),
                        "check RBAC access to Calico's custom resources and Nodes",
                    )
                },
            )?),
        };
        let kind_plan = plan_kind(
            kind,
            &group,
            baseline,
            schemas.get(kind.plural),
            writer,
            options,
            &mut plan,
            report,
        );
        spinner.finish_and_clear();
        plan.kinds.push(kind_plan);
    }
    finished_reading(groups, path)?;
    // A kind the earlier copy wrote and the file no longer has at all: all of it is deleted.
    if let Some(ledger) = options.baseline.as_ref().filter(|_| options.sync) {
        for kind in crate::kinds::KINDS {
            if plan.kinds.iter().any(|k| k.kind.kind == kind.kind) {
                continue;
            }
            let recorded = ledger.recorded(kind);
            if recorded.is_empty() {
                continue;
            }
            let kind_plan = plan_kind(
                kind,
                &Group::empty(kind),
                Baseline::Recorded(recorded),
                schemas.get(kind.plural),
                writer,
                options,
                &mut plan,
                report,
            );
            plan.kinds.push(kind_plan);
        }
    }
    Ok(plan)
}

/// What one kind's objects are compared with: the target's listing, or what an earlier copy
/// recorded of them (`ImportOptions::baseline`).
enum Baseline {
    Listed(TargetIndex),
    Recorded(HashMap<String, Recorded>),
}

/// Decides every object of one kind against its baseline.
#[allow(clippy::too_many_arguments)]
fn plan_kind(
    kind: &'static CalicoKind,
    group: &Group,
    mut baseline: Baseline,
    schema: Option<&Schema>,
    writer: &Writer,
    options: &ImportOptions,
    plan: &mut Plan,
    report: &mut ImportReport,
) -> KindPlan {
    let mut kind_plan = KindPlan {
        kind,
        writes: HashMap::new(),
        kept: Vec::new(),
        deletes: Vec::new(),
    };
    let with_digest = report.ledger.is_some() || options.baseline.is_some();
    for (name, compact) in group.objects() {
        let mut desired = compact.desired();
        if let Desired::Resource { object, .. } = &mut desired {
            for repair in writer.prepare(kind, object) {
                report
                    .rewritten
                    .push(format!("{} {name}: {repair}", kind.kind));
            }
        }
        if let Some(namespace) = desired.namespace() {
            plan.namespaces.insert(namespace.to_string());
        }
        let digest = with_digest.then(|| ledger::digest(&desired));
        let (decision, seen_version) = match &mut baseline {
            Baseline::Listed(index) => {
                let listed = index.take(name);
                let version = listed.as_ref().and_then(|l| l.resource_version.clone());
                let decision = decide_listed(kind, &desired, listed, schema, writer, report);
                (decision, version)
            }
            Baseline::Recorded(recorded) => {
                let recorded = recorded.remove(name);
                decide_recorded(&desired, recorded, digest, schema)
            }
        };
        if let Some(ledger) = report.ledger.as_mut() {
            note_planned(ledger, kind, name, &desired, &decision, seen_version);
            if let Some(digest) = digest {
                ledger.note_digest(kind, name.clone(), digest);
            }
        }
        let result = report.result(group.name);
        match decision {
            Decision::Unchanged => result.unchanged += 1,
            Decision::Write(action) => {
                kind_plan.writes.insert(name.clone(), action);
                plan.kept_bytes = plan
                    .kept_bytes
                    .map(|kept| kept + compact.size())
                    .filter(|kept| *kept <= KEEP_BYTES);
                if plan.kept_bytes.is_some() {
                    kind_plan.kept.push((name.clone(), compact.clone()));
                } else {
                    kind_plan.kept = Vec::new();
                }
            }
            Decision::Invalid(causes) => {
                result.invalid += 1;
                if report.invalid.len() < LISTED {
                    report.invalid.push(Problem {
                        object: format!("{} {name}", kind.kind),
                        details: causes,
                    });
                }
                if options.skip_invalid
                    && let Desired::Resource { object, .. } = desired
                {
                    plan.skipped.push(object);
                }
            }
            Decision::NodeNotFound => {
                result.nodes_not_found += 1;
                report.nodes_not_found.push(name.clone());
            }
            Decision::Conflict(details) => {
                result.conflicts += 1;
                if report.conflicts.len() < LISTED {
                    report.conflicts.push(Problem {
                        object: format!("{} {name}", kind.kind),
                        details,
                    });
                }
            }
        }
    }
    match baseline {
        Baseline::Listed(index) => plan_leftovers(kind, index, options, &mut kind_plan, report),
        Baseline::Recorded(recorded) if options.sync => {
            // What the earlier copy wrote or found and the file no longer has.
            let mut leftovers: Vec<(String, Recorded)> = recorded.into_iter().collect();
            leftovers.sort_by(|a, b| a.0.cmp(&b.0));
            for (name, recorded) in leftovers {
                let resource_version = match recorded.seen {
                    Seen::At(version) => Some(version),
                    Seen::Node { .. } => None,
                    Seen::Gone => continue,
                };
                kind_plan
                    .deletes
                    .push((name, Action::Delete { resource_version }));
            }
        }
        Baseline::Recorded(_) => {}
    }
    kind_plan
}

/// The decision for one object against the target's listing of it.
fn decide_listed(
    kind: &'static CalicoKind,
    desired: &Desired,
    listed: Option<Listed>,
    schema: Option<&Schema>,
    writer: &Writer,
    report: &mut ImportReport,
) -> Decision {
    match desired {
        Desired::Resource { object, .. } => {
            // What the target already holds as the file has it needs no write, so no
            // check either: the server accepted it. A re-run costs what a verify costs.
            let comparison = listed
                .as_ref()
                .map(|listed| compare(object, &listed.object(), schema));
            if let Some(comparison) = &comparison {
                for field in &comparison.dropped_by_schema {
                    *report
                        .dropped_fields
                        .entry(format!("{} {field}", kind.kind))
                        .or_default() += 1;
                }
            }
            let (listed, comparison) = match (listed, comparison) {
                (Some(_), Some(comparison)) if comparison.differences.is_empty() => {
                    return Decision::Unchanged;
                }
                (Some(listed), Some(comparison)) => (listed, comparison),
                _ => return checked(object, schema, Action::Create),
            };
            let update = Action::Update {
                resource_version: listed.resource_version,
            };
            match checked(object, schema, update) {
                Decision::Write(_) if !writer.may_replace(listed.ours) => Decision::Conflict(
                    comparison
                        .differences
                        .iter()
                        .take(10)
                        .map(|d| d.to_string())
                        .collect(),
                ),
                decision => decision,
            }
        }
        Desired::NodeAnnotations { .. } => match listed {
            None => Decision::NodeNotFound,
            Some(listed) => {
                let differences = compare_node(desired, &listed.annotations());
                let clashes: Vec<String> = differences
                    .iter()
                    .filter(|d| d.actual.is_some())
                    .map(|d| d.to_string())
                    .collect();
                if differences.is_empty() {
                    Decision::Unchanged
                } else if !clashes.is_empty() && !writer.may_replace(listed.ours) {
                    Decision::Conflict(clashes)
                } else {
                    Decision::Write(Action::Update {
                        resource_version: listed.resource_version,
                    })
                }
            }
        },
    }
}

/// The decision for one object against what an earlier copy recorded of it, with the
/// resourceVersion it is taken to be equal at. The same digest means the object is what the
/// copy found or made equal then; any other object is written, and a write that meets a newer
/// version judges that one again (the writer's reconcile).
fn decide_recorded(
    desired: &Desired,
    recorded: Option<Recorded>,
    digest: Option<ledger::Digest>,
    schema: Option<&Schema>,
) -> (Decision, Option<String>) {
    let same = recorded
        .as_ref()
        .is_some_and(|r| r.digest.is_some() && r.digest == digest);
    let seen = recorded.map(|r| r.seen);
    match (desired, seen) {
        (_, Some(Seen::At(version))) if same => (Decision::Unchanged, Some(version)),
        (Desired::NodeAnnotations { .. }, Some(Seen::Node { .. })) if same => {
            (Decision::Unchanged, None)
        }
        (Desired::NodeAnnotations { .. }, _) => (
            Decision::Write(Action::Update {
                resource_version: None,
            }),
            None,
        ),
        (Desired::Resource { object, .. }, Some(Seen::At(version))) => (
            checked(
                object,
                schema,
                Action::Update {
                    resource_version: Some(version),
                },
            ),
            None,
        ),
        (Desired::Resource { object, .. }, _) => (checked(object, schema, Action::Create), None),
    }
}

/// `action` for an object the target's schema accepts.
fn checked(object: &Value, schema: Option<&Schema>, action: Action) -> Decision {
    let causes = schema.map(|s| s.causes(object)).unwrap_or_default();
    if causes.is_empty() {
        Decision::Write(action)
    } else {
        Decision::Invalid(causes)
    }
}

/// What the target has beyond the file: deleted when the migration wrote it (a sync), else
/// reported.
fn plan_leftovers(
    kind: &'static CalicoKind,
    index: TargetIndex,
    options: &ImportOptions,
    kind_plan: &mut KindPlan,
    report: &mut ImportReport,
) {
    // What the target has beyond the file.
    let mut extra = Extra {
        kind: kind.kind,
        objects: Sample::default(),
    };
    let mut leftovers: Vec<(String, Listed)> = index.objects.into_iter().collect();
    leftovers.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, listed) in leftovers {
        let is_node = kind.role == Role::Node;
        if is_node && !has_calico_annotations(&listed) {
            continue;
        }
        if crds::is_builtin(kind, &name) {
            continue;
        }
        if options.sync && listed.ours {
            kind_plan.deletes.push((
                name,
                Action::Delete {
                    resource_version: listed.resource_version,
                },
            ));
        } else if !is_node {
            extra.objects.add(|| name);
        }
    }
    if extra.objects.count > 0 {
        report.only_in_target.push(extra);
    }
}

/// What the plan saw of one object, for the ledger: an object found equal, and the Calico
/// annotations every Node must end with (the writes note the rest as they are answered).
fn note_planned(
    ledger: &mut Ledger,
    kind: &'static CalicoKind,
    name: &str,
    desired: &Desired,
    decision: &Decision,
    seen_version: Option<String>,
) {
    match (desired, decision) {
        (
            Desired::NodeAnnotations { set, remove, .. },
            Decision::Unchanged | Decision::Write(_),
        ) => {
            let (set, remove) = (set.clone(), remove.clone());
            ledger.note(kind, name.to_string(), Seen::Node { set, remove });
        }
        (_, Decision::Unchanged) => {
            if let Some(version) = seen_version {
                ledger.note(kind, name.to_string(), Seen::At(version));
            }
        }
        _ => {}
    }
}

enum Decision {
    Unchanged,
    Write(Action),
    /// The target's schema refuses it, for these reasons.
    Invalid(Vec<String>),
    Conflict(Vec<String>),
    NodeNotFound,
}

fn has_calico_annotations(listed: &Listed) -> bool {
    let annotations = listed.annotations();
    crate::convert::kdd::NODE_MANAGED_ANNOTATIONS
        .iter()
        .any(|k| annotations.contains_key(*k))
}

/// The second pass: the planned writes, kind by kind in file order, then the deletions in
/// reverse order (policies before their tier). The objects to write come from the plan when it
/// kept them (a delta), else from reading the file again (a first copy).
async fn write(
    path: &Path,
    target: &TargetRelease,
    plan: &Plan,
    writer: &Arc<Writer>,
    progress: &Progress,
    report: &mut ImportReport,
) -> Result<(), Error> {
    let mut complete = true;
    if plan.kept_bytes.is_some() {
        for kind_plan in &plan.kinds {
            let objects = kind_plan.kept.iter().map(|(name, compact)| (name, compact));
            if !write_kind(kind_plan, objects, writer, progress, report).await {
                complete = false;
                break;
            }
        }
    } else if plan.kinds.iter().any(|k| !k.writes.is_empty()) {
        let plans: HashMap<&str, &KindPlan> = plan.kinds.iter().map(|k| (k.kind.kind, k)).collect();
        let mut groups = Groups::open(path.to_path_buf(), target.clone());
        while let Some(group) = groups.next().await {
            let Some(kind_plan) = plans.get(group.name) else {
                continue;
            };
            if !write_kind(kind_plan, group.objects(), writer, progress, report).await {
                complete = false;
                break;
            }
        }
        if complete {
            finished_reading(groups, path)?;
        }
    }
    for kind_plan in plan.kinds.iter().rev() {
        if !complete || kind_plan.deletes.is_empty() {
            continue;
        }
        let kind = kind_plan.kind;
        let deletes = kind_plan.deletes.iter().map(|(name, action)| {
            let nothing = match kind.role {
                Role::Node => Desired::NodeAnnotations {
                    node: name.clone(),
                    set: BTreeMap::new(),
                    remove: Vec::new(),
                },
                _ => Desired::Resource {
                    kind,
                    object: Value::Null,
                },
            };
            (name, action, Compact::Parsed(nothing))
        });
        let label = format!("Deleting {}", kind.kind);
        carry_out(
            kind,
            &label,
            kind_plan.deletes.len(),
            deletes,
            writer,
            progress,
            report,
        )
        .await;
    }
    report.completed = complete
        && report
            .kinds
            .iter()
            .all(|k| k.failed == 0 && k.conflicts == 0);
    Ok(())
}

type WriteTask = (&'static str, String, Written);

fn spawn_write(
    tasks: &mut JoinSet<WriteTask>,
    writer: &Arc<Writer>,
    kind: &'static CalicoKind,
    name: String,
    action: Action,
    compact: Compact,
) {
    let writer = Arc::clone(writer);
    tasks.spawn(async move {
        let desired = compact.desired();
        let written = writer.execute(kind, &name, &action, &desired).await;
        (kind.kind, name, written)
    });
}

async fn record_next(
    tasks: &mut JoinSet<WriteTask>,
    report: &mut ImportReport,
    bar: &indicatif::ProgressBar,
) {
    let Some(done) = tasks.join_next().await else {
        return;
    };
    bar.inc(1);
    report.writes += 1;
    let Ok((group, name, written)) = done else {
        report
            .warnings
            .push("a write task stopped unexpectedly".into());
        return;
    };
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
    if let Some(ledger) = report.ledger.as_mut()
        && let Some(kind) = CalicoKind::by_kind(group).filter(|k| k.role != Role::Node)
    {
        match (&written.outcome, &written.verified_at) {
            (WriteOutcome::Deleted, _) => ledger.note(kind, name.clone(), Seen::Gone),
            (_, Some(version)) => ledger.note(kind, name.clone(), Seen::At(version.clone())),
            _ => {}
        }
    }
    let label = format!("{group} {name}");
    let result = report.result(group);
    match written.outcome {
        WriteOutcome::Created => result.created += 1,
        WriteOutcome::Unchanged => result.unchanged += 1,
        WriteOutcome::Updated => result.updated += 1,
        WriteOutcome::Deleted => result.deleted += 1,
        WriteOutcome::Conflict(differences) => {
            result.conflicts += 1;
            if report.conflicts.len() < LISTED {
                let details = differences.iter().take(10).map(|d| d.to_string()).collect();
                report.conflicts.push(Problem {
                    object: label,
                    details,
                });
            }
        }
        WriteOutcome::Failed(error) => {
            result.failed += 1;
            if report.failures.len() < LISTED {
                report.failures.push(Problem {
                    object: label,
                    details: vec![error],
                });
            }
        }
        WriteOutcome::NodeNotFound => {
            result.nodes_not_found += 1;
            report.nodes_not_found.push(name);
        }
    }
}

/// Writes what the plan decided for one kind, of `objects` (the kind's objects in file order);
/// false when a write failed or met a conflict (later kinds may depend on this one, as policies
/// do on their tier: the import stops).
async fn write_kind<'a>(
    kind_plan: &KindPlan,
    objects: impl Iterator<Item = (&'a String, &'a Compact)>,
    writer: &Arc<Writer>,
    progress: &Progress,
    report: &mut ImportReport,
) -> bool {
    if kind_plan.writes.is_empty() {
        return true;
    }
    let kind = kind_plan.kind;
    let writes = objects.filter_map(|(name, compact)| {
        let action = kind_plan.writes.get(name)?;
        Some((name, action, compact.clone()))
    });
    let count = kind_plan.writes.len();
    carry_out(kind, kind.kind, count, writes, writer, progress, report).await;
    let result = report.result(kind.kind);
    result.failed == 0 && result.conflicts == 0
}

/// Carries out `count` writes of one kind with a progress bar, `QUEUED_WRITES` in flight.
async fn carry_out<'a>(
    kind: &'static CalicoKind,
    label: &str,
    count: usize,
    writes: impl Iterator<Item = (&'a String, &'a Action, Compact)>,
    writer: &Arc<Writer>,
    progress: &Progress,
    report: &mut ImportReport,
) {
    let bar = progress.bar(label, count as u64);
    let mut tasks = JoinSet::new();
    for (name, action, compact) in writes {
        while tasks.len() >= QUEUED_WRITES {
            record_next(&mut tasks, report, &bar).await;
        }
        spawn_write(
            &mut tasks,
            writer,
            kind,
            name.clone(),
            action.clone(),
            compact,
        );
    }
    while !tasks.is_empty() {
        record_next(&mut tasks, report, &bar).await;
    }
    bar.finish();
}

/// The reader's verdict on the file after a pass.
fn finished_reading(groups: Groups, path: &Path) -> Result<(), Error> {
    match groups.finish() {
        Ok(_) => Ok(()),
        Err(ReadError::Io { error, .. }) => {
            Err(Error::io(format!("reading {}", path.display()))(error))
        }
        Err(ReadError::Format(error)) => Err(Error::failed(
            error.to_string(),
            "nothing was changed in the cluster; correct the file where the message points, or recreate it with kubectl calico-migrate export",
        )),
        Err(ReadError::Callback(_)) => Err(Error::failed(
            "reading the file stopped unexpectedly",
            "run the import again",
        )),
    }
}

fn invalid_blocker(report: &ImportReport) -> Blocker {
    let count: u64 = report.kinds.iter().map(|k| k.invalid).sum();
    let mut problem = format!(
        "the file has {count} invalid object(s) (the Kubernetes datastore would refuse them):"
    );
    for invalid in &report.invalid {
        problem.push_str(&format!(
            "\n       {}: {}",
            invalid.object,
            invalid.details.join("; ")
        ));
    }
    if count > report.invalid.len() as u64 {
        problem.push_str(&format!(
            "\n       ... and {} more",
            count - report.invalid.len() as u64
        ));
    }
    Blocker::new(
        problem,
        format!(
            "fix these objects in etcd and export again, or leave them out: `{} --skip-invalid` keeps them in a side file",
            report.rerun
        ),
    )
}

/// Writes the objects left out next to the file (`FILE.skipped.yaml`), so that nothing is
/// lost silently; returns its path.
fn keep_skipped(path: &Path, skipped: &[Value]) -> Result<String, Error> {
    let mut name = path.as_os_str().to_owned();
    name.push(".skipped.yaml");
    let side = PathBuf::from(name);
    let mut text = String::from(
        "# Objects import left out because the Kubernetes datastore's CRD schemas refuse them.\n\
         # Fix them and create them with kubectl, or fix them in etcd and migrate again.\n",
    );
    for object in skipped {
        text.push_str("---\n");
        text.push_str(&go_compat::yaml::to_yaml(object));
    }
    let mut file =
        AtomicFile::create(&side).map_err(Error::io(format!("creating {}", side.display())))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .and_then(|_| file.commit())
        .map_err(Error::io(format!("writing {}", side.display())))?;
    Ok(side.display().to_string())
}

/// A Kubernetes datastore that is unlocked may be live: Calico may run on it already (a
/// migration that finished, or the wrong context), and writing into it would change live data
/// and lock it. Only a datastore without Calico data or one locked on purpose is written.
async fn unlocked_target(store: &KddStore) -> Result<Option<Blocker>, Error> {
    let served = store.crd_state().await?;
    let cluster_information = CalicoKind::by_kind("ClusterInformation").expect("in the table");
    if !served.serves(cluster_information) {
        return Ok(None);
    }
    let Some(info) = store.cluster_information().await? else {
        return Ok(None);
    };
    if datastore_ready(&info.data) == Some(false) {
        return Ok(None);
    }
    Ok(Some(Blocker::new(
        format!(
            "the Kubernetes datastore of context {:?} is unlocked (ClusterInformation/default datastoreReady is not false): Calico may be running on it, and an import would change live data",
            store.target().context
        ),
        "if this cluster is the migration's target, lock it first (kubectl calico-migrate lock --datastore kubernetes) and run the import again",
    )))
}

/// Namespaced objects need their namespace.
type NamespaceLookup = (String, Result<Option<Value>, crate::kdd::rest::RestError>);

/// The namespace of a finished lookup when it does not exist.
fn namespace_lookup(
    done: Option<Result<NamespaceLookup, tokio::task::JoinError>>,
) -> Result<Option<String>, Error> {
    let Some(Ok((namespace, found))) = done else {
        return Err(Error::failed(
            "a namespace lookup stopped unexpectedly",
            "run the command again",
        ));
    };
    match found {
        Ok(Some(_)) => Ok(None),
        Ok(None) => Ok(Some(namespace)),
        Err(e) => Err(Error::failed(
            format!("reading namespace {namespace}: {e}"),
            "check RBAC access to namespaces",
        )),
    }
}

async fn missing_namespaces(
    rest: &Rest,
    namespaces: &BTreeSet<String>,
) -> Result<Option<Blocker>, Error> {
    // One GET per namespace (the migration may get namespaces, not list them), a few at once:
    // more than a priority level's seats and queue get 429s and a second's wait each.
    let mut lookups = JoinSet::new();
    let mut missing = Vec::new();
    for namespace in namespaces {
        while lookups.len() >= LOOKUPS_AT_ONCE {
            missing.extend(namespace_lookup(lookups.join_next().await)?);
        }
        let rest = rest.clone();
        let namespace = namespace.clone();
        lookups.spawn(async move {
            let found = rest.get(&format!("/api/v1/namespaces/{namespace}")).await;
            (namespace, found)
        });
    }
    while let Some(done) = lookups.join_next().await {
        missing.extend(namespace_lookup(Some(done))?);
    }
    missing.sort();
    if missing.is_empty() {
        return Ok(None);
    }
    Ok(Some(Blocker::new(
        format!(
            "the file has namespaced Calico objects in namespace(s) the cluster does not have: {}",
            missing.join(", ")
        ),
        format!(
            "create them first (kubectl create namespace {}), or check that the kubeconfig points at the right cluster",
            missing.join(" ")
        ),
    )))
}

async fn install_crds(
    rest: &Rest,
    target: &TargetRelease,
    progress: &Progress,
) -> Result<crds::Installed, Error> {
    let (api, release) = (target.api, &target.release);
    let bar = progress.bar("Calico CRDs", crds::manifests(api, release).len() as u64);
    let installed = crds::ensure(rest, api, release, CRD_WAIT, |_| bar.inc(1))
        .await
        .map_err(|e| {
            Error::failed(
                e.to_string(),
                "check that you may create CustomResourceDefinitions (cluster-admin)",
            )
        })?;
    bar.finish();
    Ok(installed)
}
