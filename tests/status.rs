//! status: both datastores, text and data, before and after the CRDs exist.

mod common;

use common::{Env, assert_contains, json_output, stderr, stdout};
use testbed::{EtcdMode, calico};

fn count(side: &serde_json::Value, kind: &str) -> Option<u64> {
    side["objects"]
        .as_array()?
        .iter()
        .find(|c| c["kind"] == kind)?["count"]
        .as_u64()
}

#[test]
fn status_reports_both_datastores() {
    let env = Env::with(EtcdMode::Tls, &calico::sandbox_cluster());
    let output = env.run(&["status", "-o", "json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let status = json_output(&output);

    let etcd = &status["etcd"];
    assert_eq!(etcd["reachable"], true);
    assert_eq!(etcd["calicoVersion"], "v3.28.0");
    assert_eq!(etcd["lock"], "unlocked");
    assert!(etcd["version"].as_str().unwrap().starts_with("3."));
    assert_eq!(count(etcd, "Node"), Some(3));
    assert_eq!(count(etcd, "IPPool"), Some(1));
    assert_eq!(count(etcd, "NetworkPolicy"), Some(2));
    assert_eq!(count(etcd, "IPAMBlock"), Some(3));
    assert_eq!(count(etcd, "IPAMHandle"), Some(5));
    assert_eq!(count(etcd, "BlockAffinity"), Some(3));
    assert_eq!(count(etcd, "IPAMConfig"), Some(1));
    assert_eq!(count(etcd, "ClusterInformation"), Some(1));

    let kube = &status["kubernetes"];
    assert_eq!(kube["reachable"], true);
    assert_eq!(kube["calicoCrds"]["installed"], 0);
    assert_eq!(kube["calicoCrds"]["expected"], 22);
    assert!(kube["lock"].is_null(), "no CRDs, no lock state");
    assert_eq!(
        count(kube, "Node"),
        Some(0),
        "no Kubernetes Node carries Calico annotations yet"
    );

    let text = env.plugin().arg("status").output().unwrap();
    assert!(text.status.success());
    let text = stdout(&text);
    assert_contains(&text, "Kubernetes datastore\n");
    assert_contains(
        &text,
        "Calico CRDs:    0/22 installed (crd.projectcalico.org/v1)",
    );
    assert_contains(&text, "\netcd datastore\n");
    assert_contains(
        &text,
        &format!(
            "Endpoints:      {} (from ConfigMap {}/calico-config key etcd_endpoints)",
            env.install.etcd.endpoint(),
            env.namespace()
        ),
    );
    assert_contains(&text, "Calico version: v3.28.0");
    assert_contains(&text, "Lock:           unlocked (datastoreReady: true)");
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["Node", "3", "0"]),
        "{text}"
    );

    // YAML for scripts too.
    let yaml = env.run(&["status", "-o", "yaml"]);
    let parsed: serde_json::Value = serde_saphyr::from_str(&stdout(&yaml)).unwrap();
    assert_eq!(parsed["etcd"]["calicoVersion"], "v3.28.0");
}

#[test]
fn status_after_crds_and_lock() {
    let env = Env::with(EtcdMode::Plain, &calico::sandbox_cluster());
    env.install.kube.install_crds().unwrap();
    assert!(
        env.run(&["lock", "--datastore", "kubernetes"])
            .status
            .success()
    );
    assert!(env.run(&["lock", "--datastore", "etcd"]).status.success());
    let output = env.run(&["status", "-o", "json"]);
    let status = json_output(&output);
    assert_eq!(status["kubernetes"]["calicoCrds"]["installed"], 22);
    assert_eq!(status["kubernetes"]["lock"], "locked");
    assert_eq!(status["etcd"]["lock"], "locked");
    assert_eq!(count(&status["kubernetes"], "ClusterInformation"), Some(1));
    assert_eq!(count(&status["kubernetes"], "IPPool"), Some(0));
}

#[test]
fn status_reports_an_unreachable_side_and_fails() {
    let env = Env::with(EtcdMode::Plain, &calico::sandbox_cluster());
    let output = env.run(&[
        "status",
        "-o",
        "json",
        "--etcd-endpoints",
        "http://127.0.0.1:1",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let status = json_output(&output);
    assert_eq!(status["kubernetes"]["reachable"], true);
    assert_eq!(status["etcd"]["reachable"], false);
    assert!(
        status["etcd"]["error"]
            .as_str()
            .unwrap()
            .contains("Connection refused")
    );
    assert!(
        status["etcd"]["hint"]
            .as_str()
            .unwrap()
            .contains("--etcd-endpoints")
    );
    assert_contains(
        &stderr(&output),
        "error: not every datastore could be reached: etcd",
    );
}
