//! `verify`: proves, object by object, that the Kubernetes datastore holds what the source
//! holds. The source is the live etcd datastore (read and converted exactly as export does) or
//! an export file.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Serialize;
use serde_json::Value;

use crate::app::App;
use crate::commands::export::NodeMapArgs;
use crate::console::Console;
use crate::convert::compare::{compare, compare_node};
use crate::convert::kdd::{Desired, Target, cluster_information_fields};
use crate::convert::schema::Schema;
use crate::convert::version::CalicoVersion;
use crate::convert::{qualified_name, string_map};
use crate::error::Error;
use crate::format::export_reader::ReadError;
use crate::format::export_writer::ExportWriter;
use crate::kdd::crds;
use crate::kdd::rest::{Rest, RestOptions};
use crate::kdd::writer::collection_path;
use crate::kinds::{CalicoKind, Role};
use crate::pipeline::{self, Item};
use crate::snapshot;

/// Differences listed in full; the rest are counted.
const LISTED: usize = 200;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Compare with this export file instead of the live etcd datastore
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,

    #[command(flatten)]
    pub nodes: NodeMapArgs,

    /// The Calico version the Kubernetes datastore's object names follow (default: the source's)
    #[arg(long, value_name = "VERSION")]
    pub calico_version: Option<String>,

    /// Keys read per etcd request
    #[arg(long, value_name = "N", default_value_t = 500, hide = true)]
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
    /// Objects the source has several entries for: compared by their last entry, as import
    /// writes it.
    pub merged: Vec<crate::convert::merge::Merge>,
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

pub async fn run(app: &App<'_>, args: &VerifyArgs) -> Result<(), Error> {
    let console = app.console;
    // The live source is exported to a private temporary file with export's own code, so that
    // verify sees exactly what export would write.
    let mut _snapshot_dir = None;
    let (path, source) = match &args.file {
        Some(file) => (file.clone(), format!("file {}", file.display())),
        None => {
            let dir = tempfile::Builder::new()
                .prefix("calico-migrate-verify")
                .tempdir()
                .map_err(Error::io("creating a temporary directory"))?;
            let path = dir.path().join("etcd-snapshot");
            let revision = snapshot_etcd(app, args, &path).await?;
            _snapshot_dir = Some(dir);
            (path, format!("etcd revision {revision}"))
        }
    };
    let source_info = pipeline::peek_cluster_information(&path);
    let version = match &args.calico_version {
        Some(text) => Some(CalicoVersion::parse(text).ok_or_else(|| {
            Error::Usage(format!("--calico-version {text:?} is not a Calico version"))
        })?),
        None => source_info
            .as_ref()
            .and_then(|i| cluster_information_fields(i).1)
            .and_then(|v| CalicoVersion::parse(&v)),
    };
    let target = Target::new(version, crate::kdd::store::now_rfc3339());

    let store = app.kdd().await?;
    let rest = Rest::new(store.target().bulk_client()?, RestOptions::default());
    let schemas = super::target_schemas(&rest, &target.release).await?;
    let mut report = VerifyReport {
        source,
        ..Default::default()
    };
    check_objects(&path, target, &rest, &schemas, console, &mut report).await?;
    if let Some(info) = source_info {
        check_cluster_information(&store, &info, &mut report).await?;
    }
    report.equal = report.count_differences() == 0;
    print_report(console, &report);
    console.data(&report)?;
    if report.equal {
        Ok(())
    } else {
        Err(Error::Differences(format!(
            "the Kubernetes datastore differs from the {} in {} place(s)",
            report.source,
            report.count_differences()
        )))
    }
}

/// Reads the live etcd datastore as export does, into `path`; returns the revision.
async fn snapshot_etcd(app: &App<'_>, args: &VerifyArgs, path: &Path) -> Result<i64, Error> {
    let explicit = args.nodes.explicit()?;
    let mut connected = app.etcd().await?;
    let store = &mut connected.store;
    let mut header = snapshot::open(store, &explicit, args.page_size).await?;
    // Everything etcd holds, not only what a calicoctl-compatible file carries.
    header.full = true;
    if header.lock != crate::convert::cluster_info::LockState::Locked {
        app.console
            .warn("the etcd datastore is not locked: it may have changed since the import");
    }
    let file =
        std::fs::File::create(path).map_err(Error::io(format!("creating {}", path.display())))?;
    let mut writer = ExportWriter::new(std::io::BufWriter::new(file), true);
    snapshot::stream(store, &header, args.page_size, app.console, &mut writer).await?;
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
    console: &Console,
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
                let bar = console.spinner(kind.kind);
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
        Ok(Ok(read)) => {
            report.merged = read.merges;
            Ok(())
        }
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

fn print_report(console: &Console, report: &VerifyReport) {
    let mut text = format!(
        "Compared the Kubernetes datastore with the {}:\n{:<32}{:>8}{:>10}{:>11}{:>9}{:>16}\n",
        report.source, "Kind", "source", "matching", "different", "missing", "only in target"
    );
    for k in &report.kinds {
        text.push_str(&format!(
            "  {:<30}{:>8}{:>10}{:>11}{:>9}{:>16}\n",
            k.kind, k.source, k.matching, k.different, k.missing, k.only_in_target
        ));
    }
    for finding in &report.different {
        text.push_str(&format!("\ndifferent: {} {}", finding.kind, finding.name));
        for detail in &finding.details {
            text.push_str(&format!("\n    {detail}"));
        }
    }
    for finding in &report.missing {
        text.push_str(&format!(
            "\nmissing in the Kubernetes datastore: {} {}",
            finding.kind, finding.name
        ));
    }
    for finding in &report.only_in_target {
        text.push_str(&format!(
            "\nonly in the Kubernetes datastore: {} {}",
            finding.kind, finding.name
        ));
    }
    for line in &report.cluster_information {
        text.push_str(&format!("\n{line}"));
    }
    if !report.dropped_by_schema.is_empty() {
        text.push_str("\n\nDropped by the target's CRD schema (fields it does not know; not a fault of the import):");
        for (field, count) in &report.dropped_by_schema {
            text.push_str(&format!("\n  {field} ({count} object(s))"));
        }
    }
    for merge in &report.merged {
        text.push_str(&format!("\n{merge}"));
    }
    if !report.nodes_not_in_kubernetes.is_empty() {
        text.push_str(&format!(
            "\n\nCalico Nodes without a Kubernetes Node (cannot be migrated): {}",
            report.nodes_not_in_kubernetes.join(", ")
        ));
    }
    if report.equal {
        text.push_str("\nThe Kubernetes datastore holds everything the source holds.");
    }
    console.report(&text);
}
