//! plan, run and rollback: the whole migration against a real etcd and the local API server (or
//! a real cluster), on an install set up as a user's is: Calico's etcd manifest applied with
//! `kubectl apply`, its calico-config and Secret naming the test's etcd.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use calico_migrate::kdd::workloads::daemonset_rollout;
use common::{Env, assert_contains, json_output, kubectl, stderr, stdout, succeeded};
use serde_json::{Value, json};
use testbed::kubelet::Kubelet;
use testbed::{EtcdMode, calico};

/// An etcd-mode install with its workloads, and the two manifests rewritten for its namespace.
struct Cluster {
    /// On a real cluster, what runs calico-node's pods (dropped first: it reads the namespace
    /// that the end of the test deletes).
    kubelet: Option<Kubelet>,
    env: Env,
    dir: tempfile::TempDir,
    kdd_manifest: PathBuf,
    etcd_manifest: PathBuf,
}

/// Calico's manifest with every `kube-system` made the test's namespace, for this cluster: the
/// CRDs its API server refuses are left out (v3.32's `clusternetworkpolicies` CRD uses CEL
/// functions that Kubernetes 1.28 lacks), and the cluster-scoped objects it would create are
/// the test's, deleted at the end.
fn manifest_for(file: &str, env: &Env, dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/manifests/{file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let kube = &env.install.kube;
    let (text, dropped) = kube
        .servable_manifest(&text.replace("kube-system", env.namespace()))
        .unwrap();
    for document in dropped {
        eprintln!("left out of {file}, as this API server refuses it: {document}");
    }
    kube.own_cluster_objects_of(&text).unwrap();
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    path
}

/// Fills the etcd manifest's ConfigMap and Secret in with the test's etcd, as a user does with
/// their own endpoints and certificates.
fn fill_in_etcd(manifest: &Path, env: &Env) {
    let (data, secret) = testbed::install::etcd_config(&env.install.etcd).unwrap();
    let mut text = std::fs::read_to_string(manifest).unwrap();
    for key in ["etcd_endpoints", "etcd_ca", "etcd_cert", "etcd_key"] {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{key}:")))
            .unwrap()
            .to_string();
        text = text.replace(
            &line,
            &format!("  {key}: {:?}", data.get(key).cloned().unwrap_or_default()),
        );
    }
    let mut filled = String::new();
    for (key, value) in &secret {
        filled.push_str(&format!(
            "  {key}: {}\n",
            data_encoding::BASE64.encode(value)
        ));
    }
    text = text.replace(
        "  # etcd-key: null\n  # etcd-cert: null\n  # etcd-ca: null\n",
        &filled,
    );
    std::fs::write(manifest, text).unwrap();
}

impl Cluster {
    fn new() -> Cluster {
        let env = Env::with(EtcdMode::Tls, &calico::sandbox_cluster());
        let dir = tempfile::tempdir().unwrap();
        let kdd_manifest = manifest_for("calico.yaml", &env, dir.path());
        let etcd_manifest = manifest_for("calico-etcd.yaml", &env, dir.path());
        fill_in_etcd(&etcd_manifest, &env);
        let cluster = Cluster {
            kubelet: env.install.kube.simulated_kubelet(env.namespace()),
            env,
            dir,
            kdd_manifest,
            etcd_manifest,
        };
        // The install as the user made it: `kubectl apply -f calico-etcd.yaml`.
        let kubectl = kubectl().expect("kubectl is installed (scripts/install-deps)");
        let output = std::process::Command::new(kubectl)
            .arg("--kubeconfig")
            .arg(cluster.env.install.kube.kubeconfig())
            .args(["apply", "-f"])
            .arg(&cluster.etcd_manifest)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "kubectl apply: {}",
            stderr(&output)
        );
        cluster.wait_until_calico_node_runs();
        cluster
    }

    /// Waits until calico-node has rolled out, as on the user's working cluster before the
    /// migration (the local server's rollouts take a moment too).
    fn wait_until_calico_node_runs(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let rollout = daemonset_rollout(&self.daemonset()).unwrap();
            if rollout.done {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "calico-node never ran: {}",
                rollout.message
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Keeps calico-node's rollout from finishing, as pods failing their readiness probe
    /// would, or lets it go on.
    fn stall_rollouts(&self, stalled: bool) {
        if let Some(kubelet) = &self.kubelet {
            if stalled {
                kubelet.pause();
            } else {
                kubelet.resume();
            }
            return;
        }
        let controls = self.env.install.kube.controls().expect("a local server");
        let mut rollout = controls.rollout();
        rollout.stall = if stalled {
            mini_apiserver::Stall::Unavailable
        } else {
            mini_apiserver::Stall::None
        };
        controls.set_rollout(rollout);
    }

    fn namespace(&self) -> &str {
        self.env.namespace()
    }

    fn backup(&self) -> PathBuf {
        self.dir.path().join("backup.export")
    }

    /// `run --yes --manifest <kdd> --backup <file>` with more arguments.
    fn run(&self, args: &[&str]) -> Output {
        self.env
            .plugin()
            .args(["run", "--yes", "-o", "json", "--rollout-timeout", "60s"])
            .arg("--manifest")
            .arg(&self.kdd_manifest)
            .arg("--backup")
            .arg(self.backup())
            .args(args)
            .output()
            .unwrap()
    }

    fn rollback(&self, args: &[&str]) -> Output {
        self.env
            .plugin()
            .args([
                "rollback",
                "--yes",
                "-o",
                "json",
                "--rollout-timeout",
                "60s",
            ])
            .args(args)
            .output()
            .unwrap()
    }

    fn status(&self) -> Value {
        let output = self
            .env
            .plugin()
            .args(["status", "-o", "json"])
            .output()
            .unwrap();
        json_output(&output)
    }

    fn get(&self, path: &str) -> Option<Value> {
        self.env.install.kube.get_json(path).unwrap()
    }

    fn daemonset(&self) -> Value {
        self.get(&format!(
            "/apis/apps/v1/namespaces/{}/daemonsets/calico-node",
            self.namespace()
        ))
        .expect("calico-node exists")
    }

    fn replicas(&self) -> i64 {
        self.get(&format!(
            "/apis/apps/v1/namespaces/{}/deployments/calico-kube-controllers",
            self.namespace()
        ))
        .expect("calico-kube-controllers exists")["spec"]["replicas"]
            .as_i64()
            .unwrap()
    }

    fn journal(&self) -> Value {
        let map = self
            .get(&format!(
                "/api/v1/namespaces/{}/configmaps/calico-migrate-state",
                self.namespace()
            ))
            .expect("the journal exists");
        serde_json::from_str(map["data"]["journal.json"].as_str().unwrap()).unwrap()
    }

    /// Every Calico key and value in etcd, the lock flag left out.
    fn etcd_data(&self) -> Vec<(String, String)> {
        let mut pairs = self.env.install.etcd.dump("/calico/").unwrap();
        pairs.retain(|(k, _)| k != calico::CLUSTER_INFORMATION_KEY);
        pairs
    }

    fn assert_verified(&self) {
        let output = self
            .env
            .plugin()
            .args(["verify", "-o", "json", "-f"])
            .arg(self.backup())
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}\n{}",
            stdout(&output),
            stderr(&output)
        );
    }
}

