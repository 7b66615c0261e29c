//! The small, hand-made datasets. Each function's doc says what the dataset holds and what an
//! export must produce for it according to docs/design.md; [`super::expected_export`] derives the
//! same from the keys, and the unit tests hold both to the numbers written here.

use serde_json::{Value, json};

use super::Release;
use super::build::*;
use super::ipam::*;
use crate::calico::Dataset;

fn new_dataset(release: Release) -> Dataset {
    let mut d = Dataset::default();
    d.cluster_information(release);
    d
}

/// Allocates a pod address in `block` and returns the handle ID.
fn pod(block: &mut IpamBlock, node: &str, namespace: &str, name: &str, minute: u32) -> String {
    let handle = pod_handle(&container_id(&format!("{namespace}/{name}")));
    block.assign(Attr::pod(
        &handle,
        node,
        namespace,
        name,
        &go_timestamp(2, 9 * 3600 + minute * 60, 417_000_000 + minute),
    ));
    handle
}

fn set_raw(d: &mut Dataset, key: &str, value: &str) {
    match d.kvs.iter_mut().find(|(k, _)| k == key) {
        Some(kv) => kv.1 = value.to_string(),
        None => d.put_raw(key, value),
    }
}

fn rule_allow_from(selector: &str) -> Value {
    json!({"action": "Allow", "source": {"selector": selector}})
}

// ---------------------------------------------------------------------------------------------
// 1. upstream's system test

/// The FelixConfiguration spec of upstream's test data, as Go stores it (`99s` becomes
/// `1m39s`; `failsafe*` entries get `net: ""`).
fn upstream_felix_spec() -> Value {
    json!({
        "chainInsertMode": "append",
        "defaultEndpointToHostAction": "Accept",
        "failsafeInboundHostPorts": [{"protocol": "TCP", "port": 666}, {"protocol": "UDP", "port": 333}],
        "failsafeOutboundHostPorts": [{"protocol": "TCP", "port": 999}, {"protocol": "UDP", "port": 222}, {"protocol": "UDP", "port": 422}],
        "interfacePrefix": "humperdink",
        "ipipMTU": 1521,
        "ipsetsRefreshInterval": "44s",
        "iptablesFilterAllowAction": "Return",
        "iptablesLockFilePath": "/run/fun",
        "iptablesLockProbeInterval": "500ms",
        "iptablesLockTimeout": "22s",
        "iptablesMangleAllowAction": "Accept",
        "iptablesMarkMask": 0xff0000,
        "iptablesPostWriteCheckInterval": "12s",
        "iptablesRefreshInterval": "22s",
        "ipv6Support": true,
        "logFilePath": "/var/log/fun.log",
        "logPrefix": "say-hello-friend",
        "logSeverityScreen": "Info",
        "maxIpsetSize": 8192,
        "metadataAddr": "127.1.1.1",
        "metadataPort": 8999,
        "netlinkTimeout": "10s",
        "prometheusGoMetricsEnabled": true,
        "prometheusMetricsEnabled": true,
        "prometheusMetricsPort": 11,
        "prometheusProcessMetricsEnabled": true,
        "reportingInterval": "10s",
        "reportingTTL": "1m39s",
        "routeRefreshInterval": "33s",
        "usageReportingEnabled": false,
    })
}

/// The rules of upstream's test policies.
fn upstream_policy_spec(order: u32) -> Value {
    json!({
        "order": order,
        "selector": "type=='database'",
        "types": ["Ingress", "Egress"],
        "egress": [{"action": "Allow", "source": {"selector": "type=='application'"}}],
        "ingress": [{
            "ipVersion": 4,
            "action": "Deny",
            "protocol": "TCP",
            "destination": {
                "notNets": ["10.3.0.0/16"], "notPorts": ["110:1050"], "notSelector": "type=='apples'",
                "nets": ["10.2.0.0/16"], "ports": ["100:200"], "selector": "type=='application'",
            },
            "source": {
                "notNets": ["10.1.0.0/16"], "notPorts": [1050], "notSelector": "type=='database'",
                "nets": ["10.0.0.0/16"], "ports": [1234, "10:1024"], "selector": "type=='application'",
                "namespaceSelector": "has(role)",
            },
        }],
    })
}

/// Upstream's datastore-migration system test (`calicoctl/tests/st/calicoctl/test_migrate.py`,
/// the 2024 version with IPReservation, BGPFilter and `add_tier_label`) as a v3.29 etcd holds
/// it after the test's `calicoctl create` calls, without IPAM (the test has a TODO for IPAM and
/// expects the import to fail with `No IPAM resources specified in file`).
///
/// Keys (17 resources + ClusterInformation v3.29.3):
/// - IPPool `ippool-name2` (fed0:8001::/64, blockSize 123); BGPPeer `bgppeer-name-123abc`
///   (`spec.node: node1`, a node that exists nowhere);
/// - BGPConfiguration `default` and `node.node5`; FelixConfiguration `felixconfiguration1` and
///   `node.node5` (upstream's long spec; actions already title-case);
/// - GlobalNetworkPolicy stored as `default.policy-mypolicy1` (tier default, no annotation, no
///   tier label: v3.29 format); NetworkPolicies `default/default.policy-mypolicy1` and
///   `test/default.policy-mypolicy3`;
/// - GlobalNetworkSet `net-set1`; NetworkSets `default/net-set1`, `test/net-set2`;
/// - HostEndpoint `endpoint1` (label type=database, `spec.node: host1`, profiles prof1/prof2
///   that do not exist);
/// - Nodes `node4` and `node5`, **both with orchRef `k8s` nodeName `node4`**;
/// - IPReservation `ipreservation-name1`; BGPFilter `bgpfilter-name1`.
///
/// Kubernetes Nodes: `node4` only (node5 must not be found after import). Namespaces: `test`.
///
/// Export (docs/design.md §5, §6, §8.1): IPPool 1, BGPPeer 1 (node1 kept), GlobalNetworkPolicy 1
/// named `policy-mypolicy1`, GlobalNetworkSet 1, HostEndpoint 1, NetworkPolicy 2
/// (`default/policy-mypolicy1`, `test/policy-mypolicy3`), NetworkSet 2, **Node 2, both named
/// `node4`** (node5 renamed; the later one wins on import), BGPConfiguration 2 (`default`,
/// `node.node5` -> `node.node4`), FelixConfiguration 2 (`felixconfiguration1`, `node.node5` ->
/// `node.node4`), IPReservation 1, BGPFilter 1; 0 of the other kinds; nothing skipped; IPAM JSON
/// `{}`. Exported policies carry `projectcalico.org/tier: default`.
pub fn upstream_st_without_ipam() -> Dataset {
    let release = Release::V3_29;
    let mut d = new_dataset(release);
    d.namespace("test");
    d.k8s_node("node4");
    d.add(ippool(
        "ippool-name2",
        json!({"cidr": "fed0:8001::/64", "ipipMode": "Never", "vxlanMode": "Never", "blockSize": 123,
               "allowedUses": ["Workload", "Tunnel"], "nodeSelector": "all()"}),
    ));
    d.add(Obj::cluster(
        "BGPConfiguration",
        "default",
        json!({"logSeverityScreen": "Info", "nodeToNodeMeshEnabled": true, "asNumber": 6512}),
    ));
    d.add(Obj::cluster(
        "BGPConfiguration",
        "node.node5",
        json!({"logSeverityScreen": "Debug"}),
    ));
    d.add(Obj::cluster(
        "BGPPeer",
        "bgppeer-name-123abc",
        json!({"node": "node1", "peerIP": "192.168.0.250", "asNumber": 64514}),
    ));
    d.add(felix_configuration(
        "felixconfiguration1",
        upstream_felix_spec(),
    ));
    d.add(felix_configuration("node.node5", upstream_felix_spec()));
    d.add(policy(
        release,
        "GlobalNetworkPolicy",
        None,
        "default.policy-mypolicy1",
        Some("default"),
        upstream_policy_spec(100),
    ));
    d.add(Obj::cluster(
        "GlobalNetworkSet",
        "net-set1",
        json!({"nets": ["10.0.0.1", "11.0.0.0/16", "feed:beef::1", "dead:beef::96"]}),
    ));
    d.add(
        Obj::cluster(
            "HostEndpoint",
            "endpoint1",
            json!({"interfaceName": "eth0", "profiles": ["prof1", "prof2"], "node": "host1"}),
        )
        .label("type", "database"),
    );
    d.add(policy(
        release,
        "NetworkPolicy",
        Some("default"),
        "default.policy-mypolicy1",
        Some("default"),
        upstream_policy_spec(100),
    ));
    d.add(policy(
        release,
        "NetworkPolicy",
        Some("test"),
        "policy-mypolicy3",
        Some("default"),
        upstream_policy_spec(100),
    ));
    let nets = json!({"nets": ["10.0.0.1", "11.0.0.0/16", "feed:beef::1", "dead:beef::96"]});
    d.add(Obj::namespaced(
        "NetworkSet",
        "default",
        "net-set1",
        nets.clone(),
    ));
    d.add(Obj::namespaced("NetworkSet", "test", "net-set2", nets));
    for (name, ip) in [("node4", "1.2.3.4"), ("node5", "1.2.3.5")] {
        let mut node = NodeDef::new(name);
        node.ipv4 = Some(format!("{ip}/24"));
        node.ipv6 = Some("aa:bb:cc::ff/120".into());
        node.orch_refs.push(("node4".into(), "k8s".into()));
        d.add(node.obj());
    }
    d.add(Obj::cluster(
        "IPReservation",
        "ipreservation-name1",
        json!({"reservedCIDRs": ["10.0.1.0/24", "11.0.0.1/32"]}),
    ));
    d.add(Obj::cluster(
        "BGPFilter",
        "bgpfilter-name1",
        json!({"exportV4": [ordered(json!({"cidr": "10.0.0.0/16", "matchOperator": "Equal", "action": "Accept"}), order::BGPFILTER_RULE)]}),
    ));
    d
}

