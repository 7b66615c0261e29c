//! lock and unlock on both datastores: the one key etcd may change, its compare-and-swap, and
//! the ClusterInformation of the Kubernetes datastore.

mod common;

use common::{Env, assert_contains, assert_printed, failed_saying, json_output, stderr, stdout};
use testbed::calico::CLUSTER_INFORMATION_KEY;
use testbed::{EtcdMode, calico};

#[test]
fn etcd_lock_changes_only_the_flag_and_is_idempotent() {
    let env = Env::with(EtcdMode::Tls, &calico::sandbox_cluster());
    let before = env.install.etcd.dump("/").unwrap();
    let (original, _) = env.etcd_cluster_information();

    let output = env.run(&["lock", "--datastore", "etcd"]);
    assert_printed(&output, "Datastore locked.\n");

    let after = env.install.etcd.dump("/").unwrap();
    assert_eq!(before.len(), after.len());
    for ((key_before, value_before), (key_after, value_after)) in before.iter().zip(&after) {
        assert_eq!(key_before, key_after);
        if key_before == CLUSTER_INFORMATION_KEY {
            // Byte for byte the same apart from the flag.
            assert_eq!(
                value_after,
                &original.replace("\"datastoreReady\":true", "\"datastoreReady\":false")
            );
        } else {
            assert_eq!(value_before, value_after, "{key_before} must not change");
        }
    }

    // Locking again succeeds without writing.
    let (_, revision) = env.etcd_cluster_information();
    let output = env.run(&["lock", "--datastore", "etcd", "-o", "json"]);
    assert!(output.status.success());
    let report = json_output(&output);
    assert_eq!(report["locked"], true);
    assert_eq!(report["changed"], false);
    assert_eq!(env.etcd_cluster_information().1, revision);

    let output = env.run(&["unlock", "--datastore", "etcd"]);
    assert_eq!(stdout(&output), "Datastore unlocked.\n");
    assert_eq!(env.etcd_cluster_information().0, original);
    let output = env.run(&["unlock", "--datastore", "etcd"]);
    assert!(output.status.success());
    assert_eq!(stdout(&output), "Datastore unlocked.\n");
    assert_contains(&stderr(&output), "The etcd datastore was already unlocked.");
}

#[test]
fn etcd_lock_of_an_unset_flag_inserts_it_in_go_order() {
    let env = Env::start(EtcdMode::Plain);
    let value = r#"{"kind":"ClusterInformation","apiVersion":"projectcalico.org/v3","metadata":{"name":"default","uid":"u","creationTimestamp":"2020-01-01T00:00:00Z"},"spec":{"clusterGUID":"g","clusterType":"k8s,bgp","calicoVersion":"v3.16.0"}}"#;
    env.install
        .etcd
        .put(CLUSTER_INFORMATION_KEY, value)
        .unwrap();
    let output = env.run(&["status", "-o", "json"]);
    assert_eq!(json_output(&output)["etcd"]["lock"], "unlocked-unset");
    let output = env.run(&["lock", "--datastore", "etcd"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        env.etcd_cluster_information().0,
        value.replace(
            "\"calicoVersion\":\"v3.16.0\"",
            "\"calicoVersion\":\"v3.16.0\",\"datastoreReady\":false"
        )
    );
}

#[test]
fn etcd_without_cluster_information_is_refused() {
    let env = Env::start(EtcdMode::Plain);
    let output = env.run(&["lock", "--datastore", "etcd"]);
    failed_saying(
        &output,
        1,
        &[
            &format!("error: etcd has no ClusterInformation at {CLUSTER_INFORMATION_KEY}"),
            "hint: is this Calico's etcd?",
        ],
    );
    assert!(
        env.install.etcd.dump("/").unwrap().is_empty(),
        "nothing may be written"
    );
}

/// ClusterInformation/default of the Kubernetes datastore; it must be there.
fn kube_cluster_information(env: &Env) -> serde_json::Value {
    env.install
        .kube
        .get_calico("clusterinformations", None, "default")
        .unwrap()
        .expect("ClusterInformation/default")
}

/// The test bed's blocking helpers run their own runtime: call them from a plain thread.
fn outside_the_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| scope.spawn(f).join().unwrap())
}

