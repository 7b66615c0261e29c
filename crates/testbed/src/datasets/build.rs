//! Builders for v3 objects as the etcd backend stores them: Go's `json.Marshal` output of the
//! projectcalico.org/v3 types, with fields in Go struct order (maps, such as labels, sorted by
//! key as Go sorts them), and policy names in the storage regime of each Calico release.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::Release;
use crate::calico::{Dataset, RESOURCES, plural_of, uid_for};

/// The creation time stamped on objects unless a builder says otherwise.
pub const CREATED: &str = "2024-03-11T09:26:41Z";

/// The annotation the etcd backend writes on policies since v3.30, holding the v3 name.
pub const METADATA_ANNOTATION: &str = "projectcalico.org/metadata";
/// The label that names a policy's tier.
pub const TIER_LABEL: &str = "projectcalico.org/tier";

/// Go field order of the specs (and sub-structs) this crate writes.
pub mod order {
    /// `stagedAction` followed by `policy`'s fields, as Go's staged policy specs are laid out.
    const fn staged<const N: usize>(policy: &[&'static str]) -> [&'static str; N] {
        assert!(N == policy.len() + 1);
        let mut fields = ["stagedAction"; N];
        let mut i = 0;
        while i < policy.len() {
            fields[i + 1] = policy[i];
            i += 1;
        }
        fields
    }

    pub const OBJECT: &[&str] = &["kind", "apiVersion", "metadata", "spec", "status"];
    pub const METADATA: &[&str] = &kube_schema::meta::OBJECT_META_FIELDS;
    pub const IPPOOL: &[&str] = &[
        "cidr",
        "vxlanMode",
        "ipipMode",
        "natOutgoing",
        "disabled",
        "disableBGPExport",
        "blockSize",
        "nodeSelector",
        "namespaceSelector",
        "ipip",
        "nat-outgoing",
        "allowedUses",
        "assignmentMode",
    ];
    pub const BGPPEER: &[&str] = &[
        "node",
        "nodeSelector",
        "peerIP",
        "asNumber",
        "peerSelector",
        "keepOriginalNextHop",
        "password",
        "sourceAddress",
        "maxRestartTime",
        "numAllowedLocalASNumbers",
    ];
    pub const BGPCONFIG: &[&str] = &[
        "logSeverityScreen",
        "nodeToNodeMeshEnabled",
        "asNumber",
        "serviceLoadBalancerIPs",
        "serviceExternalIPs",
        "serviceClusterIPs",
        "communities",
        "prefixAdvertisements",
        "listenPort",
        "nodeMeshPassword",
        "nodeMeshMaxRestartTime",
    ];
    pub const FELIX: &[&str] = &[
        "useInternalDataplaneDriver",
        "dataplaneDriver",
        "dataplaneWatchdogTimeout",
        "ipv6Support",
        "routeRefreshInterval",
        "interfaceRefreshInterval",
        "iptablesRefreshInterval",
        "iptablesPostWriteCheckInterval",
        "iptablesLockFilePath",
        "iptablesLockTimeout",
        "iptablesLockProbeInterval",
        "featureDetectOverride",
        "featureGates",
        "ipsetsRefreshInterval",
        "maxIpsetSize",
        "iptablesBackend",
        "xdpRefreshInterval",
        "netlinkTimeout",
        "metadataAddr",
        "metadataPort",
        "openstackRegion",
        "interfacePrefix",
        "interfaceExclude",
        "chainInsertMode",
        "defaultEndpointToHostAction",
        "iptablesFilterAllowAction",
        "iptablesMangleAllowAction",
        "iptablesFilterDenyAction",
        "logPrefix",
        "logFilePath",
        "logSeverityFile",
        "logSeverityScreen",
        "logSeveritySys",
        "logDebugFilenameRegex",
        "ipipEnabled",
        "ipipMTU",
        "vxlanEnabled",
        "vxlanMTU",
        "vxlanMTUV6",
        "vxlanPort",
        "vxlanVNI",
        "allowVXLANPacketsFromWorkloads",
        "allowIPIPPacketsFromWorkloads",
        "reportingInterval",
        "reportingTTL",
        "endpointReportingEnabled",
        "endpointReportingDelay",
        "endpointStatusPathPrefix",
        "iptablesMarkMask",
        "disableConntrackInvalidCheck",
        "healthEnabled",
        "healthHost",
        "healthPort",
        "healthTimeoutOverrides",
        "prometheusMetricsEnabled",
        "prometheusMetricsHost",
        "prometheusMetricsPort",
        "prometheusGoMetricsEnabled",
        "prometheusProcessMetricsEnabled",
        "prometheusWireGuardMetricsEnabled",
        "failsafeInboundHostPorts",
        "failsafeOutboundHostPorts",
        "kubeNodePortRanges",
        "policySyncPathPrefix",
        "usageReportingEnabled",
        "usageReportingInitialDelay",
        "usageReportingInterval",
        "natPortRange",
        "natOutgoingAddress",
        "deviceRouteSourceAddress",
        "deviceRouteSourceAddressIPv6",
        "deviceRouteProtocol",
        "removeExternalRoutes",
        "ipForwarding",
        "externalNodesList",
        "debugMemoryProfilePath",
        "debugDisableLogDropping",
        "debugSimulateCalcGraphHangAfter",
        "debugSimulateDataplaneHangAfter",
        "debugSimulateDataplaneApplyDelay",
        "debugHost",
        "debugPort",
        "iptablesNATOutgoingInterfaceFilter",
        "sidecarAccelerationEnabled",
        "xdpEnabled",
        "genericXDPEnabled",
        "nftablesMode",
        "nftablesRefreshInterval",
        "nftablesFilterAllowAction",
        "nftablesMangleAllowAction",
        "nftablesFilterDenyAction",
        "nftablesMarkMask",
        "bpfEnabled",
        "bpfDisableUnprivileged",
        "bpfLogLevel",
        "bpfLogFilters",
        "bpfCTLBLogFilter",
        "bpfDataIfacePattern",
        "bpfL3IfacePattern",
        "bpfConnectTimeLoadBalancingEnabled",
        "bpfConnectTimeLoadBalancing",
        "bpfHostNetworkedNATWithoutCTLB",
        "bpfExternalServiceMode",
        "bpfDSROptoutCIDRs",
        "bpfExtToServiceConnmark",
        "bpfKubeProxyIptablesCleanupEnabled",
        "bpfKubeProxyMinSyncPeriod",
        "bpfKubeProxyEndpointSlicesEnabled",
        "bpfPSNATPorts",
        "bpfMapSizeNATFrontend",
        "bpfMapSizeNATBackend",
        "bpfMapSizeNATAffinity",
        "bpfMapSizeRoute",
        "bpfMapSizeConntrack",
        "bpfMapSizeIPSets",
        "bpfMapSizeIfState",
        "bpfHostConntrackBypass",
        "bpfEnforceRPF",
        "bpfPolicyDebugEnabled",
        "bpfForceTrackPacketsFromIfaces",
        "bpfDisableGROForIfaces",
        "bpfExcludeCIDRsFromNAT",
        "bpfRedirectToPeer",
        "bpfProfiling",
        "routeSource",
        "routeTableRanges",
        "routeTableRange",
        "routeSyncDisabled",
        "wireguardEnabled",
        "wireguardEnabledV6",
        "wireguardThreadingEnabled",
        "wireguardListeningPort",
        "wireguardListeningPortV6",
        "wireguardRoutingRulePriority",
        "wireguardInterfaceName",
        "wireguardInterfaceNameV6",
        "wireguardMTU",
        "wireguardMTUV6",
        "wireguardHostEncryptionEnabled",
        "wireguardKeepAlive",
        "awsSrcDstCheck",
        "serviceLoopPrevention",
        "workloadSourceSpoofing",
        "mtuIfacePattern",
        "floatingIPs",
        "windowsManageFirewallRules",
        "goGCThreshold",
        "goMemoryLimitMB",
        "goMaxProcs",
    ];
    pub const PROTO_PORT: &[&str] = &["protocol", "port", "net"];
    pub const GNP: &[&str] = &[
        "tier",
        "order",
        "ingress",
        "egress",
        "selector",
        "types",
        "doNotTrack",
        "preDNAT",
        "applyOnForward",
        "serviceAccountSelector",
        "namespaceSelector",
        "performanceHints",
    ];
    /// A staged policy's spec: `stagedAction`, then the fields of the policy it stages.
    pub const SGNP: &[&str] = &staged::<{ GNP.len() + 1 }>(GNP);
    pub const NP: &[&str] = &[
        "tier",
        "order",
        "ingress",
        "egress",
        "selector",
        "types",
        "serviceAccountSelector",
        "performanceHints",
    ];
    pub const SNP: &[&str] = &staged::<{ NP.len() + 1 }>(NP);
    pub const SKNP: &[&str] = &[
        "stagedAction",
        "podSelector",
        "ingress",
        "egress",
        "policyTypes",
    ];
    pub const RULE: &[&str] = &[
        "action",
        "ipVersion",
        "protocol",
        "icmp",
        "notProtocol",
        "notICMP",
        "source",
        "destination",
        "http",
        "metadata",
    ];
    pub const ENTITY_RULE: &[&str] = &[
        "nets",
        "selector",
        "namespaceSelector",
        "services",
        "ports",
        "notNets",
        "notSelector",
        "notPorts",
        "serviceAccounts",
    ];
    pub const TIER: &[&str] = &["order", "defaultAction"];
    pub const HOST_ENDPOINT: &[&str] =
        &["node", "interfaceName", "expectedIPs", "profiles", "ports"];
    pub const NETWORK_SET: &[&str] = &["nets"];
    pub const IPRESERVATION: &[&str] = &["reservedCIDRs"];
    pub const BGPFILTER: &[&str] = &["exportV4", "importV4", "exportV6", "importV6"];
    pub const BGPFILTER_RULE: &[&str] = &[
        "cidr",
        "prefixLength",
        "source",
        "interface",
        "matchOperator",
        "peerType",
        "communities",
        "asPathPrefix",
        "priority",
        "action",
        "operations",
    ];
    pub const KCC: &[&str] = &[
        "logSeverityScreen",
        "healthChecks",
        "etcdV3CompactionPeriod",
        "prometheusMetricsPort",
        "controllers",
        "debugProfilePort",
    ];
    pub const KCC_CONTROLLERS: &[&str] = &[
        "node",
        "policy",
        "workloadEndpoint",
        "serviceAccount",
        "namespace",
        "loadBalancer",
        "policyMigration",
    ];
    pub const KCC_NODE: &[&str] = &[
        "reconcilerPeriod",
        "syncLabels",
        "hostEndpoint",
        "leakGracePeriod",
    ];
    pub const KCC_STATUS: &[&str] = &["runningConfig", "environmentVars"];
    pub const NODE_SPEC: &[&str] = &[
        "bgp",
        "ipv4VXLANTunnelAddr",
        "vxlanTunnelMACAddr",
        "ipv6VXLANTunnelAddr",
        "vxlanTunnelMACAddrV6",
        "orchRefs",
        "wireguard",
        "addresses",
        "interfaces",
    ];
    pub const NODE_BGP: &[&str] = &[
        "asNumber",
        "ipv4Address",
        "ipv6Address",
        "ipv4IPIPTunnelAddr",
        "routeReflectorClusterID",
    ];
    pub const NODE_STATUS: &[&str] = &["wireguardPublicKey", "wireguardPublicKeyV6", "podCIDRs"];
    pub const WORKLOAD_ENDPOINT: &[&str] = &[
        "orchestrator",
        "workload",
        "node",
        "containerID",
        "pod",
        "endpoint",
        "serviceAccountName",
        "ipNetworks",
        "ipNATs",
        "ipv4Gateway",
        "ipv6Gateway",
        "profiles",
        "interfaceName",
        "mac",
        "ports",
        "allowSpoofedSourcePrefixes",
    ];
    pub const PROFILE: &[&str] = &["ingress", "egress", "labelsToApply"];
    pub const CLUSTER_INFORMATION: &[&str] = &[
        "clusterGUID",
        "clusterType",
        "calicoVersion",
        "datastoreReady",
        "variant",
    ];
    pub const BLOCK: &[&str] = &[
        "cidr",
        "affinity",
        "affinity_claim_time",
        "allocations",
        "unallocated",
        "attributes",
        "sequenceNumber",
        "sequenceNumberForAllocation",
        "deleted",
        "hostAffinity",
    ];
    pub const BLOCK_ATTRIBUTE: &[&str] = &[
        "handle_id",
        "secondary",
        "alternateOwnerAttrs",
        "releasedAt",
    ];
    pub const AFFINITY: &[&str] = &["state", "deleted"];
    pub const HANDLE: &[&str] = &["block", "deleted"];
    pub const IPAM_CONFIG: &[&str] = &[
        "strict_affinity",
        "auto_allocate_blocks",
        "maxBlocksPerHost",
        "kubeVirtVMAddressPersistence",
        "ipCooldownSeconds",
    ];

    /// The spec field order of a kind, where this crate knows it.
    pub fn spec_of(kind: &str) -> Option<&'static [&'static str]> {
        Some(match kind {
            "IPPool" => IPPOOL,
            "BGPPeer" => BGPPEER,
            "BGPConfiguration" => BGPCONFIG,
            "FelixConfiguration" => FELIX,
            "GlobalNetworkPolicy" => GNP,
            "StagedGlobalNetworkPolicy" => SGNP,
            "NetworkPolicy" => NP,
            "StagedNetworkPolicy" => SNP,
            "StagedKubernetesNetworkPolicy" => SKNP,
            "Tier" => TIER,
            "HostEndpoint" => HOST_ENDPOINT,
            "NetworkSet" | "GlobalNetworkSet" => NETWORK_SET,
            "IPReservation" => IPRESERVATION,
            "BGPFilter" => BGPFILTER,
            "KubeControllersConfiguration" => KCC,
            "Node" => NODE_SPEC,
            "WorkloadEndpoint" => WORKLOAD_ENDPOINT,
            "Profile" => PROFILE,
            "ClusterInformation" => CLUSTER_INFORMATION,
            _ => return None,
        })
    }
}

