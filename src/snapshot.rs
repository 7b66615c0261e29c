//! A consistent snapshot of the etcd datastore, read in pages at one revision and converted on
//! the fly by the pure core. Export writes it to a file; verify compares it with the Kubernetes
//! datastore. Both see exactly the same conversion.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::console::Progress;
use crate::convert::cluster_info::{LockState, calico_version};
use crate::convert::ipam::{IpamEntry, export_ipam};
use crate::convert::keys::{KeyClass, classify};
use crate::convert::nodes::{NodeMap, NodeMapError, orchestrator_name};
use crate::convert::resources::{ExportContext, Note, Outcome, export_resource};
use crate::convert::version::CalicoVersion;
use crate::error::Error;
use crate::etcd::EtcdError;
use crate::etcd::store::{EtcdStore, Scan};
use crate::kinds::{CLUSTER_INFORMATION_KEY, CalicoKind, IpamKind};

/// Where converted data goes.
pub trait Sink {
    fn list_start(&mut self, kind: &'static CalicoKind) -> std::io::Result<()>;
    fn list_item(&mut self, kind: &'static CalicoKind, object: &Value) -> std::io::Result<()>;
    fn list_end(&mut self, kind: &'static CalicoKind, revision: i64) -> std::io::Result<()>;
    fn cluster_information(&mut self, object: &Value) -> std::io::Result<()>;
    fn ipam_entry(&mut self, entry: &IpamEntry) -> std::io::Result<()>;
}

/// What is known before the data is read: the revision, the lock, and the node names.
pub struct Header {
    pub revision: i64,
    /// ClusterInformation/default as the export file carries it (with its resourceVersion).
    pub cluster_information: Value,
    pub lock: LockState,
    pub version: Option<CalicoVersion>,
    pub nodes: NodeMap,
    /// Why the node names could not all be mapped (then `nodes` maps the ones that could be).
    pub node_problem: Option<Error>,
}

/// Reads the revision, the ClusterInformation and every Calico Node (for the name map).
pub async fn open(
    store: &mut EtcdStore,
    explicit_nodes: &BTreeMap<String, String>,
    page_size: i64,
) -> Result<Header, Error> {
    let revision = store.revision().await?;
    let found = store
        .get_at(CLUSTER_INFORMATION_KEY, revision)
        .await?
        .ok_or(EtcdError::NoClusterInformation)?;
    let mut cluster_information: Value = serde_json::from_slice(&found.value)
        .map_err(|e| EtcdError::BadClusterInformation(e.to_string()))?;
    crate::convert::cluster_info::set_resource_version(
        &mut cluster_information,
        found.mod_revision,
    );
    let lock = LockState::of(Some(&cluster_information));
    let version = calico_version(&cluster_information).and_then(CalicoVersion::parse);

    let node_kind = CalicoKind::by_kind("Node").expect("in the table");
    let mut nodes = Vec::new();
    let mut scan = Scan::new(&node_kind.etcd_prefix(), revision, page_size);
    while let Some(page) = scan.next_page(store).await? {
        for (key, value) in page {
            let Ok(node) = serde_json::from_slice::<Value>(&value) else {
                continue;
            };
            let name = node
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| key.rsplit('/').next().unwrap_or_default().to_string());
            nodes.push((name, orchestrator_name(&node)));
        }
    }
    let (nodes, node_problem) = match NodeMap::build(nodes, explicit_nodes) {
        Ok(nodes) => (nodes, None),
        Err(error) => (NodeMap::default(), Some(node_map_error(error))),
    };
    Ok(Header {
        revision,
        cluster_information,
        lock,
        version,
        nodes,
        node_problem,
    })
}

fn node_map_error(error: NodeMapError) -> Error {
    let mut hint = String::new();
    if let Some(node) = error.unmapped.first() {
        hint.push_str(&format!(
            "map each to its Kubernetes node with --node-map {node}=<k8s-node-name> (or --node-map-file), or leave a node out with --node-map {node}="
        ));
    }
    if let Some((k8s, etcd)) = error.collisions.first() {
        if !hint.is_empty() {
            hint.push_str("; ");
        }
        let other = etcd.last().map(String::as_str).unwrap_or_default();
        hint.push_str(&format!(
            "if merging them is intended, confirm with --node-map {other}={k8s}; otherwise fix the nodes' orchRefs"
        ));
    }
    Error::Failed {
        message: format!("cannot map etcd nodes to Kubernetes nodes: {error}"),
        hint: Some(hint),
    }
}

/// Counts for one kind.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KindSummary {
    pub kind: &'static str,
    pub exported: u64,
    /// Objects whose name changed (node renames, policy names).
    pub renamed: u64,
    /// Objects whose content was rewritten (node references, iptables actions, tier labels).
    pub rewritten: u64,
    pub skipped: Vec<Skipped>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Skipped {
    pub reason: String,
    pub count: u64,
}

impl KindSummary {
    fn skip(&mut self, reason: &str) {
        match self.skipped.iter_mut().find(|s| s.reason == reason) {
            Some(s) => s.count += 1,
            None => self.skipped.push(Skipped {
                reason: reason.to_string(),
                count: 1,
            }),
        }
    }

    pub fn skipped_total(&self) -> u64 {
        self.skipped.iter().map(|s| s.count).sum()
    }
}

/// Everything the data pass saw.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataSummary {
    pub kinds: Vec<KindSummary>,
    pub warnings: Vec<String>,
    /// Per-object changes, for `-v`.
    #[serde(skip)]
    pub details: Vec<String>,
}

/// Kinds that get a list document: those the source's Calico version exports, plus any kind
/// that holds objects (tiers in v3.29, say). With no version known, all of them.
fn has_document(kind: &CalicoKind, version: Option<CalicoVersion>, count: u64) -> bool {
    count > 0 || version.is_none_or(|v| kind.since_minor <= v.minor3())
}

/// Reads every migrated kind and the IPAM data, converting as it goes, into `sink`.
pub async fn stream(
    store: &mut EtcdStore,
    header: &Header,
    page_size: i64,
    progress: &Progress,
    sink: &mut dyn Sink,
) -> Result<DataSummary, Error> {
    let ctx = ExportContext {
        nodes: &header.nodes,
        version: header.version,
    };
    let mut summary = DataSummary::default();
    let io = |e| Error::io("writing the export")(e);

    for kind in CalicoKind::exported() {
        let prefix = kind.etcd_prefix();
        let total = store.count_prefix(&prefix, header.revision).await?;
        let mut counts = KindSummary {
            kind: kind.kind,
            ..Default::default()
        };
        if !has_document(kind, header.version, total) {
            summary.kinds.push(counts);
            continue;
        }
        let bar = progress.bar(kind.kind, total);
        let mut names = Duplicates::default();
        sink.list_start(kind).map_err(io)?;
        let mut scan = Scan::new(&prefix, header.revision, page_size);
        while let Some(page) = scan.next_page(store).await? {
            for (key, value) in &page {
                match export_resource(kind, key, value, ctx) {
                    Outcome::Exported { object, notes } => {
                        record_notes(kind, &object, &notes, &mut counts, &mut summary);
                        names.see(object_label(kind, &object));
                        sink.list_item(kind, &object).map_err(io)?;
                        counts.exported += 1;
                    }
                    Outcome::Skipped(reason) => counts.skip(reason.describe()),
                }
            }
            bar.inc(page.len() as u64);
        }
        sink.list_end(kind, header.revision).map_err(io)?;
        bar.finish();
        names.warn_into(&mut summary.warnings);
        summary.kinds.push(counts);
    }

    sink.cluster_information(&header.cluster_information)
        .map_err(io)?;
    summary.kinds.push(KindSummary {
        kind: "ClusterInformation",
        exported: 1,
        ..Default::default()
    });

    for ipam in IpamKind::ALL {
        let prefix = ipam.etcd_prefix();
        let total = store.count_prefix(prefix, header.revision).await?;
        let mut counts = KindSummary {
            kind: ipam.calico_kind().kind,
            ..Default::default()
        };
        let bar = progress.bar(counts.kind, total);
        let mut keys = Duplicates::default();
        let mut scan = Scan::new(prefix, header.revision, page_size);
        while let Some(page) = scan.next_page(store).await? {
            for (key, value) in &page {
                match export_ipam(key, value, &header.nodes) {
                    // The config prefix is also the prefix of nothing else, but be exact.
                    Ok(entry) if entry.kind == ipam => {
                        counts.exported += 1;
                        counts.renamed += u64::from(entry.renamed);
                        keys.see(format!("{} {}", counts.kind, entry.key));
                        sink.ipam_entry(&entry).map_err(io)?;
                    }
                    Ok(_) => {}
                    Err(skip) => counts.skip(skip.describe()),
                }
            }
            bar.inc(page.len() as u64);
        }
        bar.finish();
        keys.warn_into(&mut summary.warnings);
        summary.kinds.push(counts);
    }
    Ok(summary)
}

/// Names seen more than once in one kind: node renames that merged two nodes make them, and
/// only one of each can exist in the Kubernetes datastore.
#[derive(Default)]
struct Duplicates {
    seen: std::collections::HashMap<String, u32>,
}

impl Duplicates {
    fn see(&mut self, label: String) {
        *self.seen.entry(label).or_default() += 1;
    }

