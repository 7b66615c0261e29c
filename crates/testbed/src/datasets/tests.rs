use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::*;
use crate::calico::{CLUSTER_INFORMATION_KEY, Dataset, RESOURCES, plural_of};

fn all_small() -> Vec<(String, Dataset)> {
    let mut sets = vec![
        (
            "upstream_st_without_ipam".to_string(),
            upstream_st_without_ipam(),
        ),
        ("upstream_st".to_string(), upstream_st()),
        ("fqdn_nodes".to_string(), fqdn_nodes()),
        ("dual_stack_ipam".to_string(), dual_stack_ipam()),
        ("skipped_data".to_string(), skipped_data()),
        ("no_ipam".to_string(), no_ipam()),
        ("unmapped_nodes".to_string(), unmapped_nodes()),
        ("large(0.02)".to_string(), large(0.02)),
    ];
    for release in Release::ALL {
        sets.push((
            format!("policies_and_tiers({release:?})"),
            policies_and_tiers(release),
        ));
    }
    sets
}

/// Values deliberately not JSON objects.
fn deliberately_bad(key: &str, value: &str) -> bool {
    SKIPPED_DATA_BAD_KEYS.contains(&key)
        || (value.is_empty() && matches!(parse_ipam_key(key), Some(IpamKey::Affinity { .. })))
}

fn plural_shape(plural: &str) -> Option<bool> {
    if plural == "clusterinformations" {
        return Some(false);
    }
    EXPORTED_KINDS
        .iter()
        .map(|(kind, ns)| (plural_of(kind), *ns))
        .chain(SKIPPED_KINDS.iter().map(|(p, _, ns)| (p.to_string(), *ns)))
        .find(|(p, _)| p == plural)
        .map(|(_, ns)| ns)
}

#[test]
fn keys_match_the_etcd_key_patterns() {
    for (name, d) in all_small() {
        assert!(
            d.get(CLUSTER_INFORMATION_KEY).is_some(),
            "{name}: ClusterInformation"
        );
        let mut seen = BTreeSet::new();
        for (key, value) in d.pairs() {
            assert!(seen.insert(key), "{name}: duplicate key {key}");
            if SKIPPED_DATA_BAD_KEYS.contains(&key) {
                continue;
            }
            if let Some(rest) = key.strip_prefix(&format!("{RESOURCES}/")) {
                let plural = rest.split('/').next().unwrap();
                let namespaced = plural_shape(plural)
                    .unwrap_or_else(|| panic!("{name}: unknown plural in {key}"));
                assert_eq!(
                    resource_key_shape(key),
                    Some(namespaced),
                    "{name}: {key} does not match the resource key pattern of {plural} (docs/design.md §4.1)"
                );
                let v: Value = serde_json::from_str(value).unwrap();
                let last = key.rsplit('/').next().unwrap();
                assert_eq!(v["metadata"]["name"], last, "{name}: {key} name");
                if namespaced {
                    let ns = rest.split('/').nth(1).unwrap();
                    assert_eq!(v["metadata"]["namespace"], ns, "{name}: {key} namespace");
                }
            } else if key.starts_with("/calico/ipam/v2/") {
                let parsed = parse_ipam_key(key).unwrap_or_else(|| {
                    panic!("{name}: {key} is not an IPAM key (docs/design.md §4.3)")
                });
                if let IpamKey::Block { cidr } = parsed {
                    let v: Value = serde_json::from_str(value).unwrap();
                    assert_eq!(v["cidr"], cidr.as_str(), "{name}: {key} cidr");
                }
            } else {
                assert!(
                    key.starts_with("/calico/felix/v2/"),
                    "{name}: unexpected key {key}"
                );
            }
            // Go's encoder escapes these as \u003c, \u003e, \u0026; the datasets avoid them.
            assert!(
                !value.contains(['<', '>', '&']),
                "{name}: {key} has a character Go would escape"
            );
            if !deliberately_bad(key, value) {
                let v: Value = serde_json::from_str(value)
                    .unwrap_or_else(|e| panic!("{name}: {key} is not JSON: {e}"));
                assert!(v.is_object(), "{name}: {key} is not an object");
            }
        }
    }
}

fn check_order(context: &str, value: &Value, table: &[&str]) {
    assert!(
        follows_order(value, table),
        "{context}: fields {:?} not in Go order {table:?}",
        value.as_object().map(|m| m.keys().collect::<Vec<_>>())
    );
}

fn check_sorted(context: &str, value: &Value) {
    if let Some(map) = value.as_object() {
        let keys: Vec<&String> = map.keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "{context}: map keys not sorted like Go");
    }
}

fn check_rules(context: &str, spec: &Value) {
    for direction in ["ingress", "egress"] {
        for rule in spec[direction].as_array().into_iter().flatten() {
            check_order(context, rule, order::RULE);
            check_order(context, &rule["source"], order::ENTITY_RULE);
            check_order(context, &rule["destination"], order::ENTITY_RULE);
        }
    }
}