/// Reorders an object's fields into `order`. Panics on a field the table does not know, so
/// that every value built here is known to be in Go order.
pub fn ordered(value: Value, order: &[&str]) -> Value {
    let Value::Object(mut map) = value else {
        return value;
    };
    let mut out = Map::new();
    for key in order {
        if let Some(v) = map.remove(*key) {
            out.insert((*key).to_string(), v);
        }
    }
    assert!(
        map.is_empty(),
        "fields missing from the Go field order table: {:?}",
        map.keys().collect::<Vec<_>>()
    );
    Value::Object(out)
}

/// Whether the object's field names appear in the table's order (unknown fields fail).
pub fn follows_order(value: &Value, order: &[&str]) -> bool {
    let Some(map) = value.as_object() else {
        return true;
    };
    let mut position = 0;
    for key in map.keys() {
        match order[position..].iter().position(|k| k == key) {
            Some(p) => position += p + 1,
            None => return false,
        }
    }
    true
}

/// Go writes map keys sorted; this builds such a JSON object from pairs.
pub fn sorted_map<K: AsRef<str>, V: Into<Value>>(pairs: impl IntoIterator<Item = (K, V)>) -> Value {
    let sorted: BTreeMap<String, Value> = pairs
        .into_iter()
        .map(|(k, v)| (k.as_ref().to_string(), v.into()))
        .collect();
    Value::Object(sorted.into_iter().collect())
}

