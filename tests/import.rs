//! import: into the local API server (or a real cluster), then verify; resumable after a
//! failure or an interruption; conflicts and --overwrite; invalid files change nothing. Every
//! case runs for both API groups: `crd.projectcalico.org/v1` and Calico's native
//! `projectcalico.org/v3` CRDs.

mod common;

use calico_migrate::kinds::CrdApi;
use common::{
    Env, Exported, api_flag, assert_contains, create_calico, failed_saying, field_strings,
    get_calico, install_calico_crds, json_output, kind_row, kinds_sum, list_calico, stderr, stdout,
    strings, succeeded,
};
use serde_json::{Value, json};
use testbed::datasets::{self, Release};
use testbed::{EtcdMode, calico};

fn assert_verified(exported: &Exported, api: CrdApi) {
    let report = exported.assert_verified_with(&api_flag(api));
    assert_eq!(report["crdApi"]["api"], api.version());
}

/// `verify -o json --crd-api API`.
fn verify_in(exported: &Exported, api: CrdApi) -> std::process::Output {
    let [flag, version] = api_flag(api);
    exported.verify(&["-o", "json", flag, version])
}

/// `import -f FILE -o json --crd-api API` with more arguments.
fn import_into(exported: &Exported, api: CrdApi, args: &[&str]) -> std::process::Output {
    let mut all = vec!["-o", "json"];
    all.extend(api_flag(api));
    all.extend_from_slice(args);
    exported.import(&all)
}

common::for_each_api! {
    the_sandbox_imports_and_verifies => the_sandbox_imports_and_verifies_into,
    fields_the_target_schema_does_not_know_are_reported_not_lost_silently => fields_the_target_schema_does_not_know_are_reported_in,
    missing_kubernetes_nodes_are_reported_by_name => missing_kubernetes_nodes_are_reported_by_name_in,
    conflicts_stop_the_import_and_overwrite_replaces_them => conflicts_stop_the_import_and_overwrite_replaces_them_in,
    a_failure_halfway_leaves_a_partial_import_that_a_second_run_completes => a_failure_halfway_leaves_a_partial_import_in,
    transient_errors_are_retried_honouring_retry_after => transient_errors_are_retried_in,
    an_interrupted_import_is_finished_by_running_it_again => an_interrupted_import_is_finished_in,
    invalid_files_are_rejected_with_the_cluster_untouched => invalid_files_are_rejected_in,
    files_in_calicoctl_format_import_and_verify => files_in_calicoctl_format_import_and_verify_in,
    an_unlocked_kubernetes_datastore_is_not_written => an_unlocked_kubernetes_datastore_is_not_written_in,
    objects_the_crd_schemas_reject_are_all_reported_before_anything_changes => objects_the_crd_schemas_reject_are_reported_in,
    objects_are_checked_against_the_crds_the_cluster_already_has => objects_are_checked_against_the_installed_crds_in,
}