#[test]
fn values_are_in_go_field_order() {
    for (name, d) in all_small() {
        for (key, value) in d.pairs() {
            if deliberately_bad(key, value) || key.starts_with("/calico/felix/") {
                continue;
            }
            let v: Value = serde_json::from_str(value).unwrap();
            let ctx = format!("{name}: {key}");
            if key.starts_with(RESOURCES) {
                check_order(&ctx, &v, order::OBJECT);
                check_order(&ctx, &v["metadata"], order::METADATA);
                check_sorted(&ctx, &v["metadata"]["labels"]);
                check_sorted(&ctx, &v["metadata"]["annotations"]);
                let kind = v["kind"].as_str().unwrap();
                if let Some(table) = order::spec_of(kind) {
                    check_order(&ctx, &v["spec"], table);
                }
                if kind != "StagedKubernetesNetworkPolicy" {
                    check_rules(&ctx, &v["spec"]);
                }
                match kind {
                    "Node" => {
                        check_order(&ctx, &v["spec"]["bgp"], order::NODE_BGP);
                        check_order(&ctx, &v["status"], order::NODE_STATUS);
                    }
                    "KubeControllersConfiguration" => {
                        check_order(&ctx, &v["status"], order::KCC_STATUS);
                        check_order(&ctx, &v["spec"]["controllers"], order::KCC_CONTROLLERS);
                    }
                    "FelixConfiguration" => {
                        assert!(v["spec"].get("bpfLogLevel").is_some(), "{ctx}: bpfLogLevel");
                    }
                    _ => {}
                }
                // Policies: rules always have source and destination before HEAD.
                if is_tiered_policy_kind(kind) {
                    let release = expected_export(&d).release.unwrap();
                    for direction in ["ingress", "egress"] {
                        for rule in v["spec"][direction].as_array().into_iter().flatten() {
                            assert_eq!(
                                rule.get("source").is_some(),
                                !release.omits_empty_entity_rules()
                                    || rule["source"] != Value::Null,
                                "{ctx}"
                            );
                        }
                    }
                }
            } else if let Some(ipam) = parse_ipam_key(key) {
                match ipam {
                    IpamKey::Block { .. } => {
                        check_order(&ctx, &v, order::BLOCK);
                        for attr in v["attributes"].as_array().unwrap() {
                            check_order(&ctx, attr, order::BLOCK_ATTRIBUTE);
                            check_sorted(&ctx, &attr["secondary"]);
                        }
                        let seq = v["sequenceNumberForAllocation"].as_object().unwrap();
                        let keys: Vec<&String> = seq.keys().collect();
                        let mut sorted = keys.clone();
                        sorted.sort();
                        assert_eq!(keys, sorted, "{ctx}: sequenceNumberForAllocation order");
                        // Every allocation points at an attribute; unallocated + allocated = size.
                        let allocations = v["allocations"].as_array().unwrap();
                        let attributes = v["attributes"].as_array().unwrap().len();
                        let used = allocations.iter().filter(|a| !a.is_null()).count();
                        for a in allocations.iter().filter_map(Value::as_u64) {
                            assert!((a as usize) < attributes, "{ctx}: attribute index");
                        }
                        assert_eq!(
                            used + v["unallocated"].as_array().unwrap().len(),
                            allocations.len(),
                            "{ctx}: allocations and unallocated"
                        );
                        assert_eq!(seq.len(), used, "{ctx}: a sequence number per allocation");
                    }
                    IpamKey::Affinity { .. } => check_order(&ctx, &v, order::AFFINITY),
                    IpamKey::Handle { .. } => {
                        check_order(&ctx, &v, order::HANDLE);
                        check_sorted(&ctx, &v["block"]);
                    }
                    IpamKey::Config => check_order(&ctx, &v, order::IPAM_CONFIG),
                }
            }
        }
    }
}

