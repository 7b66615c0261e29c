//! What a real kube-apiserver (v1.24) did with the v3.32.1 Calico CRDs, observed request by
//! request, replayed against the local server with the same manifests (docs/design.md §14).

mod common;

use common::*;
use serde_json::{Value, json};

const META_ANN: &str = "projectcalico.org/metadata";

/// POSTs an object and checks it came back unchanged apart from server metadata
/// (spec identical, labels and annotations intact, no warnings).
fn accepted_unchanged(c: &Client, path: &str, body: &Value) -> Value {
    let r = c.post(path, body);
    assert_eq!(r.status, 201, "POST {path}: {}", r.text());
    assert!(
        r.all_headers("warning").is_empty(),
        "{path}: warnings {:?}",
        r.all_headers("warning")
    );
    let v = r.json();
    assert_eq!(v["spec"], body["spec"], "{path}: spec changed");
    assert_eq!(
        v["metadata"]["labels"], body["metadata"]["labels"],
        "{path}"
    );
    assert_eq!(
        v["metadata"]["annotations"], body["metadata"]["annotations"],
        "{path}"
    );
    assert_eq!(v["kind"], body["kind"]);
    v
}

fn cr(kind: &str, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "crd.projectcalico.org/v1",
        "kind": kind,
        "metadata": {
            "name": name,
            "annotations": {META_ANN: "{\"creationTimestamp\":\"2026-08-01T12:00:00Z\"}"}
        },
        "spec": spec
    })
}

fn policy(kind: &str, name: &str, v3name: &str, tier: &str, spec: Value) -> Value {
    let mut v = cr(kind, name, spec);
    v["metadata"]["labels"] = json!({"projectcalico.org/tier": tier});
    v["metadata"]["annotations"][META_ANN] = json!(format!(
        "{{\"name\":\"{v3name}\",\"creationTimestamp\":\"2026-08-01T12:00:00Z\",\"labels\":{{\"projectcalico.org/tier\":\"{tier}\"}}}}"
    ));
    v
}

fn all_crds() -> (mini_apiserver::BackgroundServer, Client) {
    let (s, c) = server();
    install(&c, &calico_crds());
    (s, c)
}

fn p(plural: &str) -> String {
    format!("{CALICO}/{plural}")
}

/// POSTs a FelixConfiguration named `name`.
fn post_felix(c: &Client, name: &str, spec: Value) -> Resp {
    c.post(
        &p("felixconfigurations"),
        &cr("FelixConfiguration", name, spec),
    )
}

/// POSTs a FelixConfiguration named `name`, which must come back unchanged.
fn accepted_felix(c: &Client, name: &str, spec: Value) -> Value {
    accepted_unchanged(
        c,
        &p("felixconfigurations"),
        &cr("FelixConfiguration", name, spec),
    )
}

fn np(ns: &str, plural: &str) -> String {
    format!("{CALICO}/namespaces/{ns}/{plural}")
}

#[test]
fn all_22_crds_load_and_are_served() {
    let (_s, c) = all_crds();
    let crds = c.get_json(CRDS);
    assert_eq!(crds["items"].as_array().unwrap().len(), 22);
    let gv = c.get_json(CALICO);
    let names = resource_names(&gv);
    assert_eq!(names.len(), 23, "{names:?}");
    assert_lists_resources(&gv, &["kubecontrollersconfigurations/status"]);
    let namespaced: Vec<&str> = gv["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["namespaced"] == true)
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        namespaced,
        vec![
            "networkpolicies",
            "networksets",
            "stagedkubernetesnetworkpolicies",
            "stagednetworkpolicies"
        ]
    );
}

fn pool_spec() -> Value {
    json!({
        "allowedUses": ["Workload", "Tunnel"],
        "assignmentMode": "Automatic",
        "blockSize": 26,
        "cidr": "10.65.0.0/16",
        "ipipMode": "Always",
        "natOutgoing": true,
        "nodeSelector": "all()",
        "vxlanMode": "Never"
    })
}

