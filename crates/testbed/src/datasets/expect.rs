//! What a full export (`export --full`) of a dataset must produce: a small reference model that
//! reads only the dataset's keys and values.
//!
//! The full form keeps what the release's calicoctl leaves out: every kind that holds objects,
//! staged namespaced policies of every namespace, and `vxlan-v6-tunnel-addr-` /
//! `wireguard-v6-tunnel-addr-` handles renamed too. Nodes without a usable `k8s`
//! orchRef make upstream's export fail; here they are listed in
//! [`Expectation::unmapped_nodes`] and exported under their etcd name, so a test can decide.

use std::collections::BTreeMap;

use serde_json::Value;

use super::ipam::{TunnelKind, parse_cidr};
use super::{Release, is_tiered_policy_kind};
use crate::calico::{CLUSTER_INFORMATION_KEY, Dataset, RESOURCES, plural_of};

/// The 17 exported kinds in export order: (Kind, namespaced); their keys are under
/// [`plural_of`]`(Kind)`.
pub const EXPORTED_KINDS: &[(&str, bool)] = &[
    ("IPPool", false),
    ("BGPPeer", false),
    ("Tier", false),
    ("GlobalNetworkPolicy", false),
    ("StagedGlobalNetworkPolicy", false),
    ("GlobalNetworkSet", false),
    ("HostEndpoint", false),
    ("KubeControllersConfiguration", false),
    ("NetworkPolicy", true),
    ("StagedNetworkPolicy", true),
    ("StagedKubernetesNetworkPolicy", true),
    ("NetworkSet", true),
    ("Node", false),
    ("BGPConfiguration", false),
    ("FelixConfiguration", false),
    ("IPReservation", false),
    ("BGPFilter", false),
];

/// Skipped v3 kinds (docs/design.md §7): (plural, skip group, namespaced).
pub const SKIPPED_KINDS: &[(&str, &str, bool)] = &[
    ("workloadendpoints", SKIP_WORKLOAD_ENDPOINTS, true),
    ("profiles", SKIP_PROFILES, false),
    ("caliconodestatuses", SKIP_CALICO_NODE_STATUSES, false),
    ("ipamconfigurations", SKIP_IPAM_CONFIGURATIONS, false),
    ("blockaffinities", SKIP_V3_BLOCK_AFFINITIES, false),
    ("livemigrations", SKIP_LIVE_MIGRATIONS, true),
];

pub const SKIP_WORKLOAD_ENDPOINTS: &str = "workloadendpoints";
pub const SKIP_PROFILES: &str = "profiles";
pub const SKIP_KNP: &str = "knp.default networkpolicies";
pub const SKIP_ADMIN_NETWORK_POLICIES: &str = "kanp/kbanp globalnetworkpolicies";
pub const SKIP_CALICO_NODE_STATUSES: &str = "caliconodestatuses";
pub const SKIP_IPAM_CONFIGURATIONS: &str = "ipamconfigurations";
pub const SKIP_V3_BLOCK_AFFINITIES: &str = "blockaffinities (v3)";
pub const SKIP_LIVE_MIGRATIONS: &str = "livemigrations";
pub const SKIP_FELIX_STATUS: &str = "felix status";
pub const SKIP_VIRTUAL_AFFINITIES: &str = "virtual block affinities";
pub const SKIP_OTHER_KINDS: &str = "other v3 kinds";
pub const SKIP_OTHER_KEYS: &str = "other keys";

/// An exported v3 object.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExportedObject {
    pub kind: String,
    pub namespace: Option<String>,
    /// The v3 name after every rename (policy names per docs/design.md §8.1, node names per §5).
    pub name: String,
    /// The etcd key it came from.
    pub key: String,
}

/// Everything an export of the dataset contains (docs/design.md §4 to §8).
#[derive(Clone, Debug, Default)]
pub struct Expectation {
    /// From ClusterInformation `calicoVersion`.
    pub release: Option<Release>,
    pub cluster_information: bool,
    pub exported: Vec<ExportedObject>,
    /// Skip group -> etcd keys.
    pub skipped: BTreeMap<&'static str, Vec<String>>,
    /// Keys that do not match the key patterns, and values that do not parse: ignored, reported.
    pub ignored: Vec<String>,
    /// etcd node name -> Kubernetes name (from the last `k8s` orchRef).
    pub node_map: BTreeMap<String, String>,
    /// Nodes without a `k8s` orchRef or with an empty nodeName (upstream's export aborts).
    pub unmapped_nodes: Vec<String>,
    /// (kind, old name, new name) of every object renamed by the node map.
    pub renamed: Vec<(String, String, String)>,
    /// Exported Node names with no Kubernetes Node in the dataset (import warns and skips).
    pub nodes_missing_in_kubernetes: Vec<String>,
    /// IPAM keys as written in the export (after renaming).
    pub blocks: Vec<String>,
    pub block_affinities: Vec<String>,
    pub handles: Vec<String>,
    pub ipam_config: bool,
    /// Handles renamed from etcd (old ID, new ID), including the v6 tunnel ones upstream keeps.
    pub renamed_handles: Vec<(String, String)>,
}

