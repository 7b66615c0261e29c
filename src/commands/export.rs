//! `export`: a complete, consistent, calicoctl-compatible snapshot of the etcd datastore.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Serialize;
use serde_json::Value;

use crate::app::App;
use crate::atomic_file::AtomicFile;
use crate::convert::cluster_info::LockState;
use crate::convert::ipam::IpamEntry;
use crate::convert::nodes::{parse_node_map_entry, parse_node_map_file};
use crate::error::Error;
use crate::format::export_writer::ExportWriter;
use crate::kinds::CalicoKind;
use crate::snapshot::{self, DataSummary, Header, KeyAccounting, Sink};

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write the export to FILE (atomically, mode 0600) instead of stdout
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Export although the etcd datastore is not locked (a backup or a rehearsal: the snapshot
    /// may go stale as Calico keeps changing)
    #[arg(long)]
    pub allow_unlocked: bool,

    /// Keep what the source's calicoctl would leave out (fields and kinds its release does not
    /// know, staged policies outside namespace default) and rename node references in host
    /// endpoints, BGP peers and IPv6 tunnel handles: the file is then for this tool's import only
    #[arg(long)]
    pub full: bool,

    #[command(flatten)]
    pub nodes: NodeMapArgs,

    /// Keys read per etcd request
    #[arg(long, value_name = "N", default_value_t = 500, hide = true)]
    pub page_size: i64,
}

/// How etcd node names map to Kubernetes node names where orchRefs do not say.
#[derive(Debug, Default, Args)]
pub struct NodeMapArgs {
    /// Map an etcd node to a Kubernetes node (repeatable); ETCD= leaves the node out
    #[arg(long = "node-map", value_name = "ETCD=K8S")]
    pub node_map: Vec<String>,

    /// A file of ETCD=K8S lines (# starts a comment)
    #[arg(long = "node-map-file", value_name = "FILE")]
    pub node_map_file: Option<PathBuf>,
}

impl NodeMapArgs {
    pub fn explicit(&self) -> Result<BTreeMap<String, String>, Error> {
        let mut map = BTreeMap::new();
        if let Some(path) = &self.node_map_file {
            let text = std::fs::read_to_string(path).map_err(Error::io(format!(
                "reading node map file {}",
                path.display()
            )))?;
            let entries = parse_node_map_file(&text).map_err(|e| {
                Error::failed(
                    format!("node map file {}: {e}", path.display()),
                    "write one etcd-name=k8s-name per line",
                )
            })?;
            map.extend(entries);
        }
        for entry in &self.node_map {
            let (from, to) = parse_node_map_entry(entry).map_err(|e| {
                Error::failed(
                    format!("--node-map {e}"),
                    "use --node-map etcd-name=k8s-name",
                )
            })?;
            map.insert(from, to);
        }
        Ok(map)
    }
}

/// The export summary, on stderr for people and on stdout with `-o json|yaml`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportReport {
    pub file: Option<String>,
    pub revision: i64,
    pub calico_version: Option<String>,
    pub datastore_locked: bool,
    #[serde(flatten)]
    pub data: DataSummary,
    pub node_renames: Vec<NodeRename>,
    pub keys: KeyAccounting,
}

#[derive(Debug, Serialize)]
pub struct NodeRename {
    pub etcd: String,
    pub kubernetes: String,
}

impl<W: Write> Sink for ExportWriter<W> {
    fn list_start(&mut self, kind: &'static CalicoKind) -> std::io::Result<()> {
        self.begin_list(kind.kind)
    }

    fn list_item(&mut self, _kind: &'static CalicoKind, object: &Value) -> std::io::Result<()> {
        self.item(object)
    }

    fn list_end(&mut self, _kind: &'static CalicoKind, revision: i64) -> std::io::Result<()> {
        self.end_list(revision)
    }

    fn cluster_information(&mut self, object: &Value) -> std::io::Result<()> {
        ExportWriter::cluster_information(self, object)
    }

    fn ipam_entry(&mut self, entry: &IpamEntry) -> std::io::Result<()> {
        ExportWriter::ipam_entry(self, entry)
    }
}

