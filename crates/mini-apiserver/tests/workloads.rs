//! The workload, policy, access-control and admission kinds: storage, defaults,
//! generation, status and scale subresources, discovery, and simulated rollouts.

mod common;

use std::time::{Duration, Instant};

use common::*;
use mini_apiserver::{BackgroundServer, Options, Rollout, Stall};
use serde_json::{Value, json};

const DS: &str = "/apis/apps/v1/namespaces/kube-system/daemonsets";
const DEPLOY: &str = "/apis/apps/v1/namespaces/kube-system/deployments";
const NODES: &str = "/api/v1/nodes";

fn server_with(rollout: Rollout) -> (BackgroundServer, Client) {
    server_with_options(Options {
        crd_establish_delay: Duration::from_millis(5),
        rollout,
        ..Options::default()
    })
}

fn daemonset(name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": name, "labels": {"k8s-app": name}},
        "spec": {
            "selector": {"matchLabels": {"k8s-app": name}},
            "template": {
                "metadata": {"labels": {"k8s-app": name}},
                "spec": {
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "containers": [{"name": "node", "image": image, "ports": [{"containerPort": 9099}]}]
                }
            }
        }
    })
}

fn deployment(name: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"k8s-app": name}},
            "template": {
                "metadata": {"labels": {"k8s-app": name}},
                "spec": {"containers": [{"name": "c", "image": "calico/kube-controllers:v3.32.1"}]}
            }
        }
    })
}

fn node(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}})
}

