//! What a copy found equal to its file in the Kubernetes datastore, or made equal, object by
//! object: the resourceVersion at which each object was compared (or answered by the server
//! after a write) equal to the file. Kubernetes gives an object a new resourceVersion on every
//! change, so listing the target again and finding the same resourceVersions proves the target
//! still equals the file, without reading and converting the file a second time. `run`
//! verifies its copy this way under the lock (docs/design.md §16.3); anything the
//! ledger cannot vouch for sends it back to the full comparison.
//!
//! With each object the ledger also keeps a digest of the object as the copy meant to write
//! it. `run` saves the pre-copy's ledger to a file; under the lock, the copy of the changes
//! reads it back as its baseline: an object whose digest is the same is still equal to what
//! the target held at that resourceVersion, so only objects with another digest are written,
//! and the target is not listed (docs/design.md §16.2).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::Path;

use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::rest::{Rest, RestError};
use super::target::managed_by_migration;
use crate::atomic_file::AtomicFile;
use crate::convert::compare::comparable;
use crate::convert::kdd::Desired;
use crate::kinds::{CalicoKind, CrdApi, Role};

/// What the copy saw of one object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Seen {
    /// Equal to the file at this resourceVersion.
    At(String),
    /// Deleted: the migration wrote it earlier and the file no longer has it.
    Gone,
    /// A Kubernetes Node's Calico annotations: the values it must have and the keys it must
    /// not (the kubelet changes Nodes all the time, so their resourceVersion proves nothing).
    Node {
        set: BTreeMap<String, String>,
        remove: Vec<String>,
    },
}

/// Kinds a check lists at once.
const LISTS_AT_ONCE: usize = 2;

/// Per kind, what the copy saw of every object of the file.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    kinds: BTreeMap<&'static str, (&'static CalicoKind, HashMap<String, Entry>)>,
}

/// What the ledger holds of one object.
#[derive(Clone, Debug, Default)]
struct Entry {
    seen: Option<Seen>,
    digest: Option<Digest>,
}

/// The digest of an object as a copy means to write it ([`digest`]).
pub type Digest = [u8; 16];

/// What an earlier copy recorded of one object: what it saw, and the digest of the object it
/// meant to write (None for objects it deleted).
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    pub seen: Seen,
    pub digest: Option<Digest>,
}

/// One line of a ledger file (after the first, which holds the format): JSON lines, written
/// and read one object at a time.
#[derive(Serialize, Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    name: Cow<'a, str>,
    seen: Cow<'a, Seen>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
}

/// The first line of a ledger file; another format is not read.
const LEDGER_HEADER: &str = r#"{"calicoMigrateLedger":1}"#;

/// One object the ledger cannot vouch for.
#[derive(Clone, Debug, PartialEq)]
pub struct Unproven {
    pub name: String,
    pub why: String,
    pub class: Class,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Changed since the copy compared it.
    Different,
    /// The file has it; the target no longer does.
    Missing,
    /// The migration wrote it, the file does not have it, and it is still there.
    OnlyInTarget,
}

/// The check of one kind against the ledger.
#[derive(Clone, Debug, Default)]
pub struct KindProof {
    pub kind: &'static str,
    /// Objects of the file (deleted ones left out).
    pub source: u64,
    /// Objects listed as the copy left them.
    pub matching: u64,
    pub unproven: Vec<Unproven>,
    /// Objects the migration never wrote (someone else's; left alone).
    pub foreign: Vec<String>,
    /// Listed from the API server's watch cache (else page by page, from etcd).
    pub cached: bool,
}

