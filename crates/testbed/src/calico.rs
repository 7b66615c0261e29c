//! Calico data as an etcd-mode install stores it: keys and JSON values in the formats of
//! docs/design.md §4, with Go's field order, so that tests and the sandbox read what a real cluster
//! holds.

use serde_json::{Value, json};

pub const RESOURCES: &str = "/calico/resources/v3/projectcalico.org";
pub const CLUSTER_INFORMATION_KEY: &str =
    "/calico/resources/v3/projectcalico.org/clusterinformations/default";
const CREATED: &str = "2024-05-01T10:00:00Z";

/// A set of etcd keys and values, plus the Kubernetes Nodes the cluster has.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    pub kvs: Vec<(String, String)>,
    /// Kubernetes Node names that exist in the cluster.
    pub k8s_nodes: Vec<String>,
    /// Kubernetes Namespaces the cluster has besides the defaults.
    pub namespaces: Vec<String>,
}

impl Dataset {
    pub fn put(&mut self, key: impl Into<String>, value: &Value) {
        self.kvs.push((key.into(), value.to_string()));
    }

    pub fn put_raw(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.kvs.push((key.into(), value.into()));
    }

    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.kvs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Adds a v3 resource at its key, derived from kind, namespace and name.
    pub fn resource(&mut self, object: Value) {
        let key = resource_key(&object);
        self.put(key, &object);
    }

    /// The same data with the dataset's own namespaces (those in `namespaces`) renamed: in the
    /// keys of namespaced resources and wherever a value names one as `"namespace"` (objects'
    /// metadata, IPAM allocation attributes). Namespaces every cluster has are never in
    /// `namespaces`, so data in `default` stays there.
    pub fn with_namespaces_renamed(&self, rename: impl Fn(&str) -> String) -> Dataset {
        let renamed: Vec<(String, String)> = self
            .namespaces
            .iter()
            .map(|ns| (ns.clone(), rename(ns)))
            .collect();
        let kvs = self
            .kvs
            .iter()
            .map(|(key, value)| {
                let mut key = key.clone();
                let mut value = value.clone();
                for (old, new) in &renamed {
                    key = rename_key_namespace(&key, old, new);
                    value = value.replace(
                        &format!(r#""namespace":"{old}""#),
                        &format!(r#""namespace":"{new}""#),
                    );
                }
                (key, value)
            })
            .collect();
        Dataset {
            kvs,
            k8s_nodes: self.k8s_nodes.clone(),
            namespaces: renamed.into_iter().map(|(_, new)| new).collect(),
        }
    }
}

/// Namespaces every Kubernetes cluster has: `default` and the `kube-*` ones.
pub fn is_builtin_namespace(name: &str) -> bool {
    name == "default" || name.starts_with("kube-")
}

/// `<RESOURCES>/<plural>/<old>/<name>` with the namespace `new`; other keys as they are.
fn rename_key_namespace(key: &str, old: &str, new: &str) -> String {
    let Some(rest) = key.strip_prefix(RESOURCES) else {
        return key.to_string();
    };
    let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        [plural, namespace, name] if *namespace == old => {
            format!("{RESOURCES}/{plural}/{new}/{name}")
        }
        _ => key.to_string(),
    }
}

/// `/calico/resources/v3/projectcalico.org/<plural>/[<namespace>/]<name>`.
pub fn resource_key(object: &Value) -> String {
    let kind = object["kind"].as_str().expect("kind");
    let plural = plural_of(kind);
    let name = object["metadata"]["name"].as_str().expect("name");
    match object["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{RESOURCES}/{plural}/{ns}/{name}"),
        None => format!("{RESOURCES}/{plural}/{name}"),
    }
}

pub fn plural_of(kind: &str) -> String {
    match kind {
        "GlobalNetworkPolicy" => "globalnetworkpolicies".into(),
        "StagedGlobalNetworkPolicy" => "stagedglobalnetworkpolicies".into(),
        "NetworkPolicy" => "networkpolicies".into(),
        "StagedNetworkPolicy" => "stagednetworkpolicies".into(),
        "StagedKubernetesNetworkPolicy" => "stagedkubernetesnetworkpolicies".into(),
        "ClusterInformation" => "clusterinformations".into(),
        "CalicoNodeStatus" => "caliconodestatuses".into(),
        "BlockAffinity" => "blockaffinities".into(),
        other => format!("{}s", other.to_lowercase()),
    }
}