fn the_sandbox_imports_and_verifies_into(api: CrdApi) {
    let exported = Exported::new(&calico::sandbox_cluster(), &[]);
    let report = succeeded(&import_into(&exported, api, &[]));
    assert_eq!(report["completed"], true);
    assert_eq!(report["crdApi"]["api"], api.version());
    assert_contains(&report["crdApi"]["reason"].to_string(), "--crd-api");
    let v1 = api == CrdApi::V1;
    // v1: the CRDs of the sandbox's release, v3.28.0 (no tiers, no staged policies). Native v3
    // CRDs came with v3.32: the objects are written as its newest release writes them.
    let crds = report["crdsCreated"].as_array().unwrap();
    assert_eq!(crds.len(), if v1 { 18 } else { 22 }, "{api}");
    assert!(
        crds.iter()
            .all(|c| c.as_str().unwrap().ends_with(&format!(".{}", api.group()))),
        "{crds:?}"
    );
    if !v1 {
        assert_eq!(report["targetCalicoVersion"], "v3.32.1");
        assert_contains(
            &report["warnings"].to_string(),
            "which has no native projectcalico.org/v3 CRDs",
        );
    }
    assert_eq!(kind_row(&report, "IPPool")["created"], 1);
    assert_eq!(kind_row(&report, "Node")["created"], 3);
    assert_eq!(kind_row(&report, "IPAMHandle")["created"], 5);
    let kube = &exported.env.install.kube;

    // v1 CRs carry the v3 metadata in an annotation; native v3 objects are the v3 objects.
    let pool = get_calico(kube, api, "ippools", None, "default-ipv4-ippool").expect("IPPool");
    assert_eq!(pool["apiVersion"], api.api_version());
    assert_eq!(pool["spec"]["cidr"], "192.168.0.0/16");
    let annotation = &pool["metadata"]["annotations"]["projectcalico.org/metadata"];
    if v1 {
        let metadata: Value = serde_json::from_str(annotation.as_str().unwrap()).unwrap();
        assert!(metadata["creationTimestamp"].is_string());
    } else {
        assert!(annotation.is_null(), "{pool:#}");
    }
    // A v3.28 target keeps the default. prefix in policy object names; v3.32 (every native v3
    // target) uses the v3 name.
    let prefix = if v1 { "default." } else { "" };
    let gnp = get_calico(
        kube,
        api,
        "globalnetworkpolicies",
        None,
        &format!("{prefix}allow-cluster-dns"),
    )
    .expect("GNP");
    assert_eq!(
        gnp["metadata"]["labels"]["projectcalico.org/tier"],
        "default"
    );
    let np = get_calico(
        kube,
        api,
        "networkpolicies",
        Some(&exported.env.ns("shop")),
        &format!("{prefix}allow-frontend"),
    )
    .expect("NP");
    assert_eq!(np["spec"]["order"], 200);
    // Calico Nodes become annotations on Kubernetes Nodes, whatever the group.
    let annotations = kube.node_annotations("worker-1").unwrap();
    assert_eq!(annotations["projectcalico.org/IPv4Address"], "10.0.0.11/24");
    assert_eq!(
        annotations["projectcalico.org/IPv4IPIPTunnelAddr"],
        "192.168.33.0"
    );
    // IPAM.
    let block = get_calico(kube, api, "ipamblocks", None, "192-168-33-0-26").expect("block");
    assert_eq!(block["spec"]["affinity"], "host:worker-1");
    assert_eq!(block["spec"]["strictAffinity"], false);
    let affinity = get_calico(
        kube,
        api,
        "blockaffinities",
        None,
        "worker-1-192-168-33-0-26",
    )
    .expect("affinity");
    // A string in the v1 CRD, a boolean in the v3 one.
    assert_eq!(
        affinity["spec"]["deleted"],
        if v1 { json!("false") } else { json!(false) }
    );
    assert_eq!(affinity["spec"]["node"], "worker-1");
    let handle =
        get_calico(kube, api, "ipamhandles", None, "ipip-tunnel-addr-worker-1").expect("handle");
    assert_eq!(handle["spec"]["handleID"], "ipip-tunnel-addr-worker-1");
    let config = get_calico(kube, api, "ipamconfigs", None, "default").expect("IPAM config");
    assert_eq!(
        config["kind"],
        if v1 {
            "IPAMConfig"
        } else {
            "IPAMConfiguration"
        }
    );
    assert_eq!(config["spec"]["autoAllocateBlocks"], true);
    // ClusterInformation: locked, with the source's GUID and version.
    let info = get_calico(kube, api, "clusterinformations", None, "default").unwrap();
    assert_eq!(info["spec"]["datastoreReady"], false);
    assert_eq!(
        info["spec"]["clusterGUID"],
        "6f0c5e8e3a0b4a53b1f7d2f0d6c1a9e4"
    );
    assert_eq!(info["spec"]["calicoVersion"], "v3.28.0");
    // Nothing went to the other group.
    let other = CrdApi::ALL.into_iter().find(|a| *a != api).unwrap();
    assert!(get_calico(kube, other, "ippools", None, "default-ipv4-ippool").is_none());

    assert_verified(&exported, api);

    // Running it again changes nothing and succeeds; with --crd-api left to auto, the
    // cluster's one Calico group is found as Calico finds it.
    let again = succeeded(&exported.import(&["-o", "json"]));
    assert_eq!(again["crdApi"]["api"], api.version());
    for kind in again["kinds"].as_array().unwrap() {
        assert_eq!(kind["created"], 0, "{kind}");
        assert_eq!(kind["unchanged"], kind["total"], "{kind}");
    }
    assert!(
        again["crdsCreated"].as_array().unwrap().is_empty(),
        "existing CRDs are kept"
    );
}

