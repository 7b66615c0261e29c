//! A consistent snapshot of the etcd datastore, read in pages at one revision and converted on
//! the fly by the pure core. Export writes it to a file; verify compares it with the Kubernetes
//! datastore. Both see exactly the same conversion.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::console::Progress;
use crate::convert::cluster_info::{LockState, calico_version};
use crate::convert::gotypes::reencode;
use crate::convert::ipam::{IpamContext, IpamEntry, IpamKey, export_ipam, parse_ipam_key};
use crate::convert::keys::{KeyClass, classify};
use crate::convert::nodes::{NodeMap, NodeMapError, orchestrator_name};
use crate::convert::resources::{ExportContext, ExportOutcome, Note, SkipReason, export_resource};
use crate::convert::version::CalicoVersion;
use crate::convert::versions::Release;
use crate::error::Error;
use crate::etcd::EtcdError;
use crate::etcd::store::{EtcdStore, Scan};
use crate::kinds::{CLUSTER_INFORMATION_KEY, CalicoKind, IpamKind};
use crate::sample::Sample;

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
    /// The release the export behaves as: the source's.
    pub release: Release,
    pub nodes: NodeMap,
    /// Why the node names could not all be mapped (then `nodes` maps the ones that could be).
    pub node_problem: Option<Error>,
    /// Export the form for this tool (`export --full`) instead of the source's calicoctl's.
    pub full: bool,
    /// Keys read per etcd request by the passes over the data.
    pub page_size: i64,
}

/// Keys read per etcd request unless `--page-size` says otherwise.
pub const DEFAULT_PAGE_SIZE: i64 = 500;

/// How the etcd source is read: the node names the user mapped, and the keys per request.
#[derive(Clone, Debug)]
pub struct Reading {
    /// etcd node name → Kubernetes node name, where orchRefs do not say (an empty Kubernetes
    /// name leaves the node out).
    pub node_map: BTreeMap<String, String>,
    /// Keys read per etcd request.
    pub page_size: i64,
}

impl Default for Reading {
    fn default() -> Self {
        Reading {
            node_map: BTreeMap::new(),
            page_size: DEFAULT_PAGE_SIZE,
        }
    }
}

/// Reads the revision, the ClusterInformation and every Calico Node (for the name map).
pub async fn open(store: &mut EtcdStore, reading: &Reading) -> Result<Header, Error> {
    let (explicit_nodes, page_size) = (&reading.node_map, reading.page_size);
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
        release: Release::of(version),
        nodes,
        node_problem,
        full: false,
        page_size,
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

/// A field the source release does not know, and the objects that hold it.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnknownField {
    /// The objects that hold it.
    #[serde(flatten)]
    pub objects: Sample,
    /// Kept in the file (--full) rather than dropped.
    pub kept: bool,
}

/// Everything the data pass saw.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataSummary {
    /// The file is the form for this tool (--full), not the source's calicoctl's.
    pub full: bool,
    pub kinds: Vec<KindSummary>,
    pub warnings: Vec<String>,
    /// Fields the source release's types do not have, by `Kind field`: dropped as calicoctl
    /// drops them, or kept with --full.
    pub unknown_fields: BTreeMap<String, UnknownField>,
    /// Per-object changes, for `-v`.
    #[serde(skip)]
    pub details: Vec<String>,
}

/// Kinds that get a list document: those the source release's calicoctl exports, and with
/// `--full` also any other kind that holds objects (tiers in v3.28, say).
fn has_document(kind: &CalicoKind, header: &Header, count: u64) -> bool {
    header.release.exports(kind.kind) || (header.full && count > 0)
}

/// ClusterInformation as the release's calicoctl prints it (`json.MarshalIndent` of its type).
fn cluster_information(header: &Header) -> Value {
    match reencode(
        header.release.types(),
        &header.cluster_information,
        header.full,
    ) {
        Some(Ok(reencoded)) => reencoded.value,
        _ => header.cluster_information.clone(),
    }
}