/// The digest of an object as a copy means to write it (a custom resource after the repairs
/// and defaults of the target, or a Node's Calico annotations): the first 128 bits of the
/// SHA-256 of its JSON, which the conversion produces deterministically, in the form the
/// comparison sees (without the write-time fields that an export stamps).
pub fn digest(desired: &Desired) -> Digest {
    let json = match desired {
        Desired::Resource { object, .. } => serde_json::to_vec(&comparable(object)),
        Desired::NodeAnnotations { set, remove, .. } => serde_json::to_vec(&(set, remove)),
    };
    let sha256 = crate::digest::sha256(&json.expect("JSON values serialize"));
    let mut digest = Digest::default();
    let size = digest.len();
    digest.copy_from_slice(&sha256[..size]);
    digest
}

impl Ledger {
    fn entry(&mut self, kind: &'static CalicoKind, name: String) -> &mut Entry {
        self.kinds
            .entry(kind.kind)
            .or_insert_with(|| (kind, HashMap::new()))
            .1
            .entry(name)
            .or_default()
    }

    pub fn note(&mut self, kind: &'static CalicoKind, name: String, seen: Seen) {
        self.entry(kind, name).seen = Some(seen);
    }

    /// The digest of the object the copy means to write ([`digest`]).
    pub fn note_digest(&mut self, kind: &'static CalicoKind, name: String, digest: Digest) {
        self.entry(kind, name).digest = Some(digest);
    }

    /// What the ledger recorded of every object of `kind`: objects it saw equal with the
    /// digest they were compared with, and objects it deleted. An object seen without a
    /// digest cannot tell whether the file changed it, and is left out.
    pub fn recorded(&self, kind: &CalicoKind) -> HashMap<String, Recorded> {
        let Some((_, entries)) = self.kinds.get(kind.kind) else {
            return HashMap::new();
        };
        entries
            .iter()
            .filter_map(|(name, entry)| {
                let (seen, digest) = recorded(entry)?;
                let seen = seen.clone();
                Some((name.clone(), Recorded { seen, digest }))
            })
            .collect()
    }

    /// Writes the ledger to `path` (whole or not at all), one object per line; returns the
    /// file's SHA-256.
    pub fn save(&self, path: &Path) -> std::io::Result<String> {
        let file = AtomicFile::create(path)?;
        let mut file = std::io::BufWriter::new(crate::digest::Sha256Writer::new(file));
        writeln!(file, "{LEDGER_HEADER}")?;
        for (kind, entries) in self.kinds.values() {
            for (name, entry) in entries {
                let Some((seen, digest)) = recorded(entry) else {
                    continue;
                };
                let line = Line {
                    kind: Cow::Borrowed(kind.kind),
                    name: Cow::Borrowed(name),
                    seen: Cow::Borrowed(seen),
                    digest: digest.map(|d| crate::digest::hex(&d)),
                };
                serde_json::to_writer(&mut file, &line)?;
                file.write_all(b"\n")?;
            }
        }
        let (file, sha256) = file.into_inner().map_err(|e| e.into_error())?.finish();
        file.commit()?;
        Ok(sha256)
    }

    /// Reads a ledger [`Ledger::save`] wrote, if the file is still the one with `sha256`.
    pub fn load(path: &Path, sha256: &str) -> Result<Ledger, String> {
        let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let text = std::fs::read(path).map_err(|e| at(&e))?;
        if crate::digest::sha256_hex(&text) != sha256 {
            return Err(at(&"changed since it was written"));
        }
        let mut lines = text.split(|b| *b == b'\n').filter(|line| !line.is_empty());
        if lines.next() != Some(LEDGER_HEADER.as_bytes()) {
            return Err(at(&"not a ledger of this version"));
        }
        let mut ledger = Ledger::default();
        for line in lines {
            let line: Line = serde_json::from_slice(line).map_err(|e| at(&e))?;
            let kind = CalicoKind::by_kind(&line.kind)
                .ok_or_else(|| at(&format!("unknown kind {}", line.kind)))?;
            let name = line.name.into_owned();
            if let Some(digest) = line.digest {
                let digest = unhex(&digest).ok_or_else(|| at(&format!("digest {digest:?}")))?;
                ledger.note_digest(kind, name.clone(), digest);
            }
            ledger.note(kind, name, line.seen.into_owned());
        }
        Ok(ledger)
    }

