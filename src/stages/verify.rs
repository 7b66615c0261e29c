//! Verify: proves, object by object, that the Kubernetes datastore holds what the source holds.
//! The source is the live etcd datastore (read and converted exactly as export does) or an export
//! file.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::console::Progress;
use crate::convert::compare::{compare, compare_node};
use crate::convert::kdd::{Desired, TargetRelease, cluster_information_fields};
use crate::convert::schema::Schema;
use crate::error::Error;
use crate::format::export_reader::ReadError;
use crate::format::export_writer::ExportWriter;
use crate::kdd::crds;
use crate::kdd::ledger::{Class, Ledger};
use crate::kdd::rest::Rest;
use crate::kdd::target::TargetIndex;
use crate::kinds::Role;
use crate::kinds::{ApiChoice, CrdApi, CrdApiRequest};
use crate::session::Session;
use crate::source;
use crate::source::file::Groups;

/// Differences listed in full; the rest are counted.
const LISTED: usize = 200;

#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// Compare with this export file instead of the live etcd datastore.
    pub file: Option<PathBuf>,
    /// The node map (as export was given it) and the keys per request.
    pub etcd: source::etcd::Reading,
    /// The Calico version the target's object names follow (default: the source's).
    pub calico_version: Option<String>,
    /// Objects only in the target that the migration did not write are listed, not counted as
    /// differences (run's check: they are someone else's and the migration leaves them alone).
    pub tolerate_foreign: bool,
    /// The API group to compare with (`--crd-api`).
    pub crd_api: CrdApiRequest,
}

#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KindCheck {
    pub kind: &'static str,
    pub source: u64,
    pub matching: u64,
    pub different: u64,
    pub missing: u64,
    pub only_in_target: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub kind: &'static str,
    pub name: String,
    /// One line per differing field (empty for missing objects).
    pub details: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub source: String,
    /// The API group compared with, and why.
    pub crd_api: Option<ApiChoice>,
    pub equal: bool,
    pub kinds: Vec<KindCheck>,
    pub different: Vec<Finding>,
    pub missing: Vec<Finding>,
    pub only_in_target: Vec<Finding>,
    /// With `tolerate_foreign`: objects only in the target that the migration did not write
    /// (someone else's; listed, not counted as differences).
    pub not_written: Vec<Finding>,
    /// Calico Nodes with no Kubernetes Node: import cannot migrate them, so they are not
    /// differences.
    pub nodes_not_in_kubernetes: Vec<String>,
    /// Fields of the source the target's CRD schema does not know (dropped by the API server;
    /// not a fault of the import), per kind and field.
    pub dropped_by_schema: BTreeMap<String, u64>,
    pub cluster_information: Vec<String>,
    /// Objects the source has several entries for: compared by their last entry, as import
    /// writes it.
    pub merged: Vec<crate::convert::merge::Merge>,
    pub warnings: Vec<String>,
    /// With a ledger: how the target was listed (`from the API server's watch cache`, or
    /// `page by page from etcd` where the cache could not answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listed: Option<String>,
}

impl VerifyReport {
    fn check(&mut self, kind: &'static str) -> &mut KindCheck {
        if let Some(index) = self.kinds.iter().position(|k| k.kind == kind) {
            return &mut self.kinds[index];
        }
        self.kinds.push(KindCheck {
            kind,
            ..Default::default()
        });
        self.kinds.last_mut().expect("just pushed")
    }

    fn find(list: &mut Vec<Finding>, kind: &'static str, name: String, details: Vec<String>) {
        if list.len() < LISTED {
            list.push(Finding {
                kind,
                name,
                details,
            });
        }
    }

    pub fn count_differences(&self) -> u64 {
        self.kinds
            .iter()
            .map(|k| k.different + k.missing + k.only_in_target)
            .sum::<u64>()
            + self.cluster_information.len() as u64
    }
}

pub async fn verify(session: &Session, options: &VerifyOptions) -> Result<VerifyReport, Error> {
    let mut report = VerifyReport::default();
    // The node map a migration recorded applies unless one is given.
    let mut options = options.clone();
    if options.file.is_none() && options.etcd.node_map.is_empty() {
        let rest = session.rest(None).await?;
        if let Some(stored) = crate::journal::Stored::load(&rest, &session.namespace).await? {
            options.etcd.node_map = stored.journal.node_map;
        }
    }
    let options = &options;
    // The live source is exported to a private temporary file with export's own code, so that
    // verify sees exactly what export would write.
    let mut _snapshot_dir = None;
    let path = match &options.file {
        Some(file) => {
            report.source = format!("file {}", file.display());
            file.clone()
        }
        None => {
            let dir = tempfile::Builder::new()
                .prefix("calico-migrate-verify")
                .tempdir()
                .map_err(Error::io("creating a temporary directory"))?;
            let path = dir.path().join("etcd-snapshot");
            let revision = snapshot_etcd(session, options, &path, &mut report).await?;
            _snapshot_dir = Some(dir);
            report.source = format!("etcd revision {revision}");
            path
        }
    };
    let source_info = source::file::peek_cluster_information(&path);
    let to = super::destination(session, options, source_info.as_ref()).await?;
    let (store, choice, target, note) = (to.store, to.choice, to.target, to.note);
    report.crd_api = Some(choice);
    report.warnings.extend(note);
    let rest = session.rest(None).await?;
    let schemas = super::target_schemas(&rest, &target).await?;
    check_objects(
        &path,
        target,
        &rest,
        &schemas,
        options.tolerate_foreign,
        &session.progress,
        &mut report,
    )
    .await?;
    if let Some(info) = source_info {
        check_cluster_information(&store, &info, &mut report).await?;
    }
    report.equal = report.count_differences() == 0;
    Ok(report)
}