/// A float64 as Go's encoding/json writes it: whole numbers without a fraction (`100`, not
/// `100.0`).
pub fn go_number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        json!(value as i64)
    } else {
        json!(value)
    }
}

/// A v3 object under construction.
#[derive(Clone, Debug)]
pub struct Obj {
    pub kind: String,
    pub namespace: Option<String>,
    /// The name as stored (the last key segment, and `metadata.name` of the value).
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub spec: Value,
    pub status: Option<Value>,
    pub created: String,
}

impl Obj {
    /// A cluster-scoped object; the spec is reordered into Go order when the kind is known.
    pub fn cluster(kind: &str, name: &str, spec: Value) -> Obj {
        let spec = match order::spec_of(kind) {
            Some(o) => ordered(spec, o),
            None => spec,
        };
        Obj {
            kind: kind.to_string(),
            namespace: None,
            name: name.to_string(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            spec,
            status: None,
            created: CREATED.to_string(),
        }
    }

    pub fn namespaced(kind: &str, namespace: &str, name: &str, spec: Value) -> Obj {
        let mut obj = Obj::cluster(kind, name, spec);
        obj.namespace = Some(namespace.to_string());
        obj
    }

    pub fn label(mut self, key: &str, value: &str) -> Obj {
        self.labels.insert(key.to_string(), value.to_string());
        self
    }

    pub fn labels(mut self, pairs: &[(&str, &str)]) -> Obj {
        for (k, v) in pairs {
            self.labels.insert(k.to_string(), v.to_string());
        }
        self
    }

    pub fn without_label(mut self, key: &str) -> Obj {
        self.labels.remove(key);
        self
    }

    pub fn annotation(mut self, key: &str, value: &str) -> Obj {
        self.annotations.insert(key.to_string(), value.to_string());
        self
    }

    pub fn status(mut self, status: Value) -> Obj {
        self.status = Some(status);
        self
    }

    pub fn created(mut self, timestamp: &str) -> Obj {
        self.created = timestamp.to_string();
        self
    }

    pub fn key(&self) -> String {
        let plural = plural_of(&self.kind);
        match &self.namespace {
            Some(ns) => format!("{RESOURCES}/{plural}/{ns}/{}", self.name),
            None => format!("{RESOURCES}/{plural}/{}", self.name),
        }
    }

    /// The JSON the etcd backend stores: kind, apiVersion, metadata (no resourceVersion), spec,
    /// status where the type has one.
    pub fn value(&self) -> Value {
        let mut meta = Map::new();
        meta.insert("name".into(), json!(self.name));
        if let Some(ns) = &self.namespace {
            meta.insert("namespace".into(), json!(ns));
        }
        let uid_name = match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        };
        meta.insert("uid".into(), json!(uid_for(&self.kind, &uid_name)));
        meta.insert("creationTimestamp".into(), json!(self.created));
        if !self.labels.is_empty() {
            meta.insert("labels".into(), sorted_map(self.labels.clone()));
        }
        if !self.annotations.is_empty() {
            meta.insert("annotations".into(), sorted_map(self.annotations.clone()));
        }
        let mut object = Map::new();
        object.insert("kind".into(), json!(self.kind));
        object.insert("apiVersion".into(), json!("projectcalico.org/v3"));
        object.insert("metadata".into(), Value::Object(meta));
        object.insert("spec".into(), self.spec.clone());
        if let Some(status) = &self.status {
            object.insert("status".into(), status.clone());
        }
        Value::Object(object)
    }
}

