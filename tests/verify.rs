//! verify: equal datastores pass; every kind of difference is found, listed and signalled by
//! exit code 3; the source can be the live etcd datastore or an export file. Every case runs
//! for both API groups (`crd.projectcalico.org/v1` and native `projectcalico.org/v3`).

mod common;

use calico_migrate::kinds::CrdApi;
use common::{
    Exported, api_flag, assert_contains, create_calico, delete_calico, get_calico, json_output,
    replace_calico, stderr, stdout,
};
use serde_json::json;
use testbed::calico;

fn imported(api: CrdApi) -> Exported {
    let exported = Exported::new(&calico::sandbox_cluster(), &[]);
    let output = exported.import(&api_flag(api));
    assert!(output.status.success(), "{}", stderr(&output));
    exported
}

/// `verify --crd-api API` with more arguments.
fn verify(exported: &Exported, api: CrdApi, args: &[&str]) -> std::process::Output {
    let mut all = api_flag(api).to_vec();
    all.extend_from_slice(args);
    exported.verify(&all)
}

common::for_each_api! {
    equal_datastores_verify_from_etcd_and_from_the_file => equal_datastores_verify_in,
    differences_are_listed_by_kind_and_name => differences_are_listed_in,
}

fn equal_datastores_verify_in(api: CrdApi) {
    let exported = imported(api);
    let output = verify(&exported, api, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let text = stdout(&output);
    assert!(
        text.starts_with(&format!(
            "Compared the Kubernetes datastore ({api}) with the etcd revision "
        )),
        "{text}"
    );
    assert_contains(
        &text,
        "The Kubernetes datastore holds everything the source holds.",
    );
    let row = text
        .lines()
        .find(|l| l.trim_start().starts_with("IPAMHandle"))
        .unwrap();
    assert_eq!(
        row.split_whitespace().collect::<Vec<_>>(),
        ["IPAMHandle", "5", "5", "0", "0", "0"]
    );

    let output = verify(
        &exported,
        api,
        &["-o", "json", "-f", exported.file.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(0));
    let report = json_output(&output);
    assert_eq!(report["equal"], true);
    assert!(report["source"].as_str().unwrap().starts_with("file "));
    // Compared with the other group, which holds nothing, everything is missing.
    let other = CrdApi::ALL.into_iter().find(|a| *a != api).unwrap();
    let report = json_output(&verify(&exported, other, &["-o", "json"]));
    assert_eq!(report["equal"], false);
    assert_eq!(report["crdApi"]["api"], other.version());
}

#[test]
fn before_the_import_everything_is_missing() {
    for api in CrdApi::ALL {
        let exported = Exported::new(&calico::sandbox_cluster(), &[]);
        let output = verify(&exported, api, &["-o", "json"]);
        assert_eq!(output.status.code(), Some(3));
        let report = json_output(&output);
        assert_eq!(report["equal"], false);
        let missing = report["missing"].as_array().unwrap().len();
        assert!(missing >= 20, "{report:#}");
        assert_contains(
            &stderr(&output),
            "error: the Kubernetes datastore differs from the etcd revision",
        );
    }
}

fn differences_are_listed_in(api: CrdApi) {
    let exported = imported(api);
    let kube = &exported.env.install.kube;
    // A changed spec field, a changed Calico label, a deleted handle, an extra object, a
    // changed Node annotation and a changed IPAM allocation.
    let mut pool = get_calico(kube, api, "ippools", None, "default-ipv4-ippool").unwrap();
    pool["spec"]["natOutgoing"] = json!(false);
    replace_calico(kube, api, "ippools", &pool);
    // The v3.28 source's policy names: with the default. prefix in v1; native v3 (v3.32) uses
    // the v3 name.
    let gnp_name = match api {
        CrdApi::V1 => "default.allow-cluster-dns",
        CrdApi::V3 => "allow-cluster-dns",
    };
    let mut gnp = get_calico(kube, api, "globalnetworkpolicies", None, gnp_name).unwrap();
    gnp["metadata"]["labels"]["projectcalico.org/tier"] = json!("security");
    replace_calico(kube, api, "globalnetworkpolicies", &gnp);
    delete_calico(kube, api, "ipamhandles", "ipip-tunnel-addr-cp-1");
    create_calico(
        kube,
        api,
        "globalnetworksets",
        json!({"metadata": {"name": "stray"}, "spec": {"nets": ["10.1.0.0/24"]}}),
    );
    kube.annotate_node("worker-2", "projectcalico.org/IPv4Address", "10.9.9.9/24")
        .unwrap();
    let mut block = get_calico(kube, api, "ipamblocks", None, "192-168-33-0-26").unwrap();
    block["spec"]["allocations"][5] = json!(1);
    replace_calico(kube, api, "ipamblocks", &block);

    let output = verify(&exported, api, &[]);
    assert_eq!(output.status.code(), Some(3));
    let text = stdout(&output);
    for expected in [
        "different: IPPool default-ipv4-ippool\n    spec.natOutgoing: expected true, found false",
        &format!("different: GlobalNetworkPolicy {gnp_name}"),
        "metadata.labels",
        "missing in the Kubernetes datastore: IPAMHandle ipip-tunnel-addr-cp-1",
        "only in the Kubernetes datastore: GlobalNetworkSet stray",
        "different: Node worker-2",
        "different: IPAMBlock 192-168-33-0-26\n    spec.allocations[5]",
    ] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }
    let report = json_output(&verify(&exported, api, &["-o", "json"]));
    let check = |kind: &str| {
        report["kinds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kind"] == kind)
            .unwrap()
            .clone()
    };
    assert_eq!(check("IPPool")["different"], 1);
    assert_eq!(check("IPAMHandle")["missing"], 1);
    assert_eq!(check("GlobalNetworkSet")["onlyInTarget"], 1);
    assert_eq!(check("Node")["different"], 1);
    assert_eq!(report["different"].as_array().unwrap().len(), 4);

    // import --overwrite repairs everything but the extra object, which is never deleted.
    let mut args = vec!["--overwrite"];
    args.extend(api_flag(api));
    let output = exported.import(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    let report = json_output(&verify(&exported, api, &["-o", "json"]));
    assert_eq!(
        report["different"].as_array().unwrap().len(),
        0,
        "{report:#}"
    );
    assert_eq!(report["missing"].as_array().unwrap().len(), 0);
    assert_eq!(report["onlyInTarget"][0]["name"], "stray");
}

#[test]
fn cluster_information_is_checked() {
    for api in CrdApi::ALL {
        let exported = imported(api);
        let kube = &exported.env.install.kube;
        let mut info = get_calico(kube, api, "clusterinformations", None, "default").unwrap();
        info["spec"]["clusterGUID"] = json!("somebody-else");
        replace_calico(kube, api, "clusterinformations", &info);
        let output = verify(&exported, api, &[]);
        assert_eq!(output.status.code(), Some(3));
        assert!(
            stdout(&output).contains("ClusterInformation clusterGUID: expected 6f0c5e8e3a0b4a53b1f7d2f0d6c1a9e4, found somebody-else"),
            "{}",
            stdout(&output)
        );
    }
}

#[test]
fn a_ledger_is_checked_from_the_watch_cache_and_page_by_page_when_the_cache_cannot_answer() {
    use calico_migrate::kdd::client::{KubeOptions, connect};
    use calico_migrate::kdd::ledger::{Ledger, Seen};
    use calico_migrate::kdd::rest::{Rest, RestOptions};
    use calico_migrate::kinds::CalicoKind;

    let exported = imported(CrdApi::V1);
    let kube = &exported.env.install.kube;
    let pools = CalicoKind::by_kind("IPPool").unwrap();
    let mut ledger = Ledger::default();
    for pool in common::list_calico(kube, CrdApi::V1, "ippools") {
        let name = pool["metadata"]["name"].as_str().unwrap().to_string();
        let version = pool["metadata"]["resourceVersion"].as_str().unwrap();
        ledger.note(pools, name, Seen::At(version.to_string()));
    }
    let count = ledger.len() as u64;
    assert!(count > 0);
    // As the plugin connects: its own retries, none of the client library's.
    let options = KubeOptions {
        kubeconfig: Some(kube.kubeconfig().to_path_buf()),
        context: None,
        request_timeout: std::time::Duration::ZERO,
    };
    // The client's buffer task needs the runtime it will run on.
    let client = testbed::block_on(async { connect(&options).await?.bulk_client() }).unwrap();
    let rest = Rest::new(client, RestOptions::default());
    let proofs =
        testbed::block_on(async { Ok::<_, anyhow::Error>(ledger.check(&rest, CrdApi::V1).await?) })
            .unwrap();
    assert!(proofs[0].cached, "listed from the watch cache");
    assert_eq!(proofs[0].matching, count);
    assert!(proofs[0].unproven.is_empty(), "{:?}", proofs[0].unproven);

    // A version the server has not reached: its cache cannot answer (a real one waits for it
    // first), and the paged list finds the object at another version.
    ledger.note(
        pools,
        "default-ipv4-ippool".into(),
        Seen::At("999999999".into()),
    );
    let proofs =
        testbed::block_on(async { Ok::<_, anyhow::Error>(ledger.check(&rest, CrdApi::V1).await?) })
            .unwrap();
    assert!(!proofs[0].cached, "listed page by page");
    assert_eq!(proofs[0].matching, count - 1);
    assert_eq!(proofs[0].unproven.len(), 1);
    assert_contains(&proofs[0].unproven[0].why, "resourceVersion 999999999");
}