#[test]
fn the_16_generic_kinds_are_accepted_unchanged() {
    let (_s, c) = all_crds();
    accepted_unchanged(
        &c,
        &p("ippools"),
        &cr("IPPool", "default-ipv4-ippool", pool_spec()),
    );
    accepted_unchanged(
        &c,
        &p("bgppeers"),
        &cr(
            "BGPPeer",
            "rack1-tor",
            json!({"peerIP": "10.0.0.1", "asNumber": 64512, "nodeSelector": "rack == 'rack1'", "keepOriginalNextHop": false}),
        ),
    );
    let gnp_spec = json!({
        "tier": "default",
        "order": 100,
        "selector": "all()",
        "types": ["Egress"],
        "egress": [{"action": "Allow", "protocol": "UDP", "destination": {"ports": [53, "dns"], "selector": "k8s-app == 'kube-dns'"}}]
    });
    accepted_unchanged(
        &c,
        &p("globalnetworkpolicies"),
        &policy(
            "GlobalNetworkPolicy",
            "default.allow-dns",
            "allow-dns",
            "default",
            gnp_spec.clone(),
        ),
    );
    accepted_unchanged(
        &c,
        &p("globalnetworksets"),
        &cr(
            "GlobalNetworkSet",
            "blocked",
            json!({"nets": ["192.0.2.0/24", "2001:db8::/32"]}),
        ),
    );
    accepted_unchanged(
        &c,
        &p("hostendpoints"),
        &cr(
            "HostEndpoint",
            "worker-1-eth0",
            json!({"node": "worker-1", "interfaceName": "eth0", "expectedIPs": ["10.0.0.11"], "profiles": ["host"], "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}),
        ),
    );
    accepted_unchanged(
        &c,
        &p("kubecontrollersconfigurations"),
        &cr(
            "KubeControllersConfiguration",
            "default",
            json!({
                "controllers": {
                    "node": {"reconcilerPeriod": "5m", "syncLabels": "Enabled", "hostEndpoint": {"autoCreate": "Disabled"}},
                    "policy": {"reconcilerPeriod": "5m"},
                    "workloadEndpoint": {"reconcilerPeriod": "5m"},
                    "serviceAccount": {"reconcilerPeriod": "5m"},
                    "namespace": {"reconcilerPeriod": "5m"},
                    "loadBalancer": {"assignIPs": "AllServices"},
                    "policyMigration": {"enabled": "Enabled"}
                },
                "etcdV3CompactionPeriod": "10m",
                "healthChecks": "Enabled",
                "logSeverityScreen": "Info"
            }),
        ),
    );
    accepted_unchanged(
        &c,
        &np("default", "networkpolicies"),
        &policy(
            "NetworkPolicy",
            "default.allow-web",
            "allow-web",
            "default",
            json!({"tier": "default", "order": 1000, "selector": "app == 'web'", "types": ["Ingress"], "ingress": [{"action": "Allow", "source": {"selector": "app == 'frontend'"}}]}),
        ),
    );
    accepted_unchanged(
        &c,
        &np("default", "networksets"),
        &cr(
            "NetworkSet",
            "partners",
            json!({"nets": ["198.51.100.0/24"]}),
        ),
    );
    accepted_unchanged(
        &c,
        &p("bgpconfigurations"),
        &cr(
            "BGPConfiguration",
            "default",
            json!({"asNumber": 64512, "logSeverityScreen": "Info", "nodeToNodeMeshEnabled": true, "serviceClusterIPs": [{"cidr": "10.96.0.0/12"}], "serviceLoadBalancerAggregation": "Enabled"}),
        ),
    );
    accepted_felix(
        &c,
        "default",
        json!({"bpfEnabled": false, "ipipEnabled": true, "logSeverityScreen": "Info", "reportingInterval": "0s", "nftablesMode": "Auto", "healthPort": 9099}),
    );
    accepted_unchanged(
        &c,
        &p("ipreservations"),
        &cr(
            "IPReservation",
            "reserved",
            json!({"reservedCIDRs": ["10.65.0.0/28"]}),
        ),
    );
    accepted_unchanged(
        &c,
        &p("bgpfilters"),
        &cr(
            "BGPFilter",
            "export-private",
            json!({"exportV4": [{"action": "Accept", "matchOperator": "In", "cidr": "10.0.0.0/8"}]}),
        ),
    );
    accepted_unchanged(
        &c,
        &p("tiers"),
        &cr(
            "Tier",
            "security",
            json!({"order": 100, "defaultAction": "Deny"}),
        ),
    );
    accepted_unchanged(
        &c,
        &p("stagedglobalnetworkpolicies"),
        &policy(
            "StagedGlobalNetworkPolicy",
            "default.staged-deny",
            "staged-deny",
            "default",
            json!({"stagedAction": "Set", "tier": "default", "order": 10, "selector": "all()", "types": ["Ingress"]}),
        ),
    );
    accepted_unchanged(
        &c,
        &np("default", "stagednetworkpolicies"),
        &policy(
            "StagedNetworkPolicy",
            "default.staged-allow",
            "staged-allow",
            "default",
            json!({"stagedAction": "Set", "tier": "default", "selector": "all()"}),
        ),
    );
    accepted_unchanged(
        &c,
        &np("default", "stagedkubernetesnetworkpolicies"),
        &cr(
            "StagedKubernetesNetworkPolicy",
            "staged-k8s",
            json!({"stagedAction": "Set", "podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"], "ingress": [{"from": [{"podSelector": {}}]}]}),
        ),
    );

    // policies under the v3 name and under a non-default tier
    accepted_unchanged(
        &c,
        &p("globalnetworkpolicies"),
        &policy(
            "GlobalNetworkPolicy",
            "allow-dns",
            "allow-dns",
            "default",
            gnp_spec,
        ),
    );
    accepted_unchanged(
        &c,
        &p("globalnetworkpolicies"),
        &policy(
            "GlobalNetworkPolicy",
            "security.block-bad",
            "security.block-bad",
            "security",
            json!({"tier": "security", "order": 1, "selector": "all()", "types": ["Ingress"], "ingress": [{"action": "Deny", "source": {"nets": ["192.0.2.0/24"]}}]}),
        ),
    );
}

fn block_spec(cidr: &str) -> Value {
    let mut allocations: Vec<Value> = vec![json!(0)];
    allocations.extend(std::iter::repeat_n(Value::Null, 63));
    let unallocated: Vec<Value> = (1..64).map(|i| json!(i)).collect();
    json!({
        "cidr": cidr,
        "affinity": "host:worker-1",
        "allocations": allocations,
        "unallocated": unallocated,
        "attributes": [{"handle_id": "ipip-tunnel-addr-worker-1", "secondary": {"node": "worker-1", "type": "ipipTunnelAddress"}}],
        "sequenceNumber": 1,
        "sequenceNumberForAllocation": {"0": 0},
        "deleted": false,
        "strictAffinity": false
    })
}

fn affinity(name: &str, state: &str) -> Value {
    cr(
        "BlockAffinity",
        name,
        json!({"state": state, "node": "worker-1", "type": "host", "cidr": "10.65.79.0/26", "deleted": "false"}),
    )
}

#[test]
fn cluster_information_and_ipam_objects_are_accepted() {
    let (_s, c) = all_crds();
    accepted_unchanged(
        &c,
        &p("clusterinformations"),
        &cr(
            "ClusterInformation",
            "default",
            json!({"clusterGUID": "6f0c7a0e2b1d4c3a9e8f7d6c5b4a3921", "clusterType": "kdd", "calicoVersion": "v3.32.1", "datastoreReady": false, "variant": "Calico"}),
        ),
    );
    // IPAMBlock v4 and v6, null entries in allocations are fine
    accepted_unchanged(
        &c,
        &p("ipamblocks"),
        &cr("IPAMBlock", "10-65-79-0-26", block_spec("10.65.79.0/26")),
    );
    accepted_unchanged(
        &c,
        &p("ipamblocks"),
        &cr("IPAMBlock", "fd00---122", block_spec("fd00::/122")),
    );

    // BlockAffinity: deleted as a string, with and without the v3.31 labels, empty state
    accepted_unchanged(
        &c,
        &p("blockaffinities"),
        &affinity("worker-1-10-65-79-0-26", "confirmed"),
    );
    let mut labelled = affinity("worker-2-10-65-79-64-26", "confirmed");
    labelled["metadata"]["labels"] = json!({
        "projectcalico.org/hostname-hash": "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43UOV3HO6DZPI",
        "projectcalico.org/affinity-type": "host",
        "projectcalico.org/ip-version": "4"
    });
    accepted_unchanged(&c, &p("blockaffinities"), &labelled);
    accepted_unchanged(
        &c,
        &p("blockaffinities"),
        &affinity("worker-3-10-65-79-128-26", ""),
    );
    // a 252-character hashed name
    let host = format!("worker{}", "x".repeat(220));
    let long = format!("{host}-10-65-79-0-26-0123456789a");
    assert_eq!(long.len(), 252);
    accepted_unchanged(&c, &p("blockaffinities"), &affinity(&long, "confirmed"));

    // IPAMHandle with a lower-cased name; IPAMConfig
    accepted_unchanged(
        &c,
        &p("ipamhandles"),
        &cr(
            "IPAMHandle",
            "k8s-pod-network.2b1d4c3a9e8f",
            json!({"handleID": "k8s-pod-network.2B1D4C3A9E8F", "block": {"10.65.79.0/26": 1}, "deleted": false}),
        ),
    );
    accepted_unchanged(
        &c,
        &p("ipamconfigs"),
        &cr(
            "IPAMConfig",
            "default",
            json!({"strictAffinity": false, "autoAllocateBlocks": true, "maxBlocksPerHost": 0}),
        ),
    );
}

#[test]
fn node_annotations_by_merge_patch_and_status_update() {
    let (_s, c) = server();
    c.create("/api/v1/nodes", &obj("v1", "Node", "worker-1", json!({})));
    let anns = json!({
        "projectcalico.org/IPv4Address": "10.0.0.11/24",
        "projectcalico.org/IPv4IPIPTunnelAddr": "10.65.79.0",
        "projectcalico.org/ASNumber": "64512",
        "projectcalico.org/Interfaces": "[{\"name\":\"eth0\",\"addresses\":[\"10.0.0.11\"]}]",
        "projectcalico.org/labels": "{\"rack\":\"r1\"}"
    });
    let r = c.merge_patch(
        "/api/v1/nodes/worker-1",
        &json!({"metadata": {"annotations": anns}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["metadata"]["annotations"], anns);

    c.create("/api/v1/nodes", &obj("v1", "Node", "worker-2", json!({})));
    let mut n = c.get_json("/api/v1/nodes/worker-2");
    n["metadata"]["annotations"] = anns.clone();
    let r = c.put("/api/v1/nodes/worker-2/status", &n);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        c.get_json("/api/v1/nodes/worker-2")["metadata"]["annotations"],
        anns
    );
}

#[test]
fn rejected_by_the_schemas() {
    let (_s, c) = all_crds();
    // IPAMBlock without strictAffinity
    let mut spec = block_spec("10.65.79.0/26");
    spec.as_object_mut().unwrap().remove("strictAffinity");
    assert_status(
        &c.post(&p("ipamblocks"), &cr("IPAMBlock", "10-65-79-0-26", spec)),
        json!({"code": 422, "reason": "Invalid", "message": "IPAMBlock.crd.projectcalico.org \"10-65-79-0-26\" is invalid: spec.strictAffinity: Required value",
            "details": {"causes": [{"reason": "FieldValueRequired", "message": "Required value", "field": "spec.strictAffinity"}]}}),
    );

    // BlockAffinity with deleted as a boolean
    let mut a = affinity("worker-1-10-65-79-0-26", "confirmed");
    a["spec"]["deleted"] = json!(false);
    let st = failure(
        &c.post(&p("blockaffinities"), &a),
        422,
        "Invalid",
        "BlockAffinity.crd.projectcalico.org \"worker-1-10-65-79-0-26\" is invalid: spec.deleted: Invalid value: \"boolean\": spec.deleted in body must be of type string: \"boolean\"",
    );
    assert_eq!(
        st["details"]["causes"][0]["reason"],
        "FieldValueTypeInvalid"
    );

    // upper-case names: an upper-case host in an affinity name, a handle not lower-cased
    let st = c
        .post(
            &p("blockaffinities"),
            &affinity("Worker-1-10-65-79-0-26", "confirmed"),
        )
        .status_of(422, "Invalid");
    assert_message_starts_with(
        &st,
        "BlockAffinity.crd.projectcalico.org \"Worker-1-10-65-79-0-26\" is invalid: metadata.name: Invalid value: \"Worker-1-10-65-79-0-26\": a lowercase RFC 1123 subdomain",
    );
    let handle = |name: &str| {
        cr(
            "IPAMHandle",
            name,
            json!({"handleID": name, "block": {"10.65.79.0/26": 1}, "deleted": false}),
        )
    };
    c.post(&p("ipamhandles"), &handle("K8s-Pod-Network.ABC"))
        .status_of(422, "Invalid");
    // a handle ID containing \r\n
    let st = c
        .post(&p("ipamhandles"), &handle("k8s-pod-network.abc\r\n"))
        .status_of(422, "Invalid");
    assert_eq!(st["details"]["causes"][0]["field"], "metadata.name");
}

#[test]
fn felix_durations_with_a_fraction_are_rejected() {
    let (_s, c) = all_crds();
    let st =
        post_felix(&c, "default", json!({"reportingInterval": "1.5s"})).status_of(422, "Invalid");
    assert_eq!(
        causes(&st),
        vec![
            "spec.reportingInterval: Invalid value: \"1.5s\": spec.reportingInterval in body should match '^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))*$'"
        ]
    );
    let v = c.create(
        &p("felixconfigurations"),
        &cr(
            "FelixConfiguration",
            "default",
            json!({"reportingInterval": "1500ms", "iptablesRefreshInterval": "90s"}),
        ),
    );
    assert_eq!(v["spec"]["reportingInterval"], "1500ms");
    // the one duration field whose pattern is escaped once accepts a fraction
    c.create(
        &p("felixconfigurations"),
        &cr(
            "FelixConfiguration",
            "node.worker-1",
            json!({"liveMigrationRouteConvergenceTime": "1.5s"}),
        ),
    );
}

#[test]
fn ipam_config_ip_cooldown_seconds_is_pruned() {
    let (_s, c) = all_crds();
    let r = c.post(
        &p("ipamconfigs"),
        &cr(
            "IPAMConfig",
            "default",
            json!({"strictAffinity": false, "autoAllocateBlocks": true, "ipCooldownSeconds": 30}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    assert!(v["spec"].get("ipCooldownSeconds").is_none());
    assert_eq!(
        r.all_headers("warning"),
        vec!["299 - \"unknown field \\\"spec.ipCooldownSeconds\\\"\""]
    );
    assert_eq!(
        c.get_json(&format!("{}/default", p("ipamconfigs")))["spec"],
        json!({"strictAffinity": false, "autoAllocateBlocks": true})
    );
}

#[test]
fn pruned_as_expected() {
    let (_s, c) = all_crds();
    // KubeControllersConfiguration status on create
    let mut kcc = cr(
        "KubeControllersConfiguration",
        "default",
        json!({"controllers": {}}),
    );
    kcc["status"] = json!({"environmentVars": {"A": "B"}, "runningConfig": {"controllers": {}}});
    let v = c.create(&p("kubecontrollersconfigurations"), &kcc);
    assert!(v.get("status").is_none());

    // IPAMBlock attributes[].releasedAt
    let mut spec = block_spec("10.65.79.0/26");
    spec["attributes"][0]["releasedAt"] = json!("2026-08-01T12:00:00Z");
    let r = c.post(&p("ipamblocks"), &cr("IPAMBlock", "10-65-79-0-26", spec));
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    assert!(v["spec"]["attributes"][0].get("releasedAt").is_none());
    assert_eq!(
        r.all_headers("warning"),
        vec!["299 - \"unknown field \\\"spec.attributes[0].releasedAt\\\"\""]
    );

    // explicit nulls of raw v3.28 IPAM JSON: affinity, handle_id, secondary
    let mut spec = block_spec("10.65.79.64/26");
    spec["affinity"] = Value::Null;
    spec["attributes"][0]["handle_id"] = Value::Null;
    spec["attributes"][0]["secondary"] = Value::Null;
    let r = c.post(&p("ipamblocks"), &cr("IPAMBlock", "10-65-79-64-26", spec));
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    assert!(!v["spec"].as_object().unwrap().contains_key("affinity"));
    assert_eq!(v["spec"]["attributes"][0], json!({}));
    assert!(r.all_headers("warning").is_empty());
    // ... while the nullable allocations keep their nulls
    assert!(v["spec"]["allocations"][1].is_null());
    assert_eq!(v["spec"]["allocations"].as_array().unwrap().len(), 64);
}

#[test]
fn the_server_adds_schema_defaults() {
    let (_s, c) = all_crds();
    let mut spec = pool_spec();
    spec.as_object_mut().unwrap().remove("assignmentMode");
    let v = c.create(&p("ippools"), &cr("IPPool", "pool", spec));
    assert_eq!(v["spec"]["assignmentMode"], "Automatic");
    let v = c.create(
        &p("felixconfigurations"),
        &cr("FelixConfiguration", "default", json!({})),
    );
    assert_eq!(v["spec"], json!({"nftablesMode": "Auto"}));
    let v = c.create(&p("tiers"), &cr("Tier", "t", json!({"order": 5})));
    assert_eq!(v["spec"]["defaultAction"], "Deny");
    let mut spec = block_spec("10.65.80.0/26");
    spec.as_object_mut().unwrap().remove("sequenceNumber");
    let v = c.create(&p("ipamblocks"), &cr("IPAMBlock", "10-65-80-0-26", spec));
    assert_eq!(v["spec"]["sequenceNumber"], 0);
    let v = c.create(
        &p("kubecontrollersconfigurations"),
        &cr(
            "KubeControllersConfiguration",
            "default",
            json!({"controllers": {"loadBalancer": {}}}),
        ),
    );
    assert_eq!(v["spec"]["healthChecks"], "Enabled");
    assert_eq!(
        v["spec"]["controllers"]["loadBalancer"]["assignIPs"],
        "AllServices"
    );
    assert!(v["spec"]["controllers"].get("policyMigration").is_none());
}

#[test]
fn upper_case_iptables_actions_and_a_big_mark_mask_are_accepted() {
    let (_s, c) = all_crds();
    accepted_felix(
        &c,
        "default",
        json!({
            "defaultEndpointToHostAction": "ACCEPT",
            "iptablesFilterAllowAction": "RETURN",
            "iptablesMangleAllowAction": "Accept",
            "iptablesMarkMask": 4294901760u64,
            "nftablesMode": "Auto"
        }),
    );
    let st = post_felix(
        &c,
        "node.x",
        json!({"defaultEndpointToHostAction": "ALLOW"}),
    )
    .status_of(422, "Invalid");
    assert!(causes(&st)[0].contains("should match '^(?i)(Drop|Accept|Return)?$'"));
}

#[test]
fn cel_rules_are_not_evaluated() {
    let (_s, c) = all_crds();
    // a HostEndpoint without node, IPIP on an IPv6 pool: rejected by CEL on newer servers
    c.create(
        &p("hostendpoints"),
        &cr("HostEndpoint", "no-node", json!({"interfaceName": "eth0"})),
    );
    c.create(
        &p("ippools"),
        &cr(
            "IPPool",
            "v6",
            json!({"cidr": "fd00:10::/64", "ipipMode": "Always", "assignmentMode": "Automatic"}),
        ),
    );
}

#[test]
fn deleting_the_calico_crds_removes_all_data() {
    let (_s, c) = all_crds();
    c.create(&p("ippools"), &cr("IPPool", "pool", pool_spec()));
    c.create(
        &np("default", "networksets"),
        &cr("NetworkSet", "ns1", json!({})),
    );
    let crds = c.get_json(CRDS);
    for crd in crds["items"].as_array().unwrap() {
        let name = crd["metadata"]["name"].as_str().unwrap();
        assert_eq!(c.delete(&format!("{CRDS}/{name}")).status, 200);
    }
    wait_until("the CRDs to go", || c.get_json(CRDS)["items"] == json!([]));
    c.get(&p("ippools")).status_of(404, "NotFound");
    install_calico(&c, &["ippools", "networksets"]);
    assert_eq!(c.get_json(&p("ippools"))["items"], json!([]));
    assert_eq!(c.get_json(&p("networksets"))["items"], json!([]));
}
