//! kube-rs against the server: the client the plugin uses must be happy with every answer.

mod common;

use common::patch;

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PostParams, WatchEvent, WatchParams,
};
use kube::discovery::{ApiResource, Discovery, Scope};
use kube::runtime::{conditions, wait::await_condition, watcher};
use mini_apiserver::{ApiServer, Options};
use serde_json::json;

async fn start() -> (ApiServer, Client) {
    let s = ApiServer::start(Options {
        crd_establish_delay: Duration::from_millis(20),
        ..Options::default()
    })
    .await
    .expect("server starts");
    let client = common::kube_client(&s).await;
    (s, client)
}

fn api_error(e: kube::Error) -> (u16, String, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason.clone(), s.message.clone()),
        other => panic!("not an API error: {other:?}"),
    }
}

#[tokio::test]
async fn typed_core_resources() {
    let (s, client) = start().await;
    let version = client.apiserver_version().await.unwrap();
    assert_eq!(version.major, "1");

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-system");
    let cm: ConfigMap = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "calico-config", "labels": {"app": "calico"}},
        "data": {"etcd_endpoints": "https://10.0.0.1:2379,https://10.0.0.2:2379", "etcd_ca": ""}
    }))
    .unwrap();
    let created = cms.create(&PostParams::default(), &cm).await.unwrap();
    assert!(created.metadata.uid.is_some());
    let err = cms.create(&PostParams::default(), &cm).await.unwrap_err();
    let (code, reason, msg) = api_error(err);
    assert_eq!((code, reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(msg, "configmaps \"calico-config\" already exists");

    let got = cms.get("calico-config").await.unwrap();
    assert_eq!(
        got.data.as_ref().unwrap()["etcd_endpoints"],
        "https://10.0.0.1:2379,https://10.0.0.2:2379"
    );
    let list = cms
        .list(&ListParams::default().labels("app=calico"))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1);
    assert!(list.metadata.resource_version.is_some());

    let etcd_ca = json!({"data": {"etcd_ca": "/calico-secrets/etcd-ca"}});
    let patched = patch(&cms, "calico-config", Patch::Merge(etcd_ca))
        .await
        .unwrap();
    assert_eq!(patched.data.unwrap()["etcd_ca"], "/calico-secrets/etcd-ca");
    let label = json!({"metadata": {"labels": {"b": "c"}}});
    let strategic = patch(&cms, "calico-config", Patch::Strategic(label))
        .await
        .unwrap();
    assert_eq!(strategic.metadata.labels.unwrap()["b"], "c");

    let secrets: Api<Secret> = Api::namespaced(client.clone(), "kube-system");
    let sec: Secret = serde_json::from_value(json!({
        "metadata": {"name": "calico-etcd-secrets"},
        "stringData": {"etcd-ca": "PEM"}
    }))
    .unwrap();
    let sec = secrets.create(&PostParams::default(), &sec).await.unwrap();
    assert_eq!(sec.data.unwrap()["etcd-ca"].0, b"PEM".to_vec());

    let err = cms.get("nope").await.unwrap_err();
    assert_eq!(api_error(err).0, 404);

    let deleted = cms
        .delete("calico-config", &DeleteParams::default())
        .await
        .unwrap();
    assert!(
        deleted.is_right(),
        "a ConfigMap delete answers with a Status"
    );

    // dry run
    let dry = cms
        .create(
            &PostParams {
                dry_run: true,
                ..Default::default()
            },
            &cm,
        )
        .await
        .unwrap();
    assert_eq!(dry.metadata.name.as_deref(), Some("calico-config"));
    assert_eq!(cms.get_opt("calico-config").await.unwrap(), None);
    s.shutdown().await;
}

