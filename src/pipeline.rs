//! An export file as the objects to write into the Kubernetes datastore: read in a thread,
//! converted by the pure core, and handed over in file order through a bounded channel, so that
//! import and verify work on files of any size in bounded memory. A first pass counts the
//! entries of each object, so that of several entries for one object only the last is handed
//! over (calicoctl's rule, see `convert::merge`).

use std::path::{Path, PathBuf};

use serde_json::Value;
use tokio::sync::mpsc;

use crate::convert::kdd::{ConvertError, Desired, Target, ipam_to_kdd, to_kdd};
use crate::convert::merge::{Merge, Merger, identity};
use crate::format::export_reader::{self, Event, ReadError, Summary};
use crate::kinds::CalicoKind;

/// One object of the file, converted (or why it cannot be).
pub struct Item {
    /// The kind it is written as: its group in progress and summaries (`IPPool`, `Node`,
    /// `IPAMHandle`...). Items of a group arrive together.
    pub group: &'static str,
    pub desired: Result<Desired, ConvertError>,
}

/// The receiving side went away: stop reading.
#[derive(Debug)]
pub struct Stopped;

/// The group of an object of a list document, from its `kind`.
fn group_of(object: &Value) -> &'static str {
    object
        .get("kind")
        .and_then(Value::as_str)
        .and_then(CalicoKind::by_kind)
        .map(|k| k.kind)
        .unwrap_or("unknown kind")
}

/// Converts one event; None for events that are not objects to write.
pub fn convert(event: Event, target: &Target) -> Option<Item> {
    match event {
        Event::Object { object, .. } => Some(Item {
            group: group_of(&object),
            desired: to_kdd(&object, target),
        }),
        Event::Ipam(entry) => {
            let kind = entry.kind.calico_kind();
            let desired =
                ipam_to_kdd(&entry, target).map(|object| Desired::Resource { kind, object });
            Some(Item {
                group: kind.kind,
                desired,
            })
        }
        Event::ListEnd { .. } | Event::ClusterInformation(_) => None,
    }
}

/// What reading the file found besides its items.
#[derive(Debug)]
pub struct Read {
    pub summary: Summary,
    /// Objects the file has several entries for; only the last of each was handed over.
    pub merges: Vec<Merge>,
}

/// Reads the file in a thread and sends its items (the last entry of each object); the
/// handle yields the reader's result.
pub fn spawn(
    path: PathBuf,
    target: Target,
    capacity: usize,
) -> (
    mpsc::Receiver<Item>,
    std::thread::JoinHandle<Result<Read, ReadError<Stopped>>>,
) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let handle = std::thread::spawn(move || {
        let mut merger = Merger::default();
        export_reader::read_file(&path, |event| -> Result<(), Stopped> {
            if let Some(Item {
                desired: Ok(desired),
                ..
            }) = convert(event, &target)
            {
                merger.count(identity(&desired));
            }
            Ok(())
        })?;
        let summary = export_reader::read_file(&path, |event| match convert(event, &target) {
            Some(item) => {
                let keep = match &item.desired {
                    Ok(desired) => merger.keep(&identity(desired)),
                    Err(_) => true,
                };
                if keep {
                    tx.blocking_send(item).map_err(|_| Stopped)
                } else {
                    Ok(())
                }
            }
            None => Ok(()),
        })?;
        Ok(Read {
            summary,
            merges: merger.merges(),
        })
    });
    (rx, handle)
}

/// The ClusterInformation of part 2, found by scanning lines for the separators, without
/// parsing the YAML of part 1 (import needs the source's Calico version before it converts).
pub fn peek_cluster_information(path: &Path) -> Option<Value> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).ok()?;
    let mut part = 0;
    let mut text = String::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line.ok()?;
        if line.trim_end_matches('\r') == "===" {
            part += 1;
            if part == 2 {
                return serde_json::from_str(&text).ok();
            }
            continue;
        }
        if part == 1 {
            text.push_str(&line);
            text.push('\n');
        }
    }
    None
}