impl Dataset {
    /// Adds a built object at its key.
    pub fn add(&mut self, obj: Obj) {
        self.put(obj.key(), &obj.value());
    }

    /// Records a Kubernetes Node (once).
    pub fn k8s_node(&mut self, name: &str) {
        if !self.k8s_nodes.iter().any(|n| n == name) {
            self.k8s_nodes.push(name.to_string());
        }
    }

    /// Records a namespace (once); `default` and the `kube-*` ones always exist.
    pub fn namespace(&mut self, name: &str) {
        if !crate::calico::is_builtin_namespace(name) && !self.namespaces.iter().any(|n| n == name)
        {
            self.namespaces.push(name.to_string());
        }
    }

    /// The value stored at a key, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.kvs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The keys under a prefix, in insertion order.
    pub fn keys_under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.kvs
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(move |k| k.starts_with(prefix))
    }

    /// Writes ClusterInformation `default` for a release.
    pub fn cluster_information(&mut self, release: Release) {
        self.put(
            crate::calico::CLUSTER_INFORMATION_KEY,
            &crate::calico::cluster_information(release.calico_version(), true),
        );
    }
}

/// A policy rule in Go field order. Before HEAD (which uses `omitzero`) Go always writes the
/// struct fields `source` and `destination`, as `{}` when empty.
pub fn rule(release: Release, rule: Value) -> Value {
    let mut rule = rule;
    if let Some(map) = rule.as_object_mut() {
        for side in ["source", "destination"] {
            if let Some(entity) = map.remove(side) {
                map.insert(side.into(), ordered(entity, order::ENTITY_RULE));
            } else if !release.omits_empty_entity_rules() {
                map.insert(side.into(), json!({}));
            }
        }
    }
    ordered(rule, order::RULE)
}