impl Expectation {
    /// How many objects of a kind are exported.
    pub fn count(&self, kind: &str) -> usize {
        self.exported.iter().filter(|o| o.kind == kind).count()
    }

    /// `namespace/name` (or `name`) of the exported objects of a kind, sorted.
    pub fn names(&self, kind: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .exported
            .iter()
            .filter(|o| o.kind == kind)
            .map(|o| match &o.namespace {
                Some(ns) => format!("{ns}/{}", o.name),
                None => o.name.clone(),
            })
            .collect();
        names.sort();
        names
    }

    pub fn skipped_count(&self, group: &str) -> usize {
        self.skipped.get(group).map_or(0, Vec::len)
    }

    /// Per-kind counts of exported objects, in export order.
    pub fn counts(&self) -> Vec<(&'static str, usize)> {
        EXPORTED_KINDS
            .iter()
            .map(|(kind, _)| (*kind, self.count(kind)))
            .collect()
    }

    pub fn ipam_is_empty(&self) -> bool {
        self.blocks.is_empty()
            && self.block_affinities.is_empty()
            && self.handles.is_empty()
            && !self.ipam_config
    }

    /// A readable summary (for reports and failing asserts).
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let counts: Vec<String> = self
            .counts()
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| format!("{k}={n}"))
            .collect();
        out.push_str(&format!("exported: {}\n", counts.join(" ")));
        let skipped: Vec<String> = self
            .skipped
            .iter()
            .map(|(g, keys)| format!("{g}={}", keys.len()))
            .collect();
        out.push_str(&format!("skipped: {}\n", skipped.join(", ")));
        out.push_str(&format!("ignored: {}\n", self.ignored.len()));
        out.push_str(&format!(
            "ipam: blocks={} affinities={} handles={} config={}\n",
            self.blocks.len(),
            self.block_affinities.len(),
            self.handles.len(),
            self.ipam_config
        ));
        out.push_str(&format!("renamed: {:?}\n", self.renamed));
        out.push_str(&format!("unmapped nodes: {:?}\n", self.unmapped_nodes));
        out
    }
}

/// Which of the two resource key patterns (docs/design.md §4.1) a key under
/// `/calico/resources/v3/projectcalico.org/` matches: `Some(false)` cluster (`<plural>/<name>`),
/// `Some(true)` namespaced (`<plural>/<namespace>/<name>`), None neither.
pub fn resource_key_shape(key: &str) -> Option<bool> {
    let rest = key.strip_prefix(RESOURCES)?.strip_prefix('/')?;
    let parts: Vec<&str> = rest.split('/').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    match parts.len() {
        2 => Some(false),
        3 => Some(true),
        _ => None,
    }
}

/// The IPAM key kinds (docs/design.md §4.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IpamKey {
    /// A block key whose CIDR parses.
    Block {
        cidr: String,
    },
    /// `/calico/ipam/v2/<host|virtual>/<host>/ipvN/block/<cidr>`.
    Affinity {
        kind: String,
        host: String,
        cidr: String,
    },
    Handle {
        id: String,
    },
    Config,
}

/// Parses an IPAM key with the patterns of docs/design.md §4.3 (block and affinity CIDRs must
/// parse).
pub fn parse_ipam_key(key: &str) -> Option<IpamKey> {
    let rest = key
        .strip_prefix("/calico/ipam/v2/")
        .or_else(|| key.strip_prefix("calico/ipam/v2/"))?;
    if rest == "config" {
        return Some(IpamKey::Config);
    }
    let parts: Vec<&str> = rest.split('/').collect();
    let cidr_of = |segment: &str| {
        let cidr = segment.replacen('-', "/", 1);
        parse_cidr(&cidr).map(|_| cidr)
    };
    let ip_version_ok = |p: &str| p.len() == 4 && p.starts_with("ipv");
    match parts.as_slice() {
        ["assignment", v, "block", c] if ip_version_ok(v) && !c.is_empty() => {
            Some(IpamKey::Block { cidr: cidr_of(c)? })
        }
        [kind @ ("host" | "virtual"), host, v, "block", c]
            if ip_version_ok(v) && !host.is_empty() && !c.is_empty() =>
        {
            Some(IpamKey::Affinity {
                kind: kind.to_string(),
                host: host.to_string(),
                cidr: cidr_of(c)?,
            })
        }
        ["handle", id] if !id.is_empty() => Some(IpamKey::Handle { id: id.to_string() }),
        _ => None,
    }
}

