//! Calico's real CRDs (the embedded manifests of every release) through the schema engine the
//! plugin shares with the local API server: what the server would prune, default and refuse
//! for Calico's objects, and that the objects import writes from calicoctl exports pass.

use serde_json::json;

use std::collections::BTreeMap;

use calico_migrate::convert::crds::newest_schema;
use calico_migrate::convert::schema::{RewriteReason, Schema};
use calico_migrate::kinds::CrdApi;
use serde_json::Value;

/// The schema of the newest release's `crd.projectcalico.org/v1` CRD of a plural.
fn crd_schema(plural: &str) -> Schema {
    newest_schema(CrdApi::V1, plural)
}

#[test]
fn every_pattern_of_the_newest_crds_compiles() {
    let mut checked = 0;
    for kind in calico_migrate::kinds::CalicoKind::with_crd() {
        let plural = kind.plural;
        let schema = crd_schema(plural);
        assert_eq!(
            schema.pattern_errors(),
            Vec::<(String, String)>::new(),
            "{plural}"
        );
        checked += schema.pattern_count();
    }
    assert!(checked > 10);
}

#[test]
fn unknown_fields_are_pruned_with_their_paths() {
    let schema = crd_schema("ipamblocks");
    let block = json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPAMBlock",
        "metadata": {"name": "10-0-0-0-30", "anything": 1},
        "spec": {"cidr": "10.0.0.0/30", "allocations": [0, null], "unallocated": [1],
                 "attributes": [{"handle_id": "h", "secondary": {"node": "n"}},
                                {"handle_id": "g", "releasedAt": "2026-01-01T00:00:00Z"}],
                 "deleted": false, "strictAffinity": false, "futureField": {"x": 1}},
        "status": {"x": 1}});
    let applied = schema.apply(&block);
    assert_eq!(
        applied.pruned,
        [
            "spec.attributes[1].releasedAt",
            "spec.futureField",
            "status"
        ]
    );
    assert_eq!(
        applied.object["metadata"], block["metadata"],
        "metadata untouched"
    );
    assert_eq!(
        applied.object["spec"]["attributes"][1],
        json!({"handle_id": "g"})
    );
    assert_eq!(
        applied.object["spec"]["allocations"],
        json!([0, null]),
        "nullable items kept"
    );
    assert_eq!(
        applied.object["spec"]["sequenceNumber"], 0,
        "default applied"
    );
}

#[test]
fn ipam_config_ip_cooldown_seconds_is_pruned_by_the_3_32_1_crd() {
    let schema = crd_schema("ipamconfigs");
    let config = json!({"spec": {"strictAffinity": false, "autoAllocateBlocks": true, "ipCooldownSeconds": 30}});
    assert_eq!(schema.apply(&config).pruned, ["spec.ipCooldownSeconds"]);
}