#[test]
fn resource_values_are_byte_exact_for_a_known_case() {
    let d = upstream_st();
    let key = format!("{RESOURCES}/nodes/node5");
    assert_eq!(
        d.get(&key).unwrap(),
        r#"{"kind":"Node","apiVersion":"projectcalico.org/v3","metadata":{"name":"node5","uid":"#
            .to_string()
            + &format!("\"{}\"", crate::calico::uid_for("Node", "node5"))
            + r#","creationTimestamp":"2024-03-11T09:26:41Z"},"spec":{"bgp":{"ipv4Address":"1.2.3.5/24","ipv6Address":"aa:bb:cc::ff/120"},"orchRefs":[{"nodeName":"node4","orchestrator":"k8s"}]},"status":{}}"#
    );
    let block = d
        .get("/calico/ipam/v2/assignment/ipv4/block/10.65.80.0-26")
        .unwrap();
    assert!(block.starts_with(
        r#"{"cidr":"10.65.80.0/26","affinity":"host:node5","allocations":[0,1,null,"#
    ));
    assert!(block.contains(r#""unallocated":[2,3,"#));
    assert!(block.ends_with(
        r#""sequenceNumber":2,"sequenceNumberForAllocation":{"0":0,"1":1},"deleted":false}"#
    ));
    let policy = d
        .get(&format!(
            "{RESOURCES}/networkpolicies/test/default.policy-mypolicy3"
        ))
        .unwrap();
    assert!(policy.contains(r#""spec":{"tier":"default","order":100,"ingress":[{"action":"Deny","ipVersion":4,"protocol":"TCP","source":{"nets":["10.0.0.0/16"],"selector":"type=='application'","namespaceSelector":"has(role)","ports":[1234,"10:1024"],"notNets":["10.1.0.0/16"],"notSelector":"type=='database'","notPorts":[1050]},"destination":{"#), "{policy}");
    assert!(policy.contains(r#""egress":[{"action":"Allow","source":{"selector":"type=='application'"},"destination":{}}],"selector":"type=='database'","types":["Ingress","Egress"]}"#), "{policy}");
    let felix = d
        .get(&format!("{RESOURCES}/felixconfigurations/node.node5"))
        .unwrap();
    assert!(
        felix.contains(r#""failsafeInboundHostPorts":[{"protocol":"TCP","port":666,"net":""},"#)
    );
    assert!(felix.contains(r#""reportingTTL":"1m39s""#));
    assert!(
        felix.ends_with(r#""usageReportingEnabled":false,"bpfLogLevel":""}}"#),
        "{felix}"
    );
}

#[test]
fn dual_stack_has_every_ipam_shape() {
    let d = dual_stack_ipam();
    for kind in TunnelKind::ALL {
        for node in ["node-a", "edge-1.lab.internal"] {
            if kind == TunnelKind::Ipip && node != "node-a" {
                continue;
            }
            let key = format!("/calico/ipam/v2/handle/{}{node}", kind.handle_prefix());
            assert!(d.get(&key).is_some(), "missing {key}");
        }
        let needle = format!("\"type\":\"{}\"", kind.attribute_type());
        assert!(
            d.kvs
                .iter()
                .any(|(k, v)| k.contains("/assignment/") && v.contains(&needle)),
            "no attribute {needle}"
        );
    }
    let v6_key = "/calico/ipam/v2/assignment/ipv6/block/fd5f:abcd:64:4f2c:ec1b:27b9:1989:77c0-122";
    let v6: Value = serde_json::from_str(d.get(v6_key).unwrap()).unwrap();
    assert_eq!(v6["cidr"], DUAL_STACK_V6_BLOCK);
    assert_eq!(v6["allocations"].as_array().unwrap().len(), 64);
    assert!(
        d.get("/calico/ipam/v2/host/node-a/ipv6/block/fd5f:abcd:64:4f2c:ec1b:27b9:1989:77c0-122")
            .is_some()
    );
    assert!(
        d.get("/calico/ipam/v2/host/node-a/ipv4/block/10.48.0.0-26")
            .is_some()
    );
    assert_eq!(
        d.get("/calico/ipam/v2/virtual/load-balancer/ipv4/block/10.96.200.0-26"),
        Some(r#"{"state":"confirmed","deleted":false}"#)
    );
    let lb = d
        .get("/calico/ipam/v2/assignment/ipv4/block/10.96.200.0-26")
        .unwrap();
    assert!(lb.contains(r#""affinity":"virtual:load-balancer""#));
    assert_eq!(
        d.get("/calico/ipam/v2/host/node-b/ipv4/block/10.48.2.0-26"),
        Some("")
    );
    let unaffine = d
        .get("/calico/ipam/v2/assignment/ipv4/block/10.48.3.0-26")
        .unwrap();
    assert!(unaffine.contains(r#""affinity":null,"allocations""#));
    let a4 = d
        .get("/calico/ipam/v2/assignment/ipv4/block/10.48.0.0-26")
        .unwrap();
    assert!(a4.contains(
        r#""affinity":"host:node-a","affinity_claim_time":"2025-11-04T08:12:45Z","allocations""#
    ));
    assert!(a4.contains(
        r#""alternateOwnerAttrs":{"namespace":"kubevirt-vms","node":"edge-1.lab.internal","#
    ));
    assert!(a4.contains(r#""releasedAt":"2026-08-21T09:15:00Z""#));
    assert!(
        a4.contains(",{}]"),
        "an attribute without handle or attributes: {a4}"
    );
    assert!(!a4.contains("null,\"secondary\""));
    let legacy = d
        .get("/calico/ipam/v2/assignment/ipv4/block/10.48.2.0-26")
        .unwrap();
    assert!(legacy.contains(r#"{"handle_id":null,"secondary":null}"#));
    assert!(!legacy.contains("affinity_claim_time"));
    assert_eq!(
        d.get(IPAM_CONFIG_KEY),
        Some(
            r#"{"strict_affinity":true,"auto_allocate_blocks":true,"maxBlocksPerHost":4,"kubeVirtVMAddressPersistence":"Enabled","ipCooldownSeconds":30}"#
        )
    );
    // A dual-stack pod's handle counts its address in both blocks.
    let frontend = pod_handle(&container_id("web/frontend-0"));
    let handle: Value = serde_json::from_str(
        d.get(&format!("/calico/ipam/v2/handle/{frontend}"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(handle["block"]["10.48.0.0/26"], 1);
    assert_eq!(handle["block"][DUAL_STACK_V6_BLOCK], 1);
}

fn counts(e: &Expectation) -> BTreeMap<&'static str, usize> {
    e.counts().into_iter().filter(|(_, n)| *n > 0).collect()
}

fn map(pairs: &[(&'static str, usize)]) -> BTreeMap<&'static str, usize> {
    pairs.iter().copied().collect()
}

/// The expected export of a dataset made for `release`, checking that it is read as one.
fn expected_for(d: &Dataset, release: Release) -> Expectation {
    let e = expected_export(d);
    assert_eq!(e.release, Some(release));
    e
}

#[test]
fn upstream_st_expectations() {
    let e = expected_for(&upstream_st_without_ipam(), Release::V3_29);
    assert_eq!(
        counts(&e),
        map(&[
            ("IPPool", 1),
            ("BGPPeer", 1),
            ("GlobalNetworkPolicy", 1),
            ("GlobalNetworkSet", 1),
            ("HostEndpoint", 1),
            ("NetworkPolicy", 2),
            ("NetworkSet", 2),
            ("Node", 2),
            ("BGPConfiguration", 2),
            ("FelixConfiguration", 2),
            ("IPReservation", 1),
            ("BGPFilter", 1),
        ])
    );
    assert_eq!(e.names("Node"), ["node4", "node4"]);
    // v3.29.0 to v3.29.3 read policies under their stored names.
    assert_eq!(e.names("GlobalNetworkPolicy"), ["default.policy-mypolicy1"]);
    assert_eq!(
        e.names("NetworkPolicy"),
        [
            "default/default.policy-mypolicy1",
            "test/default.policy-mypolicy3"
        ]
    );
    assert_eq!(e.names("BGPConfiguration"), ["default", "node.node4"]);
    assert_eq!(
        e.names("FelixConfiguration"),
        ["felixconfiguration1", "node.node4"]
    );
    assert!(e.skipped.is_empty() && e.ignored.is_empty());
    assert!(e.ipam_is_empty());
    assert!(e.nodes_missing_in_kubernetes.is_empty());

    let e = expected_export(&upstream_st());
    assert_eq!(e.count("IPPool"), 2);
    assert_eq!(
        (e.blocks.len(), e.block_affinities.len(), e.handles.len()),
        (3, 3, 5)
    );
    assert!(e.ipam_config);
    assert!(
        e.block_affinities
            .contains(&"/calico/ipam/v2/host/node4/ipv4/block/10.65.80.0-26".to_string())
    );
    assert!(e.renamed_handles.is_empty());
}

#[test]
fn fqdn_nodes_expectations() {
    let d = fqdn_nodes();
    let e = expected_export(&d);
    assert_eq!(
        counts(&e),
        map(&[
            ("IPPool", 2),
            ("BGPPeer", 1),
            ("GlobalNetworkPolicy", 1),
            ("HostEndpoint", 1),
            ("KubeControllersConfiguration", 1),
            ("NetworkPolicy", 1),
            ("Node", 3),
            ("BGPConfiguration", 2),
            ("FelixConfiguration", 4),
        ])
    );
    assert_eq!(e.names("Node"), ["cp-1", "worker-1", "worker-2"]);
    assert_eq!(
        e.names("FelixConfiguration"),
        [
            "default",
            "node.cp-1",
            "node.decommissioned.example.com",
            "node.worker-1"
        ]
    );
    assert_eq!(e.names("BGPConfiguration"), ["default", "node.worker-2"]);
    assert_eq!(e.names("GlobalNetworkPolicy"), ["allow-cluster-dns"]);
    assert_eq!(e.names("NetworkPolicy"), ["shop/allow-frontend"]);
    assert_eq!(
        (e.blocks.len(), e.block_affinities.len(), e.handles.len()),
        (4, 4, 17)
    );
    let mut renamed: Vec<&str> = e.renamed_handles.iter().map(|(_, n)| n.as_str()).collect();
    renamed.sort();
    assert_eq!(
        renamed,
        [
            "ipip-tunnel-addr-cp-1",
            "ipip-tunnel-addr-worker-1",
            "vxlan-tunnel-addr-worker-2",
            "wireguard-tunnel-addr-cp-1"
        ]
    );
    assert!(e.block_affinities.contains(
        &"/calico/ipam/v2/host/old-worker.example.com/ipv4/block/10.244.99.0-26".to_string()
    ));
    assert_eq!(d.k8s_nodes, ["cp-1", "worker-1", "worker-2"]);
}

#[test]
fn dual_stack_expectations() {
    let e = expected_for(&dual_stack_ipam(), Release::Head);
    assert_eq!(
        counts(&e),
        map(&[("IPPool", 4), ("Node", 3), ("FelixConfiguration", 1)])
    );
    assert_eq!(e.names("Node"), ["edge-1", "node-a", "node-b"]);
    assert_eq!(e.blocks.len(), 8);
    assert_eq!(e.block_affinities.len(), 6);
    assert_eq!(e.handles.len(), 19);
    assert_eq!(e.skipped_count(SKIP_VIRTUAL_AFFINITIES), 1);
    assert_eq!(e.renamed_handles.len(), 4);
    assert!(e.renamed_handles.iter().any(|(old, new)| old
        == "vxlan-v6-tunnel-addr-edge-1.lab.internal"
        && new == "vxlan-v6-tunnel-addr-edge-1"));
    assert!(e.ipam_config && e.ignored.is_empty());
}

#[test]
fn skipped_data_expectations() {
    let e = expected_for(&skipped_data(), Release::V3_31);
    let skipped: BTreeMap<&str, usize> = e.skipped.iter().map(|(g, k)| (*g, k.len())).collect();
    assert_eq!(
        skipped,
        map(&[
            (SKIP_WORKLOAD_ENDPOINTS, 3),
            (SKIP_PROFILES, 5),
            (SKIP_KNP, 2),
            (SKIP_ADMIN_NETWORK_POLICIES, 2),
            (SKIP_CALICO_NODE_STATUSES, 1),
            (SKIP_IPAM_CONFIGURATIONS, 1),
            (SKIP_V3_BLOCK_AFFINITIES, 1),
            (SKIP_LIVE_MIGRATIONS, 1),
            (SKIP_FELIX_STATUS, 4),
            (SKIP_VIRTUAL_AFFINITIES, 1),
        ])
    );
    let mut ignored = e.ignored.clone();
    ignored.sort();
    let mut bad: Vec<String> = SKIPPED_DATA_BAD_KEYS
        .iter()
        .map(|k| k.to_string())
        .collect();
    bad.sort();
    assert_eq!(ignored, bad);
    assert_eq!(
        counts(&e),
        map(&[
            ("IPPool", 2),
            ("Tier", 3),
            ("GlobalNetworkPolicy", 1),
            ("HostEndpoint", 1),
            ("KubeControllersConfiguration", 1),
            ("NetworkPolicy", 1),
            ("Node", 2),
            ("FelixConfiguration", 1),
        ])
    );
    assert_eq!(e.names("GlobalNetworkPolicy"), ["allow-ops"]);
    assert_eq!(e.names("NetworkPolicy"), ["shop/allow-web"]);
    assert_eq!(
        (e.blocks.len(), e.block_affinities.len(), e.handles.len()),
        (2, 1, 5)
    );
}

#[test]
fn policies_and_tiers_expectations() {
    for release in Release::ALL {
        let e = expected_for(&policies_and_tiers(release), release);
        let (tiers, gnp, np, staged) = match release {
            Release::V3_28 => (0, 3, 3, false),
            Release::V3_29 => (2, 4, 4, false),
            _ => (4, 5, 4, true),
        };
        let mut expected = vec![
            ("IPPool", 1),
            ("GlobalNetworkPolicy", gnp),
            ("KubeControllersConfiguration", 1),
            ("NetworkPolicy", np),
            ("Node", 2),
            ("FelixConfiguration", 3),
        ];
        if tiers > 0 {
            expected.push(("Tier", tiers));
        }
        if staged {
            expected.extend([
                ("StagedGlobalNetworkPolicy", 2),
                ("StagedNetworkPolicy", 3),
                ("StagedKubernetesNetworkPolicy", 2),
            ]);
        }
        assert_eq!(counts(&e), map(&expected), "{release:?}");
        // v3.29.0 to v3.29.3 read default-tier policies under their stored names.
        let v3 = |name: &str| -> String {
            let (namespace, policy) = match name.split_once('/') {
                Some((ns, p)) => (format!("{ns}/"), p),
                None => (String::new(), name),
            };
            if release == Release::V3_29 && !policy.contains('.') {
                format!("{namespace}default.{policy}")
            } else {
                name.to_string()
            }
        };
        // The names a release reads: `always` as above, and each of `some` where it has it.
        let names = |always: &[&str], some: &[(bool, &str)]| -> Vec<String> {
            let mut names: Vec<String> = always.iter().map(|name| v3(name)).collect();
            for (present, name) in some {
                if *present {
                    names.push(name.to_string());
                }
            }
            names.sort();
            names
        };
        let gnps = names(
            &[
                "allow-cluster-dns",
                "deny-external-egress",
                "platform-ingress",
            ],
            &[
                (release.has_tiers(), "sec.block-x"),
                (release.writes_metadata_annotation(), "default.allow-dns"),
            ],
        );
        assert_eq!(e.names("GlobalNetworkPolicy"), gnps, "{release:?}");
        let nps = names(
            &[
                "default/allow-frontend",
                "monitoring/allow-scrape",
                "shop/allow-api",
            ],
            &[(release.has_tiers(), "shop/sec.quarantine")],
        );
        assert_eq!(e.names("NetworkPolicy"), nps, "{release:?}");
        if staged {
            assert_eq!(
                e.names("StagedNetworkPolicy"),
                [
                    "default/staged-allow-web",
                    "monitoring/sec.staged-audit",
                    "shop/staged-restrict-db"
                ]
            );
            assert_eq!(
                e.names("StagedGlobalNetworkPolicy"),
                ["sec.staged-lockdown", "staged-deny-legacy"]
            );
        }
        assert!(e.skipped.is_empty() && e.ignored.is_empty() && e.renamed.is_empty());
        assert_eq!(
            (e.blocks.len(), e.block_affinities.len(), e.handles.len()),
            (2, 2, 4)
        );
    }
    // Storage names of the three regimes.
    let key = |r: Release, name: &str| {
        let d = policies_and_tiers(r);
        d.get(&format!("{RESOURCES}/globalnetworkpolicies/{name}"))
            .map(|v| serde_json::from_str::<Value>(v).unwrap())
    };
    let v = key(Release::V3_29, "default.allow-cluster-dns").unwrap();
    assert!(
        v["metadata"]["annotations"]
            .get(METADATA_ANNOTATION)
            .is_none()
    );
    assert!(v["metadata"]["labels"].get(TIER_LABEL).is_none());
    let v = key(Release::V3_29, "sec.block-x").unwrap();
    assert_eq!(v["metadata"]["labels"][TIER_LABEL], "sec");
    let v = key(Release::V3_30, "default.allow-cluster-dns").unwrap();
    assert_eq!(
        v["metadata"]["annotations"][METADATA_ANNOTATION],
        r#"{"name":"allow-cluster-dns"}"#
    );
    assert!(v["metadata"]["labels"].get(TIER_LABEL).is_none());
    let v = key(Release::V3_30, "default.allow-dns").unwrap();
    assert_eq!(
        v["metadata"]["annotations"][METADATA_ANNOTATION],
        r#"{"name":"default.allow-dns"}"#
    );
    let v = key(Release::V3_32, "allow-cluster-dns").unwrap();
    assert_eq!(v["metadata"]["labels"][TIER_LABEL], "default");
    assert_eq!(
        v["metadata"]["annotations"][METADATA_ANNOTATION],
        r#"{"name":"allow-cluster-dns"}"#
    );
    assert!(key(Release::V3_32, "default.allow-cluster-dns").is_none());
    // Felix fix-up inputs.
    let d = policies_and_tiers(Release::V3_31);
    let felix = d
        .get(&format!("{RESOURCES}/felixconfigurations/default"))
        .unwrap();
    for needle in [
        r#""defaultEndpointToHostAction":"ACCEPT","iptablesFilterAllowAction":"RETURN","iptablesMangleAllowAction":"ACCEPT","iptablesFilterDenyAction":"REJECT""#,
        r#""iptablesPostWriteCheckInterval":"1.5s""#,
    ] {
        assert!(felix.contains(needle), "{felix}");
    }
    let kcc = d
        .get(&format!(
            "{RESOURCES}/kubecontrollersconfigurations/default"
        ))
        .unwrap();
    assert!(kcc.contains(r#""status":{"runningConfig":{"#));
}

#[test]
fn no_ipam_expectations() {
    let d = no_ipam();
    assert!(d.kvs.iter().all(|(k, _)| !k.starts_with("/calico/ipam/")));
    let e = expected_export(&d);
    assert!(e.ipam_is_empty());
    assert_eq!(
        counts(&e),
        map(&[
            ("IPPool", 1),
            ("Tier", 3),
            ("GlobalNetworkPolicy", 1),
            ("KubeControllersConfiguration", 1),
            ("NetworkPolicy", 1),
            ("Node", 2),
            ("BGPConfiguration", 1),
            ("FelixConfiguration", 1),
        ])
    );
}

#[test]
fn unmapped_nodes_expectations() {
    let d = unmapped_nodes();
    let e = expected_export(&d);
    assert_eq!(e.unmapped_nodes, ["legacy-1", "standalone-gw"]);
    assert_eq!(
        e.names("Node"),
        [
            "ip-10-0-3-17",
            "ip-10-0-3-17",
            "legacy-1",
            "standalone-gw",
            "worker-a",
            "worker-b",
            "worker-c",
            "worker-gone"
        ]
    );
    assert_eq!(
        e.names("FelixConfiguration"),
        [
            "node.ip-10-0-3-17",
            "node.ip-10-0-3-17",
            "node.standalone-gw"
        ]
    );
    assert_eq!(
        e.nodes_missing_in_kubernetes,
        ["legacy-1", "standalone-gw", "worker-gone"]
    );
    assert_eq!(
        (e.blocks.len(), e.block_affinities.len(), e.handles.len()),
        (5, 5, 10)
    );
    let duplicates = e.handles.len() - e.handles.iter().collect::<BTreeSet<_>>().len();
    assert_eq!(duplicates, 1, "the two ip-10-0-3-17 tunnel handles collide");
    assert_eq!(
        d.k8s_nodes,
        ["worker-a", "worker-b", "worker-c", "ip-10-0-3-17"]
    );
}

fn category_counts(d: &Dataset) -> LargeCounts {
    let under = |plural: &str| d.keys_under(&format!("{RESOURCES}/{plural}/")).count();
    let e = expected_export(d);
    LargeCounts {
        nodes: under("nodes"),
        namespaces: d.namespaces.len(),
        pods: under("workloadendpoints"),
        blocks: e.blocks.len(),
        block_affinities: e.block_affinities.len(),
        handles: e.handles.len(),
        workload_endpoints: under("workloadendpoints"),
        profiles: under("profiles"),
        tiers: under("tiers"),
        global_network_policies: under("globalnetworkpolicies"),
        network_policies: under("networkpolicies"),
        network_sets: under("networksets"),
        global_network_sets: under("globalnetworksets"),
        host_endpoints: under("hostendpoints"),
        felix_configurations: under("felixconfigurations"),
        bgp_configurations: under("bgpconfigurations"),
        bgp_peers: under("bgppeers"),
        ip_pools: under("ippools"),
        singletons: under("kubecontrollersconfigurations")
            + under("clusterinformations")
            + usize::from(e.ipam_config),
        total_keys: d.kvs.len(),
    }
}

#[test]
fn large_hits_its_targets() {
    let started = std::time::Instant::now();
    let d = large(1.0);
    let elapsed = started.elapsed();
    let target = large_counts(1.0);
    assert_eq!(category_counts(&d), target);
    assert!(
        (90_000..=110_000).contains(&target.total_keys),
        "{}",
        target.total_keys
    );
    assert_eq!(target.nodes, 1000);
    assert!(target.handles > 30_000);
    assert!(target.global_network_policies + target.network_policies > 4000);
    let e = expected_export(&d);
    assert_eq!(e.node_map.len(), 1000);
    assert_eq!(e.count("Node"), 1000);
    assert_eq!(e.renamed_handles.len(), 1000);
    assert!(e.ignored.is_empty());
    assert_eq!(d.k8s_nodes.len(), 1000);
    eprintln!(
        "large(1.0): {} keys, {} MB, generated in {elapsed:?}",
        d.kvs.len(),
        d.byte_size() / 1_000_000
    );
}

#[test]
fn large_is_deterministic_and_scales() {
    let a = large(0.1);
    let b = large(0.1);
    assert_eq!(a.kvs, b.kvs);
    assert_eq!(category_counts(&a), large_counts(0.1));
    assert_eq!(category_counts(&large(0.003)), large_counts(0.003));
}

#[test]
fn release_versions_round_trip() {
    for release in Release::ALL {
        assert_eq!(
            Release::from_calico_version(release.calico_version()),
            Some(release)
        );
    }
    assert_eq!(Release::from_calico_version("3.26.4"), Some(Release::V3_28));
}

#[test]
fn allocator_simulation() {
    let mut block = IpamBlock::host("10.0.0.0/30", "n");
    let a = block.assign(Attr::new("h1", &[]));
    let b = block.assign(Attr::new("h2", &[]));
    let c = block.assign(Attr::new("h3", &[]));
    assert_eq!((a, b, c), (0, 1, 2));
    block.release(b);
    let v = block.value(IpamFormat::Legacy);
    assert_eq!(v["allocations"], serde_json::json!([0, null, 1, null]));
    assert_eq!(v["unallocated"], serde_json::json!([3, 1]));
    assert_eq!(v["sequenceNumber"], 4);
    assert_eq!(
        v["sequenceNumberForAllocation"],
        serde_json::json!({"0": 0, "2": 2})
    );
    assert_eq!(v["attributes"][1]["handle_id"], "h3");
    assert_eq!(block.ip(2).to_string(), "10.0.0.2");
    let v6 = IpamBlock::host(DUAL_STACK_V6_BLOCK, "n");
    assert_eq!(
        v6.ip(1).to_string(),
        "fd5f:abcd:64:4f2c:ec1b:27b9:1989:77c1"
    );
}

/// The expected export of every small dataset accounts for each of its keys exactly once
/// (ClusterInformation, an exported object, a skip group, ignored, or IPAM), every exported
/// kind's count is what the dataset holds under that kind's prefix less what is skipped or
/// ignored there, and the summary text reports those same numbers.
#[test]
fn expected_summaries_account_for_every_key() {
    for (name, d) in all_small() {
        let e = expected_export(&d);
        let summary = e.summary();
        assert!(e.cluster_information, "{name}: no ClusterInformation");
        assert!(e.release.is_some(), "{name}: no known release\n{summary}");
        assert!(
            !e.exported.is_empty(),
            "{name}: nothing exported\n{summary}"
        );
        let keys: BTreeSet<&str> = d.kvs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys.len(), d.kvs.len(), "{name}: duplicate keys");
        let ignored = |key: &str| e.ignored.iter().any(|i| i == key);

        // Keys that keep their name in the export, each once, all from the dataset.
        let mut kept: Vec<&str> = vec![CLUSTER_INFORMATION_KEY];
        kept.extend(e.exported.iter().map(|o| o.key.as_str()));
        kept.extend(e.skipped.values().flatten().map(String::as_str));
        kept.extend(e.ignored.iter().map(String::as_str));
        kept.extend(e.blocks.iter().map(String::as_str));
        for key in &kept {
            assert!(
                keys.contains(key),
                "{name}: {key} is not a key of the dataset"
            );
        }
        let distinct: BTreeSet<&str> = kept.iter().copied().collect();
        assert_eq!(distinct.len(), kept.len(), "{name}: a key counted twice");
        // Affinities and handles may be renamed: count them by their prefix in the dataset.
        let under = |prefix: &str| {
            keys.iter()
                .filter(|&&k| k.starts_with(prefix) && !ignored(k))
                .count()
        };
        let affinities = under("/calico/ipam/v2/host/");
        let handles = under("/calico/ipam/v2/handle/");
        let config = under("/calico/ipam/v2/config");
        assert_eq!(e.block_affinities.len(), affinities, "{name}: affinities");
        assert_eq!(e.handles.len(), handles, "{name}: handles");
        assert_eq!(usize::from(e.ipam_config), config, "{name}: IPAM config");
        assert_eq!(
            e.blocks.len(),
            under("/calico/ipam/v2/assignment/"),
            "{name}: blocks"
        );
        assert_eq!(
            kept.len() + affinities + handles + config,
            keys.len(),
            "{name}: keys not accounted for\n{summary}"
        );

        // Per kind: everything under the kind's prefix is exported, skipped or ignored.
        for (kind, _) in EXPORTED_KINDS {
            let prefix = format!("{RESOURCES}/{}/", plural_of(kind));
            let stored = keys.iter().filter(|k| k.starts_with(&prefix)).count();
            let skipped = e
                .skipped
                .values()
                .flatten()
                .filter(|k| k.starts_with(&prefix))
                .count();
            let ignored_here = e.ignored.iter().filter(|k| k.starts_with(&prefix)).count();
            assert_eq!(
                e.count(kind) + skipped + ignored_here,
                stored,
                "{name}: {kind}\n{summary}"
            );
            assert!(
                e.exported
                    .iter()
                    .filter(|o| o.kind == *kind)
                    .all(|o| o.key.starts_with(&prefix)),
                "{name}: a {kind} exported from another kind's key"
            );
        }
        for (kind, from, to) in &e.renamed {
            assert_ne!(from, to, "{name}: {kind} renamed to itself");
            assert!(
                e.names(kind).contains(to),
                "{name}: {kind} {from} renamed to {to}, which is not exported"
            );
        }
        for node in &e.unmapped_nodes {
            assert!(
                e.names("Node").contains(node),
                "{name}: unmapped node {node} is exported under its etcd name"
            );
        }

        // The summary says the same.
        let line = |label: &str| -> String {
            summary
                .lines()
                .find_map(|l| l.strip_prefix(label))
                .unwrap_or_else(|| panic!("{name}: no {label:?} line in\n{summary}"))
                .to_string()
        };
        let exported_line = line("exported: ");
        let listed: BTreeMap<&str, usize> = exported_line
            .split_whitespace()
            .map(|item| {
                let (kind, n) = item.split_once('=').expect("kind=count");
                (kind, n.parse().expect("a count"))
            })
            .collect();
        assert_eq!(listed, counts(&e), "{name}: exported line\n{summary}");
        let skipped_line = line("skipped: ");
        for (group, skipped_keys) in &e.skipped {
            let item = format!("{group}={}", skipped_keys.len());
            assert!(
                skipped_line.contains(&item),
                "{name}: {item} not in the skipped line\n{summary}"
            );
        }
        assert_eq!(line("ignored: "), e.ignored.len().to_string(), "{name}");
        assert_eq!(
            line("ipam: "),
            format!(
                "blocks={} affinities={} handles={} config={}",
                e.blocks.len(),
                e.block_affinities.len(),
                e.handles.len(),
                e.ipam_config
            ),
            "{name}"
        );
    }
}