/// [`upstream_st_without_ipam`] plus an IPv4 pool and IPAM for node4 and node5 (v3.29 value
/// format: attributes always carry `handle_id` and `secondary`), so the node5 -> node4 rename
/// reaches IPAM too.
///
/// Added keys: IPPool `default-ipv4-ippool` (10.65.0.0/16); blocks `10.65.79.0/26`
/// (host:node4: `ipip-tunnel-addr-node4`, pods default/web-0 and test/db-0),
/// `10.65.80.0/26` (host:node5: pods test/db-1, default/web-1) and `fed0:8001::/123`
/// (host:node4: the v6 address of default/web-0, whose handle spans two blocks); their three
/// host affinities; 5 handles; IPAM config `{"auto_allocate_blocks":true}`.
///
/// Export: as [`upstream_st_without_ipam`] with IPPool 2; IPAM 3 blocks (the node5 block's
/// affinity becomes `host:node4`, its attributes' `node` node4), 3 affinities (the node5 one
/// keyed under host `node4`), 5 handles (none renamed: node5 has no tunnel handle), config.
pub fn upstream_st() -> Dataset {
    let release = Release::V3_29;
    let mut d = upstream_st_without_ipam();
    d.add(ippool(
        "default-ipv4-ippool",
        json!({"cidr": "10.65.0.0/16", "vxlanMode": "Never", "ipipMode": "Always", "natOutgoing": true,
               "blockSize": 26, "nodeSelector": "all()", "allowedUses": ["Workload", "Tunnel"]}),
    ));
    let mut b4 = IpamBlock::host("10.65.79.0/26", "node4");
    b4.assign(Attr::tunnel(TunnelKind::Ipip, "node4"));
    let web0 = pod(&mut b4, "node4", "default", "web-0", 1);
    pod(&mut b4, "node4", "test", "db-0", 2);
    let mut b6 = IpamBlock::host("fed0:8001::/123", "node4");
    b6.assign(Attr::pod(
        &web0,
        "node4",
        "default",
        "web-0",
        &go_timestamp(2, 9 * 3600 + 60, 417_000_001),
    ));
    let mut b5 = IpamBlock::host("10.65.80.0/26", "node5");
    pod(&mut b5, "node5", "test", "db-1", 3);
    pod(&mut b5, "node5", "default", "web-1", 4);
    write_ipam(&mut d, &[b4, b5, b6], release.ipam_format());
    d.put(IPAM_CONFIG_KEY, &ipam_config(false, true, 0, None, 0));
    d
}

// ---------------------------------------------------------------------------------------------
// 2. FQDN node names