#[test]
fn explicit_nulls_of_non_nullable_fields_are_pruned() {
    let schema = crd_schema("ipamblocks");
    let block = json!({"spec": {"cidr": "10.0.0.0/30", "affinity": null, "allocations": [null, 0],
        "unallocated": [], "attributes": [{"handle_id": null, "secondary": null}], "sequenceNumber": null,
        "sequenceNumberForAllocation": null, "deleted": false, "strictAffinity": false}});
    let applied = schema.apply(&block);
    assert_eq!(
        applied.pruned_nulls,
        [
            "spec.affinity",
            "spec.sequenceNumberForAllocation",
            "spec.attributes[0].handle_id",
            "spec.attributes[0].secondary"
        ]
    );
    assert!(applied.pruned.is_empty());
    assert_eq!(
        applied.object["spec"]["sequenceNumber"], 0,
        "a null with a default gets the default"
    );
    assert_eq!(applied.object["spec"]["attributes"], json!([{}]));
    assert_eq!(applied.object["spec"]["allocations"], json!([null, 0]));
    // Map values (additionalProperties) too.
    let handle = crd_schema("ipamhandles").apply(
        &json!({"spec": {"handleID": "h", "block": {"10.0.0.0/30": null, "10.0.0.4/30": 1}}}),
    );
    assert_eq!(handle.pruned_nulls, [r#"spec.block["10.0.0.0/30"]"#]);
    assert_eq!(handle.object["spec"]["block"], json!({"10.0.0.4/30": 1}));
}

#[test]
fn defaults_are_applied_to_absent_fields_also_nested() {
    let pool = crd_schema("ippools").apply(&json!({"spec": {"cidr": "10.0.0.0/16"}}));
    assert_eq!(pool.object["spec"]["assignmentMode"], "Automatic");
    let felix = crd_schema("felixconfigurations").apply(&json!({"spec": {}}));
    assert_eq!(felix.object["spec"]["nftablesMode"], "Auto");
    let kcc = crd_schema("kubecontrollersconfigurations")
        .apply(&json!({"spec": {"controllers": {"loadBalancer": {}, "policyMigration": {}}}}));
    assert_eq!(
        kcc.object["spec"]["controllers"]["loadBalancer"]["assignIPs"],
        "AllServices"
    );
    assert_eq!(
        kcc.object["spec"]["controllers"]["policyMigration"]["enabled"],
        "Enabled"
    );
    assert_eq!(kcc.object["spec"]["healthChecks"], "Enabled");
    // Absent parents get no nested defaults.
    assert!(kcc.object["spec"]["controllers"].get("node").is_none());
}

#[test]
fn status_of_a_kind_with_a_status_subresource_is_dropped() {
    let schema = crd_schema("kubecontrollersconfigurations");
    assert!(schema.status_subresource());
    let applied = schema.apply(&json!({"spec": {}, "status": {"environmentVars": {"a": "b"}}}));
    assert!(applied.object.get("status").is_none());
    assert_eq!(applied.pruned, ["status"]);
    assert!(!crd_schema("ippools").status_subresource());
}

#[test]
fn int_or_string_and_preserved_fields_are_kept() {
    let gnp = crd_schema("globalnetworkpolicies");
    let policy = json!({"spec": {"ingress": [{"action": "Allow", "destination": {"ports": [80, "http", "8000:8080"]}}]}});
    let applied = gnp.apply(&policy);
    assert!(applied.pruned.is_empty(), "{:?}", applied.pruned);
    assert_eq!(
        applied.object["spec"]["ingress"][0]["destination"]["ports"],
        json!([80, "http", "8000:8080"])
    );
    let schema = Schema::new(
        json!({"type": "object", "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
            "properties": {"inner": {"type": "object", "properties": {"a": {"type": "string"}}}}}}}),
        false,
    );
    let applied = schema.apply(&json!({"spec": {"free": {"x": 1}, "inner": {"a": "x", "b": 2}}}));
    assert_eq!(applied.object["spec"]["free"], json!({"x": 1}));
    assert_eq!(applied.pruned, ["spec.inner.b"]);
}

#[test]
fn fractional_durations_are_rewritten_to_whole_units() {
    let schema = crd_schema("felixconfigurations");
    let mut felix = json!({"spec": {"iptablesRefreshInterval": "1.5s", "routeRefreshInterval": "1m30.5s",
        "reportingInterval": "0.5m", "ipsetsRefreshInterval": "90s", "netlinkTimeout": "1.5h",
        "interfaceRefreshInterval": "0.0005s", "xdpRefreshInterval": "0"}});
    let rewrites = schema.repair(&mut felix);
    let summary: Vec<(String, Option<String>)> = rewrites
        .iter()
        .map(|r| (r.path.clone(), r.to.clone()))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "spec.iptablesRefreshInterval".to_string(),
                Some("1500ms".to_string())
            ),
            (
                "spec.routeRefreshInterval".to_string(),
                Some("90500ms".to_string())
            ),
            (
                "spec.reportingInterval".to_string(),
                Some("30s".to_string())
            ),
            ("spec.netlinkTimeout".to_string(), Some("90m".to_string())),
            ("spec.interfaceRefreshInterval".to_string(), None),
            (
                "spec.xdpRefreshInterval".to_string(),
                Some("0h".to_string())
            ),
        ]
    );
    assert_eq!(felix["spec"]["iptablesRefreshInterval"], "1500ms");
    assert_eq!(
        felix["spec"]["ipsetsRefreshInterval"], "90s",
        "values that pass are left alone"
    );
    assert_eq!(
        felix["spec"]["interfaceRefreshInterval"], "0.0005s",
        "no whole unit: left and reported"
    );
    assert!(rewrites[4].to_string().contains("fails the CRD's pattern"));
    // Fields whose pattern accepts fractions are left alone.
    let mut ok = json!({"spec": {"bpfConntrackTimeouts": {"tcpFinsSeen": "1.5s", "udpTimeout": "Auto"},
        "liveMigrationRouteConvergenceTime": "1.5s"}});
    let before = ok.clone();
    assert_eq!(schema.repair(&mut ok), []);
    assert_eq!(ok, before);
}

