//! Verify: proves, object by object, that the Kubernetes datastore holds what the source holds.
//! The source is the live etcd datastore (read and converted exactly as export does) or an export
//! file.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::console::Progress;
use crate::convert::compare::{compare, compare_node};
use crate::convert::kdd::{Desired, Target, cluster_information_fields};
use crate::convert::schema::Schema;
use crate::convert::{qualified_name, string_map};
use crate::error::Error;
use crate::format::export_reader::ReadError;
use crate::format::export_writer::ExportWriter;
use crate::kdd::crds;
use crate::kdd::rest::Rest;
use crate::kdd::writer::collection_path;
use crate::kinds::{CalicoKind, Role};
use crate::pipeline::{self, Item};
use crate::session::Session;
use crate::snapshot;

/// Differences listed in full; the rest are counted.
const LISTED: usize = 200;

#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// Compare with this export file instead of the live etcd datastore.
    pub file: Option<PathBuf>,
    /// etcd node name → Kubernetes node name, as export was given it.
    pub node_map: BTreeMap<String, String>,
    /// The Calico version the target's object names follow (default: the source's).
    pub calico_version: Option<String>,
    /// Keys read per etcd request.
    pub page_size: i64,
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
    pub equal: bool,
    pub kinds: Vec<KindCheck>,
    pub different: Vec<Finding>,
    pub missing: Vec<Finding>,
    pub only_in_target: Vec<Finding>,
    /// Calico Nodes with no Kubernetes Node: import cannot migrate them, so they are not
    /// differences.
    pub nodes_not_in_kubernetes: Vec<String>,
    /// Fields of the source the target's CRD schema does not know (dropped by the API server;
    /// not a fault of the import), per kind and field.
    pub dropped_by_schema: BTreeMap<String, u64>,
    pub cluster_information: Vec<String>,
    pub warnings: Vec<String>,
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

    fn count_differences(&self) -> u64 {
        self.kinds
            .iter()
            .map(|k| k.different + k.missing + k.only_in_target)
            .sum::<u64>()
            + self.cluster_information.len() as u64
    }
}

