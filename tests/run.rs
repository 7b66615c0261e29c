//! plan, run and rollback: the whole migration against a real etcd and the local API server (or
//! a real cluster), on an install set up as a user's is: Calico's etcd manifest applied with
//! `kubectl apply`, its calico-config and Secret naming the test's etcd.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Output, Stdio};

use calico_migrate::kdd::workloads::daemonset_rollout;
use calico_migrate::kinds::CrdApi;
use common::{
    Env, assert_contains, failed_saying, field_strings, install_calico_crds, json_output,
    kinds_sum, list_calico, row_of, stderr, stdout, succeeded,
};
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

impl Cluster {
    fn new() -> Cluster {
        Cluster::with_manifest("calico.yaml")
    }

    /// With `kdd_manifest` the Kubernetes-datastore manifest `run` applies.
    fn with_manifest(kdd_manifest: &str) -> Cluster {
        let env = Env::with(EtcdMode::Tls, &calico::sandbox_cluster());
        let dir = tempfile::tempdir().unwrap();
        let kubelet = env.install.kube.simulated_kubelet(env.namespace());
        let (etcd_manifest, kdd_manifest) =
            common::apply_etcd_manifest(&env, kdd_manifest, dir.path());
        let cluster = Cluster {
            kubelet,
            env,
            dir,
            kdd_manifest,
            etcd_manifest,
        };
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

    /// `plan --manifest <manifest>` with more arguments.
    fn plan(&self, manifest: &std::path::Path, args: &[&str]) -> Output {
        self.env
            .plugin()
            .arg("plan")
            .args(args)
            .arg("--manifest")
            .arg(manifest)
            .output()
            .unwrap()
    }

    fn status(&self) -> Value {
        let output = self.env.run(&["status", "-o", "json"]);
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

    /// Whether the API server takes the Kubernetes-datastore manifest by server-side apply (a
    /// dry run): Calico v3.32's native v3 CRDs use `selectableFields`, which Kubernetes
    /// before 1.30 does not know. When it does not, the test says so and is skipped.
    fn can_apply_manifest(&self) -> bool {
        let output = common::kubectl_for(&self.env)
            .args([
                "apply",
                "--server-side",
                "--force-conflicts",
                "--dry-run=server",
            ])
            .args(["--field-manager", "calico-migrate-test-probe", "-f"])
            .arg(&self.kdd_manifest)
            .output()
            .unwrap();
        if !output.status.success() {
            eprintln!(
                "this API server cannot apply {} by server-side apply, so neither can run: {}; skipping",
                self.kdd_manifest.display(),
                stderr(&output).lines().next().unwrap_or_default()
            );
        }
        output.status.success()
    }

    /// Writes a Calico resource into etcd as Calico stores it.
    fn put_in_etcd(&self, object: &Value) {
        self.env
            .install
            .etcd
            .put(&calico::resource_key(object), &object.to_string())
            .unwrap();
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
    // Into crd.projectcalico.org/v1 with the standard manifest; into native v3 CRDs with
    // Calico's manifest for them, on a cluster that serves only those CRDs already (--crd-api
    // auto finds them, as Calico does) and on an empty cluster (--crd-api v3).
    for (manifest, v3_crds_first, crd_api, api) in [
        ("calico.yaml", false, "auto", CrdApi::V1),
        ("calico-v3-crds.yaml", true, "auto", CrdApi::V3),
        ("calico-v3-crds.yaml", false, "v3", CrdApi::V3),
    ] {
        a_whole_migration_into(manifest, v3_crds_first, crd_api, api);
    }
}

fn a_whole_migration_into(manifest: &str, v3_crds_first: bool, crd_api: &str, api: CrdApi) {
    let cluster = Cluster::with_manifest(manifest);
    if !cluster.can_apply_manifest() {
        return;
    }
    let kube = &cluster.env.install.kube;
    if v3_crds_first {
        install_calico_crds(kube, CrdApi::V3);
    }
    let output = cluster.run(&["--crd-api", crd_api]);
    let report = succeeded(&output);
    assert_eq!(report["crdApi"]["api"], api.version(), "{report:#}");
    assert_eq!(cluster.journal()["crdApi"], api.version());
    assert_migrated(&cluster, &report);
    // The data is in the chosen group, and Calico finds that group as it will run.
    assert!(!list_calico(kube, api, "ippools").is_empty());
    let status = cluster.status();
    let served = &status["kubernetes"]["calicoCrds"]["servedGroups"];
    assert_eq!(served["v3"], api == CrdApi::V3, "{status:#}");
    if api == CrdApi::V3 {
        assert_eq!(served["v1"], false, "no v1 CRD was installed: {status:#}");
        let auto = calico_migrate::kinds::choose_api(
            calico_migrate::kinds::CrdApiRequest::Auto,
            None,
            calico_migrate::kinds::ServedGroups {
                v1: false,
                v3: true,
            },
        );
        assert_eq!(auto.api, CrdApi::V3);
    }
    let stages = field_strings(&report["stages"], "name");
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
    assert_contains(&stderr(&output), "[10/10] unlock:");
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
/// `run --yes -o json` paused just before `step` (until killed, or until `go_on` exists), and
/// the rest of its stderr.
fn paused_before(
    cluster: &Cluster,
    step: &str,
    go_on: Option<&std::path::Path>,
) -> (std::process::Child, impl Iterator<Item = String>) {
    let mut command = common::plugin_process(cluster.env.install.kube.kubeconfig());
    command
        .args(["-n", cluster.namespace(), "run", "--yes", "-o", "json"])
        .arg("--manifest")
        .arg(&cluster.kdd_manifest)
        .arg("--backup")
        .arg(cluster.backup())
        .env(calico_migrate::stages::run::PAUSE_BEFORE, step)
        .stderr(Stdio::piped())
        .stdout(Stdio::piped());
    if let Some(file) = go_on {
        command.env(calico_migrate::stages::run::RESUME_WHEN, file);
    }
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok);
    let mut seen = String::new();
    loop {
        match lines.next() {
            Some(line) if line.contains(&format!("paused before {step}")) => break,
            Some(line) => {
                seen.push_str(&line);
                seen.push('\n');
            }
            None => panic!("run ended before {step}: {seen}"),
        }
    }
    (child, lines)
}

fn interrupted_before(step: &str) {
    let cluster = Cluster::new();
    let (mut child, _) = paused_before(&cluster, step, None);
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
    let err = failed_saying(
        &output,
        1,
        &[
            "did not finish within 3s",
            "etcd and the Kubernetes datastore stay locked",
        ],
    );
    assert_contains(
        &err,
        &common::hinted_command(
            &cluster.env,
            &format!("run --manifest {}", cluster.kdd_manifest.display()),
        ),
    );
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
    for (manifest, api) in [
        ("calico.yaml", CrdApi::V1),
        ("calico-v3-crds.yaml", CrdApi::V3),
    ] {
        rollback_before_unlock_restores_the_etcd_side_of(manifest, api);
    }
}

fn rollback_before_unlock_restores_the_etcd_side_of(manifest: &str, api: CrdApi) {
    let cluster = Cluster::with_manifest(manifest);
    if !cluster.can_apply_manifest() {
        return;
    }
    let kube = &cluster.env.install.kube;
    let before = cluster.etcd_data();
    let report = succeeded(&cluster.run(&["--stop-before-unlock", "--crd-api", api.version()]));
    assert_eq!(report["completed"], false);
    // The command that finishes reaches the same install: its namespace is in it.
    assert_contains(
        report["next"].as_str().unwrap(),
        &common::hinted_command(&cluster.env, "run --manifest"),
    );
    assert!(!list_calico(kube, api, "ippools").is_empty());
    // Without the etcd manifest calico-node would stay on an empty Kubernetes datastore.
    let refused = cluster.rollback(&[]);
    assert_eq!(refused.status.code(), Some(1));
    assert_contains(&stderr(&refused), "--manifest calico-etcd.yaml");
    // The journal says which group the migration wrote; another one is refused.
    let other = CrdApi::ALL.into_iter().find(|a| *a != api).unwrap();
    let refused = cluster.rollback(&[
        "--manifest",
        cluster.etcd_manifest.to_str().unwrap(),
        "--crd-api",
        other.version(),
    ]);
    assert_eq!(refused.status.code(), Some(1));
    assert_contains(&stderr(&refused), "which the migration under way writes");
    let output = cluster.rollback(&["--manifest", cluster.etcd_manifest.to_str().unwrap()]);
    let report = succeeded(&output);
    assert_eq!(report["completed"], true, "{report:#}");
    assert_eq!(report["crdApi"]["api"], api.version());
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
        "ipamconfigs",
    ] {
        assert!(
            list_calico(kube, api, plural).is_empty(),
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
    failed_saying(
        &output,
        1,
        &["Nothing was changed", "no rollback after unlocking"],
    );
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
    let ledger = pre_copy_ledger(&cluster);
    assert!(ledger.is_file(), "the pre-copy keeps its ledger");
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
    // The only GlobalNetworkSet goes: the backup has none of the kind left.
    let only_set = json!({"kind": "GlobalNetworkSet", "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": "trusted-offices"}});
    etcd.delete(&calico::resource_key(&only_set)).unwrap();
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
    // The copy compared every object just before: verify lists the target again rather than
    // reading the backup a second time.
    assert_contains(
        stage(&report, "verify")["summary"].as_str().unwrap(),
        "listed again from the API server's watch cache, at the resourceVersions the copy compared them at",
    );
    let copy = &report["copy"];
    let sum = |field: &str| kinds_sum(copy, field);
    assert!(sum("created") >= 1, "{copy:#}");
    assert!(sum("updated") >= 1, "{copy:#}");
    assert_eq!(sum("deleted"), 2, "{copy:#}");
    // Compared with the pre-copy's ledger, without listing the target: only the changes are
    // written, and the ledger is gone once the copy is verified.
    assert_eq!(copy["baseline"], true, "{copy:#}");
    assert_eq!(
        copy["writes"].as_u64().unwrap(),
        sum("created") + sum("updated") + sum("deleted"),
        "{copy:#}"
    );
    assert!(!ledger.exists(), "the ledger is removed after the verify");
    assert!(cluster.journal()["preCopyLedger"].is_null());
    let kube = &cluster.env.install.kube;
    assert!(
        kube.get_calico("globalnetworksets", None, "not-from-etcd")
            .unwrap()
            .is_some(),
        "an object the migration did not write is never deleted"
    );
    assert!(
        kube.get_calico("globalnetworksets", None, "trusted-offices")
            .unwrap()
            .is_none(),
        "a kind the backup no longer has is deleted too"
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
fn a_pre_copy_killed_halfway_is_finished_under_the_lock() {
    let cluster = Cluster::new();
    let kube = &cluster.env.install.kube;
    let Some(faults) = kube.faults() else {
        eprintln!("a real cluster's writes cannot be slowed down on demand: skipping");
        return;
    };
    // Slow, one-at-a-time writes, so that the pre-copy can be killed in its middle.
    faults.set_latency(std::time::Duration::from_millis(30));
    let mut child = common::plugin_process(kube.kubeconfig())
        .args([
            "-n",
            cluster.namespace(),
            "run",
            "--yes",
            "--concurrency",
            "1",
        ])
        .args(["--stop-after-pre-copy", "--manifest"])
        .arg(&cluster.kdd_manifest)
        .arg("--backup")
        .arg(cluster.backup())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    common::wait_until(deadline, "the pre-copy began", || {
        !list_calico(kube, CrdApi::V1, "globalnetworkpolicies").is_empty()
    });
    child.kill().unwrap();
    child.wait().unwrap();
    faults.set_latency(std::time::Duration::ZERO);
    let handles_in_etcd = cluster
        .etcd_data()
        .iter()
        .filter(|(k, _)| k.starts_with("/calico/ipam/v2/handle/"))
        .count();
    assert!(
        list_calico(kube, CrdApi::V1, "ipamhandles").len() < handles_in_etcd,
        "the pre-copy was killed before it copied the IPAM handles"
    );
    assert_eq!(cluster.status()["etcd"]["lock"], "unlocked");
    // etcd changes before the run goes on: a new policy.
    let policy = json!({"kind": "GlobalNetworkPolicy", "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": "default.after-the-kill", "creationTimestamp": "2026-12-01T10:00:00Z"},
        "spec": {"tier": "default", "order": 60, "selector": "all()", "types": ["Egress"]}});
    cluster.put_in_etcd(&policy);
    let report = succeeded(&cluster.run(&[]));
    assert_migrated(&cluster, &report);
    assert!(
        list_calico(kube, CrdApi::V1, "globalnetworkpolicies")
            .iter()
            .any(|p| p["metadata"]["name"] == "default.after-the-kill")
    );
}

/// The pre-copy's ledger file, as the journal names it.
fn pre_copy_ledger(cluster: &Cluster) -> PathBuf {
    let journal = cluster.journal();
    PathBuf::from(
        journal["preCopyLedger"]["path"]
            .as_str()
            .unwrap_or_else(|| panic!("no pre-copy ledger in the journal: {journal:#}")),
    )
}

#[test]
fn without_the_pre_copy_ledger_the_copy_under_the_lock_lists_the_target() {
    let cluster = Cluster::new();
    succeeded(&cluster.run(&["--stop-after-pre-copy"]));
    // The run goes on from another machine, or the temporary directory was cleaned.
    std::fs::remove_file(pre_copy_ledger(&cluster)).unwrap();
    let policy = json!({"kind": "GlobalNetworkPolicy", "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": "default.without-ledger", "creationTimestamp": "2026-12-01T10:00:00Z"},
        "spec": {"tier": "default", "order": 70, "selector": "all()", "types": ["Ingress"]}});
    cluster.put_in_etcd(&policy);
    let report = succeeded(&cluster.run(&[]));
    assert_eq!(report["copy"]["baseline"], false, "{:#}", report["copy"]);
    let summary = stage(&report, "copy-changes")["summary"].as_str().unwrap();
    assert_contains(summary, "1 created");
    assert_contains(summary, "compared with a listing of the target: ");
    assert_migrated(&cluster, &report);
}

#[test]
fn a_rollback_after_the_pre_copy_removes_its_ledger() {
    let cluster = Cluster::new();
    let before = cluster.etcd_data();
    succeeded(&cluster.run(&["--stop-after-pre-copy"]));
    let ledger = pre_copy_ledger(&cluster);
    assert!(ledger.is_file());
    succeeded(&cluster.rollback(&["--manifest", cluster.etcd_manifest.to_str().unwrap()]));
    assert!(
        !ledger.exists(),
        "a rolled-back migration leaves no ledger behind"
    );
    assert_eq!(
        cluster.etcd_data(),
        before,
        "etcd's Calico data is untouched"
    );
    assert_eq!(cluster.status()["etcd"]["lock"], "unlocked");
}

/// Someone changes the copied pool in the target: no NAT.
fn change_the_copied_pool(cluster: &Cluster) {
    let kube = &cluster.env.install.kube;
    let mut pool = list_calico(kube, CrdApi::V1, "ippools")
        .into_iter()
        .find(|p| p["metadata"]["name"] == "default-ipv4-ippool")
        .expect("the copied pool");
    pool["spec"]["natOutgoing"] = json!(false);
    kube.replace_calico("ippools", &pool).unwrap();
}

#[test]
fn a_target_changed_after_the_pre_copy_is_found_under_the_lock_and_stops_the_run() {
    let cluster = Cluster::new();
    succeeded(&cluster.run(&["--stop-after-pre-copy"]));
    // etcd keeps the pool as it was, so its digest is the pre-copy's; but someone changed the
    // copy in the target meanwhile. The ledger's resourceVersion gives it away.
    change_the_copied_pool(&cluster);
    let output = cluster.run(&[]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert_contains(&err, "differs from the file");
    assert_contains(&err, "natOutgoing");
    assert_eq!(cluster.status()["etcd"]["lock"], "locked");
    assert_eq!(cluster.status()["kubernetes"]["lock"], "locked");
}

/// The step `name` of a run's report.
fn stage<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name}: {report:#}"))
}

#[test]
fn a_change_after_the_copy_is_found_by_the_verify_and_stops_the_run() {
    let cluster = Cluster::new();
    let go_on = cluster.dir.path().join("go-on");
    let (child, stderr_lines) = paused_before(&cluster, "verify", Some(&go_on));
    // Between the copy and the verify, someone changes a pool in the target.
    change_the_copied_pool(&cluster);
    std::fs::write(&go_on, "").unwrap();
    let rest: String = stderr_lines.collect::<Vec<_>>().join("\n");
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{rest}");
    // The ledger saw the new resourceVersion; the full comparison names the field.
    assert_contains(&rest, "differs from the file");
    assert_contains(&rest, "natOutgoing");
    assert_eq!(cluster.status()["etcd"]["lock"], "locked");
    assert_eq!(cluster.status()["kubernetes"]["lock"], "locked");
}

#[test]
fn plan_is_ready_on_a_clean_install_and_changes_nothing() {
    let cluster = Cluster::new();
    let before = cluster.etcd_data();
    let output = cluster.plan(&cluster.kdd_manifest, &["-o", "json"]);
    let report = succeeded(&output);
    assert_eq!(report["ready"], true, "{report:#}");
    assert_eq!(report["kubernetes"]["reachable"], true);
    assert_eq!(report["etcd"]["reachable"], true);
    assert_eq!(report["etcd"]["lock"], "unlocked");
    assert_eq!(report["calicoNode"]["found"], true);
    assert_eq!(report["kubeControllers"]["desired"], 1);
    assert!(report["permissionsChecked"].as_u64().unwrap() > 100);
    assert!(report["lockWindow"]["seconds"].as_f64().unwrap() > 0.0);
    let pools = row_of(&report["objects"], "IPPool");
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
fn plan_says_which_api_group_and_why_and_refuses_a_manifest_that_would_run_calico_on_the_other() {
    let cluster = Cluster::new();
    let plan = |args: &[&str]| {
        let mut all = vec!["-o", "json"];
        all.extend_from_slice(args);
        cluster.plan(&cluster.kdd_manifest, &all)
    };
    let report = succeeded(&plan(&[]));
    assert_eq!(report["crdApi"]["api"], "v1");
    assert_contains(
        report["crdApi"]["reason"].as_str().unwrap(),
        "serves neither Calico API group yet",
    );
    // Native v3 data with the v1 manifest: once it installs crd.projectcalico.org, Calico
    // would run on that group, which the migration left empty.
    let output = plan(&["--crd-api", "v3"]);
    assert_eq!(output.status.code(), Some(1));
    let report = json_output(&output);
    assert_eq!(report["crdApi"]["api"], "v3");
    assert_contains(
        &report["blockers"].to_string(),
        "Calico would run on crd.projectcalico.org/v1",
    );
    // The v3 manifest with v1 data is consistent (both groups served: Calico uses v1), and
    // plan says how to migrate into native v3 instead.
    let v3_manifest = cluster.dir.path().join("calico-v3-crds.yaml");
    std::fs::write(
        &v3_manifest,
        cluster
            .env
            .install
            .manifest(include_str!("fixtures/manifests/calico-v3-crds.yaml")),
    )
    .unwrap();
    let output = cluster.plan(&v3_manifest, &["-o", "json"]);
    let report = succeeded(&output);
    assert_eq!(report["crdApi"]["api"], "v1");
    assert_contains(&report["warnings"].to_string(), "pass --crd-api v3");
    let text = cluster.plan(&v3_manifest, &["--crd-api", "v3"]);
    assert_contains(
        &stdout(&text),
        "Migrating to: projectcalico.org/v3 (0/22 of its CRDs installed), because --crd-api v3",
    );
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
    cluster.put_in_etcd(&policy);
    // A permission the migration needs is denied (the local server can be told to).
    let denied = cluster.env.install.kube.controls().map(|controls| {
        controls.deny(mini_apiserver::Denial::new("patch", "", "nodes", None));
    });
    // And the manifest given is the etcd one.
    let output = cluster.plan(&cluster.etcd_manifest, &["-o", "json"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report = json_output(&output);
    assert_eq!(report["ready"], false);
    let problems = field_strings(&report["blockers"], "problem");
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
    let text = cluster.plan(&cluster.etcd_manifest, &[]);
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
    // Every write holds its seat for 50 ms, so that the plugin's parallel writes
    // overflow the queue however fast the machine answers.
    let controls = cluster.env.install.kube.controls().expect("a local server");
    controls.set_apf(mini_apiserver::Apf {
        max_inflight: 2,
        queue_length: 1,
    });
    faults.set_latency(std::time::Duration::from_millis(50));
    let report = succeeded(&cluster.run(&[]));
    assert_migrated(&cluster, &report);
    let throttled = report["preCopy"]["throttled"].as_u64().unwrap_or(0)
        + report["copy"]["throttled"].as_u64().unwrap_or(0);
    assert!(throttled > 0, "{report:#}");
}