#[test]
fn repeats_in_sets_are_dropped_and_reported() {
    let schema = crd_schema("globalnetworksets");
    let mut set =
        json!({"spec": {"nets": ["10.0.0.0/8", "192.168.0.0/16", "10.0.0.0/8", "10.0.0.0/8"]}});
    let repairs = schema.repair(&mut set);
    assert_eq!(set["spec"]["nets"], json!(["10.0.0.0/8", "192.168.0.0/16"]));
    assert_eq!(repairs.len(), 1);
    assert_eq!(repairs[0].why, RewriteReason::DuplicateSetItems);
    assert_eq!(
        repairs[0].to_string(),
        "spec.nets: dropped repeated \"10.0.0.0/8\" (the list is a set)"
    );
    assert!(
        schema.validate(&set).is_empty(),
        "the repaired object passes"
    );
}

#[test]
fn a_repeated_net_of_a_global_network_set_is_a_duplicate() {
    // A GlobalNetworkSet copied from etcd with a repeated net.
    let set =
        crd_schema("globalnetworksets").validate(&json!({"apiVersion": "crd.projectcalico.org/v1",
        "kind": "GlobalNetworkSet", "metadata": {"name": "feed"},
        "spec": {"nets": ["198.51.100.0/24", "203.0.113.7/32", "198.51.100.0/24"]}}));
    assert_eq!(
        set.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(),
        ["spec.nets[2]"]
    );
}

fn ipam_block(spec: Value) -> Value {
    json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPAMBlock",
        "metadata": {"name": "10-0-0-0-30"}, "spec": spec})
}

#[test]
fn the_rejections_kube_apiserver_made_happen_with_the_real_crds() {
    // IPAMBlock without strictAffinity.
    let blocks = crd_schema("ipamblocks");
    let spec = json!({"cidr": "10.0.0.0/30", "allocations": [0, null], "unallocated": [1],
        "attributes": [{"handle_id": "h"}], "deleted": false});
    assert_eq!(
        blocks.causes(&ipam_block(spec.clone())),
        ["spec.strictAffinity: Required value"]
    );
    let mut complete = spec;
    complete["strictAffinity"] = json!(false);
    assert!(blocks.causes(&ipam_block(complete)).is_empty());

    // BlockAffinity with deleted as a boolean.
    let affinities = crd_schema("blockaffinities");
    let affinity = |deleted: Value| {
        json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "BlockAffinity",
            "metadata": {"name": "node-1-10-0-0-0-30"},
            "spec": {"state": "confirmed", "node": "node-1", "type": "host", "cidr": "10.0.0.0/30", "deleted": deleted}})
    };
    assert!(affinities.causes(&affinity(json!("false"))).is_empty());
    assert_eq!(
        affinities.causes(&affinity(json!(false))),
        [
            "spec.deleted: Invalid value: \"boolean\": spec.deleted in body must be of type string: \"boolean\""
        ]
    );

    // FelixConfiguration: 1.5s fails the doubly escaped pattern, 1500ms passes.
    let felix = crd_schema("felixconfigurations");
    let config = |interval: &str| {
        json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "FelixConfiguration",
            "metadata": {"name": "default"}, "spec": {"iptablesRefreshInterval": interval}})
    };
    assert_eq!(
        felix.causes(&config("1.5s")),
        [
            r#"spec.iptablesRefreshInterval: Invalid value: "1.5s": spec.iptablesRefreshInterval in body should match '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))*$'"#
        ]
    );
    assert!(felix.causes(&config("1500ms")).is_empty());
    let mut rewritten = config("1.5s");
    felix.repair(&mut rewritten);
    assert!(felix.causes(&rewritten).is_empty());

    // HostEndpoint: a port range is no port.
    let hep = json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "HostEndpoint",
        "metadata": {"name": "node-1-eth0"},
        "spec": {"node": "node-1", "interfaceName": "eth0",
            "ports": [{"name": "ssh", "port": 22, "protocol": "TCP"},
                      {"name": "ftp", "port": "20:21", "protocol": "TCP"}]}});
    let errors = crd_schema("hostendpoints").validate(&hep);
    let errors: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| (e.path.as_str(), e.message.as_str()))
        .collect();
    assert_eq!(
        errors,
        [(
            "spec.ports[1].port",
            r#"spec.ports[1].port: Invalid value: "string": spec.ports[1].port in body must be of type integer: "string""#,
        )]
    );
    // IPPool: a CIDR that is none, a block size out of range.
    let pool = json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
        "metadata": {"name": "p"}, "spec": {"cidr": "10.0.0.0/33", "blockSize": 200}});
    assert_eq!(
        crd_schema("ippools").causes(&pool),
        [
            r#"spec.cidr: Invalid value: "10.0.0.0/33": spec.cidr in body must be of type cidr: "10.0.0.0/33""#,
            "spec.blockSize: Invalid value: 200: spec.blockSize in body should be less than or equal to 128",
        ]
    );
}

