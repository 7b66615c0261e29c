//! verify: equal datastores pass; every kind of difference is found, listed and signalled by
//! exit code 3; the source can be the live etcd datastore or an export file.

mod common;

use common::{Exported, assert_contains, json_output, stderr, stdout};
use serde_json::json;
use testbed::calico;

fn imported() -> Exported {
    let exported = Exported::new(&calico::sandbox_cluster(), &[]);
    let output = exported.import(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    exported
}

#[test]
fn equal_datastores_verify_from_etcd_and_from_the_file() {
    let exported = imported();
    let output = exported.verify(&[]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let text = stdout(&output);
    assert!(
        text.starts_with("Compared the Kubernetes datastore with the etcd revision "),
        "{text}"
    );
    assert!(
        text.contains("The Kubernetes datastore holds everything the source holds."),
        "{text}"
    );
    let row = text
        .lines()
        .find(|l| l.trim_start().starts_with("IPAMHandle"))
        .unwrap();
    assert_eq!(
        row.split_whitespace().collect::<Vec<_>>(),
        ["IPAMHandle", "5", "5", "0", "0", "0"]
    );

    let output = exported
        .env
        .plugin()
        .arg("verify")
        .arg("-f")
        .arg(&exported.file)
        .args(["-o", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let report = json_output(&output);
    assert_eq!(report["equal"], true);
    assert!(report["source"].as_str().unwrap().starts_with("file "));
}

#[test]
fn before_the_import_everything_is_missing() {
    let exported = Exported::new(&calico::sandbox_cluster(), &[]);
    let output = exported.verify(&["-o", "json"]);
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

#[test]
fn differences_are_listed_by_kind_and_name() {
    let exported = imported();
    let kube = &exported.env.install.kube;
    // A changed spec field, a changed Calico label, a deleted handle, an extra object, a
    // changed Node annotation and a changed IPAM allocation.
    let mut pool = kube
        .get_calico("ippools", None, "default-ipv4-ippool")
        .unwrap()
        .unwrap();
    pool["spec"]["natOutgoing"] = json!(false);
    kube.replace_calico("ippools", &pool).unwrap();
    let mut gnp = kube
        .get_calico("globalnetworkpolicies", None, "default.allow-cluster-dns")
        .unwrap()
        .unwrap();
    gnp["metadata"]["labels"]["projectcalico.org/tier"] = json!("security");
    kube.replace_calico("globalnetworkpolicies", &gnp).unwrap();
    kube.delete_calico("ipamhandles", None, "ipip-tunnel-addr-cp-1")
        .unwrap();
    kube.create_calico(
        "globalnetworksets",
        &json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "GlobalNetworkSet", "metadata": {"name": "stray"}, "spec": {"nets": ["10.1.0.0/24"]}}),
    )
    .unwrap();
    kube.annotate_node("worker-2", "projectcalico.org/IPv4Address", "10.9.9.9/24")
        .unwrap();
    let mut block = kube
        .get_calico("ipamblocks", None, "192-168-33-0-26")
        .unwrap()
        .unwrap();
    block["spec"]["allocations"][5] = json!(1);
    kube.replace_calico("ipamblocks", &block).unwrap();

    let output = exported.verify(&[]);
    assert_eq!(output.status.code(), Some(3));
    let text = stdout(&output);
    for expected in [
        "different: IPPool default-ipv4-ippool\n    spec.natOutgoing: expected true, found false",
        "different: GlobalNetworkPolicy default.allow-cluster-dns",
        "metadata.labels",
        "missing in the Kubernetes datastore: IPAMHandle ipip-tunnel-addr-cp-1",
        "only in the Kubernetes datastore: GlobalNetworkSet stray",
        "different: Node worker-2",
        "different: IPAMBlock 192-168-33-0-26\n    spec.allocations[5]",
    ] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }
    let report = json_output(&exported.verify(&["-o", "json"]));
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
    let output = exported.import(&["--overwrite"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report = json_output(&exported.verify(&["-o", "json"]));
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
    let exported = imported();
    let kube = &exported.env.install.kube;
    let mut info = kube
        .get_calico("clusterinformations", None, "default")
        .unwrap()
        .unwrap();
    info["spec"]["clusterGUID"] = json!("somebody-else");
    kube.replace_calico("clusterinformations", &info).unwrap();
    let output = exported.verify(&[]);
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stdout(&output).contains("ClusterInformation clusterGUID: expected 6f0c5e8e3a0b4a53b1f7d2f0d6c1a9e4, found somebody-else"),
        "{}",
        stdout(&output)
    );
}
