//! The whole migration flow the plugin runs, through kube-rs: permission checks,
//! scaling calico-kube-controllers down, a journal, server-side apply of Calico's
//! manifests, waiting for the calico-node rollout as `kubectl rollout status` does,
//! and the rollback.

mod common;

use std::time::Duration;

use common::{manifest, patch, scale_deployment};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{ConfigMap, Node};
use kube::Client;
use kube::api::{
    Api, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::discovery::{ApiCapabilities, ApiResource, Discovery, Scope};
use mini_apiserver::{ApiServer, Denial, Options, Rollout, Stall};
use serde_json::{Value, json};

const NS: &str = "kube-system";
const MANAGER: &str = "calico-migrate";

async fn start() -> (ApiServer, Client) {
    let s = ApiServer::start(Options {
        crd_establish_delay: Duration::from_millis(10),
        rollout: Rollout {
            delay: Duration::from_millis(20),
            pods_per_step: 1,
            stall: Stall::None,
        },
        ..Options::default()
    })
    .await
    .expect("server starts");
    let client = common::kube_client(&s).await;
    (s, client)
}

/// Server-side applies every document of a manifest, as the plugin does: resources
/// found by discovery, CRDs waited for until their resources are served.
async fn apply_manifest(client: &Client, file: &str, force: bool) -> Result<(), kube::Error> {
    let mut pp = PatchParams::apply(MANAGER);
    pp.force = force;
    for doc in manifest(file) {
        let (ar, caps) = resolve(client, &doc).await;
        let name = doc["metadata"]["name"].as_str().unwrap().to_string();
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Namespaced => Api::namespaced_with(
                client.clone(),
                doc["metadata"]["namespace"].as_str().unwrap_or(NS),
                &ar,
            ),
            Scope::Cluster => Api::all_with(client.clone(), &ar),
        };
        api.patch(&name, &pp, &Patch::Apply(&doc)).await?;
        if doc["kind"] == "CustomResourceDefinition" {
            wait_established(client, &doc).await;
        }
    }
    Ok(())
}

async fn resolve(client: &Client, doc: &Value) -> (ApiResource, ApiCapabilities) {
    let (group, version) = match doc["apiVersion"].as_str().unwrap().split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (
            String::new(),
            doc["apiVersion"].as_str().unwrap().to_string(),
        ),
    };
    let gvk = GroupVersionKind::gvk(&group, &version, doc["kind"].as_str().unwrap());
    kube::discovery::pinned_kind(client, &gvk)
        .await
        .unwrap_or_else(|e| panic!("{gvk:?} is not discoverable: {e}"))
}

async fn wait_established(client: &Client, crd: &Value) {
    let gvk = GroupVersionKind::gvk(
        crd["spec"]["group"].as_str().unwrap(),
        crd["spec"]["versions"][0]["name"].as_str().unwrap(),
        crd["spec"]["names"]["kind"].as_str().unwrap(),
    );
    let plural = crd["spec"]["names"]["plural"].as_str().unwrap();
    let api: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(&gvk, plural),
    );
    for _ in 0..500 {
        if api.list(&ListParams::default().limit(1)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{plural} never served");
}

/// What `kubectl rollout status daemonset` prints, and whether it is done.
fn daemonset_rollout(ds: &DaemonSet) -> (String, bool) {
    let name = ds.metadata.name.clone().unwrap_or_default();
    let generation = ds.metadata.generation.unwrap_or(0);
    let status = ds.status.clone().unwrap_or_default();
    if generation > status.observed_generation.unwrap_or(0) {
        return (
            "Waiting for daemon set spec update to be observed...".into(),
            false,
        );
    }
    let desired = status.desired_number_scheduled;
    let updated = status.updated_number_scheduled.unwrap_or(0);
    let available = status.number_available.unwrap_or(0);
    if updated < desired {
        return (
            format!(
                "Waiting for daemon set {name:?} rollout to finish: {updated} out of {desired} new pods have been updated..."
            ),
            false,
        );
    }
    if available < desired {
        return (
            format!(
                "Waiting for daemon set {name:?} rollout to finish: {available} of {desired} updated pods are available..."
            ),
            false,
        );
    }
    (format!("daemon set {name:?} successfully rolled out"), true)
}

/// Watches the DaemonSet until its rollout is done; returns the messages seen.
async fn rollout_status(client: &Client, name: &str) -> Vec<String> {
    let api: Api<DaemonSet> = Api::namespaced(client.clone(), NS);
    let mut seen = Vec::new();
    let current = api.get(name).await.unwrap();
    let (msg, done) = daemonset_rollout(&current);
    seen.push(msg);
    if done {
        return seen;
    }
    let rv = current.metadata.resource_version.clone().unwrap();
    let wp = WatchParams::default()
        .fields(&format!("metadata.name={name}"))
        .timeout(10);
    let mut stream = api.watch(&wp, &rv).await.unwrap().boxed();
    while let Some(ev) = stream.next().await {
        if let WatchEvent::Modified(ds) = ev.unwrap() {
            let (msg, done) = daemonset_rollout(&ds);
            if seen.last() != Some(&msg) {
                seen.push(msg);
            }
            if done {
                return seen;
            }
        }
    }
    panic!("the rollout did not finish: {seen:?}");
}

async fn can_i(client: &Client, verb: &str, group: &str, resource: &str, sub: &str) -> bool {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                group: Some(group.into()),
                resource: Some(resource.into()),
                subresource: (!sub.is_empty()).then(|| sub.to_string()),
                namespace: Some(NS.into()),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let r = api.create(&PostParams::default(), &review).await.unwrap();
    r.status.map(|s| s.allowed).unwrap_or(false)
}

fn env_names(ds: &DaemonSet) -> Vec<String> {
    ds.spec.template.spec.as_ref().unwrap().containers[0]
        .env
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.name)
        .collect()
}

