//! IPAM data as `/calico/ipam/v2/` holds it (docs/design.md §4.3): blocks whose allocation arrays
//! are built by simulating Calico's allocator (ordinals taken from the front of `unallocated`,
//! released ones appended at its end, attributes kept dense, sequence numbers bumped on every
//! write), their host affinities, and the handles that count each handle's addresses per block.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value, json};

use super::build::{order, ordered, sorted_map};
use crate::calico::Dataset;

/// How a release writes block attributes (docs/design.md §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpamFormat {
    /// Up to v3.31: `handle_id` and `secondary` without omitempty (`null` when unset); no
    /// `affinity_claim_time`.
    Legacy,
    /// v3.32.x: `handle_id`, `secondary`, `alternateOwnerAttrs` with omitempty;
    /// `affinity_claim_time` on affine blocks.
    V3_32,
    /// HEAD: as v3.32, plus `releasedAt` on attributes of addresses in their cool-down.
    Head,
}

/// One entry of a block's `attributes`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Attr {
    pub handle: Option<String>,
    /// `None`: Go's nil map (written as `null` in the legacy format, omitted since v3.32).
    pub secondary: Option<BTreeMap<String, String>>,
    pub alternate: Option<BTreeMap<String, String>>,
    pub released_at: Option<String>,
}

impl Attr {
    pub fn new(handle: &str, secondary: &[(&str, &str)]) -> Attr {
        Attr {
            handle: Some(handle.to_string()),
            secondary: Some(
                secondary
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    /// A pod's address: handle `k8s-pod-network.<container>`, attributes namespace, node, pod,
    /// timestamp (Go's `time.Time.String()` form).
    pub fn pod(handle: &str, node: &str, namespace: &str, pod: &str, timestamp: &str) -> Attr {
        Attr::new(
            handle,
            &[
                ("namespace", namespace),
                ("node", node),
                ("pod", pod),
                ("timestamp", timestamp),
            ],
        )
    }

    /// A tunnel address of `kind` (ipipTunnelAddress, vxlanTunnelAddress, ...) for a node;
    /// the handle ID is `<prefix><node>`.
    pub fn tunnel(kind: TunnelKind, node: &str) -> Attr {
        Attr::new(
            &format!("{}{node}", kind.handle_prefix()),
            &[("node", node), ("type", kind.attribute_type())],
        )
    }

    pub fn alternate(mut self, pairs: &[(&str, &str)]) -> Attr {
        self.alternate = Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        self
    }

    pub fn released_at(mut self, timestamp: &str) -> Attr {
        self.released_at = Some(timestamp.to_string());
        self
    }

    pub fn value(&self, format: IpamFormat) -> Value {
        let mut map = Map::new();
        let handle = self.handle.as_ref().map(|h| json!(h));
        let secondary = self.secondary.as_ref().map(|s| sorted_map(s.clone()));
        match format {
            IpamFormat::Legacy => {
                map.insert("handle_id".into(), handle.unwrap_or(Value::Null));
                map.insert("secondary".into(), secondary.unwrap_or(Value::Null));
            }
            IpamFormat::V3_32 | IpamFormat::Head => {
                if let Some(h) = handle {
                    map.insert("handle_id".into(), h);
                }
                if let Some(s) = secondary.filter(|s| s.as_object().is_some_and(|m| !m.is_empty()))
                {
                    map.insert("secondary".into(), s);
                }
                if let Some(a) = &self.alternate
                    && !a.is_empty()
                {
                    map.insert("alternateOwnerAttrs".into(), sorted_map(a.clone()));
                }
                if format == IpamFormat::Head
                    && let Some(r) = &self.released_at
                {
                    map.insert("releasedAt".into(), json!(r));
                }
            }
        }
        Value::Object(map)
    }
}

/// The five tunnel address types and their handle-ID prefixes (docs/design.md §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunnelKind {
    Ipip,
    Vxlan,
    VxlanV6,
    Wireguard,
    WireguardV6,
}

impl TunnelKind {
    pub const ALL: [TunnelKind; 5] = [
        TunnelKind::Ipip,
        TunnelKind::Vxlan,
        TunnelKind::VxlanV6,
        TunnelKind::Wireguard,
        TunnelKind::WireguardV6,
    ];

    pub fn handle_prefix(self) -> &'static str {
        match self {
            TunnelKind::Ipip => "ipip-tunnel-addr-",
            TunnelKind::Vxlan => "vxlan-tunnel-addr-",
            TunnelKind::VxlanV6 => "vxlan-v6-tunnel-addr-",
            TunnelKind::Wireguard => "wireguard-tunnel-addr-",
            TunnelKind::WireguardV6 => "wireguard-v6-tunnel-addr-",
        }
    }

    pub fn attribute_type(self) -> &'static str {
        match self {
            TunnelKind::Ipip => "ipipTunnelAddress",
            TunnelKind::Vxlan => "vxlanTunnelAddress",
            TunnelKind::VxlanV6 => "vxlanV6TunnelAddress",
            TunnelKind::Wireguard => "wireguardTunnelAddress",
            TunnelKind::WireguardV6 => "wireguardV6TunnelAddress",
        }
    }