fn env_names(container: &Value) -> Vec<String> {
    container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["name"].as_str().map(str::to_string))
        .collect()
}

fn assert_migrated(cluster: &Cluster, report: &Value) {
    assert_eq!(report["completed"], true, "{report:#}");
    let status = cluster.status();
    assert_eq!(status["kubernetes"]["lock"], "unlocked", "{status:#}");
    assert_eq!(
        status["etcd"]["lock"], "locked",
        "etcd stays locked and unused"
    );
    cluster.assert_verified();
    // calico-node runs on the Kubernetes datastore, with nothing of etcd left in its spec.
    let node = &cluster.daemonset()["spec"]["template"]["spec"]["containers"][0];
    let env = env_names(node);
    assert!(env.contains(&"DATASTORE_TYPE".to_string()), "{env:?}");
    assert!(
        !env.iter().any(|e| e.starts_with("ETCD_")),
        "the etcd manifest's settings are gone: {env:?}"
    );
    assert_eq!(cluster.replicas(), 1, "calico-kube-controllers is back");
}

#[test]
fn a_whole_migration_ends_unlocked_and_verified() {
    let cluster = Cluster::new();
    let output = cluster.run(&[]);
    let report = succeeded(&output);
    assert_migrated(&cluster, &report);
    let stages: Vec<&str> = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        [
            "preflight",
            "stop-kube-controllers",
            "pre-copy",
            "lock-etcd",
            "backup",
            "copy-changes",
            "verify",
            "apply-manifest",
            "rollout",
            "unlock"
        ]
    );
    assert!(report["stages"][0]["seconds"].as_f64().unwrap() > 0.0);
    let window = report["lockWindow"]["seconds"].as_f64().unwrap();
    assert!(window > 0.0 && window < 60.0, "{window}");
    // The backup is kept, private, and the journal knows its digest.
    let mode = std::fs::metadata(cluster.backup())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        cluster.journal()["backup"]["sha256"],
        report["backup"]["sha256"]
    );
    assert_eq!(report["backup"]["sha256"].as_str().unwrap().len(), 64);
    // Progress went to stderr, one line per step.
    assert_contains(&stderr(&output), "[10] unlock:");
    // Running it again says it is done and changes nothing.
    let again = succeeded(&cluster.run(&[]));
    assert_eq!(again["completed"], true);
    assert!(again["stages"].as_array().unwrap().is_empty());
}