#[test]
fn upstream_system_test_dataset_merges_node5_into_node4_in_one_pass() {
    // node5's orchRef names node4 (confirmed at export): the file has two Node node4 entries.
    // calicoctl's import applies both, the later winning; so does this import, in one pass,
    // and says so.
    for (api, form) in [
        (CrdApi::V1, &["--node-map", "node5=node4"][..]),
        (CrdApi::V1, &["--node-map", "node5=node4", "--full"]),
        (CrdApi::V3, &["--node-map", "node5=node4", "--full"]),
    ] {
        let dataset = datasets::upstream_st();
        let env = Env::locked(&dataset);
        let (file, _, _dir) = env.export_to_file(form);
        let output = env
            .plugin()
            .args(["import", "-o", "json", "-f"])
            .arg(&file)
            .args(api_flag(api))
            .output()
            .unwrap();
        let report = succeeded(&output);
        assert_eq!(report["completed"], true);
        let merged = field_strings(&report["merged"], "object");
        assert_eq!(merged, ["Node node4"]);
        assert_eq!(kind_row(&report, "Node")["total"], 1);
        assert_eq!(kind_row(&report, "Node")["conflicts"], 0);
        assert_contains(
            &stderr(&output),
            "Node node4: 2 entries in the file; the last one was taken",
        );
        // node4 holds the later entry's (node5's) data.
        let export = calico_migrate::format::export_reader::read_to_end(&file).unwrap();
        let last_node4 = export
            .lists
            .iter()
            .find(|(kind, _)| kind == "NodeList")
            .unwrap()
            .1
            .iter()
            .rfind(|n| n["metadata"]["name"] == "node4")
            .unwrap()
            .clone();
        let target = calico_migrate::convert::kdd::TargetRelease::new(
            calico_migrate::convert::version::CalicoVersion::parse("v3.29.3"),
            String::new(),
        );
        let calico_migrate::convert::kdd::Desired::NodeAnnotations { set, .. } =
            calico_migrate::convert::kdd::to_kdd(&last_node4, &target).unwrap()
        else {
            panic!("a Node")
        };
        let annotations = env.install.kube.node_annotations("node4").unwrap();
        for (key, value) in &set {
            assert_eq!(annotations.get(key), Some(value), "{key}");
        }
        // verify applies the same rule.
        let verify = env
            .plugin()
            .args(["verify", "--node-map", "node5=node4", "-o", "json"])
            .args(api_flag(api))
            .output()
            .unwrap();
        let report = json_output(&verify);
        assert_eq!(verify.status.code(), Some(0), "{report:#}");
        assert!(!report["merged"].as_array().unwrap().is_empty());
        // A v3.29 target keeps the default. prefix in the CR name; native v3 (v3.32) names
        // the object by its v3 name, which v3.29's client read from etcd as the stored name.
        let policy = get_calico(
            &env.install.kube,
            api,
            "networkpolicies",
            Some(&env.ns("test")),
            "default.policy-mypolicy3",
        )
        .unwrap_or_else(|| panic!("{api}"));
        let in_annotation = policy["metadata"]["annotations"]["projectcalico.org/metadata"]
            .as_str()
            .map(|m| serde_json::from_str::<Value>(m).unwrap()["name"].clone());
        match api {
            CrdApi::V1 => assert!(in_annotation.is_some(), "{policy:#}"),
            CrdApi::V3 => assert!(in_annotation.is_none(), "{policy:#}"),
        }
    }
}

#[test]
fn fqdn_nodes_and_dual_stack_ipam_verify_clean() {
    for api in CrdApi::ALL {
        for dataset in [datasets::fqdn_nodes(), datasets::dual_stack_ipam()] {
            let exported = Exported::new(&dataset, &[]);
            let report = succeeded(&import_into(&exported, api, &[]));
            assert_eq!(report["completed"], true, "{report:#}");
            assert_verified(&exported, api);
        }
    }
}

