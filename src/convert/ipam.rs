//! IPAM data (docs/design.md §4.3, §5 and §12.1): etcd keys and raw values in, the entries of the
//! export file's IPAM JSON out, with node renames applied and values in the form Go writes.

use serde_json::{Map, Value, json};

use super::gotypes::reencode_struct;
use super::nodes::NodeMap;
use super::versions::Release;
use crate::kinds::{IPAM_PREFIX, IpamKind};

/// What an IPAM key is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IpamKey<'k> {
    Block {
        cidr: String,
    },
    Affinity {
        virtual_: bool,
        host: &'k str,
        ip_version: u8,
        cidr: String,
    },
    Handle {
        id: &'k str,
    },
    Config,
    Other,
}

/// `10.65.79.0-26` → `10.65.79.0/26` (the first `-` before the prefix length).
fn key_cidr(part: &str) -> Option<String> {
    let (network, length) = part.rsplit_once('-')?;
    length.parse::<u8>().ok()?;
    (!network.is_empty()).then(|| format!("{network}/{length}"))
}

pub fn parse_ipam_key(key: &str) -> IpamKey<'_> {
    let Some(rest) = key.strip_prefix(IPAM_PREFIX) else {
        return IpamKey::Other;
    };
    if rest == "config" {
        return IpamKey::Config;
    }
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["assignment", "ipv4" | "ipv6", "block", cidr] => match key_cidr(cidr) {
            Some(cidr) => IpamKey::Block { cidr },
            None => IpamKey::Other,
        },
        [
            kind @ ("host" | "virtual"),
            host,
            version @ ("ipv4" | "ipv6"),
            "block",
            cidr,
        ] if !host.is_empty() => match key_cidr(cidr) {
            Some(cidr) => IpamKey::Affinity {
                virtual_: *kind == "virtual",
                host,
                ip_version: if *version == "ipv4" { 4 } else { 6 },
                cidr,
            },
            None => IpamKey::Other,
        },
        ["handle", id] if !id.is_empty() => IpamKey::Handle { id },
        _ => IpamKey::Other,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IpamSkip {
    /// `/calico/ipam/v2/virtual/...` affinities (LoadBalancer IPAM), which calicoctl does not list.
    VirtualAffinity,
    UnexpectedKey,
    Unparseable,
    /// The value does not fit the source release's model type.
    DoesNotFit,
}

impl IpamSkip {
    pub fn describe(self) -> &'static str {
        match self {
            IpamSkip::VirtualAffinity => {
                "virtual (LoadBalancer) block affinities, which calicoctl does not export either"
            }
            IpamSkip::UnexpectedKey => "keys that are not IPAM keys",
            IpamSkip::Unparseable => "values that are not JSON objects",
            IpamSkip::DoesNotFit => "values the source release's types cannot read",
        }
    }
}

/// One entry of the IPAM JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct IpamEntry {
    pub kind: IpamKind,
    pub key: String,
    pub value: Value,
    /// Whether a node rename changed the key or the value.
    pub renamed: bool,
}

impl IpamEntry {
    /// An entry as stored, no node renamed.
    pub fn new(kind: IpamKind, key: impl Into<String>, value: Value) -> IpamEntry {
        IpamEntry {
            kind,
            key: key.into(),
            value,
            renamed: false,
        }
    }
}

/// How export reads an IPAM value: the source release's types, and whether to keep what they
/// do not know and rename IPv6 tunnel handles too (`--full`).
#[derive(Clone, Copy, Debug)]
pub struct IpamContext<'a> {
    pub nodes: &'a NodeMap,
    pub release: Release,
    pub full: bool,
}