#[test]
fn without_a_terminal_run_asks_for_yes_and_changes_nothing() {
    let cluster = Cluster::new();
    let before = cluster.etcd_data();
    let output = cluster
        .env
        .plugin()
        .arg("run")
        .arg("--manifest")
        .arg(&cluster.kdd_manifest)
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_contains(&stderr(&output), "pass --yes");
    assert_eq!(cluster.status()["etcd"]["lock"], "unlocked");
    assert_eq!(cluster.etcd_data(), before);
    assert_eq!(cluster.replicas(), 1);
}

/// Kills `run` just before `step` (as a kill -9 or a lost connection would stop it), then runs
/// it again: it resumes and completes.
fn interrupted_before(step: &str) {
    let cluster = Cluster::new();
    let mut child = common::plugin_process(cluster.env.install.kube.kubeconfig())
        .args(["-n", cluster.namespace(), "run", "--yes", "--manifest"])
        .arg(&cluster.kdd_manifest)
        .arg("--backup")
        .arg(cluster.backup())
        .env(calico_migrate::stages::run::PAUSE_BEFORE, step)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.contains(&format!("paused before {step}")) => break,
            Some(Ok(line)) => {
                seen.push_str(&line);
                seen.push('\n');
            }
            _ => panic!("run ended before {step}: {seen}"),
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let report = succeeded(&cluster.run(&[]));
    assert!(report["resumedAfter"].is_string(), "{report:#}");
    assert_migrated(&cluster, &report);
}

#[test]
fn interrupted_before_stopping_kube_controllers() {
    interrupted_before("stop-kube-controllers");
}

#[test]
fn interrupted_before_the_pre_copy() {
    interrupted_before("pre-copy");
}

#[test]
fn interrupted_before_locking_etcd() {
    interrupted_before("lock-etcd");
}

#[test]
fn interrupted_before_the_backup() {
    interrupted_before("backup");
}

#[test]
fn interrupted_before_copying_the_changes() {
    interrupted_before("copy-changes");
}

#[test]
fn interrupted_before_verifying() {
    interrupted_before("verify");
}

#[test]
fn interrupted_before_applying_the_manifest() {
    interrupted_before("apply-manifest");
}