    /// Objects seen (deleted ones included).
    pub fn len(&self) -> usize {
        self.kinds
            .values()
            .flat_map(|(_, entries)| entries.values())
            .filter(|entry| entry.seen.is_some())
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lists every kind of the ledger in `api` again and compares with what the copy saw.
    /// Kinds are listed [`LISTS_AT_ONCE`] at a time, so that the server answers one list while
    /// the plugin reads another; the proofs come in the ledger's order of kinds.
    pub async fn check(&self, rest: &Rest, api: CrdApi) -> Result<Vec<KindProof>, RestError> {
        futures::stream::iter(self.kinds.values())
            .map(|(kind, entries)| check_kind(rest, api, kind, entries))
            .buffered(LISTS_AT_ONCE)
            .try_collect()
            .await
    }
}

/// What an entry tells a later copy: only what was seen, with a digest unless deleted.
fn recorded(entry: &Entry) -> Option<(&Seen, Option<Digest>)> {
    match (&entry.seen, entry.digest) {
        (Some(Seen::Gone), _) => Some((&Seen::Gone, None)),
        (Some(seen), Some(digest)) => Some((seen, Some(digest))),
        _ => None,
    }
}

fn unhex(text: &str) -> Option<Digest> {
    let mut digest = Digest::default();
    if text.len() != 2 * digest.len() || !text.is_ascii() {
        return None;
    }
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(digest)
}

async fn check_kind(
    rest: &Rest,
    api: CrdApi,
    kind: &'static CalicoKind,
    entries: &HashMap<String, Entry>,
) -> Result<KindProof, RestError> {
    let path = match kind.role {
        Role::Node => "/api/v1/nodes".to_string(),
        _ => api.collection_path(kind, None),
    };
    // From the server's watch cache, at least as recent as every resourceVersion the ledger
    // holds of the kind (the copy's own writes included), so the listing shows all of them.
    let newest = entries
        .values()
        .filter_map(|e| match &e.seen {
            Some(Seen::At(version)) => Some(version.parse::<u64>().ok()),
            _ => None,
        })
        .collect::<Option<Vec<u64>>>()
        .map(|versions| versions.into_iter().max());
    let mut scan = Scan::new(kind, entries);
    let cached = match newest {
        Some(newest) => Some(rest.list_cached_as(&path, newest, |o| scan.see(o)).await),
        // resourceVersions that are not numbers cannot be compared: paged, from etcd.
        None => None,
    };
    let result = match cached {
        Some(Ok(())) => {
            scan.proof.cached = true;
            Ok(())
        }
        Some(Err(e)) if e.is(404) => Err(e),
        // The cache could not answer (a server that is behind, a cut connection): the paged
        // list, with its retries, from the start.
        _ => {
            scan = Scan::new(kind, entries);
            rest.list_all_as(&path, |o| scan.see(o)).await
        }
    };
    match result {
        Ok(()) => {}
        // The CRD is gone: every object of the kind is missing.
        Err(e) if e.is(404) => {}
        Err(e) => return Err(e),
    }
    Ok(scan.finish())
}

/// One listing of a kind compared with the ledger, object by object.
struct Scan<'a> {
    entries: &'a HashMap<String, Entry>,
    is_node: bool,
    proof: KindProof,
    listed: HashSet<String>,
}

