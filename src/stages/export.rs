//! Export: a complete, consistent, calicoctl-compatible snapshot of the etcd datastore, to a
//! file (written atomically) or stdout.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

use crate::atomic_file::AtomicFile;
use crate::convert::cluster_info::LockState;
use crate::convert::ipam::IpamEntry;
use crate::error::{Blocker, Error};
use crate::format::export_writer::ExportWriter;
use crate::kinds::CalicoKind;
use crate::session::Session;
use crate::source;
use crate::source::etcd::{DataSummary, Header, KeyAccounting, Reading, Sink};

#[derive(Clone, Debug, Default)]
pub struct ExportOptions {
    /// Where to write; stdout when None.
    pub file: Option<PathBuf>,
    /// Export although etcd is not locked (a backup, a rehearsal, or a pre-copy).
    pub allow_unlocked: bool,
    /// The node map and the keys per request.
    pub etcd: Reading,
    /// Keep what the source's calicoctl would leave out, and apply this tool's fixes: the file
    /// is then for this tool's import only.
    pub full: bool,
}

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

pub async fn export(session: &Session, options: &ExportOptions) -> Result<ExportReport, Error> {
    let mut connected = session.etcd().await?;
    let store = &mut connected.store;
    let mut header = source::etcd::open(store, &options.etcd).await?;
    header.full = options.full;
    preflight(&header, options.allow_unlocked)?;
    let progress = &session.progress;
    let data = match &options.file {
        Some(path) => {
            // The file appears whole or not at all: a failure on the way leaves it as it was.
            let kept = crate::atomic_file::left_as_it_was(path);
            let file = AtomicFile::create(path)
                .map_err(Error::io(format!("creating {}", path.display())))?;
            let mut writer = ExportWriter::new(file, options.full);
            let data = source::etcd::stream(store, &header, progress, &mut writer)
                .await
                .map_err(|e| e.noting(&kept))?;
            let file = writer
                .finish()
                .map_err(Error::io(format!("writing {}", path.display())))
                .map_err(|e| e.noting(&kept))?;
            file.commit()
                .map_err(Error::io(format!("writing {}", path.display())))
                .map_err(|e| e.noting(&kept))?;
            data
        }
        None => {
            let stdout = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            let mut writer = ExportWriter::new(stdout, options.full);
            let data = source::etcd::stream(store, &header, progress, &mut writer).await?;
            writer
                .finish()
                .map_err(Error::io("writing the export to stdout"))?;
            data
        }
    };
    let keys = source::etcd::account(store, &header).await?;
    let mut report = ExportReport {
        file: options.file.as_ref().map(|f| f.display().to_string()),
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
    if header.lock != LockState::Locked {
        report.data.warnings.insert(
            0,
            "the etcd datastore is not locked: Calico keeps changing it, so this snapshot may go stale (fine for a backup, a rehearsal or a pre-copy, not for the final copy)".into(),
        );
    }
    Ok(report)
}

/// Everything that stops the export, all at once, the lock first.
fn preflight(header: &Header, allow_unlocked: bool) -> Result<(), Error> {
    let mut blockers = Vec::new();
    if header.lock != LockState::Locked && !allow_unlocked {
        blockers.push(Blocker::new(
            "datastore is not locked. Run the `kubectl calico-migrate lock --datastore etcd` command in order to begin migration",
            "lock it first (new pods get no networking until the migration ends), or pass --allow-unlocked for a backup or a rehearsal",
        ));
    }
    if let Some(problem) = &header.node_problem {
        blockers.push(Blocker::new(
            problem.to_string(),
            problem.hint().unwrap_or_default(),
        ));
    }
    // One problem keeps calicoctl's wording as the whole message.
    match blockers.len() {
        0 => Ok(()),
        1 => {
            let blocker = blockers.remove(0);
            Err(Error::failed(blocker.problem, blocker.fix))
        }
        _ => Err(Error::blocked("cannot export", blockers)),
    }
}