/// A v3.28 cluster whose Calico (etcd) node names are FQDNs while Kubernetes knows the short
/// names (`worker-1.example.com` -> `worker-1`), with every place such names appear.
///
/// Keys: ClusterInformation v3.28.2; Nodes `cp-1.example.com`, `worker-1.example.com`,
/// `worker-2.example.com` (orchRefs cp-1, worker-1, worker-2; cp-1 has WireGuard, worker-2
/// VXLAN); IPPools `ipip-pool` (10.244.0.0/17) and `vxlan-pool` (10.244.128.0/17);
/// FelixConfigurations `default`, `node.worker-1.example.com`, `node.cp-1.example.com`,
/// `node.decommissioned.example.com` (no such node); BGPConfigurations `default`,
/// `node.worker-2.example.com`; HostEndpoint `worker-1-eth0` (node worker-1.example.com);
/// BGPPeer `rack-2-tor` (node worker-2.example.com); GlobalNetworkPolicy
/// `default.allow-cluster-dns`; NetworkPolicy `shop/default.allow-frontend`;
/// KubeControllersConfiguration `default`.
/// IPAM (legacy format): blocks `10.244.12.0/26` (host:worker-1.example.com,
/// `ipip-tunnel-addr-worker-1.example.com` + 5 pods), `10.244.130.0/26`
/// (host:worker-2.example.com, `vxlan-tunnel-addr-worker-2.example.com` + 4 pods),
/// `10.244.7.64/26` (host:cp-1.example.com, `ipip-tunnel-addr-cp-1.example.com`,
/// `wireguard-tunnel-addr-cp-1.example.com` + 2 pods), and a stale `10.244.99.0/26`
/// (host:old-worker.example.com, not a Calico node: `ipip-tunnel-addr-old-worker.example.com`
/// + 1 pod); 4 host affinities; 17 handles; config.
///
/// Kubernetes Nodes: cp-1, worker-1, worker-2. Namespaces: shop, monitoring.
///
/// Export: Node 3 renamed to cp-1, worker-1, worker-2; FelixConfiguration 4
/// (`node.worker-1.example.com` -> `node.worker-1`, `node.cp-1.example.com` -> `node.cp-1`,
/// `node.decommissioned.example.com` kept); BGPConfiguration 2 (`node.worker-2.example.com` ->
/// `node.worker-2`); HostEndpoint and BGPPeer keep the FQDNs in `spec.node` (not remapped,
/// docs/design.md §13.2); IPPool 2, GlobalNetworkPolicy `allow-cluster-dns`, NetworkPolicy
/// `shop/allow-frontend`, KubeControllersConfiguration 1. IPAM: 4 blocks (3 affinities become
/// `host:<short>`, attributes' `node` short; the stale block unchanged), 4 affinities (3 keyed
/// by short name), 17 handles of which 4 renamed (`ipip-tunnel-addr-worker-1`,
/// `vxlan-tunnel-addr-worker-2`, `ipip-tunnel-addr-cp-1`, `wireguard-tunnel-addr-cp-1`; the
/// old-worker one kept), config.
pub fn fqdn_nodes() -> Dataset {
    let release = Release::V3_28;
    let mut d = new_dataset(release);
    for ns in ["shop", "monitoring"] {
        d.namespace(ns);
    }
    let mut cp = NodeDef::new("cp-1.example.com")
        .k8s("cp-1")
        .ipv4("10.10.0.10", 24)
        .label("node-role.kubernetes.io/control-plane", "");
    cp.ipip = Some("10.244.7.64".into());
    cp.wireguard_v4 = Some("10.244.7.65".into());
    cp.wireguard_key = Some("jlkVyQYooZYzI2wFfNhSZez5eWh44yfq1wKVjLvSXgY=".into());
    let mut w1 = NodeDef::new("worker-1.example.com")
        .k8s("worker-1")
        .ipv4("10.10.0.11", 24);
    w1.ipip = Some("10.244.12.0".into());
    let mut w2 = NodeDef::new("worker-2.example.com")
        .k8s("worker-2")
        .ipv4("10.10.0.12", 24)
        .label("vxlan", "true");
    w2.vxlan_v4 = Some(("10.244.130.0".into(), "66:3e:9a:41:0b:7c".into()));
    for node in [&cp, &w1, &w2] {
        d.add(node.obj());
        d.k8s_node(node.orch_refs[0].0.as_str());
    }
    d.add(ippool(
        "ipip-pool",
        json!({"cidr": "10.244.0.0/17", "ipipMode": "Always", "vxlanMode": "Never", "natOutgoing": true,
               "blockSize": 26, "nodeSelector": "!has(vxlan)", "allowedUses": ["Workload", "Tunnel"]}),
    ));
    d.add(ippool(
        "vxlan-pool",
        json!({"cidr": "10.244.128.0/17", "ipipMode": "Never", "vxlanMode": "Always", "natOutgoing": true,
               "blockSize": 26, "nodeSelector": "has(vxlan)", "allowedUses": ["Workload", "Tunnel"]}),
    ));
    d.add(felix_configuration(
        "default",
        json!({"logSeverityScreen": "Info", "reportingInterval": "0s", "floatingIPs": "Disabled", "wireguardEnabled": true}),
    ));
    d.add(felix_configuration(
        "node.worker-1.example.com",
        json!({"logSeverityScreen": "Debug"}),
    ));
    d.add(felix_configuration(
        "node.cp-1.example.com",
        json!({"defaultEndpointToHostAction": "Accept", "failsafeInboundHostPorts": [{"protocol": "TCP", "port": 6443}]}),
    ));
    d.add(felix_configuration(
        "node.decommissioned.example.com",
        json!({"logSeverityScreen": "Warning"}),
    ));
    d.add(Obj::cluster(
        "BGPConfiguration",
        "default",
        json!({"logSeverityScreen": "Info", "nodeToNodeMeshEnabled": true, "asNumber": 64512}),
    ));
    d.add(Obj::cluster(
        "BGPConfiguration",
        "node.worker-2.example.com",
        json!({"logSeverityScreen": "Debug"}),
    ));
    d.add(Obj::cluster(
        "HostEndpoint",
        "worker-1-eth0",
        json!({"node": "worker-1.example.com", "interfaceName": "eth0", "expectedIPs": ["10.10.0.11"]}),
    ).label("host-endpoint", "ingress"));
    d.add(Obj::cluster(
        "BGPPeer",
        "rack-2-tor",
        json!({"node": "worker-2.example.com", "peerIP": "10.10.0.1", "asNumber": 64513}),
    ));
    d.add(policy(
        release,
        "GlobalNetworkPolicy",
        None,
        "allow-cluster-dns",
        None,
        json!({"order": 100, "selector": "all()", "types": ["Egress"],
               "egress": [{"action": "Allow", "protocol": "UDP", "destination": {"selector": "k8s-app == 'kube-dns'", "ports": [53]}}]}),
    ));
    d.add(policy(
        release,
        "NetworkPolicy",
        Some("shop"),
        "allow-frontend",
        None,
        json!({"order": 200, "selector": "app == 'api'", "types": ["Ingress"],
               "ingress": [{"action": "Allow", "protocol": "TCP", "source": {"selector": "app == 'frontend'"}, "destination": {"ports": [8080]}}]}),
    ));
    d.add(default_kube_controllers_configuration());

    let mut b_w1 = IpamBlock::host("10.244.12.0/26", "worker-1.example.com");
    b_w1.assign(Attr::tunnel(TunnelKind::Ipip, "worker-1.example.com"));
    for (i, (ns, name)) in [
        ("shop", "api-7d4b9c8f6d-x2k9p"),
        ("shop", "frontend-5f6c7b9d4-qwz8r"),
        ("shop", "cart-6b8f9d7c5-m4n7t"),
        ("monitoring", "node-exporter-8hq2v"),
        ("kube-system", "coredns-76f75df574-7xk2p"),
    ]
    .iter()
    .enumerate()
    {
        pod(&mut b_w1, "worker-1.example.com", ns, name, i as u32);
    }
    let mut b_w2 = IpamBlock::host("10.244.130.0/26", "worker-2.example.com");
    b_w2.assign(Attr::tunnel(TunnelKind::Vxlan, "worker-2.example.com"));
    for (i, (ns, name)) in [
        ("shop", "api-7d4b9c8f6d-l5j3s"),
        ("shop", "db-0"),
        ("monitoring", "node-exporter-r7d9k"),
        ("monitoring", "prometheus-0"),
    ]
    .iter()
    .enumerate()
    {
        pod(&mut b_w2, "worker-2.example.com", ns, name, 10 + i as u32);
    }
    let mut b_cp = IpamBlock::host("10.244.7.64/26", "cp-1.example.com");
    b_cp.assign(Attr::tunnel(TunnelKind::Ipip, "cp-1.example.com"));
    b_cp.assign(Attr::tunnel(TunnelKind::Wireguard, "cp-1.example.com"));
    pod(
        &mut b_cp,
        "cp-1.example.com",
        "kube-system",
        "coredns-76f75df574-9tq4m",
        20,
    );
    pod(
        &mut b_cp,
        "cp-1.example.com",
        "monitoring",
        "node-exporter-c2x6w",
        21,
    );
    let mut b_old = IpamBlock::host("10.244.99.0/26", "old-worker.example.com");
    b_old.assign(Attr::tunnel(TunnelKind::Ipip, "old-worker.example.com"));
    pod(
        &mut b_old,
        "old-worker.example.com",
        "shop",
        "api-7d4b9c8f6d-zz9qq",
        30,
    );
    write_ipam(&mut d, &[b_w1, b_w2, b_cp, b_old], release.ipam_format());
    d.put(IPAM_CONFIG_KEY, &ipam_config(false, true, 0, None, 0));
    d
}

// ---------------------------------------------------------------------------------------------
// 3. Dual-stack IPAM in every value shape

/// The IPv6 block of node-a: the key example of docs/design.md §4.3.
pub const DUAL_STACK_V6_BLOCK: &str = "fd5f:abcd:64:4f2c:ec1b:27b9:1989:77c0/122";