fn fields_the_target_schema_does_not_know_are_reported_in(api: CrdApi) {
    // HEAD data carries IPAMConfig ipCooldownSeconds and attributes[].releasedAt, which the
    // v3.32.1 CRDs (v1 and native v3) do not know.
    let exported = Exported::new(&datasets::dual_stack_ipam(), &[]);
    let output = import_into(&exported, api, &[]);
    let report = succeeded(&output);
    let dropped: Vec<&str> = report["droppedFields"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert!(
        dropped
            .iter()
            .any(|f| f.starts_with("IPAMConfig spec.ipCooldownSeconds")),
        "{dropped:?}"
    );
    assert!(
        dropped
            .iter()
            .any(|f| f.starts_with("IPAMBlock spec.attributes") && f.ends_with("releasedAt")),
        "{dropped:?}"
    );
    assert_contains(
        &stderr(&output),
        "the target's CRD schema does not know this field",
    );
    let verify = json_output(&verify_in(&exported, api));
    assert_eq!(verify["equal"], true);
    assert!(
        verify["droppedBySchema"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.contains("ipCooldownSeconds"))
    );
}

#[test]
fn policies_tiers_and_fractional_durations() {
    for api in CrdApi::ALL {
        for release in [Release::V3_28, Release::V3_30, Release::V3_32] {
            let exported = Exported::new(&datasets::policies_and_tiers(release), &[]);
            let output = import_into(&exported, api, &[]);
            let report = succeeded(&output);
            let rewritten = strings(&report["rewritten"]);
            assert!(
                rewritten
                    .iter()
                    .any(|r| r.contains("1.5s") && r.contains("1500ms")),
                "{api} {release:?}: {rewritten:?}"
            );
            assert_verified(&exported, api);
        }
    }
    let names = |exported: &Exported, api| -> Vec<String> {
        list_calico(&exported.env.install.kube, api, "globalnetworkpolicies")
            .iter()
            .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    {
        // The v3.30 naming: default-tier names without a dot get the default. prefix.
        let exported = Exported::new(&datasets::policies_and_tiers(Release::V3_30), &[]);
        succeeded(&exported.import(&["-o", "json"]));
        let names = names(&exported, CrdApi::V1);
        assert!(names.iter().all(|n| n.contains('.')), "{names:?}");
    }
    // --calico-version decides the naming: v3.32 uses the v3 names, in either group.
    for api in CrdApi::ALL {
        let exported = Exported::new(&datasets::policies_and_tiers(Release::V3_30), &[]);
        succeeded(&import_into(
            &exported,
            api,
            &["--calico-version", "v3.32.1"],
        ));
        let names = names(&exported, api);
        assert!(
            names.iter().any(|n| !n.starts_with("default.")),
            "{names:?}"
        );
        let mut args = vec!["--calico-version", "v3.32.1"];
        args.extend(api_flag(api));
        let verify = exported.verify(&args);
        assert!(verify.status.success(), "{}", stdout(&verify));
    }
    // Native v3 CRDs need a release that has them.
    let exported = Exported::new(&datasets::policies_and_tiers(Release::V3_30), &[]);
    let output = import_into(&exported, CrdApi::V3, &["--calico-version", "v3.30.0"]);
    assert_eq!(output.status.code(), Some(2));
    assert_contains(
        &stderr(&output),
        "Calico v3.30.0 cannot run on native projectcalico.org/v3 CRDs",
    );
}

#[test]
fn a_file_without_ipam_is_fine() {
    for api in CrdApi::ALL {
        let exported = Exported::new(&datasets::no_ipam(), &[]);
        let report = succeeded(&import_into(&exported, api, &[]));
        assert_eq!(report["completed"], true);
        assert!(
            !report["kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"] == "IPAMBlock")
        );
        assert_verified(&exported, api);
    }
}

fn missing_kubernetes_nodes_are_reported_by_name_in(api: CrdApi) {
    let exported = Exported::new(
        &datasets::unmapped_nodes(),
        &[
            "--node-map",
            "standalone-gw=",
            "--node-map",
            "legacy-1=legacy-1",
            "--node-map",
            "ip-10-0-3-17.ec2.internal=ip-10-0-3-17",
        ],
    );
    let output = import_into(&exported, api, &["--overwrite"]);
    let report = succeeded(&output);
    let missing = strings(&report["nodesNotFound"]);
    assert!(missing.contains(&"worker-gone"), "{missing:?}");
    assert!(missing.contains(&"legacy-1"), "{missing:?}");
    assert_contains(
        &stderr(&output),
        "have no Kubernetes Node and were not imported: ",
    );
}

/// The sandbox exported, with `api`'s CRDs installed in the target and `object` (of `plural`)
/// already there.
fn sandbox_with_target_object(api: CrdApi, plural: &str, object: Value) -> Exported {
    let exported = Exported::new(&calico::sandbox_cluster(), &[]);
    install_calico_crds(&exported.env.install.kube, api);
    create_calico(&exported.env.install.kube, api, plural, object);
    exported
}

fn conflicts_stop_the_import_and_overwrite_replaces_them_in(api: CrdApi) {
    // The same pool with other settings; its CIDR and block size are the file's, as the CRD
    // allows no change to them (see the next test).
    let exported = sandbox_with_target_object(
        api,
        "ippools",
        json!({"metadata": {"name": "default-ipv4-ippool"},
               "spec": {"cidr": "192.168.0.0/16", "blockSize": 26, "ipipMode": "Never", "natOutgoing": false}}),
    );
    let kube = &exported.env.install.kube;
    let output = import_into(&exported, api, &[]);
    failed_saying(
        &output,
        1,
        &[
            "conflict: IPPool default-ipv4-ippool differs in the target:",
            "spec.natOutgoing: expected true, found false",
            "error: 1 object(s) already exist in the Kubernetes datastore with different content",
        ],
    );
    assert!(
        get_calico(kube, api, "bgppeers", None, "rack-1-tor").is_none(),
        "the import stopped before the next kind"
    );
    let report = json_output(&output);
    assert_eq!(kind_row(&report, "IPPool")["conflicts"], 1);

    let report = succeeded(&import_into(&exported, api, &["--overwrite"]));
    assert_eq!(kind_row(&report, "IPPool")["updated"], 1);
    let pool = get_calico(kube, api, "ippools", None, "default-ipv4-ippool").unwrap();
    assert_eq!(pool["spec"]["natOutgoing"], true);
    assert_eq!(pool["spec"]["ipipMode"], "Always");
    assert_verified(&exported, api);
}

#[test]
fn an_overwrite_the_crd_forbids_is_refused_in_the_servers_words() {
    // IPPool's CRD makes spec.cidr immutable with a CEL rule. The import cannot evaluate CEL
    // (nor replace the pool behind the server's back: that is what the rule protects
    // against); it must pass the server's refusal on and stop.
    let exported = Exported::new(&calico::sandbox_cluster(), &[]);
    let kube = &exported.env.install.kube;
    if !kube.is_external() {
        eprintln!("the local server does not evaluate CEL rules: skipping");
        return;
    }
    kube.install_crds().unwrap();
    kube.create_calico(
        "ippools",
        &json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool", "metadata": {"name": "default-ipv4-ippool"},
                "spec": {"cidr": "10.99.0.0/16", "blockSize": 26}}),
    )
    .unwrap();
    let output = exported.import(&["--overwrite", "-o", "json"]);
    failed_saying(
        &output,
        1,
        &[
            "failed: IPPool default-ipv4-ippool: IPPool.crd.projectcalico.org \"default-ipv4-ippool\" is invalid: spec.cidr: Invalid value: \"string\": CIDR cannot be changed; follow IP pool migration guide to avoid corruption. (422 Invalid)",
            "error: 1 object(s) could not be written; the import stopped before the next kind",
        ],
    );
    assert_eq!(kind_row(&json_output(&output), "IPPool")["failed"], 1);
    assert_eq!(
        kube.get_calico("ippools", None, "default-ipv4-ippool")
            .unwrap()
            .unwrap()["spec"]["cidr"],
        "10.99.0.0/16"
    );
}

