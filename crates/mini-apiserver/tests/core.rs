//! Discovery, the core v1 kinds, the generic verbs and their errors.

mod common;

use common::*;
use serde_json::{Value, json};

const CMS: &str = "/api/v1/namespaces/default/configmaps";

fn cm(name: &str, data: Value) -> Value {
    obj("v1", "ConfigMap", name, json!({"data": data}))
}

#[test]
fn discovery_documents() {
    let (_s, c) = server();
    let v = c.get_json("/version");
    assert_eq!(v["major"], "1");
    assert_eq!(v["minor"], "32");
    assert!(v["gitVersion"].as_str().unwrap().starts_with("v1.32."));

    let api = c.get_json("/api");
    assert_eq!(api["kind"], "APIVersions");
    assert_eq!(api["versions"], json!(["v1"]));

    let core = c.get_json("/api/v1");
    assert_eq!(core["kind"], "APIResourceList");
    assert_eq!(core["groupVersion"], "v1");
    assert_lists_resources(
        &core,
        &[
            "namespaces",
            "configmaps",
            "secrets",
            "nodes",
            "nodes/status",
        ],
    );
    let cmr = resource_entry(&core, "configmaps");
    assert_eq!(cmr["kind"], "ConfigMap");
    assert_eq!(cmr["singularName"], "configmap");
    assert_eq!(cmr["namespaced"], true);
    assert!(
        cmr["verbs"]
            .as_array()
            .unwrap()
            .contains(&json!("deletecollection"))
    );
    let nodes = resource_entry(&core, "nodes");
    assert_eq!(nodes["namespaced"], false);

    let apis = c.get_json("/apis");
    assert_eq!(apis["kind"], "APIGroupList");
    assert!(
        apis["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "apiextensions.k8s.io"
                && g["preferredVersion"]["groupVersion"] == "apiextensions.k8s.io/v1")
    );
    let g = c.get_json("/apis/apiextensions.k8s.io");
    assert_eq!(g["kind"], "APIGroup");
    let gv = c.get_json("/apis/apiextensions.k8s.io/v1");
    assert_eq!(gv["groupVersion"], "apiextensions.k8s.io/v1");
    assert_lists_resources(&gv, &["customresourcedefinitions/status"]);
    assert_eq!(c.get("/healthz").text(), "ok");
}

#[test]
fn unknown_paths_and_methods() {
    let (_s, c) = server();
    for p in [
        "/apis/nope.io/v1",
        "/apis/nope.io",
        "/api/v2",
        "/api/v1/foos",
        "/apis/crd.projectcalico.org/v1/ippools",
        "/openapi/v2",
        "/api/v1/namespaces/default/nodes",
        "/api/v1/configmaps/x",
        "/api/v1/namespaces/default/configmaps/x/status",
    ] {
        let st = c.get(p).status_of(404, "NotFound");
        assert_eq!(
            st["message"], "the server could not find the requested resource",
            "{p}"
        );
        assert_eq!(st["details"], json!({}));
    }
    failure(
        &c.post(&format!("{CMS}/x"), &json!({})),
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
    );
    c.post("/api/v1/configmaps", &cm("x", json!({})))
        .status_of(405, "MethodNotAllowed");
    c.delete("/api/v1/namespaces")
        .status_of(405, "MethodNotAllowed");
}

