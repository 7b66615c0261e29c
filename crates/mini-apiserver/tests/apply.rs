//! Server-side apply and managedFields.

mod common;

use common::*;
use serde_json::{Value, json};

const CMS: &str = "/api/v1/namespaces/default/configmaps";
const DS: &str = "/apis/apps/v1/namespaces/kube-system/daemonsets";

fn ds(env: Value, tolerations: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "calico-node", "namespace": "kube-system", "labels": {"k8s-app": "calico-node"}},
        "spec": {
            "selector": {"matchLabels": {"k8s-app": "calico-node"}},
            "template": {
                "metadata": {"labels": {"k8s-app": "calico-node"}},
                "spec": {
                    "tolerations": tolerations,
                    "containers": [{"name": "calico-node", "image": "calico/node:v3.32.1", "env": env}]
                }
            }
        }
    })
}

fn manager_entry<'a>(obj: &'a Value, manager: &str, op: &str) -> &'a Value {
    obj["metadata"]["managedFields"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|e| e["manager"] == manager && e["operation"] == op)
        })
        .unwrap_or_else(|| panic!("no {op} entry for {manager}: {}", obj["metadata"]))
}

#[test]
fn apply_creates_then_is_a_no_op() {
    let (_s, c) = server();
    let path = format!("{CMS}/calico-config");
    let cm = obj(
        "v1",
        "ConfigMap",
        "calico-config",
        json!({"data": {"a": "1", "b": "2"}}),
    );
    let r = c.apply(&path, "calico-migrate", &cm);
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    let e = manager_entry(&v, "calico-migrate", "Apply");
    assert_eq!(e["apiVersion"], "v1");
    assert_eq!(e["fieldsType"], "FieldsV1");
    assert_eq!(e["fieldsV1"], json!({"f:data": {"f:a": {}, "f:b": {}}}));
    assert!(e["time"].as_str().unwrap().ends_with('Z'));
    let rv = v["metadata"]["resourceVersion"].clone();

    // the same configuration again: nothing changes, not even the resourceVersion
    let r = c.apply(&path, "calico-migrate", &cm);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["metadata"]["resourceVersion"], rv);
    assert_eq!(
        r.json()["metadata"]["managedFields"],
        v["metadata"]["managedFields"]
    );

    // YAML works as well as JSON; a key left out goes away
    let r = c.apply_text(
        &path,
        "fieldManager=calico-migrate",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: calico-config\ndata:\n  a: \"1\"\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["data"], json!({"a": "1"}));

    // dry run: answered, not stored
    let r = c.apply_text(
        &path,
        "fieldManager=calico-migrate&dryRun=All",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: calico-config\ndata:\n  a: \"9\"\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["data"]["a"], "9");
    assert_eq!(c.get_json(&path)["data"]["a"], "1");
    let r = c.apply_text(
        &format!("{CMS}/other"),
        "fieldManager=x&dryRun=All",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n",
    );
    assert_eq!(r.status, 201, "{}", r.text());
    c.get(&format!("{CMS}/other")).status_of(404, "NotFound");
}

#[test]
fn apply_requests_are_checked() {
    let (_s, c) = server();
    let path = format!("{CMS}/x");
    let cm = obj("v1", "ConfigMap", "x", json!({}));
    let body = serde_json::to_string(&cm).unwrap();
    c.apply_text(&path, "", &body).status_of(422, "Invalid");
    failure(
        &c.merge_patch(&format!("{path}?force=true"), &json!({})),
        422,
        "Invalid",
        "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch",
    );
    failure(
        &c.apply(&format!("{CMS}/y"), "m", &cm),
        400,
        "BadRequest",
        "the name of the object (x) does not match the name on the URL (y)",
    );
    c.apply_text(&path, "fieldManager=m", "a: [")
        .status_of(400, "BadRequest");
    c.apply_text(&path, "fieldManager=m", "- 1\n")
        .status_of(400, "BadRequest");
    let mut with_mf = cm.clone();
    with_mf["metadata"]["managedFields"] = json!([{"manager": "x"}]);
    failure(
        &c.apply(&path, "m", &with_mf),
        400,
        "BadRequest",
        "metadata.managedFields must be nil",
    );
    let st = c
        .apply(&path, "m", &json!({"metadata": {"name": "x"}}))
        .status_of(400, "BadRequest");
    assert_message_starts_with(&st, "Object 'Kind' is missing");
    // a namespace that does not exist
    c.apply("/api/v1/namespaces/nope/configmaps/x", "m", &cm)
        .status_of(404, "NotFound");
}

#[test]
fn lists_merge_by_key_and_conflicts_are_reported() {
    let (_s, c) = server();
    let path = format!("{DS}/calico-node");
    let r = c.apply(
        &path,
        "calico-migrate",
        &ds(
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]),
            json!([{"operator": "Exists"}]),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json();
    assert_eq!(created["metadata"]["generation"], 1);
    // another manager adds an env var and a container: both merge in by name
    let r = c.apply(
        &path,
        "ops",
        &json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "calico-node"},
        "spec": {"template": {"spec": {"containers": [
            {"name": "calico-node", "env": [{"name": "C", "value": "3"}]},
            {"name": "sidecar", "image": "busybox"}
        ]}}}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let containers = v["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(containers.len(), 2);
    assert_eq!(names(&containers[0]["env"]), ["A", "B", "C"]);
    assert_eq!(v["metadata"]["generation"], 2);
    let ops = manager_entry(&v, "ops", "Apply");
    assert_eq!(
        ops["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"calico-node\"}"],
        json!({".": {}, "f:env": {"k:{\"name\":\"C\"}": {".": {}, "f:name": {}, "f:value": {}}}, "f:name": {}})
    );

    // the first manager drops B: it goes; C (owned by ops) stays; tolerations are atomic
    let r = c.apply(
        &path,
        "calico-migrate",
        &ds(
            json!([{"name": "A", "value": "1"}]),
            json!([{"key": "k", "operator": "Exists"}]),
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let env = names(&v["spec"]["template"]["spec"]["containers"][0]["env"]);
    assert_eq!(env, ["A", "C"]);
    assert_eq!(
        v["spec"]["template"]["spec"]["tolerations"],
        json!([{"key": "k", "operator": "Exists"}])
    );

    // ops now wants another value of A: a conflict with calico-migrate
    let other_a = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "calico-node"},
        "spec": {"template": {"spec": {"containers": [{"name": "calico-node", "env": [{"name": "A", "value": "other"}]}]}}}});
    assert_status(
        &c.apply(&path, "ops", &other_a),
        json!({"code": 409, "reason": "Conflict", "message": "Apply failed with 1 conflict: conflict with \"calico-migrate\": .spec.template.spec.containers[name=\"calico-node\"].env[name=\"A\"].value",
            "details": {"causes": [{"reason": "FieldManagerConflict", "message": "conflict with \"calico-migrate\"", "field": ".spec.template.spec.containers[name=\"calico-node\"].env[name=\"A\"].value"}]}}),
    );
    // applying the same value is no conflict: ownership is shared
    let same_a = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "calico-node"},
        "spec": {"template": {"spec": {"containers": [{"name": "calico-node", "env": [{"name": "A", "value": "1"}]}]}}}});
    assert_eq!(c.apply(&path, "ops", &same_a).status, 200);
    // forcing takes the field over
    let r = c.apply_text(&path, "fieldManager=ops&force=true", &other_a.to_string());
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(
        v["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"],
        "other"
    );
    let mine = manager_entry(&v, "calico-migrate", "Apply");
    assert!(
        mine["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"calico-node\"}"]["f:env"]["k:{\"name\":\"A\"}"]
            .get("f:value")
            .is_none(),
        "{mine}"
    );
}