/// The v3 name of a stored policy as the release reads it (calicoctl's `get` at that release):
/// up to v3.28 the part after the first `.` (names starting `knp.` and `ossg.` whole); v3.29.0
/// to v3.29.3 the stored name; later the metadata annotation's name, else, in the default tier,
/// the stored name without one leading `default.`, else the stored name.
pub fn policy_v3_name(stored: &str, value: &Value, release: Option<Release>) -> String {
    match release {
        Some(Release::V3_28) => {
            let kept_whole = stored.starts_with("knp.") || stored.starts_with("ossg.");
            let name = match stored.split_once('.') {
                Some((_, rest)) if !kept_whole => rest,
                _ => stored,
            };
            return name.to_string();
        }
        // The datasets' v3.29 is v3.29.3.
        Some(Release::V3_29) => return stored.to_string(),
        _ => {}
    }
    let annotation = value["metadata"]["annotations"][super::METADATA_ANNOTATION].as_str();
    if let Some(name) = annotation
        .and_then(|a| serde_json::from_str::<Value>(a).ok())
        .and_then(|m| m["name"].as_str().map(str::to_string))
    {
        return name;
    }
    let tier = value["spec"]["tier"].as_str().unwrap_or("");
    if tier.is_empty() || tier == "default" {
        stored
            .strip_prefix("default.")
            .unwrap_or(stored)
            .to_string()
    } else {
        stored.to_string()
    }
}