#[test]
fn daemonsets_are_defaulted_and_track_generation() {
    let (_s, c) = server();
    let ds = c.create(DS, &daemonset("calico-node", "calico/node:v3.32.1"));
    assert_eq!(ds["metadata"]["generation"], 1);
    assert_eq!(
        ds["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
    );
    assert_eq!(ds["spec"]["revisionHistoryLimit"], 10);
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Always");
    assert_eq!(pod["dnsPolicy"], "ClusterFirst");
    assert_eq!(pod["containers"][0]["imagePullPolicy"], "IfNotPresent");
    assert_eq!(pod["containers"][0]["ports"][0]["protocol"], "TCP");
    // a new DaemonSet's status is the zero status
    assert_eq!(
        ds["status"],
        json!({"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0})
    );
    let path = format!("{DS}/calico-node");

    // a label change does not bump the generation, a spec change does
    let r = c.merge_patch(&path, &json!({"metadata": {"labels": {"x": "y"}}}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["metadata"]["generation"], 1);
    let r = c.patch(
        &path,
        "application/strategic-merge-patch+json",
        &json!({"spec": {"template": {"spec": {"containers": [{"name": "node", "image": "calico/node:v3.32.2"}]}}}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["metadata"]["generation"], 2);
    // the strategic merge patch merged the container by name: the port is still there
    assert_eq!(
        v["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"],
        9099
    );
    assert_eq!(
        v["spec"]["template"]["spec"]["containers"][0]["image"],
        "calico/node:v3.32.2"
    );

    // status is only written through /status
    let r = c.merge_patch(&path, &json!({"status": {"numberReady": 7}}));
    assert_eq!(r.json()["status"]["numberReady"], 0);
    let r = c.merge_patch(
        &format!("{path}/status"),
        &json!({"status": {"numberReady": 7}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"]["numberReady"], 7);
    assert_eq!(r.json()["metadata"]["generation"], 2);

    // selectors must match the template and cannot change
    let mut bad = daemonset("bad", "x");
    bad["spec"]["template"]["metadata"]["labels"] = json!({"k8s-app": "other"});
    failure(
        &c.post(DS, &bad),
        422,
        "Invalid",
        "DaemonSet.apps \"bad\" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{\"k8s-app\":\"other\"}: `selector` does not match template `labels`",
    );
    let st = c
        .merge_patch(&path, &json!({"spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}}}}))
        .status_of(422, "Invalid");
    assert_message_contains(&st, "spec.selector: Invalid value");
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .ends_with("field is immutable"),
        "{st}"
    );
}

#[test]
fn deployments_scale_through_the_scale_subresource() {
    let (_s, c) = server();
    let d = c.create(DEPLOY, &deployment("calico-kube-controllers", 1));
    assert_eq!(
        d["spec"]["strategy"]["rollingUpdate"],
        json!({"maxUnavailable": "25%", "maxSurge": "25%"})
    );
    assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
    let scale_path = format!("{DEPLOY}/calico-kube-controllers/scale");
    let scale = c.get_json(&scale_path);
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["apiVersion"], "autoscaling/v1");
    assert_eq!(scale["spec"]["replicas"], 1);
    assert_eq!(
        scale["status"]["selector"],
        "k8s-app=calico-kube-controllers"
    );
    assert_eq!(scale["metadata"]["uid"], d["metadata"]["uid"]);

    // merge patch of the Scale
    let r = c.merge_patch(&scale_path, &json!({"spec": {"replicas": 0}}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["kind"], "Scale");
    assert_eq!(r.json()["spec"]["replicas"], 0);
    let d2 = c.get_json(&format!("{DEPLOY}/calico-kube-controllers"));
    assert_eq!(d2["spec"]["replicas"], 0);
    assert_eq!(d2["metadata"]["generation"], 2);
    // the write is recorded under the scale subresource
    let mf = d2["metadata"]["managedFields"].as_array().unwrap();
    let scaled = mf
        .iter()
        .find(|e| e["subresource"] == "scale")
        .expect("scale entry");
    assert_eq!(scaled["fieldsV1"], json!({"f:spec": {"f:replicas": {}}}));

    // PUT with a stale resourceVersion conflicts, a current one works
    let mut s = c.get_json(&scale_path);
    s["spec"]["replicas"] = json!(3);
    let mut stale = s.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    c.put(&scale_path, &stale).status_of(409, "Conflict");
    let r = c.put(&scale_path, &s);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        c.get_json(&format!("{DEPLOY}/calico-kube-controllers"))["spec"]["replicas"],
        3
    );
    // negative replicas
    failure(
        &c.merge_patch(&scale_path, &json!({"spec": {"replicas": -1}})),
        422,
        "Invalid",
        "Scale.autoscaling \"calico-kube-controllers\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0",
    );
    c.get(&format!("{DEPLOY}/nope/scale"))
        .status_of(404, "NotFound");
    // DaemonSets have no scale subresource
    c.get(&format!("{DS}/x/scale")).status_of(404, "NotFound");
}

#[test]
fn discovery_lists_the_new_groups() {
    let (_s, c) = server();
    let apps = c.get_json("/apis/apps/v1");
    assert_lists_resources(
        &apps,
        &[
            "daemonsets",
            "daemonsets/status",
            "deployments",
            "deployments/scale",
            "deployments/status",
        ],
    );
    let scale = resource_entry(&apps, "deployments/scale");
    assert_eq!(scale["group"], "autoscaling");
    assert_eq!(scale["kind"], "Scale");
    let groups = c.get_json("/apis");
    let gv: Vec<String> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| {
            g["versions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["groupVersion"].as_str().unwrap().to_string())
        })
        .collect();
    for g in [
        "apps/v1",
        "rbac.authorization.k8s.io/v1",
        "policy/v1",
        "admissionregistration.k8s.io/v1",
        "admissionregistration.k8s.io/v1beta1",
        "authorization.k8s.io/v1",
    ] {
        assert!(gv.contains(&g.to_string()), "{g} in {gv:?}");
    }
    let core = c.get_json("/api/v1");
    assert_lists_resources(&core, &["serviceaccounts", "services"]);
    let ssar = c.get_json("/apis/authorization.k8s.io/v1");
    assert_eq!(ssar["resources"][0]["name"], "selfsubjectaccessreviews");
    assert_eq!(ssar["resources"][0]["verbs"], json!(["create"]));
}

#[test]
fn rbac_policy_admission_and_service_objects() {
    let (_s, c) = server();
    let role = c.create(
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        &obj(
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            "system:calico-reader",
            json!({"rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]}),
        ),
    );
    assert!(role["metadata"].get("generation").is_none());
    let crb_path = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings";
    c.create(
        crb_path,
        &obj("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "b", json!({
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:calico-reader"},
            "subjects": [{"kind": "User", "name": "alice"}]
        })),
    );
    failure(
        &c.merge_patch(
            &format!("{crb_path}/b"),
            &json!({"roleRef": {"name": "other"}}),
        ),
        422,
        "Invalid",
        "ClusterRoleBinding.rbac.authorization.k8s.io \"b\" is invalid: roleRef: Invalid value: rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", Kind:\"ClusterRole\", Name:\"other\"}: cannot change roleRef",
    );
    let pdb = c.create(
        "/apis/policy/v1/namespaces/kube-system/poddisruptionbudgets",
        &obj(
            "policy/v1",
            "PodDisruptionBudget",
            "p",
            json!({"spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"a": "b"}}}}),
        ),
    );
    assert_eq!(pdb["metadata"]["generation"], 1);
    assert_eq!(pdb["status"]["disruptionsAllowed"], 0);
    let svc = c.create(
        "/api/v1/namespaces/kube-system/services",
        &obj("v1", "Service", "calico-api", json!({"spec": {"ports": [{"port": 443, "name": "https"}], "selector": {"k8s-app": "x"}}})),
    );
    let ip = svc["spec"]["clusterIP"].as_str().unwrap();
    assert!(ip.starts_with("10."), "{ip}");
    assert_eq!(svc["spec"]["clusterIPs"], json!([ip]));
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 443);
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    // an update that leaves the cluster IP out keeps it
    let mut upd = svc.clone();
    upd["spec"].as_object_mut().unwrap().remove("clusterIP");
    upd["spec"].as_object_mut().unwrap().remove("clusterIPs");
    let r = c.put("/api/v1/namespaces/kube-system/services/calico-api", &upd);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["spec"]["clusterIP"], ip);
    for (path, o) in [
        (
            "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
            obj(
                "admissionregistration.k8s.io/v1",
                "ValidatingWebhookConfiguration",
                "w",
                json!({"webhooks": []}),
            ),
        ),
        (
            "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies",
            obj(
                "admissionregistration.k8s.io/v1",
                "ValidatingAdmissionPolicy",
                "v",
                json!({"spec": {}}),
            ),
        ),
        (
            "/apis/admissionregistration.k8s.io/v1beta1/mutatingadmissionpolicies",
            obj(
                "admissionregistration.k8s.io/v1beta1",
                "MutatingAdmissionPolicy",
                "m",
                json!({"spec": {}}),
            ),
        ),
        (
            "/api/v1/namespaces/kube-system/serviceaccounts",
            obj("v1", "ServiceAccount", "calico-node", json!({})),
        ),
    ] {
        let v = c.create(path, &o);
        assert_eq!(v["kind"], o["kind"]);
        assert_eq!(c.get_json(path)["items"].as_array().unwrap().len(), 1);
        let r = c.delete(&format!(
            "{path}/{}",
            o["metadata"]["name"].as_str().unwrap()
        ));
        assert_eq!(r.status, 200, "{}", r.text());
    }
}

/// Waits until the object at `path` satisfies `f`, returning it.
fn wait_for(c: &Client, path: &str, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    wait_until(what, || {
        last = c.get_json(path);
        f(&last)
    });
    last
}

#[test]
fn daemonset_rollouts_follow_nodes_and_generations() {
    let (s, c) = server_with(Rollout {
        delay: Duration::from_millis(30),
        pods_per_step: 1,
        stall: Stall::None,
    });
    c.create(NODES, &node("n1", json!({"kubernetes.io/os": "linux"})));
    c.create(NODES, &node("n2", json!({})));
    c.create(NODES, &node("win", json!({"kubernetes.io/os": "windows"})));
    let started = Instant::now();
    c.create(DS, &daemonset("calico-node", "calico/node:v3.32.1"));
    let path = format!("{DS}/calico-node");
    // a first step: one pod of two
    let v = wait_for(&c, &path, "the first step", |v| {
        v["status"]["observedGeneration"] == 1
    });
    assert!(started.elapsed() >= Duration::from_millis(30));
    assert_eq!(v["status"]["desiredNumberScheduled"], 2, "{}", v["status"]);
    assert_eq!(v["status"]["updatedNumberScheduled"], 1);
    let v = wait_for(&c, &path, "the rollout", |v| {
        v["status"]["numberAvailable"] == 2
    });
    assert_eq!(v["status"]["updatedNumberScheduled"], 2);
    assert!(v["status"].get("numberUnavailable").is_none());

    // a third Linux node joins
    c.create(NODES, &node("n3", json!({"kubernetes.io/os": "linux"})));
    wait_for(&c, &path, "the new node", |v| {
        v["status"]["numberAvailable"] == 3
    });

    // a stalled rollout never observes the new generation
    s.controls().set_rollout(Rollout {
        delay: Duration::from_millis(10),
        pods_per_step: 0,
        stall: Stall::Unobserved,
    });
    let r = c.merge_patch(
        &path,
        &json!({"spec": {"template": {"metadata": {"annotations": {"restart": "1"}}}}}),
    );
    assert_eq!(r.json()["metadata"]["generation"], 2);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(c.get_json(&path)["status"]["observedGeneration"], 1);
    // over HTTP: one pod never becomes available
    let r = c.post("/_mini/rollout", &json!({"stall": "unavailable"}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["stall"], "unavailable");
    let v = wait_for(&c, &path, "the stuck rollout", |v| {
        v["status"]["observedGeneration"] == 2 && v["status"]["updatedNumberScheduled"] == 3
    });
    std::thread::sleep(Duration::from_millis(60));
    let v2 = c.get_json(&path);
    assert_eq!(v2["status"]["numberAvailable"], 2, "{}", v["status"]);
    assert_eq!(v2["status"]["numberUnavailable"], 1);
    // lifting the stall finishes it
    c.post("/_mini/rollout", &json!({"stall": "none"}));
    wait_for(&c, &path, "the end of the rollout", |v| {
        v["status"]["numberAvailable"] == 3
    });
}

#[test]
fn deployment_rollouts_follow_replicas() {
    let (_s, c) = server_with(Rollout {
        delay: Duration::from_millis(10),
        ..Rollout::default()
    });
    c.create(DEPLOY, &deployment("kc", 2));
    let path = format!("{DEPLOY}/kc");
    let v = wait_for(&c, &path, "the rollout", |v| {
        v["status"]["availableReplicas"] == 2
    });
    assert_eq!(v["status"]["observedGeneration"], 1);
    assert_eq!(v["status"]["updatedReplicas"], 2);
    assert!(has_condition(&v, "Available", "status", "True"));
    assert!(has_condition(
        &v,
        "Progressing",
        "reason",
        "NewReplicaSetAvailable"
    ));
    c.merge_patch(&format!("{path}/scale"), &json!({"spec": {"replicas": 0}}));
    let v = wait_for(&c, &path, "scaling to zero", |v| {
        v["status"]["observedGeneration"] == 2
    });
    assert!(v["status"].get("replicas").is_none(), "{}", v["status"]);
    assert!(v["status"].get("availableReplicas").is_none());
}
