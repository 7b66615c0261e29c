//! CustomResourceDefinitions: establishment, serving, schema handling, subresources.

mod common;

use std::time::Duration;

use common::*;
use mini_apiserver::{BackgroundServer, Options};
use serde_json::{Value, json};

const W: &str = "/apis/example.com/v1/widgets";

fn widget_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "required": ["size"],
                "properties": {
                    "size": {"type": "integer", "minimum": 1, "maximum": 10},
                    "ratio": {"type": "number", "minimum": 0, "exclusiveMinimum": true},
                    "mode": {"type": "string", "enum": ["A", "B"], "default": "A"},
                    "name": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
                    "tags": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}},
                    "set": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                    "port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                    "when": {"type": "string", "format": "date-time"},
                    "cidr": {"type": "string", "format": "cidr"},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "nested": {"type": "object", "properties": {"inner": {"type": "string", "default": "dflt"}}},
                    "maybe": {"type": "string", "nullable": true},
                    "flag": {"type": "boolean"},
                    "counts": {"type": "array", "items": {"type": "integer", "nullable": true}},
                    "mask": {"type": "integer", "format": "int32"}
                }
            },
            "status": {"type": "object", "properties": {"phase": {"type": "string"}}}
        }
    })
}

fn widget_crd(scope: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList", "shortNames": ["wd"]},
            "scope": scope,
            "versions": [
                {"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": widget_schema()}, "subresources": {"status": {}}},
                {"name": "v1beta1", "served": true, "storage": false, "schema": {"openAPIV3Schema": widget_schema()}}
            ]
        }
    })
}

fn widget(name: &str, spec: Value) -> Value {
    widget_in("v1", name, spec)
}

/// A Widget of `example.com/<version>`.
fn widget_in(version: &str, name: &str, spec: Value) -> Value {
    let api_version = format!("example.com/{version}");
    obj(&api_version, "Widget", name, json!({"spec": spec}))
}

fn with_widgets() -> (BackgroundServer, Client) {
    let (s, c) = server();
    install(&c, &[widget_crd("Cluster")]);
    (s, c)
}

#[test]
fn crd_is_served_only_once_established() {
    let (_s, c) = server_with_options(Options {
        crd_establish_delay: Duration::from_millis(300),
        ..Options::default()
    });
    let crd = c.create(CRDS, &widget_crd("Cluster"));
    assert_eq!(crd["metadata"]["generation"], 1);
    assert_eq!(crd["spec"]["conversion"]["strategy"], "None");
    assert!(has_condition(&crd, "NamesAccepted", "status", "True"));
    assert!(has_condition(&crd, "Established", "status", "False"));
    assert_eq!(crd["status"]["acceptedNames"]["kind"], "Widget");
    assert_eq!(crd["status"]["storedVersions"], json!(["v1"]));

    failure(
        &c.get(W),
        404,
        "NotFound",
        "the server could not find the requested resource",
    );
    c.post(W, &widget("early", json!({"size": 1})))
        .status_of(404, "NotFound");
    assert!(c.get("/apis/example.com/v1").status == 404);
    assert!(
        !c.get_json("/apis")["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "example.com")
    );

    wait_served(&c, W);
    let got = c.get_json(&format!("{CRDS}/widgets.example.com"));
    assert!(
        got["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Established" && c["status"] == "True")
    );
    let groups = c.get_json("/apis");
    let g = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "example.com")
        .unwrap()
        .clone();
    assert_eq!(g["preferredVersion"]["version"], "v1");
    assert_eq!(g["versions"].as_array().unwrap().len(), 2);
    let gv = c.get_json("/apis/example.com/v1");
    let w = resource_entry(&gv, "widgets");
    assert_eq!(w["kind"], "Widget");
    assert_eq!(w["singularName"], "widget");
    assert_eq!(w["namespaced"], false);
    assert_eq!(w["shortNames"], json!(["wd"]));
    assert_listed(&resource_names(&gv), "widgets/status");
    let beta = c.get_json("/apis/example.com/v1beta1");
    assert!(!resource_names(&beta).contains(&"widgets/status".to_string()));
    assert_eq!(
        c.create(W, &widget("late", json!({"size": 1})))["metadata"]["name"],
        "late"
    );
}