/// The Kubernetes name of a Calico Node value: nodeName of the last `k8s` orchRef, if non-empty.
pub fn k8s_name_of_node(value: &Value) -> Option<String> {
    value["spec"]["orchRefs"]
        .as_array()?
        .iter()
        .rev()
        .find(|r| r["orchestrator"] == "k8s")
        .and_then(|r| r["nodeName"].as_str())
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

/// What an export of `dataset` contains, by the rules of docs/design.md §4 to §8.
pub fn expected_export(dataset: &Dataset) -> Expectation {
    let mut e = Expectation::default();
    let mut pairs: Vec<(&str, &str)> = dataset.pairs().collect();
    pairs.sort();
    if let Some(ci) = dataset.get(CLUSTER_INFORMATION_KEY) {
        e.cluster_information = true;
        let v: Value = serde_json::from_str(ci).unwrap_or(Value::Null);
        e.release = v["spec"]["calicoVersion"]
            .as_str()
            .and_then(Release::from_calico_version);
    }
    let skip_kanp = e.release.is_some_and(Release::skips_admin_network_policies);
    let skip_kbanp = e
        .release
        .is_some_and(Release::skips_baseline_admin_network_policies);

    // Pass 1: the node map (nodes are exported before Felix and BGP configurations).
    for (key, value) in &pairs {
        if let Some(rest) = key.strip_prefix(&format!("{RESOURCES}/nodes/"))
            && resource_key_shape(key) == Some(false)
        {
            match serde_json::from_str::<Value>(value) {
                Ok(v) if v.is_object() => match k8s_name_of_node(&v) {
                    Some(k8s) => {
                        e.node_map.insert(rest.to_string(), k8s);
                    }
                    None => e.unmapped_nodes.push(rest.to_string()),
                },
                _ => {}
            }
        }
    }
    let map_node = |n: &str| e.node_map.get(n).cloned();

    let mut exported = Vec::new();
    let mut renamed = Vec::new();
    let mut skipped: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut ignored = Vec::new();
    let mut blocks = Vec::new();
    let mut affinities = Vec::new();
    let mut handles = Vec::new();
    let mut renamed_handles = Vec::new();
    let mut ipam_config = false;

    for (key, value) in &pairs {
        if *key == CLUSTER_INFORMATION_KEY {
            continue;
        }
        if let Some(rest) = key.strip_prefix(&format!("{RESOURCES}/")) {
            let plural = rest.split('/').next().unwrap_or("");
            let shape = resource_key_shape(key);
            if let Some((kind, namespaced)) =
                EXPORTED_KINDS.iter().find(|(k, _)| plural_of(k) == plural)
            {
                if shape != Some(*namespaced) {
                    ignored.push(key.to_string());
                    continue;
                }
                let parsed: Value = match serde_json::from_str(value) {
                    Ok(v @ Value::Object(_)) => v,
                    _ => {
                        ignored.push(key.to_string());
                        continue;
                    }
                };
                let parts: Vec<&str> = rest.split('/').collect();
                let (namespace, stored) = if *namespaced {
                    (Some(parts[1].to_string()), parts[2])
                } else {
                    (None, parts[1])
                };
                let mut name = if is_tiered_policy_kind(kind) {
                    policy_v3_name(stored, &parsed, e.release)
                } else {
                    stored.to_string()
                };
                if *kind == "NetworkPolicy" && name.starts_with("knp.default.") {
                    skipped.entry(SKIP_KNP).or_default().push(key.to_string());
                    continue;
                }
                if *kind == "GlobalNetworkPolicy"
                    && ((skip_kanp && name.starts_with("kanp.adminnetworkpolicy."))
                        || (skip_kbanp && name.starts_with("kbanp.baselineadminnetworkpolicy.")))
                {
                    skipped
                        .entry(SKIP_ADMIN_NETWORK_POLICIES)
                        .or_default()
                        .push(key.to_string());
                    continue;
                }
                match *kind {
                    "Node" => {
                        if let Some(k8s) = map_node(&name)
                            && k8s != name
                        {
                            renamed.push((kind.to_string(), name.clone(), k8s.clone()));
                            name = k8s;
                        }
                    }
                    "FelixConfiguration" | "BGPConfiguration" => {
                        if let Some(node) = name.strip_prefix("node.")
                            && let Some(k8s) = map_node(node)
                            && k8s != node
                        {
                            let new = format!("node.{k8s}");
                            renamed.push((kind.to_string(), name.clone(), new.clone()));
                            name = new;
                        }
                    }
                    _ => {}
                }
                exported.push(ExportedObject {
                    kind: kind.to_string(),
                    namespace,
                    name,
                    key: key.to_string(),
                });
            } else if let Some((_, group, namespaced)) =
                SKIPPED_KINDS.iter().find(|(p, _, _)| *p == plural)
            {
                if shape == Some(*namespaced) {
                    skipped.entry(group).or_default().push(key.to_string());
                } else {
                    ignored.push(key.to_string());
                }
            } else {
                skipped
                    .entry(SKIP_OTHER_KINDS)
                    .or_default()
                    .push(key.to_string());
            }
        } else if key.starts_with("/calico/ipam/v2/") {
            let Some(ipam_key) = parse_ipam_key(key) else {
                ignored.push(key.to_string());
                continue;
            };
            let empty_affinity = matches!(ipam_key, IpamKey::Affinity { .. }) && value.is_empty();
            if !empty_affinity && !serde_json::from_str::<Value>(value).is_ok_and(|v| v.is_object())
            {
                ignored.push(key.to_string());
                continue;
            }
            match ipam_key {
                IpamKey::Block { .. } => blocks.push(key.to_string()),
                IpamKey::Affinity { kind, host, cidr } => {
                    if kind == "virtual" {
                        skipped
                            .entry(SKIP_VIRTUAL_AFFINITIES)
                            .or_default()
                            .push(key.to_string());
                    } else {
                        let host = map_node(&host).unwrap_or(host);
                        affinities.push(super::affinity_key("host", &host, &cidr));
                    }
                }
                IpamKey::Handle { id } => {
                    let new_id = match TunnelKind::of_handle(&id) {
                        Some((tunnel, node)) => match map_node(node) {
                            Some(k8s) => format!("{}{k8s}", tunnel.handle_prefix()),
                            None => id.clone(),
                        },
                        None => id.clone(),
                    };
                    if new_id != id {
                        renamed_handles.push((id.clone(), new_id.clone()));
                    }
                    handles.push(format!("/calico/ipam/v2/handle/{new_id}"));
                }
                IpamKey::Config => ipam_config = true,
            }
        } else if key.starts_with("/calico/felix/v2/") {
            skipped
                .entry(SKIP_FELIX_STATUS)
                .or_default()
                .push(key.to_string());
        } else {
            skipped
                .entry(SKIP_OTHER_KEYS)
                .or_default()
                .push(key.to_string());
        }
    }

    let export_order = |kind: &str| {
        EXPORTED_KINDS
            .iter()
            .position(|(k, _)| *k == kind)
            .unwrap_or(usize::MAX)
    };
    exported.sort_by(|a, b| {
        export_order(&a.kind)
            .cmp(&export_order(&b.kind))
            .then(a.key.cmp(&b.key))
    });
    e.nodes_missing_in_kubernetes = exported
        .iter()
        .filter(|o| o.kind == "Node" && !dataset.k8s_nodes.contains(&o.name))
        .map(|o| o.name.clone())
        .collect();
    e.exported = exported;
    e.renamed = renamed;
    e.skipped = skipped;
    e.ignored = ignored;
    e.blocks = blocks;
    e.block_affinities = affinities;
    e.handles = handles;
    e.renamed_handles = renamed_handles;
    e.ipam_config = ipam_config;
    e
}