/// Verifies a copy by its ledger (see [`Ledger`]): lists every kind again and finds each object
/// at the resourceVersion the copy compared it at (Nodes: with their Calico annotations), and
/// ClusterInformation as the file has it. Cheaper than [`verify`], which reads and converts the
/// file again; an object the ledger cannot vouch for is counted as a difference, which the
/// caller then looks at with the full comparison.
pub async fn verify_by_ledger(
    session: &Session,
    file: &Path,
    api: CrdApi,
    ledger: &Ledger,
) -> Result<VerifyReport, Error> {
    let mut report = VerifyReport {
        source: format!("file {} (as the copy compared it)", file.display()),
        ..Default::default()
    };
    let rest = session.rest(None).await?;
    let spinner = session.progress.spinner("Listing the target again");
    let proofs = ledger.check(&rest, api).await.map_err(|e| {
        Error::failed(
            format!("listing the Kubernetes datastore: {e}"),
            "check RBAC access to Calico's custom resources and Nodes",
        )
    })?;
    spinner.finish_and_clear();
    let from_etcd: Vec<&str> = proofs
        .iter()
        .filter(|p| !p.cached)
        .map(|p| p.kind)
        .collect();
    report.listed = Some(if from_etcd.is_empty() {
        "from the API server's watch cache".into()
    } else {
        format!("page by page from etcd ({})", from_etcd.join(", "))
    });
    for proof in proofs {
        let check = report.check(proof.kind);
        check.source += proof.source;
        check.matching += proof.matching;
        for unproven in proof.unproven {
            let check = report.check(proof.kind);
            let list = match unproven.class {
                Class::Different => {
                    check.different += 1;
                    &mut report.different
                }
                Class::Missing => {
                    check.missing += 1;
                    &mut report.missing
                }
                Class::OnlyInTarget => {
                    check.only_in_target += 1;
                    &mut report.only_in_target
                }
            };
            VerifyReport::find(list, proof.kind, unproven.name, vec![unproven.why]);
        }
        for name in proof.foreign {
            VerifyReport::find(&mut report.not_written, proof.kind, name, Vec::new());
        }
    }
    if let Some(info) = source::file::peek_cluster_information(file) {
        let store = session.kdd().await?.with_api(api);
        check_cluster_information(&store, &info, &mut report).await?;
    }
    report.equal = report.count_differences() == 0;
    Ok(report)
}

impl VerifyReport {
    /// The differences as an error (exit code 3); None when the datastores are equal.
    pub fn failure(&self) -> Option<Error> {
        (!self.equal).then(|| {
            Error::Differences(format!(
                "the Kubernetes datastore differs from the {} in {} place(s)",
                self.source,
                self.count_differences()
            ))
        })
    }
}

/// Reads the live etcd datastore as export does, into `path`; returns the revision.
async fn snapshot_etcd(
    session: &Session,
    options: &VerifyOptions,
    path: &Path,
    report: &mut VerifyReport,
) -> Result<i64, Error> {
    let mut connected = session.etcd().await?;
    let store = &mut connected.store;
    let mut header = source::etcd::open(store, &options.etcd).await?;
    // Everything etcd holds, not only what a calicoctl-compatible file carries.
    header.full = true;
    if let Some(problem) = header.node_problem.take() {
        return Err(problem);
    }
    if header.lock != crate::convert::cluster_info::LockState::Locked {
        report
            .warnings
            .push("the etcd datastore is not locked: it may have changed since the import".into());
    }
    let file =
        std::fs::File::create(path).map_err(Error::io(format!("creating {}", path.display())))?;
    let mut writer = ExportWriter::new(std::io::BufWriter::new(file), true);
    source::etcd::stream(store, &header, &session.progress, &mut writer).await?;
    writer
        .finish()
        .map_err(Error::io(format!("writing {}", path.display())))?;
    Ok(header.revision)
}