#[test]
fn crd_validation() {
    let (_s, c) = server();
    let mut bad = widget_crd("Cluster");
    bad["metadata"]["name"] = json!("gadgets.example.com");
    let st = failure(
        &c.post(CRDS, &bad),
        422,
        "Invalid",
        "CustomResourceDefinition.apiextensions.k8s.io \"gadgets.example.com\" is invalid: metadata.name: Invalid value: \"gadgets.example.com\": must be spec.names.plural+\".\"+spec.group",
    );
    assert_eq!(st["details"]["group"], "apiextensions.k8s.io");
    assert_eq!(st["details"]["kind"], "CustomResourceDefinition");

    let st = c
        .post(CRDS, &widget_crd("Global"))
        .status_of(422, "Invalid");
    assert!(causes(&st).contains(
        &"spec.scope: Unsupported value: \"Global\": supported values: \"Cluster\", \"Namespaced\"".to_string()
    ));

    let mut bad = widget_crd("Cluster");
    bad["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["name"]
        ["pattern"] = json!("([a-z");
    let st = c.post(CRDS, &bad).status_of(422, "Invalid");
    assert!(
        causes(&st)[0].starts_with("spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[name].pattern: Invalid value: \"([a-z\": must be a valid regular expression"),
        "{:?}",
        causes(&st)
    );

    let mut bad = widget_crd("Cluster");
    bad["spec"]["versions"][1]["storage"] = json!(true);
    let st = c.post(CRDS, &bad).status_of(422, "Invalid");
    assert_message_contains(
        &st,
        "must have exactly one version marked as storage version",
    );

    let mut bad = widget_crd("Cluster");
    bad["spec"]["versions"][0]
        .as_object_mut()
        .unwrap()
        .remove("schema");
    let st = c.post(CRDS, &bad).status_of(422, "Invalid");
    assert!(
        causes(&st).contains(
            &"spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required"
                .to_string()
        )
    );

    install(&c, &[widget_crd("Cluster")]);
    failure(
        &c.post(CRDS, &widget_crd("Cluster")),
        409,
        "AlreadyExists",
        "customresourcedefinitions.apiextensions.k8s.io \"widgets.example.com\" already exists",
    );
    // scope is immutable
    let mut cur = c.get_json(&format!("{CRDS}/widgets.example.com"));
    cur["spec"]["scope"] = json!("Namespaced");
    let st = c
        .put(&format!("{CRDS}/widgets.example.com"), &cur)
        .status_of(422, "Invalid");
    assert!(causes(&st).iter().any(|m| m.starts_with("spec.scope: Invalid value: \"Namespaced\": field is immutable")));
}

#[test]
fn custom_resource_crud_and_versions() {
    let (_s, c) = with_widgets();
    let created = c.create(W, &widget("w", json!({"size": 3})));
    assert_eq!(created["apiVersion"], "example.com/v1");
    assert_eq!(created["kind"], "Widget");
    assert_eq!(created["metadata"]["generation"], 1);
    assert!(created["metadata"].get("namespace").is_none());
    // keys come back sorted, as Go encodes unstructured objects
    let keys: Vec<&String> = created["metadata"].as_object().unwrap().keys().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);

    let beta = c.get_json("/apis/example.com/v1beta1/widgets/w");
    assert_eq!(beta["apiVersion"], "example.com/v1beta1");
    assert_eq!(beta["metadata"]["uid"], created["metadata"]["uid"]);
    let raw = c.get("/apis/example.com/v1beta1/widgets").text();
    assert!(
        raw.starts_with("{\"apiVersion\":\"example.com/v1beta1\",\"items\":["),
        "{raw}"
    );
    let list = c.get_json("/apis/example.com/v1beta1/widgets");
    assert_eq!(list["kind"], "WidgetList");
    assert_eq!(list["apiVersion"], "example.com/v1beta1");
    assert_eq!(list["items"][0]["kind"], "Widget");
    assert_eq!(list["items"][0]["apiVersion"], "example.com/v1beta1");

    // written through v1beta1, read through v1
    c.create(
        "/apis/example.com/v1beta1/widgets",
        &widget_in("v1beta1", "b", json!({"size": 2})),
    );
    assert_eq!(
        c.get_json(&format!("{W}/b"))["apiVersion"],
        "example.com/v1"
    );
    c.post(W, &widget_in("v1beta1", "x", json!({"size": 2})))
        .status_of(400, "BadRequest");

    // the wrong kind
    let mut gadget = widget("g", json!({"size": 2}));
    gadget["kind"] = json!("Gadget");
    let st = c.post(W, &gadget).status_of(422, "Invalid");
    assert!(causes(&st).contains(&"kind: Invalid value: \"Gadget\": must be Widget".to_string()));
    // no kind at all
    let st = c
        .post(
            W,
            &json!({"apiVersion": "example.com/v1", "metadata": {"name": "n"}}),
        )
        .status_of(400, "BadRequest");
    assert_message_starts_with(&st, "Object 'Kind' is missing in");

    // errors name the resource with its group
    let st = failure(
        &c.get(&format!("{W}/nope")),
        404,
        "NotFound",
        "widgets.example.com \"nope\" not found",
    );
    assert_eq!(
        st["details"],
        json!({"name": "nope", "group": "example.com", "kind": "widgets"})
    );
    failure(
        &c.post(W, &widget("w", json!({"size": 3}))),
        409,
        "AlreadyExists",
        "widgets.example.com \"w\" already exists",
    );

    // updates need a resourceVersion
    let mut upd = created.clone();
    upd["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    let st = failure(
        &c.put(&format!("{W}/w"), &upd),
        422,
        "Invalid",
        "widgets.example.com \"w\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
    );
    assert_eq!(st["details"]["kind"], "widgets");
    let mut stale = created.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    let st = failure(
        &c.put(&format!("{W}/w"), &stale),
        409,
        "Conflict",
        "Operation cannot be fulfilled on widgets.example.com \"w\": the object has been modified; please apply your changes to the latest version and try again",
    );
    assert_eq!(
        st["details"],
        json!({"name": "w", "group": "example.com", "kind": "widgets"})
    );

    // generation: +1 for spec changes only
    let mut upd = created.clone();
    upd["metadata"]["labels"] = json!({"a": "b"});
    let u1 = c.put(&format!("{W}/w"), &upd).json();
    assert_eq!(u1["metadata"]["generation"], 1);
    let mut upd = u1.clone();
    upd["spec"]["size"] = json!(4);
    let u2 = c.put(&format!("{W}/w"), &upd).json();
    assert_eq!(u2["metadata"]["generation"], 2);

    // delete: Status Success with group
    let d = c.delete(&format!("{W}/w")).json();
    assert_eq!(d["status"], "Success");
    assert_eq!(d["details"]["group"], "example.com");
    assert_eq!(d["details"]["kind"], "widgets");
}