    /// Whether upstream's export renames handles of this kind (docs/design.md §5.2 and §13.3:
    /// not the v6 ones); kubectl calico-migrate renames all five.
    pub fn renamed_by_upstream(self) -> bool {
        matches!(
            self,
            TunnelKind::Ipip | TunnelKind::Vxlan | TunnelKind::Wireguard
        )
    }

    /// The kind of a tunnel handle ID, and the node name after the prefix.
    pub fn of_handle(handle: &str) -> Option<(TunnelKind, &str)> {
        TunnelKind::ALL.iter().find_map(|k| {
            handle
                .strip_prefix(k.handle_prefix())
                .map(|node| (*k, node))
        })
    }
}

/// An allocation block.
#[derive(Clone, Debug)]
pub struct IpamBlock {
    pub cidr: String,
    pub network: IpAddr,
    pub prefix: u8,
    /// `host:<name>`, `virtual:<name>`, or None (`"affinity":null`).
    pub affinity: Option<String>,
    /// v3.32+: when the affinity was claimed (RFC 3339).
    pub claim_time: Option<String>,
    pub allocations: Vec<Option<usize>>,
    pub unallocated: Vec<usize>,
    pub attributes: Vec<Attr>,
    pub sequence: u64,
    pub sequence_for: BTreeMap<usize, u64>,
}

impl IpamBlock {
    /// A fresh block (all ordinals unallocated, sequence 0). `cidr` must be a network address.
    pub fn new(cidr: &str, affinity: Option<&str>) -> IpamBlock {
        let (network, prefix) = parse_cidr(cidr).unwrap_or_else(|| panic!("bad CIDR {cidr}"));
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let size = 1usize << (bits - prefix as u32);
        IpamBlock {
            cidr: cidr.to_string(),
            network,
            prefix,
            affinity: affinity.map(str::to_string),
            claim_time: None,
            allocations: vec![None; size],
            unallocated: (0..size).collect(),
            attributes: Vec::new(),
            sequence: 0,
            sequence_for: BTreeMap::new(),
        }
    }

    /// A block affine to a host.
    pub fn host(cidr: &str, host: &str) -> IpamBlock {
        IpamBlock::new(cidr, Some(&format!("host:{host}")))
    }

    pub fn claimed_at(mut self, timestamp: &str) -> IpamBlock {
        self.claim_time = Some(timestamp.to_string());
        self
    }

    pub fn size(&self) -> usize {
        self.allocations.len()
    }

    pub fn is_v6(&self) -> bool {
        self.network.is_ipv6()
    }

    /// The host after `host:` or `virtual:` in the affinity.
    pub fn affinity_host(&self) -> Option<&str> {
        let a = self.affinity.as_deref()?;
        a.strip_prefix("host:")
            .or_else(|| a.strip_prefix("virtual:"))
    }