/// A v3 object as the etcd backend writes it: kind, apiVersion, metadata (no resourceVersion),
/// spec.
pub fn object(kind: &str, namespace: Option<&str>, name: &str, spec: Value) -> Value {
    let mut metadata = serde_json::Map::new();
    metadata.insert("name".into(), json!(name));
    if let Some(ns) = namespace {
        metadata.insert("namespace".into(), json!(ns));
    }
    metadata.insert("uid".into(), json!(uid_for(kind, name)));
    metadata.insert("creationTimestamp".into(), json!(CREATED));
    json!({
        "kind": kind,
        "apiVersion": "projectcalico.org/v3",
        "metadata": Value::Object(metadata),
        "spec": spec,
    })
}

/// Adds labels (or annotations) to an object's metadata, after the fields Go writes first.
pub fn with_meta(mut object: Value, field: &str, entries: Value) -> Value {
    object["metadata"][field] = entries;
    object
}

/// A stable, UUID-shaped uid derived from kind and name.
pub fn uid_for(kind: &str, name: &str) -> String {
    // Stable, distinct, UUID-shaped.
    let mut hash: u64 = 0xcbf29ce484222325;
    for byte in kind.bytes().chain([b'/']).chain(name.bytes()) {
        hash = (hash ^ byte as u64).wrapping_mul(0x100000001b3);
    }
    let h = format!(
        "{hash:016x}{:016x}",
        hash.rotate_left(29) ^ 0x9e3779b97f4a7c15
    );
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

pub fn cluster_information(calico_version: &str, datastore_ready: bool) -> Value {
    json!({
        "kind": "ClusterInformation",
        "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": "default", "uid": "1d2b6e1c-2f2a-4c55-9a07-5f1c2d3e4f50", "creationTimestamp": CREATED},
        "spec": {
            "clusterGUID": "6f0c5e8e3a0b4a53b1f7d2f0d6c1a9e4",
            "clusterType": "k8s,bgp",
            "calicoVersion": calico_version,
            "datastoreReady": datastore_ready,
        }
    })
}

/// A Calico Node with a `k8s` orchRef (None: a host without Kubernetes).
pub fn node(etcd_name: &str, k8s_name: Option<&str>, ip: &str, tunnel: &str) -> Value {
    let mut spec = json!({
        "bgp": {"ipv4Address": format!("{ip}/24"), "ipv4IPIPTunnelAddr": tunnel},
    });
    if let Some(k8s) = k8s_name {
        spec["orchRefs"] = json!([{"nodeName": k8s, "orchestrator": "k8s"}]);
    }
    spec["addresses"] = json!([
        {"address": format!("{ip}/24"), "type": "CalicoNodeIP"},
        {"address": ip, "type": "InternalIP"}
    ]);
    let object = object("Node", None, etcd_name, spec);
    let mut object = with_meta(
        object,
        "labels",
        json!({
            "beta.kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux",
            "kubernetes.io/hostname": k8s_name.unwrap_or(etcd_name),
        }),
    );
    object["status"] = json!({});
    object
}

/// One IPAM block of a v4 /26 with `allocated` addresses, each with its handle and attributes,
/// in the pre-v3.32 value format.
pub struct Block {
    pub cidr: String,
    pub host: Option<String>,
    /// (ordinal, handle id, secondary attributes)
    pub allocations: Vec<(usize, String, Value)>,
    pub size: usize,
}

impl Block {
    pub fn key(&self) -> String {
        let version = if self.cidr.contains(':') { 6 } else { 4 };
        format!(
            "/calico/ipam/v2/assignment/ipv{version}/block/{}",
            self.cidr.replacen('/', "-", 1)
        )
    }