#[test]
fn status_subresource_of_custom_resources() {
    let (_s, c) = with_widgets();
    let mut body = widget("s", json!({"size": 1}));
    body["status"] = json!({"phase": "Ignored"});
    let created = c.create(W, &body);
    assert!(
        created.get("status").is_none(),
        "status is dropped on create"
    );

    let mut st = created.clone();
    st["status"] = json!({"phase": "Ready"});
    st["spec"]["size"] = json!(9);
    st["metadata"]["labels"] = json!({"ignored": "yes"});
    let r = c.put(&format!("{W}/s/status"), &st);
    assert_eq!(r.status, 200, "{}", r.text());
    let s1 = r.json();
    assert_eq!(s1["status"]["phase"], "Ready");
    assert_eq!(s1["spec"]["size"], 1);
    assert!(s1["metadata"].get("labels").is_none());
    assert_eq!(s1["metadata"]["generation"], 1);

    let mut main = s1.clone();
    main["status"]["phase"] = json!("Changed");
    main["spec"]["size"] = json!(2);
    let m = c.put(&format!("{W}/s"), &main).json();
    assert_eq!(m["status"]["phase"], "Ready");
    assert_eq!(m["spec"]["size"], 2);

    let p = c
        .merge_patch(
            &format!("{W}/s/status"),
            &json!({"status": {"phase": "Done"}, "spec": {"size": 5}}),
        )
        .json();
    assert_eq!(p["status"]["phase"], "Done");
    assert_eq!(p["spec"]["size"], 2);

    // no status subresource in v1beta1: status is a normal field there
    c.get("/apis/example.com/v1beta1/widgets/s/status")
        .status_of(404, "NotFound");
}

