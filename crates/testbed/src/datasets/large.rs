//! The benchmark dataset: a deterministic generator of a large v3.30 etcd-mode cluster.

use serde_json::{Value, json};

use super::Release;
use super::build::*;
use super::ipam::*;
use crate::calico::Dataset;

/// The release [`large`] models.
pub const LARGE_RELEASE: Release = Release::V3_30;

const APPS: &[&str] = &[
    "api",
    "web",
    "worker",
    "cache",
    "db",
    "search",
    "auth",
    "billing",
    "cart",
    "catalog",
    "checkout",
    "gateway",
    "notifier",
    "orders",
    "payments",
    "reports",
    "scheduler",
    "shipping",
];
const TEAMS: &[&str] = &[
    "retail", "ledger", "identity", "growth", "data", "ml", "infra", "mobile", "partners", "ops",
];

/// What [`large`] generates at a scale.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LargeCounts {
    pub nodes: usize,
    pub namespaces: usize,
    pub pods: usize,
    pub blocks: usize,
    pub block_affinities: usize,
    /// Pod handles plus one `ipip-tunnel-addr-` handle per node.
    pub handles: usize,
    pub workload_endpoints: usize,
    pub profiles: usize,
    pub tiers: usize,
    pub global_network_policies: usize,
    pub network_policies: usize,
    pub network_sets: usize,
    pub global_network_sets: usize,
    pub host_endpoints: usize,
    pub felix_configurations: usize,
    pub bgp_configurations: usize,
    pub bgp_peers: usize,
    pub ip_pools: usize,
    /// KubeControllersConfiguration, ClusterInformation, IPAM config.
    pub singletons: usize,
    pub total_keys: usize,
}

fn scaled(base: usize, scale: f64) -> usize {
    ((base as f64 * scale).round() as usize).max(1)
}

struct NodePlan {
    pods: usize,
    /// Pods that came and went: allocated, then released (holes in the blocks).
    ghosts: usize,
}

struct Plan {
    nodes: Vec<NodePlan>,
    namespaces: usize,
    gnps: usize,
    nps_per_namespace: usize,
    netsets_per_namespace: usize,
    global_netsets: usize,
    bgp_peers: usize,
}

fn plan(scale: f64) -> Plan {
    let nodes = scaled(1000, scale);
    Plan {
        nodes: (0..nodes)
            .map(|i| {
                let pods = 20 + (i * 37) % 41;
                NodePlan {
                    pods,
                    ghosts: pods / 7,
                }
            })
            .collect(),
        namespaces: scaled(200, scale),
        gnps: scaled(2000, scale),
        nps_per_namespace: 15,
        netsets_per_namespace: 5,
        global_netsets: scaled(500, scale),
        bgp_peers: scaled(50, scale),
    }
}

fn blocks_for(node: &NodePlan) -> usize {
    (1 + node.pods + node.ghosts).div_ceil(64)
}

/// The counts [`large`] produces at `scale` (1.0: about 94,000 keys).
pub fn large_counts(scale: f64) -> LargeCounts {
    let p = plan(scale);
    let nodes = p.nodes.len();
    let pods: usize = p.nodes.iter().map(|n| n.pods).sum();
    let blocks: usize = p.nodes.iter().map(blocks_for).sum();
    let tiers = builtin_tiers(LARGE_RELEASE).len() + 2;
    let mut c = LargeCounts {
        nodes,
        namespaces: p.namespaces,
        pods,
        blocks,
        block_affinities: blocks,
        handles: pods + nodes,
        workload_endpoints: pods,
        profiles: 3 * p.namespaces,
        tiers,
        global_network_policies: p.gnps,
        network_policies: p.namespaces * p.nps_per_namespace,
        network_sets: p.namespaces * p.netsets_per_namespace,
        global_network_sets: p.global_netsets,
        host_endpoints: nodes,
        felix_configurations: 1 + nodes,
        bgp_configurations: 1 + nodes.div_ceil(20),
        bgp_peers: p.bgp_peers,
        ip_pools: 3,
        singletons: 3,
        total_keys: 0,
    };
    c.total_keys = c.nodes
        + c.blocks
        + c.block_affinities
        + c.handles
        + c.workload_endpoints
        + c.profiles
        + c.tiers
        + c.global_network_policies
        + c.network_policies
        + c.network_sets
        + c.global_network_sets
        + c.host_endpoints
        + c.felix_configurations
        + c.bgp_configurations
        + c.bgp_peers
        + c.ip_pools
        + c.singletons;
    c
}