    pub fn value(&self) -> Value {
        let mut allocations = vec![Value::Null; self.size];
        let mut attributes = Vec::new();
        let mut seq = serde_json::Map::new();
        for (index, (ordinal, handle, secondary)) in self.allocations.iter().enumerate() {
            allocations[*ordinal] = json!(index);
            attributes.push(json!({"handle_id": handle, "secondary": secondary}));
            seq.insert(ordinal.to_string(), json!(index as u64));
        }
        let unallocated: Vec<usize> = (0..self.size)
            .filter(|o| !self.allocations.iter().any(|(a, _, _)| a == o))
            .collect();
        json!({
            "cidr": self.cidr,
            "affinity": self.host.as_ref().map(|h| format!("host:{h}")),
            "allocations": allocations,
            "unallocated": unallocated,
            "attributes": attributes,
            "sequenceNumber": self.allocations.len() as u64,
            "sequenceNumberForAllocation": Value::Object(seq),
            "deleted": false,
        })
    }

    /// The handles this block's allocations belong to, with their per-block counts.
    pub fn handles(&self) -> Vec<(String, Value)> {
        let mut handles: Vec<(String, Value)> = Vec::new();
        for (_, handle, _) in &self.allocations {
            if let Some((_, value)) = handles.iter_mut().find(|(h, _)| h == handle) {
                let count = value["block"][&self.cidr].as_u64().unwrap_or(0) + 1;
                value["block"][&self.cidr] = json!(count);
            } else {
                let mut block = serde_json::Map::new();
                block.insert(self.cidr.clone(), json!(1));
                handles.push((handle.clone(), json!({"block": block, "deleted": false})));
            }
        }
        handles
    }

    pub fn affinity_key(&self) -> Option<String> {
        let version = if self.cidr.contains(':') { 6 } else { 4 };
        self.host.as_ref().map(|host| {
            format!(
                "/calico/ipam/v2/host/{host}/ipv{version}/block/{}",
                self.cidr.replacen('/', "-", 1)
            )
        })
    }

    pub fn add_to(&self, dataset: &mut Dataset) {
        dataset.put(self.key(), &self.value());
        if let Some(key) = self.affinity_key() {
            dataset.put(key, &json!({"state": "confirmed", "deleted": false}));
        }
        for (handle, value) in self.handles() {
            dataset.put(format!("/calico/ipam/v2/handle/{handle}"), &value);
        }
    }
}

pub fn pod_attrs(node: &str, namespace: &str, pod: &str) -> Value {
    json!({"namespace": namespace, "node": node, "pod": pod, "timestamp": "2024-05-02 09:30:00.000000001 +0000 UTC"})
}

pub fn tunnel_attrs(node: &str, kind: &str) -> Value {
    json!({"node": node, "type": kind})
}

