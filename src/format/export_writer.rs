//! Writes calicoctl's migration file (docs/design.md §12) as the export reads etcd, one object at
//! a time, so that memory does not grow with the cluster:
//!
//! ```text
//! <YAML of IPPoolList>---
//! ... one list document per kind ...
//! ===
//! <ClusterInformation as indented JSON>
//! ===
//! <IPAM JSON>
//! ```
//!
//! Every piece is rendered by the Go-compatible encoders, so the bytes match what calicoctl's
//! `yaml.Marshal` and `json.MarshalIndent` would write for the same data.

use std::io::{self, Write};

use serde_json::{Value, json};

use crate::convert::ipam::IpamEntry;
use crate::kinds::IpamKind;
use go_compat::{json as gojson, yaml as goyaml};

/// The separator between the three parts of the file.
pub const PART_SEPARATOR: &str = "===\n";
/// The separator after each YAML list document.
pub const DOCUMENT_SEPARATOR: &str = "---\n";
/// The API version of the exported objects and lists.
pub const V3_API_VERSION: &str = "projectcalico.org/v3";

enum State {
    Lists,
    InList { kind: String, items: u64 },
    ClusterInformation,
    Ipam { last: Option<IpamKind> },
}

pub struct ExportWriter<W: Write> {
    out: W,
    state: State,
    /// Heads the file with a comment saying it is for this tool only (the full form).
    full: bool,
}

/// The first line of a file in the full form.
pub const FULL_FORM_COMMENT: &str = "# kubectl calico-migrate export --full: everything etcd holds, for kubectl calico-migrate import only (calicoctl cannot import it)\n";

impl<W: Write> ExportWriter<W> {
    /// A writer of calicoctl's file, or with `full` of the full form.
    pub fn new(out: W, full: bool) -> ExportWriter<W> {
        ExportWriter {
            out,
            state: State::Lists,
            full,
        }
    }

    /// Starts the list document of a kind (`IPPool` → `IPPoolList`).
    pub fn begin_list(&mut self, kind: &str) -> io::Result<()> {
        assert!(
            matches!(self.state, State::Lists),
            "lists come first, one at a time"
        );
        if std::mem::take(&mut self.full) {
            self.out.write_all(FULL_FORM_COMMENT.as_bytes())?;
        }
        self.out
            .write_all(goyaml::to_yaml(&json!({"apiVersion": V3_API_VERSION})).as_bytes())?;
        self.state = State::InList {
            kind: kind.to_string(),
            items: 0,
        };
        Ok(())
    }

    /// One object of the current list.
    pub fn item(&mut self, object: &Value) -> io::Result<()> {
        let State::InList { items, .. } = &mut self.state else {
            panic!("items belong to a list");
        };
        if *items == 0 {
            self.out.write_all(b"items:\n")?;
        }
        *items += 1;
        self.out.write_all(list_item_yaml(object).as_bytes())
    }

    /// Ends the list with its `kind` and the snapshot's revision, and the `---` line.
    pub fn end_list(&mut self, revision: i64) -> io::Result<()> {
        let State::InList { kind, items } = std::mem::replace(&mut self.state, State::Lists) else {
            panic!("end_list ends a list");
        };
        if items == 0 {
            self.out.write_all(b"items: []\n")?;
        }
        let tail = json!({"kind": format!("{kind}List"), "metadata": {"resourceVersion": revision.to_string()}});
        self.out.write_all(goyaml::to_yaml(&tail).as_bytes())?;
        self.out.write_all(DOCUMENT_SEPARATOR.as_bytes())
    }

    /// The second part: ClusterInformation as `json.MarshalIndent` writes it.
    pub fn cluster_information(&mut self, object: &Value) -> io::Result<()> {
        assert!(
            matches!(self.state, State::Lists),
            "cluster information follows the lists"
        );
        self.out.write_all(PART_SEPARATOR.as_bytes())?;
        self.out
            .write_all(gojson::marshal_indent(object, "", "  ").as_bytes())?;
        self.out.write_all(b"\n")?;
        self.out.write_all(PART_SEPARATOR.as_bytes())?;
        self.state = State::ClusterInformation;
        Ok(())
    }

    /// One IPAM entry; entries come grouped in the order of [`IpamKind::ALL`].
    pub fn ipam_entry(&mut self, entry: &IpamEntry) -> io::Result<()> {
        if matches!(self.state, State::ClusterInformation) {
            self.out.write_all(b"{")?;
            self.state = State::Ipam { last: None };
        }
        let State::Ipam { last } = &mut self.state else {
            panic!("IPAM entries follow the cluster information");
        };
        let pair = json!({"Key": entry.key, "Value": entry.value, "TTL": 0});
        match *last {
            Some(previous) if previous == entry.kind => {
                assert!(entry.kind != IpamKind::Config, "one IPAM config");
                self.out.write_all(b",\n    ")?;
            }
            previous => {
                assert!(
                    previous.is_none_or(|p| p < entry.kind),
                    "IPAM sections come in order"
                );
                if previous.is_some() {
                    // Only the config is not an array, and it comes last.
                    self.out.write_all(b"\n  ],")?;
                }
                let field = entry.kind.field();
                let open = if entry.kind == IpamKind::Config {
                    ""
                } else {
                    "[\n    "
                };
                self.out
                    .write_all(format!("\n  \"{field}\": {open}").as_bytes())?;
            }
        }
        let indent = if entry.kind == IpamKind::Config {
            "  "
        } else {
            "    "
        };
        self.out
            .write_all(gojson::marshal_indent(&pair, indent, "  ").as_bytes())?;
        *last = Some(entry.kind);
        Ok(())
    }