#[test]
fn updates_record_their_managers() {
    let (_s, c) = server();
    let path = format!("{CMS}/cm");
    c.request(
        "POST",
        CMS,
        &[
            ("Content-Type", "application/json"),
            ("User-Agent", "kubectl/v1.32.0 (linux/amd64) kubernetes/abc"),
        ],
        Some(
            obj("v1", "ConfigMap", "cm", json!({"data": {"a": "1"}}))
                .to_string()
                .as_bytes(),
        ),
    );
    let v = c.get_json(&path);
    let e = manager_entry(&v, "kubectl", "Update");
    assert_eq!(e["fieldsV1"], json!({"f:data": {".": {}, "f:a": {}}}));
    // a merge patch by a named manager owns what it changed
    let r = c.merge_patch(
        &format!("{path}?fieldManager=editor"),
        &json!({"data": {"b": "2"}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(
        manager_entry(&v, "editor", "Update")["fieldsV1"],
        json!({"f:data": {"f:b": {}}})
    );
    // an apply that changes what an updater owns conflicts with it, naming its API version
    failure(
        &c.apply(
            &path,
            "applier",
            &obj("v1", "ConfigMap", "cm", json!({"data": {"a": "9"}})),
        ),
        409,
        "Conflict",
        "Apply failed with 1 conflict: conflict with \"kubectl\" using v1: .data.a",
    );
    // a PUT that sends managedFields back keeps them; a no-op write changes nothing
    let rv = v["metadata"]["resourceVersion"].clone();
    let r = c.put(&format!("{path}?fieldManager=editor"), &v);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["metadata"]["resourceVersion"], rv);
    assert_eq!(
        r.json()["metadata"]["managedFields"],
        v["metadata"]["managedFields"]
    );
}

#[test]
fn objects_without_managed_fields_get_a_before_first_apply_owner() {
    let (_s, c) = server();
    // kube-system was created at start, with no managedFields
    let path = "/api/v1/namespaces/kube-system";
    assert!(c.get_json(path)["metadata"].get("managedFields").is_none());
    let ns = obj(
        "v1",
        "Namespace",
        "kube-system",
        json!({"metadata": {"name": "kube-system", "labels": {"team": "net"}}}),
    );
    let r = c.apply(path, "calico-migrate", &ns);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["metadata"]["labels"]["team"], "net");
    let before = manager_entry(&v, "before-first-apply", "Update");
    assert!(
        before["fieldsV1"]["f:metadata"]["f:labels"]
            .get("f:kubernetes.io/metadata.name")
            .is_some(),
        "{before}"
    );
}

#[test]
fn custom_resources_are_applied_through_their_schema() {
    let (_s, c) = server();
    install_calico(&c, &["ippools"]);
    let path = format!("{CALICO}/ippools/default-ipv4-ippool");
    let pool = json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
        "metadata": {"name": "default-ipv4-ippool"},
        "spec": {"cidr": "10.244.0.0/16", "ipipMode": "Always", "natOutgoing": true, "bogus": 1}});
    let r = c.apply(&path, "calico-migrate", &pool);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.all_headers("warning").len(), 1, "unknown field warned");
    let v = r.json();
    assert!(v["spec"].get("bogus").is_none());
    // the schema's defaults are applied, and owned by nobody
    assert_eq!(v["spec"]["assignmentMode"], "Automatic");
    // the pruned field is not owned
    let e = manager_entry(&v, "calico-migrate", "Apply");
    assert!(e["fieldsV1"]["f:spec"].get("f:bogus").is_none(), "{e}");
    assert!(
        e["fieldsV1"]["f:spec"].get("f:assignmentMode").is_none(),
        "{e}"
    );
    assert!(e["fieldsV1"]["f:spec"].get("f:cidr").is_some());
    assert_eq!(v["metadata"]["generation"], 1);
    // validation applies
    let mut bad = pool.clone();
    bad["spec"]["ipipMode"] = json!("Sometimes");
    let st = c
        .apply(&path, "calico-migrate", &bad)
        .status_of(422, "Invalid");
    assert_message_contains(&st, "spec.ipipMode: Unsupported value: \"Sometimes\"");
    // strict validation refuses the unknown field
    failure(
        &c.apply_text(
            &path,
            "fieldManager=calico-migrate&fieldValidation=Strict",
            &pool.to_string(),
        ),
        400,
        "BadRequest",
        "strict decoding error: unknown field \"spec.bogus\"",
    );
}