fn namespace_name(i: usize) -> String {
    format!("{}-{}", TEAMS[i % TEAMS.len()], i / TEAMS.len())
}

fn node_ip(i: usize) -> (u8, u8) {
    ((i / 250) as u8, (i % 250 + 4) as u8)
}

/// The etcd (FQDN) and Kubernetes (short) names of node `i`.
pub fn large_node_names(i: usize) -> (String, String) {
    let (c, d) = node_ip(i);
    let short = format!("ip-10-16-{c}-{d}");
    (format!("{short}.eu-west-1.compute.internal"), short)
}

fn block_cidr(index: usize) -> String {
    let base = u32::from(std::net::Ipv4Addr::new(10, 128, 0, 0)) + (index as u32) * 64;
    format!("{}/26", std::net::Ipv4Addr::from(base))
}

/// A large, realistic v3.30 etcd-mode cluster for the benchmark, generated deterministically.
///
/// At `scale` 1.0 (see [`large_counts`] for exact numbers, about 94,000 keys and 60 MB):
/// 1,000 Nodes named like `ip-10-16-0-4.eu-west-1.compute.internal` (orchRef `k8s`
/// `ip-10-16-0-4`), each with a `node.<fqdn>` FelixConfiguration and a HostEndpoint (every 20th
/// also a BGPConfiguration); about 40,000 pods (20 to 60 per node) across 200 namespaces, each
/// with a `k8s-pod-network.<64 hex>` handle and a WorkloadEndpoint; /26 blocks filled by the
/// allocator simulation, with holes and non-sequential `unallocated` left by pods that came
/// and went, about 1,100 blocks and affinities; one `ipip-tunnel-addr-<fqdn>` handle per node;
/// 3 profiles per namespace; 5 tiers; 2,000 GlobalNetworkPolicies (a fifth in tier
/// `platform`); 15 NetworkPolicies and 5 NetworkSets per namespace; 500 GlobalNetworkSets;
/// 50 BGPPeers; 3 IPPools; KubeControllersConfiguration; IPAM config.
///
/// Export: every Node renamed to its short name, every `node.<fqdn>` Felix/BGP configuration
/// renamed, every affinity and tunnel handle renamed, block attributes' `node` renamed;
/// WorkloadEndpoints and Profiles skipped.
pub fn large(scale: f64) -> Dataset {
    let release = LARGE_RELEASE;
    let p = plan(scale);
    let mut d = Dataset::default();
    d.kvs.reserve(large_counts(scale).total_keys);
    d.cluster_information(release);
    let mut rng = Rng::new(0x5eed_ca11_c0de_0001);
    let namespaces: Vec<String> = (0..p.namespaces).map(namespace_name).collect();
    for ns in &namespaces {
        d.namespace(ns);
    }

    for t in builtin_tiers(release) {
        d.add(t);
    }
    d.add(tier(release, "platform", 100.0, Some("Pass")));
    d.add(tier(release, "security", 50.0, Some("Pass")));
    d.add(default_ippool("10.128.0.0/12", Encap::Ipip));
    d.add(ippool(
        "legacy-pool",
        json!({"cidr": "172.20.0.0/16", "vxlanMode": "Never", "ipipMode": "Always", "natOutgoing": true,
               "disabled": true, "blockSize": 26, "nodeSelector": "all()", "allowedUses": ["Workload", "Tunnel"], "assignmentMode": "Automatic"}),
    ));
    d.add(ippool(
        "loadbalancer-pool",
        json!({"cidr": "10.200.0.0/20", "blockSize": 26, "allowedUses": ["LoadBalancer"], "assignmentMode": "Automatic"}),
    ));
    d.add(default_kube_controllers_configuration());
    d.add(felix_configuration(
        "default",
        json!({"logSeverityScreen": "Info", "reportingInterval": "0s", "ipipEnabled": true,
               "prometheusMetricsEnabled": true, "healthPort": 9099, "floatingIPs": "Disabled"}),
    ));
    d.add(Obj::cluster(
        "BGPConfiguration",
        "default",
        json!({"logSeverityScreen": "Info", "nodeToNodeMeshEnabled": false, "asNumber": 64512,
               "serviceClusterIPs": [{"cidr": "172.30.0.0/16"}]}),
    ));

    // Nodes, their configuration, blocks, pods.
    let mut block_index = 0usize;
    let mut pod_counter = 0usize;
    for (i, node_plan) in p.nodes.iter().enumerate() {
        let (fqdn, short) = large_node_names(i);
        let (c, dd) = node_ip(i);
        let ip = format!("10.16.{c}.{dd}");
        let rack = i % p.bgp_peers.max(1);
        let mut node = NodeDef::new(&fqdn)
            .k8s(&short)
            .ipv4(&ip, 20)
            .label(
                "topology.kubernetes.io/zone",
                ["eu-west-1a", "eu-west-1b", "eu-west-1c"][i % 3],
            )
            .label("rack", &format!("rack-{rack}"));
        node.ipip = Some(block_cidr(block_index).trim_end_matches("/26").to_string());
        d.add(
            node.obj()
                .created(&format!("2024-03-{:02}T{:02}:14:05Z", 1 + i % 28, i % 24)),
        );
        d.k8s_node(&short);
        d.add(felix_configuration(
            &format!("node.{fqdn}"),
            json!({"healthHost": ip, "prometheusMetricsHost": ip}),
        ));
        if i % 20 == 0 {
            d.add(Obj::cluster(
                "BGPConfiguration",
                &format!("node.{fqdn}"),
                json!({"logSeverityScreen": "Debug", "listenPort": 179}),
            ));
        }
        d.add(
            Obj::cluster(
                "HostEndpoint",
                &format!("{short}-eth0"),
                json!({"node": fqdn, "interfaceName": "eth0", "expectedIPs": [ip]}),
            )
            .labels(&[
                ("host-endpoint", "auto"),
                ("kubernetes.io/hostname", &short),
            ]),
        );

        let mut blocks = vec![IpamBlock::host(&block_cidr(block_index), &fqdn)];
        block_index += 1;
        blocks[0].assign(Attr::tunnel(TunnelKind::Ipip, &fqdn));
        let mut ghosts: Vec<(usize, usize)> = Vec::new();
        let total = node_plan.pods + node_plan.ghosts;
        for k in 0..total {
            if blocks.last().is_some_and(|b| b.unallocated.is_empty()) {
                blocks.push(IpamBlock::host(&block_cidr(block_index), &fqdn));
                block_index += 1;
            }
            let is_ghost =
                k % 8 == 7 && ghosts.len() < node_plan.ghosts || k >= node_plan.pods + ghosts.len();
            let block_no = blocks.len() - 1;
            let timestamp = go_timestamp(
                i as u32,
                (k as u32 * 97 + i as u32 * 13) % 86_400,
                rng.below(1_000_000_000) as u32,
            );
            if is_ghost {
                let container = rng.hex(64);
                let ordinal = blocks[block_no].assign(Attr::pod(
                    &pod_handle(&container),
                    &fqdn,
                    &namespaces[0],
                    &format!("job-{}-{}", rng.hex(8), rng.k8s_suffix(5)),
                    &timestamp,
                ));
                ghosts.push((block_no, ordinal));
                continue;
            }
            let j = pod_counter;
            pod_counter += 1;
            let ns = &namespaces[j % namespaces.len()];
            let app = APPS[(j / namespaces.len()) % APPS.len()];
            let pod_name = format!(
                "{app}-{}-{}",
                &container_id(&format!("{ns}/{app}"))[..10],
                rng.k8s_suffix(5)
            );
            let container = rng.hex(64);
            let handle = pod_handle(&container);
            let block = &mut blocks[block_no];
            let ordinal = block.assign(Attr::pod(&handle, &fqdn, ns, &pod_name, &timestamp));
            let pod_ip = format!("{}/32", block.ip(ordinal));
            let service_account = if j.is_multiple_of(3) { app } else { "default" };
            d.add(workload_endpoint(
                &fqdn,
                ns,
                &pod_name,
                &container,
                service_account,
                &[pod_ip],
                &format!("cali{}", &rng.hex(11)),
                &format!(
                    "{}:{}:{}:{}:{}:{}",
                    "ee",
                    &rng.hex(2),
                    &rng.hex(2),
                    &rng.hex(2),
                    &rng.hex(2),
                    &rng.hex(2)
                ),
                app,
            ));
        }
        for (block_no, ordinal) in ghosts {
            blocks[block_no].release(ordinal);
        }
        write_ipam(&mut d, &blocks, release.ipam_format());
    }
    d.put(IPAM_CONFIG_KEY, &ipam_config(false, true, 0, None, 0));

    // Profiles: one per namespace, two service accounts per namespace.
    for (n, ns) in namespaces.iter().enumerate() {
        d.add(Obj::cluster(
            "Profile",
            &format!("kns.{ns}"),
            json!({"ingress": [rule(release, json!({"action": "Allow"}))],
                   "egress": [rule(release, json!({"action": "Allow"}))],
                   "labelsToApply": sorted_map([("pcns.kubernetes.io/metadata.name", ns.as_str()), ("pcns.projectcalico.org/name", ns.as_str())])}),
        ));
        for sa in ["default", APPS[n % APPS.len()]] {
            d.add(Obj::cluster(
                "Profile",
                &format!("ksa.{ns}.{sa}"),
                json!({"labelsToApply": {"pcsa.projectcalico.org/name": sa}}),
            ));
        }
    }

    // Global policies.
    for g in 0..p.gnps {
        let app = APPS[g % APPS.len()];
        let (name, tier_name) = if g % 5 == 0 {
            (format!("platform.allow-{app}-{g}"), "platform")
        } else {
            (format!("allow-{app}-{g}"), "default")
        };
        let ingress: Vec<Value> = (0..1 + g % 3)
            .map(|r| {
                json!({"action": "Allow", "protocol": "TCP",
                       "source": {"selector": format!("app == '{}'", APPS[(g + r + 1) % APPS.len()]), "namespaceSelector": "all()"},
                       "destination": {"ports": [8080 + r as u64, "9000:9100"]}})
            })
            .collect();
        let mut spec = json!({"order": go_number((g % 100) as f64 * 10.0 + 0.5), "selector": format!("app == '{app}'"), "ingress": ingress});
        if g % 2 == 0 {
            spec["egress"] = json!([{"action": "Allow", "protocol": "UDP", "destination": {"ports": [53]}},
                                    {"action": "Deny", "destination": {"nets": ["169.254.169.254/32"]}}]);
            spec["types"] = json!(["Ingress", "Egress"]);
        } else {
            spec["types"] = json!(["Ingress"]);
        }
        d.add(
            policy(
                release,
                "GlobalNetworkPolicy",
                None,
                &name,
                Some(tier_name),
                spec,
            )
            .label("managed-by", "policy-operator"),
        );
    }
    // Namespaced policies and network sets.
    for (n, ns) in namespaces.iter().enumerate() {
        for k in 0..p.nps_per_namespace {
            let app = APPS[(n + k) % APPS.len()];
            let spec = json!({
                "order": 100 + k,
                "selector": format!("app == '{app}'"),
                "types": ["Ingress"],
                "ingress": [{"action": "Allow", "protocol": "TCP",
                             "source": {"selector": format!("app in {{'{}', '{}'}}", APPS[(k + 1) % APPS.len()], APPS[(k + 2) % APPS.len()])},
                             "destination": {"ports": [8080, 8443]}}],
            });
            d.add(policy(
                release,
                "NetworkPolicy",
                Some(ns),
                &format!("allow-{app}-{k}"),
                Some("default"),
                spec,
            ));
        }
        for k in 0..p.netsets_per_namespace {
            let nets: Vec<String> = (0..4 + (n + k) % 12)
                .map(|x| {
                    format!(
                        "198.{}.{}.0/24",
                        18 + (n + k) % 2,
                        (n * 7 + k * 13 + x) % 256
                    )
                })
                .collect();
            d.add(
                Obj::namespaced(
                    "NetworkSet",
                    ns,
                    &format!("{ns}-egress-{k}"),
                    json!({ "nets": nets }),
                )
                .label("role", "egress-allowlist"),
            );
        }
    }
    for g in 0..p.global_netsets {
        let nets: Vec<String> = (0..20 + g % 31)
            .map(|x| format!("{}.{}.{}.0/24", 100 + g % 100, (g / 100) % 256, x))
            .collect();
        d.add(
            Obj::cluster(
                "GlobalNetworkSet",
                &format!("threat-feed-{g}"),
                json!({ "nets": nets }),
            )
            .labels(&[("feed", "threats"), ("priority", ["high", "low"][g % 2])]),
        );
    }
    for r in 0..p.bgp_peers {
        d.add(Obj::cluster(
            "BGPPeer",
            &format!("rack-{r}-tor"),
            json!({"nodeSelector": format!("rack == 'rack-{r}'"), "peerIP": format!("10.16.{}.1", r % 4), "asNumber": 65000 + r as u64}),
        ));
    }
    d
}
