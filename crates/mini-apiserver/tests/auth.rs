//! Authentication with bearer tokens, RBAC, explicit denials and
//! SelfSubjectAccessReview.

mod common;

use std::time::Duration;

use common::*;
use mini_apiserver::{BackgroundServer, Denial, Options, TokenUser};
use serde_json::{Value, json};

const RBAC: &str = "/apis/rbac.authorization.k8s.io/v1";
const SSAR: &str = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";

fn server_with_users() -> (BackgroundServer, Client) {
    server_with_options(Options {
        crd_establish_delay: Duration::from_millis(5),
        tokens: vec![
            TokenUser::new("alice-token", "alice", &[]),
            TokenUser::new("bob-token", "bob", &["net-admins"]),
            TokenUser::new("root-token", "root", &["system:masters"]),
            TokenUser::new(
                "sa-token",
                "system:serviceaccount:kube-system:calico-node",
                &[],
            ),
        ],
        ..Options::default()
    })
}

fn grant(c: &Client, name: &str, rules: Value, subjects: Value) {
    c.create(
        &format!("{RBAC}/clusterroles"),
        &obj(
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            name,
            json!({"rules": rules}),
        ),
    );
    c.create(
        &format!("{RBAC}/clusterrolebindings"),
        &obj("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", name, json!({
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": subjects
        })),
    );
}