    fn warn_into(self, warnings: &mut Vec<String>) {
        let mut repeated: Vec<(String, u32)> =
            self.seen.into_iter().filter(|(_, n)| *n > 1).collect();
        repeated.sort();
        for (label, count) in repeated {
            warnings.push(format!(
                "{label} appears {count} times after node renames: import writes the first and reports the others as conflicts"
            ));
        }
    }
}

fn object_label(kind: &CalicoKind, object: &Value) -> String {
    format!("{} {}", kind.kind, crate::convert::qualified_name(object))
}

fn record_notes(
    kind: &CalicoKind,
    object: &Value,
    notes: &[Note],
    counts: &mut KindSummary,
    summary: &mut DataSummary,
) {
    let label = object_label(kind, object);
    let mut rewritten = false;
    for note in notes {
        match note {
            Note::Renamed { from, .. } => {
                counts.renamed += 1;
                summary.details.push(format!("{label}: renamed from {from}"));
            }
            Note::NodeReference { field, from, to } => {
                rewritten = true;
                summary.details.push(format!("{label}: {field} {from} → {to}"));
            }
            Note::IptablesAction { field, from, to } => {
                rewritten = true;
                summary.details.push(format!("{label}: {field} {from} → {to}"));
            }
            Note::TierLabelAdded { tier } => {
                rewritten = true;
                summary.details.push(format!("{label}: added label projectcalico.org/tier={tier}"));
            }
            Note::UserProfile { profile } => summary.warnings.push(format!(
                "{label} references profile {profile:?}, which cannot exist in the Kubernetes datastore: its rules will no longer apply to this host endpoint"
            )),
        }
    }
    counts.rewritten += u64::from(rewritten);
}

/// What every key under `/calico/` at the snapshot's revision is.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyAccounting {
    pub total: u64,
    /// Keys of migrated kinds (the data pass exported or skipped each of them).
    pub migrated_kinds: u64,
    /// Keys deliberately not migrated, by what they are.
    pub not_migrated: Vec<NotMigrated>,
    /// Keys the migration does not know, with a few examples.
    pub unknown: u64,
    pub unknown_examples: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct NotMigrated {
    pub what: String,
    pub reason: String,
    pub count: u64,
}

/// A keys-only pass over everything under `/calico/`, classifying each key.
pub async fn account(
    store: &mut EtcdStore,
    revision: i64,
    page_size: i64,
) -> Result<KeyAccounting, Error> {
    let mut accounting = KeyAccounting::default();
    let mut scan = Scan::new("/calico/", revision, page_size.max(1000)).keys_only();
    while let Some(page) = scan.next_page(store).await? {
        for (key, _) in &page {
            accounting.total += 1;
            let (what, reason) = match classify(key) {
                KeyClass::Migrated(_) | KeyClass::Ipam(_) => {
                    accounting.migrated_kinds += 1;
                    continue;
                }
                KeyClass::Skipped { what, reason } => (what, reason),
                KeyClass::Status { what } => (what, "runtime status; regenerated by Calico"),
                KeyClass::Unknown => {
                    accounting.unknown += 1;
                    if accounting.unknown_examples.len() < 5 {
                        accounting.unknown_examples.push(key.clone());
                    }
                    continue;
                }
            };
            match accounting.not_migrated.iter_mut().find(|n| n.what == what) {
                Some(entry) => entry.count += 1,
                None => accounting.not_migrated.push(NotMigrated {
                    what: what.to_string(),
                    reason: reason.to_string(),
                    count: 1,
                }),
            }
        }
    }
    Ok(accounting)
}

/// Keys the data pass handled (exported or skipped), to check against the accounting.
pub fn keys_handled(summary: &DataSummary) -> u64 {
    summary
        .kinds
        .iter()
        .map(|k| k.exported + k.skipped_total())
        .sum()
}