fn rules(release: Release, spec: &mut Value) {
    for direction in ["ingress", "egress"] {
        if let Some(Value::Array(list)) = spec.get_mut(direction) {
            for r in list.iter_mut() {
                *r = rule(release, r.take());
            }
        }
    }
}

/// The kinds whose names follow the policy storage rules (docs/design.md §8).
pub fn is_tiered_policy_kind(kind: &str) -> bool {
    matches!(
        kind,
        "GlobalNetworkPolicy"
            | "NetworkPolicy"
            | "StagedGlobalNetworkPolicy"
            | "StagedNetworkPolicy"
    )
}

/// Names that every release stores as they are (kube-controllers' copies, OpenStack groups).
pub fn is_kept_policy_name(name: &str) -> bool {
    [
        "knp.default.",
        "kanp.adminnetworkpolicy.",
        "kbanp.baselineadminnetworkpolicy.",
        "ossg.",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

/// The etcd storage name of a policy whose v3 name is `v3_name` (docs/design.md §8.1):
/// up to v3.29 default-tier names get a `default.` prefix; v3.30-3.31 store
/// `TieredPolicyName(name)` (a name without a dot gets `default.`); v3.32+ store the v3 name.
pub fn policy_storage_name(release: Release, v3_name: &str, tier: &str) -> String {
    if is_kept_policy_name(v3_name) {
        return v3_name.to_string();
    }
    match release {
        Release::V3_28 | Release::V3_29 => {
            if tier == "default" && !v3_name.starts_with("default.") {
                format!("default.{v3_name}")
            } else {
                v3_name.to_string()
            }
        }
        Release::V3_30 | Release::V3_31 => {
            if v3_name.contains('.') {
                v3_name.to_string()
            } else {
                format!("default.{v3_name}")
            }
        }
        Release::V3_32 | Release::Head => v3_name.to_string(),
    }
}

/// A GNP, NP, SGNP or SNP as `release` stores it. `tier`: `None` leaves `spec.tier` empty
/// (the default tier); the spec is given without `tier`. Storage name, the
/// `projectcalico.org/metadata` annotation (v3.30+) and the tier label (v3.29-3.31: only for
/// non-default tiers; v3.32+: always) follow the release.
pub fn policy(
    release: Release,
    kind: &str,
    namespace: Option<&str>,
    v3_name: &str,
    tier: Option<&str>,
    spec: Value,
) -> Obj {
    assert!(
        is_tiered_policy_kind(kind),
        "{kind} is not a tiered policy kind"
    );
    let tier_name = tier.unwrap_or("default");
    let storage = policy_storage_name(release, v3_name, tier_name);
    let mut spec = spec;
    if let Some(t) = tier {
        spec["tier"] = json!(t);
    }
    rules(release, &mut spec);
    let order = order::spec_of(kind).expect("policy order");
    let spec = ordered(spec, order);
    let mut obj = match namespace {
        Some(ns) => Obj::namespaced(kind, ns, &storage, spec),
        None => Obj::cluster(kind, &storage, spec),
    };
    if release.writes_metadata_annotation() {
        obj = obj.annotation(METADATA_ANNOTATION, &json!({ "name": v3_name }).to_string());
    }
    let label = match release {
        Release::V3_28 => false,
        Release::V3_29 | Release::V3_30 | Release::V3_31 => tier_name != "default",
        Release::V3_32 | Release::Head => true,
    };
    if label {
        obj = obj.label(TIER_LABEL, tier_name);
    }
    obj
}

/// A Tier (v3.29+). The default tier has order 1,000,000 and, since v3.30, defaultAction Deny.
pub fn tier(release: Release, name: &str, order_value: f64, default_action: Option<&str>) -> Obj {
    let mut spec = json!({ "order": go_number(order_value) });
    if let Some(action) = default_action
        && release >= Release::V3_30
    {
        spec["defaultAction"] = json!(action);
    }
    Obj::cluster("Tier", name, spec)
}

/// The tiers `EnsureInitialized` creates in a release (v3.30-3.31: default, adminnetworkpolicy,
/// baselineadminnetworkpolicy; v3.32+: default, kube-admin, kube-baseline; v3.29: default).
pub fn builtin_tiers(release: Release) -> Vec<Obj> {
    let mut tiers = Vec::new();
    if release >= Release::V3_29 {
        tiers.push(tier(release, "default", 1_000_000.0, Some("Deny")));
    }
    match release {
        Release::V3_30 | Release::V3_31 => {
            tiers.push(tier(release, "adminnetworkpolicy", 1_000.0, Some("Pass")));
            tiers.push(tier(
                release,
                "baselineadminnetworkpolicy",
                10_000_000.0,
                Some("Pass"),
            ));
        }
        Release::V3_32 | Release::Head => {
            tiers.push(tier(release, "kube-admin", 1_000.0, Some("Pass")));
            tiers.push(tier(release, "kube-baseline", 10_000_000.0, Some("Pass")));
        }
        _ => {}
    }
    tiers
}

/// An IPPool.
pub fn ippool(name: &str, spec: Value) -> Obj {
    Obj::cluster("IPPool", name, spec)
}

/// A pool's encapsulation: the one of `vxlanMode` and `ipipMode` that is `Always` (the other,
/// or both, `Never`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encap {
    Vxlan,
    Ipip,
    Neither,
}

/// A default pool as calico-node creates it in the releases that write `assignmentMode`:
/// `default-ipv4-ippool` with /26 blocks or `default-ipv6-ippool` with /122 blocks, outgoing
/// NAT, on all nodes, for workloads and tunnels, assigned automatically.
pub fn default_ippool(cidr: &str, encap: Encap) -> Obj {
    let (name, block_size) = if cidr.contains(':') {
        ("default-ipv6-ippool", 122)
    } else {
        ("default-ipv4-ippool", 26)
    };
    let mode = |on: bool| if on { "Always" } else { "Never" };
    ippool(
        name,
        json!({"cidr": cidr, "vxlanMode": mode(encap == Encap::Vxlan), "ipipMode": mode(encap == Encap::Ipip),
               "natOutgoing": true, "blockSize": block_size, "nodeSelector": "all()",
               "allowedUses": ["Workload", "Tunnel"], "assignmentMode": "Automatic"}),
    )
}

/// A FelixConfiguration; `failsafe*HostPorts` entries are written as Go's ProtoPort (with
/// `net`, which has no omitempty).
pub fn felix_configuration(name: &str, spec: Value) -> Obj {
    let mut spec = spec;
    for field in ["failsafeInboundHostPorts", "failsafeOutboundHostPorts"] {
        if let Some(Value::Array(ports)) = spec.get_mut(field) {
            for port in ports.iter_mut() {
                if port.get("net").is_none() {
                    port["net"] = json!("");
                }
                *port = ordered(port.take(), order::PROTO_PORT);
            }
        }
    }
    // bpfLogLevel has no omitempty: Go always writes it.
    if spec.get("bpfLogLevel").is_none() {
        spec["bpfLogLevel"] = json!("");
    }
    Obj::cluster("FelixConfiguration", name, spec)
}

/// A KubeControllersConfiguration; Go always writes `status` (a struct without omitempty).
pub fn kube_controllers_configuration(spec: Value, status: Value) -> Obj {
    let mut spec = ordered(spec, order::KCC);
    if let Some(controllers) = spec.get_mut("controllers") {
        *controllers = ordered(controllers.take(), order::KCC_CONTROLLERS);
        if let Some(node) = controllers.get_mut("node") {
            *node = ordered(node.take(), order::KCC_NODE);
        }
    }
    let status = ordered(status, order::KCC_STATUS);
    Obj::cluster("KubeControllersConfiguration", "default", spec).status(status)
}

/// The usual etcd-mode KubeControllersConfiguration with the status kube-controllers writes.
pub fn default_kube_controllers_configuration() -> Obj {
    let controllers = json!({
        "node": {"reconcilerPeriod": "5m0s", "syncLabels": "Enabled", "hostEndpoint": {"autoCreate": "Disabled"}},
        "policy": {"reconcilerPeriod": "5m0s"},
        "workloadEndpoint": {"reconcilerPeriod": "5m0s"},
        "serviceAccount": {"reconcilerPeriod": "5m0s"},
        "namespace": {"reconcilerPeriod": "5m0s"},
    });
    let spec = json!({
        "logSeverityScreen": "Info",
        "healthChecks": "Enabled",
        "etcdV3CompactionPeriod": "10m0s",
        "controllers": controllers.clone(),
    });
    let mut running = spec.clone();
    running["prometheusMetricsPort"] = json!(9094);
    let status = json!({
        "runningConfig": ordered(running, order::KCC),
        "environmentVars": sorted_map([("DATASTORE_TYPE", "etcdv3"), ("ENABLED_CONTROLLERS", "policy,namespace,serviceaccount,workloadendpoint,node")]),
    });
    kube_controllers_configuration(spec, status)
}

/// A Calico Node in the internal v3 format (docs/design.md §4.2).
#[derive(Clone, Debug, Default)]
pub struct NodeDef {
    pub name: String,
    /// (nodeName, orchestrator); an empty nodeName is omitted (omitempty).
    pub orch_refs: Vec<(String, String)>,
    pub as_number: Option<u32>,
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
    pub ipip: Option<String>,
    pub route_reflector_cluster_id: Option<String>,
    pub vxlan_v4: Option<(String, String)>,
    pub vxlan_v6: Option<(String, String)>,
    pub wireguard_v4: Option<String>,
    pub wireguard_v6: Option<String>,
    pub wireguard_key: Option<String>,
    pub wireguard_key_v6: Option<String>,
    pub addresses: Vec<(String, String)>,
    pub interfaces: Vec<(String, Vec<String>)>,
    pub pod_cidrs: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

impl NodeDef {
    /// A node with the labels kube-controllers' label sync copies from Kubernetes.
    pub fn new(etcd_name: &str) -> NodeDef {
        NodeDef {
            name: etcd_name.to_string(),
            ..Default::default()
        }
    }

    /// Adds an orchRef `{nodeName, orchestrator: k8s}` and the Kubernetes labels of that node.
    pub fn k8s(mut self, k8s_name: &str) -> NodeDef {
        self.orch_refs
            .push((k8s_name.to_string(), "k8s".to_string()));
        for (k, v) in [
            ("beta.kubernetes.io/arch", "amd64"),
            ("beta.kubernetes.io/os", "linux"),
            ("kubernetes.io/arch", "amd64"),
            ("kubernetes.io/hostname", k8s_name),
            ("kubernetes.io/os", "linux"),
        ] {
            self.labels.insert(k.to_string(), v.to_string());
        }
        self
    }

    pub fn orch_ref(mut self, node_name: &str, orchestrator: &str) -> NodeDef {
        self.orch_refs
            .push((node_name.to_string(), orchestrator.to_string()));
        self
    }

    /// BGP IPv4 address (CIDR form) plus the CalicoNodeIP and InternalIP addresses.
    pub fn ipv4(mut self, ip: &str, prefix: u8) -> NodeDef {
        self.ipv4 = Some(self.node_address(ip, prefix));
        self
    }

    pub fn ipv6(mut self, ip: &str, prefix: u8) -> NodeDef {
        self.ipv6 = Some(self.node_address(ip, prefix));
        self
    }

    /// Adds the CalicoNodeIP (CIDR form) and InternalIP addresses of a BGP address; returns
    /// the CIDR form.
    fn node_address(&mut self, ip: &str, prefix: u8) -> String {
        let cidr = format!("{ip}/{prefix}");
        self.addresses.push((cidr.clone(), "CalicoNodeIP".into()));
        self.addresses.push((ip.to_string(), "InternalIP".into()));
        cidr
    }

    pub fn label(mut self, key: &str, value: &str) -> NodeDef {
        self.labels.insert(key.to_string(), value.to_string());
        self
    }

    pub fn obj(&self) -> Obj {
        let mut spec = Map::new();
        let mut bgp = Map::new();
        if let Some(asn) = self.as_number {
            bgp.insert("asNumber".into(), json!(asn));
        }
        for (field, value) in [
            ("ipv4Address", &self.ipv4),
            ("ipv6Address", &self.ipv6),
            ("ipv4IPIPTunnelAddr", &self.ipip),
            ("routeReflectorClusterID", &self.route_reflector_cluster_id),
        ] {
            if let Some(v) = value {
                bgp.insert(field.into(), json!(v));
            }
        }
        if !bgp.is_empty() {
            spec.insert("bgp".into(), Value::Object(bgp));
        }
        if let Some((addr, mac)) = &self.vxlan_v4 {
            spec.insert("ipv4VXLANTunnelAddr".into(), json!(addr));
            spec.insert("vxlanTunnelMACAddr".into(), json!(mac));
        }
        if let Some((addr, mac)) = &self.vxlan_v6 {
            spec.insert("ipv6VXLANTunnelAddr".into(), json!(addr));
            spec.insert("vxlanTunnelMACAddrV6".into(), json!(mac));
        }
        if !self.orch_refs.is_empty() {
            let refs: Vec<Value> = self
                .orch_refs
                .iter()
                .map(|(name, orchestrator)| {
                    if name.is_empty() {
                        json!({ "orchestrator": orchestrator })
                    } else {
                        json!({ "nodeName": name, "orchestrator": orchestrator })
                    }
                })
                .collect();
            spec.insert("orchRefs".into(), Value::Array(refs));
        }
        let mut wireguard = Map::new();
        if let Some(v) = &self.wireguard_v4 {
            wireguard.insert("interfaceIPv4Address".into(), json!(v));
        }
        if let Some(v) = &self.wireguard_v6 {
            wireguard.insert("interfaceIPv6Address".into(), json!(v));
        }
        if !wireguard.is_empty() {
            spec.insert("wireguard".into(), Value::Object(wireguard));
        }
        if !self.addresses.is_empty() {
            let addresses: Vec<Value> = self
                .addresses
                .iter()
                .map(|(address, kind)| json!({ "address": address, "type": kind }))
                .collect();
            spec.insert("addresses".into(), Value::Array(addresses));
        }
        if !self.interfaces.is_empty() {
            let interfaces: Vec<Value> = self
                .interfaces
                .iter()
                .map(|(name, addresses)| json!({ "name": name, "addresses": addresses }))
                .collect();
            spec.insert("interfaces".into(), Value::Array(interfaces));
        }
        let mut status = Map::new();
        if let Some(v) = &self.wireguard_key {
            status.insert("wireguardPublicKey".into(), json!(v));
        }
        if let Some(v) = &self.wireguard_key_v6 {
            status.insert("wireguardPublicKeyV6".into(), json!(v));
        }
        if !self.pod_cidrs.is_empty() {
            status.insert("podCIDRs".into(), json!(self.pod_cidrs));
        }
        let mut obj =
            Obj::cluster("Node", &self.name, Value::Object(spec)).status(Value::Object(status));
        obj.labels = self.labels.clone();
        obj.annotations = self.annotations.clone();
        obj
    }
}

/// Deterministic pseudo-random numbers (SplitMix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// `len` lower-case hex digits.
    pub fn hex(&mut self, len: usize) -> String {
        let mut out = String::with_capacity(len + 16);
        while out.len() < len {
            out.push_str(&format!("{:016x}", self.next_u64()));
        }
        out.truncate(len);
        out
    }

    /// `len` characters of the alphabet Kubernetes uses for generated name suffixes.
    pub fn k8s_suffix(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..len)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize] as char)
            .collect()
    }
}