/// A HEAD (3.34-dev) dual-stack cluster upgraded over the years, so IPAM values of every
/// shape coexist: v3.32+ blocks (attributes with omitempty, `affinity_claim_time`,
/// `alternateOwnerAttrs`, HEAD `releasedAt`), a pre-3.32 block (attributes with `null`
/// `handle_id`/`secondary`), an affinity with an empty value, a block without affinity, a
/// LoadBalancer block (`virtual:load-balancer`) with its virtual affinity, and every tunnel
/// handle type.
///
/// Nodes: `node-a` (k8s node-a), `edge-1.lab.internal` (k8s edge-1), `node-b` (k8s node-b).
/// IPPools: `default-ipv4-ippool` 10.48.0.0/16, `default-ipv6-ippool` fd5f:abcd:64::/48 (/122
/// blocks), `ipip-legacy-pool` 10.50.0.0/16, `loadbalancer-pool` 10.96.200.0/24
/// (allowedUses LoadBalancer). FelixConfiguration `default`.
///
/// IPAM, 8 blocks:
/// - `10.48.0.0/26` host:node-a (v3.32+ format, claim time): `vxlan-tunnel-addr-node-a`,
///   `wireguard-tunnel-addr-node-a`, pods web/frontend-0 and web/api-0 (dual-stack handles),
///   kubevirt-vms/virt-launcher-vm-a (with `alternateOwnerAttrs` naming node
///   `edge-1.lab.internal`), a cooling address (`releasedAt`, its handle already gone), a
///   released ordinal (hole in `allocations`, appended to `unallocated`), and an attribute `{}`
///   (no handle, no attributes);
/// - `fd5f:abcd:64:4f2c:ec1b:27b9:1989:77c0/122` host:node-a: `vxlan-v6-tunnel-addr-node-a`,
///   `wireguard-v6-tunnel-addr-node-a`, the v6 addresses of web/frontend-0 and web/api-0;
/// - `10.50.3.0/26` host:node-a: `ipip-tunnel-addr-node-a`;
/// - `10.48.1.64/26` host:edge-1.lab.internal: `vxlan-tunnel-addr-edge-1.lab.internal`,
///   `wireguard-tunnel-addr-edge-1.lab.internal`, pod ingress/ingress-nginx-0 (dual stack);
/// - `fd5f:abcd:64:4f2c:ec1b:27b9:1989:7800/122` host:edge-1.lab.internal:
///   `vxlan-v6-tunnel-addr-edge-1.lab.internal`, `wireguard-v6-tunnel-addr-edge-1.lab.internal`,
///   the v6 address of ingress-nginx-0;
/// - `10.48.2.0/26` host:node-b in the **pre-3.32 format** (written by v3.28, never rewritten):
///   `vxlan-tunnel-addr-node-b`, 2 pods, and an attribute `{"handle_id":null,"secondary":null}`;
///   its affinity key `/calico/ipam/v2/host/node-b/ipv4/block/10.48.2.0-26` has an **empty
///   value** (must be read as `{}`);
/// - `10.48.3.0/26` without affinity (`"affinity":null`): one pod of node-b;
/// - `10.96.200.0/26` `virtual:load-balancer`: 2 LoadBalancer service addresses (handles
///   `lb-*`, attributes namespace/service); its affinity is
///   `/calico/ipam/v2/virtual/load-balancer/ipv4/block/10.96.200.0-26` (v3.31+; skipped).
///
/// 6 host affinities (v4 and v6) + 1 virtual; 19 handles (the cooling address has none); config
/// with `strict_affinity`,
/// `auto_allocate_blocks`, `maxBlocksPerHost` 4, `kubeVirtVMAddressPersistence` Enabled,
/// `ipCooldownSeconds` 30.
///
/// Kubernetes Nodes: node-a, edge-1, node-b. Namespaces: web, ingress, kubevirt-vms.
///
/// Export: IPPool 4, Node 3 (`edge-1.lab.internal` -> `edge-1`), FelixConfiguration 1. IPAM: 8
/// blocks (unchanged except the two edge-1 blocks: affinity `host:edge-1`, attribute `node` edge-1,
/// tunnel handle IDs renamed; node-a's `alternateOwnerAttrs.node` becomes edge-1; all newer fields
/// carried through untouched), 6 affinities (2 keyed under `edge-1`; the empty one exported as
/// `{}`), the virtual affinity skipped (1), 19 handles with 4 renamed: `vxlan-tunnel-addr-edge-1`,
/// `wireguard-tunnel-addr-edge-1`, and the v6 ones `vxlan-v6-tunnel-addr-edge-1`,
/// `wireguard-v6-tunnel-addr-edge-1` (upstream keeps the v6 ones under the FQDN,
/// docs/design.md §13.3), config (whose `ipCooldownSeconds` a v3.32.1 CRD prunes).
pub fn dual_stack_ipam() -> Dataset {
    let release = Release::Head;
    let mut d = new_dataset(release);
    for ns in ["web", "ingress", "kubevirt-vms"] {
        d.namespace(ns);
    }
    let claimed = "2025-11-04T08:12:45Z";
    let mut a = NodeDef::new("node-a")
        .k8s("node-a")
        .ipv4("192.168.10.11", 24)
        .ipv6("fd00:10::11", 64)
        .label("ipip", "enabled");
    a.ipip = Some("10.50.3.0".into());
    a.vxlan_v4 = Some(("10.48.0.0".into(), "66:a1:0c:5e:22:01".into()));
    a.vxlan_v6 = Some((
        "fd5f:abcd:64:4f2c:ec1b:27b9:1989:77c0".into(),
        "66:a1:0c:5e:22:02".into(),
    ));
    a.wireguard_v4 = Some("10.48.0.1".into());
    a.wireguard_v6 = Some("fd5f:abcd:64:4f2c:ec1b:27b9:1989:77c1".into());
    a.wireguard_key = Some("Qj1c2m3FJ6YxkF9lNNm4pJ0o5Xw3tE2KZbP7Rqv8HkM=".into());
    a.wireguard_key_v6 = Some("8w8Jc9mYhE4n2Xv1T0bqS7kU3zR5dL6pG1aQwFh0sVo=".into());
    a.pod_cidrs = vec!["10.48.0.0/24".into(), "fd5f:abcd:64::/64".into()];
    let mut e = NodeDef::new("edge-1.lab.internal")
        .k8s("edge-1")
        .ipv4("192.168.20.5", 24)
        .ipv6("fd00:20::5", 64);
    e.vxlan_v4 = Some(("10.48.1.64".into(), "66:a1:0c:5e:33:01".into()));
    e.vxlan_v6 = Some((
        "fd5f:abcd:64:4f2c:ec1b:27b9:1989:7800".into(),
        "66:a1:0c:5e:33:02".into(),
    ));
    e.wireguard_v4 = Some("10.48.1.65".into());
    e.wireguard_v6 = Some("fd5f:abcd:64:4f2c:ec1b:27b9:1989:7801".into());
    e.wireguard_key = Some("u4m0Y0uRk8s2lq9pZ3cT7bV1nX5wE6aH2jK8dF4gS0I=".into());
    e.wireguard_key_v6 = Some("Zx2Cv4Bn6Mm8Ll0Kk2Jj4Hh6Gg8Ff0Dd2Ss4Aa6Qq8=".into());
    e.interfaces = vec![(
        "eth0".into(),
        vec!["192.168.20.5".into(), "fd00:20::5".into()],
    )];
    let mut b = NodeDef::new("node-b")
        .k8s("node-b")
        .ipv4("192.168.10.12", 24)
        .ipv6("fd00:10::12", 64);
    b.vxlan_v4 = Some(("10.48.2.0".into(), "66:a1:0c:5e:44:01".into()));
    for node in [&a, &e, &b] {
        d.add(node.obj());
        d.k8s_node(node.orch_refs[0].0.as_str());
    }
    d.add(default_ippool("10.48.0.0/16", Encap::Vxlan));
    d.add(default_ippool("fd5f:abcd:64::/48", Encap::Vxlan));
    d.add(ippool(
        "ipip-legacy-pool",
        json!({"cidr": "10.50.0.0/16", "vxlanMode": "Never", "ipipMode": "Always", "natOutgoing": true,
               "blockSize": 26, "nodeSelector": "ipip == 'enabled'", "allowedUses": ["Tunnel"], "assignmentMode": "Automatic"}),
    ));
    d.add(ippool(
        "loadbalancer-pool",
        json!({"cidr": "10.96.200.0/24", "vxlanMode": "Never", "ipipMode": "Never", "disableBGPExport": false,
               "blockSize": 26, "allowedUses": ["LoadBalancer"], "assignmentMode": "Automatic"}),
    ));
    d.add(felix_configuration(
        "default",
        json!({"ipv6Support": true, "logSeverityScreen": "Info", "vxlanEnabled": true, "reportingInterval": "0s",
               "wireguardEnabled": true, "wireguardEnabledV6": true, "floatingIPs": "Disabled"}),
    ));

    // Modern blocks, one write_ipam call so dual-stack handles count both blocks.
    let ts = |minute: u32| go_timestamp(3, 8 * 3600 + minute * 60, 120_000_000 + minute);
    let mut a4 = IpamBlock::host("10.48.0.0/26", "node-a").claimed_at(claimed);
    let mut a6 = IpamBlock::host(DUAL_STACK_V6_BLOCK, "node-a").claimed_at(claimed);
    let mut a_ipip = IpamBlock::host("10.50.3.0/26", "node-a").claimed_at(claimed);
    a4.assign(Attr::tunnel(TunnelKind::Vxlan, "node-a"));
    a4.assign(Attr::tunnel(TunnelKind::Wireguard, "node-a"));
    a6.assign(Attr::tunnel(TunnelKind::VxlanV6, "node-a"));
    a6.assign(Attr::tunnel(TunnelKind::WireguardV6, "node-a"));
    a_ipip.assign(Attr::tunnel(TunnelKind::Ipip, "node-a"));
    for (i, name) in ["frontend-0", "api-0"].iter().enumerate() {
        let handle = pod_handle(&container_id(&format!("web/{name}")));
        let attr = Attr::pod(&handle, "node-a", "web", name, &ts(i as u32));
        a4.assign(attr.clone());
        a6.assign(attr);
    }
    // A pod that came and went: its ordinal is released (a hole).
    let gone = a4.assign(Attr::pod(
        &pod_handle(&container_id("web/batch-28999")),
        "node-a",
        "web",
        "batch-28999-kx7w2",
        &ts(5),
    ));
    let vm_handle = pod_handle(&container_id("kubevirt-vms/virt-launcher-vm-a"));
    a4.assign(
        Attr::pod(
            &vm_handle,
            "node-a",
            "kubevirt-vms",
            "virt-launcher-vm-a-8z5qd",
            &ts(6),
        )
        .alternate(&[
            ("namespace", "kubevirt-vms"),
            ("node", "edge-1.lab.internal"),
            ("pod", "virt-launcher-vm-a-m2c7n"),
            ("timestamp", &ts(7)),
        ]),
    );
    a4.release(gone);
    a4.assign(
        Attr::pod(
            &pod_handle(&container_id("web/api-0-old")),
            "node-a",
            "web",
            "api-0-previous",
            &ts(3),
        )
        .released_at("2026-08-21T09:15:00Z"),
    );
    a4.assign(Attr::default());
    let mut e4 = IpamBlock::host("10.48.1.64/26", "edge-1.lab.internal").claimed_at(claimed);
    let mut e6 = IpamBlock::host(
        "fd5f:abcd:64:4f2c:ec1b:27b9:1989:7800/122",
        "edge-1.lab.internal",
    )
    .claimed_at(claimed);
    e4.assign(Attr::tunnel(TunnelKind::Vxlan, "edge-1.lab.internal"));
    e4.assign(Attr::tunnel(TunnelKind::Wireguard, "edge-1.lab.internal"));
    e6.assign(Attr::tunnel(TunnelKind::VxlanV6, "edge-1.lab.internal"));
    e6.assign(Attr::tunnel(TunnelKind::WireguardV6, "edge-1.lab.internal"));
    let nginx = pod_handle(&container_id("ingress/ingress-nginx-0"));
    let nginx_attr = Attr::pod(
        &nginx,
        "edge-1.lab.internal",
        "ingress",
        "ingress-nginx-controller-0",
        &ts(9),
    );
    e4.assign(nginx_attr.clone());
    e6.assign(nginx_attr);
    let mut lb =
        IpamBlock::new("10.96.200.0/26", Some("virtual:load-balancer")).claimed_at(claimed);
    for svc in ["ingress-nginx", "dns-external"] {
        lb.assign(Attr::new(
            &format!("lb-{}", &container_id(&format!("svc/{svc}"))[..32]),
            &[("namespace", "ingress"), ("service", svc)],
        ));
    }
    let mut unaffine = IpamBlock::new("10.48.3.0/26", None);
    unaffine.assign(Attr::pod(
        &pod_handle(&container_id("web/worker-borrowed")),
        "node-b",
        "web",
        "queue-worker-6c9d8-4rt2x",
        &ts(12),
    ));
    write_ipam(
        &mut d,
        &[a4, a6, a_ipip, e4, e6, lb, unaffine],
        IpamFormat::Head,
    );

    // node-b: a block written by v3.28 and never rewritten, and its empty-valued affinity.
    let mut b4 = IpamBlock::host("10.48.2.0/26", "node-b");
    b4.assign(Attr::tunnel(TunnelKind::Vxlan, "node-b"));
    pod(&mut b4, "node-b", "web", "frontend-1", 40);
    pod(&mut b4, "node-b", "web", "api-1", 41);
    b4.assign(Attr::default());
    let affinity = b4.affinity_key().expect("affine");
    write_ipam(&mut d, &[b4], IpamFormat::Legacy);
    set_raw(&mut d, &affinity, "");

    d.put(
        IPAM_CONFIG_KEY,
        &ipam_config(true, true, 4, Some("Enabled"), 30),
    );
    d
}