/// Exports one IPAM key and value, read into the source release's model type and written
/// back as its calicoctl writes it.
pub fn export_ipam(key: &str, raw: &[u8], ctx: IpamContext<'_>) -> Result<IpamEntry, IpamSkip> {
    let nodes = ctx.nodes;
    let read = |structure: &str, value: &Value| -> Result<Value, IpamSkip> {
        reencode_struct(ctx.release.types(), structure, value, ctx.full)
            .map(|reencoded| reencoded.value)
            .map_err(|_| IpamSkip::DoesNotFit)
    };
    match parse_ipam_key(key) {
        IpamKey::Block { .. } => {
            let mut value = read("model.AllocationBlock", &parse_object(raw)?)?;
            let renamed = rename_block(&mut value, nodes, ctx.full);
            Ok(IpamEntry {
                kind: IpamKind::Block,
                key: key.to_string(),
                value,
                renamed,
            })
        }
        IpamKey::Affinity { virtual_: true, .. } => Err(IpamSkip::VirtualAffinity),
        IpamKey::Affinity {
            host,
            ip_version,
            cidr,
            ..
        } => {
            // Very old affinities have an empty value: read it as {}.
            let stored = if raw.iter().all(u8::is_ascii_whitespace) {
                json!({})
            } else {
                parse_object(raw)?
            };
            let value = read("model.BlockAffinity", &stored)?;
            let target = nodes.get(host).unwrap_or(host);
            let key = format!(
                "{IPAM_PREFIX}host/{target}/ipv{ip_version}/block/{}",
                cidr.replacen('/', "-", 1)
            );
            Ok(IpamEntry {
                kind: IpamKind::BlockAffinity,
                key,
                value,
                renamed: target != host,
            })
        }
        IpamKey::Handle { id } => {
            let value = read("model.IPAMHandle", &parse_object(raw)?)?;
            let (key, renamed) = match nodes.rename_handle(id, ctx.full) {
                Some(new_id) => (format!("{IPAM_PREFIX}handle/{new_id}"), true),
                None => (key.to_string(), false),
            };
            Ok(IpamEntry {
                kind: IpamKind::Handle,
                key,
                value,
                renamed,
            })
        }
        IpamKey::Config => Ok(IpamEntry::new(
            IpamKind::Config,
            key,
            read("model.IPAMConfig", &parse_object(raw)?)?,
        )),
        IpamKey::Other => Err(IpamSkip::UnexpectedKey),
    }
}

fn parse_object(raw: &[u8]) -> Result<Value, IpamSkip> {
    match serde_json::from_slice(raw) {
        Ok(value @ Value::Object(_)) => Ok(value),
        _ => Err(IpamSkip::Unparseable),
    }
}

/// Applies the node map to a block (docs/design.md §5.2): the `node` attribute of every allocation
/// (and of alternate owners), tunnel handle IDs, and the affinity.
fn rename_block(block: &mut Value, nodes: &NodeMap, ipv6_handles: bool) -> bool {
    let mut renamed = false;
    if let Some(attributes) = block.get_mut("attributes").and_then(Value::as_array_mut) {
        for attribute in attributes.iter_mut().filter_map(Value::as_object_mut) {
            for owner in ["secondary", "alternateOwnerAttrs"] {
                renamed |= rename_node_attribute(attribute.get_mut(owner), nodes);
            }
            if let Some(Value::String(handle)) = attribute.get_mut("handle_id")
                && let Some(new_handle) = nodes.rename_handle(handle, ipv6_handles)
            {
                *handle = new_handle;
                renamed = true;
            }
        }
    }
    if let Some(Value::String(affinity)) = block.get_mut("affinity") {
        let host = affinity
            .strip_prefix("host:")
            .or_else(|| affinity.strip_prefix("virtual:"));
        if let Some(k8s) = host.and_then(|h| nodes.get(h))
            && *affinity != format!("host:{k8s}")
        {
            *affinity = format!("host:{k8s}");
            renamed = true;
        }
    }
    renamed
}

fn rename_node_attribute(attributes: Option<&mut Value>, nodes: &NodeMap) -> bool {
    let Some(Value::Object(map)) = attributes else {
        return false;
    };
    let Some(Value::String(node)) = map.get_mut("node") else {
        return false;
    };
    match nodes.get(node) {
        Some(k8s) if k8s != node => {
            *node = k8s.to_string();
            true
        }
        _ => false,
    }
}