fn review(c: &Client, attrs: Value) -> Value {
    let r = c.post(
        SSAR,
        &json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": {"resourceAttributes": attrs}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

#[test]
fn tokens_authenticate() {
    let (s, c) = server_with_users();
    // no token: the admin
    assert_eq!(c.get("/api/v1/nodes").status, 200);
    // an unknown token
    failure(
        &c.with_token("nope").get("/api/v1/nodes"),
        401,
        "Unauthorized",
        "Unauthorized",
    );
    // a known user may discover, not list
    let alice = c.with_token("alice-token");
    assert_eq!(alice.get("/api").status, 200);
    assert_eq!(alice.get("/apis/apps/v1").status, 200);
    assert_eq!(alice.get("/version").status, 200);
    alice.get("/api/v1/nodes").status_of(403, "Forbidden");
    // system:masters is an admin
    assert_eq!(c.with_token("root-token").get("/api/v1/nodes").status, 200);
    // requiring tokens
    s.controls().require_token(true);
    c.get("/api/v1/nodes").status_of(401, "Unauthorized");
    assert_eq!(c.get("/healthz").status, 200, "health probes stay open");
    // over HTTP: a new user, and tokens no longer required
    let r = c.post(
        "/_mini/auth",
        &json!({"tokens": [{"token": "carol-token", "user": "carol", "groups": ["g"]}], "require_token": false}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        !r.text().contains("carol-token"),
        "tokens are never echoed: {}",
        r.text()
    );
    assert_eq!(r.json()["require_token"], false);
    assert_eq!(c.get("/api/v1/nodes").status, 200);
    c.with_token("carol-token")
        .get("/api/v1/nodes")
        .status_of(403, "Forbidden");
}

/// A merge patch of node n1 that sets its label `a` to `value`, sent as `client`.
fn label_n1(client: &Client, value: &str) -> Resp {
    client.merge_patch(
        "/api/v1/nodes/n1",
        &json!({"metadata": {"labels": {"a": value}}}),
    )
}

#[test]
fn rbac_decides_with_kubes_messages() {
    let (_s, c) = server_with_users();
    c.create("/api/v1/nodes", &obj("v1", "Node", "n1", json!({})));
    let alice = c.with_token("alice-token");
    let st = failure(
        &label_n1(&alice, "b"),
        403,
        "Forbidden",
        "nodes \"n1\" is forbidden: User \"alice\" cannot patch resource \"nodes\" in API group \"\" at the cluster scope",
    );
    assert_eq!(st["details"], json!({"name": "n1", "kind": "nodes"}));
    for (response, message) in [
        (
            alice.get("/apis/apps/v1/namespaces/kube-system/deployments"),
            "deployments.apps is forbidden: User \"alice\" cannot list resource \"deployments\" in API group \"apps\" in the namespace \"kube-system\"",
        ),
        (
            alice.get("/api/v1/configmaps?watch=true"),
            "configmaps is forbidden: User \"alice\" cannot watch resource \"configmaps\" in API group \"\" at the cluster scope",
        ),
        (
            alice.post(
                "/api/v1/namespaces/default/configmaps",
                &obj("v1", "ConfigMap", "x", json!({})),
            ),
            "configmaps is forbidden: User \"alice\" cannot create resource \"configmaps\" in API group \"\" in the namespace \"default\"",
        ),
        (
            alice.delete("/api/v1/namespaces/default/configmaps"),
            "configmaps is forbidden: User \"alice\" cannot deletecollection resource \"configmaps\" in API group \"\" in the namespace \"default\"",
        ),
        (
            alice.get("/api/v1/namespaces/kube-system"),
            "namespaces \"kube-system\" is forbidden: User \"alice\" cannot get resource \"namespaces\" in API group \"\" in the namespace \"kube-system\"",
        ),
        (
            alice.merge_patch(
                "/apis/apps/v1/namespaces/kube-system/deployments/kc/scale",
                &json!({"spec": {"replicas": 0}}),
            ),
            "deployments.apps \"kc\" is forbidden: User \"alice\" cannot patch resource \"deployments/scale\" in API group \"apps\" in the namespace \"kube-system\"",
        ),
    ] {
        assert_eq!(response.message_of(403, "Forbidden"), message);
    }

    // grants: nodes (and their status), a named ConfigMap in one namespace, scale
    grant(
        &c,
        "node-patcher",
        json!([{"apiGroups": [""], "resources": ["nodes", "nodes/status"], "verbs": ["get", "list", "patch"]}]),
        json!([{"kind": "User", "name": "alice"}]),
    );
    assert_eq!(label_n1(&alice, "b").status, 200);
    assert_eq!(
        alice
            .merge_patch(
                "/api/v1/nodes/n1/status",
                &json!({"status": {"phase": "Running"}})
            )
            .status,
        200
    );
    alice.delete("/api/v1/nodes/n1").status_of(403, "Forbidden");
    c.create(
        "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/roles",
        &obj("rbac.authorization.k8s.io/v1", "Role", "journal", json!({"rules": [
            {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["calico-migrate-journal"], "verbs": ["*"]},
            {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["get", "patch"]}
        ]})),
    );
    c.create(
        "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/rolebindings",
        &obj("rbac.authorization.k8s.io/v1", "RoleBinding", "journal", json!({
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "journal"},
            "subjects": [{"kind": "Group", "name": "system:authenticated"}]
        })),
    );
    c.create(
        "/api/v1/namespaces/kube-system/configmaps",
        &obj("v1", "ConfigMap", "calico-migrate-journal", json!({})),
    );
    let bob = c.with_token("bob-token");
    assert_eq!(
        bob.merge_patch(
            "/api/v1/namespaces/kube-system/configmaps/calico-migrate-journal",
            &json!({"data": {"step": "1"}})
        )
        .status,
        200
    );
    bob.get("/api/v1/namespaces/kube-system/configmaps/other")
        .status_of(403, "Forbidden");
    bob.get("/api/v1/namespaces/default/configmaps/calico-migrate-journal")
        .status_of(403, "Forbidden");
    // a ServiceAccount subject
    grant(
        &c,
        "sa-reader",
        json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["list"]}]),
        json!([{"kind": "ServiceAccount", "name": "calico-node", "namespace": "kube-system"}]),
    );
    assert_eq!(
        c.with_token("sa-token")
            .get("/apis/apps/v1/daemonsets")
            .status,
        200
    );
    c.with_token("sa-token")
        .get("/api/v1/nodes/n1")
        .status_of(403, "Forbidden");
}