pub async fn verify(session: &Session, options: &VerifyOptions) -> Result<VerifyReport, Error> {
    let mut report = VerifyReport::default();
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
    let source_info = pipeline::peek_cluster_information(&path);
    let target = Target {
        version: super::target_version(options.calico_version.as_deref(), source_info.as_ref())?,
        now: crate::kdd::store::now_rfc3339(),
    };
    let store = session.kdd().await?;
    let rest = session.rest(None).await?;
    let schemas = super::target_schemas(&rest).await?;
    check_objects(
        &path,
        target,
        &rest,
        &schemas,
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
    let header = snapshot::open(store, &options.node_map, options.page_size).await?;
    if let Some(problem) = header.node_problem {
        return Err(problem);
    }
    if header.lock != crate::convert::cluster_info::LockState::Locked {
        report
            .warnings
            .push("the etcd datastore is not locked: it may have changed since the import".into());
    }
    let file =
        std::fs::File::create(path).map_err(Error::io(format!("creating {}", path.display())))?;
    let mut writer = ExportWriter::new(std::io::BufWriter::new(file));
    snapshot::stream(
        store,
        &header,
        options.page_size,
        &session.progress,
        &mut writer,
    )
    .await?;
    writer
        .finish()
        .map_err(Error::io(format!("writing {}", path.display())))?;
    Ok(header.revision)
}

/// The target's objects of one kind, by `ns/name` (or name), kept as JSON text: a parsed
/// object takes several times the memory, and a kind can hold tens of thousands.
async fn target_objects(
    rest: &Rest,
    kind: &CalicoKind,
) -> Result<HashMap<String, Box<[u8]>>, Error> {
    let mut objects = HashMap::new();
    let listed = rest
        .list_all(&collection_path(kind.plural, None), |object| {
            let text = serde_json::to_vec(&object).expect("JSON values serialize");
            objects.insert(qualified_name(&object), text.into_boxed_slice());
        })
        .await;
    match listed {
        Ok(()) => Ok(objects),
        // No CRD: nothing of this kind in the target.
        Err(e) if e.is(404) => Ok(objects),
        Err(e) => Err(Error::failed(
            format!("listing {}: {e}", kind.plural),
            "check RBAC access to Calico's custom resources",
        )),
    }
}

async fn node_annotations(rest: &Rest) -> Result<HashMap<String, BTreeMap<String, String>>, Error> {
    let mut nodes = HashMap::new();
    rest.list_all("/api/v1/nodes", |node| {
        nodes.insert(
            qualified_name(&node),
            string_map(node.pointer("/metadata/annotations")),
        );
    })
    .await
    .map_err(|e| Error::failed(format!("listing nodes: {e}"), "check RBAC access to nodes"))?;
    Ok(nodes)
}

/// The objects of the current kind while it is being checked.
struct Group {
    kind: &'static CalicoKind,
    target: HashMap<String, Box<[u8]>>,
    seen: HashSet<String>,
    bar: indicatif::ProgressBar,
}

async fn check_objects(
    path: &Path,
    target: Target,
    rest: &Rest,
    schemas: &HashMap<String, Schema>,
    progress: &Progress,
    report: &mut VerifyReport,
) -> Result<(), Error> {
    let (mut items, reader) = pipeline::spawn(path.to_path_buf(), target, 256);
    let mut nodes: Option<HashMap<String, BTreeMap<String, String>>> = None;
    let mut group: Option<Group> = None;
    loop {
        let item = items.recv().await;
        let kind = item.as_ref().and_then(|i| CalicoKind::by_kind(i.group));
        if group.as_ref().map(|g| g.kind.kind) != item.as_ref().map(|i| i.group) {
            if let Some(done) = group.take() {
                finish_group(done, report);
            }
            if let Some(kind) = kind {
                let target = match kind.role {
                    Role::Node => HashMap::new(),
                    _ => target_objects(rest, kind).await?,
                };
                let bar = progress.spinner(kind.kind);
                group = Some(Group {
                    kind,
                    target,
                    seen: HashSet::new(),
                    bar,
                });
            }
        }
        let Some(Item {
            group: group_name,
            desired,
        }) = item
        else {
            break;
        };
        let Some(current) = group.as_mut() else {
            report.missing.push(Finding {
                kind: "unknown kind",
                name: group_name.to_string(),
                details: vec![],
            });
            continue;
        };
        current.bar.inc(1);
        let kind = current.kind.kind;
        report.check(kind).source += 1;
        let desired = match desired {
            Ok(desired) => desired,
            Err(error) => {
                report.check(kind).different += 1;
                VerifyReport::find(
                    &mut report.different,
                    kind,
                    error.object,
                    vec![error.reason],
                );
                continue;
            }
        };
        match &desired {
            Desired::Resource { object, .. } => {
                let name = qualified_name(object);
                if !current.seen.insert(name.clone()) {
                    report.check(kind).different += 1;
                    VerifyReport::find(
                        &mut report.different,
                        kind,
                        name,
                        vec!["appears more than once in the source".into()],
                    );
                    continue;
                }
                let Some(actual) = current
                    .target
                    .remove(&name)
                    .and_then(|text| serde_json::from_slice::<Value>(&text).ok())
                else {
                    report.check(kind).missing += 1;
                    VerifyReport::find(&mut report.missing, kind, name, vec![]);
                    continue;
                };
                let schema = schemas.get(current.kind.plural);
                let mut object = object.clone();
                if let Some(schema) = schema {
                    schema.rewrite_durations(&mut object);
                }
                let comparison = compare(&object, &actual, schema);
                for field in comparison.dropped_by_schema {
                    *report
                        .dropped_by_schema
                        .entry(format!("{kind} {field}"))
                        .or_default() += 1;
                }
                if comparison.differences.is_empty() {
                    report.check(kind).matching += 1;
                } else {
                    report.check(kind).different += 1;
                    let details = comparison
                        .differences
                        .iter()
                        .map(|d| d.to_string())
                        .collect();
                    VerifyReport::find(&mut report.different, kind, name, details);
                }
            }
            Desired::NodeAnnotations { node, .. } => {
                if nodes.is_none() {
                    nodes = Some(node_annotations(rest).await?);
                }
                let Some(actual) = nodes.as_ref().and_then(|n| n.get(node)) else {
                    report.nodes_not_in_kubernetes.push(node.clone());
                    continue;
                };
                let differences = compare_node(&desired, actual);
                if differences.is_empty() {
                    report.check(kind).matching += 1;
                } else {
                    report.check(kind).different += 1;
                    let details = differences.iter().map(|d| d.to_string()).collect();
                    VerifyReport::find(&mut report.different, kind, node.clone(), details);
                }
            }
        }
    }
    drop(items);
    match reader.join() {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(ReadError::Format(e))) => Err(Error::failed(
            e.to_string(),
            "recreate the file with kubectl calico-migrate export",
        )),
        Ok(Err(ReadError::Io { error, .. })) => {
            Err(Error::io(format!("reading {}", path.display()))(error))
        }
        Ok(Err(ReadError::Callback(_))) | Err(_) => Err(Error::failed(
            "reading the source stopped unexpectedly",
            "run verify again",
        )),
    }
}

/// What is left in the target of a kind the source has been compared for.
fn finish_group(group: Group, report: &mut VerifyReport) {
    group.bar.finish_and_clear();
    let kind = group.kind;
    let mut extra: Vec<String> = group
        .target
        .into_keys()
        .filter(|name| !crds::is_builtin(kind, name))
        .collect();
    extra.sort();
    report.check(kind.kind).only_in_target += extra.len() as u64;
    for name in extra {
        VerifyReport::find(&mut report.only_in_target, kind.kind, name, vec![]);
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