#[test]
fn a_concurrent_change_defeats_a_stale_compare_and_swap() {
    use calico_migrate::etcd::{
        EtcdSettings,
        settings::{Source, Sourced},
    };
    let env = Env::start(EtcdMode::Plain);
    env.put_cluster_information(true);
    let settings = EtcdSettings {
        endpoints: Sourced {
            value: vec![env.install.etcd.endpoint().to_string()],
            source: Source::Flag("--etcd-endpoints"),
        },
        ca: None,
        cert: None,
        key: None,
        username: None,
        password: None,
        notes: vec![],
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut connected =
            calico_migrate::etcd::connect(settings, std::time::Duration::from_secs(5))
                .await
                .unwrap();
        let store = &mut connected.store;
        let (_, revision) = store.cluster_information().await.unwrap().unwrap();

        // Someone else writes the key after we read it.
        let someone_else = testbed::calico::cluster_information("v3.28.1", true).to_string();
        outside_the_runtime(|| {
            env.install
                .etcd
                .put(CLUSTER_INFORMATION_KEY, &someone_else)
                .unwrap()
        });

        let written = store
            .put_if_unchanged(CLUSTER_INFORMATION_KEY, revision, b"ours".to_vec())
            .await
            .unwrap();
        assert!(!written, "a stale revision must not write");
        let now = outside_the_runtime(|| env.etcd_cluster_information().0);
        assert_eq!(now, someone_else);

        // The lock itself re-reads and keeps the other writer's change.
        let change = store.set_datastore_ready(false).await.unwrap();
        assert!(change.changed);
        let now = outside_the_runtime(|| env.etcd_cluster_information().0);
        assert_eq!(
            now,
            someone_else.replace("\"datastoreReady\":true", "\"datastoreReady\":false")
        );
    });
}

#[test]
fn kubernetes_lock_needs_the_crds() {
    let env = Env::start(EtcdMode::Plain);
    let output = env.run(&["lock", "--datastore", "kubernetes"]);
    failed_saying(
        &output,
        1,
        &[
            "error: the Calico CRDs are not installed in the cluster",
            "hint: install Calico's CRDs first",
        ],
    );
}

#[test]
fn kubernetes_lock_creates_cluster_information_and_round_trips() {
    let env = Env::start(EtcdMode::Plain);
    env.install.kube.install_crds().unwrap();

    let output = env.run(&["unlock", "--datastore", "kubernetes"]);
    assert_eq!(output.status.code(), Some(1), "nothing to unlock yet");
    assert_contains(
        &stderr(&output),
        "has no ClusterInformation/default: there is nothing to unlock",
    );

    let output = env.run(&["lock", "--datastore", "kubernetes"]);
    assert_printed(&output, "Datastore locked.\n");
    assert_contains(
        &stderr(&output),
        "Created ClusterInformation/default in the Kubernetes datastore.",
    );
    let info = kube_cluster_information(&env);
    assert_eq!(info["spec"]["datastoreReady"], false);
    assert_eq!(info["spec"]["clusterType"], "kdd");
    let guid = info["spec"]["clusterGUID"].as_str().unwrap();
    assert_eq!(guid.len(), 32);
    assert!(guid.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(info["metadata"]["annotations"]["projectcalico.org/metadata"].is_string());

    let output = env.run(&["lock", "--datastore", "kubernetes", "-o", "json"]);
    let report = json_output(&output);
    assert_eq!(report["changed"], false);
    assert_eq!(report["clusterInformationCreated"], false);

    let output = env.run(&["unlock", "--datastore", "kubernetes"]);
    assert_printed(&output, "Datastore unlocked.\n");
    let info = kube_cluster_information(&env);
    assert_eq!(info["spec"]["datastoreReady"], true);
    assert_eq!(info["spec"]["clusterGUID"], guid, "the GUID survives");
}