    /// Assigns the next free ordinal (from the front of `unallocated`), as one block write.
    pub fn assign(&mut self, attr: Attr) -> usize {
        assert!(!self.unallocated.is_empty(), "block {} is full", self.cidr);
        let ordinal = self.unallocated.remove(0);
        self.assign_ordinal(ordinal, attr);
        ordinal
    }

    /// Assigns a specific free ordinal.
    pub fn assign_at(&mut self, ordinal: usize, attr: Attr) {
        let position = self
            .unallocated
            .iter()
            .position(|o| *o == ordinal)
            .unwrap_or_else(|| panic!("ordinal {ordinal} of {} is not free", self.cidr));
        self.unallocated.remove(position);
        self.assign_ordinal(ordinal, attr);
    }

    fn assign_ordinal(&mut self, ordinal: usize, attr: Attr) {
        let index = match self.attributes.iter().position(|a| *a == attr) {
            Some(i) => i,
            None => {
                self.attributes.push(attr);
                self.attributes.len() - 1
            }
        };
        self.allocations[ordinal] = Some(index);
        self.sequence_for.insert(ordinal, self.sequence);
        self.sequence += 1;
    }

    /// Releases an ordinal: its attribute goes when nothing else uses it (indices re-packed),
    /// the ordinal is appended to `unallocated`.
    pub fn release(&mut self, ordinal: usize) {
        let index = self.allocations[ordinal]
            .take()
            .unwrap_or_else(|| panic!("ordinal {ordinal} of {} is free", self.cidr));
        if !self.allocations.contains(&Some(index)) {
            self.attributes.remove(index);
            for slot in self.allocations.iter_mut().flatten() {
                if *slot > index {
                    *slot -= 1;
                }
            }
        }
        self.unallocated.push(ordinal);
        self.sequence_for.remove(&ordinal);
        self.sequence += 1;
    }

    /// The address of an ordinal.
    pub fn ip(&self, ordinal: usize) -> IpAddr {
        match self.network {
            IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) + ordinal as u32)),
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) + ordinal as u128)),
        }
    }

    pub fn key(&self) -> String {
        format!(
            "/calico/ipam/v2/assignment/ipv{}/block/{}",
            if self.is_v6() { 6 } else { 4 },
            self.cidr.replacen('/', "-", 1)
        )
    }

    /// `/calico/ipam/v2/<host|virtual>/<host>/ipvN/block/<cidr>` for an affine block.
    pub fn affinity_key(&self) -> Option<String> {
        let affinity = self.affinity.as_deref()?;
        let (kind, host) = affinity.split_once(':')?;
        Some(affinity_key(kind, host, &self.cidr))
    }

    /// The handles this block's allocations belong to, with their address counts.
    pub fn handle_counts(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for index in self.allocations.iter().flatten() {
            let attr = &self.attributes[*index];
            if attr.released_at.is_some() {
                continue;
            }
            if let Some(handle) = &attr.handle {
                *counts.entry(handle.clone()).or_insert(0) += 1;
            }
        }
        counts
    }

    pub fn value(&self, format: IpamFormat) -> Value {
        let allocations: Vec<Value> = self
            .allocations
            .iter()
            .map(|a| a.map_or(Value::Null, |i| json!(i)))
            .collect();
        let attributes: Vec<Value> = self.attributes.iter().map(|a| a.value(format)).collect();
        let sequence_for = sorted_map(
            self.sequence_for
                .iter()
                .map(|(ordinal, seq)| (ordinal.to_string(), json!(seq))),
        );
        let mut map = Map::new();
        map.insert("cidr".into(), json!(self.cidr));
        map.insert(
            "affinity".into(),
            self.affinity.as_ref().map_or(Value::Null, |a| json!(a)),
        );
        if format != IpamFormat::Legacy
            && let Some(t) = &self.claim_time
        {
            map.insert("affinity_claim_time".into(), json!(t));
        }
        map.insert("allocations".into(), Value::Array(allocations));
        map.insert("unallocated".into(), json!(self.unallocated));
        map.insert("attributes".into(), Value::Array(attributes));
        map.insert("sequenceNumber".into(), json!(self.sequence));
        map.insert("sequenceNumberForAllocation".into(), sequence_for);
        map.insert("deleted".into(), json!(false));
        ordered(Value::Object(map), order::BLOCK)
    }
}