#[test]
fn interrupted_before_the_rollout() {
    interrupted_before("rollout");
}

#[test]
fn interrupted_before_unlocking() {
    interrupted_before("unlock");
}

#[test]
fn a_rollout_that_never_finishes_times_out_and_leaves_everything_locked() {
    let cluster = Cluster::new();
    cluster.stall_rollouts(true);
    let output = cluster
        .env
        .plugin()
        .args(["run", "--yes", "--rollout-timeout", "3s", "--manifest"])
        .arg(&cluster.kdd_manifest)
        .arg("--backup")
        .arg(cluster.backup())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert_contains(&err, "did not finish within 3s");
    assert_contains(&err, "etcd and the Kubernetes datastore stay locked");
    assert_contains(&err, "resumes from this step");
    let status = cluster.status();
    assert_eq!(status["etcd"]["lock"], "locked");
    assert_eq!(status["kubernetes"]["lock"], "locked");
    assert_eq!(cluster.journal()["step"], "manifest-applied");
    // Once calico-node is healthy, the same command finishes the job.
    cluster.stall_rollouts(false);
    let report = succeeded(&cluster.run(&[]));
    assert_eq!(report["resumedAfter"], "manifest-applied");
    assert_migrated(&cluster, &report);
}

#[test]
fn rollback_before_unlock_restores_the_etcd_side() {
    let cluster = Cluster::new();
    let before = cluster.etcd_data();
    let report = succeeded(&cluster.run(&["--stop-before-unlock"]));
    assert_eq!(report["completed"], false);
    assert!(
        report["next"]
            .as_str()
            .unwrap()
            .contains("kubectl calico-migrate run")
    );
    assert!(
        !cluster
            .env
            .install
            .kube
            .list_calico("ippools")
            .unwrap()
            .is_empty()
    );
    // Without the etcd manifest calico-node would stay on an empty Kubernetes datastore.
    let refused = cluster.rollback(&[]);
    assert_eq!(refused.status.code(), Some(1));
    assert_contains(&stderr(&refused), "--manifest calico-etcd.yaml");
    let output = cluster.rollback(&["--manifest", cluster.etcd_manifest.to_str().unwrap()]);
    let report = succeeded(&output);
    assert_eq!(report["completed"], true, "{report:#}");
    let status = cluster.status();
    assert_eq!(status["etcd"]["lock"], "unlocked", "{status:#}");
    assert_eq!(
        status["kubernetes"]["lock"], "locked",
        "the copy stays locked"
    );
    assert_eq!(
        cluster.etcd_data(),
        before,
        "Calico's data in etcd is untouched"
    );
    for plural in [
        "ippools",
        "globalnetworkpolicies",
        "ipamblocks",
        "ipamhandles",
    ] {
        assert!(
            cluster
                .env
                .install
                .kube
                .list_calico(plural)
                .unwrap()
                .is_empty(),
            "{plural} left behind"
        );
    }
    let annotations = cluster
        .env
        .install
        .kube
        .node_annotations("worker-1")
        .unwrap();
    assert!(
        !annotations
            .keys()
            .any(|k| k.starts_with("projectcalico.org/")),
        "{annotations:?}"
    );
    let node = &cluster.daemonset()["spec"]["template"]["spec"]["containers"][0];
    assert!(env_names(node).contains(&"ETCD_ENDPOINTS".to_string()));
    assert_eq!(cluster.replicas(), 1);
    // A second rollback has nothing left to do; a new run starts afresh.
    assert_eq!(succeeded(&cluster.rollback(&[]))["completed"], true);
    let report = succeeded(&cluster.run(&[]));
    assert!(report["resumedAfter"].is_null(), "{report:#}");
    assert_migrated(&cluster, &report);
}