/// Compares every object of the source with the target, kind by kind: the target read with
/// paged LISTs, the source's objects grouped by the name they get (the last of several wins, as
/// import writes it).
async fn check_objects(
    path: &Path,
    target: TargetRelease,
    rest: &Rest,
    schemas: &HashMap<String, Schema>,
    tolerate_foreign: bool,
    progress: &Progress,
    report: &mut VerifyReport,
) -> Result<(), Error> {
    let api = target.api;
    let mut groups = Groups::open(path.to_path_buf(), target);
    while let Some(group) = groups.next().await {
        let kind_name = group.kind.map(|k| k.kind).unwrap_or("unknown kind");
        for error in &group.errors {
            report.check(kind_name).different += 1;
            VerifyReport::find(
                &mut report.different,
                kind_name,
                error.object.clone(),
                vec![error.reason.clone()],
            );
        }
        report.merged.extend(group.merges());
        let Some(kind) = group.kind else {
            continue;
        };
        let spinner = progress.spinner(kind.kind);
        let mut index = TargetIndex::list(rest, api, kind).await.map_err(|e| {
            Error::failed(
                format!("listing {}: {e}", api.plural(kind)),
                "check RBAC access to Calico's custom resources and Nodes",
            )
        })?;
        let schema = schemas.get(kind.plural);
        for (name, compact) in group.objects() {
            spinner.inc(1);
            report.check(kind.kind).source += 1;
            let listed = index.take(name);
            let differences = match (compact.desired(), listed) {
                (Desired::Resource { .. }, None) => {
                    report.check(kind.kind).missing += 1;
                    VerifyReport::find(&mut report.missing, kind.kind, name.clone(), vec![]);
                    continue;
                }
                (Desired::NodeAnnotations { .. }, None) => {
                    report.nodes_not_in_kubernetes.push(name.clone());
                    continue;
                }
                (Desired::Resource { mut object, .. }, Some(listed)) => {
                    if let Some(schema) = schema {
                        schema.repair(&mut object);
                    }
                    let comparison = compare(&object, &listed.object(), schema);
                    for field in comparison.dropped_by_schema {
                        *report
                            .dropped_by_schema
                            .entry(format!("{} {field}", kind.kind))
                            .or_default() += 1;
                    }
                    comparison.differences
                }
                (desired @ Desired::NodeAnnotations { .. }, Some(listed)) => {
                    compare_node(&desired, &listed.annotations())
                }
            };
            if differences.is_empty() {
                report.check(kind.kind).matching += 1;
            } else {
                report.check(kind.kind).different += 1;
                let details = differences.iter().map(|d| d.to_string()).collect();
                VerifyReport::find(&mut report.different, kind.kind, name.clone(), details);
            }
        }
        spinner.finish_and_clear();
        if kind.role != Role::Node {
            let mut extra: Vec<(String, bool)> = index
                .objects
                .into_iter()
                .filter(|(name, _)| !crds::is_builtin(kind, name))
                .map(|(name, listed)| (name, listed.ours))
                .collect();
            extra.sort();
            for (name, ours) in extra {
                if ours || !tolerate_foreign {
                    report.check(kind.kind).only_in_target += 1;
                    VerifyReport::find(&mut report.only_in_target, kind.kind, name, vec![]);
                } else {
                    VerifyReport::find(&mut report.not_written, kind.kind, name, vec![]);
                }
            }
        }
    }
    match groups.finish() {
        Ok(_) => Ok(()),
        Err(ReadError::Format(e)) => Err(Error::failed(
            e.to_string(),
            "correct the file where the message points, or recreate it with kubectl calico-migrate export",
        )),
        Err(ReadError::Io { error, .. }) => {
            Err(Error::io(format!("reading {}", path.display()))(error))
        }
        Err(ReadError::Callback(_)) => Err(Error::failed(
            "reading the source stopped unexpectedly",
            "run verify again",
        )),
    }
}

async fn check_cluster_information(
    store: &crate::kdd::KddStore,
    source: &Value,
    report: &mut VerifyReport,
) -> Result<(), Error> {
    let (guid, version) = cluster_information_fields(source);
    let target = store.cluster_information().await.ok().flatten();
    let Some(target) = target else {
        report
            .cluster_information
            .push("ClusterInformation/default is missing in the Kubernetes datastore".into());
        return Ok(());
    };
    let (target_guid, target_version) = cluster_information_fields(&target.data);
    if guid.is_some() && guid != target_guid {
        report.cluster_information.push(format!(
            "ClusterInformation clusterGUID: expected {}, found {}",
            guid.unwrap_or_default(),
            target_guid.unwrap_or_else(|| "nothing".into())
        ));
    }
    if version.is_some() && version != target_version {
        report.cluster_information.push(format!(
            "ClusterInformation calicoVersion: expected {}, found {}",
            version.unwrap_or_default(),
            target_version.unwrap_or_else(|| "nothing".into())
        ));
    }
    Ok(())
}