// ---------------------------------------------------------------------------------------------
// 4. Everything the export skips

/// Keys that match no key pattern or whose value does not parse, in [`skipped_data`].
pub const SKIPPED_DATA_BAD_KEYS: &[&str] = &[
    "/calico/resources/v3/projectcalico.org/globalnetworkpolicies/default.broken-json",
    "/calico/resources/v3/projectcalico.org/networkpolicies/shop/extra/too-deep",
    "/calico/resources/v3/projectcalico.org/hostendpoints/shop/hep-with-namespace",
    "/calico/ipam/v2/assignment/ipv4/block/not-a-cidr",
    "/calico/ipam/v2/handle/k8s-pod-network.deadbeefdeadbeef",
    "/calico/ipam/v2/host/node-1/ipv4/block/10.48.0.0-26/stale",
];

/// A v3.31 cluster holding every kind of data docs/design.md §7 leaves behind, next to a little
/// that is exported, plus keys the export must ignore and report.
///
/// Skipped (group: count, see the `SKIP_*` constants):
/// - workloadendpoints: 3 (default/web-0, default/web-1, shop/api-0);
/// - profiles: 5 (`kns.default`, `kns.shop`, `ksa.default.default`, `ksa.shop.api`, and the
///   user profile `legacy-admin-access` that HostEndpoint `node-1-eth0` references: lost);
/// - knp.default networkpolicies: 2 (`default/knp.default.allow-dns`,
///   `shop/knp.default.deny-all`);
/// - kanp/kbanp globalnetworkpolicies: 2 (`kanp.adminnetworkpolicy.cluster-deny`,
///   `kbanp.baselineadminnetworkpolicy.default`; skipped because the cluster is v3.30-3.31);
/// - caliconodestatuses: 1; ipamconfigurations: 1 (`default`); blockaffinities (v3): 1;
///   livemigrations: 1 (`vms/vm-a-migration`);
/// - felix status: 4 keys under `/calico/felix/v2/no-region/host/...`;
/// - virtual block affinities: 1 (`/calico/ipam/v2/virtual/load-balancer/ipv4/block/10.96.0.0-26`).
///
/// Ignored and reported: the 6 [`SKIPPED_DATA_BAD_KEYS`] (truncated JSON, a 4-segment
/// namespaced key, a cluster-scoped kind under a namespace, a block key that is not a CIDR, a
/// handle whose value is not JSON, an affinity key with an extra segment).
///
/// Exported: Tier 3 (default, adminnetworkpolicy, baselineadminnetworkpolicy),
/// GlobalNetworkPolicy 1 (`allow-ops`), NetworkPolicy 1 (`shop/allow-web`), HostEndpoint 1,
/// IPPool 2, Node 2 (node-1, node-2, unchanged), FelixConfiguration 1,
/// KubeControllersConfiguration 1. IPAM: 2 blocks (node-1's and the `virtual:load-balancer`
/// one), 1 host affinity, 5 handles, config.
///
/// Kubernetes Nodes: node-1, node-2. Namespaces: shop, vms.
pub fn skipped_data() -> Dataset {
    let release = Release::V3_31;
    let mut d = new_dataset(release);
    for ns in ["shop", "vms"] {
        d.namespace(ns);
    }
    let mut n1 = NodeDef::new("node-1").k8s("node-1").ipv4("10.0.0.21", 24);
    n1.ipip = Some("10.48.0.0".into());
    let n2 = NodeDef::new("node-2").k8s("node-2").ipv4("10.0.0.22", 24);
    for node in [&n1, &n2] {
        d.add(node.obj());
        d.k8s_node(&node.name);
    }
    for t in builtin_tiers(release) {
        d.add(t);
    }
    d.add(default_ippool("10.48.0.0/16", Encap::Ipip));
    d.add(ippool(
        "lb-pool",
        json!({"cidr": "10.96.0.0/24", "blockSize": 26, "allowedUses": ["LoadBalancer"], "assignmentMode": "Automatic"}),
    ));
    d.add(felix_configuration(
        "default",
        json!({"logSeverityScreen": "Info", "reportingInterval": "0s"}),
    ));
    d.add(default_kube_controllers_configuration());
    d.add(
        Obj::cluster(
            "HostEndpoint",
            "node-1-eth0",
            json!({"node": "node-1", "interfaceName": "eth0", "expectedIPs": ["10.0.0.21"],
                   "profiles": ["legacy-admin-access"]}),
        )
        .label("role", "bastion"),
    );
    d.add(policy(
        release,
        "GlobalNetworkPolicy",
        None,
        "allow-ops",
        Some("default"),
        json!({"order": 10, "selector": "role == 'bastion'", "types": ["Ingress"],
               "ingress": [{"action": "Allow", "protocol": "TCP", "source": {"nets": ["10.20.0.0/16"]}, "destination": {"ports": [22]}}]}),
    ));
    d.add(policy(
        release,
        "NetworkPolicy",
        Some("shop"),
        "allow-web",
        Some("default"),
        json!({"order": 100, "selector": "app == 'web'", "types": ["Ingress"], "ingress": [rule_allow_from("all()")]}),
    ));
    // kube-controllers' copies of Kubernetes NetworkPolicies.
    for (ns, name) in [("default", "allow-dns"), ("shop", "deny-all")] {
        d.add(policy(
            release,
            "NetworkPolicy",
            Some(ns),
            &format!("knp.default.{name}"),
            Some("default"),
            json!({"order": 1000, "selector": "projectcalico.org/orchestrator == 'k8s'", "types": ["Ingress"]}),
        ));
    }
    // kube-controllers' copies of AdminNetworkPolicy / BaselineAdminNetworkPolicy.
    d.add(policy(
        release,
        "GlobalNetworkPolicy",
        None,
        "kanp.adminnetworkpolicy.cluster-deny",
        Some("adminnetworkpolicy"),
        json!({"order": 10, "selector": "projectcalico.org/orchestrator == 'k8s'", "types": ["Egress"],
               "egress": [{"action": "Deny", "destination": {"nets": ["169.254.169.254/32"]}}]}),
    ));
    d.add(policy(
        release,
        "GlobalNetworkPolicy",
        None,
        "kbanp.baselineadminnetworkpolicy.default",
        Some("baselineadminnetworkpolicy"),
        json!({"order": 1000, "selector": "projectcalico.org/orchestrator == 'k8s'", "types": ["Ingress"],
               "ingress": [{"action": "Deny"}]}),
    ));
    // Profiles: namespace and service-account ones, and a user profile.
    for ns in ["default", "shop"] {
        d.add(
            Obj::cluster(
                "Profile",
                &format!("kns.{ns}"),
                json!({"ingress": [{"action": "Allow", "source": {}, "destination": {}}],
                       "egress": [{"action": "Allow", "source": {}, "destination": {}}],
                       "labelsToApply": {"pcns.kubernetes.io/metadata.name": ns, "pcns.projectcalico.org/name": ns}}),
            ),
        );
    }
    for (ns, sa) in [("default", "default"), ("shop", "api")] {
        d.add(Obj::cluster(
            "Profile",
            &format!("ksa.{ns}.{sa}"),
            json!({"labelsToApply": {"pcsa.projectcalico.org/name": sa}}),
        ));
    }
    d.add(Obj::cluster(
        "Profile",
        "legacy-admin-access",
        json!({"ingress": [rule(release, json!({"action": "Allow", "protocol": "TCP", "source": {"nets": ["192.0.2.0/24"]}, "destination": {"ports": [22, 443]}}))],
               "egress": [rule(release, json!({"action": "Allow"}))]}),
    ).label("owner", "netops"));
    // Workload endpoints.
    let mut block = IpamBlock::host("10.48.0.0/26", "node-1");
    block.assign(Attr::tunnel(TunnelKind::Ipip, "node-1"));
    for (ns, podname, sa) in [
        ("default", "web-0", "default"),
        ("default", "web-1", "default"),
        ("shop", "api-0", "api"),
    ] {
        let container = container_id(&format!("{ns}/{podname}"));
        let ordinal = block.assign(Attr::pod(
            &pod_handle(&container),
            "node-1",
            ns,
            podname,
            &go_timestamp(4, 3600, 5),
        ));
        let ip = format!("{}/32", block.ip(ordinal));
        d.add(workload_endpoint(
            "node-1",
            ns,
            podname,
            &container,
            sa,
            &[ip],
            &format!("cali{}", &container[..11]),
            "ee:ee:ee:ee:ee:ee",
            podname.split('-').next().unwrap_or(podname),
        ));
    }
    let mut lb = IpamBlock::new("10.96.0.0/26", Some("virtual:load-balancer"));
    lb.assign(Attr::new(
        "lb-4f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e",
        &[("namespace", "shop"), ("service", "web")],
    ));
    write_ipam(&mut d, &[block, lb], release.ipam_format());
    d.put(IPAM_CONFIG_KEY, &ipam_config(false, true, 0, None, 0));
    d.add(Obj::cluster(
        "CalicoNodeStatus",
        "node-1-status",
        json!({"node": "node-1", "classes": ["Agent", "BGP", "Routes"], "updatePeriodSeconds": 10}),
    ).status(json!({"lastUpdated": "2024-05-04T10:00:00Z", "agent": {"birdV4": {"state": "Ready", "version": "v0.3.3+birdv1.6.8", "routerID": "10.0.0.21", "lastBootTime": "2024-05-01 10:00:00", "lastReconfigurationTime": "2024-05-04 09:00:00"}}})));
    d.add(Obj::cluster(
        "IPAMConfiguration",
        "default",
        json!({"strictAffinity": false, "autoAllocateBlocks": true, "maxBlocksPerHost": 0}),
    ));
    d.add(Obj::cluster(
        "BlockAffinity",
        "node-1-10-48-0-0-26",
        json!({"state": "confirmed", "node": "node-1", "type": "host", "cidr": "10.48.0.0/26", "deleted": "false"}),
    ));
    d.add(Obj::namespaced(
        "LiveMigration",
        "vms",
        "vm-a-migration",
        json!({"destinationWorkloadEndpoint": {"Namespace": "vms", "Name": "node--2-k8s-virt--launcher--vm--a--target-eth0"},
               "destinationWorkloadEndpointSelector": "kubevirt.io/vm == 'vm-a'",
               "sourceWorkloadEndpoint": {"Namespace": "vms", "Name": "node--1-k8s-virt--launcher--vm--a--source-eth0"}}),
    ));
    for key in [
        "/calico/felix/v2/no-region/host/node-1/status",
        "/calico/felix/v2/no-region/host/node-2/status",
    ] {
        d.put_raw(
            key,
            r#"{"time":"2024-05-04T10:00:00Z","uptime":259200.5,"first_update":false}"#,
        );
    }
    d.put_raw(
        "/calico/felix/v2/no-region/host/node-1/last_reported_status",
        r#"{"time":"2024-05-04T09:59:30Z","uptime":259170.5,"first_update":false}"#,
    );
    d.put_raw(
        "/calico/felix/v2/no-region/host/node-1/workload/k8s/default%2fweb-0/endpoint/eth0",
        r#"{"status":"up"}"#,
    );
    // Keys to ignore.
    d.put_raw(
        SKIPPED_DATA_BAD_KEYS[0],
        r#"{"kind":"GlobalNetworkPolicy","apiVersion":"projectcalico.org/v3","metadata":{"name":"default.broken-json""#,
    );
    d.add(policy(
        release,
        "NetworkPolicy",
        Some("shop"),
        "placeholder",
        Some("default"),
        json!({"selector": "all()"}),
    ));
    // Re-key the last object under a 4-segment key.
    let (_, value) = d.kvs.pop().expect("just added");
    d.put_raw(SKIPPED_DATA_BAD_KEYS[1], value);
    d.put(
        SKIPPED_DATA_BAD_KEYS[2],
        &Obj::cluster(
            "HostEndpoint",
            "hep-with-namespace",
            json!({"node": "node-2", "interfaceName": "eth1"}),
        )
        .value(),
    );
    d.put(
        SKIPPED_DATA_BAD_KEYS[3],
        &json!({"cidr": "not-a-cidr", "affinity": null, "allocations": [], "unallocated": [], "attributes": [],
                "sequenceNumber": 0, "sequenceNumberForAllocation": {}, "deleted": false}),
    );
    d.put_raw(SKIPPED_DATA_BAD_KEYS[4], "not json");
    d.put(SKIPPED_DATA_BAD_KEYS[5], &affinity_value("confirmed"));
    d
}