pub async fn run(app: &App<'_>, args: &ExportArgs) -> Result<(), Error> {
    let console = app.console;
    if args.file.is_none() && console.format() != crate::console::OutputFormat::Text {
        return Err(Error::Usage(
            "-o json|yaml prints the export summary on stdout, so the export itself needs -f FILE"
                .into(),
        ));
    }
    let explicit = args.nodes.explicit()?;
    let mut connected = app.etcd().await?;
    let store = &mut connected.store;
    let mut header = snapshot::open(store, &explicit, args.page_size).await?;
    header.full = args.full;
    check_locked(app, &header, args.allow_unlocked)?;
    console.info(format!(
        "Exporting etcd revision {} (Calico {}){}",
        header.revision,
        header
            .version
            .map(|v| v.to_string())
            .unwrap_or_else(|| "version unknown".into()),
        args.file
            .as_ref()
            .map(|f| format!(" to {}", f.display()))
            .unwrap_or_default()
    ));

    let data = match &args.file {
        Some(path) => {
            let file = AtomicFile::create(path)
                .map_err(Error::io(format!("creating {}", path.display())))?;
            let mut writer = ExportWriter::new(file, args.full);
            let data =
                snapshot::stream(store, &header, args.page_size, console, &mut writer).await?;
            let file = writer
                .finish()
                .map_err(Error::io(format!("writing {}", path.display())))?;
            file.commit()
                .map_err(Error::io(format!("writing {}", path.display())))?;
            data
        }
        None => {
            let stdout = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            let mut writer = ExportWriter::new(stdout, args.full);
            let data =
                snapshot::stream(store, &header, args.page_size, console, &mut writer).await?;
            writer
                .finish()
                .map_err(Error::io("writing the export to stdout"))?;
            data
        }
    };
    let keys = snapshot::account(store, header.revision, args.page_size).await?;
    let report = ExportReport {
        file: args.file.as_ref().map(|f| f.display().to_string()),
        revision: header.revision,
        calico_version: header.version.map(|v| v.to_string()),
        datastore_locked: header.lock == LockState::Locked,
        node_renames: header
            .nodes
            .renames()
            .map(|(etcd, k8s)| NodeRename {
                etcd: etcd.into(),
                kubernetes: k8s.into(),
            })
            .collect(),
        data,
        keys,
    };
    print_report(app, &report, args.file.as_deref());
    console.data(&report)?;
    Ok(())
}

fn check_locked(app: &App<'_>, header: &Header, allow_unlocked: bool) -> Result<(), Error> {
    if header.lock == LockState::Locked {
        return Ok(());
    }
    if allow_unlocked {
        app.console.warn(
            "the etcd datastore is not locked: Calico keeps changing it, so this snapshot may go stale (fine for a backup or a rehearsal, not for the migration)",
        );
        return Ok(());
    }
    Err(Error::failed(
        "datastore is not locked. Run the `kubectl calico-migrate lock --datastore etcd` command in order to begin migration",
        "lock it first (new pods get no networking until the migration ends), or pass --allow-unlocked for a backup or a rehearsal",
    ))
}

fn print_report(app: &App<'_>, report: &ExportReport, file: Option<&Path>) {
    let console = app.console;
    for detail in &report.data.details {
        console.detail(1, detail);
    }
    let mut text = format!(
        "\n{:<32}{:>10}{:>9}{:>11}{:>9}\n",
        "Kind", "exported", "renamed", "rewritten", "skipped"
    );
    for kind in &report.data.kinds {
        text.push_str(&format!(
            "  {:<30}{:>10}{:>9}{:>11}{:>9}\n",
            kind.kind,
            kind.exported,
            kind.renamed,
            kind.rewritten,
            kind.skipped_total()
        ));
        for skipped in &kind.skipped {
            text.push_str(&format!(
                "      skipped {}: {}\n",
                skipped.count, skipped.reason
            ));
        }
    }
    if !report.keys.not_migrated.is_empty() {
        text.push_str("\nNot migrated:\n");
        for entry in &report.keys.not_migrated {
            text.push_str(&format!(
                "  {:<30}{:>10}  {}\n",
                entry.what, entry.count, entry.reason
            ));
        }
    }
    if !report.node_renames.is_empty() {
        text.push_str("\nNode renames (etcd → Kubernetes):\n");
        for rename in &report.node_renames {
            text.push_str(&format!("  {} → {}\n", rename.etcd, rename.kubernetes));
        }
    }
    let handled = snapshot::keys_handled(&report.data);
    let not_migrated: u64 = report.keys.not_migrated.iter().map(|n| n.count).sum();
    text.push_str(&format!(
        "\nKeys under /calico/ at revision {}: {} = {} read for migration + {} not migrated + {} unknown\n",
        report.revision, report.keys.total, report.keys.migrated_kinds, not_migrated, report.keys.unknown
    ));
    console.info(text.trim_end());
    if handled != report.keys.migrated_kinds {
        console.warn(format!(
            "the data pass handled {handled} keys but {} keys of migrated kinds exist; some were not read",
            report.keys.migrated_kinds
        ));
    }
    if report.keys.unknown > 0 {
        console.warn(format!(
            "{} key(s) under /calico/ are not Calico datastore keys this tool knows and were not migrated, e.g. {}",
            report.keys.unknown,
            report.keys.unknown_examples.join(", ")
        ));
    }
    for warning in &report.data.warnings {
        console.warn(warning);
    }
    if let Some(path) = file {
        console.info(format!(
            "Wrote {} ({}).",
            path.display(),
            snapshot::file_form(report.data.full, report.calico_version.as_deref())
        ));
    }
}