#[test]
fn rollback_after_unlock_is_refused() {
    let cluster = Cluster::new();
    succeeded(&cluster.run(&[]));
    let output = cluster.rollback(&["--manifest", cluster.etcd_manifest.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert_contains(&err, "Nothing was changed");
    assert_contains(&err, "no rollback after unlocking");
    assert_eq!(cluster.status()["kubernetes"]["lock"], "unlocked");
    assert!(
        !cluster
            .env
            .install
            .kube
            .list_calico("ippools")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_pre_copy_ahead_of_time_then_only_the_changes_under_the_lock() {
    let cluster = Cluster::new();
    let report = succeeded(&cluster.run(&["--stop-after-pre-copy"]));
    assert!(
        report["stopped"]
            .as_str()
            .unwrap()
            .contains("--stop-after-pre-copy")
    );
    let status = cluster.status();
    assert_eq!(status["etcd"]["lock"], "unlocked", "etcd keeps working");
    assert_eq!(
        status["kubernetes"]["lock"], "locked",
        "nothing acts on the copy"
    );
    // While etcd is still live: a policy is added, a pool changed, a handle released.
    let etcd = &cluster.env.install.etcd;
    let policy = json!({"kind": "GlobalNetworkPolicy", "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": "default.late-arrival", "creationTimestamp": "2026-12-01T10:00:00Z"},
        "spec": {"tier": "default", "order": 50, "selector": "all()", "types": ["Ingress"]}});
    etcd.put(&calico::resource_key(&policy), &policy.to_string())
        .unwrap();
    let pool_key = "/calico/resources/v3/projectcalico.org/ippools/default-ipv4-ippool";
    let mut pool: Value =
        serde_json::from_str(&etcd.get(pool_key).unwrap().expect("the pool").0).unwrap();
    pool["spec"]["natOutgoing"] = json!(false);
    etcd.put(pool_key, &pool.to_string()).unwrap();
    let handles = etcd.dump("/calico/ipam/v2/handle/").unwrap();
    let (released, _) = handles
        .iter()
        .find(|(k, _)| k.contains("k8s-pod-network"))
        .expect("a pod's handle")
        .clone();
    etcd.delete(&released).unwrap();
    // Someone else's object in the target survives the sync.
    let theirs = json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "GlobalNetworkSet",
        "metadata": {"name": "not-from-etcd"}, "spec": {"nets": ["198.51.100.0/24"]}});
    cluster
        .env
        .install
        .kube
        .create_calico("globalnetworksets", &theirs)
        .unwrap();

    let report = succeeded(&cluster.run(&[]));
    assert_eq!(report["resumedAfter"], "pre-copied");
    let copy = &report["copy"];
    let sum = |field: &str| -> u64 {
        copy["kinds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k[field].as_u64().unwrap())
            .sum()
    };
    assert!(sum("created") >= 1, "{copy:#}");
    assert!(sum("updated") >= 1, "{copy:#}");
    assert_eq!(sum("deleted"), 1, "{copy:#}");
    let kube = &cluster.env.install.kube;
    assert!(
        kube.get_calico("globalnetworksets", None, "not-from-etcd")
            .unwrap()
            .is_some(),
        "an object the migration did not write is never deleted"
    );
    let handle = released.rsplit('/').next().unwrap().to_lowercase();
    assert!(
        kube.get_calico("ipamhandles", None, &handle)
            .unwrap()
            .is_none()
    );
    // A plain verify lists that object; without it the datastores are equal.
    kube.delete_calico("globalnetworksets", None, "not-from-etcd")
        .unwrap();
    assert_migrated(&cluster, &report);
}

#[test]
fn plan_is_ready_on_a_clean_install_and_changes_nothing() {
    let cluster = Cluster::new();
    let before = cluster.etcd_data();
    let output = cluster
        .env
        .plugin()
        .args(["plan", "-o", "json", "--manifest"])
        .arg(&cluster.kdd_manifest)
        .output()
        .unwrap();
    let report = succeeded(&output);
    assert_eq!(report["ready"], true, "{report:#}");
    assert_eq!(report["kubernetes"]["reachable"], true);
    assert_eq!(report["etcd"]["reachable"], true);
    assert_eq!(report["etcd"]["lock"], "unlocked");
    assert_eq!(report["calicoNode"]["found"], true);
    assert_eq!(report["kubeControllers"]["desired"], 1);
    assert!(report["permissionsChecked"].as_u64().unwrap() > 100);
    assert!(report["lockWindow"]["seconds"].as_f64().unwrap() > 0.0);
    let pools = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == "IPPool")
        .unwrap();
    assert!(pools["toWrite"].as_u64().unwrap() >= 1);
    assert_eq!(cluster.etcd_data(), before);
    let status = cluster.status();
    assert_eq!(
        status["kubernetes"]["calicoCrds"]["installed"], 0,
        "{status:#}"
    );
    assert_eq!(cluster.replicas(), 1);
}

#[test]
fn plan_lists_every_problem_at_once() {
    let cluster = Cluster::new();
    let kube = &cluster.env.install.kube;
    // Calico data already in the target, with other content.
    kube.install_crds().unwrap();
    let pool = json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
        "metadata": {"name": "default-ipv4-ippool"},
        "spec": {"cidr": "172.16.0.0/16", "blockSize": 26, "ipipMode": "Never", "vxlanMode": "Never"}});
    kube.create_calico("ippools", &pool).unwrap();
    // A namespaced policy whose namespace the cluster does not have.
    let policy = json!({"kind": "NetworkPolicy", "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": "default.orphan", "namespace": "no-such-namespace",
            "creationTimestamp": "2026-12-01T10:00:00Z"},
        "spec": {"tier": "default", "selector": "all()", "types": ["Ingress"]}});
    cluster
        .env
        .install
        .etcd
        .put(&calico::resource_key(&policy), &policy.to_string())
        .unwrap();
    // A permission the migration needs is denied (the local server can be told to).
    let denied = cluster.env.install.kube.controls().map(|controls| {
        controls.deny(mini_apiserver::Denial::new("patch", "", "nodes", None));
    });
    // And the manifest given is the etcd one.
    let output = cluster
        .env
        .plugin()
        .args(["plan", "-o", "json", "--manifest"])
        .arg(&cluster.etcd_manifest)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report = json_output(&output);
    assert_eq!(report["ready"], false);
    let problems: Vec<&str> = report["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["problem"].as_str().unwrap())
        .collect();
    let has = |part: &str| {
        assert!(
            problems.iter().any(|p| p.contains(part)),
            "no blocker about {part:?} in {problems:#?}"
        )
    };
    has("does not run calico-node on the Kubernetes datastore");
    has("no-such-namespace");
    has("already holds 1 Calico object(s) with other content");
    if denied.is_some() {
        has("may not patch nodes");
    }
    for blocker in report["blockers"].as_array().unwrap() {
        assert!(!blocker["fix"].as_str().unwrap().is_empty(), "{blocker}");
    }
    // The text form says the same, each problem with its fix.
    let text = cluster
        .env
        .plugin()
        .args(["plan", "--manifest"])
        .arg(&cluster.etcd_manifest)
        .output()
        .unwrap();
    assert_eq!(text.status.code(), Some(1));
    assert_contains(&stdout(&text), "Blocked by");
    assert_contains(&stdout(&text), "fix:");
}

#[test]
fn a_run_under_api_priority_and_fairness_backs_off_and_completes() {
    let cluster = Cluster::new();
    let Some(faults) = cluster.env.install.kube.faults() else {
        eprintln!("a real cluster cannot be told to throttle: skipping");
        return;
    };
    // Few seats and a short queue: writes beyond them get 429 with Retry-After.
    let controls = cluster.env.install.kube.controls().expect("a local server");
    controls.set_apf(mini_apiserver::Apf {
        max_inflight: 2,
        queue_length: 1,
    });
    let _ = faults;
    let report = succeeded(&cluster.run(&[]));
    assert_migrated(&cluster, &report);
    let throttled = report["preCopy"]["throttled"].as_u64().unwrap_or(0)
        + report["copy"]["throttled"].as_u64().unwrap_or(0);
    assert!(throttled > 0, "{report:#}");
}
