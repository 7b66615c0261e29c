//! An export file as the objects to write into the Kubernetes datastore: read in a thread,
//! converted by the pure core, and handed over in file order through a bounded channel, so that
//! import and verify work on files of any size in bounded memory. Import and verify take the
//! objects a group (kind) at a time; of several entries for one object the last is kept
//! (calicoctl's rule, see `convert::merge`).

use std::path::PathBuf;

use crate::batch::{self, Batches};
use serde_json::Value;

use crate::convert::kdd::{ConvertError, Desired, TargetRelease, ipam_to_kdd, to_kdd};
use crate::convert::merge::Merge;
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
pub fn convert(event: Event, target: &TargetRelease) -> Option<Item> {
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

/// One object of the file as a group takes it: named and compacted in the reader's thread.
struct Read {
    group: &'static str,
    object: Result<(String, Compact), ConvertError>,
}

impl Read {
    fn of(item: Item) -> Read {
        Read {
            group: item.group,
            object: item
                .desired
                .map(|desired| (target_name(&desired), Compact::of(desired))),
        }
    }
}

/// Objects handed over at once: one wake-up of the receiver per batch, not per object.
const PER_BATCH: usize = 64;

/// The thread that reads a file: how reading it ended.
type Reader = std::thread::JoinHandle<Result<Summary, ReadError<Stopped>>>;

/// Reads the file in a thread and sends its objects in batches (at most `capacity` objects
/// waiting).
fn spawn(path: PathBuf, target: TargetRelease, capacity: usize) -> (Batches<Read>, Reader) {
    let (mut batcher, batches) = batch::channel(PER_BATCH, capacity);
    let handle = std::thread::spawn(move || {
        let summary = export_reader::read_file(&path, |event| match convert(event, &target) {
            Some(item) => batcher.push(Read::of(item)).map_err(|_| Stopped),
            None => Ok(()),
        })?;
        batcher.finish().map_err(|_| ReadError::Callback(Stopped))?;
        Ok(summary)
    });
    (batches, handle)
}

/// The ClusterInformation of part 2, read without parsing part 1 (bounded like the reader).
pub use crate::format::export_reader::peek_cluster_information;

/// One object of a group, kept compact until it is needed: JSON text takes several times less
/// memory than a parsed value, and a group can hold tens of thousands of objects.
#[derive(Clone, Debug)]
pub enum Compact {
    Resource {
        kind: &'static CalicoKind,
        json: Box<[u8]>,
    },
    /// Kept as it is: Node annotations (few and small), and placeholders.
    Parsed(Desired),
}

impl Compact {
    fn of(desired: Desired) -> Compact {
        match desired {
            Desired::Resource { kind, object } => Compact::Resource {
                kind,
                json: serde_json::to_vec(&object)
                    .expect("JSON values serialize")
                    .into_boxed_slice(),
            },
            node @ Desired::NodeAnnotations { .. } => Compact::Parsed(node),
        }
    }

    /// About how many bytes it holds.
    pub fn size(&self) -> usize {
        match self {
            Compact::Resource { json, .. } => json.len(),
            Compact::Parsed(_) => 256,
        }
    }

    pub fn desired(&self) -> Desired {
        match self {
            Compact::Resource { kind, json } => Desired::Resource {
                kind,
                object: serde_json::from_slice(json).unwrap_or(Value::Null),
            },
            Compact::Parsed(desired) => desired.clone(),
        }
    }
}

/// The name an object has in the target: `namespace/name`, a name, or a Node's name.
pub fn target_name(desired: &Desired) -> String {
    match desired {
        Desired::Resource { object, .. } => crate::convert::qualified_name(object),
        Desired::NodeAnnotations { node, .. } => node.clone(),
    }
}

/// All objects of one group of the file, by the name they get in the target. A name given
/// several times keeps its last object, as calicoctl's import (which applies them in order)
/// leaves it; the names are remembered so that the merge can be reported.
pub struct Group {
    pub name: &'static str,
    pub kind: Option<&'static CalicoKind>,
    /// Names in the order they first appear.
    pub order: Vec<String>,
    pub objects: std::collections::HashMap<String, Compact>,
    /// Names given more than once, and how many times.
    repeated: std::collections::BTreeMap<String, u32>,
    /// Objects that cannot be converted.
    pub errors: Vec<ConvertError>,
    /// Items of the file in this group.
    pub read: u64,
}

impl Group {
    fn new(name: &'static str) -> Group {
        Group {
            name,
            kind: CalicoKind::by_kind(name),
            order: Vec::new(),
            objects: std::collections::HashMap::new(),
            repeated: std::collections::BTreeMap::new(),
            errors: Vec::new(),
            read: 0,
        }
    }

    /// A group of `kind` without objects: the file has none of it.
    pub fn empty(kind: &'static CalicoKind) -> Group {
        Group::new(kind.kind)
    }

    fn add(&mut self, object: Result<(String, Compact), ConvertError>) {
        self.read += 1;
        let (name, compact) = match object {
            Ok(named) => named,
            Err(error) => {
                self.errors.push(error);
                return;
            }
        };
        match self.objects.insert(name.clone(), compact) {
            None => self.order.push(name),
            Some(_) => *self.repeated.entry(name).or_insert(1) += 1,
        }
    }

    /// The objects the group has several entries for (the last entry of each is kept).
    pub fn merges(&self) -> Vec<Merge> {
        self.repeated
            .iter()
            .map(|(name, entries)| Merge {
                object: format!("{} {name}", self.name),
                entries: *entries,
            })
            .collect()
    }

    /// The objects in file order, each name once (with its last object).
    pub fn objects(&self) -> impl Iterator<Item = (&String, &Compact)> {
        self.order
            .iter()
            .filter_map(|name| self.objects.get(name).map(|o| (name, o)))
    }
}

/// A file's groups, one at a time, read and converted in a thread.
pub struct Groups {
    reads: Batches<Read>,
    reader: Option<Reader>,
    next: Option<Read>,
}

impl Groups {
    pub fn open(path: PathBuf, target: TargetRelease) -> Groups {
        let (reads, reader) = spawn(path, target, 1024);
        Groups {
            reads,
            reader: Some(reader),
            next: None,
        }
    }

    /// The next group, or None at the end of the file (or when the reader stopped: see
    /// [`Groups::finish`]).
    pub async fn next(&mut self) -> Option<Group> {
        let first = match self.next.take() {
            Some(read) => read,
            None => self.reads.next().await?,
        };
        let mut group = Group::new(first.group);
        group.add(first.object);
        while let Some(read) = self.reads.next().await {
            if read.group != group.name {
                self.next = Some(read);
                break;
            }
            group.add(read.object);
        }
        Some(group)
    }

    /// How reading the file ended.
    pub fn finish(mut self) -> Result<Summary, ReadError<Stopped>> {
        self.reads.close();
        match self.reader.take().map(|r| r.join()) {
            Some(Ok(result)) => result,
            _ => Err(ReadError::Callback(Stopped)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, address: &str) -> Result<(String, Compact), ConvertError> {
        node_desired(name, address).map(|desired| (name.to_string(), Compact::of(desired)))
    }

    fn node_desired(name: &str, address: &str) -> Result<Desired, ConvertError> {
        Ok(Desired::NodeAnnotations {
            node: name.into(),
            set: [(
                "projectcalico.org/IPv4Address".to_string(),
                address.to_string(),
            )]
            .into(),
            remove: Vec::new(),
        })
    }

    #[test]
    fn the_last_entry_of_an_object_wins() {
        let mut group = Group::new("Node");
        group.add(node("node4", "10.0.0.4/24"));
        group.add(node("worker-1", "10.0.0.1/24"));
        group.add(node("node4", "10.0.0.5/24"));
        group.add(node("node4", "10.0.0.6/24"));
        let objects: Vec<(String, Desired)> = group
            .objects()
            .map(|(name, object)| (name.clone(), object.desired()))
            .collect();
        assert_eq!(
            objects.len(),
            2,
            "each object once, in order of first entry"
        );
        assert_eq!(objects[0].0, "node4");
        assert_eq!(objects[0].1, node_desired("node4", "10.0.0.6/24").unwrap());
        assert_eq!(group.read, 4);
        assert_eq!(
            group.merges(),
            [Merge {
                object: "Node node4".into(),
                entries: 3
            }]
        );
    }
}