// ---------------------------------------------------------------------------------------------
// 5. Policies and tiers

/// Tiers, every policy kind, in several namespaces, stored as `release` stores them, plus the
/// FelixConfiguration and KubeControllersConfiguration fix-up cases.
///
/// v3 names (what the export must produce), by kind:
/// - Tier (v3.29+): the release's built-in tiers (v3.29: default; v3.30-3.31: default,
///   adminnetworkpolicy, baselineadminnetworkpolicy; v3.32+: default, kube-admin,
///   kube-baseline) and `sec`;
/// - GlobalNetworkPolicy: `allow-cluster-dns` (labels team=platform, annotation owner),
///   `deny-external-egress` (carries an explicit `projectcalico.org/tier: default` label in every
///   release), `platform-ingress` (doNotTrack, applyOnForward), `sec.block-x` (tier sec,
///   v3.29+), `default.allow-dns` (v3.30+: its annotation says the v3 name really is
///   `default.allow-dns`);
/// - NetworkPolicy: `default/allow-frontend`, `shop/allow-api` (label app=shop),
///   `monitoring/allow-scrape`, `shop/sec.quarantine` (tier sec, v3.29+);
/// - StagedGlobalNetworkPolicy (v3.30+): `staged-deny-legacy`, `sec.staged-lockdown`;
/// - StagedNetworkPolicy (v3.30+): `default/staged-allow-web`, `shop/staged-restrict-db`,
///   `monitoring/sec.staged-audit` (upstream exports only the `default` one; we export all 3);
/// - StagedKubernetesNetworkPolicy (v3.30+): `default/stage-deny-all`,
///   `payments/stage-allow-api` (names never change);
/// - FelixConfiguration: `default` (`defaultEndpointToHostAction: ACCEPT`,
///   `iptablesFilterAllowAction: RETURN`, `iptablesMangleAllowAction: ACCEPT`,
///   `iptablesFilterDenyAction: REJECT`, `iptablesPostWriteCheckInterval: "1.5s"`),
///   `node.worker-1` (`DROP`), `node.worker-2` (`RETURN`, deny `DROP`); export title-cases them
///   (Accept, Return, Reject, Drop);
/// - KubeControllersConfiguration `default` with `status` (not written on import).
///
/// Also Nodes worker-1, worker-2 (same Kubernetes names), IPPool `default-ipv4-ippool`, and a
/// small IPAM (2 blocks, 2 affinities, 4 handles) so an import does not end in the no-IPAM error.
///
/// Storage names: <= v3.29 default-tier policies under `default.<name>`, no annotation;
/// v3.30-3.31 `default.<name>` (names without a dot) + annotation `{"name":"<name>"}`;
/// v3.32+ the v3 name + annotation. Tier label: v3.29-3.31 only on non-default tiers, v3.32+ on
/// all; every exported policy must carry it (`default` when missing).
///
/// Counts: v3.28: GNP 3, NP 3; v3.29: Tier 2, GNP 4, NP 4; v3.30+: Tier 4, GNP 5, NP 4, SGNP 2,
/// SNP 3, SKNP 2. Always FelixConfiguration 3, KubeControllersConfiguration 1, Node 2, IPPool 1.
/// Nothing skipped, nothing renamed.
///
/// Kubernetes Nodes: worker-1, worker-2. Namespaces: shop, monitoring, payments.
pub fn policies_and_tiers(release: Release) -> Dataset {
    let mut d = new_dataset(release);
    for ns in ["shop", "monitoring", "payments"] {
        d.namespace(ns);
    }
    let tiers = release.has_tiers();
    let staged = release.has_staged_policies();
    // Up to v3.28 the default tier is implicit: spec.tier stays empty.
    let default_tier = if tiers { Some("default") } else { None };
    if tiers {
        for t in builtin_tiers(release) {
            d.add(t);
        }
        d.add(tier(release, "sec", 100.0, Some("Pass")));
    }
    let gnp = |name: &str, tier_name: Option<&str>, spec: Value| {
        policy(release, "GlobalNetworkPolicy", None, name, tier_name, spec)
    };
    d.add(
        gnp(
            "allow-cluster-dns",
            default_tier,
            json!({"order": 100, "selector": "all()", "types": ["Egress"],
                   "egress": [{"action": "Allow", "protocol": "UDP", "destination": {"selector": "k8s-app == 'kube-dns'", "namespaceSelector": "projectcalico.org/name == 'kube-system'", "ports": [53]}},
                              {"action": "Allow", "protocol": "TCP", "destination": {"selector": "k8s-app == 'kube-dns'", "namespaceSelector": "projectcalico.org/name == 'kube-system'", "ports": [53]}}]}),
        )
        .label("team", "platform")
        .annotation("owner", "platform@example.com"),
    );
    d.add(
        gnp(
            "deny-external-egress",
            default_tier,
            json!({"order": 2000, "selector": "has(restricted)", "types": ["Egress"],
                   "egress": [{"action": "Deny", "destination": {"notNets": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]}}]}),
        )
        .label(TIER_LABEL, "default"),
    );
    d.add(gnp(
        "platform-ingress",
        default_tier,
        json!({"order": 10, "selector": "has(node-role.kubernetes.io/worker)", "types": ["Ingress"],
               "doNotTrack": true, "applyOnForward": true,
               "ingress": [{"action": "Allow", "protocol": "TCP", "source": {"nets": ["198.51.100.0/24"]}, "destination": {"ports": ["30000:32767"]}}]}),
    ));
    if tiers {
        d.add(gnp(
            "sec.block-x",
            Some("sec"),
            json!({"order": 1, "selector": "all()", "types": ["Ingress", "Egress"],
                   "ingress": [{"action": "Deny", "source": {"nets": ["203.0.113.0/24"]}}],
                   "egress": [{"action": "Deny", "destination": {"nets": ["203.0.113.0/24"]}}]}),
        ));
    }
    if release.writes_metadata_annotation() {
        d.add(gnp(
            "default.allow-dns",
            Some("default"),
            json!({"order": 50, "selector": "all()", "types": ["Egress"],
                   "egress": [{"action": "Allow", "protocol": "UDP", "destination": {"ports": [53]}}]}),
        ));
    }
    let np = |ns: &str, name: &str, tier_name: Option<&str>, spec: Value| {
        policy(release, "NetworkPolicy", Some(ns), name, tier_name, spec)
    };
    d.add(np(
        "default",
        "allow-frontend",
        default_tier,
        json!({"order": 200, "selector": "app == 'api'", "types": ["Ingress"],
               "ingress": [{"action": "Allow", "protocol": "TCP", "source": {"selector": "app == 'frontend'"}, "destination": {"ports": [8080]}}]}),
    ));
    d.add(
        np(
            "shop",
            "allow-api",
            default_tier,
            json!({"order": 100, "selector": "app == 'api'", "types": ["Ingress", "Egress"],
                   "ingress": [rule_allow_from("app == 'web'")],
                   "egress": [{"action": "Allow", "protocol": "TCP", "destination": {"selector": "app == 'db'", "ports": [5432]}}]}),
        )
        .label("app", "shop"),
    );
    d.add(np(
        "monitoring",
        "allow-scrape",
        default_tier,
        json!({"selector": "all()", "types": ["Ingress"],
               "ingress": [{"action": "Allow", "protocol": "TCP", "source": {"namespaceSelector": "projectcalico.org/name == 'monitoring'"}, "destination": {"ports": [9090, 9100]}}]}),
    ));
    if tiers {
        d.add(np(
            "shop",
            "sec.quarantine",
            Some("sec"),
            json!({"order": 5, "selector": "quarantine == 'true'", "types": ["Ingress", "Egress"],
                   "ingress": [{"action": "Deny"}], "egress": [{"action": "Deny"}]}),
        ));
    }
    if staged {
        let staged_spec = |selector: &str| {
            json!({"stagedAction": "Set", "order": 500, "selector": selector, "types": ["Ingress"],
                   "ingress": [{"action": "Deny", "source": {"selector": "legacy == 'true'"}}]})
        };
        d.add(policy(
            release,
            "StagedGlobalNetworkPolicy",
            None,
            "staged-deny-legacy",
            Some("default"),
            staged_spec("all()"),
        ));
        d.add(policy(
            release,
            "StagedGlobalNetworkPolicy",
            None,
            "sec.staged-lockdown",
            Some("sec"),
            staged_spec("lockdown == 'true'"),
        ));
        for (ns, name, tier_name) in [
            ("default", "staged-allow-web", "default"),
            ("shop", "staged-restrict-db", "default"),
            ("monitoring", "sec.staged-audit", "sec"),
        ] {
            d.add(policy(
                release,
                "StagedNetworkPolicy",
                Some(ns),
                name,
                Some(tier_name),
                staged_spec("app == 'web'"),
            ));
        }
        for (ns, name) in [
            ("default", "stage-deny-all"),
            ("payments", "stage-allow-api"),
        ] {
            d.add(Obj::namespaced(
                "StagedKubernetesNetworkPolicy",
                ns,
                name,
                json!({"stagedAction": "Set",
                       "podSelector": {"matchLabels": {"role": "db"}},
                       "ingress": [{"ports": [{"protocol": "TCP", "port": 6379}],
                                    "from": [{"podSelector": {"matchLabels": {"role": "frontend"}}, "namespaceSelector": {"matchLabels": {"project": "test"}}}]}],
                       "policyTypes": ["Ingress"]}),
            ));
        }
    }
    d.add(felix_configuration(
        "default",
        json!({"defaultEndpointToHostAction": "ACCEPT", "iptablesFilterAllowAction": "RETURN",
               "iptablesMangleAllowAction": "ACCEPT", "iptablesFilterDenyAction": "REJECT",
               "iptablesPostWriteCheckInterval": "1.5s", "iptablesRefreshInterval": "1m30s",
               "logSeverityScreen": "Info", "reportingInterval": "0s", "healthPort": 9099}),
    ));
    d.add(felix_configuration(
        "node.worker-1",
        json!({"defaultEndpointToHostAction": "DROP"}),
    ));
    d.add(felix_configuration(
        "node.worker-2",
        json!({"defaultEndpointToHostAction": "RETURN", "iptablesFilterDenyAction": "DROP"}),
    ));
    d.add(default_kube_controllers_configuration());
    d.add(ippool(
        "default-ipv4-ippool",
        json!({"cidr": "10.60.0.0/16", "vxlanMode": "Never", "ipipMode": "Always", "natOutgoing": true,
               "blockSize": 26, "nodeSelector": "all()", "allowedUses": ["Workload", "Tunnel"]}),
    ));
    let mut blocks = Vec::new();
    for (i, name) in ["worker-1", "worker-2"].iter().enumerate() {
        let mut node = NodeDef::new(name)
            .k8s(name)
            .ipv4(&format!("10.1.0.{}", 11 + i), 24);
        node.ipip = Some(format!("10.60.{i}.0"));
        d.add(node.obj());
        d.k8s_node(name);
        let mut block = IpamBlock::host(&format!("10.60.{i}.0/26"), name);
        block.assign(Attr::tunnel(TunnelKind::Ipip, name));
        pod(
            &mut block,
            name,
            "shop",
            &format!("api-7d4b9c8f6d-{i}x2k9"),
            i as u32,
        );
        blocks.push(block);
    }
    write_ipam(&mut d, &blocks, release.ipam_format());
    d
}