impl<'a> Scan<'a> {
    fn new(kind: &'static CalicoKind, entries: &'a HashMap<String, Entry>) -> Scan<'a> {
        let proof = KindProof {
            kind: kind.kind,
            source: entries
                .values()
                .filter(|e| e.seen.as_ref().is_some_and(|s| *s != Seen::Gone))
                .count() as u64,
            ..Default::default()
        };
        Scan {
            entries,
            is_node: kind.role == Role::Node,
            proof,
            listed: HashSet::new(),
        }
    }

    fn see(&mut self, object: Lean) {
        let metadata = &object.metadata;
        let name = match &metadata.namespace {
            Some(namespace) => format!("{namespace}/{}", metadata.name),
            None => metadata.name.clone(),
        };
        let managers = metadata
            .managed_fields
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|m| m.manager.as_deref());
        let proof = &mut self.proof;
        match self.entries.get(&name).and_then(|e| e.seen.as_ref()) {
            Some(expected) => match judge(expected, metadata) {
                None => proof.matching += 1,
                Some(why) => proof.unproven.push(Unproven {
                    name: name.clone(),
                    why,
                    class: Class::Different,
                }),
            },
            // Nodes without Calico data are none of the migration's business.
            None if self.is_node => {}
            None if managed_by_migration(managers, true) => proof.unproven.push(Unproven {
                name: name.clone(),
                why: "written by the migration, not in the file".into(),
                class: Class::OnlyInTarget,
            }),
            None => proof.foreign.push(name.clone()),
        }
        self.listed.insert(name);
    }

    /// The proof, with what the listing lacked.
    fn finish(mut self) -> KindProof {
        let mut missing: Vec<&String> = self
            .entries
            .iter()
            .filter(|(name, e)| {
                e.seen.as_ref().is_some_and(|s| *s != Seen::Gone) && !self.listed.contains(*name)
            })
            .map(|(name, _)| name)
            .collect();
        missing.sort();
        for name in missing {
            self.proof.unproven.push(Unproven {
                name: name.clone(),
                why: "not in the target".into(),
                class: Class::Missing,
            });
        }
        self.proof
    }
}