/// The sandbox's cluster: a small but realistic etcd-mode Calico v3.28 install whose etcd node
/// names are FQDNs while Kubernetes knows the short names.
pub fn sandbox_cluster() -> Dataset {
    let mut d = Dataset {
        namespaces: vec!["shop".into()],
        ..Default::default()
    };
    let nodes = [
        (
            "cp-1.cluster.example.com",
            "cp-1",
            "10.0.0.10",
            "192.168.12.64",
        ),
        (
            "worker-1.cluster.example.com",
            "worker-1",
            "10.0.0.11",
            "192.168.33.0",
        ),
        (
            "worker-2.cluster.example.com",
            "worker-2",
            "10.0.0.12",
            "192.168.45.128",
        ),
    ];
    d.put(
        CLUSTER_INFORMATION_KEY,
        &cluster_information("v3.28.0", true),
    );
    for (etcd_name, k8s_name, ip, tunnel) in nodes {
        d.resource(node(etcd_name, Some(k8s_name), ip, tunnel));
        d.k8s_nodes.push(k8s_name.to_string());
    }
    d.resource(object(
        "IPPool",
        None,
        "default-ipv4-ippool",
        json!({"cidr": "192.168.0.0/16", "vxlanMode": "Never", "ipipMode": "Always", "natOutgoing": true,
               "blockSize": 26, "nodeSelector": "all()", "allowedUses": ["Workload", "Tunnel"]}),
    ));
    d.resource(object(
        "BGPConfiguration",
        None,
        "default",
        json!({"logSeverityScreen": "Info", "nodeToNodeMeshEnabled": true, "asNumber": 64512}),
    ));
    d.resource(object(
        "BGPConfiguration",
        None,
        "node.worker-2.cluster.example.com",
        json!({"logSeverityScreen": "Debug"}),
    ));
    d.resource(object(
        "FelixConfiguration",
        None,
        "default",
        json!({"bpfLogLevel": "", "floatingIPs": "Disabled", "logSeverityScreen": "Info", "reportingInterval": "0s"}),
    ));
    d.resource(object(
        "FelixConfiguration",
        None,
        "node.cp-1.cluster.example.com",
        json!({"defaultEndpointToHostAction": "ACCEPT"}),
    ));
    d.resource(object(
        "KubeControllersConfiguration",
        None,
        "default",
        json!({"logSeverityScreen": "Info", "healthChecks": "Enabled", "etcdV3CompactionPeriod": "10m0s",
               "controllers": {"node": {"reconcilerPeriod": "5m0s", "syncLabels": "Enabled", "hostEndpoint": {"autoCreate": "Disabled"}},
                               "policy": {"reconcilerPeriod": "5m0s"}, "workloadEndpoint": {"reconcilerPeriod": "5m0s"},
                               "serviceAccount": {"reconcilerPeriod": "5m0s"}, "namespace": {"reconcilerPeriod": "5m0s"}}}),
    ));
    d.resource(object(
        "BGPPeer",
        None,
        "rack-1-tor",
        json!({"node": "worker-1.cluster.example.com", "peerIP": "10.0.0.1", "asNumber": 64513}),
    ));
    d.resource(with_meta(
        object(
            "GlobalNetworkPolicy",
            None,
            "default.allow-cluster-dns",
            json!({"tier": "default", "order": 100, "selector": "all()",
                   "egress": [{"action": "Allow", "protocol": "UDP", "destination": {"selector": "k8s-app == 'kube-dns'", "ports": [53]}}],
                   "types": ["Egress"]}),
        ),
        "labels",
        json!({"projectcalico.org/tier": "default"}),
    ));
    d.resource(object(
        "GlobalNetworkSet",
        None,
        "trusted-offices",
        json!({"nets": ["203.0.113.0/24", "198.51.100.16/28"]}),
    ));
    d.resource(object(
        "HostEndpoint",
        None,
        "cp-1-eth0",
        json!({"node": "cp-1.cluster.example.com", "interfaceName": "eth0", "expectedIPs": ["10.0.0.10"]}),
    ));
    d.resource(with_meta(
        object(
            "NetworkPolicy",
            Some("shop"),
            "default.allow-frontend",
            json!({"tier": "default", "order": 200, "selector": "app == 'api'",
                   "ingress": [{"action": "Allow", "protocol": "TCP", "source": {"selector": "app == 'frontend'"}, "destination": {"ports": [8080]}}],
                   "types": ["Ingress"]}),
        ),
        "labels",
        json!({"projectcalico.org/tier": "default"}),
    ));
    d.resource(object(
        "NetworkSet",
        Some("shop"),
        "payment-providers",
        json!({"nets": ["192.0.2.0/28"]}),
    ));
    // Written by kube-controllers in etcd mode: not migrated.
    d.resource(object(
        "NetworkPolicy",
        Some("shop"),
        "knp.default.deny-all",
        json!({"tier": "default", "order": 1000, "selector": "projectcalico.org/orchestrator == 'k8s'", "types": ["Ingress"]}),
    ));
    d.resource(object(
        "Profile",
        None,
        "kns.shop",
        json!({"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}),
    ));
    d.resource(object("Profile", None, "ksa.shop.default", json!({})));
    d.resource(object(
        "WorkloadEndpoint",
        Some("shop"),
        "worker--1.cluster.example.com-k8s-api--7d4b9c-eth0",
        json!({"orchestrator": "k8s", "node": "worker-1.cluster.example.com", "pod": "api-7d4b9c", "endpoint": "eth0",
               "ipNetworks": ["192.168.33.1/32"], "interfaceName": "cali1234567890a"}),
    ));
    d.put_raw(
        "/calico/felix/v2/no-region/host/worker-1.cluster.example.com/status",
        r#"{"time":"2024-05-02T09:30:00Z","uptime":3600,"first_update":false}"#,
    );

    for (etcd_name, _, _, tunnel) in nodes {
        let base = tunnel.rsplit_once('.').map(|(b, _)| b).unwrap_or(tunnel);
        let last: usize = tunnel
            .rsplit('.')
            .next()
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        let mut block = Block {
            cidr: format!("{base}.{last}/26"),
            host: Some(etcd_name.to_string()),
            allocations: vec![(
                0,
                format!("ipip-tunnel-addr-{etcd_name}"),
                tunnel_attrs(etcd_name, "ipipTunnelAddress"),
            )],
            size: 64,
        };
        if etcd_name.starts_with("worker-1") {
            block.allocations.push((
                1,
                "k8s-pod-network.4d3c2b1a0f9e8d7c6b5a".into(),
                pod_attrs(etcd_name, "shop", "api-7d4b9c"),
            ));
            block.allocations.push((
                2,
                "k8s-pod-network.9a8b7c6d5e4f3a2b1c0d".into(),
                pod_attrs(etcd_name, "shop", "frontend-5f6g7h"),
            ));
        }
        block.add_to(&mut d);
    }
    d.put(
        "/calico/ipam/v2/config",
        &json!({"strict_affinity": false, "auto_allocate_blocks": true}),
    );
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_datasets_namespaces_are_renamed_in_keys_and_values() {
        let d = sandbox_cluster().with_namespaces_renamed(|ns| format!("{ns}-t1"));
        assert_eq!(d.namespaces, ["shop-t1"]);
        let key =
            "/calico/resources/v3/projectcalico.org/networkpolicies/shop-t1/default.allow-frontend";
        let policy: Value = serde_json::from_str(d.get(key).expect("renamed key")).unwrap();
        assert_eq!(policy["metadata"]["namespace"], "shop-t1");
        assert!(
            d.kvs
                .iter()
                .all(|(k, v)| !k.contains("/shop/") && !v.contains(r#""namespace":"shop""#))
        );
        // Cluster-scoped keys, and names that merely contain the namespace, stay.
        assert!(
            d.get("/calico/resources/v3/projectcalico.org/profiles/kns.shop")
                .is_some()
        );
        assert_eq!(d.kvs.len(), sandbox_cluster().kvs.len());
        assert!(!is_builtin_namespace("shop"));
        assert!(is_builtin_namespace("default") && is_builtin_namespace("kube-system"));
    }

    #[test]
    fn keys_follow_the_etcd_key_layout() {
        let d = sandbox_cluster();
        let keys: Vec<&str> = d.kvs.iter().map(|(k, _)| k.as_str()).collect();
        assert!(keys.contains(
            &"/calico/resources/v3/projectcalico.org/nodes/worker-1.cluster.example.com"
        ));
        assert!(keys.contains(
            &"/calico/resources/v3/projectcalico.org/networkpolicies/shop/default.allow-frontend"
        ));
        assert!(keys.contains(&"/calico/ipam/v2/assignment/ipv4/block/192.168.33.0-26"));
        assert!(keys.contains(
            &"/calico/ipam/v2/host/worker-1.cluster.example.com/ipv4/block/192.168.33.0-26"
        ));
        assert!(
            keys.contains(&"/calico/ipam/v2/handle/ipip-tunnel-addr-worker-1.cluster.example.com")
        );
        let block: Value = serde_json::from_str(
            &d.kvs
                .iter()
                .find(|(k, _)| k.ends_with("192.168.33.0-26") && k.contains("assignment"))
                .unwrap()
                .1,
        )
        .unwrap();
        assert_eq!(block["allocations"][2], json!(2));
        assert_eq!(block["allocations"][3], Value::Null);
        assert_eq!(
            block["affinity"],
            json!("host:worker-1.cluster.example.com")
        );
        // Go's AllocationBlock order, without the fields v3.28 does not write.
        let go_order: Vec<&str> = crate::datasets::order::BLOCK
            .iter()
            .copied()
            .filter(|field| !["affinity_claim_time", "hostAffinity"].contains(field))
            .collect();
        let keys = block.as_object().unwrap().keys();
        assert_eq!(keys.map(String::as_str).collect::<Vec<_>>(), go_order);
    }
}