/// An affinity key: `/calico/ipam/v2/<kind>/<host>/ipvN/block/<network>-<len>`.
pub fn affinity_key(kind: &str, host: &str, cidr: &str) -> String {
    let version = if cidr.contains(':') { 6 } else { 4 };
    format!(
        "/calico/ipam/v2/{kind}/{host}/ipv{version}/block/{}",
        cidr.replacen('/', "-", 1)
    )
}

/// Parses `a.b.c.d/n` or a v6 CIDR whose address is the network address.
pub fn parse_cidr(cidr: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = cidr.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    let bits = if addr.is_ipv4() { 32 } else { 128 };
    if len > bits {
        return None;
    }
    Some((addr, len))
}

/// Writes blocks, the affinities of their affine blocks (`{"state":"confirmed",...}`), and the
/// handles of all their allocations (counts summed across blocks, e.g. dual-stack pods).
pub fn write_ipam(dataset: &mut Dataset, blocks: &[IpamBlock], format: IpamFormat) {
    let mut handles: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for block in blocks {
        dataset.put(block.key(), &block.value(format));
        if let Some(key) = block.affinity_key() {
            dataset.put(key, &affinity_value("confirmed"));
        }
        for (handle, count) in block.handle_counts() {
            *handles
                .entry(handle)
                .or_default()
                .entry(block.cidr.clone())
                .or_insert(0) += count;
        }
    }
    for (handle, per_block) in handles {
        dataset.put(
            format!("/calico/ipam/v2/handle/{handle}"),
            &handle_value(&per_block),
        );
    }
}

pub fn affinity_value(state: &str) -> Value {
    json!({ "state": state, "deleted": false })
}

pub fn handle_value(per_block: &BTreeMap<String, u64>) -> Value {
    json!({ "block": sorted_map(per_block.iter().map(|(c, n)| (c.clone(), json!(n)))), "deleted": false })
}

/// The IPAM config value: every field omitempty.
pub fn ipam_config(
    strict_affinity: bool,
    auto_allocate_blocks: bool,
    max_blocks_per_host: u32,
    kubevirt_persistence: Option<&str>,
    ip_cooldown_seconds: u32,
) -> Value {
    let mut map = Map::new();
    if strict_affinity {
        map.insert("strict_affinity".into(), json!(true));
    }
    if auto_allocate_blocks {
        map.insert("auto_allocate_blocks".into(), json!(true));
    }
    if max_blocks_per_host > 0 {
        map.insert("maxBlocksPerHost".into(), json!(max_blocks_per_host));
    }
    if let Some(p) = kubevirt_persistence {
        map.insert("kubeVirtVMAddressPersistence".into(), json!(p));
    }
    if ip_cooldown_seconds > 0 {
        map.insert("ipCooldownSeconds".into(), json!(ip_cooldown_seconds));
    }
    Value::Object(map)
}

pub const IPAM_CONFIG_KEY: &str = "/calico/ipam/v2/config";

/// Go's `time.Time.String()` of a UTC time, as Calico stores pod allocation timestamps.
pub fn go_timestamp(day: u32, seconds: u32, nanos: u32) -> String {
    format!(
        "2024-05-{:02} {:02}:{:02}:{:02}.{:09} +0000 UTC",
        1 + day % 28,
        (seconds / 3600) % 24,
        (seconds / 60) % 60,
        seconds % 60,
        nanos % 1_000_000_000
    )
}