async fn set_journal(client: &Client, step: &str) {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
    let cm: ConfigMap = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "calico-migrate-journal"},
        "data": {"step": step}
    }))
    .unwrap();
    api.patch(
        "calico-migrate-journal",
        &PatchParams::apply(MANAGER),
        &Patch::Apply(&cm),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn migration_and_rollback() {
    let (s, client) = start().await;
    // discovery finds every kind the manifests use
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let groups: Vec<String> = discovery.groups().map(|g| g.name().to_string()).collect();
    for g in [
        "apps",
        "rbac.authorization.k8s.io",
        "policy",
        "admissionregistration.k8s.io",
    ] {
        assert!(groups.contains(&g.to_string()), "{g} in {groups:?}");
    }
    // the cluster before: three Linux nodes, Calico installed in etcd mode
    let nodes: Api<Node> = Api::all(client.clone());
    for n in ["n1", "n2", "n3"] {
        let node: Node = serde_json::from_value(
            json!({"metadata": {"name": n, "labels": {"kubernetes.io/os": "linux"}}}),
        )
        .unwrap();
        nodes.create(&PostParams::default(), &node).await.unwrap();
    }
    apply_manifest(&client, "calico-etcd.yaml", false)
        .await
        .unwrap();
    let first = rollout_status(&client, "calico-node").await;
    assert_eq!(
        first.last().unwrap(),
        "daemon set \"calico-node\" successfully rolled out"
    );
    let dss: Api<DaemonSet> = Api::namespaced(client.clone(), NS);
    assert!(
        env_names(&dss.get("calico-node").await.unwrap()).contains(&"ETCD_ENDPOINTS".to_string())
    );

    // plan: the permissions the migration needs, and one explicitly denied
    for (verb, group, resource, sub) in [
        ("patch", "apps", "deployments", "scale"),
        ("patch", "apps", "daemonsets", ""),
        (
            "create",
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            "",
        ),
        ("update", "", "configmaps", ""),
    ] {
        assert!(
            can_i(&client, verb, group, resource, sub).await,
            "{verb} {resource}/{sub}"
        );
    }
    s.controls().deny(Denial::new("patch", "", "nodes", None));
    assert!(!can_i(&client, "patch", "", "nodes", "").await);
    let label = json!({"metadata": {"labels": {"a": "b"}}});
    let err = patch(&nodes, "n1", Patch::Merge(label)).await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 403),
        "{err:?}"
    );
    s.controls().clear_denials();

    // run: journal, scale kube-controllers to 0
    set_journal(&client, "started").await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let before = deploys.get_scale("calico-kube-controllers").await.unwrap();
    let replicas = before.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
    assert_eq!(replicas, 1);
    let scaled = scale_deployment(&deploys, "calico-kube-controllers", 0)
        .await
        .unwrap();
    assert_eq!(scaled.spec.unwrap().replicas, Some(0));
    set_journal(&client, "scaled-down").await;

    // (The rollout is held until the whole manifest is in, to watch it from the start.)
    let rollout = s.controls().rollout();
    s.controls().set_rollout(Rollout {
        stall: Stall::Unobserved,
        ..rollout
    });
    // The Kubernetes-datastore manifest asks for 1 replica, which the scale (another
    // manager) set to 0: a conflict, until forced.
    let err = apply_manifest(&client, "calico.yaml", false)
        .await
        .unwrap_err();
    let kube::Error::Api(st) = err else {
        panic!("not an API error: {err:?}")
    };
    assert_eq!(st.code, 409, "{st:?}");
    assert!(st.message.contains(".spec.replicas"), "{}", st.message);
    // forced, the applier's fields win; it applied the etcd manifest before, so the
    // etcd-only fields go.
    apply_manifest(&client, "calico.yaml", true).await.unwrap();
    let watcher = tokio::spawn({
        let client = client.clone();
        async move { rollout_status(&client, "calico-node").await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    s.controls().set_rollout(rollout);
    let seen = watcher.await.unwrap();
    assert_eq!(
        seen[0],
        "Waiting for daemon set spec update to be observed..."
    );
    assert!(
        seen.iter()
            .any(|m| m.contains("out of 3 new pods have been updated")),
        "the rollout went step by step: {seen:?}"
    );
    assert_eq!(
        seen.last().unwrap(),
        "daemon set \"calico-node\" successfully rolled out"
    );
    let ds = dss.get("calico-node").await.unwrap();
    let env = env_names(&ds);
    assert!(env.contains(&"DATASTORE_TYPE".to_string()), "{env:?}");
    assert!(!env.contains(&"ETCD_ENDPOINTS".to_string()), "{env:?}");
    let volumes: Vec<String> = ds
        .spec
        .template
        .spec
        .unwrap()
        .volumes
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert!(
        !volumes.contains(&"etcd-certs".to_string())
            && volumes.contains(&"host-local-net-dir".to_string())
    );
    let d = deploys.get("calico-kube-controllers").await.unwrap();
    assert_eq!(d.spec.replicas, Some(1), "the manifest's replicas won");
    let managers: Vec<(String, String)> = d
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            (
                m.manager.unwrap_or_default(),
                m.operation.unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        managers.contains(&(MANAGER.to_string(), "Apply".to_string())),
        "{managers:?}"
    );
    set_journal(&client, "applied").await;

    // rollback: the etcd manifest again, and the replicas back
    apply_manifest(&client, "calico-etcd.yaml", true)
        .await
        .unwrap();
    rollout_status(&client, "calico-node").await;
    let env = env_names(&dss.get("calico-node").await.unwrap());
    assert!(
        env.contains(&"ETCD_ENDPOINTS".to_string()) && !env.contains(&"DATASTORE_TYPE".to_string()),
        "{env:?}"
    );
    scale_deployment(&deploys, "calico-kube-controllers", replicas)
        .await
        .unwrap();
    for _ in 0..1000 {
        let d = deploys.get("calico-kube-controllers").await.unwrap();
        let st = d.status.unwrap_or_default();
        if st.observed_generation == d.metadata.generation && st.available_replicas == Some(1) {
            set_journal(&client, "rolled-back").await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let d = deploys.get("calico-kube-controllers").await.unwrap();
    panic!(
        "calico-kube-controllers never came back: generation {:?}, {:?}",
        d.metadata.generation, d.status
    );
}

#[tokio::test]
async fn the_native_v3_manifest_applies() {
    let (_s, client) = start().await;
    apply_manifest(&client, "calico-v3-crds.yaml", false)
        .await
        .unwrap();
    let docs = manifest("calico-v3-crds.yaml");
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    for k in [
        "Service",
        "ValidatingWebhookConfiguration",
        "MutatingAdmissionPolicyBinding",
    ] {
        assert!(kinds.contains(&k), "{k}");
    }
    // everything is there, and a second apply is accepted
    apply_manifest(&client, "calico-v3-crds.yaml", false)
        .await
        .unwrap();
}