#[tokio::test]
async fn nodes_status_subresource() {
    let (s, client) = start().await;
    let nodes: Api<Node> = Api::all(client);
    let n: Node = serde_json::from_value(json!({"metadata": {"name": "worker-1"}})).unwrap();
    nodes.create(&PostParams::default(), &n).await.unwrap();
    let mut cur = nodes.get("worker-1").await.unwrap();
    cur.metadata.annotations = Some(
        [(
            "projectcalico.org/IPv4Address".to_string(),
            "10.0.0.11/24".to_string(),
        )]
        .into(),
    );
    let updated = nodes
        .replace_status("worker-1", &PostParams::default(), &cur)
        .await
        .unwrap();
    assert_eq!(
        updated.metadata.annotations.unwrap()["projectcalico.org/IPv4Address"],
        "10.0.0.11/24"
    );
    let mut stale = cur.clone();
    stale.metadata.resource_version = Some("1".into());
    let (code, reason, _) = api_error(
        nodes
            .replace_status("worker-1", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    s.shutdown().await;
}

#[tokio::test]
async fn crds_discovery_dynamic_objects_and_paging() {
    let (s, client) = start().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for plural in ["ippools", "networkpolicies"] {
        let crd: CustomResourceDefinition =
            serde_json::from_value(common::calico_crd(plural)).unwrap();
        crds.create(&PostParams::default(), &crd).await.unwrap();
        let name = format!("{plural}.crd.projectcalico.org");
        let established = tokio::time::timeout(
            Duration::from_secs(5),
            await_condition(crds.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .expect("established in time")
        .unwrap();
        assert!(established.is_some());
    }

    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let group = discovery
        .groups()
        .find(|g| g.name() == "crd.projectcalico.org")
        .expect("the Calico group is discovered");
    let (ar, caps) = group
        .recommended_resources()
        .into_iter()
        .find(|(ar, _)| ar.kind == "IPPool")
        .expect("IPPool is discovered");
    assert_eq!(caps.scope, Scope::Cluster);
    let (np_ar, np_caps) = group
        .recommended_resources()
        .into_iter()
        .find(|(ar, _)| ar.kind == "NetworkPolicy")
        .unwrap();
    assert_eq!(np_caps.scope, Scope::Namespaced);

    let pools: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    for i in 0..5 {
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "crd.projectcalico.org/v1",
            "kind": "IPPool",
            "metadata": {"name": format!("pool-{i}"), "labels": {"n": i.to_string()}},
            "spec": {"cidr": format!("10.{i}.0.0/16"), "natOutgoing": true}
        }))
        .unwrap();
        let created = pools.create(&PostParams::default(), &obj).await.unwrap();
        assert_eq!(created.data["spec"]["assignmentMode"], "Automatic");
    }
    // paging with limit/continue
    let mut names = Vec::new();
    let mut lp = ListParams::default().limit(2);
    loop {
        let page = pools.list(&lp).await.unwrap();
        names.extend(page.items.iter().map(|o| o.metadata.name.clone().unwrap()));
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => break,
        }
    }
    assert_eq!(
        names,
        vec!["pool-0", "pool-1", "pool-2", "pool-3", "pool-4"]
    );

    // validation errors come back as kube errors
    let bad: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
        "metadata": {"name": "bad"}, "spec": {"cidr": "not-a-cidr"}
    }))
    .unwrap();
    let (code, reason, msg) = api_error(
        pools
            .create(&PostParams::default(), &bad)
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (422, "Invalid"));
    assert!(
        msg.contains("spec.cidr in body must be of type cidr"),
        "{msg}"
    );

    // replace needs the resourceVersion, as on the real server
    let mut p0 = pools.get("pool-0").await.unwrap();
    p0.data["spec"]["disabled"] = json!(true);
    let replaced = pools
        .replace("pool-0", &PostParams::default(), &p0)
        .await
        .unwrap();
    assert_eq!(replaced.data["spec"]["disabled"], true);
    p0.metadata.resource_version = None;
    let (code, _, msg) = api_error(
        pools
            .replace("pool-0", &PostParams::default(), &p0)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 422);
    assert!(msg.ends_with("must be specified for an update"), "{msg}");
    // strategic merge patch is refused for custom resources
    let (code, _, _) = api_error(
        patch(&pools, "pool-0", Patch::Strategic(json!({"spec": {}})))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 415);

    let nps: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &np_ar);
    let np: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "crd.projectcalico.org/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "default.allow"}, "spec": {"selector": "all()"}
    }))
    .unwrap();
    let created = nps.create(&PostParams::default(), &np).await.unwrap();
    assert_eq!(created.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(created.data["spec"]["tier"], "default");
    let all: Api<DynamicObject> = Api::all_with(client.clone(), &np_ar);
    assert_eq!(
        all.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );

    // deleting the CRD removes the pools
    crds.delete("ippools.crd.projectcalico.org", &DeleteParams::default())
        .await
        .unwrap();
    let ar2 = ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("crd.projectcalico.org", "v1", "IPPool"),
        "ippools",
    );
    let gone: Api<DynamicObject> = Api::all_with(client.clone(), &ar2);
    // once the CRD has finished terminating
    let mut code = 0;
    for _ in 0..500 {
        match gone.list(&ListParams::default()).await {
            Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(e) => {
                code = api_error(e).0;
                break;
            }
        }
    }
    assert_eq!(code, 404);
    s.shutdown().await;
}

#[tokio::test]
async fn watches_and_watcher() {
    let (s, client) = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mk = |name: &str| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": name}, "data": {"a": "1"}})).unwrap()
    };
    cms.create(&PostParams::default(), &mk("before"))
        .await
        .unwrap();
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();

    let mut stream = cms
        .watch(&WatchParams::default().timeout(5), &rv)
        .await
        .unwrap()
        .boxed();
    cms.create(&PostParams::default(), &mk("during"))
        .await
        .unwrap();
    cms.delete("during", &DeleteParams::default())
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match stream.try_next().await.unwrap() {
            Some(WatchEvent::Added(o)) => seen.push(format!("added {}", o.metadata.name.unwrap())),
            Some(WatchEvent::Deleted(o)) => {
                seen.push(format!("deleted {}", o.metadata.name.unwrap()))
            }
            Some(other) => panic!("unexpected event {other:?}"),
            None => break,
        }
    }
    assert_eq!(seen, vec!["added during", "deleted during"]);

    // the runtime watcher, with the ListWatch and the StreamingList strategies
    for cfg in [
        watcher::Config::default(),
        watcher::Config::default().streaming_lists(),
    ] {
        let mut w = watcher(cms.clone(), cfg).boxed();
        let mut init = Vec::new();
        loop {
            match tokio::time::timeout(Duration::from_secs(5), w.try_next()).await {
                Ok(Ok(Some(watcher::Event::InitApply(o)))) => init.push(o.metadata.name.unwrap()),
                Ok(Ok(Some(watcher::Event::InitDone))) => break,
                Ok(Ok(Some(_))) => {}
                other => panic!("watcher failed: {other:?}"),
            }
        }
        assert_eq!(init, vec!["before"]);
        let name = format!("later-{}", init.len() + seen.len());
        cms.create(&PostParams::default(), &mk(&name))
            .await
            .unwrap();
        loop {
            match tokio::time::timeout(Duration::from_secs(5), w.try_next()).await {
                Ok(Ok(Some(watcher::Event::Apply(o)))) => {
                    assert_eq!(o.metadata.name.as_deref(), Some(name.as_str()));
                    break;
                }
                Ok(Ok(Some(_))) => {}
                other => panic!("watcher failed: {other:?}"),
            }
        }
        cms.delete(&name, &DeleteParams::default()).await.unwrap();
    }
    s.shutdown().await;
}