/// Every object of a calicoctl export fixture, converted as import converts it.
fn fixture_objects(name: &str) -> Vec<(&'static str, Value)> {
    use calico_migrate::convert::kdd::{
        Desired, TargetRelease, cluster_information_fields, ipam_to_kdd, to_kdd,
    };
    use calico_migrate::convert::version::CalicoVersion;
    let path = format!(
        "{}/tests/fixtures/handmade/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let file =
        calico_migrate::format::export_reader::read_to_end(std::path::Path::new(&path)).unwrap();
    let target = TargetRelease::new(
        cluster_information_fields(&file.cluster_information)
            .1
            .and_then(|v| CalicoVersion::parse(&v)),
        "2026-08-01T12:00:00Z".into(),
    );
    let mut out = Vec::new();
    for (_, items) in &file.lists {
        for item in items {
            match to_kdd(item, &target).unwrap() {
                Desired::Resource { kind, object } => out.push((kind.plural, object)),
                Desired::NodeAnnotations { .. } => {}
            }
        }
    }
    for entry in &file.ipam {
        // Virtual (LoadBalancer) affinities are not imported.
        if let Ok(object) = ipam_to_kdd(entry, &target) {
            out.push((entry.kind.calico_kind().plural, object));
        }
    }
    out
}

#[test]
fn every_object_of_the_calicoctl_fixtures_passes_the_real_crds() {
    let mut schemas: BTreeMap<&str, Schema> = BTreeMap::new();
    for fixture in ["calicoctl-v3.28-export.txt", "calicoctl-v3.32-export.txt"] {
        let objects = fixture_objects(fixture);
        assert!(objects.len() > 25, "{fixture}: {}", objects.len());
        for (plural, mut object) in objects {
            let schema = schemas.entry(plural).or_insert_with(|| crd_schema(plural));
            schema.repair(&mut object);
            assert_eq!(
                schema.causes(&object),
                Vec::<String>::new(),
                "{fixture}: {plural} {}",
                object["metadata"]["name"]
            );
        }
    }
    assert!(schemas.len() >= 18, "{:?}", schemas.keys());
}

#[test]
fn cel_rules_refuse_what_the_server_would_in_its_words() {
    use calico_migrate::kinds::CrdApi;
    let messages = |plural: &str, object: Value| -> Vec<String> {
        newest_schema(CrdApi::V3, plural)
            .validate(&object)
            .into_iter()
            .map(|e| e.message)
            .collect()
    };
    let hep = json!({"apiVersion": "projectcalico.org/v3", "kind": "HostEndpoint",
        "metadata": {"name": "h"}, "spec": {"interfaceName": "eth0"}});
    assert_eq!(
        messages("hostendpoints", hep),
        [r#"spec: Invalid value: "object": node must be specified"#]
    );
    let pool = json!({"apiVersion": "projectcalico.org/v3", "kind": "IPPool",
        "metadata": {"name": "v6"}, "spec": {"cidr": "fd00::/64", "ipipMode": "Always"}});
    assert_eq!(
        messages("ippools", pool),
        ["spec: Forbidden: IPIP is not supported on IPv6 pools"]
    );
    // Rules on list items name the item; a root rule has no field.
    let gnp = json!({"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy",
        "metadata": {"name": "p"}, "spec": {"ingress": [{"action": "Allow"}, {"action": "Deny", "http": {"methods": ["GET"]}}]}});
    assert_eq!(
        messages("globalnetworkpolicies", gnp),
        ["spec.ingress[1]: Forbidden: HTTP match is only valid on Allow rules"]
    );
    let tier = json!({"apiVersion": "projectcalico.org/v3", "kind": "Tier",
        "metadata": {"name": "kube-admin"}, "spec": {"defaultAction": "Deny", "order": 1000}});
    assert_eq!(
        messages("tiers", tier),
        [
            r#"<nil>: Invalid value: "object": The 'kube-admin' tier must have default action 'Pass'"#
        ]
    );
    // Transition rules (immutable CIDR) do not apply to a create; objects with schema
    // errors are not given to the rules, as on the server.
    let bad = json!({"apiVersion": "projectcalico.org/v3", "kind": "HostEndpoint",
        "metadata": {"name": "h"}, "spec": {"interfaceName": 7}});
    let messages = newest_schema(CrdApi::V3, "hostendpoints").validate(&bad);
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(messages[0].message.contains("must be of type string"));
}