// ---------------------------------------------------------------------------------------------
// 6. No IPAM

/// A v3.30 cluster with Calico resources but no `/calico/ipam/` key at all (e.g. a
/// policy-only install using host-local IPAM).
///
/// Keys: ClusterInformation v3.30.3; Tiers default, adminnetworkpolicy,
/// baselineadminnetworkpolicy; Nodes node-1, node-2; IPPool `default-ipv4-ippool`;
/// GlobalNetworkPolicy `allow-cluster-dns`; NetworkPolicy `default/allow-frontend`;
/// FelixConfiguration `default`; BGPConfiguration `default`; KubeControllersConfiguration.
///
/// Export: Tier 3, Node 2, IPPool 1, GNP 1, NP 1, FelixConfiguration 1, BGPConfiguration 1,
/// KubeControllersConfiguration 1; IPAM JSON `{}`. Upstream's import of that file ends with
/// `no IPAM resources specified in file` (non-zero exit) after importing everything else.
///
/// Kubernetes Nodes: node-1, node-2. Namespaces: none besides default.
pub fn no_ipam() -> Dataset {
    let release = Release::V3_30;
    let mut d = new_dataset(release);
    for t in builtin_tiers(release) {
        d.add(t);
    }
    for (i, name) in ["node-1", "node-2"].iter().enumerate() {
        d.add(
            NodeDef::new(name)
                .k8s(name)
                .ipv4(&format!("10.2.0.{}", 10 + i), 24)
                .obj(),
        );
        d.k8s_node(name);
    }
    d.add(default_ippool("10.85.0.0/16", Encap::Neither));
    d.add(policy(
        release,
        "GlobalNetworkPolicy",
        None,
        "allow-cluster-dns",
        Some("default"),
        json!({"order": 100, "selector": "all()", "types": ["Egress"],
               "egress": [{"action": "Allow", "protocol": "UDP", "destination": {"ports": [53]}}]}),
    ));
    d.add(policy(
        release,
        "NetworkPolicy",
        Some("default"),
        "allow-frontend",
        Some("default"),
        json!({"order": 200, "selector": "app == 'api'", "types": ["Ingress"], "ingress": [rule_allow_from("app == 'frontend'")]}),
    ));
    d.add(felix_configuration(
        "default",
        json!({"logSeverityScreen": "Info", "reportingInterval": "0s"}),
    ));
    d.add(Obj::cluster(
        "BGPConfiguration",
        "default",
        json!({"logSeverityScreen": "Info", "nodeToNodeMeshEnabled": false, "asNumber": 64512}),
    ));
    d.add(default_kube_controllers_configuration());
    d
}