/// The IPAM JSON of an export with no IPAM sections is `{}`; otherwise an object whose fields
/// are the non-empty sections in order. Builds it in memory; the export writer streams instead.
pub fn ipam_json(entries: &[IpamEntry]) -> Value {
    let mut root = Map::new();
    for section in IpamKind::ALL {
        let items: Vec<Value> = entries
            .iter()
            .filter(|e| e.kind == section)
            .map(|e| json!({"Key": e.key, "Value": e.value, "TTL": 0}))
            .collect();
        match (section, items.len()) {
            (_, 0) => {}
            (IpamKind::Config, _) => {
                root.insert(
                    section.field().into(),
                    items.into_iter().next().unwrap_or(Value::Null),
                );
            }
            _ => {
                root.insert(section.field().into(), Value::Array(items));
            }
        }
    }
    Value::Object(root)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A block's fields are in the order of Go's AllocationBlock struct.
    pub(crate) fn assert_go_block_field_order(block: &Value) {
        let order: Vec<&str> = block
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            order,
            [
                "cidr",
                "affinity",
                "allocations",
                "unallocated",
                "attributes",
                "sequenceNumber",
                "sequenceNumberForAllocation",
                "deleted"
            ]
        );
    }

    /// An IPAM value exported as calicoctl v3.28.0 (or its full form) would.
    fn export(key: &str, raw: &[u8], full: bool) -> Result<IpamEntry, IpamSkip> {
        export_as(key, raw, full, "v3.28.0")
    }

    fn export_as(key: &str, raw: &[u8], full: bool, version: &str) -> Result<IpamEntry, IpamSkip> {
        let nodes = nodes();
        let release = Release::of(crate::convert::version::CalicoVersion::parse(version));
        export_ipam(
            key,
            raw,
            IpamContext {
                nodes: &nodes,
                release,
                full,
            },
        )
    }

    fn nodes() -> NodeMap {
        NodeMap::from_pairs([
            ("worker-1.example.com", "worker-1"),
            ("node5", "node4"),
            ("node4", "node4"),
        ])
    }

    #[test]
    fn keys_are_recognised() {
        assert_eq!(
            parse_ipam_key("/calico/ipam/v2/assignment/ipv4/block/10.65.79.0-26"),
            IpamKey::Block {
                cidr: "10.65.79.0/26".into()
            }
        );
        assert_eq!(
            parse_ipam_key(
                "/calico/ipam/v2/assignment/ipv6/block/fd5f:abcd:64:4f2c:ec1b:27b9:1989:77c0-122"
            ),
            IpamKey::Block {
                cidr: "fd5f:abcd:64:4f2c:ec1b:27b9:1989:77c0/122".into()
            }
        );
        assert_eq!(
            parse_ipam_key("/calico/ipam/v2/host/worker-1/ipv6/block/fd00::-122"),
            IpamKey::Affinity {
                virtual_: false,
                host: "worker-1",
                ip_version: 6,
                cidr: "fd00::/122".into()
            }
        );
        assert!(matches!(
            parse_ipam_key("/calico/ipam/v2/virtual/lb/ipv4/block/10.0.0.0-26"),
            IpamKey::Affinity { virtual_: true, .. }
        ));
        assert_eq!(
            parse_ipam_key("/calico/ipam/v2/handle/k8s-pod-network.abc"),
            IpamKey::Handle {
                id: "k8s-pod-network.abc"
            }
        );
        assert_eq!(parse_ipam_key("/calico/ipam/v2/config"), IpamKey::Config);
        for other in [
            "/calico/ipam/v2/assignment/ipv4/block/garbage",
            "/calico/ipam/v2/handle/",
            "/calico/ipam/v2/unknown",
            "/calico/ipam/v2/host/h/ipv4/block",
        ] {
            assert_eq!(parse_ipam_key(other), IpamKey::Other, "{other}");
        }
    }

    #[test]
    fn blocks_follow_the_node_map_ipv6_tunnels_with_full() {
        let raw = json!({"cidr": "10.65.79.0/26", "affinity": "host:worker-1.example.com",
            "allocations": [0, 1, 2, null], "unallocated": [3],
            "attributes": [
                {"handle_id": "ipip-tunnel-addr-worker-1.example.com", "secondary": {"node": "worker-1.example.com", "type": "ipipTunnelAddress"}},
                {"handle_id": "wireguard-v6-tunnel-addr-worker-1.example.com", "secondary": {"node": "worker-1.example.com", "type": "wireguardV6TunnelAddress"}},
                {"handle_id": "k8s-pod-network.abc", "secondary": {"namespace": "a", "node": "worker-1.example.com", "pod": "p"},
                 "alternateOwnerAttrs": {"node": "worker-1.example.com", "pod": "q"}}],
            "sequenceNumber": 3, "sequenceNumberForAllocation": {"0": 0, "1": 1, "2": 2}, "deleted": false});
        let entry = export(
            "/calico/ipam/v2/assignment/ipv4/block/10.65.79.0-26",
            raw.to_string().as_bytes(),
            true,
        )
        .unwrap();
        assert_eq!(entry.kind, IpamKind::Block);
        assert!(entry.renamed);
        let v = &entry.value;
        assert_eq!(v["affinity"], "host:worker-1");
        assert_eq!(v["attributes"][0]["handle_id"], "ipip-tunnel-addr-worker-1");
        assert_eq!(
            v["attributes"][1]["handle_id"],
            "wireguard-v6-tunnel-addr-worker-1"
        );
        assert_eq!(v["attributes"][2]["handle_id"], "k8s-pod-network.abc");
        assert_eq!(v["attributes"][2]["secondary"]["node"], "worker-1");
        assert_eq!(
            v["attributes"][2]["alternateOwnerAttrs"]["node"],
            "worker-1"
        );
        assert_eq!(v["allocations"][3], Value::Null);
        // Field order is kept as stored.
        assert_go_block_field_order(v);
        // As calicoctl: the IPv6 tunnel handle keeps the etcd name.
        let plain = export(
            "/calico/ipam/v2/assignment/ipv4/block/10.65.79.0-26",
            raw.to_string().as_bytes(),
            false,
        )
        .unwrap();
        assert_eq!(
            plain.value["attributes"][1]["handle_id"],
            "wireguard-v6-tunnel-addr-worker-1.example.com"
        );
        assert_eq!(
            plain.value["attributes"][0]["handle_id"],
            "ipip-tunnel-addr-worker-1"
        );
    }

    #[test]
    fn block_fields_follow_the_release_and_virtual_affinities_are_renamed_only_when_mapped() {
        let key = "/calico/ipam/v2/assignment/ipv4/block/10.1.0.0-26";
        let raw = r#"{"cidr":"10.1.0.0/26","affinity":"virtual:load-balancer","affinity_claim_time":"2025-01-01T00:00:00Z","allocations":[],"unallocated":[],"attributes":[{"handle_id":"x","secondary":{"type":"x"},"releasedAt":"2025-02-01T00:00:00Z"}],"sequenceNumber":0,"sequenceNumberForAllocation":{},"deleted":false}"#;
        // v3.32 knows affinity_claim_time; releasedAt is newer still.
        let entry = export_as(key, raw.as_bytes(), false, "v3.32.1").unwrap();
        assert!(!entry.renamed);
        assert_eq!(entry.value["affinity"], "virtual:load-balancer");
        assert_eq!(entry.value["affinity_claim_time"], "2025-01-01T00:00:00Z");
        assert!(entry.value["attributes"][0].get("releasedAt").is_none());
        // v3.28 knows neither: dropped as its calicoctl drops them, kept with --full.
        let entry = export(key, raw.as_bytes(), false).unwrap();
        assert!(entry.value.get("affinity_claim_time").is_none());
        let full = export(key, raw.as_bytes(), true).unwrap();
        assert_eq!(full.value["affinity_claim_time"], "2025-01-01T00:00:00Z");
        assert_eq!(
            full.value["attributes"][0]["releasedAt"],
            "2025-02-01T00:00:00Z"
        );
        // v3.32's attributes leave out empty owner maps; older ones write them as null.
        let bare = r#"{"cidr":"10.1.0.0/26","attributes":[{"handle_id":"x"}]}"#;
        let old = export(key, bare.as_bytes(), false).unwrap();
        assert_eq!(
            old.value["attributes"][0],
            json!({"handle_id": "x", "secondary": null})
        );
        let new = export_as(key, bare.as_bytes(), false, "v3.32.1").unwrap();
        assert_eq!(new.value["attributes"][0], json!({"handle_id": "x"}));
        let upstream_node5 = r#"{"cidr":"10.2.0.0/26","affinity":"host:node5","allocations":[],"unallocated":[],"attributes":[],"sequenceNumber":0,"sequenceNumberForAllocation":{},"deleted":false}"#;
        let entry = export(
            "/calico/ipam/v2/assignment/ipv4/block/10.2.0.0-26",
            upstream_node5.as_bytes(),
            false,
        )
        .unwrap();
        assert_eq!(entry.value["affinity"], "host:node4");
    }

    #[test]
    fn affinities_are_rekeyed_and_empty_values_read_as_empty_objects() {
        let entry = export(
            "/calico/ipam/v2/host/worker-1.example.com/ipv4/block/10.65.79.0-26",
            br#"{"state":"confirmed","deleted":false}"#,
            false,
        )
        .unwrap();
        assert_eq!(
            entry.key,
            "/calico/ipam/v2/host/worker-1/ipv4/block/10.65.79.0-26"
        );
        assert_eq!(entry.kind, IpamKind::BlockAffinity);
        assert!(entry.renamed);
        let old = export(
            "/calico/ipam/v2/host/other/ipv6/block/fd00::-122",
            b"",
            false,
        )
        .unwrap();
        assert_eq!(old.key, "/calico/ipam/v2/host/other/ipv6/block/fd00::-122");
        assert_eq!(
            old.value.to_string(),
            r#"{"state":"","deleted":false}"#,
            "Go writes the zero struct"
        );
        assert!(!old.renamed);
        assert_eq!(
            export(
                "/calico/ipam/v2/virtual/lb/ipv4/block/10.0.0.0-26",
                b"{}",
                false
            ),
            Err(IpamSkip::VirtualAffinity)
        );
    }

    #[test]
    fn handles_are_renamed_by_prefix() {
        let value = br#"{"block":{"10.65.79.0/26":1},"deleted":false}"#;
        for (id, expected) in [
            (
                "ipip-tunnel-addr-worker-1.example.com",
                "ipip-tunnel-addr-worker-1",
            ),
            (
                "vxlan-tunnel-addr-worker-1.example.com",
                "vxlan-tunnel-addr-worker-1",
            ),
            (
                "vxlan-v6-tunnel-addr-worker-1.example.com",
                "vxlan-v6-tunnel-addr-worker-1",
            ),
            (
                "wireguard-tunnel-addr-worker-1.example.com",
                "wireguard-tunnel-addr-worker-1",
            ),
            (
                "wireguard-v6-tunnel-addr-worker-1.example.com",
                "wireguard-v6-tunnel-addr-worker-1",
            ),
            ("k8s-pod-network.0123abcd", "k8s-pod-network.0123abcd"),
        ] {
            let entry = export(&format!("/calico/ipam/v2/handle/{id}"), value, true).unwrap();
            assert_eq!(entry.key, format!("/calico/ipam/v2/handle/{expected}"));
            assert_eq!(entry.renamed, id != expected);
            assert_eq!(
                entry.value.to_string(),
                r#"{"block":{"10.65.79.0/26":1},"deleted":false}"#
            );
        }
        let v6 = "/calico/ipam/v2/handle/vxlan-v6-tunnel-addr-worker-1.example.com";
        assert_eq!(export(v6, value, false).unwrap().key, v6);
    }

    #[test]
    fn config_and_missing_fields() {
        let entry = export(
            "/calico/ipam/v2/config",
            br#"{"auto_allocate_blocks":true}"#,
            false,
        )
        .unwrap();
        assert_eq!(
            entry.value,
            json!({"auto_allocate_blocks": true}),
            "every config field is omitempty"
        );
        let handle = export("/calico/ipam/v2/handle/h", br#"{"block":{}}"#, false).unwrap();
        assert_eq!(handle.value.to_string(), r#"{"block":{},"deleted":false}"#);
        let block = export(
            "/calico/ipam/v2/assignment/ipv4/block/10.0.0.0-30",
            br#"{"cidr":"10.0.0.0/30","deleted":false}"#,
            false,
        )
        .unwrap();
        assert_go_block_field_order(&block.value);
        assert_eq!(
            export("/calico/ipam/v2/handle/h", b"oops", false),
            Err(IpamSkip::Unparseable)
        );
        assert_eq!(
            export("/calico/ipam/v2/elsewhere", b"{}", false),
            Err(IpamSkip::UnexpectedKey)
        );
    }

    #[test]
    fn the_ipam_json_omits_empty_sections() {
        assert_eq!(ipam_json(&[]), json!({}));
        let config = IpamEntry::new(
            IpamKind::Config,
            "/calico/ipam/v2/config",
            json!({"strict_affinity": true}),
        );
        assert_eq!(
            ipam_json(&[config]),
            json!({"config": {"Key": "/calico/ipam/v2/config", "Value": {"strict_affinity": true}, "TTL": 0}})
        );
    }
}