/// A stable 64-hex container ID derived from a seed string.
pub fn container_id(seed: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in seed.bytes() {
        hash = (hash ^ byte as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    Rng::new(hash).hex(64)
}

/// The pod-network handle ID of a container.
pub fn pod_handle(container: &str) -> String {
    format!("k8s-pod-network.{container}")
}

/// The WorkloadEndpoint name Calico derives for a Kubernetes pod: `-` doubled in node and pod.
pub fn wep_name(node: &str, pod: &str, endpoint: &str) -> String {
    format!(
        "{}-k8s-{}-{endpoint}",
        node.replace('-', "--"),
        pod.replace('-', "--")
    )
}

/// A Kubernetes pod's WorkloadEndpoint as the CNI plugin writes it in etcd mode.
#[allow(clippy::too_many_arguments)]
pub fn workload_endpoint(
    node: &str,
    namespace: &str,
    pod: &str,
    container: &str,
    service_account: &str,
    ips: &[String],
    interface: &str,
    mac: &str,
    app: &str,
) -> Obj {
    let profiles = vec![
        format!("kns.{namespace}"),
        format!("ksa.{namespace}.{service_account}"),
    ];
    let spec = json!({
        "orchestrator": "k8s",
        "node": node,
        "containerID": container,
        "pod": pod,
        "endpoint": "eth0",
        "serviceAccountName": service_account,
        "ipNetworks": ips,
        "profiles": profiles,
        "interfaceName": interface,
        "mac": mac,
    });
    Obj::namespaced(
        "WorkloadEndpoint",
        namespace,
        &wep_name(node, pod, "eth0"),
        spec,
    )
    .labels(&[
        ("app", app),
        ("projectcalico.org/namespace", namespace),
        ("projectcalico.org/orchestrator", "k8s"),
        ("projectcalico.org/serviceaccount", service_account),
    ])
}