// ---------------------------------------------------------------------------------------------
// 7. Nodes that do not map cleanly

/// A v3.28 cluster whose Calico nodes do not all map onto Kubernetes Nodes.
///
/// Nodes (etcd name -> Kubernetes name):
/// - `worker-a` -> worker-a;
/// - `worker-b` -> worker-b (orchRefs: openstack `os-compute-3`, then k8s `worker-b`);
/// - `worker-c` -> worker-c (two `k8s` orchRefs, `worker-c-old` then `worker-c`: the last wins);
/// - `ip-10-0-3-17.ec2.internal` -> ip-10-0-3-17 **and** `ip-10-0-3-17` -> ip-10-0-3-17 (a node
///   re-registered under its short hostname: two etcd nodes, one Kubernetes name);
/// - `worker-gone` -> worker-gone, which is not a Kubernetes Node (import warns and skips it;
///   its IPAM is still imported);
/// - `standalone-gw`: no orchRefs at all (a host running calico-node for HostEndpoints);
/// - `legacy-1`: orchRef `{"orchestrator":"k8s"}` with an empty nodeName.
///
/// Also: FelixConfigurations `node.ip-10-0-3-17.ec2.internal` and `node.ip-10-0-3-17` (both
/// become `node.ip-10-0-3-17`: two objects with one name), `node.standalone-gw` (kept);
/// HostEndpoint `standalone-gw-eth0` (node standalone-gw); IPPool; IPAM blocks for worker-a,
/// both ip-10-0-3-17 nodes, worker-gone and legacy-1, each with an `ipip-tunnel-addr-` handle
/// and one pod (10 handles); 5 affinities.
///
/// Export: upstream aborts (`node standalone-gw missing a 'k8s' orchestrator reference...`;
/// legacy-1 likewise). With those two exported unrenamed: Node 8 (names worker-a, worker-b,
/// worker-c, ip-10-0-3-17 twice, worker-gone, standalone-gw, legacy-1), FelixConfiguration 3
/// (`node.ip-10-0-3-17` twice, `node.standalone-gw`), HostEndpoint 1, IPPool 1; IPAM 5 blocks,
/// 5 affinities (two keyed under host ip-10-0-3-17, different CIDRs), 10 handles of which
/// `ipip-tunnel-addr-ip-10-0-3-17.ec2.internal` is renamed to `ipip-tunnel-addr-ip-10-0-3-17`,
/// **the ID of the other node's handle** (a duplicate in the export).
///
/// Kubernetes Nodes: worker-a, worker-b, worker-c, ip-10-0-3-17. Namespaces: apps.
pub fn unmapped_nodes() -> Dataset {
    let release = Release::V3_28;
    let mut d = new_dataset(release);
    d.namespace("apps");
    d.add(ippool(
        "default-ipv4-ippool",
        json!({"cidr": "10.70.0.0/16", "vxlanMode": "Never", "ipipMode": "Always", "natOutgoing": true,
               "blockSize": 26, "nodeSelector": "all()"}),
    ));
    let nodes: Vec<(NodeDef, Option<&str>)> = vec![
        (NodeDef::new("worker-a").k8s("worker-a"), Some("worker-a")),
        (
            NodeDef::new("worker-b")
                .orch_ref("os-compute-3", "openstack")
                .k8s("worker-b"),
            Some("worker-b"),
        ),
        (
            NodeDef::new("worker-c").k8s("worker-c-old").k8s("worker-c"),
            Some("worker-c"),
        ),
        (
            NodeDef::new("ip-10-0-3-17.ec2.internal").k8s("ip-10-0-3-17"),
            Some("ip-10-0-3-17"),
        ),
        (
            NodeDef::new("ip-10-0-3-17").k8s("ip-10-0-3-17"),
            Some("ip-10-0-3-17"),
        ),
        (NodeDef::new("worker-gone").k8s("worker-gone"), None),
        (NodeDef::new("standalone-gw"), None),
        (NodeDef::new("legacy-1").orch_ref("", "k8s"), None),
    ];
    let mut blocks = Vec::new();
    for (i, (node, k8s)) in nodes.into_iter().enumerate() {
        let mut node = node.ipv4(&format!("10.3.0.{}", 20 + i), 24);
        let with_ipam = !matches!(
            node.name.as_str(),
            "worker-b" | "worker-c" | "standalone-gw"
        );
        if with_ipam {
            let cidr = format!("10.70.{i}.0/26");
            node.ipip = Some(format!("10.70.{i}.0"));
            let mut block = IpamBlock::host(&cidr, &node.name);
            block.assign(Attr::tunnel(TunnelKind::Ipip, &node.name));
            pod(
                &mut block,
                &node.name,
                "apps",
                &format!("app-{i}-5d8c9b7f6-q{i}w2e"),
                i as u32,
            );
            blocks.push(block);
        }
        d.add(node.obj());
        if let Some(k8s) = k8s {
            d.k8s_node(k8s);
        }
    }
    for name in [
        "node.ip-10-0-3-17.ec2.internal",
        "node.ip-10-0-3-17",
        "node.standalone-gw",
    ] {
        d.add(felix_configuration(
            name,
            json!({"logSeverityScreen": "Debug"}),
        ));
    }
    d.add(
        Obj::cluster(
            "HostEndpoint",
            "standalone-gw-eth0",
            json!({"node": "standalone-gw", "interfaceName": "eth0", "expectedIPs": ["10.3.0.26"]}),
        )
        .label("role", "gateway"),
    );
    write_ipam(&mut d, &blocks, release.ipam_format());
    d
}