#[test]
fn self_subject_access_reviews_answer_for_the_caller() {
    let (_s, c) = server_with_users();
    // the admin
    let r = review(&c, json!({"verb": "patch", "resource": "nodes"}));
    assert_eq!(r["kind"], "SelfSubjectAccessReview");
    assert_eq!(r["status"]["allowed"], true);
    assert_eq!(r["spec"]["resourceAttributes"]["verb"], "patch");
    // alice, before and after a grant
    let alice = c.with_token("alice-token");
    let r = review(
        &alice,
        json!({"verb": "patch", "group": "apps", "resource": "deployments", "subresource": "scale", "namespace": "kube-system"}),
    );
    assert_eq!(r["status"], json!({"allowed": false}));
    grant(
        &c,
        "scaler",
        json!([{"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["patch"]}]),
        json!([{"kind": "User", "name": "alice"}]),
    );
    let r = review(
        &alice,
        json!({"verb": "patch", "group": "apps", "resource": "deployments", "subresource": "scale", "namespace": "kube-system"}),
    );
    assert_eq!(r["status"]["allowed"], true);
    assert_eq!(
        r["status"]["reason"],
        "RBAC: allowed by ClusterRoleBinding \"scaler\" of ClusterRole \"scaler\" to User \"alice\""
    );
    // a non-resource review
    let r = alice.post(
        SSAR,
        &json!({"spec": {"nonResourceAttributes": {"verb": "get", "path": "/version"}}}),
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["status"]["allowed"], true);
    // invalid reviews
    failure(
        &alice.post(SSAR, &json!({"spec": {}})),
        422,
        "Invalid",
        "SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified",
    );
    c.get(SSAR).status_of(405, "MethodNotAllowed");
}

#[test]
fn explicit_denials_agree_with_reviews() {
    let (s, c) = server();
    c.create("/api/v1/nodes", &obj("v1", "Node", "n1", json!({})));
    s.controls().deny(Denial::new("patch", "", "nodes", None));
    let r = review(
        &c,
        json!({"verb": "patch", "resource": "nodes", "name": "n1"}),
    );
    assert_eq!(r["status"]["allowed"], false);
    assert_eq!(r["status"]["denied"], true);
    let reason = r["status"]["reason"].as_str().unwrap().to_string();
    failure(
        &label_n1(&c, "b"),
        403,
        "Forbidden",
        format!(
            "nodes \"n1\" is forbidden: User \"system:admin\" cannot patch resource \"nodes\" in API group \"\" at the cluster scope: {reason}"
        ),
    );
    // other verbs are not denied
    assert_eq!(c.get("/api/v1/nodes/n1").status, 200);
    assert_eq!(
        review(&c, json!({"verb": "get", "resource": "nodes"}))["status"]["allowed"],
        true
    );
    // over HTTP: a namespaced denial of a subresource
    let r = c.post(
        "/_mini/denials",
        &json!({"clear": true, "add": [{"verb": "update", "group": "apps", "resource": "deployments/scale", "namespace": "kube-system"}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["denials"].as_array().unwrap().len(), 1);
    assert_eq!(label_n1(&c, "c").status, 200);
    let r = review(
        &c,
        json!({"verb": "update", "group": "apps", "resource": "deployments", "subresource": "scale", "namespace": "kube-system"}),
    );
    assert_eq!(r["status"]["allowed"], false);
    let r = review(
        &c,
        json!({"verb": "update", "group": "apps", "resource": "deployments", "subresource": "scale", "namespace": "default"}),
    );
    assert_eq!(r["status"]["allowed"], true);
    c.put(
        "/apis/apps/v1/namespaces/kube-system/deployments/x/scale",
        &json!({}),
    )
    .status_of(403, "Forbidden");
}
