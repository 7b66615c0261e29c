//! Asynchronous deletion of namespaces and CRDs, as a real cluster does it.

mod common;

use std::time::{Duration, Instant};

use common::*;
use mini_apiserver::{BackgroundServer, Options};
use serde_json::json;

fn server_with_delay(ms: u64) -> (BackgroundServer, Client) {
    server_with_options(Options {
        crd_establish_delay: Duration::from_millis(5),
        deletion_delay: Duration::from_millis(ms),
        ..Options::default()
    })
}

#[test]
fn namespaces_terminate_then_go() {
    let (_s, c) = server_with_delay(150);
    c.create(
        "/api/v1/namespaces",
        &obj("v1", "Namespace", "calico-test", json!({})),
    );
    let cms = "/api/v1/namespaces/calico-test/configmaps";
    c.create(cms, &obj("v1", "ConfigMap", "a", json!({})));
    let started = Instant::now();
    let r = c.delete("/api/v1/namespaces/calico-test");
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["kind"], "Namespace");
    assert_eq!(v["status"]["phase"], "Terminating");
    assert!(v["metadata"]["deletionTimestamp"].is_string());
    // still there, Terminating; its content too
    let ns = c.get_json("/api/v1/namespaces/calico-test");
    assert_eq!(ns["status"]["phase"], "Terminating");
    assert_eq!(c.get(&format!("{cms}/a")).status, 200);
    // nothing new may be created in it
    assert_status(
        &c.post(cms, &obj("v1", "ConfigMap", "b", json!({}))),
        json!({"code": 403, "reason": "Forbidden", "message": "configmaps \"b\" is forbidden: unable to create new content in namespace calico-test because it is being terminated",
            "details": {"causes": [{"reason": "NamespaceTerminating", "message": "namespace calico-test is being terminated", "field": "metadata.namespace"}]}}),
    );
    // deleting it again changes nothing
    let again = c.delete("/api/v1/namespaces/calico-test");
    assert_eq!(again.status, 200);
    assert_eq!(
        again.json()["metadata"]["resourceVersion"],
        v["metadata"]["resourceVersion"]
    );
    wait_until("the namespace to go", || {
        c.get("/api/v1/namespaces/calico-test").status == 404
    });
    assert!(started.elapsed() >= Duration::from_millis(150));
    c.get(&format!("{cms}/a")).status_of(404, "NotFound");
    // and the name can be used again
    c.create(
        "/api/v1/namespaces",
        &obj("v1", "Namespace", "calico-test", json!({})),
    );
}

#[test]
fn crds_terminate_until_their_resources_are_gone() {
    let (s, c) = server_with_delay(150);
    install_calico(&c, &["ippools"]);
    let pools = format!("{CALICO}/ippools");
    let pool = |name: &str| {
        json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool", "metadata": {"name": name},
            "spec": {"cidr": "10.0.0.0/16"}})
    };
    c.create(&pools, &pool("a"));
    let crd_path = format!("{CRDS}/ippools.crd.projectcalico.org");
    let r = c.delete(&crd_path);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert!(v["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(
        v["metadata"]["finalizers"],
        json!(["customresourcecleanup.apiextensions.k8s.io"])
    );
    let terminating = v["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Terminating")
        .expect("a Terminating condition");
    assert_eq!(terminating["status"], "True");
    assert_eq!(terminating["reason"], "InstanceDeletionPending");
    // its resources are still served, but new ones are refused
    assert_eq!(c.get(&format!("{pools}/a")).status, 200);
    let st = failure(
        &c.post(&pools, &pool("b")),
        405,
        "MethodNotAllowed",
        "create not allowed while custom resource definition is terminating",
    );
    assert_eq!(
        st["details"],
        json!({"group": "crd.projectcalico.org", "kind": "ippools"})
    );
    wait_until("the CRD to go", || c.get(&crd_path).status == 404);
    c.get(&pools).status_of(404, "NotFound");
    // a delay of zero over HTTP deletes at once again
    install_calico(&c, &["ippools"]);
    c.post("/_mini/deletion", &json!({"delay_ms": 0}));
    assert_eq!(s.controls().deletion_delay(), Duration::ZERO);
    assert_eq!(c.delete(&crd_path).status, 200);
    c.get(&crd_path).status_of(404, "NotFound");
}