/// The resourceVersion of a list of `path`.
fn list_version(c: &Client, path: &str) -> u64 {
    c.get_json(path)["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn configmap_lifecycle_and_metadata() {
    let (_s, c) = server();
    let before = list_version(&c, CMS);
    let mut body = cm("a", json!({"k": "v"}));
    body["metadata"]["uid"] = json!("client-uid");
    body["metadata"]["creationTimestamp"] = json!("2001-01-01T00:00:00Z");
    let created = c.create(CMS, &body);
    assert_eq!(created["kind"], "ConfigMap");
    assert_eq!(created["apiVersion"], "v1");
    let m = &created["metadata"];
    assert_eq!(m["namespace"], "default");
    let uid = m["uid"].as_str().unwrap();
    assert_ne!(uid, "client-uid");
    assert_eq!(uid.len(), 36);
    assert_eq!(&uid[14..15], "4", "uuid v4: {uid}");
    let ts = m["creationTimestamp"].as_str().unwrap();
    assert_ne!(ts, "2001-01-01T00:00:00Z");
    assert!(ts.ends_with('Z') && ts.len() == 20, "{ts}");
    let rv: u64 = m["resourceVersion"].as_str().unwrap().parse().unwrap();
    assert!(rv > before);
    assert!(m.get("generation").is_none());

    let got = c.get_json(&format!("{CMS}/a"));
    assert_eq!(got, created);

    // update without resourceVersion is allowed for core types
    let mut upd = got.clone();
    upd["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    upd["data"]["k"] = json!("v2");
    let r = c.put(&format!("{CMS}/a"), &upd);
    assert_eq!(r.status, 200, "{}", r.text());
    let updated = r.json();
    assert_eq!(updated["data"]["k"], "v2");
    assert_eq!(updated["metadata"]["uid"], created["metadata"]["uid"]);
    assert_eq!(
        updated["metadata"]["creationTimestamp"],
        created["metadata"]["creationTimestamp"]
    );
    let rv2: u64 = updated["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv2 > rv);

    // a no-op update keeps the resourceVersion
    let r = c.put(&format!("{CMS}/a"), &updated);
    assert_eq!(
        r.json()["metadata"]["resourceVersion"],
        updated["metadata"]["resourceVersion"]
    );

    // stale resourceVersion
    let mut stale = updated.clone();
    stale["metadata"]["resourceVersion"] = json!(rv.to_string());
    let st = failure(
        &c.put(&format!("{CMS}/a"), &stale),
        409,
        "Conflict",
        "Operation cannot be fulfilled on configmaps \"a\": the object has been modified; please apply your changes to the latest version and try again",
    );
    assert_eq!(st["details"], json!({"name": "a", "kind": "configmaps"}));

    // changing the uid is refused
    let mut bad = updated.clone();
    bad["metadata"]["uid"] = json!("00000000-0000-4000-8000-000000000000");
    let st = c.put(&format!("{CMS}/a"), &bad).status_of(422, "Invalid");
    assert_message_contains(
        &st,
        "metadata.uid: Invalid value: \"00000000-0000-4000-8000-000000000000\": field is immutable",
    );

    // already exists
    let st = failure(
        &c.post(CMS, &cm("a", json!({}))),
        409,
        "AlreadyExists",
        "configmaps \"a\" already exists",
    );
    assert_eq!(st["details"], json!({"name": "a", "kind": "configmaps"}));

    // not found
    let st = failure(
        &c.get(&format!("{CMS}/nope")),
        404,
        "NotFound",
        "configmaps \"nope\" not found",
    );
    assert_eq!(st["details"], json!({"name": "nope", "kind": "configmaps"}));
    failure(
        &c.put(&format!("{CMS}/nope"), &cm("nope", json!({}))),
        404,
        "NotFound",
        "configmaps \"nope\" not found",
    );

    // name mismatch
    failure(
        &c.put(&format!("{CMS}/a"), &cm("b", json!({}))),
        400,
        "BadRequest",
        "the name of the object (b) does not match the name on the URL (a)",
    );

    // delete answers with a Status of Success
    let r = c.delete(&format!("{CMS}/a"));
    assert_eq!(r.status, 200);
    let d = r.json();
    assert_eq!(d["kind"], "Status");
    assert_eq!(d["status"], "Success");
    assert_eq!(d["details"]["name"], "a");
    assert_eq!(d["details"]["kind"], "configmaps");
    assert_eq!(d["details"]["uid"], created["metadata"]["uid"]);
    c.get(&format!("{CMS}/a")).status_of(404, "NotFound");
    c.delete(&format!("{CMS}/a")).status_of(404, "NotFound");
}

#[test]
fn create_errors() {
    let (_s, c) = server();
    // namespace missing
    let st = failure(
        &c.post("/api/v1/namespaces/nope/configmaps", &cm("a", json!({}))),
        404,
        "NotFound",
        "namespaces \"nope\" not found",
    );
    assert_eq!(st["details"], json!({"name": "nope", "kind": "namespaces"}));

    // bodies refused with these messages
    let mut other_namespace = cm("a", json!({}));
    other_namespace["metadata"]["namespace"] = json!("kube-system");
    let number_in_data = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": 5}});
    let mut with_resource_version = cm("rv", json!({}));
    with_resource_version["metadata"]["resourceVersion"] = json!("12");
    for (body, message) in [
        (
            other_namespace,
            "the namespace of the provided object does not match the namespace sent on the request",
        ),
        (
            number_in_data,
            "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ConfigMap.data.k of type string",
        ),
        (
            with_resource_version,
            "resourceVersion should not be set on objects to be created",
        ),
    ] {
        failure(&c.post(CMS, &body), 400, "BadRequest", message);
    }

    // malformed bodies
    let r = c.send("POST", CMS, "application/json", b"{not json");
    let st = r.status_of(400, "BadRequest");
    assert_message_starts_with(&st, "couldn't get version/kind; json parse error");
    c.post(CMS, &json!([1, 2])).status_of(400, "BadRequest");
    let st = c
        .post(CMS, &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": "oops"}}))
        .status_of(400, "BadRequest");
    assert_message_contains(&st, "cannot be handled as a ConfigMap");
    c.post(
        CMS,
        &json!({"apiVersion": "v2", "kind": "ConfigMap", "metadata": {"name": "x"}}),
    )
    .status_of(400, "BadRequest");
    // unsupported media type
    let r = c.send("POST", CMS, "application/yaml", b"a: b");
    r.status_of(415, "UnsupportedMediaType");
    // a kind may be left out of a core object
    let r = c.post(CMS, &json!({"metadata": {"name": "nokind"}}));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["kind"], "ConfigMap");
}

#[test]
fn name_and_label_validation() {
    let (_s, c) = server();
    let st = c
        .post(CMS, &cm("Upper", json!({})))
        .status_of(422, "Invalid");
    assert_eq!(
        st["message"],
        "ConfigMap \"Upper\" is invalid: metadata.name: Invalid value: \"Upper\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    );
    assert_eq!(st["details"]["kind"], "ConfigMap");
    assert_eq!(st["details"]["name"], "Upper");
    assert_eq!(st["details"]["causes"][0]["reason"], "FieldValueInvalid");
    assert_eq!(st["details"]["causes"][0]["field"], "metadata.name");

    let long = "a".repeat(254);
    let st = c.post(CMS, &cm(&long, json!({}))).status_of(422, "Invalid");
    assert!(
        causes(&st)
            .iter()
            .any(|m| m.contains("must be no more than 253 characters"))
    );

    let st = c
        .post(
            "/api/v1/namespaces",
            &obj("v1", "Namespace", "a.b", json!({})),
        )
        .status_of(422, "Invalid");
    assert_message_contains(
        &st,
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'",
    );

    let st = failure(
        &c.post(CMS, &json!({"metadata": {}})),
        422,
        "Invalid",
        "ConfigMap \"\" is invalid: metadata.name: Required value: name or generateName is required",
    );
    assert_eq!(st["details"]["causes"][0]["reason"], "FieldValueRequired");

    let mut b = cm("labels", json!({}));
    b["metadata"]["labels"] = json!({"bad key": "v", "ok": "-bad-", "long": "x".repeat(64)});
    let st = c.post(CMS, &b).status_of(422, "Invalid");
    let msgs = causes(&st);
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert!(msgs[0].starts_with("metadata.labels: Invalid value: \"bad key\": name part must consist of alphanumeric characters"), "{msgs:?}");
    assert!(msgs.iter().any(|m| {
        m.contains("a valid label must be an empty string or consist of alphanumeric characters")
    }));
    assert!(
        msgs.iter()
            .any(|m| m.contains("must be no more than 63 characters"))
    );
    assert_message_contains(&st, "is invalid: [");

    let mut b = cm("ann", json!({}));
    b["metadata"]["annotations"] = json!({"big": "x".repeat(300_000)});
    let st = c.post(CMS, &b).status_of(422, "Invalid");
    assert_eq!(
        causes(&st),
        vec!["metadata.annotations: Too long: may not be more than 262144 bytes"]
    );

    let st = c
        .post(CMS, &cm("keys", json!({"a b": "x"})))
        .status_of(422, "Invalid");
    assert!(causes(&st)[0].starts_with("data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters"));
}

#[test]
fn empty_maps_are_omitted_like_go_omitempty() {
    let (_s, c) = server();
    let v = c.create(
        CMS,
        &json!({"metadata": {"name": "e", "labels": {}, "annotations": {}, "finalizers": []}, "data": {}}),
    );
    assert!(v.get("data").is_none(), "{v}");
    let m = v["metadata"].as_object().unwrap();
    for k in ["labels", "annotations", "finalizers"] {
        assert!(!m.contains_key(k), "{k} in {v}");
    }
}

#[test]
fn generate_name() {
    let (_s, c) = server();
    let mut names = std::collections::HashSet::new();
    for _ in 0..5 {
        let created = c.create(
            CMS,
            &json!({"metadata": {"generateName": "web-"}, "data": {}}),
        );
        let name = created["metadata"]["name"].as_str().unwrap().to_string();
        assert_eq!(created["metadata"]["generateName"], "web-");
        assert_eq!(name.len(), 9);
        assert!(name.starts_with("web-"));
        assert!(
            name[4..]
                .chars()
                .all(|ch| "bcdfghjklmnpqrstvwxz2456789".contains(ch)),
            "{name}"
        );
        names.insert(name);
    }
    assert_eq!(names.len(), 5);
    let st = c
        .post(CMS, &json!({"metadata": {"generateName": "Bad-"}}))
        .status_of(422, "Invalid");
    assert!(causes(&st)[0].starts_with("metadata.generateName: Invalid value: \"Bad-\""));
}

#[test]
fn secrets_base64_and_string_data() {
    let (_s, c) = server();
    let secrets = "/api/v1/namespaces/kube-system/secrets";
    let created = c.create(
        secrets,
        &obj(
            "v1",
            "Secret",
            "calico-etcd-secrets",
            json!({"data": {"etcd-ca": "Y2E="}, "stringData": {"etcd-key": "key", "etcd-ca": "override"}}),
        ),
    );
    assert_eq!(created["type"], "Opaque");
    assert_eq!(
        created["data"],
        json!({"etcd-ca": "b3ZlcnJpZGU=", "etcd-key": "a2V5"})
    );
    assert!(created.get("stringData").is_none());
    failure(
        &c.post(
            secrets,
            &obj("v1", "Secret", "bad", json!({"data": {"k": "no*base64"}})),
        ),
        400,
        "BadRequest",
        "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 2",
    );
    // stringData on update and on patch
    let r = c.merge_patch(
        &format!("{secrets}/calico-etcd-secrets"),
        &json!({"stringData": {"etcd-cert": "cert"}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let p = r.json();
    assert_eq!(p["data"]["etcd-cert"], "Y2VydA==");
    assert!(p.get("stringData").is_none());
    // type is immutable
    let mut upd = p.clone();
    upd["type"] = json!("kubernetes.io/tls");
    let st = c
        .put(&format!("{secrets}/calico-etcd-secrets"), &upd)
        .status_of(422, "Invalid");
    assert!(
        causes(&st)[0]
            .starts_with("type: Invalid value: \"kubernetes.io/tls\": field is immutable")
    );
}

#[test]
fn namespaces_and_cascade() {
    let (_s, c) = server();
    let ns = c.create(
        "/api/v1/namespaces",
        &obj("v1", "Namespace", "team", json!({})),
    );
    assert_eq!(ns["status"]["phase"], "Active");
    assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
    assert_eq!(
        ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "team"
    );
    for n in ["a", "b"] {
        c.create("/api/v1/namespaces/team/configmaps", &cm(n, json!({})));
    }
    c.create(
        "/api/v1/namespaces/team/secrets",
        &obj("v1", "Secret", "s", json!({})),
    );
    c.create(CMS, &cm("stays", json!({})));
    let r = c.delete("/api/v1/namespaces/team");
    assert_eq!(r.status, 200);
    let gone = r.json();
    assert_eq!(gone["kind"], "Namespace");
    assert_eq!(gone["status"]["phase"], "Terminating");
    assert!(gone["metadata"]["deletionTimestamp"].is_string());
    // a namespace goes (with its content) once it has finished terminating
    wait_until("the namespace to go", || {
        c.get("/api/v1/namespaces/team").status == 404
    });
    let all = c.get_json("/api/v1/configmaps");
    assert_eq!(item_names(&all), vec!["stays"]);
    assert_eq!(c.get_json("/api/v1/secrets")["items"], json!([]));
    failure(
        &c.delete("/api/v1/namespaces/kube-system"),
        403,
        "Forbidden",
        "namespaces \"kube-system\" is forbidden: this namespace may not be deleted",
    );
    // the namespaces of the options exist
    let list = c.get_json("/api/v1/namespaces");
    assert_eq!(
        item_names(&list),
        vec!["default", "kube-node-lease", "kube-public", "kube-system"]
    );
}

#[test]
fn nodes_and_status_subresource() {
    let (_s, c) = server();
    let node = c.create(
        "/api/v1/nodes",
        &obj(
            "v1",
            "Node",
            "worker-1",
            json!({"spec": {"podCIDR": "10.0.0.0/24"}, "status": {"nodeInfo": {"kubeletVersion": "v1.32.0"}}}),
        ),
    );
    // status may be set on create for nodes
    assert_eq!(node["status"]["nodeInfo"]["kubeletVersion"], "v1.32.0");
    let path = "/api/v1/nodes/worker-1";

    // main resource: status changes are ignored, the rest is taken
    let mut upd = node.clone();
    upd["status"]["nodeInfo"]["kubeletVersion"] = json!("v9");
    upd["metadata"]["labels"] = json!({"a": "b"});
    let u = c.put(path, &upd).json();
    assert_eq!(u["status"]["nodeInfo"]["kubeletVersion"], "v1.32.0");
    assert_eq!(u["metadata"]["labels"]["a"], "b");

    // status subresource: spec changes are ignored, status and metadata are taken
    let mut st = u.clone();
    st["spec"]["podCIDR"] = json!("10.9.9.0/24");
    st["status"]["nodeInfo"]["kubeletVersion"] = json!("v1.33.0");
    st["metadata"]["annotations"] = json!({"projectcalico.org/IPv4Address": "10.0.0.5/24"});
    let r = c.put(&format!("{path}/status"), &st);
    assert_eq!(r.status, 200, "{}", r.text());
    let s2 = r.json();
    assert_eq!(s2["spec"]["podCIDR"], "10.0.0.0/24");
    assert_eq!(s2["status"]["nodeInfo"]["kubeletVersion"], "v1.33.0");
    assert_eq!(
        s2["metadata"]["annotations"]["projectcalico.org/IPv4Address"],
        "10.0.0.5/24"
    );
    // merge patch on the node annotations
    let r = c.merge_patch(
        path,
        &json!({"metadata": {"annotations": {"projectcalico.org/IPv4Address": null, "projectcalico.org/ASNumber": "64512"}}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let p = r.json();
    assert_eq!(
        p["metadata"]["annotations"],
        json!({"projectcalico.org/ASNumber": "64512"})
    );
    // patch through status
    let r = c.merge_patch(
        &format!("{path}/status"),
        &json!({"status": {"phase": "Running"}}),
    );
    assert_eq!(r.json()["status"]["phase"], "Running");
    assert_eq!(
        c.get_json(&format!("{path}/status"))["status"]["phase"],
        "Running"
    );
    // a status subresource exists only where declared
    c.get("/api/v1/namespaces/default/configmaps/x/status")
        .status_of(404, "NotFound");
    c.post(&format!("{path}/status"), &json!({}))
        .status_of(405, "MethodNotAllowed");
}

#[test]
fn list_paging_is_consistent() {
    let (_s, c) = server();
    for i in 0..7 {
        c.create(CMS, &cm(&format!("cm-{i}"), json!({})));
    }
    let p1 = c.get_json(&format!("{CMS}?limit=3"));
    assert_eq!(p1["kind"], "ConfigMapList");
    assert_eq!(p1["apiVersion"], "v1");
    assert!(
        p1["items"][0].get("kind").is_none(),
        "items of core lists carry no kind"
    );
    assert_eq!(item_names(&p1), vec!["cm-0", "cm-1", "cm-2"]);
    assert_eq!(p1["metadata"]["remainingItemCount"], 4);
    let rv1 = p1["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let tok = p1["metadata"]["continue"].as_str().unwrap().to_string();

    // changes after the first page are not seen by the continued list
    c.create(CMS, &cm("cm-3a", json!({})));
    c.delete(&format!("{CMS}/cm-5"));
    c.merge_patch(&format!("{CMS}/cm-4"), &json!({"data": {"x": "y"}}));

    let p2 = c.get_json(&format!("{CMS}?limit=3&continue={tok}"));
    assert_eq!(item_names(&p2), vec!["cm-3", "cm-4", "cm-5"]);
    assert!(p2["items"][1].get("data").is_none() || p2["items"][1]["data"] == json!({}));
    assert_eq!(p2["metadata"]["resourceVersion"], rv1);
    assert_eq!(p2["metadata"]["remainingItemCount"], 1);
    let tok2 = p2["metadata"]["continue"].as_str().unwrap();
    let p3 = c.get_json(&format!("{CMS}?limit=3&continue={tok2}"));
    assert_eq!(item_names(&p3), vec!["cm-6"]);
    assert!(p3["metadata"].get("continue").is_none());
    assert!(p3["metadata"].get("remainingItemCount").is_none());

    // a new list sees the present
    let now = c.get_json(CMS);
    assert_eq!(
        item_names(&now),
        vec!["cm-0", "cm-1", "cm-2", "cm-3", "cm-3a", "cm-4", "cm-6"]
    );
    assert_ne!(now["metadata"]["resourceVersion"], rv1);

    let st = c
        .get(&format!("{CMS}?continue=garbage!"))
        .status_of(400, "BadRequest");
    assert_message_starts_with(&st, "continue key is not valid");
    failure(
        &c.get(&format!("{CMS}?continue={tok}&resourceVersion=5")),
        400,
        "BadRequest",
        "specifying resource version is not allowed when using continue",
    );
}

#[test]
fn lists_read_resource_version_and_its_match_as_kube_apiserver() {
    let (_s, c) = server();
    c.create(CMS, &cm("a", json!({})));
    let now = list_version(&c, CMS);
    // At least as recent as a version the server has reached: the present.
    let listed = c.get_json(&format!(
        "{CMS}?resourceVersion={now}&resourceVersionMatch=NotOlderThan"
    ));
    assert_eq!(item_names(&listed), vec!["a"]);
    assert_eq!(
        item_names(&c.get_json(&format!("{CMS}?resourceVersion=0"))),
        vec!["a"]
    );
    // A version it has not reached: the real server gives up after waiting for its cache.
    let st = c
        .get(&format!(
            "{CMS}?resourceVersion={}&resourceVersionMatch=NotOlderThan",
            now + 1000
        ))
        .status_of(504, "Timeout");
    let message = st["message"].as_str().unwrap();
    assert!(message.contains("Too large resource version"), "{message}");
    // An exact version shows the list as it was then.
    c.create(CMS, &cm("b", json!({})));
    let then = c.get_json(&format!(
        "{CMS}?resourceVersion={now}&resourceVersionMatch=Exact"
    ));
    assert_eq!(item_names(&then), vec!["a"]);
    c.get(&format!("{CMS}?resourceVersionMatch=NotOlderThan"))
        .status_of(422, "Invalid");
    c.get(&format!(
        "{CMS}?resourceVersion=1&resourceVersionMatch=Newest"
    ))
    .status_of(422, "Invalid");
}

#[test]
fn cluster_wide_lists_are_ordered_by_namespace_then_name() {
    let (_s, c) = server();
    c.create(
        "/api/v1/namespaces",
        &obj("v1", "Namespace", "a-b", json!({})),
    );
    c.create(
        "/api/v1/namespaces",
        &obj("v1", "Namespace", "a", json!({})),
    );
    c.create("/api/v1/namespaces/a-b/configmaps", &cm("z", json!({})));
    c.create("/api/v1/namespaces/a/configmaps", &cm("y", json!({})));
    c.create("/api/v1/namespaces/a/configmaps", &cm("x", json!({})));
    let all = c.get_json("/api/v1/configmaps?limit=2");
    // etcd key order: "a-b/" sorts before "a/"
    assert_eq!(item_names(&all), vec!["z", "x"]);
    let tok = all["metadata"]["continue"].as_str().unwrap();
    let rest = c.get_json(&format!("/api/v1/configmaps?limit=2&continue={tok}"));
    assert_eq!(item_names(&rest), vec!["y"]);
    let ns_a = c.get_json("/api/v1/namespaces/a/configmaps?limit=1");
    assert_eq!(item_names(&ns_a), vec!["x"]);
    let tok = ns_a["metadata"]["continue"].as_str().unwrap();
    assert_eq!(
        item_names(&c.get_json(&format!(
            "/api/v1/namespaces/a/configmaps?limit=1&continue={tok}"
        ))),
        vec!["y"]
    );
}

#[test]
fn label_and_field_selectors() {
    let (_s, c) = server();
    let mk = |name: &str, labels: Value| {
        let mut b = cm(name, json!({}));
        b["metadata"]["labels"] = labels;
        c.create(CMS, &b);
    };
    mk("a", json!({"app": "web", "tier": "front"}));
    mk("b", json!({"app": "web", "tier": "back"}));
    mk("c", json!({"app": "db"}));
    mk("d", json!({}));
    let q = |sel: &str| {
        let enc = sel
            .replace('%', "%25")
            .replace(' ', "%20")
            .replace('!', "%21")
            .replace('(', "%28")
            .replace(')', "%29")
            .replace(',', "%2C")
            .replace('=', "%3D");
        item_names(&c.get_json(&format!("{CMS}?labelSelector={enc}")))
    };
    assert_eq!(q("app=web"), vec!["a", "b"]);
    assert_eq!(q("app==web"), vec!["a", "b"]);
    assert_eq!(q("app!=web"), vec!["c", "d"]);
    assert_eq!(q("tier in (front,back)"), vec!["a", "b"]);
    assert_eq!(q("tier notin (front)"), vec!["b", "c", "d"]);
    assert_eq!(q("tier"), vec!["a", "b"]);
    assert_eq!(q("!tier"), vec!["c", "d"]);
    assert_eq!(q("app=web,tier=back"), vec!["b"]);
    let st = c
        .get(&format!("{CMS}?labelSelector=app%20in%20(x"))
        .status_of(400, "BadRequest");
    assert!(!st["message"].as_str().unwrap().is_empty());
    c.get(&format!("{CMS}?labelSelector=a%3D%3D%3Db"))
        .status_of(400, "BadRequest");

    // a selective page has no remainingItemCount
    let p = c.get_json(&format!("{CMS}?labelSelector=app&limit=1"));
    assert_eq!(item_names(&p), vec!["a"]);
    assert!(p["metadata"]["continue"].is_string());
    assert!(p["metadata"].get("remainingItemCount").is_none());

    assert_eq!(
        item_names(&c.get_json(&format!("{CMS}?fieldSelector=metadata.name%3Db"))),
        vec!["b"]
    );
    assert_eq!(
        item_names(&c.get_json(&format!("{CMS}?fieldSelector=metadata.name%3D%3Db"))),
        vec!["b"]
    );
    assert_eq!(
        item_names(&c.get_json(&format!("{CMS}?fieldSelector=metadata.name!%3Db"))),
        vec!["a", "c", "d"]
    );
    assert_eq!(
        item_names(&c.get_json("/api/v1/configmaps?fieldSelector=metadata.namespace%3Ddefault"))
            .len(),
        4
    );
    assert_eq!(
        item_names(
            &c.get_json("/api/v1/configmaps?fieldSelector=metadata.namespace%3Dkube-system")
        )
        .len(),
        0
    );
    failure(
        &c.get(&format!("{CMS}?fieldSelector=spec.foo%3Dx")),
        400,
        "BadRequest",
        "field label not supported: spec.foo",
    );
    c.get(&format!("{CMS}?fieldSelector=nonsense"))
        .status_of(400, "BadRequest");
}

#[test]
fn patches_on_core_types() {
    let (_s, c) = server();
    c.create(CMS, &cm("p", json!({"a": "1", "b": "2"})));
    let path = format!("{CMS}/p");
    let r = c.merge_patch(&path, &json!({"data": {"a": null, "c": "3"}}));
    assert_eq!(r.json()["data"], json!({"b": "2", "c": "3"}));
    let r = c.patch(
        &path,
        "application/json-patch+json",
        &json!([{"op": "add", "path": "/data/d", "value": "4"}, {"op": "remove", "path": "/data/b"}]),
    );
    assert_eq!(r.json()["data"], json!({"c": "3", "d": "4"}));
    let r = c.patch(
        &path,
        "application/strategic-merge-patch+json",
        &json!({"metadata": {"labels": {"x": "y"}}, "data": {"e": "5"}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["data"], json!({"c": "3", "d": "4", "e": "5"}));
    assert_eq!(r.json()["metadata"]["labels"], json!({"x": "y"}));
    // a JSON patch that does not apply
    let st = failure(
        &c.patch(
            &path,
            "application/json-patch+json",
            &json!([{"op": "test", "path": "/data/c", "value": "9"}]),
        ),
        422,
        "Invalid",
        "the server rejected our request due to an error in our request",
    );
    assert_eq!(
        st["details"]["causes"][0]["reason"],
        "UnexpectedServerResponse"
    );
    // malformed patches
    c.patch(&path, "application/json-patch+json", &json!({"op": "add"}))
        .status_of(400, "BadRequest");
    c.send("PATCH", &path, "application/merge-patch+json", b"{")
        .status_of(400, "BadRequest");
    // server-side apply needs a field manager
    failure(
        &c.send("PATCH", &path, "application/apply-patch+yaml", b"a: b"),
        422,
        "Invalid",
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
    );
    failure(
        &c.send("PATCH", &path, "text/plain", b"a"),
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml",
    );
    // patch with a stale resourceVersion
    let st = c
        .merge_patch(
            &path,
            &json!({"metadata": {"resourceVersion": "1"}, "data": {"z": "z"}}),
        )
        .status_of(409, "Conflict");
    assert_message_contains(&st, "the object has been modified");
    // patch changing the name
    c.merge_patch(&path, &json!({"metadata": {"name": "other"}}))
        .status_of(400, "BadRequest");
    c.merge_patch(&format!("{CMS}/missing"), &json!({}))
        .status_of(404, "NotFound");
    // unknown fields in a patch produce warnings
    let r = c.merge_patch(&path, &json!({"bogus": 1}));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.all_headers("warning"),
        vec!["299 - \"unknown field \\\"bogus\\\"\""]
    );
}

#[test]
fn delete_preconditions_and_delete_collection() {
    let (_s, c) = server();
    let a = c.create(CMS, &cm("a", json!({})));
    let path = format!("{CMS}/a");
    failure(&c
        .delete_with(&path, &json!({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": "wrong"}})), 409, "Conflict", format!(
            "Operation cannot be fulfilled on configmaps \"a\": Precondition failed: UID in precondition: wrong, UID in object meta: {}",
            a["metadata"]["uid"].as_str().unwrap()
        ));
    let st = c
        .delete_with(&path, &json!({"preconditions": {"resourceVersion": "1"}}))
        .status_of(409, "Conflict");
    assert_message_contains(
        &st,
        "Precondition failed: ResourceVersion in precondition: 1, ResourceVersion in object meta: ",
    );
    c.request("DELETE", &path, &[], Some(b"{bad"))
        .status_of(400, "BadRequest");
    let r = c.delete_with(
        &path,
        &json!({"preconditions": {"uid": a["metadata"]["uid"], "resourceVersion": a["metadata"]["resourceVersion"]}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());

    for (n, l) in [("x", "keep"), ("y", "drop"), ("z", "drop")] {
        let mut b = cm(n, json!({}));
        b["metadata"]["labels"] = json!({"k": l});
        c.create(CMS, &b);
    }
    let r = c.delete(&format!("{CMS}?labelSelector=k%3Ddrop"));
    assert_eq!(r.status, 200);
    let deleted = r.json();
    assert_eq!(deleted["kind"], "ConfigMapList");
    assert_eq!(item_names(&deleted), vec!["y", "z"]);
    assert_eq!(item_names(&c.get_json(CMS)), vec!["x"]);
}

#[test]
fn finalizers_delay_deletion() {
    let (_s, c) = server();
    let mut b = cm("f", json!({}));
    b["metadata"]["finalizers"] = json!(["example.com/hold"]);
    c.create(CMS, &b);
    let path = format!("{CMS}/f");
    let r = c.delete(&path);
    assert_eq!(r.status, 200);
    let held = r.json();
    assert_eq!(held["kind"], "ConfigMap");
    assert!(held["metadata"]["deletionTimestamp"].is_string());
    let still = c.get_json(&path);
    assert!(still["metadata"]["deletionTimestamp"].is_string());
    let r = c.merge_patch(&path, &json!({"metadata": {"finalizers": null}}));
    assert_eq!(r.status, 200, "{}", r.text());
    c.get(&path).status_of(404, "NotFound");
}

#[test]
fn dry_run_stores_nothing() {
    let (s, c) = server();
    let writes = s.faults().writes();
    let r = c.post(&format!("{CMS}?dryRun=All"), &cm("dry", json!({"a": "1"})));
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    assert_eq!(v["metadata"]["name"], "dry");
    assert!(v["metadata"]["uid"].is_string());
    c.get(&format!("{CMS}/dry")).status_of(404, "NotFound");
    // dry-run validation still applies
    c.post(&format!("{CMS}?dryRun=All"), &cm("Bad", json!({})))
        .status_of(422, "Invalid");

    c.create(CMS, &cm("real", json!({"a": "1"})));
    let path = format!("{CMS}/real");
    let r = c.merge_patch(&format!("{path}?dryRun=All"), &json!({"data": {"a": "2"}}));
    assert_eq!(r.json()["data"]["a"], "2");
    assert_eq!(c.get_json(&path)["data"]["a"], "1");
    let mut upd = c.get_json(&path);
    upd["data"]["a"] = json!("3");
    assert_eq!(
        c.put(&format!("{path}?dryRun=All"), &upd).json()["data"]["a"],
        "3"
    );
    assert_eq!(c.get_json(&path)["data"]["a"], "1");
    assert_eq!(c.delete(&format!("{path}?dryRun=All")).status, 200);
    assert_eq!(c.get(&path).status, 200);
    assert_eq!(c.delete(&format!("{CMS}?dryRun=All")).status, 200);
    assert_eq!(c.get(&path).status, 200);
    assert_eq!(s.faults().writes(), writes + 1);
    let st = c
        .post(&format!("{CMS}?dryRun=Some"), &cm("x", json!({})))
        .status_of(422, "Invalid");
    assert_message_contains(&st, "supported values: \"All\"");
}

#[test]
fn table_output_for_kubectl_get() {
    let (_s, c) = server();
    c.create(CMS, &cm("t", json!({"a": "1", "b": "2"})));
    let accept = [(
        "Accept",
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
    )];
    let r = c.request("GET", CMS, &accept, None);
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().contains("as=Table"));
    let t = r.json();
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(t["columnDefinitions"][0]["name"], "Name");
    assert_eq!(t["rows"][0]["cells"][0], "t");
    assert_eq!(t["rows"][0]["cells"][1], 2);
    assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(t["rows"][0]["object"]["metadata"]["name"], "t");
    let one = c.request("GET", &format!("{CMS}/t"), &accept, None).json();
    assert_eq!(one["rows"].as_array().unwrap().len(), 1);
    let full = c
        .request("GET", &format!("{CMS}?includeObject=Object"), &accept, None)
        .json();
    assert_eq!(full["rows"][0]["object"]["data"]["a"], "1");
}

#[test]
fn watch_streams_changes() {
    let (_s, c) = server();
    c.create(CMS, &cm("w0", json!({})));
    let rv = list_version(&c, CMS).to_string();
    let c2 = c.clone();
    let watcher = std::thread::spawn(move || {
        c2.get(&format!(
            "{CMS}?watch=true&resourceVersion={rv}&timeoutSeconds=1"
        ))
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    c.create(CMS, &cm("w1", json!({})));
    c.merge_patch(&format!("{CMS}/w1"), &json!({"data": {"a": "b"}}));
    c.delete(&format!("{CMS}/w1"));
    let r = watcher.join().unwrap();
    assert_eq!(r.status, 200);
    let events: Vec<Value> = r
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, vec!["ADDED", "MODIFIED", "DELETED"]);
    assert_eq!(events[0]["object"]["kind"], "ConfigMap");
    assert_eq!(events[1]["object"]["data"]["a"], "b");

    // without a resourceVersion: the current objects first
    let r = c.get(&format!("{CMS}?watch=1&timeoutSeconds=1"));
    let first: Value = serde_json::from_str(r.text().lines().next().unwrap()).unwrap();
    assert_eq!(first["type"], "ADDED");
    assert_eq!(first["object"]["metadata"]["name"], "w0");

    // kubectl get -w asks for Table events: one row each, columns with the first only
    let accept = [(
        "Accept",
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
    )];
    let r = c.request(
        "GET",
        &format!("{CMS}?watch=1&timeoutSeconds=1"),
        &accept,
        None,
    );
    let ev: Value = serde_json::from_str(r.text().lines().next().unwrap()).unwrap();
    assert_eq!(ev["type"], "ADDED");
    assert_eq!(ev["object"]["kind"], "Table");
    assert_eq!(ev["object"]["rows"][0]["cells"][0], "w0");
    assert!(ev["object"]["columnDefinitions"].is_array());

    // a resourceVersion that is not a number
    c.get(&format!("{CMS}?watch=1&resourceVersion=abc"))
        .status_of(400, "BadRequest");
}

#[test]
fn malformed_input_never_breaks_the_server() {
    let (s, c) = server();
    // Thousands of requests: the cost of a real server would only slow the test down.
    s.controls().set_cost(0.0);
    install_calico(&c, &["ippools"]);
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"\"str\"".to_vec(),
        b"{\"metadata\": 5}".to_vec(),
        b"{\"metadata\": {\"name\": 5}}".to_vec(),
        b"{\"metadata\": {\"name\": \"x\", \"labels\": {\"a\": [1]}}}".to_vec(),
        b"{\"apiVersion\": 1, \"kind\": [], \"metadata\": {\"name\": \"x\"}}".to_vec(),
        b"{\"apiVersion\": \"crd.projectcalico.org/v1\", \"kind\": \"IPPool\", \"metadata\": {\"name\": \"x\"}, \"spec\": [1]}".to_vec(),
        b"{\"apiVersion\": \"crd.projectcalico.org/v1\", \"kind\": \"IPPool\", \"metadata\": {\"name\": \"x\"}, \"spec\": {\"cidr\": {\"a\": null}, \"blockSize\": 1e400}}".to_vec(),
        vec![0xff, 0xfe, 0x00],
        deep.into_bytes(),
        b"k8s\0\x0a\xff\xff\xff\xff\x0f".to_vec(),
    ];
    let paths = [
        CMS.to_string(),
        format!("{CMS}/x"),
        format!("{CMS}/x/status"),
        format!("{CALICO}/ippools"),
        format!("{CALICO}/ippools/x"),
        format!("{CALICO}/ippools/x/status"),
        CRDS.to_string(),
        format!("{CRDS}/x"),
        "/api/v1/nodes/x/status".to_string(),
        "/api/v1/namespaces/%zz/configmaps?limit=-5&continue=%ff&labelSelector=%E2%9C%93%20in%20("
            .to_string(),
        "/apis/%2F/v1/x".to_string(),
        "/_mini/faults".to_string(),
    ];
    let types = [
        "application/json",
        "application/merge-patch+json",
        "application/json-patch+json",
        "application/strategic-merge-patch+json",
        "application/vnd.kubernetes.protobuf",
        "text/plain",
    ];
    for path in &paths {
        for body in &bodies {
            for method in ["POST", "PUT", "PATCH", "DELETE", "GET"] {
                for ct in types {
                    let r = c.request(method, path, &[("Content-Type", ct)], Some(body));
                    assert!(
                        r.status < 500,
                        "{method} {path} {ct}: {} {}",
                        r.status,
                        r.text()
                    );
                    if r.status >= 400 && !path.starts_with("/_mini") {
                        r.status_of(r.status, r.json()["reason"].as_str().unwrap());
                    }
                }
            }
        }
    }
    // the server is still fine
    assert_eq!(c.get("/version").status, 200);
    // create a CRD with a schema full of wrong types: a 400 or 422, no panic
    let mut crd = calico_crd("ipamblocks");
    crd["metadata"]["name"] = json!("foos.crd.projectcalico.org");
    crd["spec"]["names"] = json!({"plural": "foos", "kind": "Foo"});
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"] = json!({"type": "object", "properties": {"a": {"type": 5, "minimum": "x", "items": [1], "anyOf": {}, "required": "a"}}});
    let r = c.post(CRDS, &crd);
    assert!(r.status == 400 || r.status == 422, "{}", r.text());
}