#[test]
fn schema_validation_rules_and_messages() {
    let (_s, c) = with_widgets();
    let st = c
        .post(
            W,
            &widget(
                "bad",
                json!({
                    "ratio": 0,
                    "mode": "C",
                    "name": "ABCDEFG",
                    "tags": ["a", "b", "c"],
                    "set": ["x", "x"],
                    "port": true,
                    "when": "yesterday",
                    "cidr": "10.0.0.1",
                    "labels": {"a": 1},
                    "flag": "yes"
                }),
            ),
        )
        .status_of(422, "Invalid");
    assert_eq!(st["details"]["kind"], "Widget");
    assert_eq!(st["details"]["group"], "example.com");
    let msgs = causes(&st);
    let expect = [
        "spec.ratio: Invalid value: 0: spec.ratio in body should be greater than 0",
        "spec.mode: Unsupported value: \"C\": supported values: \"A\", \"B\"",
        "spec.name: Too long: may not be more than 5 bytes",
        "spec.tags: Too many: 3: must have at most 2 items",
        "spec.set[1]: Duplicate value: \"x\"",
        "spec.port: Invalid value: \"boolean\": spec.port in body must be of type integer,string: \"boolean\"",
        "<nil>: Invalid value: \"\": \"spec.port\" must validate at least one schema (anyOf)",
        "spec.when: Invalid value: \"yesterday\": spec.when in body must be of type date-time: \"yesterday\"",
        "spec.cidr: Invalid value: \"10.0.0.1\": spec.cidr in body must be of type cidr: \"10.0.0.1\"",
        "spec.labels.a: Invalid value: \"integer\": spec.labels.a in body must be of type string: \"integer\"",
        "spec.flag: Invalid value: \"string\": spec.flag in body must be of type boolean: \"string\"",
        "spec.size: Required value",
    ];
    for e in expect {
        assert!(msgs.contains(&e.to_string()), "missing {e:?} in {msgs:#?}");
    }
    let message = st["message"].as_str().unwrap();
    assert!(
        message.starts_with("Widget.example.com \"bad\" is invalid: ["),
        "{message}"
    );
    let reasons: Vec<&str> = st["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["reason"].as_str().unwrap())
        .collect();
    for r in [
        "FieldValueInvalid",
        "FieldValueNotSupported",
        "FieldValueTooLong",
        "FieldValueTooMany",
        "FieldValueDuplicate",
        "FieldValueTypeInvalid",
        "FieldValueRequired",
    ] {
        assert!(reasons.contains(&r), "{r} not in {reasons:?}");
    }

    let st = c
        .post(
            W,
            &widget("b2", json!({"size": 11, "name": "a", "tags": []})),
        )
        .status_of(422, "Invalid");
    let msgs = causes(&st);
    assert!(
        msgs.contains(
            &"spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10"
                .to_string()
        ),
        "{msgs:?}"
    );
    assert_listed(
        &msgs,
        "spec.name: Invalid value: \"a\": spec.name in body should be at least 2 chars long",
    );
    assert_listed(
        &msgs,
        "spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items",
    );
    let st = c
        .post(W, &widget("b3", json!({"size": 0, "name": "ab1"})))
        .status_of(422, "Invalid");
    let msgs = causes(&st);
    assert_listed(
        &msgs,
        "spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1",
    );
    assert_listed(
        &msgs,
        "spec.name: Invalid value: \"ab1\": spec.name in body should match '^[a-z]+$'",
    );
    // integers: whole numbers only; numbers accept integers
    let st = c
        .post(W, &widget("b4", json!({"size": 1.5})))
        .status_of(422, "Invalid");
    assert_eq!(
        causes(&st),
        vec![
            "spec.size: Invalid value: \"number\": spec.size in body must be of type integer: \"number\""
        ]
    );
    c.create(W, &widget("ok1", json!({"size": 2.0, "ratio": 1})));
    // int-or-string
    c.create(W, &widget("ok2", json!({"size": 1, "port": 80})));
    c.create(W, &widget("ok3", json!({"size": 1, "port": "http"})));
    // int32 is not range-checked
    c.create(W, &widget("ok4", json!({"size": 1, "mask": 4294901760u64})));
    // metadata errors and schema errors are reported together
    let st = c
        .post(W, &widget("Bad", json!({})))
        .status_of(422, "Invalid");
    let msgs = causes(&st);
    assert!(msgs[0].starts_with("metadata.name: Invalid value: \"Bad\""));
    assert_listed(&msgs, "spec.size: Required value");
}

#[test]
fn defaults_pruning_nulls_and_warnings() {
    let (_s, c) = with_widgets();
    let r = c.post(
        W,
        &json!({
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "d", "bogus": 1},
            "spec": {
                "size": 1,
                "nested": {},
                "unknown": {"deep": true},
                "free": {"anything": {"goes": [1, 2]}},
                "maybe": null,
                "flag": null,
                "counts": [1, null, 3],
                "tags": ["a"]
            },
            "extra": "top"
        }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    assert_eq!(v["spec"]["mode"], "A", "default applied");
    assert_eq!(
        v["spec"]["nested"]["inner"], "dflt",
        "nested default applied"
    );
    assert!(v["spec"].get("unknown").is_none());
    assert!(v.get("extra").is_none());
    assert!(v["metadata"].get("bogus").is_none());
    assert_eq!(v["spec"]["free"], json!({"anything": {"goes": [1, 2]}}));
    assert!(v["spec"]["maybe"].is_null() && v["spec"].as_object().unwrap().contains_key("maybe"));
    assert!(!v["spec"].as_object().unwrap().contains_key("flag"));
    assert_eq!(v["spec"]["counts"], json!([1, null, 3]));
    let mut warnings = r.all_headers("warning");
    warnings.sort();
    assert_eq!(
        warnings,
        vec![
            "299 - \"unknown field \\\"extra\\\"\"",
            "299 - \"unknown field \\\"metadata.bogus\\\"\"",
            "299 - \"unknown field \\\"spec.unknown\\\"\"",
        ]
    );
    // no nested default when the parent is absent
    let v = c.create(W, &widget("e", json!({"size": 1})));
    assert!(v["spec"].get("nested").is_none());
    // an explicit null of a defaulted field gets the default
    let v = c.create(W, &widget("f", json!({"size": 1, "mode": null})));
    assert_eq!(v["spec"]["mode"], "A");
    // defaults on update and patch
    let p = c
        .merge_patch(
            &format!("{W}/f"),
            &json!({"spec": {"mode": null, "nested": {}}}),
        )
        .json();
    assert_eq!(p["spec"]["mode"], "A");
    assert_eq!(p["spec"]["nested"]["inner"], "dflt");

    // Strict: unknown fields are an error
    failure(
        &c.post(
            &format!("{W}?fieldValidation=Strict"),
            &widget("g", json!({"size": 1, "foo": 1, "bar": 2})),
        ),
        400,
        "BadRequest",
        "strict decoding error: unknown field \"spec.bar\", unknown field \"spec.foo\"",
    );
    // Ignore: silent
    let r = c.post(
        &format!("{W}?fieldValidation=Ignore"),
        &widget("h", json!({"size": 1, "foo": 1})),
    );
    assert_eq!(r.status, 201);
    assert!(r.all_headers("warning").is_empty());
    c.post(
        &format!("{W}?fieldValidation=Loud"),
        &widget("i", json!({"size": 1})),
    )
    .status_of(400, "BadRequest");
}

#[test]
fn patches_on_custom_resources() {
    let (_s, c) = with_widgets();
    c.create(W, &widget("p", json!({"size": 1, "tags": ["a"]})));
    let path = format!("{W}/p");
    failure(
        &c.patch(
            &path,
            "application/strategic-merge-patch+json",
            &json!({"spec": {"size": 2}}),
        ),
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
    );
    let r = c.patch(
        &path,
        "application/json-patch+json",
        &json!([{"op": "replace", "path": "/spec/size", "value": 5}, {"op": "add", "path": "/spec/tags/-", "value": "b"}]),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["spec"]["size"], 5);
    assert_eq!(v["spec"]["tags"], json!(["a", "b"]));
    assert_eq!(v["metadata"]["generation"], 2);
    // a patch is validated like an update
    let st = c
        .merge_patch(&path, &json!({"spec": {"size": 99}}))
        .status_of(422, "Invalid");
    assert!(causes(&st)[0].starts_with("spec.size: Invalid value: 99"));
    // a patch carrying an old resourceVersion conflicts
    c.merge_patch(
        &path,
        &json!({"metadata": {"resourceVersion": "2"}, "spec": {"size": 3}}),
    )
    .status_of(409, "Conflict");
    // dry run
    let r = c.merge_patch(&format!("{path}?dryRun=All"), &json!({"spec": {"size": 7}}));
    assert_eq!(r.json()["spec"]["size"], 7);
    assert_eq!(c.get_json(&path)["spec"]["size"], 5);
}

#[test]
fn crd_updates_apply_to_later_writes() {
    let (_s, c) = with_widgets();
    c.create(W, &widget("old", json!({"size": 1})));
    let mut crd = c.get_json(&format!("{CRDS}/widgets.example.com"));
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["color"] =
        json!({"type": "string", "default": "red"});
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["required"] =
        json!(["size", "color"]);
    let r = c.put(&format!("{CRDS}/widgets.example.com"), &crd);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["metadata"]["generation"], 2);
    // an existing object is read with the new defaults, as kube-apiserver defaults on read
    // from etcd (what is stored stays as it was written)
    assert_eq!(c.get_json(&format!("{W}/old"))["spec"]["color"], "red");
    let v = c.create(W, &widget("new", json!({"size": 1})));
    assert_eq!(v["spec"]["color"], "red");
    let v = c.create(W, &widget("new2", json!({"size": 1, "color": "blue"})));
    assert_eq!(v["spec"]["color"], "blue");
    // a CRD update needs a resourceVersion too
    crd["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    c.put(&format!("{CRDS}/widgets.example.com"), &crd)
        .status_of(422, "Invalid");
}

#[test]
fn deleting_a_crd_deletes_its_resources() {
    let (_s, c) = with_widgets();
    for n in ["a", "b"] {
        c.create(W, &widget(n, json!({"size": 1})));
    }
    let r = c.delete(&format!("{CRDS}/widgets.example.com"));
    assert_eq!(r.status, 200);
    let gone = r.json();
    assert_eq!(gone["kind"], "CustomResourceDefinition");
    assert!(gone["metadata"]["deletionTimestamp"].is_string());
    // a CRD goes (with its resources) once it has finished terminating
    wait_until("the CRD to go", || {
        c.get(&format!("{CRDS}/widgets.example.com")).status == 404
    });
    c.get(W).status_of(404, "NotFound");
    install(&c, &[widget_crd("Cluster")]);
    assert_eq!(c.get_json(W)["items"], json!([]));
}

#[test]
fn namespaced_custom_resources() {
    let (_s, c) = server();
    install(&c, &[widget_crd("Namespaced")]);
    let ns_path = "/apis/example.com/v1/namespaces/default/widgets";
    let v = c.create(ns_path, &widget("n1", json!({"size": 1})));
    assert_eq!(v["metadata"]["namespace"], "default");
    c.create(
        "/api/v1/namespaces",
        &obj("v1", "Namespace", "other", json!({})),
    );
    c.create(
        "/apis/example.com/v1/namespaces/other/widgets",
        &widget("n2", json!({"size": 1})),
    );
    let all = c.get_json(W);
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    assert_eq!(c.get_json(ns_path)["items"].as_array().unwrap().len(), 1);
    c.post(
        "/apis/example.com/v1/namespaces/missing/widgets",
        &widget("n3", json!({"size": 1})),
    )
    .status_of(404, "NotFound");
    c.get(&format!("{W}/n1")).status_of(404, "NotFound");
    c.post(W, &widget("n4", json!({"size": 1})))
        .status_of(405, "MethodNotAllowed");
    c.delete("/api/v1/namespaces/other");
    wait_until("the namespace's widgets to go", || {
        c.get_json(W)["items"].as_array().unwrap().len() == 1
    });
    let r = c.delete(&format!("{ns_path}?labelSelector="));
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 1);
    assert_eq!(c.get_json(W)["items"], json!([]));
}

#[test]
fn table_for_custom_resources_and_crds() {
    let (_s, c) = with_widgets();
    c.create(W, &widget("t", json!({"size": 1})));
    let accept = [(
        "Accept",
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
    )];
    let t = c.request("GET", W, &accept, None).json();
    assert_eq!(names(&t["columnDefinitions"]), vec!["Name", "Created At"]);
    assert_eq!(t["rows"][0]["cells"][0], "t");
    let t = c.request("GET", CRDS, &accept, None).json();
    assert_eq!(t["rows"][0]["cells"][0], "widgets.example.com");
}