#[test]
fn the_kubernetes_datastore_manifest_applies_twice() {
    let (_s, c) = server();
    let docs = manifest("calico.yaml");
    assert!(docs.len() > 30);
    for d in &docs {
        let r = c.apply(&object_path(d), "calico-migrate", d);
        assert_eq!(r.status, 201, "{}: {}", object_path(d), r.text());
        if d["kind"] == "CustomResourceDefinition" {
            let plural = d["spec"]["names"]["plural"].as_str().unwrap();
            let group = d["spec"]["group"].as_str().unwrap();
            let version = d["spec"]["versions"][0]["name"].as_str().unwrap();
            wait_served(&c, &format!("/apis/{group}/{version}/{plural}"));
        }
    }
    // once the controllers have caught up, applying it again changes nothing
    for d in docs
        .iter()
        .filter(|d| matches!(d["kind"].as_str(), Some("DaemonSet" | "Deployment")))
    {
        wait_until("the rollout", || {
            c.get_json(&object_path(d))["status"]["observedGeneration"] == 1
        });
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    for d in &docs {
        let before = c.get_json(&object_path(d))["metadata"]["resourceVersion"].clone();
        let r = c.apply(&object_path(d), "calico-migrate", d);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            r.json()["metadata"]["resourceVersion"],
            before,
            "{} changed",
            object_path(d)
        );
    }
    let node = c.get_json("/apis/apps/v1/namespaces/kube-system/daemonsets/calico-node");
    assert_eq!(
        node["spec"]["template"]["spec"]["containers"][0]["name"],
        "calico-node"
    );
}