    /// Closes the IPAM JSON and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        match self.state {
            State::ClusterInformation => self.out.write_all(b"{}\n")?,
            State::Ipam { last } => {
                let close = if last == Some(IpamKind::Config) {
                    "\n}\n"
                } else {
                    "\n  ]\n}\n"
                };
                self.out.write_all(close.as_bytes())?;
            }
            _ => panic!("the file ends after the IPAM part"),
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

/// An object as an item of a YAML list: go-yaml renders a sequence item the same wherever the
/// sequence is, so rendering a one-item list and dropping its key gives the exact text.
fn list_item_yaml(object: &Value) -> String {
    let text = goyaml::to_yaml(&json!({"items": [object]}));
    text.strip_prefix("items:\n")
        .map(str::to_string)
        .unwrap_or(text)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::convert::ipam::ipam_json;

    /// IPAM entries of every kind: IPv4 and IPv6 affinities, a block with a field a newer
    /// calicoctl added, a live and a deleted handle, the config.
    pub(crate) fn sample_ipam() -> Vec<IpamEntry> {
        vec![
            IpamEntry::new(
                IpamKind::BlockAffinity,
                "/calico/ipam/v2/host/a/ipv4/block/10.0.0.0-26",
                json!({"state": "confirmed", "deleted": false}),
            ),
            IpamEntry::new(
                IpamKind::BlockAffinity,
                "/calico/ipam/v2/host/b/ipv6/block/fd00::-122",
                json!({"state": "", "deleted": false}),
            ),
            IpamEntry::new(
                IpamKind::Block,
                "/calico/ipam/v2/assignment/ipv4/block/10.0.0.0-26",
                json!({"cidr": "10.0.0.0/26", "affinity": null, "allocations": [0, null], "unallocated": [1], "attributes": [{"handle_id": null, "secondary": null}], "sequenceNumber": 1, "sequenceNumberForAllocation": {"0": 1, "10": 2, "2": 3}, "deleted": false, "extra": {"from": "a newer calicoctl"}}),
            ),
            IpamEntry::new(
                IpamKind::Handle,
                "/calico/ipam/v2/handle/h1",
                json!({"block": {"10.0.0.0/26": 1}, "deleted": false}),
            ),
            IpamEntry::new(
                IpamKind::Handle,
                "/calico/ipam/v2/handle/h2",
                json!({"block": {}, "deleted": true}),
            ),
            IpamEntry::new(
                IpamKind::Config,
                "/calico/ipam/v2/config",
                json!({"strict_affinity": true}),
            ),
        ]
    }

    /// A whole export file written from lists, a ClusterInformation and IPAM entries.
    pub(crate) fn write(
        lists: &[(&str, Vec<Value>)],
        cluster: &Value,
        ipam: &[IpamEntry],
    ) -> String {
        let mut writer = ExportWriter::new(Vec::new(), false);
        for (kind, items) in lists {
            writer.begin_list(kind).unwrap();
            for item in items {
                writer.item(item).unwrap();
            }
            writer.end_list(1234).unwrap();
        }
        writer.cluster_information(cluster).unwrap();
        for e in ipam {
            writer.ipam_entry(e).unwrap();
        }
        String::from_utf8(writer.finish().unwrap()).unwrap()
    }

    #[test]
    fn streamed_ipam_json_equals_marshal_indent_of_the_whole() {
        let cases: Vec<Vec<IpamEntry>> = vec![
            vec![],
            vec![IpamEntry::new(
                IpamKind::Config,
                "/calico/ipam/v2/config",
                json!({"auto_allocate_blocks": true}),
            )],
            sample_ipam(),
            vec![IpamEntry::new(
                IpamKind::Handle,
                "/calico/ipam/v2/handle/only",
                json!({"block": {"a": 2}, "deleted": true}),
            )],
        ];
        for ipam in cases {
            let text = write(&[], &json!({"kind": "ClusterInformation"}), &ipam);
            let parts: Vec<&str> = text.split(PART_SEPARATOR).collect();
            assert_eq!(parts.len(), 3);
            assert_eq!(
                parts[2],
                format!("{}\n", gojson::marshal_indent(&ipam_json(&ipam), "", "  "))
            );
        }
    }

    #[test]
    fn streamed_lists_equal_yaml_marshal_of_the_whole_list() {
        let items = vec![
            json!({"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"creationTimestamp": null, "name": "a"}, "spec": {"cidr": "10.0.0.0/16", "blockSize": 26, "allowedUses": ["Workload", "Tunnel"]}}),
            json!({"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"creationTimestamp": null, "name": "b", "labels": {"x": "1"}}, "spec": {"cidr": "fd00::/64", "description": "a long description with spaces that goes on and on past the eighty columns that go-yaml folds plain scalars at"}}),
        ];
        let text = write(
            &[("IPPool", items.clone()), ("BGPPeer", vec![])],
            &json!({}),
            &[],
        );
        let documents: Vec<&str> = text
            .split(PART_SEPARATOR)
            .next()
            .unwrap()
            .split_inclusive(DOCUMENT_SEPARATOR)
            .collect();
        let whole = json!({"apiVersion": "projectcalico.org/v3", "items": items, "kind": "IPPoolList", "metadata": {"resourceVersion": "1234"}});
        assert_eq!(documents[0], format!("{}---\n", goyaml::to_yaml(&whole)));
        let empty = json!({"apiVersion": "projectcalico.org/v3", "items": [], "kind": "BGPPeerList", "metadata": {"resourceVersion": "1234"}});
        assert_eq!(documents[1], format!("{}---\n", goyaml::to_yaml(&empty)));
        assert!(documents[1].contains("items: []\n"));
    }
}