/// Reads every migrated kind and the IPAM data, converting as it goes, into `sink`.
pub async fn stream(
    store: &mut EtcdStore,
    header: &Header,
    progress: &Progress,
    sink: &mut dyn Sink,
) -> Result<DataSummary, Error> {
    let ctx = ExportContext {
        nodes: &header.nodes,
        release: header.release,
        full: header.full,
    };
    let mut summary = DataSummary {
        full: header.full,
        ..Default::default()
    };
    if let Some(caveat) = header.release.caveat() {
        summary.warnings.push(caveat);
    }
    let io = |e| Error::io("writing the export")(e);

    for kind in CalicoKind::exported() {
        let prefix = kind.etcd_prefix();
        let total = store.count_prefix(&prefix, header.revision).await?;
        let mut counts = KindSummary {
            kind: kind.kind,
            ..Default::default()
        };
        if !has_document(kind, header, total) {
            if total > 0 {
                counts.skipped.push(Skipped {
                    reason: format!(
                        "calicoctl {} does not export {} (export --full keeps them)",
                        header.release, kind.plural
                    ),
                    count: total,
                });
                summary.warnings.push(format!(
                    "{total} {} object(s) left out: calicoctl {} does not export this kind; export --full keeps them (the file is then for this tool only)",
                    kind.kind, header.release
                ));
            }
            summary.kinds.push(counts);
            continue;
        }
        let bar = progress.bar(kind.kind, total);
        let mut names = Duplicates::default();
        sink.list_start(kind).map_err(io)?;
        let mut scan = Scan::new(&prefix, header.revision, header.page_size);
        while let Some(page) = scan.next_page(store).await? {
            for (key, value) in &page {
                match export_resource(kind, key, value, ctx) {
                    ExportOutcome::Exported { object, notes } => {
                        record_notes(kind, &object, &notes, &mut counts, &mut summary);
                        names.see(object_label(kind, &object));
                        sink.list_item(kind, &object).map_err(io)?;
                        counts.exported += 1;
                    }
                    ExportOutcome::Skipped(reason) => counts.skip(reason.describe()),
                    ExportOutcome::Unreadable { name, error } => {
                        counts.skip(SkipReason::DoesNotFit.describe());
                        summary.warnings.push(format!(
                            "{} {name} left out: calicoctl {} cannot read it ({error})",
                            kind.kind, header.release
                        ));
                    }
                }
            }
            bar.inc(page.len() as u64);
        }
        sink.list_end(kind, header.revision).map_err(io)?;
        bar.finish();
        names.warn_into(&mut summary.warnings);
        summary.kinds.push(counts);
    }

    warn_unknown_fields(&mut summary, header.release);
    sink.cluster_information(&cluster_information(header))
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
        let mut scan = Scan::new(prefix, header.revision, header.page_size);
        while let Some(page) = scan.next_page(store).await? {
            for (key, value) in &page {
                if !header.full
                    && let IpamKey::Handle { id } = parse_ipam_key(key)
                    && let Some(renamed) = header.nodes.rename_handle(id, true)
                    && header.nodes.rename_handle(id, false).is_none()
                {
                    summary.warnings.push(format!(
                        "IPAM handle {id} keeps its etcd node name (calicoctl does not rename IPv6 tunnel handles; export --full renames it to {renamed})"
                    ));
                }
                let ctx = IpamContext {
                    nodes: &header.nodes,
                    release: header.release,
                    full: header.full,
                };
                match export_ipam(key, value, ctx) {
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

/// What kind of file an export is, for messages.
pub fn file_form(full: bool, version: Option<&str>) -> String {
    let version = version.unwrap_or("of an unknown version");
    if full {
        format!(
            "the full form: everything etcd holds, for kubectl calico-migrate import only; calicoctl {version} cannot import it"
        )
    } else {
        format!("calicoctl {version}'s migration file, byte for byte")
    }
}

/// One warning per field the source release does not know.
fn warn_unknown_fields(summary: &mut DataSummary, release: Release) {
    for (field, found) in &summary.unknown_fields {
        let what = if found.kept {
            "kept (the file is for this tool only)"
        } else {
            "left out as calicoctl leaves it out (export --full keeps it)"
        };
        summary.warnings.push(format!(
            "{field}: calicoctl {release} does not know this field; {what}; {} object(s): {}{}",
            found.objects.count,
            found.objects.examples.join(", "),
            if found.objects.count > found.objects.examples.len() as u64 {
                ", ..."
            } else {
                ""
            }
        ));
    }
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
                "{label} appears {count} times after node renames: import takes the last, as calicoctl's import does"
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
            Note::NodeReferenceKept {
                field,
                name,
                kubernetes,
            } => summary.warnings.push(format!(
                "{label}: {field} names etcd node {name}, which the Kubernetes datastore calls {kubernetes}; calicoctl leaves it so (export --full renames it)"
            )),
            Note::UserProfile { profile } => summary.warnings.push(format!(
                "{label} references profile {profile:?}, which cannot exist in the Kubernetes datastore: its rules will no longer apply to this host endpoint"
            )),
            Note::UnknownField { path, kept } => {
                let field = summary
                    .unknown_fields
                    .entry(format!("{} {path}", kind.kind))
                    .or_default();
                field.kept = *kept;
                field
                    .objects
                    .add(|| crate::convert::qualified_name(object));
            }
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
    /// Keys the migration does not know.
    pub unknown: Sample,
}

#[derive(Clone, Debug, Serialize)]
pub struct NotMigrated {
    pub what: String,
    pub reason: String,
    pub count: u64,
}

/// A keys-only pass over everything under `/calico/`, classifying each key.
pub async fn account(store: &mut EtcdStore, header: &Header) -> Result<KeyAccounting, Error> {
    let mut accounting = KeyAccounting::default();
    let mut scan = Scan::new("/calico/", header.revision, header.page_size.max(1000)).keys_only();
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
                    accounting.unknown.add(|| key.clone());
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