/// What the check reads of a listed object.
#[derive(serde::Deserialize)]
struct Lean {
    metadata: LeanMetadata,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct LeanMetadata {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    resource_version: Option<String>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    managed_fields: Option<Vec<LeanManager>>,
}

#[derive(serde::Deserialize)]
struct LeanManager {
    #[serde(default)]
    manager: Option<String>,
}

/// Why an object with `metadata` is not as the copy saw it; None when it is.
fn judge(expected: &Seen, metadata: &LeanMetadata) -> Option<String> {
    match expected {
        Seen::At(version) => {
            let now = metadata.resource_version.as_deref().unwrap_or_default();
            (now != version).then(|| {
                format!("changed after the copy compared it (resourceVersion {version}, now {now})")
            })
        }
        Seen::Gone => Some("deleted by the copy, and there again".into()),
        Seen::Node { set, remove } => {
            let none = BTreeMap::new();
            let annotations = metadata.annotations.as_ref().unwrap_or(&none);
            let wrong: Vec<String> = set
                .iter()
                .filter(|(key, value)| annotations.get(*key) != Some(value))
                .map(|(key, value)| {
                    format!(
                        "annotation {key}: expected {value:?}, found {:?}",
                        annotations.get(key)
                    )
                })
                .chain(
                    remove
                        .iter()
                        .filter(|key| annotations.contains_key(*key))
                        .map(|key| format!("annotation {key}: expected none")),
                )
                .collect();
            (!wrong.is_empty()).then(|| wrong.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn metadata(object: serde_json::Value) -> LeanMetadata {
        serde_json::from_value::<Lean>(object).unwrap().metadata
    }

    fn kind(name: &str) -> &'static CalicoKind {
        CalicoKind::by_kind(name).unwrap()
    }

    #[test]
    fn a_saved_ledger_reads_back_with_its_digests_and_only_as_it_was_written() {
        let pools = kind("IPPool");
        let mut ledger = Ledger::default();
        let pool = Desired::Resource {
            kind: pools,
            object: json!({"metadata": {"name": "a"}, "spec": {"cidr": "10.0.0.0/16"}}),
        };
        ledger.note(pools, "a".into(), Seen::At("7".into()));
        ledger.note_digest(pools, "a".into(), digest(&pool));
        // Written, but the answer did not prove it: no resourceVersion to vouch with.
        ledger.note_digest(pools, "b".into(), digest(&pool));
        ledger.note(pools, "gone".into(), Seen::Gone);
        // Seen without a digest cannot tell whether the file changed it.
        ledger.note(pools, "no-digest".into(), Seen::At("9".into()));
        let nodes = kind("Node");
        let node = Desired::NodeAnnotations {
            node: "n".into(),
            set: [("projectcalico.org/IPv4Address".into(), "10.0.0.1/24".into())].into(),
            remove: Vec::new(),
        };
        let Desired::NodeAnnotations { set, remove, .. } = &node else {
            unreachable!()
        };
        let seen_node = Seen::Node {
            set: set.clone(),
            remove: remove.clone(),
        };
        ledger.note(nodes, "n".into(), seen_node.clone());
        ledger.note_digest(nodes, "n".into(), digest(&node));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pre-copy.ledger");
        let sha256 = ledger.save(&path).unwrap();
        let read = Ledger::load(&path, &sha256).unwrap();
        let recorded = read.recorded(pools);
        let mut names: Vec<&String> = recorded.keys().collect();
        names.sort();
        assert_eq!(names, ["a", "gone"]);
        assert_eq!(recorded["a"].seen, Seen::At("7".into()));
        assert_eq!(recorded["a"].digest, Some(digest(&pool)));
        assert_eq!(recorded["gone"].digest, None);
        assert_eq!(read.recorded(nodes)["n"].seen, seen_node);

        let other = Desired::Resource {
            kind: pools,
            object: json!({"metadata": {"name": "a"}, "spec": {"cidr": "10.1.0.0/16"}}),
        };
        assert_ne!(digest(&pool), digest(&other));
        let stamped = |time: &str| Desired::Resource {
            kind: pools,
            object: json!({"metadata": {"name": "a", "annotations": {
                "projectcalico.org/metadata": format!("{{\"creationTimestamp\":\"{time}\"}}")}}}),
        };
        assert_eq!(
            digest(&stamped("2026-12-03T06:39:08Z")),
            digest(&stamped("2026-12-03T06:41:00Z")),
            "write-time fields are not the object's content"
        );
        std::fs::write(&path, b"{}").unwrap();
        let refused = Ledger::load(&path, &sha256).unwrap_err();
        assert!(
            refused.contains("changed since it was written"),
            "{refused}"
        );
    }

    #[test]
    fn a_resource_is_proven_by_its_resource_version_alone() {
        let object = metadata(json!({"metadata": {"name": "a", "resourceVersion": "42"}}));
        assert_eq!(judge(&Seen::At("42".into()), &object), None);
        let why = judge(&Seen::At("41".into()), &object).unwrap();
        assert!(why.contains("resourceVersion 41, now 42"), "{why}");
        assert!(judge(&Seen::Gone, &object).is_some());
    }

    #[test]
    fn a_node_is_proven_by_its_calico_annotations() {
        let node = metadata(
            json!({"metadata": {"name": "n", "resourceVersion": "7", "annotations": {
            "projectcalico.org/IPv4Address": "10.0.0.1/24", "kubelet": "x"}}}),
        );
        let expected = |value: &str, remove: &[&str]| Seen::Node {
            set: [(
                "projectcalico.org/IPv4Address".to_string(),
                value.to_string(),
            )]
            .into(),
            remove: remove.iter().map(|r| r.to_string()).collect(),
        };
        assert_eq!(judge(&expected("10.0.0.1/24", &[]), &node), None);
        assert!(judge(&expected("10.0.0.2/24", &[]), &node).is_some());
        assert!(judge(&expected("10.0.0.1/24", &["kubelet"]), &node).is_some());
    }
}