#[test]
fn status_is_applied_through_its_subresource_only() {
    let (_s, c) = server();
    let path = format!("{DS}/calico-node");
    let mut config = ds(json!([]), json!([]));
    config["status"] = json!({"numberReady": 5});
    let r = c.apply(&path, "calico-migrate", &config);
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    // the main endpoint ignores status, and does not own it
    assert_eq!(v["status"]["numberReady"], 0);
    assert!(
        manager_entry(&v, "calico-migrate", "Apply")["fieldsV1"]
            .get("f:status")
            .is_none()
    );
    // through /status, status is applied and owned under that subresource
    let status = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "calico-node"},
        "status": {"numberReady": 5, "currentNumberScheduled": 1, "desiredNumberScheduled": 1, "numberMisscheduled": 0}});
    let r = c.apply(&format!("{path}/status"), "node-agent", &status);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["status"]["numberReady"], 5);
    assert_eq!(v["metadata"]["generation"], 1);
    let e = manager_entry(&v, "node-agent", "Apply");
    assert_eq!(e["subresource"], "status");
    assert_eq!(e["fieldsV1"]["f:status"]["f:numberReady"], json!({}));
    // no object, no status to apply
    let mut other = status.clone();
    other["metadata"]["name"] = json!("nope");
    c.apply(&format!("{DS}/nope/status"), "node-agent", &other)
        .status_of(404, "NotFound");
}

/// As on a real server: an apply removes only what its own manager applied before.
/// A DaemonSet installed by another manager (kubectl's client-side apply records
/// `Update` entries) keeps the fields the new configuration leaves out, even forced.
#[test]
fn a_forced_apply_leaves_other_managers_fields_in_place() {
    let (_s, c) = server();
    let kind = |file: &str| {
        manifest(file)
            .into_iter()
            .find(|d| d["kind"] == "DaemonSet")
            .unwrap()
    };
    let etcd = kind("calico-etcd.yaml");
    let path = object_path(&etcd);
    let r = c.post(
        &format!("{DS}?fieldManager=kubectl-client-side-apply"),
        &etcd,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let kdd = kind("calico.yaml");
    let r = c.apply_text(
        &path,
        "fieldManager=calico-migrate&force=true",
        &kdd.to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let env = names(&r.json()["spec"]["template"]["spec"]["containers"][0]["env"]);
    assert!(env.contains(&"DATASTORE_TYPE".to_string()), "{env:?}");
    assert!(env.contains(&"ETCD_ENDPOINTS".to_string()), "{env:?}");
}