#[test]
fn objects_only_in_the_target_are_reported_not_deleted() {
    for api in CrdApi::ALL {
        let exported = sandbox_with_target_object(
            api,
            "globalnetworksets",
            json!({"metadata": {"name": "preexisting"}, "spec": {"nets": ["10.1.0.0/24"]}}),
        );
        let kube = &exported.env.install.kube;
        let output = import_into(&exported, api, &[]);
        let report = succeeded(&output);
        assert_eq!(report["onlyInTarget"][0]["kind"], "GlobalNetworkSet");
        assert_eq!(report["onlyInTarget"][0]["examples"][0], "preexisting");
        assert!(get_calico(kube, api, "globalnetworksets", None, "preexisting").is_some());
        // verify lists it as a difference.
        let verify = verify_in(&exported, api);
        assert_eq!(verify.status.code(), Some(3));
        let report = json_output(&verify);
        assert_eq!(report["onlyInTarget"][0]["name"], "preexisting");
    }
}

fn a_failure_halfway_leaves_a_partial_import_in(api: CrdApi) {
    let exported = Exported::new(&calico::sandbox_cluster(), &[]);
    let Some(faults) = exported.env.install.kube.faults() else {
        eprintln!("a real cluster cannot be told to fail: skipping");
        return;
    };
    // 22 CRDs and the ClusterInformation are written first; fail every write after a few objects.
    faults.fail_writes_after(30, 422, None);
    let output = import_into(&exported, api, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report = json_output(&output);
    assert_eq!(report["completed"], false);
    assert_contains(
        &stderr(&output),
        "could not be written; the import stopped before the next kind",
    );
    assert_eq!(
        exported.verify(&api_flag(api)).status.code(),
        Some(3),
        "partial"
    );

    faults.clear();
    let report = succeeded(&import_into(&exported, api, &[]));
    assert_eq!(report["completed"], true);
    let unchanged = kinds_sum(&report, "unchanged");
    assert!(
        unchanged > 0,
        "what the first run wrote counts as done: {report:#}"
    );
    assert_verified(&exported, api);
}

fn transient_errors_are_retried_in(api: CrdApi) {
    let exported = Exported::new(&calico::sandbox_cluster(), &[]);
    let Some(faults) = exported.env.install.kube.faults() else {
        return;
    };
    faults.fail_writes_after(25, 429, Some(1));
    // Lift the failure after the first retry wave.
    let lift = std::thread::spawn({
        let faults = faults.clone();
        move || {
            std::thread::sleep(std::time::Duration::from_millis(1500));
            faults.clear();
        }
    });
    let report = succeeded(&import_into(&exported, api, &[]));
    lift.join().unwrap();
    assert!(report["retries"].as_u64().unwrap() > 0, "{report:#}");
    assert_eq!(report["completed"], true);
    let failed = kinds_sum(&report, "failed");
    assert_eq!(failed, 0);
    assert_verified(&exported, api);
}

fn an_interrupted_import_is_finished_in(api: CrdApi) {
    let exported = Exported::new(&calico::sandbox_cluster(), &[]);
    let Some(faults) = exported.env.install.kube.faults() else {
        return;
    };
    faults.delay_writes_after(30, std::time::Duration::from_millis(400));
    let mut child = common::plugin_process(exported.env.install.kube.kubeconfig())
        .args(["-n", exported.env.namespace(), "import", "-f"])
        .arg(&exported.file)
        .args(api_flag(api))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    common::wait_until(deadline, "the import got going", || faults.writes() >= 32);
    child.kill().unwrap();
    child.wait().unwrap();
    faults.clear();
    assert_eq!(
        exported.verify(&api_flag(api)).status.code(),
        Some(3),
        "interrupted halfway"
    );
    let report = succeeded(&import_into(&exported, api, &[]));
    assert_eq!(report["completed"], true);
    assert_verified(&exported, api);
}

fn invalid_files_are_rejected_in(api: CrdApi) {
    let env = Env::with(EtcdMode::Plain, &calico::sandbox_cluster());
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let cases = [
        (
            write(
                "two-parts",
                "apiVersion: projectcalico.org/v3\nitems: []\nkind: IPPoolList\n---\n===\n{}\n",
            ),
            "found 2 parts where an export file has 3",
        ),
        (
            write(
                "bad-yaml",
                "apiVersion: projectcalico.org/v3\nitems:\n- kind: [unclosed\n---\n===\n{}\n===\n{}\n",
            ),
            "bad-yaml:3:9: invalid YAML in list document 1",
        ),
        (
            write(
                "bad-names",
                "apiVersion: projectcalico.org/v3\nitems:\n- apiVersion: projectcalico.org/v3\n  kind: IPPool\n  metadata:\n    name: Not_A_Name\n  spec:\n    cidr: 10.0.0.0/16\n- apiVersion: projectcalico.org/v3\n  kind: GlobalNetworkSet\n  metadata:\n    name: UPPER\n  spec: {}\nkind: IPPoolList\nmetadata:\n  resourceVersion: \"1\"\n---\n===\n{\"kind\":\"ClusterInformation\",\"spec\":{}}\n===\n{\"handles\":[{\"Key\":\"/calico/ipam/v2/handle/k8s-pod-network.abc\\r\\neth0\",\"Value\":{\"block\":{},\"deleted\":false},\"TTL\":0}]}\n",
            ),
            "has 3 invalid object(s)",
        ),
    ];
    for (path, message) in &cases {
        let output = env.import_file(path, &api_flag(api));
        assert_eq!(output.status.code(), Some(1), "{}", path.display());
        let err = stderr(&output);
        assert!(err.contains(message), "{}: {err}", path.display());
        assert_no_crd_installed(&env);
    }
    // Every invalid object is named, with its kind.
    let output = env.import_file(&cases[2].0, &api_flag(api));
    let err = stderr(&output);
    assert_contains(&err, "IPPool Not_A_Name");
    assert_contains(&err, "GlobalNetworkSet UPPER");
    assert_contains(&err, "k8s-pod-network.abc");
    let output = env
        .plugin()
        .args(["import", "-f", "/nonexistent/file"])
        .args(api_flag(api))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_contains(&stderr(&output), "/nonexistent/file");
}

fn files_in_calicoctl_format_import_and_verify_in(api: CrdApi) {
    for (fixture, nodes) in [
        (
            "calicoctl-v3.28-export.txt",
            ["worker-1", "worker-2", "worker-3"].as_slice(),
        ),
        ("calicoctl-v3.32-export.txt", ["cp-1", "edge-1"].as_slice()),
    ] {
        let env = Env::start(EtcdMode::Plain);
        for node in nodes {
            env.install.kube.ensure_node(node).unwrap();
        }
        let fixture_text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/handmade")
                .join(fixture),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(fixture);
        let namespaces = ["payments", "production"];
        std::fs::write(&path, env.with_test_namespaces(&fixture_text, &namespaces)).unwrap();
        // The namespaces of the file's policies must exist: the import says so before writing.
        let output = env.import_file(&path, &api_flag(api));
        failed_saying(
            &output,
            1,
            &[
                &format!(
                    "the file has namespaced Calico objects in namespace(s) the cluster does not have: {}, {}",
                    env.ns("payments"),
                    env.ns("production")
                ),
                "nothing was changed",
            ],
        );
        for namespace in namespaces {
            env.install
                .kube
                .create_namespace(&env.ns(namespace))
                .unwrap();
        }
        let output = env
            .plugin()
            .arg("import")
            .arg("-f")
            .arg(&path)
            .args(["-o", "json"])
            .args(api_flag(api))
            .output()
            .unwrap();
        let report = json_output(&output);
        assert_eq!(
            report["completed"],
            true,
            "{fixture}: {report:#}\n{}",
            stderr(&output)
        );
        let verify = env.run_with_file("verify", &path, &api_flag(api));
        assert!(
            verify.status.success(),
            "{api} {fixture}: {}",
            stdout(&verify)
        );
    }
}

#[test]
fn the_api_group_is_chosen_as_calico_chooses_it() {
    // Both groups served (v1 CRDs behind a Calico API server, or both CRD sets): Calico uses
    // crd.projectcalico.org/v1, and so does the import. One install at a time: on a real
    // cluster a second one would wait for this one's end (and its CRDs must be gone first).
    {
        let exported = Exported::new(&calico::sandbox_cluster(), &[]);
        let kube = &exported.env.install.kube;
        install_calico_crds(kube, CrdApi::V3);
        install_calico_crds(kube, CrdApi::V1);
        let report = succeeded(&exported.import(&["-o", "json"]));
        assert_eq!(report["crdApi"]["api"], "v1", "{report:#}");
        assert_contains(
            report["crdApi"]["reason"].as_str().unwrap(),
            "serves both crd.projectcalico.org and projectcalico.org",
        );
        assert!(get_calico(kube, CrdApi::V1, "ippools", None, "default-ipv4-ippool").is_some());
        assert!(list_calico(kube, CrdApi::V3, "ippools").is_empty());
    }

    // CALICO_API_GROUP wins over discovery, as in calicoctl; nothing served means v1.
    for (variable, api) in [
        (Some("projectcalico.org/v3"), CrdApi::V3),
        (None, CrdApi::V1),
    ] {
        let exported = Exported::new(&calico::sandbox_cluster(), &[]);
        let mut import = exported.env.plugin();
        import
            .args(["import", "-o", "json", "-f"])
            .arg(&exported.file);
        if let Some(value) = variable {
            import.env("CALICO_API_GROUP", value);
        }
        let report = succeeded(&import.output().unwrap());
        assert_eq!(report["crdApi"]["api"], api.version(), "{report:#}");
        let reason = report["crdApi"]["reason"].as_str().unwrap();
        match variable {
            Some(_) => assert_contains(reason, "CALICO_API_GROUP=projectcalico.org/v3"),
            None => assert_contains(reason, "serves neither Calico API group"),
        }
        assert!(
            get_calico(
                &exported.env.install.kube,
                api,
                "ippools",
                None,
                "default-ipv4-ippool"
            )
            .is_some()
        );
    }
}

fn an_unlocked_kubernetes_datastore_is_not_written_in(api: CrdApi) {
    let exported = Exported::new(&calico::sandbox_cluster(), &[]);
    let kube = &exported.env.install.kube;
    install_calico_crds(kube, api);
    for step in ["lock", "unlock"] {
        let output = exported
            .env
            .plugin()
            .args([step, "--datastore", "kubernetes"])
            .args(api_flag(api))
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let info = get_calico(kube, api, "clusterinformations", None, "default").unwrap();
    assert_eq!(info["spec"]["datastoreReady"], true, "{api}");
    let output = import_into(&exported, api, &[]);
    failed_saying(
        &output,
        1,
        &[
            "is unlocked (ClusterInformation/default datastoreReady is not false)",
            "hint: if this cluster is the migration's target, lock it first",
        ],
    );
    assert!(
        get_calico(kube, api, "ippools", None, "default-ipv4-ippool").is_none(),
        "nothing written"
    );

    // The lock of the group the cluster serves, found as Calico finds it.
    let output = exported
        .env
        .run(&["lock", "--datastore", "kubernetes", "-v"]);
    assert!(output.status.success());
    assert_contains(&stderr(&output), &format!("Kubernetes datastore: {api}"));
    let report = succeeded(&import_into(&exported, api, &[]));
    assert_eq!(report["completed"], true);
}

fn objects_the_crd_schemas_reject_are_reported_in(api: CrdApi) {
    let env = Env::with(EtcdMode::Plain, &calico::sandbox_cluster());
    // Hand-edited or odd etcd data: every object converts, but the API server would refuse
    // six of them halfway through the import. tests/fixtures/README.md describes the file.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/handmade/schema-invalid.export");

    // Into v3.32.1, whose CRDs check more than v3.28's (duplicate nets, date-times, CEL
    // rules).
    for extra in [&[][..], &["--dry-run"][..]] {
        let output = env
            .plugin()
            .args(["import", "--calico-version", "v3.32.1", "-f"])
            .arg(&path)
            .args(extra)
            .args(api_flag(api))
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        let err = stderr(&output);
        assert!(
            err.contains("has 7 invalid object(s)") && err.contains("nothing was changed"),
            "{err}"
        );
        for cause in [
            // Values Go cannot read into the release's types, as calicoctl would fail on them.
            "IPPool default-ipv4-ippool: does not fit Calico v3.32.1's types: spec.blockSize: expected an integer, found a string",
            "HostEndpoint node-1-eth0: does not fit Calico v3.32.1's types: spec.ports[1].port: expected a non-negative integer, found a string",
            // What the CRD schemas refuse.
            r#"FelixConfiguration default: spec.reportingInterval: Invalid value: "500µs": spec.reportingInterval in body should match '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))*$'"#,
            r#"IPAMBlock 10-244-0-0-26: spec.affinityClaimTime: Invalid value: "2025-06-18 14:05:01": spec.affinityClaimTime in body must be of type date-time: "2025-06-18 14:05:01""#,
            r#"IPAMConfig default: spec.maxBlocksPerHost: Invalid value: "string": spec.maxBlocksPerHost in body must be of type integer: "string""#,
            // What their CEL rules refuse, evaluated before anything is written.
            "IPPool v6-ipip: spec: Forbidden: IPIP is not supported on IPv6 pools",
            r#"HostEndpoint nowhere-eth0: spec: Invalid value: "object": node must be specified"#,
        ] {
            assert!(err.contains(cause), "missing {cause}\nin:\n{err}");
        }
        // What the server accepts is not listed: the other pool, the 1.5s the writer
        // rewrites, the Calico Node (a Node annotation, not a CR), the affinity, the handle.
        for accepted in [
            "fine-pool",
            "iptablesRefreshInterval",
            "Node node-1",
            "BlockAffinity",
            "IPAMHandle",
        ] {
            assert!(!err.contains(accepted), "{accepted} listed:\n{err}");
        }
        assert_no_crd_installed(&env);
    }
}

#[test]
fn the_local_api_server_keeps_cel_rules_without_evaluating_them() {
    // The plugin evaluates the CRDs' CEL rules itself; the local API server, like the v1.24
    // server the project measured, stores them and does not. So a refusal seen above comes
    // from the plugin, not from the server.
    let env = Env::start(EtcdMode::Plain);
    let kube = &env.install.kube;
    if kube.faults().is_none() {
        eprintln!("a real API server evaluates CEL rules: skipping");
        return;
    }
    install_calico_crds(kube, CrdApi::V3);
    let crd = kube
        .get_json("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/hostendpoints.projectcalico.org")
        .unwrap()
        .unwrap();
    assert_eq!(
        crd.pointer("/spec/versions/0/schema/openAPIV3Schema/properties/spec/x-kubernetes-validations/1/message"),
        Some(&json!("node must be specified"))
    );
    create_calico(
        kube,
        CrdApi::V3,
        "hostendpoints",
        json!({"metadata": {"name": "nowhere"}, "spec": {"interfaceName": "eth0"}}),
    );
    assert!(get_calico(kube, CrdApi::V3, "hostendpoints", None, "nowhere").is_some());
}

/// A rejected import must not even have installed Calico's CRDs.
fn assert_no_crd_installed(env: &Env) {
    let status = json_output(&env.run(&["status", "-o", "json"]));
    assert_eq!(
        status["kubernetes"]["calicoCrds"]["installed"], 0,
        "no CRD may be installed"
    );
}

fn objects_are_checked_against_the_installed_crds_in(api: CrdApi) {
    // Calico before v3.30 had no pattern on FelixConfiguration durations: a cluster with those
    // CRDs accepts `500µs`, which the embedded v3.32.1 schema refuses. The import keeps
    // existing CRDs, so it must judge objects by them, not refuse what the server would take.
    let mut dataset = calico::sandbox_cluster();
    dataset.resource(calico::object(
        "FelixConfiguration",
        None,
        "legacy",
        json!({"reportingInterval": "500µs"}),
    ));
    let exported = Exported::new(&dataset, &[]);
    let rejected = import_into(&exported, api, &["--dry-run"]);
    assert_eq!(rejected.status.code(), Some(1), "{}", stderr(&rejected));
    assert_contains(
        &stderr(&rejected),
        "FelixConfiguration legacy: spec.reportingInterval",
    );

    let mut crd = common::calico_crd(api, "felixconfigurations");
    let interval = crd
        .pointer_mut(
            "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/reportingInterval",
        )
        .and_then(Value::as_object_mut)
        .unwrap();
    assert!(interval.remove("pattern").is_some(), "the v3.32.1 pattern");
    let kube = &exported.env.install.kube;
    if let Err(error) = kube.create_raw(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        &crd,
    ) {
        assert!(format!("{error:#}").contains("already exists"), "{error:#}");
        eprintln!("the cluster has its own FelixConfiguration CRD: skipping");
        return;
    }

    let report = succeeded(&import_into(&exported, api, &[]));
    assert_eq!(report["completed"], true);
    let stored = get_calico(kube, api, "felixconfigurations", None, "legacy").expect("imported");
    assert_eq!(stored["spec"]["reportingInterval"], "500µs");
    assert_verified(&exported, api);
}
